//! A new configuration for running tunnels (`ipsec-engine reload`): crypto map entries whose
//! policy did not change keep their SAs and counters, under their new index; changed or removed
//! entries are cleared as `clear crypto sa` would (Deletes sent), new ones start idle.

use super::flows::flows_of;
use super::*;
use crate::ike::PeerId;

/// What [`Tunnels::reconfigure`] did, entries named `MAP SEQ`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Unchanged entries: their SAs kept running.
    pub kept: Vec<String>,
    /// Entries that changed or went away: their SAs were deleted.
    pub cleared: Vec<String>,
    /// Entries that are new.
    pub added: Vec<String>,
}

fn name(e: &MapEntryInfo) -> String {
    match &e.dynamic {
        Some((d, s)) => format!("{} {} (dynamic {d} {s})", e.map, e.seq),
        None => format!("{} {}", e.map, e.seq),
    }
}

/// Everything of an entry the data path and the peer see, apart from its position.
fn same_entry(a: &MapEntryInfo, b: &MapEntryInfo) -> bool {
    a.map == b.map
        && a.seq == b.seq
        && a.interface == b.interface
        && a.local == b.local
        && a.peers == b.peers
        && a.default_peer == b.default_peer
        && a.acl == b.acl
        && a.line_selector == b.line_selector
        && a.pfs_group == b.pfs_group
        && a.dynamic == b.dynamic
        && a.replay_window == b.replay_window
        && a.isakmp_profile == b.isakmp_profile
        // Pairs get their idle deadline when installed: a changed idle time renegotiates.
        && a.idle_time == b.idle_time
        // Pairs take the df-bit when installed: a changed one renegotiates, as on a router
        // the new setting applies to new SAs.
        && a.df_bit == b.df_bit
        && a.local_interface == b.local_interface
        && a.any_proxies == b.any_proxies
        && a.vti == b.vti
}

impl Tunnels {
    /// Whether old entry `i` negotiates as `new` (built from `config`) would. A failover
    /// changed only the address and key the endpoint uses for it, so those are compared
    /// through the keys every candidate peer gets under each configuration.
    fn same_peer_policy(
        &self,
        i: usize,
        config: &GatewayConfig,
        new: &MapEntryInfo,
        new_peer: Option<&crate::ike::PeerConfig>,
    ) -> bool {
        let (Some(old), Some(old_pc), Some(new_pc)) = (
            self.entries.get(i),
            self.endpoint.config().peers.get(i),
            new_peer,
        ) else {
            return false;
        };
        let rest = crate::ike::PeerConfig {
            address: new_pc.address,
            psk: new_pc.psk.clone(),
            ..old_pc.clone()
        };
        let key = |cfg: &GatewayConfig, e: &MapEntryInfo, p: Ipv4Addr| {
            let profile = e
                .isakmp_profile
                .as_deref()
                .and_then(|n| cfg.isakmp_profile(n));
            cfg.entry_key(p, e.local, profile).ok()
        };
        rest == *new_pc
            && old
                .peers
                .iter()
                .all(|p| key(&self.config, old, *p) == key(config, new, *p))
    }

    /// Runs `config` from now on. An entry (`crypto map NAME SEQ`) whose negotiated policy is
    /// unchanged (peer, key, ISAKMP policies, transform sets, PFS, lifetimes, crypto ACL, local
    /// address) keeps its IPsec and ISAKMP SAs, so its traffic is not interrupted; a changed
    /// or removed entry's SAs are deleted with Deletes to the peer, and the next packet it
    /// protects negotiates under the new policy. A configuration that does not build is
    /// refused and the running one stays.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: GatewayConfig,
        out: &mut Outputs,
    ) -> Result<Reconfigured, BuildError> {
        let built = build(&config, self.local_override)?;
        let keep: Vec<Option<usize>> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, old)| {
                built.entries.iter().position(|new| {
                    same_entry(old, new)
                        && self.same_peer_policy(
                            i,
                            &config,
                            new,
                            built.endpoint.peers.get(new.peer.0),
                        )
                })
            })
            .collect();
        let mut report = Reconfigured::default();
        for (i, e) in self.entries.iter().enumerate() {
            match keep.get(i).copied().flatten() {
                Some(_) => report.kept.push(name(e)),
                None => report.cleared.push(name(e)),
            }
        }
        for (j, e) in built.entries.iter().enumerate() {
            if !keep.contains(&Some(j))
                && !self
                    .entries
                    .iter()
                    .any(|o| o.map == e.map && o.seq == e.seq)
            {
                report.added.push(name(e));
            }
        }
        // The endpoint deletes what is not kept and reports it with the old indexes, which the
        // tables here still use until the swap below.
        self.endpoint.reconfigure(now, built.endpoint.clone(), |p| {
            keep.get(p.0).copied().flatten().map(PeerId)
        });
        self.pump(now, out);

        let (mut flows, flow_base) = flows_of(&built.endpoint.peers, &built.entries);
        let mut flow_map = vec![None; self.flows.len()];
        for (old_i, f) in std::mem::take(&mut self.flows).into_iter().enumerate() {
            let Some(new_entry) = keep.get(f.entry).copied().flatten() else {
                continue;
            };
            // Same peer configuration: same selectors in the same order.
            let Some(new_i) = flow_base.get(new_entry).map(|b| b + f.selector) else {
                continue;
            };
            if let Some(slot) = flows.get_mut(new_i) {
                let (dynamic, any_proxies) = (slot.dynamic, slot.any_proxies);
                *slot = Flow {
                    entry: new_entry,
                    dynamic,
                    any_proxies,
                    ..f
                };
                flow_map[old_i] = Some(new_i);
            }
        }
        // Children of cleared entries are gone (uninstalled by the pump); any left whose flow
        // has no successor would be unreachable, so they go too.
        let orphans = self
            .children
            .ids_where(|c| flow_map.get(c.flow).copied().flatten().is_none());
        for id in orphans {
            let _ = self.endpoint.delete_child(now, id);
            self.uninstall(now, id);
        }
        for c in self.children.values_mut() {
            if let Some(n) = flow_map.get(c.flow).copied().flatten() {
                c.flow = n;
            }
        }
        self.flows = flows;
        self.flow_base = flow_base;
        self.classifier = classify::Classifier::new(&built.entries, &self.flow_base);
        for e in &built.entries {
            self.history.reserve(IpAddr::V4(e.peer_addr));
        }
        // A kept entry stays on the peer a failover moved it to.
        let mut entries = built.entries;
        for (i, old) in self.entries.iter().enumerate() {
            let Some(j) = keep.get(i).copied().flatten() else {
                continue;
            };
            let Some(new) = entries.get_mut(j) else {
                continue;
            };
            if new.peer_addr != old.peer_addr {
                let profile = new
                    .isakmp_profile
                    .as_deref()
                    .and_then(|p| config.isakmp_profile(p));
                if let Ok(key) = config.entry_key(old.peer_addr, new.local, profile) {
                    let pid = PeerId(j);
                    if self
                        .endpoint
                        .set_peer_address(pid, old.peer_addr, key)
                        .is_ok()
                    {
                        new.peer_addr = old.peer_addr;
                    }
                }
            }
        }
        self.entries = entries;
        // VTIs: a kept one keeps its line protocol; one without a pair (re)initiates now.
        let (mut vtis, by_number) = vti::vtis_of(&self.entries, &self.flow_base, &config);
        for v in &mut vtis {
            let up = self.flows.get(v.flow).is_some_and(|f| !f.live.is_empty());
            let was = self
                .vti_by_number
                .get(&v.number)
                .and_then(|i| self.vtis.get(*i))
                .is_some_and(|o| o.line_up);
            v.line_up = up;
            v.next_attempt = (!up).then_some(now);
            if was && !up {
                let iface = v.number;
                self.push_event(TunnelEvent::LineProtocol { iface, up: false });
            }
        }
        self.vtis = vtis;
        self.vti_by_number = by_number;
        self.ezvpns = ezvpn::ezvpns_of(&self.entries, &self.flow_base, &config);
        self.refresh_vti_due();
        self.skipped = built.skipped;
        self.transforms = transforms_of(&built.endpoint.peers);
        self.mss_clamp = mss_clamp_of(&config);
        let tun_mtu = plaintext_floor(&self.transforms, self.path_mtu);
        if tun_mtu != self.tun_mtu {
            self.tun_mtu = tun_mtu;
            out.set_tun_mtu(tun_mtu);
        }
        self.config = config;
        self.rri_rebuild();
        self.pump(now, out);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::polled::tests::{carry, ping, SITE_A, SITE_B};
    use super::super::{CoreOptions, TunVerdict, Tunnel, TunnelError, TunnelEvent};
    use crate::time::Instant;

    const HOST_A: [u8; 4] = [192, 168, 1, 10];
    const HOST_B: [u8; 4] = [192, 168, 2, 10];

    /// Exchanges datagrams both ways for a while.
    fn settle(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant) {
        for _ in 0..20 {
            carry(a, b, *now);
            carry(b, a, *now);
            *now = Instant::from_millis(now.as_millis() + 10);
        }
    }

    /// (installed, removed) inbound SPIs among the events queued.
    fn sa_events(t: &mut Tunnel) -> (Vec<u32>, Vec<u32>) {
        let (mut up, mut down) = (Vec::new(), Vec::new());
        while let Some(e) = t.poll_event() {
            match e {
                TunnelEvent::IpsecUp { spi_in, .. } => up.push(spi_in),
                TunnelEvent::IpsecDown { spi_in, .. } => down.push(spi_in),
                _ => {}
            }
        }
        (up, down)
    }

    fn pings_pass(a: &mut Tunnel, b: &mut Tunnel, now: Instant, seq: u16) {
        let p = ping(HOST_A, HOST_B, seq);
        assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
        assert_eq!(carry(a, b, now), vec![p]);
        let r = ping(HOST_B, HOST_A, seq);
        assert_eq!(b.handle_plaintext(now, &r), TunVerdict::Protected);
        assert_eq!(carry(b, a, now), vec![r]);
    }

    fn up_pair() -> (Tunnel, Tunnel, Instant, u32) {
        let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        assert_eq!(
            a.handle_plaintext(now, &ping(HOST_A, HOST_B, 0)),
            TunVerdict::NoSa
        );
        settle(&mut a, &mut b, &mut now);
        let (up, _) = sa_events(&mut a);
        assert_eq!(up.len(), 1, "one SA pair at site A");
        sa_events(&mut b);
        pings_pass(&mut a, &mut b, now, 1);
        (a, b, now, up[0])
    }

    /// Site A's configuration with an entry in front of `VPN 10` (which moves to index 1).
    fn with_entry_before() -> String {
        let mut text = SITE_A.replace(
            "crypto map VPN 10 ipsec-isakmp",
            "crypto map VPN 5 ipsec-isakmp\n set peer 203.0.113.9\n set transform-set TRANSFORM\n match address 110\ncrypto map VPN 10 ipsec-isakmp",
        );
        text.push_str("crypto isakmp key otherkey address 203.0.113.9\n");
        text.push_str("access-list 110 permit ip 192.168.1.0 0.0.0.255 192.168.9.0 0.0.0.255\n");
        text
    }

    #[test]
    fn an_unchanged_entry_keeps_its_sas_and_a_changed_one_renegotiates() {
        let (mut a, mut b, mut now, spi) = up_pair();

        let grown = with_entry_before();
        let r = a.reconfigure_ios(now, &grown).unwrap();
        assert_eq!(r.kept, ["VPN 10"]);
        assert_eq!(r.added, ["VPN 5"]);
        assert!(r.cleared.is_empty(), "{r:?}");
        assert_eq!(a.tunnels().entries()[1].seq, 10, "VPN 10 moved to index 1");
        assert_eq!(sa_events(&mut a), (vec![], vec![]), "no SA touched");
        assert!(
            carry(&mut a, &mut b, now).is_empty(),
            "no Delete, no new negotiation"
        );
        // The same SA pair carries on, counters included.
        pings_pass(&mut a, &mut b, now, 2);
        assert_eq!(sa_events(&mut a), (vec![], vec![]));
        let show = a.show(
            now,
            super::super::Show::IpsecSa {
                peer: None,
                detail: false,
            },
        );
        assert!(show.contains("#pkts encaps: 2"), "{show}");
        assert!(show.contains(&format!("0x{spi:X}")), "{show}");

        let changed = grown.replace(
            " match address 100",
            " match address 100\n set security-association lifetime seconds 1800",
        );
        let r = a.reconfigure_ios(now, &changed).unwrap();
        assert_eq!(r.cleared, ["VPN 10"]);
        assert_eq!(r.kept, ["VPN 5"]);
        assert_eq!(
            sa_events(&mut a),
            (vec![], vec![spi]),
            "the old pair is gone"
        );
        settle(&mut a, &mut b, &mut now);
        assert_eq!(
            sa_events(&mut b).1.len(),
            1,
            "B deleted its pair on our Delete"
        );
        // The next packet negotiates under the new policy.
        assert_eq!(
            a.handle_plaintext(now, &ping(HOST_A, HOST_B, 3)),
            TunVerdict::NoSa
        );
        settle(&mut a, &mut b, &mut now);
        let (up, _) = sa_events(&mut a);
        assert_eq!(up.len(), 1);
        assert_ne!(up[0], spi);
        pings_pass(&mut a, &mut b, now, 4);
    }

    #[test]
    fn a_configuration_that_does_not_build_is_refused_and_the_running_one_stays() {
        let (mut a, mut b, now, _) = up_pair();
        let unapplied = SITE_A.replace(" crypto map VPN\n", "\n");
        assert!(matches!(
            a.reconfigure_ios(now, &unapplied),
            Err(TunnelError::Build(_))
        ));
        assert!(matches!(
            a.reconfigure_ios(now, "crypto map VPN 10 ipsec-isakmp\n set peer 999.1.1.1\n"),
            Err(TunnelError::Config(_))
        ));
        assert_eq!(sa_events(&mut a), (vec![], vec![]));
        pings_pass(&mut a, &mut b, now, 2);
    }
}
