//! Filling the IOS show snapshots from the endpoint's views (and the caller's ESP SAs).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use pyo3::PyRef;

use ipsec_proto::esp::EspStats;
use ipsec_proto::ike::SelectorPair;
use ipsec_proto::ike::{IpsecSaInfo, IsakmpSaInfo};
use ipsec_proto::ios::show::{
    show_crypto_ipsec_sa, show_crypto_isakmp_sa, show_crypto_isakmp_sa_detail, show_crypto_session,
    CryptoSession, EspSaSnapshot, FlowCounters, IosFlavor, IpsecFlowSnapshot,
    IpsecInterfaceSnapshot, IsakmpSaDetail, IsakmpSaRow, SessionFlow, SessionIkeSa, SessionStatus,
};
use ipsec_proto::time::Instant;

use crate::endpoint::Endpoint;
use crate::esp::EspSa;

/// The caller's ESP SAs by child id: `(inbound, outbound)`.
pub(crate) type EspPairs<'py> = HashMap<u64, (PyRef<'py, EspSa>, PyRef<'py, EspSa>)>;

fn v4(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

pub(crate) fn isakmp_sa(sas: &[IsakmpSaInfo], flavor: IosFlavor) -> String {
    let rows: Vec<IsakmpSaRow> = sas.iter().filter_map(IsakmpSaInfo::show_row).collect();
    show_crypto_isakmp_sa(&rows, flavor)
}

pub(crate) fn isakmp_sa_detail(sas: &[IsakmpSaInfo]) -> String {
    let rows: Vec<IsakmpSaDetail> = sas.iter().filter_map(IsakmpSaInfo::show_detail).collect();
    show_crypto_isakmp_sa_detail(&rows)
}

fn counters(inb: &EspStats, out: &EspStats) -> FlowCounters {
    FlowCounters {
        encaps: out.encaps,
        encrypt: out.encrypt,
        digest: out.digest,
        decaps: inb.decaps,
        decrypt: inb.decrypt,
        verify: inb.verify,
        send_errors: out.send_errors(),
        recv_errors: inb.recv_errors(),
        encaps_failed_send: out.encaps_failed,
        decaps_failed_rcv: inb.decaps_failed,
        verify_failed: inb.verify_failed,
        invalid_len_rcv: inb.invalid_len,
        replay_rollover_send: out.replay_rollover_send,
        replay_failed_rcv: inb.replay_failed,
        ..FlowCounters::default()
    }
}

fn add(a: &mut FlowCounters, b: &FlowCounters) {
    a.encaps += b.encaps;
    a.encrypt += b.encrypt;
    a.digest += b.digest;
    a.decaps += b.decaps;
    a.decrypt += b.decrypt;
    a.verify += b.verify;
    a.send_errors += b.send_errors;
    a.recv_errors += b.recv_errors;
    a.encaps_failed_send += b.encaps_failed_send;
    a.decaps_failed_rcv += b.decaps_failed_rcv;
    a.verify_failed += b.verify_failed;
    a.invalid_len_rcv += b.invalid_len_rcv;
    a.replay_rollover_send += b.replay_rollover_send;
    a.replay_failed_rcv += b.replay_failed_rcv;
}

/// One interface block per crypto map, one flow per proxy pair (SAs of a rekey share it, as on
/// IOS), newest SA first.
pub(crate) fn ipsec_sa(
    ep: &Endpoint,
    sas: &[IpsecSaInfo],
    esp: &EspPairs<'_>,
    now: Instant,
    detail: bool,
    path_mtu: u16,
) -> String {
    let mut ifaces: Vec<IpsecInterfaceSnapshot> = Vec::new();
    let mut sorted: Vec<&IpsecSaInfo> = sas.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.child));
    for s in sorted {
        let meta = ep.meta.get(s.peer.0);
        let iface_name = meta
            .and_then(|m| m.interface.clone())
            .unwrap_or_else(|| "(none)".into());
        let map_tag = meta.map(|m| m.map.clone()).unwrap_or_default();
        let local_addr = meta
            .and_then(|m| m.local)
            .unwrap_or_else(|| v4(s.path.local.ip()));
        let pos = match ifaces
            .iter()
            .position(|i| i.interface == iface_name && i.map_tag == map_tag)
        {
            Some(p) => p,
            None => {
                ifaces.push(IpsecInterfaceSnapshot {
                    interface: iface_name.clone(),
                    map_tag: map_tag.clone(),
                    local_addr,
                    flows: Vec::new(),
                });
                ifaces.len() - 1
            }
        };
        let Some(iface) = ifaces.get_mut(pos) else {
            continue;
        };
        let pair = esp.get(&s.child.0);
        let (c, remaining_kb, window) = match pair {
            Some((i, o)) => {
                let (kb, _) = o.remaining(now);
                (
                    counters(&i.esp_stats(), &o.esp_stats()),
                    kb,
                    i.replay_window_size(),
                )
            }
            None => (FlowCounters::default(), s.lifetime_kb, 64),
        };
        let snap = |spi: u32| EspSaSnapshot {
            spi,
            encryption: s.transform.esp_encryption,
            integrity: s.transform.esp_integrity,
            mode: s.mode,
            udp_encap: s.udp_encap,
            conn_id: 2000 + u32::try_from(s.child.0).unwrap_or(0),
            flow_id: format!("SW:{}", s.child.0),
            crypto_map: map_tag.clone(),
            remaining_kb,
            remaining_secs: s.remaining_secs,
            replay_window: window,
        };
        let sel: SelectorPair = s.selectors;
        let flow = match iface.flows.iter_mut().find(|f| {
            f.local_ident == sel.local
                && f.remote_ident == sel.remote
                && f.current_peer == v4(s.path.remote.ip())
        }) {
            Some(f) => f,
            None => {
                let pfs_group = ep.ep.config().peers.get(s.peer.0).and_then(|p| p.pfs_group);
                iface.flows.push(IpsecFlowSnapshot {
                    local_ident: sel.local,
                    remote_ident: sel.remote,
                    current_peer: v4(s.path.remote.ip()),
                    peer_port: s.path.remote.port(),
                    flags: "origin_is_acl,".into(),
                    counters: FlowCounters::default(),
                    local_endpoint: v4(s.path.local.ip()),
                    remote_endpoint: v4(s.path.remote.ip()),
                    path_mtu,
                    ip_mtu: path_mtu,
                    ip_mtu_idb: iface_name.clone(),
                    current_outbound_spi: s.spi_out,
                    pfs_group,
                    inbound_esp: Vec::new(),
                    outbound_esp: Vec::new(),
                });
                match iface.flows.last_mut() {
                    Some(f) => f,
                    None => continue,
                }
            }
        };
        add(&mut flow.counters, &c);
        flow.inbound_esp.push(snap(s.spi_in));
        flow.outbound_esp.push(snap(s.spi_out));
    }
    show_crypto_ipsec_sa(&ifaces, detail)
}

/// `show crypto session [detail]`: one session per configured peer, one flow per crypto ACL
/// line, with the caller's ESP counters when `esp` has the pair.
pub(crate) fn crypto_session(
    ep: &Endpoint,
    now: Instant,
    esp: &EspPairs<'_>,
    detail: bool,
) -> String {
    let isakmp = ep.ep.isakmp_sas(now);
    let ipsec = ep.ep.ipsec_sas(now);
    let mut sessions = Vec::new();
    for (i, pc) in ep.ep.config().peers.iter().enumerate() {
        let addr = IpAddr::V4(pc.address);
        let ike = isakmp
            .iter()
            .filter(|s| s.peer.0 == i && s.path.remote.ip() == addr)
            .max_by_key(|s| (s.state == ipsec_proto::ike::IsakmpState::QmIdle, s.conn_id));
        let mut up_since: Option<Instant> = None;
        let mut flows = Vec::new();
        for sel in &pc.selectors {
            let children: Vec<&IpsecSaInfo> = ipsec
                .iter()
                .filter(|s| s.peer.0 == i && s.selectors == *sel)
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
                if let Some((inb, out)) = esp.get(&c.child.0) {
                    let (si, so) = (inb.esp_stats(), out.esp_stats());
                    f.inbound_pkts = f.inbound_pkts.saturating_add(si.decaps);
                    f.inbound_drops = f.inbound_drops.saturating_add(si.recv_errors());
                    f.outbound_pkts = f.outbound_pkts.saturating_add(so.encaps);
                    f.outbound_drops = f.outbound_drops.saturating_add(so.send_errors());
                }
            }
            // Lifetimes of the newest pair, as IOS shows the current SA.
            if let Some(c) = children.iter().max_by_key(|c| c.child) {
                match esp.get(&c.child.0) {
                    Some((inb, out)) => {
                        f.inbound_life = inb.remaining(now);
                        f.outbound_life = out.remaining(now);
                    }
                    None => {
                        f.inbound_life = (c.lifetime_kb, c.remaining_secs);
                        f.outbound_life = (c.lifetime_kb, c.remaining_secs);
                    }
                }
            }
            flows.push(f);
        }
        let any_sa = flows.iter().any(|f| f.active_sas > 0);
        let ike_up = ike.is_some_and(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle);
        let status = match (ike, ike_up, any_sa) {
            (_, true, true) => SessionStatus::UpActive,
            (_, true, false) => SessionStatus::UpIdle,
            (_, false, true) => SessionStatus::UpNoIke,
            (Some(_), false, false) => SessionStatus::DownNegotiating,
            (None, false, false) => SessionStatus::Down,
        };
        sessions.push(CryptoSession {
            interface: ep
                .meta
                .get(i)
                .and_then(|m| m.interface.clone())
                .unwrap_or_else(|| "(none)".into()),
            uptime_secs: up_since.map_or(0, |u| now.saturating_duration_since(u).as_secs()),
            status,
            peer: pc.address,
            peer_port: ike.map_or(500, |s| s.path.remote.port()),
            phase1_id: pc.address.to_string(),
            session_id: u32::try_from(i).unwrap_or(u32::MAX),
            ike: ike.map(|s| SessionIkeSa {
                local: v4(s.path.local.ip()),
                local_port: s.path.local.port(),
                remote: v4(s.path.remote.ip()),
                remote_port: s.path.remote.port(),
                active: s.state == ipsec_proto::ike::IsakmpState::QmIdle,
                capabilities: s.capabilities(),
                conn_id: if s.state == ipsec_proto::ike::IsakmpState::QmIdle {
                    s.conn_id
                } else {
                    0
                },
                remaining_secs: s.remaining_secs.unwrap_or(0),
            }),
            flows,
        });
    }
    show_crypto_session(&sessions, detail)
}
