//! Panics in a simulated host's tasks, caught for the run that owns the thread.
//!
//! turmoil polls every host's software on the thread that steps the simulation, in tokio's
//! current-thread runtime. Without `tokio_unstable` (which this workspace does not set, and a
//! user's build should not need), a panic in a task spawned there ends that task only: a
//! request's task, a pool's background task (bb8's reaper, this project's eviction on a
//! switch), a closed-loop user whose join handle is read and dropped. The run went on, and a
//! pool that panicked could pass. Only the host's own future, whose panic turmoil returns from
//! `Sim::step`, was seen (`sim.host`).
//!
//! [`Watch`] closes that hole: while one is alive, a panic on its thread is recorded (the
//! first one, with its location), and the runner, which takes it after every step, fails the
//! run with `sim.panic`, naming the step and the seed. The record comes from a process-wide
//! panic hook, installed once and chaining to the hook it replaced (the panic's message is
//! still printed). A hook installed after it by someone else without chaining ends the
//! recording (runs then behave as before: a detached task's panic is lost); nothing in this
//! workspace does that.
//!
//! The fast engine calls pool-core and the fake directly, so a panic there unwinds out of the
//! step: it catches the unwind around the step and takes the message and place from its own
//! watch, for the same `sim.panic`. The explorer does the same around each move it applies,
//! and the state's `sim.panic` is a counterexample with its path.

use std::cell::RefCell;

thread_local! {
    /// `Some` while a [`Watch`] is alive on this thread: the first panic recorded, if any.
    static RECORD: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Records the panics of the current thread while it is alive (see the module's docs).
/// Watches nest: a watch started inside another records on its own and gives the outer one
/// back its record when dropped.
pub(crate) struct Watch {
    outer: Option<Option<String>>,
}

impl Watch {
    /// Starts recording this thread's panics.
    pub(crate) fn start() -> Self {
        install_hook();
        let outer = RECORD.with(|r| r.borrow_mut().replace(None));
        Self { outer }
    }

    /// The first panic recorded since the watch started or since the last `take`, as
    /// "`message` (at `file:line:column`)".
    pub(crate) fn take(&self) -> Option<String> {
        RECORD.with(|r| r.borrow_mut().as_mut().and_then(Option::take))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let outer = self.outer.take();
        RECORD.with(|r| *r.borrow_mut() = outer);
    }
}

fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_` throughout: a panic inside the hook aborts the process.
            let _ = RECORD.try_with(|r| {
                if let Ok(mut r) = r.try_borrow_mut() {
                    if let Some(slot @ None) = r.as_mut() {
                        *slot = Some(describe(info));
                    }
                }
            });
            before(info);
        }));
    });
}

/// A panic's message, from its payload (a hook's, or the one `catch_unwind` returns).
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn describe(info: &std::panic::PanicHookInfo<'_>) -> String {
    let message = message(info.payload());
    match info.location() {
        Some(l) => format!("{message} (at {}:{}:{})", l.file(), l.line(), l.column()),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panic_caught(message: &'static str) {
        let r = std::panic::catch_unwind(|| panic!("{message}"));
        assert!(r.is_err());
    }

    #[test]
    fn a_watch_records_the_first_panic_of_its_thread_with_its_place() {
        panic_caught("before the watch");
        let w = Watch::start();
        assert_eq!(w.take(), None, "a panic before the watch is not its");
        panic_caught("first");
        panic_caught("second");
        let first = w.take().unwrap();
        assert!(first.starts_with("first (at "), "{first}");
        assert!(first.contains("panics.rs:"), "{first}");
        assert_eq!(w.take(), None, "taken");
        // Another thread's panic is not this thread's.
        std::thread::spawn(|| panic_caught("elsewhere"))
            .join()
            .unwrap();
        assert_eq!(w.take(), None);
        {
            let inner = Watch::start();
            panic_caught("inner");
            assert!(inner.take().unwrap().starts_with("inner"));
            panic_caught("inner again");
        }
        assert_eq!(w.take(), None, "the inner watch's panics stay its own");
        panic_caught("outer");
        assert!(w.take().unwrap().starts_with("outer"));
        drop(w);
        panic_caught("after");
        assert_eq!(RECORD.with(|r| r.borrow().clone()), None);
    }
}
