//! Seeded randomness from one 64-bit word: SplitMix64 (Steele, Lea & Flood 2014) and the
//! streams derived with it. Every function here is part of lssg's results: changing one
//! changes every derived run, so each is pinned by golden values.
//!
//! - [`mix64`]: SplitMix64's output function, a bijective mixer of 64-bit words with full
//!   avalanche; the synthetic generator's counter-based hashes are built from it.
//! - [`SplitMix64`]: the generator (a Weyl sequence of step [`GOLDEN_GAMMA`] through
//!   [`mix64`]); [`SplitMix64::stream`] derives independent generators from (seed, index),
//!   as the report's bootstrap resamples need.
//! - [`stream`]: the random stream of a stage and method of a run (docs/method.md §5.8): every
//!   stage and method draws from its own stream, a function of (run seed, stage, method), so
//!   two methods never replay the same scenario draws, shuffles or dropout masks, and a
//!   benchmark's seed axis varies all of them.

/// SplitMix64's increment: 2⁶⁴/φ, odd.
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first output of a SplitMix64 generator whose state is `x`: `mix64(x + GOLDEN_GAMMA)`.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    mix64(x.wrapping_add(GOLDEN_GAMMA))
}

/// The seed of the stream named by `parts` (e.g. `["finetune", "guided"]`) under `seed`.
///
/// FNV-1a over the parts (each followed by a 0xff separator, which cannot occur in UTF-8, so
/// `["ab", "c"]` and `["a", "bc"]` differ), mixed with `seed` by [`splitmix64`]. The result is
/// stable across platforms and releases.
pub fn stream(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    splitmix64(seed ^ splitmix64(h))
}

/// The SplitMix64 generator: its whole state is one `u64`, so a stream can be derived from
/// (seed, index) without any shared state.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The generator of stream `index` under `seed` (docs/report.md §2.2): independent of how
    /// the streams are scheduled over threads.
    pub fn stream(seed: u64, index: u64) -> Self {
        Self::new(mix64(seed ^ mix64(index.wrapping_add(GOLDEN_GAMMA))))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// A uniform integer in `0..n` (`n > 0`; 0 for `n == 0`), by Lemire's multiply-shift with
    /// rejection, so there is no modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_seed_stage_and_method_and_are_stable() {
        let a = stream(0, &["finetune", "guided"]);
        assert_ne!(a, stream(0, &["finetune", "uniform"]));
        assert_ne!(a, stream(1, &["finetune", "guided"]));
        assert_ne!(stream(0, &["ab", "c"]), stream(0, &["a", "bc"]));
        assert_ne!(stream(0, &["pretrain"]), stream(0, &[]));
        // Golden values: a change here changes every run's random draws.
        assert_eq!(stream(0, &[]), splitmix64(splitmix64(0xcbf2_9ce4_8422_2325)));
        // Computed independently (a Python transcription of the two functions).
        assert_eq!(stream(7, &["pretrain"]), 0x43ca_f220_735f_4697);
        assert_eq!(a, 0xe37c_b1fd_a590_b26d);
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(g.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix64(GOLDEN_GAMMA), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn below_is_in_range_and_streams_differ() {
        let mut rng = SplitMix64::new(1);
        assert!((0..1000).all(|_| rng.below(7) < 7));
        assert_eq!(rng.below(0), 0);
        assert_ne!(SplitMix64::stream(0, 0).next_u64(), SplitMix64::stream(0, 1).next_u64());
        assert_eq!(SplitMix64::stream(3, 9).next_u64(), SplitMix64::stream(3, 9).next_u64());
    }
}
