//! Rekeying: soft expiry of IPsec SA pairs (time and volume) and replacement of the ISAKMP SA.

use super::*;

impl Endpoint {
    /// When we rekey a pair: the side that negotiated it goes first; the other side waits half
    /// the margin longer and only acts if the peer has not rekeyed by then (IOS rekeys from
    /// whichever side's timer fires; the offset keeps collisions rare).
    pub(super) fn soft_expiry(&self, c: &Child) -> Instant {
        let life = Duration::from_secs(u64::from(c.lifetime_secs));
        let mut margin = self.config.rekey_margin.min(life / 2);
        if c.role == Role::Responder {
            margin /= 2;
        }
        c.established + life.saturating_sub(margin)
    }

    /// Starts a rekey of an IPsec SA pair now (new Quick Mode; the old pair keeps working).
    pub fn rekey_child(&mut self, now: Instant, child: ChildId) -> Result<(), Error> {
        let r = self.rekey_child_inner(now, child);
        self.flush_timers();
        r
    }

    fn rekey_child_inner(&mut self, now: Instant, child: ChildId) -> Result<(), Error> {
        let c = self.children.get_mut(&child).ok_or(ApiMisuse::NoSuchSa)?;
        c.rekey_started = true;
        let (peer, sel, selectors) = (c.peer, c.selector_index, c.selectors);
        match sel {
            Some(s) => self.initiate_inner(now, peer, s, Some(child)),
            None => {
                // A pair we accepted as responder for identities not tied to a line: find the line.
                let idx = self
                    .peer(peer)
                    .and_then(|p| p.selectors.iter().position(|x| *x == selectors))
                    .ok_or(ApiMisuse::NoSuchSelector(usize::MAX))?;
                self.initiate_inner(now, peer, idx, Some(child))
            }
        }
    }

    pub(super) fn phase1_rekey_at(&self, sa: &IkeSa) -> Option<Instant> {
        let pct = u64::from(self.config.phase1_rekey_percent);
        if pct == 0 || pct >= 100 || sa.role != Role::Initiator || sa.rekeyed {
            return None;
        }
        let (Some(est), Some(exp)) = (sa.established, sa.expires) else {
            return None;
        };
        let life = exp.saturating_duration_since(est).as_millis();
        let at = u64::try_from(life).unwrap_or(u64::MAX).saturating_mul(pct) / 100;
        Some(Instant::from_millis(est.as_millis().saturating_add(at)))
    }

    /// Replaces an ISAKMP SA before it expires, while IPsec SAs with the peer need one.
    pub(super) fn phase1_rekey(&mut self, now: Instant, id: IkeSaId) {
        let Some(sa) = self.sas.get(&id) else { return };
        if self.phase1_rekey_at(sa).is_none_or(|t| t > now) {
            return;
        }
        let (peer, lineage) = (sa.peer, sa.lineage);
        let needed = self.children.of_lineage(lineage).next().is_some();
        let path = Path {
            local: SocketAddr::new(sa.path.local.ip(), 500),
            remote: SocketAddr::new(sa.path.remote.ip(), 500),
        };
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.rekeyed = true;
        }
        if needed {
            match self.start_phase1(now, peer, path, Vec::new()) {
                // The replacement speaks for the same peer and takes over its IPsec SAs.
                Ok(new) => {
                    if let Some(sa) = self.sas.get_mut(&new) {
                        sa.lineage = lineage;
                    }
                    self.sas.refresh();
                }
                Err(e) => self.fail(Some(peer), path.remote, 1, e),
            }
        }
    }
}
