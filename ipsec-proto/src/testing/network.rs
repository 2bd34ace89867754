//! The in-memory network: a virtual clock, per-link latency, loss, duplication and reordering
//! from a seeded [`Rng`], NAT shims, fault rules and a log of everything sent.
//!
//! The network does not own its nodes: every call that moves packets takes them as a slice of
//! `&mut dyn Node`, index = node number. That lets a test keep its endpoints or gateways as
//! plain fields it reads between steps, and lets an embedder's own type be a node.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::rng::Rng;
use crate::time::Instant;

/// How a packet travels: a UDP datagram between two sockets or a raw IP protocol 50 payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wire {
    /// UDP from `src` to `dst` (IKE on 500, IKE with the non-ESP marker, ESP in UDP or
    /// keepalives on 4500).
    Udp {
        /// Source address and port.
        src: SocketAddr,
        /// Destination address and port.
        dst: SocketAddr,
    },
    /// Raw ESP (SPI onwards) from `src` to `dst`.
    Esp {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// A plaintext IPv4 packet on a LAN, between a host and its gateway ([`Network::attach`]);
    /// the bytes are the whole packet and these are its header's addresses.
    Ip {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
}

impl Wire {
    /// The wire of a plaintext IPv4 packet, from its header (unspecified addresses when the
    /// packet is too short to have one).
    pub fn ip(packet: &[u8]) -> Wire {
        let addr = |at: usize| {
            packet
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from)
        };
        Wire::Ip {
            src: addr(12),
            dst: addr(16),
        }
    }

    /// The destination address.
    pub fn dst_ip(&self) -> IpAddr {
        match *self {
            Wire::Udp { dst, .. } => dst.ip(),
            Wire::Esp { dst, .. } | Wire::Ip { dst, .. } => IpAddr::V4(dst),
        }
    }

    /// The UDP destination port (`None` for raw ESP).
    pub fn dst_port(&self) -> Option<u16> {
        match *self {
            Wire::Udp { dst, .. } => Some(dst.port()),
            Wire::Esp { .. } | Wire::Ip { .. } => None,
        }
    }

    /// The UDP source port (`None` for raw ESP).
    pub fn src_port(&self) -> Option<u16> {
        match *self {
            Wire::Udp { src, .. } => Some(src.port()),
            Wire::Esp { .. } | Wire::Ip { .. } => None,
        }
    }
}

/// One packet: how it travels and its bytes exactly as on the wire (the non-ESP marker
/// included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Addresses and ports.
    pub wire: Wire,
    /// The UDP payload or the ESP packet.
    pub bytes: Vec<u8>,
}

impl Packet {
    /// IKE on UDP 4500: the datagram starts with the 4-byte non-ESP marker.
    pub fn has_non_esp_marker(&self) -> bool {
        matches!(self.wire, Wire::Udp { src, dst } if src.port() != 500 && dst.port() != 500)
            && self.bytes.len() > 4
            && self.bytes.starts_with(&[0, 0, 0, 0])
    }

    /// The bytes without the non-ESP marker.
    pub fn ike_bytes(&self) -> &[u8] {
        if self.has_non_esp_marker() {
            &self.bytes[4..]
        } else {
            &self.bytes
        }
    }
}

/// Something on the network: an IKE endpoint, a gateway, a host.
///
/// Addresses are those the node's own sockets see: a node behind a [`Nat`] sends from and
/// receives on its inside address; the network rewrites the public side.
pub trait Node {
    /// Appends every packet the node has to send now (the source address is replaced by the
    /// node's address on the network; the source port is kept).
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Packet>);
    /// A packet arrived for this node.
    fn handle_packet(&mut self, now: Instant, packet: &Packet);
    /// The node's next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The deadline passed.
    fn handle_timeout(&mut self, now: Instant);
}

/// What a link does to the packets crossing it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// One-way delay of every packet.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet: packets overtake each other.
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet arrives twice.
    pub duplicate: f64,
}

impl Link {
    /// A perfect link with this one-way delay.
    pub fn with_latency(latency: Duration) -> Link {
        Link {
            latency,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

impl Default for Link {
    /// A perfect link with 10 ms one-way delay.
    fn default() -> Self {
        Link::with_latency(Duration::from_millis(10))
    }
}

/// A NAPT in front of a node: its datagrams leave from `public` with mapped ports; raw ESP has
/// no translation and is dropped (as on a NAPT without an ESP pass-through).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat {
    /// The outside address.
    pub public: Ipv4Addr,
    /// Explicit inside port -> outside port mappings, looked up first.
    pub ports: Vec<(u16, u16)>,
    /// Ports without an explicit mapping map to `inside + offset`; `None` maps only the
    /// explicit ones (other datagrams are dropped).
    pub offset: Option<u16>,
}

impl Nat {
    /// A NAPT mapping inside port `p` to `p + offset`.
    pub fn offset(public: Ipv4Addr, offset: u16) -> Nat {
        Nat {
            public,
            ports: Vec::new(),
            offset: Some(offset),
        }
    }

    /// A NAPT with exactly these `(inside, outside)` port mappings.
    pub fn ports(public: Ipv4Addr, ports: &[(u16, u16)]) -> Nat {
        Nat {
            public,
            ports: ports.to_vec(),
            offset: None,
        }
    }

    /// The outside port of inside port `p`.
    pub fn outside(&self, p: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|m| m.0 == p)
            .map(|m| m.1)
            .or_else(|| self.offset.map(|o| p.wrapping_add(o)))
    }

    /// The inside port of outside port `p`.
    pub fn inside(&self, p: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|m| m.1 == p)
            .map(|m| m.0)
            .or_else(|| self.offset.map(|o| p.wrapping_sub(o)))
    }
}

/// A packet a node sent, as it sent it (before any NAT), and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The sending node.
    pub from: usize,
    /// How many packets that node had sent before this one.
    pub index: usize,
    /// When.
    pub at: Instant,
    /// The packet, with the sender's address.
    pub packet: Packet,
}

/// A fault rule: returns true to drop the packet (evaluated before the link's loss).
pub type Fault = Box<dyn FnMut(&Sent) -> bool>;

struct Station {
    addr: Ipv4Addr,
    nat: Option<Nat>,
    /// The node whose LAN this one is on ([`Network::attach`]).
    gateway: Option<usize>,
}

struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    packet: Packet,
}

// Arrival order: time, then the order the packets were sent in (seq is unique).
impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The in-memory network (see the module documentation of [`crate::testing`]).
pub struct Network {
    now: Instant,
    rng: Rng,
    stations: Vec<Station>,
    default_link: Link,
    links: Vec<((usize, usize), Link)>,
    faults: Vec<Fault>,
    flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    log: Vec<Sent>,
    sent: Vec<usize>,
    unroutable: u64,
    scratch: Vec<Packet>,
}

impl core::fmt::Debug for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Network")
            .field("now", &self.now)
            .field("nodes", &self.stations.len())
            .field("in_flight", &self.flight.len())
            .finish_non_exhaustive()
    }
}

/// A deadline that stays in the past after `handle_timeout` would make a real caller spin.
fn check_timer(node: &dyn Node, i: usize, now: Instant) {
    let after = node.poll_timeout();
    assert!(
        after.is_none_or(|t| t > now),
        "node {i}: deadline {after:?} not after now {now:?} following handle_timeout"
    );
}

impl Network {
    /// An empty network at time `start`; `seed` drives loss, duplication and jitter.
    pub fn new(start: Instant, seed: u64) -> Network {
        Network {
            now: start,
            rng: Rng::from_u64(seed),
            stations: Vec::new(),
            default_link: Link::default(),
            links: Vec::new(),
            faults: Vec::new(),
            flight: BinaryHeap::new(),
            seq: 0,
            log: Vec::new(),
            sent: Vec::new(),
            unroutable: 0,
            scratch: Vec::new(),
        }
    }

    /// Adds node number `n` (the next index) at `addr`; returns its number.
    pub fn add_node(&mut self, addr: Ipv4Addr) -> usize {
        self.stations.push(Station {
            addr,
            nat: None,
            gateway: None,
        });
        self.sent.push(0);
        self.stations.len() - 1
    }

    /// Node `n`'s own address.
    pub fn addr(&self, n: usize) -> Ipv4Addr {
        self.stations[n].addr
    }

    /// Puts node `n` behind `nat` (`None` removes it). Changing the mapping of a running NAT
    /// is a NAT rebinding.
    pub fn set_nat(&mut self, n: usize, nat: Option<Nat>) {
        self.stations[n].nat = nat;
    }

    /// Puts node `host` on node `gateway`'s LAN: every [`Wire::Ip`] packet the host sends goes
    /// to the gateway (its default route), and the gateway's [`Wire::Ip`] packets for the
    /// host's address go to the host. The hop's delay is the link's ([`Network::set_link`]).
    pub fn attach(&mut self, host: usize, gateway: usize) {
        self.stations[host].gateway = Some(gateway);
    }

    /// Node `n`'s NAT.
    pub fn nat(&self, n: usize) -> Option<&Nat> {
        self.stations[n].nat.as_ref()
    }

    /// The link used between nodes without their own ([`Network::set_link`]).
    pub fn set_default_link(&mut self, link: Link) {
        self.default_link = link;
    }

    /// The default link.
    pub fn default_link(&self) -> Link {
        self.default_link
    }

    /// The link for packets from node `from` to node `to` (one direction).
    pub fn set_link(&mut self, from: usize, to: usize, link: Link) {
        self.links.retain(|l| l.0 != (from, to));
        self.links.push(((from, to), link));
    }

    /// Adds a fault rule (see [`Fault`]); rules are evaluated in order for every packet sent.
    pub fn add_fault(&mut self, fault: impl FnMut(&Sent) -> bool + 'static) {
        self.faults.push(Box::new(fault));
    }

    /// Removes every fault rule.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves virtual time forward to `t` without running anything (a caller's own action at a
    /// later time). Never moves backwards.
    pub fn set_now(&mut self, t: Instant) {
        self.now = self.now.max(t);
    }

    /// Every packet sent so far, in order.
    pub fn log(&self) -> &[Sent] {
        &self.log
    }

    /// How many packets node `n` has sent.
    pub fn sent(&self, n: usize) -> usize {
        self.sent[n]
    }

    /// Packets sent to an address no node has (or a NAT port without a mapping).
    pub fn unroutable(&self) -> u64 {
        self.unroutable
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }

    /// Drops every packet in flight.
    pub fn flush(&mut self) {
        self.flight.clear();
    }

    fn link(&self, from: usize, to: usize) -> Link {
        self.links
            .iter()
            .find(|l| l.0 == (from, to))
            .map_or(self.default_link, |l| l.1)
    }

    fn unit(&mut self) -> f64 {
        f64::from(self.rng.next_u32()) / (f64::from(u32::MAX) + 1.0)
    }

    /// Where a packet goes: the receiving node and the packet as its sockets see it.
    fn route(&self, mut p: Packet) -> Option<(usize, Packet)> {
        let ip = p.wire.dst_ip();
        for (i, s) in self.stations.iter().enumerate() {
            match (&s.nat, &mut p.wire) {
                (Some(nat), Wire::Udp { dst, .. }) if IpAddr::V4(nat.public) == ip => {
                    if let Some(port) = nat.inside(dst.port()) {
                        *dst = SocketAddr::new(IpAddr::V4(s.addr), port);
                        return Some((i, p));
                    }
                }
                (Some(nat), Wire::Esp { .. }) if IpAddr::V4(nat.public) == ip => return None,
                // A host on a LAN is not on the WAN.
                _ if IpAddr::V4(s.addr) == ip && s.nat.is_none() && s.gateway.is_none() => {
                    return Some((i, p))
                }
                _ => {}
            }
        }
        None
    }

    /// Where a LAN packet from node `from` goes: a host's to its gateway, a gateway's to the
    /// host of that address on its LAN.
    fn route_lan(&self, from: usize, dst: Ipv4Addr) -> Option<usize> {
        self.stations[from].gateway.or_else(|| {
            self.stations
                .iter()
                .position(|s| s.gateway == Some(from) && s.addr == dst)
        })
    }

    /// Hands `packet`, just sent by node `from`, to the network.
    fn send(&mut self, from: usize, mut packet: Packet) {
        let addr = self.stations[from].addr;
        match &mut packet.wire {
            Wire::Udp { src, .. } => *src = SocketAddr::new(IpAddr::V4(addr), src.port()),
            Wire::Esp { src, .. } => *src = addr,
            // A gateway forwards other hosts' packets: the header's source stays.
            Wire::Ip { .. } => {}
        }
        let index = self.sent[from];
        self.sent[from] += 1;
        let sent = Sent {
            from,
            index,
            at: self.now,
            packet,
        };
        let mut dropped = false;
        for f in &mut self.faults {
            dropped |= f(&sent);
        }
        let mut outside = sent.packet.clone();
        self.log.push(sent);
        if dropped {
            return;
        }
        let lan = match outside.wire {
            Wire::Ip { dst, .. } => Some(self.route_lan(from, dst)),
            _ => None,
        };
        if let (None, Some(nat)) = (lan, &self.stations[from].nat) {
            match &mut outside.wire {
                Wire::Udp { src, .. } => match nat.outside(src.port()) {
                    Some(port) => *src = SocketAddr::new(IpAddr::V4(nat.public), port),
                    None => return,
                },
                // No translation for protocol 50.
                Wire::Esp { .. } => return,
                Wire::Ip { .. } => {}
            }
        }
        let routed = match lan {
            // The NAT is on the WAN side: a LAN hop bypasses it.
            Some(to) => to.map(|to| (to, outside)),
            None => self.route(outside),
        };
        let Some((to, inside)) = routed else {
            self.unroutable += 1;
            return;
        };
        let link = self.link(from, to);
        if link.loss > 0.0 && self.unit() < link.loss {
            return;
        }
        let copies = if link.duplicate > 0.0 && self.unit() < link.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if link.jitter > Duration::ZERO {
                let ms = u64::try_from(link.jitter.as_millis()).unwrap_or(u64::MAX);
                Duration::from_millis(self.rng.below(ms + 1))
            } else {
                Duration::ZERO
            };
            self.seq += 1;
            self.flight.push(Reverse(InFlight {
                at: self.now + link.latency + jitter,
                seq: self.seq,
                to,
                packet: inside.clone(),
            }));
        }
    }

    /// Takes what node `n` has to send now onto the network.
    pub fn collect_from(&mut self, nodes: &mut [&mut dyn Node], n: usize) {
        let mut out = std::mem::take(&mut self.scratch);
        nodes[n].poll_transmit(self.now, &mut out);
        for p in out.drain(..) {
            self.send(n, p);
        }
        self.scratch = out;
    }

    /// Takes what every node has to send now onto the network, node 0 first.
    pub fn collect(&mut self, nodes: &mut [&mut dyn Node]) {
        for n in 0..nodes.len() {
            self.collect_from(nodes, n);
        }
    }

    /// The earliest packet arrival or node deadline.
    pub fn next_event(&self, nodes: &[&mut dyn Node]) -> Option<Instant> {
        let arrival = self.flight.peek().map(|f| f.0.at);
        nodes
            .iter()
            .filter_map(|n| n.poll_timeout())
            .chain(arrival)
            .min()
    }

    /// Runs what is due at the current time: the nodes' timers (node 0 first), then the
    /// packets due in the order they were sent. Each node's output goes onto the network right
    /// after it handled something. Panics when a node's deadline stays in the past after its
    /// `handle_timeout`.
    pub fn run_due(&mut self, nodes: &mut [&mut dyn Node]) {
        let now = self.now;
        for i in 0..nodes.len() {
            if nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                nodes[i].handle_timeout(now);
                check_timer(&*nodes[i], i, now);
                self.collect_from(nodes, i);
            }
        }
        while self.flight.peek().is_some_and(|f| f.0.at <= now) {
            let Some(Reverse(f)) = self.flight.pop() else {
                break;
            };
            if let Some(node) = nodes.get_mut(f.to) {
                node.handle_packet(now, &f.packet);
            }
            self.collect_from(nodes, f.to);
        }
    }

    /// Collects, then moves time to the next arrival or deadline if that is not after `until`
    /// and runs it ([`Network::run_due`]). Returns false (with time moved to `until`) when
    /// nothing happens before `until`.
    pub fn step(&mut self, nodes: &mut [&mut dyn Node], until: Instant) -> bool {
        self.collect(nodes);
        match self.next_event(nodes) {
            Some(t) if t <= until => {
                self.now = self.now.max(t);
                self.run_due(nodes);
                true
            }
            _ => {
                self.now = self.now.max(until);
                false
            }
        }
    }

    /// Runs until `until`: every arrival and deadline up to then.
    pub fn run_until(&mut self, nodes: &mut [&mut dyn Node], until: Instant) {
        while self.step(nodes, until) {}
    }

    /// Runs until no packet is in flight (timers falling due meanwhile run too), at most
    /// `limit` of virtual time. Returns whether the network went quiet.
    pub fn settle(&mut self, nodes: &mut [&mut dyn Node], limit: Duration) -> bool {
        let end = self.now + limit;
        loop {
            self.collect(nodes);
            let Some(arrival) = self.flight.peek().map(|f| f.0.at) else {
                return true;
            };
            if arrival > end {
                return false;
            }
            let t = self.next_event(nodes).map_or(arrival, |t| t.min(arrival));
            self.now = self.now.max(t);
            self.run_due(nodes);
        }
    }
}
