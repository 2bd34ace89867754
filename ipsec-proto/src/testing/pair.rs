//! [`Pair`]: two IKE endpoints on a [`Network`], A initiating from [`A_PRIV`] (optionally
//! behind a NAPT at [`NAT_PUB`]) and B at [`B_ADDR`], with the knobs the pair scenarios turn:
//! latency, loss, duplication, reordering, NAT and its rebinding, dropping the n-th datagram,
//! black-holing a side, blocking UDP 4500.
//!
//! The knobs are plain fields, applied to the network at every run; what the network saw is
//! mirrored back into [`Pair::log`], [`Pair::sent`] and the event lists after every step.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::network::{Link, Nat, Network, Node, Wire};
use crate::ike::{Endpoint, EndpointConfig, Event, PeerId};
use crate::rng::Rng;
use crate::time::Instant;

/// Side A's own address.
pub const A_PRIV: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The public address of the NAPT in front of A (when [`Pair::nat`] is set).
pub const NAT_PUB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
/// Side B's address.
pub const B_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

/// One side of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The initiator, node 0.
    A,
    /// The responder, node 1.
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// Two endpoints over an in-memory network (see the module documentation).
pub struct Pair {
    /// Side A (node 0).
    pub a: Endpoint,
    /// Side B (node 1).
    pub b: Endpoint,
    /// Virtual time (a test may move it forward between runs).
    pub now: Instant,
    /// One-way latency.
    pub latency_ms: u64,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram arrives twice.
    pub dup: f64,
    /// Extra random delay up to this much per datagram: reordering.
    pub reorder_ms: u64,
    /// Side A sits behind a NAPT: its datagrams leave from [`NAT_PUB`], port 4500 as
    /// 31500 + [`Pair::nat_shift`], port p as 20000 + shift + p.
    pub nat: bool,
    /// Added to the NAT's mapped ports (change it to simulate a NAT rebinding).
    pub nat_shift: u16,
    /// Drop the n-th datagram (0-based) sent by a side.
    pub drop_nth: Vec<(Side, usize)>,
    /// Drop everything a side sends from this datagram index on.
    pub blackhole_from: Option<(Side, usize)>,
    /// Drop UDP 4500 entirely.
    pub block_4500: bool,
    /// Datagrams sent per side.
    pub sent: [usize; 2],
    /// A's events, in order.
    pub events_a: Vec<Event>,
    /// B's events, in order.
    pub events_b: Vec<Event>,
    /// Every datagram sent: (side, non-ESP marker, bytes without the marker).
    pub log: Vec<(Side, bool, Vec<u8>)>,
    /// UDP ports of each logged datagram as sent: (source, destination).
    pub log_ports: Vec<(u16, u16)>,
    /// The network underneath.
    pub net: Network,
}

impl core::fmt::Debug for Pair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pair")
            .field("now", &self.now)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Pair {
    /// Endpoints for `a` and `b` seeded from `seed` (A from `2 seed + 1`, B from `2 seed + 2`,
    /// the network from `seed ^ 0x5eed`), 10 ms latency, at t = 1 s.
    pub fn new(a: EndpointConfig, b: EndpointConfig, seed: u64) -> Pair {
        let a = Endpoint::new(a, Rng::from_u64(seed.wrapping_mul(2).wrapping_add(1)));
        let b = Endpoint::new(b, Rng::from_u64(seed.wrapping_mul(2).wrapping_add(2)));
        Pair::with_endpoints(
            a,
            A_PRIV,
            b,
            B_ADDR,
            Instant::from_millis(1_000),
            seed ^ 0x5eed,
        )
    }

    /// Two given endpoints at the given addresses, starting at `start`; `net_seed` drives
    /// the network's randomness.
    pub fn with_endpoints(
        a: Endpoint,
        a_ip: Ipv4Addr,
        b: Endpoint,
        b_ip: Ipv4Addr,
        start: Instant,
        net_seed: u64,
    ) -> Pair {
        let mut net = Network::new(start, net_seed);
        net.add_node(a_ip);
        net.add_node(b_ip);
        Pair {
            a,
            b,
            now: start,
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
            net,
        }
    }

    /// A's own address as its socket sees it.
    pub fn a_local(&self, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.net.addr(0)), port)
    }

    /// Applies the knobs to the network.
    fn sync(&mut self) {
        self.net.set_now(self.now);
        self.net.set_default_link(Link {
            latency: Duration::from_millis(self.latency_ms),
            jitter: Duration::from_millis(self.reorder_ms),
            loss: self.loss,
            duplicate: self.dup,
        });
        let shift = self.nat_shift;
        let nat = self.nat.then(|| Nat {
            public: NAT_PUB,
            ports: vec![(4500, 31_500u16.wrapping_add(shift))],
            offset: Some(20_000u16.wrapping_add(shift)),
        });
        self.net.set_nat(0, nat);
        self.net.clear_faults();
        let drop_nth = self.drop_nth.clone();
        let blackhole = self.blackhole_from;
        let block_4500 = self.block_4500;
        let nat_4500 = 31_500u16.wrapping_add(shift);
        self.net.add_fault(move |s| {
            let side = if s.from == 0 { Side::A } else { Side::B };
            let to_4500 = matches!(s.packet.wire, Wire::Udp { dst, .. }
                if dst.port() == 4500 || dst.port() == nat_4500);
            drop_nth.contains(&(side, s.index))
                || blackhole.is_some_and(|(b, k)| b == side && s.index >= k)
                || (block_4500 && to_4500)
        });
    }

    /// Mirrors what the network did into the fields.
    fn pull(&mut self) {
        self.now = self.net.now();
        self.sent = [self.net.sent(0), self.net.sent(1)];
        for s in &self.net.log()[self.log.len()..] {
            let side = if s.from == 0 { Side::A } else { Side::B };
            let ports = (
                s.packet.wire.src_port().unwrap_or(0),
                s.packet.wire.dst_port().unwrap_or(0),
            );
            self.log.push((
                side,
                s.packet.has_non_esp_marker(),
                s.packet.ike_bytes().to_vec(),
            ));
            self.log_ports.push(ports);
        }
        while let Some(e) = self.a.poll_event() {
            self.events_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push(e);
        }
    }

    /// Runs until `done` holds or `max_ms` of virtual time pass. Returns whether `done` held.
    /// Panics when a side's deadline stays in the past after its `handle_timeout`.
    pub fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&Pair) -> bool) -> bool {
        self.sync();
        let end = self.now + Duration::from_millis(max_ms);
        loop {
            self.net
                .collect(&mut [&mut self.a as &mut dyn Node, &mut self.b]);
            self.pull();
            if done(self) {
                return true;
            }
            let more = self
                .net
                .step(&mut [&mut self.a as &mut dyn Node, &mut self.b], end);
            self.pull();
            if !more {
                return done(self);
            }
        }
    }

    /// Runs `max_ms` of virtual time.
    pub fn run(&mut self, max_ms: u64) {
        self.run_until(max_ms, |_| false);
    }

    /// A initiates line `line` of peer `peer`; panics if it refuses.
    pub fn initiate(&mut self, peer: usize, line: usize) {
        self.a
            .initiate(self.now, PeerId(peer), line)
            .expect("initiate");
    }

    /// Side `side`'s endpoint.
    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Datagrams sent by `side` so far.
    pub fn sent_by(&self, side: Side) -> usize {
        self.sent[side.index()]
    }

    /// How many `Phase2Established` events `events` holds.
    pub fn p2_count(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::Phase2Established(_)))
            .count()
    }

    /// The reasons of the failed negotiations in `events`.
    pub fn failures(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::NegotiationFailed { error, .. } => Some(error.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Both sides announced a Phase 2 pair.
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
    fn first(v: &[Event]) -> Option<&crate::ike::Phase2Established> {
        v.iter().find_map(|e| match e {
            Event::Phase2Established(p) => Some(&**p),
            _ => None,
        })
    }
    let pa = first(a).expect("A has a phase 2 SA");
    let pb = first(b).expect("B has a phase 2 SA");
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
