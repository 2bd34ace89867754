//! Why [`super::Tunnels::handle_udp`] or [`super::Tunnels::handle_esp`] dropped what it was
//! given. Every reason is also counted (in the IKE, ESP or core counters), so a host that
//! ignores the answer loses nothing; one that logs or samples drops gets the reason at once
//! instead of diffing counters.

use crate::esp::InboundError;
use crate::ike::DatagramDrop;

/// Why a received datagram or ESP packet went no further.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Dropped {
    /// The IKE endpoint refused it.
    #[error("IKE datagram dropped: {0}")]
    Ike(#[from] DatagramDrop),
    /// No inbound SA took the ESP packet, or the SA refused it (bad ICV, replay, padding...).
    #[error("ESP packet dropped: {0}")]
    Esp(#[from] InboundError),
    /// Decrypted, but the inner packet is not IPv4 or lies outside the SA's proxy identities
    /// (IOS `#pkts invalid identity`).
    #[error("decrypted packet outside the SA's proxy identities")]
    OutsideProxyIdentities,
    /// A UDP 4500 datagram that is neither IKE, ESP nor a NAT keepalive.
    #[error("UDP 4500 datagram neither IKE, ESP nor keepalive")]
    MalformedUdp4500,
    /// The output queue had no room for the decrypted packet.
    #[error("output queue full")]
    QueueFull,
}

impl Dropped {
    /// A short stable name for scripts and metrics labels (`esp_replayed`, `ike_bad_hash`...).
    pub fn code(&self) -> &'static str {
        use crate::esp::EspError as E;
        match self {
            Dropped::Ike(d) => d.code(),
            Dropped::Esp(InboundError::Malformed) => "esp_malformed",
            Dropped::Esp(InboundError::UnknownSpi(_)) => "esp_unknown_spi",
            Dropped::Esp(InboundError::Esp(e)) => match e {
                E::Truncated { .. } | E::NotBlockAligned { .. } => "esp_malformed",
                E::Replayed { .. } => "esp_replayed",
                E::TooOld { .. } => "esp_too_old",
                E::SequenceZero => "esp_sequence_zero",
                E::Authentication => "esp_authentication",
                E::Padding => "esp_padding",
                E::Expired => "esp_expired",
                _ => "esp_refused",
            },
            Dropped::OutsideProxyIdentities => "esp_invalid_identity",
            Dropped::MalformedUdp4500 => "udp4500_malformed",
            Dropped::QueueFull => "queue_full",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::EspError;

    #[test]
    fn codes_are_distinct_per_cause() {
        let all = [
            Dropped::Ike(DatagramDrop::UnknownSa),
            Dropped::Ike(DatagramDrop::ZeroResponderCookie),
            Dropped::Ike(DatagramDrop::Unexpected),
            Dropped::Ike(DatagramDrop::BadHash),
            Dropped::Ike(DatagramDrop::ReplayedMessageId),
            Dropped::Ike(DatagramDrop::BadDpd),
            Dropped::Ike(DatagramDrop::QuickModeFlood),
            Dropped::Esp(InboundError::UnknownSpi(1)),
            Dropped::Esp(InboundError::Esp(EspError::Authentication)),
            Dropped::Esp(InboundError::Esp(EspError::SequenceZero)),
            Dropped::OutsideProxyIdentities,
            Dropped::MalformedUdp4500,
            Dropped::QueueFull,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(Dropped::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
