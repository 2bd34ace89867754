//! The clock fed to the protocol core: CLOCK_BOOTTIME keeps counting while the machine is
//! suspended, so lifetimes and DPD timers expire on wall time after a resume, as on a router.

use ipsec_proto::time::Instant;

/// Milliseconds of CLOCK_BOOTTIME.
pub fn boottime_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on every Linux >= 2.6.39,
    // so the call cannot fail and the zero fallback is never observed.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1000)
        .saturating_add(ts.tv_nsec as u64 / 1_000_000)
}

/// [`boottime_ms`] as the core's [`Instant`].
pub fn now() -> Instant {
    Instant(boottime_ms())
}

#[cfg(test)]
mod tests {
    #[test]
    fn boottime_moves_forward() {
        let a = super::boottime_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = super::boottime_ms();
        assert!(b >= a + 20 && b < a + 2000, "{a} -> {b}");
    }
}
