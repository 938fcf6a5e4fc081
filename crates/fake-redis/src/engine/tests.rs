//! Engine scenario tests: time is whatever the test says it is.
use super::*;

#[test]
fn engine_starts_empty() {
    let e = Engine::new(ServerConfig::default());
    assert_eq!(e.connected_clients(), 0);
}
