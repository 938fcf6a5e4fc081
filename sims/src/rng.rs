//! The run's only randomness: SplitMix64 streams derived from the scenario's seed.
//!
//! Each consumer (a user, a pod's arrival process, a request's command choice) takes its own
//! stream, `Rng::stream(seed, id)`, so that adding a consumer does not shift the numbers of
//! the others. Twenty lines; not worth a dependency.

use crate::scenario::Dist;
use std::time::Duration;

/// A SplitMix64 generator.
#[derive(Clone, Debug, Hash)]
pub struct Rng(u64);

impl Rng {
    /// The stream `id` of `seed`.
    #[must_use]
    pub fn stream(seed: u64, id: u64) -> Self {
        let mut r = Self(seed ^ id.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for load generation, and branch-free.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// An exponential sample with this mean (in seconds).
    pub fn exponential(&mut self, mean_secs: f64) -> f64 {
        // 1 - unit() is in (0, 1]: the logarithm is finite.
        -mean_secs * (1.0 - self.unit()).ln()
    }

    /// A sample of `d`, rounded to whole microseconds.
    pub fn sample(&mut self, d: &Dist) -> Duration {
        match *d {
            Dist::Fixed { ms } => Duration::from_millis(ms),
            Dist::Uniform { min_ms, max_ms } => {
                let span_us = (max_ms - min_ms) * 1000;
                Duration::from_micros(min_ms * 1000 + self.below(span_us + 1))
            }
            Dist::Exponential { mean_ms } => {
                Duration::from_secs_f64(self.exponential(mean_ms as f64 / 1000.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::stream(7, 1).next_u64(), Rng::stream(7, 2).next_u64());
        assert_ne!(Rng::stream(7, 1).next_u64(), Rng::stream(8, 1).next_u64());
    }

    /// The numbers themselves are pinned: SplitMix64's reference sequence from state 0, and
    /// a stream's first draws (its derivation from seed and id, and the draw it skips). A
    /// change that only moves low bits shifts arrivals by less than a microsecond, so no
    /// run's figures would show it.
    #[test]
    fn the_numbers_are_splitmix64s() {
        let mut r = Rng(0);
        assert_eq!(
            [r.next_u64(), r.next_u64(), r.next_u64()],
            [
                0xe220_a839_7b1d_cdaf,
                0x6e78_9e6a_a1b9_65f4,
                0x06c4_5d18_8009_454f
            ]
        );
        let mut s = Rng::stream(3, 5);
        assert_eq!(
            [s.next_u64(), s.next_u64(), s.next_u64()],
            [
                0x9d0c_3020_cb04_226e,
                0x45c6_eaad_343a_1ead,
                0x3b12_59ed_33aa_acb0
            ]
        );
        assert_eq!(Rng::stream(3, 5).below(1000), 613);
        assert!((Rng::stream(3, 5).unit() - 0.613_467_224_126_921_9).abs() < 1e-15);
    }

    #[test]
    fn exponential_samples_have_the_mean_asked_for() {
        let mut r = Rng::stream(1, 0);
        let n = 100_000;
        let mean = (0..n).map(|_| r.exponential(0.01)).sum::<f64>() / f64::from(n);
        assert!((mean - 0.01).abs() < 0.0005, "{mean}");
    }
}
