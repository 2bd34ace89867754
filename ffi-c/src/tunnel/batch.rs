//! The batched data verbs of `ipsec_tunnel`: many packets (or datagrams) per call, checked
//! whole before any is handled.

use super::*;

/// What a batch call did with its packets, summed by verdict (written by
/// `ipsec_tunnel_handle_plaintext_batch`, `ipsec_tunnel_handle_esp_batch` and
/// `ipsec_tunnel_handle_datagram_batch`). The fields add up to the batch's `count`. Why each
/// dropped packet was dropped is counted where the single-packet call would name it (`show
/// crypto ipsec sa`, `ipsec_tunnel_get_counters`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ipsec_batch_verdicts {
    /// Cleartext: encapsulated and queued for the peer (`IPSEC_TUN_VERDICT_PROTECTED`). ESP and
    /// datagrams: accepted (decrypted and queued for `ipsec_tunnel_poll_plaintext`, or taken by
    /// IKE). The core's `protected`, renamed: that is a C++ keyword.
    pub accepted: usize,
    /// Cleartext: `IPSEC_TUN_VERDICT_NO_SA` (dropped, IKE started).
    pub no_sa: usize,
    /// Cleartext: `IPSEC_TUN_VERDICT_SEND_ERROR`.
    pub send_error: usize,
    /// Cleartext: `IPSEC_TUN_VERDICT_NOT_PROTECTED`.
    pub not_protected: usize,
    /// Cleartext: `IPSEC_TUN_VERDICT_MALFORMED`.
    pub malformed: usize,
    /// Cleartext for an interface that does not exist (a VTI; see `IPSEC_IFACE_INSIDE`).
    pub no_interface: usize,
    /// ESP and datagrams: dropped (what `ipsec_tunnel_handle_esp` or
    /// `ipsec_tunnel_handle_datagram` would have returned an error for).
    pub dropped: usize,
}

impl From<BatchVerdicts> for ipsec_batch_verdicts {
    fn from(v: BatchVerdicts) -> Self {
        ipsec_batch_verdicts {
            accepted: v.protected,
            no_sa: v.no_sa,
            send_error: v.send_error,
            not_protected: v.not_protected,
            malformed: v.malformed,
            no_interface: v.no_interface,
            dropped: v.dropped,
        }
    }
}

/// A batch of cleartext IPv4 packets that came in on `iface` (`IPSEC_IFACE_INSIDE` for the
/// protected side; N for `interface TunnelN`): packet `i` is the `lens[i]` bytes at
/// `packets[i]`. Per packet exactly what `ipsec_tunnel_handle_plaintext` does, in order, worked
/// in chunks so that a cipher gets many packets at once; `*out_verdicts` receives the verdicts
/// summed. Protected packets are then polled out with `ipsec_tunnel_poll_transmit` (the queue
/// is bounded: poll it between batches). A VTI's packets are refused and
/// counted (`no_interface`) while no configuration builds one.
///
/// The batch is checked whole before any packet is handled: `packets` and `lens` may be NULL
/// only when `count` is 0 (verdicts all 0), an element of `packets` only when its length is 0;
/// otherwise `IPSEC_RESULT_NULL_PARAMETER` and nothing is handled or written.
///
/// # Safety
/// `t` a live handle; `packets` and `lens` `count` readable elements each (or NULL with 0);
/// every `packets[i]` `lens[i]` readable bytes (or NULL with 0); `out_verdicts` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_handle_plaintext_batch(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    iface: u32,
    packets: *const *const u8,
    lens: *const usize,
    count: usize,
    out_verdicts: *mut ipsec_batch_verdicts,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let batch = try_some!(unsafe { Batch::new(packets, lens, count) });
        if out_verdicts.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let iface = match iface {
            IPSEC_IFACE_INSIDE => Iface::Inside,
            n => Iface::Tunnel(n),
        };
        let v = tun.handle_plaintext_batch(Instant(now_ms), iface, batch.iter());
        // SAFETY: checked non-NULL.
        unsafe { write(out_verdicts, v.into()) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// A batch of raw ESP packets (each the IP protocol 50 payload, SPI first) from `src` (IPv4;
/// the port is ignored), laid out as for `ipsec_tunnel_handle_plaintext_batch`. Per packet
/// exactly what `ipsec_tunnel_handle_esp` does, in order; `*out_verdicts` receives how many
/// were decrypted and queued for `ipsec_tunnel_poll_plaintext` (`accepted`) and how many
/// dropped (`dropped`; each counted under its reason, as `ipsec_tunnel_handle_esp` counts it).
/// A `src` that is not IPv4: `IPSEC_RESULT_INVALID_PARAMETER`. Errors handle nothing and write
/// nothing.
///
/// # Safety
/// `t` a live handle; `src` readable; `packets`, `lens`, `count` as for
/// `ipsec_tunnel_handle_plaintext_batch`; `out_verdicts` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_handle_esp_batch(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    src: *const ipsec_addr,
    packets: *const *const u8,
    lens: *const usize,
    count: usize,
    out_verdicts: *mut ipsec_batch_verdicts,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let src = try_some!(unsafe { as_ref(src) });
        // SAFETY: caller contract.
        let batch = try_some!(unsafe { Batch::new(packets, lens, count) });
        if out_verdicts.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let Some(src) = v4_from_c(src) else {
            return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
        };
        let v = tun.handle_esp_batch(Instant(now_ms), *src.ip(), batch.iter());
        // SAFETY: checked non-NULL.
        unsafe { write(out_verdicts, v.into()) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// A batch of UDP datagrams received on `path->local` (our address, port 500 or 4500) from
/// `path->remote` (the datagrams of one `recvmmsg` from one peer, or a GRO train cut at its
/// segment size), laid out as for `ipsec_tunnel_handle_plaintext_batch`. Per datagram exactly
/// what `ipsec_tunnel_handle_datagram` does, in order; `*out_verdicts` receives how many were
/// accepted (`accepted`) and how many dropped (`dropped`, each counted under its reason). IPv4
/// only: other families give `IPSEC_RESULT_INVALID_PARAMETER`. Errors handle nothing and write
/// nothing.
///
/// # Safety
/// `t` a live handle; `path` readable; `packets`, `lens`, `count` as for
/// `ipsec_tunnel_handle_plaintext_batch`; `out_verdicts` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_handle_datagram_batch(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    path: *const ipsec_path,
    packets: *const *const u8,
    lens: *const usize,
    count: usize,
    out_verdicts: *mut ipsec_batch_verdicts,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let path = try_some!(unsafe { as_ref(path) });
        // SAFETY: caller contract.
        let batch = try_some!(unsafe { Batch::new(packets, lens, count) });
        if out_verdicts.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let (Some(local), Some(remote)) = (v4_from_c(&path.local), v4_from_c(&path.remote)) else {
            return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
        };
        let v = tun.handle_udp_batch(Instant(now_ms), local, remote, batch.iter());
        // SAFETY: checked non-NULL.
        unsafe { write(out_verdicts, v.into()) };
        ipsec_result::IPSEC_RESULT_OK
    })
}
