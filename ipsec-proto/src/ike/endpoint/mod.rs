//! The endpoint: every ISAKMP SA and the Quick Modes run over them, as one sans-IO object.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::crypto::hmac::HashAlg;
use crate::crypto::iv::IsakmpCrypto;
use crate::crypto::kdf::{natd_hash, Phase1Keys};
use crate::crypto::{DhGroup, DhSecret};
use crate::esp::{EspCipher, EspIntegrity as EspInteg, EspKeys, EspTransform};
use crate::policy::ipsec::{EspEncryption, EspIntegrity, TransformSet};
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::vendor::{self, KnownVendor};
use crate::wire::MessageBuilder;
use crate::wire::ProtocolId;
use crate::wire::HEADER_LEN;
use crate::wire::{Cookie, ExchangeType, Flags, Header};
use crate::wire::{Delete, DeleteSpec};
use crate::wire::{Notify, NotifySpec};
use crate::wire::{PayloadList, PayloadType};

use super::config::{EndpointConfig, PeerConfig, PeerId, SelectorPair};
use super::error::{
    ApiMisuse, AuthFailure, BufferTooSmall, DatagramDrop, Error, InvalidMessage, NotifyType,
    PeerIncompatible, PeerMisbehaved, QuickModeWait,
};
use super::event::{
    ChildId, ChildKeys, Counters, DeleteReason, Event, IkeSaId, IpsecSaInfo, IsakmpSaInfo,
    IsakmpState, NatStatus, Path, Phase2Established, Role, Transmit,
};
use super::evidence::ConfigProblem;
use super::proposal::{self, Phase1Suite, Phase2Offer};

mod aggressive;
#[cfg(test)]
mod aggressive_tests;
mod dpd;
mod fragment;
mod fuzz_access;
mod info;
mod informational;
mod keylog;
mod leases;
mod main_mode;
mod message_ids;
mod mode_config;
#[cfg(test)]
mod mode_config_tests;
mod nat_t;
mod ownership;
mod quick_mode;
mod reconfigure;
mod rekey;
mod retransmit;
mod rsa_sig;
mod sa;
#[cfg(test)]
mod security_tests;
mod tables;
mod timers;
mod transaction;
#[cfg(test)]
mod xauth_tests;

use informational::cleartext_notify;
use message_ids::{seq_after, MessageIds};
use nat_t::{add_nat_d_pair, adopt_path, NattKind};
use ownership::MAX_DELETE_SPIS;
use retransmit::Flight;
use sa::{Child, IkeSa, P1State, PendingQm, Qm, QmState};
use tables::{ChildTable, SaTable};
use timers::{TimerKey, TimerTable};
use transaction::xauth_applies;

#[cfg(feature = "fuzzing")]
pub use fragment::fuzz_fragment_reassembly;
pub use fragment::{
    FragmentError, MAX_FRAGMENTS, MAX_REASSEMBLIES, MAX_REASSEMBLIES_PER_ADDRESS,
    MAX_REASSEMBLY_BYTES, REASSEMBLY_TIMEOUT,
};

const NONCE_LEN: usize = 20;
const MAX_MSG: usize = 8192;

struct OutDatagram {
    path: Path,
    bytes: Vec<u8>,
    marker: bool,
}

/// An IKEv1 endpoint: Main Mode and Aggressive Mode (pre-shared keys), Quick Mode,
/// Informational, DPD and NAT-T for every configured peer, without I/O.
///
/// # Call order
///
/// 1. Build it with [`Endpoint::new`] from an [`EndpointConfig`] and a seeded [`Rng`].
/// 2. Feed inputs: every UDP datagram received on port 500 or 4500 with
///    [`Endpoint::handle_datagram`] (on 4500 the bytes may still carry the 4-byte non-ESP marker or
///    have it stripped: both are accepted; ESP must not be passed here), the expiry of the
///    deadline with [`Endpoint::handle_timeout`], and commands ([`Endpoint::initiate`] when a
///    packet first matches a crypto ACL line, [`Endpoint::delete_child`],
///    [`Endpoint::delete_isakmp_sa`], [`Endpoint::rekey_child`],
///    [`Endpoint::report_esp_activity`]).
/// 3. After any input, drain the outputs in this order: [`Endpoint::poll_transmit`] until it
///    returns `Ok(None)` (prefix the non-ESP marker when [`Transmit::non_esp_marker`] says so),
///    then [`Endpoint::poll_event`] until `None`, then sleep until [`Endpoint::poll_timeout`].
///
/// Every input carries `now`; the endpoint never reads a clock. The same seed and the same inputs
/// give the same output bytes.
///
/// # Paths and ports
///
/// [`Path::local`] must be the address the datagram arrived on (IP_PKTINFO or a socket bound to
/// one address): it feeds NAT detection and the Phase 1 identity (ID_IPV4_ADDR). When the socket
/// cannot tell (`0.0.0.0`), the endpoint keeps the address it already knows, from
/// [`PeerConfig::local_address`] or an earlier packet. A [`Transmit`] whose local address is
/// `0.0.0.0` may leave from any address; its local port says which socket (500 or 4500). After a
/// NAT-T float every IKE datagram uses the 4500 sockets and `non_esp_marker` is set; a NAT
/// keepalive is a one-byte `0xFF` datagram without marker.
///
/// # IPsec SA pairs
///
/// [`Event::Phase2Established`] moves the keys of both directions out once. A rekey produces a
/// new pair for the same proxy identities (`replaces` names the old one when we started it): send
/// on the newest pair, keep receiving on the old one until [`Event::Phase2Deleted`]. Deleting
/// the ISAKMP SA leaves the pairs alone (IKEv1). [`Endpoint::report_esp_activity`] feeds byte
/// counts (volume rekey at 90 % of the kilobyte lifetime) and traffic times (on-demand DPD).
pub struct Endpoint {
    config: EndpointConfig,
    rng: Rng,
    /// Boxed: an `IkeSa` is a few KiB inline (key schedules, PRF states), and B-tree nodes hold
    /// eleven values each, mostly part-filled, so unboxed values waste more than they hold.
    sas: SaTable,
    children: ChildTable,
    timers: TimerTable,
    /// [`retransmit::linger_of`] the configuration, computed once.
    linger: Duration,
    next_conn_id: u32,
    next_child: u64,
    transmits: VecDeque<OutDatagram>,
    events: VecDeque<Event>,
    counters: Counters,
    /// Why the datagram being handled was dropped, for [`Endpoint::handle_datagram`]'s answer.
    dropped: Option<DatagramDrop>,
    /// Where Wireshark keys go ([`Endpoint::set_keylog`]).
    keylog: keylog::KeyLogSlot,
    /// Aggressive Mode: the local secret decoy keys derive from and the Diffie-Hellman
    /// budget (see [`aggressive`]).
    am: aggressive::AmGuard,
    /// IKE fragmentation: reassembly per peer, fragment IDs (see [`fragment`]).
    frag: fragment::FragState,
    /// Mode Config server: the pool addresses leased to clients (see [`leases`]).
    leases: leases::Leases,
    /// Unix seconds at [`Instant::ZERO`] ([`Endpoint::set_wall_clock`]): certificate dates are
    /// checked against it. `None`: never told, and certificates are refused.
    wall_clock: Option<i64>,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("isakmp_sas", &self.sas.len())
            .field("ipsec_sas", &self.children.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn digest20(bytes: &[u8]) -> [u8; 20] {
    let d = HashAlg::Sha1.digest(&[bytes]);
    let mut out = [0u8; 20];
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = *b;
    }
    out
}

fn marker_needed(path: &Path) -> bool {
    path.local.port() != 500 && path.remote.port() != 500
}

fn v4(a: SocketAddr) -> Option<Ipv4Addr> {
    match a.ip() {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(_) => None,
    }
}

/// Where [`Endpoint::find_sa`] puts a datagram.
enum Lookup {
    Found(IkeSaId),
    /// No SA: a new Main Mode, or an Informational or stray message handled as such.
    New,
    /// Names a responder SA without its responder cookie and is not a retransmitted MM1.
    Refused,
}

enum Failure {
    /// Drop the datagram, count it, keep all state.
    Drop(Error),
    /// The negotiation is over; the event carrying the error has been queued.
    Fatal,
}

impl From<InvalidMessage> for Failure {
    fn from(e: InvalidMessage) -> Self {
        Failure::Drop(Error::InvalidMessage(e))
    }
}

impl From<crate::wire::WireError> for Failure {
    fn from(e: crate::wire::WireError) -> Self {
        Failure::Drop(Error::from(e))
    }
}

type Res<T> = Result<T, Failure>;

fn missing(what: &'static str) -> Failure {
    Failure::Drop(Error::InvalidMessage(InvalidMessage::MissingPayload(what)))
}

impl Endpoint {
    /// A new endpoint. `rng` supplies every random value (cookies, nonces, SPIs, DH secrets,
    /// message IDs, DPD sequence numbers, retransmission jitter).
    pub fn new(config: EndpointConfig, rng: Rng) -> Self {
        Endpoint {
            linger: retransmit::linger_of(&config.retransmit),
            config,
            rng,
            sas: SaTable::default(),
            children: ChildTable::default(),
            timers: TimerTable::default(),
            next_conn_id: 1001,
            next_child: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            dropped: None,
            keylog: keylog::KeyLogSlot::default(),
            am: aggressive::AmGuard::default(),
            leases: leases::Leases::default(),
            frag: fragment::FragState::default(),
            wall_clock: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Drop and error counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Appends a peer to the configuration and returns its index; existing SAs are untouched
    /// (peers are never removed, so indexes stay valid).
    pub fn add_peer(&mut self, peer: PeerConfig) -> PeerId {
        self.config.peers.push(peer);
        PeerId(self.config.peers.len().saturating_sub(1))
    }

    /// Points a peer entry at another address with its key (a backup `set peer` taking over).
    /// SAs already established with the old address stay until they end; new negotiations and
    /// responses go to and come from `address`.
    pub fn set_peer_address(
        &mut self,
        peer: PeerId,
        address: Ipv4Addr,
        psk: crate::policy::PskSecret,
    ) -> Result<(), Error> {
        let pc = self
            .config
            .peers
            .get_mut(peer.0)
            .ok_or(ApiMisuse::NoSuchPeer(peer.0))?;
        pc.address = address;
        pc.psk = psk;
        Ok(())
    }

    /// The next datagram to send, written into `buf`. `Ok(None)` when nothing is queued. A buffer
    /// that is too small leaves the datagram queued and says how much is needed.
    pub fn poll_transmit(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<Transmit>, BufferTooSmall> {
        let Some(d) = self.transmits.front() else {
            return Ok(None);
        };
        let needed = d.bytes.len();
        let Some(dst) = buf.get_mut(..needed) else {
            return Err(BufferTooSmall { needed });
        };
        dst.copy_from_slice(&d.bytes);
        let t = Transmit {
            path: d.path,
            len: needed,
            non_esp_marker: d.marker,
        };
        self.transmits.pop_front();
        Ok(Some(t))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`Endpoint::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn send(&mut self, path: Path, bytes: Vec<u8>) {
        let marker = marker_needed(&path);
        let datagram = |bytes| OutDatagram {
            path,
            bytes,
            marker,
        };
        match self.fragments_for(&path, &bytes) {
            Some(frags) => self.transmits.extend(frags.into_iter().map(datagram)),
            None => self.transmits.push_back(datagram(bytes)),
        }
    }

    fn alloc_sa_id(&mut self) -> IkeSaId {
        let id = IkeSaId(self.next_conn_id);
        self.next_conn_id = self.next_conn_id.wrapping_add(1).max(1001);
        id
    }

    fn cookie(&mut self) -> [u8; 8] {
        loop {
            let v = self.rng.next_u64();
            if v != 0 {
                return v.to_be_bytes();
            }
        }
    }

    fn nonce(&mut self) -> Vec<u8> {
        let mut n = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut n);
        n
    }

    fn spi(&mut self) -> u32 {
        loop {
            let v = self.rng.nonzero_u32();
            // SPIs 1..255 are reserved by IANA.
            if v > 255 && !self.children.has_spi_in(v) {
                return v;
            }
        }
    }

    fn peer(&self, id: PeerId) -> Option<&PeerConfig> {
        self.config.peers.get(id.0)
    }

    fn find_peer_by_addr(&self, addr: IpAddr) -> Option<PeerId> {
        let IpAddr::V4(a) = addr else { return None };
        self.config
            .peers
            .iter()
            .position(|p| p.address == a)
            .or_else(|| {
                self.config
                    .peers
                    .iter()
                    .position(|p| p.address.is_unspecified())
            })
            .map(PeerId)
    }

    /// Main Mode cannot go on: reports why (naming `remote`) and forgets the ISAKMP SA.
    fn abandon_phase1(&mut self, id: IkeSaId, remote: SocketAddr, error: Error) -> Failure {
        let peer = self.sas.get(&id).map(|s| s.peer);
        self.fail(peer, remote, 1, error);
        self.remove_sa(id, DeleteReason::LocalRequest);
        Failure::Fatal
    }

    fn fail(&mut self, peer: Option<PeerId>, remote: SocketAddr, phase: u8, error: Error) {
        self.events.push_back(Event::NegotiationFailed {
            peer,
            remote,
            phase,
            error,
        });
    }

    /// Starts negotiating the IPsec SA pair for crypto ACL line `selector` of `peer`: Main Mode
    /// first when no ISAKMP SA exists, then Quick Mode. Calling it again while a negotiation for
    /// that line is running does nothing.
    pub fn initiate(&mut self, now: Instant, peer: PeerId, selector: usize) -> Result<(), Error> {
        let r = self.initiate_inner(now, peer, selector, None);
        self.flush_timers();
        r
    }

    fn initiate_inner(
        &mut self,
        now: Instant,
        peer: PeerId,
        selector: usize,
        replaces: Option<ChildId>,
    ) -> Result<(), Error> {
        self.sas.refresh();
        let cfg = self.peer(peer).ok_or(ApiMisuse::NoSuchPeer(peer.0))?;
        if cfg.selectors.get(selector).is_none() {
            return Err(ApiMisuse::NoSuchSelector(selector).into());
        }
        if cfg.address.is_unspecified() {
            return Err(ApiMisuse::Config(ConfigProblem::WildcardInitiate).into());
        }
        let rsa = cfg.rsa_sig.is_some();
        if !cfg
            .isakmp_policies
            .iter()
            .any(|p| proposal::policy_usable_with(p, rsa))
        {
            return Err(ApiMisuse::Config(ConfigProblem::NoUsablePolicy).into());
        }
        let remote = SocketAddr::new(IpAddr::V4(cfg.address), 500);
        // An ISAKMP SA with this peer: established (use it) or in progress (queue on it).
        let existing = self
            .sas
            .with_remote(remote.ip())
            .filter(|s| s.peer == peer && s.path.remote.ip() == remote.ip())
            .max_by_key(|s| (s.state == P1State::QmIdle, s.id))
            .map(|s| s.id);
        if let Some(id) = existing {
            let busy = self.sas.get(&id).is_some_and(|s| {
                s.qms.iter().any(|q| {
                    q.state != QmState::Done
                        && q.selector_index == Some(selector)
                        && q.role == Role::Initiator
                }) || s.pending.iter().any(|p| p.selector == selector)
            });
            if busy && replaces.is_none() {
                return Ok(());
            }
            let established = self
                .sas
                .get(&id)
                .is_some_and(|s| s.state == P1State::QmIdle);
            if established {
                self.start_qm(now, id, selector, replaces);
            } else if let Some(sa) = self.sas.get_mut(&id) {
                sa.pending.push(PendingQm { selector, replaces });
            }
            return Ok(());
        }
        let local = match cfg.local_address {
            Some(a) => SocketAddr::new(IpAddr::V4(a), 500),
            None => self.local_addr_for(remote),
        };
        self.start_phase1(
            now,
            peer,
            Path { local, remote },
            vec![PendingQm { selector, replaces }],
        )
        .map(|_| ())
    }

    fn local_addr_for(&self, remote: SocketAddr) -> SocketAddr {
        // The caller's socket decides the source address; we only know the port. An established
        // SA with the same peer tells us the local address, otherwise the unspecified address.
        // The index may lag a path change of this call by one datagram; the filter re-checks.
        self.sas
            .with_remote(remote.ip())
            .find(|s| s.path.remote.ip() == remote.ip())
            .map(|s| SocketAddr::new(s.path.local.ip(), 500))
            .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 500))
    }

    /// Deletes an IPsec SA pair: sends a Delete for our inbound SPI and reports
    /// [`Event::Phase2Deleted`].
    pub fn delete_child(&mut self, now: Instant, child: ChildId) -> Result<(), Error> {
        let c = self
            .remove_child(child, DeleteReason::LocalRequest)
            .ok_or(ApiMisuse::NoSuchSa)?;
        self.send_delete_esp(now, c.ike_sa, c.lineage, c.spi_in);
        self.flush_timers();
        Ok(())
    }

    /// Deletes an IPsec SA pair that carried no traffic for its idle time, as
    /// [`Endpoint::delete_child`] does but with [`DeleteReason::Idle`].
    pub fn delete_idle_child(&mut self, now: Instant, child: ChildId) -> Result<(), Error> {
        let c = self
            .remove_child(child, DeleteReason::Idle)
            .ok_or(ApiMisuse::NoSuchSa)?;
        self.send_delete_esp(now, c.ike_sa, c.lineage, c.spi_in);
        self.flush_timers();
        Ok(())
    }

    /// Deletes an ISAKMP SA (sending a Delete when it is established). Its IPsec SAs stay.
    pub fn delete_isakmp_sa(&mut self, now: Instant, sa: IkeSaId) -> Result<(), Error> {
        if !self.sas.contains_key(&sa) {
            return Err(ApiMisuse::NoSuchSa.into());
        }
        self.send_delete_isakmp(now, sa);
        self.remove_sa(sa, DeleteReason::LocalRequest);
        self.flush_timers();
        Ok(())
    }

    /// Feeds ESP usage of a pair back: last inbound and outbound packet times and bytes
    /// protected so far (both directions). Drives volume rekey and on-demand DPD.
    pub fn report_esp_activity(
        &mut self,
        now: Instant,
        child: ChildId,
        last_in: Option<Instant>,
        last_out: Option<Instant>,
        bytes: u64,
    ) {
        let Some(c) = self.children.get_mut(&child) else {
            return;
        };
        c.last_in = last_in.or(c.last_in);
        c.last_out = last_out.or(c.last_out);
        c.bytes = bytes;
        // `lifetime kilobytes disable` on both sides: nothing rekeys on volume.
        let soft =
            crate::policy::volume_limit(c.lifetime_kb).map(|kb| kb.saturating_mul(1024) / 10 * 9);
        if !c.rekey_started && !c.replaced && soft.is_some_and(|s| bytes >= s) {
            self.events.push_back(Event::Phase2Expiring { child });
            let _ = self.rekey_child(now, child);
        }
        self.maybe_on_demand_dpd(now, child);
        self.flush_timers();
    }

    /// Runs everything due at `now`: retransmissions, give-ups, lifetimes, rekeys, DPD and NAT
    /// keepalives.
    pub fn handle_timeout(&mut self, now: Instant) {
        for key in self.timers.due(now) {
            match key {
                TimerKey::Sa(id) => {
                    self.sa_timers(now, id);
                    self.drain_pending(now, id);
                }
                TimerKey::Child(child) => self.child_timers(now, child),
                TimerKey::Reassembly(peer) => self.reassembly_timer(now, peer),
            }
        }
        self.flush_timers();
    }

    /// A pair's hard expiry (gone, Delete sent) or its soft expiry (rekey started).
    fn child_timers(&mut self, now: Instant, child: ChildId) {
        let Some(c) = self.children.get(&child) else {
            return;
        };
        if c.hard_expiry() <= now {
            if let Some(c) = self.remove_child(child, DeleteReason::Expired) {
                self.send_delete_esp(now, c.ike_sa, c.lineage, c.spi_in);
            }
            return;
        }
        if c.rekey_started || c.replaced || self.soft_expiry(c) > now {
            return;
        }
        self.events.push_back(Event::Phase2Expiring { child });
        if self.rekey_child(now, child).is_err() {
            if let Some(c) = self.children.get_mut(&child) {
                c.rekey_started = true;
            }
        }
    }

    /// Forgets an IPsec SA pair and reports [`Event::Phase2Deleted`]; `None` when it was gone.
    fn remove_child(&mut self, child: ChildId, reason: DeleteReason) -> Option<Box<Child>> {
        let c = self.children.remove(&child)?;
        self.release_child_lease(child, c.ike_sa, c.peer);
        self.events.push_back(Event::Phase2Deleted {
            child,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            reason,
        });
        Some(c)
    }

    fn remove_sa(&mut self, id: IkeSaId, reason: DeleteReason) {
        if let Some(sa) = self.sas.remove(&id) {
            self.release_lease(id, sa.peer);
            if sa.state == P1State::QmIdle {
                self.events.push_back(Event::Phase1Deleted {
                    sa: id,
                    peer: sa.peer,
                    reason,
                });
            }
        }
    }

    /// Processes one UDP datagram received on port 500 or 4500. Malformed input is dropped and
    /// counted (see [`Endpoint::counters`]); it never changes established state.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        path: Path,
        data: &[u8],
    ) -> Result<(), DatagramDrop> {
        self.dropped = None;
        self.datagram(now, path, data);
        self.flush_timers();
        match self.dropped.take() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Counts a dropped datagram under its reason and remembers the reason for the caller.
    fn drop_datagram(&mut self, why: DatagramDrop) {
        let c = &mut self.counters;
        match &why {
            DatagramDrop::Malformed(_) => c.malformed += 1,
            DatagramDrop::UnknownSa => c.unknown_sa += 1,
            DatagramDrop::ZeroResponderCookie => c.zero_responder_cookie += 1,
            DatagramDrop::Unexpected => c.unexpected += 1,
            DatagramDrop::BadHash => c.bad_hash += 1,
            DatagramDrop::ReplayedMessageId => c.replayed_message_id += 1,
            DatagramDrop::BadDpd => c.bad_dpd += 1,
            DatagramDrop::QuickModeFlood => c.quick_mode_flood_dropped += 1,
            DatagramDrop::DhRateLimited => c.aggressive_dh_limited += 1,
            DatagramDrop::AggressiveModeDisabled => c.aggressive_disabled += 1,
        }
        self.dropped = Some(why);
    }

    fn datagram(&mut self, now: Instant, path: Path, data: &[u8]) {
        if data == [0xff] {
            self.counters.keepalives_received += 1;
            return;
        }
        let mut data = data;
        if path.local.port() != 500 && path.remote.port() != 500 {
            if let Some(rest) = data.strip_prefix(&[0u8, 0, 0, 0]) {
                data = rest;
            }
        }
        self.isakmp_datagram(now, path, data);
    }

    /// One ISAKMP message, without the non-ESP marker: a fragment, or a whole message (as it
    /// came, or reassembled from fragments).
    fn isakmp_datagram(&mut self, now: Instant, path: Path, data: &[u8]) {
        let header = match Header::parse(data) {
            Ok(h) => h,
            Err(e) => {
                self.drop_datagram(DatagramDrop::Malformed(e.into()));
                return;
            }
        };
        if header.major_version() != 1 {
            self.drop_datagram(DatagramDrop::Malformed(InvalidMessage::NotIsakmp));
            return;
        }
        let msg = match header.message(data) {
            Ok(m) => m,
            Err(e) => {
                self.drop_datagram(DatagramDrop::Malformed(e.into()));
                return;
            }
        };
        if header.next_payload == PayloadType::FRAGMENTATION {
            self.handle_fragment(now, path, msg);
            return;
        }
        let hash = digest20(msg);
        let ci = header.initiator_cookie.0;
        let cr = header.responder_cookie.0;
        let found = self.find_sa(path, &header, ci, cr, hash);
        let found = match found {
            Lookup::Found(id) => Some(id),
            Lookup::New => None,
            Lookup::Refused => {
                self.drop_datagram(DatagramDrop::ZeroResponderCookie);
                return;
            }
        };
        let before = found
            .and_then(|id| self.sas.get(&id))
            .filter(|s| s.state == P1State::QmIdle)
            .map(|s| s.path);
        let result = match (found, header.exchange) {
            (None, ExchangeType::MAIN_MODE) if cr == [0; 8] => {
                self.mm_responder_start(now, path, &header, msg, hash)
            }
            (None, ExchangeType::AGGRESSIVE) if cr == [0; 8] => {
                self.am_responder_start(now, path, &header, msg, hash)
            }
            (None, ExchangeType::INFORMATIONAL) => {
                // Cleartext notify for an SA whose responder cookie we do not know yet
                // (NO-PROPOSAL-CHOSEN answering MM1).
                let id = self
                    .sas
                    .with_ci(ci)
                    .find(|s| s.role == Role::Initiator)
                    .map(|s| s.id);
                match id {
                    Some(id) => self.handle_informational(now, id, path, &header, msg),
                    None => {
                        self.drop_datagram(DatagramDrop::UnknownSa);
                        Ok(())
                    }
                }
            }
            (None, _) => {
                self.drop_datagram(DatagramDrop::UnknownSa);
                Ok(())
            }
            (Some(id), ExchangeType::MAIN_MODE) => {
                self.handle_mm(now, id, path, &header, msg, hash)
            }
            (Some(id), ExchangeType::AGGRESSIVE) => {
                self.handle_am(now, id, path, &header, msg, hash)
            }
            (Some(id), ExchangeType::QUICK_MODE) => {
                self.handle_qm(now, id, path, &header, msg, hash)
            }
            (Some(id), ExchangeType::INFORMATIONAL) => {
                self.handle_informational(now, id, path, &header, msg)
            }
            (Some(id), ExchangeType::TRANSACTION) => {
                self.handle_transaction(now, id, &header, msg, hash)
            }
            (Some(_), _) => {
                self.drop_datagram(DatagramDrop::Unexpected);
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                if let (Some(id), Some(old)) = (found, before) {
                    self.path_check(id, old);
                }
            }
            Err(Failure::Drop(e)) => self.drop_datagram(match e {
                Error::InvalidMessage(m) => DatagramDrop::Malformed(m),
                Error::AuthenticationFailed(AuthFailure::HashMismatch(_)) => DatagramDrop::BadHash,
                _ => DatagramDrop::Unexpected,
            }),
            Err(Failure::Fatal) => {}
        }
        if let Some(id) = found {
            self.drain_pending(now, id);
        }
    }

    /// The ISAKMP SA a datagram belongs to. The responder cookie names a responder SA; the only
    /// message that may arrive at one without it is a retransmitted MM1, recognised by its bytes.
    /// Anything else with a zero responder cookie (a blind MM3 from an attacker who never saw
    /// our MM2) is refused before it can cost a Diffie-Hellman exponentiation or an answer.
    fn find_sa(
        &self,
        path: Path,
        header: &Header,
        ci: [u8; 8],
        cr: [u8; 8],
        hash: [u8; 20],
    ) -> Lookup {
        let mut zero_cr_match = false;
        for s in self.sas.with_ci(ci) {
            if s.cr == cr && cr != [0; 8] {
                return Lookup::Found(s.id);
            }
            match s.role {
                // Our MM1 is still unanswered: MM2 brings the responder's cookie.
                Role::Initiator if s.cr == [0; 8] => return Lookup::Found(s.id),
                Role::Responder if cr == [0; 8] && s.path.remote.ip() == path.remote.ip() => {
                    let first = matches!(
                        (header.exchange, s.state),
                        (ExchangeType::MAIN_MODE, P1State::MmSaSetup)
                            | (ExchangeType::AGGRESSIVE, P1State::AgInitExch)
                    );
                    let mm1_repeat = first && s.flight.last_rx == Some(hash);
                    if mm1_repeat {
                        return Lookup::Found(s.id);
                    }
                    zero_cr_match = true;
                }
                _ => {}
            }
        }
        if zero_cr_match {
            Lookup::Refused
        } else {
            Lookup::New
        }
    }

    /// Decrypts an encrypted message of an SA; the IV chain advances only through `commit`.
    fn decrypt(
        sa: &IkeSa,
        header: &Header,
        msg: &[u8],
    ) -> Res<(Vec<u8>, crate::crypto::iv::PendingIv)> {
        let Some(crypt) = sa.crypt.as_ref() else {
            return Err(Failure::Drop(
                PeerMisbehaved::Unexpected {
                    what: "encrypted message before keys",
                    state: sa.state,
                }
                .into(),
            ));
        };
        let mut body = msg.get(HEADER_LEN..).unwrap_or(&[]).to_vec();
        let pending = crypt
            .decrypt(header.message_id, &mut body)
            .map_err(|_| Failure::Drop(InvalidMessage::BadCiphertextLength(body.len()).into()))?;
        Ok((body, pending))
    }
}

/// End of the payload chain in a decrypted body (the padding after it is not hashed).
fn list_end(list: &PayloadList<'_>) -> usize {
    list.as_slice()
        .last()
        .map_or(0, |p| p.offset.saturating_add(p.raw.len()))
}

/// The HASH payload that must open a Quick Mode or Informational message (`name` when it is
/// missing) and the bytes it covers: the rest of the payload chain, without the padding.
fn leading_hash<'a>(
    plain: &'a [u8],
    list: &PayloadList<'a>,
    name: &'static str,
) -> Res<(&'a [u8], &'a [u8])> {
    let Some(hp) = list
        .as_slice()
        .first()
        .filter(|p| p.ty == PayloadType::HASH)
    else {
        return Err(missing(name));
    };
    let covered = plain
        .get(hp.offset + hp.raw.len()..list_end(list))
        .unwrap_or(&[]);
    Ok((hp.body, covered))
}

/// Encrypts a built message in place (body after the header), fixing the header's flag and
/// length; advances the SA's IV chain for `mid`.
fn encrypt_message(
    sa: &mut IkeSa,
    built: &mut [u8],
    mid: u32,
) -> Result<Vec<u8>, crate::wire::WireError> {
    let Some(crypt) = sa.crypt.as_mut() else {
        return Err(crate::wire::WireError::ValueTooLarge { len: 0 });
    };
    let body_len = built.len().saturating_sub(HEADER_LEN);
    let padded = crypt.padded_len(body_len);
    let mut out = Vec::with_capacity(HEADER_LEN + padded);
    out.extend_from_slice(built.get(..HEADER_LEN).unwrap_or(&[]));
    out.extend_from_slice(built.get(HEADER_LEN..).unwrap_or(&[]));
    out.resize(HEADER_LEN + padded, 0);
    let n = crypt
        .encrypt(mid, out.get_mut(HEADER_LEN..).unwrap_or(&mut []), body_len)
        .map_err(|_| crate::wire::WireError::ValueTooLarge { len: 0 })?;
    out.truncate(HEADER_LEN + n);
    let len = u32::try_from(out.len()).unwrap_or(u32::MAX).to_be_bytes();
    if let Some(f) = out.get_mut(19) {
        *f |= Flags::ENCRYPTION.0;
    }
    if let Some(l) = out.get_mut(24..28) {
        l.copy_from_slice(&len);
    }
    Ok(out)
}
