//! Read-only views of an endpoint: `ipsec_endpoint_get_counters`, the `show crypto isakmp sa`
//! and `show crypto ipsec sa` renderings, and the troubleshooting diagnosis.

use std::collections::BTreeMap;

use ipsec_proto::diagnose;
use ipsec_proto::ike::show::{self, CryptoMapShow, EndpointShow, EspPairFigures};
use ipsec_proto::ike::{ChildId, Counters, IpsecSaInfo};
use ipsec_proto::ios::show::IosFlavor;
use ipsec_proto::time::Instant;

use super::{ipsec_endpoint, EndpointState};
use crate::esp::ipsec_esp_sa;
use crate::ffi::{as_ref, boundary, peek, try_ok, write, write_text};
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
        let text = show::isakmp_sa(&ep.ep, Instant(now_ms), IosFlavor::V12_4T, false);
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}

/// The caller's ESP SA handles by (outbound, SPI).
type HandlesBySpi<'a> = BTreeMap<(bool, u32), &'a ipsec_esp_sa>;

/// Reads the caller's handle array `sas[0..n_sas]` (`sas` may be NULL when `n_sas` is 0).
///
/// # Safety
/// `sas` NULL or `n_sas` readable pointers to live handles that outlive `'a`.
unsafe fn handles_by_spi<'a>(
    sas: *const *const ipsec_esp_sa,
    n_sas: usize,
) -> Result<HandlesBySpi<'a>, ipsec_result> {
    let handles: &[*const ipsec_esp_sa] = if n_sas == 0 {
        &[]
    } else if sas.is_null() {
        return Err(ipsec_result::IPSEC_RESULT_NULL_PARAMETER);
    } else {
        // SAFETY: non-NULL `sas` points to `n_sas` readable pointers (contract).
        unsafe { std::slice::from_raw_parts(sas, n_sas) }
    };
    let mut by_spi = BTreeMap::new();
    for h in handles {
        // SAFETY: each element is a live handle (contract).
        let h = unsafe { as_ref(*h) }.ok_or(ipsec_result::IPSEC_RESULT_NULL_PARAMETER)?;
        by_spi.insert((h.is_outbound(), h.spi()), h);
    }
    Ok(by_spi)
}

/// `show crypto ipsec sa` through the endpoint-level builder: one interface block (the
/// configuration's, shown even without SAs), oldest pair first, the packet counters of the
/// handles in `by_spi`, the configured replay window, and the kilobytes left computed from
/// the bytes both handles carried.
fn ipsec_sa_text(ep: &EndpointState, now: Instant, by_spi: &HandlesBySpi<'_>) -> String {
    let map = CryptoMapShow {
        interface: ep.show.interface.clone(),
        map_tag: ep.show.map_tag.clone(),
        local_addr: ep.show.local_addr,
    };
    let esp = |info: &IpsecSaInfo| {
        let inbound = by_spi.get(&(false, info.spi_in)).map(|h| h.stats());
        let outbound = by_spi.get(&(true, info.spi_out)).map(|h| h.stats());
        let used = inbound.map_or(0, |s| s.bytes_decaps) + outbound.map_or(0, |s| s.bytes_encaps);
        let left = (
            info.lifetime_kb.saturating_sub(used / 1024),
            info.remaining_secs,
        );
        EspPairFigures {
            inbound,
            outbound,
            inbound_remaining: Some(left),
            outbound_remaining: Some(left),
            replay_window: Some(ep.replay_window),
        }
    };
    EndpointShow {
        endpoint: &ep.ep,
        map: &|_| map.clone(),
        esp: &esp,
        path_mtu: 1500,
        newest_first: false,
        interfaces: vec![map.clone()],
    }
    .ipsec_sa(now, false)
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
        // SAFETY: forwarded caller contract.
        let by_spi = try_ok!(unsafe { handles_by_spi(sas, n_sas) });
        let text = ipsec_sa_text(&ep, Instant(now_ms), &by_spi);
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
        // SAFETY: forwarded caller contract.
        let by_spi = try_ok!(unsafe { handles_by_spi(sas, n_sas) });
        let now = Instant(now_ms);
        let pairs: BTreeMap<ChildId, (u32, u32)> = ep
            .ep
            .ipsec_sas(now)
            .iter()
            .map(|s| (s.child, (s.spi_in, s.spi_out)))
            .collect();
        let esp = |c: ChildId| {
            let (spi_in, spi_out) = pairs.get(&c)?;
            let inb = by_spi.get(&(false, *spi_in)).map(|h| h.stats());
            let out = by_spi.get(&(true, *spi_out)).map(|h| h.stats());
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
