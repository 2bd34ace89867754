//! The crypto interface got a new address (`ip address dhcp|negotiated` renewed to another
//! lease): what IOS does then, for the tunnel layer. Every SA bound to the old address is
//! cleared, as `clear crypto sa` followed by `clear crypto isakmp` would, and the entries are
//! rebuilt on the new address, so the next packet they protect negotiates from it.

use super::*;

impl Tunnels {
    /// The address [`CoreOptions::local_addr`] gave, or the last one
    /// [`Tunnels::set_local_address`] set: the one every entry uses instead of the configured
    /// address. `None` when each entry uses its interface's configured address.
    pub fn local_address(&self) -> Option<Ipv4Addr> {
        self.local_override
    }

    /// Moves every entry to `addr` (the one local address of the engine). The IPsec and
    /// ISAKMP SAs go first; their Delete notifications are queued in `out` like those of the
    /// clear commands, and the caller decides whether they can still be sent (from an address
    /// the host no longer has they cannot: the engine discards them). Returns how many IPsec
    /// SA pairs and ISAKMP SAs were cleared. A configuration that does not build on `addr`
    /// (never the case for one that built on the old address) is refused and the old
    /// address stays, SAs cleared.
    pub fn set_local_address(
        &mut self,
        now: Instant,
        addr: Ipv4Addr,
        out: &mut Outputs,
    ) -> Result<(usize, usize), BuildError> {
        let pairs = self.clear_sa(now, None, out);
        let isakmp = self.clear_isakmp(now, None, out);
        if self.local_override == Some(addr) {
            return Ok((pairs, isakmp));
        }
        let old = self.local_override.replace(addr);
        // Every entry's local address differs, so reconfigure clears and rebuilds them all.
        if let Err(e) = self.reconfigure(now, self.config.clone(), out) {
            self.local_override = old;
            return Err(e);
        }
        Ok((pairs, isakmp))
    }
}

#[cfg(test)]
mod tests {
    use super::super::polled::tests::{ping, SITE_A};
    use super::super::{CoreOptions, Dest, Outputs, TunVerdict, Tunnels};
    use crate::time::Instant;
    use std::net::{Ipv4Addr, SocketAddrV4};

    /// The local ends of the IKE datagrams queued.
    fn ike_sources(out: &Outputs) -> Vec<SocketAddrV4> {
        out.packets()
            .filter_map(|(d, _)| match d {
                Dest::Udp { local, .. } => Some(local),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_address_clears_the_negotiation_and_the_next_packet_starts_from_it() {
        let old = Ipv4Addr::new(198, 51, 100, 2);
        let new = Ipv4Addr::new(198, 51, 100, 3);
        let dhcp = SITE_A.replace(
            " ip address 198.51.100.1 255.255.255.0\n",
            " ip address dhcp\n",
        );
        assert_ne!(dhcp, SITE_A);
        let cfg = crate::ios::parse(&dhcp).unwrap().config;
        let opts = CoreOptions {
            local_addr: Some(old),
            ..CoreOptions::seeded(1)
        };
        let mut t = Tunnels::new(cfg, opts).unwrap();
        let mut out = Outputs::default();
        let mut now = Instant::from_millis(1_000);
        let p = ping([192, 168, 1, 10], [192, 168, 2, 10], 0);
        assert_eq!(t.handle_plaintext(now, &p, &mut out), TunVerdict::NoSa);
        assert_eq!(ike_sources(&out), [SocketAddrV4::new(old, 500)]);
        out.clear();

        let (pairs, isakmp) = t.set_local_address(now, new, &mut out).unwrap();
        assert_eq!(
            (pairs, isakmp),
            (0, 1),
            "the Main Mode under way is cleared"
        );
        assert_eq!(t.local_address(), Some(new));
        assert!(t.entries().iter().all(|e| e.local == new));
        out.clear();
        now = Instant::from_millis(2_000);
        assert_eq!(t.handle_plaintext(now, &p, &mut out), TunVerdict::NoSa);
        assert_eq!(
            ike_sources(&out),
            [SocketAddrV4::new(new, 500)],
            "a new Main Mode, from the new address"
        );
        let map = t.show(now, super::super::Show::CryptoMap);
        assert!(
            map.starts_with(
                "Crypto Map: \"VPN\" idb: FastEthernet4 local address: 198.51.100.3\n\n\
                 Crypto Map \"VPN\" 10 ipsec-isakmp\n"
            ),
            "{map}"
        );
        let fixed = Tunnels::new(
            crate::ios::parse(SITE_A).unwrap().config,
            CoreOptions::seeded(1),
        )
        .unwrap();
        let map = fixed.show(now, super::super::Show::CryptoMap);
        assert!(
            !map.contains("idb:"),
            "a configured address is not repeated: {map}"
        );
        // The same address again: SAs cleared, nothing rebuilt.
        out.clear();
        assert_eq!(t.set_local_address(now, new, &mut out).unwrap(), (0, 1));
        assert_eq!(t.local_address(), Some(new));
    }
}
