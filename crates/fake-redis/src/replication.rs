//! Replication roles as a client sees them: `REPLICAOF` / `SLAVEOF`, `ROLE`, the
//! `# Replication` INFO section, and what a demotion does to blocked clients (Redis 7.0.15
//! `replication.c` `replicaofCommand`, `replicationSetMaster`, `roleCommand`; `blocked.c`
//! `disconnectAllBlockedClients`; `server.c` `genRedisInfoString`).
//!
//! The fake does not replicate. A replica never opens a link to its master: it stays in the
//! state a real replica is in while its master cannot be reached (`ROLE` says `connect` with
//! offset -1, `INFO` says `master_link_status:down`), it keeps its own keyspace (a real one
//! would replace it with the master's after the first sync) and serves reads from it. The
//! READONLY check itself lives with the other `processCommand` checks in `commands.rs`.

use std::fmt::Write as _;

use crate::engine::{CloseReason, Engine, Output, Role, UNBLOCKED_REPLY};
use crate::resp::{ReplyWriter, RequestParser, parse_i64_strict};

impl Engine {
    /// `REPLICAOF host port | NO ONE` (and `SLAVEOF`, the same command).
    pub(crate) fn cmd_replicaof(&mut self, w: ReplyWriter, p: &RequestParser, out: &mut Vec<u8>) {
        let (host, port) = (p.arg(1), p.arg(2));
        if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
            // replicationUnsetMaster: nothing a normal client sees besides the role (the
            // replicas it would disconnect do not exist here).
            self.role = Role::Master;
            return w.ok(out);
        }
        // getRangeLongFromObjectOrReply(c, argv[2], 0, 65535, &port, "Invalid master port").
        let Some(port) = parse_i64_strict(port).and_then(|n| u16::try_from(n).ok()) else {
            return self.err(w, out, "ERR Invalid master port");
        };
        let host = String::from_utf8_lossy(host).into_owned();
        if let Role::Replica { host: h, port: p } = &self.role {
            if h.eq_ignore_ascii_case(&host) && *p == port {
                out.extend_from_slice(b"+OK Already connected to specified master\r\n");
                return;
            }
        }
        self.become_replica(host, port);
        w.ok(out);
    }

    /// `replicationSetMaster`: the role changes and every client blocked in BLPOP is sent
    /// [`UNBLOCKED_REPLY`] and closed after it (ascending ids, as Redis walks its client
    /// list). Other clients, pub/sub and MULTI included, are not touched.
    pub(crate) fn become_replica(&mut self, host: String, port: u16) {
        self.role = Role::Replica { host, port };
        let blocked: Vec<_> = self
            .clients
            .values()
            .filter(|c| c.blocked.is_some())
            .map(|c| c.id)
            .collect();
        for id in blocked {
            self.unblock(id);
            if let Some(c) = self.clients.get_mut(&id) {
                c.out.extend_from_slice(UNBLOCKED_REPLY);
                c.close_after_reply = Some(CloseReason::Unblocked);
                self.stats.total_error_replies += 1;
                self.push_output(Output::Wake { client: id });
            }
        }
    }

    /// `ROLE`. A master: `master`, its replication offset (always 0: the fake has no
    /// replication stream), no replicas. A replica: `slave`, host, port, `connect` (the state
    /// of a replica that has not reached its master; the fake never does), offset -1.
    pub(crate) fn cmd_role(&self, w: ReplyWriter, out: &mut Vec<u8>) {
        match &self.role {
            Role::Master => {
                w.array(out, 3);
                w.bulk(out, b"master");
                w.int(out, 0);
                w.array(out, 0);
            }
            Role::Replica { host, port } => {
                w.array(out, 5);
                w.bulk(out, b"slave");
                w.bulk(out, host.as_bytes());
                w.int(out, i64::from(*port));
                w.bulk(out, b"connect");
                w.int(out, -1);
            }
        }
    }

    /// The body of INFO's `# Replication` section (Redis 7.0's fields in its order; a replica
    /// as one whose link to its master never came up).
    pub(crate) fn info_replication(&self, text: &mut String) {
        match &self.role {
            Role::Master => text.push_str("role:master\r\n"),
            Role::Replica { host, port } => {
                let _ = write!(
                    text,
                    "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:0\r\nslave_repl_offset:0\r\nmaster_link_down_since_seconds:-1\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n"
                );
            }
        }
        text.push_str("connected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:0000000000000000000000000000000000000000\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n");
    }
}
