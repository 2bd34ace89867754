//! `ipsec_tunnel`: the tunnel layer (`ipsec_proto::tunnel::Tunnel`) built from IOS
//! configuration text. It classifies cleartext packets against the crypto ACLs, negotiates the
//! SAs itself (the first packet of a flow starts IKE and is dropped, as on IOS), encrypts and
//! decrypts, and keeps its own output queue, polled quinn-style.

use std::cell::RefCell;
use std::ffi::c_char;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use ipsec_proto::diagnose;
use ipsec_proto::ike::IsakmpState;
use ipsec_proto::policy::GatewayConfig;
use ipsec_proto::time::Instant;
use ipsec_proto::tunnel::{
    BatchVerdicts, CoreOptions, Dest, Iface, Show, TunVerdict, Tunnel, TunnelError, TunnelEvent,
};

use crate::endpoint::{ipsec_addr, ipsec_endpoint_counters, ipsec_path};
use crate::ffi::{
    addr_from_c, addr_to_c, as_ref, boundary, free_guarded, in_slice, lock, out_slice, peek,
    polled, to_raw, try_ok, try_some, write, write_text, Batch, Guarded,
};
use crate::keystore::ipsec_keystore;
use crate::result::ipsec_result;

/// `ipsec_tunnel_handle_plaintext` verdict: encapsulated and queued for the peer.
pub const IPSEC_TUN_VERDICT_PROTECTED: u32 = 1;
/// Verdict: a crypto ACL permits the packet but no SA pair exists yet: dropped (counted in
/// `#send errors`), IKE started. Send the flow's next packet once the SA is up.
pub const IPSEC_TUN_VERDICT_NO_SA: u32 = 2;
/// Verdict: a permit line matched but the packet could not be protected (SA expired or
/// exhausted, line not expressible as a proxy identity, output queue full): dropped, counted.
pub const IPSEC_TUN_VERDICT_SEND_ERROR: u32 = 3;
/// Verdict: no crypto ACL permits the packet (IOS would forward it in clear): dropped here.
pub const IPSEC_TUN_VERDICT_NOT_PROTECTED: u32 = 4;
/// Verdict: not an IPv4 packet with a whole header: dropped and counted.
pub const IPSEC_TUN_VERDICT_MALFORMED: u32 = 5;

/// `ipsec_tunnel_transmit.kind`: a UDP datagram from `path.local` to `path.remote` (ports 500
/// or 4500; IKE, UDP-encapsulated ESP, keepalives; the non-ESP marker is already in the bytes).
pub const IPSEC_TUNNEL_TRANSMIT_UDP: u32 = 1;
/// `ipsec_tunnel_transmit.kind`: a raw ESP packet (IP protocol 50 payload, SPI first) from
/// `path.local` to `path.remote` (ports 0).
pub const IPSEC_TUNNEL_TRANSMIT_ESP: u32 = 2;

/// `ipsec_tunnel_event.kind`: an ISAKMP SA changed state (`from_state` -> `to_state`).
pub const IPSEC_TUNNEL_EVENT_ISAKMP_STATE: u32 = 1;
/// `ipsec_tunnel_event.kind`: an IPsec SA pair was installed for crypto map entry `entry`.
pub const IPSEC_TUNNEL_EVENT_IPSEC_UP: u32 = 2;
/// `ipsec_tunnel_event.kind`: an IPsec SA pair went away (deleted, expired, or replaced).
pub const IPSEC_TUNNEL_EVENT_IPSEC_DOWN: u32 = 3;
/// `ipsec_tunnel_event.kind`: crypto map entry `entry` gave up on its peer and uses the next
/// `set peer`, now in `peer` (backup peers; no automatic failback).
pub const IPSEC_TUNNEL_EVENT_PEER_CHANGED: u32 = 4;
/// `ipsec_tunnel_event.kind`: the host should route `route_prefix`/`route_prefix_len` into the
/// tunnel (reverse route injection: `reverse-route` while an SA pair for it exists,
/// `reverse-route static` from the start; or a dynamic map's learned network). `route_publish`
/// says whether routing daemons should see it (`reverse-route` configured) or only the gateway's
/// own routing needs it; `route_tag` and `route_distance` are `set reverse-route tag|distance`;
/// `entry`/`map_seq` the entry asking for it. Announced once per network.
pub const IPSEC_TUNNEL_EVENT_ROUTE_ADD: u32 = 5;
/// `ipsec_tunnel_event.kind`: a route announced by `IPSEC_TUNNEL_EVENT_ROUTE_ADD` (same
/// `route_*` fields) is no longer wanted: remove it.
pub const IPSEC_TUNNEL_EVENT_ROUTE_REMOVE: u32 = 6;
/// `ipsec_tunnel_event.kind`: the line protocol of VTI `interface TunnelN` (N in `iface`)
/// went up (`line_up`: its first IPsec SA pair was installed) or down (its last pair went):
/// withdraw the routes through a down tunnel.
pub const IPSEC_TUNNEL_EVENT_LINE_PROTOCOL: u32 = 7;
/// `ipsec_tunnel_event.kind`: Easy VPN client: the server configured us over Mode Config;
/// `assigned` is our inner address (put it on the inside interface), `conn_id` the ISAKMP SA.
/// The split networks come as `IPSEC_TUNNEL_EVENT_ROUTE_ADD`; DNS, domain and banner are in
/// `show crypto ipsec client ezvpn`.
pub const IPSEC_TUNNEL_EVENT_CLIENT_CONFIGURED: u32 = 8;
/// `ipsec_tunnel_event.kind`: Easy VPN server: a remote-access client of entry `entry` was
/// configured; `assigned` is the pool address leased to it (0.0.0.0 when it asked for none).
pub const IPSEC_TUNNEL_EVENT_CLIENT_LEASED: u32 = 9;
/// `ipsec_tunnel_event.kind`: Easy VPN server: the client's last SA (ISAKMP or IPsec) went and
/// its address `assigned` is back in the pool.
pub const IPSEC_TUNNEL_EVENT_CLIENT_RELEASED: u32 = 10;
/// `ipsec_tunnel_event.kind`: an event newer than this header; no field applies.
pub const IPSEC_TUNNEL_EVENT_OTHER: u32 = 255;

/// `ipsec_tunnel_show`: `show crypto isakmp sa`.
pub const IPSEC_SHOW_ISAKMP_SA: u32 = 1;
/// `ipsec_tunnel_show`: `show crypto isakmp sa detail`.
pub const IPSEC_SHOW_ISAKMP_SA_DETAIL: u32 = 2;
/// `ipsec_tunnel_show`: `show crypto isakmp policy`.
pub const IPSEC_SHOW_ISAKMP_POLICY: u32 = 3;
/// `ipsec_tunnel_show`: `show crypto ipsec sa [peer X]`.
pub const IPSEC_SHOW_IPSEC_SA: u32 = 4;
/// `ipsec_tunnel_show`: `show crypto ipsec sa [peer X] detail`.
pub const IPSEC_SHOW_IPSEC_SA_DETAIL: u32 = 5;
/// `ipsec_tunnel_show`: `show crypto ipsec transform-set`.
pub const IPSEC_SHOW_TRANSFORM_SET: u32 = 6;
/// `ipsec_tunnel_show`: `show crypto map`.
pub const IPSEC_SHOW_CRYPTO_MAP: u32 = 7;
/// `ipsec_tunnel_show`: `show crypto session`.
pub const IPSEC_SHOW_CRYPTO_SESSION: u32 = 8;
/// `ipsec_tunnel_show`: `show crypto session detail`.
pub const IPSEC_SHOW_CRYPTO_SESSION_DETAIL: u32 = 9;
/// `ipsec_tunnel_show`: `show running-config` (the crypto part, as it was understood).
pub const IPSEC_SHOW_RUNNING_CONFIG: u32 = 10;
/// `ipsec_tunnel_show`: `show crypto ipsec client ezvpn` (Easy VPN remote profiles).
pub const IPSEC_SHOW_CRYPTO_IPSEC_CLIENT_EZVPN: u32 = 11;
/// `ipsec_tunnel_show`: `show crypto pki certificates` (every trustpoint's chain; one
/// trustpoint: `ipsec_tunnel_show_pki_certificates`).
pub const IPSEC_SHOW_CRYPTO_PKI_CERTIFICATES: u32 = 12;
/// `ipsec_tunnel_show`: `show crypto pki trustpoints`.
pub const IPSEC_SHOW_CRYPTO_PKI_TRUSTPOINTS: u32 = 13;
/// `ipsec_tunnel_show`: `show ip nat translations` (the PAT of an Easy VPN `mode client`
/// connection; empty when none is up).
pub const IPSEC_SHOW_IP_NAT_TRANSLATIONS: u32 = 14;
/// `ipsec_tunnel_show`: `show interfaces TunnelN` is `IPSEC_SHOW_INTERFACES_TUNNEL + N`
/// (N below 2^24), for a static VTI.
pub const IPSEC_SHOW_INTERFACES_TUNNEL: u32 = 0x0100_0000;
/// `ipsec_tunnel_show`: `show crypto ipsec sa interface TunnelN` is
/// `IPSEC_SHOW_IPSEC_SA_INTERFACE_TUNNEL + N` (N below 2^24).
pub const IPSEC_SHOW_IPSEC_SA_INTERFACE_TUNNEL: u32 = 0x0200_0000;

/// `ipsec_tunnel_handle_plaintext_batch` interface: the protected side of the crypto map
/// interfaces (the packets `ipsec_tunnel_handle_plaintext` takes; crypto ACLs decide). Any
/// other value N is the route-based tunnel interface `interface TunnelN` (a static VTI:
/// `tunnel mode ipsec ipv4`, `tunnel protection ipsec profile`): everything goes to its peer.
/// Packets for an N no running VTI has are refused and counted in
/// `ipsec_batch_verdicts.no_interface`. `ipsec_tunnel_poll_plaintext_iface` says which
/// interface a decrypted packet comes out of, and `ipsec_tunnel_event.iface` which interface
/// an event is about.
pub const IPSEC_IFACE_INSIDE: u32 = u32::MAX;

/// Room for an ISAKMP state name in `ipsec_tunnel_event`, NUL included.
pub const IPSEC_STATE_NAME_LEN: usize = 32;

/// A datagram written by `ipsec_tunnel_poll_transmit`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_tunnel_transmit {
    /// `IPSEC_TUNNEL_TRANSMIT_UDP` or `IPSEC_TUNNEL_TRANSMIT_ESP`.
    pub kind: u32,
    /// Send from `local` to `remote` (IPv4; ports 0 for ESP).
    pub path: ipsec_path,
    /// Bytes written into the buffer.
    pub len: usize,
}

/// One event of `ipsec_tunnel_poll_event`, copied into the caller's struct (nothing to free).
/// Fields that do not apply to `kind` are zero (strings empty).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipsec_tunnel_event {
    /// `IPSEC_TUNNEL_EVENT_*`; treat an unknown kind like `IPSEC_TUNNEL_EVENT_OTHER`.
    pub kind: u32,
    /// ISAKMP_STATE: when the change was seen (same clock as `now_ms`).
    pub at_ms: u64,
    /// ISAKMP_STATE: the ISAKMP SA's conn-id (as in `show crypto isakmp sa`).
    pub conn_id: u32,
    /// ISAKMP_STATE and IPSEC_UP: the peer's address (port 0).
    pub peer: ipsec_addr,
    /// ISAKMP_STATE: the previous state (`MM_NO_STATE`, `QM_IDLE`, ...), NUL-terminated; empty
    /// for a new SA.
    pub from_state: [c_char; IPSEC_STATE_NAME_LEN],
    /// ISAKMP_STATE: the new state, NUL-terminated; empty when the SA went away.
    pub to_state: [c_char; IPSEC_STATE_NAME_LEN],
    /// ISAKMP_STATE: we started the exchange.
    pub initiator: bool,
    /// IPSEC_UP, IPSEC_DOWN: index of the crypto map entry owning the pair (0 = the first
    /// complete entry on the crypto map interface, in sequence order).
    pub entry: u32,
    /// IPSEC_UP, IPSEC_DOWN: that entry's sequence number (`crypto map VPN 10`).
    pub map_seq: u32,
    /// IPSEC_UP, IPSEC_DOWN: our inbound SPI.
    pub spi_in: u32,
    /// IPSEC_UP, IPSEC_DOWN: our outbound SPI (the peer's inbound).
    pub spi_out: u32,
    /// ROUTE_ADD, ROUTE_REMOVE: the network address (port 0).
    pub route_prefix: ipsec_addr,
    /// ROUTE_ADD, ROUTE_REMOVE: its prefix length (0-32).
    pub route_prefix_len: u8,
    /// ROUTE_ADD, ROUTE_REMOVE: the administrative distance (`set reverse-route distance`,
    /// default 1; a Linux host uses it as the metric).
    pub route_distance: u8,
    /// ROUTE_ADD, ROUTE_REMOVE: publish where routing daemons see it (`reverse-route`); false:
    /// only the gateway's own routing needs it.
    pub route_publish: bool,
    /// ROUTE_ADD, ROUTE_REMOVE: `set reverse-route tag` (0: none).
    pub route_tag: u32,
    /// LINE_PROTOCOL: N of `TunnelN`. IPSEC_UP, IPSEC_DOWN: N when the pair belongs to VTI
    /// `TunnelN`, `IPSEC_IFACE_INSIDE` for a crypto map entry's pair. Otherwise 0.
    pub iface: u32,
    /// LINE_PROTOCOL: the line protocol is up.
    pub line_up: bool,
    /// CLIENT_CONFIGURED, CLIENT_LEASED, CLIENT_RELEASED: the inner address (port 0).
    pub assigned: ipsec_addr,
}

impl Default for ipsec_tunnel_event {
    fn default() -> Self {
        ipsec_tunnel_event {
            kind: IPSEC_TUNNEL_EVENT_OTHER,
            at_ms: 0,
            conn_id: 0,
            peer: ipsec_addr::default(),
            from_state: [0; IPSEC_STATE_NAME_LEN],
            to_state: [0; IPSEC_STATE_NAME_LEN],
            initiator: false,
            entry: 0,
            map_seq: 0,
            spi_in: 0,
            spi_out: 0,
            route_prefix: ipsec_addr::default(),
            route_prefix_len: 0,
            route_distance: 0,
            route_publish: false,
            route_tag: 0,
            iface: 0,
            line_up: false,
            assigned: ipsec_addr::default(),
        }
    }
}

/// Counters of a tunnel that belong to no flow (per-flow counters are in `show crypto ipsec
/// sa`), and those of its IKE endpoint.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_tunnel_counters {
    /// Cleartext packets no crypto ACL permits.
    pub not_protected: u64,
    /// Cleartext packets that are not IPv4.
    pub plaintext_malformed: u64,
    /// ESP packets with an SPI no SA owns (`%CRYPTO-4-RECVD_PKT_INV_SPI`).
    pub invalid_spi: u64,
    /// ESP packets too short to carry an SPI, and UDP-4500 datagrams that are nothing known.
    pub malformed: u64,
    /// NAT keepalives received.
    pub keepalives: u64,
    /// Decrypted packets whose next header is not IPv4 (dropped).
    pub not_ipv4: u64,
    /// Packets the output queue refused.
    pub queue_full: u64,
    /// Outputs dropped because the queue was full (not drained between inputs).
    pub outputs_dropped: u64,
    /// The IKE endpoint's drop and error counters.
    pub ike: ipsec_endpoint_counters,
}

/// The tunnels of one IOS configuration (opaque). Not thread-safe: serialise calls on one
/// handle. It has no callbacks, so nothing can call into it while one of its calls runs.
pub struct ipsec_tunnel {
    /// Borrowed for the whole of each entry point (`lock`, `peek`), like the endpoint's state.
    state: RefCell<Tunnel>,
}

impl Guarded for ipsec_tunnel {
    type State = Tunnel;
    fn cell(&self) -> &RefCell<Tunnel> {
        &self.state
    }
}

/// The IPv4 socket address of `a`; `None` for IPv6 or an unknown family.
fn v4_from_c(a: &ipsec_addr) -> Option<SocketAddrV4> {
    match addr_from_c(a)? {
        SocketAddr::V4(v) => Some(v),
        SocketAddr::V6(_) => None,
    }
}

/// An optional peer address argument: NULL is `Ok(None)`, an IPv4 address `Ok(Some)`, anything
/// else `IPSEC_RESULT_INVALID_PARAMETER`.
///
/// # Safety
/// `peer` NULL or readable.
unsafe fn optional_peer(peer: *const ipsec_addr) -> Result<Option<Ipv4Addr>, ipsec_result> {
    // SAFETY: caller contract.
    match unsafe { as_ref(peer) } {
        None => Ok(None),
        Some(a) => v4_from_c(a)
            .map(|v| Some(*v.ip()))
            .ok_or(ipsec_result::IPSEC_RESULT_INVALID_PARAMETER),
    }
}

fn v4_to_c(a: Ipv4Addr) -> ipsec_addr {
    addr_to_c(SocketAddr::new(IpAddr::V4(a), 0))
}

/// `name` NUL-terminated in a fixed array (cut to fit; IOS state names are far shorter).
fn state_name(state: Option<IsakmpState>) -> [c_char; IPSEC_STATE_NAME_LEN] {
    let mut out: [c_char; IPSEC_STATE_NAME_LEN] = [0; IPSEC_STATE_NAME_LEN];
    let bytes = state
        .map_or("", IsakmpState::name)
        .bytes()
        .take(IPSEC_STATE_NAME_LEN - 1);
    for (d, b) in out.iter_mut().zip(bytes) {
        *d = c_char::from_ne_bytes([b]);
    }
    out
}

fn event_to_c(t: &Tunnel, ev: TunnelEvent) -> ipsec_tunnel_event {
    let seq = |entry: usize| {
        t.tunnels()
            .entries()
            .get(entry)
            .map_or(0, |e| u32::from(e.seq))
    };
    let index = |entry: usize| u32::try_from(entry).unwrap_or(u32::MAX);
    let iface = |entry: usize| {
        t.tunnels()
            .entries()
            .get(entry)
            .and_then(|e| e.vti)
            .unwrap_or(IPSEC_IFACE_INSIDE)
    };
    let mut e = ipsec_tunnel_event::default();
    match ev {
        TunnelEvent::IsakmpState(tr) => {
            e.kind = IPSEC_TUNNEL_EVENT_ISAKMP_STATE;
            e.at_ms = tr.at.0;
            e.conn_id = tr.conn_id;
            e.peer = addr_to_c(SocketAddr::new(tr.peer, 0));
            e.from_state = state_name(tr.from);
            e.to_state = state_name(tr.to);
            e.initiator = tr.initiator;
        }
        TunnelEvent::IpsecUp {
            entry,
            peer,
            spi_in,
            spi_out,
        } => {
            e.kind = IPSEC_TUNNEL_EVENT_IPSEC_UP;
            e.peer = v4_to_c(peer);
            e.iface = iface(entry);
            e.entry = index(entry);
            e.map_seq = seq(entry);
            e.spi_in = spi_in;
            e.spi_out = spi_out;
        }
        TunnelEvent::IpsecDown {
            entry,
            spi_in,
            spi_out,
        } => {
            e.kind = IPSEC_TUNNEL_EVENT_IPSEC_DOWN;
            e.iface = iface(entry);
            e.entry = index(entry);
            e.map_seq = seq(entry);
            e.spi_in = spi_in;
            e.spi_out = spi_out;
        }
        TunnelEvent::PeerChanged { entry, to, .. } => {
            e.kind = IPSEC_TUNNEL_EVENT_PEER_CHANGED;
            e.peer = v4_to_c(to);
            e.entry = index(entry);
            e.map_seq = seq(entry);
        }
        TunnelEvent::RouteAdd(r) | TunnelEvent::RouteRemove(r) => {
            e.kind = if matches!(ev, TunnelEvent::RouteAdd(_)) {
                IPSEC_TUNNEL_EVENT_ROUTE_ADD
            } else {
                IPSEC_TUNNEL_EVENT_ROUTE_REMOVE
            };
            e.entry = index(r.entry);
            e.map_seq = seq(r.entry);
            e.route_prefix = v4_to_c(r.prefix);
            e.route_prefix_len = r.prefix_len();
            e.route_distance = r.distance;
            e.route_publish = r.publish;
            e.route_tag = r.tag;
        }
        TunnelEvent::LineProtocol { iface, up } => {
            e.kind = IPSEC_TUNNEL_EVENT_LINE_PROTOCOL;
            e.iface = iface;
            e.line_up = up;
        }
        TunnelEvent::Configured {
            entry,
            conn_id,
            settings,
        } => {
            e.kind = IPSEC_TUNNEL_EVENT_CLIENT_CONFIGURED;
            e.entry = index(entry);
            e.conn_id = conn_id;
            e.assigned = v4_to_c(settings.address.unwrap_or(Ipv4Addr::UNSPECIFIED));
        }
        TunnelEvent::ClientLeased {
            entry,
            conn_id,
            address,
            ..
        } => {
            e.kind = IPSEC_TUNNEL_EVENT_CLIENT_LEASED;
            e.entry = index(entry);
            e.map_seq = seq(entry);
            e.conn_id = conn_id;
            e.assigned = v4_to_c(address.unwrap_or(Ipv4Addr::UNSPECIFIED));
        }
        TunnelEvent::CredentialsNeeded { entry, .. } => {
            e.kind = IPSEC_TUNNEL_EVENT_CREDENTIALS_NEEDED;
            e.entry = index(entry);
            e.map_seq = seq(entry);
        }
        TunnelEvent::ClientReleased { entry, address } => {
            e.kind = IPSEC_TUNNEL_EVENT_CLIENT_RELEASED;
            e.entry = index(entry);
            e.map_seq = seq(entry);
            e.assigned = v4_to_c(address);
        }
        _ => {}
    }
    e
}

/// A refused configuration: the result code, the 1-based line and column (0 when none) and
/// the reason.
type IosRefusal = (ipsec_result, usize, usize, String);

fn ios_text(text: &[u8]) -> Result<&str, IosRefusal> {
    std::str::from_utf8(text).map_err(|e| {
        (
            ipsec_result::IPSEC_RESULT_INVALID_UTF8,
            0,
            0,
            format!("not UTF-8: {e}"),
        )
    })
}

fn refusal(e: TunnelError) -> IosRefusal {
    match e {
        TunnelError::Config(c) => (
            ipsec_result::IPSEC_RESULT_CONFIG_SYNTAX,
            c.line,
            c.column,
            c.to_string(),
        ),
        other => (
            ipsec_result::IPSEC_RESULT_INVALID_CONFIG,
            0,
            0,
            other.to_string(),
        ),
    }
}

/// Parses `text` and adds the keys and CRLs of `keys` (none without).
fn parse_with_keys(
    text: &[u8],
    keys: Option<&ipsec_keystore>,
) -> Result<GatewayConfig, IosRefusal> {
    let parsed = ipsec_proto::ios::parse(ios_text(text)?).map_err(|e| refusal(e.into()))?;
    let mut config = parsed.config;
    if let Some(k) = keys {
        config.rsa_keys = k.rsa_keys.clone();
        config.crls = k.crls.clone();
    }
    Ok(config)
}

/// Builds `text` into a tunnel, with the private keys and CRLs of `keys`; on failure the
/// result code and the error's position.
fn from_ios(
    text: &[u8],
    seed: [u8; 32],
    keys: Option<&ipsec_keystore>,
) -> Result<Tunnel, IosRefusal> {
    let opts = CoreOptions {
        seed,
        ..CoreOptions::default()
    };
    Tunnel::new(parse_with_keys(text, keys)?, opts).map_err(refusal)
}

/// Writes a refusal's position into the optional out-parameters and returns its code.
///
/// # Safety
/// `err_line`/`err_col` NULL or writable.
unsafe fn report_refusal(r: IosRefusal, err_line: *mut usize, err_col: *mut usize) -> ipsec_result {
    let (code, line, col, _) = r;
    if code != ipsec_result::IPSEC_RESULT_INVALID_UTF8 {
        if !err_line.is_null() {
            // SAFETY: non-NULL optional out-parameter, writable by contract.
            unsafe { write(err_line, line) };
        }
        if !err_col.is_null() {
            // SAFETY: as above.
            unsafe { write(err_col, col) };
        }
    }
    code
}

/// Builds the tunnels of an IOS configuration (`show running-config` text or pasted commands;
/// `len` bytes of UTF-8, need not be NUL-terminated): every complete entry of the crypto maps
/// applied to an interface, with our address from that interface's `ip address`. `seed` points
/// to 32 bytes from a CSPRNG (every cookie, nonce, SPI, DH secret and IV derives from it; same
/// seed and inputs, same bytes).
///
/// Errors: `IPSEC_RESULT_INVALID_UTF8`; `IPSEC_RESULT_CONFIG_SYNTAX` (the text does not parse:
/// `*err_line`, `*err_col` receive the 1-based position of the offending token);
/// `IPSEC_RESULT_INVALID_CONFIG` (it parses but cannot run, e.g. no interface carries a crypto
/// map: position 0, 0). `err_line` and `err_col` may be NULL and are written only on those two
/// errors. `ipsec_tunnel_explain_ios` renders the reason.
///
/// # Safety
/// `text` `len` readable bytes; `seed` 32 readable bytes; `out` writable; `err_line`/`err_col`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_new_from_ios(
    text: *const u8,
    len: usize,
    seed: *const u8,
    out: *mut *mut ipsec_tunnel,
    err_line: *mut usize,
    err_col: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: the caller's contract, passed on; no keystore.
        unsafe { new_tunnel(text, len, None, seed, out, err_line, err_col) }
    })
}

/// `ipsec_tunnel_new_from_ios` with the private keys and CRLs of `keys` (certificate
/// authentication: `authentication rsa-sig`, `crypto pki trustpoint T` with `rsakeypair
/// LABEL`, `crypto pki certificate chain T`). The tunnel copies them: `keys` may be freed or
/// changed afterwards. Peer certificates are checked against the wall clock, which the library
/// cannot read: call `ipsec_tunnel_set_wall_clock` before the first negotiation, or every
/// certificate peer is refused ("wall-clock time unknown").
///
/// Errors as `ipsec_tunnel_new_from_ios`, and `IPSEC_RESULT_NULL_PARAMETER` for a NULL `keys`.
/// A trustpoint holding our certificate without the key of its label, a key that is not the
/// certificate's, or a CRL the trustpoint cannot use give `IPSEC_RESULT_INVALID_CONFIG`
/// (position 0, 0; `ipsec_tunnel_explain_ios_with_keys` names the trustpoint).
///
/// # Safety
/// `text` `len` readable bytes; `keys` a live keystore; `seed` 32 readable bytes; `out`
/// writable; `err_line`/`err_col` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_new_from_ios_with_keys(
    text: *const u8,
    len: usize,
    keys: *const ipsec_keystore,
    seed: *const u8,
    out: *mut *mut ipsec_tunnel,
    err_line: *mut usize,
    err_col: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let keys = try_some!(unsafe { as_ref(keys) });
        // SAFETY: the caller's contract, passed on.
        unsafe { new_tunnel(text, len, Some(keys), seed, out, err_line, err_col) }
    })
}

/// The body of both constructors.
///
/// # Safety
/// As `ipsec_tunnel_new_from_ios`.
unsafe fn new_tunnel(
    text: *const u8,
    len: usize,
    keys: Option<&ipsec_keystore>,
    seed: *const u8,
    out: *mut *mut ipsec_tunnel,
    err_line: *mut usize,
    err_col: *mut usize,
) -> ipsec_result {
    if seed.is_null() || out.is_null() {
        return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
    }
    // SAFETY: caller contract for the text buffer.
    let bytes = try_some!(unsafe { in_slice(text, len) });
    // SAFETY: non-NULL `seed` points to 32 readable bytes (contract).
    let seed = unsafe { seed.cast::<[u8; 32]>().read_unaligned() };
    match from_ios(bytes, seed, keys) {
        Ok(t) => {
            let h = ipsec_tunnel {
                state: RefCell::new(t),
            };
            // SAFETY: checked non-NULL.
            unsafe { write(out, to_raw(h)) };
            ipsec_result::IPSEC_RESULT_OK
        }
        // SAFETY: forwarded caller contract for the optional out-parameters.
        Err(r) => unsafe { report_refusal(r, err_line, err_col) },
    }
}

/// Runs the IOS configuration `text` (as for `ipsec_tunnel_new_from_ios`) from `now_ms` on:
/// crypto map entries whose policy did not change keep their SAs (no packet lost); changed or
/// removed entries are cleared as `clear crypto sa` clears them (Deletes queued for
/// `ipsec_tunnel_poll_transmit`), new ones start idle. The private keys and CRLs the tunnel
/// was built with stay (`ipsec_tunnel_reconfigure_ios_with_keys` replaces them). On any error
/// the running configuration stays, with the same errors and positions as
/// `ipsec_tunnel_new_from_ios`. `*kept` and `*cleared` (each may be NULL) receive how many
/// entries kept or lost their SAs.
///
/// # Safety
/// `t` a live handle; `text` `len` readable bytes; `kept`, `cleared`, `err_line`, `err_col`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_reconfigure_ios(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    text: *const u8,
    len: usize,
    kept: *mut usize,
    cleared: *mut usize,
    err_line: *mut usize,
    err_col: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: the caller's contract, passed on; the running keys stay.
        unsafe { reconfigure(t, now_ms, text, len, None, kept, cleared, err_line, err_col) }
    })
}

/// `ipsec_tunnel_reconfigure_ios` that also replaces the tunnel's private keys and CRLs with
/// copies of those in `keys` (a renewed certificate and its key, a fresh CRL). Errors as
/// `ipsec_tunnel_reconfigure_ios` and `ipsec_tunnel_new_from_ios_with_keys`; on any error the
/// running configuration and keys stay.
///
/// # Safety
/// `t` a live handle; `text` `len` readable bytes; `keys` a live keystore; `kept`, `cleared`,
/// `err_line`, `err_col` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_reconfigure_ios_with_keys(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    text: *const u8,
    len: usize,
    keys: *const ipsec_keystore,
    kept: *mut usize,
    cleared: *mut usize,
    err_line: *mut usize,
    err_col: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let keys = try_some!(unsafe { as_ref(keys) });
        // SAFETY: the caller's contract, passed on.
        unsafe {
            reconfigure(
                t,
                now_ms,
                text,
                len,
                Some(keys),
                kept,
                cleared,
                err_line,
                err_col,
            )
        }
    })
}

/// The body of both reconfigurations: `keys` replaces the running keys and CRLs, `None` keeps
/// them.
///
/// # Safety
/// As `ipsec_tunnel_reconfigure_ios`.
#[allow(clippy::too_many_arguments)] // the C entry points' arguments, plus the keystore
unsafe fn reconfigure(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    text: *const u8,
    len: usize,
    keys: Option<&ipsec_keystore>,
    kept: *mut usize,
    cleared: *mut usize,
    err_line: *mut usize,
    err_col: *mut usize,
) -> ipsec_result {
    // SAFETY: caller contract.
    let mut tun = try_ok!(unsafe { lock(t) });
    // SAFETY: caller contract for the text buffer.
    let bytes = try_some!(unsafe { in_slice(text, len) });
    let running;
    let keys = match keys {
        Some(k) => k,
        None => {
            let c = tun.tunnels().config();
            running = ipsec_keystore {
                rsa_keys: c.rsa_keys.clone(),
                crls: c.crls.clone(),
            };
            &running
        }
    };
    let done = parse_with_keys(bytes, Some(keys)).and_then(|config| {
        tun.reconfigure(Instant(now_ms), config)
            .map_err(|e| refusal(e.into()))
    });
    match done {
        Ok(r) => {
            for (p, n) in [(kept, r.kept.len()), (cleared, r.cleared.len())] {
                if !p.is_null() {
                    // SAFETY: non-NULL optional out-parameter, writable by contract.
                    unsafe { write(p, n) };
                }
            }
            ipsec_result::IPSEC_RESULT_OK
        }
        // SAFETY: forwarded caller contract for the optional out-parameters.
        Err(r) => unsafe { report_refusal(r, err_line, err_col) },
    }
}

/// Explains why `ipsec_tunnel_new_from_ios` refuses `text`: renders the reason ("line L,
/// column C: ..." for a syntax error) into `buf` like `ipsec_result_message`; the message is
/// empty when the text would be accepted. The result is that of writing the message.
///
/// # Safety
/// `text` `len` readable bytes; `buf` `cap` writable bytes (or NULL with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_explain_ios(
    text: *const u8,
    len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract for the text buffer.
        let bytes = try_some!(unsafe { in_slice(text, len) });
        // SAFETY: forwarded caller contract.
        unsafe { explain(bytes, None, buf, cap, out_len) }
    })
}

/// `ipsec_tunnel_explain_ios` for `ipsec_tunnel_new_from_ios_with_keys`: why `text` with the
/// keys and CRLs of `keys` is refused (e.g. "trustpoint LAB: rsakeypair gw: no key loaded").
///
/// # Safety
/// `text` `len` readable bytes; `keys` a live keystore; `buf` `cap` writable bytes (or NULL
/// with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_explain_ios_with_keys(
    text: *const u8,
    len: usize,
    keys: *const ipsec_keystore,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract for the text buffer.
        let bytes = try_some!(unsafe { in_slice(text, len) });
        // SAFETY: caller contract.
        let keys = try_some!(unsafe { as_ref(keys) });
        // SAFETY: forwarded caller contract.
        unsafe { explain(bytes, Some(keys), buf, cap, out_len) }
    })
}

/// The body of both explanations.
///
/// # Safety
/// `buf` `cap` writable bytes (or NULL with 0); `out_len` NULL or writable.
unsafe fn explain(
    bytes: &[u8],
    keys: Option<&ipsec_keystore>,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    let msg = match from_ios(bytes, [0; 32], keys) {
        Ok(_) => String::new(),
        Err((_, _, _, m)) => m,
    };
    // SAFETY: forwarded caller contract.
    unsafe { write_text(&msg, buf, cap, out_len) }
}

/// Tells the tunnel the wall-clock time: `unix_secs` (seconds since 1970-01-01 UTC) is the
/// time at `now_ms` on the caller's monotonic clock; later times follow that clock. Peer
/// certificates (validity, CRL dates) are checked against it; until it is set, every
/// certificate peer is refused in Phase 1 ("wall-clock time unknown"). Call it again after the
/// system clock was stepped (NTP); pre-shared key peers do not need it.
///
/// # Safety
/// `t` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_set_wall_clock(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    unix_secs: i64,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        tun.set_wall_clock(Instant(now_ms), unix_secs);
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Frees the tunnel (wiping its keys) and sets `*t` to NULL.
///
/// # Safety
/// `t` NULL, or points to NULL or a handle from this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_free(t: *mut *mut ipsec_tunnel) {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { free_guarded(t) }
    })
}

/// A cleartext IPv4 packet from the protected side (`len` bytes). `*verdict` receives what
/// became of it (`IPSEC_TUN_VERDICT_*`); a protected packet is then polled out with
/// `ipsec_tunnel_poll_transmit`. The first packet of a flow without SAs is dropped
/// (`IPSEC_TUN_VERDICT_NO_SA`) and starts IKE, as on IOS.
///
/// # Safety
/// `t` a live handle; `pkt` `len` readable bytes; `verdict` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_handle_plaintext(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    pkt: *const u8,
    len: usize,
    verdict: *mut u32,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let pkt = try_some!(unsafe { in_slice(pkt, len) });
        if verdict.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let v = match tun.handle_plaintext(Instant(now_ms), pkt) {
            TunVerdict::Protected => IPSEC_TUN_VERDICT_PROTECTED,
            TunVerdict::NoSa => IPSEC_TUN_VERDICT_NO_SA,
            TunVerdict::SendError => IPSEC_TUN_VERDICT_SEND_ERROR,
            TunVerdict::NotProtected => IPSEC_TUN_VERDICT_NOT_PROTECTED,
            TunVerdict::Malformed => IPSEC_TUN_VERDICT_MALFORMED,
        };
        // SAFETY: checked non-NULL.
        unsafe { write(verdict, v) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// A UDP datagram received on `path->local` (our address, port 500 or 4500) from
/// `path->remote`, whole (on 4500 with the non-ESP marker still in front; ESP in UDP and NAT
/// keepalives too). IPv4 only: other families give `IPSEC_RESULT_INVALID_PARAMETER`. Returns
/// `IPSEC_RESULT_OK`, or why the datagram was dropped (it is counted either way): an IKE reason
/// as `ipsec_endpoint_handle_datagram` gives it, an ESP one as `ipsec_tunnel_handle_esp`, or
/// `IPSEC_RESULT_MALFORMED_MESSAGE` for a UDP 4500 datagram that is neither.
///
/// # Safety
/// `t` a live handle; `path` readable; `data` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_handle_datagram(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    path: *const ipsec_path,
    data: *const u8,
    len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let path = try_some!(unsafe { as_ref(path) });
        // SAFETY: caller contract.
        let data = try_some!(unsafe { in_slice(data, len) });
        let (Some(local), Some(remote)) = (v4_from_c(&path.local), v4_from_c(&path.remote)) else {
            return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
        };
        match tun.handle_udp(Instant(now_ms), local, remote, data) {
            Ok(()) => ipsec_result::IPSEC_RESULT_OK,
            Err(why) => (&why).into(),
        }
    })
}

/// A raw ESP packet (the IP protocol 50 payload, SPI first) from `src` (IPv4; the port is
/// ignored). Returns `IPSEC_RESULT_OK` when the packet was decrypted and queued for
/// `ipsec_tunnel_poll_plaintext`, else why it was dropped (also counted in `show crypto ipsec
/// sa` and `ipsec_tunnel_get_counters`): `IPSEC_RESULT_ESP_UNKNOWN_SPI`, `IPSEC_RESULT_ESP_ICV`,
/// `IPSEC_RESULT_ESP_REPLAYED`, `IPSEC_RESULT_ESP_TOO_OLD`, `IPSEC_RESULT_ESP_INVALID_IDENTITY`,
/// `IPSEC_RESULT_QUEUE_FULL`, ...
///
/// # Safety
/// `t` a live handle; `src` readable; `data` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_handle_esp(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    src: *const ipsec_addr,
    data: *const u8,
    len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let src = try_some!(unsafe { as_ref(src) });
        // SAFETY: caller contract.
        let data = try_some!(unsafe { in_slice(data, len) });
        let Some(src) = v4_from_c(src) else {
            return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
        };
        match tun.handle_esp(Instant(now_ms), *src.ip(), data) {
            Ok(()) => ipsec_result::IPSEC_RESULT_OK,
            Err(why) => (&why).into(),
        }
    })
}

/// Runs everything due at `now_ms` (retransmissions, lifetimes, rekeys, DPD, keepalives). Call
/// it when the deadline from `ipsec_tunnel_poll_timeout` has passed.
///
/// # Safety
/// `t` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_handle_timeout(
    t: *mut ipsec_tunnel,
    now_ms: u64,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        tun.handle_timeout(Instant(now_ms));
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Deletes every IPsec SA pair and ISAKMP SA; the Deletes are then polled out with
/// `ipsec_tunnel_poll_transmit`.
///
/// # Safety
/// `t` a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_shutdown(t: *mut ipsec_tunnel, now_ms: u64) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        tun.shutdown(Instant(now_ms));
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// `clear crypto sa [peer X]`: deletes the IPsec SA pairs (with `peer`, IPv4, only those with
/// that peer; NULL for all), sending Deletes. `*out_cleared` (may be NULL) receives how many.
///
/// # Safety
/// `t` a live handle; `peer` NULL or readable; `out_cleared` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_clear_sa(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    peer: *const ipsec_addr,
    out_cleared: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let peer = try_ok!(unsafe { optional_peer(peer) });
        let n = tun.clear_sa(Instant(now_ms), peer);
        if !out_cleared.is_null() {
            // SAFETY: non-NULL optional out-parameter.
            unsafe { write(out_cleared, n) };
        }
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Writes the next datagram to send into `buf` and where it goes into `*out`.
/// `IPSEC_RESULT_NONE` when nothing is queued. On `IPSEC_RESULT_BUFFER_TOO_SMALL` the datagram
/// stays queued and `*out_required` (may be NULL) receives its size; otherwise `out_required`
/// is not written.
///
/// # Safety
/// `t` a live handle; `buf` `cap` writable bytes (or NULL with 0); `out` writable;
/// `out_required` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_poll_transmit(
    t: *mut ipsec_tunnel,
    buf: *mut u8,
    cap: usize,
    out: *mut ipsec_tunnel_transmit,
    out_required: *mut usize,
) -> ipsec_result {
    // SAFETY: the caller's contract, passed on; no DF out-parameter.
    unsafe { poll_transmit(t, buf, cap, out, out_required, std::ptr::null_mut()) }
}

/// `ipsec_tunnel_poll_transmit`, and on `IPSEC_RESULT_OK` whether the outer IPv4 header of
/// the datagram must carry the DF bit into `*out_df` (may be NULL): ESP under `crypto ipsec
/// df-bit clear|set|copy` (default copy: the inner packet's DF); false for IKE and keepalives.
/// On Linux send DF datagrams with `IP_MTU_DISCOVER` = `IP_PMTUDISC_WANT` and the others with
/// `IP_PMTUDISC_DONT`.
///
/// # Safety
/// As `ipsec_tunnel_poll_transmit`; `out_df` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_poll_transmit_df(
    t: *mut ipsec_tunnel,
    buf: *mut u8,
    cap: usize,
    out: *mut ipsec_tunnel_transmit,
    out_required: *mut usize,
    out_df: *mut bool,
) -> ipsec_result {
    // SAFETY: the caller's contract, passed on.
    unsafe { poll_transmit(t, buf, cap, out, out_required, out_df) }
}

/// The body of both transmit polls.
///
/// # Safety
/// As `ipsec_tunnel_poll_transmit_df`.
unsafe fn poll_transmit(
    t: *mut ipsec_tunnel,
    buf: *mut u8,
    cap: usize,
    out: *mut ipsec_tunnel_transmit,
    out_required: *mut usize,
    out_df: *mut bool,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let buf = try_some!(unsafe { out_slice(buf, cap) });
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let mut df = false;
        let r = tun.poll_transmit(buf).map(|tx| {
            tx.map(|tx| {
                df = tx.df;
                let (kind, local, remote) = match tx.dest {
                    Dest::Udp { local, remote } => (IPSEC_TUNNEL_TRANSMIT_UDP, local, remote),
                    Dest::Esp { src, dst } => (
                        IPSEC_TUNNEL_TRANSMIT_ESP,
                        SocketAddrV4::new(src, 0),
                        SocketAddrV4::new(dst, 0),
                    ),
                    // Never handed out by poll_transmit (those are poll_plaintext's).
                    Dest::Tun | Dest::Vti(_) => (
                        0,
                        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                    ),
                };
                ipsec_tunnel_transmit {
                    kind,
                    path: ipsec_path {
                        local: addr_to_c(SocketAddr::V4(local)),
                        remote: addr_to_c(SocketAddr::V4(remote)),
                    },
                    len: tx.len,
                }
            })
        });
        // SAFETY: `out` checked non-NULL; `out_required` is the caller's optional pointer.
        let res = unsafe { polled(r, out, out_required) };
        if res == ipsec_result::IPSEC_RESULT_OK && !out_df.is_null() {
            // SAFETY: non-NULL optional out-parameter.
            unsafe { write(out_df, df) };
        }
        res
    })
}

/// Writes the next decrypted IPv4 packet for the protected side into `buf`; `*out_len`
/// receives its length. `IPSEC_RESULT_NONE` when none is queued. On
/// `IPSEC_RESULT_BUFFER_TOO_SMALL` the packet stays queued and `*out_len` receives its size.
///
/// # Safety
/// `t` a live handle; `buf` `cap` writable bytes (or NULL with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_poll_plaintext(
    t: *mut ipsec_tunnel,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let buf = try_some!(unsafe { out_slice(buf, cap) });
        if out_len.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let (code, n) = match tun.poll_plaintext(buf) {
            Ok(Some(n)) => (ipsec_result::IPSEC_RESULT_OK, n),
            Ok(None) => return ipsec_result::IPSEC_RESULT_NONE,
            Err(e) => (ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL, e.needed),
        };
        // SAFETY: checked non-NULL.
        unsafe { write(out_len, n) };
        code
    })
}

/// `ipsec_tunnel_poll_plaintext` that also says which interface the packet comes out of:
/// `*out_iface` receives `IPSEC_IFACE_INSIDE` for a crypto map SA's packet, N for one of VTI
/// `interface TunnelN` (written only with `IPSEC_RESULT_OK`; `out_iface` may be NULL).
///
/// # Safety
/// `t` a live handle; `buf` `cap` writable bytes (or NULL with 0); `out_len` writable;
/// `out_iface` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_poll_plaintext_iface(
    t: *mut ipsec_tunnel,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
    out_iface: *mut u32,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let buf = try_some!(unsafe { out_slice(buf, cap) });
        if out_len.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let (code, n, iface) = match tun.poll_plaintext_iface(buf) {
            Ok(Some((n, Iface::Tunnel(i)))) => (ipsec_result::IPSEC_RESULT_OK, n, Some(i)),
            Ok(Some((n, _))) => (ipsec_result::IPSEC_RESULT_OK, n, Some(IPSEC_IFACE_INSIDE)),
            Ok(None) => return ipsec_result::IPSEC_RESULT_NONE,
            Err(e) => (ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL, e.needed, None),
        };
        // SAFETY: checked non-NULL.
        unsafe { write(out_len, n) };
        if let (Some(i), false) = (iface, out_iface.is_null()) {
            // SAFETY: non-NULL optional out-parameter.
            unsafe { write(out_iface, i) };
        }
        code
    })
}

/// Copies the next event into `*out`. `IPSEC_RESULT_NONE` when there is none.
///
/// # Safety
/// `t` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_poll_event(
    t: *mut ipsec_tunnel,
    out: *mut ipsec_tunnel_event,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let Some(ev) = tun.poll_event() else {
            return ipsec_result::IPSEC_RESULT_NONE;
        };
        let e = event_to_c(&tun, ev);
        // SAFETY: checked non-NULL.
        unsafe { write(out, e) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// The absolute time (same clock as every `now_ms`) at which `ipsec_tunnel_handle_timeout` has
/// work to do. Returns false (and leaves `*out_deadline_ms` alone) when no timer runs, or for
/// NULL arguments.
///
/// # Safety
/// `t` NULL or a live handle; `out_deadline_ms` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_poll_timeout(
    t: *const ipsec_tunnel,
    out_deadline_ms: *mut u64,
) -> bool {
    boundary(|| {
        // SAFETY: caller contract.
        let Ok(tun) = (unsafe { peek(t) }) else {
            return false;
        };
        if out_deadline_ms.is_null() {
            return false;
        }
        match tun.poll_timeout() {
            Some(d) => {
                // SAFETY: checked non-NULL.
                unsafe { write(out_deadline_ms, d.0) };
                true
            }
            None => false,
        }
    })
}

/// Copies the tunnel's counters into `*out`.
///
/// # Safety
/// `t` a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_get_counters(
    t: *const ipsec_tunnel,
    out: *mut ipsec_tunnel_counters,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let tun = try_ok!(unsafe { peek(t) });
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let c = tun.tunnels().counters();
        let v = ipsec_tunnel_counters {
            not_protected: c.not_protected,
            plaintext_malformed: c.tun_malformed,
            invalid_spi: c.invalid_spi,
            malformed: c.malformed,
            keepalives: c.keepalives,
            not_ipv4: c.not_ipv4,
            queue_full: c.queue_full,
            outputs_dropped: tun.dropped(),
            ike: tun.tunnels().endpoint().counters().into(),
        };
        // SAFETY: checked non-NULL.
        unsafe { write(out, v) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Renders an IOS show command (`IPSEC_SHOW_*`) at `now_ms` into `buf`, NUL-terminated, as the
/// router prints it. `peer` (IPv4, may be NULL) restricts `IPSEC_SHOW_IPSEC_SA[_DETAIL]` to one
/// peer (`show crypto ipsec sa peer X`); it must be NULL for the other commands. Unknown `which`
/// or a misplaced `peer`: `IPSEC_RESULT_INVALID_PARAMETER`. `*out_len` receives the text
/// length; on `IPSEC_RESULT_BUFFER_TOO_SMALL` the capacity needed (NUL included) and nothing is
/// copied.
///
/// # Safety
/// `t` a live handle; `peer` NULL or readable; `buf` `cap` writable bytes (or NULL with 0);
/// `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_show(
    t: *const ipsec_tunnel,
    now_ms: u64,
    which: u32,
    peer: *const ipsec_addr,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let tun = try_ok!(unsafe { peek(t) });
        // SAFETY: caller contract.
        let peer = try_ok!(unsafe { optional_peer(peer) });
        let what = match which {
            IPSEC_SHOW_IPSEC_SA | IPSEC_SHOW_IPSEC_SA_DETAIL => Show::IpsecSa {
                peer,
                detail: which == IPSEC_SHOW_IPSEC_SA_DETAIL,
            },
            _ if peer.is_some() => return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER,
            IPSEC_SHOW_ISAKMP_SA => Show::IsakmpSa,
            IPSEC_SHOW_ISAKMP_SA_DETAIL => Show::IsakmpSaDetail,
            IPSEC_SHOW_ISAKMP_POLICY => Show::IsakmpPolicy,
            IPSEC_SHOW_TRANSFORM_SET => Show::TransformSet,
            IPSEC_SHOW_CRYPTO_MAP => Show::CryptoMap,
            IPSEC_SHOW_CRYPTO_SESSION => Show::CryptoSession { detail: false },
            IPSEC_SHOW_CRYPTO_SESSION_DETAIL => Show::CryptoSession { detail: true },
            IPSEC_SHOW_RUNNING_CONFIG => Show::RunningConfig,
            IPSEC_SHOW_CRYPTO_IPSEC_CLIENT_EZVPN => Show::Ezvpn,
            IPSEC_SHOW_CRYPTO_PKI_CERTIFICATES => Show::PkiCertificates,
            IPSEC_SHOW_CRYPTO_PKI_TRUSTPOINTS => Show::PkiTrustpoints,
            IPSEC_SHOW_IP_NAT_TRANSLATIONS => Show::NatTranslations,
            w if (IPSEC_SHOW_INTERFACES_TUNNEL..IPSEC_SHOW_INTERFACES_TUNNEL << 1).contains(&w) => {
                Show::Interface {
                    tunnel: w - IPSEC_SHOW_INTERFACES_TUNNEL,
                }
            }
            w if (IPSEC_SHOW_IPSEC_SA_INTERFACE_TUNNEL
                ..IPSEC_SHOW_IPSEC_SA_INTERFACE_TUNNEL << 1)
                .contains(&w) =>
            {
                Show::IpsecSaInterface {
                    tunnel: w - IPSEC_SHOW_IPSEC_SA_INTERFACE_TUNNEL,
                    detail: false,
                }
            }
            _ => return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER,
        };
        let text = tun.show(Instant(now_ms), what);
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}

/// `show crypto pki certificates TRUSTPOINT`: renders the certificates of one trustpoint
/// (`trustpoint`: `trustpoint_len` bytes of UTF-8) into `buf` like `ipsec_tunnel_show`; an
/// empty name (NULL with 0) shows every trustpoint, as `IPSEC_SHOW_CRYPTO_PKI_CERTIFICATES`. A
/// trustpoint that is not configured answers as IOS does ("% Trustpoint X not found").
///
/// # Safety
/// `t` a live handle; `trustpoint` `trustpoint_len` readable bytes (or NULL with 0); `buf`
/// `cap` writable bytes (or NULL with 0); `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_show_pki_certificates(
    t: *const ipsec_tunnel,
    trustpoint: *const u8,
    trustpoint_len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let tun = try_ok!(unsafe { peek(t) });
        // SAFETY: caller contract.
        let name = try_some!(unsafe { in_slice(trustpoint, trustpoint_len) });
        let Ok(name) = std::str::from_utf8(name) else {
            return ipsec_result::IPSEC_RESULT_INVALID_UTF8;
        };
        let text = tun
            .tunnels()
            .show_pki_certificates(Some(name).filter(|n| !n.is_empty()));
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}

/// Renders the troubleshooting diagnosis at `now_ms` into `buf` like `ipsec_tunnel_show`: the
/// seed's procedure per crypto map peer (or only for `peer`, IPv4, when not NULL): the cause
/// (Phase 1, then Phase 2, then the ESP counters: one-way tunnels, ICV and replay failures),
/// its evidence, what to check and the `show`/`debug` lines that confirm it.
///
/// # Safety
/// `t` a live handle; `peer` NULL or readable; `buf` `cap` writable bytes (or NULL with 0);
/// `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_diagnose(
    t: *const ipsec_tunnel,
    now_ms: u64,
    peer: *const ipsec_addr,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let tun = try_ok!(unsafe { peek(t) });
        // SAFETY: caller contract.
        let peer = try_ok!(unsafe { optional_peer(peer) });
        let text = diagnose::render(&tun.diagnose(Instant(now_ms), peer));
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&text, buf, cap, out_len) }
    })
}

mod batch;
pub use batch::*;
mod ezvpn;
pub use ezvpn::*;

#[cfg(test)]
#[allow(clippy::undocumented_unsafe_blocks)] // tests: live locals and buffers throughout
mod tests;
#[cfg(test)]
pub(crate) use tests::pki::pem_der as tests_pem_der;
