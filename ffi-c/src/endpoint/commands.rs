//! Commands on a running endpoint: `ipsec_endpoint_add_peer`, `ipsec_endpoint_initiate`, the
//! deletes and the rekey, and `ipsec_endpoint_report_esp_usage`.

use ipsec_proto::ike::{ChildId, Endpoint, Error as IkeError, IkeSaId, PeerId};
use ipsec_proto::time::Instant;

use super::ipsec_endpoint;
use crate::config::{ipsec_peer_params, peer_from_params};
use crate::esp::ipsec_esp_sa;
use crate::ffi::{as_ref, boundary, lock, try_ok, try_some, write};
use crate::result::ipsec_result;

/// Adds a peer to a running endpoint; `*out_peer` (may be NULL) receives its index.
///
/// # Safety
/// `ep` a live handle; `params` readable with a valid `psk`; `out_peer` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_add_peer(
    ep: *mut ipsec_endpoint,
    params: *const ipsec_peer_params,
    out_peer: *mut u32,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        // SAFETY: caller contract.
        let params = try_some!(unsafe { as_ref(params) });
        // SAFETY: the struct's key pointer is valid by contract.
        let peer = match unsafe { peer_from_params(params) } {
            Ok(p) => p,
            Err(r) => return r,
        };
        let id = ep.ep.add_peer(peer);
        let Ok(index) = u32::try_from(id.0) else {
            return ipsec_result::IPSEC_RESULT_INVALID_CONFIG;
        };
        if !out_peer.is_null() {
            // SAFETY: non-NULL optional out-parameter.
            unsafe { write(out_peer, index) };
        }
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Starts negotiating the IPsec SA pair for crypto ACL line `selector` of peer `peer`: Main
/// Mode first when no ISAKMP SA exists, then Quick Mode. Then poll for datagrams to send.
///
/// # Safety
/// `ep` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_initiate(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    peer: u32,
    selector: u32,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        let (Ok(peer), Ok(selector)) = (usize::try_from(peer), usize::try_from(selector)) else {
            return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
        };
        let r = ep.ep.initiate(Instant(now_ms), PeerId(peer), selector);
        ep.pump(Instant(now_ms));
        match r {
            Ok(()) => ipsec_result::IPSEC_RESULT_OK,
            Err(e) => ipsec_result::from(&e),
        }
    })
}

/// Deletes an IPsec SA pair (sends a Delete to the peer when an ISAKMP SA exists).
///
/// # Safety
/// `ep` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_delete_child(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    child: u64,
) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe { command(ep, now_ms, |e, now| e.delete_child(now, ChildId(child))) }
}

/// Starts a new Quick Mode for IPsec SA pair `child` (a rekey); the old pair keeps carrying
/// traffic until the new one is established and then lives until it expires.
///
/// # Safety
/// `ep` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_rekey_child(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    child: u64,
) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe { command(ep, now_ms, |e, now| e.rekey_child(now, ChildId(child))) }
}

/// Deletes ISAKMP SA `ike_sa` (the id of `ipsec_event_ike_sa`), sending a Delete to the peer.
/// As IKEv1 specifies, its IPsec SA pairs stay up until they expire or are deleted themselves.
///
/// # Safety
/// `ep` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_delete_isakmp_sa(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    ike_sa: u32,
) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe {
        command(ep, now_ms, |e, now| {
            e.delete_isakmp_sa(now, IkeSaId(ike_sa))
        })
    }
}

/// Runs one endpoint command, then moves what it queued into the handle's queues.
///
/// # Safety
/// `ep` NULL or a live handle.
unsafe fn command(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    f: impl FnOnce(&mut Endpoint, Instant) -> Result<(), IkeError>,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        let r = f(&mut ep.ep, Instant(now_ms));
        ep.pump(Instant(now_ms));
        match r {
            Ok(()) => ipsec_result::IPSEC_RESULT_OK,
            Err(e) => ipsec_result::from(&e),
        }
    })
}

/// Tells the endpoint how the ESP SAs of pair `child` are used: bytes protected in both
/// directions and the time of the last packet each way. This drives rekeying on volume (the
/// kilobyte lifetime) and on-demand DPD (traffic out, nothing in). Call it periodically, e.g.
/// before `ipsec_endpoint_poll_timeout`. `sa_in` / `sa_out` may be NULL (direction unknown).
///
/// # Safety
/// `ep` a live handle; `sa_in`, `sa_out` NULL or live handles.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_report_esp_usage(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    child: u64,
    sa_in: *const ipsec_esp_sa,
    sa_out: *const ipsec_esp_sa,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        // SAFETY: caller contract.
        let (sa_in, sa_out) = unsafe { (as_ref(sa_in), as_ref(sa_out)) };
        if sa_in.is_some_and(|s| s.is_outbound()) || sa_out.is_some_and(|s| !s.is_outbound()) {
            return ipsec_result::IPSEC_RESULT_WRONG_DIRECTION;
        }
        let u_in = sa_in.map(|s| s.usage()).unwrap_or_default();
        let u_out = sa_out.map(|s| s.usage()).unwrap_or_default();
        ep.ep.report_esp_activity(
            Instant(now_ms),
            ChildId(child),
            u_in.last_activity,
            u_out.last_activity,
            u_in.bytes.saturating_add(u_out.bytes),
        );
        ipsec_result::IPSEC_RESULT_OK
    })
}
