//! Overrides of pool-core's knobs, as scenario files spell them.
//!
//! Every knob of `pool_core::Config` can be changed from the profile. A knob that can be
//! switched off takes a number or the string `"off"` (`"unbounded"` reads the same for sizes,
//! `"forever"` for the pool timeout): `max_size = "unbounded"`, `idle_timeout_ms = 240000`.

use pool_core::{
    Backoff, CheckHow, CheckOnCheckout, CheckWhen, Config, Fairness, Keepalive, KeepaliveScope,
    Reuse, WhenExhausted,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// A knob that is a value or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting<T> {
    /// Off (unbounded, none, forever).
    Off,
    /// This value.
    Value(T),
}

impl<T: Copy> Setting<T> {
    fn get(self) -> Option<T> {
        match self {
            Self::Off => None,
            Self::Value(v) => Some(v),
        }
    }
}

impl<T: Serialize> Serialize for Setting<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Off => s.serialize_str("off"),
            Self::Value(v) => v.serialize(s),
        }
    }
}

impl<'de, T: TryFrom<u64>> Deserialize<'de> for Setting<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SettingVisitor(std::marker::PhantomData))
    }
}

/// Reads a whole number or one of the words, and says which was expected otherwise (a
/// negative number, a fraction, a misspelt word), so a scenario file's error names the value.
struct SettingVisitor<T>(std::marker::PhantomData<T>);

impl<T: TryFrom<u64>> serde::de::Visitor<'_> for SettingVisitor<T> {
    type Value = Setting<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a whole number (0 or more) or \"off\"")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        T::try_from(v)
            .map(Setting::Value)
            .map_err(|_| E::custom(format!("{v} is too large")))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "{v} is negative: expected a whole number (0 or more) or \"off\""
            ))),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "{v} is not a whole number: expected a whole number (0 or more) or \"off\""
        )))
    }

    fn visit_str<E: serde::de::Error>(self, w: &str) -> Result<Self::Value, E> {
        match w {
            "off" | "none" | "unbounded" | "forever" => Ok(Setting::Off),
            other => Err(E::custom(format!(
                "expected a number or \"off\" (\"unbounded\", \"forever\" and \"none\" read \
                 the same), got \"{other}\""
            ))),
        }
    }
}

/// Wait or fail fast when the pool is exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exhausted {
    /// Queue (up to `pool_timeout_ms`).
    Wait,
    /// Refuse at once ("Too many connections").
    FailFast,
}

/// When a checkout is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckWhenSpec {
    /// Never.
    Never,
    /// Every checkout.
    Always,
    /// When idle at least `check_if_idle_for_ms`.
    IfIdle,
}

/// Overrides of a profile's knobs; `None` keeps the profile's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // Each field is the pool_core::Config knob of the same name.
pub struct Overrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<Setting<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_idle: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_idle: Option<Setting<u32>>,
    /// `wait` or `fail_fast`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_exhausted: Option<Exhausted>,
    /// The pool timeout of a waiting pool; setting it makes the pool wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_timeout_ms: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_ms: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_jitter_ms: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `never`, `always` or `if_idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_on_checkout: Option<CheckWhenSpec>,
    /// With `check_on_checkout = "if_idle"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_if_idle_for_ms: Option<u64>,
    /// `peek` or `ping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_how: Option<CheckHowSpec>,
    /// Keepalive interval, or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_interval_ms: Option<Setting<u64>>,
    /// `every_idle` or `one_per_interval` (default `every_idle` when an interval is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_scope: Option<ScopeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_connects: Option<Setting<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<Setting<u64>>,
    /// Back-off after failed connects: first delay (or off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_backoff_initial_ms: Option<Setting<u64>>,
    /// Back-off cap (needs an initial delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_backoff_max_ms: Option<u64>,
    /// `lifo` or `fifo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<ReuseSpec>,
    /// `strict_fifo` or `barging`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness: Option<FairnessSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honour_deadlines: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiters: Option<Setting<u32>>,
}

/// `peek` or `ping`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum CheckHowSpec {
    Peek,
    Ping,
}

/// `every_idle` or `one_per_interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ScopeSpec {
    EveryIdle,
    OnePerInterval,
}

/// `lifo` or `fifo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ReuseSpec {
    Lifo,
    Fifo,
}

/// `strict_fifo` or `barging`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FairnessSpec {
    StrictFifo,
    Barging,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl Overrides {
    /// `config` with these overrides applied (not validated: `Config::validate` names a bad
    /// combination).
    #[must_use]
    pub fn apply(&self, mut c: Config) -> Config {
        if let Some(v) = self.max_size {
            c.max_size = v.get();
        }
        if let Some(v) = self.min_idle {
            c.min_idle = v;
        }
        if let Some(v) = self.max_idle {
            c.max_idle = v.get();
        }
        let current_timeout = c.pool_timeout();
        match (self.when_exhausted, self.pool_timeout_ms) {
            (Some(Exhausted::FailFast), _) => c.when_exhausted = WhenExhausted::FailFast,
            (_, Some(t)) => {
                c.when_exhausted = WhenExhausted::Wait {
                    timeout: t.get().map(ms),
                }
            }
            (Some(Exhausted::Wait), None) => {
                c.when_exhausted = WhenExhausted::Wait {
                    timeout: current_timeout,
                }
            }
            (None, None) => {}
        }
        if let Some(v) = self.idle_timeout_ms {
            c.idle_timeout = v.get().map(ms);
        }
        if let Some(v) = self.max_lifetime_ms {
            c.max_lifetime = v.get().map(ms);
        }
        if let Some(v) = self.lifetime_jitter_ms {
            c.lifetime_jitter = v.get().map(ms);
        }
        if let Some(v) = self.seed {
            c.seed = v;
        }
        if let Some(w) = self.check_on_checkout {
            c.check_on_checkout.when = match w {
                CheckWhenSpec::Never => CheckWhen::Never,
                CheckWhenSpec::Always => CheckWhen::Always,
                CheckWhenSpec::IfIdle => {
                    CheckWhen::IfIdleFor(ms(self.check_if_idle_for_ms.unwrap_or(0)))
                }
            };
        } else if let Some(d) = self.check_if_idle_for_ms {
            c.check_on_checkout.when = CheckWhen::IfIdleFor(ms(d));
        }
        if let Some(h) = self.check_how {
            c.check_on_checkout = CheckOnCheckout {
                when: c.check_on_checkout.when,
                how: match h {
                    CheckHowSpec::Peek => CheckHow::Peek,
                    CheckHowSpec::Ping => CheckHow::Ping,
                },
            };
        }
        let scope = |s: Option<ScopeSpec>, old: Option<KeepaliveScope>| match s {
            Some(ScopeSpec::EveryIdle) => KeepaliveScope::EveryIdle,
            Some(ScopeSpec::OnePerInterval) => KeepaliveScope::OnePerInterval,
            None => old.unwrap_or(KeepaliveScope::EveryIdle),
        };
        match self.keepalive_interval_ms {
            Some(Setting::Off) => c.keepalive = None,
            Some(Setting::Value(i)) => {
                c.keepalive = Some(Keepalive {
                    interval: ms(i),
                    scope: scope(self.keepalive_scope, c.keepalive.map(|k| k.scope)),
                });
            }
            None => {
                if let (Some(k), Some(_)) = (c.keepalive.as_mut(), self.keepalive_scope) {
                    k.scope = scope(self.keepalive_scope, Some(k.scope));
                }
            }
        }
        if let Some(v) = self.max_concurrent_connects {
            c.max_concurrent_connects = v.get();
        }
        if let Some(v) = self.connect_timeout_ms {
            c.connect_timeout = v.get().map(ms);
        }
        match self.connect_backoff_initial_ms {
            Some(Setting::Off) => c.connect_backoff = None,
            Some(Setting::Value(i)) => {
                c.connect_backoff = Some(Backoff {
                    initial: ms(i),
                    max: self.connect_backoff_max_ms.map_or(ms(i), ms),
                });
            }
            None => {
                if let (Some(b), Some(m)) =
                    (c.connect_backoff.as_mut(), self.connect_backoff_max_ms)
                {
                    b.max = ms(m);
                }
            }
        }
        if let Some(r) = self.reuse {
            c.reuse = match r {
                ReuseSpec::Lifo => Reuse::Lifo,
                ReuseSpec::Fifo => Reuse::Fifo,
            };
        }
        if let Some(f) = self.fairness {
            c.fairness = match f {
                FairnessSpec::StrictFifo => Fairness::StrictFifo,
                FairnessSpec::Barging => Fairness::Barging,
            };
        }
        if let Some(v) = self.honour_deadlines {
            c.honour_deadlines = v;
        }
        if let Some(v) = self.max_waiters {
            c.max_waiters = v.get();
        }
        c
    }

    /// What a scenario file can get wrong that pool-core would word for code: a size of 0
    /// (pool-core says "use None"; a file writes `"unbounded"`).
    pub(crate) fn check_file_values(&self) -> Result<(), String> {
        if self.max_size == Some(Setting::Value(0)) {
            return Err("overrides.max_size: must be at least 1 (got 0); write \
                        max_size = \"unbounded\" for a pool without a bound"
                .to_owned());
        }
        Ok(())
    }

    /// The overridden knobs as `name=value`, comma separated in name order (empty when none).
    #[must_use]
    pub fn describe(&self) -> String {
        // The serialized form lists exactly the fields that are set (sorted by name).
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let Some(map) = v.as_object() else {
            return String::new();
        };
        map.iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pool_core::Profile;

    #[test]
    fn overrides_change_exactly_the_knobs_named() {
        let o: Overrides = toml::from_str(
            r#"
            max_size = 10
            pool_timeout_ms = 10000
            honour_deadlines = false
            "#,
        )
        .unwrap();
        let c = o.apply(Profile::GoRedisV9.config());
        assert_eq!(c.max_size, Some(10));
        assert_eq!(
            c.when_exhausted,
            WhenExhausted::Wait {
                timeout: Some(Duration::from_secs(10))
            }
        );
        assert!(!c.honour_deadlines);
        let untouched = Profile::GoRedisV9.config();
        assert_eq!(c.idle_timeout, untouched.idle_timeout);
        assert_eq!(c.check_on_checkout, untouched.check_on_checkout);
        assert_eq!(
            o.describe(),
            "honour_deadlines=false, max_size=10, pool_timeout_ms=10000"
        );
    }

    #[test]
    fn off_words_switch_a_knob_off_and_other_words_are_refused() {
        let o: Overrides =
            toml::from_str("max_size = \"unbounded\"\nidle_timeout_ms = \"off\"").unwrap();
        let c = o.apply(Profile::Recommended.config());
        assert_eq!(c.max_size, None);
        assert_eq!(c.idle_timeout, None);
        let err = toml::from_str::<Overrides>("max_size = \"lots\"").unwrap_err();
        assert!(
            err.to_string().contains("expected a number or \"off\""),
            "{err}"
        );
        let err = toml::from_str::<Overrides>("max_sise = 3").unwrap_err();
        assert!(err.to_string().contains("max_sise"), "{err}");
    }

    #[test]
    fn a_keepalive_interval_with_a_scope_builds_seed_003s_fix() {
        let o: Overrides = toml::from_str(
            "keepalive_interval_ms = 120000\nkeepalive_scope = \"one_per_interval\"",
        )
        .unwrap();
        let c = o.apply(Profile::RadixV2.config());
        assert_eq!(
            c,
            pool_core::profile::radix_v2_with_ping_fix(Duration::from_secs(120))
        );
    }
}
