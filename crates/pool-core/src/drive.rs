//! Ready-made steady-state workloads, shared by the benchmark and the allocation test (and
//! useful to profile the pool): they drive a [`Pool`] with no allocation of their own.

use crate::io::{ConnId, Input, Output, ReleaseOutcome, ReqId};
use crate::pool::Pool;
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// Drives `pool` through acquire → (check →) grant → release cycles, one request at a time,
/// advancing the clock 1 µs per cycle.
#[derive(Debug)]
pub struct CycleDriver {
    /// The pool.
    pub pool: Pool,
    /// The driver's clock.
    pub now: Instant,
    next_req: u64,
}

impl CycleDriver {
    /// Wraps a fresh pool.
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            now: Instant::ZERO,
            next_req: 0,
        }
    }

    /// Runs `n` cycles; returns the number of grants.
    ///
    /// # Panics
    /// If the pool refuses an input or does not grant (a bug in the pool or a config that
    /// cannot serve one request at a time).
    pub fn run(&mut self, n: u64) -> u64 {
        let mut grants = 0;
        for _ in 0..n {
            self.now = self.now + Duration::from_micros(1);
            let req = ReqId(self.next_req);
            self.next_req += 1;
            self.pool
                .handle(
                    self.now,
                    Input::Acquire {
                        req,
                        deadline: None,
                    },
                )
                .expect("acquire accepted");
            let mut granted = None;
            // At most a few rounds: connect or check, then the grant.
            for _ in 0..4 {
                let mut next = None;
                while let Some(o) = self.pool.poll_output() {
                    match o {
                        Output::Grant { conn, .. } => granted = Some(conn),
                        Output::Connect { conn } => next = Some(Input::Connected { conn }),
                        Output::Check { conn, .. } => next = Some(Input::CheckPassed { conn }),
                        Output::Reject { .. } | Output::Close { .. } => {}
                    }
                }
                if next.is_none() && self.pool.poll_timeout().is_some_and(|t| t <= self.now) {
                    // A barging pool wakes its waiter with a timer due now.
                    next = Some(Input::Timeout);
                }
                match (granted, next) {
                    (Some(_), _) | (None, None) => break,
                    (None, Some(input)) => self.pool.handle(self.now, input).expect("accepted"),
                }
            }
            let conn = granted.expect("one request at a time is always served");
            grants += 1;
            self.release(conn);
        }
        grants
    }

    fn release(&mut self, conn: ConnId) {
        self.pool
            .handle(
                self.now,
                Input::Release {
                    conn,
                    outcome: ReleaseOutcome::Healthy,
                },
            )
            .expect("release accepted");
        while self.pool.poll_output().is_some() {}
    }
}

/// A waiter-heavy mix: every connection is in use and `waiters` requests are queued (with
/// deadlines); each step releases the oldest connection (handed off to the oldest waiter) and
/// queues a new request; every 16th step also cancels the newest waiter and queues another,
/// and feeds an (early) `Timeout`. The pool must wait, strictly FIFO, with no checks.
#[derive(Debug)]
pub struct WaiterMixDriver {
    /// The pool.
    pub pool: Pool,
    /// The driver's clock.
    pub now: Instant,
    next_req: u64,
    held: VecDeque<ConnId>,
    queued: VecDeque<ReqId>,
    steps: u64,
}

impl WaiterMixDriver {
    /// Fills the pool (`max_size` connections in use) and queues `waiters` requests.
    ///
    /// # Panics
    /// If the pool is unbounded or does not behave as a waiting pool.
    #[must_use]
    pub fn new(pool: Pool, waiters: usize) -> Self {
        let size = pool.config().max_size.expect("a bounded pool") as usize;
        let mut d = Self {
            pool,
            now: Instant::ZERO,
            next_req: 0,
            held: VecDeque::with_capacity(size + 1),
            queued: VecDeque::with_capacity(waiters + 2),
            steps: 0,
        };
        for _ in 0..size + waiters {
            d.acquire();
        }
        // Complete the connects: each goes to the oldest waiter.
        loop {
            let connecting = d
                .pool
                .connections()
                .find(|c| matches!(c.1, crate::ConnPhase::Connecting { .. }));
            let Some((conn, _)) = connecting else { break };
            d.feed(Input::Connected { conn });
        }
        assert_eq!(d.held.len(), size, "{:?}", d.pool.state());
        d
    }

    fn acquire(&mut self) {
        let req = ReqId(self.next_req);
        self.next_req += 1;
        self.queued.push_back(req);
        let deadline = Some(self.now + Duration::from_secs(3600));
        self.feed(Input::Acquire { req, deadline });
    }

    fn feed(&mut self, input: Input) {
        self.pool.handle(self.now, input).expect("accepted");
        while let Some(o) = self.pool.poll_output() {
            match o {
                Output::Grant { req, conn } => {
                    self.held.push_back(conn);
                    if let Some(p) = self.queued.iter().position(|&r| r == req) {
                        self.queued.remove(p);
                    }
                }
                Output::Reject { .. } => panic!("unexpected {o:?}"),
                _ => {}
            }
        }
    }

    /// Runs `n` steps; returns the number of hand-offs (grants).
    pub fn run(&mut self, n: u64) -> u64 {
        let before = self.pool.stats().grants;
        for _ in 0..n {
            self.steps += 1;
            self.now = self.now + Duration::from_micros(1);
            self.acquire();
            let conn = self.held.pop_front().expect("all connections are held");
            self.feed(Input::Release {
                conn,
                outcome: ReleaseOutcome::Healthy,
            });
            if self.steps % 16 == 0 {
                let req = *self.queued.back().expect("waiters queued");
                self.feed(Input::Cancel { req });
                self.queued.pop_back();
                self.acquire();
                self.feed(Input::Timeout);
            }
        }
        self.pool.stats().grants - before
    }
}
