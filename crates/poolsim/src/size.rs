//! `poolsim size`: how many connections a pool needs for a load. Seed 002's rule (Little's
//! law), then Erlang C per pool size, then (`--simulate`) the real pool at that load for each
//! size shown, side by side. docs/sizing.md.

use crate::usage_error;
use serde::Serialize;
use sims::sizing::{self, Row};
use std::process::ExitCode;

/// `poolsim size`.
#[derive(clap::Args, Debug)]
pub(crate) struct SizeArgs {
    /// Peak requests per second that need a connection.
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) qps: f64,
    /// Mean time a request holds its connection, ms (the command's round trip plus whatever
    /// the caller does while holding it).
    #[arg(long, value_name = "H", value_parser = positive)]
    pub(crate) hold_ms: f64,
    /// The callers' deadline, ms: the pool's wait must stay well inside it.
    #[arg(long, value_name = "D", value_parser = positive)]
    pub(crate) deadline_ms: Option<f64>,
    /// The p99 pool wait to size for, ms (default: a tenth of --deadline-ms, else one hold
    /// time).
    #[arg(long, value_name = "W", value_parser = non_negative)]
    pub(crate) p99_wait_ms: Option<f64>,
    /// Also run the real pool at this load for each size shown (Poisson arrivals, exponential
    /// holds, 3 seeds each), side by side with the model.
    #[arg(long)]
    pub(crate) simulate: bool,
    /// Print one JSON document instead.
    #[arg(long)]
    pub(crate) json: bool,
}

fn number(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("bad number '{s}'"))
}

fn positive(s: &str) -> Result<f64, String> {
    number(s).and_then(|v| {
        if v > 0.0 {
            Ok(v)
        } else {
            Err(format!("'{s}' must be greater than 0"))
        }
    })
}

fn non_negative(s: &str) -> Result<f64, String> {
    number(s).and_then(|v| {
        if v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("'{s}' must not be negative"))
        }
    })
}

/// The `--json` document (these names are a contract).
#[derive(Serialize)]
struct Document {
    qps: f64,
    hold_ms: f64,
    rows: Vec<Row>,
    recommended_size: u32,
}

/// Seeds each simulated size runs with.
const SEEDS: [u64; 3] = [1, 2, 3];

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "unbounded".to_owned(), |v| format!("{v:.1}"))
}

pub(crate) fn main(a: &SizeArgs) -> ExitCode {
    let (target, why) = match (a.p99_wait_ms, a.deadline_ms) {
        (Some(w), _) => (w, "--p99-wait-ms".to_owned()),
        (None, Some(d)) => (d / 10.0, format!("a tenth of the {d} ms deadline")),
        (None, None) => (
            a.hold_ms,
            "one hold time; give --p99-wait-ms or --deadline-ms".to_owned(),
        ),
    };
    if let Some(d) = a.deadline_ms {
        if target >= d {
            return usage_error(&format!(
                "--p99-wait-ms {target} is not below the deadline of {d} ms: every waiter would time out first"
            ));
        }
    }
    let a_load = sizing::offered_load(a.qps, a.hold_ms);
    if a_load > 100_000.0 {
        return usage_error(&format!(
            "{} connections busy on average: too large to size here (split the load per pool)",
            a_load.round()
        ));
    }
    let recommended = sizing::recommended_size(a.qps, a.hold_ms, target);
    let mut rows: Vec<Row> = sizing::sizes(a.qps, a.hold_ms, recommended)
        .into_iter()
        .map(|c| sizing::model_row(a.qps, a.hold_ms, c))
        .collect();
    if a.simulate {
        for row in &mut rows {
            // A pool at or above utilisation 1 queues without bound: nothing to measure.
            if row.utilisation >= 0.98 {
                continue;
            }
            if let Err(e) = sizing::simulate(row, a.qps, a.hold_ms, &SEEDS) {
                eprintln!("poolsim: size {}: the simulation failed: {e}", row.size);
                return ExitCode::from(1);
            }
        }
    }
    if a.json {
        let doc = Document {
            qps: a.qps,
            hold_ms: a.hold_ms,
            rows,
            recommended_size: recommended,
        };
        // Plain data: serialization cannot fail.
        println!("{}", serde_json::to_string(&doc).expect("serializes"));
        return ExitCode::SUCCESS;
    }
    let mut out = String::new();
    out.push_str(&format!(
        "load: {} req/s holding {} ms each\n\
         seed 002's rule: {} / (1000 / {}) = {:.1} connections busy on average (Little's law); \
         a pool that size runs at utilisation 1 and its queue grows without bound\n\
         target: p99 pool wait <= {} ms ({why})\n\n",
        a.qps, a.hold_ms, a.qps, a.hold_ms, a_load, target
    ));
    out.push_str("Erlang C (M/M/c: Poisson arrivals, exponential holds)");
    if a.simulate {
        out.push_str(" | the real pool under turmoil, mean of 3 seeds");
    }
    out.push('\n');
    out.push_str(" size  utilisation  P(wait)  mean wait ms  p99 wait ms");
    if a.simulate {
        out.push_str(" | waited  p99 wait ms");
    }
    out.push('\n');
    let mut disagree = Vec::new();
    for r in &rows {
        out.push_str(&format!(
            "{:>5}  {:>11.3}  {:>7.3}  {:>12}  {:>11}",
            r.size,
            r.utilisation,
            r.p_wait,
            ms(r.mean_wait_ms),
            ms(r.p99_wait_ms)
        ));
        if a.simulate {
            match r.sim_waited_fraction {
                Some(w) => out.push_str(&format!(
                    " | {:>6.3}  {:>11.1}",
                    w,
                    r.sim_p99_wait_ms.unwrap_or(0.0)
                )),
                None => out.push_str(" |   (not simulated: unbounded queue)"),
            }
            if sizing::disagrees(r) {
                out.push_str("  <- disagree");
                disagree.push(r.size);
            }
        }
        if r.size == recommended {
            out.push_str("  <- recommended");
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\nrecommended: {recommended} connections, the smallest with a p99 pool wait within {target} ms \
         (utilisation {:.2})\n",
        a_load / f64::from(recommended)
    ));
    if let Some(d) = a.deadline_ms {
        out.push_str(&format!(
            "pool timeout: set it below the {d} ms deadline, so that a waiter whose caller gave up \
             does not keep its place in the queue (the cascade of seed 002)\n"
        ));
    }
    if !disagree.is_empty() {
        out.push_str(&format!(
            "the model and the simulation disagree by more than the simulation's own noise at \
             size {}: see docs/sizing.md (a hold that is not exponential, connects, the ticks)\n",
            disagree
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    print!("{out}");
    ExitCode::SUCCESS
}
