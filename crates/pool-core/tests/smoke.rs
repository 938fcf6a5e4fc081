mod common;
use common::*;
use pool_core::{Profile, RejectReason};

#[test]
fn smoke_acquire_grant_release() {
    let mut h = H::new(Profile::Deadpool.config());
    let c = h.acquire_new(1);
    assert_eq!(c, 0);
    h.release(0);
    let outs = h.acquire(2);
    assert_eq!(outs, vec![check(0, pool_core::CheckHow::Ping)]);
    assert_eq!(h.passed(0), vec![grant(2, 0)]);
    let _ = RejectReason::Closed;
}
