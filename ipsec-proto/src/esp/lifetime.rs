//! SA lifetimes in seconds, kilobytes and packets, each with a soft limit (start rekeying) and a
//! hard limit (stop using the SA), and the usage the IKE side reads to rekey on volume and to
//! run on-demand DPD.

use core::time::Duration;

use crate::time::Instant;

/// Limits of one kind (soft or hard). `None` means no limit of that unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LifetimeLimits {
    /// Seconds since the SA was installed.
    pub seconds: Option<u64>,
    /// Kilobytes (1024 bytes) of plaintext protected.
    pub kilobytes: Option<u64>,
    /// Packets protected.
    pub packets: Option<u64>,
}

/// How soft limits are derived from hard ones when not given explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SoftMargins {
    /// Soft volume limits (kilobytes, packets) as a percentage of the hard ones.
    pub volume_percent: u8,
    /// Soft seconds = hard seconds minus this margin (IOS starts rekeying about 30 s before).
    /// When the margin is not smaller than the hard lifetime, `volume_percent` of it is used.
    pub seconds_before: u64,
}

impl Default for SoftMargins {
    fn default() -> Self {
        SoftMargins {
            volume_percent: 90,
            seconds_before: 30,
        }
    }
}

/// Soft and hard limits of an SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LifetimeConfig {
    /// Reaching any of these asks for a rekey.
    pub soft: LifetimeLimits,
    /// Reaching any of these ends the SA.
    pub hard: LifetimeLimits,
}

/// IOS default `crypto ipsec security-association lifetime seconds`.
pub const IOS_DEFAULT_SECONDS: u64 = 3600;
/// IOS default `crypto ipsec security-association lifetime kilobytes`.
pub const IOS_DEFAULT_KILOBYTES: u64 = 4_608_000;

impl LifetimeConfig {
    /// Soft limits derived from `hard` with `margins`.
    pub fn with_margins(hard: LifetimeLimits, margins: SoftMargins) -> Self {
        let pct = u64::from(margins.volume_percent.min(100));
        let vol = |v: u64| v / 100 * pct + v % 100 * pct / 100;
        let soft = LifetimeLimits {
            seconds: hard.seconds.map(|s| {
                if margins.seconds_before < s {
                    s - margins.seconds_before
                } else {
                    vol(s)
                }
            }),
            kilobytes: hard.kilobytes.map(vol),
            packets: hard.packets.map(vol),
        };
        LifetimeConfig { soft, hard }
    }

    /// Soft limits derived from `hard` with the default margins (90 %, 30 s).
    pub fn from_hard(hard: LifetimeLimits) -> Self {
        Self::with_margins(hard, SoftMargins::default())
    }

    /// No limits at all (tests, manual keying).
    pub fn unlimited() -> Self {
        LifetimeConfig {
            soft: LifetimeLimits::default(),
            hard: LifetimeLimits::default(),
        }
    }

    /// The IOS defaults: 3600 s and 4 608 000 KB, soft at 30 s before and 90 %.
    pub fn ios_default() -> Self {
        Self::from_hard(LifetimeLimits {
            seconds: Some(IOS_DEFAULT_SECONDS),
            kilobytes: Some(IOS_DEFAULT_KILOBYTES),
            packets: None,
        })
    }
}

impl Default for LifetimeConfig {
    fn default() -> Self {
        Self::ios_default()
    }
}

/// Where an SA stands against its lifetimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LifetimeState {
    /// Below every soft limit.
    Fresh,
    /// A soft limit is reached: rekey now, keep using the SA.
    Soft,
    /// A hard limit is reached: the SA refuses packets.
    Hard,
}

/// What an SA has carried so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EspUsage {
    /// Plaintext bytes protected (outbound) or accepted (inbound).
    pub bytes: u64,
    /// Packets protected or accepted.
    pub packets: u64,
    /// When the last packet was protected or accepted; `None` before the first.
    pub last_activity: Option<Instant>,
}

/// Lifetime bookkeeping of one SA.
#[derive(Clone, Debug)]
pub struct Lifetime {
    config: LifetimeConfig,
    installed: Instant,
    usage: EspUsage,
}

impl Lifetime {
    /// Starts counting at `installed`.
    pub fn new(config: LifetimeConfig, installed: Instant) -> Self {
        Lifetime {
            config,
            installed,
            usage: EspUsage::default(),
        }
    }

    /// The limits.
    pub fn config(&self) -> &LifetimeConfig {
        &self.config
    }

    /// When the SA was installed.
    pub fn installed(&self) -> Instant {
        self.installed
    }

    /// Usage so far.
    pub fn usage(&self) -> EspUsage {
        self.usage
    }

    /// Adds one packet of `bytes` plaintext bytes at `now`.
    pub fn record(&mut self, now: Instant, bytes: usize) {
        self.usage.bytes = self.usage.bytes.saturating_add(bytes as u64);
        self.usage.packets = self.usage.packets.saturating_add(1);
        self.usage.last_activity = Some(now);
    }

    fn reached(&self, limits: &LifetimeLimits, now: Instant) -> bool {
        let age = now.saturating_duration_since(self.installed);
        limits
            .seconds
            .is_some_and(|s| age >= Duration::from_secs(s))
            || limits
                .kilobytes
                .is_some_and(|kb| self.usage.bytes >= kb.saturating_mul(1024))
            || limits.packets.is_some_and(|p| self.usage.packets >= p)
    }

    /// Fresh, soft or hard at `now`.
    pub fn state(&self, now: Instant) -> LifetimeState {
        if self.reached(&self.config.hard, now) {
            LifetimeState::Hard
        } else if self.reached(&self.config.soft, now) {
            LifetimeState::Soft
        } else {
            LifetimeState::Fresh
        }
    }

    /// When the soft seconds limit falls (for the caller's timer), if there is one.
    pub fn soft_deadline(&self) -> Option<Instant> {
        self.config
            .soft
            .seconds
            .map(|s| self.installed + Duration::from_secs(s))
    }

    /// When the hard seconds limit falls, if there is one.
    pub fn hard_deadline(&self) -> Option<Instant> {
        self.config
            .hard
            .seconds
            .map(|s| self.installed + Duration::from_secs(s))
    }

    /// Remaining kilobytes before the hard limit (`sa timing: remaining key lifetime (k/sec)`).
    pub fn remaining_kilobytes(&self) -> Option<u64> {
        self.config
            .hard
            .kilobytes
            .map(|kb| kb.saturating_sub(self.usage.bytes / 1024))
    }

    /// Remaining whole seconds before the hard limit.
    pub fn remaining_seconds(&self, now: Instant) -> Option<u64> {
        let age = now.saturating_duration_since(self.installed).as_secs();
        self.config.hard.seconds.map(|s| s.saturating_sub(age))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn soft_defaults_and_states() {
        let c = LifetimeConfig::ios_default();
        assert_eq!(c.soft.seconds, Some(3570));
        assert_eq!(c.soft.kilobytes, Some(4_147_200));
        let mut l = Lifetime::new(c, Instant::from_millis(1000));
        assert_eq!(l.state(Instant::from_millis(1000)), LifetimeState::Fresh);
        assert_eq!(
            l.state(Instant::from_millis(1000 + 3_570_000)),
            LifetimeState::Soft
        );
        assert_eq!(
            l.state(Instant::from_millis(1000 + 3_600_000)),
            LifetimeState::Hard
        );
        assert_eq!(
            l.remaining_seconds(Instant::from_millis(11_000)),
            Some(3590)
        );
        assert_eq!(l.hard_deadline(), Some(Instant::from_millis(3_601_000)));
        l.record(Instant::from_millis(2000), 4_147_200 * 1024);
        assert_eq!(l.state(Instant::from_millis(2000)), LifetimeState::Soft);
        assert_eq!(l.remaining_kilobytes(), Some(4_608_000 - 4_147_200));
        l.record(Instant::from_millis(3000), 460_800 * 1024);
        assert_eq!(l.state(Instant::from_millis(3000)), LifetimeState::Hard);
        assert_eq!(l.usage().packets, 2);
        assert_eq!(l.usage().last_activity, Some(Instant::from_millis(3000)));
    }

    #[test]
    fn packets_and_custom_margins() {
        let c = LifetimeConfig::with_margins(
            LifetimeLimits {
                seconds: Some(20),
                kilobytes: None,
                packets: Some(10),
            },
            SoftMargins {
                volume_percent: 50,
                seconds_before: 30,
            },
        );
        // A margin larger than the lifetime falls back to the percentage.
        assert_eq!(c.soft.seconds, Some(10));
        assert_eq!(c.soft.packets, Some(5));
        let mut l = Lifetime::new(c, Instant::ZERO);
        for _ in 0..5 {
            l.record(Instant::ZERO, 1);
        }
        assert_eq!(l.state(Instant::ZERO), LifetimeState::Soft);
        for _ in 0..5 {
            l.record(Instant::ZERO, 1);
        }
        assert_eq!(l.state(Instant::ZERO), LifetimeState::Hard);
        let u = Lifetime::new(LifetimeConfig::unlimited(), Instant::ZERO);
        assert_eq!(u.state(Instant(u64::MAX)), LifetimeState::Fresh);
    }
}
