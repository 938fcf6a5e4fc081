//! A tiny harness shared by the integration tests: owns virtual time, feeds inputs, collects
//! outputs, and checks the invariants after every step.
#![allow(dead_code, unreachable_pub)]

use pool_core::invariants::Checker;
use pool_core::{Config, ConnId, Input, InputError, Instant, Output, Pool, ReleaseOutcome, ReqId};
use std::time::Duration;

pub struct H {
    pub checker: Checker,
    pub now: Instant,
}

impl H {
    pub fn new(config: Config) -> Self {
        Self {
            checker: Checker::new(Pool::new(config).expect("valid config")),
            now: Instant::ZERO,
        }
    }

    pub fn pool(&self) -> &Pool {
        self.checker.pool()
    }

    /// Feeds `input` at the current time; panics on a violation; returns the outputs.
    pub fn try_step(&mut self, input: Input) -> Result<Vec<Output>, InputError> {
        let obs = self
            .checker
            .handle(self.now, input)
            .unwrap_or_else(|v| panic!("invariant violated after {input:?}: {v}"));
        match obs.input_error {
            Some(e) => Err(e),
            None => Ok(obs.outputs),
        }
    }

    pub fn step(&mut self, input: Input) -> Vec<Output> {
        self.try_step(input)
            .unwrap_or_else(|e| panic!("input {input:?} refused: {e}"))
    }

    pub fn acquire(&mut self, req: u64) -> Vec<Output> {
        self.step(Input::Acquire {
            req: ReqId(req),
            deadline: None,
        })
    }

    pub fn acquire_by(&mut self, req: u64, deadline: Duration) -> Vec<Output> {
        let d = self.now + deadline;
        self.step(Input::Acquire {
            req: ReqId(req),
            deadline: Some(d),
        })
    }

    pub fn release(&mut self, conn: u64) -> Vec<Output> {
        self.step(Input::Release {
            conn: ConnId(conn),
            outcome: ReleaseOutcome::Healthy,
        })
    }

    pub fn release_broken(&mut self, conn: u64) -> Vec<Output> {
        self.step(Input::Release {
            conn: ConnId(conn),
            outcome: ReleaseOutcome::Broken,
        })
    }

    pub fn connected(&mut self, conn: u64) -> Vec<Output> {
        self.step(Input::Connected { conn: ConnId(conn) })
    }

    pub fn connect_failed(&mut self, conn: u64) -> Vec<Output> {
        self.step(Input::ConnectFailed {
            conn: ConnId(conn),
            error: pool_core::ConnectError::Refused,
        })
    }

    pub fn passed(&mut self, conn: u64) -> Vec<Output> {
        self.step(Input::CheckPassed { conn: ConnId(conn) })
    }

    pub fn failed(&mut self, conn: u64) -> Vec<Output> {
        self.step(Input::CheckFailed { conn: ConnId(conn) })
    }

    pub fn cancel(&mut self, req: u64) -> Vec<Output> {
        self.step(Input::Cancel { req: ReqId(req) })
    }

    /// Advances the clock by `d`, delivering every timer due on the way, in order.
    pub fn advance(&mut self, d: Duration) -> Vec<Output> {
        let end = self.now + d;
        let mut outs = Vec::new();
        while let Some(t) = self.pool().poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            outs.extend(self.step(Input::Timeout));
        }
        self.now = end;
        outs
    }

    /// Gets a connection for `req` in a pool with room to connect: acquire, then connect.
    pub fn acquire_new(&mut self, req: u64) -> u64 {
        let outs = self.acquire(req);
        let Some(Output::Connect { conn }) = outs
            .iter()
            .find(|o| matches!(o, Output::Connect { .. }))
            .copied()
        else {
            panic!("expected a connect, got {outs:?}");
        };
        let mut outs = self.connected(conn.0);
        if outs.is_empty() {
            // Barging pools wake the waiter with a timer due now.
            assert_eq!(self.pool().poll_timeout(), Some(self.now));
            outs = self.step(Input::Timeout);
        }
        assert!(
            outs.contains(&grant(req, conn.0)),
            "expected a grant, got {outs:?}"
        );
        conn.0
    }
}

pub fn grant(req: u64, conn: u64) -> Output {
    Output::Grant {
        req: ReqId(req),
        conn: ConnId(conn),
    }
}

pub fn connect(conn: u64) -> Output {
    Output::Connect { conn: ConnId(conn) }
}

pub fn reject(req: u64, reason: pool_core::RejectReason) -> Output {
    Output::Reject {
        req: ReqId(req),
        reason,
    }
}

pub fn close(conn: u64, reason: pool_core::CloseReason) -> Output {
    Output::Close {
        conn: ConnId(conn),
        reason,
    }
}

pub fn check(conn: u64, how: pool_core::CheckHow) -> Output {
    Output::Check {
        conn: ConnId(conn),
        how,
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(s: u64) -> Duration {
    Duration::from_millis(s)
}
