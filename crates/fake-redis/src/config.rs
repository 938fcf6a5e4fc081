//! Server configuration, statistics, and the CONFIG GET / SET parameter table.

/// Server configuration: the knobs a pool cares about plus what the binary needs.
///
/// Defaults match Redis 7.0: `timeout 0`, `maxclients 10000`, no `requirepass`, `hz 10`,
/// bind `127.0.0.1` (Redis binds `* -::*`; the fake is loopback-only unless told otherwise),
/// port 6379, 16 databases.
#[derive(Clone, Debug, Hash)]
pub struct ServerConfig {
    /// Close clients idle for more than this many seconds (0 = never). `timeout`.
    pub timeout_secs: u64,
    /// Most clients connected at once; further connections get an error and are closed.
    pub maxclients: u64,
    /// Password of the default user; `None` = no authentication (`requirepass ""`).
    pub requirepass: Option<String>,
    /// Cron frequency in Hz (1..=500), which paces the idle-timeout scan and active expiry.
    pub hz: u32,
    /// Address the binary binds (informational for the library; `CONFIG GET bind`).
    pub bind: String,
    /// Port the binary binds (informational for the library; `CONFIG GET port`).
    pub port: u16,
    /// Number of databases for SELECT.
    pub databases: u32,
    /// Log accepted and closed connections to stderr (the binary turns this on).
    pub log_connections: bool,
    /// Fake-only: answer the `FAULT` admin commands (latency, refuse, kill all, restart,
    /// read-only). Off by default: `FAULT` is then an unknown command, as in Redis.
    pub enable_fault_commands: bool,
    /// Unix time (ms) at engine time zero: used for `EXAT`/`PXAT` and `server_time_usec`.
    /// The default is a fixed instant (2023-11-14T22:13:20Z) so runs are deterministic; the
    /// binary sets the real time at start.
    pub unix_time_at_start_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 0,
            maxclients: 10000,
            requirepass: None,
            hz: 10,
            bind: "127.0.0.1".to_owned(),
            port: 6379,
            databases: 16,
            log_connections: false,
            enable_fault_commands: false,
            unix_time_at_start_ms: 1_700_000_000_000,
        }
    }
}

/// Counters as in INFO's `# Stats` section, plus a few the fake adds for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections accepted (rejected ones by maxclients are not counted).
    pub total_connections_received: u64,
    /// Connections refused because of `maxclients`.
    pub rejected_connections: u64,
    /// Commands executed (rejected commands, e.g. unknown or NOAUTH, are not counted).
    pub total_commands_processed: u64,
    /// Keys deleted because their TTL passed (lazily or by the cron).
    pub expired_keys: u64,
    /// Successful key lookups.
    pub keyspace_hits: u64,
    /// Failed key lookups.
    pub keyspace_misses: u64,
    /// Error replies sent, including protocol errors and rejected commands.
    pub total_error_replies: u64,
    /// Bytes read from clients.
    pub total_net_input_bytes: u64,
    /// Bytes written to clients.
    pub total_net_output_bytes: u64,
    /// Fake-only: clients closed by the idle `timeout`.
    pub timed_out_clients: u64,
    /// Fake-only: clients closed by CLIENT KILL or the kill-all fault.
    pub killed_clients: u64,
    /// Fake-only: write commands executed (and so acknowledged), inside EXEC too; a write
    /// answered `-READONLY` or rejected otherwise is not counted. What a failover's
    /// split-brain window is measured in.
    pub write_commands_processed: u64,
    /// Fake-only: accepted clients that are gone, for any reason (the peer closed, QUIT, a
    /// protocol error, the idle timeout, a kill, a restart). Between two resets of the
    /// counters, `total_connections_received == connected clients + closed_connections`.
    pub closed_connections: u64,
}

/// Redis's `stringmatchlen`: glob with `*`, `?`, `[...]` (ranges, `^` negation) and `\`
/// escapes.
#[must_use]
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    fn eq(a: u8, b: u8, nocase: bool) -> bool {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    }
    let (mut p, mut i) = (0usize, 0usize);
    while p < pattern.len() {
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                for start in i..=s.len() {
                    if glob_match(&pattern[p + 1..], &s[start..], nocase) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if i >= s.len() {
                    return false;
                }
                i += 1;
            }
            b'[' => {
                if i >= s.len() {
                    return false;
                }
                p += 1;
                let not = p < pattern.len() && pattern[p] == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    if p >= pattern.len() {
                        p -= 1;
                        break;
                    }
                    if pattern[p] == b'\\' && p + 2 < pattern.len() {
                        p += 1;
                        if pattern[p] == s[i] {
                            matched = true;
                        }
                    } else if pattern[p] == b']' {
                        break;
                    } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' {
                        let (mut lo, mut hi) = (pattern[p], pattern[p + 2]);
                        let mut c = s[i];
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        if nocase {
                            lo = lo.to_ascii_lowercase();
                            hi = hi.to_ascii_lowercase();
                            c = c.to_ascii_lowercase();
                        }
                        p += 2;
                        if c >= lo && c <= hi {
                            matched = true;
                        }
                    } else if eq(pattern[p], s[i], nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                i += 1;
            }
            b'\\' if p + 1 < pattern.len() => {
                p += 1;
                if i >= s.len() || !eq(pattern[p], s[i], nocase) {
                    return false;
                }
                i += 1;
            }
            c => {
                if i >= s.len() || !eq(c, s[i], nocase) {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
    }
    i == s.len()
}

/// Parameters CONFIG GET knows, in the order it lists them.
pub(crate) const CONFIG_PARAMS: &[&str] = &[
    "timeout",
    "maxclients",
    "requirepass",
    "hz",
    "bind",
    "port",
    "databases",
    "save",
    "appendonly",
    "tcp-keepalive",
    "maxmemory",
    "maxmemory-policy",
    "proto-max-bulk-len",
];

/// Settings the fake stores but does not act on.
#[derive(Clone, Debug)]
pub(crate) struct InertSettings {
    pub(crate) save: String,
    pub(crate) appendonly: bool,
    pub(crate) tcp_keepalive: i64,
    pub(crate) maxmemory: i64,
    pub(crate) maxmemory_policy: String,
}

impl Default for InertSettings {
    fn default() -> Self {
        Self {
            save: String::new(),
            appendonly: false,
            tcp_keepalive: 300,
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_owned(),
        }
    }
}

/// A validated CONFIG SET change, applied only once every pair validated.
#[derive(Clone, Debug)]
pub(crate) enum ConfigChange {
    Timeout(u64),
    Maxclients(u64),
    Requirepass(Option<String>),
    Hz(u32),
    Save(String),
    Appendonly(bool),
    TcpKeepalive(i64),
    Maxmemory(i64),
    MaxmemoryPolicy(String),
}

fn failed(name: &str, why: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
}

fn int_in(name: &str, v: &[u8], lo: i64, hi: i64) -> Result<i64, String> {
    let n = std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|_| !v.is_empty() && v[0] != b'+')
        .ok_or_else(|| failed(name, "argument couldn't be parsed into an integer"))?;
    if n < lo || n > hi {
        return Err(failed(
            name,
            &format!("argument must be between {lo} and {hi} inclusive"),
        ));
    }
    Ok(n)
}

/// Validate one CONFIG SET pair. `name` is lower-cased already.
pub(crate) fn parse_change(name: &str, value: &[u8]) -> Result<ConfigChange, String> {
    let text = || String::from_utf8_lossy(value).into_owned();
    Ok(match name {
        "timeout" => ConfigChange::Timeout(int_in(name, value, 0, i64::from(i32::MAX))? as u64),
        "maxclients" => {
            ConfigChange::Maxclients(int_in(name, value, 1, i64::from(u32::MAX))? as u64)
        }
        "requirepass" => {
            ConfigChange::Requirepass(if value.is_empty() { None } else { Some(text()) })
        }
        "hz" => ConfigChange::Hz(int_in(name, value, 0, i64::from(i32::MAX))?.clamp(1, 500) as u32),
        "save" => ConfigChange::Save(text()),
        "appendonly" => match value.to_ascii_lowercase().as_slice() {
            b"yes" => ConfigChange::Appendonly(true),
            b"no" => ConfigChange::Appendonly(false),
            _ => return Err(failed(name, "argument must be 'yes' or 'no'")),
        },
        "tcp-keepalive" => ConfigChange::TcpKeepalive(int_in(name, value, 0, i64::from(i32::MAX))?),
        "maxmemory" => ConfigChange::Maxmemory(int_in(name, value, 0, i64::MAX)?),
        "maxmemory-policy" => {
            let v = text().to_ascii_lowercase();
            const POLICIES: &[&str] = &[
                "volatile-lru",
                "volatile-lfu",
                "volatile-random",
                "volatile-ttl",
                "allkeys-lru",
                "allkeys-lfu",
                "allkeys-random",
                "noeviction",
            ];
            if !POLICIES.contains(&v.as_str()) {
                return Err(failed(
                    name,
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
                ));
            }
            ConfigChange::MaxmemoryPolicy(v)
        }
        "bind" | "port" | "databases" | "proto-max-bulk-len" => {
            return Err(failed(name, "can't set immutable config"));
        }
        _ => {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob_match(b"*", b"timeout", true));
        assert!(glob_match(b"max*", b"maxclients", true));
        assert!(glob_match(b"MAX*", b"maxclients", true));
        assert!(!glob_match(b"MAX*", b"maxclients", false));
        assert!(glob_match(b"h?", b"hz", false));
        assert!(glob_match(b"[a-c]at", b"bat", false));
        assert!(!glob_match(b"[^a-c]at", b"bat", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a", b"ab", false));
        assert!(glob_match(b"*o*t", b"timeout", false));
    }

    #[test]
    fn config_set_errors_use_redis_texts() {
        assert_eq!(
            parse_change("timeout", b"x").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            parse_change("timeout", b"-1").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            parse_change("maxclients", b"0").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"
        );
        assert_eq!(
            parse_change("nope", b"0").unwrap_err(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nope'"
        );
    }
}
