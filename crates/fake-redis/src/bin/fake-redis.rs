//! `fake-redis`: serve the fake Redis on real TCP (loopback by default), for pointing a real
//! application or `redis-cli` at it.
//!
//! ```text
//! fake-redis --port 6390 --timeout 5 --maxclients 100 --requirepass s3cret
//! fake-redis --port 6390 --enable-fault-commands      # then: redis-cli -p 6390 FAULT HELP
//! ```
//!
//! Exit codes: 0 after Ctrl-C, 2 for a bad command line (one line on stderr, as clap's usage
//! errors), 1 when the server cannot start (the address cannot be bound, one line naming it).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fake_redis::{FAULT_LATENCY_MS_MAX, FakeRedis, REDIS_VERSION, ServerConfig};

/// The command line (the help text is the `about` and `long_about` below).
#[derive(Parser, Debug)]
#[command(
    name = "fake-redis",
    version,
    about = "A fake Redis 7.0 server for testing connection pools and the applications that use them",
    long_about = "A fake Redis 7.0 server for testing connection pools and the applications that use them.\n\n\
It speaks RESP2 and RESP3 and behaves like redis-server 7.0.15 where pools care: the idle \
`timeout`, `maxclients`, `requirepass`, CONFIG, INFO, CLIENT, and the protocol error texts. Point \
an application at it with a short --timeout or a small --maxclients to reproduce stale \
connections or connection explosion. With --enable-fault-commands it also answers FAULT admin \
commands (latency, refused connections, killing every client, a restart, read-only), e.g. \
`redis-cli -p 6390 FAULT LATENCY 200`; see `FAULT HELP`.\n\n\
Connections are logged to stderr (accepts, rejections, and every close with its reason). \
Ctrl-C stops it. What is supported and every known difference from Redis: docs/fake-redis.md.",
    after_help = "Exit status: 0 after Ctrl-C, 1 if it cannot listen, 2 for a bad command line."
)]
struct Args {
    /// Address to listen on (Redis listens on every interface; the fake on loopback only
    /// unless told otherwise).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    bind: String,
    /// TCP port.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Close clients idle for more than this many seconds (0: never), as Redis's `timeout`.
    #[arg(long, default_value_t = 0, value_name = "SECONDS", allow_hyphen_values = true,
          value_parser = |s: &str| redis_int(s, 0, i64::from(i32::MAX)))]
    timeout: u64,
    /// Most clients connected at once; the next one reads
    /// `-ERR max number of clients reached` and EOF, as Redis's `maxclients`.
    #[arg(long, default_value_t = 10000, value_name = "N", allow_hyphen_values = true,
          value_parser = |s: &str| redis_int(s, 1, i64::from(u32::MAX)))]
    maxclients: u64,
    /// Password of the default user (AUTH), as Redis's `requirepass`.
    #[arg(long, value_name = "PASSWORD")]
    requirepass: Option<String>,
    /// Server cron frequency (the idle-timeout scan, active expiry); clamped to 1..=500 as
    /// in Redis.
    #[arg(long, default_value_t = 10, allow_hyphen_values = true,
          value_parser = |s: &str| redis_int(s, 0, i64::from(i32::MAX)))]
    hz: u64,
    /// Runtime worker threads: 1 runs everything on one thread, like Redis; more uses a
    /// multi-threaded runtime (the engine stays behind one lock).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Do not log connections.
    #[arg(long)]
    quiet: bool,
    /// Answer the fake-only FAULT admin commands (FAULT HELP lists them). Without it FAULT
    /// is an unknown command, as in Redis.
    #[arg(long)]
    enable_fault_commands: bool,
    /// Start with the latency fault: every reply waits this long per command it answers.
    #[arg(long, default_value_t = 0, value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| redis_int(s, 0, FAULT_LATENCY_MS_MAX))]
    latency_ms: u64,
    /// Start refusing connections: each is accepted and closed at once, nothing written.
    #[arg(long)]
    refuse_connections: bool,
    /// Start read-only: write commands answer
    /// `-READONLY You can't write against a read only replica.`
    #[arg(long)]
    readonly: bool,
}

/// An integer option checked as redis-server checks its config file, with its messages.
fn redis_int(s: &str, lo: i64, hi: i64) -> Result<u64, String> {
    let n: i64 = s
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_owned())?;
    if n < lo || n > hi {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    // lo >= 0, so the value is not negative.
    Ok(n as u64)
}

/// One line on stderr, prefixed with the program's name.
fn fail(msg: &str, code: u8) -> ExitCode {
    eprintln!("fake-redis: {msg}");
    ExitCode::from(code)
}

/// An I/O error's text without the ` (os error N)` tail.
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version: stdout, exit 0
        Err(e) => {
            // clap's first line is the error; the usage and tip lines after it are dropped.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            return fail(&format!("{first} (see --help)"), 2);
        }
    };
    let config = ServerConfig {
        timeout_secs: args.timeout,
        maxclients: args.maxclients,
        requirepass: args.requirepass.clone().filter(|p| !p.is_empty()),
        hz: args.hz.min(u64::from(u32::MAX)) as u32,
        bind: args.bind.clone(),
        port: args.port,
        log_connections: !args.quiet,
        enable_fault_commands: args.enable_fault_commands,
        // The binary may read the wall clock: EXAT/PXAT and INFO's server_time_usec use it.
        unix_time_at_start_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        ..ServerConfig::default()
    };
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {}", io_text(&e)), 1),
    };
    runtime.block_on(serve(args, config))
}

async fn serve(args: Args, config: ServerConfig) -> ExitCode {
    let shown = if args.bind.contains(':') {
        format!("[{}]:{}", args.bind, args.port)
    } else {
        format!("{}:{}", args.bind, args.port)
    };
    let listener = match tokio::net::TcpListener::bind((args.bind.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on {shown}: {}", io_text(&e)), 1),
    };
    let addr = listener.local_addr().map_or(shown, |a| a.to_string());
    let server = FakeRedis::new(config);
    server.set_latency(Duration::from_millis(args.latency_ms));
    server.refuse_connections(args.refuse_connections);
    server.set_readonly(args.readonly);
    let c = server.config();
    eprintln!(
        "fake-redis: Redis {REDIS_VERSION} look-alike listening on {addr} (timeout {}, maxclients {}, {}, FAULT commands {})",
        c.timeout_secs,
        c.maxclients,
        if c.requirepass.is_some() {
            "requirepass set"
        } else {
            "no password"
        },
        if c.enable_fault_commands { "on" } else { "off" },
    );
    let mut faults = Vec::new();
    if args.latency_ms > 0 {
        faults.push(format!("latency {} ms per command", args.latency_ms));
    }
    if args.refuse_connections {
        faults.push("refusing connections".to_owned());
    }
    if args.readonly {
        faults.push("read-only".to_owned());
    }
    if !faults.is_empty() {
        eprintln!("fake-redis: faults at start: {}", faults.join(", "));
    }
    let s = server.clone();
    let serve = tokio::spawn(async move { s.serve_tokio(listener).await });
    if let Err(e) = tokio::signal::ctrl_c().await {
        return fail(&format!("cannot wait for Ctrl-C: {}", io_text(&e)), 1);
    }
    eprintln!("fake-redis: shutting down");
    server.shutdown();
    match serve.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&format!("serving failed: {}", io_text(&e)), 1),
        Err(e) => fail(&format!("serving failed: {e}"), 1),
    }
}
