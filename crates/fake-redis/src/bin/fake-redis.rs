//! `fake-redis`: serve the fake Redis on real TCP (loopback by default).
//!
//! ```text
//! fake-redis --port 6390 --timeout 5 --maxclients 100 --requirepass s3cret
//! ```
//! Logs connects and closes to stderr; exits cleanly on Ctrl-C.

use clap::Parser;
use fake_redis::{FakeRedis, ServerConfig};

/// A fake Redis 7.0 server: idle timeout, maxclients, AUTH, CONFIG, INFO, CLIENT.
#[derive(Parser, Debug)]
#[command(name = "fake-redis", version, about)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// TCP port.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Close clients idle for more than this many seconds (0 = never).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    /// Most clients connected at once.
    #[arg(long, default_value_t = 10000)]
    maxclients: u64,
    /// Password of the default user.
    #[arg(long)]
    requirepass: Option<String>,
    /// Cron frequency (idle-timeout scan, active expiry).
    #[arg(long, default_value_t = 10)]
    hz: u32,
    /// Runtime worker threads: 1 (default) runs everything on one thread like Redis; more
    /// uses tokio's multi-threaded runtime (the engine stays behind one lock).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Do not log connects and closes.
    #[arg(long)]
    quiet: bool,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = ServerConfig {
        timeout_secs: args.timeout,
        maxclients: args.maxclients.max(1),
        requirepass: args.requirepass.filter(|p| !p.is_empty()),
        hz: args.hz,
        bind: args.bind.clone(),
        port: args.port,
        log_connections: !args.quiet,
        // The binary may read the wall clock: EXAT/PXAT and INFO's server_time_usec use it.
        unix_time_at_start_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        ..ServerConfig::default()
    };
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port)).await?;
        let addr = listener.local_addr()?;
        eprintln!("fake-redis: listening on {addr}");
        let server = FakeRedis::new(config);
        let s = server.clone();
        let serve = tokio::spawn(async move { s.serve_tokio(listener).await });
        tokio::signal::ctrl_c().await?;
        eprintln!("fake-redis: shutting down");
        server.shutdown();
        serve.await.map_err(std::io::Error::other)??;
        Ok(())
    })
}
