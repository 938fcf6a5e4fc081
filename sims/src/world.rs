//! The simulated world's names and clock, below everything that runs in it: the server's
//! host and port, the port called tiers serve on, and the current host's simulated time.

/// The server's host name and port.
pub const REDIS_HOST: &str = "redis";
/// The server's port.
pub const REDIS_PORT: u16 = 6379;
/// The Sentinel's host name (a scenario with `[server.topology.sentinel]`).
pub const SENTINEL_HOST: &str = "sentinel";
/// The Sentinel's port.
pub const SENTINEL_PORT: u16 = 26379;
/// The port pods of called tiers serve on.
pub const RPC_PORT: u16 = 8000;

/// Simulated time of the current turmoil host, in microseconds (0 outside a host).
#[must_use]
pub fn sim_now_us() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_micros() as u64)
}
