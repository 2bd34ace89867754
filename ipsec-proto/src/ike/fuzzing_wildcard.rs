//! Fuzz-target body `wildcard_peers` (fuzz target `ike_wildcard`, corpus replayed in
//! `tests/ike_wildcard_corpus.rs`): two peers that share a wildcard pre-shared key must not be
//! able to touch each other's SAs.
//!
//! A gateway R holds one wildcard entry, IOS `crypto isakmp key K address 0.0.0.0 0.0.0.0`
//! (crypto ACL: its 192.168.2.0/24 to 10.0.0.0/8). Two honest initiators that both know K bring up
//! Main Mode + Quick Mode with it, first the victim V (10.1.1.0/24), then the attacker A
//! (10.2.2.0/24). Then the input makes A act over its own authenticated ISAKMP SA: Deletes and
//! notifies naming V's SPIs, V's cookies, its own or random ones; Quick Modes for its own, V's or
//! a covering subnet; raw authenticated payloads; rekeys, deletes and reboots; replays of V's
//! earlier datagrams from A's address; time. A's messages are built and encrypted by A's own
//! endpoint with its real Phase 1 keys (SKEYID_a for HASH(1), SKEYID_e and the IV chain), through
//! the crate-internal hook `Endpoint::fuzz_send_protected`, so they pass authentication at R.
//!
//! # Input
//!
//! Byte 0 sets the scene:
//!
//! | bits | meaning |
//! |---|---|
//! | 0-1 | 0: V and A on their own public addresses; 1: both behind one NAT address (V keeps ports 500/4500, A gets others); 2: V direct, A behind its own NAT; 3: V behind a NAT, A direct |
//! | 2, 3 | V's, A's suite: [`INITIATOR_SUITES`] index |
//! | 4-5 | A's NAT ports: (1024, 1025), (500, 4501) (V's idle port 500 once V floated), (40000, 40001), (65000, 65001) |
//! | 6, 7 | V, A propose PFS |
//!
//! Then operations, one byte each plus their parameters, until the input ends or
//! [`MAX_OPS`] ran (`op & 15`):
//!
//! | op | action |
//! |---|---|
//! | 0 | A: Informational with one Delete (protocol, SPIs from the choices below, optional raw count) |
//! | 1 | A: Informational with one notify (type, protocol, SPI, data) |
//! | 2 | A: Informational with 1-3 Deletes / notifies |
//! | 3 | A: Quick Mode for ACL line 0 (its own net), 1 (V's net) or 2 (10.0.0.0/8) |
//! | 4 | A: rekey one of its pairs |
//! | 5 | A: delete one of its pairs, or its ISAKMP SA |
//! | 6 | replay one of V's datagrams to R from A's address (A's 500 or 4500 mapping) |
//! | 7 | replay one of A's own datagrams |
//! | 8 | time: `u8` seconds (or tens of milliseconds), every deadline on the way handled in order |
//! | 9 | time: R's next deadline |
//! | 10 | A reboots (a fresh endpoint, a new NAT mapping) and connects again (at most 3) |
//! | 11 | A: Informational with 1-3 raw payloads (type, length, body) |
//! | 12 | A: Quick Mode message with 1-4 raw payloads behind HASH(1) |
//! | 13 | A: Informational protected with A's keys but carrying V's cookies |
//! | 14 | V rekeys its newest pair (legitimate, at most 2) |
//! | 15 | A: R-U-THERE or R-U-THERE-ACK with a chosen sequence number |
//!
//! Ops 3, 4 and 12 together run at most 24 times per input (see `MAX_A_QUICK_MODES`).
//!
//! SPI choices: V's inbound or outbound SPI (of any of its pairs), A's, random, zero; ISAKMP
//! SPIs: V's cookies, A's, mixtures, random. Message IDs: fresh, A's last, one of V's, random.
//!
//! # Oracle
//!
//! After V's setup, after A's, and after every operation: V's ISAKMP SA at R is still in
//! QM_IDLE on the same path; every IPsec SA pair V negotiated is still installed at R, on the
//! path it was installed with; every pair R holds on V's ISAKMP SA is one V negotiated; R's state
//! stays within bounds (half-open limit, Quick Modes and buffered bytes per SA, datagrams per
//! operation), and `handle_timeout` leaves no deadline in the past. Time advances stop at
//! [`MAX_ELAPSED`], before any lifetime of V's SAs would legitimately end them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::config::{EndpointConfig, PeerConfig, PeerId, SelectorPair};
use super::endpoint::Endpoint;
use super::event::{ChildId, Event, IkeSaId, Path};
use super::fuzzing::{peer_config, Suite, RESPONDER_ADDR, START};
use crate::crypto::dh::FUZZ_GROUP_ID;
use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::{DpdConfig, DpdMode};
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{
    DeleteSpec, ExchangeType, MessageBuilder, NotifySpec, NotifyType, PayloadType, ProtocolId,
    WireError,
};

/// The wildcard key every peer knows.
pub const WILDCARD_PSK: &[u8] = b"fuzz-wildcard-key";
/// Operations one input may run: enough for any attack sequence seen so far (the longest seed
/// has 17), few enough that a long input does not cost a run several times the average.
pub const MAX_OPS: usize = 32;
/// Virtual time one input may let pass: V's pairs (3600 s, rekeyed 30 s before the end) and
/// ISAKMP SA (86 400 s) outlive it, while retransmission give-ups, Quick Mode linger, half-open
/// expiry and ten DPD rounds fit in.
pub const MAX_ELAPSED: Duration = Duration::from_secs(1200);
/// R's half-open limit.
pub const HALF_OPEN_LIMIT: usize = 16;
/// What V and A propose (one each, chosen by the input). AES only: 3DES costs more than the
/// rest of a run under fuzzing instrumentation, and its Phase 1 and ESP code gets fuzzed by
/// `ike_responder` and `ike_endpoint`.
pub const INITIATOR_SUITES: [Suite; 2] = [Suite::Aes128Sha1Fuzz64, Suite::Aes256Sha256Fuzz64];

const R_SEED: u64 = 0x0057_17ca_1d00;
const V_SEED: u64 = 0x0057_17ca_1d01;
const A_SEED: u64 = 0x0057_17ca_1d02;
/// Datagrams one operation may cause in all (requests, answers, timers, DPD).
const MAX_DATAGRAMS_PER_OP: usize = 512;
const MAX_RECORDED: usize = 48;
const MAX_REBOOTS: usize = 3;
const MAX_V_REKEYS: usize = 2;
/// Quick Modes A may start per input (ops 3, 4 and 12). The gateway keeps a finished Quick Mode
/// for the linger time and every pair until it expires, so an authenticated peer that rekeys
/// back to back grows both by one per exchange; that rate is its own finding (no per-peer cap),
/// and this keeps it from drowning the bounds below, which look for growth that A's requests do
/// not explain.
const MAX_A_QUICK_MODES: usize = 24;
const MAX_QMS_PER_SA: usize = 64;
const MAX_BUFFERED_BYTES_PER_SA: usize = 64 * 1024;

const V_NET: [u8; 4] = [10, 1, 1, 0];
const A_NET: [u8; 4] = [10, 2, 2, 0];
const R_NET: [u8; 4] = [192, 168, 2, 0];

const A_NAT_PORTS: [(u16, u16); 4] = [(1024, 1025), (500, 4501), (40000, 40001), (65000, 65001)];

/// What one run did, for the corpus test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WildcardOutcome {
    /// A's tunnel came up after V's.
    pub attacker_up: bool,
    /// Operations run.
    pub ops: usize,
    /// Protected messages A sent on the harness's behalf.
    pub crafted: usize,
    /// Datagrams of V replayed from A's address.
    pub replays: usize,
    /// IPsec SA pairs V holds at the end.
    pub victim_pairs: usize,
    /// IPsec SA pairs R removed (A's, on A's requests, or expired).
    pub responder_pair_deletes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    V,
    A,
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn next(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn u8(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h.to_vec()
    }
}

/// One honest initiator and what the harness knows about it from its own events.
struct Party {
    ep: Endpoint,
    config: EndpointConfig,
    private: Ipv4Addr,
    public: Ipv4Addr,
    nat: bool,
    /// Preferred public ports for local ports 500 and 4500 behind the NAT.
    ports: (u16, u16),
    /// Its newest established ISAKMP SA.
    sa: Option<IkeSaId>,
    /// (spi_in, spi_out) of every pair it negotiated.
    pairs: Vec<(u32, u32)>,
    /// Its pairs still up (for rekey and delete commands).
    children: Vec<(ChildId, u32, u32)>,
    /// ISAKMP datagrams it sent to R, without the non-ESP marker.
    sent: Vec<Vec<u8>>,
}

impl Party {
    fn record(&mut self, bytes: &[u8]) {
        if bytes.len() < 28 {
            return;
        }
        if self.sent.len() >= MAX_RECORDED {
            self.sent.remove(0);
        }
        self.sent.push(bytes.to_vec());
    }

    /// Message IDs of its Quick Mode and Informational datagrams, newest last.
    fn mids(&self) -> impl Iterator<Item = u32> + '_ {
        self.sent.iter().filter_map(|d| {
            let m = u32::from_be_bytes(d.get(20..24)?.try_into().ok()?);
            (d.get(18) != Some(&2) && m != 0).then_some(m)
        })
    }

    fn cookies(&self) -> ([u8; 8], [u8; 8]) {
        self.sa
            .and_then(|s| self.ep.fuzz_cookies(s))
            .unwrap_or(([0; 8], [0; 8]))
    }
}

/// A NAT mapping: who, its local port, the public port.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    who: Who,
    local: u16,
    public: SocketAddr,
}

/// Payloads of a crafted message, owned so they can be built before A's endpoint is borrowed.
#[derive(Clone, Debug)]
enum Pl {
    Delete {
        protocol: u8,
        spi_size: u8,
        /// A count that need not match the SPIs (raw body).
        count: Option<u16>,
        spis: Vec<u8>,
    },
    Notify {
        protocol: u8,
        ty: u16,
        spi: Vec<u8>,
        data: Vec<u8>,
    },
    Raw {
        ty: u8,
        body: Vec<u8>,
    },
}

fn write_payloads(b: &mut MessageBuilder<'_>, pls: &[Pl]) -> Result<(), WireError> {
    for p in pls {
        match p {
            Pl::Delete {
                protocol,
                spi_size,
                count: None,
                spis,
            } => {
                b.add_delete(&DeleteSpec {
                    doi: 1,
                    protocol: ProtocolId(*protocol),
                    spi_size: *spi_size,
                    spis,
                })?;
            }
            Pl::Delete {
                protocol,
                spi_size,
                count: Some(n),
                spis,
            } => {
                let mut body = vec![0, 0, 0, 1, *protocol, *spi_size];
                body.extend_from_slice(&n.to_be_bytes());
                body.extend_from_slice(spis);
                b.add_raw(PayloadType::DELETE, &body)?;
            }
            Pl::Notify {
                protocol,
                ty,
                spi,
                data,
            } => {
                b.add_notify(&NotifySpec {
                    doi: 1,
                    protocol: ProtocolId(*protocol),
                    notify_type: NotifyType(*ty),
                    spi,
                    data,
                })?;
            }
            Pl::Raw { ty, body } => {
                b.add_raw(PayloadType(*ty), body)?;
            }
        }
    }
    Ok(())
}

fn net(a: [u8; 4], mask: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::from(mask))
}

const MASK24: [u8; 4] = [255, 255, 255, 0];

/// R's configuration: one wildcard entry offering every fuzzing-group suite; periodic DPD and NAT
/// keepalives (every 120 s and 60 s: every round costs encrypted messages and a timer pass on
/// three endpoints, the bulk of a long wait), a small half-open limit.
pub fn gateway_config() -> EndpointConfig {
    let mut w = peer_config(
        Ipv4Addr::UNSPECIFIED,
        RESPONDER_ADDR,
        WILDCARD_PSK,
        &[
            Suite::TripleDesSha1Fuzz64,
            Suite::Aes256Sha256Fuzz64,
            Suite::Aes128Sha1Fuzz64,
        ],
        R_NET,
        [10, 0, 0, 0],
    );
    w.selectors = vec![SelectorPair {
        local: net(R_NET, MASK24),
        remote: net([10, 0, 0, 0], [255, 0, 0, 0]),
    }];
    EndpointConfig {
        peers: vec![w],
        half_open_limit: HALF_OPEN_LIMIT,
        nat_keepalive: Some(Duration::from_secs(60)),
        dpd: Some(DpdConfig {
            interval_secs: 120,
            retry_secs: 5,
            mode: DpdMode::Periodic,
        }),
        ..EndpointConfig::default()
    }
}

/// An initiator's configuration towards R: `suite`, optional PFS, ACL lines `lines` (its side
/// first), on-demand DPD and NAT keepalives (60 s).
fn initiator_config(
    local: Ipv4Addr,
    suite: Suite,
    pfs: bool,
    lines: &[TrafficSelector],
) -> EndpointConfig {
    let mut p: PeerConfig =
        peer_config(RESPONDER_ADDR, local, WILDCARD_PSK, &[suite], A_NET, R_NET);
    p.selectors = lines
        .iter()
        .map(|l| SelectorPair {
            local: *l,
            remote: net(R_NET, MASK24),
        })
        .collect();
    p.pfs_group = pfs.then_some(FUZZ_GROUP_ID);
    EndpointConfig {
        peers: vec![p],
        nat_keepalive: Some(Duration::from_secs(60)),
        dpd: Some(DpdConfig {
            interval_secs: 30,
            retry_secs: 5,
            mode: DpdMode::OnDemand,
        }),
        ..EndpointConfig::default()
    }
}

/// R's view of one of V's pairs: (R's spi_in, R's spi_out).
type RPair = (u32, u32);

struct World {
    r: Endpoint,
    v: Party,
    a: Party,
    maps: Vec<Mapping>,
    now: Instant,
    buf: Vec<u8>,
    /// R's conn-id of V's ISAKMP SA and its path there.
    v_sa: Option<(IkeSaId, Path)>,
    /// Paths of V's pairs at R when first seen.
    v_pair_paths: Vec<((u32, u32), Path)>,
    /// Pairs R reported on V's ISAKMP SA.
    r_pairs_on_v: Vec<RPair>,
    /// Whose setup is running (R's new ISAKMP SAs belong to it).
    setting_up: Option<Who>,
    datagrams: usize,
    reboots: usize,
    v_rekeys: usize,
    a_quick_modes: usize,
    out: WildcardOutcome,
}

impl World {
    fn new(setup: u8) -> World {
        let topology = setup & 3;
        let v_suite = INITIATOR_SUITES[usize::from((setup >> 2) & 1)];
        let a_suite = INITIATOR_SUITES[usize::from((setup >> 3) & 1)];
        let a_ports = A_NAT_PORTS[usize::from((setup >> 4) & 3)];
        let (v_pfs, a_pfs) = (setup & 0x40 != 0, setup & 0x80 != 0);
        // (private, public, behind a NAT)
        let (v_addr, a_addr) = match topology {
            0 => (
                (
                    Ipv4Addr::new(198, 51, 100, 10),
                    Ipv4Addr::new(198, 51, 100, 10),
                    false,
                ),
                (
                    Ipv4Addr::new(198, 51, 100, 20),
                    Ipv4Addr::new(198, 51, 100, 20),
                    false,
                ),
            ),
            1 => (
                (
                    Ipv4Addr::new(172, 16, 0, 10),
                    Ipv4Addr::new(198, 51, 100, 99),
                    true,
                ),
                (
                    Ipv4Addr::new(172, 16, 0, 20),
                    Ipv4Addr::new(198, 51, 100, 99),
                    true,
                ),
            ),
            2 => (
                (
                    Ipv4Addr::new(198, 51, 100, 10),
                    Ipv4Addr::new(198, 51, 100, 10),
                    false,
                ),
                (
                    Ipv4Addr::new(172, 16, 0, 20),
                    Ipv4Addr::new(198, 51, 100, 77),
                    true,
                ),
            ),
            _ => (
                (
                    Ipv4Addr::new(172, 16, 0, 10),
                    Ipv4Addr::new(198, 51, 100, 88),
                    true,
                ),
                (
                    Ipv4Addr::new(198, 51, 100, 20),
                    Ipv4Addr::new(198, 51, 100, 20),
                    false,
                ),
            ),
        };
        let v_config = initiator_config(v_addr.0, v_suite, v_pfs, &[net(V_NET, MASK24)]);
        let a_config = initiator_config(
            a_addr.0,
            a_suite,
            a_pfs,
            &[
                net(A_NET, MASK24),
                net(V_NET, MASK24),
                net([10, 0, 0, 0], [255, 0, 0, 0]),
            ],
        );
        let party =
            |config: EndpointConfig, seed: u64, addr: (Ipv4Addr, Ipv4Addr, bool), ports| Party {
                ep: Endpoint::new(config.clone(), Rng::from_u64(seed)),
                config,
                private: addr.0,
                public: addr.1,
                nat: addr.2,
                ports,
                sa: None,
                pairs: Vec::new(),
                children: Vec::new(),
                sent: Vec::new(),
            };
        World {
            r: Endpoint::new(gateway_config(), Rng::from_u64(R_SEED)),
            v: party(v_config, V_SEED, v_addr, (500, 4500)),
            a: party(a_config, A_SEED, a_addr, a_ports),
            maps: Vec::new(),
            now: START,
            // Larger than any message the endpoint builds (8 KiB); zeroing 64 KiB per run showed
            // in the profile.
            buf: vec![0u8; 16384],
            v_sa: None,
            v_pair_paths: Vec::new(),
            r_pairs_on_v: Vec::new(),
            setting_up: None,
            datagrams: 0,
            reboots: 0,
            v_rekeys: 0,
            a_quick_modes: 0,
            out: WildcardOutcome::default(),
        }
    }

    fn party(&mut self, who: Who) -> &mut Party {
        match who {
            Who::V => &mut self.v,
            Who::A => &mut self.a,
        }
    }

    /// The public address of `who`'s local port: its own without NAT, else its mapping (a new
    /// one on the preferred port when free, else the next free port from 30000).
    fn public(&mut self, who: Who, local: u16) -> SocketAddr {
        let p = self.party(who);
        let (ip, nat, ports) = (p.public, p.nat, p.ports);
        if !nat {
            return SocketAddr::new(IpAddr::V4(ip), local);
        }
        if let Some(m) = self.maps.iter().find(|m| m.who == who && m.local == local) {
            return m.public;
        }
        let taken = |port: u16, maps: &[Mapping]| {
            maps.iter()
                .any(|m| m.public == SocketAddr::new(IpAddr::V4(ip), port))
        };
        let preferred = if local == 500 { ports.0 } else { ports.1 };
        let mut port = preferred;
        if taken(port, &self.maps) {
            port = 30000;
            while taken(port, &self.maps) {
                port += 1;
            }
        }
        let public = SocketAddr::new(IpAddr::V4(ip), port);
        self.maps.push(Mapping { who, local, public });
        public
    }

    /// Once V floated to 4500, its NAT mapping for port 500 idles out and the NAT may hand that
    /// public port to A.
    fn expire_idle_mapping(&mut self) {
        let Some((_, v_path)) = self.v_sa else { return };
        self.maps
            .retain(|m| !(m.who == Who::V && m.local == 500 && m.public != v_path.remote));
    }

    /// Who receives a datagram R sends to `remote`, on which local port.
    fn behind(&self, remote: SocketAddr) -> Option<(Who, u16)> {
        if let Some(m) = self.maps.iter().rev().find(|m| m.public == remote) {
            return Some((m.who, m.local));
        }
        [(Who::V, &self.v), (Who::A, &self.a)]
            .into_iter()
            .find(|(_, p)| !p.nat && remote.ip() == IpAddr::V4(p.private))
            .map(|(w, _)| (w, remote.port()))
    }

    /// Delivers `bytes` to R as coming from `from` on R's port `r_port`.
    fn deliver_to_r(&mut self, from: SocketAddr, r_port: u16, bytes: &[u8]) {
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(RESPONDER_ADDR), r_port),
            remote: from,
        };
        let mut d = Vec::with_capacity(bytes.len() + 4);
        if r_port != 500 && from.port() != 500 && bytes != [0xff] {
            d.extend_from_slice(&[0, 0, 0, 0]);
        }
        d.extend_from_slice(bytes);
        let _ = self.r.handle_datagram(self.now, path, &d);
        self.count_datagram();
    }

    fn count_datagram(&mut self) {
        self.datagrams += 1;
        assert!(
            self.datagrams <= MAX_DATAGRAMS_PER_OP,
            "more than {MAX_DATAGRAMS_PER_OP} datagrams for one operation: a message loop"
        );
    }

    /// Delivers everything queued, both ways, until all three are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for who in [Who::V, Who::A] {
                loop {
                    let now = self.now;
                    let mut buf = std::mem::take(&mut self.buf);
                    let t = match self.party(who).ep.poll_transmit(now, &mut buf) {
                        Ok(Some(t)) => t,
                        Ok(None) => {
                            self.buf = buf;
                            break;
                        }
                        Err(e) => panic!("transmit larger than 16 KiB: {e}"),
                    };
                    let bytes = buf.get(..t.len).unwrap_or(&[]).to_vec();
                    self.buf = buf;
                    self.party(who).record(&bytes);
                    let from = self.public(who, t.path.local.port());
                    self.deliver_to_r(from, t.path.remote.port(), &bytes);
                    moved = true;
                }
            }
            loop {
                let t = match self.r.poll_transmit(self.now, &mut self.buf) {
                    Ok(Some(t)) => t,
                    Ok(None) => break,
                    Err(e) => panic!("transmit larger than 16 KiB: {e}"),
                };
                moved = true;
                let bytes = self.buf.get(..t.len).unwrap_or(&[]).to_vec();
                self.count_datagram();
                let Some((who, local)) = self.behind(t.path.remote) else {
                    continue;
                };
                let now = self.now;
                let p = self.party(who);
                let path = Path {
                    local: SocketAddr::new(IpAddr::V4(p.private), local),
                    remote: SocketAddr::new(IpAddr::V4(RESPONDER_ADDR), t.path.local.port()),
                };
                let mut d = Vec::with_capacity(bytes.len() + 4);
                if t.non_esp_marker {
                    d.extend_from_slice(&[0, 0, 0, 0]);
                }
                d.extend_from_slice(&bytes);
                let _ = p.ep.handle_datagram(now, path, &d);
            }
            self.events();
            if !moved {
                return;
            }
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.r.poll_event() {
            match e {
                Event::Phase1Established { sa, path, .. }
                    if self.setting_up == Some(Who::V) && self.v_sa.is_none() =>
                {
                    self.v_sa = Some((sa, path));
                }
                Event::Phase2Established(est)
                    if self.v_sa.is_some_and(|(s, _)| s == est.ike_sa) =>
                {
                    self.r_pairs_on_v
                        .push((est.keys.inbound.spi(), est.keys.outbound.spi()));
                }
                Event::Phase2Deleted { .. } => self.out.responder_pair_deletes += 1,
                _ => {}
            }
        }
        for who in [Who::V, Who::A] {
            let p = self.party(who);
            while let Some(e) = p.ep.poll_event() {
                match e {
                    Event::Phase1Established { sa, .. } => p.sa = Some(sa),
                    Event::Phase1Deleted { sa, .. } if p.sa == Some(sa) => p.sa = None,
                    Event::Phase2Established(est) => {
                        let (i, o) = (est.keys.inbound.spi(), est.keys.outbound.spi());
                        p.pairs.push((i, o));
                        p.children.push((est.child, i, o));
                    }
                    Event::Phase2Deleted { child, .. } => p.children.retain(|c| c.0 != child),
                    _ => {}
                }
            }
        }
    }

    /// The oracle.
    fn check(&mut self, when: &str) {
        let now = self.now;
        let Some((v_sa, v_path)) = self.v_sa else {
            return;
        };
        let sas = self.r.isakmp_sas(now);
        let Some(s) = sas.iter().find(|s| s.conn_id == v_sa.0) else {
            panic!("{when}: V's ISAKMP SA {} is gone at the gateway", v_sa.0);
        };
        assert_eq!(
            s.state,
            crate::ike::IsakmpState::QmIdle,
            "{when}: V's ISAKMP SA {} left QM_IDLE",
            v_sa.0
        );
        assert_eq!(
            s.path, v_path,
            "{when}: V's ISAKMP SA {} moved at the gateway",
            v_sa.0
        );
        let ipsec = self.r.ipsec_sas(now);
        for &(v_in, v_out) in &self.v.pairs {
            let Some(c) = ipsec
                .iter()
                .find(|c| c.spi_out == v_in && c.spi_in == v_out)
            else {
                panic!(
                    "{when}: V's IPsec SA pair (gateway in {v_out:08x}, out {v_in:08x}) is gone at the gateway"
                );
            };
            match self.v_pair_paths.iter().find(|(k, _)| *k == (v_in, v_out)) {
                Some((_, p)) => assert_eq!(
                    c.path, *p,
                    "{when}: V's IPsec SA pair (gateway in {v_out:08x}) moved at the gateway"
                ),
                None => self.v_pair_paths.push(((v_in, v_out), c.path)),
            }
        }
        for &(r_in, r_out) in &self.r_pairs_on_v {
            assert!(
                self.v.pairs.contains(&(r_out, r_in)),
                "{when}: the gateway installed a pair (in {r_in:08x}) on V's ISAKMP SA that V never negotiated"
            );
        }
        let u = self.r.resource_usage();
        assert!(u.half_open <= HALF_OPEN_LIMIT, "{when}: {u:?}");
        assert!(u.max_qms_per_sa <= MAX_QMS_PER_SA, "{when}: {u:?}");
        assert!(u.max_pending_per_sa <= MAX_QMS_PER_SA, "{when}: {u:?}");
        assert!(
            u.max_buffered_bytes_per_sa <= MAX_BUFFERED_BYTES_PER_SA,
            "{when}: {u:?}"
        );
    }

    /// `handle_timeout` on everyone whose deadline has come, then the network.
    fn timers(&mut self) {
        let now = self.now;
        if self.r.poll_timeout().is_some_and(|t| t <= now) {
            self.r.handle_timeout(now);
            let after = self.r.poll_timeout();
            assert!(
                after.is_none_or(|t| t > now),
                "poll_timeout {after:?} not after now {now:?} following handle_timeout"
            );
        }
        for who in [Who::V, Who::A] {
            let p = self.party(who);
            if p.ep.poll_timeout().is_some_and(|t| t <= now) {
                p.ep.handle_timeout(now);
            }
        }
        self.pump();
    }

    /// Lets time pass up to `target` (at most [`MAX_ELAPSED`] after the start), stopping at
    /// every deadline on the way as an event loop would.
    fn advance_to(&mut self, target: Instant) {
        let end = START + MAX_ELAPSED;
        let target = target.min(end);
        for _ in 0..256 {
            let next = [
                self.r.poll_timeout(),
                self.v.ep.poll_timeout(),
                self.a.ep.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.timers();
                    // Per step, not per operation: a long wait legitimately carries many DPD
                    // rounds and keepalives.
                    self.datagrams = 0;
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
        self.timers();
    }

    fn setup(&mut self, who: Who) -> bool {
        if who == Who::A {
            self.expire_idle_mapping();
        }
        self.setting_up = Some(who);
        let now = self.now;
        let _ = self.party(who).ep.initiate(now, PeerId(0), 0);
        self.pump();
        self.setting_up = None;
        let p = self.party(who);
        p.sa.is_some() && !p.children.is_empty()
    }

    fn esp_spi(&self, r: &mut Reader<'_>) -> [u8; 4] {
        let sel = r.u8();
        let pick = |p: &Party, inbound: bool| {
            let n = p.pairs.len().max(1);
            p.pairs
                .get(usize::from(sel >> 3) % n)
                .map_or(0, |&(i, o)| if inbound { i } else { o })
        };
        let spi = match sel % 6 {
            0 => pick(&self.v, true),
            1 => pick(&self.v, false),
            2 => pick(&self.a, true),
            3 => pick(&self.a, false),
            4 => r.u32(),
            _ => 0,
        };
        spi.to_be_bytes()
    }

    fn isakmp_spi(&self, r: &mut Reader<'_>) -> Vec<u8> {
        let (vi, vr) = self.v.cookies();
        let (ai, ar) = self.a.cookies();
        let two = |a: [u8; 8], b: [u8; 8]| {
            let mut v = a.to_vec();
            v.extend_from_slice(&b);
            v
        };
        match r.u8() % 5 {
            0 => two(vi, vr),
            1 => two(ai, ar),
            2 => two(ai, vr),
            3 => two(vi, ar),
            _ => r.bytes(16),
        }
    }

    fn delete_payload(&self, r: &mut Reader<'_>) -> Pl {
        let d = r.u8();
        let protocol = match d & 3 {
            0 => ProtocolId::ISAKMP.0,
            1 => ProtocolId::ESP.0,
            2 => ProtocolId::AH.0,
            _ => r.u8(),
        };
        let n = 1 + usize::from((d >> 2) & 3);
        let mut spis = Vec::new();
        for _ in 0..n {
            if protocol == ProtocolId::ISAKMP.0 {
                spis.extend_from_slice(&self.isakmp_spi(r));
            } else {
                spis.extend_from_slice(&self.esp_spi(r));
            }
        }
        let natural = if protocol == ProtocolId::ISAKMP.0 {
            16
        } else {
            4
        };
        if d & 0x80 != 0 {
            Pl::Delete {
                protocol,
                spi_size: r.u8(),
                count: Some(r.u16()),
                spis,
            }
        } else {
            Pl::Delete {
                protocol,
                spi_size: natural,
                count: None,
                spis,
            }
        }
    }

    fn notify_payload(&self, r: &mut Reader<'_>) -> Pl {
        const TYPES: [NotifyType; 9] = [
            NotifyType::INITIAL_CONTACT,
            NotifyType::R_U_THERE,
            NotifyType::R_U_THERE_ACK,
            NotifyType::INVALID_SPI,
            NotifyType::NO_PROPOSAL_CHOSEN,
            NotifyType::RESPONDER_LIFETIME,
            NotifyType::CONNECTED,
            NotifyType::INVALID_ID_INFORMATION,
            NotifyType::REPLAY_STATUS,
        ];
        let t = r.u8();
        let ty = match TYPES.get(usize::from((t & 0x7f) % 10)) {
            Some(n) => n.0,
            None => r.u16(),
        };
        let protocol = if t & 0x80 != 0 {
            ProtocolId::ESP.0
        } else {
            ProtocolId::ISAKMP.0
        };
        let s = r.u8();
        let spi = match s & 3 {
            0 => Vec::new(),
            1 => self.isakmp_spi(r),
            2 => self.esp_spi(r).to_vec(),
            _ => r.bytes(usize::from(s >> 2)),
        };
        let data = match (s >> 6) & 3 {
            0 => Vec::new(),
            1 | 2 => r.u32().to_be_bytes().to_vec(),
            _ => {
                let n = usize::from(r.u8() & 31);
                r.bytes(n)
            }
        };
        Pl::Notify {
            protocol,
            ty,
            spi,
            data,
        }
    }

    fn raw_payloads(&self, r: &mut Reader<'_>, max: u8) -> Vec<Pl> {
        let n = 1 + r.u8() % max;
        (0..n)
            .map(|_| {
                let ty = r.u8();
                let len = usize::from(r.u8() & 63);
                Pl::Raw {
                    ty,
                    body: r.bytes(len),
                }
            })
            .collect()
    }

    fn mid(&self, r: &mut Reader<'_>) -> Option<u32> {
        let b = r.u8();
        match b & 3 {
            0 => None,
            1 => self.a.mids().last(),
            2 => {
                let v: Vec<u32> = self.v.mids().collect();
                v.get(usize::from(b >> 2) % v.len().max(1)).copied()
            }
            _ => Some(r.u32()),
        }
    }

    /// A sends `pls` in a protected message over its ISAKMP SA.
    fn craft(
        &mut self,
        exchange: ExchangeType,
        mid: Option<u32>,
        cookies: Option<([u8; 8], [u8; 8])>,
        pls: &[Pl],
    ) {
        let Some(sa) = self.a.sa else { return };
        let sent = self
            .a
            .ep
            .fuzz_send_protected(sa, exchange, mid, cookies, |b| write_payloads(b, pls));
        if sent.is_some() {
            self.out.crafted += 1;
        }
        self.pump();
    }

    fn reboot_attacker(&mut self) {
        self.reboots += 1;
        let seed = A_SEED.wrapping_add(self.reboots as u64);
        self.a.ep = Endpoint::new(self.a.config.clone(), Rng::from_u64(seed));
        self.a.sa = None;
        self.a.pairs.clear();
        self.a.children.clear();
        // A new NAT mapping after the reboot (the old one idles out).
        self.maps.retain(|m| m.who != Who::A);
        if self.a.nat {
            self.a.ports.0 = self.a.ports.0.wrapping_add(2);
            self.a.ports.1 = self.a.ports.1.wrapping_add(2);
        }
        self.setup(Who::A);
    }

    fn op(&mut self, r: &mut Reader<'_>, op: u8) {
        let kind = op & 15;
        if matches!(kind, 3 | 4 | 12) {
            if self.a_quick_modes >= MAX_A_QUICK_MODES {
                return;
            }
            self.a_quick_modes += 1;
        }
        match kind {
            0 => {
                let mid = self.mid(r);
                let p = self.delete_payload(r);
                self.craft(ExchangeType::INFORMATIONAL, mid, None, &[p]);
            }
            1 => {
                let mid = self.mid(r);
                let p = self.notify_payload(r);
                self.craft(ExchangeType::INFORMATIONAL, mid, None, &[p]);
            }
            2 => {
                let mid = self.mid(r);
                let n = 1 + r.u8() % 3;
                let pls: Vec<Pl> = (0..n)
                    .map(|_| {
                        if r.u8() & 1 == 0 {
                            self.delete_payload(r)
                        } else {
                            self.notify_payload(r)
                        }
                    })
                    .collect();
                self.craft(ExchangeType::INFORMATIONAL, mid, None, &pls);
            }
            3 => {
                let line = usize::from(r.u8() % 3);
                let now = self.now;
                let _ = self.a.ep.initiate(now, PeerId(0), line);
                self.pump();
            }
            4 => {
                let i = usize::from(r.u8());
                if let Some(&(c, _, _)) = self.a.children.get(i % self.a.children.len().max(1)) {
                    let now = self.now;
                    let _ = self.a.ep.rekey_child(now, c);
                    self.pump();
                }
            }
            5 => {
                let i = r.u8();
                let now = self.now;
                if i & 1 == 0 {
                    let n = self.a.children.len().max(1);
                    if let Some(&(c, _, _)) = self.a.children.get(usize::from(i >> 1) % n) {
                        let _ = self.a.ep.delete_child(now, c);
                    }
                } else if let Some(sa) = self.a.sa {
                    let _ = self.a.ep.delete_isakmp_sa(now, sa);
                }
                self.pump();
            }
            6 => {
                let i = usize::from(r.u8());
                let port = if op & 0x10 != 0 { 4500 } else { 500 };
                if let Some(d) = self.v.sent.get(i % self.v.sent.len().max(1)).cloned() {
                    let from = self.public(Who::A, port);
                    self.deliver_to_r(from, port, &d);
                    self.out.replays += 1;
                    self.pump();
                }
            }
            7 => {
                let i = usize::from(r.u8());
                let port = if op & 0x10 != 0 { 4500 } else { 500 };
                if let Some(d) = self.a.sent.get(i % self.a.sent.len().max(1)).cloned() {
                    let from = self.public(Who::A, port);
                    self.deliver_to_r(from, port, &d);
                    self.pump();
                }
            }
            8 => {
                let v = u64::from(r.u8());
                let d = if op & 0x10 != 0 {
                    Duration::from_millis(v * 10)
                } else {
                    Duration::from_secs(v)
                };
                self.advance_to(self.now + d);
            }
            9 => {
                if let Some(t) = self.r.poll_timeout() {
                    self.advance_to(t);
                }
            }
            10 => {
                if self.reboots < MAX_REBOOTS {
                    self.reboot_attacker();
                }
            }
            11 => {
                let mid = self.mid(r);
                let pls = self.raw_payloads(r, 3);
                self.craft(ExchangeType::INFORMATIONAL, mid, None, &pls);
            }
            12 => {
                let mid = self.mid(r);
                let pls = self.raw_payloads(r, 4);
                self.craft(ExchangeType::QUICK_MODE, mid, None, &pls);
            }
            13 => {
                let mid = self.mid(r);
                let p = if r.u8() & 1 == 0 {
                    self.delete_payload(r)
                } else {
                    self.notify_payload(r)
                };
                let cookies = self.v.cookies();
                self.craft(ExchangeType::INFORMATIONAL, mid, Some(cookies), &[p]);
            }
            14 => {
                if self.v_rekeys < MAX_V_REKEYS {
                    if let Some(&(c, _, _)) = self.v.children.last() {
                        self.v_rekeys += 1;
                        let now = self.now;
                        let _ = self.v.ep.rekey_child(now, c);
                        self.pump();
                    }
                }
            }
            _ => {
                let mid = self.mid(r);
                let ty = if op & 0x10 != 0 {
                    NotifyType::R_U_THERE_ACK
                } else {
                    NotifyType::R_U_THERE
                };
                let (ai, ar) = self.a.cookies();
                let mut spi = ai.to_vec();
                spi.extend_from_slice(&ar);
                let seq = r.u32();
                let p = Pl::Notify {
                    protocol: ProtocolId::ISAKMP.0,
                    ty: ty.0,
                    spi,
                    data: seq.to_be_bytes().to_vec(),
                };
                self.craft(ExchangeType::INFORMATIONAL, mid, None, &[p]);
            }
        }
    }
}

/// Runs one input (see the module documentation). Panics when the oracle breaks.
pub fn run(data: &[u8]) -> WildcardOutcome {
    let mut r = Reader(data);
    let mut w = World::new(r.u8());
    assert!(
        w.setup(Who::V),
        "V's tunnel did not come up: {:?}",
        w.r.counters()
    );
    assert!(w.v_sa.is_some(), "the gateway reported no ISAKMP SA for V");
    w.check("after V's setup");
    w.datagrams = 0;
    w.out.attacker_up = w.setup(Who::A);
    w.check("after A's setup");
    while let Some(op) = r.next() {
        if w.out.ops >= MAX_OPS {
            break;
        }
        w.out.ops += 1;
        w.datagrams = 0;
        w.op(&mut r, op);
        let when = format!("after operation {} ({op:#04x})", w.out.ops);
        w.check(&when);
    }
    w.out.victim_pairs = w.v.pairs.len();
    w.out
}

/// The fuzz target: [`run`] without the outcome.
pub fn wildcard_peers(data: &[u8]) {
    let _ = run(data);
}
