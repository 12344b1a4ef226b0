//! A small, seedable random number generator that never changes its output.
//!
//! `--seed` promises the same readings from the same seed, across runs and across releases,
//! so the simulator owns its generator (xoshiro256++, seeded through SplitMix64) instead of
//! depending on a library whose algorithms may change between versions. 32 bytes of state
//! per vehicle keeps a million vehicles cheap.

/// SplitMix64's finaliser: a stateless 64-bit mixer, also used for hashing.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ (Blackman and Vigna, 2019).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    s: [u64; 4],
}

impl SimRng {
    /// A generator for one `stream` (a vehicle index) of a `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut x = mix64(seed) ^ mix64(stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut s = [0u64; 4];
        for slot in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *slot = mix64(x);
        }
        if s == [0; 4] {
            // The one state xoshiro cannot leave; unreachable in practice.
            s[0] = 1;
        }
        SimRng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `0..n`; `n` must be positive. The modulo bias is below 2^-40 for the
    /// small `n` used here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_give_the_same_sequence() {
        let mut a = SimRng::new(7, 3);
        let mut b = SimRng::new(7, 3);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_and_seeds_differ() {
        let first = |seed, stream| SimRng::new(seed, stream).next_u64();
        assert_ne!(first(7, 3), first(7, 4));
        assert_ne!(first(7, 3), first(8, 3));
    }

    #[test]
    fn output_is_pinned() {
        // Guards `--seed` reproducibility across releases: changing the generator changes this.
        // (Values from an independent implementation of SplitMix64 and xoshiro256++.)
        let mut r = SimRng::new(1, 0);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            vec![
                0xAC04_B9E5_06CE_BD7B,
                0x9A84_5E3F_6506_CF98,
                0xF443_4719_58F8_2F68
            ]
        );
        assert_eq!(mix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn unit_and_range_stay_in_bounds() {
        let mut r = SimRng::new(42, 0);
        let mut sum = 0.0;
        for _ in 0..100_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            sum += u;
            let x = r.range(-3.0, 5.0);
            assert!((-3.0..5.0).contains(&x));
            assert!(r.below(7) < 7);
        }
        let mean = sum / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }
}
