//! Installing the IPsec SA pairs IKE negotiated into the data path, and retiring them: the
//! newest pair of a flow carries its outbound traffic (rekey handover), older inbound SAs keep
//! receiving until deleted, and each SA's counters are folded into its flow when it goes.

use super::*;

fn entry_name(e: Option<&MapEntryInfo>) -> String {
    match e {
        Some(e) => match e.vti {
            Some(_) => e.interface.clone(),
            None => format!("crypto map {} {}", e.map, e.seq),
        },
        None => String::new(),
    }
}

impl Tunnels {
    pub(super) fn flow_for(&self, p: &Phase2Established) -> Option<usize> {
        let base = *self.flow_base.get(p.peer.0)?;
        if let Some(s) = p.selector_index {
            let fi = base + s;
            if self.flows.get(fi).is_some_and(|f| f.entry == p.peer.0) {
                return Some(fi);
            }
        }
        self.flows.iter().position(|f| {
            f.entry == p.peer.0
                && f.selectors.local.contains(&p.selectors.local)
                && f.selectors.remote.contains(&p.selectors.remote)
        })
    }

    pub(super) fn install(&mut self, now: Instant, p: Phase2Established, out: &mut Outputs) {
        let Some(fi) = self.flow_for(&p) else {
            out.debug(
                DebugKind::Ipsec,
                format_args!(
                    "IPSEC(initialize_sas): invalid proxy IDs (no crypto ACL line for them), SA pair not installed"
                ),
            );
            return;
        };
        let Some(entry) = self.entries.get(p.peer.0) else {
            return;
        };
        let (local, replay_window) = (entry.local, entry.replay_window);
        let deliver = entry.vti.map_or(Dest::Tun, Dest::Vti);
        let fresh = p.replaces.is_none().then(|| {
            let initiated = self.endpoint.child_role(p.child) == Some(crate::ike::Role::Initiator);
            (initiated, now)
        });
        let lifetime = LifetimeConfig::with_margins(
            LifetimeLimits {
                seconds: Some(u64::from(p.lifetime_secs)),
                kilobytes: crate::policy::volume_limit(p.lifetime_kb),
                packets: None,
            },
            SoftMargins::default(),
        );
        let esp_cfg = EspConfig {
            mode: crate::esp::EspMode::Tunnel,
            udp_encap: p.udp_encap,
            replay_window,
            lifetime,
        };
        let esp_cfg = EspConfig {
            mode: match p.mode {
                crate::policy::EspMode::Transport => crate::esp::EspMode::Transport,
                _ => crate::esp::EspMode::Tunnel,
            },
            ..esp_cfg
        };
        let spi_in = p.keys.inbound.spi();
        let spi_out = p.keys.outbound.spi();
        let inbound = match InboundSa::new(p.keys.inbound, esp_cfg, now) {
            Ok(s) => s,
            Err(e) => {
                out.debug(
                    DebugKind::Ipsec,
                    format_args!("IPSEC(create_sa): inbound SA refused: {e}"),
                );
                return;
            }
        };
        let outbound = match OutboundSa::new(p.keys.outbound, esp_cfg, now, &mut self.rng) {
            Ok(s) => s,
            Err(e) => {
                out.debug(
                    DebugKind::Ipsec,
                    format_args!("IPSEC(create_sa): outbound SA refused: {e}"),
                );
                return;
            }
        };
        let remote = v4(p.path.remote)
            .map(|r| *r.ip())
            .unwrap_or(entry.peer_addr);
        let peer_port = p.path.remote.port();
        let dest = if p.udp_encap {
            Dest::Udp {
                local: SocketAddrV4::new(local, 4500),
                remote: SocketAddrV4::new(remote, peer_port),
            }
        } else {
            Dest::Esp {
                src: local,
                dst: remote,
            }
        };
        let conn_in = self.next_conn;
        let conn_out = self.next_conn.wrapping_add(1);
        self.next_conn = self.next_conn.wrapping_add(2);
        debug::installed(
            out,
            entry,
            local,
            remote,
            &p.transform,
            p.lifetime_secs,
            p.lifetime_kb,
            spi_in,
            spi_out,
            conn_in,
        );
        let replaced = self.children.insert(
            p.child,
            ChildSa {
                flow: fi,
                out: outbound,
                inbound,
                spi_in,
                conn_in,
                conn_out,
                dest,
                selectors: p.selectors,
                transform: (&p.transform).into(),
                peer_port: if p.udp_encap { peer_port } else { 500 },
                rekey_requested: false,
                unreported: false,
                deliver,
                fresh,
                df_bit: entry.df_bit,
            },
        );
        // An id or SPI collision cannot happen (the endpoint picks unused ones); keep the
        // counters all the same.
        for old in replaced {
            if let Some(f) = self.flows.get_mut(old.flow) {
                f.retired.add(&old.out.stats());
                f.retired.add(&old.inbound.stats());
            }
        }
        let mut first = false;
        if let Some(f) = self.flows.get_mut(fi) {
            // The newest pair carries outbound traffic; older inbound SAs stay until they
            // are deleted or expire, so packets already in flight still arrive.
            first = f.live.is_empty();
            // A rekey we started waits a moment (or for the peer's first packet) before it
            // carries traffic; any other new pair carries it at once.
            match (p.replaces, f.current_out) {
                (Some(_), Some(_)) => f.next_out = Some((p.child, now + OUTBOUND_SWITCH_DELAY)),
                _ => f.current_out = Some(p.child),
            }
            f.live.push(p.child);
            f.requested = false;
            f.up_since.get_or_insert(now);
        }
        self.idle_start(now, p.child, p.peer.0);
        self.push_event(TunnelEvent::IpsecUp {
            entry: p.peer.0,
            peer: remote,
            spi_in,
            spi_out,
        });
        self.rri_pair_up(fi, &p.selectors.remote, Some(remote), out);
        if first {
            self.vti_line(now, fi, true);
        }
        // Both ends of a VTI initiated at once: keep one pair (the same one at both ends).
        if let Some(loser) = self.vti_collision(fi, p.child) {
            out.debug(
                DebugKind::Ipsec,
                format_args!(
                    "IPSEC: simultaneous initiation of {}: deleting the duplicate SA pair",
                    entry_name(self.entries.get(p.peer.0))
                ),
            );
            if let Some(f) = self.flows.get_mut(fi) {
                // The winner carries traffic from now on.
                if f.current_out == Some(loser) {
                    f.current_out = f.live.iter().rev().copied().find(|c| *c != loser);
                }
            }
            let _ = self.endpoint.delete_child(now, loser);
        }
    }

    pub(super) fn uninstall(&mut self, now: Instant, child: ChildId) {
        let Some(c) = self.children.remove(&child) else {
            return;
        };
        let entry = self.flows.get(c.flow).map_or(0, |f| f.entry);
        self.push_event(TunnelEvent::IpsecDown {
            entry,
            spi_in: c.spi_in,
            spi_out: c.out.spi(),
        });
        self.rri_pair_down(c.flow, &c.selectors.remote, c.peer());
        // The history keeps when ESP last arrived once the pair that counted it is gone.
        if let (Some(peer), Some(at)) = (c.peer(), c.inbound.usage().last_activity) {
            self.history.touch(IpAddr::V4(peer), at);
        }
        let Some(f) = self.flows.get_mut(c.flow) else {
            return;
        };
        f.retired.add(&c.out.stats());
        f.retired.add(&c.inbound.stats());
        f.live.retain(|x| *x != child);
        if f.next_out.is_some_and(|(c, _)| c == child) {
            f.next_out = None;
        }
        if f.current_out == Some(child) {
            f.current_out = f.live.last().copied();
            f.next_out = None;
        }
        if f.live.is_empty() {
            f.up_since = None;
            let fi = c.flow;
            self.vti_line(now, fi, false);
        }
    }

    /// Counters of one flow: retired SAs plus the live ones.
    pub(super) fn flow_stats(&self, f: &Flow) -> EspStats {
        let mut s = f.retired;
        for id in &f.live {
            if let Some(c) = self.children.get(id) {
                s.add(&c.out.stats());
                s.add(&c.inbound.stats());
            }
        }
        s
    }
}
