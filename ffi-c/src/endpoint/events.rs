//! `ipsec_event`: the event kinds, the conversion of the endpoint's events,
//! `ipsec_endpoint_poll_event`, and the `ipsec_event_*` accessors.

use std::ffi::{c_char, CStr};

use ipsec_proto::esp::{EspConfig, LifetimeConfig, LifetimeLimits};
use ipsec_proto::ike::{ChildKeys, Error as IkeError, Event, IsakmpState, Path, Role};
use ipsec_proto::policy::ipsec::EspMode as PolicyMode;
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

use super::{
    ipsec_addr, ipsec_endpoint, ipsec_path, path_to_c, EndpointState, IPSEC_LOG_ERROR,
    IPSEC_LOG_INFO,
};
use crate::esp::{build, ipsec_esp_sa};
use crate::ffi::{
    addr_to_c, as_mut, as_ref, boundary, free_in_place, lock, to_raw, try_ok, try_some, write,
    write_text,
};
use crate::result::ipsec_result;

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
/// Event kind: an ISAKMP SA changed state, appeared or went away; `ipsec_event_isakmp_state`
/// gives the SA, the peer's address, our role and the previous and new IOS state names
/// (`MM_NO_STATE`, `MM_SA_SETUP`, `MM_KEY_EXCH`, `QM_IDLE`; Aggressive Mode: `AG_NO_STATE`,
/// `AG_INIT_EXCH`). One event per call into the endpoint for each SA that changed during it,
/// after that call's other events.
pub const IPSEC_EVENT_ISAKMP_STATE_CHANGED: u32 = 10;
/// Event kind: an event newer than this header; only `ipsec_event_describe` applies.
pub const IPSEC_EVENT_OTHER: u32 = 255;

/// What `ipsec_event_isakmp_state` writes for an `IPSEC_EVENT_ISAKMP_STATE_CHANGED` event.
/// The state names are static NUL-terminated strings (never freed, valid after the event is).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipsec_isakmp_state_change {
    /// The ISAKMP SA (its IOS conn-id, as `ipsec_event_ike_sa` gives it).
    pub conn_id: u32,
    /// The peer's address and port (`ipsec_event_path` gives ours too).
    pub remote: ipsec_addr,
    /// The state announced before (`MM_NO_STATE`, ...); empty for a new SA.
    pub from_state: *const c_char,
    /// The state now; empty when the SA went away.
    pub to_state: *const c_char,
    /// We started its Main Mode.
    pub initiator: bool,
    /// NAT traversal is in use on it (IKE on UDP 4500).
    pub nat_t: bool,
}

/// The ISAKMP part of an event, kept for `ipsec_event_isakmp_state`.
#[derive(Clone, Copy)]
struct StateChange {
    from: &'static CStr,
    to: &'static CStr,
    initiator: bool,
    nat_t: bool,
}

/// The IOS name of `state` as a static C string; empty for `None` (a new SA, or one gone).
fn state_cstr(state: Option<IsakmpState>) -> &'static CStr {
    match state {
        None => c"",
        Some(IsakmpState::MmNoState) => c"MM_NO_STATE",
        Some(IsakmpState::MmSaSetup) => c"MM_SA_SETUP",
        Some(IsakmpState::MmKeyExch) => c"MM_KEY_EXCH",
        Some(IsakmpState::QmIdle) => c"QM_IDLE",
        Some(IsakmpState::AgNoState) => c"AG_NO_STATE",
        Some(IsakmpState::AgInitExch) => c"AG_INIT_EXCH",
        // A state newer than this table (`IsakmpState` is non-exhaustive).
        Some(_) => c"UNKNOWN",
    }
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
    state_change: Option<StateChange>,
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
        state_change: None,
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
        Event::IsakmpStateChanged {
            sa,
            role,
            path,
            from,
            to,
            nat_t,
        } => {
            e.kind = IPSEC_EVENT_ISAKMP_STATE_CHANGED;
            e.ike_sa = Some(sa.0);
            e.path = Some(path);
            e.state_change = Some(StateChange {
                from: state_cstr(from),
                to: state_cstr(to),
                initiator: role == Role::Initiator,
                nat_t,
            });
            e.text = format!(
                "ISAKMP SA {} with {}: {} -> {} ({role:?}{})",
                sa.0,
                path.remote,
                from.map_or("(new)", IsakmpState::name),
                to.map_or("(gone)", IsakmpState::name),
                if nat_t { ", NAT-T" } else { "" }
            );
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
            ep.pump(ep.rec.latest());
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

/// The path (our address, the peer's address) of a Phase 1 or Phase 2 established, a path
/// changed or an ISAKMP state changed event: where IKE and (UDP-encapsulated) ESP for this peer
/// go.
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

/// The ISAKMP SA, peer, role and the previous and new state of an
/// `IPSEC_EVENT_ISAKMP_STATE_CHANGED` event into `*out`; `IPSEC_RESULT_WRONG_EVENT_KIND` for
/// other kinds.
///
/// # Safety
/// `ev` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_event_isakmp_state(
    ev: *const ipsec_event,
    out: *mut ipsec_isakmp_state_change,
) -> ipsec_result {
    // SAFETY: forwarded caller contract.
    unsafe {
        event_field(ev, out, |e| {
            let (s, sa, path) = (e.state_change?, e.ike_sa?, e.path?);
            Some(ipsec_isakmp_state_change {
                conn_id: sa,
                remote: addr_to_c(path.remote),
                from_state: s.from.as_ptr(),
                to_state: s.to.as_ptr(),
                initiator: s.initiator,
                nat_t: s.nat_t,
            })
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_the_ios_names() {
        for s in [
            IsakmpState::MmNoState,
            IsakmpState::MmSaSetup,
            IsakmpState::MmKeyExch,
            IsakmpState::QmIdle,
            IsakmpState::AgNoState,
            IsakmpState::AgInitExch,
        ] {
            assert_eq!(state_cstr(Some(s)).to_str(), Ok(s.name()));
        }
        assert_eq!(state_cstr(None).to_bytes(), b"");
    }
}
