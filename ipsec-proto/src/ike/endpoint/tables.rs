//! The endpoint's two tables, ISAKMP SAs and IPsec SA pairs, with the indexes that keep every
//! datagram's lookup independent of how many tunnels there are: initiator cookie → ISAKMP SAs,
//! inbound SPI → pair, (lineage, outbound SPI) → pair. Reads go through `Deref` to the map;
//! every insertion and removal goes through these types, so an index cannot miss one.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use super::sa::{Child, IkeSa};
use super::{ChildId, Event, IkeSaId};

/// ISAKMP SAs by conn-id, indexed by initiator cookie.
#[derive(Default)]
pub(super) struct SaTable {
    map: BTreeMap<IkeSaId, Box<IkeSa>>,
    /// CKY-I never changes once the SA is in the table.
    by_ci: BTreeSet<([u8; 8], IkeSaId)>,
    /// Handed out for mutation (or inserted, or removed) since the timers were last flushed.
    dirty: Vec<IkeSaId>,
    /// Removed SAs whose state had been announced: their last state change, still to report.
    gone: Vec<Event>,
}

impl Deref for SaTable {
    type Target = BTreeMap<IkeSaId, Box<IkeSa>>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl SaTable {
    pub(super) fn insert(&mut self, sa: Box<IkeSa>) {
        // Conn-ids wrap only after 2^32 SAs; never leave a stale index entry behind.
        self.remove(&sa.id);
        self.by_ci.insert((sa.ci, sa.id));
        self.dirty.push(sa.id);
        self.map.insert(sa.id, sa);
    }

    pub(super) fn remove(&mut self, id: &IkeSaId) -> Option<Box<IkeSa>> {
        let sa = self.map.remove(id)?;
        self.by_ci.remove(&(sa.ci, sa.id));
        self.dirty.push(*id);
        if sa.reported.is_some() {
            self.gone.push(Event::IsakmpStateChanged {
                sa: sa.id,
                role: sa.role,
                path: sa.path,
                from: sa.reported,
                to: None,
                nat_t: sa.nat.nat_detected(),
            });
        }
        Some(sa)
    }

    /// Records that `id`'s state was announced, without marking it for the timers again.
    pub(super) fn mark_reported(&mut self, id: &IkeSaId) {
        if let Some(sa) = self.map.get_mut(id) {
            sa.reported = Some(sa.state);
        }
    }

    /// The next removal to announce.
    pub(super) fn take_gone(&mut self) -> Option<Event> {
        self.gone.pop()
    }

    pub(super) fn get_mut(&mut self, id: &IkeSaId) -> Option<&mut Box<IkeSa>> {
        let sa = self.map.get_mut(id)?;
        self.dirty.push(*id);
        Some(sa)
    }

    /// One SA whose timers may have changed.
    pub(super) fn take_dirty(&mut self) -> Option<IkeSaId> {
        self.dirty.pop()
    }

    /// The SAs whose initiator cookie is `ci` (one, except for a collision or an attack).
    pub(super) fn with_ci(&self, ci: [u8; 8]) -> impl Iterator<Item = &IkeSa> + '_ {
        self.by_ci
            .range((ci, IkeSaId(0))..=(ci, IkeSaId(u32::MAX)))
            .filter_map(|(_, id)| self.map.get(id).map(|b| &**b))
    }
}

/// IPsec SA pairs by child id, indexed by inbound SPI and by (lineage, outbound SPI).
#[derive(Default)]
pub(super) struct ChildTable {
    /// Boxed for the same reason as the ISAKMP SAs: B-tree nodes are often half full, and a
    /// pair's record is a few hundred bytes.
    map: BTreeMap<ChildId, Box<Child>>,
    by_spi_in: BTreeMap<u32, ChildId>,
    by_spi_out: BTreeMap<(IkeSaId, u32), ChildId>,
    dirty: Vec<ChildId>,
}

impl Deref for ChildTable {
    type Target = BTreeMap<ChildId, Box<Child>>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl ChildTable {
    pub(super) fn insert(&mut self, id: ChildId, c: Child) {
        self.remove(&id);
        self.by_spi_in.insert(c.spi_in, id);
        self.by_spi_out.insert((c.lineage, c.spi_out), id);
        self.dirty.push(id);
        self.map.insert(id, Box::new(c));
    }

    fn unindex(&mut self, id: ChildId, c: &Child) {
        if self.by_spi_in.get(&c.spi_in) == Some(&id) {
            self.by_spi_in.remove(&c.spi_in);
        }
        if self.by_spi_out.get(&(c.lineage, c.spi_out)) == Some(&id) {
            self.by_spi_out.remove(&(c.lineage, c.spi_out));
        }
    }

    pub(super) fn remove(&mut self, id: &ChildId) -> Option<Box<Child>> {
        let c = self.map.remove(id)?;
        self.unindex(*id, &c);
        self.dirty.push(*id);
        Some(c)
    }

    /// Mutable access for fields that are not indexed (usage, flags, path).
    pub(super) fn get_mut(&mut self, id: &ChildId) -> Option<&mut Child> {
        let c = self.map.get_mut(id)?;
        self.dirty.push(*id);
        Some(c)
    }

    /// Mutable access to every pair, for fields that are neither indexed nor timers (the
    /// path): nothing is marked for the timer table.
    pub(super) fn paths_mut(&mut self) -> impl Iterator<Item = &mut Child> {
        self.map.values_mut().map(|c| &mut **c)
    }

    /// One pair whose timers may have changed.
    pub(super) fn take_dirty(&mut self) -> Option<ChildId> {
        self.dirty.pop()
    }

    /// Whether one of our pairs receives on `spi`.
    pub(super) fn has_spi_in(&self, spi: u32) -> bool {
        self.by_spi_in.contains_key(&spi)
    }

    /// The pair of `lineage` that sends on `spi` (what a peer's Delete names).
    pub(super) fn by_spi_out(&self, lineage: IkeSaId, spi: u32) -> Option<ChildId> {
        self.by_spi_out.get(&(lineage, spi)).copied()
    }
}
