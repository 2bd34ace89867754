//! A new configuration for a running endpoint: the SAs of peers that did not change keep
//! running under their new index; the others are cleared as `clear crypto sa` clears them
//! (Deletes sent for IPsec and ISAKMP SAs alike), so the next packet negotiates afresh.

use super::*;

impl Endpoint {
    /// Replaces the configuration. `keep` maps each old peer index whose policy is unchanged to
    /// its index in `config`; every SA of any other peer (and any negotiation with it) is
    /// deleted first, with Deletes to the peer and [`Event::Phase2Deleted`] /
    /// [`Event::Phase1Deleted`] carrying the *old* peer indexes. Global settings (DPD, NAT
    /// keepalive, retransmission) apply to the kept SAs from now on.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: EndpointConfig,
        keep: impl Fn(PeerId) -> Option<PeerId>,
    ) {
        let children: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, c)| keep(c.peer).is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in children {
            if let Some(c) = self.remove_child(id, DeleteReason::LocalRequest) {
                self.send_delete_esp(now, c.ike_sa, c.lineage, c.spi_in);
            }
        }
        let sas: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| keep(s.peer).is_none())
            .map(|s| s.id)
            .collect();
        for id in sas {
            self.send_delete_isakmp(now, id);
            self.remove_sa(id, DeleteReason::LocalRequest);
        }
        let ids: Vec<IkeSaId> = self.sas.keys().copied().collect();
        for id in ids {
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.peer = keep(sa.peer).unwrap_or(sa.peer);
            }
        }
        for c in self.children.peers_mut() {
            c.peer = keep(c.peer).unwrap_or(c.peer);
        }
        self.linger = retransmit::linger_of(&config.retransmit);
        self.config = config;
        // Every SA is dirty from `get_mut`: their deadlines follow the new settings.
        self.flush_timers();
    }
}
