//! Filling the IOS show snapshots from the endpoint's views (and the caller's ESP SAs).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use pyo3::PyRef;

use ipsec_proto::esp::EspStats;
use ipsec_proto::ike::SelectorPair;
use ipsec_proto::ike::{IpsecSaInfo, IsakmpSaInfo};
use ipsec_proto::ios::show::{
    show_crypto_ipsec_sa, show_crypto_isakmp_sa, show_crypto_isakmp_sa_detail, EspSaSnapshot,
    FlowCounters, IosFlavor, IpsecFlowSnapshot, IpsecInterfaceSnapshot, IsakmpSaDetail,
    IsakmpSaRow,
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
