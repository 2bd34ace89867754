//! The installed IPsec SA pairs: one slab of pairs (both halves of a pair side by side) with two
//! small indexes into it, by the endpoint's [`ChildId`] (commands, events, flows) and by our
//! inbound SPI (every ESP packet).
//!
//! With thousands of tunnels the pairs themselves no longer fit in the CPU caches; what a packet
//! pays is the number of cache lines it must fetch. The indexes hold only `(key, slot)`, so they
//! stay cache-resident (16 bytes a pair), and a packet then reads one contiguous pair. A tree
//! keyed by `ChildId` holding the pairs inline (what was here before) fetched several nodes of a
//! few kilobytes each per packet.

use std::collections::HashMap;

use crate::esp::{EspGlobalStats, InboundError};
use crate::ike::ChildId;

use super::ChildSa;

/// Slots per chunk of the slab. The slab grows a chunk at a time rather than by doubling one
/// vector, which with pairs of about a kilobyte would leave up to half of it allocated and unused.
const CHUNK: usize = 16;

type Slot = Option<(ChildId, ChildSa)>;

/// The slab: fixed chunks, so a slot never moves and growth wastes at most one chunk.
#[derive(Debug, Default)]
struct Slab {
    chunks: Vec<Box<[Slot]>>,
}

impl Slab {
    fn get(&self, slot: u32) -> Option<&Slot> {
        let s = slot as usize;
        self.chunks.get(s / CHUNK)?.get(s % CHUNK)
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Slot> {
        let s = slot as usize;
        self.chunks.get_mut(s / CHUNK)?.get_mut(s % CHUNK)
    }

    /// Adds a chunk; returns its slots, lowest first.
    fn grow(&mut self) -> std::ops::Range<u32> {
        let first = self.chunks.len() * CHUNK;
        self.chunks.push(
            (0..CHUNK)
                .map(|_| None)
                .collect::<Vec<Slot>>()
                .into_boxed_slice(),
        );
        let lo = u32::try_from(first).unwrap_or(u32::MAX);
        lo..lo.saturating_add(CHUNK as u32)
    }

    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.chunks.iter_mut().flat_map(|c| c.iter_mut())
    }
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct Pairs {
    slots: Slab,
    free: Vec<u32>,
    by_id: HashMap<ChildId, u32>,
    by_spi: HashMap<u32, u32>,
    /// ESP packets that reached no pair.
    global: EspGlobalStats,
}

impl Pairs {
    /// Installs `pair` as `id`; a pair already installed under the same id or inbound SPI is
    /// replaced and returned (the endpoint never reuses either, so this only keeps counters
    /// should it ever happen).
    pub(super) fn insert(&mut self, id: ChildId, pair: ChildSa) -> Vec<ChildSa> {
        let mut replaced = Vec::new();
        let old_ids: Vec<ChildId> = [
            self.by_id.contains_key(&id).then_some(id),
            self.by_spi.get(&pair.spi_in).and_then(|s| self.id_at(*s)),
        ]
        .into_iter()
        .flatten()
        .collect();
        for old in old_ids {
            if let Some(p) = self.remove(&old) {
                replaced.push(p);
            }
        }
        let spi = pair.spi_in;
        if self.free.is_empty() {
            // Lowest slots are taken first, so pairs installed together sit together.
            self.free.extend(self.slots.grow().rev());
        }
        let Some(slot) = self.free.pop() else {
            return replaced;
        };
        if let Some(x) = self.slots.get_mut(slot) {
            *x = Some((id, pair));
        }
        self.by_id.insert(id, slot);
        self.by_spi.insert(spi, slot);
        replaced
    }

    fn id_at(&self, slot: u32) -> Option<ChildId> {
        self.slots
            .get(slot)
            .and_then(|x| x.as_ref())
            .map(|(id, _)| *id)
    }

    /// Removes the pair `id`.
    pub(super) fn remove(&mut self, id: &ChildId) -> Option<ChildSa> {
        let slot = self.by_id.remove(id)?;
        let (_, pair) = self.slots.get_mut(slot)?.take()?;
        self.by_spi.remove(&pair.spi_in);
        self.free.push(slot);
        Some(pair)
    }

    /// The pair `id`.
    pub(super) fn get(&self, id: &ChildId) -> Option<&ChildSa> {
        let slot = *self.by_id.get(id)?;
        self.slots
            .get(slot)
            .and_then(|x| x.as_ref())
            .map(|(_, p)| p)
    }

    /// The pair `id`, mutably.
    pub(super) fn get_mut(&mut self, id: &ChildId) -> Option<&mut ChildSa> {
        let slot = *self.by_id.get(id)?;
        self.slots
            .get_mut(slot)
            .and_then(|x| x.as_mut())
            .map(|(_, p)| p)
    }

    /// The pair whose inbound SA has `spi`, with its id. A miss is counted (`invalid SPI`).
    pub(super) fn by_spi_mut(&mut self, spi: u32) -> Result<(ChildId, &mut ChildSa), InboundError> {
        let found = self
            .by_spi
            .get(&spi)
            .copied()
            .and_then(|slot| self.slots.get_mut(slot))
            .and_then(|x| x.as_mut());
        match found {
            Some((id, p)) => Ok((*id, p)),
            None => {
                self.global.invalid_spi += 1;
                Err(InboundError::UnknownSpi(spi))
            }
        }
    }

    /// The pair whose inbound SA has `spi`.
    pub(super) fn by_spi(&self, spi: u32) -> Option<(ChildId, &ChildSa)> {
        let slot = *self.by_spi.get(&spi)?;
        self.slots
            .get(slot)
            .and_then(|x| x.as_ref())
            .map(|(id, p)| (*id, p))
    }

    /// Counts an ESP packet too short to carry an SPI.
    pub(super) fn count_malformed(&mut self) {
        self.global.malformed += 1;
    }

    /// Packets that reached no pair.
    pub(super) fn global_stats(&self) -> &EspGlobalStats {
        &self.global
    }

    /// Number of pairs.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Every pair with its id, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&ChildId, &ChildSa)> {
        self.slots
            .iter()
            .filter_map(|x| x.as_ref().map(|(id, p)| (id, p)))
    }

    /// Every pair, mutably, in no particular order.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut ChildSa> {
        self.slots
            .iter_mut()
            .filter_map(|x| x.as_mut().map(|(_, p)| p))
    }

    /// The ids of the pairs for which `keep` holds, in the order they were negotiated (so that
    /// Deletes go out in a stable order).
    pub(super) fn ids_where(&self, mut keep: impl FnMut(&ChildSa) -> bool) -> Vec<ChildId> {
        let mut v: Vec<ChildId> = self
            .iter()
            .filter(|(_, p)| keep(p))
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }
}
