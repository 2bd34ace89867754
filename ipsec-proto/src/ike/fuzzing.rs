//! Fuzz-target bodies for the endpoint, callable on stable so checked-in corpora replay as
//! ordinary tests (cargo feature `fuzzing`, which the crate's own tests enable).
//!
//! Every fuzzed endpoint negotiates the fuzzing-only group [`DhGroup::Fuzz64`] (Group
//! Description [`FUZZ_GROUP_ID`]): a 64-bit MODP group that costs microseconds where group 2
//! costs milliseconds, handled by the same Main Mode, Quick Mode (PFS) and KE validation code as
//! the real groups. The real-group [`Suite`]s stay for benches and tests that measure them.
//!
//! # `endpoint_pair` (fuzz target `ike_endpoint`, replayed in `tests/ike_robustness.rs`)
//!
//! An honest initiator and an honest responder negotiate while the fuzz input plays the network:
//! every datagram in flight is delivered, dropped, duplicated, corrupted or replaced by input
//! bytes, and time jumps as the input says. Real messages get the state machines deep into
//! Main Mode and Quick Mode, so corruption lands on every handler. The body panics only when an
//! invariant breaks: a deadline that stays in the past after `handle_timeout`, or unbounded state.
//!
//! # `responder` (fuzz target `ike_responder`, replayed in `tests/ike_fuzz_corpora.rs`)
//!
//! A responder endpoint is fed the input as a sequence of operations, read until the bytes run
//! out: a sequence of operations, read until the bytes run out:
//!
//! | first byte `op & 3` | meaning |
//! |---|---|
//! | 0 | datagram: source `(op >> 2) & 3`, cookie fix-up `op & 0x10`; for source 3 one more byte `x`, then a little-endian `u16` length and that many bytes |
//! | 1 | time advance: `u16` LE; `op & 4` set means seconds, else milliseconds |
//! | 2 | jump to the endpoint's next deadline |
//! | 3 | read the show views (`isakmp_sas`, `ipsec_sas`, counters) |
//!
//! Sources: 0 = the configured peer on UDP 500, 1 = the same peer on 4500 (NAT-T float, 4-byte
//! marker optional), 2 = an unknown address on 500 (matched by the wildcard peer entry), 3 =
//! 10.0.(x/2).x on 500 (x even) or 4500 (x odd). With the cookie fix-up the datagram's two cookies
//! are replaced by those of the last datagram the endpoint sent to that address, so mutated
//! MM3/MM5/QM messages reach the SA that expects them.
//!
//! The wildcard entry also answers Aggressive Mode, keyed by the group name [`AM_GROUP`]
//! (ID_KEY_ID) and with a decoy AM2 for any other name; the configured peer's AM1 with its
//! address as ID_IPV4_ADDR is keyed by its address key ([`record_aggressive_exchange`]).
//!
//! After every operation all transmits and events are drained, timers due are handled, and the
//! bounds in [`responder`] are asserted.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::config::{EndpointConfig, PeerConfig, PeerId, SelectorPair};
use super::endpoint::Endpoint;
use super::event::{Event, Path, Role};
use crate::crypto::dh::FUZZ_GROUP_ID;
#[cfg(doc)]
use crate::crypto::DhGroup;
use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::TransformSet;
use crate::policy::ipsec::{DpdConfig, DpdMode, EspEncryption, EspIntegrity, EspMode};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
use crate::rng::Rng;
use crate::testing::Wire;
use crate::time::Instant;

/// The group name (ID_KEY_ID) the fuzzed responder's wildcard entry keys Aggressive Mode by.
pub const AM_GROUP: &[u8] = b"fuzzgroup";
/// Half-open limit of the fuzzed responder: small, so the fuzzer reaches it.
pub const HALF_OPEN_LIMIT: usize = 16;
/// Seed of the fuzzed responder's [`Rng`]; seed inputs are recorded against it.
pub const RESPONDER_SEED: u64 = 0x1ce_5eed;
/// The fuzzed responder's address.
pub const RESPONDER_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// The configured peer's address (sources 0 and 1).
pub const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Pre-shared key of the configured peer.
pub const PEER_PSK: &[u8] = b"fuzz-ciscokey";
/// Start of virtual time.
pub const START: Instant = Instant::from_millis(1_000_000);

/// Datagrams one input may make the endpoint send (reply, plus a notify or retransmission).
const MAX_TRANSMITS_PER_DATAGRAM: usize = 4;
/// Events one datagram may raise (established, deleted, failed, path change...).
const MAX_EVENTS_PER_DATAGRAM: usize = 8;
/// Quick Modes an ISAKMP SA may hold: 8 active plus lingering finished ones.
const MAX_QMS_PER_SA: usize = 64;
/// Cached messages, nonces, public values and offers of one SA.
const MAX_BUFFERED_BYTES_PER_SA: usize = 64 * 1024;
/// Longest datagram the fuzz input may carry.
const MAX_DATAGRAM: usize = 9000;

fn policy(priority: u16, encryption: IkeEncryption, hash: IkeHash, group: u16) -> IsakmpPolicy {
    IsakmpPolicy {
        priority,
        encryption,
        hash,
        authentication: IkeAuth::PreShare,
        group,
        lifetime_secs: 86_400,
    }
}

fn tset(name: &str, esp_encryption: EspEncryption, esp_integrity: EspIntegrity) -> TransformSet {
    TransformSet {
        name: name.into(),
        esp_encryption,
        esp_integrity,
        mode: EspMode::Tunnel,
    }
}

fn net(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::new(255, 255, 255, 0))
}

/// Cipher suites of [`pair_configs`]: the seed's 3DES/SHA-1/group 2 and AES-256/SHA-256/group 14,
/// and the same two over the fuzzing group (what the fuzzed endpoints negotiate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// 3DES, SHA-1, MODP 1024; ESP 3DES + HMAC-SHA1.
    TripleDesSha1Group2,
    /// AES-256, SHA-256, MODP 2048; ESP AES-256 + HMAC-SHA256.
    Aes256Sha256Group14,
    /// 3DES, SHA-1, the 64-bit fuzzing group; ESP 3DES + HMAC-SHA1.
    TripleDesSha1Fuzz64,
    /// AES-256, SHA-256, the 64-bit fuzzing group; ESP AES-256 + HMAC-SHA256.
    Aes256Sha256Fuzz64,
    /// AES-128, SHA-1, the 64-bit fuzzing group; ESP AES-128 + HMAC-SHA1.
    Aes128Sha1Fuzz64,
}

impl Suite {
    /// The suites the fuzzed responders of `ike_responder` offer, in priority order.
    pub const FUZZ: [Suite; 2] = [Suite::TripleDesSha1Fuzz64, Suite::Aes256Sha256Fuzz64];
    /// The real-group suites.
    pub const REAL: [Suite; 2] = [Suite::TripleDesSha1Group2, Suite::Aes256Sha256Group14];

    /// Whether the suite uses the fuzzing group.
    pub fn is_fuzz(self) -> bool {
        !Suite::REAL.contains(&self)
    }

    fn policy(self) -> IsakmpPolicy {
        match self {
            Suite::TripleDesSha1Group2 => policy(10, IkeEncryption::TripleDes, IkeHash::Sha1, 2),
            Suite::Aes256Sha256Group14 => {
                policy(20, IkeEncryption::Aes { bits: 256 }, IkeHash::Sha256, 14)
            }
            Suite::TripleDesSha1Fuzz64 => {
                policy(30, IkeEncryption::TripleDes, IkeHash::Sha1, FUZZ_GROUP_ID)
            }
            Suite::Aes256Sha256Fuzz64 => policy(
                40,
                IkeEncryption::Aes { bits: 256 },
                IkeHash::Sha256,
                FUZZ_GROUP_ID,
            ),
            Suite::Aes128Sha1Fuzz64 => policy(
                50,
                IkeEncryption::Aes { bits: 128 },
                IkeHash::Sha1,
                FUZZ_GROUP_ID,
            ),
        }
    }

    fn transform_set(self) -> TransformSet {
        match self {
            Suite::TripleDesSha1Group2 | Suite::TripleDesSha1Fuzz64 => {
                tset("TS-3DES", EspEncryption::TripleDes, EspIntegrity::Sha1)
            }
            Suite::Aes256Sha256Group14 | Suite::Aes256Sha256Fuzz64 => {
                tset("TS-AES", EspEncryption::Aes256, EspIntegrity::Sha256)
            }
            Suite::Aes128Sha1Fuzz64 => tset("TS-AES128", EspEncryption::Aes128, EspIntegrity::Sha1),
        }
    }
}

/// A peer entry for `addr` offering `suites` (in that order), with one crypto ACL line.
pub fn peer_config(
    addr: Ipv4Addr,
    local: Ipv4Addr,
    psk: &[u8],
    suites: &[Suite],
    local_net: [u8; 4],
    remote_net: [u8; 4],
) -> PeerConfig {
    let mut p = PeerConfig::new(addr, PskSecret::new(psk));
    p.local_address = Some(local);
    p.isakmp_policies = suites.iter().map(|s| s.policy()).collect();
    p.transform_sets = suites.iter().map(|s| s.transform_set()).collect();
    p.selectors = vec![SelectorPair {
        local: net(local_net),
        remote: net(remote_net),
    }];
    p
}

/// The responder configuration of [`pair_configs`] for the real-group suites: the configured
/// peer [`PEER_ADDR`] and a wildcard entry (another key, PFS group 2), both offering
/// [`Suite::REAL`]; otherwise like [`fuzz_responder_config`].
pub fn responder_config() -> EndpointConfig {
    responder_config_with(&Suite::REAL, 2)
}

/// The fuzzed responder's configuration: the configured peer [`PEER_ADDR`] and a wildcard entry
/// (another key, PFS in the fuzzing group) so any address opens responder SAs, both offering
/// [`Suite::FUZZ`]; DPD and NAT keepalives on so their timers run; [`HALF_OPEN_LIMIT`].
pub fn fuzz_responder_config() -> EndpointConfig {
    responder_config_with(&Suite::FUZZ, FUZZ_GROUP_ID)
}

fn responder_config_with(suites: &[Suite], wildcard_pfs: u16) -> EndpointConfig {
    let peer = peer_config(
        PEER_ADDR,
        RESPONDER_ADDR,
        PEER_PSK,
        suites,
        [192, 168, 2, 0],
        [192, 168, 1, 0],
    );
    let mut wildcard = peer_config(
        Ipv4Addr::UNSPECIFIED,
        RESPONDER_ADDR,
        b"wildcard-key",
        suites,
        [192, 168, 2, 0],
        [10, 9, 0, 0],
    );
    wildcard.pfs_group = Some(wildcard_pfs);
    // Aggressive Mode initiators from anywhere, keyed by a group name (ID_KEY_ID); other
    // names get the decoy AM2.
    wildcard.identity_keys = vec![crate::ike::config::IdentityKey {
        id: crate::ike::config::Phase1Id::KeyId(AM_GROUP.to_vec()),
        key: PskSecret::new(b"wildcard-key".to_vec()),
    }];
    EndpointConfig {
        peers: vec![peer, wildcard],
        aggressive_mode: true,
        half_open_limit: HALF_OPEN_LIMIT,
        nat_keepalive: Some(Duration::from_secs(20)),
        dpd: Some(DpdConfig {
            interval_secs: 10,
            retry_secs: 2,
            mode: DpdMode::Periodic,
        }),
        ..EndpointConfig::default()
    }
}

/// A fresh fuzzed responder ([`fuzz_responder_config`]).
pub fn new_responder() -> Endpoint {
    Endpoint::new(fuzz_responder_config(), Rng::from_u64(RESPONDER_SEED))
}

fn source(kind: u8, x: u8) -> SocketAddr {
    let (ip, port) = match kind & 3 {
        0 => (PEER_ADDR, 500),
        1 => (PEER_ADDR, 4500),
        2 => (Ipv4Addr::new(192, 0, 2, 77), 500),
        _ => (
            Ipv4Addr::new(10, 0, x >> 1, x),
            if x & 1 == 0 { 500 } else { 4500 },
        ),
    };
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// What one run did, for the corpus test to check that seeds go deep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `Event::Phase1Established` seen.
    pub phase1_established: usize,
    /// `Event::Phase2Established` seen.
    pub phase2_established: usize,
    /// Datagrams sent by the endpoint.
    pub transmits: usize,
    /// Most half-open SAs seen at once.
    pub max_half_open: usize,
}

struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (b, rest) = self.data.split_at(n);
        self.data = rest;
        b
    }
}

struct Harness {
    ep: Endpoint,
    now: Instant,
    buf: Vec<u8>,
    /// Cookies of the last datagram sent to each address.
    cookies: HashMap<IpAddr, [u8; 16]>,
    out: Outcome,
}

impl Harness {
    /// Drains outputs, checks the per-input bounds and the state bounds.
    fn drain(&mut self, max_tx: usize, max_ev: usize) {
        let mut tx = 0;
        loop {
            match self.ep.poll_transmit(self.now, &mut self.buf) {
                Ok(Some(t)) => {
                    tx += 1;
                    let bytes = self.buf.get(..t.len).unwrap_or(&[]);
                    if let Some(c) = bytes.get(..16) {
                        let mut k = [0u8; 16];
                        k.copy_from_slice(c);
                        self.cookies.insert(t.path.remote.ip(), k);
                    }
                }
                Ok(None) => break,
                Err(e) => panic!("transmit larger than 64 KiB: {e}"),
            }
        }
        let mut ev = 0;
        while let Some(e) = self.ep.poll_event() {
            ev += 1;
            match e {
                Event::Phase1Established { .. } => self.out.phase1_established += 1,
                Event::Phase2Established(_) => self.out.phase2_established += 1,
                _ => {}
            }
        }
        self.out.transmits += tx;
        assert!(tx <= max_tx, "{tx} transmits for one input (max {max_tx})");
        assert!(ev <= max_ev, "{ev} events for one input (max {max_ev})");
        let u = self.ep.resource_usage();
        assert!(
            u.half_open <= HALF_OPEN_LIMIT,
            "{} half-open SAs, limit {HALF_OPEN_LIMIT}",
            u.half_open
        );
        self.out.max_half_open = self.out.max_half_open.max(u.half_open);
        assert!(u.max_qms_per_sa <= MAX_QMS_PER_SA, "{u:?}");
        assert!(u.max_pending_per_sa <= MAX_QMS_PER_SA, "{u:?}");
        assert!(
            u.max_buffered_bytes_per_sa <= MAX_BUFFERED_BYTES_PER_SA,
            "{u:?}"
        );
    }

    /// Handles timers due at `now`, then the deadline must lie in the future.
    fn timers(&mut self) {
        if self.ep.poll_timeout().is_some_and(|t| t <= self.now) {
            // Each SA and pair may send a retransmission, DPD, keepalive or delete and report one
            // or two things when its timer fires (counted before timers remove them).
            let u = self.ep.resource_usage();
            let per = u.sas + u.children + 1;
            self.ep.handle_timeout(self.now);
            let after = self.ep.poll_timeout();
            assert!(
                after.is_none_or(|t| t > self.now),
                "poll_timeout {after:?} not after now {:?} following handle_timeout",
                self.now
            );
            self.drain(4 * per, 4 * per);
        }
    }

    fn datagram(&mut self, from: SocketAddr, fix: bool, bytes: &[u8]) {
        let mut d = bytes.to_vec();
        if fix {
            let off = if from.port() != 500 && d.starts_with(&[0, 0, 0, 0]) {
                4
            } else {
                0
            };
            if let (Some(c), Some(dst)) = (self.cookies.get(&from.ip()), d.get_mut(off..off + 16)) {
                dst.copy_from_slice(c);
            }
        }
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(RESPONDER_ADDR), from.port()),
            remote: from,
        };
        let before = drop_count(&self.ep.counters());
        let verdict = self.ep.handle_datagram(self.now, path, &d);
        // A reason given is a reason counted, once; an accepted datagram counts no drop.
        let counted = drop_count(&self.ep.counters()) - before;
        assert_eq!(counted, u64::from(verdict.is_err()), "{verdict:?}");
        self.drain(MAX_TRANSMITS_PER_DATAGRAM, MAX_EVENTS_PER_DATAGRAM);
        self.timers();
    }
}

/// Runs one fuzz input (see the module documentation) against [`new_responder`] and returns what
/// happened. Panics when the endpoint panics or breaks a bound: half-open SAs above
/// [`HALF_OPEN_LIMIT`], more than 4 datagrams or 8 events out of one datagram in, more than 64
/// Quick Modes or 64 KiB of buffered messages held by one SA, or a deadline still in the past
/// after `handle_timeout`.
pub fn run(data: &[u8]) -> Outcome {
    let mut h = Harness {
        ep: new_responder(),
        now: START,
        buf: vec![0u8; 65536],
        cookies: HashMap::new(),
        out: Outcome::default(),
    };
    let mut r = Reader { data };
    while let Some(op) = r.u8() {
        match op & 3 {
            0 => {
                let kind = (op >> 2) & 3;
                let x = if kind == 3 { r.u8().unwrap_or(0) } else { 0 };
                let Some(len) = r.u16() else { break };
                let bytes = r.bytes(usize::from(len).min(MAX_DATAGRAM));
                h.datagram(source(kind, x), op & 0x10 != 0, bytes);
            }
            1 => {
                let Some(v) = r.u16() else { break };
                let d = if op & 4 != 0 {
                    Duration::from_secs(u64::from(v))
                } else {
                    Duration::from_millis(u64::from(v))
                };
                h.now = h.now + d;
                h.timers();
            }
            2 => {
                if let Some(t) = h.ep.poll_timeout() {
                    h.now = h.now.max(t);
                }
                h.timers();
            }
            _ => {
                let sas = h.ep.isakmp_sas(h.now);
                let half = sas
                    .iter()
                    .filter(|s| {
                        s.role == Role::Responder && s.state != crate::ike::IsakmpState::QmIdle
                    })
                    .count();
                assert!(half <= HALF_OPEN_LIMIT);
                let _ = h.ep.ipsec_sas(h.now);
                let _ = h.ep.counters();
            }
        }
    }
    h.out
}

/// The fuzz target: [`run`] without the outcome.
pub fn responder(data: &[u8]) {
    let _ = run(data);
}

// --------------------------------------------------------------------------------------------
// Two endpoints back to back

/// Both endpoints of an in-memory pair with their addresses; datagrams are delivered at once.
/// A zero-latency [`crate::testing::Pair`] under the names the benches and fuzz helpers use.
pub struct BackToBack {
    /// The initiating side.
    pub a: Endpoint,
    /// The responding side.
    pub b: Endpoint,
    /// A's address.
    pub a_ip: Ipv4Addr,
    /// B's address.
    pub b_ip: Ipv4Addr,
    /// Virtual time.
    pub now: Instant,
}

impl core::fmt::Debug for BackToBack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BackToBack")
            .field("a_ip", &self.a_ip)
            .field("b_ip", &self.b_ip)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Configurations for a pair A (initiator, [`PEER_ADDR`]) and B (responder, [`RESPONDER_ADDR`])
/// agreeing on `suite` with the key [`PEER_PSK`]. B's is [`fuzz_responder_config`] for the
/// fuzzing-group suites, else [`responder_config`] (a fuzzing-group suite outside
/// [`Suite::FUZZ`] finds no match).
pub fn pair_configs(suite: Suite) -> (EndpointConfig, EndpointConfig) {
    let a = EndpointConfig {
        peers: vec![peer_config(
            RESPONDER_ADDR,
            PEER_ADDR,
            PEER_PSK,
            &[suite],
            [192, 168, 1, 0],
            [192, 168, 2, 0],
        )],
        ..EndpointConfig::default()
    };
    let b = if suite.is_fuzz() {
        fuzz_responder_config()
    } else {
        responder_config()
    };
    (a, b)
}

impl BackToBack {
    /// Two endpoints at the given addresses, starting at [`START`].
    pub fn new(a: Endpoint, a_ip: Ipv4Addr, b: Endpoint, b_ip: Ipv4Addr) -> BackToBack {
        BackToBack {
            a,
            b,
            a_ip,
            b_ip,
            now: START,
        }
    }

    /// Delivers datagrams both ways until neither side has anything to send. Events go to
    /// `events_a` / `events_b`; `on_a` sees each datagram A sent with its path as B receives it.
    /// Returns the number of datagrams delivered.
    pub fn exchange(
        &mut self,
        events_a: &mut Vec<Event>,
        events_b: &mut Vec<Event>,
        on_a: &mut dyn FnMut(Instant, Path, &[u8]),
    ) -> usize {
        let placeholder = || Endpoint::new(EndpointConfig::default(), Rng::from_u64(0));
        let a = core::mem::replace(&mut self.a, placeholder());
        let b = core::mem::replace(&mut self.b, placeholder());
        let mut p = crate::testing::Pair::with_endpoints(a, self.a_ip, b, self.b_ip, self.now, 0);
        p.latency_ms = 0;
        // Nothing is due later: with no latency the exchange runs at one instant.
        p.run_until(0, |_| false);
        for s in p.net.log().iter().filter(|s| s.from == 0) {
            if let Wire::Udp { src, dst } = s.packet.wire {
                let path = Path {
                    local: dst,
                    remote: src,
                };
                on_a(s.at, path, s.packet.ike_bytes());
            }
        }
        let delivered = p.net.log().len();
        events_a.append(&mut p.events_a);
        events_b.append(&mut p.events_b);
        self.now = p.now;
        self.a = p.a;
        self.b = p.b;
        delivered
    }

    /// A initiates line `selector` of `peer`; datagrams flow until quiet. Returns whether both
    /// sides reported a new IPsec SA pair.
    pub fn establish(&mut self, peer: PeerId, selector: usize) -> bool {
        let mut ea = Vec::new();
        let mut eb = Vec::new();
        if self.a.initiate(self.now, peer, selector).is_err() {
            return false;
        }
        self.exchange(&mut ea, &mut eb, &mut |_, _, _| {});
        let p2 = |v: &[Event]| v.iter().any(|e| matches!(e, Event::Phase2Established(_)));
        p2(&ea) && p2(&eb)
    }
}

/// Records a complete Main Mode + Quick Mode of a peer at [`PEER_ADDR`] offering `suite` (one of
/// [`Suite::FUZZ`]) against [`new_responder`], as a fuzz input: the peer's datagrams as source-0
/// operations with the elapsed time between them. Replaying it with [`run`] reaches Phase 2 on
/// the responder.
pub fn record_exchange(suite: Suite) -> Vec<u8> {
    record_with(suite, false)
}

/// Like [`record_exchange`], with Aggressive Mode (the peer identifies by its address,
/// ID_IPV4_ADDR, and is keyed by it) instead of Main Mode: AM1, AM3, QM1, QM3.
pub fn record_aggressive_exchange(suite: Suite) -> Vec<u8> {
    record_with(suite, true)
}

fn record_with(suite: Suite, aggressive: bool) -> Vec<u8> {
    let (mut a, _) = pair_configs(suite);
    if aggressive {
        for p in &mut a.peers {
            p.aggressive = Some(crate::ike::config::Phase1Id::Ipv4(PEER_ADDR));
        }
    }
    let mut p = BackToBack::new(
        Endpoint::new(a, Rng::from_u64(7)),
        PEER_ADDR,
        new_responder(),
        RESPONDER_ADDR,
    );
    let mut ops = Vec::new();
    let mut last = p.now;
    if p.a.initiate(p.now, PeerId(0), 0).is_err() {
        return ops;
    }
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    p.exchange(&mut ea, &mut eb, &mut |now, path, bytes| {
        let dt = now.saturating_duration_since(last).as_millis();
        if dt > 0 {
            ops.push(1);
            ops.extend_from_slice(&u16::try_from(dt).unwrap_or(u16::MAX).to_le_bytes());
        }
        last = now;
        ops.push(if path.remote.port() == 500 { 0 } else { 1 << 2 });
        ops.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_le_bytes());
        ops.extend_from_slice(bytes);
    });
    ops
}

// --------------------------------------------------------------------------------------------
// Two honest endpoints over a fuzzer-controlled network

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn config(peer: Ipv4Addr, local: [u8; 4], remote: [u8; 4]) -> EndpointConfig {
    let mut p = PeerConfig::new(peer, PskSecret::new(b"fuzz".to_vec()));
    p.isakmp_policies = vec![IsakmpPolicy {
        priority: 1,
        encryption: IkeEncryption::TripleDes,
        hash: IkeHash::Sha1,
        authentication: IkeAuth::PreShare,
        // The fuzzing group keeps each run cheap.
        group: FUZZ_GROUP_ID,
        lifetime_secs: 600,
    }];
    p.transform_sets = vec![TransformSet {
        name: "T".into(),
        esp_encryption: EspEncryption::TripleDes,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    }];
    p.lifetime_secs = 300;
    let mask = Ipv4Addr::new(255, 255, 255, 0);
    p.selectors = vec![SelectorPair {
        local: TrafficSelector::subnet(Ipv4Addr::from(local), mask),
        remote: TrafficSelector::subnet(Ipv4Addr::from(remote), mask),
    }];
    EndpointConfig {
        peers: vec![p],
        half_open_limit: 8,
        ..EndpointConfig::default()
    }
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h
    }
}

fn drain(
    ep: &mut Endpoint,
    now: Instant,
    to_b: bool,
    q: &mut VecDeque<(bool, Path, Vec<u8>)>,
    buf: &mut [u8],
) -> usize {
    while let Ok(Some(t)) = ep.poll_transmit(now, buf) {
        let (me, peer) = if to_b { (A, B) } else { (B, A) };
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(peer), t.path.remote.port()),
            remote: SocketAddr::new(IpAddr::V4(me), t.path.local.port()),
        };
        q.push_back((to_b, path, buf.get(..t.len).unwrap_or(&[]).to_vec()));
    }
    let mut p2 = 0;
    while let Some(e) = ep.poll_event() {
        if matches!(e, super::Event::Phase2Established(_)) {
            p2 += 1;
        }
    }
    p2
}

fn check_deadline(ep: &Endpoint, now: Instant) {
    assert!(
        ep.poll_timeout().is_none_or(|t| t > now),
        "deadline stays in the past after handle_timeout"
    );
}

/// Runs one negotiation with the network controlled by `data`; returns how many IPsec SA pairs
/// the two sides announced (so tests can check that inputs reach Quick Mode).
pub fn endpoint_pair(data: &[u8]) -> usize {
    let mut input = Bytes(data);
    let mut a = Endpoint::new(
        config(B, [192, 168, 1, 0], [192, 168, 2, 0]),
        Rng::from_u64(1),
    );
    let mut b = Endpoint::new(
        config(A, [192, 168, 2, 0], [192, 168, 1, 0]),
        Rng::from_u64(2),
    );
    let mut now = Instant::from_millis(0);
    let _ = a.initiate(now, PeerId(0), 0);
    let mut q: VecDeque<(bool, Path, Vec<u8>)> = VecDeque::new();
    // One transmit buffer for the whole run: zeroing a fresh one per drain was a third of the
    // instructions of a run.
    let mut buf = vec![0u8; 16384];
    let mut p2 = 0;
    for _ in 0..400 {
        p2 += drain(&mut a, now, true, &mut q, &mut buf);
        p2 += drain(&mut b, now, false, &mut q, &mut buf);
        let Some(op) = input.next() else { break };
        match op % 8 {
            // Let time pass up to the next deadline (or by the amount the input says).
            0 => {
                let step = u64::from(input.next().unwrap_or(0)) * 100;
                let next = [a.poll_timeout(), b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(now + Duration::from_millis(step));
                now = next.max(now + Duration::from_millis(step));
                a.handle_timeout(now);
                b.handle_timeout(now);
                check_deadline(&a, now);
                check_deadline(&b, now);
            }
            1 => {
                q.pop_front();
            }
            2 => {
                if let Some(d) = q.front().cloned() {
                    q.push_back(d);
                }
            }
            3 => {
                // Corrupt one byte of the next datagram.
                if let Some((_, _, bytes)) = q.front_mut() {
                    let at = usize::from(input.next().unwrap_or(0)) * bytes.len() / 256;
                    let x = input.next().unwrap_or(1) | 1;
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= x;
                    }
                }
            }
            4 => {
                // Replace the next datagram's tail by input bytes.
                let n = usize::from(input.next().unwrap_or(0));
                let tail = input.take(n).to_vec();
                if let Some((_, _, bytes)) = q.front_mut() {
                    let keep = bytes
                        .len()
                        .saturating_sub(tail.len())
                        .max(28.min(bytes.len()));
                    bytes.truncate(keep);
                    bytes.extend_from_slice(&tail);
                }
            }
            5 => {
                // Reorder.
                if q.len() > 1 {
                    q.swap(0, 1);
                }
            }
            _ => {
                if let Some((to_b, path, bytes)) = q.pop_front() {
                    if to_b {
                        let _ = b.handle_datagram(now, path, &bytes);
                    } else {
                        let _ = a.handle_datagram(now, path, &bytes);
                    }
                }
            }
        }
        assert!(a.isakmp_sas(now).len() <= 16 && b.isakmp_sas(now).len() <= 16);
        assert!(a.ipsec_sas(now).len() <= 16 && b.ipsec_sas(now).len() <= 16);
    }
    p2 += drain(&mut a, now, true, &mut q, &mut buf);
    p2 += drain(&mut b, now, false, &mut q, &mut buf);
    p2
}

/// The counters [`crate::ike::DatagramDrop`] reasons are counted in.
fn drop_count(c: &crate::ike::Counters) -> u64 {
    c.malformed
        + c.unknown_sa
        + c.zero_responder_cookie
        + c.unexpected
        + c.bad_hash
        + c.replayed_message_id
        + c.bad_dpd
        + c.quick_mode_flood_dropped
        + c.aggressive_dh_limited
        + c.aggressive_disabled
}
