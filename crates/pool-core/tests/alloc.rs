//! Proof that the pool does not allocate per request in steady state: a counting global
//! allocator (per thread, so other tests cannot disturb it) sees zero allocations over many
//! cycles after a warm-up, for the plain cycle, the recommended profile (checks, timers) and
//! the waiter-heavy mix. This file is its own test binary so the allocator is only here.

use pool_core::drive::{CycleDriver, WaiterMixDriver};
use pool_core::{Config, Pool, Profile, WhenExhausted};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

// SAFETY: defers every call to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn plain() -> Config {
    Config {
        max_size: Some(10),
        when_exhausted: WhenExhausted::Wait {
            timeout: Some(Duration::from_secs(30)),
        },
        ..Profile::Deadpool.config()
    }
}

#[test]
fn the_counter_counts() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocs() > before);
    drop(v);
}

#[test]
fn acquire_grant_release_cycles_do_not_allocate_after_warm_up() {
    for (name, config) in [
        (
            "plain",
            Config {
                check_on_checkout: pool_core::CheckOnCheckout {
                    when: pool_core::CheckWhen::Never,
                    how: pool_core::CheckHow::Peek,
                },
                ..plain()
            },
        ),
        ("recommended", Profile::Recommended.config()),
        ("bb8", Profile::Bb8.config()),
        ("go-redis-v9", Profile::GoRedisV9.config()),
    ] {
        let mut d = CycleDriver::new(Pool::new(config).expect("valid"));
        d.run(10_000);
        let before = allocs();
        let grants = d.run(200_000);
        let n = allocs() - before;
        assert_eq!(grants, 200_000);
        assert_eq!(
            n, 0,
            "{name}: {n} allocations in 200,000 steady-state cycles"
        );
    }
}

#[test]
fn waiter_heavy_mix_does_not_allocate_after_warm_up() {
    let config = Config {
        max_size: Some(4),
        check_on_checkout: pool_core::CheckOnCheckout {
            when: pool_core::CheckWhen::Never,
            how: pool_core::CheckHow::Peek,
        },
        honour_deadlines: true,
        ..plain()
    };
    let mut d = WaiterMixDriver::new(Pool::new(config).expect("valid"), 16);
    d.run(10_000);
    let before = allocs();
    let grants = d.run(200_000);
    let n = allocs() - before;
    assert!(grants >= 200_000);
    assert_eq!(n, 0, "{n} allocations in 200,000 steady-state waiter steps");
    assert_eq!(d.pool.state().waiters, 16);
}
