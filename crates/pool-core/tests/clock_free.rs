//! `Pool::acquire_is_clock_free` / `release_is_clock_free`: whenever they say so, handling the
//! input at the pool's last instant or later gives the same outputs, counts, statistics,
//! timers, queue and connections (a driver relies on it to skip reading its clock).

use pool_core::{
    Config, ConnId, Fairness, Input, Instant, Output, Pool, ReleaseOutcome, ReqId, Reuse,
    WhenExhausted,
};
use std::time::Duration;

fn config(fairness: Fairness, when_exhausted: WhenExhausted) -> Config {
    Config {
        max_size: Some(3),
        max_idle: Some(2),
        when_exhausted,
        connect_timeout: Some(Duration::from_millis(50)),
        reuse: Reuse::Lifo,
        fairness,
        honour_deadlines: true,
        max_waiters: Some(4),
        ..Config::bare()
    }
}

fn drain(p: &mut Pool) -> Vec<Output> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

/// Everything observable but `now()`.
fn snapshot(p: &Pool) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        p.state(),
        p.stats(),
        p.poll_timeout(),
        p.live_requests().collect::<Vec<_>>(),
        p.waiters().collect::<Vec<_>>(),
        p.idle_connections().collect::<Vec<_>>(),
        p.connections().collect::<Vec<_>>(),
    )
}

/// Feeds `input` at `now`; if `free`, also checks that a clone fed later behaves the same.
fn step(p: &mut Pool, now: Instant, input: Input, free: bool, checked: &mut u32) -> Vec<Output> {
    if free {
        let mut later = p.clone();
        let at = p.now();
        p.handle(at, input).expect("valid input");
        later
            .handle(Instant::from_nanos(now.as_nanos() + 7_000_000), input)
            .expect("valid input");
        let (a, b) = (drain(p), drain(&mut later));
        assert_eq!(a, b, "{input:?}");
        assert_eq!(snapshot(p), snapshot(&later), "{input:?}");
        *checked += 1;
        a
    } else {
        p.handle(now, input).expect("valid input");
        drain(p)
    }
}

fn run(cfg: Config) -> u32 {
    let mut p = Pool::new(cfg).expect("valid config");
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut t = 0;
    let mut held: Vec<ConnId> = Vec::new();
    let mut connecting: Vec<ConnId> = Vec::new();
    let mut next_req = 0;
    let mut checked = 0;
    for _ in 0..4000 {
        t += next() % 3_000_000;
        let now = Instant::from_nanos(t);
        let r = next() % 10;
        let input = if r < 4 {
            next_req += 1;
            let deadline = (next() % 4 == 0).then(|| Instant::from_nanos(t + 20_000_000));
            let free = p.acquire_is_clock_free(deadline);
            Some((
                Input::Acquire {
                    req: ReqId(next_req),
                    deadline,
                },
                free,
            ))
        } else if r < 7 && !held.is_empty() {
            let conn = held.swap_remove((next() as usize) % held.len());
            let outcome = if next() % 8 == 0 {
                ReleaseOutcome::Broken
            } else {
                ReleaseOutcome::Healthy
            };
            Some((Input::Release { conn, outcome }, p.release_is_clock_free()))
        } else if r < 8 && !connecting.is_empty() {
            let conn = connecting.remove(0);
            Some((Input::Connected { conn }, false))
        } else if r < 9 {
            let req = p.waiters().next();
            req.map(|req| (Input::Cancel { req }, false))
        } else {
            Some((Input::Timeout, false))
        };
        let Some((input, free)) = input else { continue };
        for out in step(&mut p, now, input, free, &mut checked) {
            match out {
                Output::Connect { conn } => connecting.push(conn),
                Output::Grant { conn, .. } => held.push(conn),
                Output::Close { conn, .. } => connecting.retain(|&c| c != conn),
                Output::Reject { .. } | Output::Check { .. } => {}
            }
        }
    }
    checked
}

#[test]
fn clock_free_inputs_do_not_depend_on_the_time_they_are_fed_at() {
    for fairness in [Fairness::StrictFifo, Fairness::Barging] {
        for when_exhausted in [
            WhenExhausted::Wait {
                timeout: Some(Duration::from_millis(10)),
            },
            WhenExhausted::Wait { timeout: None },
            WhenExhausted::FailFast,
        ] {
            let checked = run(config(fairness, when_exhausted));
            assert!(checked > 100, "{fairness:?} {when_exhausted:?}: {checked}");
        }
    }
}

#[test]
fn time_dependent_configurations_are_not_clock_free() {
    let mut cfg = config(
        Fairness::StrictFifo,
        WhenExhausted::Wait {
            timeout: Some(Duration::from_millis(10)),
        },
    );
    cfg.idle_timeout = Some(Duration::from_secs(1));
    let mut p = Pool::new(cfg).expect("valid config");
    p.handle(Instant::ZERO, Input::Timeout).expect("timeout");
    assert!(!p.release_is_clock_free());
    assert!(!p.acquire_is_clock_free(None));
}

#[test]
fn clock_free_is_reported_whenever_an_idle_connection_is_taken_at_once() {
    // The other half of the contract: the answers are not only sound (above) but say "free"
    // on the driver's fast path, so the driver does skip its clock there.
    let one_idle = |c: Config| {
        let mut p = Pool::new(c).expect("valid");
        assert!(
            !p.acquire_is_clock_free(None),
            "not started: no idle connection"
        );
        p.handle(
            Instant::ZERO,
            Input::Acquire {
                req: ReqId(0),
                deadline: None,
            },
        )
        .expect("valid");
        drain(&mut p);
        p.handle(Instant::ZERO, Input::Connected { conn: ConnId(0) })
            .expect("valid");
        drain(&mut p);
        assert!(p.release_is_clock_free(), "nobody waits");
        p.handle(
            Instant::ZERO,
            Input::Release {
                conn: ConnId(0),
                outcome: ReleaseOutcome::Healthy,
            },
        )
        .expect("valid");
        drain(&mut p);
        p
    };
    let wait = WhenExhausted::Wait {
        timeout: Some(Duration::from_secs(1)),
    };
    let deadline = Some(Instant::from_secs(5));
    let mut p = one_idle(config(Fairness::StrictFifo, wait));
    assert!(p.acquire_is_clock_free(None));
    assert!(
        !p.acquire_is_clock_free(deadline),
        "an honoured deadline is read"
    );
    let q = one_idle(Config {
        honour_deadlines: false,
        ..config(Fairness::StrictFifo, wait)
    });
    assert!(
        q.acquire_is_clock_free(deadline),
        "an ignored deadline is not"
    );
    p.handle(Instant::ZERO, Input::Shutdown).expect("valid");
    drain(&mut p);
    assert!(!p.acquire_is_clock_free(None), "shut down");
    assert!(!p.release_is_clock_free(), "shut down");
}
