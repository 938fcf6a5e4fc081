//! Proptest state-machine suite: the pool against a small reference model.
//!
//! The reference model is a deliberately naive pool (Vecs, linear scans, no timers heap) for
//! the waiting, strict-FIFO, LIFO configuration with `max_size`, `max_idle`, a pool timeout
//! and check-on-checkout (never, or always by peek) drawn at random. For every generated input sequence the real pool must give
//! exactly the outputs the model predicts, and every invariant (through
//! `invariants::Checker`) must hold after every step. Failures are shrunk and persisted in
//! `crates/pool-core/proptest-regressions/model.txt`.

use pool_core::invariants::Checker;
use pool_core::{
    CheckHow, CheckOnCheckout, CheckWhen, CloseReason, Config, ConnId, ConnectError, Input,
    Instant, Output, Pool, RejectReason, ReleaseOutcome, ReqId, WhenExhausted,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use std::collections::VecDeque;
use std::time::Duration;

/// A live request in the model: (request, arrival number, pool-timeout bound).
type W = (u64, u64, Instant);

#[derive(Clone, Debug)]
struct Model {
    max_size: usize,
    max_idle: Option<usize>,
    timeout: Duration,
    now: Instant,
    next_req: u64,
    next_conn: u64,
    idle: Vec<u64>,
    in_use: Vec<u64>,
    connecting: Vec<u64>,
    /// Queued: (request, arrival number, pool-timeout bound), in arrival order.
    waiters: VecDeque<W>,
    /// Check on every checkout.
    check: bool,
    /// Connections being checked: (connection, the request it is for, if not cancelled).
    checking: Vec<(u64, Option<W>)>,
    /// What the last transition must make the pool say.
    expect: Vec<Output>,
}

#[derive(Clone, Debug)]
enum Step {
    Acquire,
    Release(u64, bool),
    Connected(u64),
    ConnectFailed(u64),
    Cancel(u64),
    CheckPassed(u64),
    CheckFailed(u64),
    /// Feed `Timeout` this many ms later (possibly late: several bounds at once).
    Advance(u64),
}

impl Model {
    fn config(&self) -> Config {
        Config {
            max_size: Some(u32::try_from(self.max_size).expect("small")),
            max_idle: self.max_idle.map(|m| u32::try_from(m).expect("small")),
            when_exhausted: WhenExhausted::Wait {
                timeout: Some(self.timeout),
            },
            check_on_checkout: CheckOnCheckout {
                when: if self.check {
                    CheckWhen::Always
                } else {
                    CheckWhen::Never
                },
                how: CheckHow::Peek,
            },
            ..Config::bare()
        }
    }

    fn total(&self) -> usize {
        self.idle.len() + self.in_use.len() + self.connecting.len() + self.checking.len()
    }

    /// Start connects until every waiter has one coming (a check whose request was cancelled
    /// counts as coming).
    fn pump(&mut self) {
        let unbound = |s: &Self| s.checking.iter().filter(|c| c.1.is_none()).count();
        while self.connecting.len() + self.idle.len() + unbound(self) < self.waiters.len()
            && self.total() < self.max_size
        {
            let c = self.next_conn;
            self.next_conn += 1;
            self.connecting.push(c);
            self.expect.push(Output::Connect { conn: ConnId(c) });
        }
    }

    /// Hands `c` to `w`: checked first unless checks are off or it was just connected.
    fn hand(&mut self, c: u64, w: W, fresh: bool) {
        if self.check && !fresh {
            self.checking.push((c, Some(w)));
            self.expect.push(Output::Check {
                conn: ConnId(c),
                how: CheckHow::Peek,
            });
        } else {
            self.in_use.push(c);
            self.expect.push(Output::Grant {
                req: ReqId(w.0),
                conn: ConnId(c),
            });
        }
    }

    /// A live request looks for a connection: the newest idle one, or the queue (at its
    /// arrival place: a retried request goes back to the head).
    fn admit(&mut self, w: W, retry: bool) {
        if (retry || self.waiters.is_empty()) && !self.idle.is_empty() {
            let c = self.idle.pop().expect("non-empty");
            self.hand(c, w, false);
        } else if w.2 <= self.now {
            self.expect.push(Output::Reject {
                req: ReqId(w.0),
                reason: RejectReason::PoolTimeout,
            });
        } else {
            let pos = self.waiters.iter().take_while(|x| x.1 < w.1).count();
            self.waiters.insert(pos, w);
        }
    }

    /// A free connection: to the oldest waiter, else idle (or closed beyond max_idle).
    fn free(&mut self, c: u64, fresh: bool) {
        if let Some(w) = self.waiters.pop_front() {
            self.hand(c, w, fresh);
        } else if self.max_idle.is_some_and(|m| self.idle.len() >= m) {
            self.expect.push(Output::Close {
                conn: ConnId(c),
                reason: CloseReason::MaxIdle,
            });
        } else {
            self.idle.push(c);
        }
    }

    fn input(&self, step: &Step) -> (Instant, Input) {
        let now = self.now;
        match *step {
            Step::Acquire => (
                now,
                Input::Acquire {
                    req: ReqId(self.next_req),
                    deadline: None,
                },
            ),
            Step::Release(c, healthy) => (
                now,
                Input::Release {
                    conn: ConnId(c),
                    outcome: if healthy {
                        ReleaseOutcome::Healthy
                    } else {
                        ReleaseOutcome::Broken
                    },
                },
            ),
            Step::Connected(c) => (now, Input::Connected { conn: ConnId(c) }),
            Step::ConnectFailed(c) => (
                now,
                Input::ConnectFailed {
                    conn: ConnId(c),
                    error: ConnectError::Refused,
                },
            ),
            Step::Cancel(r) => (now, Input::Cancel { req: ReqId(r) }),
            Step::CheckPassed(c) => (now, Input::CheckPassed { conn: ConnId(c) }),
            Step::CheckFailed(c) => (now, Input::CheckFailed { conn: ConnId(c) }),
            Step::Advance(ms) => (now + Duration::from_millis(ms), Input::Timeout),
        }
    }
}

struct RefPool;

impl ReferenceStateMachine for RefPool {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        (
            1usize..=3,
            prop::option::of(1usize..=3),
            1u64..=3,
            any::<bool>(),
        )
            .prop_map(|(max_size, max_idle, t, check)| Model {
                max_size,
                max_idle,
                timeout: Duration::from_secs(t),
                now: Instant::ZERO,
                next_req: 0,
                next_conn: 0,
                idle: Vec::new(),
                in_use: Vec::new(),
                connecting: Vec::new(),
                waiters: VecDeque::new(),
                check,
                checking: Vec::new(),
                expect: Vec::new(),
            })
            .boxed()
    }

    fn transitions(s: &Model) -> BoxedStrategy<Step> {
        let mut options: Vec<BoxedStrategy<Step>> = vec![
            Just(Step::Acquire).boxed(),
            (0u64..2500).prop_map(Step::Advance).boxed(),
        ];
        if !s.in_use.is_empty() {
            options.push(
                (
                    prop::sample::select(s.in_use.clone()),
                    prop::bool::weighted(0.8),
                )
                    .prop_map(|(c, h)| Step::Release(c, h))
                    .boxed(),
            );
        }
        if !s.connecting.is_empty() {
            options.push(
                prop::sample::select(s.connecting.clone())
                    .prop_map(Step::Connected)
                    .boxed(),
            );
            options.push(
                prop::sample::select(s.connecting.clone())
                    .prop_map(Step::ConnectFailed)
                    .boxed(),
            );
        }
        let live: Vec<u64> = s
            .waiters
            .iter()
            .map(|w| w.0)
            .chain(s.checking.iter().filter_map(|c| c.1.map(|w| w.0)))
            .collect();
        if !live.is_empty() {
            options.push(prop::sample::select(live).prop_map(Step::Cancel).boxed());
        }
        if !s.checking.is_empty() {
            let conns: Vec<u64> = s.checking.iter().map(|c| c.0).collect();
            options.push(
                (prop::sample::select(conns), prop::bool::weighted(0.7))
                    .prop_map(|(c, ok)| {
                        if ok {
                            Step::CheckPassed(c)
                        } else {
                            Step::CheckFailed(c)
                        }
                    })
                    .boxed(),
            );
        }
        prop::strategy::Union::new(options).boxed()
    }

    fn preconditions(s: &Model, step: &Step) -> bool {
        match *step {
            Step::Release(c, _) => s.in_use.contains(&c),
            Step::Connected(c) | Step::ConnectFailed(c) => s.connecting.contains(&c),
            Step::Cancel(r) => {
                s.waiters.iter().any(|w| w.0 == r)
                    || s.checking.iter().any(|c| c.1.is_some_and(|w| w.0 == r))
            }
            Step::CheckPassed(c) | Step::CheckFailed(c) => s.checking.iter().any(|x| x.0 == c),
            Step::Acquire | Step::Advance(_) => true,
        }
    }

    fn apply(mut s: Model, step: &Step) -> Model {
        s.expect.clear();
        match *step {
            Step::Acquire => {
                let r = s.next_req;
                s.next_req += 1;
                let w = (r, r, s.now + s.timeout);
                s.admit(w, false);
            }
            Step::Release(c, healthy) => {
                s.in_use.retain(|&x| x != c);
                if healthy {
                    s.free(c, false);
                } else {
                    s.expect.push(Output::Close {
                        conn: ConnId(c),
                        reason: CloseReason::Broken,
                    });
                }
            }
            Step::Connected(c) => {
                s.connecting.retain(|&x| x != c);
                s.free(c, true);
            }
            Step::ConnectFailed(c) => s.connecting.retain(|&x| x != c),
            Step::Cancel(r) => {
                s.waiters.retain(|w| w.0 != r);
                for x in &mut s.checking {
                    if x.1.is_some_and(|w| w.0 == r) {
                        x.1 = None; // the check goes on
                    }
                }
            }
            Step::CheckPassed(c) => {
                let p = s.checking.iter().position(|x| x.0 == c).expect("checking");
                let (_, w) = s.checking.remove(p);
                match w {
                    Some(w) => {
                        s.in_use.push(c);
                        s.expect.push(Output::Grant {
                            req: ReqId(w.0),
                            conn: ConnId(c),
                        });
                    }
                    None => s.free(c, false),
                }
            }
            Step::CheckFailed(c) => {
                let p = s.checking.iter().position(|x| x.0 == c).expect("checking");
                let (_, w) = s.checking.remove(p);
                s.expect.push(Output::Close {
                    conn: ConnId(c),
                    reason: CloseReason::CheckFailed,
                });
                if let Some(w) = w {
                    s.admit(w, true);
                }
            }
            Step::Advance(ms) => {
                s.now = s.now + Duration::from_millis(ms);
                while let Some(&(r, _, bound)) = s.waiters.front() {
                    if bound > s.now {
                        break;
                    }
                    s.waiters.pop_front();
                    s.expect.push(Output::Reject {
                        req: ReqId(r),
                        reason: RejectReason::PoolTimeout,
                    });
                }
            }
        }
        s.pump();
        s
    }
}

struct PoolMatchesModel;

impl StateMachineTest for PoolMatchesModel {
    type SystemUnderTest = (Checker, Model);
    type Reference = RefPool;

    fn init_test(s: &Model) -> Self::SystemUnderTest {
        (
            Checker::new(Pool::new(s.config()).expect("valid config")),
            s.clone(),
        )
    }

    fn apply(
        (mut checker, before): Self::SystemUnderTest,
        after: &Model,
        step: Step,
    ) -> Self::SystemUnderTest {
        let (at, input) = before.input(&step);
        let obs = checker
            .handle(at, input)
            .unwrap_or_else(|v| panic!("invariant violated by {input:?}: {v}"));
        assert_eq!(obs.input_error, None, "{input:?} refused");
        assert_eq!(obs.outputs, after.expect, "outputs of {input:?}");
        (checker, after.clone())
    }

    fn check_invariants((checker, model): &Self::SystemUnderTest, _: &Model) {
        let st = checker.pool().state();
        assert_eq!(st.idle as usize, model.idle.len());
        assert_eq!(st.in_use as usize, model.in_use.len());
        assert_eq!(st.connecting as usize, model.connecting.len());
        assert_eq!(st.waiters as usize, model.waiters.len());
        assert_eq!(st.checking as usize, model.checking.len());
        let expect_timeout = model.waiters.front().map(|w| w.2);
        assert_eq!(checker.pool().poll_timeout(), expect_timeout);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model.txt",
        ))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn pool_gives_the_outputs_of_the_reference_model(sequential 1..60 => PoolMatchesModel);
}
