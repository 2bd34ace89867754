//! The endpoint's two tables, ISAKMP SAs and IPsec SA pairs, with the indexes that keep every
//! datagram's lookup independent of how many tunnels there are: initiator cookie → ISAKMP SAs,
//! inbound SPI → pair, (lineage, outbound SPI) → pair. Reads go through `Deref` to the map;
//! every insertion and removal goes through these types, so an index cannot miss one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::Deref;

use super::sa::{Child, IkeSa, P1State};
use super::{ChildId, Event, IkeSaId, Role};

use crate::index::Multi;

/// What an SA is indexed under, as last indexed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Keys {
    remote: IpAddr,
    lineage: IkeSaId,
    half_open: bool,
}

impl Keys {
    fn of(sa: &IkeSa) -> Keys {
        Keys {
            remote: sa.path.remote.ip(),
            lineage: sa.lineage,
            half_open: sa.role == Role::Responder && sa.state != P1State::QmIdle,
        }
    }
}

/// ISAKMP SAs by conn-id, indexed by initiator cookie (every datagram), and by peer address,
/// lineage and half-open state (every new exchange), so that nothing a
/// datagram causes scans all SAs.
///
/// The indexed fields (state, path, lineage) change only through [`SaTable::get_mut`],
/// which notes the SA as stale; [`SaTable::refresh`] reindexes the stale SAs, and every reader of
/// an index (`with_remote`, `of_lineage`, `half_open`) is preceded by it. The timers'
/// flush at the end of each input reindexes too.
#[derive(Default)]
pub(super) struct SaTable {
    map: HashMap<IkeSaId, Box<IkeSa>>,
    /// Conn-ids in order, for listings (`show crypto isakmp sa`) and deterministic walks.
    order: BTreeSet<IkeSaId>,
    /// CKY-I never changes once the SA is in the table. The first SA of a cookie lives here; a
    /// second one (a collision, or an attacker reusing a cookie) in `ci_more`.
    by_ci: HashMap<[u8; 8], IkeSaId>,
    ci_more: BTreeSet<([u8; 8], IkeSaId)>,
    by_remote: Multi<IpAddr, IkeSaId>,
    by_lineage: Multi<IkeSaId, IkeSaId>,
    half_open: BTreeSet<IkeSaId>,
    /// Handed out for mutation (or inserted, or removed) since the timers were last flushed.
    dirty: Vec<IkeSaId>,
    /// Handed out for mutation since the indexes were last refreshed.
    stale: Vec<IkeSaId>,
    /// Removed SAs whose state had been announced: their last state change, still to report.
    gone: Vec<Event>,
}

impl Deref for SaTable {
    type Target = HashMap<IkeSaId, Box<IkeSa>>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl SaTable {
    pub(super) fn insert(&mut self, sa: Box<IkeSa>) {
        // Conn-ids wrap only after 2^32 SAs; never leave a stale index entry behind.
        self.remove(&sa.id);
        let id = sa.id;
        match self.by_ci.entry(sa.ci) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.ci_more.insert((sa.ci, id));
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        self.order.insert(id);
        self.dirty.push(id);
        let mut sa = sa;
        let k = Keys::of(&sa);
        sa.indexed = Some(k);
        self.map.insert(id, sa);
        self.index(id, k);
    }

    fn index(&mut self, id: IkeSaId, k: Keys) {
        self.by_remote.add(k.remote, id);
        self.by_lineage.add(k.lineage, id);
        if k.half_open {
            self.half_open.insert(id);
        }
    }

    fn unindex(&mut self, id: IkeSaId, k: Keys) {
        self.by_remote.del(k.remote, id);
        self.by_lineage.del(k.lineage, id);
        self.half_open.remove(&id);
    }

    /// Reindexes every SA handed out mutably since the last refresh.
    pub(super) fn refresh(&mut self) {
        while let Some(id) = self.stale.pop() {
            self.reindex(id);
        }
    }

    /// Brings the indexes of `id` up to date after its state, path, lineage or peer changed.
    fn reindex(&mut self, id: IkeSaId) {
        let Some(sa) = self.map.get_mut(&id) else {
            return;
        };
        let k = Keys::of(sa);
        let Some(old) = sa.indexed.replace(k) else {
            return;
        };
        if old != k {
            self.unindex(id, old);
            self.index(id, k);
        }
    }

    pub(super) fn remove(&mut self, id: &IkeSaId) -> Option<Box<IkeSa>> {
        let sa = self.map.remove(id)?;
        self.order.remove(id);
        if let Some(k) = sa.indexed {
            self.unindex(*id, k);
        }
        if self.by_ci.get(&sa.ci) == Some(id) {
            self.by_ci.remove(&sa.ci);
            // The next SA of the same cookie, if any, takes the main slot.
            let next = self
                .ci_more
                .range((sa.ci, IkeSaId(0))..=(sa.ci, IkeSaId(u32::MAX)))
                .next()
                .copied();
            if let Some(n) = next {
                self.ci_more.remove(&n);
                self.by_ci.insert(n.0, n.1);
            }
        } else {
            self.ci_more.remove(&(sa.ci, sa.id));
        }
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

    /// Every SA, in conn-id order.
    pub(super) fn values(&self) -> impl DoubleEndedIterator<Item = &Box<IkeSa>> + '_ {
        self.order.iter().filter_map(|id| self.map.get(id))
    }

    /// Every conn-id, in order.
    pub(super) fn keys(&self) -> impl DoubleEndedIterator<Item = &IkeSaId> + '_ {
        self.order.iter()
    }

    /// The SAs with `remote`'s address, oldest first.
    pub(super) fn with_remote(&self, remote: IpAddr) -> impl DoubleEndedIterator<Item = &IkeSa> {
        self.by_remote
            .get(&remote)
            .filter_map(|id| self.map.get(&id).map(|b| &**b))
    }

    /// The SAs of `lineage`, oldest first.
    pub(super) fn of_lineage(&self, lineage: IkeSaId) -> impl DoubleEndedIterator<Item = &IkeSa> {
        self.by_lineage
            .get(&lineage)
            .filter_map(|id| self.map.get(&id).map(|b| &**b))
    }

    /// Responder SAs that have not reached QM_IDLE, oldest first.
    pub(super) fn half_open(&self) -> impl Iterator<Item = &IkeSa> {
        self.half_open
            .iter()
            .filter_map(|id| self.map.get(id).map(|b| &**b))
    }

    /// Number of responder SAs that have not reached QM_IDLE.
    pub(super) fn half_open_count(&self) -> usize {
        self.half_open.len()
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
        self.stale.push(*id);
        Some(sa)
    }

    /// One SA whose timers may have changed (reindexed on the way out).
    pub(super) fn take_dirty(&mut self) -> Option<IkeSaId> {
        let id = self.dirty.pop()?;
        self.reindex(id);
        if self.dirty.is_empty() {
            self.stale.clear();
        }
        Some(id)
    }

    /// The SAs whose initiator cookie is `ci` (one, except for a collision or an attack).
    pub(super) fn with_ci(&self, ci: [u8; 8]) -> impl Iterator<Item = &IkeSa> + '_ {
        self.by_ci
            .get(&ci)
            .into_iter()
            .copied()
            .chain(
                self.ci_more
                    .range((ci, IkeSaId(0))..=(ci, IkeSaId(u32::MAX)))
                    .map(|(_, id)| *id),
            )
            .filter_map(|id| self.map.get(&id).map(|b| &**b))
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
    /// A pair's lineage never changes.
    by_lineage: Multi<IkeSaId, ChildId>,
    /// The peer address as the pair was installed or last moved ([`ChildTable::set_path`]).
    by_remote: Multi<IpAddr, ChildId>,
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
        self.by_lineage.add(c.lineage, id);
        self.by_remote.add(c.path.remote.ip(), id);
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
        self.by_lineage.del(c.lineage, id);
        self.by_remote.del(c.path.remote.ip(), id);
    }

    /// The pairs of `lineage`, oldest first.
    pub(super) fn of_lineage(
        &self,
        lineage: IkeSaId,
    ) -> impl DoubleEndedIterator<Item = (ChildId, &Child)> {
        self.by_lineage
            .get(&lineage)
            .filter_map(|id| self.map.get(&id).map(|c| (id, &**c)))
    }

    /// The pairs with `remote`'s address, oldest first.
    pub(super) fn with_remote(
        &self,
        remote: IpAddr,
    ) -> impl DoubleEndedIterator<Item = (ChildId, &Child)> {
        self.by_remote
            .get(&remote)
            .filter_map(|id| self.map.get(&id).map(|c| (id, &**c)))
    }

    /// Moves pair `id` to `path` (NAT rebinding), keeping the address index right.
    pub(super) fn set_path(&mut self, id: ChildId, path: super::Path) {
        let Some(c) = self.map.get_mut(&id) else {
            return;
        };
        let old = c.path.remote.ip();
        c.path = path;
        self.by_remote.del(old, id);
        self.by_remote.add(path.remote.ip(), id);
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
    /// configured peer): nothing is marked for the timer table. The path is indexed: see
    /// [`ChildTable::set_path`].
    pub(super) fn peers_mut(&mut self) -> impl Iterator<Item = &mut Child> {
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
