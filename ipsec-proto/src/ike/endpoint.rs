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
    ApiMisuse, AuthFailure, BufferTooSmall, Error, InvalidMessage, NotifyType, PeerIncompatible,
    PeerMisbehaved,
};
use super::event::{
    ChildId, ChildKeys, Counters, DeleteReason, Event, IkeSaId, IpsecSaInfo, IsakmpSaInfo,
    NatStatus, Path, Phase2Established, Role, Transmit,
};
use super::proposal::{self, Phase1Suite, Phase2Offer};

const NONCE_LEN: usize = 20;
/// Quick Modes in flight per ISAKMP SA; more wait in a queue. Kept below the number of
/// per-message-ID IV chains the ISAKMP crypto remembers, leaving room for the peer's.
const MAX_ACTIVE_QM: usize = 8;
const MAX_MSG: usize = 8192;

/// IOS names of the Main Mode states (`show crypto isakmp sa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum P1State {
    MmNoState,
    MmSaSetup,
    MmKeyExch,
    QmIdle,
}

impl P1State {
    fn name(self) -> &'static str {
        match self {
            P1State::MmNoState => "MM_NO_STATE",
            P1State::MmSaSetup => "MM_SA_SETUP",
            P1State::MmKeyExch => "MM_KEY_EXCH",
            P1State::QmIdle => "QM_IDLE",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NattKind {
    None,
    Rfc,
    Draft,
}

impl NattKind {
    fn natd_type(self) -> PayloadType {
        match self {
            NattKind::Draft => PayloadType::NAT_D_DRAFT,
            _ => PayloadType::NAT_D,
        }
    }

    fn natoa_type(self) -> PayloadType {
        match self {
            NattKind::Draft => PayloadType::NAT_OA_DRAFT,
            _ => PayloadType::NAT_OA,
        }
    }
}

/// The last message of one exchange we sent, for retransmission and for answering duplicates.
#[derive(Debug, Default)]
struct Flight {
    msg: Option<Vec<u8>>,
    /// Retransmit on a timer (we wait for an answer).
    retransmit_at: Option<Instant>,
    retries: u32,
    /// Hash of the last message we accepted in this exchange.
    last_rx: Option<[u8; 20]>,
}

#[derive(Debug, Clone, Copy)]
struct PendingQm {
    selector: usize,
    replaces: Option<ChildId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QmState {
    /// Initiator: QM1 sent, waiting for QM2.
    Qm1Sent,
    /// Responder: QM2 sent, waiting for QM3.
    Qm2Sent,
    /// Finished (kept to answer retransmissions).
    Done,
}

struct Qm {
    mid: u32,
    role: Role,
    state: QmState,
    ni: Vec<u8>,
    nr: Vec<u8>,
    my_spi: u32,
    dh: Option<DhSecret>,
    selectors: SelectorPair,
    selector_index: Option<usize>,
    replaces: Option<ChildId>,
    flight: Flight,
    done_at: Option<Instant>,
    /// Responder: the SA pair to announce once QM3 arrives.
    pending: Option<Box<Phase2Established>>,
    /// Proposed lifetimes (initiator), for the minimum with the answer.
    offer: Option<Phase2Offer>,
}

#[derive(Debug, Default)]
struct Dpd {
    seq: u32,
    outstanding: Option<u32>,
    retries: u32,
    next_at: Option<Instant>,
}

struct IkeSa {
    id: IkeSaId,
    peer: PeerId,
    role: Role,
    state: P1State,
    ci: [u8; 8],
    cr: [u8; 8],
    path: Path,
    created: Instant,
    sai_b: Vec<u8>,
    suite: Option<Phase1Suite>,
    dh: Option<DhSecret>,
    gxi: Vec<u8>,
    gxr: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    keys: Option<Phase1Keys>,
    crypt: Option<IsakmpCrypto>,
    natt: NattKind,
    nat: NatStatus,
    peer_dpd: bool,
    flight: Flight,
    established: Option<Instant>,
    expires: Option<Instant>,
    pending: Vec<PendingQm>,
    qms: Vec<Qm>,
    dpd: Dpd,
    keepalive_at: Option<Instant>,
    last_rx_at: Instant,
    /// A replacement Main Mode has been started.
    rekeyed: bool,
}

impl IkeSa {
    fn state_name(&self) -> &'static str {
        self.state.name()
    }
}

struct Child {
    ike_sa: IkeSaId,
    peer: PeerId,
    role: Role,
    spi_in: u32,
    spi_out: u32,
    selectors: SelectorPair,
    selector_index: Option<usize>,
    transform: TransformSet,
    mode: crate::policy::ipsec::EspMode,
    udp_encap: bool,
    path: Path,
    lifetime_secs: u32,
    lifetime_kb: u64,
    established: Instant,
    rekey_started: bool,
    replaced: bool,
    bytes: u64,
    last_in: Option<Instant>,
    last_out: Option<Instant>,
}

impl Child {
    fn hard_expiry(&self) -> Instant {
        self.established + Duration::from_secs(u64::from(self.lifetime_secs))
    }
}

struct OutDatagram {
    path: Path,
    bytes: Vec<u8>,
    marker: bool,
}

/// An IKEv1 endpoint: Main Mode (pre-shared keys), Quick Mode, Informational, DPD and NAT-T for
/// every configured peer, without I/O.
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
    sas: BTreeMap<IkeSaId, Box<IkeSa>>,
    children: BTreeMap<ChildId, Child>,
    next_conn_id: u32,
    next_child: u64,
    transmits: VecDeque<OutDatagram>,
    events: VecDeque<Event>,
    counters: Counters,
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

fn esp_transform(ts: &TransformSet) -> Option<EspTransform> {
    let cipher = match ts.esp_encryption {
        EspEncryption::Des => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Des),
        EspEncryption::TripleDes => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::TripleDes),
        EspEncryption::Aes128 => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Aes128),
        EspEncryption::Aes192 => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Aes192),
        EspEncryption::Aes256 => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Aes256),
        EspEncryption::Null => EspCipher::Null,
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    let integrity = match ts.esp_integrity {
        EspIntegrity::None => None,
        EspIntegrity::Md5 => Some(EspInteg::HmacMd5_96),
        EspIntegrity::Sha1 => Some(EspInteg::HmacSha1_96),
        EspIntegrity::Sha256 => Some(EspInteg::HmacSha256_128),
        EspIntegrity::Sha384 => Some(EspInteg::HmacSha384_192),
        EspIntegrity::Sha512 => Some(EspInteg::HmacSha512_256),
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    Some(EspTransform::new(cipher, integrity))
}

impl Endpoint {
    /// A new endpoint. `rng` supplies every random value (cookies, nonces, SPIs, DH secrets,
    /// message IDs, DPD sequence numbers, retransmission jitter).
    pub fn new(config: EndpointConfig, rng: Rng) -> Self {
        Endpoint {
            config,
            rng,
            sas: BTreeMap::new(),
            children: BTreeMap::new(),
            next_conn_id: 1001,
            next_child: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
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

    // ----------------------------------------------------------------------------------------
    // Outputs

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
        let mut t: Option<Instant> = None;
        let mut upd = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for sa in self.sas.values() {
            upd(sa.flight.retransmit_at);
            upd(sa.expires);
            upd(sa.dpd.next_at);
            upd(sa.keepalive_at);
            upd(self.phase1_rekey_at(sa));
            if sa.state != P1State::QmIdle && sa.role == Role::Responder {
                upd(Some(sa.created + self.linger()));
            }
            for q in &sa.qms {
                upd(q.flight.retransmit_at);
                upd(q.done_at.map(|d| d + self.linger()));
            }
        }
        for c in self.children.values() {
            upd(Some(c.hard_expiry()));
            if !c.rekey_started && !c.replaced {
                upd(Some(self.soft_expiry(c)));
            }
        }
        t
    }

    /// How long a peer may keep retransmitting: completed exchanges stay this long to answer a
    /// repeated last message, and a responder SA that never authenticates goes after it.
    fn linger(&self) -> Duration {
        let rc = self.config.retransmit;
        let mut total = Duration::ZERO;
        for k in 0..=rc.max_retries.min(16) {
            let d = rc
                .initial
                .saturating_mul(1u32.checked_shl(k).unwrap_or(u32::MAX))
                .min(rc.max);
            total = total.saturating_add(d);
        }
        let jitter = total.saturating_mul(u32::from(rc.jitter_percent)) / 100;
        total
            .saturating_add(jitter)
            .saturating_add(Duration::from_secs(10))
    }

    /// When we rekey a pair: the side that negotiated it goes first; the other side waits half
    /// the margin longer and only acts if the peer has not rekeyed by then (IOS rekeys from
    /// whichever side's timer fires; the offset keeps collisions rare).
    fn soft_expiry(&self, c: &Child) -> Instant {
        let life = Duration::from_secs(u64::from(c.lifetime_secs));
        let mut margin = self.config.rekey_margin.min(life / 2);
        if c.role == Role::Responder {
            margin /= 2;
        }
        c.established + life.saturating_sub(margin)
    }

    fn send(&mut self, path: Path, bytes: Vec<u8>) {
        let marker = marker_needed(&path);
        self.transmits.push_back(OutDatagram {
            path,
            bytes,
            marker,
        });
    }

    fn retransmit_delay(&mut self, retries: u32) -> Duration {
        let rc = self.config.retransmit;
        let base = rc
            .initial
            .saturating_mul(1u32.checked_shl(retries.min(16)).unwrap_or(u32::MAX))
            .min(rc.max);
        let ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        let jitter = ms.saturating_mul(u64::from(rc.jitter_percent)) / 100;
        let extra = if jitter > 0 {
            self.rng.below(jitter + 1)
        } else {
            0
        };
        Duration::from_millis(ms.saturating_add(extra))
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
            if v > 255 && !self.children.values().any(|c| c.spi_in == v) {
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

    fn fail(&mut self, peer: Option<PeerId>, remote: SocketAddr, phase: u8, error: Error) {
        self.events.push_back(Event::NegotiationFailed {
            peer,
            remote,
            phase,
            error,
        });
    }

    // ----------------------------------------------------------------------------------------
    // Commands

    /// Starts negotiating the IPsec SA pair for crypto ACL line `selector` of `peer`: Main Mode
    /// first when no ISAKMP SA exists, then Quick Mode. Calling it again while a negotiation for
    /// that line is running does nothing.
    pub fn initiate(&mut self, now: Instant, peer: PeerId, selector: usize) -> Result<(), Error> {
        self.initiate_inner(now, peer, selector, None)
    }

    fn initiate_inner(
        &mut self,
        now: Instant,
        peer: PeerId,
        selector: usize,
        replaces: Option<ChildId>,
    ) -> Result<(), Error> {
        let cfg = self.peer(peer).ok_or(ApiMisuse::NoSuchPeer(peer.0))?;
        if cfg.selectors.get(selector).is_none() {
            return Err(ApiMisuse::NoSuchSelector(selector).into());
        }
        if cfg.address.is_unspecified() {
            return Err(ApiMisuse::Config("cannot initiate to a wildcard peer".into()).into());
        }
        if !cfg.isakmp_policies.iter().any(proposal::policy_usable) {
            return Err(ApiMisuse::Config(
                "no usable ISAKMP policy (pre-share with group 1, 2, 5 or 14)".into(),
            )
            .into());
        }
        let remote = SocketAddr::new(IpAddr::V4(cfg.address), 500);
        // An ISAKMP SA with this peer: established (use it) or in progress (queue on it).
        let existing = self
            .sas
            .values()
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
        self.start_main_mode(
            now,
            peer,
            Path { local, remote },
            vec![PendingQm { selector, replaces }],
        )
    }

    fn local_addr_for(&self, remote: SocketAddr) -> SocketAddr {
        // The caller's socket decides the source address; we only know the port. An established
        // SA with the same peer tells us the local address, otherwise the unspecified address.
        self.sas
            .values()
            .find(|s| s.path.remote.ip() == remote.ip())
            .map(|s| SocketAddr::new(s.path.local.ip(), 500))
            .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 500))
    }

    /// Deletes an IPsec SA pair: sends a Delete for our inbound SPI and reports
    /// [`Event::Phase2Deleted`].
    pub fn delete_child(&mut self, now: Instant, child: ChildId) -> Result<(), Error> {
        let c = self.children.remove(&child).ok_or(ApiMisuse::NoSuchSa)?;
        self.send_delete_esp(now, c.ike_sa, c.peer, c.spi_in);
        self.events.push_back(Event::Phase2Deleted {
            child,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            reason: DeleteReason::LocalRequest,
        });
        Ok(())
    }

    /// Deletes an ISAKMP SA (sending a Delete when it is established). Its IPsec SAs stay.
    pub fn delete_isakmp_sa(&mut self, now: Instant, sa: IkeSaId) -> Result<(), Error> {
        if !self.sas.contains_key(&sa) {
            return Err(ApiMisuse::NoSuchSa.into());
        }
        self.send_delete_isakmp(now, sa);
        self.remove_sa(sa, DeleteReason::LocalRequest);
        Ok(())
    }

    /// Starts a rekey of an IPsec SA pair now (new Quick Mode; the old pair keeps working).
    pub fn rekey_child(&mut self, now: Instant, child: ChildId) -> Result<(), Error> {
        let c = self.children.get_mut(&child).ok_or(ApiMisuse::NoSuchSa)?;
        c.rekey_started = true;
        let (peer, sel, selectors) = (c.peer, c.selector_index, c.selectors);
        match sel {
            Some(s) => self.initiate_inner(now, peer, s, Some(child)),
            None => {
                // A pair we accepted as responder for identities not tied to a line: find the line.
                let idx = self
                    .peer(peer)
                    .and_then(|p| p.selectors.iter().position(|x| *x == selectors))
                    .ok_or(ApiMisuse::NoSuchSelector(usize::MAX))?;
                self.initiate_inner(now, peer, idx, Some(child))
            }
        }
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
        let limit = c.lifetime_kb.saturating_mul(1024);
        let soft = limit / 10 * 9;
        if !c.rekey_started && !c.replaced && bytes >= soft {
            self.events.push_back(Event::Phase2Expiring { child });
            let _ = self.rekey_child(now, child);
        }
        self.maybe_on_demand_dpd(now, child);
    }

    // ----------------------------------------------------------------------------------------
    // Getters

    /// The cookies (CKY-I, CKY-R) of an ISAKMP SA; CKY-R is zero until the responder answered.
    pub fn isakmp_cookies(&self, sa: IkeSaId) -> Option<([u8; 8], [u8; 8])> {
        self.sas.get(&sa).map(|s| (s.ci, s.cr))
    }

    /// **Sensitive.** The Phase 1 key material of an ISAKMP SA (SKEYID, SKEYID_d, SKEYID_a,
    /// SKEYID_e and the encryption key), once Main Mode messages 3 and 4 have been exchanged.
    ///
    /// For interoperability checks against a peer's key log and for writing a Wireshark
    /// `ikev1_decryption_table`; anyone holding these bytes can decrypt and forge the SA's
    /// traffic and derive every Phase 2 key negotiated without PFS. Never log them in production.
    pub fn phase1_keys_sensitive(&self, sa: IkeSaId) -> Option<&Phase1Keys> {
        self.sas.get(&sa).and_then(|s| s.keys.as_ref())
    }

    /// ISAKMP SAs for `show crypto isakmp sa [detail]`.
    pub fn isakmp_sas(&self, now: Instant) -> Vec<IsakmpSaInfo> {
        self.sas
            .values()
            .map(|s| {
                let (dst, src) = match s.role {
                    Role::Initiator => (s.path.remote.ip(), s.path.local.ip()),
                    Role::Responder => (s.path.local.ip(), s.path.remote.ip()),
                };
                let suite = s.suite;
                IsakmpSaInfo {
                    conn_id: s.id.0,
                    dst,
                    src,
                    state: s.state_name(),
                    role: s.role,
                    peer: s.peer,
                    path: s.path,
                    encryption: suite.map(|x| x.encryption),
                    hash: suite.map(|x| x.ike_hash),
                    auth: suite.map(|_| crate::policy::isakmp::IkeAuth::PreShare),
                    group: suite.map(|x| x.group.ike_id()),
                    remaining_secs: s
                        .expires
                        .filter(|_| s.state == P1State::QmIdle)
                        .map(|e| e.saturating_duration_since(now).as_secs()),
                    dpd: s.peer_dpd,
                    nat_t: s.nat.nat_detected(),
                }
            })
            .collect()
    }

    /// **Exposes secrets.** Wireshark's `ikev1_decryption_table`: one line per ISAKMP SA with keys,
    /// `<initiator cookie hex>,<Phase 1 encryption key hex>`, so captures of IKE can be decrypted
    /// while debugging interoperability. Never call it in production.
    pub fn dangerous_wireshark_ikev1_keys(&self) -> String {
        let mut out = String::new();
        for sa in self.sas.values() {
            let Some(keys) = sa.keys.as_ref() else {
                continue;
            };
            for b in sa.ci {
                out.push_str(&format!("{b:02x}"));
            }
            out.push(',');
            for b in keys.enc_key().expose_secret() {
                out.push_str(&format!("{b:02x}"));
            }
            out.push('\n');
        }
        out
    }

    /// IPsec SA pairs for `show crypto ipsec sa`.
    pub fn ipsec_sas(&self, now: Instant) -> Vec<IpsecSaInfo> {
        self.children
            .iter()
            .map(|(id, c)| IpsecSaInfo {
                child: *id,
                peer: c.peer,
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                selectors: c.selectors,
                transform: c.transform.clone(),
                mode: c.mode,
                udp_encap: c.udp_encap,
                path: c.path,
                remaining_secs: c.hard_expiry().saturating_duration_since(now).as_secs(),
                lifetime_kb: c.lifetime_kb,
                established: c.established,
            })
            .collect()
    }

    // ----------------------------------------------------------------------------------------
    // Timers

    /// Runs everything due at `now`: retransmissions, give-ups, lifetimes, rekeys, DPD and NAT
    /// keepalives.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<IkeSaId> = self.sas.keys().copied().collect();
        for id in ids {
            self.sa_timers(now, id);
            self.drain_pending(now, id);
        }
        let due: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, c)| c.hard_expiry() <= now)
            .map(|(k, _)| *k)
            .collect();
        for child in due {
            if let Some(c) = self.children.remove(&child) {
                self.send_delete_esp(now, c.ike_sa, c.peer, c.spi_in);
                self.events.push_back(Event::Phase2Deleted {
                    child,
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                    reason: DeleteReason::Expired,
                });
            }
        }
        let soft: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, c)| !c.rekey_started && !c.replaced && self.soft_expiry(c) <= now)
            .map(|(k, _)| *k)
            .collect();
        for child in soft {
            self.events.push_back(Event::Phase2Expiring { child });
            if self.rekey_child(now, child).is_err() {
                if let Some(c) = self.children.get_mut(&child) {
                    c.rekey_started = true;
                }
            }
        }
    }

    fn sa_timers(&mut self, now: Instant, id: IkeSaId) {
        let max = self.config.retransmit.max_retries;
        // Main Mode retransmission.
        let mm_due = self
            .sas
            .get(&id)
            .and_then(|s| s.flight.retransmit_at)
            .is_some_and(|t| t <= now);
        if mm_due {
            let Some(sa) = self.sas.get(&id) else { return };
            if sa.flight.retries >= max {
                let hint = match (sa.role, sa.state) {
                    (Role::Initiator, P1State::MmKeyExch) => {
                        ": pre-shared key mismatch, or UDP 4500 filtered after the NAT-T float"
                    }
                    (Role::Initiator, P1State::MmNoState) => {
                        ": peer down, UDP 500 filtered, or wrong `set peer`"
                    }
                    (Role::Initiator, P1State::MmSaSetup) => {
                        ": replies lost (large MM3/MM4 dropped, or one-way UDP 500)"
                    }
                    _ => "",
                };
                let err = Error::NoReply {
                    retransmissions: sa.flight.retries,
                    state: sa.state_name(),
                    hint,
                };
                let (peer, remote) = (sa.peer, sa.path.remote);
                self.fail(Some(peer), remote, 1, err);
                self.remove_sa(id, DeleteReason::LocalRequest);
                return;
            }
            let retries = sa.flight.retries + 1;
            let delay = self.retransmit_delay(retries);
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.flight.retries = retries;
                sa.flight.retransmit_at = Some(now + delay);
                if let Some(m) = sa.flight.msg.clone() {
                    let path = sa.path;
                    self.counters.retransmissions += 1;
                    self.send(path, m);
                }
            }
        }
        // Responder setup timeout.
        if let Some(sa) = self.sas.get(&id) {
            if sa.role == Role::Responder
                && sa.state != P1State::QmIdle
                && sa.created + self.linger() <= now
            {
                let hint = match sa.state {
                    P1State::MmKeyExch => ": MM5 never arrived (UDP 4500 filtered after the NAT-T float, or the initiator gave up)",
                    _ => ": MM3 never arrived (our MM2 lost on the way back, or the initiator gave up)",
                };
                let err = Error::PeerStopped {
                    state: sa.state_name(),
                    hint,
                };
                let (peer, remote) = (sa.peer, sa.path.remote);
                self.fail(Some(peer), remote, 1, err);
                self.remove_sa(id, DeleteReason::LocalRequest);
                return;
            }
        }
        // Quick Mode retransmissions and lingering.
        let mut to_send = Vec::new();
        let mut failed = Vec::new();
        let mut delays = Vec::new();
        if let Some(sa) = self.sas.get(&id) {
            for (i, q) in sa.qms.iter().enumerate() {
                if q.flight.retransmit_at.is_some_and(|t| t <= now) {
                    if q.flight.retries >= max {
                        failed.push(i);
                    } else {
                        delays.push((i, q.flight.retries + 1));
                    }
                }
            }
        }
        let delays: Vec<(usize, u32, Duration)> = delays
            .into_iter()
            .map(|(i, r)| (i, r, self.retransmit_delay(r)))
            .collect();
        let mut failures = Vec::new();
        let linger = self.linger();
        if let Some(sa) = self.sas.get_mut(&id) {
            for (i, r, d) in delays {
                if let Some(q) = sa.qms.get_mut(i) {
                    q.flight.retries = r;
                    q.flight.retransmit_at = Some(now + d);
                    if let Some(m) = q.flight.msg.clone() {
                        to_send.push(m);
                    }
                }
            }
            for &i in failed.iter().rev() {
                if let Some(q) = sa.qms.get(i) {
                    let state = match q.state {
                        QmState::Qm1Sent => "QM_IDLE (QM1 sent)",
                        _ => "QM_IDLE (QM2 sent, waiting for QM3)",
                    };
                    failures.push(Error::NoReply {
                        retransmissions: q.flight.retries,
                        state,
                        hint: ": phase 2 peer silent (check its crypto map, or packet loss)",
                    });
                }
                if i < sa.qms.len() {
                    let q = sa.qms.remove(i);
                    if let Some(c) = sa.crypt.as_mut() {
                        c.forget(q.mid);
                    }
                }
            }
            sa.qms
                .retain(|q| q.done_at.is_none_or(|d| d + linger > now));
            // Give back the capacity (four slots of ~300 bytes) once no exchange lingers.
            if sa.qms.is_empty() {
                sa.qms = Vec::new();
            }
        }
        let (peer, path) = match self.sas.get(&id) {
            Some(s) => (s.peer, s.path),
            None => return,
        };
        for m in to_send {
            self.counters.retransmissions += 1;
            self.send(path, m);
        }
        for e in failures {
            self.fail(Some(peer), path.remote, 2, e);
        }
        // Lifetime of the ISAKMP SA.
        if self
            .sas
            .get(&id)
            .and_then(|s| s.expires)
            .is_some_and(|e| e <= now)
        {
            self.send_delete_isakmp(now, id);
            self.remove_sa(id, DeleteReason::Expired);
            return;
        }
        self.phase1_rekey(now, id);
        self.dpd_timer(now, id);
        // NAT keepalive.
        if let Some(sa) = self.sas.get_mut(&id) {
            if sa.keepalive_at.is_some_and(|t| t <= now) {
                if let Some(iv) = self.config.nat_keepalive {
                    sa.keepalive_at = Some(now + iv);
                    let path = sa.path;
                    self.transmits.push_back(OutDatagram {
                        path,
                        bytes: vec![0xff],
                        marker: false,
                    });
                } else {
                    sa.keepalive_at = None;
                }
            }
        }
    }

    fn phase1_rekey_at(&self, sa: &IkeSa) -> Option<Instant> {
        let pct = u64::from(self.config.phase1_rekey_percent);
        if pct == 0 || pct >= 100 || sa.role != Role::Initiator || sa.rekeyed {
            return None;
        }
        let (Some(est), Some(exp)) = (sa.established, sa.expires) else {
            return None;
        };
        let life = exp.saturating_duration_since(est).as_millis();
        let at = u64::try_from(life).unwrap_or(u64::MAX).saturating_mul(pct) / 100;
        Some(Instant::from_millis(est.as_millis().saturating_add(at)))
    }

    /// Replaces an ISAKMP SA before it expires, while IPsec SAs with the peer need one.
    fn phase1_rekey(&mut self, now: Instant, id: IkeSaId) {
        let Some(sa) = self.sas.get(&id) else { return };
        if self.phase1_rekey_at(sa).is_none_or(|t| t > now) {
            return;
        }
        let peer = sa.peer;
        let needed = self.children.values().any(|c| c.peer == peer);
        let path = Path {
            local: SocketAddr::new(sa.path.local.ip(), 500),
            remote: SocketAddr::new(sa.path.remote.ip(), 500),
        };
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.rekeyed = true;
        }
        if needed {
            if let Err(e) = self.start_main_mode(now, peer, path, Vec::new()) {
                self.fail(Some(peer), path.remote, 1, e);
            }
        }
    }

    fn remove_sa(&mut self, id: IkeSaId, reason: DeleteReason) {
        if let Some(sa) = self.sas.remove(&id) {
            if sa.state == P1State::QmIdle {
                self.events.push_back(Event::Phase1Deleted {
                    sa: id,
                    peer: sa.peer,
                    reason,
                });
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Inputs

    /// Processes one UDP datagram received on port 500 or 4500. Malformed input is dropped and
    /// counted (see [`Endpoint::counters`]); it never changes established state.
    pub fn handle_datagram(&mut self, now: Instant, path: Path, data: &[u8]) {
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
        let header = match Header::parse(data) {
            Ok(h) => h,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        if header.major_version() != 1 {
            self.counters.malformed += 1;
            return;
        }
        let msg = match header.message(data) {
            Ok(m) => m,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let hash = digest20(msg);
        let ci = header.initiator_cookie.0;
        let cr = header.responder_cookie.0;
        let found = self
            .sas
            .values()
            .find(|s| {
                s.ci == ci
                    && (s.cr == cr
                        || (s.cr == [0; 8] && s.role == Role::Initiator)
                        // A retransmitted MM1 still carries a zero responder cookie.
                        || (cr == [0; 8]
                            && s.role == Role::Responder
                            && s.path.remote.ip() == path.remote.ip()))
            })
            .map(|s| s.id);
        let before = found
            .and_then(|id| self.sas.get(&id))
            .filter(|s| s.state == P1State::QmIdle)
            .map(|s| s.path);
        let result = match (found, header.exchange) {
            (None, ExchangeType::MAIN_MODE) if cr == [0; 8] => {
                self.mm_responder_start(now, path, &header, msg, hash)
            }
            (None, ExchangeType::INFORMATIONAL) => {
                // Cleartext notify for an SA whose responder cookie we do not know yet
                // (NO-PROPOSAL-CHOSEN answering MM1).
                let id = self
                    .sas
                    .values()
                    .find(|s| s.ci == ci && s.role == Role::Initiator)
                    .map(|s| s.id);
                match id {
                    Some(id) => self.handle_informational(now, id, path, &header, msg),
                    None => {
                        self.counters.unknown_sa += 1;
                        Ok(())
                    }
                }
            }
            (None, _) => {
                self.counters.unknown_sa += 1;
                Ok(())
            }
            (Some(id), ExchangeType::MAIN_MODE) => {
                self.handle_mm(now, id, path, &header, msg, hash)
            }
            (Some(id), ExchangeType::QUICK_MODE) => {
                self.handle_qm(now, id, path, &header, msg, hash)
            }
            (Some(id), ExchangeType::INFORMATIONAL) => {
                self.handle_informational(now, id, path, &header, msg)
            }
            (Some(_), _) => {
                self.counters.unexpected += 1;
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                if let (Some(id), Some(old)) = (found, before) {
                    self.path_check(id, old);
                }
            }
            Err(Failure::Drop(e)) => match e {
                Error::InvalidMessage(_) => self.counters.malformed += 1,
                Error::AuthenticationFailed(AuthFailure::HashMismatch(_)) => {
                    self.counters.bad_hash += 1
                }
                _ => self.counters.unexpected += 1,
            },
            Err(Failure::Fatal) => {}
        }
        if let Some(id) = found {
            self.drain_pending(now, id);
        }
    }

    /// An authenticated packet came from a new address or port (NAT rebinding): IKE and the
    /// UDP-encapsulated ESP of this peer follow it.
    fn path_check(&mut self, id: IkeSaId, old: Path) {
        let Some(sa) = self.sas.get(&id) else { return };
        let new = sa.path;
        if new.remote == old.remote {
            return;
        }
        let peer = sa.peer;
        for c in self.children.values_mut() {
            if c.peer == peer && c.path.remote == old.remote {
                c.path = new;
            }
        }
        self.events
            .push_back(Event::PathChanged { sa: id, old, new });
    }

    // ----------------------------------------------------------------------------------------
    // Main Mode

    fn start_main_mode(
        &mut self,
        now: Instant,
        peer: PeerId,
        path: Path,
        pending: Vec<PendingQm>,
    ) -> Result<(), Error> {
        let cfg = self.peer(peer).ok_or(ApiMisuse::NoSuchPeer(peer.0))?;
        let policies = cfg.sorted_policies();
        let sai_b = proposal::phase1_sa_body(&policies)?;
        let ci = self.cookie();
        let id = self.alloc_sa_id();
        let header = Header::new(
            Cookie(ci),
            Cookie::ZERO,
            ExchangeType::MAIN_MODE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, header)?;
        b.add_raw(PayloadType::SA, &sai_b)?;
        for v in self.our_vids(true) {
            b.add_vendor_id(v)?;
        }
        let msg = b.finish()?.to_vec();
        let delay = self.retransmit_delay(0);
        let sa = IkeSa {
            id,
            peer,
            role: Role::Initiator,
            state: P1State::MmNoState,
            ci,
            cr: [0; 8],
            path,
            created: now,
            sai_b,
            suite: None,
            dh: None,
            gxi: Vec::new(),
            gxr: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            keys: None,
            crypt: None,
            natt: NattKind::None,
            nat: NatStatus::default(),
            peer_dpd: false,
            flight: Flight {
                msg: Some(msg.clone()),
                retransmit_at: Some(now + delay),
                retries: 0,
                last_rx: None,
            },
            established: None,
            expires: None,
            pending,
            qms: Vec::new(),
            dpd: Dpd::default(),
            keepalive_at: None,
            last_rx_at: now,
            rekeyed: false,
        };
        self.sas.insert(id, Box::new(sa));
        self.send(path, msg);
        Ok(())
    }

    fn our_vids(&self, nat_t_set: bool) -> Vec<&'static [u8]> {
        let mut v: Vec<&'static [u8]> = Vec::new();
        if self.config.nat_traversal && nat_t_set {
            if !self.config.nat_t_drafts_only {
                v.push(&vendor::NAT_T_RFC3947);
            }
            v.push(&vendor::NAT_T_DRAFT_07);
            v.push(&vendor::NAT_T_DRAFT_03);
            v.push(&vendor::NAT_T_DRAFT_02_N);
        }
        v.push(&vendor::DPD);
        if self.config.send_unity_vid {
            v.push(&vendor::CISCO_UNITY);
        }
        v
    }

    fn parse_vids(list: &PayloadList<'_>, rfc_allowed: bool) -> (NattKind, bool) {
        let mut natt = NattKind::None;
        let mut dpd = false;
        for p in list.find_all(PayloadType::VENDOR_ID) {
            match vendor::recognize(p.body) {
                Some(KnownVendor::NatTRfc3947) if rfc_allowed => natt = NattKind::Rfc,
                Some(KnownVendor::NatTDraft(2 | 3)) | Some(KnownVendor::NatTDraft02N)
                    if natt == NattKind::None =>
                {
                    natt = NattKind::Draft
                }
                Some(KnownVendor::Dpd { .. }) => dpd = true,
                _ => {}
            }
        }
        (natt, dpd)
    }

    fn mm_responder_start(
        &mut self,
        now: Instant,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() || header.message_id != 0 {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM1").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let Some(peer) = self.find_peer_by_addr(path.remote.ip()) else {
            let e = Error::PeerIncompatible(PeerIncompatible::NoKey(path.remote.ip()));
            self.fail(None, path.remote, 1, e);
            return Err(Failure::Fatal);
        };
        let Some(cfg) = self.peer(peer) else {
            return Err(Failure::Drop(ApiMisuse::NoSuchPeer(peer.0).into()));
        };
        let policies = cfg.sorted_policies();
        let (suite, pnum, tbody) = match proposal::choose_phase1(sa_p.body, &policies)? {
            Ok(x) => x,
            Err(e) => {
                let e = Error::PeerIncompatible(e);
                // Cleartext NO-PROPOSAL-CHOSEN, as IOS answers an unacceptable MM1.
                if let Some(n) = e.notify_to_send() {
                    let mut cr = [0u8; 8];
                    self.rng.fill(&mut cr);
                    if let Ok(m) = cleartext_notify(header.initiator_cookie.0, cr, n) {
                        self.send(path, m);
                    }
                }
                self.fail(Some(peer), path.remote, 1, e);
                return Err(Failure::Fatal);
            }
        };
        let (natt, peer_dpd) = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        let natt = if self.config.nat_traversal {
            natt
        } else {
            NattKind::None
        };
        let cr = self.cookie();
        let sa_answer = proposal::echo_sa_body(pnum, ProtocolId::ISAKMP.0, &[], &tbody)?;
        let h = Header::new(
            header.initiator_cookie,
            Cookie(cr),
            ExchangeType::MAIN_MODE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_raw(PayloadType::SA, &sa_answer)?;
        match natt {
            NattKind::Rfc => {
                b.add_vendor_id(&vendor::NAT_T_RFC3947)?;
            }
            NattKind::Draft => {
                b.add_vendor_id(&vendor::NAT_T_DRAFT_02_N)?;
            }
            NattKind::None => {}
        }
        b.add_vendor_id(&vendor::DPD)?;
        if self.config.send_unity_vid {
            b.add_vendor_id(&vendor::CISCO_UNITY)?;
        }
        let reply = b.finish()?.to_vec();
        // Half-open limit: drop the oldest responder SA not yet authenticated. MM3 carries no
        // proof of anything, so SAs waiting for MM5 count as well, or a flood of MM1+MM3 pairs
        // would hold unbounded state (and cost a DH exponentiation each).
        let half_open: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| s.role == Role::Responder && s.state != P1State::QmIdle)
            .map(|s| s.id)
            .collect();
        if half_open.len() >= self.config.half_open_limit.max(1) {
            if let Some(oldest) = half_open.first() {
                self.sas.remove(oldest);
                self.counters.half_open_dropped += 1;
            }
        }
        let id = self.alloc_sa_id();
        let sa = IkeSa {
            id,
            peer,
            role: Role::Responder,
            state: P1State::MmSaSetup,
            ci: header.initiator_cookie.0,
            cr,
            path,
            created: now,
            sai_b: sa_p.body.to_vec(),
            suite: Some(suite),
            dh: None,
            gxi: Vec::new(),
            gxr: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            keys: None,
            crypt: None,
            natt,
            nat: NatStatus {
                peer_supports: natt != NattKind::None,
                ..NatStatus::default()
            },
            peer_dpd,
            flight: Flight {
                msg: Some(reply.clone()),
                retransmit_at: None,
                retries: 0,
                last_rx: Some(hash),
            },
            established: None,
            expires: None,
            pending: Vec::new(),
            qms: Vec::new(),
            dpd: Dpd::default(),
            keepalive_at: None,
            last_rx_at: now,
            rekeyed: false,
        };
        self.sas.insert(id, Box::new(sa));
        self.send(path, reply);
        Ok(())
    }

    fn handle_mm(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        if sa.flight.last_rx == Some(hash) {
            // A retransmission of the message we already processed.
            self.counters.duplicates += 1;
            if sa.role == Role::Responder {
                if let Some(m) = sa.flight.msg.clone() {
                    let p = sa.path;
                    self.send(p, m);
                }
            }
            return Ok(());
        }
        match (sa.role, sa.state) {
            (Role::Initiator, P1State::MmNoState) => {
                self.mm_i_recv2(now, id, path, header, msg, hash)
            }
            (Role::Initiator, P1State::MmSaSetup) => self.mm_i_recv4(now, id, header, msg, hash),
            (Role::Initiator, P1State::MmKeyExch) => {
                self.mm_i_recv6(now, id, path, header, msg, hash)
            }
            (Role::Responder, P1State::MmSaSetup) => self.mm_r_recv3(now, id, header, msg, hash),
            (Role::Responder, P1State::MmKeyExch) => {
                self.mm_r_recv5(now, id, path, header, msg, hash)
            }
            _ => {
                self.counters.unexpected += 1;
                Ok(())
            }
        }
    }

    fn mm_i_recv2(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM2").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(cfg) = self.peer(sa.peer) else {
            return Ok(());
        };
        let policies = cfg.sorted_policies();
        let suite = match proposal::accept_phase1_answer(sa_p.body, &policies)? {
            Ok(s) => s,
            Err(what) => {
                let e = Error::PeerMisbehaved(PeerMisbehaved::ChoseUnoffered(what));
                let (peer, remote) = (sa.peer, sa.path.remote);
                self.fail(Some(peer), remote, 1, e);
                self.remove_sa(id, DeleteReason::LocalRequest);
                return Err(Failure::Fatal);
            }
        };
        let (natt, peer_dpd) = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        let natt = if self.config.nat_traversal {
            natt
        } else {
            NattKind::None
        };
        let dh = DhSecret::generate(suite.group, &mut self.rng);
        let ni = self.nonce();
        let cr = header.responder_cookie.0;
        // MM1 may have left from an unspecified local address; the answer tells us ours.
        if let Some(sa) = self.sas.get_mut(&id) {
            adopt_path(sa, path);
            sa.last_rx_at = now;
        }
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let ci = sa.ci;
        let mut buf = vec![0u8; MAX_MSG];
        let h = Header::new(Cookie(ci), Cookie(cr), ExchangeType::MAIN_MODE, Flags(0), 0);
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_ke(dh.public_value())?;
        b.add_nonce(&ni)?;
        if natt != NattKind::None {
            let peer_h = natd_hash(suite.hash, &ci, &cr, path.remote.ip(), path.remote.port());
            let my_h = natd_hash(suite.hash, &ci, &cr, path.local.ip(), path.local.port());
            b.add_nat_d(natt.natd_type(), &peer_h)?;
            b.add_nat_d(natt.natd_type(), &my_h)?;
        }
        let m3 = b.finish()?.to_vec();
        let delay = self.retransmit_delay(0);
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.cr = cr;
            sa.suite = Some(suite);
            sa.natt = natt;
            sa.nat.peer_supports = natt != NattKind::None;
            sa.peer_dpd = peer_dpd;
            sa.gxi = dh.public_value().to_vec();
            sa.dh = Some(dh);
            sa.ni = ni;
            sa.state = P1State::MmSaSetup;
            sa.flight = Flight {
                msg: Some(m3.clone()),
                retransmit_at: Some(now + delay),
                retries: 0,
                last_rx: Some(hash),
            };
            sa.last_rx_at = now;
        }
        self.send(path, m3);
        Ok(())
    }

    /// Reads KE, nonce and NAT-D of MM3/MM4 and derives the keys.
    fn mm_key_material(&mut self, id: IkeSaId, list: &PayloadList<'_>) -> Res<()> {
        let ke = list.find(PayloadType::KE).ok_or_else(|| missing("KE"))?;
        let nonce = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        if nonce.body.len() < 8 || nonce.body.len() > 256 {
            return Err(InvalidMessage::BadPayload("NONCE (length must be 8..256)").into());
        }
        let psk = {
            let Some(sa) = self.sas.get(&id) else {
                return Ok(());
            };
            let Some(cfg) = self.peer(sa.peer) else {
                return Ok(());
            };
            cfg.psk.clone()
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        let Some(suite) = sa.suite else { return Ok(()) };
        if sa.dh.is_none() {
            sa.dh = Some(DhSecret::generate(suite.group, &mut self.rng));
        }
        let Some(dh) = sa.dh.as_ref() else {
            return Ok(());
        };
        let gxy = dh
            .compute_shared(ke.body)
            .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?;
        match sa.role {
            Role::Initiator => {
                sa.gxr = ke.body.to_vec();
                sa.nr = nonce.body.to_vec();
            }
            Role::Responder => {
                sa.gxi = ke.body.to_vec();
                sa.gxr = dh.public_value().to_vec();
                sa.ni = nonce.body.to_vec();
            }
        }
        let keys = Phase1Keys::from_psk(
            suite.hash,
            suite.cipher,
            psk.expose(),
            &sa.ni,
            &sa.nr,
            gxy.expose_secret(),
            &sa.ci,
            &sa.cr,
        );
        let crypt = IsakmpCrypto::new(&keys, &sa.gxi, &sa.gxr)
            .map_err(|_| Failure::Drop(InvalidMessage::BadPayload("KE").into()))?;
        sa.keys = Some(keys);
        sa.crypt = Some(crypt);
        Ok(())
    }

    /// NAT-D processing (RFC 3947 section 3.2): first hash is us as the peer saw us.
    fn nat_detect(&mut self, id: IkeSaId, list: &PayloadList<'_>, path: Path) {
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        let (Some(suite), ty) = (sa.suite, sa.natt.natd_type()) else {
            return;
        };
        if sa.natt == NattKind::None {
            return;
        }
        let hashes: Vec<&[u8]> = list.find_all(ty).map(|p| p.body).collect();
        let Some((first, rest)) = hashes.split_first() else {
            return;
        };
        let me = natd_hash(
            suite.hash,
            &sa.ci,
            &sa.cr,
            path.local.ip(),
            path.local.port(),
        );
        let them = natd_hash(
            suite.hash,
            &sa.ci,
            &sa.cr,
            path.remote.ip(),
            path.remote.port(),
        );
        sa.nat.local_behind_nat = !me.ct_eq(first);
        sa.nat.remote_behind_nat = !rest.iter().any(|h| them.ct_eq(h));
    }

    fn mm_i_recv4(
        &mut self,
        now: Instant,
        id: IkeSaId,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM4").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        self.mm_key_material(id, &list)?;
        let (_, dpd) = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        let Some(path) = self.sas.get(&id).map(|s| s.path) else {
            return Ok(());
        };
        self.nat_detect(id, &list, path);
        // Float to 4500 when a NAT is in the way.
        let initial_contact = {
            let Some(sa) = self.sas.get(&id) else {
                return Ok(());
            };
            let peer = sa.peer;
            !self
                .sas
                .values()
                .any(|s| s.id != id && s.peer == peer && s.state == P1State::QmIdle)
        };
        let nat_keepalive = self.config.nat_keepalive;
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        sa.peer_dpd |= dpd;
        if sa.nat.nat_detected() {
            sa.path.local.set_port(4500);
            sa.path.remote.set_port(4500);
            if sa.nat.local_behind_nat {
                sa.keepalive_at = nat_keepalive.map(|k| now + k);
            }
        }
        let local_ip = v4(sa.path.local).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let idii = proposal::phase1_id_body(local_ip)?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let hash_i = keys.hash_i(&sa.gxi, &sa.gxr, &sa.sai_b, &idii);
        let h = Header::new(
            Cookie(sa.ci),
            Cookie(sa.cr),
            ExchangeType::MAIN_MODE,
            Flags::ENCRYPTION,
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_raw(PayloadType::ID, &idii)?;
        b.add_hash(&hash_i)?;
        if initial_contact {
            let spi: Vec<u8> = sa.ci.iter().chain(sa.cr.iter()).copied().collect();
            b.add_notify(&NotifySpec {
                doi: 1,
                protocol: ProtocolId::ISAKMP,
                notify_type: NotifyType::INITIAL_CONTACT,
                spi: &spi,
                data: &[],
            })?;
        }
        let m5 = encrypt_message(sa, b.finish()?, 0)?;
        let path = sa.path;
        sa.state = P1State::MmKeyExch;
        sa.flight = Flight {
            msg: Some(m5.clone()),
            retransmit_at: None,
            retries: 0,
            last_rx: Some(hash),
        };
        sa.last_rx_at = now;
        let delay = self.retransmit_delay(0);
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.flight.retransmit_at = Some(now + delay);
        }
        self.send(path, m5);
        Ok(())
    }

    fn mm_r_recv3(
        &mut self,
        now: Instant,
        id: IkeSaId,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM3").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let nr = self.nonce();
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.nr = nr;
        }
        if let Err(e) = self.mm_key_material(id, &list) {
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.nr.clear();
                sa.dh = None;
            }
            return Err(e);
        }
        let Some(path) = self.sas.get(&id).map(|s| s.path) else {
            return Ok(());
        };
        self.nat_detect(id, &list, path);
        let unity = self.config.send_unity_vid;
        let nat_keepalive = self.config.nat_keepalive;
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        let Some(suite) = sa.suite else { return Ok(()) };
        let h = Header::new(
            Cookie(sa.ci),
            Cookie(sa.cr),
            ExchangeType::MAIN_MODE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_ke(&sa.gxr)?;
        b.add_nonce(&sa.nr)?;
        if unity {
            b.add_vendor_id(&vendor::CISCO_UNITY)?;
        }
        b.add_vendor_id(&vendor::DPD)?;
        if sa.natt != NattKind::None {
            let peer_h = natd_hash(
                suite.hash,
                &sa.ci,
                &sa.cr,
                path.remote.ip(),
                path.remote.port(),
            );
            let my_h = natd_hash(
                suite.hash,
                &sa.ci,
                &sa.cr,
                path.local.ip(),
                path.local.port(),
            );
            b.add_nat_d(sa.natt.natd_type(), &peer_h)?;
            b.add_nat_d(sa.natt.natd_type(), &my_h)?;
        }
        let m4 = b.finish()?.to_vec();
        sa.state = P1State::MmKeyExch;
        sa.flight = Flight {
            msg: Some(m4.clone()),
            retransmit_at: None,
            retries: 0,
            last_rx: Some(hash),
        };
        sa.last_rx_at = now;
        if sa.nat.local_behind_nat {
            sa.keepalive_at = nat_keepalive.map(|k| now + k);
        }
        self.send(path, m4);
        Ok(())
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
                    state: sa.state_name(),
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

    fn mm_r_recv5(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if !header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM5").into()));
        }
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let garbage = |s: &mut Self| {
            let Some(sa) = s.sas.get(&id) else {
                return Failure::Drop(Error::from(InvalidMessage::NotIsakmp));
            };
            let e = Error::AuthenticationFailed(AuthFailure::PskMismatch {
                message: 5,
                peer: path.remote.ip(),
            });
            let peer = sa.peer;
            s.fail(Some(peer), path.remote, 1, e);
            s.remove_sa(id, DeleteReason::LocalRequest);
            Failure::Fatal
        };
        let list = match PayloadList::parse(header.next_payload, &plain) {
            Ok(l) if l.find(PayloadType::ID).is_some() && l.find(PayloadType::HASH).is_some() => l,
            _ => return Err(garbage(self)),
        };
        let (Some(idp), Some(hp)) = (list.find(PayloadType::ID), list.find(PayloadType::HASH))
        else {
            return Err(garbage(self));
        };
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let expect = keys.hash_i(&sa.gxi, &sa.gxr, &sa.sai_b, idp.body);
        if !expect.ct_eq(hp.body) {
            let e = Error::AuthenticationFailed(AuthFailure::HashMismatch("HASH_I"));
            let peer = sa.peer;
            self.fail(Some(peer), path.remote, 1, e);
            self.remove_sa(id, DeleteReason::LocalRequest);
            return Err(Failure::Fatal);
        }
        let initial_contact = list.find_all(PayloadType::NOTIFY).any(|n| {
            Notify::parse(n.body).is_ok_and(|n| n.notify_type() == NotifyType::INITIAL_CONTACT)
        });
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        // The latest authenticated packet says where the peer is (NAT-T float, NAT rebinding).
        adopt_path(sa, path);
        sa.last_rx_at = now;
        let local_ip = v4(path.local).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let idir = proposal::phase1_id_body(local_ip)?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let hash_r = keys.hash_r(&sa.gxi, &sa.gxr, &sa.sai_b, &idir);
        let h = Header::new(
            Cookie(sa.ci),
            Cookie(sa.cr),
            ExchangeType::MAIN_MODE,
            Flags::ENCRYPTION,
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_raw(PayloadType::ID, &idir)?;
        b.add_hash(&hash_r)?;
        let m6 = encrypt_message(sa, b.finish()?, 0)?;
        sa.flight = Flight {
            msg: Some(m6.clone()),
            retransmit_at: None,
            retries: 0,
            last_rx: Some(hash),
        };
        sa.last_rx_at = now;
        self.send(path, m6);
        if initial_contact {
            self.initial_contact(id);
        }
        self.established(now, id);
        Ok(())
    }

    fn mm_i_recv6(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if !header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM6").into()));
        }
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = match PayloadList::parse(header.next_payload, &plain) {
            Ok(l) if l.find(PayloadType::ID).is_some() && l.find(PayloadType::HASH).is_some() => l,
            _ => {
                let e = Error::AuthenticationFailed(AuthFailure::PskMismatch {
                    message: 6,
                    peer: path.remote.ip(),
                });
                let peer = sa.peer;
                self.fail(Some(peer), path.remote, 1, e);
                self.remove_sa(id, DeleteReason::LocalRequest);
                return Err(Failure::Fatal);
            }
        };
        let (Some(idp), Some(hp)) = (list.find(PayloadType::ID), list.find(PayloadType::HASH))
        else {
            return Ok(());
        };
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let expect = keys.hash_r(&sa.gxi, &sa.gxr, &sa.sai_b, idp.body);
        if !expect.ct_eq(hp.body) {
            let e = Error::AuthenticationFailed(AuthFailure::HashMismatch("HASH_R"));
            let peer = sa.peer;
            self.fail(Some(peer), path.remote, 1, e);
            self.remove_sa(id, DeleteReason::LocalRequest);
            return Err(Failure::Fatal);
        }
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        adopt_path(sa, path);
        sa.last_rx_at = now;
        sa.flight = Flight {
            msg: None,
            retransmit_at: None,
            retries: 0,
            last_rx: Some(hash),
        };
        sa.last_rx_at = now;
        self.established(now, id);
        Ok(())
    }

    fn established(&mut self, now: Instant, id: IkeSaId) {
        let dpd_cfg = self.config.dpd;
        let dpd_seq = self.rng.nonzero_u32() >> 1;
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        sa.state = P1State::QmIdle;
        sa.established = Some(now);
        // Only Main Mode needs these (HASH_I/HASH_R, key derivation); MM6 or our MM5 is cached
        // in the flight for retransmissions. Thousands of tunnels each keep only keys and state.
        sa.sai_b = Vec::new();
        sa.gxi = Vec::new();
        sa.gxr = Vec::new();
        sa.ni = Vec::new();
        sa.nr = Vec::new();
        sa.dh = None;
        let life = sa.suite.map_or(86_400, |s| s.lifetime_secs);
        sa.expires = Some(now + Duration::from_secs(u64::from(life)));
        sa.dpd.seq = dpd_seq;
        if let Some(d) = dpd_cfg {
            if sa.peer_dpd {
                sa.dpd.next_at = Some(now + Duration::from_secs(u64::from(d.interval_secs.max(1))));
            }
        }
        let ev = Event::Phase1Established {
            sa: id,
            peer: sa.peer,
            role: sa.role,
            path: sa.path,
            nat: sa.nat,
        };
        self.events.push_back(ev);
        self.drain_pending(now, id);
    }

    /// Starts queued Quick Modes while there is room.
    fn drain_pending(&mut self, now: Instant, id: IkeSaId) {
        loop {
            let Some(sa) = self.sas.get_mut(&id) else {
                return;
            };
            if sa.state != P1State::QmIdle || sa.pending.is_empty() {
                return;
            }
            let active = sa.qms.iter().filter(|q| q.state != QmState::Done).count();
            if active >= MAX_ACTIVE_QM {
                return;
            }
            let p = sa.pending.remove(0);
            self.start_qm(now, id, p.selector, p.replaces);
        }
    }

    /// INITIAL-CONTACT: the peer rebooted; every other SA with it is stale.
    fn initial_contact(&mut self, keep: IkeSaId) {
        let Some((peer, peer_ip)) = self.sas.get(&keep).map(|s| (s.peer, s.path.remote.ip()))
        else {
            return;
        };
        // Only what was established before: a negotiation of ours that is still running with
        // the same peer (simultaneous initiation) is not stale.
        let old: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| {
                s.id != keep
                    && s.peer == peer
                    && s.path.remote.ip() == peer_ip
                    && s.state == P1State::QmIdle
            })
            .map(|s| s.id)
            .collect();
        let old_children: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, c)| {
                // Any crypto map entry for this peer address (the responder may have matched
                // a later entry than the one the ISAKMP SA was set up with).
                let same_peer = c.peer == peer
                    || self.peer(c.peer).map(|p| p.address) == self.peer(peer).map(|p| p.address);
                same_peer && c.path.remote.ip() == peer_ip && c.ike_sa != keep
            })
            .map(|(k, _)| *k)
            .collect();
        for id in old {
            self.remove_sa(id, DeleteReason::InitialContact);
        }
        for child in old_children {
            if let Some(c) = self.children.remove(&child) {
                self.events.push_back(Event::Phase2Deleted {
                    child,
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                    reason: DeleteReason::InitialContact,
                });
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Quick Mode

    fn fresh_mid(&mut self, id: IkeSaId) -> u32 {
        loop {
            let m = self.rng.nonzero_u32();
            if self
                .sas
                .get(&id)
                .is_none_or(|s| !s.qms.iter().any(|q| q.mid == m))
            {
                return m;
            }
        }
    }

    /// Starts a Quick Mode, or queues it while too many of ours are in flight on this SA (each
    /// needs its own IV chain and the ISAKMP crypto keeps a bounded number of them).
    fn start_qm(&mut self, now: Instant, id: IkeSaId, selector: usize, replaces: Option<ChildId>) {
        let active = self.sas.get(&id).map_or(0, |s| {
            s.qms.iter().filter(|q| q.state != QmState::Done).count()
        });
        if active >= MAX_ACTIVE_QM {
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.pending.push(PendingQm { selector, replaces });
            }
            return;
        }
        if let Err(e) = self.start_qm_inner(now, id, selector, replaces) {
            let remote = self.sas.get(&id).map(|s| s.path.remote);
            let peer = self.sas.get(&id).map(|s| s.peer);
            if let Some(remote) = remote {
                self.fail(peer, remote, 2, e);
            }
        }
    }

    fn start_qm_inner(
        &mut self,
        now: Instant,
        id: IkeSaId,
        selector: usize,
        replaces: Option<ChildId>,
    ) -> Result<(), Error> {
        let mid = self.fresh_mid(id);
        let ni = self.nonce();
        let spi = self.spi();
        let sa = self.sas.get(&id).ok_or(ApiMisuse::NoSuchSa)?;
        let cfg = self.peer(sa.peer).ok_or(ApiMisuse::NoSuchPeer(sa.peer.0))?;
        let selectors = *cfg
            .selectors
            .get(selector)
            .ok_or(ApiMisuse::NoSuchSelector(selector))?;
        let sets = cfg.transform_sets.clone();
        if sets.is_empty() {
            return Err(ApiMisuse::Config("no transform set for this peer".into()).into());
        }
        let transport = sets
            .first()
            .is_some_and(|t| t.mode == crate::policy::ipsec::EspMode::Transport);
        let offer = Phase2Offer {
            spi,
            lifetime_secs: cfg.lifetime_secs,
            lifetime_kb: cfg.lifetime_kb,
            pfs_group: cfg.pfs_group,
            udp_encap: sa.nat.nat_detected(),
            draft_encap: sa.natt == NattKind::Draft,
        };
        let dh = match cfg.pfs_group {
            Some(g) => {
                let group = DhGroup::from_ike_id(g)
                    .ok_or_else(|| ApiMisuse::Config(format!("PFS group {g} not implemented")))?;
                Some(DhSecret::generate(group, &mut self.rng))
            }
            None => None,
        };
        let sa_body = proposal::phase2_sa_body(&sets, &offer)?;
        let idci = proposal::selector_id_body(&selectors.local)?;
        let idcr = proposal::selector_id_body(&selectors.remote)?;
        let delay = self.retransmit_delay(0);
        let sa = self.sas.get_mut(&id).ok_or(ApiMisuse::NoSuchSa)?;
        let keys = sa.keys.as_ref().ok_or(ApiMisuse::NoSuchSa)?;
        let hlen = keys.hash_alg().output_len();
        let h = Header::new(
            Cookie(sa.ci),
            Cookie(sa.cr),
            ExchangeType::QUICK_MODE,
            Flags::ENCRYPTION,
            mid,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        let slot = b.add_hash_placeholder(hlen)?;
        b.add_raw(PayloadType::SA, &sa_body)?;
        b.add_nonce(&ni)?;
        if let Some(dh) = dh.as_ref() {
            b.add_ke(dh.public_value())?;
        }
        b.add_raw(PayloadType::ID, &idci)?;
        b.add_raw(PayloadType::ID, &idcr)?;
        if offer.udp_encap && transport {
            // Transport mode through a NAT: the original addresses, for checksum fix-up.
            let ty = sa.natt.natoa_type();
            b.add_nat_oa(ty, sa.path.local.ip())?;
            b.add_nat_oa(ty, sa.path.remote.ip())?;
        }
        let h1 = keys.hash1(mid, b.bytes_after(slot));
        b.fill(slot, &h1)?;
        let m1 = encrypt_message(sa, b.finish()?, mid)?;
        // One slot at a time: the default first growth to four ~300-byte slots would be
        // mostly empty on each of thousands of SAs.
        sa.qms.reserve_exact(1);
        sa.qms.push(Qm {
            mid,
            role: Role::Initiator,
            state: QmState::Qm1Sent,
            ni,
            nr: Vec::new(),
            my_spi: spi,
            dh,
            selectors,
            selector_index: Some(selector),
            replaces,
            flight: Flight {
                msg: Some(m1.clone()),
                retransmit_at: Some(now + delay),
                retries: 0,
                last_rx: None,
            },
            done_at: None,
            pending: None,
            offer: Some(offer),
        });
        let path = sa.path;
        self.send(path, m1);
        Ok(())
    }

    fn handle_qm(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        if sa.state != P1State::QmIdle {
            return Err(Failure::Drop(
                PeerMisbehaved::Unexpected {
                    what: "Quick Mode before Main Mode finished",
                    state: sa.state_name(),
                }
                .into(),
            ));
        }
        if !header.flags.encrypted() {
            return Err(Failure::Drop(
                PeerMisbehaved::Encryption("Quick Mode").into(),
            ));
        }
        let mid = header.message_id;
        if mid == 0 {
            return Err(InvalidMessage::BadPayload("Quick Mode with message ID 0").into());
        }
        let qi = sa.qms.iter().position(|q| q.mid == mid);
        if let Some(i) = qi {
            let q = sa.qms.get(i);
            if q.is_some_and(|q| q.flight.last_rx == Some(hash)) {
                self.counters.duplicates += 1;
                // A repeated QM1 gets the cached QM2; a repeated QM2 makes us resend QM3.
                if let Some(m) = q.and_then(|q| q.flight.msg.clone()) {
                    let p = sa.path;
                    self.send(p, m);
                }
                return Ok(());
            }
        }
        match qi.and_then(|i| sa.qms.get(i)).map(|q| (q.role, q.state)) {
            None => self.qm_r_recv1(now, id, path, header, msg, hash),
            Some((Role::Initiator, QmState::Qm1Sent)) => {
                self.qm_i_recv2(now, id, path, header, msg, hash)
            }
            Some((Role::Responder, QmState::Qm2Sent)) => {
                self.qm_r_recv3(now, id, path, header, msg, hash)
            }
            Some(_) => {
                self.counters.unexpected += 1;
                Ok(())
            }
        }
    }

    fn qm_r_recv1(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let mid = header.message_id;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let items = list.as_slice();
        let Some(hp) = items.first().filter(|p| p.ty == PayloadType::HASH) else {
            return Err(missing("HASH(1)"));
        };
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let after = plain
            .get(hp.offset + hp.raw.len()..list_end(&list))
            .unwrap_or(&[]);
        if !keys.hash1(mid, after).ct_eq(hp.body) {
            return Err(Failure::Drop(AuthFailure::HashMismatch("HASH(1)").into()));
        }
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let ni = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        let ke = list.find(PayloadType::KE);
        let ids: Vec<&[u8]> = list.find_all(PayloadType::ID).map(|p| p.body).collect();
        let sa_peer = sa.peer;
        let Some(sa_cfg) = self.peer(sa_peer) else {
            return Ok(());
        };
        // Proxy identities: IDci is the initiator's side (our remote), IDcr ours.
        let (idci, idcr, sel_i, sel_r) = match ids.as_slice() {
            [ci, cr] => (
                Some(ci.to_vec()),
                Some(cr.to_vec()),
                proposal::id_to_selector(ci)?,
                proposal::id_to_selector(cr)?,
            ),
            [] => {
                let (Some(l), Some(r)) = (v4(path.local), v4(path.remote)) else {
                    return Err(InvalidMessage::BadPayload(
                        "ID (IPv6 peers need proxy identities)",
                    )
                    .into());
                };
                (
                    None,
                    None,
                    crate::policy::acl::TrafficSelector::subnet(r, Ipv4Addr::BROADCAST),
                    crate::policy::acl::TrafficSelector::subnet(l, Ipv4Addr::BROADCAST),
                )
            }
            _ => {
                return Err(InvalidMessage::BadPayload("ID (Quick Mode needs zero or two)").into())
            }
        };
        // Like IOS, any crypto map entry naming this peer may hold the matching ACL line.
        let candidates: Vec<PeerId> = std::iter::once(sa_peer)
            .chain(
                self.config
                    .peers
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| *i != sa_peer.0 && p.address == sa_cfg.address)
                    .map(|(i, _)| PeerId(i)),
            )
            .collect();
        let found = candidates.iter().find_map(|pid| {
            let c = self.peer(*pid)?;
            c.selectors
                .iter()
                .position(|s| s.remote.contains(&sel_i) && s.local.contains(&sel_r))
                .map(|line| (*pid, line))
        });
        let peer = found.map_or(sa_peer, |(p, _)| p);
        let line = found.map(|(_, l)| l);
        let Some(cfg) = self.peer(peer) else {
            return Ok(());
        };
        let choice = match line {
            None => Err(PeerIncompatible::ProxyIdentities(format!(
                "peer proposed local_proxy {} remote_proxy {} (its IDci/IDcr), which no permit line of our crypto ACL mirrors; our lines: {}",
                proposal::selector_text(&sel_r),
                proposal::selector_text(&sel_i),
                if cfg.selectors.is_empty() {
                    "none".to_string()
                } else {
                    cfg.selectors
                        .iter()
                        .map(|s| format!("local {} remote {}", proposal::selector_text(&s.local), proposal::selector_text(&s.remote)))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            ))),
            Some(_) => proposal::choose_phase2(
                sa_p.body,
                &cfg.transform_sets,
                cfg.pfs_group,
                cfg.lifetime_secs,
                cfg.lifetime_kb,
            )?,
        };
        let (our_secs, our_kb) = (cfg.lifetime_secs, cfg.lifetime_kb);
        let choice = match choice {
            Ok(c) => c,
            Err(e) => {
                // Authenticated refusal: commit the IV, answer with an encrypted notify.
                let e = Error::PeerIncompatible(e);
                if let Some(sa) = self.sas.get_mut(&id) {
                    if let Some(c) = sa.crypt.as_mut() {
                        c.commit(pending);
                        c.forget(mid);
                    }
                }
                let spi = sa_first_spi(sa_p.body);
                if let Some(n) = e.notify_to_send() {
                    self.send_notify(id, ProtocolId::ESP, &spi, n, &[]);
                }
                self.fail(Some(peer), path.remote, 2, e);
                return Err(Failure::Fatal);
            }
        };
        // PFS: the initiator's group is used when we have none configured.
        let dh = match (choice.parsed.group, ke) {
            (Some(g), Some(_)) => {
                DhGroup::from_ike_id(g).map(|g| DhSecret::generate(g, &mut self.rng))
            }
            (Some(_), None) => return Err(missing("KE (PFS)")),
            _ => None,
        };
        let pfs_gxy = match (dh.as_ref(), ke) {
            (Some(dh), Some(ke)) => Some(
                dh.compute_shared(ke.body)
                    .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?,
            ),
            _ => None,
        };
        let nr = self.nonce();
        let my_spi = self.spi();
        let delay = self.retransmit_delay(0);
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        adopt_path(sa, path);
        sa.last_rx_at = now;
        let udp_encap = sa.nat.nat_detected();
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let sa_answer = proposal::echo_sa_body(
            choice.proposal_number,
            ProtocolId::ESP.0,
            &my_spi.to_be_bytes(),
            &choice.transform_body,
        )?;
        let hlen = keys.hash_alg().output_len();
        let h = Header::new(
            Cookie(sa.ci),
            Cookie(sa.cr),
            ExchangeType::QUICK_MODE,
            Flags::ENCRYPTION,
            mid,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        let slot = b.add_hash_placeholder(hlen)?;
        b.add_raw(PayloadType::SA, &sa_answer)?;
        b.add_nonce(&nr)?;
        if let Some(dh) = dh.as_ref() {
            b.add_ke(dh.public_value())?;
        }
        if let (Some(ci), Some(cr)) = (idci.as_ref(), idcr.as_ref()) {
            b.add_raw(PayloadType::ID, ci)?;
            b.add_raw(PayloadType::ID, cr)?;
        }
        if udp_encap && choice.mode == crate::policy::ipsec::EspMode::Transport {
            let ty = sa.natt.natoa_type();
            b.add_nat_oa(ty, path.remote.ip())?;
            b.add_nat_oa(ty, sa.path.local.ip())?;
        }
        let proposed_secs = choice.parsed.life_secs.unwrap_or(u64::from(our_secs));
        let proposed_kb = choice.parsed.life_kb.unwrap_or(our_kb);
        if u64::from(our_secs) < proposed_secs || our_kb < proposed_kb {
            let data = proposal::responder_lifetime_data(choice.lifetime_secs, choice.lifetime_kb)?;
            b.add_notify(&NotifySpec {
                doi: 1,
                protocol: ProtocolId::ESP,
                notify_type: NotifyType::RESPONDER_LIFETIME,
                spi: &choice.peer_spi.to_be_bytes(),
                data: &data,
            })?;
        }
        let h2 = keys.hash2(mid, ni.body, b.bytes_after(slot));
        b.fill(slot, &h2)?;
        // Keys now; announced once QM3 confirms the initiator has them too.
        let gxy = pfs_gxy.as_ref().map(|g| g.expose_secret());
        let ts = choice.transform_set.clone();
        let Some(esp_t) = esp_transform(&ts) else {
            return Err(Failure::Drop(
                PeerIncompatible::Unsupported(ts.display_transforms()).into(),
            ));
        };
        let km_in = keys.keymat(3, my_spi, ni.body, &nr, gxy, esp_t.keymat_len());
        let km_out = keys.keymat(3, choice.peer_spi, ni.body, &nr, gxy, esp_t.keymat_len());
        let (Ok(k_in), Ok(k_out)) = (
            EspKeys::from_keymat(my_spi, esp_t, km_in.expose_secret()),
            EspKeys::from_keymat(choice.peer_spi, esp_t, km_out.expose_secret()),
        ) else {
            return Err(Failure::Drop(
                PeerIncompatible::Unsupported(ts.display_transforms()).into(),
            ));
        };
        let selectors = SelectorPair {
            local: sel_r,
            remote: sel_i,
        };
        let m2 = encrypt_message(sa, b.finish()?, mid)?;
        let est = Phase2Established {
            child: ChildId(0),
            ike_sa: id,
            peer,
            keys: ChildKeys {
                inbound: k_in,
                outbound: k_out,
            },
            selectors,
            selector_index: line,
            transform: ts,
            lifetime_secs: choice.lifetime_secs,
            lifetime_kb: choice.lifetime_kb,
            mode: choice.mode,
            udp_encap,
            path,
            replaces: None,
        };
        let nonce_i = ni.body.to_vec();
        // One slot at a time: the default first growth to four ~300-byte slots would be
        // mostly empty on each of thousands of SAs.
        sa.qms.reserve_exact(1);
        sa.qms.push(Qm {
            mid,
            role: Role::Responder,
            state: QmState::Qm2Sent,
            ni: nonce_i,
            nr,
            my_spi,
            dh,
            selectors,
            selector_index: line,
            replaces: None,
            flight: Flight {
                msg: Some(m2.clone()),
                retransmit_at: Some(now + delay),
                retries: 0,
                last_rx: Some(hash),
            },
            done_at: None,
            pending: Some(Box::new(est)),
            offer: None,
        });
        self.send(path, m2);
        Ok(())
    }

    fn qm_i_recv2(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let mid = header.message_id;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(qi) = sa.qms.iter().position(|q| q.mid == mid) else {
            return Ok(());
        };
        let Some(q) = sa.qms.get(qi) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let Some(hp) = list
            .as_slice()
            .first()
            .filter(|p| p.ty == PayloadType::HASH)
        else {
            return Err(missing("HASH(2)"));
        };
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let after = plain
            .get(hp.offset + hp.raw.len()..list_end(&list))
            .unwrap_or(&[]);
        if !keys.hash2(mid, &q.ni, after).ct_eq(hp.body) {
            return Err(Failure::Drop(AuthFailure::HashMismatch("HASH(2)").into()));
        }
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let nr = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        let ke = list.find(PayloadType::KE);
        let peer = sa.peer;
        let Some(cfg) = self.peer(peer) else {
            return Ok(());
        };
        let choice = match proposal::accept_phase2_answer(sa_p.body, &cfg.transform_sets)? {
            Ok(c) => c,
            Err(what) => {
                let e = Error::PeerMisbehaved(PeerMisbehaved::ChoseUnoffered(what));
                self.abort_qm(id, mid, Some(pending));
                self.fail(Some(peer), path.remote, 2, e);
                return Err(Failure::Fatal);
            }
        };
        let mut secs = choice.lifetime_secs;
        let mut kb = choice.lifetime_kb;
        if let Some(o) = q.offer {
            secs = secs.min(o.lifetime_secs);
            kb = kb.min(o.lifetime_kb);
        }
        for n in list.find_all(PayloadType::NOTIFY) {
            if let Ok(n) = Notify::parse(n.body) {
                if n.notify_type() == NotifyType::RESPONDER_LIFETIME {
                    if let Ok((s, k)) = proposal::parse_responder_lifetime(n.data()) {
                        if let Some(s) = s {
                            secs = secs.min(u32::try_from(s).unwrap_or(u32::MAX));
                        }
                        if let Some(k) = k {
                            kb = kb.min(k);
                        }
                    }
                    self.events.push_back(Event::NotifyReceived {
                        sa: Some(id),
                        notify: NotifyType::RESPONDER_LIFETIME,
                        authenticated: true,
                    });
                }
            }
        }
        let pfs_gxy = match (q.dh.as_ref(), ke) {
            (Some(dh), Some(ke)) => Some(
                dh.compute_shared(ke.body)
                    .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?,
            ),
            (Some(_), None) => return Err(missing("KE (PFS)")),
            _ => None,
        };
        let ts = choice.transform_set.clone();
        let Some(esp_t) = esp_transform(&ts) else {
            return Ok(());
        };
        let gxy = pfs_gxy.as_ref().map(|g| g.expose_secret());
        let km_in = keys.keymat(3, q.my_spi, &q.ni, nr.body, gxy, esp_t.keymat_len());
        let km_out = keys.keymat(3, choice.peer_spi, &q.ni, nr.body, gxy, esp_t.keymat_len());
        let (Ok(k_in), Ok(k_out)) = (
            EspKeys::from_keymat(q.my_spi, esp_t, km_in.expose_secret()),
            EspKeys::from_keymat(choice.peer_spi, esp_t, km_out.expose_secret()),
        ) else {
            return Ok(());
        };
        let h3 = keys.hash3(mid, &q.ni, nr.body);
        let h = Header::new(
            Cookie(sa.ci),
            Cookie(sa.cr),
            ExchangeType::QUICK_MODE,
            Flags::ENCRYPTION,
            mid,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_hash(&h3)?;
        let finished = b.finish()?;
        let udp_encap = sa.nat.nat_detected();
        let (selectors, selector_index, replaces, my_spi) =
            (q.selectors, q.selector_index, q.replaces, q.my_spi);
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        adopt_path(sa, path);
        sa.last_rx_at = now;
        let m3 = encrypt_message(sa, finished, mid)?;
        if let Some(q) = sa.qms.get_mut(qi) {
            q.state = QmState::Done;
            q.nr = nr.body.to_vec();
            q.flight = Flight {
                msg: Some(m3.clone()),
                retransmit_at: None,
                retries: 0,
                last_rx: Some(hash),
            };
            q.done_at = Some(now);
            q.dh = None;
        }
        if let Some(c) = sa.crypt.as_mut() {
            c.forget(mid);
        }
        self.send(path, m3);
        let child = self.add_child(
            now,
            Phase2Established {
                child: ChildId(0),
                ike_sa: id,
                peer,
                keys: ChildKeys {
                    inbound: k_in,
                    outbound: k_out,
                },
                selectors,
                selector_index,
                transform: ts,
                lifetime_secs: secs.max(1),
                lifetime_kb: kb,
                mode: choice.mode,
                udp_encap,
                path,
                replaces,
            },
            Role::Initiator,
        );
        let _ = (child, my_spi);
        Ok(())
    }

    fn qm_r_recv3(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let mid = header.message_id;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(qi) = sa.qms.iter().position(|q| q.mid == mid) else {
            return Ok(());
        };
        let Some(q) = sa.qms.get(qi) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let hp = list
            .find(PayloadType::HASH)
            .ok_or_else(|| missing("HASH(3)"))?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        if !keys.hash3(mid, &q.ni, &q.nr).ct_eq(hp.body) {
            return Err(Failure::Drop(AuthFailure::HashMismatch("HASH(3)").into()));
        }
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
            c.forget(mid);
        }
        adopt_path(sa, path);
        sa.last_rx_at = now;
        let mut est = None;
        if let Some(q) = sa.qms.get_mut(qi) {
            q.state = QmState::Done;
            q.done_at = Some(now);
            q.flight.retransmit_at = None;
            q.flight.msg = None;
            q.flight.last_rx = Some(hash);
            q.dh = None;
            est = q.pending.take();
        }
        if let Some(mut est) = est {
            est.path = path;
            self.add_child(now, *est, Role::Responder);
        }
        Ok(())
    }

    fn abort_qm(&mut self, id: IkeSaId, mid: u32, pending: Option<crate::crypto::iv::PendingIv>) {
        if let Some(sa) = self.sas.get_mut(&id) {
            if let Some(c) = sa.crypt.as_mut() {
                if let Some(p) = pending {
                    c.commit(p);
                }
                c.forget(mid);
            }
            sa.qms.retain(|q| q.mid != mid);
        }
    }

    fn add_child(&mut self, now: Instant, mut est: Phase2Established, role: Role) -> ChildId {
        let child = ChildId(self.next_child);
        self.next_child += 1;
        est.child = child;
        // Older pairs for the same proxy identities are superseded, whoever started the rekey:
        // they carry on until they expire, but nobody rekeys them again.
        for c in self.children.values_mut() {
            if c.peer == est.peer && c.selectors == est.selectors {
                c.replaced = true;
            }
        }
        self.children.insert(
            child,
            Child {
                ike_sa: est.ike_sa,
                peer: est.peer,
                role,
                spi_in: est.keys.inbound.spi(),
                spi_out: est.keys.outbound.spi(),
                selectors: est.selectors,
                selector_index: est.selector_index,
                transform: est.transform.clone(),
                mode: est.mode,
                udp_encap: est.udp_encap,
                path: est.path,
                lifetime_secs: est.lifetime_secs,
                lifetime_kb: est.lifetime_kb,
                established: now,
                rekey_started: false,
                replaced: false,
                bytes: 0,
                last_in: None,
                last_out: None,
            },
        );
        self.events
            .push_back(Event::Phase2Established(Box::new(est)));
        child
    }

    // ----------------------------------------------------------------------------------------
    // Informational

    fn send_informational(
        &mut self,
        id: IkeSaId,
        add: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::wire::WireError>,
    ) {
        let mid = self.fresh_mid(id);
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        if sa.state != P1State::QmIdle {
            return;
        }
        let Some(keys) = sa.keys.as_ref() else { return };
        let hlen = keys.hash_alg().output_len();
        let h = Header::new(
            Cookie(sa.ci),
            Cookie(sa.cr),
            ExchangeType::INFORMATIONAL,
            Flags::ENCRYPTION,
            mid,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let Ok(mut b) = MessageBuilder::new(&mut buf, h) else {
            return;
        };
        let Ok(slot) = b.add_hash_placeholder(hlen) else {
            return;
        };
        if add(&mut b).is_err() {
            return;
        }
        let hv = keys.info_hash(mid, b.bytes_after(slot));
        if b.fill(slot, &hv).is_err() {
            return;
        }
        let Ok(fin) = b.finish() else { return };
        let Ok(m) = encrypt_message(sa, fin, mid) else {
            return;
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.forget(mid);
        }
        let path = sa.path;
        self.send(path, m);
    }

    fn send_notify(
        &mut self,
        id: IkeSaId,
        protocol: ProtocolId,
        spi: &[u8],
        n: NotifyType,
        data: &[u8],
    ) {
        let spi = spi.to_vec();
        let data = data.to_vec();
        self.send_informational(id, |b| {
            b.add_notify(&NotifySpec {
                doi: 1,
                protocol,
                notify_type: n,
                spi: &spi,
                data: &data,
            })
            .map(|_| ())
        });
    }

    fn send_delete_esp(&mut self, _now: Instant, ike: IkeSaId, peer: PeerId, spi_in: u32) {
        // Any established ISAKMP SA with the peer will do.
        let id = if self
            .sas
            .get(&ike)
            .is_some_and(|s| s.state == P1State::QmIdle)
        {
            Some(ike)
        } else {
            self.sas
                .values()
                .find(|s| s.peer == peer && s.state == P1State::QmIdle)
                .map(|s| s.id)
        };
        if let Some(id) = id {
            let spi = spi_in.to_be_bytes();
            self.send_informational(id, |b| {
                b.add_delete(&DeleteSpec {
                    doi: 1,
                    protocol: ProtocolId::ESP,
                    spi_size: 4,
                    spis: &spi,
                })
                .map(|_| ())
            });
        }
    }

    fn send_delete_isakmp(&mut self, _now: Instant, id: IkeSaId) {
        let Some(sa) = self.sas.get(&id) else { return };
        let spi: Vec<u8> = sa.ci.iter().chain(sa.cr.iter()).copied().collect();
        self.send_informational(id, |b| {
            b.add_delete(&DeleteSpec {
                doi: 1,
                protocol: ProtocolId::ISAKMP,
                spi_size: 16,
                spis: &spi,
            })
            .map(|_| ())
        });
    }

    fn handle_informational(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
    ) -> Res<()> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        if !header.flags.encrypted() {
            // Only meaningful before keys exist: a cleartext error answering MM1.
            let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
            let list = PayloadList::parse(header.next_payload, body)?;
            if sa.keys.is_some() {
                return Err(Failure::Drop(
                    PeerMisbehaved::Encryption("Informational").into(),
                ));
            }
            for n in list.find_all(PayloadType::NOTIFY) {
                let n = Notify::parse(n.body)?;
                let t = n.notify_type();
                self.events.push_back(Event::NotifyReceived {
                    sa: Some(id),
                    notify: t,
                    authenticated: false,
                });
                if t.is_error() && sa.role == Role::Initiator && sa.state == P1State::MmNoState {
                    let (peer, remote) = (sa.peer, sa.path.remote);
                    self.fail(Some(peer), remote, 1, Error::NotifyReceived(t));
                    self.remove_sa(id, DeleteReason::LocalRequest);
                    return Ok(());
                }
            }
            return Ok(());
        }
        let mid = header.message_id;
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let Some(hp) = list
            .as_slice()
            .first()
            .filter(|p| p.ty == PayloadType::HASH)
        else {
            return Err(missing("HASH(1)"));
        };
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let after = plain
            .get(hp.offset + hp.raw.len()..list_end(&list))
            .unwrap_or(&[]);
        if !keys.info_hash(mid, after).ct_eq(hp.body) {
            return Err(Failure::Drop(
                AuthFailure::HashMismatch("Informational HASH(1)").into(),
            ));
        }
        let peer = sa.peer;
        let ci = sa.ci;
        let cr = sa.cr;
        if let Some(sa) = self.sas.get_mut(&id) {
            if let Some(c) = sa.crypt.as_mut() {
                c.commit(pending);
                c.forget(mid);
            }
            sa.last_rx_at = now;
            adopt_path(sa, path);
            sa.last_rx_at = now;
        }
        let mut delete_self = false;
        for p in list.iter() {
            if p.ty == PayloadType::NOTIFY {
                let n = Notify::parse(p.body)?;
                let t = n.notify_type();
                match t {
                    NotifyType::R_U_THERE => {
                        let seq = n.data().to_vec();
                        let spi = n.spi().to_vec();
                        self.send_informational(id, |b| {
                            b.add_notify(&NotifySpec {
                                doi: 1,
                                protocol: ProtocolId::ISAKMP,
                                notify_type: NotifyType::R_U_THERE_ACK,
                                spi: &spi,
                                data: &seq,
                            })
                            .map(|_| ())
                        });
                    }
                    NotifyType::R_U_THERE_ACK => {
                        let seq = n
                            .data()
                            .get(..4)
                            .and_then(|s| <[u8; 4]>::try_from(s).ok())
                            .map(u32::from_be_bytes);
                        if let Some(sa) = self.sas.get_mut(&id) {
                            if seq.is_some() && seq == sa.dpd.outstanding {
                                sa.dpd.outstanding = None;
                                sa.dpd.retries = 0;
                                let iv = self.config.dpd.map_or(10, |d| d.interval_secs.max(1));
                                sa.dpd.next_at = Some(now + Duration::from_secs(u64::from(iv)));
                            }
                        }
                    }
                    NotifyType::INITIAL_CONTACT => {
                        self.initial_contact(id);
                        self.events.push_back(Event::NotifyReceived {
                            sa: Some(id),
                            notify: t,
                            authenticated: true,
                        });
                    }
                    t => {
                        self.events.push_back(Event::NotifyReceived {
                            sa: Some(id),
                            notify: t,
                            authenticated: true,
                        });
                        if t.is_error() {
                            // Which Quick Mode did it refuse? Match the SPI of our proposal.
                            // strongSwan 5.9.8 refuses a Quick Mode with SPI 0 (it has not
                            // picked our SPI when nothing matched): like no SPI, that names
                            // every Quick Mode we have waiting on this SA.
                            let spi = n
                                .spi()
                                .get(..4)
                                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                                .map(u32::from_be_bytes)
                                .filter(|s| *s != 0);
                            let victims: Vec<u32> = self
                                .sas
                                .get(&id)
                                .map(|s| {
                                    s.qms
                                        .iter()
                                        .filter(|q| {
                                            q.role == Role::Initiator && q.state == QmState::Qm1Sent
                                        })
                                        .filter(|q| spi.is_none_or(|x| x == q.my_spi))
                                        .map(|q| q.mid)
                                        .collect()
                                })
                                .unwrap_or_default();
                            for m in victims {
                                self.abort_qm(id, m, None);
                                self.fail(Some(peer), path.remote, 2, Error::NotifyReceived(t));
                            }
                        }
                    }
                }
            } else if p.ty == PayloadType::DELETE {
                let d = Delete::parse(p.body)?;
                if d.protocol() == ProtocolId::ISAKMP {
                    for spi in d.spis() {
                        if spi.len() == 16
                            && spi.get(..8) == Some(&ci[..])
                            && spi.get(8..) == Some(&cr[..])
                        {
                            delete_self = true;
                        } else if spi.len() == 16 {
                            let other = self
                                .sas
                                .values()
                                .find(|s| {
                                    s.peer == peer
                                        && spi.get(..8) == Some(&s.ci[..])
                                        && spi.get(8..) == Some(&s.cr[..])
                                })
                                .map(|s| s.id);
                            if let Some(o) = other {
                                self.remove_sa(o, DeleteReason::PeerDelete);
                            }
                        }
                    }
                } else if d.protocol() == ProtocolId::ESP {
                    for spi in d.spis() {
                        let Ok(s) = <[u8; 4]>::try_from(spi) else {
                            continue;
                        };
                        let s = u32::from_be_bytes(s);
                        let hit = self
                            .children
                            .iter()
                            .find(|(_, c)| c.peer == peer && c.spi_out == s)
                            .map(|(k, _)| *k);
                        if let Some(child) = hit {
                            if let Some(c) = self.children.remove(&child) {
                                self.events.push_back(Event::Phase2Deleted {
                                    child,
                                    spi_in: c.spi_in,
                                    spi_out: c.spi_out,
                                    reason: DeleteReason::PeerDelete,
                                });
                            }
                        }
                    }
                }
            }
        }
        if delete_self {
            self.remove_sa(id, DeleteReason::PeerDelete);
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------------
    // Dead Peer Detection

    fn send_r_u_there(&mut self, now: Instant, id: IkeSaId) {
        let retry = self.config.dpd.map_or(2, |d| d.retry_secs.max(1));
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        let seq = match sa.dpd.outstanding {
            Some(s) => s,
            None => {
                sa.dpd.seq = sa.dpd.seq.wrapping_add(1);
                sa.dpd.seq
            }
        };
        sa.dpd.outstanding = Some(seq);
        sa.dpd.next_at = Some(now + Duration::from_secs(u64::from(retry)));
        let spi: Vec<u8> = sa.ci.iter().chain(sa.cr.iter()).copied().collect();
        let data = seq.to_be_bytes();
        self.send_informational(id, |b| {
            b.add_notify(&NotifySpec {
                doi: 1,
                protocol: ProtocolId::ISAKMP,
                notify_type: NotifyType::R_U_THERE,
                spi: &spi,
                data: &data,
            })
            .map(|_| ())
        });
    }

    fn dpd_timer(&mut self, now: Instant, id: IkeSaId) {
        let Some(cfg) = self.config.dpd else { return };
        let Some(sa) = self.sas.get(&id) else { return };
        if sa.dpd.next_at.is_none_or(|t| t > now) {
            return;
        }
        if sa.dpd.outstanding.is_some() {
            if sa.dpd.retries >= 5 {
                let peer = sa.peer;
                let children: Vec<ChildId> = self
                    .children
                    .iter()
                    .filter(|(_, c)| c.ike_sa == id)
                    .map(|(k, _)| *k)
                    .collect();
                self.events.push_back(Event::PeerDead { sa: id, peer });
                self.remove_sa(id, DeleteReason::DpdTimeout);
                for child in children {
                    if let Some(c) = self.children.remove(&child) {
                        self.events.push_back(Event::Phase2Deleted {
                            child,
                            spi_in: c.spi_in,
                            spi_out: c.spi_out,
                            reason: DeleteReason::DpdTimeout,
                        });
                    }
                }
                return;
            }
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.dpd.retries += 1;
            }
            self.send_r_u_there(now, id);
            return;
        }
        let interval = Duration::from_secs(u64::from(cfg.interval_secs.max(1)));
        let periodic = matches!(cfg.mode, crate::policy::ipsec::DpdMode::Periodic);
        let idle = sa.last_rx_at + interval <= now;
        if periodic && idle {
            self.send_r_u_there(now, id);
        } else if let Some(sa) = self.sas.get_mut(&id) {
            sa.dpd.next_at = if periodic {
                // Not idle means the last packet is less than an interval old.
                Some(sa.last_rx_at + interval)
            } else {
                None
            };
        }
    }

    fn maybe_on_demand_dpd(&mut self, now: Instant, child: ChildId) {
        let Some(cfg) = self.config.dpd else { return };
        let Some(c) = self.children.get(&child) else {
            return;
        };
        let interval = Duration::from_secs(u64::from(cfg.interval_secs.max(1)));
        // Traffic leaves but nothing came back for an interval: ask.
        let quiet_in = c.last_in.is_none_or(|t| t + interval <= now);
        let sending = c.last_out.is_some_and(|o| c.last_in.is_none_or(|i| o > i));
        let id = c.ike_sa;
        if !(quiet_in && sending) {
            return;
        }
        let Some(sa) = self.sas.get(&id) else { return };
        if sa.state == P1State::QmIdle
            && sa.peer_dpd
            && sa.dpd.outstanding.is_none()
            && sa.last_rx_at + interval <= now
        {
            self.send_r_u_there(now, id);
        }
    }
}

/// Takes the peer's address and port from a packet we accepted; keeps our known local address
/// when the caller's socket could not tell which one the packet arrived on.
fn adopt_path(sa: &mut IkeSa, path: Path) {
    let local_ip = if path.local.ip().is_unspecified() {
        sa.path.local.ip()
    } else {
        path.local.ip()
    };
    sa.path = Path {
        local: SocketAddr::new(local_ip, path.local.port()),
        remote: path.remote,
    };
}

/// End of the payload chain in a decrypted body (the padding after it is not hashed).
fn list_end(list: &PayloadList<'_>) -> usize {
    list.as_slice()
        .last()
        .map_or(0, |p| p.offset.saturating_add(p.raw.len()))
}

/// First SPI of the first proposal of an SA body (for notifies naming the refused proposal).
fn sa_first_spi(sa_body: &[u8]) -> Vec<u8> {
    crate::wire::SaPayload::parse(sa_body)
        .ok()
        .and_then(|sa| sa.proposals().next())
        .and_then(|p| p.ok())
        .map(|p| p.spi().to_vec())
        .unwrap_or_default()
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

/// A cleartext Informational carrying one error notify (answer to an unacceptable MM1).
fn cleartext_notify(
    ci: [u8; 8],
    cr: [u8; 8],
    n: NotifyType,
) -> Result<Vec<u8>, crate::wire::WireError> {
    let h = Header::new(
        Cookie(ci),
        Cookie(cr),
        ExchangeType::INFORMATIONAL,
        Flags(0),
        0,
    );
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf, h)?;
    b.add_notify(&NotifySpec {
        doi: 1,
        protocol: ProtocolId::ISAKMP,
        notify_type: n,
        spi: &[],
        data: &[],
    })?;
    Ok(b.finish()?.to_vec())
}

/// Sizes of the endpoint's internal state, so the fuzz target and tests can check resource bounds
/// without reaching into private fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResourceUsage {
    /// ISAKMP SAs held.
    pub sas: usize,
    /// Responder SAs not yet authenticated (before MM5 verified).
    pub half_open: usize,
    /// IPsec SA pairs held.
    pub children: usize,
    /// Most Quick Mode exchanges held by one ISAKMP SA (active and lingering).
    pub max_qms_per_sa: usize,
    /// Most queued Quick Mode requests waiting behind the active ones of one SA.
    pub max_pending_per_sa: usize,
    /// Most bytes of cached messages, nonces, public values and offers held by one SA.
    pub max_buffered_bytes_per_sa: usize,
    /// Datagrams waiting for `poll_transmit`.
    pub transmits: usize,
    /// Events waiting for `poll_event`.
    pub events: usize,
}

impl Endpoint {
    pub(crate) fn resource_usage(&self) -> ResourceUsage {
        let mut u = ResourceUsage {
            sas: self.sas.len(),
            children: self.children.len(),
            transmits: self.transmits.len(),
            events: self.events.len(),
            ..ResourceUsage::default()
        };
        for sa in self.sas.values() {
            if sa.role == Role::Responder && sa.state != P1State::QmIdle {
                u.half_open += 1;
            }
            u.max_qms_per_sa = u.max_qms_per_sa.max(sa.qms.len());
            u.max_pending_per_sa = u.max_pending_per_sa.max(sa.pending.len());
            let flight = |f: &Flight| f.msg.as_ref().map_or(0, Vec::len);
            let mut bytes = flight(&sa.flight)
                + sa.sai_b.len()
                + sa.gxi.len()
                + sa.gxr.len()
                + sa.ni.len()
                + sa.nr.len();
            for q in &sa.qms {
                bytes += flight(&q.flight) + q.ni.len() + q.nr.len();
            }
            u.max_buffered_bytes_per_sa = u.max_buffered_bytes_per_sa.max(bytes);
        }
        u
    }
}
