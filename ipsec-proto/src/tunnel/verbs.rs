//! The verbs every embedder calls: packets and datagrams in, timers, the next deadline, and
//! going down.

use super::*;

/// The verbs an embedder drives the tunnels with.
impl Tunnels {
    /// The MTU the protected side should use (the plaintext MTU over the path MTU).
    pub fn tun_mtu(&self) -> u32 {
        self.tun_mtu
    }

    /// A cleartext packet from the protected side. Every verdict is counted (see
    /// [`TunVerdict`]); a packet no crypto ACL permits is dropped, never sent in clear.
    pub fn handle_plaintext(&mut self, now: Instant, pkt: &[u8], out: &mut Outputs) -> TunVerdict {
        self.protect(now, pkt, out)
    }

    /// A UDP datagram received on port 500 or 4500: IKE (with or without the non-ESP marker),
    /// ESP in UDP, or a NAT keepalive. `Err` says why it was dropped (it is counted either way).
    pub fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
        out: &mut Outputs,
    ) -> Result<(), Dropped> {
        let path = Path {
            local: SocketAddr::V4(local),
            remote: SocketAddr::V4(remote),
        };
        if local.port() == 500 || remote.port() == 500 {
            return self.ike_input(now, path, data, out);
        }
        match classify_udp4500(data) {
            Udp4500::Ike(_) => self.ike_input(now, path, data, out),
            Udp4500::Esp(esp) => self.receive_esp(now, *remote.ip(), esp, out),
            Udp4500::Keepalive => {
                self.counters.keepalives += 1;
                Ok(self.endpoint.handle_datagram(now, path, data)?)
            }
            Udp4500::Malformed(_) => {
                self.counters.malformed += 1;
                Err(Dropped::MalformedUdp4500)
            }
        }
    }

    /// A raw ESP packet (IP protocol 50, from the SPI on) from `src`. `Err` says why it was
    /// dropped (it is counted either way).
    pub fn handle_esp(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        data: &[u8],
        out: &mut Outputs,
    ) -> Result<(), Dropped> {
        // Raw ESP for an SA we run in UDP 4500: the peer does not float (see `diagnose`).
        let floated = crate::esp::peek_spi(data)
            .and_then(|spi| self.children.by_spi(spi))
            .is_some_and(|(_, c)| matches!(c.dest, Dest::Udp { .. }));
        if floated {
            self.history.record(
                IpAddr::V4(src),
                now,
                crate::diagnose::Happening::RawEspBehindNat,
            );
        }
        self.receive_esp(now, src, data, out)
    }

    /// The deadline of [`Tunnels::poll_timeout`] has passed (or anything earlier): runs
    /// retransmissions, lifetimes, rekeys, DPD and NAT keepalives.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Outputs) {
        if self.usage_due.is_some_and(|t| t <= now) {
            self.report_usage(now, out);
        }
        self.endpoint.handle_timeout(now);
        self.pat_expire(now);
        self.pump(now, out);
        if self.idle.next().is_some_and(|t| t <= now) {
            self.idle_check(now, out);
        }
        self.vti_timeout(now, out);
        if self.ezvpn_due().is_some_and(|t| t <= now) {
            self.ezvpn_timeout(now, out);
        }
    }

    /// When to call [`Tunnels::handle_timeout`] next (a VTI that is to initiate at start asks
    /// for the epoch: as soon as possible).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.usage_due,
            self.idle.next(),
            self.vti_due,
            self.ezvpn_due(),
            self.pat_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Going down: Deletes for every IPsec SA pair and ISAKMP SA.
    pub fn shutdown(&mut self, now: Instant, out: &mut Outputs) {
        let children = self.children.ids_where(|_| true);
        for c in children {
            let _ = self.endpoint.delete_child(now, c);
        }
        self.pump(now, out);
        self.clear_isakmp(now, None, out);
        self.rri_withdraw_all();
    }
}
