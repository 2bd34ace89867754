//! Deterministic, caller-seeded randomness.
//!
//! Every random value the stack uses (cookies, nonces, SPIs, Diffie-Hellman secrets, IVs, DPD
//! sequence numbers) comes from an [`Rng`] built from a 32-byte seed the caller supplies. The same
//! seed and the same inputs replay a run byte for byte, which makes tests and fuzzing deterministic.
//! Production callers seed from the operating system once.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

/// A ChaCha20-based cryptographically secure generator, seeded by the caller.
#[derive(Clone)]
pub struct Rng(ChaCha20Rng);

impl core::fmt::Debug for Rng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The internal state is as secret as the seed.
        f.write_str("Rng(..)")
    }
}

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Rng(ChaCha20Rng::from_seed(seed))
    }

    /// A generator seeded from a 64-bit value; convenient for tests and simulations.
    pub fn from_u64(seed: u64) -> Self {
        Rng(ChaCha20Rng::seed_from_u64(seed))
    }

    /// An independent child generator seeded from this one (for example the per-SA IV generator of
    /// an ESP SA), so each consumer has its own stream and the parent's stays replayable.
    pub fn fork(&mut self) -> Rng {
        let mut seed = [0u8; 32];
        self.0.fill_bytes(&mut seed);
        let child = Rng::from_seed(seed);
        zeroize::Zeroize::zeroize(&mut seed);
        child
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }

    /// A random `u32`.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// A random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A random `u32` that is never zero (message IDs, SPIs, cookies must not be zero).
    pub fn nonzero_u32(&mut self) -> u32 {
        loop {
            let v = self.0.next_u32();
            if v != 0 {
                return v;
            }
        }
    }

    /// A uniformly distributed value in `0..bound` (`bound` > 0), without modulo bias.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound <= 1 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let v = self.0.next_u64();
            if v < zone {
                return v % bound;
            }
        }
    }
}

impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl CryptoRng for Rng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_forks_differ() {
        let mut a = Rng::from_u64(7);
        let mut b = Rng::from_u64(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut fa = a.fork();
        let mut fb = b.fork();
        assert_eq!(fa.next_u64(), fb.next_u64());
        assert_ne!(fa.next_u64(), a.next_u64());
        assert!(Rng::from_u64(1).below(10) < 10);
        assert_ne!(Rng::from_u64(3).nonzero_u32(), 0);
    }
}
