//! The incidents of `../shared/INCIDENTS.md`, one module each: a buggy scenario that must
//! reproduce the signature and fixed ones that must hold, for any seed.
//!
//! - [`stale_eof`]: A, a stale pooled connection after the server's idle `timeout` (seed 003).
//! - [`explosion`]: B, connection explosion (seeds 001, 000, 004).
//! - [`cascade`]: C, the pool-timeout cascade (seed 002).
//! - [`failover`]: D, a Sentinel failover that clients pinned to an address do not follow:
//!   split-brain writes, then READONLY until restarted (seed 004, issue #16).
//! - [`hung_server`]: E, a server that stops answering without closing: read timeouts,
//!   retries and reconnect churn (seed 004, issue #16).

use crate::scenario::Scenario;

pub mod cascade;
pub mod explosion;
pub mod failover;
pub mod hung_server;
pub mod stale_eof;

/// An incident: its name, where it comes from, and its scenarios.
#[derive(Clone, Copy, Debug)]
pub struct Incident {
    /// The name `poolsim replay` takes (`stale-eof`).
    pub name: &'static str,
    /// One line.
    pub summary: &'static str,
    /// The write-up(s) it comes from, cited by title (docs/incidents.md has them).
    pub writeup: &'static str,
    /// The seed a replay uses unless told otherwise.
    pub default_seed: u64,
    build: fn(u64) -> Vec<Scenario>,
    claims: fn() -> Vec<crate::claims::Claim>,
}

impl Incident {
    /// The buggy scenario first, then the fixed ones, all with `seed`.
    #[must_use]
    pub fn scenarios(&self, seed: u64) -> Vec<Scenario> {
        (self.build)(seed)
    }

    /// What each fix (each run whose outcome is `holds`) promises, and in which environment
    /// (`poolsim fuzz`, docs/fuzzing.md).
    #[must_use]
    pub fn claims(&self) -> Vec<crate::claims::Claim> {
        (self.claims)()
    }

    /// The command that replays this incident for `seed`, in this repository's form
    /// (`cargo run --release -p poolsim -- replay ...`; see [`Incident::replay_command_with`]).
    #[must_use]
    pub fn replay_command(&self, seed: u64) -> String {
        self.replay_command_with(IN_REPO, seed)
    }

    /// The command that replays this incident for `seed`, run as `poolsim` (the installed
    /// binary: `"poolsim"`; inside this repository: [`IN_REPO`]).
    #[must_use]
    pub fn replay_command_with(&self, poolsim: &str, seed: u64) -> String {
        format!("{poolsim} replay {} --seed {seed}", self.name)
    }

    /// Run options that print this incident's replay command (repository form) with
    /// violations.
    #[must_use]
    pub fn run_options(&self, keep_trace: bool) -> crate::RunOptions {
        crate::RunOptions {
            keep_trace,
            replay: self
                .replay_command_with(IN_REPO, 0)
                .replace(" --seed 0", " --seed {seed}"),
            ..crate::RunOptions::default()
        }
    }
}

/// `poolsim` as run inside this repository (`cargo run --release -p poolsim --`); an installed
/// binary (`cargo install --path crates/poolsim`) is plain `poolsim`.
pub const IN_REPO: &str = "cargo run --release -p poolsim --";

/// Every incident, in the order of `../shared/INCIDENTS.md`.
pub const ALL: [Incident; 5] = [
    Incident {
        name: "stale-eof",
        summary: "a pool without checks hands out connections the server closed after its idle timeout: EOF",
        writeup: "seed 003, 「Go语言如何使用Redis连接池」 (How to use a Redis connection pool in Go, 2023); also 001, 004 (docs/incidents.md)",
        default_seed: 3,
        build: stale_eof::scenarios,
        claims: stale_eof::claims,
    },
    Incident {
        name: "explosion",
        summary: "unbounded pools grow to peak concurrency into maxclients; fail-fast pools raise Too many connections",
        writeup: "seeds 001 「高并发下Flask中采用gevent方式启用导致redis连接数增加」 (2015), 000 (aioredis Too many connections), 004 「python redis-py连接实践」 (2022) (docs/incidents.md)",
        default_seed: 1,
        build: explosion::scenarios,
        claims: explosion::claims,
    },
    Incident {
        name: "cascade",
        summary: "a pool too small with a wait longer than the callers' deadlines: every tier times out while Redis idles",
        writeup: "seed 002, 「数据库连接池该设置多大?记一次由连接池引发的事故」 (How big should a connection pool be?) (docs/incidents.md)",
        default_seed: 2,
        build: cascade::scenarios,
        claims: cascade::claims,
    },
    Incident {
        name: "failover",
        summary: "Sentinel promotes the replica; a client pinned to the old master's address writes into a split brain, then gets READONLY until restarted",
        writeup: "seed 004 「python redis-py连接实践」 (2022: Sentinel); redis-py #460, #1764 (../shared/FAILOVER-FACTS.md) (docs/incidents.md)",
        default_seed: 4,
        build: failover::scenarios,
        claims: failover::claims,
    },
    Incident {
        name: "hung-server",
        summary: "Redis stalls without closing: no read timeout hangs every caller, go-redis's 3 s timeouts churn connections",
        writeup: "seed 004 「python redis-py连接实践」 (2022: set socket_timeout); go-redis #1912, #2046 (../shared/FAILOVER-FACTS.md) (docs/incidents.md)",
        default_seed: 4,
        build: hung_server::scenarios,
        claims: hung_server::claims,
    },
];

/// The incident called `name`.
#[must_use]
pub fn by_name(name: &str) -> Option<&'static Incident> {
    ALL.iter().find(|i| i.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names, the replay commands a failing run prints, and the options that carry them:
    /// a run that passes never prints its replay command, so no incident's test reads it.
    #[test]
    fn each_incident_is_found_by_name_and_names_the_command_that_replays_it() {
        // The names and their order: `tests/pinned.rs` `every_incident_is_pinned`.
        for i in &ALL {
            let found = by_name(i.name).unwrap();
            assert_eq!((found.name, found.summary), (i.name, i.summary));
            assert_eq!(
                i.replay_command(7),
                format!(
                    "cargo run --release -p poolsim -- replay {} --seed 7",
                    i.name
                )
            );
            assert_eq!(
                i.replay_command_with("poolsim", 12),
                format!("poolsim replay {} --seed 12", i.name)
            );
            for keep in [true, false] {
                let o = i.run_options(keep);
                assert_eq!(o.keep_trace, keep);
                assert_eq!(
                    o.replay,
                    format!(
                        "cargo run --release -p poolsim -- replay {} --seed {{seed}}",
                        i.name
                    )
                );
            }
        }
        assert!(by_name("stale").is_none());
    }
}
