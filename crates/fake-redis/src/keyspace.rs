//! The keyspace: databases of strings and lists with expiry on the caller's clock.
//!
//! Expiry works like Redis: lazily on access (a read of an expired key deletes it) and actively
//! from the cron ([`Db::expire_due`]). Both count in `expired_keys`. Maps are `BTreeMap`s so
//! nothing depends on hash order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    /// A string (also integers, as in Redis).
    Str(Vec<u8>),
    /// A list (LPUSH/RPUSH/BLPOP).
    List(VecDeque<Vec<u8>>),
}

impl Value {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Str(_) => "string",
            Self::List(_) => "list",
        }
    }
}

/// A key's value and its absolute expiry time on the engine clock.
#[derive(Clone, Debug, Hash)]
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) expire_at: Option<Duration>,
}

/// One database (`SELECT n`).
#[derive(Clone, Debug, Default, Hash)]
pub(crate) struct Db {
    keys: BTreeMap<Vec<u8>, Entry>,
    /// Keys that have an expiry, for the active expire cycle.
    volatile: BTreeSet<Vec<u8>>,
}

impl Db {
    /// Number of keys, including expired keys not yet deleted (as Redis's DBSIZE).
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Number of keys with an expiry.
    pub(crate) fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Sum of remaining TTLs in ms over keys with an expiry (for `avg_ttl`).
    pub(crate) fn avg_ttl_ms(&self, now: Duration) -> u64 {
        if self.volatile.is_empty() {
            return 0;
        }
        let mut sum: u128 = 0;
        for k in &self.volatile {
            if let Some(Entry {
                expire_at: Some(at),
                ..
            }) = self.keys.get(k)
            {
                sum += at.saturating_sub(now).as_millis();
            }
        }
        (sum / self.volatile.len() as u128) as u64
    }

    /// Delete every key.
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.volatile.clear();
    }

    /// Is the key expired at `now`? (Deleting is the caller's job via `lookup`.)
    fn is_expired(e: &Entry, now: Duration) -> bool {
        matches!(e.expire_at, Some(at) if at <= now)
    }

    /// Look a key up, deleting it first if it has expired. Returns whether it expired.
    fn expire_if_needed(&mut self, now: Duration, key: &[u8]) -> bool {
        let expired = matches!(self.keys.get(key), Some(e) if Self::is_expired(e, now));
        if expired {
            self.keys.remove(key);
            self.volatile.remove(key);
        }
        expired
    }

    /// Look a key up for reading or writing; `expired` is incremented when a lazy expiry
    /// deleted it.
    pub(crate) fn lookup(
        &mut self,
        now: Duration,
        key: &[u8],
        expired: &mut u64,
    ) -> Option<&mut Entry> {
        if self.expire_if_needed(now, key) {
            *expired += 1;
        }
        self.keys.get_mut(key)
    }

    /// Does the key exist (after lazy expiry)?
    pub(crate) fn exists(&mut self, now: Duration, key: &[u8], expired: &mut u64) -> bool {
        self.lookup(now, key, expired).is_some()
    }

    /// Store a string, replacing any value; `expire_at` None removes a previous TTL unless
    /// `keep_ttl`. Reuses the existing string's allocation when it can.
    pub(crate) fn set_str(
        &mut self,
        key: &[u8],
        val: &[u8],
        expire_at: Option<Duration>,
        keep_ttl: bool,
    ) {
        if let Some(e) = self.keys.get_mut(key) {
            match &mut e.value {
                Value::Str(s) => {
                    s.clear();
                    s.extend_from_slice(val);
                }
                other => *other = Value::Str(val.to_vec()),
            }
            if !keep_ttl {
                let had = e.expire_at.is_some();
                e.expire_at = expire_at;
                match (had, expire_at.is_some()) {
                    (true, false) => {
                        self.volatile.remove(key);
                    }
                    (false, true) => {
                        self.volatile.insert(key.to_vec());
                    }
                    _ => {}
                }
            }
            return;
        }
        self.keys.insert(
            key.to_vec(),
            Entry {
                value: Value::Str(val.to_vec()),
                expire_at,
            },
        );
        if expire_at.is_some() {
            self.volatile.insert(key.to_vec());
        }
    }

    /// Insert a new value (the key must not exist).
    pub(crate) fn insert(&mut self, key: &[u8], value: Value) {
        self.keys.insert(
            key.to_vec(),
            Entry {
                value,
                expire_at: None,
            },
        );
    }

    /// Delete a key; true if it existed (expired keys do not count).
    pub(crate) fn remove(&mut self, now: Duration, key: &[u8], expired: &mut u64) -> bool {
        if self.expire_if_needed(now, key) {
            *expired += 1;
            return false;
        }
        self.volatile.remove(key);
        self.keys.remove(key).is_some()
    }

    /// Set or clear a key's expiry (the key must exist).
    pub(crate) fn set_expire(&mut self, key: &[u8], at: Option<Duration>) {
        if let Some(e) = self.keys.get_mut(key) {
            e.expire_at = at;
            if at.is_some() {
                if !self.volatile.contains(key) {
                    self.volatile.insert(key.to_vec());
                }
            } else {
                self.volatile.remove(key);
            }
        }
    }

    /// Active expiry: delete every key whose time has come; returns how many.
    pub(crate) fn expire_due(&mut self, now: Duration) -> u64 {
        let due: Vec<Vec<u8>> = self
            .volatile
            .iter()
            .filter(|k| matches!(self.keys.get(*k), Some(e) if Self::is_expired(e, now)))
            .cloned()
            .collect();
        for k in &due {
            self.keys.remove(k);
            self.volatile.remove(k);
        }
        due.len() as u64
    }

    /// Keys in byte order (for KEYS).
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&Vec<u8>, &Entry)> {
        self.keys.iter()
    }

    /// Remove a key known to exist (e.g. a list that became empty).
    pub(crate) fn remove_existing(&mut self, key: &[u8]) {
        self.keys.remove(key);
        self.volatile.remove(key);
    }
}
