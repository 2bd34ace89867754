//! In-memory pair harness (quinn-style): two endpoints, virtual time, latency, seeded loss,
//! duplication, reordering, and an optional NAT in front of side A.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipsec_proto::ike::{Endpoint, EndpointConfig, Event, PeerConfig, PeerId, SelectorPair};
use ipsec_proto::policy::acl::TrafficSelector;
use ipsec_proto::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use ipsec_proto::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

pub const A_PRIV: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const NAT_PUB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
pub const B_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

pub fn policy(priority: u16, enc: IkeEncryption, hash: IkeHash, group: u16) -> IsakmpPolicy {
    IsakmpPolicy {
        priority,
        encryption: enc,
        hash,
        authentication: IkeAuth::PreShare,
        group,
        lifetime_secs: 86_400,
    }
}

pub fn tset(name: &str, enc: EspEncryption, integ: EspIntegrity) -> TransformSet {
    TransformSet {
        name: name.into(),
        esp_encryption: enc,
        esp_integrity: integ,
        mode: EspMode::Tunnel,
    }
}

pub fn net(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::new(255, 255, 255, 0))
}

/// The seed's R1/R2: 3DES/SHA/PSK/group 2, esp-3des esp-sha-hmac, 192.168.1.0/24 <-> 192.168.2.0/24.
pub fn seed_peer(peer_addr: Ipv4Addr, psk: &str, local: [u8; 4], remote: [u8; 4]) -> PeerConfig {
    let mut p = PeerConfig::new(peer_addr, PskSecret::new(psk.as_bytes()));
    p.isakmp_policies = vec![policy(1, IkeEncryption::TripleDes, IkeHash::Sha1, 2)];
    p.transform_sets = vec![tset(
        "TRANSFORM",
        EspEncryption::TripleDes,
        EspIntegrity::Sha1,
    )];
    p.selectors = vec![SelectorPair {
        local: net(local),
        remote: net(remote),
    }];
    p
}

pub fn seed_configs() -> (EndpointConfig, EndpointConfig) {
    let a = EndpointConfig {
        peers: vec![seed_peer(
            B_ADDR,
            "ciscokey",
            [192, 168, 1, 0],
            [192, 168, 2, 0],
        )],
        ..EndpointConfig::default()
    };
    let b = EndpointConfig {
        peers: vec![seed_peer(
            A_PRIV,
            "ciscokey",
            [192, 168, 2, 0],
            [192, 168, 1, 0],
        )],
        ..EndpointConfig::default()
    };
    (a, b)
}

struct InFlight {
    at: Instant,
    seq: u64,
    to: Side,
    local: SocketAddr,
    remote: SocketAddr,
    bytes: Vec<u8>,
}

pub struct Pair {
    pub a: Endpoint,
    pub b: Endpoint,
    pub now: Instant,
    pub latency_ms: u64,
    pub loss: f64,
    pub dup: f64,
    pub reorder_ms: u64,
    /// Side A sits behind a NAPT: its packets leave from NAT_PUB with rewritten ports.
    pub nat: bool,
    /// Added to the NAT's mapped ports (change it to simulate a NAT rebinding).
    pub nat_shift: u16,
    /// Drop the n-th datagram (0-based) sent by a side.
    pub drop_nth: Vec<(Side, usize)>,
    /// Drop everything a side sends from this datagram index on.
    pub blackhole_from: Option<(Side, usize)>,
    /// Drop UDP 4500 entirely.
    pub block_4500: bool,
    pub sent: [usize; 2],
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
    /// Every datagram sent: (side, marker flag, bytes).
    pub log: Vec<(Side, bool, Vec<u8>)>,
    /// UDP ports of each logged datagram as sent: (source, destination).
    pub log_ports: Vec<(u16, u16)>,
    net_rng: Rng,
    flight: Vec<InFlight>,
    seq: u64,
}

fn r01(rng: &mut Rng) -> f64 {
    (rng.next_u32() as f64) / (u32::MAX as f64 + 1.0)
}

impl Pair {
    pub fn new(a: EndpointConfig, b: EndpointConfig, seed: u64) -> Pair {
        Pair {
            a: Endpoint::new(a, Rng::from_u64(seed.wrapping_mul(2).wrapping_add(1))),
            b: Endpoint::new(b, Rng::from_u64(seed.wrapping_mul(2).wrapping_add(2))),
            now: Instant::from_millis(1_000),
            latency_ms: 10,
            loss: 0.0,
            dup: 0.0,
            reorder_ms: 0,
            nat: false,
            nat_shift: 0,
            drop_nth: Vec::new(),
            blackhole_from: None,
            block_4500: false,
            sent: [0, 0],
            events_a: Vec::new(),
            events_b: Vec::new(),
            log: Vec::new(),
            log_ports: Vec::new(),
            net_rng: Rng::from_u64(seed ^ 0x5eed),
            flight: Vec::new(),
            seq: 0,
        }
    }

    fn nat_port(&self, p: u16) -> u16 {
        if p == 4500 {
            31_500 + self.nat_shift
        } else {
            20_000 + self.nat_shift + p
        }
    }

    fn nat_unport(&self, p: u16) -> u16 {
        if p == 31_500 + self.nat_shift {
            4500
        } else {
            p.wrapping_sub(20_000 + self.nat_shift)
        }
    }

    /// A's own address as its socket sees it.
    pub fn a_local(&self, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(A_PRIV), port)
    }

    fn collect(&mut self) {
        let mut buf = vec![0u8; 65536];
        for side in [Side::A, Side::B] {
            loop {
                let ep = match side {
                    Side::A => &mut self.a,
                    Side::B => &mut self.b,
                };
                let t = match ep.poll_transmit(self.now, &mut buf) {
                    Ok(Some(t)) => t,
                    Ok(None) => break,
                    Err(e) => panic!("buffer too small: {e}"),
                };
                let mut bytes = Vec::new();
                if t.non_esp_marker {
                    bytes.extend_from_slice(&[0, 0, 0, 0]);
                }
                bytes.extend_from_slice(&buf[..t.len]);
                let idx = match side {
                    Side::A => 0,
                    Side::B => 1,
                };
                let n = self.sent[idx];
                self.sent[idx] += 1;
                self.log
                    .push((side, t.non_esp_marker, buf[..t.len].to_vec()));
                self.log_ports
                    .push((t.path.local.port(), t.path.remote.port()));
                if self.drop_nth.contains(&(side, n)) {
                    continue;
                }
                if self
                    .blackhole_from
                    .is_some_and(|(s, k)| s == side && n >= k)
                {
                    continue;
                }
                if self.block_4500
                    && (t.path.remote.port() == 4500
                        || t.path.remote.port() == 31_500 + self.nat_shift)
                {
                    continue;
                }
                if self.loss > 0.0 && r01(&mut self.net_rng) < self.loss {
                    continue;
                }
                // Source/destination as the receiver sees them.
                let (to, local, remote) = match side {
                    Side::A => {
                        let src_port = t.path.local.port();
                        let src = if self.nat {
                            SocketAddr::new(IpAddr::V4(NAT_PUB), self.nat_port(src_port))
                        } else {
                            SocketAddr::new(IpAddr::V4(A_PRIV), src_port)
                        };
                        (Side::B, t.path.remote, src)
                    }
                    Side::B => {
                        let dst = t.path.remote;
                        let local = if self.nat {
                            assert_eq!(
                                dst.ip(),
                                IpAddr::V4(NAT_PUB),
                                "B must answer the NAT's address"
                            );
                            SocketAddr::new(IpAddr::V4(A_PRIV), self.nat_unport(dst.port()))
                        } else {
                            SocketAddr::new(IpAddr::V4(A_PRIV), dst.port())
                        };
                        let src = SocketAddr::new(IpAddr::V4(B_ADDR), t.path.local.port());
                        (Side::A, local, src)
                    }
                };
                let copies = if self.dup > 0.0 && r01(&mut self.net_rng) < self.dup {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let jitter = if self.reorder_ms > 0 {
                        self.net_rng.below(self.reorder_ms + 1)
                    } else {
                        0
                    };
                    self.seq += 1;
                    self.flight.push(InFlight {
                        at: Instant::from_millis(self.now.as_millis() + self.latency_ms + jitter),
                        seq: self.seq,
                        to,
                        local,
                        remote,
                        bytes: bytes.clone(),
                    });
                }
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.events_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push(e);
        }
    }

    /// Runs until `done` holds or `max_ms` of virtual time pass. Returns whether `done` held.
    pub fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now.as_millis() + max_ms;
        loop {
            self.collect();
            if done(self) {
                return true;
            }
            let next_pkt = self.flight.iter().map(|f| f.at).min();
            let next = [next_pkt, self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { return done(self) };
            if next.as_millis() > end {
                self.now = Instant::from_millis(end);
                return done(self);
            }
            self.now = next.max(self.now);
            // Deliver due packets in (time, seq) order.
            self.flight.sort_by_key(|f| (f.at, f.seq));
            let due: Vec<InFlight> = {
                let (d, rest): (Vec<_>, Vec<_>) =
                    self.flight.drain(..).partition(|f| f.at <= self.now);
                self.flight = rest;
                d
            };
            for f in due {
                let path = ipsec_proto::ike::Path {
                    local: f.local,
                    remote: f.remote,
                };
                let _ = match f.to {
                    Side::A => self.a.handle_datagram(self.now, path, &f.bytes),
                    Side::B => self.b.handle_datagram(self.now, path, &f.bytes),
                };
            }
            if self.a.poll_timeout().is_some_and(|t| t <= self.now) {
                self.a.handle_timeout(self.now);
                // A deadline that stays in the past would make a caller spin.
                assert!(
                    self.a.poll_timeout().is_none_or(|t| t > self.now),
                    "A timer stuck"
                );
            }
            if self.b.poll_timeout().is_some_and(|t| t <= self.now) {
                self.b.handle_timeout(self.now);
                assert!(
                    self.b.poll_timeout().is_none_or(|t| t > self.now),
                    "B timer stuck"
                );
            }
        }
    }

    pub fn run(&mut self, max_ms: u64) {
        self.run_until(max_ms, |_| false);
    }

    pub fn initiate(&mut self, peer: usize, line: usize) {
        self.a
            .initiate(self.now, PeerId(peer), line)
            .expect("initiate");
    }

    pub fn p2_count(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::Phase2Established(_)))
            .count()
    }

    pub fn failures(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::NegotiationFailed { error, .. } => Some(error.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Both sides hold a Phase 2 pair with matching SPIs and keys.
    pub fn both_up(&self) -> bool {
        Self::p2_count(&self.events_a) >= 1 && Self::p2_count(&self.events_b) >= 1
    }

    /// Runs until both sides hold a Phase 2 pair (failing with both sides' negotiation
    /// failures after `max_ms`), then checks that the pairs mirror each other.
    pub fn assert_up_with_matching_keys(&mut self, max_ms: u64) {
        assert!(
            self.run_until(max_ms, |p| p.both_up()),
            "A {:?} B {:?}",
            Self::failures(&self.events_a),
            Self::failures(&self.events_b)
        );
        assert_keys_match(&self.events_a, &self.events_b);
    }
}

/// Checks that the first Phase 2 pair of each side mirrors the other's: A's outbound is B's
/// inbound (same SPI and keys) and the other way round.
pub fn assert_keys_match(a: &[Event], b: &[Event]) {
    let pa = a
        .iter()
        .find_map(|e| match e {
            Event::Phase2Established(p) => Some(p),
            _ => None,
        })
        .expect("A has a phase 2 SA");
    let pb = b
        .iter()
        .find_map(|e| match e {
            Event::Phase2Established(p) => Some(p),
            _ => None,
        })
        .expect("B has a phase 2 SA");
    assert_eq!(pa.keys.outbound.spi(), pb.keys.inbound.spi());
    assert_eq!(pa.keys.inbound.spi(), pb.keys.outbound.spi());
    assert_eq!(pa.keys.outbound.enc_key(), pb.keys.inbound.enc_key());
    assert_eq!(pa.keys.outbound.auth_key(), pb.keys.inbound.auth_key());
    assert_eq!(pa.keys.inbound.enc_key(), pb.keys.outbound.enc_key());
    assert_eq!(pa.keys.inbound.auth_key(), pb.keys.outbound.auth_key());
    assert_ne!(pa.keys.inbound.enc_key(), pa.keys.outbound.enc_key());
    assert_eq!(pa.selectors.local, pb.selectors.remote);
    assert_eq!(pa.selectors.remote, pb.selectors.local);
    assert_eq!(pa.transform, pb.transform);
    assert_eq!(pa.lifetime_secs, pb.lifetime_secs);
}

/// Writes the logged datagrams as a pcap (LINKTYPE_IPV4) with A at A_PRIV and B at B_ADDR.
pub fn write_pcap(p: &Pair, path: &std::path::Path) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&228u32.to_le_bytes());
    for (i, ((side, marker, bytes), (sport, dport))) in p.log.iter().zip(&p.log_ports).enumerate() {
        let (src, dst) = match side {
            Side::A => (A_PRIV, B_ADDR),
            Side::B => (B_ADDR, A_PRIV),
        };
        let mut udp_payload = Vec::new();
        if *marker {
            udp_payload.extend_from_slice(&[0, 0, 0, 0]);
        }
        udp_payload.extend_from_slice(bytes);
        let udp_len = 8 + udp_payload.len();
        let total = 20 + udp_len;
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let mut sum: u32 = 0;
        for c in ip.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let ck = !(sum as u16);
        ip[10] = (ck >> 8) as u8;
        ip[11] = ck as u8;
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&udp_payload);
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&ip);
    }
    std::fs::write(path, out).unwrap();
}
