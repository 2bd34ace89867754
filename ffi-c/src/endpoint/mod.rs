//! `ipsec_endpoint` (the IKEv1 endpoint, pull-style) and `ipsec_event`.
//!
//! This module holds the handle, its construction and release, the log callback, and the
//! address types shared by the rest; the entry points are split by concept:
//! [`io`] (datagrams in and out, timers), [`events`] (`ipsec_event` and its accessors),
//! [`commands`] (initiate, delete, rekey, add peers, report ESP usage) and [`views`] (counters,
//! `show` output, the diagnosis).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CString};

use ipsec_proto::diagnose::EndpointRecorder;
use ipsec_proto::ike::{Endpoint, Event, Path};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

use crate::config::{ipsec_config, ShowMeta};
use crate::ffi::{
    addr_to_c, as_ref, boundary, free_guarded, lock, to_raw, try_ok, try_some, write, Guarded,
};
use crate::result::ipsec_result;

mod commands;
mod events;
mod io;
mod views;

pub use commands::*;
pub use events::*;
pub use io::*;
pub use views::*;

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
        self.rec.take_events(now, &mut self.ep, &mut self.events);
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
