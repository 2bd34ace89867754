//! Which SAs belong to which peer. A peer is not a configuration entry: every host that knows a
//! wildcard key (`crypto isakmp key K address 0.0.0.0 0.0.0.0`) matches the same entry, several
//! of them may sit behind one NAT address, and any of them could be hostile. So every ISAKMP SA
//! has a lineage (the chain of Phase 1 rekeys it belongs to), every IPsec SA inherits the lineage
//! of the ISAKMP SA that negotiated it, and a peer's Delete, INITIAL-CONTACT or path change acts
//! only within its own lineage.

use super::*;

/// SPIs one Delete payload may name; a longer list is ignored whole. Peers delete one or two SAs
/// per payload; a long list is only useful to probe for other peers' SPIs.
pub(super) const MAX_DELETE_SPIS: usize = 32;

impl Endpoint {
    /// Whether two ISAKMP-level views name the same peer: for a wildcard entry the same remote
    /// address and port (each NAT mapping is its own host), for an entry with an address any
    /// port of that address (the key is bound to it, as on IOS).
    fn same_peer(&self, a: (PeerId, SocketAddr), b: (PeerId, SocketAddr)) -> bool {
        let (Some(pa), Some(pb)) = (self.peer(a.0), self.peer(b.0)) else {
            return false;
        };
        if pa.address.is_unspecified() || pb.address.is_unspecified() {
            a.0 == b.0 && a.1 == b.1
        } else {
            pa.address == pb.address && a.1.ip() == b.1.ip()
        }
    }

    /// Main Mode of `id` completed: it joins the lineage of the peer it authenticated as. A
    /// replacement we started already carries the old SA's lineage; otherwise an established
    /// ISAKMP SA or IPsec SA of the same peer (see [`Endpoint::same_peer`]) names it, which is
    /// how the peer's own Phase 1 rekey, or a new Phase 1 after the old one was deleted, takes
    /// over the IPsec SAs it already has.
    pub(super) fn join_lineage(&mut self, id: IkeSaId) {
        let Some(sa) = self.sas.get(&id) else { return };
        if sa.lineage != id {
            return;
        }
        let me = (sa.peer, sa.path.remote);
        // The same peer always has the same address (see `same_peer`): the address indexes
        // name every candidate.
        self.sas.refresh();
        let from_sa = self
            .sas
            .with_remote(me.1.ip())
            .filter(|s| s.id != id && s.state == P1State::QmIdle)
            .filter(|s| self.same_peer(me, (s.peer, s.path.remote)))
            .max_by_key(|s| s.established)
            .map(|s| s.lineage);
        let lineage = from_sa.or_else(|| {
            self.children
                .with_remote(me.1.ip())
                .rev()
                .find(|(_, c)| self.same_peer(me, (c.peer, c.path.remote)))
                .map(|(_, c)| c.lineage)
        });
        if let (Some(l), Some(sa)) = (lineage, self.sas.get_mut(&id)) {
            sa.lineage = l;
        }
        self.sas.refresh();
    }

    /// The established ISAKMP SA of a lineage to send on: `preferred` while it is up, else the
    /// most recently established one.
    pub(super) fn live_sa(&self, lineage: IkeSaId, preferred: IkeSaId) -> Option<IkeSaId> {
        let up = |s: &IkeSa| s.state == P1State::QmIdle && s.lineage == lineage;
        if self.sas.get(&preferred).is_some_and(|s| up(s)) {
            return Some(preferred);
        }
        // The lineage index may lag a mutation of this call; the filter re-checks, and a
        // lineage changes only when Main Mode completes, which refreshes before anything asks.
        self.sas
            .of_lineage(lineage)
            .filter(|s| up(s))
            .max_by_key(|s| s.established)
            .map(|s| s.id)
    }

    /// The lineage of an ISAKMP SA.
    pub(super) fn lineage_of(&self, id: IkeSaId) -> Option<IkeSaId> {
        self.sas.get(&id).map(|s| s.lineage)
    }
}
