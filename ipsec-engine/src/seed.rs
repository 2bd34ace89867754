//! The daemon's seed: 32 bytes from the kernel's CSPRNG (getrandom(2)), or no daemon.
//!
//! Every cookie, nonce, SPI, Diffie-Hellman secret and IV the gateway makes derives from this
//! seed. A seed built from the start time and the PID can be searched by anyone who can guess
//! roughly when the daemon started, and with it every key of every SA falls. So there is no
//! fallback: when the kernel cannot give entropy, the engine does not start. The demo takes its
//! seed from `--seed` instead and never calls this.

/// The kernel's random number generator could not be read; the engine must not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read a random seed from the kernel (getrandom(2): {0}); \
     refusing to start, every key would be guessable"
)]
pub struct SeedError(getrandom::Error);

/// 32 bytes from the kernel's CSPRNG for [`crate::gateway::CoreOptions::seed`].
pub fn os_seed() -> Result<[u8; 32], SeedError> {
    seed_from(getrandom::getrandom)
}

/// The seed from `fill`, so that tests can stand in for a kernel that fails.
fn seed_from(
    fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> Result<[u8; 32], SeedError> {
    let mut s = [0u8; 32];
    fill(&mut s).map_err(SeedError)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_seed_is_fresh_each_time() {
        let a = os_seed().unwrap();
        let b = os_seed().unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }

    /// Stops an off-path attacker from predicting our cookies, nonces, SPIs and DH secrets: the
    /// engine used to fall back to a seed of the clock and the PID when the kernel's generator
    /// was unavailable, a search space of a few guesses around a known start time. Now a
    /// failing generator is an error and nothing is seeded.
    #[test]
    fn no_seed_when_the_kernel_generator_fails() {
        let mut called = false;
        let r = seed_from(|_| {
            called = true;
            Err(getrandom::Error::UNSUPPORTED)
        });
        assert!(called);
        let e = r.expect_err("a failing generator must not yield a seed");
        let msg = e.to_string();
        assert!(msg.contains("getrandom(2)"), "{msg}");
        assert!(msg.contains("refusing to start"), "{msg}");
    }
}
