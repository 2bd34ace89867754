//! ESP security associations (RFC 4303, RFC 3948) as pure data-path objects.
//!
//! The IKE side moves one zeroizing [`EspKeys`] per direction into an [`OutboundSa`] or an
//! [`InboundSa`]; after that the two sides only share usage figures ([`EspUsage`]) and lifetime
//! states. Each SA is a single-owner value: no locks, no clock, no allocation per packet.
//!
//! - [`transform`]: `esp-3des`, `esp-aes 256`, `esp-sha-hmac`... and the SA mode.
//! - [`keys`]: the key value handed over from Quick Mode.
//! - [`sa`]: encapsulation and decapsulation.
//! - [`replay`]: the anti-replay window.
//! - [`lifetime`]: soft and hard lifetimes in seconds, kilobytes and packets.
//! - [`stats`]: the counters of `show crypto ipsec sa`.
//! - [`table`]: inbound SAs by SPI.
//! - [`udp`]: the UDP-4500 classifier and non-ESP framing (NAT-T).
#![deny(clippy::indexing_slicing)]

pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod keys;
pub mod lifetime;
pub mod replay;
pub mod sa;
pub mod stats;
pub mod table;
pub mod transform;
pub mod udp;

#[cfg(test)]
mod tests;

pub use error::EspError;
pub use keys::EspKeys;
pub use lifetime::{
    EspUsage, Lifetime, LifetimeConfig, LifetimeLimits, LifetimeState, SoftMargins,
};
pub use replay::{ReplayError, ReplayWindow, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW};
pub use sa::{Decapsulated, EspConfig, ExpandedKey, InboundSa, OutboundSa};
pub use stats::{EspGlobalStats, EspStats};
pub use table::{peek_spi, InboundError, InboundSaTable};
pub use transform::{EspCipher, EspIntegrity, EspMode, EspTransform};
pub use udp::{classify_udp4500, prefix_non_esp_marker, write_keepalive, Udp4500};
