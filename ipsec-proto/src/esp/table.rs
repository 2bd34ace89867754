//! Inbound SAs keyed by SPI, so an arriving ESP packet finds its SA in O(1).

use std::collections::HashMap;

use crate::time::Instant;

use super::error::EspError;
use super::sa::{Decapsulated, InboundSa, ESP_HEADER_LEN};
use super::stats::EspGlobalStats;

/// The SPI of an ESP packet (starting at the SPI), if it is long enough to carry an ESP header
/// and the SPI is not the reserved 0.
pub fn peek_spi(esp: &[u8]) -> Option<u32> {
    if esp.len() < ESP_HEADER_LEN {
        return None;
    }
    let spi = u32::from_be_bytes(esp.get(..4)?.try_into().ok()?);
    (spi != 0).then_some(spi)
}

/// Why the table could not hand a packet to an SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// Too short for an ESP header, or SPI 0.
    #[error("not an ESP packet")]
    Malformed,
    /// No SA owns this SPI (IOS `%CRYPTO-4-RECVD_PKT_INV_SPI`).
    #[error("no inbound SA for SPI {0:#010x}")]
    UnknownSpi(u32),
    /// The SA refused the packet (already counted in the SA's statistics).
    #[error(transparent)]
    Esp(#[from] EspError),
}

/// Inbound SAs by SPI, with the counters of packets that match none.
#[derive(Debug, Default)]
pub struct InboundSaTable {
    sas: HashMap<u32, InboundSa>,
    global: EspGlobalStats,
}

impl InboundSaTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs `sa` under its SPI, returning the SA it replaces, if any.
    pub fn insert(&mut self, sa: InboundSa) -> Option<InboundSa> {
        self.sas.insert(sa.spi(), sa)
    }

    /// Removes the SA with `spi` (on DELETE or hard expiry), so its counters can be folded into
    /// the flow's.
    pub fn remove(&mut self, spi: u32) -> Option<InboundSa> {
        self.sas.remove(&spi)
    }

    /// The SA with `spi`.
    pub fn get(&self, spi: u32) -> Option<&InboundSa> {
        self.sas.get(&spi)
    }

    /// The SA with `spi`, mutably.
    pub fn get_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.sas.get_mut(&spi)
    }

    /// The SA an ESP packet is addressed to.
    pub fn lookup(&mut self, esp: &[u8]) -> Option<&mut InboundSa> {
        self.sas.get_mut(&peek_spi(esp)?)
    }

    /// Number of SAs.
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// All SAs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &InboundSa> {
        self.sas.values()
    }

    /// Counters of packets that belong to no SA.
    pub fn global_stats(&self) -> &EspGlobalStats {
        &self.global
    }

    /// Finds the SA by SPI and decapsulates; a packet no SA owns is counted globally.
    pub fn decapsulate(
        &mut self,
        now: Instant,
        esp: &[u8],
        out: &mut [u8],
    ) -> Result<(u32, Decapsulated), InboundError> {
        let Some(spi) = peek_spi(esp) else {
            self.global.malformed += 1;
            return Err(InboundError::Malformed);
        };
        let Some(sa) = self.sas.get_mut(&spi) else {
            self.global.invalid_spi += 1;
            return Err(InboundError::UnknownSpi(spi));
        };
        Ok((spi, sa.decapsulate(now, esp, out)?))
    }
}
