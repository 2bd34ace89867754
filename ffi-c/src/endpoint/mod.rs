//! `ipsec_endpoint` (the IKEv1 endpoint, pull-style) and `ipsec_event`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{c_char, c_void, CString};
use std::net::{IpAddr, Ipv4Addr};

use ipsec_proto::diagnose::{self, EndpointRecorder};
use ipsec_proto::esp::{EspConfig, LifetimeConfig, LifetimeLimits};
use ipsec_proto::ike::{
    ChildId, ChildKeys, Counters, Endpoint, Error as IkeError, Event, IkeSaId, IpsecSaInfo, Path,
    PeerId,
};
use ipsec_proto::ios::show::{
    show_crypto_ipsec_sa, show_crypto_isakmp_sa, EspSaSnapshot, FlowCounters, IosFlavor,
    IpsecFlowSnapshot, IpsecInterfaceSnapshot, IsakmpSaRow,
};
use ipsec_proto::policy::ipsec::EspMode as PolicyMode;
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

use crate::config::{ipsec_config, ipsec_peer_params, peer_from_params, ShowMeta};
use crate::esp::{build, ipsec_esp_sa, Dir};
use crate::ffi::{
    addr_from_c, addr_to_c, as_mut, as_ref, boundary, free_guarded, free_in_place, in_slice, lock,
    out_slice, peek, to_raw, try_ok, try_some, write, write_text, Guarded,
};
use crate::result::ipsec_result;

/// Address family of an `ipsec_addr`: IPv4 (first 4 bytes of `bytes`).
pub const IPSEC_AF_INET: u8 = 4;
/// Address family of an `ipsec_addr`: IPv6.
pub const IPSEC_AF_INET6: u8 = 6;

/// Log level: an SA or negotiation failed.
pub const IPSEC_LOG_ERROR: u32 = 1;
/// Log level: input dropped.
pub const IPSEC_LOG_WARN: u32 = 2;
/// Log level: SA state changes.
pub const IPSEC_LOG_INFO: u32 = 3;

/// Event kind: Main Mode finished, the ISAKMP SA is in QM_IDLE.
pub const IPSEC_EVENT_PHASE1_ESTABLISHED: u32 = 1;
/// Event kind: an ISAKMP SA is gone (its IPsec SAs stay).
pub const IPSEC_EVENT_PHASE1_DELETED: u32 = 2;
/// Event kind: Quick Mode finished; take the ESP SAs with `ipsec_event_take_esp_sas`.
pub const IPSEC_EVENT_PHASE2_ESTABLISHED: u32 = 3;
/// Event kind: an IPsec SA pair reached its soft lifetime.
pub const IPSEC_EVENT_PHASE2_EXPIRING: u32 = 4;
/// Event kind: an IPsec SA pair must be removed from the data path (see `ipsec_event_spis`).
pub const IPSEC_EVENT_PHASE2_DELETED: u32 = 5;
/// Event kind: a negotiation failed (`ipsec_event_error`, `ipsec_event_describe`).
pub const IPSEC_EVENT_NEGOTIATION_FAILED: u32 = 6;
/// Event kind: the peer sent a notify.
pub const IPSEC_EVENT_NOTIFY_RECEIVED: u32 = 7;
/// Event kind: Dead Peer Detection declared the peer dead.
pub const IPSEC_EVENT_PEER_DEAD: u32 = 8;
/// Event kind: the peer moved (NAT rebinding); send IKE and UDP-encapsulated ESP to the new
/// path from `ipsec_event_path` from now on.
pub const IPSEC_EVENT_PATH_CHANGED: u32 = 9;
/// Event kind: an event newer than this header; only `ipsec_event_describe` applies.
pub const IPSEC_EVENT_OTHER: u32 = 255;

/// An IPv4 or IPv6 address and UDP port (no `struct sockaddr` in the ABI). `port` is in host
/// order; `bytes` in network order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_addr {
    /// `IPSEC_AF_INET` or `IPSEC_AF_INET6`.
    pub family: u8,
    /// UDP port.
    pub port: u16,
    /// The address; IPv4 uses the first 4 bytes.
    pub bytes: [u8; 16],
}

/// The two UDP addresses of a datagram, as our socket sees them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_path {
    /// Our address and port.
    pub local: ipsec_addr,
    /// The peer's address and port.
    pub remote: ipsec_addr,
}

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

/// The logging callback: `userdata` first, a level (`IPSEC_LOG_*`), and a message of `len`
/// bytes (also NUL-terminated), valid only during the call. It runs inside the endpoint call
/// that logs, on that call's thread. It must not call back into the library with the same
/// endpoint handle: such a call does nothing and returns `IPSEC_RESULT_REENTRANT`
/// (`ipsec_endpoint_poll_timeout` returns false, `ipsec_endpoint_free` leaves the handle as it
/// is). Other handles (other endpoints, events, ESP SAs) may be used.
pub type ipsec_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: u32, msg: *const c_char, len: usize)>;

/// The randomness callback: fill `len` bytes at `buf` from a CSPRNG; return 0 on success.
pub type ipsec_rng_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *mut u8, len: usize) -> i32>;

fn path_to_c(p: Path) -> ipsec_path {
    ipsec_path {
        local: addr_to_c(p.local),
        remote: addr_to_c(p.remote),
    }
}

/// The IKEv1 endpoint (opaque). Not thread-safe: serialise calls on one handle.
pub struct ipsec_endpoint {
    /// Borrowed for the whole of each entry point (`lock`, `peek`). A call on the same
    /// handle from inside the log callback finds it borrowed and is refused, instead of making
    /// a second reference to state the outer call is changing.
    state: RefCell<EndpointState>,
}

/// What an endpoint handle holds.
pub(crate) struct EndpointState {
    ep: Endpoint,
    /// Seeds the IV generators of outbound ESP SAs handed out through events.
    esp_rng: Rng,
    replay_window: u32,
    show: ShowMeta,
    log: ipsec_log_callback,
    log_userdata: *mut c_void,
    /// The history `ipsec_endpoint_diagnose` reads, kept as datagrams and events pass.
    rec: EndpointRecorder,
    /// Events taken from the endpoint (and recorded) but not yet polled by the caller.
    events: VecDeque<Event>,
    /// The latest `now_ms` seen, for events polled outside an input call.
    last_now: Instant,
}

impl Guarded for ipsec_endpoint {
    type State = EndpointState;
    fn cell(&self) -> &RefCell<EndpointState> {
        &self.state
    }
}

impl EndpointState {
    /// Takes the endpoint's events into the queue, recording each while the ISAKMP states are
    /// those it happened in.
    fn pump(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        self.rec.sync(now, &self.ep);
        while let Some(ev) = self.ep.poll_event() {
            self.rec.event(now, &ev);
            self.events.push_back(ev);
        }
        self.rec.sync(now, &self.ep);
    }

    fn log(&self, level: u32, msg: &str) {
        let Some(cb) = self.log else { return };
        // Interior NULs cannot come from our own texts; drop them rather than the message.
        let c = CString::new(msg.replace('\0', "")).unwrap_or_default();
        let len = c.as_bytes().len();
        // SAFETY: the callback and its userdata were registered together by the caller, who
        // promises the callback is callable with them while the endpoint lives; `c` outlives
        // the call.
        unsafe { cb(self.log_userdata, level, c.as_ptr(), len) };
    }
}

fn new_endpoint(cfg: &ipsec_config, seed: [u8; 32]) -> ipsec_endpoint {
    let mut rng = Rng::from_seed(seed);
    let esp_rng = rng.fork();
    let state = EndpointState {
        ep: Endpoint::new(cfg.endpoint.clone(), rng),
        esp_rng,
        replay_window: cfg.replay_window,
        show: cfg.show.clone(),
        log: None,
        log_userdata: std::ptr::null_mut(),
        rec: EndpointRecorder::new(),
        events: VecDeque::new(),
        last_now: Instant::ZERO,
    };
    ipsec_endpoint {
        state: RefCell::new(state),
    }
}

/// Creates an endpoint from a copy of `cfg` (which the caller still owns and frees). `seed`
/// points to 32 bytes from a CSPRNG: every cookie, nonce, SPI, DH secret and IV derives from it,
/// so the same seed and the same inputs give the same bytes (tests), and a predictable seed
/// gives predictable keys (production: use real entropy).
///
/// # Safety
/// `cfg` a live handle; `seed` 32 readable bytes; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_new(
    cfg: *const ipsec_config,
    seed: *const u8,
    out: *mut *mut ipsec_endpoint,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let cfg = try_some!(unsafe { as_ref(cfg) });
        if seed.is_null() || out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: non-NULL `seed` points to 32 readable bytes (contract).
        let seed = unsafe { seed.cast::<[u8; 32]>().read_unaligned() };
        // SAFETY: checked non-NULL.
        unsafe { write(out, to_raw(new_endpoint(cfg, seed))) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// As `ipsec_endpoint_new`, drawing the 32-byte seed from the caller's random callback once
/// (firmware without an OS RNG plugs its TRNG in here). A non-zero callback return gives
/// `IPSEC_RESULT_RNG_FAILED`.
///
/// # Safety
/// `cfg` a live handle; `rng` callable with `userdata`; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_new_with_rng(
    cfg: *const ipsec_config,
    rng: ipsec_rng_callback,
    userdata: *mut c_void,
    out: *mut *mut ipsec_endpoint,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let cfg = try_some!(unsafe { as_ref(cfg) });
        let rng = try_some!(rng);
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        // SAFETY: the caller promises `rng` may be called with `userdata`; the buffer is ours,
        // 32 bytes, writable.
        let rc = unsafe { rng(userdata, seed.as_mut_ptr(), seed.len()) };
        if rc != 0 {
            return ipsec_result::IPSEC_RESULT_RNG_FAILED;
        }
        // SAFETY: checked non-NULL.
        unsafe { write(out, to_raw(new_endpoint(cfg, *seed))) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Sets (or with `cb == NULL` removes) the endpoint's logging callback. The callback must not
/// call into the library with this endpoint (see `ipsec_log_callback`): every entry point
/// taking the handle refuses such a call with `IPSEC_RESULT_REENTRANT` and changes nothing.
///
/// # Safety
/// `ep` a live handle; `cb` callable with `userdata` for as long as it stays set.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_set_log_callback(
    ep: *mut ipsec_endpoint,
    cb: ipsec_log_callback,
    userdata: *mut c_void,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        ep.log = cb;
        ep.log_userdata = userdata;
        ipsec_result::IPSEC_RESULT_OK
    })
}

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

/// Feeds one UDP datagram received on port 500 or 4500 (with the non-ESP marker still in front
/// on 4500; a 1-byte 0xFF NAT keepalive is accepted too). Returns `IPSEC_RESULT_OK` when the
/// datagram was accepted, or the reason it was dropped and counted
/// (`IPSEC_RESULT_MALFORMED_MESSAGE`, `IPSEC_RESULT_UNKNOWN_SA`, `IPSEC_RESULT_PEER_MISBEHAVED`,
/// `IPSEC_RESULT_HASH_MISMATCH`); a dropped datagram never changes established state.
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
        let before = ep.ep.counters();
        let path = Path { local, remote };
        // A NAT keepalive (one 0xFF byte) is no IKE message.
        if data != [0xff] {
            ep.rec.ike_received(Instant(now_ms), &path);
        }
        ep.ep.handle_datagram(Instant(now_ms), path, data);
        ep.pump(Instant(now_ms));
        let Some((code, what)) = ike_drop_reason(&before, &ep.ep.counters()) else {
            return ipsec_result::IPSEC_RESULT_OK;
        };
        ep.log(
            IPSEC_LOG_WARN,
            &format!("dropped a {len}-byte datagram from {remote} {what}"),
        );
        code
    })
}

/// Why the IKE endpoint dropped the datagram it was just given, from its counters before and
/// after: the result code and a few words for the log; `None` when it was accepted.
pub(crate) fn ike_drop_reason(
    before: &Counters,
    after: &Counters,
) -> Option<(ipsec_result, &'static str)> {
    if after.malformed > before.malformed {
        Some((ipsec_result::IPSEC_RESULT_MALFORMED_MESSAGE, "malformed"))
    } else if after.unknown_sa > before.unknown_sa {
        Some((
            ipsec_result::IPSEC_RESULT_UNKNOWN_SA,
            "for an unknown ISAKMP SA",
        ))
    } else if after.bad_hash > before.bad_hash {
        Some((ipsec_result::IPSEC_RESULT_HASH_MISMATCH, "with a bad HASH"))
    } else if after.unexpected > before.unexpected {
        Some((
            ipsec_result::IPSEC_RESULT_PEER_MISBEHAVED,
            "not acceptable in this state",
        ))
    } else {
        None
    }
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
        match ep.ep.poll_transmit(Instant(now_ms), buf) {
            Ok(Some(t)) => {
                ep.rec
                    .ike_sent(Instant(now_ms), &t.path, buf.get(..t.len).unwrap_or(&[]));
                let c = ipsec_transmit {
                    path: path_to_c(t.path),
                    len: t.len,
                    non_esp_marker: t.non_esp_marker,
                };
                // SAFETY: checked non-NULL.
                unsafe { write(out, c) };
                ipsec_result::IPSEC_RESULT_OK
            }
            Ok(None) => ipsec_result::IPSEC_RESULT_NONE,
            Err(e) => {
                if !out_required.is_null() {
                    // SAFETY: non-NULL optional out-parameter.
                    unsafe { write(out_required, e.needed) };
                }
                ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL
            }
        }
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

/// Phase 2 material of an event, until moved out.
struct Phase2 {
    keys: Option<ChildKeys>,
    mode: PolicyMode,
    udp_encap: bool,
    lifetime_secs: u32,
    lifetime_kb: u64,
    rng: Rng,
    replay_window: u32,
}

/// One event (opaque), owned by the caller after `ipsec_endpoint_poll_event`.
pub struct ipsec_event {
    kind: u32,
    peer: Option<usize>,
    ike_sa: Option<u32>,
    child: Option<u64>,
    spis: Option<(u32, u32)>,
    path: Option<Path>,
    error: Option<IkeError>,
    text: String,
    phase2: Option<Phase2>,
}

fn event_from(ep: &mut EndpointState, ev: Event) -> ipsec_event {
    let mut e = ipsec_event {
        kind: IPSEC_EVENT_OTHER,
        peer: None,
        ike_sa: None,
        child: None,
        spis: None,
        path: None,
        error: None,
        text: String::new(),
        phase2: None,
    };
    match ev {
        Event::Phase1Established {
            sa,
            peer,
            role,
            path,
            nat,
        } => {
            e.kind = IPSEC_EVENT_PHASE1_ESTABLISHED;
            e.path = Some(path);
            e.peer = Some(peer.0);
            e.ike_sa = Some(sa.0);
            e.text = format!(
                "ISAKMP SA {} with {} in QM_IDLE ({role:?}{})",
                sa.0,
                path.remote,
                if nat.nat_detected() { ", NAT-T" } else { "" }
            );
        }
        Event::Phase1Deleted { sa, peer, reason } => {
            e.kind = IPSEC_EVENT_PHASE1_DELETED;
            e.peer = Some(peer.0);
            e.ike_sa = Some(sa.0);
            e.text = format!("ISAKMP SA {} deleted ({reason:?})", sa.0);
        }
        Event::Phase2Established(p) => {
            let p = *p;
            e.kind = IPSEC_EVENT_PHASE2_ESTABLISHED;
            e.path = Some(p.path);
            e.peer = Some(p.peer.0);
            e.ike_sa = Some(p.ike_sa.0);
            e.child = Some(p.child.0);
            e.spis = Some((p.keys.inbound.spi(), p.keys.outbound.spi()));
            e.text = format!(
                "IPsec SA pair {} with {} established: SPI in 0x{:08X} out 0x{:08X}, {}",
                p.child.0,
                p.path.remote,
                p.keys.inbound.spi(),
                p.keys.outbound.spi(),
                p.transform.display_transforms()
            );
            e.phase2 = Some(Phase2 {
                keys: Some(p.keys),
                mode: p.mode,
                udp_encap: p.udp_encap,
                lifetime_secs: p.lifetime_secs,
                lifetime_kb: p.lifetime_kb,
                rng: ep.esp_rng.fork(),
                replay_window: ep.replay_window,
            });
        }
        Event::Phase2Expiring { child } => {
            e.kind = IPSEC_EVENT_PHASE2_EXPIRING;
            e.child = Some(child.0);
            e.text = format!("IPsec SA pair {} reached its soft lifetime", child.0);
        }
        Event::Phase2Deleted {
            child,
            spi_in,
            spi_out,
            reason,
        } => {
            e.kind = IPSEC_EVENT_PHASE2_DELETED;
            e.child = Some(child.0);
            e.spis = Some((spi_in, spi_out));
            e.text = format!(
                "IPsec SA pair {} deleted ({reason:?}): SPI in 0x{spi_in:08X} out 0x{spi_out:08X}",
                child.0
            );
        }
        Event::NegotiationFailed {
            peer,
            remote,
            phase,
            error,
        } => {
            e.kind = IPSEC_EVENT_NEGOTIATION_FAILED;
            e.peer = peer.map(|p| p.0);
            e.text = format!("phase {phase} negotiation with {remote} failed: {error}");
            e.error = Some(error);
        }
        Event::NotifyReceived {
            sa,
            notify,
            authenticated,
        } => {
            e.kind = IPSEC_EVENT_NOTIFY_RECEIVED;
            e.ike_sa = sa.map(|s| s.0);
            e.text = format!(
                "notify {notify} received ({})",
                if authenticated {
                    "authenticated"
                } else {
                    "unauthenticated"
                }
            );
        }
        Event::PathChanged { sa, old, new } => {
            e.kind = IPSEC_EVENT_PATH_CHANGED;
            e.ike_sa = Some(sa.0);
            e.path = Some(new);
            e.text = format!(
                "peer of ISAKMP SA {} moved from {} to {}",
                sa.0, old.remote, new.remote
            );
        }
        Event::PeerDead { sa, peer } => {
            e.kind = IPSEC_EVENT_PEER_DEAD;
            e.peer = Some(peer.0);
            e.ike_sa = Some(sa.0);
            e.text = format!("peer of ISAKMP SA {} is dead (DPD)", sa.0);
        }
        other => {
            e.text = format!("{other:?}");
        }
    }
    e
}

/// Takes the next event: `*out` receives a new event the caller frees with `ipsec_event_free`.
/// `IPSEC_RESULT_NONE` when there is none.
///
/// # Safety
/// `ep` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_poll_event(
    ep: *mut ipsec_endpoint,
    out: *mut *mut ipsec_event,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut guard = try_ok!(unsafe { lock(ep) });
        let ep = &mut *guard;
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        if ep.events.is_empty() {
            ep.pump(ep.last_now);
        }
        let Some(ev) = ep.events.pop_front() else {
            return ipsec_result::IPSEC_RESULT_NONE;
        };
        let e = event_from(ep, ev);
        let level = if e.kind == IPSEC_EVENT_NEGOTIATION_FAILED || e.kind == IPSEC_EVENT_PEER_DEAD {
            IPSEC_LOG_ERROR
        } else {
            IPSEC_LOG_INFO
        };
        ep.log(level, &e.text);
        // SAFETY: checked non-NULL.
        unsafe { write(out, to_raw(e)) };
        ipsec_result::IPSEC_RESULT_OK
    })
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

/// Frees the endpoint and sets `*ep` to NULL. Events and ESP SAs taken from it stay valid.
/// Called from the endpoint's own log callback it does nothing (the handle stays valid and
/// `*ep` unchanged): the call that logs is still using the endpoint.
///
/// # Safety
/// `ep` NULL, or points to NULL or a handle from this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn ipsec_endpoint_free(ep: *mut *mut ipsec_endpoint) {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { free_guarded(ep) }
    })
}

// ---------------------------------------------------------------------------------------------
// Events

/// The shared body of the single-value `ipsec_event_*` accessors: NULL checks, then `field`'s
/// value into `*out`, or `IPSEC_RESULT_WRONG_EVENT_KIND` when the event has none.
///
/// # Safety
/// `ev` NULL or a live handle; `out` NULL or writable.
unsafe fn event_field<T>(
    ev: *const ipsec_event,
    out: *mut T,
    field: impl FnOnce(&ipsec_event) -> Option<T>,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ev = try_some!(unsafe { as_ref(ev) });
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let Some(v) = field(ev) else {
            return ipsec_result::IPSEC_RESULT_WRONG_EVENT_KIND;
        };
        // SAFETY: checked non-NULL.
        unsafe { write(out, v) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// The event's kind (`IPSEC_EVENT_*`), 0 for NULL.
///
/// # Safety
/// `ev` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_kind(ev: *const ipsec_event) -> u32 {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { as_ref(ev) }.map_or(0, |e| e.kind)
    })
}

/// The peer index the event is about; `IPSEC_RESULT_WRONG_EVENT_KIND` when it names none.
///
/// # Safety
/// `ev` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_peer(ev: *const ipsec_event, out: *mut u32) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe { event_field(ev, out, |e| e.peer.and_then(|p| u32::try_from(p).ok())) }
}

/// The ISAKMP SA (IOS conn-id) the event is about; `IPSEC_RESULT_WRONG_EVENT_KIND` when none.
///
/// # Safety
/// `ev` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_ike_sa(ev: *const ipsec_event, out: *mut u32) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe { event_field(ev, out, |e| e.ike_sa) }
}

/// The IPsec SA pair id the event is about; `IPSEC_RESULT_WRONG_EVENT_KIND` when none.
///
/// # Safety
/// `ev` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_child(ev: *const ipsec_event, out: *mut u64) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe { event_field(ev, out, |e| e.child) }
}

/// Our (inbound) and the peer's (outbound) SPI of a Phase 2 established or deleted event.
///
/// # Safety
/// `ev` a live handle; `spi_in`, `spi_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_spis(
    ev: *const ipsec_event,
    spi_in: *mut u32,
    spi_out: *mut u32,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ev = try_some!(unsafe { as_ref(ev) });
        if spi_in.is_null() || spi_out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let Some((i, o)) = ev.spis else {
            return ipsec_result::IPSEC_RESULT_WRONG_EVENT_KIND;
        };
        // SAFETY: both checked non-NULL.
        unsafe {
            write(spi_in, i);
            write(spi_out, o);
        }
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// The path (our address, the peer's address) of a Phase 1 or Phase 2 established or a path
/// changed event: where IKE and (UDP-encapsulated) ESP for this peer go.
///
/// # Safety
/// `ev` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_path(
    ev: *const ipsec_event,
    out: *mut ipsec_path,
) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe { event_field(ev, out, |e| e.path.map(path_to_c)) }
}

/// The failure reason of a `IPSEC_EVENT_NEGOTIATION_FAILED` event as a result code
/// (`IPSEC_RESULT_OK` for other kinds, `IPSEC_RESULT_NULL_PARAMETER` for NULL).
///
/// # Safety
/// `ev` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_error(ev: *const ipsec_event) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ev = try_some!(unsafe { as_ref(ev) });
        ev.error
            .as_ref()
            .map_or(ipsec_result::IPSEC_RESULT_OK, ipsec_result::from)
    })
}

/// Renders the event for a log, with the evidence of a failure (which attribute differed, ours
/// vs theirs), into `buf` like `ipsec_result_message`.
///
/// # Safety
/// `ev` a live handle; `buf` `cap` writable bytes (or NULL with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_describe(
    ev: *const ipsec_event,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ev = try_some!(unsafe { as_ref(ev) });
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&ev.text, buf, cap, out_len) }
    })
}

/// Moves the keys of a `IPSEC_EVENT_PHASE2_ESTABLISHED` event into two new ESP SAs installed
/// at `now_ms`: `*out_inbound` (our SPI) and `*out_outbound` (the peer's SPI), with the
/// negotiated mode and lifetimes. The keys leave the event: a second call returns
/// `IPSEC_RESULT_KEYS_ALREADY_TAKEN`. Both out-parameters are written only on success.
///
/// # Safety
/// `ev` a live handle; `out_inbound`, `out_outbound` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_take_esp_sas(
    ev: *mut ipsec_event,
    now_ms: u64,
    out_inbound: *mut *mut ipsec_esp_sa,
    out_outbound: *mut *mut ipsec_esp_sa,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ev = try_some!(unsafe { as_mut(ev) });
        if out_inbound.is_null() || out_outbound.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let Some(p2) = ev.phase2.as_mut() else {
            return ipsec_result::IPSEC_RESULT_WRONG_EVENT_KIND;
        };
        let Some(keys) = p2.keys.take() else {
            return ipsec_result::IPSEC_RESULT_KEYS_ALREADY_TAKEN;
        };
        let config = EspConfig {
            mode: match p2.mode {
                PolicyMode::Transport => ipsec_proto::esp::EspMode::Transport,
                _ => ipsec_proto::esp::EspMode::Tunnel,
            },
            udp_encap: p2.udp_encap,
            replay_window: p2.replay_window,
            lifetime: LifetimeConfig::from_hard(LifetimeLimits {
                seconds: Some(u64::from(p2.lifetime_secs)),
                kilobytes: Some(p2.lifetime_kb),
                packets: None,
            }),
        };
        let now = Instant(now_ms);
        let inbound = match build(keys.inbound, false, config, now, &mut p2.rng) {
            Ok(s) => s,
            Err(e) => return ipsec_result::from(&e),
        };
        let outbound = match build(keys.outbound, true, config, now, &mut p2.rng) {
            Ok(s) => s,
            Err(e) => return ipsec_result::from(&e),
        };
        // SAFETY: both checked non-NULL.
        unsafe {
            write(out_inbound, to_raw(inbound));
            write(out_outbound, to_raw(outbound));
        }
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Frees the event (wiping keys not taken) and sets `*ev` to NULL.
///
/// # Safety
/// `ev` NULL, or points to NULL or a handle from this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_free(ev: *mut *mut ipsec_event) {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { free_in_place(ev) }
    })
}
