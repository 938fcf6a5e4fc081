//! `poolsim trace FILE.jsonl`: a trace as readable lines,
//! `  12.345s  app-0     request.end   req=p0/17 outcome=eof latency_us=1234`.

use crate::{TraceArgs, usage_error};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::ExitCode;

/// A JSON object with its keys in the order of the line (serde_json's `Map` sorts them).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    fields.push((k, v));
                }
                Ok(Ordered(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// One trace line as printed, and its time; `None` for a line that is not a trace event.
pub(crate) fn render(line: &str) -> Option<(u64, String)> {
    let Ordered(fields) = serde_json::from_str(line).ok()?;
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let t_us = get("t_us")?.as_u64()?;
    let host = get("host")?.as_str()?;
    let event = get("event")?.as_str()?;
    let mut out = format!(
        "{:>4}.{:03}s  {host:<8}  {event:<19}",
        t_us / 1_000_000,
        (t_us / 1000) % 1000
    );
    for (k, v) in &fields {
        if matches!(k.as_str(), "t_us" | "host" | "event") {
            continue;
        }
        match v {
            Value::String(s) if s.is_empty() || s.contains(char::is_whitespace) => {
                let _ = write!(out, " {k}={v}");
            }
            Value::String(s) => {
                let _ = write!(out, " {k}={s}");
            }
            other => {
                let _ = write!(out, " {k}={other}");
            }
        }
    }
    Some((t_us, out.trim_end().to_owned()))
}

pub(crate) fn main(a: &TraceArgs) -> ExitCode {
    let file = match std::fs::File::open(&a.file) {
        Ok(f) => f,
        Err(e) => return usage_error(&format!("cannot read {}: {e}", a.file.display())),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => return usage_error(&format!("cannot read {}: {e}", a.file.display())),
        };
        if line.trim().is_empty() {
            continue;
        }
        let Some((t_us, text)) = render(&line) else {
            return usage_error(&format!(
                "{}:{}: not a poolsim trace line (a JSON object with t_us, host and event)",
                a.file.display(),
                n + 1
            ));
        };
        let is_start = text.contains("  run.start ");
        let keep = is_start
            || (a.from.is_none_or(|f| t_us >= f)
                && a.to.is_none_or(|t| t_us <= t)
                && a.grep.as_deref().is_none_or(|w| text.contains(w)));
        if keep && writeln!(out, "  {text}").is_err() {
            // stdout closed (a pager quit): stop quietly.
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_in_its_own_field_order() {
        let (t, text) = render(
            r#"{"t_us":12345678,"host":"app-0","event":"request.end","req":"p0/17","outcome":"eof","latency_us":40}"#,
        )
        .unwrap();
        assert_eq!(t, 12_345_678);
        assert_eq!(
            text,
            "  12.345s  app-0     request.end         req=p0/17 outcome=eof latency_us=40"
        );
        assert!(render("not json").is_none());
        assert!(render(r#"{"host":"x"}"#).is_none());
    }

    /// A string that is empty or has spaces is quoted, so that the line still splits into
    /// its fields; others are printed bare.
    #[test]
    fn empty_and_spaced_strings_are_quoted() {
        let (_, text) = render(
            r#"{"t_us":1,"host":"app-0","event":"pool.connect_failed","error":"max number of clients reached","name":"","conn":3}"#,
        )
        .unwrap();
        assert!(
            text.ends_with(r#" error="max number of clients reached" name="" conn=3"#),
            "{text}"
        );
    }
}
