//! Caller-supplied monotonic time.
//!
//! One representation crosses Rust, C and Python unchanged: milliseconds as `u64` from an epoch the
//! caller picks. The protocol core only ever compares and adds instants; it never reads a clock.

use core::time::Duration;

/// A point in time: milliseconds since a caller-chosen epoch, on a monotonic clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);

    /// Builds an instant from milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at the far future instead of wrapping.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ms))
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant(u64::MAX - 5);
        assert_eq!(t + Duration::from_secs(1), Instant(u64::MAX));
        assert_eq!(
            Instant(10).saturating_duration_since(Instant(20)),
            Duration::ZERO
        );
        assert_eq!(
            Instant(2500).saturating_duration_since(Instant(500)),
            Duration::from_secs(2)
        );
    }
}
