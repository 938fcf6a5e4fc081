//! Differential suite: the fake against the real `redis-server` (Debian's 7.0.x).
//!
//! Each row of [`cases`] sends the same bytes on a fresh connection to a fresh real server and a
//! fresh fake (in-process, `FakeRedis::serve_tokio`), and compares the replies byte for byte
//! unless the row says otherwise, then how the connection ends (closed with nothing more
//! written, or still answering a PING). Rows run in parallel; the two time-based tests (idle
//! `timeout`, `maxclients`) are separate tests.
//!
//! Every row that is not compared byte for byte is listed in [`DIFFERENCES`] with the reason;
//! docs/differential.md carries the same table. Adding a case is one line in [`cases`].
//!
//! Env vars: `POOLSIM_SKIP_REDIS_DIFF=1` skips (printed) when redis-server is missing;
//! `POOLSIM_DIFF_AGAINST=real` compares the real server with a second real server instead of
//! the fake (checks the table itself); `POOLSIM_DIFF_ONLY=name,...` runs only those rows.

use std::io::Write as _;
use std::time::Duration;

use poolsim_tests::diff::{Against, Case, Cmp, run_all};
use poolsim_tests::resp::Value;
use poolsim_tests::servers::{FakeServer, RealRedis, fake_config, require_redis_server};
use poolsim_tests::wire::{End, Wire, encode, show};

/// The INFO sections the fake emulates; their field names must match Redis's.
const INFO_SECTIONS: &[&str] = &["server", "clients", "stats", "keyspace"];

/// Counters of `INFO stats` that must be equal after the same commands on fresh servers.
const STATS_COUNTERS: &[&str] = &[
    "total_connections_received",
    "total_commands_processed",
    "rejected_connections",
    "expired_keys",
    "evicted_keys",
    "keyspace_hits",
    "keyspace_misses",
    "total_error_replies",
    "pubsub_channels",
];

/// `INFO replication` fields of a replica that do not depend on how far its sync got.
const REPLICA_INFO_VALUES: &[&str] = &[
    "role",
    "master_host",
    "master_port",
    "slave_priority",
    "slave_read_only",
    "replica_announced",
    "connected_slaves",
    "master_failover_state",
];

/// `INFO replication` fields of a replica whose master cannot be reached: all but the
/// replication ids and the (always 0 here, but stream-dependent) offsets.
const UNREACHABLE_MASTER_INFO_VALUES: &[&str] = &[
    "role",
    "master_host",
    "master_port",
    "master_link_status",
    "master_last_io_seconds_ago",
    "master_sync_in_progress",
    "master_link_down_since_seconds",
    "slave_priority",
    "slave_read_only",
    "replica_announced",
    "connected_slaves",
    "master_failover_state",
];

/// Deliberate differences: (case, what differs, why). Each row here is compared loosely (see its
/// `Cmp`), and every loosely compared row must be listed here.
const DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "hello3_map",
        "HELLO reply compared by shape: today only the `id` value differs (Redis 4, fake 2)",
        "client ids are numbering, not behaviour: Redis's first outside client gets id 3 because \
         it creates internal clients 1-2 at start-up; the fake starts at 1",
    ),
    (
        "hello2_flat_array",
        "HELLO values compared by shape only",
        "as hello3_map",
    ),
    (
        "hello3_then_resp3_replies",
        "first reply (HELLO map) compared by shape; the RESP3 replies after it are exact",
        "as hello3_map",
    ),
    (
        "hello3_then_hello2_back_to_resp2",
        "all replies by shape (types, lengths, map keys, error texts)",
        "the two HELLO replies carry client ids (see hello3_map); the shape still tells `$-1` from `_`",
    ),
    (
        "hello3_pubsub_pushes_and_commands_while_subscribed",
        "first reply (HELLO map) compared by shape",
        "as hello3_map",
    ),
    (
        "hello3_auth_inline",
        "first reply (HELLO map) compared by shape",
        "as hello3_map",
    ),
    (
        "hello3_setname",
        "first reply (HELLO map) compared by shape",
        "as hello3_map",
    ),
    (
        "hello3_info_verbatim",
        "HELLO by shape; INFO compared by section field names",
        "INFO values (pid, uptime, memory, ...) differ by nature",
    ),
    (
        "info_default",
        "all section headers in order; field names only for server, clients, stats, keyspace",
        "the fake emulates these four sections (the others are stubs with a subset of fields); \
         values (pid, uptime, ...) differ by nature",
    ),
    (
        "info_server",
        "field names, not values",
        "values (version, pid, uptime, ports) differ by nature",
    ),
    ("info_clients", "field names, not values", "as info_server"),
    ("info_stats", "field names, not values", "as info_server"),
    (
        "info_keyspace",
        "field names (db0), not values",
        "avg_ttl is time dependent",
    ),
    (
        "info_multiple_sections",
        "field names, not values",
        "as info_server",
    ),
    (
        "info_stats_counters_after_hits_misses_errors",
        "only the deterministic counters of INFO stats are compared",
        "the other values (bytes, ops/sec, times) differ by nature",
    ),
    (
        "info_expired_keys_counter",
        "only expired_keys is compared",
        "as above",
    ),
    (
        "info_clients_counters",
        "only connected_clients, maxclients, blocked_clients, cluster_connections are compared",
        "the other fields are buffer sizes, which differ by nature",
    ),
    (
        "client_list",
        "keys and their order per line, not values",
        "addr/fd/age/memory figures differ by nature",
    ),
    (
        "client_list_after_setname",
        "keys and their order per line, not values",
        "as client_list",
    ),
    (
        "config_get_several",
        "pairs compared as a set",
        "Redis orders CONFIG GET results by its dict iteration, not by request order",
    ),
    (
        "client_list_named_kill_others_list_again",
        "CLIENT LIST keys and their order per line, not values",
        "as client_list",
    ),
    (
        "client_id",
        "the id is compared by type only",
        "ids depend on how many clients the server created before (Redis counts internal ones)",
    ),
    (
        "client_setinfo",
        "real 7.0 answers `-ERR unknown subcommand 'SETINFO'`; the fake answers `+OK` (each pinned)",
        "CLIENT SETINFO is 7.2's; the issue asks the fake to accept it so clients that send it \
         on connect (redis-rs, redis-py) see what a current server says; they ignore 7.0's error",
    ),
    (
        "client_setinfo_unknown_attribute",
        "real 7.0 answers `-ERR unknown subcommand 'SETINFO'`; the fake rejects the attribute \
         (`Unrecognized option 'FOO'`) (each pinned)",
        "as client_setinfo: the fake accepts CLIENT SETINFO (redis-rs sends it), so its errors \
         for a bad attribute or value have no 7.0 counterpart to compare with",
    ),
    (
        "client_setinfo_value_with_space",
        "real 7.0 answers `-ERR unknown subcommand 'SETINFO'`; the fake rejects the value \
         (`lib-name cannot contain spaces, ...`) (each pinned)",
        "as client_setinfo_unknown_attribute",
    ),
    (
        "replica_refuses_writes_and_serves_reads",
        "ROLE: role, master host and port exact; link state and offset by type",
        "a real replica's link state moves with its sync (connect, connecting, sync, connected) \
         and its offset with the stream; the fake never reaches its master and says `connect`, \
         -1",
    ),
    (
        "replicaof_no_one_makes_writes_work_again",
        "ROLE: role exact; offset and replica list by type",
        "the replication offset is the stream's position, which the fake does not have (0)",
    ),
    (
        "info_replication_of_a_master",
        "section headers and the replication section's field names, not values",
        "replication ids are random in Redis (zeros in the fake)",
    ),
    (
        "info_replication_of_a_replica",
        "only the replica fields that do not depend on the sync's progress, by value",
        "link status, offsets and the sync fields change as a real replica syncs; the fake's \
         link stays down",
    ),
    (
        "replica_of_an_unreachable_master_role",
        "ROLE as in replica_refuses_writes_and_serves_reads",
        "right after REPLICAOF a real replica is `connecting` (`connect` between its retries, \
         once a second); the fake always says `connect`",
    ),
    (
        "replica_of_an_unreachable_master_info",
        "section headers and the replication section's field names, not values",
        "replication ids are random in Redis (zeros in the fake); the field set of a replica \
         whose link is down is what the fake always shows",
    ),
    (
        "replica_of_an_unreachable_master_info_values",
        "the replication section's values but the replication ids and offsets",
        "as replica_of_an_unreachable_master_info",
    ),
    (
        "multi_sentinel_promotion",
        "ROLE as in replicaof_no_one_makes_writes_work_again",
        "as replicaof_no_one_makes_writes_work_again",
    ),
    (
        "multi_sentinel_demotion",
        "ROLE as in replica_refuses_writes_and_serves_reads",
        "as replica_refuses_writes_and_serves_reads",
    ),
];

fn too_big_inline() -> Vec<u8> {
    vec![b'a'; 64 * 1024 + 1]
}

fn too_big_mbulk_count() -> Vec<u8> {
    let mut v = b"*".to_vec();
    v.resize(1 + 64 * 1024, b'1');
    v
}

fn too_big_bulk_count() -> Vec<u8> {
    let mut v = b"*1\r\n$".to_vec();
    v.resize(5 + 64 * 1024, b'1');
    v
}

fn unknown_command_long_arg() -> Vec<u8> {
    let long = "x".repeat(200);
    format!("*2\r\n$3\r\nFOO\r\n$200\r\n{long}\r\n").into_bytes()
}

fn pipeline_1000_pings() -> Vec<u8> {
    b"*1\r\n$4\r\nPING\r\n".repeat(1000)
}

fn big_value_set_get() -> Vec<u8> {
    let value = "v".repeat(100_000);
    let mut v = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$100000\r\n{value}\r\n").into_bytes();
    v.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    v
}

/// The case table. One line per case: `Case::cmds(name, "one command per line")`, or
/// `Case::raw(name, bytes, replies)`, then `.auth()` (requirepass s3cret), `.closes()` (server
/// closes after the replies), `.cmp(..)` / `.first_by(..)` (loose comparison, list it in
/// DIFFERENCES), `.replies(n)` (when replies != commands).
fn cases() -> Vec<Case> {
    use Cmp::*;
    vec![
        // --- protocol errors: reply, then the connection closes
        Case::raw("proto_invalid_multibulk_length", b"*abc\r\n", 1).closes(),
        Case::raw("proto_multibulk_length_over_int_max", b"*2147483648\r\n", 1).closes(),
        Case::generated("proto_too_big_inline_request", too_big_inline, 1).closes(),
        Case::generated("proto_too_big_mbulk_count_string", too_big_mbulk_count, 1).closes(),
        Case::generated("proto_too_big_bulk_count_string", too_big_bulk_count, 1).closes(),
        Case::raw("proto_expected_dollar", b"*1\r\nPING\r\n", 1).closes(),
        Case::raw(
            "proto_integer_argument_as_mini_redis_sends",
            b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nPX\r\n:60000\r\n",
            1,
        )
        .closes(),
        Case::raw("proto_invalid_bulk_length_negative", b"*1\r\n$-5\r\n", 1).closes(),
        Case::raw("proto_invalid_bulk_length_text", b"*1\r\n$abc\r\n", 1).closes(),
        Case::raw("proto_invalid_bulk_length_over_512mb", b"*1\r\n$536870913\r\n", 1).closes(),
        Case::raw("proto_unbalanced_double_quotes", b"SET k \"abc\r\n", 1).closes(),
        Case::raw("proto_unbalanced_single_quotes", b"GET 'k\r\n", 1).closes(),
        Case::raw("proto_closing_quote_then_char", b"GET \"k\"x\r\n", 1).closes(),
        Case::raw(
            "proto_pipelined_before_error_answered_then_close",
            b"*1\r\n$4\r\nPING\r\nSET a 1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*x\r\nPING\r\n",
            4,
        )
        .closes(),
        Case::raw("proto_unauthenticated_multibulk_length", b"*11\r\n", 1)
            .auth()
            .closes(),
        Case::raw("proto_unauthenticated_bulk_length", b"*1\r\n$16385\r\n", 1)
            .auth()
            .closes(),
        Case::raw(
            "proto_unauthenticated_noauth_then_error",
            b"GET k\r\n*20\r\n",
            2,
        )
        .auth()
        .closes(),
        Case::raw("proto_authenticated_big_multibulk_ok", b"AUTH s3cret\r\n*11\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n", 2).auth(),
        Case::raw(
            "proto_bulk_longer_than_declared_crlf_not_checked",
            b"*2\r\n$4\r\nECHO\r\n$3\r\nabcd\r\nPING\r\n",
            2,
        ),
        Case::raw("proto_empty_command_name", b"*1\r\n$0\r\n\r\n", 1),
        Case::raw("proto_inline_after_protocol_error_ignored", b"*x\r\nPING\r\n", 1).closes(),
        Case::raw("proto_zero_and_negative_count_ignored", b"*0\r\n*-1\r\nPING\r\n", 1),
        Case::raw(
            "proto_error_after_split_delivery",
            b"*1\r\n$4\r\nPING\r\n*1\r\n$-3\r\n",
            2,
        )
        .in_chunks_of(3)
        .closes(),
        Case::cmds("split_delivery_one_byte_at_a_time", "SET k v\nGET k").in_chunks_of(1),
        Case::raw("split_delivery_inline_mid_line", b"SET k \"a b\"\r\nGET k\r\n", 2).in_chunks_of(4),
        // --- inline commands
        Case::raw("inline_ping", b"PING\r\n", 1),
        Case::raw("inline_lf_only", b"PING\n", 1),
        Case::raw("inline_empty_lines_ignored", b"\r\n\r\n  \r\nPING\r\n", 1),
        Case::raw("inline_quotes_and_escapes", b"SET k \"a b\\x41\\n\"\r\nGET k\r\nSET j 'c d'\r\nGET j\r\n", 4),
        Case::raw("inline_case_insensitive", b"set K v\r\ngEt K\r\n", 2),
        Case::raw("inline_unknown_command", b"foo bar baz\r\n", 1),
        Case::raw("inline_then_multibulk", b"SET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 2),
        // --- command errors
        Case::cmds("unknown_command_with_args", "FOO a b"),
        Case::cmds("unknown_command_no_args", "NOSUCH"),
        Case::generated("unknown_command_long_arg_cut", unknown_command_long_arg, 1),
        Case::raw(
            "unknown_command_crlf_in_arg",
            b"*2\r\n$3\r\nFOO\r\n$4\r\na\r\nb\r\n",
            1,
        ),
        Case::cmds("wrong_arity_get", "GET"),
        Case::cmds("wrong_arity_set", "SET k"),
        Case::cmds("wrong_arity_ping", "PING a b"),
        Case::cmds("wrong_arity_echo", "ECHO"),
        Case::cmds("wrong_arity_config_set", "CONFIG SET timeout"),
        Case::cmds("wrong_arity_config_get", "CONFIG GET"),
        Case::cmds("wrong_arity_client_setname", "CLIENT SETNAME"),
        Case::cmds("unknown_subcommand_config", "CONFIG FOO"),
        Case::cmds("unknown_subcommand_client", "CLIENT FOO"),
        Case::cmds("unknown_subcommand_debug", "DEBUG FOO"),
        // --- every other error text of commands.rs (see every_error_text_of_the_fake_has_a_row)
        Case::cmds("expire_unsupported_option", "SET k v\nEXPIRE k 100 FOO\nPEXPIRE k 100 BAR"),
        Case::cmds("expire_gt_and_lt_together", "SET k v\nEXPIRE k 100 GT LT"),
        Case::cmds(
            "expire_time_overflow",
            "SET k v\nEXPIRE k 9223372036854775807\nPEXPIRE k 9223372036854775807\nTTL k",
        ),
        Case::cmds("hello_unknown_option", "HELLO 3 FOO"),
        Case::raw("hello_setname_with_space", b"HELLO 3 SETNAME \"a b\"\r\n", 1),
        Case::cmds("lpop_rpop_bad_count", "RPUSH l a\nLPOP l -1\nRPOP l abc\nLLEN l"),
        Case::cmds("config_set_duplicate_parameter", "CONFIG SET timeout 5 timeout 6\nCONFIG GET timeout"),
        Case::cmds("client_list_bad_filters", "CLIENT LIST TYPE nosuch\nCLIENT LIST ID abc\nCLIENT LIST FOO"),
        Case::cmds("client_kill_unknown_user", "CLIENT KILL USER nobody"),
        Case::cmds("client_setinfo_unknown_attribute", "CLIENT SETINFO FOO bar").cmp(Each {
            real: b"-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n",
            fake: b"-ERR Unrecognized option 'FOO'\r\n",
        }),
        Case::raw(
            "client_setinfo_value_with_space",
            b"*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$3\r\na b\r\n",
            1,
        )
        .cmp(Each {
            real: b"-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n",
            fake: b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n",
        }),
        // --- data commands
        Case::cmds("ping_and_echo", "PING\nPING hello\nECHO hi"),
        Case::raw("echo_empty_and_binary", b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*2\r\n$4\r\nECHO\r\n$4\r\na\0\r\n\r\n", 2),
        Case::cmds("set_get_missing", "SET k v\nGET k\nGET missing"),
        Case::cmds("set_nx_xx", "SET k v NX\nSET k w NX\nSET k w XX\nSET j v XX\nGET k"),
        Case::cmds("set_get_option", "SET k v GET\nSET k w GET\nGET k"),
        Case::cmds("set_ex_px_ttl", "SET k v EX 100\nTTL k\nSET k v PX 100000\nTTL k\nSET k v\nTTL k"),
        Case::cmds(
            "set_exat_pxat_in_the_past_deletes",
            "SET k v EXAT 1\nGET k\nSET k v PXAT 1\nEXISTS k\nSET k v EXAT 0",
        ),
        Case::cmds("set_nx_get_together", "SET k v NX GET\nSET k w NX GET\nGET k"),
        Case::cmds("set_keepttl", "SET k v EX 100\nSET k w KEEPTTL\nTTL k\nGET k"),
        Case::cmds("set_invalid_expire", "SET k v EX 0\nSET k v PX -5\nSET k v EX abc"),
        Case::cmds("set_syntax_errors", "SET k v NX XX\nSET k v FOO\nSET k v EX 10 PX 10"),
        Case::generated("set_get_100kb_value", big_value_set_get, 2),
        Case::generated("pipeline_1000_pings_in_one_write", pipeline_1000_pings, 1000),
        Case::cmds("incr_from_missing_and_existing", "INCR n\nINCR n\nSET m 41\nINCR m\nGET m"),
        Case::cmds("incr_overflow", "SET n 9223372036854775807\nINCR n\nGET n"),
        Case::cmds("incr_not_integer", "SET n abc\nINCR n\nSET f 1.5\nINCR f"),
        Case::cmds("del_exists", "SET a 1\nSET b 2\nDEL a b c\nEXISTS a b\nSET b 3\nEXISTS b b"),
        Case::cmds("expire_ttl", "SET k v\nEXPIRE k 100\nTTL k\nTTL missing\nSET p v\nTTL p\nEXPIRE missing 10"),
        Case::cmds("expire_negative_deletes", "SET k v\nEXPIRE k -1\nGET k\nEXISTS k"),
        Case::cmds("expire_not_integer", "SET k v\nEXPIRE k abc"),
        Case::cmds("expire_nx_xx_options", "SET k v\nEXPIRE k 100 XX\nEXPIRE k 100 NX\nEXPIRE k 200 NX\nEXPIRE k 50 NX XX"),
        Case::cmds("mset_mget", "MSET a 1 b 2\nMGET a b c\nMGET c"),
        Case::cmds("mset_odd_arguments", "MSET a\nMSET a 1 b"),
        Case::cmds("select_db_isolation", "SELECT 1\nSET k v\nSELECT 0\nGET k\nSELECT 1\nGET k"),
        Case::cmds("select_out_of_range", "SELECT 16\nSELECT -1\nSELECT abc"),
        Case::cmds("dbsize_flushdb", "SET a 1\nSET b 2\nDBSIZE\nFLUSHDB\nDBSIZE"),
        Case::cmds("flushall_all_dbs", "SET a 1\nSELECT 1\nSET b 2\nFLUSHALL\nDBSIZE\nSELECT 0\nDBSIZE"),
        Case::cmds("incrby_decr_decrby", "INCRBY n 10\nDECR n\nDECRBY n 20\nINCRBY n abc\nDECRBY n -9223372036854775808"),
        Case::cmds("persist_pexpire_pttl", "SET k v\nPEXPIRE k 100000\nPERSIST k\nPTTL k\nPTTL missing\nPERSIST k"),
        Case::cmds("type_of_values", "SET s v\nLPUSH l a\nTYPE s\nTYPE l\nTYPE missing"),
        Case::cmds("keys_single_match", "SET user:1 a\nSET other b\nKEYS user:*\nKEYS nomatch*"),
        Case::cmds("list_push_pop_len", "RPUSH l a b c\nLPUSH l z\nLLEN l\nLPOP l\nRPOP l\nLLEN l\nLPOP missing"),
        Case::cmds("wrongtype_errors", "LPUSH l a\nGET l\nINCR l\nSET s v\nLPUSH s x\nLLEN s"),
        Case::cmds("blpop_ready_list_returns_at_once", "RPUSH l a\nBLPOP l 1\nBLPOP l 0.05"),
        Case::cmds("blpop_bad_timeout", "BLPOP l abc\nBLPOP l -1"),
        Case::cmds("psubscribe_then_ping", "PSUBSCRIBE news.*").replies(1),
        Case::cmds("reset_clears_state", "SELECT 2\nCLIENT SETNAME n\nRESET\nCLIENT GETNAME"),
        Case::raw("binary_safe_key_and_value", b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$3\r\n\0\xff\n\r\n*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\n", 2),
        Case::cmds("debug_sleep_zero", "DEBUG SLEEP 0"),
        Case::cmds(
            "expire_passes_during_debug_sleep",
            "SET k v PX 100\nSET p v\nDEBUG SLEEP 0.3\nGET k\nEXISTS k\nTTL k\nGET p",
        ),
        Case::cmds("blpop_times_out_with_null", "BLPOP list 0.1"),
        Case::cmds("subscribe_publish", "PUBLISH ch hello\nSUBSCRIBE ch"),
        Case::cmds("subscribe_context_rejects_get", "SUBSCRIBE a b\nGET k").replies(3),
        Case::cmds("unsubscribe_named_then_ping", "SUBSCRIBE a b\nUNSUBSCRIBE b a").replies(4),
        // --- AUTH
        Case::cmds("auth_noauth_before_auth", "GET k\nPING").auth(),
        Case::cmds("auth_wrongpass_keeps_connection", "AUTH nope\nGET k").auth(),
        Case::cmds("auth_ok_then_commands", "AUTH s3cret\nSET k v\nGET k").auth(),
        Case::cmds("auth_default_user", "AUTH default s3cret\nGET k").auth(),
        Case::cmds("auth_unknown_user", "AUTH bob s3cret").auth(),
        Case::cmds("auth_without_password_configured", "AUTH foo"),
        Case::cmds("auth_arity_and_syntax", "AUTH\nAUTH a b c").auth(),
        Case::cmds("auth_unknown_command_beats_noauth", "FOO bar").auth(),
        Case::cmds("auth_arity_beats_noauth", "GET").auth(),
        Case::raw("auth_quit_allowed_unauthenticated", b"QUIT\r\n", 1).auth().closes(),
        // --- HELLO / RESP3
        Case::cmds("hello3_map", "HELLO 3").cmp(Shape),
        Case::cmds("hello2_flat_array", "HELLO 2").cmp(Shape),
        Case::cmds(
            "hello3_then_resp3_replies",
            "HELLO 3\nSET k v\nGET k\nGET missing\nCONFIG GET maxclients\nMGET k missing\nCONFIG GET nosuch",
        )
        .first_by(Shape),
        Case::cmds("hello3_then_hello2_back_to_resp2", "HELLO 3\nHELLO 2\nGET missing").cmp(Shape),
        Case::cmds("hello_bad_versions", "HELLO 4\nHELLO 1\nHELLO abc"),
        Case::cmds(
            "hello3_pubsub_pushes_and_commands_while_subscribed",
            "HELLO 3\nSUBSCRIBE ch\nPUBLISH ch hi\nGET k\nUNSUBSCRIBE ch",
        )
        .replies(6)
        .first_by(Shape),
        Case::cmds("hello3_noauth", "HELLO 3").auth(),
        Case::cmds("hello3_auth_inline", "HELLO 3 AUTH default s3cret\nGET k")
            .auth()
            .first_by(Shape),
        Case::cmds("hello3_auth_wrong", "HELLO 3 AUTH default nope").auth(),
        Case::cmds("hello3_setname", "HELLO 3 SETNAME conn1\nCLIENT GETNAME").first_by(Shape),
        Case::cmds("hello3_info_verbatim", "HELLO 3\nINFO server")
            .cmp(InfoFields(INFO_SECTIONS))
            .first_by(Shape),
        // --- CONFIG
        Case::cmds("config_get_timeout_maxclients", "CONFIG GET timeout\nCONFIG GET maxclients"),
        Case::cmds("config_get_globs", "CONFIG GET maxclient*\nCONFIG GET timeou?\nCONFIG GET MAXCLIENTS"),
        Case::cmds("config_get_requirepass_save_appendonly", "CONFIG GET requirepass\nCONFIG GET save\nCONFIG GET appendonly"),
        Case::cmds("config_get_unknown_is_empty", "CONFIG GET nosuch\nCONFIG GET nosuch*"),
        Case::cmds("config_get_several", "CONFIG GET timeout maxclients").cmp(UnorderedPairs),
        Case::cmds("config_set_then_get", "CONFIG SET timeout 5\nCONFIG GET timeout\nCONFIG SET maxclients 50\nCONFIG GET maxclients"),
        Case::cmds("config_set_several", "CONFIG SET timeout 7 maxclients 60\nCONFIG GET timeout"),
        Case::cmds("config_set_unknown_option", "CONFIG SET nosuch 1"),
        Case::cmds("config_set_bad_integer", "CONFIG SET timeout abc\nCONFIG SET maxclients 1x"),
        Case::cmds("config_set_out_of_range", "CONFIG SET timeout -1\nCONFIG SET maxclients 0\nCONFIG SET timeout 2147483648"),
        Case::cmds("config_set_odd_arguments", "CONFIG SET timeout 5 maxclients"),
        Case::cmds("config_set_requirepass_keeps_current_client", "CONFIG SET requirepass pw\nGET k"),
        // --- INFO
        Case::cmds("info_default", "INFO").cmp(InfoFields(INFO_SECTIONS)),
        Case::cmds("info_server", "INFO server").cmp(InfoFields(INFO_SECTIONS)),
        Case::cmds("info_clients", "INFO clients").cmp(InfoFields(INFO_SECTIONS)),
        Case::cmds("info_stats", "INFO stats").cmp(InfoFields(INFO_SECTIONS)),
        Case::cmds("info_keyspace", "SET a 1\nSELECT 2\nSET b 2\nINFO keyspace").cmp(InfoFields(INFO_SECTIONS)),
        Case::cmds("info_multiple_sections", "INFO clients stats").cmp(InfoFields(INFO_SECTIONS)),
        Case::cmds("info_unknown_section_is_empty", "INFO nosuch"),
        Case::cmds(
            "info_stats_counters_after_hits_misses_errors",
            "SET a 1\nGET a\nGET b\nMGET a b c\nEXISTS a b\nFOO\nGET\nINCR a\nSET s x\nINCR s\nINFO stats",
        )
        .cmp(InfoValues(STATS_COUNTERS)),
        Case::cmds(
            "info_expired_keys_counter",
            "SET k v PX 50\nDEBUG SLEEP 0.1\nINFO stats",
        )
        .cmp(InfoValues(&["expired_keys"])),
        Case::cmds("info_clients_counters", "INFO clients")
            .cmp(InfoValues(&["connected_clients", "maxclients", "blocked_clients", "cluster_connections"])),
        // --- CLIENT
        Case::cmds("client_list", "CLIENT LIST").cmp(ClientListKeys),
        Case::cmds("client_list_after_setname", "CLIENT SETNAME me\nSELECT 3\nCLIENT LIST").cmp(ClientListKeys),
        Case::raw(
            "client_list_named_kill_others_list_again",
            b"CLIENT SETNAME first\r\nCLIENT LIST\r\nCLIENT KILL TYPE normal SKIPME yes\r\nCLIENT LIST\r\n",
            4,
        )
        .cmp(ClientListKeys),
        Case::cmds("client_id", "CLIENT ID").cmp(Shape),
        Case::cmds("client_setinfo", "CLIENT SETINFO LIB-NAME redis-rs").cmp(Each {
            real: b"-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n",
            fake: b"+OK\r\n",
        }),
        Case::cmds("client_setname_getname", "CLIENT GETNAME\nCLIENT SETNAME app-1\nCLIENT GETNAME"),
        Case::raw("client_setname_empty_clears", b"CLIENT SETNAME x\r\n*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$0\r\n\r\nCLIENT GETNAME\r\n", 3),
        Case::raw("client_setname_space", b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\na b\r\n", 1),
        Case::raw("client_setname_newline", b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\na\nb\r\n", 1),
        Case::cmds("client_kill_addr_no_such_client", "CLIENT KILL 10.1.2.3:4567"),
        Case::cmds("client_kill_id_none", "CLIENT KILL ID 999999"),
        Case::cmds("client_kill_type_skipme_yes", "CLIENT KILL TYPE normal SKIPME yes"),
        Case::cmds("client_kill_bad_forms", "CLIENT KILL TYPE nosuch\nCLIENT KILL ID abc\nCLIENT KILL FOO bar\nCLIENT KILL SKIPME maybe"),
        Case::cmds("client_kill_self_replies_then_closes", "CLIENT KILL TYPE normal SKIPME no").closes(),
        Case::cmds("client_kill_type_pubsub_and_normal_none", "CLIENT KILL TYPE pubsub\nCLIENT KILL TYPE normal"),
        // --- replication roles: both servers are made replicas of a third, real server
        // (`.with_master()`, `$MASTER_PORT`); the fake never contacts it
        Case::cmds("role_of_a_master", "ROLE"),
        Case::cmds("replicaof_no_one_on_a_master_is_ok", "REPLICAOF NO ONE\nSLAVEOF no one\nROLE"),
        Case::cmds(
            "replicaof_invalid_port_and_arity",
            "REPLICAOF 127.0.0.1 abc\nREPLICAOF 127.0.0.1 65536\nSLAVEOF 127.0.0.1 -1\nREPLICAOF 127.0.0.1\nROLE x\nROLE",
        ),
        Case::cmds(
            "replica_refuses_writes_and_serves_reads",
            "REPLICAOF 127.0.0.1 $MASTER_PORT\nSET k v\nINCR n\nDEL k\nLPUSH l a\nBLPOP l 0\nFLUSHALL\nGET missing\nEXISTS k\nPING\nPUBLISH ch hi\nROLE",
        )
        .with_master()
        .cmp(Role),
        Case::cmds(
            "replicaof_the_same_master_again",
            "REPLICAOF 127.0.0.1 $MASTER_PORT\nSLAVEOF 127.0.0.1 $MASTER_PORT",
        )
        .with_master(),
        Case::cmds(
            "replicaof_no_one_makes_writes_work_again",
            "REPLICAOF 127.0.0.1 $MASTER_PORT\nSET k v\nREPLICAOF NO ONE\nSET k v\nGET k\nROLE",
        )
        .with_master()
        .cmp(Role),
        Case::cmds("info_replication_of_a_master", "INFO replication")
            .cmp(InfoFields(&["replication"])),
        Case::cmds(
            "info_replication_of_a_replica",
            "REPLICAOF 127.0.0.1 $MASTER_PORT\nINFO replication",
        )
        .with_master()
        .cmp(InfoValues(REPLICA_INFO_VALUES)),
        // A master nobody listens for (port 1): the state a fake replica imitates.
        Case::cmds(
            "replica_of_an_unreachable_master_role",
            "REPLICAOF 127.0.0.1 1\nROLE\nREPLICAOF NO ONE",
        )
        .cmp(Role),
        Case::cmds(
            "replica_of_an_unreachable_master_info",
            "REPLICAOF 127.0.0.1 1\nINFO replication\nREPLICAOF NO ONE",
        )
        .cmp(InfoFields(&["replication"])),
        Case::cmds(
            "replica_of_an_unreachable_master_info_values",
            "REPLICAOF 127.0.0.1 1\nINFO replication\nREPLICAOF NO ONE",
        )
        .cmp(InfoValues(UNREACHABLE_MASTER_INFO_VALUES)),
        // --- MULTI / EXEC
        Case::cmds("multi_exec_runs_queued_commands", "MULTI\nSET k v\nINCR k\nGET k\nEXEC\nGET k"),
        Case::cmds(
            "multi_errors_and_execabort",
            "EXEC\nDISCARD\nMULTI\nMULTI\nSET k v\nEXEC\nMULTI\nNOSUCH\nSET k w\nGET\nEXEC\nGET k",
        ),
        Case::cmds("exec_with_arguments_aborts", "EXEC x\nMULTI\nSET k v\nEXEC x\nEXEC\nGET k"),
        Case::cmds("multi_discard_and_reset", "MULTI\nSET k x\nDISCARD\nMULTI\nSET k y\nRESET\nEXEC\nGET k"),
        Case::cmds("multi_blpop_does_not_block", "MULTI\nBLPOP l 0\nRPUSH l a\nBLPOP l 0\nEXEC"),
        Case::cmds("multi_quit_closes", "MULTI\nSET k v\nQUIT").closes(),
        Case::cmds(
            "multi_on_a_replica_write_refused_exec_aborts",
            "REPLICAOF 127.0.0.1 $MASTER_PORT\nMULTI\nSET k v\nGET k\nEXEC\nMULTI\nGET k\nEXEC",
        )
        .with_master(),
        Case::cmds(
            "multi_sentinel_promotion",
            "REPLICAOF 127.0.0.1 $MASTER_PORT\nMULTI\nSLAVEOF NO ONE\nCONFIG REWRITE\nCLIENT KILL TYPE normal\nCLIENT KILL TYPE pubsub\nEXEC\nSET k v\nROLE",
        )
        .with_master()
        .cmp(Role),
        Case::cmds(
            "multi_sentinel_demotion",
            "SET k v\nMULTI\nSLAVEOF 127.0.0.1 $MASTER_PORT\nCONFIG REWRITE\nCLIENT KILL TYPE normal\nCLIENT KILL TYPE pubsub\nEXEC\nSET k w\nGET missing\nROLE",
        )
        .with_master()
        .cmp(Role),
        // --- QUIT
        Case::cmds("quit", "QUIT").closes(),
        Case::raw("quit_drops_pipelined_after", b"PING\r\nQUIT\r\nPING\r\n", 2).closes(),
    ]
}

/// `Against::Real` when `POOLSIM_DIFF_AGAINST=real` (checks the table), else the fake.
fn against() -> Against {
    match std::env::var("POOLSIM_DIFF_AGAINST").as_deref() {
        Ok("real") => Against::Real,
        _ => Against::Fake,
    }
}

fn selected() -> Vec<Case> {
    let only = std::env::var("POOLSIM_DIFF_ONLY").unwrap_or_default();
    let names: Vec<&str> = only.split(',').filter(|s| !s.is_empty()).collect();
    cases()
        .into_iter()
        .filter(|c| names.is_empty() || names.contains(&c.name))
        .collect()
}

#[test]
fn case_table_has_at_least_60_unique_cases() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "duplicate case names");
}

#[test]
fn every_loose_comparison_is_a_listed_difference_and_vice_versa() {
    let cases = cases();
    for c in &cases {
        let loose = c.cmp != Cmp::Exact || c.first.is_some();
        let listed = DIFFERENCES.iter().any(|(n, _, _)| *n == c.name);
        assert_eq!(
            loose, listed,
            "case {}: loose comparison {loose} but listed in DIFFERENCES {listed}",
            c.name
        );
    }
    for (name, _, _) in DIFFERENCES {
        assert!(
            cases.iter().any(|c| c.name == *name),
            "DIFFERENCES names unknown case {name}"
        );
    }
}

/// Error texts of the fake that no row can reach, and why.
/// (None today. READONLY now has rows: a server made a replica. The `-UNBLOCKED` text, which
/// goes to a client blocked on another connection when its server becomes a replica, is not
/// scanned here (it is a constant of engine.rs): the side-by-side test
/// `demotion_unblocks_blocked_clients_and_client_kill_types_on_both` compares it.)
const ERRORS_WITHOUT_A_ROW: &[(&str, &str)] = &[];

/// Every error text in the fake's command code (`commands.rs`, and the CONFIG SET texts of
/// `config.rs` outside its tests), each split at its `{}` placeholders into literal pieces.
fn fake_error_texts() -> Vec<Vec<String>> {
    const SOURCES: &[&str] = &[
        include_str!("../../crates/fake-redis/src/commands.rs"),
        include_str!("../../crates/fake-redis/src/config.rs"),
        include_str!("../../crates/fake-redis/src/replication.rs"),
    ];
    const PREFIXES: &[&str] = &[
        "ERR ",
        "WRONGTYPE ",
        "NOAUTH ",
        "WRONGPASS ",
        "NOPROTO ",
        "READONLY ",
        "EXECABORT ",
    ];
    let mut texts = Vec::new();
    for src in SOURCES {
        let code = src.split("#[cfg(test)]").next().unwrap_or(src);
        for (start, _) in code.match_indices('"') {
            let rest = &code[start + 1..];
            if !PREFIXES.iter().any(|p| rest.starts_with(p)) {
                continue;
            }
            let text = &rest[..rest.find('"').expect("a closing quote")];
            let pieces: Vec<String> = text
                .split('{')
                .enumerate()
                .map(|(i, piece)| match (i, piece.split_once('}')) {
                    (0, _) | (_, None) => piece.to_owned(),
                    (_, Some((_, after))) => after.to_owned(),
                })
                .filter(|piece| !piece.is_empty())
                .collect();
            if !texts.contains(&pieces) {
                texts.push(pieces);
            }
        }
    }
    texts
}

/// Whether the error line `line` (without its `-`) is an instance of `pieces`.
fn is_instance(line: &str, pieces: &[String]) -> bool {
    let Some(first) = pieces.first() else {
        return false;
    };
    let Some(mut rest) = line.strip_prefix(first.as_str()) else {
        return false;
    };
    for piece in &pieces[1..] {
        match rest.find(piece.as_str()) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn every_error_text_of_the_fake_has_a_row() {
    // Runs every row against the fake alone (no redis-server needed) and requires each error
    // text of the command code to appear in some row's replies, so that
    // `fake_matches_real_redis_on_every_case` compares it with the real server's text.
    let texts = fake_error_texts();
    assert!(texts.len() >= 40, "only {} error texts found", texts.len());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut errors: Vec<String> = Vec::new();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for case in cases() {
            tasks.push(tokio::spawn(async move {
                let pass = (case.setup == poolsim_tests::diff::Setup::Auth)
                    .then_some(poolsim_tests::diff::PASSWORD);
                let fake = FakeServer::start(fake_config(pass))
                    .await
                    .expect("start the fake");
                // The fake never contacts the master: any port does.
                let seen =
                    poolsim_tests::diff::observe(fake.addr(), &case, &case.request(6379)).await;
                seen.replies
            }));
        }
        for t in tasks {
            for reply in t.await.expect("join") {
                for line in String::from_utf8_lossy(&reply).split("\r\n") {
                    if let Some(e) = line.strip_prefix('-') {
                        errors.push(e.to_owned());
                    }
                }
            }
        }
    });
    let missing: Vec<String> = texts
        .iter()
        .filter(|pieces| !errors.iter().any(|e| is_instance(e, pieces)))
        .map(|pieces| pieces.join("…"))
        .filter(|t| !ERRORS_WITHOUT_A_ROW.iter().any(|(e, _)| e == t))
        .collect();
    assert!(
        missing.is_empty(),
        "error texts of the fake that no differential row produces (add a row, or list the \
         text in ERRORS_WITHOUT_A_ROW with the reason):\n  {}",
        missing.join("\n  ")
    );
    for (text, _) in ERRORS_WITHOUT_A_ROW {
        assert!(
            texts.iter().any(|p| p.join("…") == *text),
            "ERRORS_WITHOUT_A_ROW lists '{text}', which the fake no longer has"
        );
    }
}

#[test]
fn fake_matches_real_redis_on_every_case() {
    if !require_redis_server("fake_matches_real_redis_on_every_case") {
        return;
    }
    let cases = selected();
    let against = against();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = std::time::Instant::now();
    let results = rt.block_on(run_all(&cases, against, 8));
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    for (_, r) in &failed {
        if let Err(report) = r {
            eprintln!("{report}");
        }
    }
    // Straight to stderr (not captured by libtest): the count shows on every run.
    let _ = writeln!(
        std::io::stderr(),
        "differential ({against:?}): {} cases, {} pass, {} fail, in {:.1} s",
        results.len(),
        results.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failed.is_empty(),
        "{} of {} differential cases failed: {:?}",
        failed.len(),
        results.len(),
        failed.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// Time-based cases: idle `timeout` and `maxclients`, each against both servers side by side.

/// The real server and what it is compared with (the fake, or a second real server under
/// `POOLSIM_DIFF_AGAINST=real`), both with defaults. The guard stops both on drop.
async fn both() -> (RealRedis, std::net::SocketAddr, Box<dyn Send>) {
    let start_real = || async {
        tokio::task::spawn_blocking(|| RealRedis::start(&[]))
            .await
            .expect("join")
            .expect("start redis-server")
    };
    let real = start_real().await;
    match against() {
        Against::Real => {
            let other = start_real().await;
            (real, other.addr(), Box::new(other))
        }
        Against::Fake => {
            let fake = FakeServer::start(fake_config(None))
                .await
                .expect("start the fake");
            (real, fake.addr(), Box::new(fake))
        }
    }
}

/// A field of `INFO stats` (or any section) as an integer.
async fn info_field(wire: &mut Wire, section: &str, field: &str) -> i64 {
    let v = wire.cmd(&["INFO", section]).await;
    let text = String::from_utf8_lossy(v.text().expect("INFO text")).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {text}"))
        .trim()
        .parse()
        .expect("integer field")
}

/// What idle, active, subscribed and blocked connections saw on one server with `timeout 1`.
#[derive(Debug, PartialEq)]
struct IdleOutcome {
    /// A read on the idle connection timed out at 0.9 s (reading is not activity).
    idle_open_at_900ms: bool,
    /// What the idle connection read afterwards: nothing, then EOF.
    idle_read: (Vec<u8>, End),
    /// EOF came between 1 s and 3 s after `CONFIG SET timeout 1` (more than 1 s idle in whole
    /// seconds, at most 2 s, plus the ~100 ms cron scan, plus slack for a loaded machine). The
    /// idle connection was opened before the CONFIG SET: the new timeout applies to clients
    /// already idle.
    eof_within_1s_to_3s: bool,
    /// A connection that sent half a command before going quiet: a pending partial command
    /// does not exempt it (nothing, then EOF, in the same window).
    partial_command_read: (Vec<u8>, End),
    partial_eof_within_1s_to_3s: bool,
    /// The connection that sent a PING every 300 ms answered every one of them, and one that
    /// sent only bare CRLFs (activity without a command) still answers a PING at the end.
    active_still_answers: bool,
    /// A SUBSCRIBEd connection, silent for 2.5 s, still receives a PUBLISH (exempt).
    subscribed_gets_message: Option<Vec<u8>>,
    /// A connection blocked in `BLPOP l 0` for 2.5 s is served by an RPUSH (exempt): the
    /// RPUSH reply, then what the blocked connection read.
    blocked_gets_element: (Value, Vec<Vec<u8>>, End),
    /// `connected_clients` once the idle and partial connections are gone (active, CRLF,
    /// subscribed, blocked).
    connected_clients_after: i64,
}

async fn idle_timeout_on(addr: std::net::SocketAddr) -> IdleOutcome {
    let mut ctl = Wire::connect(addr).await.expect("connect");
    let mut idle = Wire::connect(addr).await.expect("connect");
    let mut subscribed = Wire::connect(addr).await.expect("connect");
    subscribed.cmd(&["SUBSCRIBE", "news"]).await;
    let mut blocked = Wire::connect(addr).await.expect("connect");
    blocked
        .send(&encode(&["BLPOP", "l", "0"]))
        .await
        .expect("send");
    let mut partial = Wire::connect(addr).await.expect("connect");
    partial.send(b"*1\r\n$4\r\nPI").await.expect("send");
    let mut crlf = Wire::connect(addr).await.expect("connect");
    assert_eq!(
        ctl.cmd(&["CONFIG", "SET", "timeout", "1"]).await,
        Value::Simple(b"OK".to_vec())
    );
    let started = tokio::time::Instant::now();
    let watch_idle = async {
        let (early, early_end) = idle.read_to_eof(Duration::from_millis(900)).await;
        let open = early.is_empty() && early_end == End::Timeout;
        let read = idle.read_to_eof(Duration::from_millis(3100)).await;
        (open, read, started.elapsed())
    };
    let watch_partial = async {
        let read = partial.read_to_eof(Duration::from_millis(4000)).await;
        (read, started.elapsed())
    };
    let keep_active = async {
        let mut answered = true;
        while started.elapsed() < Duration::from_millis(2500) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            answered &= ctl.cmd(&["PING"]).await == Value::Simple(b"PONG".to_vec());
            // A bare CRLF is read (activity) but is no command: no reply.
            answered &= crlf.send(b"\r\n").await.is_ok();
        }
        answered &= crlf.cmd(&["PING"]).await == Value::Simple(b"PONG".to_vec());
        answered
    };
    let (
        (idle_open_at_900ms, idle_read, eof_at),
        (partial_read, partial_eof_at),
        active_still_answers,
    ) = tokio::join!(watch_idle, watch_partial, keep_active);
    let connected_clients_after = info_field(&mut ctl, "clients", "connected_clients").await;
    ctl.cmd(&["PUBLISH", "news", "hi"]).await;
    let (mut msg, _) = subscribed.read_replies(1, Duration::from_secs(2)).await;
    // The idle timeout off before the push: the served BLPOP client is no longer blocked and
    // its last command is seconds old, so a real server whose `serverCron` runs in the same
    // event-loop iteration as the RPUSH closes it before writing the element it was just
    // served (seen once in a loaded `cargo test --workspace`). That race is redis-server's
    // scheduling, not behaviour a client can rely on; the sparing of the blocked client is
    // checked above (`connected_clients_after`).
    assert_eq!(
        ctl.cmd(&["CONFIG", "SET", "timeout", "0"]).await,
        Value::Simple(b"OK".to_vec())
    );
    let pushed = ctl.cmd(&["RPUSH", "l", "x"]).await;
    let (elem, elem_end) = blocked.read_replies(1, Duration::from_secs(2)).await;
    let in_window = |t: Duration| t >= Duration::from_secs(1) && t <= Duration::from_secs(3);
    IdleOutcome {
        idle_open_at_900ms,
        idle_read,
        eof_within_1s_to_3s: in_window(eof_at),
        partial_command_read: partial_read,
        partial_eof_within_1s_to_3s: in_window(partial_eof_at),
        active_still_answers,
        subscribed_gets_message: msg.pop(),
        blocked_gets_element: (pushed, elem, elem_end),
        connected_clients_after,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_idle_and_half_sent_clients_spares_active_subscribed_blocked_on_both() {
    if !require_redis_server(
        "idle_timeout_closes_idle_and_half_sent_clients_spares_active_subscribed_blocked_on_both",
    ) {
        return;
    }
    let (real, fake, _guard) = both().await;
    let (r, f) = tokio::join!(idle_timeout_on(real.addr()), idle_timeout_on(fake));
    let want = IdleOutcome {
        idle_open_at_900ms: true,
        idle_read: (vec![], End::Eof),
        eof_within_1s_to_3s: true,
        partial_command_read: (vec![], End::Eof),
        partial_eof_within_1s_to_3s: true,
        active_still_answers: true,
        subscribed_gets_message: Some(
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n".to_vec(),
        ),
        blocked_gets_element: (
            Value::Integer(1),
            vec![b"*2\r\n$1\r\nl\r\n$1\r\nx\r\n".to_vec()],
            End::Complete,
        ),
        connected_clients_after: 4,
    };
    assert_eq!(r, want, "real redis-server did not behave as expected");
    assert_eq!(f, r, "the fake differs from real redis-server");
}

/// What the maxclients scenario saw on one server.
#[derive(Debug, PartialEq)]
struct MaxclientsOutcome {
    admitted_answer: Vec<bool>,
    refused_read: (Vec<u8>, End),
    rejected_connections_delta: i64,
    total_connections_delta: i64,
    lowered_keeps_clients: bool,
    still_admits_after_a_close: bool,
}

async fn maxclients_on(addr: std::net::SocketAddr) -> MaxclientsOutcome {
    const MAX: usize = 3;
    let mut ctl = Wire::connect(addr).await.expect("connect");
    let rejected_before = info_field(&mut ctl, "stats", "rejected_connections").await;
    let total_before = info_field(&mut ctl, "stats", "total_connections_received").await;
    assert_eq!(
        ctl.cmd(&["CONFIG", "SET", "maxclients", &MAX.to_string()])
            .await,
        Value::Simple(b"OK".to_vec())
    );
    // ctl plus MAX - 1 more fill the server.
    let mut admitted = Vec::new();
    let mut admitted_answer = Vec::new();
    for _ in 1..MAX {
        let mut w = Wire::connect(addr).await.expect("connect");
        admitted_answer.push(w.cmd(&["PING"]).await == Value::Simple(b"PONG".to_vec()));
        admitted.push(w);
    }
    let mut refused = Wire::connect(addr).await.expect("TCP connect succeeds");
    let refused_read = refused.read_to_eof(Duration::from_secs(3)).await;
    let rejected_after = info_field(&mut ctl, "stats", "rejected_connections").await;
    let total_after = info_field(&mut ctl, "stats", "total_connections_received").await;
    // Lowering maxclients below the current count disconnects nobody.
    ctl.cmd(&["CONFIG", "SET", "maxclients", "1"]).await;
    let mut lowered_keeps_clients = true;
    for w in &mut admitted {
        lowered_keeps_clients &= w.cmd(&["PING"]).await == Value::Simple(b"PONG".to_vec());
    }
    ctl.cmd(&["CONFIG", "SET", "maxclients", &MAX.to_string()])
        .await;
    // Freeing a slot admits the next connection again.
    drop(admitted.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = Wire::connect(addr).await.expect("connect");
    let still_admits_after_a_close = again.cmd(&["PING"]).await == Value::Simple(b"PONG".to_vec());
    MaxclientsOutcome {
        admitted_answer,
        refused_read,
        rejected_connections_delta: rejected_after - rejected_before,
        total_connections_delta: total_after - total_before,
        lowered_keeps_clients,
        still_admits_after_a_close,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxclients_refuses_the_extra_connection_with_error_then_eof_on_both() {
    if !require_redis_server("maxclients_refuses_the_extra_connection_with_error_then_eof_on_both")
    {
        return;
    }
    let (real, fake, _guard) = both().await;
    let (r, f) = tokio::join!(maxclients_on(real.addr()), maxclients_on(fake));
    let want = MaxclientsOutcome {
        admitted_answer: vec![true, true],
        refused_read: (b"-ERR max number of clients reached\r\n".to_vec(), End::Eof),
        rejected_connections_delta: 1,
        total_connections_delta: 2,
        lowered_keeps_clients: true,
        still_admits_after_a_close: true,
    };
    assert_eq!(
        r,
        want,
        "real redis-server did not behave as expected (refused read {})",
        show(&r.refused_read.0)
    );
    assert_eq!(
        f,
        r,
        "the fake differs from real redis-server (fake refused read {})",
        show(&f.refused_read.0)
    );
}

/// What CLIENT KILL did to three other connections, killed by the three forms.
#[derive(Debug, PartialEq)]
struct KillOutcome {
    /// Replies to `CLIENT KILL ip:port`, `CLIENT KILL ID id`, `CLIENT KILL ADDR ip:port`.
    replies: Vec<Value>,
    /// What each victim read afterwards (nothing, then EOF).
    victims_read: Vec<(Vec<u8>, End)>,
    /// `connected_clients` afterwards (the killer alone).
    connected_clients_after: i64,
}

async fn client_kill_on(addr: std::net::SocketAddr) -> KillOutcome {
    let mut ctl = Wire::connect(addr).await.expect("connect");
    let mut victims = Vec::new();
    for _ in 0..3 {
        let mut v = Wire::connect(addr).await.expect("connect");
        // A round trip makes sure the server has accepted and registered the victim.
        v.cmd(&["PING"]).await;
        victims.push(v);
    }
    let id = match victims[1].cmd(&["CLIENT", "ID"]).await {
        Value::Integer(id) => id.to_string(),
        other => panic!("CLIENT ID gave {other:?}"),
    };
    let addr_of = |w: &Wire| w.local_addr().expect("local addr").to_string();
    let (a0, a2) = (addr_of(&victims[0]), addr_of(&victims[2]));
    let replies = vec![
        ctl.cmd(&["CLIENT", "KILL", &a0]).await,
        ctl.cmd(&["CLIENT", "KILL", "ID", &id]).await,
        ctl.cmd(&["CLIENT", "KILL", "ADDR", &a2]).await,
    ];
    let mut victims_read = Vec::new();
    for v in &mut victims {
        victims_read.push(v.read_to_eof(Duration::from_secs(2)).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let connected_clients_after = info_field(&mut ctl, "clients", "connected_clients").await;
    KillOutcome {
        replies,
        victims_read,
        connected_clients_after,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_closes_other_connections_silently_on_both() {
    if !require_redis_server("client_kill_closes_other_connections_silently_on_both") {
        return;
    }
    let (real, fake, _guard) = both().await;
    let (r, f) = tokio::join!(client_kill_on(real.addr()), client_kill_on(fake));
    let want = KillOutcome {
        replies: vec![
            Value::Simple(b"OK".to_vec()),
            Value::Integer(1),
            Value::Integer(1),
        ],
        victims_read: vec![(vec![], End::Eof); 3],
        connected_clients_after: 1,
    };
    assert_eq!(r, want, "real redis-server did not behave as expected");
    assert_eq!(f, r, "the fake differs from real redis-server");
}

/// What a demotion and the two CLIENT KILL types did to the other connections of one server.
#[derive(Debug, PartialEq)]
struct DemotionOutcome {
    /// `REPLICAOF 127.0.0.1 <master>` sent by the control connection.
    replicaof: Value,
    /// What the client blocked in `BLPOP l 0` read: `-UNBLOCKED ...`, then EOF.
    blocked_read: (Vec<u8>, End),
    /// A plain connection opened before the demotion: SET, then GET.
    normal_write_then_read: (Value, Value),
    /// `PUBLISH ch hi` on the replica, and what the subscriber read (still subscribed).
    publish_and_message: (Value, Vec<Vec<u8>>),
    /// `CLIENT KILL TYPE pubsub`, `CLIENT KILL TYPE normal`: counts, then what the victims read.
    kills: (Value, Value),
    subscriber_after_kill: (Vec<u8>, End),
    normal_after_kill: (Vec<u8>, End),
    /// `REPLICAOF NO ONE`, then a SET on the control connection, then `connected_clients`.
    promoted_then_write: (Value, Value, i64),
    /// Sentinel's demotion transaction while one client is blocked and one is idle: EXEC's
    /// reply, then what each read (killed in the same EXEC, so the blocked one never gets its
    /// `-UNBLOCKED`), then a new connection's SET.
    sentinel_exec: Value,
    blocked_in_transaction_read: (Vec<u8>, End),
    idle_in_transaction_read: (Vec<u8>, End),
    new_connection_write: Value,
}

async fn demotion_on(addr: std::net::SocketAddr, master_port: u16) -> DemotionOutcome {
    let port = master_port.to_string();
    let mut ctl = Wire::connect(addr).await.expect("connect");
    let mut blocked = Wire::connect(addr).await.expect("connect");
    let mut normal = Wire::connect(addr).await.expect("connect");
    let mut subscriber = Wire::connect(addr).await.expect("connect");
    normal.cmd(&["PING"]).await;
    subscriber.cmd(&["SUBSCRIBE", "ch"]).await;
    blocked
        .send(&encode(&["BLPOP", "l", "0"]))
        .await
        .expect("send");
    // Wait until the server has it blocked.
    for _ in 0..100 {
        if info_field(&mut ctl, "clients", "blocked_clients").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let replicaof = ctl.cmd(&["REPLICAOF", "127.0.0.1", &port]).await;
    let blocked_read = blocked.read_to_eof(Duration::from_secs(2)).await;
    let normal_write_then_read = (
        normal.cmd(&["SET", "k", "v"]).await,
        normal.cmd(&["GET", "missing"]).await,
    );
    let published = ctl.cmd(&["PUBLISH", "ch", "hi"]).await;
    let (message, _) = subscriber.read_replies(1, Duration::from_secs(2)).await;
    let kills = (
        ctl.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]).await,
        ctl.cmd(&["CLIENT", "KILL", "TYPE", "normal"]).await,
    );
    let subscriber_after_kill = subscriber.read_to_eof(Duration::from_secs(2)).await;
    let normal_after_kill = normal.read_to_eof(Duration::from_secs(2)).await;
    let promoted = ctl.cmd(&["REPLICAOF", "NO", "ONE"]).await;
    let write = ctl.cmd(&["SET", "k", "v"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let connected = info_field(&mut ctl, "clients", "connected_clients").await;

    let mut blocked = Wire::connect(addr).await.expect("connect");
    let mut idle = Wire::connect(addr).await.expect("connect");
    idle.cmd(&["PING"]).await;
    blocked
        .send(&encode(&["BLPOP", "l", "0"]))
        .await
        .expect("send");
    for _ in 0..100 {
        if info_field(&mut ctl, "clients", "blocked_clients").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut tx = Vec::new();
    for cmd in [
        &["MULTI"][..],
        &["SLAVEOF", "127.0.0.1", &port],
        &["CONFIG", "REWRITE"],
        &["CLIENT", "KILL", "TYPE", "normal"],
        &["CLIENT", "KILL", "TYPE", "pubsub"],
        &["EXEC"],
    ] {
        tx.extend(encode(cmd));
    }
    ctl.send(&tx).await.expect("send");
    let (mut replies, _) = ctl.read_replies(6, Duration::from_secs(3)).await;
    let sentinel_exec = replies.pop().map_or(Value::Null, |r| {
        poolsim_tests::resp::parse(&r).expect("RESP")
    });
    let blocked_in_transaction_read = blocked.read_to_eof(Duration::from_secs(2)).await;
    let idle_in_transaction_read = idle.read_to_eof(Duration::from_secs(2)).await;
    let mut fresh = Wire::connect(addr).await.expect("connect");
    let new_connection_write = fresh.cmd(&["SET", "k", "w"]).await;
    DemotionOutcome {
        replicaof,
        blocked_read,
        normal_write_then_read,
        publish_and_message: (published, message),
        kills,
        subscriber_after_kill,
        normal_after_kill,
        promoted_then_write: (promoted, write, connected),
        sentinel_exec,
        blocked_in_transaction_read,
        idle_in_transaction_read,
        new_connection_write,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demotion_unblocks_blocked_clients_and_client_kill_types_on_both() {
    if !require_redis_server("demotion_unblocks_blocked_clients_and_client_kill_types_on_both") {
        return;
    }
    let (real, fake, _guard) = both().await;
    let master = tokio::task::spawn_blocking(|| RealRedis::start(&[]))
        .await
        .expect("join")
        .expect("start the master");
    let port = master.addr().port();
    let (r, f) = tokio::join!(demotion_on(real.addr(), port), demotion_on(fake, port));
    let ok = || Value::Simple(b"OK".to_vec());
    let readonly =
        || Value::Error(b"READONLY You can't write against a read only replica.".to_vec());
    let want = DemotionOutcome {
        replicaof: ok(),
        blocked_read: (
            b"-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n".to_vec(),
            End::Eof,
        ),
        normal_write_then_read: (readonly(), Value::Bulk(None)),
        publish_and_message: (
            Value::Integer(1),
            vec![b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n".to_vec()],
        ),
        kills: (Value::Integer(1), Value::Integer(1)),
        subscriber_after_kill: (vec![], End::Eof),
        normal_after_kill: (vec![], End::Eof),
        promoted_then_write: (ok(), ok(), 1),
        sentinel_exec: Value::Array(Some(vec![
            ok(),
            Value::Error(b"ERR The server is running without a config file".to_vec()),
            Value::Integer(2),
            Value::Integer(0),
        ])),
        blocked_in_transaction_read: (vec![], End::Eof),
        idle_in_transaction_read: (vec![], End::Eof),
        new_connection_write: readonly(),
    };
    assert_eq!(
        r,
        want,
        "real redis-server did not behave as expected (blocked read {})",
        show(&r.blocked_read.0)
    );
    assert_eq!(f, r, "the fake differs from real redis-server");
}
