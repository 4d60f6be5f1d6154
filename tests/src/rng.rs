//! A small seeded random number generator (xorshift64*) for the lab's
//! tools: loss and delay draws, garbage datagrams. Repeatable for a seed;
//! never for anything secret.

/// See the module documentation.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; 0 is made odd).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_seed_repeats_and_unit_stays_below_one() {
        let (mut a, mut b) = (super::Rng::new(7), super::Rng::new(7));
        assert_eq!(a.bytes(16), b.bytes(16));
        assert!((0..10_000).all(|_| (0.0..1.0).contains(&a.unit())));
        assert_ne!(super::Rng::new(0).next_u64(), 0, "seed 0 works");
    }
}
