//! The IOS show snapshots of a bare [`Endpoint`] (`show crypto isakmp sa [detail]`,
//! `show crypto ipsec sa [detail]`, `show crypto session [detail]`), for embedders that run the
//! endpoint themselves and hold its ESP SAs, such as the C `ipsec_endpoint` and the Python
//! `ipsec.Endpoint`. [`crate::tunnel::Tunnels`] builds its own snapshots from its flows, with
//! the pieces here that the two shapes share ([`flow_counters`], [`isakmp_rows`], a session).
//!
//! A bare endpoint knows neither the interface a crypto map is applied to nor the ESP
//! counters: the embedder gives them per peer ([`CryptoMapShow`]) and per SA pair
//! ([`EspPairFigures`]).

use std::net::{IpAddr, Ipv4Addr};

use super::{Endpoint, IpsecSaInfo, IsakmpSaInfo, IsakmpState, PeerId};
use crate::esp::EspStats;
use crate::ios::show::{
    self, CryptoSession, EspSaSnapshot, FlowCounters, IosFlavor, IpsecFlowSnapshot,
    IpsecInterfaceSnapshot, IsakmpSaDetail, IsakmpSaRow, SessionFlow, SessionIkeSa, SessionStatus,
};
use crate::time::Instant;

/// Where a peer's crypto map sits, for the interface blocks of `show crypto ipsec sa` and the
/// `Interface:` line of `show crypto session`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CryptoMapShow {
    /// The interface the crypto map is applied to (`FastEthernet0/0`).
    pub interface: String,
    /// `Crypto map tag`.
    pub map_tag: String,
    /// `local addr`; `None`: the local address of the first SA pair listed in the block.
    pub local_addr: Option<Ipv4Addr>,
}

/// What the embedder's ESP SAs of one IPsec SA pair say. Anything left `None` shows as an SA
/// that carried nothing: zero counters, the negotiated lifetime, a window of 64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EspPairFigures {
    /// Counters of the inbound SA.
    pub inbound: Option<EspStats>,
    /// Counters of the outbound SA.
    pub outbound: Option<EspStats>,
    /// (kilobytes, seconds) left on the inbound SA.
    pub inbound_remaining: Option<(u64, u64)>,
    /// (kilobytes, seconds) left on the outbound SA; its kilobytes are the `remaining key
    /// lifetime` of both directions in `show crypto ipsec sa`.
    pub outbound_remaining: Option<(u64, u64)>,
    /// The anti-replay window (`replay detection support` size).
    pub replay_window: Option<u32>,
}

/// The show snapshots of one [`Endpoint`], with what the embedder adds.
pub struct EndpointShow<'a> {
    /// The endpoint.
    pub endpoint: &'a Endpoint,
    /// Where the crypto map of a peer index sits.
    pub map: &'a dyn Fn(PeerId) -> CryptoMapShow,
    /// The ESP figures of an SA pair.
    pub esp: &'a dyn Fn(&IpsecSaInfo) -> EspPairFigures,
    /// `path mtu` and `ip mtu` of every flow.
    pub path_mtu: u16,
    /// List SA pairs (and so the flows and blocks they open) newest first instead of oldest
    /// first.
    pub newest_first: bool,
    /// Interface blocks shown even when they hold no SA pair, as IOS lists every interface a
    /// crypto map is applied to.
    pub interfaces: Vec<CryptoMapShow>,
}

fn v4(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

/// The `show crypto ipsec sa` counters of a flow: the inbound fields from `inbound`, the
/// outbound ones from `outbound` (the same stats twice for a flow that folds both directions).
pub fn flow_counters(inbound: Option<&EspStats>, outbound: Option<&EspStats>) -> FlowCounters {
    let mut c = FlowCounters::default();
    if let Some(s) = inbound {
        c.decaps = s.decaps;
        c.decrypt = s.decrypt;
        c.verify = s.verify;
        c.recv_errors = s.recv_errors();
        c.decaps_failed_rcv = s.decaps_failed;
        c.verify_failed = s.verify_failed;
        c.invalid_len_rcv = s.invalid_len;
        c.replay_failed_rcv = s.replay_failed;
    }
    if let Some(s) = outbound {
        c.encaps = s.encaps;
        c.encrypt = s.encrypt;
        c.digest = s.digest;
        c.send_errors = s.send_errors();
        c.no_sa_send = s.no_sa_send;
        c.encaps_failed_send = s.encaps_failed;
        c.replay_rollover_send = s.replay_rollover_send;
    }
    c
}

/// Adds the counters `flow_counters` fills.
fn add_counters(a: &mut FlowCounters, b: &FlowCounters) {
    for (x, y) in [
        (&mut a.encaps, b.encaps),
        (&mut a.encrypt, b.encrypt),
        (&mut a.digest, b.digest),
        (&mut a.decaps, b.decaps),
        (&mut a.decrypt, b.decrypt),
        (&mut a.verify, b.verify),
        (&mut a.send_errors, b.send_errors),
        (&mut a.recv_errors, b.recv_errors),
        (&mut a.no_sa_send, b.no_sa_send),
        (&mut a.encaps_failed_send, b.encaps_failed_send),
        (&mut a.decaps_failed_rcv, b.decaps_failed_rcv),
        (&mut a.verify_failed, b.verify_failed),
        (&mut a.invalid_len_rcv, b.invalid_len_rcv),
        (&mut a.replay_rollover_send, b.replay_rollover_send),
        (&mut a.replay_failed_rcv, b.replay_failed_rcv),
    ] {
        *x = x.saturating_add(y);
    }
}

/// Rows of `show crypto isakmp sa`.
pub fn isakmp_rows(ep: &Endpoint, now: Instant) -> Vec<IsakmpSaRow> {
    ep.isakmp_sas(now)
        .iter()
        .filter_map(IsakmpSaInfo::show_row)
        .collect()
}

/// SAs of `show crypto isakmp sa detail` (those whose suite is agreed).
pub fn isakmp_details(ep: &Endpoint, now: Instant) -> Vec<IsakmpSaDetail> {
    ep.isakmp_sas(now)
        .iter()
        .filter_map(IsakmpSaInfo::show_detail)
        .collect()
}

/// `show crypto isakmp sa` in `flavor`'s layout, or with `detail` `show crypto isakmp sa
/// detail`.
pub fn isakmp_sa(ep: &Endpoint, now: Instant, flavor: IosFlavor, detail: bool) -> String {
    if detail {
        show::show_crypto_isakmp_sa_detail(&isakmp_details(ep, now))
    } else {
        show::show_crypto_isakmp_sa(&isakmp_rows(ep, now), flavor)
    }
}

/// The ISAKMP SA `show crypto session` reports for peer index `peer` at `addr` (and `port`,
/// to tell clients behind one NAT apart): the newest established one, else the newest still
/// negotiating.
pub(crate) fn session_ike(
    sas: &[IsakmpSaInfo],
    peer: PeerId,
    addr: Ipv4Addr,
    port: Option<u16>,
) -> Option<&IsakmpSaInfo> {
    sas.iter()
        .filter(|s| {
            s.peer == peer
                && s.path.remote.ip() == IpAddr::V4(addr)
                && port.is_none_or(|p| s.path.remote.port() == p)
        })
        .max_by_key(|s| (s.state == IsakmpState::QmIdle, s.conn_id))
}

/// One `show crypto session` entry: peer index `index` at `peer`, its ISAKMP SA (from
/// [`session_ike`]) and its flows; `up_since` is when its oldest SA pair came up.
pub(crate) fn session(
    now: Instant,
    interface: String,
    peer: Ipv4Addr,
    index: usize,
    ike: Option<&IsakmpSaInfo>,
    flows: Vec<SessionFlow>,
    up_since: Option<Instant>,
) -> CryptoSession {
    let any_sa = flows.iter().any(|f| f.active_sas > 0);
    let ike_up = ike.is_some_and(|s| s.state == IsakmpState::QmIdle);
    let status = match (ike, ike_up, any_sa) {
        (_, true, true) => SessionStatus::UpActive,
        (_, true, false) => SessionStatus::UpIdle,
        (_, false, true) => SessionStatus::UpNoIke,
        (Some(_), false, false) => SessionStatus::DownNegotiating,
        (None, false, false) => SessionStatus::Down,
    };
    CryptoSession {
        interface,
        uptime_secs: up_since.map_or(0, |u| now.saturating_duration_since(u).as_secs()),
        status,
        peer,
        peer_port: ike.map_or(500, |s| s.path.remote.port()),
        // IOS names a client by the identity it sent (an Easy VPN group name), else its address.
        phase1_id: ike
            .and_then(|s| s.peer_identity.clone())
            .unwrap_or_else(|| peer.to_string()),
        session_id: u32::try_from(index).unwrap_or(u32::MAX),
        username: ike.and_then(|s| s.xauth_user.clone()),
        group: ike.and_then(|s| s.client_group.clone()),
        assigned_address: ike.and_then(|s| s.assigned_address),
        ike: ike.map(|s| SessionIkeSa {
            local: v4(s.path.local.ip()),
            local_port: s.path.local.port(),
            remote: v4(s.path.remote.ip()),
            remote_port: s.path.remote.port(),
            active: s.state == IsakmpState::QmIdle,
            capabilities: s.capabilities(),
            conn_id: if s.state == IsakmpState::QmIdle {
                s.conn_id
            } else {
                0
            },
            remaining_secs: s.remaining_secs.unwrap_or(0),
        }),
        flows,
    }
}

/// An interface block being filled: its local address is settled by the first SA pair.
struct Block {
    map: CryptoMapShow,
    flows: Vec<IpsecFlowSnapshot>,
    /// Child id of the pair each flow's `current outbound spi` came from.
    newest: Vec<super::ChildId>,
}

impl EndpointShow<'_> {
    /// Blocks of `show crypto ipsec sa`: one per interface and crypto map, one flow per proxy
    /// pair and peer (the SA pairs of a rekey share it, as on IOS), whose `current outbound
    /// spi` is that of its newest pair.
    pub fn ipsec_snapshot(&self, now: Instant) -> Vec<IpsecInterfaceSnapshot> {
        let mut sas = self.endpoint.ipsec_sas(now);
        sas.sort_by_key(|s| s.child);
        if self.newest_first {
            sas.reverse();
        }
        let mut blocks: Vec<Block> = self
            .interfaces
            .iter()
            .map(|m| Block {
                map: m.clone(),
                flows: Vec::new(),
                newest: Vec::new(),
            })
            .collect();
        for s in &sas {
            let map = (self.map)(s.peer);
            let pos = match blocks
                .iter()
                .position(|b| b.map.interface == map.interface && b.map.map_tag == map.map_tag)
            {
                Some(p) => p,
                None => {
                    blocks.push(Block {
                        map,
                        flows: Vec::new(),
                        newest: Vec::new(),
                    });
                    blocks.len() - 1
                }
            };
            let Some(block) = blocks.get_mut(pos) else {
                continue;
            };
            block
                .map
                .local_addr
                .get_or_insert_with(|| v4(s.path.local.ip()));
            self.add_pair(block, s);
        }
        blocks
            .into_iter()
            .map(|b| IpsecInterfaceSnapshot {
                interface: b.map.interface,
                map_tag: b.map.map_tag,
                local_addr: b.map.local_addr.unwrap_or(Ipv4Addr::UNSPECIFIED),
                flows: b.flows,
            })
            .collect()
    }

    fn add_pair(&self, block: &mut Block, s: &IpsecSaInfo) {
        let fig = (self.esp)(s);
        let remaining_kb = crate::policy::volume_limit(s.lifetime_kb)
            .map(|kb| fig.outbound_remaining.map_or(kb, |r| r.0));
        let window = fig.replay_window.unwrap_or(64);
        let snap = |spi: u32| EspSaSnapshot {
            spi,
            encryption: s.transform.esp_encryption,
            integrity: s.transform.esp_integrity,
            mode: s.mode,
            udp_encap: s.udp_encap,
            conn_id: u32::try_from(2000 + s.child.0).unwrap_or(u32::MAX),
            flow_id: format!("SW:{}", s.child.0),
            crypto_map: block.map.map_tag.clone(),
            remaining_kb,
            remaining_secs: s.remaining_secs,
            replay_window: window,
        };
        let (local, remote) = (v4(s.path.local.ip()), v4(s.path.remote.ip()));
        let pos = block.flows.iter().position(|f| {
            f.local_ident == s.selectors.local
                && f.remote_ident == s.selectors.remote
                && f.current_peer == remote
        });
        let pos = match pos {
            Some(p) => p,
            None => {
                block.flows.push(IpsecFlowSnapshot {
                    local_ident: s.selectors.local,
                    remote_ident: s.selectors.remote,
                    current_peer: remote,
                    peer_port: s.path.remote.port(),
                    flags: "origin_is_acl,".into(),
                    counters: FlowCounters::default(),
                    local_endpoint: local,
                    remote_endpoint: remote,
                    path_mtu: self.path_mtu,
                    ip_mtu: self.path_mtu,
                    ip_mtu_idb: block.map.interface.clone(),
                    current_outbound_spi: s.spi_out,
                    pfs_group: self
                        .endpoint
                        .config()
                        .peers
                        .get(s.peer.0)
                        .and_then(|p| p.pfs_group),
                    inbound_esp: Vec::new(),
                    outbound_esp: Vec::new(),
                });
                block.newest.push(s.child);
                block.flows.len() - 1
            }
        };
        let (Some(flow), Some(newest)) = (block.flows.get_mut(pos), block.newest.get_mut(pos))
        else {
            return;
        };
        if s.child >= *newest {
            *newest = s.child;
            flow.current_outbound_spi = s.spi_out;
        }
        add_counters(
            &mut flow.counters,
            &flow_counters(fig.inbound.as_ref(), fig.outbound.as_ref()),
        );
        flow.inbound_esp.push(snap(s.spi_in));
        flow.outbound_esp.push(snap(s.spi_out));
    }

    /// `show crypto ipsec sa [detail]`.
    pub fn ipsec_sa(&self, now: Instant, detail: bool) -> String {
        show::show_crypto_ipsec_sa(&self.ipsec_snapshot(now), detail)
    }

    /// Sessions of `show crypto session`: one per configured peer, one flow per crypto ACL
    /// line, with the lifetimes of the line's newest SA pair.
    pub fn sessions(&self, now: Instant) -> Vec<CryptoSession> {
        let isakmp = self.endpoint.isakmp_sas(now);
        let ipsec = self.endpoint.ipsec_sas(now);
        let mut sessions = Vec::new();
        for (i, pc) in self.endpoint.config().peers.iter().enumerate() {
            let ike = session_ike(&isakmp, PeerId(i), pc.address, None);
            let mut up_since: Option<Instant> = None;
            let mut flows = Vec::new();
            for sel in &pc.selectors {
                let children: Vec<&IpsecSaInfo> = ipsec
                    .iter()
                    .filter(|s| s.peer == PeerId(i) && s.selectors == *sel)
                    .collect();
                let mut f = SessionFlow {
                    local: sel.local,
                    remote: sel.remote,
                    active_sas: u32::try_from(children.len() * 2).unwrap_or(u32::MAX),
                    inbound_pkts: 0,
                    inbound_drops: 0,
                    outbound_pkts: 0,
                    outbound_drops: 0,
                    inbound_life: (0, 0),
                    outbound_life: (0, 0),
                };
                for c in &children {
                    up_since = Some(up_since.map_or(c.established, |u| u.min(c.established)));
                    let fig = (self.esp)(c);
                    if let Some(s) = fig.inbound {
                        f.inbound_pkts = f.inbound_pkts.saturating_add(s.decaps);
                        f.inbound_drops = f.inbound_drops.saturating_add(s.recv_errors());
                    }
                    if let Some(s) = fig.outbound {
                        f.outbound_pkts = f.outbound_pkts.saturating_add(s.encaps);
                        f.outbound_drops = f.outbound_drops.saturating_add(s.send_errors());
                    }
                }
                if let Some(c) = children.iter().max_by_key(|c| c.child) {
                    let fig = (self.esp)(c);
                    let negotiated = (c.lifetime_kb, c.remaining_secs);
                    f.inbound_life = fig.inbound_remaining.unwrap_or(negotiated);
                    f.outbound_life = fig.outbound_remaining.unwrap_or(negotiated);
                }
                flows.push(f);
            }
            let interface = (self.map)(PeerId(i)).interface;
            sessions.push(session(now, interface, pc.address, i, ike, flows, up_since));
        }
        sessions
    }

    /// `show crypto session [detail]`.
    pub fn crypto_session(&self, now: Instant, detail: bool) -> String {
        show::show_crypto_session(&self.sessions(now), detail)
    }
}
