//! Show and clear commands: snapshots of the endpoint and the flows, rendered by
//! `crate::ios::show`.

use super::{Flow, Tunnels};
use crate::esp::EspStats;
use crate::ike::show as ike_show;
use crate::ike::PeerId;
use crate::ios::show::{
    self, CryptoSession, EspSaSnapshot, FlowCounters, IpsecFlowSnapshot, IpsecInterfaceSnapshot,
    IsakmpSaDetail, IsakmpSaRow, SessionFlow,
};
use crate::time::Instant;
use std::net::Ipv4Addr;
use std::net::SocketAddrV4;

/// The show commands a [`Tunnels`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Show {
    /// `show crypto isakmp sa`.
    IsakmpSa,
    /// `show crypto isakmp sa detail`.
    IsakmpSaDetail,
    /// `show crypto isakmp policy`.
    IsakmpPolicy,
    /// `show crypto ipsec sa [peer X] [detail]`.
    IpsecSa {
        /// Only the SAs with this peer.
        peer: Option<Ipv4Addr>,
        /// The `detail` counters.
        detail: bool,
    },
    /// `show crypto ipsec transform-set`.
    TransformSet,
    /// `show crypto map`.
    CryptoMap,
    /// `show crypto session [detail]`.
    CryptoSession {
        /// The `detail` view.
        detail: bool,
    },
    /// `show running-config` (the crypto part, as we understood it).
    RunningConfig,
    /// `show crypto ipsec sa interface TunnelN [detail]`: the SAs of one VTI.
    IpsecSaInterface {
        /// `N` of `TunnelN`.
        tunnel: u32,
        /// The `detail` counters.
        detail: bool,
    },
    /// `show crypto ipsec client ezvpn`.
    Ezvpn,
    /// `show interfaces TunnelN` (a static VTI).
    Interface {
        /// `N` of `TunnelN`.
        tunnel: u32,
    },
    /// `show crypto pki certificates`: every trustpoint's chain (one trustpoint by name:
    /// [`Tunnels::show_pki_certificates`]).
    PkiCertificates,
    /// `show crypto pki trustpoints`.
    PkiTrustpoints,
    /// `show ip nat translations`: the PAT of an Easy VPN `mode client` connection.
    NatTranslations,
}

fn pki_rows(
    certs: &[(String, bool, crate::pki::Certificate)],
) -> Vec<crate::ios::show_pki::PkiCertRow<'_>> {
    certs
        .iter()
        .map(|(tp, ca, c)| crate::ios::show_pki::PkiCertRow::new(tp.clone(), *ca, c))
        .collect()
}

fn counters(s: &EspStats, invalid_identity: u64) -> FlowCounters {
    let mut c = ike_show::flow_counters(Some(s), Some(s));
    c.recv_errors = c.recv_errors.saturating_add(invalid_identity);
    c.invalid_identity_recv = invalid_identity;
    c
}

impl Tunnels {
    /// Rows of `show crypto isakmp sa`.
    pub fn isakmp_rows(&self, now: Instant) -> Vec<IsakmpSaRow> {
        ike_show::isakmp_rows(&self.endpoint, now)
    }

    /// SAs of `show crypto isakmp sa detail` (those whose suite is agreed).
    pub fn isakmp_details(&self, now: Instant) -> Vec<IsakmpSaDetail> {
        ike_show::isakmp_details(&self.endpoint, now)
    }

    fn flow_snapshot(&self, now: Instant, f: &Flow) -> Option<IpsecFlowSnapshot> {
        self.flow_snapshot_of(now, f, None)
    }

    /// A flow's block; with `learned` (a dynamic entry's peer and the proxy identities it
    /// negotiated) only the pairs of that peer and those identities, with their counters:
    /// IOS shows each learned peer as an entry of its own.
    fn flow_snapshot_of(
        &self,
        now: Instant,
        f: &Flow,
        learned: Option<(Ipv4Addr, crate::ike::SelectorPair)>,
    ) -> Option<IpsecFlowSnapshot> {
        let e = self.entries.get(f.entry)?;
        let mine = |c: &super::ChildSa| {
            learned.is_none_or(|(p, sel)| c.peer() == Some(p) && c.selectors == sel)
        };
        let stats = match learned {
            None => self.flow_stats(f),
            Some(_) => {
                let mut s = EspStats::default();
                for c in f.live.iter().filter_map(|id| self.children.get(id)) {
                    if mine(c) {
                        s.add(&c.out.stats());
                        s.add(&c.inbound.stats());
                    }
                }
                s
            }
        };
        let current = match learned {
            None => f.current_at(now).and_then(|c| self.children.get(&c)),
            // The newest pair of that peer is the one carrying its traffic.
            Some(_) => f
                .live
                .iter()
                .rev()
                .filter_map(|id| self.children.get(id))
                .find(|c| mine(c)),
        };
        let mut inbound_esp = Vec::new();
        let mut outbound_esp = Vec::new();
        for id in f
            .live
            .iter()
            .filter(|id| self.children.get(id).is_some_and(mine))
        {
            let Some(c) = self.children.get(id) else {
                continue;
            };
            let t = &c.transform;
            let snap =
                |spi: u32, conn: u32, kb: Option<u64>, secs: Option<u64>, window| EspSaSnapshot {
                    spi,
                    encryption: t.encryption,
                    integrity: t.integrity,
                    mode: t.mode,
                    udp_encap: c.out.config().udp_encap,
                    conn_id: conn,
                    flow_id: format!("SW:{conn}"),
                    crypto_map: e.map.clone(),
                    remaining_kb: kb,
                    remaining_secs: secs.unwrap_or(0),
                    replay_window: window,
                };
            {
                let i = &c.inbound;
                inbound_esp.push(snap(
                    c.spi_in,
                    c.conn_in,
                    i.lifetime().remaining_kilobytes(),
                    i.lifetime().remaining_seconds(now),
                    i.replay_window().unwrap_or(0),
                ));
            }
            outbound_esp.push(snap(
                c.out.spi(),
                c.conn_out,
                c.out.lifetime().remaining_kilobytes(),
                c.out.lifetime().remaining_seconds(now),
                e.replay_window,
            ));
        }
        let (peer_addr, selectors) = match learned {
            Some((p, sel)) => (p, sel),
            // An Easy VPN profile's flow is `any` to `any`; its pair is for the address the
            // server assigned, and that is what IOS shows.
            None => match current {
                Some(c) if super::ezvpn::profile_of(e).is_some() => {
                    (self.entry_peer(f.entry), c.selectors)
                }
                _ => (self.entry_peer(f.entry), f.selectors),
            },
        };
        Some(IpsecFlowSnapshot {
            local_ident: selectors.local,
            remote_ident: selectors.remote,
            current_peer: peer_addr,
            peer_port: current.map_or(500, |c| c.peer_port),
            flags: "origin_is_acl,".into(),
            counters: counters(&stats, f.invalid_identity),
            local_endpoint: e.local,
            remote_endpoint: peer_addr,
            path_mtu: self.path_mtu,
            ip_mtu: self.ip_mtu,
            ip_mtu_idb: self.mtu_idb(e),
            current_outbound_spi: current.map_or(0, |c| c.out.spi()),
            pfs_group: current.and(e.pfs_group).or(e.pfs_group),
            inbound_esp,
            outbound_esp,
        })
    }

    /// Blocks of `show crypto ipsec sa [peer X]`, one per crypto interface.
    pub fn ipsec_snapshot(
        &self,
        now: Instant,
        peer: Option<Ipv4Addr>,
    ) -> Vec<IpsecInterfaceSnapshot> {
        let mut out: Vec<IpsecInterfaceSnapshot> = Vec::new();
        for f in &self.flows {
            let Some(e) = self.entries.get(f.entry) else {
                continue;
            };
            let snaps: Vec<IpsecFlowSnapshot> = if f.dynamic {
                // One block per learned peer and proxy identities (none before any peer came:
                // a template protects nothing by itself).
                let mut learned: Vec<(Ipv4Addr, crate::ike::SelectorPair)> = Vec::new();
                for c in f.live.iter().filter_map(|id| self.children.get(id)) {
                    if let Some(p) = c.peer() {
                        if !learned.contains(&(p, c.selectors)) {
                            learned.push((p, c.selectors));
                        }
                    }
                }
                learned
                    .into_iter()
                    .filter(|(p, _)| peer.is_none_or(|x| x == *p))
                    .filter_map(|l| self.flow_snapshot_of(now, f, Some(l)))
                    .collect()
            } else {
                if peer.is_some_and(|p| p != self.entry_peer(f.entry)) {
                    continue;
                }
                self.flow_snapshot(now, f).into_iter().collect()
            };
            for snap in snaps {
                match out
                    .iter_mut()
                    .find(|i| i.interface == e.interface && i.map_tag == e.map)
                {
                    Some(i) => i.flows.push(snap),
                    None => out.push(IpsecInterfaceSnapshot {
                        interface: e.interface.clone(),
                        map_tag: e.map.clone(),
                        local_addr: e.local,
                        flows: vec![snap],
                    }),
                }
            }
        }
        out
    }

    /// Sessions of `show crypto session`: one per crypto map entry (peer), and on a dynamic
    /// entry one per client it serves (address and port: clients behind one NAT are
    /// several), as IOS lists every remote-access client.
    pub fn sessions(&self, now: Instant) -> Vec<CryptoSession> {
        let sas = self.endpoint.isakmp_sas(now);
        let mut v = Vec::new();
        // Entry `i`'s session with the peer at `addr` (`client`: one of a dynamic entry's).
        let session = |i: usize, addr: Ipv4Addr, client: Option<SocketAddrV4>| {
            let ike = ike_show::session_ike(&sas, PeerId(i), addr, client.map(|c| c.port()));
            let (flows, up_since) = self.session_flows(now, i, client);
            let interface = self.entries.get(i).map(|e| e.interface.clone());
            ike_show::session(
                now,
                interface.unwrap_or_default(),
                addr,
                i,
                ike,
                flows,
                up_since,
            )
        };
        for (i, e) in self.entries.iter().enumerate() {
            if e.dynamic.is_none() {
                v.push(session(i, self.entry_peer(i), None));
                continue;
            }
            // Every client with an ISAKMP SA or an IPsec SA pair of this entry.
            let mut clients: Vec<SocketAddrV4> = Vec::new();
            for s in sas.iter().filter(|s| s.peer == PeerId(i)) {
                if let std::net::SocketAddr::V4(r) = s.path.remote {
                    if !clients.contains(&r) {
                        clients.push(r);
                    }
                }
            }
            for f in self.flows.iter().filter(|f| f.entry == i) {
                for c in f.live.iter().filter_map(|id| self.children.get(id)) {
                    if let Some(r) = c.peer_socket().filter(|r| !clients.contains(r)) {
                        clients.push(r);
                    }
                }
            }
            if clients.is_empty() {
                // A template with nobody connected: one idle session (no ISAKMP SA names
                // 0.0.0.0).
                v.push(session(i, Ipv4Addr::UNSPECIFIED, None));
            }
            for client in clients {
                v.push(session(i, *client.ip(), Some(client)));
            }
        }
        v
    }

    /// The flows of entry `entry` for `show crypto session`, and when the oldest pair came
    /// up. With `client` (a dynamic entry) one flow per proxy pair that client negotiated,
    /// counted over its pairs only.
    fn session_flows(
        &self,
        now: Instant,
        entry: usize,
        client: Option<SocketAddrV4>,
    ) -> (Vec<SessionFlow>, Option<Instant>) {
        let life = |c: Option<&super::ChildSa>, inbound: bool| {
            c.map_or((0, 0), |c| {
                let l = if inbound {
                    c.inbound.lifetime()
                } else {
                    c.out.lifetime()
                };
                (
                    l.remaining_kilobytes().unwrap_or(0),
                    l.remaining_seconds(now).unwrap_or(0),
                )
            })
        };
        let mut flows = Vec::new();
        let mut up_since: Option<Instant> = None;
        for f in self.flows.iter().filter(|f| f.entry == entry) {
            let Some(client) = client else {
                let s = self.flow_stats(f);
                let cur = f.current_at(now).and_then(|c| self.children.get(&c));
                if let Some(u) = f.up_since {
                    up_since = Some(up_since.map_or(u, |x: Instant| x.min(u)));
                }
                flows.push(SessionFlow {
                    local: f.selectors.local,
                    remote: f.selectors.remote,
                    active_sas: u32::try_from(f.live.len() * 2).unwrap_or(u32::MAX),
                    inbound_pkts: s.decaps,
                    inbound_drops: s.recv_errors().saturating_add(f.invalid_identity),
                    outbound_pkts: s.encaps,
                    outbound_drops: s.send_errors(),
                    inbound_life: life(cur, true),
                    outbound_life: life(cur, false),
                });
                continue;
            };
            let mine: Vec<&super::ChildSa> = f
                .live
                .iter()
                .filter_map(|id| self.children.get(id))
                .filter(|c| c.peer_socket() == Some(client))
                .collect();
            let mut pairs: Vec<crate::ike::SelectorPair> = Vec::new();
            for c in &mine {
                if !pairs.contains(&c.selectors) {
                    pairs.push(c.selectors);
                }
            }
            for sel in pairs {
                let of: Vec<&&super::ChildSa> =
                    mine.iter().filter(|c| c.selectors == sel).collect();
                let mut s = EspStats::default();
                for c in &of {
                    s.add(&c.out.stats());
                    s.add(&c.inbound.stats());
                    if let Some(t) = c.fresh.map(|(_, t)| t).or(f.up_since) {
                        up_since = Some(up_since.map_or(t, |x: Instant| x.min(t)));
                    }
                }
                let cur = of.iter().max_by_key(|c| c.conn_in).map(|c| **c);
                flows.push(SessionFlow {
                    local: sel.local,
                    remote: sel.remote,
                    active_sas: u32::try_from(of.len() * 2).unwrap_or(u32::MAX),
                    inbound_pkts: s.decaps,
                    inbound_drops: s.recv_errors(),
                    outbound_pkts: s.encaps,
                    outbound_drops: s.send_errors(),
                    inbound_life: life(cur, true),
                    outbound_life: life(cur, false),
                });
            }
        }
        (flows, up_since)
    }

    /// The text of an IOS show command.
    pub fn show(&self, now: Instant, what: Show) -> String {
        let cfg = &self.config;
        match what {
            Show::IsakmpSa => show::show_crypto_isakmp_sa(&self.isakmp_rows(now), self.flavor),
            Show::IsakmpSaDetail => show::show_crypto_isakmp_sa_detail(&self.isakmp_details(now)),
            Show::IsakmpPolicy => show::show_crypto_isakmp_policy(cfg),
            Show::IpsecSa { peer, detail } => {
                show::show_crypto_ipsec_sa(&self.ipsec_snapshot(now, peer), detail)
            }
            Show::TransformSet => show::show_crypto_ipsec_transform_set(cfg),
            Show::CryptoMap => {
                let peers: Vec<(String, u16, Ipv4Addr)> = self
                    .entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| {
                        let peer = if e.dynamic.is_some() {
                            self.learned_peer(i)?
                        } else {
                            e.peer_addr
                        };
                        Some((e.map.clone(), e.seq, peer))
                    })
                    .collect();
                let text = show::show_crypto_map(cfg, self.flavor, &|m, s| {
                    peers
                        .iter()
                        .find(|(pm, ps, _)| pm == m && *ps == s)
                        .map(|x| x.2)
                });
                self.with_dynamic_local_addresses(text)
            }
            Show::CryptoSession { detail } => {
                show::show_crypto_session(&self.sessions(now), detail)
            }
            Show::RunningConfig => crate::ios::render(cfg),
            Show::Ezvpn => self.show_ezvpn(),
            Show::NatTranslations => self.show_nat_translations(now),
            Show::IpsecSaInterface { tunnel, detail } => {
                let name = format!("Tunnel{tunnel}");
                let mut blocks = self.ipsec_snapshot(now, None);
                blocks.retain(|b| b.interface == name);
                show::show_crypto_ipsec_sa(&blocks, detail)
            }
            Show::Interface { tunnel } => match self.tunnel_interface(tunnel) {
                Some(s) => crate::ios::show_interface::show_interfaces_tunnel(&s),
                None => format!("% Interface Tunnel{tunnel} is not a configured VTI\n"),
            },
            Show::PkiCertificates => self.show_pki_certificates(None),
            Show::PkiTrustpoints => {
                let (certs, mut text) = self.chain_certificates();
                let rows = pki_rows(&certs);
                text.insert_str(
                    0,
                    &crate::ios::show_pki::show_crypto_pki_trustpoints(&cfg.trustpoints, &rows),
                );
                text
            }
        }
    }

    /// `show crypto pki certificates [TRUSTPOINT]`; a trustpoint that is not configured
    /// answers as IOS does, with an error line.
    pub fn show_pki_certificates(&self, trustpoint: Option<&str>) -> String {
        if let Some(t) =
            trustpoint.filter(|t| !self.config.trustpoints.iter().any(|x| x.name == *t))
        {
            return format!("% Trustpoint {t} not found\n");
        }
        let (certs, mut text) = self.chain_certificates();
        let rows = pki_rows(&certs);
        text.insert_str(
            0,
            &crate::ios::show_pki::show_crypto_pki_certificates(&rows, trustpoint),
        );
        text
    }

    /// The trustpoints' chain certificates, parsed, and a note line for each block that is
    /// not a certificate (the configuration check names those too, so show only points at it).
    fn chain_certificates(&self) -> (Vec<(String, bool, crate::pki::Certificate)>, String) {
        let mut certs = Vec::new();
        let mut notes = String::new();
        for tp in &self.config.trustpoints {
            for c in &tp.chain {
                match crate::pki::Certificate::from_der(&c.der) {
                    Ok(cert) => certs.push((tp.name.clone(), c.ca, cert)),
                    Err(e) => {
                        use std::fmt::Write as _;
                        let _ = writeln!(
                            notes,
                            "% Trustpoint {}: certificate {} unreadable: {e}",
                            tp.name, c.serial
                        );
                    }
                }
            }
        }
        (certs, notes)
    }

    /// What `show interfaces TunnelN` shows: `None` when `TunnelN` is not a static VTI of the
    /// configuration (a VTI that is shut down or cannot run shows with its line protocol down).
    pub fn tunnel_interface(
        &self,
        n: u32,
    ) -> Option<crate::ios::show_interface::TunnelInterfaceSnapshot> {
        use crate::policy::TunnelSource;
        let ifc = self.config.vtis().find(|i| i.tunnel_number() == Some(n))?;
        let t = ifc.tunnel.as_ref()?;
        let vti = self.vti_by_number.get(&n).and_then(|i| self.vtis.get(*i));
        let entry = vti.and_then(|v| self.entries.get(v.entry));
        let flow = vti.and_then(|v| self.flows.get(v.flow));
        let stats = flow.map(|f| (self.flow_stats(f), f.invalid_identity));
        let source = match (&t.source, entry) {
            (Some(TunnelSource::Address(a)), _) => Some((*a, None)),
            (Some(TunnelSource::Interface(i)), Some(e)) => Some((e.local, Some(i.clone()))),
            (Some(TunnelSource::Interface(i)), None) => self
                .config
                .interface(i)
                .and_then(|x| x.address)
                .map(|(a, _)| (a, Some(i.clone()))),
            (None, _) => None,
        };
        let transport_mtu = entry
            .and_then(|e| self.endpoint.config().peers.get(e.peer.0))
            .and_then(|p| p.transform_sets.first())
            .map_or(u32::from(self.path_mtu), |ts| {
                u32::from(show::plaintext_mtu(
                    self.path_mtu,
                    ts.esp_encryption,
                    ts.esp_integrity,
                    ts.mode,
                    false,
                ))
            });
        Some(crate::ios::show_interface::TunnelInterfaceSnapshot {
            name: ifc.name.clone(),
            admin_down: ifc.shutdown,
            line_up: vti.is_some_and(|v| v.line_up),
            address: ifc.address,
            unnumbered: ifc.unnumbered.as_ref().map(|u| {
                (
                    u.clone(),
                    self.config
                        .interface(u)
                        .and_then(|x| x.address)
                        .map(|a| a.0),
                )
            }),
            description: ifc.description.clone(),
            source,
            destination: t.destination,
            profile: t.protection.clone(),
            transport_mtu: ifc
                .ip_mtu
                .map_or(transport_mtu, |m| transport_mtu.min(u32::from(m))),
            input: stats.map_or((0, 0), |(s, _)| (s.decaps, s.bytes_decaps)),
            output: stats.map_or((0, 0), |(s, _)| (s.encaps, s.bytes_encaps)),
            input_errors: stats.map_or(0, |(s, i)| s.recv_errors().saturating_add(i)),
            output_drops: stats.map_or(0, |(s, _)| s.send_errors()),
        })
    }
}

impl Tunnels {
    /// The interface whose MTU the SAs of an entry use (`ip mtu idb`): the crypto map
    /// interface, or for a VTI its tunnel source interface.
    fn mtu_idb(&self, e: &super::MapEntryInfo) -> String {
        if e.vti.is_some() {
            let src = self
                .config
                .interface(&e.interface)
                .and_then(|i| i.tunnel.as_ref())
                .and_then(|t| t.source.as_ref());
            if let Some(crate::policy::TunnelSource::Interface(n)) = src {
                return n.clone();
            }
        }
        e.interface.clone()
    }

    /// The peer an entry speaks to: its `set peer` in use, or for a dynamic entry the peer it
    /// learned last (0.0.0.0 before any).
    fn entry_peer(&self, entry: usize) -> Ipv4Addr {
        match self.entries.get(entry) {
            Some(e) if e.dynamic.is_some() => {
                self.learned_peer(entry).unwrap_or(Ipv4Addr::UNSPECIFIED)
            }
            Some(e) => e.peer_addr,
            None => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The peer of the newest IPsec SA pair a dynamic entry learned.
    fn learned_peer(&self, entry: usize) -> Option<Ipv4Addr> {
        self.flows
            .iter()
            .filter(|f| f.entry == entry)
            .flat_map(|f| f.live.iter())
            .filter_map(|c| self.children.get(c))
            .max_by_key(|c| c.conn_in)
            .and_then(super::ChildSa::peer)
    }
}

impl Tunnels {
    /// `show crypto map` with IOS's `Crypto Map: "NAME" idb: IF local address: A` line in front
    /// of the first entry of each map whose local interface has no configured address (`ip
    /// address dhcp|negotiated`): the address it uses now, which the configuration cannot say.
    /// Maps on configured addresses print as before.
    fn with_dynamic_local_addresses(&self, text: String) -> String {
        let mut heads: Vec<(String, String)> = Vec::new();
        for e in &self.entries {
            let dynamic = self
                .config
                .interface(&e.local_interface)
                .is_some_and(|i| i.address.is_none() && i.unnumbered.is_none());
            if dynamic && e.vti.is_none() && !heads.iter().any(|(m, _)| *m == e.map) {
                heads.push((
                    e.map.clone(),
                    format!(
                        "Crypto Map: \"{}\" idb: {} local address: {}\n\n",
                        e.map, e.local_interface, e.local
                    ),
                ));
            }
        }
        if heads.is_empty() {
            return text;
        }
        let mut out = String::with_capacity(text.len() + 80 * heads.len());
        for line in text.split_inclusive('\n') {
            if let Some(pos) = heads
                .iter()
                .position(|(m, _)| line.starts_with(&format!("Crypto Map \"{m}\" ")))
            {
                out.push_str(&heads.swap_remove(pos).1);
            }
            out.push_str(line);
        }
        out
    }
}
