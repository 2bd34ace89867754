//! Datagrams in and out and the timers: `ipsec_endpoint_handle_datagram`,
//! `ipsec_endpoint_handle_timeout`, `ipsec_endpoint_poll_transmit`, `ipsec_endpoint_poll_timeout`.

use ipsec_proto::ike::Path;
use ipsec_proto::time::Instant;

use super::{ipsec_endpoint, ipsec_path, path_to_c, IPSEC_LOG_WARN};
use crate::ffi::{
    addr_from_c, as_ref, boundary, in_slice, lock, out_slice, peek, polled, try_ok, try_some, write,
};
use crate::result::ipsec_result;

/// A datagram written by `ipsec_endpoint_poll_transmit`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_transmit {
    /// Where to send it from and to.
    pub path: ipsec_path,
    /// Bytes written into the buffer.
    pub len: usize,
    /// Prefix the 4-byte non-ESP marker (0,0,0,0) when sending (IKE on UDP 4500); the buffer
    /// does not contain it.
    pub non_esp_marker: bool,
}

/// Feeds one UDP datagram received on port 500 or 4500 (with the non-ESP marker still in front
/// on 4500; a 1-byte 0xFF NAT keepalive is accepted too). Returns `IPSEC_RESULT_OK` when the
/// datagram was accepted, or the reason it was dropped and counted
/// (`IPSEC_RESULT_MALFORMED_MESSAGE`, `IPSEC_RESULT_UNKNOWN_SA`, `IPSEC_RESULT_PEER_MISBEHAVED`,
/// `IPSEC_RESULT_HASH_MISMATCH`, `IPSEC_RESULT_REPLAYED_MESSAGE_ID`,
/// `IPSEC_RESULT_ZERO_RESPONDER_COOKIE`, `IPSEC_RESULT_BAD_DPD`,
/// `IPSEC_RESULT_QUICK_MODE_FLOOD`); a dropped datagram never changes established state.
/// Negotiation failures come out as events.
///
/// # Safety
/// `ep` a live handle; `path` readable; `data` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_handle_datagram(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    path: *const ipsec_path,
    data: *const u8,
    len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        // SAFETY: caller contract.
        let path = try_some!(unsafe { as_ref(path) });
        // SAFETY: caller contract.
        let data = try_some!(unsafe { in_slice(data, len) });
        let (Some(local), Some(remote)) = (addr_from_c(&path.local), addr_from_c(&path.remote))
        else {
            return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
        };
        let path = Path { local, remote };
        // A NAT keepalive (one 0xFF byte) is no IKE message.
        if data != [0xff] {
            ep.rec.ike_received(Instant(now_ms), &path);
        }
        let verdict = ep.ep.handle_datagram(Instant(now_ms), path, data);
        ep.pump(Instant(now_ms));
        match verdict {
            Ok(()) => ipsec_result::IPSEC_RESULT_OK,
            Err(why) => {
                ep.log(
                    IPSEC_LOG_WARN,
                    &format!("dropped a {len}-byte datagram from {remote}: {why}"),
                );
                (&why).into()
            }
        }
    })
}

/// Runs everything due at `now_ms`: retransmissions, give-ups, lifetimes, rekeys, DPD, NAT
/// keepalives. Call it when the deadline from `ipsec_endpoint_poll_timeout` has passed.
///
/// # Safety
/// `ep` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_handle_timeout(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        ep.ep.handle_timeout(Instant(now_ms));
        ep.pump(Instant(now_ms));
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Writes the next datagram to send into `buf` and its addresses into `*out`.
/// `IPSEC_RESULT_NONE` when nothing is queued. On `IPSEC_RESULT_BUFFER_TOO_SMALL` the datagram
/// stays queued and `*out_required` (may be NULL) receives its size; otherwise `out_required` is
/// not written.
///
/// # Safety
/// `ep` a live handle; `buf` `cap` writable bytes; `out` writable; `out_required` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_poll_transmit(
    ep: *mut ipsec_endpoint,
    now_ms: u64,
    buf: *mut u8,
    cap: usize,
    out: *mut ipsec_transmit,
    out_required: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        // SAFETY: caller contract.
        let buf = try_some!(unsafe { out_slice(buf, cap) });
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        ep.pump(Instant(now_ms));
        let r = ep.ep.poll_transmit(Instant(now_ms), buf).map(|t| {
            t.map(|t| {
                ep.rec
                    .ike_sent(Instant(now_ms), &t.path, buf.get(..t.len).unwrap_or(&[]));
                ipsec_transmit {
                    path: path_to_c(t.path),
                    len: t.len,
                    non_esp_marker: t.non_esp_marker,
                }
            })
        });
        // SAFETY: `out` checked non-NULL; `out_required` is the caller's optional pointer.
        unsafe { polled(r, out, out_required) }
    })
}

/// The absolute time (same clock as every `now_ms`) at which `ipsec_endpoint_handle_timeout`
/// has work to do. Returns false (and leaves `*out_deadline_ms` alone) when no timer runs, or
/// for NULL arguments.
///
/// # Safety
/// `ep` NULL or a live handle; `out_deadline_ms` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_poll_timeout(
    ep: *const ipsec_endpoint,
    out_deadline_ms: *mut u64,
) -> bool {
    boundary(|| {
        // SAFETY: caller contract.
        let Ok(ep) = (unsafe { peek(ep) }) else {
            return false;
        };
        if out_deadline_ms.is_null() {
            return false;
        }
        match ep.ep.poll_timeout() {
            Some(t) => {
                // SAFETY: checked non-NULL.
                unsafe { write(out_deadline_ms, t.as_millis()) };
                true
            }
            None => false,
        }
    })
}
