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

    /// The peer of SA `id` announced fragmentation in a Phase 1 message (see
    /// [`Endpoint::parse_vids`]): big messages to it may go as fragments from now on.
    pub(super) fn note_peer_fragmentation(&mut self, id: IkeSaId, announced: bool) {
        if let Some(sa) = self.sas.get_mut(&id).filter(|_| announced) {
            sa.peer_fragmentation = true;
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
mod tests;
