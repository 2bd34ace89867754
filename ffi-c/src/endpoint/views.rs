//! Read-only views of an endpoint: `ipsec_endpoint_get_counters`, the `show crypto isakmp sa`
//! and `show crypto ipsec sa` renderings, and the troubleshooting diagnosis.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipsec_proto::diagnose;
use ipsec_proto::ike::{ChildId, Counters, IpsecSaInfo};
use ipsec_proto::ios::show::{
    show_crypto_ipsec_sa, show_crypto_isakmp_sa, EspSaSnapshot, FlowCounters, IosFlavor,
    IpsecFlowSnapshot, IpsecInterfaceSnapshot, IsakmpSaRow,
};
use ipsec_proto::time::Instant;

use super::{ipsec_endpoint, EndpointState};
use crate::esp::{ipsec_esp_sa, Dir};
use crate::ffi::{as_ref, boundary, peek, try_ok, try_some, write, write_text};
use crate::result::ipsec_result;

/// Drop and error counters of an endpoint.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_endpoint_counters {
    /// Datagrams that failed to parse.
    pub malformed: u64,
    /// Datagrams for unknown cookies that are not a new Main Mode.
    pub unknown_sa: u64,
    /// Retransmitted requests answered from the reply cache.
    pub duplicates: u64,
    /// Messages not acceptable in the current state.
    pub unexpected: u64,
    /// HASH payloads that failed verification.
    pub bad_hash: u64,
    /// Half-open responder SAs dropped because of the limit.
    pub half_open_dropped: u64,
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// NAT keepalives received.
    pub keepalives_received: u64,
}

impl From<Counters> for ipsec_endpoint_counters {
    fn from(c: Counters) -> Self {
        ipsec_endpoint_counters {
            malformed: c.malformed,
            unknown_sa: c.unknown_sa,
            duplicates: c.duplicates,
            unexpected: c.unexpected,
            bad_hash: c.bad_hash,
            half_open_dropped: c.half_open_dropped,
            retransmissions: c.retransmissions,
            keepalives_received: c.keepalives_received,
        }
    }
}

/// Copies the endpoint's drop counters into `*out`.
///
/// # Safety
/// `ep` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_get_counters(
    ep: *const ipsec_endpoint,
    out: *mut ipsec_endpoint_counters,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ep = try_ok!(unsafe { peek(ep) });
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: checked non-NULL.
        unsafe { write(out, ep.ep.counters().into()) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Renders `show crypto isakmp sa` (IOS 12.4T layout) into `buf`, NUL-terminated. `*out_len`
/// receives the text length; on `IPSEC_RESULT_BUFFER_TOO_SMALL` the capacity needed (NUL
/// included) and nothing is copied.
///
/// # Safety
/// `ep` a live handle; `buf` `cap` writable bytes (or NULL with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_show_isakmp_sa(
    ep: *const ipsec_endpoint,
    now_ms: u64,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ep = try_ok!(unsafe { peek(ep) });
        let rows: Vec<IsakmpSaRow> = ep
            .ep
            .isakmp_sas(Instant(now_ms))
            .into_iter()
            .filter_map(|s| s.show_row())
            .collect();
        let text = show_crypto_isakmp_sa(&rows, IosFlavor::V12_4T);
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}

fn v4(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

fn esp_snapshot(
    info: &IpsecSaInfo,
    spi: u32,
    used_bytes: u64,
    replay_window: u32,
) -> EspSaSnapshot {
    EspSaSnapshot {
        spi,
        encryption: info.transform.esp_encryption,
        integrity: info.transform.esp_integrity,
        mode: info.mode,
        udp_encap: info.udp_encap,
        conn_id: u32::try_from(2000 + info.child.0).unwrap_or(u32::MAX),
        flow_id: format!("SW:{}", info.child.0),
        crypto_map: String::new(),
        remaining_kb: info.lifetime_kb.saturating_sub(used_bytes / 1024),
        remaining_secs: info.remaining_secs,
        replay_window,
    }
}

/// Builds the `show crypto ipsec sa` snapshot from the endpoint's SA pairs and the caller's ESP
/// SA handles (matched by SPI for the packet counters).
fn ipsec_snapshot(
    ep: &EndpointState,
    now: Instant,
    sas: &[&ipsec_esp_sa],
) -> IpsecInterfaceSnapshot {
    let by_spi: BTreeMap<(bool, u32), &ipsec_esp_sa> = sas
        .iter()
        .map(|s| ((matches!(s.dir, Dir::Out(_)), s.spi()), *s))
        .collect();
    let mut flows: Vec<IpsecFlowSnapshot> = Vec::new();
    for info in ep.ep.ipsec_sas(now) {
        let inbound = by_spi.get(&(false, info.spi_in));
        let outbound = by_spi.get(&(true, info.spi_out));
        let mut c = FlowCounters::default();
        if let Some(i) = inbound {
            let s = i.stats();
            c.decaps = s.decaps;
            c.decrypt = s.decrypt;
            c.verify = s.verify;
            c.recv_errors = s.recv_errors();
            c.verify_failed = s.verify_failed;
            c.replay_failed_rcv = s.replay_failed;
            c.invalid_len_rcv = s.invalid_len;
            c.decaps_failed_rcv = s.decaps_failed;
        }
        if let Some(o) = outbound {
            let s = o.stats();
            c.encaps = s.encaps;
            c.encrypt = s.encrypt;
            c.digest = s.digest;
            c.send_errors = s.send_errors();
            c.encaps_failed_send = s.encaps_failed;
            c.replay_rollover_send = s.replay_rollover_send;
        }
        let used = inbound.map_or(0, |i| i.stats().bytes_decaps)
            + outbound.map_or(0, |o| o.stats().bytes_encaps);
        let mut in_sa = esp_snapshot(&info, info.spi_in, used, ep.replay_window);
        let mut out_sa = esp_snapshot(&info, info.spi_out, used, ep.replay_window);
        in_sa.crypto_map.clone_from(&ep.show.map_tag);
        out_sa.crypto_map.clone_from(&ep.show.map_tag);
        let pos = flows.iter().position(|f| {
            f.local_ident == info.selectors.local
                && f.remote_ident == info.selectors.remote
                && f.current_peer == v4(info.path.remote.ip())
        });
        let flow = match pos.and_then(|p| flows.get_mut(p)) {
            Some(f) => f,
            None => {
                flows.push(IpsecFlowSnapshot {
                    local_ident: info.selectors.local,
                    remote_ident: info.selectors.remote,
                    current_peer: v4(info.path.remote.ip()),
                    peer_port: info.path.remote.port(),
                    flags: "origin_is_acl,".into(),
                    counters: FlowCounters::default(),
                    local_endpoint: v4(info.path.local.ip()),
                    remote_endpoint: v4(info.path.remote.ip()),
                    path_mtu: 1500,
                    ip_mtu: 1500,
                    ip_mtu_idb: ep.show.interface.clone(),
                    current_outbound_spi: 0,
                    pfs_group: ep
                        .ep
                        .config()
                        .peers
                        .get(info.peer.0)
                        .and_then(|p| p.pfs_group),
                    inbound_esp: Vec::new(),
                    outbound_esp: Vec::new(),
                });
                let last = flows.len() - 1;
                #[allow(clippy::indexing_slicing)] // just pushed
                &mut flows[last]
            }
        };
        add_counters(&mut flow.counters, &c);
        flow.current_outbound_spi = info.spi_out;
        flow.inbound_esp.push(in_sa);
        flow.outbound_esp.push(out_sa);
    }
    let local_addr = ep
        .show
        .local_addr
        .or_else(|| flows.first().map(|f| f.local_endpoint))
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    IpsecInterfaceSnapshot {
        interface: ep.show.interface.clone(),
        map_tag: ep.show.map_tag.clone(),
        local_addr,
        flows,
    }
}

fn add_counters(a: &mut FlowCounters, b: &FlowCounters) {
    a.encaps += b.encaps;
    a.encrypt += b.encrypt;
    a.digest += b.digest;
    a.decaps += b.decaps;
    a.decrypt += b.decrypt;
    a.verify += b.verify;
    a.send_errors += b.send_errors;
    a.recv_errors += b.recv_errors;
    a.verify_failed += b.verify_failed;
    a.replay_failed_rcv += b.replay_failed_rcv;
    a.invalid_len_rcv += b.invalid_len_rcv;
    a.decaps_failed_rcv += b.decaps_failed_rcv;
    a.encaps_failed_send += b.encaps_failed_send;
    a.replay_rollover_send += b.replay_rollover_send;
}

/// Renders `show crypto ipsec sa` into `buf` like `ipsec_endpoint_show_isakmp_sa`. The packet
/// counters come from the caller's ESP SA handles `sas[0..n_sas]` (matched by SPI and
/// direction; `sas` may be NULL when `n_sas` is 0); pairs without handles show zero counters.
///
/// # Safety
/// `ep` a live handle; `sas` NULL or `n_sas` readable pointers to live handles; `buf` `cap`
/// writable bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_show_ipsec_sa(
    ep: *const ipsec_endpoint,
    now_ms: u64,
    sas: *const *const ipsec_esp_sa,
    n_sas: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ep = try_ok!(unsafe { peek(ep) });
        let handles: &[*const ipsec_esp_sa] = if n_sas == 0 {
            &[]
        } else if sas.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        } else {
            // SAFETY: non-NULL `sas` points to `n_sas` readable pointers (contract).
            unsafe { std::slice::from_raw_parts(sas, n_sas) }
        };
        let mut refs = Vec::with_capacity(handles.len());
        for h in handles {
            // SAFETY: each element is a live handle (contract).
            refs.push(try_some!(unsafe { as_ref(*h) }));
        }
        let snap = ipsec_snapshot(&ep, Instant(now_ms), &refs);
        let text = show_crypto_ipsec_sa(&[snap], false);
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}

/// Renders the troubleshooting diagnosis at `now_ms` into `buf`, NUL-terminated, as the CLI's
/// `diagnose` prints it: per configured peer the cause (Phase 1, then Phase 2, then the
/// counters, as the IOS procedure goes), its evidence, what to check, and the `show`/`debug`
/// lines that confirm it; then addresses that sent IKE without being a peer. The endpoint
/// records the history this reads (IKE datagrams in and out, failures, notifies) as the other
/// calls run. No ESP counters are seen here (the ESP SAs are the caller's): use
/// `ipsec_endpoint_diagnose_with_sas` to have one-way tunnels and ICV or replay failures
/// diagnosed. `*out_len` receives the text length; on `IPSEC_RESULT_BUFFER_TOO_SMALL` the
/// capacity needed (NUL included) and nothing is copied.
///
/// # Safety
/// `ep` a live handle; `buf` `cap` writable bytes (or NULL with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_diagnose(
    ep: *const ipsec_endpoint,
    now_ms: u64,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    // SAFETY: forwarded caller contract; no handle array.
    unsafe { ipsec_endpoint_diagnose_with_sas(ep, now_ms, std::ptr::null(), 0, buf, cap, out_len) }
}

/// `ipsec_endpoint_diagnose` with the packet counters of the caller's ESP SA handles
/// `sas[0..n_sas]` (matched by SPI and direction, as for `ipsec_endpoint_show_ipsec_sa`; `sas`
/// may be NULL when `n_sas` is 0).
///
/// # Safety
/// `ep` a live handle; `sas` NULL or `n_sas` readable pointers to live handles; `buf` `cap`
/// writable bytes (or NULL with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_diagnose_with_sas(
    ep: *const ipsec_endpoint,
    now_ms: u64,
    sas: *const *const ipsec_esp_sa,
    n_sas: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ep = try_ok!(unsafe { peek(ep) });
        let handles: &[*const ipsec_esp_sa] = if n_sas == 0 {
            &[]
        } else if sas.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        } else {
            // SAFETY: non-NULL `sas` points to `n_sas` readable pointers (contract).
            unsafe { std::slice::from_raw_parts(sas, n_sas) }
        };
        let mut by_spi: BTreeMap<(bool, u32), &ipsec_esp_sa> = BTreeMap::new();
        for h in handles {
            // SAFETY: each element is a live handle (contract).
            let h = try_some!(unsafe { as_ref(*h) });
            by_spi.insert((h.is_outbound(), h.spi()), h);
        }
        let now = Instant(now_ms);
        let pairs: BTreeMap<ChildId, (u32, u32)> = ep
            .ep
            .ipsec_sas(now)
            .iter()
            .map(|s| (s.child, (s.spi_in, s.spi_out)))
            .collect();
        let esp = |c: ChildId| {
            let (spi_in, spi_out) = pairs.get(&c)?;
            let inb = by_spi.get(&(false, *spi_in)).map(|h| *h.stats());
            let out = by_spi.get(&(true, *spi_out)).map(|h| *h.stats());
            (inb.is_some() || out.is_some())
                .then(|| (inb.unwrap_or_default(), out.unwrap_or_default()))
        };
        let map = |_: usize| ep.show.map_tag.clone();
        let verdicts = ep.rec.diagnose(now, &ep.ep, None, &esp, 1500, &map);
        let text = diagnose::render(&verdicts);
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}
