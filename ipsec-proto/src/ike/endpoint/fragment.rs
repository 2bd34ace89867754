//! IKE fragmentation, Cisco/Microsoft flavour (payload 132; IKEv1 has no RFC for it).
//!
//! Sending: a message bigger than the configured size goes out as fragments once the peer's
//! Phase 1 messages carried the FRAGMENTATION vendor ID. Each fragment is a whole ISAKMP
//! message of its own (the cookies and exchange type of the original, message ID 0, never the
//! E flag) whose one payload carries a slice of the complete, already encrypted original,
//! header included. The split happens in [`Endpoint::send`], under every cached flight, so a
//! retransmission sends all fragments again (under a new fragment ID).
//!
//! Receiving: fragments are collected per peer (address and port, so clients behind one NAT
//! address do not clobber each other) until the one marked last and every
//! number before it are in, then the original goes through the normal path (duplicate
//! detection included, since that hashes the reassembled message). What one peer can make us
//! hold is bounded: [`MAX_FRAGMENTS`] fragments, [`MAX_REASSEMBLY_BYTES`] bytes, one message
//! (the latest fragment ID) at a time, [`REASSEMBLY_TIMEOUT`] from its first fragment, at
//! most [`MAX_REASSEMBLIES_PER_ADDRESS`] ports of one IP address and at most
//! [`MAX_REASSEMBLIES`] peers at once. A reassembly bug in another stack was a remote
//! code execution (Cisco ASA, CVE-2016-1287): everything here is checked arithmetic and
//! indexed by `get`, and every refusal is a [`FragmentError`] and a counter.

use std::collections::BTreeMap;

use crate::wire::{write_fragment_message, Fragment, FragmentSpec, FRAGMENT_OVERHEAD};

use super::*;
#[cfg(feature = "fuzzing")]
use crate::ike::config::FragmentationConfig;

/// Most fragments one message may arrive in. Real ones use 2-4 (a certificate chain in
/// 576-byte datagrams); Windows was seen using more, smaller ones in IKEv2.
pub const MAX_FRAGMENTS: u8 = 16;
/// Most bytes of fragment data held for one peer (the reassembled message is at most this).
pub const MAX_REASSEMBLY_BYTES: usize = 64 * 1024;
/// An incomplete message is dropped this long after its first fragment arrived; the peer's
/// retransmission starts it again.
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Most peers with a reassembly in progress at once (so spoofed sources cannot make us hold
/// more than this times [`MAX_REASSEMBLY_BYTES`]).
pub const MAX_REASSEMBLIES: usize = 64;
/// Most reassemblies in progress from one IP address (its ports: remote-access clients behind
/// one NAT), so one source cannot take the whole table.
pub const MAX_REASSEMBLIES_PER_ADDRESS: usize = 8;

/// IPv4 header and UDP header in front of every IKE datagram.
const IP_UDP: usize = 28;

/// Why a fragment was refused. Every variant is caused by network input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// The datagram is not one header and one fragment payload.
    #[error("fragment framing: {0}")]
    Malformed(crate::wire::WireError),
    /// Fragmentation is not configured here (`crypto isakmp fragmentation`).
    #[error("IKE fragment received but fragmentation is not enabled")]
    NotEnabled,
    /// Fragment numbers start at 1.
    #[error("fragment number 0")]
    NumberZero,
    /// A fragment number beyond [`MAX_FRAGMENTS`].
    #[error("fragment number {number} beyond the limit of {limit}")]
    TooManyFragments {
        /// The number received.
        number: u8,
        /// The limit.
        limit: u8,
    },
    /// A fragment without data.
    #[error("fragment {number} carries no data")]
    Empty {
        /// Its number.
        number: u8,
    },
    /// A fragment numbered after the one marked last, or a second, different last one.
    #[error("fragment {number} does not fit before last fragment {last}")]
    BeyondLast {
        /// The number received.
        number: u8,
        /// The number of the fragment marked last.
        last: u8,
    },
    /// The same number again with different data (an overlap); the first one is kept.
    #[error("fragment {number} received twice with different data")]
    Conflict {
        /// Its number.
        number: u8,
    },
    /// A fragment ID older than the message being collected from this peer.
    #[error("fragment ID {id} is older than {current}, the one being collected")]
    StaleId {
        /// The ID received.
        id: u16,
        /// The ID being collected.
        current: u16,
    },
    /// The fragments so far add up to more than [`MAX_REASSEMBLY_BYTES`]; all are dropped.
    #[error("fragments add up to {total} bytes, more than {limit}")]
    TooLarge {
        /// Bytes with this fragment.
        total: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many peers have a reassembly in progress ([`MAX_REASSEMBLIES`]).
    #[error("too many reassemblies in progress")]
    TableFull,
    /// Too many ports of this IP address have a reassembly in progress
    /// ([`MAX_REASSEMBLIES_PER_ADDRESS`]).
    #[error("too many reassemblies in progress from one address")]
    AddressFull,
    /// The reassembled bytes are not an ISAKMP message with the fragments' cookies, or are
    /// themselves a fragment.
    #[error("reassembled message is not an ISAKMP message of the fragments' SA")]
    BadReassembly,
}

/// One message being collected from one peer.
struct Reassembly {
    ci: [u8; 8],
    cr: [u8; 8],
    id: u16,
    /// Data of fragment `n` at index `n - 1`.
    parts: Vec<Option<Vec<u8>>>,
    bytes: usize,
    last: Option<u8>,
    deadline: Instant,
}

impl Reassembly {
    fn new(ci: [u8; 8], cr: [u8; 8], id: u16, now: Instant) -> Self {
        Reassembly {
            ci,
            cr,
            id,
            parts: Vec::new(),
            bytes: 0,
            last: None,
            deadline: now + REASSEMBLY_TIMEOUT,
        }
    }

    fn highest(&self) -> usize {
        self.parts
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1)
    }

    /// The original message once every fragment up to the last is in.
    fn complete(&self) -> Option<Vec<u8>> {
        let last = usize::from(self.last?);
        let parts = self.parts.get(..last)?;
        let mut out = Vec::with_capacity(self.bytes);
        for p in parts {
            out.extend_from_slice(p.as_deref()?);
        }
        Some(out)
    }
}

/// What happened to an accepted fragment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Stored; more are needed.
    Stored,
    /// The same fragment again (a retransmission): nothing changed.
    Duplicate,
    /// The last missing piece: the original message.
    Complete(Vec<u8>),
}

/// The per-peer reassembly table. Pure data: the endpoint puts its deadlines in the timer
/// table, and the fuzz target drives it directly.
#[derive(Default)]
pub(crate) struct Reassembler {
    by_peer: BTreeMap<SocketAddr, Reassembly>,
}

#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
impl Reassembler {
    /// Number of peers with a reassembly in progress.
    pub(crate) fn len(&self) -> usize {
        self.by_peer.len()
    }

    /// Reassemblies in progress from the ports of one IP address.
    pub(crate) fn held_for_address(&self, ip: IpAddr) -> usize {
        self.by_peer.keys().filter(|k| k.ip() == ip).count()
    }

    /// Bytes held for `peer`.
    pub(crate) fn bytes_of(&self, peer: SocketAddr) -> usize {
        self.by_peer.get(&peer).map_or(0, |r| r.bytes)
    }

    /// Deadline of `peer`'s reassembly.
    pub(crate) fn deadline(&self, peer: SocketAddr) -> Option<Instant> {
        self.by_peer.get(&peer).map(|r| r.deadline)
    }

    /// Forgets `peer`'s reassembly if its deadline has passed; true when it did.
    pub(crate) fn expire(&mut self, now: Instant, peer: SocketAddr) -> bool {
        if self.deadline(peer).is_some_and(|d| d <= now) {
            self.by_peer.remove(&peer);
            return true;
        }
        false
    }

    /// Takes one fragment datagram (already cut at its header length) from `peer`.
    pub(crate) fn offer(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        msg: &[u8],
    ) -> Result<Offered, FragmentError> {
        let (header, frag) = Fragment::parse_message(msg).map_err(FragmentError::Malformed)?;
        let number = frag.number();
        if number == 0 {
            return Err(FragmentError::NumberZero);
        }
        if number > MAX_FRAGMENTS {
            return Err(FragmentError::TooManyFragments {
                number,
                limit: MAX_FRAGMENTS,
            });
        }
        if frag.data().is_empty() {
            return Err(FragmentError::Empty { number });
        }
        let ci = header.initiator_cookie.0;
        let cr = header.responder_cookie.0;
        let id = frag.id();
        let start_new = match self.by_peer.get(&peer) {
            None => {
                if self.by_peer.len() >= MAX_REASSEMBLIES {
                    return Err(FragmentError::TableFull);
                }
                if self.held_for_address(peer.ip()) >= MAX_REASSEMBLIES_PER_ADDRESS {
                    return Err(FragmentError::AddressFull);
                }
                true
            }
            Some(r) if r.ci != ci || r.cr != cr => true,
            Some(r) if r.id == id => false,
            // Serial-number order (RFC 1982 style) so the ID may wrap.
            Some(r) if (id.wrapping_sub(r.id) as i16) > 0 => true,
            Some(r) => return Err(FragmentError::StaleId { id, current: r.id }),
        };
        if start_new {
            // Only the latest message of a peer is kept: the older one is given up.
            self.by_peer.insert(peer, Reassembly::new(ci, cr, id, now));
        }
        let Some(r) = self.by_peer.get_mut(&peer) else {
            return Err(FragmentError::TableFull);
        };
        let index = usize::from(number - 1);
        if let Some(Some(have)) = r.parts.get(index) {
            return if have.as_slice() == frag.data() {
                Ok(Offered::Duplicate)
            } else {
                Err(FragmentError::Conflict { number })
            };
        }
        if let Some(last) = r.last {
            if number > last || (frag.is_last() && number != last) {
                return Err(FragmentError::BeyondLast { number, last });
            }
        } else if frag.is_last() && r.highest() > index + 1 {
            let highest = u8::try_from(r.highest()).unwrap_or(u8::MAX);
            return Err(FragmentError::BeyondLast {
                number: highest,
                last: number,
            });
        }
        let total = r.bytes.saturating_add(frag.data().len());
        if total > MAX_REASSEMBLY_BYTES {
            // It can never complete: free what it holds now rather than at the timeout.
            self.by_peer.remove(&peer);
            return Err(FragmentError::TooLarge {
                total,
                limit: MAX_REASSEMBLY_BYTES,
            });
        }
        if r.parts.len() <= index {
            r.parts.resize(index + 1, None);
        }
        if let Some(slot) = r.parts.get_mut(index) {
            *slot = Some(frag.data().to_vec());
        }
        r.bytes = total;
        if frag.is_last() {
            r.last = Some(number);
        }
        match r.complete() {
            Some(whole) => {
                self.by_peer.remove(&peer);
                Ok(Offered::Complete(whole))
            }
            None => Ok(Offered::Stored),
        }
    }
}

/// The fragment datagrams of `msg` for a path whose datagrams are at most `mtu` bytes of IP
/// (`marker`: 4 more bytes of non-ESP marker each). `None` when it fits as it is, or when it
/// would need more fragments than a fragment number counts (then it goes whole, and the path
/// fragments it if it must).
pub(crate) fn split(msg: &[u8], mtu: u16, marker: bool, id: u16) -> Option<Vec<Vec<u8>>> {
    let overhead = IP_UDP + if marker { 4 } else { 0 };
    let mtu = usize::from(mtu);
    if msg.len().saturating_add(overhead) <= mtu {
        return None;
    }
    let header = Header::parse(msg).ok()?;
    let per = mtu.checked_sub(overhead + HEADER_LEN + FRAGMENT_OVERHEAD)?;
    if per == 0 {
        return None;
    }
    let count = msg.len().div_ceil(per);
    if count > usize::from(u8::MAX) {
        return None;
    }
    // The fragments carry the cookies and exchange type of the original; the message ID and
    // flags are the fragment's own (0, cleartext).
    let fh = Header::new(
        header.initiator_cookie,
        header.responder_cookie,
        header.exchange,
        Flags(0),
        0,
    );
    let mut out = Vec::with_capacity(count);
    for (i, chunk) in msg.chunks(per).enumerate() {
        let spec = FragmentSpec {
            id,
            number: u8::try_from(i + 1).ok()?,
            last: i + 1 == count,
            data: chunk,
        };
        let mut buf = vec![0u8; HEADER_LEN + FRAGMENT_OVERHEAD + chunk.len()];
        let n = write_fragment_message(&mut buf, &fh, &spec).ok()?;
        buf.truncate(n);
        out.push(buf);
    }
    Some(out)
}

/// The endpoint's fragmentation state: the reassembly table and the next fragment ID.
#[derive(Default)]
pub(super) struct FragState {
    pub(super) reassembly: Reassembler,
    next_id: u16,
}

impl Endpoint {
    /// Splits `bytes` into fragments when fragmentation is on, the peer of the SA named by its
    /// cookies announced it, and it is bigger than the configured size.
    pub(super) fn fragments_for(&mut self, path: &Path, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        let cfg = self.config.fragmentation?;
        let header = Header::parse(bytes).ok()?;
        let (ci, cr) = (header.initiator_cookie.0, header.responder_cookie.0);
        let peer_can = self
            .sas
            .with_ci(ci)
            .any(|s| s.cr == cr && s.peer_fragmentation);
        if !peer_can {
            return None;
        }
        self.frag.next_id = self.frag.next_id.wrapping_add(1).max(1);
        let frags = split(bytes, cfg.mtu, marker_needed(path), self.frag.next_id)?;
        self.counters.fragments_sent += frags.len() as u64;
        Some(frags)
    }

    /// A datagram whose first payload is a fragment: stored, or, when it completes a message,
    /// that message handled as if it had come whole.
    pub(super) fn handle_fragment(&mut self, now: Instant, path: Path, msg: &[u8]) {
        self.counters.fragments_received += 1;
        let peer = path.remote;
        let result = if self.config.fragmentation.is_none() {
            Err(FragmentError::NotEnabled)
        } else {
            self.frag.reassembly.offer(now, peer, msg)
        };
        let at = self.frag.reassembly.deadline(peer);
        self.timers.set(TimerKey::Reassembly(peer), at);
        match result {
            Ok(Offered::Stored) => {}
            Ok(Offered::Duplicate) => self.counters.fragments_duplicate += 1,
            Ok(Offered::Complete(whole)) => {
                // The original must be an ISAKMP message of the same SA, and not a fragment
                // itself (which would nest reassemblies).
                let same_sa = Header::parse(&whole).ok().filter(|h| {
                    msg.get(..16) == whole.get(..16) && h.next_payload != PayloadType::FRAGMENTATION
                });
                if same_sa.is_none() {
                    self.refuse_fragment(FragmentError::BadReassembly);
                    return;
                }
                self.counters.fragments_reassembled += 1;
                self.isakmp_datagram(now, path, &whole);
            }
            Err(e) => self.refuse_fragment(e),
        }
    }

    fn refuse_fragment(&mut self, e: FragmentError) {
        self.counters.fragments_refused += 1;
        self.drop_datagram(DatagramDrop::Malformed(InvalidMessage::Fragment(e)));
    }

    /// The reassembly timer of `peer`: an incomplete message is given up.
    pub(super) fn reassembly_timer(&mut self, now: Instant, peer: SocketAddr) {
        if self.frag.reassembly.expire(now, peer) {
            self.counters.fragment_reassembly_timeouts += 1;
        }
        let at = self.frag.reassembly.deadline(peer);
        self.timers.set(TimerKey::Reassembly(peer), at);
    }

    /// After a cleartext Phase 1 message: if it carried the FRAGMENTATION vendor ID, the SA it
    /// belongs to may be sent fragments from now on.
    pub(super) fn note_fragmentation_vid(&mut self, path: &Path, header: &Header, msg: &[u8]) {
        if self.config.fragmentation.is_none()
            || header.flags.encrypted()
            || !matches!(
                header.exchange,
                ExchangeType::MAIN_MODE | ExchangeType::AGGRESSIVE
            )
        {
            return;
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let Ok(list) = PayloadList::parse(header.next_payload, body) else {
            return;
        };
        let announced = list
            .find_all(PayloadType::VENDOR_ID)
            .any(|p| vendor::recognize(p.body) == Some(KnownVendor::Fragmentation));
        if !announced {
            return;
        }
        let ci = header.initiator_cookie.0;
        let cr = header.responder_cookie.0;
        let ids: Vec<IkeSaId> = self
            .sas
            .with_ci(ci)
            .filter(|s| {
                // Our SA waiting for MM2/AM2 does not know the responder cookie yet; a
                // responder SA is named by both, or by CKY-I alone in a first message.
                (s.cr == cr || cr == [0; 8] || s.cr == [0; 8])
                    && s.path.remote.ip() == path.remote.ip()
            })
            .map(|s| s.id)
            .collect();
        for id in ids {
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.peer_fragmentation = true;
            }
        }
    }
}

/// Fuzz-target body (`fuzz/fuzz_targets/ike_fragment.rs`, corpus replayed in
/// `tests/ike_fuzz_corpora.rs`). The first byte picks the game:
///
/// - 0: a message made of the input is split at an input-chosen size, the fragments are
///   offered in an input-chosen order with repeats, and must reassemble to exactly the message;
/// - 1: the rest is a stream of operations, each `[peer, time step, kind, ...]`, offering
///   raw datagrams or fragments built from input fields to a [`Reassembler`] and to an
///   endpoint with fragmentation on. The table must stay within its bounds at every step;
/// - 2: two honest endpoints cutting at an input-chosen size negotiate over a network with
///   input-chosen loss, duplication, reordering and dropped datagrams, so real fragments of
///   real Main and Quick Modes arrive out of order, twice or not at all. Without loss and
///   drops the tunnel must come up.
///
/// (The game is the first byte modulo 3: 0, 1 or 2.)
///
/// Panics only when an invariant breaks.
#[cfg(feature = "fuzzing")]
pub fn fuzz_fragment_reassembly(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => fuzz_round_trip(rest),
        1 => fuzz_stream(rest),
        _ => {
            fuzz_pair(rest);
        }
    }
}

/// Whether the tunnel came up, and the messages both sides reassembled (`None`: input too
/// short).
#[cfg(feature = "fuzzing")]
fn fuzz_pair(data: &[u8]) -> Option<(bool, u64)> {
    use crate::policy::acl::TrafficSelector;
    use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode};
    use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
    use crate::testing::{Pair, Side, A_PRIV, B_ADDR};
    let [seed, loss, dup, reorder, mtu, ref drops @ ..] = *data else {
        return None;
    };
    let mtu = FragmentationConfig::MIN_MTU + u16::from(mtu) * 2;
    let config = |peer: Ipv4Addr, local: [u8; 4], remote: [u8; 4]| {
        let mut p = PeerConfig::new(peer, PskSecret::new(b"fuzz".to_vec()));
        p.isakmp_policies = vec![IsakmpPolicy {
            priority: 1,
            encryption: IkeEncryption::TripleDes,
            hash: IkeHash::Sha1,
            authentication: IkeAuth::PreShare,
            // The fuzzing group keeps each run cheap; its messages still exceed 128 bytes.
            group: crate::crypto::dh::FUZZ_GROUP_ID,
            lifetime_secs: 600,
        }];
        p.transform_sets = vec![TransformSet {
            name: "T".into(),
            esp_encryption: EspEncryption::TripleDes,
            esp_integrity: EspIntegrity::Sha1,
            mode: EspMode::Tunnel,
        }];
        let mask = Ipv4Addr::new(255, 255, 255, 0);
        p.selectors = vec![SelectorPair {
            local: TrafficSelector::subnet(Ipv4Addr::from(local), mask),
            remote: TrafficSelector::subnet(Ipv4Addr::from(remote), mask),
        }];
        EndpointConfig {
            peers: vec![p],
            fragmentation: Some(FragmentationConfig::with_mtu(mtu)),
            ..EndpointConfig::default()
        }
    };
    let mut p = Pair::new(
        config(B_ADDR, [10, 1, 1, 0], [10, 2, 2, 0]),
        config(A_PRIV, [10, 2, 2, 0], [10, 1, 1, 0]),
        u64::from(seed),
    );
    p.loss = f64::from(loss % 64) / 256.0;
    p.dup = f64::from(dup) / 512.0;
    p.reorder_ms = u64::from(reorder % 64);
    p.drop_nth = drops
        .iter()
        .take(8)
        .map(|&b| {
            let side = if b & 1 == 0 { Side::A } else { Side::B };
            (side, usize::from(b >> 1) % 16)
        })
        .collect();
    let clean = loss % 64 == 0 && p.drop_nth.is_empty();
    p.initiate(0, 0);
    let both_up = |p: &Pair| {
        let two = |v: &[Event]| v.iter().any(|e| matches!(e, Event::Phase2Established(_)));
        two(&p.events_a) && two(&p.events_b)
    };
    let up = p.run_until(120_000, both_up);
    assert!(
        up || !clean,
        "duplicated and reordered fragments did not converge (mtu {mtu})"
    );
    let mut reassembled = 0;
    for ep in [&p.a, &p.b] {
        assert!(ep.frag.reassembly.len() <= MAX_REASSEMBLIES);
        let c = ep.counters();
        assert!(c.fragments_refused + c.fragments_duplicate <= c.fragments_received);
        reassembled += c.fragments_reassembled;
    }
    Some((up, reassembled))
}

#[cfg(feature = "fuzzing")]
fn fuzz_round_trip(data: &[u8]) {
    let [a, b, m, ref order @ ..] = *data else {
        return;
    };
    let len = HEADER_LEN + usize::from(u16::from_be_bytes([a, b])) % 4000;
    let mtu = FragmentationConfig::MIN_MTU + u16::from(m) * 5;
    let mut msg: Vec<u8> = (0..len)
        .map(|i| {
            order
                .get(i % order.len().max(1))
                .copied()
                .unwrap_or(i as u8)
        })
        .collect();
    let h = Header {
        length: len as u32,
        ..Header::new(
            Cookie([0x11; 8]),
            Cookie([0x22; 8]),
            ExchangeType::MAIN_MODE,
            Flags::ENCRYPTION,
            0,
        )
    };
    if let Some(dst) = msg.get_mut(..HEADER_LEN) {
        dst.copy_from_slice(&h.to_bytes());
    }
    let marker = m % 2 == 1;
    let Some(mut frags) = split(&msg, mtu, marker, u16::from(a)) else {
        assert!(msg.len() + IP_UDP + usize::from(marker) * 4 <= usize::from(mtu));
        return;
    };
    for f in &frags {
        assert!(f.len() + IP_UDP + usize::from(marker) * 4 <= usize::from(mtu));
    }
    if frags.len() > usize::from(MAX_FRAGMENTS) {
        return;
    }
    // Input-chosen order, then a repeat of an input-chosen fragment.
    for (i, &o) in order.iter().enumerate().take(64) {
        let n = frags.len();
        frags.swap(i % n, usize::from(o) % n);
    }
    let again = frags.get(usize::from(b) % frags.len()).cloned();
    let t0 = Instant::from_millis(0);
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 500);
    let mut r = Reassembler::default();
    let mut whole = None;
    for f in frags.iter().chain(again.iter()) {
        match r.offer(t0, peer, f) {
            Ok(Offered::Complete(m)) if whole.is_none() => whole = Some(m),
            Ok(Offered::Complete(_)) => panic!("completed twice"),
            Ok(_) => {}
            Err(e) => panic!("honest fragment refused: {e}"),
        }
    }
    assert_eq!(whole.as_deref(), Some(&msg[..]));
}

#[cfg(feature = "fuzzing")]
fn fuzz_stream(mut data: &[u8]) {
    let cfg = EndpointConfig {
        fragmentation: Some(FragmentationConfig::with_mtu(128)),
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(cfg, Rng::from_seed([7; 32]));
    let mut r = Reassembler::default();
    let mut now = Instant::from_millis(0);
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
    while let [peer, step, kind, ref rest @ ..] = *data {
        now = now + Duration::from_millis(u64::from(step) * 250);
        // Four addresses, sixteen ports each: the per-address bound is reachable.
        let ip = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, peer % 4)),
            4500 + u16::from(peer / 4 % 16),
        );
        let (bytes, used) = if kind % 2 == 0 {
            // A raw datagram of `len` input bytes.
            let len = usize::from(kind / 2).min(rest.len());
            (rest.get(..len).unwrap_or(&[]).to_vec(), len)
        } else {
            // A fragment built from fields: [id, number, flags, len, data...].
            let [id, number, flags, len, ref tail @ ..] = *rest else {
                return;
            };
            let len = usize::from(len).min(tail.len());
            let spec = FragmentSpec {
                id: u16::from(id % 4),
                number: number % 20,
                last: flags % 2 == 1,
                data: tail.get(..len).unwrap_or(&[]),
            };
            let h = Header::new(
                Cookie([kind; 8]),
                Cookie([0x22; 8]),
                ExchangeType::MAIN_MODE,
                Flags(0),
                0,
            );
            let mut buf = vec![0u8; HEADER_LEN + FRAGMENT_OVERHEAD + len];
            let Ok(n) = write_fragment_message(&mut buf, &h, &spec) else {
                return;
            };
            buf.truncate(n);
            (buf, 4 + len)
        };
        data = rest.get(used..).unwrap_or(&[]);
        let _ = r.expire(now, ip);
        if let Ok(Offered::Complete(m)) = r.offer(now, ip, &bytes) {
            assert!(m.len() <= MAX_REASSEMBLY_BYTES);
        }
        assert!(r.len() <= MAX_REASSEMBLIES);
        assert!(r.bytes_of(ip) <= MAX_REASSEMBLY_BYTES);
        assert!(r.held_for_address(ip.ip()) <= MAX_REASSEMBLIES_PER_ADDRESS);
        let path = Path { local, remote: ip };
        let _ = ep.handle_datagram(now, path, &bytes);
        ep.handle_timeout(now);
        if let Some(t) = ep.poll_timeout() {
            assert!(t > now, "a deadline stayed in the past");
        }
        let mut out = [0u8; 2048];
        while let Ok(Some(_)) = ep.poll_transmit(now, &mut out) {}
        while ep.poll_event().is_some() {}
    }
    let c = ep.counters();
    assert!(c.fragments_refused + c.fragments_duplicate <= c.fragments_received);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);

    fn message(len: usize) -> Vec<u8> {
        let mut m: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let h = Header {
            length: len as u32,
            flags: Flags::ENCRYPTION,
            ..Header::new(
                Cookie([1; 8]),
                Cookie([2; 8]),
                ExchangeType::MAIN_MODE,
                Flags(0),
                0,
            )
        };
        m[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        m
    }

    fn frag(id: u16, number: u8, last: bool, data: &[u8]) -> Vec<u8> {
        let h = Header::new(
            Cookie([1; 8]),
            Cookie([2; 8]),
            ExchangeType::MAIN_MODE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; 64 + data.len()];
        let spec = FragmentSpec {
            id,
            number,
            last,
            data,
        };
        let n = write_fragment_message(&mut buf, &h, &spec).unwrap();
        buf.truncate(n);
        buf
    }

    /// A small deterministic generator for the orders (no test dependency needed).
    fn shuffle<T>(v: &mut [T], mut seed: u64) {
        for i in (1..v.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let j = (seed >> 33) as usize % (i + 1);
            v.swap(i, j);
        }
    }

    #[test]
    fn fragment_random_orders_reassemble_the_original() {
        let t0 = Instant::from_millis(0);
        for seed in 0..300u64 {
            let mtu = 128 + (seed as u16 * 53) % 600;
            // Always more than fits in one datagram, up to a certificate-sized Main Mode.
            let len = usize::from(mtu) + 1 + (seed as usize * 37) % 1500;
            let msg = message(len);
            let mut frags = split(&msg, mtu, seed % 2 == 0, seed as u16).expect("needs fragments");
            assert!(frags.len() >= 2);
            if frags.len() > usize::from(MAX_FRAGMENTS) {
                // More than a peer (or we) would take: `split` still makes them, the receiver
                // refuses; the bound is tested elsewhere.
                continue;
            }
            for f in &frags {
                let ip = f.len() + 28 + if seed % 2 == 0 { 4 } else { 0 };
                assert!(
                    ip <= usize::from(mtu),
                    "fragment of {ip} bytes over mtu {mtu}"
                );
            }
            shuffle(&mut frags, seed);
            // Some duplicates on the way, as a lossy path with retransmissions gives.
            let dup = frags[0].clone();
            frags.insert(frags.len() / 2, dup);
            let mut r = Reassembler::default();
            let mut done = None;
            for f in &frags {
                match r.offer(t0, PEER, f).unwrap() {
                    Offered::Complete(m) => {
                        assert!(done.is_none(), "completed twice");
                        done = Some(m);
                    }
                    Offered::Stored | Offered::Duplicate => {}
                }
            }
            // The duplicate may land after completion: then it starts a new partial one.
            assert_eq!(done.as_deref(), Some(&msg[..]), "seed {seed}");
        }
    }

    proptest::proptest! {
        /// Any message, any size, any arrival order (a permutation drawn by proptest) with
        /// repeats: the reassembly is the original, exactly once.
        #[test]
        fn fragment_any_order_reassembles(
            extra in 1usize..3000,
            mtu in 128u16..1500,
            marker: bool,
            keys in proptest::collection::vec(proptest::prelude::any::<u32>(), 16),
            repeat in 0usize..16,
        ) {
            let msg = message(usize::from(mtu) + extra);
            let mut frags = split(&msg, mtu, marker, 9).expect("bigger than the mtu");
            proptest::prop_assume!(frags.len() <= usize::from(MAX_FRAGMENTS));
            let mut order: Vec<usize> = (0..frags.len()).collect();
            order.sort_by_key(|&i| keys[i]);
            let again = frags[repeat % frags.len()].clone();
            let mut ordered: Vec<Vec<u8>> = order.iter().map(|&i| std::mem::take(&mut frags[i])).collect();
            ordered.insert(repeat % ordered.len(), again);
            let mut r = Reassembler::default();
            let mut done = Vec::new();
            for f in &ordered {
                if let Offered::Complete(m) = r.offer(Instant::from_millis(0), PEER, f).unwrap() {
                    done.push(m);
                }
            }
            proptest::prop_assert_eq!(done.len(), 1);
            proptest::prop_assert_eq!(&done[0], &msg);
        }
    }

    fn pair_configs(a_frag: bool, b_frag: bool) -> (EndpointConfig, EndpointConfig) {
        use super::super::aggressive_tests::peer;
        use crate::testing::{A_PRIV, B_ADDR};
        let on = |b: bool| b.then(|| FragmentationConfig::with_mtu(200));
        let a = EndpointConfig {
            peers: vec![peer(B_ADDR, b"frag-key", [10, 1, 1, 0], [10, 2, 2, 0])],
            fragmentation: on(a_frag),
            ..EndpointConfig::default()
        };
        let b = EndpointConfig {
            peers: vec![peer(A_PRIV, b"frag-key", [10, 2, 2, 0], [10, 1, 1, 0])],
            fragmentation: on(b_frag),
            ..EndpointConfig::default()
        };
        (a, b)
    }

    fn fragments_of(p: &crate::testing::Pair, side: crate::testing::Side) -> Vec<Vec<u8>> {
        p.log
            .iter()
            .filter(|(s, _, m)| *s == side && m.get(16) == Some(&132))
            .map(|(_, _, m)| m.clone())
            .collect()
    }

    #[test]
    fn fragment_main_and_quick_mode_complete_with_fragments_both_ways() {
        use super::super::aggressive_tests::up;
        use crate::testing::{Pair, Side};
        let (a, b) = pair_configs(true, true);
        let mut p = Pair::new(a, b, 41);
        p.initiate(0, 0);
        assert!(
            p.run_until(20_000, up),
            "a {:?}\nb {:?}",
            p.events_a,
            p.events_b
        );
        crate::testing::assert_keys_match(&p.events_a, &p.events_b);
        // MM1/MM2 carry the VID and go whole; MM3 and MM4 (KE and nonce of group 2, NAT-D:
        // over 200 bytes) go as fragments, every one within the 200-byte size.
        for side in [Side::A, Side::B] {
            let f = fragments_of(&p, side);
            assert!(f.len() >= 2, "{side:?} sent {} fragments", f.len());
            for m in &f {
                assert!(m.len() + 28 <= 200, "{} bytes", m.len());
                assert_eq!(m[19] & 1, 0, "a fragment is never encrypted itself");
            }
        }
        // A's MM3 already goes as fragments: the VID in MM2 counts before MM2 is answered.
        let a_sent: Vec<&Vec<u8>> = p
            .log
            .iter()
            .filter(|(s, _, _)| *s == Side::A)
            .map(|(_, _, m)| m)
            .collect();
        assert_eq!(a_sent[1][16], 132, "MM3 went whole");
        assert!(p.a.counters().fragments_reassembled >= 1);
        assert!(p.b.counters().fragments_reassembled >= 1);
        assert_eq!(p.a.counters().fragments_refused, 0);
        assert_eq!(p.b.counters().fragments_refused, 0);
        // The first two messages announce fragmentation with Cisco's capability word.
        for m in &p.log[..2] {
            assert!(m
                .2
                .windows(20)
                .any(|w| w == crate::wire::vendor::FRAGMENTATION_CISCO));
        }
    }

    #[test]
    fn fragment_lost_fragments_recovered_by_retransmission() {
        use super::super::aggressive_tests::up;
        use crate::testing::{Pair, Side};
        let (a, b) = pair_configs(true, true);
        let mut p = Pair::new(a, b, 42);
        // A's datagrams: 0 = MM1, 1.. = the fragments of MM3; B's 0 = MM2, 1.. = MM4's.
        p.drop_nth = vec![(Side::A, 2), (Side::B, 1)];
        p.initiate(0, 0);
        assert!(
            p.run_until(60_000, up),
            "a {:?}\nb {:?}",
            p.events_a,
            p.events_b
        );
        // A resends every fragment of MM3; B answers the repeat with all of MM4 again.
        assert!(p.a.counters().retransmissions >= 1);
        assert!(p.b.counters().duplicates >= 1);
        assert!(p.b.counters().fragments_sent >= 4);
    }

    #[test]
    fn fragment_only_to_peers_that_announced_it() {
        use super::super::aggressive_tests::up;
        use crate::testing::{Pair, Side};
        // B has no fragmentation configured: A must send whole messages, and it works.
        let (a, b) = pair_configs(true, false);
        let mut p = Pair::new(a, b, 43);
        p.initiate(0, 0);
        assert!(p.run_until(20_000, up));
        assert!(fragments_of(&p, Side::A).is_empty());
        assert!(fragments_of(&p, Side::B).is_empty());
        assert!(!p.log[1]
            .2
            .windows(16)
            .any(|w| w == crate::wire::vendor::FRAGMENTATION));
    }

    /// strongSwan with `fragmentation = force` fragments even its first message, before any
    /// vendor ID: a responder with fragmentation on must take MM1 in pieces (no SA yet).
    #[test]
    fn fragment_first_message_in_fragments_starts_main_mode() {
        use crate::testing::{A_PRIV, B_ADDR};
        let (a, b) = pair_configs(true, true);
        let t0 = Instant::from_millis(1000);
        let mut ia = Endpoint::new(a, Rng::from_u64(7));
        ia.initiate(t0, PeerId(0), 0).unwrap();
        let mut buf = [0u8; 2048];
        let tx = ia.poll_transmit(t0, &mut buf).unwrap().unwrap();
        let mm1 = buf[..tx.len].to_vec();
        let mut frags = split(&mm1, 128, false, 77).expect("MM1 is over 128 bytes");
        assert!(frags.len() >= 3);
        frags.reverse();
        let mut rb = Endpoint::new(b, Rng::from_u64(8));
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(B_ADDR), 500),
            remote: SocketAddr::new(IpAddr::V4(A_PRIV), 500),
        };
        for f in &frags {
            assert_eq!(rb.handle_datagram(t0, path, f), Ok(()));
        }
        assert_eq!(rb.counters().fragments_reassembled, 1);
        let mm2 = rb.poll_transmit(t0, &mut buf).unwrap().expect("an MM2");
        assert_eq!(buf[18], 2, "Main Mode");
        assert_ne!(buf[16], 132, "MM2 goes whole ({} bytes)", mm2.len);
        // The reassembly left nothing behind and no timer.
        assert_eq!(rb.frag.reassembly.len(), 0);
    }

    #[test]
    fn fragment_received_without_configuration_is_dropped_and_counted() {
        let (_, b) = pair_configs(true, false);
        let mut ep = Endpoint::new(b, Rng::from_u64(5));
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(crate::testing::B_ADDR), 500),
            remote: PEER,
        };
        let r = ep.handle_datagram(Instant::from_millis(0), path, &frag(1, 1, true, b"abc"));
        assert_eq!(
            r,
            Err(DatagramDrop::Malformed(InvalidMessage::Fragment(
                FragmentError::NotEnabled
            )))
        );
        assert_eq!(ep.counters().fragments_refused, 1);
        assert_eq!(ep.counters().malformed, 1);
    }

    #[test]
    fn fragment_incomplete_reassembly_expires_on_the_timer_table() {
        let (a, _) = pair_configs(true, true);
        let mut ep = Endpoint::new(a, Rng::from_u64(6));
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(crate::testing::A_PRIV), 500),
            remote: PEER,
        };
        let t0 = Instant::from_millis(1000);
        assert_eq!(
            ep.handle_datagram(t0, path, &frag(3, 1, false, b"abc")),
            Ok(())
        );
        assert_eq!(ep.poll_timeout(), Some(t0 + REASSEMBLY_TIMEOUT));
        ep.handle_timeout(t0 + REASSEMBLY_TIMEOUT);
        assert_eq!(ep.counters().fragment_reassembly_timeouts, 1);
        assert_eq!(ep.poll_timeout(), None);
        assert_eq!(ep.frag.reassembly.len(), 0);
    }

    #[test]
    fn fragment_ios_commands_parse_render_and_reach_the_endpoint() {
        use crate::ios::config::{parse, render};
        let base = "crypto isakmp policy 10\n encryption aes\n authentication pre-share\n group 14\n\
                    crypto isakmp key k3y-for-the-branch-office address 192.0.2.2\n\
                    crypto ipsec transform-set T esp-aes esp-sha-hmac\n\
                    access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255\n\
                    crypto map M 10 ipsec-isakmp\n set peer 192.0.2.2\n set transform-set T\n match address 101\n\
                    interface Gi0/0\n ip address 192.0.2.1 255.255.255.0\n crypto map M\n";
        for (line, want, shown) in [
            ("", None, None),
            (
                "crypto isakmp fragmentation\n",
                Some(576),
                Some("crypto isakmp fragmentation\n"),
            ),
            (
                "crypto isakmp fragmentation mtu 300\n",
                Some(300),
                Some("crypto isakmp fragmentation mtu 300\n"),
            ),
            (
                "crypto isakmp fragmentation\nno crypto isakmp fragmentation\n",
                None,
                None,
            ),
        ] {
            let text = format!("{line}{base}");
            let parsed = parse(&text).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(parsed.config.ipsec.ike_fragmentation_mtu, want, "{line}");
            let (ec, _, issues) = EndpointConfig::from_gateway(&parsed.config, "M");
            assert!(issues.is_empty(), "{issues:?}");
            assert_eq!(ec.fragmentation.map(|f| f.mtu), want, "{line}");
            let out = render(&parsed.config);
            match shown {
                Some(s) => assert!(out.contains(s), "{out}"),
                None => assert!(!out.contains("fragmentation"), "{out}"),
            }
        }
        for bad in [
            "crypto isakmp fragmentation mtu 100\n",
            "crypto isakmp fragmentation mtu 9000\n",
        ] {
            assert!(parse(&format!("{bad}{base}")).is_err(), "{bad}");
        }
    }

    /// The pair game of the fuzz body: duplicates and reordering over many seeds and sizes,
    /// with fragments really reassembled on the way.
    #[test]
    fn fragment_pairs_converge_under_duplication_and_reordering() {
        for seed in 0..24u8 {
            // 128..=134 bytes: the fuzzing group's MM3 and Quick Mode messages need fragments.
            let mtu = seed % 4;
            let out = fuzz_pair(&[seed, 0, 200, 63, mtu]);
            let (up, reassembled) = out.unwrap();
            assert!(up, "seed {seed}");
            assert!(reassembled >= 2, "seed {seed}: {reassembled} reassembled");
        }
    }

    #[test]
    fn fragment_small_messages_go_whole() {
        assert!(split(&message(100), 576, true, 1).is_none());
        assert!(split(&message(548), 576, false, 1).is_none());
        assert_eq!(
            split(&message(549), 576, false, 1).map(|v| v.len()),
            Some(2)
        );
    }

    #[test]
    fn fragment_refusals() {
        let t0 = Instant::from_millis(0);
        let mut r = Reassembler::default();
        assert_eq!(
            r.offer(t0, PEER, &frag(1, 0, false, b"a")),
            Err(FragmentError::NumberZero)
        );
        assert_eq!(
            r.offer(t0, PEER, &frag(1, 17, false, b"a")),
            Err(FragmentError::TooManyFragments {
                number: 17,
                limit: 16
            })
        );
        assert_eq!(
            r.offer(t0, PEER, &frag(1, 1, false, b"")),
            Err(FragmentError::Empty { number: 1 })
        );
        assert!(matches!(
            r.offer(t0, PEER, &[0u8; 20]),
            Err(FragmentError::Malformed(_))
        ));
        assert_eq!(
            r.offer(t0, PEER, &frag(5, 3, false, b"c")),
            Ok(Offered::Stored)
        );
        // Overlap: same number, other data.
        assert_eq!(
            r.offer(t0, PEER, &frag(5, 3, false, b"X")),
            Err(FragmentError::Conflict { number: 3 })
        );
        assert_eq!(
            r.offer(t0, PEER, &frag(5, 3, false, b"c")),
            Ok(Offered::Duplicate)
        );
        // A last fragment before one already held.
        assert_eq!(
            r.offer(t0, PEER, &frag(5, 2, true, b"b")),
            Err(FragmentError::BeyondLast { number: 3, last: 2 })
        );
        assert_eq!(
            r.offer(t0, PEER, &frag(5, 4, true, b"d")),
            Ok(Offered::Stored)
        );
        assert_eq!(
            r.offer(t0, PEER, &frag(5, 5, false, b"e")),
            Err(FragmentError::BeyondLast { number: 5, last: 4 })
        );
        assert_eq!(
            r.offer(t0, PEER, &frag(5, 2, true, b"b")),
            Err(FragmentError::BeyondLast { number: 2, last: 4 })
        );
        // An older ID is refused, a newer one replaces the message being collected.
        assert_eq!(
            r.offer(t0, PEER, &frag(4, 1, false, b"a")),
            Err(FragmentError::StaleId { id: 4, current: 5 })
        );
        assert_eq!(
            r.offer(t0, PEER, &frag(6, 2, true, b"b")),
            Ok(Offered::Stored)
        );
        assert_eq!(r.bytes_of(PEER), 1);
        assert_eq!(
            r.offer(t0, PEER, &frag(6, 1, false, b"a")),
            Ok(Offered::Complete(b"ab".to_vec()))
        );
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn fragment_bounds_in_bytes_and_time_and_peers() {
        let t0 = Instant::from_millis(0);
        let mut r = Reassembler::default();
        let big = vec![7u8; 8000];
        for n in 1..=8 {
            assert_eq!(
                r.offer(t0, PEER, &frag(1, n, false, &big)),
                Ok(Offered::Stored)
            );
        }
        assert_eq!(r.bytes_of(PEER), 64_000);
        assert_eq!(
            r.offer(t0, PEER, &frag(1, 9, false, &big)),
            Err(FragmentError::TooLarge {
                total: 72_000,
                limit: MAX_REASSEMBLY_BYTES
            })
        );
        assert_eq!(r.len(), 0, "an oversized reassembly is freed at once");
        assert_eq!(
            r.offer(t0, PEER, &frag(2, 1, false, b"x")),
            Ok(Offered::Stored)
        );
        assert!(!r.expire(t0 + Duration::from_secs(29), PEER));
        assert!(r.expire(t0 + REASSEMBLY_TIMEOUT, PEER));
        assert_eq!(r.len(), 0);
        // Clients behind one NAT address: each port its own reassembly, up to the bound.
        let nat = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200));
        for port in 0..MAX_REASSEMBLIES_PER_ADDRESS as u16 {
            let p = SocketAddr::new(nat, 4500 + port);
            assert_eq!(
                r.offer(t0, p, &frag(1, 1, false, b"x")),
                Ok(Offered::Stored)
            );
        }
        assert_eq!(
            r.offer(t0, SocketAddr::new(nat, 9999), &frag(1, 1, false, b"x")),
            Err(FragmentError::AddressFull)
        );
        // One port's fragments never disturb another's.
        assert_eq!(
            r.offer(t0, SocketAddr::new(nat, 4500), &frag(1, 2, true, b"y")),
            Ok(Offered::Complete(b"xy".to_vec()))
        );
        assert_eq!(r.held_for_address(nat), MAX_REASSEMBLIES_PER_ADDRESS - 1);
        for i in r.len()..MAX_REASSEMBLIES {
            let p = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)), 500);
            assert_eq!(
                r.offer(t0, p, &frag(1, 1, false, b"x")),
                Ok(Offered::Stored)
            );
        }
        assert_eq!(
            r.offer(t0, PEER, &frag(1, 1, false, b"x")),
            Err(FragmentError::TableFull)
        );
    }
}
