//! Commands on the tunnels: `clear crypto sa`, deleting or rekeying one SA pair, `clear crypto
//! isakmp`, and path MTU changes the host learned.

use super::*;

impl Tunnels {
    /// Deletes the IPsec SA pairs of `peer` (all when `None`), sending Deletes, and resets the
    /// counters of their flows (`clear crypto sa [peer X]`).
    pub fn clear_sa(&mut self, now: Instant, peer: Option<Ipv4Addr>, out: &mut Outputs) -> usize {
        // The entry's `set peer`, or the pair's own peer (a dynamic entry's learned peers are
        // no `set peer`).
        let victims = self.children.ids_where(|c| {
            peer.is_none_or(|p| {
                c.peer() == Some(p)
                    || self
                        .flows
                        .get(c.flow)
                        .and_then(|f| self.entries.get(f.entry))
                        .is_some_and(|e| e.peer_addr == p)
            })
        });
        for id in &victims {
            let _ = self.endpoint.delete_child(now, *id);
        }
        self.pump(now, out);
        for f in self.flows.iter_mut() {
            let hit = peer.is_none_or(|p| {
                self.entries
                    .get(f.entry)
                    .is_some_and(|e| e.peer_addr == p || e.dynamic.is_some())
            });
            if hit {
                f.retired = EspStats::default();
                f.invalid_identity = 0;
            }
        }
        victims.len()
    }

    /// Deletes the one IPsec SA pair whose inbound SPI is `spi_in` (the SPI `show crypto ipsec
    /// sa` lists under `inbound esp sas`), sending a Delete (IOS: `clear crypto sa entry`). The
    /// flow's counters stay. `Err` when no pair has that SPI.
    pub fn delete_sa(
        &mut self,
        now: Instant,
        spi_in: u32,
        out: &mut Outputs,
    ) -> Result<(), crate::ike::Error> {
        let (id, _) = self
            .children
            .by_spi(spi_in)
            .ok_or(crate::ike::ApiMisuse::NoSuchSa)?;
        let r = self.endpoint.delete_child(now, id);
        self.pump(now, out);
        r
    }

    /// Starts a Quick Mode now that replaces the IPsec SA pair whose inbound SPI is `spi_in`,
    /// as its lifetime would (the old pair keeps carrying traffic until the new one is up, and
    /// goes at its expiry). IOS has no such command; it is for tests and for a host that wants
    /// fresh keys early. `Err` when no pair has that SPI or no Quick Mode can start.
    pub fn rekey_sa(
        &mut self,
        now: Instant,
        spi_in: u32,
        out: &mut Outputs,
    ) -> Result<(), crate::ike::Error> {
        let (id, _) = self
            .children
            .by_spi(spi_in)
            .ok_or(crate::ike::ApiMisuse::NoSuchSa)?;
        let r = self.endpoint.rekey_child(now, id);
        self.pump(now, out);
        r
    }

    /// Deletes ISAKMP SAs (all, or the one with `conn_id`), sending Deletes
    /// (`clear crypto isakmp [conn-id]`). IPsec SAs stay, as in IKEv1.
    pub fn clear_isakmp(&mut self, now: Instant, conn_id: Option<u32>, out: &mut Outputs) -> usize {
        let ids: Vec<u32> = self
            .endpoint
            .isakmp_sas(now)
            .iter()
            .map(|s| s.conn_id)
            .filter(|c| conn_id.is_none_or(|x| x == *c))
            .collect();
        for id in &ids {
            let _ = self.endpoint.delete_isakmp_sa(now, IkeSaId(*id));
        }
        self.pump(now, out);
        ids.len()
    }

    /// (our address, peer address) of every crypto map entry: the paths whose MTU the event
    /// loop asks the kernel about.
    pub fn pmtu_peers(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        let mut v: Vec<(Ipv4Addr, Ipv4Addr)> = self
            .entries
            .iter()
            .map(|e| (e.local, e.peer_addr))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The path MTU towards `peer` is now `mtu` (the kernel learned it from ICMP
    /// fragmentation-needed answering our ESP, as IOS learns it for `path mtu`). The core keeps
    /// the smallest over all peers, recomputes the plaintext MTU and asks for the TUN MTU to
    /// follow, so the kernel sends fragmentation-needed to hosts for larger DF packets and
    /// fragments the others before encryption.
    pub fn set_path_mtu(&mut self, peer: Ipv4Addr, mtu: u32, out: &mut Outputs) {
        // Below 576 (RFC 791's minimum datagram) a report is bogus; above the interface MTU
        // there is nothing to gain.
        let mtu = u16::try_from(mtu)
            .unwrap_or(u16::MAX)
            .clamp(576, self.ip_mtu);
        if self.peer_mtu.insert(peer, mtu) == Some(mtu) {
            return;
        }
        let path = self.peer_mtu.values().copied().min().unwrap_or(self.ip_mtu);
        if path == self.path_mtu {
            return;
        }
        self.path_mtu = path;
        self.tun_mtu = plaintext_floor(&self.transforms, path);
        out.set_tun_mtu(self.tun_mtu);
        out.debug(
            DebugKind::Ipsec,
            format_args!(
                "IPSEC: path mtu to {peer} is {mtu}; plaintext mtu now {}",
                self.tun_mtu
            ),
        );
    }
}
