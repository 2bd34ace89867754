//! The tunnel layer: an IOS crypto-map configuration running on the IKEv1 endpoint and the ESP
//! SAs, as one sans-IO object ([`Tunnels`]) that every embedder wraps: the Linux gateway
//! (`ipsec-engine`), the C ABI, the Python module and the in-memory demonstration. It owns no
//! socket and no clock: cleartext packets, UDP datagrams, raw ESP and timer expiries go in with
//! the time; packets to send or deliver, debug lines and warnings come out in an [`Outputs`]
//! arena, and [`Tunnels::poll_timeout`] says when to call again.
//!
//! Data path, as on an IOS router:
//! - Outbound ([`Tunnels::protect`]): the inner IPv4 packet's 5-tuple is checked against the
//!   crypto ACL of each crypto map entry in sequence order; within one ACL the first matching
//!   line decides. A `permit` line selects the flow (entry + proxy pair): with an SA pair the
//!   packet is ESP-encapsulated (raw protocol 50, or UDP 4500 once NAT-T is in use) and
//!   `#pkts encaps/encrypt/digest` count it; without one it is dropped, counted in
//!   `#send errors`, and Phase 1 + 2 are started (the first ping is lost, as on IOS). A `deny`
//!   line means "not protected by this entry" and the next entry is tried.
//! - Inbound: UDP 500/4500 (IKE with or without the non-ESP marker, ESP in UDP, NAT-keepalives)
//!   and raw ESP; ESP goes through the SPI table, is decapsulated, and the inner packet must lie
//!   inside the SA's proxy identities (else dropped and counted as `invalid identity`).
//!
//! Counters belong to the flow and survive rekeys (cisco-ios.md section D): each SA's counters
//! are folded into its flow when the SA goes. Packets with an SPI no SA owns are counted
//! globally (`%CRYPTO-4-RECVD_PKT_INV_SPI`). The data path does not allocate: packets are
//! encrypted and decrypted straight into the [`Outputs`] arena.

#[cfg(test)]
mod aggressive_tests;
mod batch;
mod build;
mod classify;
mod client_pat;
mod commands;
mod debug;
#[cfg(test)]
mod df_bit_tests;
mod diag;
mod dropped;
#[cfg(test)]
mod dynamic_tests;
mod ezvpn;
pub use ezvpn::EzvpnXauthError;
#[cfg(test)]
mod ezvpn_tests;
mod failover;
mod flows;
use flows::flows_of;
mod cbc_batch;
#[cfg(test)]
mod cbc_batch_tests;
#[cfg(test)]
mod identity_tests;
mod idle;
mod ike_events;
mod install;
#[cfg(test)]
mod lifetime_tests;
#[cfg(test)]
mod local_address_tests;
mod mss;
pub mod output;
mod packet;
mod pairs;
mod pat;
mod polled;
#[cfg(test)]
mod profile_tests;
mod readdress;
mod reconfigure;
mod rri;
#[cfg(test)]
mod rri_tests;
#[cfg(test)]
mod rsa_sig_tests;
mod show;
mod verbs;
mod vti;
#[cfg(test)]
mod vti_tests;

use crate::esp::{
    classify_udp4500, EspConfig, EspStats, InboundError, InboundSa, LifetimeConfig, LifetimeLimits,
    OutboundSa, SoftMargins, Udp4500,
};
use crate::ike::{
    ChildId, DeleteReason, Endpoint, Event, IkeSaId, IsakmpSaInfo, IsakmpState, Path,
    Phase2Established, SelectorPair,
};
use crate::ios::show::IosFlavor;
pub use crate::keylog::KeyLog;
use crate::policy::{GatewayConfig, TransformSet};
use crate::rng::Rng;
use crate::time::Instant;
pub use batch::{BatchVerdicts, Iface, BATCH};
pub use build::{build, BuildError, Built, MapEntryInfo};
pub use diag::IosTime;
pub use dropped::Dropped;
pub use ike_events::{IkeEvent, Phase2Info};
pub use mss::{clamp as clamp_mss, syn_mss};
pub use output::{DebugKind, Dest, Outputs, Slot};
pub use packet::{five_tuple, selector_admits};
pub use pat::{
    Malformation, Pat, PatEntry, PatError, PatLimits, PatProto, Translated, Unsupported,
};
pub use polled::{Tunnel, TunnelError, TunnelTransmit};
pub use reconfigure::Reconfigured;
pub use rri::InjectedRoute;
pub use show::Show;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// IPv4 in IPv4 (ESP next header in tunnel mode).
const NEXT_HEADER_IPV4: u8 = 4;
/// Largest IKE message the endpoint emits, plus room for the non-ESP marker.
const IKE_BUF: usize = 8192 + 4;
/// Largest SYN (IP + TCP with options, maybe a little data) clamped in a stack copy.
const SYN_COPY: usize = 256;
/// State transitions kept for [`Tunnels::transitions`].
const MAX_TRANSITIONS: usize = 256;

/// How to build a [`Tunnels`].
#[derive(Clone, Debug)]
pub struct CoreOptions {
    /// Seed of every random value (cookies, nonces, SPIs, DH secrets, IVs).
    pub seed: [u8; 32],
    /// Our address, instead of the crypto interface's `ip address`.
    pub local_addr: Option<Ipv4Addr>,
    /// Path MTU towards the peers (`path mtu` in `show crypto ipsec sa`).
    pub path_mtu: u16,
    /// Which IOS release's show layout to imitate.
    pub flavor: IosFlavor,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions {
            seed: [0; 32],
            local_addr: None,
            path_mtu: 1500,
            flavor: IosFlavor::default(),
        }
    }
}

impl CoreOptions {
    /// Options with a seed from a number (the demo's `--seed`).
    pub fn seeded(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        CoreOptions {
            seed: s,
            ..CoreOptions::default()
        }
    }
}

/// What [`Tunnels::protect`] did with a cleartext packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunVerdict {
    /// Encapsulated and queued for the peer.
    Protected,
    /// A permit line matched but no SA pair exists yet: dropped, counted in `#send errors`,
    /// negotiation started.
    NoSa,
    /// A permit line matched but the packet could not be protected (SA expired or exhausted,
    /// line not expressible as a proxy identity, output queue full): dropped and counted.
    SendError,
    /// No crypto ACL permits the packet: IOS would forward it in clear. The engine routes only
    /// the crypto ACLs' destinations into the TUN, so such a packet reached the TUN through a
    /// wider host route; [`Tunnels::handle_plaintext`] drops it (writing it back would loop) and
    /// counts it in [`CoreCounters::not_protected`].
    NotProtected,
    /// Not an IPv4 packet with a whole header: dropped and counted.
    Malformed,
}

/// Counters of packets that belong to no flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreCounters {
    /// Cleartext packets no crypto ACL permits (see [`TunVerdict::NotProtected`]).
    pub not_protected: u64,
    /// Cleartext packets that are not IPv4.
    pub tun_malformed: u64,
    /// ESP packets with an SPI no SA owns (`%CRYPTO-4-RECVD_PKT_INV_SPI`).
    pub invalid_spi: u64,
    /// ESP packets too short to carry an SPI, and UDP-4500 datagrams that are nothing known.
    pub malformed: u64,
    /// NAT-keepalives received.
    pub keepalives: u64,
    /// Decrypted packets whose next header is not IPv4 (dropped; IPv6 is not routed here).
    pub not_ipv4: u64,
    /// Packets the output queue refused.
    pub queue_full: u64,
    /// Cleartext packets for an interface that does not exist ([`Iface::Tunnel`] without a
    /// configured VTI).
    pub no_interface: u64,
    /// Cleartext packets of an inside host an Easy VPN `mode client` connection could not
    /// translate to its assigned address (a protocol or fragment PAT cannot carry, or a full
    /// table).
    pub pat_dropped: u64,
}

/// An ISAKMP state change seen between two calls (for narratives and debug).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// When it was seen.
    pub at: Instant,
    /// conn-id.
    pub conn_id: u32,
    /// The peer's address.
    pub peer: IpAddr,
    /// Previous state (`None` for a new SA).
    pub from: Option<IsakmpState>,
    /// New state (`None` when the SA went away).
    pub to: Option<IsakmpState>,
    /// We started the exchange.
    pub initiator: bool,
}

/// Events kept for [`Tunnels::poll_event`]; beyond this the oldest go (and are counted), so a
/// host that never polls (the Linux engine reads the same facts from the show snapshots) holds
/// a bounded queue.
const MAX_EVENTS: usize = 1024;

/// Something the host may act on or report, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TunnelEvent {
    /// An ISAKMP SA changed state (`None` ends: a new SA, or one that went away).
    IsakmpState(Transition),
    /// An IPsec SA pair was installed: traffic of crypto map entry `entry`'s proxy pair now
    /// goes through it (a rekey installs the successor; the old inbound SA stays until deleted).
    IpsecUp {
        /// Index of the crypto map entry ([`Tunnels::entries`]) that owns the pair.
        entry: usize,
        /// The peer.
        peer: Ipv4Addr,
        /// Our inbound SPI.
        spi_in: u32,
        /// The peer's inbound SPI (ours outbound).
        spi_out: u32,
    },
    /// Crypto map entry `entry` gave up on its peer (no answer to Main Mode, or declared dead
    /// by DPD) and uses the next `set peer` from now on (IOS has no automatic failback; with
    /// `set peer A default` a failing backup hands back to A).
    PeerChanged {
        /// Index of the crypto map entry.
        entry: usize,
        /// The peer given up on.
        from: Ipv4Addr,
        /// The peer used from now on.
        to: Ipv4Addr,
    },
    /// An IPsec SA pair went away (deleted, expired, or replaced and retired).
    IpsecDown {
        /// Index of the owning crypto map entry.
        entry: usize,
        /// Our inbound SPI.
        spi_in: u32,
        /// The outbound SPI.
        spi_out: u32,
    },
    /// The host should route this network into the tunnel: reverse route injection
    /// (`reverse-route`: while an SA pair for it exists; `reverse-route static`: from the
    /// start) or a dynamic map's learned proxy network. Announced once per network however
    /// many pairs hold it; see [`InjectedRoute`].
    RouteAdd(InjectedRoute),
    /// A route announced by [`TunnelEvent::RouteAdd`] is no longer wanted (its last SA pair
    /// went, the configuration changed, or the tunnels shut down).
    RouteRemove(InjectedRoute),
    /// The line protocol of VTI `TunnelN` changed: up when its first IPsec SA pair was
    /// installed, down when its last one went. Routes through a down tunnel should be withdrawn
    /// (so that a floating static route takes over), as IOS does.
    LineProtocol {
        /// `N` of `TunnelN`.
        iface: u32,
        /// Line protocol up.
        up: bool,
    },
    /// Easy VPN server: a remote-access client of crypto map entry `entry` was configured
    /// (Mode Config), holding `address` from its group's pool if it asked for one.
    ClientLeased {
        /// Index of the crypto map entry.
        entry: usize,
        /// The ISAKMP SA (conn-id).
        conn_id: u32,
        /// The client's group.
        group: String,
        /// The address leased.
        address: Option<Ipv4Addr>,
    },
    /// Easy VPN server: a client's last SA (ISAKMP or IPsec) went and `address` is back in
    /// the pool.
    ClientReleased {
        /// Index of the crypto map entry.
        entry: usize,
        /// The address.
        address: Ipv4Addr,
    },
    /// Easy VPN client: the server configured us: put `settings.address` on the inner
    /// interface, route `settings.split` (everything when empty) into the tunnel, use its DNS.
    Configured {
        /// Index of the crypto map entry (or Easy VPN profile) we connected with.
        entry: usize,
        /// The ISAKMP SA (conn-id).
        conn_id: u32,
        /// What the server gave.
        settings: crate::policy::ClientSettings,
    },
    /// Easy VPN client: the server asks for XAUTH credentials and profile `profile` has none
    /// stored: answer with [`Tunnels::ezvpn_xauth`] (IOS `crypto ipsec client ezvpn xauth`)
    /// before the server's XAUTH timeout.
    CredentialsNeeded {
        /// Index of the crypto map entry of the profile.
        entry: usize,
        /// The Easy VPN profile's name.
        profile: String,
        /// The server's prompt text, if it sent one.
        message: Option<String>,
    },
}

/// One proxy pair of one crypto map entry, with counters that outlive its SAs.
#[derive(Debug)]
struct Flow {
    entry: usize,
    /// The entry is a dynamic-map template (kept here so a packet does not read the entry).
    dynamic: bool,
    /// ... without `match address` ([`MapEntryInfo::any_proxies`]): a packet no pair admits
    /// is not protected.
    any_proxies: bool,
    selector: usize,
    selectors: SelectorPair,
    retired: EspStats,
    invalid_identity: u64,
    current_out: Option<ChildId>,
    /// A pair of a rekey we started, and when it takes over outbound traffic (see
    /// [`OUTBOUND_SWITCH_DELAY`]).
    next_out: Option<(ChildId, Instant)>,
    live: Vec<ChildId>,
    requested: bool,
    up_since: Option<Instant>,
    /// Largest cleartext packet seen (for `diagnose`'s MTU check).
    largest_plain: u32,
    /// Cleartext packets larger than the TUN (plaintext) MTU.
    oversize: u64,
}

/// One installed IPsec SA pair.
#[derive(Debug)]
struct ChildSa {
    flow: usize,
    out: OutboundSa,
    inbound: InboundSa,
    spi_in: u32,
    conn_in: u32,
    conn_out: u32,
    dest: Dest,
    selectors: SelectorPair,
    /// The negotiated transforms (what show prints; the set's name stays in the configuration).
    transform: Transforms,
    peer_port: u16,
    /// A rekey was asked for because the outbound sequence numbers are running out.
    rekey_requested: bool,
    /// Traffic since the endpoint last heard of it (the times themselves are the SAs' own
    /// last activity).
    unreported: bool,
    /// Where decrypted packets go: [`Dest::Tun`], or [`Dest::Vti`] for a VTI's pair.
    deliver: Dest,
    /// A pair that replaces none (not a rekey): whether we initiated its Quick Mode, and when
    /// it was installed (to resolve simultaneous initiation of a VTI).
    fresh: Option<(bool, Instant)>,
    /// The entry's `crypto ipsec df-bit`: the outer DF of each ESP packet (kept here so a
    /// packet does not read the entry).
    df_bit: crate::policy::DfBit,
}

/// The transforms of an installed pair.
#[derive(Clone, Copy, Debug)]
struct Transforms {
    encryption: crate::policy::ipsec::EspEncryption,
    integrity: crate::policy::ipsec::EspIntegrity,
    mode: crate::policy::ipsec::EspMode,
}

impl From<&TransformSet> for Transforms {
    fn from(t: &TransformSet) -> Transforms {
        Transforms {
            encryption: t.esp_encryption,
            integrity: t.esp_integrity,
            mode: t.mode,
        }
    }
}

/// How long the pair of a rekey we started waits before it carries outbound traffic, unless the
/// peer sends on it first. A Quick Mode initiator installs its pair on QM2, before the peer has
/// even received QM3: switching at once loses the first packets to a peer that installs on QM3
/// (strongSwan drops them, seen in the lab).
const OUTBOUND_SWITCH_DELAY: Duration = Duration::from_secs(1);

impl Flow {
    /// The pair that carries outbound traffic now, after a switch that became due.
    fn outbound(&mut self, now: Instant) -> Option<ChildId> {
        if let Some((next, at)) = self.next_out {
            if now >= at {
                self.current_out = Some(next);
                self.next_out = None;
            }
        }
        self.current_out
    }

    /// The pair carrying outbound traffic at `now`, as shown (the switch itself happens with
    /// the next packet).
    fn current_at(&self, now: Instant) -> Option<ChildId> {
        match self.next_out {
            Some((next, at)) if now >= at => Some(next),
            _ => self.current_out,
        }
    }

    /// The peer sent on `child`: if it is the pair waiting to take over, it does now.
    fn peer_sent_on(&mut self, child: ChildId) {
        if self.next_out.is_some_and(|(c, _)| c == child) {
            self.current_out = Some(child);
            self.next_out = None;
        }
    }
}

/// Marks `child` as having traffic the endpoint has not heard of yet.
/// The parts of [`Tunnels`] a sealed packet's bookkeeping touches besides its pair (borrowed
/// apart so the pair can stay borrowed from the pair table).
struct SealTail<'a> {
    endpoint: &'a mut Endpoint,
    pending: &'a mut Vec<ChildId>,
    due: &'a mut Option<Instant>,
}

/// After a packet was sealed on `child` (`sent`: it reached the output queue): the rekey the
/// sequence numbers ask for, and the usage note. The 32-bit sequence number must never wrap:
/// the ESP SA flags the last 10 % of it, and the endpoint negotiates the successor while this
/// SA still carries traffic. The usage is noted on the pair already in hand: no second lookup
/// per packet.
fn sealed_verdict(
    t: SealTail<'_>,
    child: &mut ChildSa,
    child_id: ChildId,
    sent: bool,
    now: Instant,
    out: &mut Outputs,
) -> TunVerdict {
    if child.out.needs_rekey() && !child.rekey_requested {
        child.rekey_requested = true;
        if let Err(err) = t.endpoint.rekey_child(now, child_id) {
            out.debug(
                DebugKind::Ipsec,
                format_args!("IPSEC: sequence numbers running out, rekey failed: {err}"),
            );
        }
    }
    if !sent {
        return TunVerdict::SendError;
    }
    unreported(child, child_id, t.pending, t.due, now);
    TunVerdict::Protected
}

fn unreported(
    child: &mut ChildSa,
    id: ChildId,
    pending: &mut Vec<ChildId>,
    due: &mut Option<Instant>,
    now: Instant,
) {
    if !child.unreported {
        child.unreported = true;
        pending.push(id);
    }
    due.get_or_insert(now + USAGE_TICK);
}

/// Where [`Tunnels::route`] left a cleartext packet.
enum Route {
    /// Decided (dropped or negotiation started), with the verdict.
    Done(TunVerdict),
    /// To be sealed by this pair.
    Pair(ChildId),
}

impl From<Result<ChildId, TunVerdict>> for Route {
    fn from(r: Result<ChildId, TunVerdict>) -> Route {
        match r {
            Ok(c) => Route::Pair(c),
            Err(v) => Route::Done(v),
        }
    }
}

/// How often ESP usage (volume, last traffic each way) reaches the IKE endpoint while traffic
/// flows: often enough for volume rekeys (a second of traffic is far inside the 10 % margin)
/// and on-demand DPD (whose intervals are seconds), rare enough that a packet never pays for it.
const USAGE_TICK: Duration = Duration::from_secs(1);

/// The gateway core; see the module documentation.
#[derive(Debug)]
pub struct Tunnels {
    config: GatewayConfig,
    /// `CoreOptions::local_addr`, kept for [`Tunnels::reconfigure`].
    local_override: Option<Ipv4Addr>,
    entries: Vec<MapEntryInfo>,
    classifier: classify::Classifier,
    flows: Vec<Flow>,
    flow_base: Vec<usize>,
    endpoint: Endpoint,
    rng: Rng,
    children: pairs::Pairs,
    counters: CoreCounters,
    path_mtu: u16,
    ip_mtu: u16,
    tun_mtu: u32,
    mss_clamp: Option<u16>,
    transforms: Vec<TransformSet>,
    peer_mtu: BTreeMap<Ipv4Addr, u16>,
    flavor: IosFlavor,
    next_conn: u32,
    /// ISAKMP SAs as last announced: conn-id → (peer, state, we initiated).
    states: std::collections::HashMap<u32, (IpAddr, IsakmpState, bool)>,
    /// The same SAs by peer address, for the newest SA with a peer without a scan.
    states_by_peer: crate::index::Multi<IpAddr, u32>,
    /// Pairs with traffic not yet reported to the endpoint, and when the report is due.
    usage_pending: Vec<ChildId>,
    usage_due: Option<Instant>,
    transitions: Vec<Transition>,
    skipped: Vec<String>,
    ike_buf: Vec<u8>,
    history: crate::diagnose::History,
    events: std::collections::VecDeque<TunnelEvent>,
    events_dropped: u64,
    /// The opt-in copy of the endpoint's events ([`Tunnels::copy_ike_events`]).
    ike_copy: ike_events::IkeEventCopy,
    /// Routes the host should have (reverse route injection, dynamic maps' networks).
    routes: rri::RouteTable,
    /// Idle deadlines of the pairs of entries with `set security-association idle-time`.
    idle: idle::IdleTimers,
    /// Static VTIs, and their index by interface number.
    vtis: Vec<vti::Vti>,
    vti_by_number: std::collections::HashMap<u32, usize>,
    /// The earliest VTI attempt due.
    vti_due: Option<Instant>,
    /// Easy VPN client profiles.
    ezvpns: Vec<ezvpn::Ezvpn>,
    /// The bitsliced 3DES context and plaintext scratch of the batch verbs, made on the first
    /// batch with a packet for a shared pass and kept (no allocation per packet or per batch
    /// after that).
    tdes: Option<Box<cbc_batch::TdesScratch>>,
    /// Whether the batch verbs use the shared cipher passes ([`Tunnels::set_shared_passes`]).
    shared_passes: bool,
    /// A pass holds the scratch: a packet it hands to the per-packet path stays there.
    passes_busy: bool,
    /// The PAT of the Easy VPN `mode client` connection that is up.
    client_pat: Option<Box<client_pat::ClientPat>>,
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(v) => Some(v),
        SocketAddr::V6(_) => None,
    }
}

impl Tunnels {
    /// Moves every outbound SA's sequence number to `last_sent`, to test what happens near the
    /// end of the 32-bit space without sending 2^32 packets.
    #[doc(hidden)]
    pub fn force_outbound_sequence_for_tests(&mut self, last_sent: u32) {
        for c in self.children.values_mut() {
            c.out.force_sequence_for_tests(last_sent);
        }
    }

    /// Tells the core the wall-clock time (Unix seconds) at `now`, against which peer
    /// certificates are checked (`authentication rsa-sig`); call again when the system clock
    /// is stepped. Without it every certificate is refused.
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: i64) {
        self.endpoint.set_wall_clock(now, unix_secs);
    }

    /// Builds the core from a parsed configuration.
    pub fn new(config: GatewayConfig, opts: CoreOptions) -> Result<Tunnels, BuildError> {
        let built = build(&config, opts.local_addr)?;
        let mut rng = Rng::from_seed(opts.seed);
        let endpoint = Endpoint::new(built.endpoint.clone(), rng.fork());
        let (flows, flow_base) = flows_of(&built.endpoint.peers, &built.entries);
        let transforms = transforms_of(&built.endpoint.peers);
        let tun_mtu = plaintext_floor(&transforms, opts.path_mtu);
        let mss_clamp = mss_clamp_of(&config);
        let (vtis, vti_by_number) = vti::vtis_of(&built.entries, &flow_base, &config);
        let ezvpns = ezvpn::ezvpns_of(&built.entries, &flow_base, &config);
        // Configured peers keep their history even when spoofed sources fill the map.
        let mut history = crate::diagnose::History::new();
        for e in &built.entries {
            history.reserve(IpAddr::V4(e.peer_addr));
        }
        let mut t = Tunnels {
            config,
            local_override: opts.local_addr,
            classifier: classify::Classifier::new(&built.entries, &flow_base),
            entries: built.entries,
            flows,
            flow_base,
            endpoint,
            rng,
            children: pairs::Pairs::default(),
            counters: CoreCounters::default(),
            path_mtu: opts.path_mtu,
            ip_mtu: opts.path_mtu,
            tun_mtu,
            mss_clamp,
            transforms,
            peer_mtu: BTreeMap::new(),
            flavor: opts.flavor,
            next_conn: 1,
            states: std::collections::HashMap::new(),
            states_by_peer: crate::index::Multi::default(),
            usage_pending: Vec::new(),
            usage_due: None,
            transitions: Vec::new(),
            skipped: built.skipped,
            ike_buf: vec![0; IKE_BUF],
            history,
            events: std::collections::VecDeque::new(),
            events_dropped: 0,
            ike_copy: ike_events::IkeEventCopy::default(),
            routes: rri::RouteTable::default(),
            idle: idle::IdleTimers::default(),
            vti_due: vtis.iter().filter_map(|v| v.next_attempt).min(),
            tdes: None,
            shared_passes: true,
            passes_busy: false,
            client_pat: None,
            vtis,
            vti_by_number,
            ezvpns,
        };
        t.rri_rebuild();
        Ok(t)
    }

    /// The configuration it runs.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The crypto map entries in use (entry `i` is the endpoint's peer `i`).
    pub fn entries(&self) -> &[MapEntryInfo] {
        &self.entries
    }

    /// Entries or ACL lines left out when building, and why.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The IKE endpoint (read-only: `isakmp_sas`, `ipsec_sas`, `counters`).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Counters of packets that belong to no flow.
    pub fn counters(&self) -> CoreCounters {
        let mut c = self.counters;
        let g = self.children.global_stats();
        c.invalid_spi = g.invalid_spi;
        c.malformed = c.malformed.saturating_add(g.malformed);
        c
    }

    /// ISAKMP state changes seen so far (the last 256).
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// ISAKMP SAs now (`show crypto isakmp sa`).
    pub fn isakmp_sas(&self, now: Instant) -> Vec<IsakmpSaInfo> {
        self.endpoint.isakmp_sas(now)
    }

    /// Number of installed IPsec SA pairs.
    pub fn installed_pairs(&self) -> usize {
        self.children.len()
    }

    // ------------------------------------------------------------------------------------
    // Outbound

    /// The flow whose crypto ACL permits the packet: `Ok(Some(flow))`, `Ok(None)` when no
    /// entry permits it, `Err(())` when a permit line matched that cannot be a proxy identity.
    /// The flow of the first entry after `after` (all with `None`) that protects `t`.
    fn classify_after(
        &self,
        t: &crate::policy::FiveTuple,
        after: Option<usize>,
    ) -> Result<Option<usize>, ()> {
        let Some((i, line)) = self.classifier.classify_after(&self.entries, t, after) else {
            return Ok(None);
        };
        if let Some(flow) = self.classifier.single_flow(i) {
            return flow.map(Some).ok_or(());
        }
        match self
            .entries
            .get(i)
            .and_then(|e| e.line_selector.get(line).copied().flatten())
        {
            Some(s) => Ok(self.flow_base.get(i).map(|b| b + s)),
            None => Err(()),
        }
    }

    /// Protects one cleartext IPv4 packet (see [`TunVerdict`]). A TCP SYN whose MSS exceeds
    /// `ip tcp adjust-mss` is clamped first (in a stack copy: SYNs are small, and this keeps
    /// the data path free of allocation).
    pub fn protect(&mut self, now: Instant, pkt: &[u8], out: &mut Outputs) -> TunVerdict {
        if self.pat_active() {
            if let Some(v) = self.pat_protect(now, pkt, out) {
                return v;
            }
        }
        if let Some(max) = self.mss_clamp {
            if syn_mss(pkt).is_some_and(|(_, v)| v > max) && pkt.len() <= SYN_COPY {
                let mut copy = [0u8; SYN_COPY];
                if let Some(c) = copy.get_mut(..pkt.len()) {
                    c.copy_from_slice(pkt);
                    clamp_mss(c, max);
                    let n = pkt.len();
                    return self.protect_clear(now, copy.get(..n).unwrap_or(&[]), out);
                }
            }
        }
        self.protect_clear(now, pkt, out)
    }

    fn protect_clear(&mut self, now: Instant, pkt: &[u8], out: &mut Outputs) -> TunVerdict {
        match self.route(now, pkt, out) {
            Route::Done(v) => v,
            Route::Pair(child_id) => self.seal_single(now, child_id, pkt, out),
        }
    }

    /// The first half of protecting a packet: classification, the flow's counters, and either
    /// the pair that carries it or what became of it (no SA: negotiation started).
    fn route(&mut self, now: Instant, pkt: &[u8], out: &mut Outputs) -> Route {
        Route::from(self.route_inner(now, pkt, out))
    }

    fn route_inner(
        &mut self,
        now: Instant,
        pkt: &[u8],
        out: &mut Outputs,
    ) -> Result<ChildId, TunVerdict> {
        let Some(t) = five_tuple(pkt) else {
            self.counters.tun_malformed += 1;
            return Err(TunVerdict::Malformed);
        };
        let mut after = None;
        let fi = loop {
            let fi = match self.classify_after(&t, after) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    self.counters.not_protected += 1;
                    return Err(TunVerdict::NotProtected);
                }
                Err(()) => {
                    self.counters.tun_malformed += 1;
                    return Err(TunVerdict::SendError);
                }
            };
            // A dynamic entry without `match address` claims only what its peers negotiated:
            // anything else goes on to the later entries.
            match self.flows.get(fi) {
                Some(f) if f.any_proxies && !self.learned_admits(f, &t) => after = Some(f.entry),
                _ => break fi,
            }
        };
        let Some(flow) = self.flows.get_mut(fi) else {
            return Err(TunVerdict::SendError);
        };
        let len = u32::try_from(pkt.len()).unwrap_or(u32::MAX);
        flow.largest_plain = flow.largest_plain.max(len);
        if len > self.tun_mtu {
            flow.oversize += 1;
        }
        let dynamic = flow.dynamic;
        // A dynamic entry's ACL line is shared by every peer that negotiated under it, each
        // with its own (narrower or equal) proxy identities: the newest pair whose identities
        // admit the packet carries it. Nobody can be asked for a missing pair.
        let current = if dynamic {
            let children = &self.children;
            flow.live.iter().rev().copied().find(|c| {
                children.get(c).is_some_and(|ch| {
                    selector_admits(&ch.selectors.remote, t.dst, t.protocol, t.dst_port)
                        && selector_admits(&ch.selectors.local, t.src, t.protocol, t.src_port)
                })
            })
        } else {
            flow.outbound(now)
        };
        if dynamic && current.is_none() {
            flow.retired.no_sa_send += 1;
            return Err(TunVerdict::NoSa);
        }
        let Some(child_id) = current else {
            flow.retired.no_sa_send += 1;
            let first = !flow.requested;
            flow.requested = true;
            let (entry, selector) = (flow.entry, flow.selector);
            if first {
                self.debug_sa_request(fi, out);
            }
            if let Some(e) = self.entries.get(entry) {
                let peer = e.peer;
                if let Err(err) = self.endpoint.initiate(now, peer, selector) {
                    out.debug(
                        DebugKind::Isakmp,
                        format_args!("ISAKMP:(0):Can not start Main mode: {err}"),
                    );
                }
            }
            self.pump(now, out);
            return Err(TunVerdict::NoSa);
        };
        Ok(child_id)
    }

    /// The second half: ESP into the output queue, with the pair's key expanded once per run of
    /// packets of the same pair when a batch passes `expanded`.
    fn seal(
        &mut self,
        now: Instant,
        child_id: ChildId,
        pkt: &[u8],
        expanded: Option<&mut Option<(ChildId, crate::esp::ExpandedKey)>>,
        out: &mut Outputs,
    ) -> TunVerdict {
        let Some(child) = self.children.get_mut(&child_id) else {
            return TunVerdict::SendError;
        };
        let max = pkt.len().saturating_add(child.out.overhead());
        let Some(mut slot) = out.reserve(child.dest, max) else {
            self.counters.queue_full += 1;
            return TunVerdict::SendError;
        };
        let result = match expanded {
            Some(cache) => {
                if cache.as_ref().is_none_or(|(id, _)| *id != child_id) {
                    *cache = Some((child_id, child.out.expand()));
                }
                match cache {
                    Some((_, k)) => {
                        child
                            .out
                            .encapsulate_expanded(now, pkt, NEXT_HEADER_IPV4, k, &mut slot[..])
                    }
                    None => child
                        .out
                        .encapsulate(now, pkt, NEXT_HEADER_IPV4, &mut slot[..]),
                }
            }
            None => child
                .out
                .encapsulate(now, pkt, NEXT_HEADER_IPV4, &mut slot[..]),
        };
        // The inner header's DF (flags byte, bit 0x40), then the entry's df-bit policy.
        let inner_df = pkt.get(6).is_some_and(|f| f & 0x40 != 0);
        let df = child.df_bit.outer_df(inner_df);
        let sent = match result {
            Ok(n) => {
                slot.commit_df(n, df);
                true
            }
            Err(_) => {
                drop(slot);
                false
            }
        };
        sealed_verdict(
            SealTail {
                endpoint: &mut self.endpoint,
                pending: &mut self.usage_pending,
                due: &mut self.usage_due,
            },
            child,
            child_id,
            sent,
            now,
            out,
        )
    }

    /// Notes traffic on a pair for the next usage report (see [`USAGE_TICK`]).
    fn note_usage(&mut self, now: Instant, child_id: ChildId) {
        if let Some(child) = self.children.get_mut(&child_id) {
            unreported(
                child,
                child_id,
                &mut self.usage_pending,
                &mut self.usage_due,
                now,
            );
        }
    }

    /// Tells the endpoint what traffic the pairs carried since the last report: bytes for
    /// volume rekeys, last packet times for on-demand DPD.
    fn report_usage(&mut self, now: Instant, out: &mut Outputs) {
        self.usage_due = None;
        while let Some(id) = self.usage_pending.pop() {
            let Some(child) = self.children.get_mut(&id) else {
                continue;
            };
            if !std::mem::take(&mut child.unreported) {
                continue;
            }
            let last_in = child.inbound.usage().last_activity;
            let last_out = child.out.usage().last_activity;
            let bytes = child
                .out
                .usage()
                .bytes
                .saturating_add(child.inbound.usage().bytes);
            self.endpoint
                .report_esp_activity(now, id, last_in, last_out, bytes);
        }
        self.pump(now, out);
    }

    // ------------------------------------------------------------------------------------
    // Inbound

    /// One ESP packet (starting at the SPI) from `src`, raw or out of UDP 4500.
    pub fn receive_esp(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        esp: &[u8],
        out: &mut Outputs,
    ) -> Result<(), Dropped> {
        // 3DES in constant time: a lone packet through the bitsliced pass.
        if let Some(r) = self.open_alone(now, src, esp, out) {
            return r;
        }
        let Some(mut slot) = out.reserve(Dest::Tun, esp.len()) else {
            self.counters.queue_full += 1;
            return Err(Dropped::QueueFull);
        };
        let Some(spi) = crate::esp::peek_spi(esp) else {
            drop(slot);
            self.children.count_malformed();
            let e = InboundError::Malformed;
            self.note_esp_error(now, src, 0, &e, out);
            return Err(Dropped::Esp(e));
        };
        let (child_id, child) = match self.children.by_spi_mut(spi) {
            Ok(x) => x,
            Err(e) => {
                drop(slot);
                self.note_esp_error(now, src, spi, &e, out);
                return Err(Dropped::Esp(e));
            }
        };
        let d = match child.inbound.decapsulate(now, esp, &mut slot[..]) {
            Ok(d) => d,
            Err(e) => {
                drop(slot);
                let e = InboundError::Esp(e);
                self.note_esp_error(now, src, spi, &e, out);
                return Err(Dropped::Esp(e));
            }
        };
        let child: &ChildSa = child;
        let inner = slot.get(..d.len).unwrap_or(&[]);
        let ok = d.next_header == NEXT_HEADER_IPV4
            && five_tuple(inner).is_some_and(|t| {
                selector_admits(&child.selectors.remote, t.src, t.protocol, t.src_port)
                    && selector_admits(&child.selectors.local, t.dst, t.protocol, t.dst_port)
            });
        if !ok {
            drop(slot);
            if d.next_header != NEXT_HEADER_IPV4 {
                self.counters.not_ipv4 += 1;
            }
            if let Some(f) = self.flows.get_mut(child.flow) {
                f.invalid_identity += 1;
            }
            out.debug(
                DebugKind::Ipsec,
                format_args!(
                    "IPSEC(decaps): decrypted packet from {src} is outside the proxy identities of SPI 0x{spi:X}, dropped"
                ),
            );
            return Err(Dropped::OutsideProxyIdentities);
        }
        let deliver = child.deliver;
        let flow_index = child.flow;
        if let Some(f) = self.flows.get_mut(flow_index) {
            f.peer_sent_on(child_id);
        }
        let clamp = match deliver {
            Dest::Vti(n) => self.vti_mss(n),
            _ => self.mss_clamp,
        };
        if let (Some(max), Some(inner)) = (clamp, slot.get_mut(..d.len)) {
            clamp_mss(inner, max);
        }
        if let Some(inner) = slot.get_mut(..d.len).filter(|_| self.client_pat.is_some()) {
            self.pat_inbound(now, flow_index, inner);
        }
        slot.commit_as(deliver, d.len);
        // The peer's history learns of ESP from the pair's own usage (see `diagnose_inputs`
        // and `uninstall`): a lookup by address per packet would cost more than the rest of
        // the bookkeeping.
        self.note_usage(now, child_id);
        Ok(())
    }

    fn ike_input(
        &mut self,
        now: Instant,
        path: Path,
        data: &[u8],
        out: &mut Outputs,
    ) -> Result<(), Dropped> {
        if out.debugging(DebugKind::Isakmp) {
            let (role, state, conn) = self.sa_view(now, path.remote.ip());
            out.debug(
                DebugKind::Isakmp,
                format_args!(
                    "ISAKMP:({conn}):received packet from {} dport {} sport {} Global ({role}) {state}",
                    path.remote.ip(),
                    path.local.port(),
                    path.remote.port()
                ),
            );
        }
        self.note_ike_rx(now, &path);
        let verdict = self.endpoint.handle_datagram(now, path, data);
        self.pump(now, out);
        Ok(verdict?)
    }

    /// Role letter, state and conn-id of the newest ISAKMP SA with `peer` (for debug lines).
    fn sa_view(&self, now: Instant, peer: IpAddr) -> (char, IsakmpState, u32) {
        self.endpoint
            .isakmp_sas(now)
            .iter()
            .filter(|s| s.path.remote.ip() == peer)
            .max_by_key(|s| s.conn_id)
            .map(|s| {
                let r = if s.role == crate::ike::Role::Initiator {
                    'I'
                } else {
                    'R'
                };
                let conn = if matches!(
                    s.state,
                    IsakmpState::QmIdle | IsakmpState::MmKeyExch | IsakmpState::AgInitExch
                ) {
                    s.conn_id
                } else {
                    0
                };
                (r, s.state, conn)
            })
            .unwrap_or(('R', IsakmpState::MmNoState, 0))
    }

    // ------------------------------------------------------------------------------------
    // Endpoint outputs

    /// Handles the endpoint's events (ISAKMP state changes among them: their FSM lines come
    /// before the packet lines, as IOS prints them), then moves its datagrams into `out`.
    fn pump(&mut self, now: Instant, out: &mut Outputs) {
        while let Some(ev) = self.endpoint.poll_event() {
            self.on_event(now, ev, out);
        }
        self.flush_transmits(now, out);
    }

    /// Moves queued IKE datagrams into `out`; returns how many.
    fn flush_transmits(&mut self, now: Instant, out: &mut Outputs) -> usize {
        let fallback = self
            .entries
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, |e| e.local);
        let mut n = 0;
        loop {
            let Some(body) = self.ike_buf.get_mut(4..) else {
                return n;
            };
            let t = match self.endpoint.poll_transmit(now, body) {
                Ok(Some(t)) => t,
                Ok(None) => return n,
                Err(e) => {
                    // Never expected (the buffer holds the largest message); grow and retry.
                    self.ike_buf.resize(e.needed.saturating_add(4), 0);
                    continue;
                }
            };
            n += 1;
            let (Some(mut local), Some(remote)) = (v4(t.path.local), v4(t.path.remote)) else {
                continue;
            };
            if local.ip().is_unspecified() {
                local.set_ip(fallback);
            }
            let range = if t.non_esp_marker {
                if let Some(m) = self.ike_buf.get_mut(..4) {
                    m.fill(0);
                }
                0..t.len + 4
            } else {
                4..t.len + 4
            };
            let sent = self.ike_buf.get(range).unwrap_or(&[]);
            if !out.udp(local, remote, sent) {
                self.counters.queue_full += 1;
            }
            // The datagram is copied out of the buffer the next transmit overwrites.
            let copy = sent.to_vec();
            self.note_ike_tx(now, *remote.ip(), local.port(), &copy, out);
            if out.debugging(DebugKind::Isakmp) {
                let (role, state, conn) = self.sa_view(now, IpAddr::V4(*remote.ip()));
                out.debug(
                    DebugKind::Isakmp,
                    format_args!(
                        "ISAKMP:({conn}):sending packet to {} my_port {} peer_port {} ({role}) {state}",
                        remote.ip(),
                        local.port(),
                        remote.port()
                    ),
                );
                out.debug(
                    DebugKind::Isakmp,
                    format_args!("ISAKMP:({conn}):Sending an IKE IPv4 Packet."),
                );
            }
        }
    }

    /// Records an ISAKMP state change (and prints it as an IOS FSM transition when debugging).
    #[allow(clippy::too_many_arguments)]
    fn state_changed(
        &mut self,
        now: Instant,
        sa: IkeSaId,
        role: crate::ike::Role,
        path: Path,
        from: Option<crate::ike::IsakmpState>,
        to: Option<crate::ike::IsakmpState>,
        nat_t: bool,
        out: &mut Outputs,
    ) {
        let peer = path.remote.ip();
        if nat_t {
            self.history.entry(peer).nat_detected = true;
        }
        let initiator = role == crate::ike::Role::Initiator;
        match to {
            Some(state) => {
                if let Some(old) = self.states.insert(sa.0, (peer, state, initiator)) {
                    self.unindex_state(old.0, sa.0);
                }
                self.states_by_peer.add(peer, sa.0);
                debug::fsm(out, sa.0, role, path, state, from);
            }
            None => {
                if let Some(old) = self.states.remove(&sa.0) {
                    self.unindex_state(old.0, sa.0);
                }
            }
        }
        self.record(Transition {
            at: now,
            conn_id: sa.0,
            peer,
            from,
            to,
            initiator,
        });
    }

    fn unindex_state(&mut self, peer: IpAddr, conn: u32) {
        self.states_by_peer.del(peer, conn);
    }

    fn push_event(&mut self, e: TunnelEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(e);
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<TunnelEvent> {
        self.events.pop_front()
    }

    /// Events dropped because nobody polled them (see [`Tunnels::poll_event`]).
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    fn record(&mut self, t: Transition) {
        self.push_event(TunnelEvent::IsakmpState(t.clone()));
        if self.transitions.len() >= MAX_TRANSITIONS {
            self.transitions.remove(0);
        }
        self.transitions.push(t);
    }

    fn on_event(&mut self, now: Instant, ev: Event, out: &mut Outputs) {
        debug::event(out, &ev, &self.entries);
        self.ike_copy.note(&ev);
        self.note_event(now, &ev, out);
        match ev {
            Event::IsakmpStateChanged {
                sa,
                role,
                path,
                from,
                to,
                nat_t,
            } => self.state_changed(now, sa, role, path, from, to, nat_t, out),
            Event::Phase2Established(p) => self.install(now, *p, out),
            Event::Phase2Deleted { child, .. } => self.uninstall(now, child),
            Event::PathChanged { old, new, .. } => {
                // NAT rebinding: UDP-encapsulated ESP follows the peer's new address and port.
                let (Some(old_r), Some(new_r)) = (v4(old.remote), v4(new.remote)) else {
                    return;
                };
                for c in self.children.values_mut() {
                    if let Dest::Udp { remote, .. } = &mut c.dest {
                        if *remote == old_r {
                            *remote = new_r;
                            c.peer_port = new_r.port();
                        }
                    }
                }
            }
            Event::NegotiationFailed {
                peer: Some(p),
                phase,
                error,
                ..
            } => {
                // The next matching packet may try again (and print a new sa_request).
                for f in self.flows.iter_mut().filter(|f| f.entry == p.0) {
                    f.requested = false;
                }
                self.vti_failed(now, p.0);
                if phase == 1 {
                    self.ezvpn_down(now, p.0, None);
                }
                if phase == 1 && matches!(error, crate::ike::Error::NoReply { .. }) {
                    self.fail_over(p.0, out);
                }
            }
            Event::PeerDead { peer, .. } => self.fail_over(peer.0, out),
            Event::Phase1Deleted { sa, peer, .. } => self.ezvpn_down(now, peer.0, Some(sa.0)),
            Event::Xauth {
                sa,
                peer,
                step: crate::ike::XauthStep::CredentialsNeeded { message },
            } => self.ezvpn_prompted(peer.0, sa.0, message, out),
            Event::ModeConfig { sa, peer, step } => {
                use crate::ike::ModeConfigStep as S;
                let entry = peer.0;
                match step {
                    S::Sent { group, address, .. } => self.push_event(TunnelEvent::ClientLeased {
                        entry,
                        conn_id: sa.0,
                        group,
                        address,
                    }),
                    S::Released { address } => {
                        self.push_event(TunnelEvent::ClientReleased { entry, address })
                    }
                    S::Configured(settings) => {
                        self.ezvpn_configured(entry, sa.0, &settings);
                        self.push_event(TunnelEvent::Configured {
                            entry,
                            conn_id: sa.0,
                            settings,
                        })
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

impl ChildSa {
    /// The peer's IKE address and port as this pair knows it: its UDP-encapsulation port, or
    /// 500 for raw ESP (no NAT, so IKE never left 500).
    pub(crate) fn peer_socket(&self) -> Option<SocketAddrV4> {
        match self.dest {
            Dest::Udp { remote, .. } => Some(remote),
            Dest::Esp { dst, .. } => Some(SocketAddrV4::new(dst, 500)),
            Dest::Tun | Dest::Vti(_) => None,
        }
    }

    /// The peer this pair sends to (for a dynamic entry, the peer it learned).
    pub(crate) fn peer(&self) -> Option<Ipv4Addr> {
        match self.dest {
            Dest::Udp { remote, .. } => Some(*remote.ip()),
            Dest::Esp { dst, .. } => Some(dst),
            Dest::Tun | Dest::Vti(_) => None,
        }
    }
}

fn transforms_of(peers: &[crate::ike::PeerConfig]) -> Vec<TransformSet> {
    peers
        .iter()
        .flat_map(|p| p.transform_sets.iter().cloned())
        .collect()
}

/// `ip tcp adjust-mss` on an inside interface (one without a crypto map): every tunnel flow
/// crosses it, so the smallest such value applies to all SYNs through the tunnel.
fn mss_clamp_of(config: &GatewayConfig) -> Option<u16> {
    config
        .interfaces
        .iter()
        .filter(|i| i.crypto_map.is_none() && !i.shutdown && !i.is_vti())
        .filter_map(|i| i.tcp_adjust_mss)
        .min()
}

/// The smallest plaintext MTU any transform set of any peer gives over `path_mtu`, assuming
/// UDP encapsulation: a TUN with this MTU never hands the core a packet that would need
/// fragmenting after ESP, and the kernel answers larger DF packets with ICMP
/// fragmentation-needed (and fragments the others) before they are encrypted.
fn plaintext_floor(transforms: &[TransformSet], path_mtu: u16) -> u32 {
    let mut tun_mtu = u32::from(path_mtu);
    for t in transforms {
        let m = crate::ios::show::plaintext_mtu(
            path_mtu,
            t.esp_encryption,
            t.esp_integrity,
            t.mode,
            true,
        );
        tun_mtu = tun_mtu.min(u32::from(m));
    }
    tun_mtu
}

/// Why an SA went away, in the words of IOS debug output.
pub(crate) fn delete_reason(r: DeleteReason) -> &'static str {
    match r {
        DeleteReason::PeerDelete => "peer sent DELETE",
        DeleteReason::LocalRequest => "local request",
        DeleteReason::Expired => "lifetime expired",
        DeleteReason::Rekeyed => "replaced by rekey",
        DeleteReason::InitialContact => "INITIAL-CONTACT from peer",
        DeleteReason::DpdTimeout => "Dead Peer Detection timeout",
        DeleteReason::Idle => "idle timer expired",
        DeleteReason::XauthFailed => "XAUTH failed",
        DeleteReason::ModeConfigRefused => "Mode Config refused",
    }
}
