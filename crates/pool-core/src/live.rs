//! The set of live requests.
//!
//! Drivers number requests by a small reusable index (the pool driver uses its waiter slot's
//! index), and every acquire and every grant looks a request up, adds or removes it: a sorted
//! `Vec` made each of those a binary search plus a shift of the tail, touching several cache
//! lines that, in a contended driver, the other thread has just written. Ids below
//! [`SMALL`] live in a fixed bitmap (one word touched per operation, allocated once); larger
//! ids in a sorted `Vec` as before. Iteration is in increasing id order either way.

use crate::io::ReqId;

/// Ids below this are kept in the bitmap (64 words, 512 bytes).
const SMALL: u64 = 4096;
const WORDS: usize = (SMALL / 64) as usize;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LiveSet {
    bits: Box<[u64; WORDS]>,
    large: Vec<ReqId>,
    len: usize,
}

impl LiveSet {
    /// An empty set with room for `cap` large ids before the `Vec` grows.
    pub(crate) fn with_capacity(cap: usize) -> Self {
        Self {
            bits: Box::new([0; WORDS]),
            large: Vec::with_capacity(cap),
            len: 0,
        }
    }

    fn bit(req: ReqId) -> Option<(usize, u64)> {
        (req.0 < SMALL).then(|| ((req.0 / 64) as usize, 1u64 << (req.0 % 64)))
    }

    pub(crate) fn contains(&self, req: ReqId) -> bool {
        match Self::bit(req) {
            Some((w, m)) => self.bits[w] & m != 0,
            None => self.large.binary_search(&req).is_ok(),
        }
    }

    /// Adds `req` (which the caller checked is absent).
    pub(crate) fn insert(&mut self, req: ReqId) {
        match Self::bit(req) {
            Some((w, m)) => {
                debug_assert!(self.bits[w] & m == 0, "{req} inserted twice");
                self.bits[w] |= m;
            }
            None => {
                let p = self.large.partition_point(|&r| r < req);
                self.large.insert(p, req);
            }
        }
        self.len += 1;
    }

    /// Removes `req` if present.
    pub(crate) fn remove(&mut self, req: ReqId) {
        let removed = match Self::bit(req) {
            Some((w, m)) => {
                let had = self.bits[w] & m != 0;
                self.bits[w] &= !m;
                had
            }
            None => match self.large.binary_search(&req) {
                Ok(p) => {
                    self.large.remove(p);
                    true
                }
                Err(_) => false,
            },
        };
        self.len -= usize::from(removed);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The ids in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ReqId> + '_ {
        let small = self.len - self.large.len();
        self.bits
            .iter()
            .enumerate()
            .take(if small == 0 { 0 } else { WORDS })
            .flat_map(|(w, &bits)| {
                let mut b = bits;
                std::iter::from_fn(move || {
                    if b == 0 {
                        return None;
                    }
                    let i = b.trailing_zeros();
                    b &= b - 1;
                    Some(ReqId(w as u64 * 64 + u64::from(i)))
                })
            })
            .chain(self.large.iter().copied())
    }

    /// How many live ids are smaller than `req`, if `req` is live.
    pub(crate) fn rank(&self, req: ReqId) -> Option<usize> {
        if !self.contains(req) {
            return None;
        }
        Some(self.iter().take_while(|&r| r < req).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_sorted_set() {
        let mut s = LiveSet::with_capacity(4);
        let mut model: Vec<ReqId> = Vec::new();
        let mut x = 7u64;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = if x >> 63 == 0 {
                (x >> 20) % 200
            } else {
                SMALL - 100 + (x >> 20) % 200
            };
            let req = ReqId(id);
            match model.binary_search(&req) {
                Ok(p) => {
                    assert!(s.contains(req));
                    model.remove(p);
                    s.remove(req);
                }
                Err(p) => {
                    assert!(!s.contains(req));
                    model.insert(p, req);
                    s.insert(req);
                }
            }
            assert_eq!(s.len(), model.len());
            if id % 17 == 0 {
                assert_eq!(s.iter().collect::<Vec<_>>(), model);
                let r = model.get(model.len() / 2).copied().unwrap_or(ReqId(0));
                assert_eq!(s.rank(r), model.binary_search(&r).ok());
            }
        }
    }
}
