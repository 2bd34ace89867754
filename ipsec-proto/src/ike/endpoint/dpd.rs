//! Dead Peer Detection (RFC 3706): R-U-THERE / R-U-THERE-ACK, periodic and on-demand.

use super::*;

impl Endpoint {
    /// DPD with the peer of `sa`: its profile's `keepalive`, else the global one.
    pub(super) fn dpd_of(&self, sa: IkeSaId) -> Option<crate::policy::DpdConfig> {
        match self.sas.get(&sa) {
            Some(s) => self.dpd_for(s.peer),
            None => self.config.dpd,
        }
    }

    /// DPD with `peer`: its profile's `keepalive`, else the global one.
    pub(super) fn dpd_for(&self, peer: PeerId) -> Option<crate::policy::DpdConfig> {
        self.peer(peer).and_then(|c| c.dpd).or(self.config.dpd)
    }

    pub(super) fn send_r_u_there(&mut self, now: Instant, id: IkeSaId) {
        let retry = self.dpd_of(id).map_or(2, |d| d.retry_secs.max(1));
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        let seq = match sa.dpd.outstanding {
            Some(s) => s,
            None => {
                sa.dpd.seq = sa.dpd.seq.wrapping_add(1);
                sa.dpd.seq
            }
        };
        sa.dpd.outstanding = Some(seq);
        sa.dpd.next_at = Some(now + Duration::from_secs(u64::from(retry)));
        let spi = sa.isakmp_spi();
        let data = seq.to_be_bytes();
        self.send_notify(id, ProtocolId::ISAKMP, &spi, NotifyType::R_U_THERE, &data);
    }

    pub(super) fn dpd_timer(&mut self, now: Instant, id: IkeSaId) {
        let Some(cfg) = self.dpd_of(id) else { return };
        let Some(sa) = self.sas.get(&id) else { return };
        if sa.dpd.next_at.is_none_or(|t| t > now) {
            return;
        }
        if sa.dpd.outstanding.is_some() {
            if sa.dpd.retries >= 5 {
                let (peer, lineage) = (sa.peer, sa.lineage);
                // The peer is dead unless another ISAKMP SA of its lineage (a rekey) is up:
                // then only this SA went quiet and the IPsec SAs live on through the other.
                self.sas.refresh();
                let other_up = self
                    .sas
                    .of_lineage(lineage)
                    .any(|s| s.id != id && s.lineage == lineage && s.state == P1State::QmIdle);
                let children: Vec<ChildId> = if other_up {
                    Vec::new()
                } else {
                    self.children.of_lineage(lineage).map(|(k, _)| k).collect()
                };
                if !other_up {
                    self.events.push_back(Event::PeerDead { sa: id, peer });
                }
                self.remove_sa(id, DeleteReason::DpdTimeout);
                for child in children {
                    self.remove_child(child, DeleteReason::DpdTimeout);
                }
                return;
            }
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.dpd.retries += 1;
            }
            self.send_r_u_there(now, id);
            return;
        }
        let interval = Duration::from_secs(u64::from(cfg.interval_secs.max(1)));
        let periodic = matches!(cfg.mode, crate::policy::ipsec::DpdMode::Periodic);
        let idle = sa.last_rx_at + interval <= now;
        if periodic && idle {
            self.send_r_u_there(now, id);
        } else if let Some(sa) = self.sas.get_mut(&id) {
            sa.dpd.next_at = if periodic {
                // Not idle means the last packet is less than an interval old.
                Some(sa.last_rx_at + interval)
            } else {
                None
            };
        }
    }

    pub(super) fn maybe_on_demand_dpd(&mut self, now: Instant, child: ChildId) {
        let Some(c) = self.children.get(&child) else {
            return;
        };
        let Some(cfg) = self.dpd_for(c.peer) else {
            return;
        };
        let interval = Duration::from_secs(u64::from(cfg.interval_secs.max(1)));
        // Traffic leaves but nothing came back for an interval: ask.
        let quiet_in = c.last_in.is_none_or(|t| t + interval <= now);
        let sending = c.last_out.is_some_and(|o| c.last_in.is_none_or(|i| o > i));
        let (ike, lineage) = (c.ike_sa, c.lineage);
        if !(quiet_in && sending) {
            return;
        }
        let Some(id) = self.live_sa(lineage, ike) else {
            return;
        };
        let Some(sa) = self.sas.get(&id) else { return };
        if sa.state == P1State::QmIdle
            && sa.peer_dpd
            && sa.dpd.outstanding.is_none()
            && sa.last_rx_at + interval <= now
        {
            self.send_r_u_there(now, id);
        }
    }
}
