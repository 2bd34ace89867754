//! Backup peers (several `set peer` lines): an entry whose peer does not answer Main Mode, or
//! is declared dead by DPD, moves to the next one, as IOS does.

use super::*;

impl Tunnels {
    /// Moves entry `i` to its next `set peer` (IOS order; back to the default peer when there
    /// is one and a backup failed). Negotiations from now on go there; nothing fails back by
    /// itself.
    pub(super) fn fail_over(&mut self, i: usize, out: &mut Outputs) {
        let Some(e) = self.entries.get(i) else { return };
        let n = e.peers.len();
        if n < 2 {
            return;
        }
        let cur = e.peers.iter().position(|p| *p == e.peer_addr).unwrap_or(0);
        let next = if e.default_peer && cur != 0 {
            0
        } else {
            (cur + 1) % n
        };
        self.switch_peer(i, next, "failed", out);
    }

    /// `set security-association idle-time S default`: entry `i`'s pair was deleted for
    /// idling; when it is on a backup peer it goes back to its first one.
    pub(super) fn return_to_default_peer(&mut self, i: usize, out: &mut Outputs) {
        let Some(e) = self.entries.get(i) else { return };
        if e.peers.first().is_none_or(|p| *p == e.peer_addr) {
            return;
        }
        self.switch_peer(i, 0, "idle", out);
    }

    /// Entry `i` negotiates with `peers[next]` from now on.
    fn switch_peer(&mut self, i: usize, next: usize, why: &str, out: &mut Outputs) {
        let Some(e) = self.entries.get(i) else { return };
        let (from, to) = (
            e.peer_addr,
            e.peers.get(next).copied().unwrap_or(e.peer_addr),
        );
        let (map, seq) = (e.map.clone(), e.seq);
        let profile = e
            .isakmp_profile
            .as_deref()
            .and_then(|p| self.config.isakmp_profile(p));
        // Build kept only peers with a usable key.
        let Ok(key) = self.config.entry_key(to, e.local, profile) else {
            return;
        };
        if self
            .endpoint
            .set_peer_address(crate::ike::PeerId(i), to, key)
            .is_err()
        {
            return;
        }
        if let Some(e) = self.entries.get_mut(i) {
            e.peer_addr = to;
        }
        self.history.reserve(IpAddr::V4(to));
        out.debug(
            DebugKind::Ipsec,
            format_args!(
                "IPSEC(crypto_map): peer {from} of crypto map {map} {seq} {why}; using peer {to}"
            ),
        );
        self.push_event(TunnelEvent::PeerChanged { entry: i, from, to });
    }
}

#[cfg(test)]
mod tests {
    use super::super::polled::tests::{carry, ping, SITE_A, SITE_B};
    use super::super::{CoreOptions, Show, TunVerdict, Tunnel, TunnelEvent};
    use crate::time::Instant;
    use std::net::Ipv4Addr;

    const HOST_A: [u8; 4] = [192, 168, 1, 10];
    const HOST_B: [u8; 4] = [192, 168, 2, 10];
    const DEAD: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

    /// Site A with a primary peer that never answers before site B.
    fn with_dead_primary(default: bool) -> String {
        let mark = if default { " default" } else { "" };
        let mut t = SITE_A.replace(
            " set peer 203.0.113.2",
            &format!(" set peer 203.0.113.9{mark}\n set peer 203.0.113.2"),
        );
        t.push_str("crypto isakmp key deadkey address 203.0.113.9\n");
        t
    }

    fn drain(t: &mut Tunnel) -> Vec<TunnelEvent> {
        std::iter::from_fn(|| t.poll_event()).collect()
    }

    /// Lets `a` retransmit into the void until it gives up on its peer; returns the time.
    fn until_peer_changed(a: &mut Tunnel, mut now: Instant) -> (Instant, Vec<TunnelEvent>) {
        let mut buf = vec![0u8; 65_536];
        for _ in 0..600 {
            while let Ok(Some(_)) = a.poll_transmit(&mut buf) {}
            now = Instant::from_millis(now.as_millis() + 500);
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
            let ev = drain(a);
            if ev
                .iter()
                .any(|e| matches!(e, TunnelEvent::PeerChanged { .. }))
            {
                return (now, ev);
            }
        }
        panic!("no failover");
    }

    #[test]
    fn an_unanswered_primary_hands_over_to_the_backup_and_stays_there() {
        let mut a = Tunnel::from_ios(&with_dead_primary(false), CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        assert_eq!(a.tunnels().entries()[0].peer_addr, DEAD);
        assert_eq!(
            a.handle_plaintext(now, &ping(HOST_A, HOST_B, 0)),
            TunVerdict::NoSa
        );
        let (later, ev) = until_peer_changed(&mut a, now);
        now = later;
        assert!(ev.contains(&TunnelEvent::PeerChanged {
            entry: 0,
            from: DEAD,
            to: Ipv4Addr::new(203, 0, 113, 2),
        }));
        let map = a.show(now, Show::CryptoMap);
        assert!(map.contains("Current peer: 203.0.113.2"), "{map}");
        assert!(map.contains("Peer = 203.0.113.9\n"), "{map}");
        // The next packet negotiates with the backup, which answers.
        assert_eq!(
            a.handle_plaintext(now, &ping(HOST_A, HOST_B, 1)),
            TunVerdict::NoSa
        );
        for _ in 0..20 {
            carry(&mut a, &mut b, now);
            carry(&mut b, &mut a, now);
            now = Instant::from_millis(now.as_millis() + 10);
        }
        let p = ping(HOST_A, HOST_B, 2);
        assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
        assert_eq!(carry(&mut a, &mut b, now), vec![p]);
        // A reload of the same configuration keeps the entry on the backup.
        let r = a.reconfigure_ios(now, &with_dead_primary(false)).unwrap();
        assert_eq!(r.kept, ["VPN 10"]);
        assert_eq!(
            a.tunnels().entries()[0].peer_addr,
            Ipv4Addr::new(203, 0, 113, 2)
        );
        let p = ping(HOST_A, HOST_B, 3);
        assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
        assert_eq!(carry(&mut a, &mut b, now), vec![p]);
    }

    #[test]
    fn with_a_default_peer_a_failing_backup_hands_back_to_it() {
        let text = with_dead_primary(true);
        assert!(
            crate::ios::render(&crate::ios::parse(&text).unwrap().config)
                .contains(" set peer 203.0.113.9 default\n")
        );
        let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
        let now = Instant::from_millis(1_000);
        assert!(a
            .show(now, Show::CryptoMap)
            .contains("Peer = 203.0.113.9 (default)"));
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 0));
        let (now, _) = until_peer_changed(&mut a, now);
        assert_eq!(
            a.tunnels().entries()[0].peer_addr,
            Ipv4Addr::new(203, 0, 113, 2)
        );
        // The backup does not answer either (site B is not there): back to the default.
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 1));
        let (_, ev) = until_peer_changed(&mut a, now);
        assert!(ev.contains(&TunnelEvent::PeerChanged {
            entry: 0,
            from: Ipv4Addr::new(203, 0, 113, 2),
            to: DEAD,
        }));
    }
}
