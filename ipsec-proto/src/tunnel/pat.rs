//! Port address translation (many-to-one NAT) for Easy VPN remote `mode client`.
//!
//! In `mode client` the server gives the remote a single address (Mode Config
//! `INTERNAL_IP4_ADDRESS`, the "public" address here: public to the tunnel, usually a private
//! address of the server's pool). Hosts on the remote's inside LAN reach the tunnel because
//! their source is translated to that address before encapsulation, and replies are translated
//! back after decapsulation, as IOS does with its dynamic PAT entries
//! (`show ip nat translations`).
//!
//! [`Pat`] is sans-IO: whole IPv4 packets are rewritten in place, time comes in as
//! [`Instant`], and [`Pat::next_deadline`] says when idle mappings are due to go.
//!
//! Mapping behaviour (RFC 4787 terms): endpoint-independent mapping, keyed by (protocol,
//! inside address, inside port or ICMP echo identifier), so one inside socket keeps one public
//! port whatever it talks to (REQ-1), and the inside port is kept when it is free and inside
//! [`PatLimits::ports`]. Filtering is endpoint-independent too: any tunnel peer may send to a
//! mapped port. That is the friendliest behaviour for the inside hosts, and what reaches
//! [`Pat::inbound`] has already passed the SA's proxy identities, which are the filter here.
//! Both directions refresh a mapping; ICMP errors do not (they say a flow is failing).
//!
//! Timers: every mapping sits on one of four intrusive lists, one per idle timeout (TCP, TCP
//! after FIN/RST, UDP, ICMP), in the order of last use. Within a list the deadline is last use
//! plus a constant, so the head is the earliest deadline: a refresh moves the mapping to the
//! tail in O(1) without allocating (a heap or a tree keyed by deadline would need an insertion
//! per packet), and [`Pat::next_deadline`] looks at four heads.
//!
//! Not handled: non-first fragments (they carry no ports; no fragment tracking), protocols other
//! than TCP, UDP and ICMP, and application payloads that carry addresses (FTP, SIP).

use crate::time::Instant;
use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::time::Duration;

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_UNREACHABLE: u8 = 3;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_PARAMETER_PROBLEM: u8 = 12;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;
const IPV4_MIN: usize = 20;
const TCP_MIN: usize = 20;
const UDP_LEN: usize = 8;
/// ICMP header, and the least of the original datagram's transport header an ICMP error
/// carries (RFC 792).
const ICMP_HDR: usize = 8;
/// IPv4 header offsets.
const IP_CSUM: usize = 10;
const IP_SRC: usize = 12;
const IP_DST: usize = 16;
/// "No slot" in the intrusive lists and the free list.
const NIL: u32 = u32::MAX;

/// The protocols [`Pat`] translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatProto {
    /// TCP: ports are translated.
    Tcp,
    /// UDP: ports are translated.
    Udp,
    /// ICMP echo: the identifier is translated like a port.
    Icmp,
}

impl PatProto {
    /// The name in the `Pro` column of `show ip nat translations`.
    pub fn name(self) -> &'static str {
        match self {
            PatProto::Tcp => "tcp",
            PatProto::Udp => "udp",
            PatProto::Icmp => "icmp",
        }
    }
}

impl fmt::Display for PatProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Size and timers of a [`Pat`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatLimits {
    /// Most mappings held at once (all protocols together).
    pub max_mappings: usize,
    /// Idle timeout of a TCP mapping (IOS `ip nat translation tcp-timeout`, 24 h).
    pub tcp_timeout: Duration,
    /// Idle timeout of a TCP mapping once a RST or a FIN in each direction was seen (IOS
    /// `finrst-timeout`, 60 s), so closed connections do not hold ports for a day.
    pub tcp_closing_timeout: Duration,
    /// Idle timeout of a UDP mapping (IOS `udp-timeout`, 5 min).
    pub udp_timeout: Duration,
    /// Idle timeout of an ICMP echo mapping (IOS `icmp-timeout`, 60 s).
    pub icmp_timeout: Duration,
    /// Public ports (and echo identifiers) handed out. An inside port inside this range is
    /// kept when free; any other is replaced by one from the range.
    pub ports: RangeInclusive<u16>,
}

impl Default for PatLimits {
    fn default() -> Self {
        PatLimits {
            max_mappings: 4096,
            tcp_timeout: Duration::from_secs(24 * 3600),
            tcp_closing_timeout: Duration::from_secs(60),
            udp_timeout: Duration::from_secs(300),
            icmp_timeout: Duration::from_secs(60),
            ports: 1024..=65535,
        }
    }
}

/// What [`Pat::outbound`] or [`Pat::inbound`] did with a packet that is to be forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Translated {
    /// Not PAT's business: outbound, the source already is the public address (the remote's
    /// own traffic); inbound, the destination is not the public address. Forward as it is.
    Unchanged,
    /// Rewritten through an existing mapping (or, for an ICMP error, the mapping of the
    /// packet it reports on).
    Rewritten,
    /// Rewritten through a mapping this packet created.
    Created,
}

/// Which part of a packet is malformed (see [`PatError::Malformed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformation {
    /// The buffer is shorter than an IPv4 header.
    ShortIpHeader,
    /// The version field is not 4.
    NotIpv4,
    /// The IHL is below 5 or the header it gives is longer than the buffer.
    BadIhl,
    /// The total length is shorter than the header or longer than the buffer.
    BadTotalLength,
    /// The packet ends inside the TCP, UDP or ICMP header (or, in an ICMP error, inside the
    /// first 8 bytes of the embedded transport header).
    TruncatedTransport,
    /// The TCP data offset is below 5 or beyond the end of the packet.
    BadTcpDataOffset,
    /// The IPv4 header embedded in an ICMP error is cut short or not IPv4.
    BadEmbeddedHeader,
}

/// Why a well-formed packet cannot be translated (see [`PatError::Untranslatable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// An IP protocol other than TCP, UDP and ICMP.
    Protocol(u8),
    /// A fragment other than the first: it carries no ports to look up.
    Fragment,
    /// An ICMP type that is neither echo nor an error about a translated packet (outbound:
    /// echo request, unreachable, time exceeded, parameter problem; inbound: echo reply and the
    /// same errors).
    IcmpType(u8),
}

/// Why a packet was not translated; the caller drops it and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatError {
    /// The packet is not a valid IPv4 packet with a whole transport header; `at` is the byte
    /// offset of the offending field or of the header that is cut short.
    #[error("malformed packet at offset {at}: {kind:?}")]
    Malformed {
        /// Byte offset into the packet.
        at: usize,
        /// What is wrong there.
        kind: Malformation,
    },
    /// A well-formed packet PAT cannot translate.
    #[error("untranslatable packet: {why:?}")]
    Untranslatable {
        /// What it is.
        why: Unsupported,
    },
    /// Inbound: no mapping holds this public port (or echo identifier). Outbound: an ICMP
    /// error about a packet no mapping translated.
    #[error("no {proto} mapping for port {port}")]
    NoMapping {
        /// The protocol looked up.
        proto: PatProto,
        /// The port or identifier looked up (public inbound, inside outbound).
        port: u16,
    },
    /// A new mapping was needed but the table holds [`PatLimits::max_mappings`], or every
    /// port of [`PatLimits::ports`] is taken for this protocol.
    #[error("translation table full")]
    TableFull,
}

/// One mapping, as `show ip nat translations` prints it (see [`Pat::entries`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatEntry {
    /// Protocol.
    pub proto: PatProto,
    /// Inside global: the public address and port.
    pub inside_global: SocketAddrV4,
    /// Inside local: the inside host's address and port.
    pub inside_local: SocketAddrV4,
    /// Outside local and global (the same without outside NAT): the last remote endpoint the
    /// inside host sent to. The mapping does not depend on it (endpoint-independent); IOS
    /// shows an echo's identifier as the outside port, so does this.
    pub outside: SocketAddrV4,
    /// Time since the mapping was last used.
    pub idle: Duration,
    /// Time left before it expires unless used.
    pub expires_in: Duration,
}

impl PatEntry {
    /// The header line matching [`PatEntry`]'s `Display` rows.
    pub const HEADER: &'static str =
        "Pro Inside global         Inside local          Outside local         Outside global";
}

impl fmt::Display for PatEntry {
    /// A row of `show ip nat translations`, e.g.
    /// `tcp 10.98.0.17:1024      192.168.1.10:1024     10.2.2.10:80          10.2.2.10:80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ig, il, o) = (
            self.inside_global.to_string(),
            self.inside_local.to_string(),
            self.outside.to_string(),
        );
        write!(f, "{} {ig:<21} {il:<21} {o:<21} {o}", self.proto)
    }
}

/// The idle timer a mapping runs on; each has its own list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Tcp,
    TcpClosing,
    Udp,
    Icmp,
}

impl Class {
    const ALL: [Class; 4] = [Class::Tcp, Class::TcpClosing, Class::Udp, Class::Icmp];
}

/// Ends of one intrusive list (slot indexes, [`NIL`] when empty).
#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

#[derive(Clone, Copy, Debug)]
struct Lists {
    tcp: List,
    closing: List,
    udp: List,
    icmp: List,
}

impl Lists {
    const EMPTY: Lists = Lists {
        tcp: EMPTY,
        closing: EMPTY,
        udp: EMPTY,
        icmp: EMPTY,
    };

    fn get(&self, c: Class) -> List {
        match c {
            Class::Tcp => self.tcp,
            Class::TcpClosing => self.closing,
            Class::Udp => self.udp,
            Class::Icmp => self.icmp,
        }
    }

    fn get_mut(&mut self, c: Class) -> &mut List {
        match c {
            Class::Tcp => &mut self.tcp,
            Class::TcpClosing => &mut self.closing,
            Class::Udp => &mut self.udp,
            Class::Icmp => &mut self.icmp,
        }
    }
}

/// TCP teardown seen on a mapping.
const SEEN_FIN_OUT: u8 = 1;
const SEEN_FIN_IN: u8 = 2;
const SEEN_RST: u8 = 4;
const SEEN_BOTH_FINS: u8 = SEEN_FIN_OUT | SEEN_FIN_IN;

type InsideKey = (PatProto, Ipv4Addr, u16);
type PublicKey = (PatProto, u16);

#[derive(Clone, Copy, Debug)]
struct Mapping {
    proto: PatProto,
    inside: SocketAddrV4,
    public_port: u16,
    /// Last destination of an outbound packet, for the listing only.
    remote: SocketAddrV4,
    last_used: Instant,
    class: Class,
    /// `SEEN_*` bits (TCP only).
    teardown: u8,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    mapping: Mapping,
    live: bool,
    /// Neighbours on the class list while live; `next` chains the free list otherwise.
    prev: u32,
    next: u32,
}

/// Direction of a packet through the translator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// Inside LAN towards the tunnel.
    Out,
    /// Tunnel towards the inside LAN.
    In,
}

/// The port address translator; see the module documentation.
#[derive(Debug)]
pub struct Pat {
    limits: PatLimits,
    /// The address the table translates to; another one flushes it.
    public: Option<Ipv4Addr>,
    /// Mappings, addressed by index from the two indexes and the lists; dead slots are reused.
    slots: Vec<Slot>,
    free: u32,
    by_inside: HashMap<InsideKey, u32>,
    by_public: HashMap<PublicKey, u32>,
    lists: Lists,
    /// Where the search for a free port resumes, so ports are not reused sooner than needed.
    cursor: u16,
    /// Latest time seen: lists stay in deadline order even if a caller's time steps back.
    clock: Instant,
}

impl Pat {
    /// An empty translator.
    pub fn new(limits: PatLimits) -> Pat {
        let cursor = *limits.ports.start();
        Pat {
            limits,
            public: None,
            slots: Vec::new(),
            free: NIL,
            by_inside: HashMap::new(),
            by_public: HashMap::new(),
            lists: Lists::EMPTY,
            cursor,
            clock: Instant::ZERO,
        }
    }

    /// The limits it was built with.
    pub fn limits(&self) -> &PatLimits {
        &self.limits
    }

    /// The public address of the current mappings (`None` before the first packet and after
    /// [`Pat::clear`]).
    pub fn public(&self) -> Option<Ipv4Addr> {
        self.public
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.by_public.len()
    }

    /// No mappings.
    pub fn is_empty(&self) -> bool {
        self.by_public.is_empty()
    }

    /// Forgets every mapping: for when the assigned address changes or the tunnel goes.
    /// [`Pat::outbound`] and [`Pat::inbound`] do it themselves when given another `public`
    /// address than the table's, since its mappings mean nothing for the new one.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free = NIL;
        self.by_inside.clear();
        self.by_public.clear();
        self.lists = Lists::EMPTY;
        self.public = None;
    }

    /// Translates a whole IPv4 packet from an inside host towards the tunnel: its source
    /// becomes `public` and its source port (echo identifier) the mapping's, creating the
    /// mapping if needed; an ICMP error about an inbound translated packet gets its embedded
    /// header translated too. Checksums are updated incrementally (RFC 1624); a zero UDP
    /// checksum stays zero. Bytes after the IPv4 total length are left alone.
    pub fn outbound(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        public: Ipv4Addr,
    ) -> Result<Translated, PatError> {
        self.adopt(public);
        self.expire(now);
        let ip = parse_ip(packet)?;
        if ip.src == public {
            return Ok(Translated::Unchanged);
        }
        if ip.fragment {
            return Err(untranslatable(Unsupported::Fragment));
        }
        let pkt = packet
            .get_mut(..ip.total)
            .ok_or(malformed(2, Malformation::BadTotalLength))?;
        match ip.proto {
            PROTO_TCP | PROTO_UDP => {
                let t = transport(pkt, &ip)?;
                let key = (t.proto, ip.src, t.src_port);
                let (i, created) = self.find_or_create(key)?;
                let m = self
                    .touch(i, Dir::Out, t.flags, SocketAddrV4::new(ip.dst, t.dst_port))
                    .ok_or(PatError::TableFull)?;
                let addr = put_addr(pkt, IP_SRC, public)?;
                fix(pkt, IP_CSUM, addr)?;
                let port = put16(pkt, ip.ihl, m.public_port)?;
                fix_transport(pkt, ip.ihl, t.proto, addr.plus(port))?;
                Ok(done(created))
            }
            PROTO_ICMP => {
                let ty = icmp_type(pkt, &ip)?;
                match ty {
                    ICMP_ECHO_REQUEST => {
                        let id = get16(pkt, ip.ihl + 4)?;
                        let (i, created) = self.find_or_create((PatProto::Icmp, ip.src, id))?;
                        let m = self
                            .touch(i, Dir::Out, 0, SocketAddrV4::new(ip.dst, 0))
                            .ok_or(PatError::TableFull)?;
                        let addr = put_addr(pkt, IP_SRC, public)?;
                        fix(pkt, IP_CSUM, addr)?;
                        // ICMP has no pseudo-header: only the identifier counts.
                        let id = put16(pkt, ip.ihl + 4, m.public_port)?;
                        fix(pkt, ip.ihl + 2, id)?;
                        Ok(done(created))
                    }
                    ICMP_UNREACHABLE | ICMP_TIME_EXCEEDED | ICMP_PARAMETER_PROBLEM => {
                        self.icmp_error(pkt, &ip, Dir::Out, public)
                    }
                    t => Err(untranslatable(Unsupported::IcmpType(t))),
                }
            }
            p => Err(untranslatable(Unsupported::Protocol(p))),
        }
    }

    /// Translates a whole IPv4 packet decapsulated from the tunnel: if its destination is
    /// `public`, the mapping of its destination port (echo identifier) gives the inside host
    /// and port to write back. An ICMP error about an outbound translated packet (unreachable,
    /// time exceeded, parameter problem: traceroute and path MTU discovery) gets its embedded
    /// header translated back too. Checksums as for [`Pat::outbound`].
    pub fn inbound(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        public: Ipv4Addr,
    ) -> Result<Translated, PatError> {
        self.adopt(public);
        self.expire(now);
        let ip = parse_ip(packet)?;
        if ip.dst != public {
            return Ok(Translated::Unchanged);
        }
        if ip.fragment {
            return Err(untranslatable(Unsupported::Fragment));
        }
        let pkt = packet
            .get_mut(..ip.total)
            .ok_or(malformed(2, Malformation::BadTotalLength))?;
        match ip.proto {
            PROTO_TCP | PROTO_UDP => {
                let t = transport(pkt, &ip)?;
                let i = self.lookup_public(t.proto, t.dst_port)?;
                let m = self
                    .touch(i, Dir::In, t.flags, SocketAddrV4::new(ip.src, t.src_port))
                    .ok_or(no_mapping(t.proto, t.dst_port))?;
                let addr = put_addr(pkt, IP_DST, *m.inside.ip())?;
                fix(pkt, IP_CSUM, addr)?;
                let port = put16(pkt, ip.ihl + 2, m.inside.port())?;
                fix_transport(pkt, ip.ihl, t.proto, addr.plus(port))?;
                Ok(Translated::Rewritten)
            }
            PROTO_ICMP => {
                let ty = icmp_type(pkt, &ip)?;
                match ty {
                    ICMP_ECHO_REPLY => {
                        let id = get16(pkt, ip.ihl + 4)?;
                        let i = self.lookup_public(PatProto::Icmp, id)?;
                        let m = self
                            .touch(i, Dir::In, 0, SocketAddrV4::new(ip.src, 0))
                            .ok_or(no_mapping(PatProto::Icmp, id))?;
                        let addr = put_addr(pkt, IP_DST, *m.inside.ip())?;
                        fix(pkt, IP_CSUM, addr)?;
                        let id = put16(pkt, ip.ihl + 4, m.inside.port())?;
                        fix(pkt, ip.ihl + 2, id)?;
                        Ok(Translated::Rewritten)
                    }
                    ICMP_UNREACHABLE | ICMP_TIME_EXCEEDED | ICMP_PARAMETER_PROBLEM => {
                        self.icmp_error(pkt, &ip, Dir::In, public)
                    }
                    t => Err(untranslatable(Unsupported::IcmpType(t))),
                }
            }
            p => Err(untranslatable(Unsupported::Protocol(p))),
        }
    }

    /// When the earliest mapping becomes idle long enough to go (`None` without mappings).
    pub fn next_deadline(&self) -> Option<Instant> {
        Class::ALL
            .iter()
            .filter_map(|&c| {
                let head = self.slots.get(self.lists.get(c).head as usize)?;
                Some(head.mapping.last_used + self.timeout(c))
            })
            .min()
    }

    /// Removes the mappings idle for their whole timeout by `now` (a mapping last used at `t`
    /// with timeout `d` goes at `t + d`). [`Pat::outbound`] and [`Pat::inbound`] call it too,
    /// so a late timer never lets a stale mapping carry traffic.
    pub fn expire(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        for c in Class::ALL {
            let timeout = self.timeout(c);
            loop {
                let head = self.lists.get(c).head;
                match self.slots.get(head as usize) {
                    Some(s) if s.mapping.last_used + timeout <= self.clock => self.remove(head),
                    _ => break,
                }
            }
        }
    }

    /// Every mapping, for `show ip nat translations`, ordered by protocol then public port.
    pub fn entries(&self, now: Instant) -> Vec<PatEntry> {
        let public = self.public.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut v: Vec<PatEntry> = self
            .slots
            .iter()
            .filter(|s| s.live)
            .map(|s| {
                let m = &s.mapping;
                let outside = match m.proto {
                    PatProto::Icmp => SocketAddrV4::new(*m.remote.ip(), m.public_port),
                    _ => m.remote,
                };
                let deadline = m.last_used + self.timeout(m.class);
                PatEntry {
                    proto: m.proto,
                    inside_global: SocketAddrV4::new(public, m.public_port),
                    inside_local: m.inside,
                    outside,
                    idle: now.saturating_duration_since(m.last_used),
                    expires_in: deadline.saturating_duration_since(now),
                }
            })
            .collect();
        v.sort_by_key(|e| (e.proto, e.inside_global.port()));
        v
    }

    fn timeout(&self, c: Class) -> Duration {
        match c {
            Class::Tcp => self.limits.tcp_timeout,
            Class::TcpClosing => self.limits.tcp_closing_timeout,
            Class::Udp => self.limits.udp_timeout,
            Class::Icmp => self.limits.icmp_timeout,
        }
    }

    fn adopt(&mut self, public: Ipv4Addr) {
        if self.public != Some(public) {
            self.clear();
            self.public = Some(public);
        }
    }

    fn lookup_public(&self, proto: PatProto, port: u16) -> Result<u32, PatError> {
        self.by_public
            .get(&(proto, port))
            .copied()
            .ok_or(no_mapping(proto, port))
    }

    fn find_or_create(&mut self, key: InsideKey) -> Result<(u32, bool), PatError> {
        if let Some(&i) = self.by_inside.get(&key) {
            return Ok((i, false));
        }
        if self.by_public.len() >= self.limits.max_mappings {
            return Err(PatError::TableFull);
        }
        let (proto, addr, port) = key;
        let public_port = self.allocate(proto, port).ok_or(PatError::TableFull)?;
        let class = match proto {
            PatProto::Tcp => Class::Tcp,
            PatProto::Udp => Class::Udp,
            PatProto::Icmp => Class::Icmp,
        };
        let slot = Slot {
            mapping: Mapping {
                proto,
                inside: SocketAddrV4::new(addr, port),
                public_port,
                remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                last_used: self.clock,
                class,
                teardown: 0,
            },
            live: true,
            prev: NIL,
            next: NIL,
        };
        let i = match self.slots.get_mut(self.free as usize) {
            Some(s) => {
                let i = self.free;
                self.free = s.next;
                *s = slot;
                i
            }
            None => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != NIL)
                    .ok_or(PatError::TableFull)?;
                self.slots.push(slot);
                i
            }
        };
        self.by_inside.insert(key, i);
        self.by_public.insert((proto, public_port), i);
        self.push_tail(i, class);
        Ok((i, true))
    }

    /// A free public port for `proto`: `preferred` if it is in range and free, else the next
    /// free one from the cursor. At most one lookup per port in use plus one, since only that
    /// many can be taken; only new mappings pay it.
    fn allocate(&mut self, proto: PatProto, preferred: u16) -> Option<u16> {
        let (lo, hi) = (*self.limits.ports.start(), *self.limits.ports.end());
        if lo > hi {
            return None;
        }
        let taken = |p: u16| self.by_public.contains_key(&(proto, p));
        if (lo..=hi).contains(&preferred) && !taken(preferred) {
            return Some(preferred);
        }
        let span = u32::from(hi) - u32::from(lo) + 1;
        let mut p = if (lo..=hi).contains(&self.cursor) {
            self.cursor
        } else {
            lo
        };
        for _ in 0..span {
            let candidate = p;
            p = if p >= hi { lo } else { p + 1 };
            if !taken(candidate) {
                self.cursor = p;
                return Some(candidate);
            }
        }
        None
    }

    /// Marks mapping `i` used now by a packet in direction `dir` (TCP `flags`, `peer` the
    /// remote endpoint) and moves it to the tail of its (maybe new) timer list.
    fn touch(&mut self, i: u32, dir: Dir, flags: u8, peer: SocketAddrV4) -> Option<Mapping> {
        self.unlink(i);
        let clock = self.clock;
        let s = self.slots.get_mut(i as usize)?;
        let m = &mut s.mapping;
        if m.proto == PatProto::Tcp {
            // A fresh SYN from inside is a new connection on the same socket.
            if dir == Dir::Out && flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
                m.teardown = 0;
            }
            if flags & TCP_RST != 0 {
                m.teardown |= SEEN_RST;
            }
            if flags & TCP_FIN != 0 {
                m.teardown |= if dir == Dir::Out {
                    SEEN_FIN_OUT
                } else {
                    SEEN_FIN_IN
                };
            }
            // A single FIN is a half-close: the other side may send for a long time yet.
            let closing =
                m.teardown & SEEN_RST != 0 || m.teardown & SEEN_BOTH_FINS == SEEN_BOTH_FINS;
            m.class = if closing {
                Class::TcpClosing
            } else {
                Class::Tcp
            };
        }
        if dir == Dir::Out {
            m.remote = peer;
        }
        m.last_used = clock;
        let (class, copy) = (m.class, *m);
        self.push_tail(i, class);
        Some(copy)
    }

    fn push_tail(&mut self, i: u32, class: Class) {
        let tail = self.lists.get(class).tail;
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.prev = tail;
            s.next = NIL;
        }
        match self.slots.get_mut(tail as usize) {
            Some(t) => t.next = i,
            None => self.lists.get_mut(class).head = i,
        }
        self.lists.get_mut(class).tail = i;
    }

    fn unlink(&mut self, i: u32) {
        let Some(s) = self.slots.get(i as usize) else {
            return;
        };
        let (prev, next, class) = (s.prev, s.next, s.mapping.class);
        match self.slots.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.lists.get_mut(class).head = next,
        }
        match self.slots.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.lists.get_mut(class).tail = prev,
        }
    }

    fn remove(&mut self, i: u32) {
        match self.slots.get(i as usize) {
            Some(s) if s.live => {}
            _ => return,
        }
        self.unlink(i);
        let free = self.free;
        let Some(s) = self.slots.get_mut(i as usize) else {
            return;
        };
        let m = s.mapping;
        s.live = false;
        s.prev = NIL;
        s.next = free;
        self.free = i;
        self.by_inside
            .remove(&(m.proto, *m.inside.ip(), m.inside.port()));
        self.by_public.remove(&(m.proto, m.public_port));
    }

    /// An ICMP error: outbound, about a packet that came in through a mapping (its embedded
    /// destination is the inside host); inbound, about a packet that went out through one (its
    /// embedded source is `public`). The outer address, the embedded address and port, and the
    /// checksums of the embedded headers, the ICMP message and the outer header are rewritten.
    fn icmp_error(
        &mut self,
        pkt: &mut [u8],
        ip: &Ip,
        dir: Dir,
        public: Ipv4Addr,
    ) -> Result<Translated, PatError> {
        let icmp = ip.ihl;
        let emb = icmp + ICMP_HDR;
        let e = parse_embedded(pkt, emb)?;
        let el4 = emb + e.ihl;
        if el4 + ICMP_HDR > pkt.len() {
            return Err(malformed(el4, Malformation::TruncatedTransport));
        }
        if e.fragment {
            return Err(untranslatable(Unsupported::Fragment));
        }
        let proto = match e.proto {
            PROTO_TCP => PatProto::Tcp,
            PROTO_UDP => PatProto::Udp,
            PROTO_ICMP => {
                // The embedded packet is an echo we translated: our request going out, or the
                // reply that came in and that the inside host reports on.
                let ty = get16(pkt, el4)? >> 8;
                let expected = match dir {
                    Dir::In => ICMP_ECHO_REQUEST,
                    Dir::Out => ICMP_ECHO_REPLY,
                };
                if ty != u16::from(expected) {
                    return Err(untranslatable(Unsupported::IcmpType(ty as u8)));
                }
                PatProto::Icmp
            }
            p => return Err(untranslatable(Unsupported::Protocol(p))),
        };
        // Where the translated port lies in the embedded transport header: the source port
        // of what went out, the destination port of what came in; an echo's identifier.
        let port_at = match (proto, dir) {
            (PatProto::Icmp, _) => el4 + 4,
            (_, Dir::In) => el4,
            (_, Dir::Out) => el4 + 2,
        };
        let port = get16(pkt, port_at)?;
        let i = match dir {
            Dir::In if e.src != public => None,
            Dir::In => self.by_public.get(&(proto, port)).copied(),
            Dir::Out => self.by_inside.get(&(proto, e.dst, port)).copied(),
        }
        .ok_or(no_mapping(proto, port))?;
        let m = self
            .slots
            .get(i as usize)
            .map(|s| s.mapping)
            .ok_or(no_mapping(proto, port))?;
        let (emb_addr_at, new_addr, new_port, outer_at, outer_addr) = match dir {
            Dir::In => (
                emb + IP_SRC,
                *m.inside.ip(),
                m.inside.port(),
                IP_DST,
                *m.inside.ip(),
            ),
            Dir::Out => (emb + IP_DST, public, m.public_port, IP_SRC, public),
        };
        // Every word changed inside the ICMP message changes its checksum.
        let addr = put_addr(pkt, emb_addr_at, new_addr)?;
        let mut icmp_delta = addr.plus(fix(pkt, emb + IP_CSUM, addr)?);
        let port = put16(pkt, port_at, new_port)?;
        icmp_delta = icmp_delta.plus(port);
        let l4_csum = match proto {
            PatProto::Tcp if el4 + 18 <= pkt.len() => fix(pkt, el4 + 16, addr.plus(port))?,
            // Only 8 bytes of TCP are promised, and its checksum lies beyond them.
            PatProto::Tcp => Delta::ZERO,
            PatProto::Udp => fix_udp(pkt, el4 + 6, addr.plus(port))?,
            PatProto::Icmp => fix(pkt, el4 + 2, port)?,
        };
        icmp_delta = icmp_delta.plus(l4_csum);
        fix(pkt, icmp + 2, icmp_delta)?;
        let outer = put_addr(pkt, outer_at, outer_addr)?;
        fix(pkt, IP_CSUM, outer)?;
        Ok(Translated::Rewritten)
    }
}

fn done(created: bool) -> Translated {
    if created {
        Translated::Created
    } else {
        Translated::Rewritten
    }
}

fn malformed(at: usize, kind: Malformation) -> PatError {
    PatError::Malformed { at, kind }
}

fn untranslatable(why: Unsupported) -> PatError {
    PatError::Untranslatable { why }
}

fn no_mapping(proto: PatProto, port: u16) -> PatError {
    PatError::NoMapping { proto, port }
}

/// The IPv4 header fields PAT needs.
#[derive(Clone, Copy, Debug)]
struct Ip {
    ihl: usize,
    total: usize,
    proto: u8,
    /// A fragment other than the first.
    fragment: bool,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

fn parse_ip(p: &[u8]) -> Result<Ip, PatError> {
    let h = header_at(p, 0).ok_or(malformed(0, Malformation::ShortIpHeader))?;
    if h[0] >> 4 != 4 {
        return Err(malformed(0, Malformation::NotIpv4));
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if ihl < IPV4_MIN || ihl > p.len() {
        return Err(malformed(0, Malformation::BadIhl));
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total < ihl || total > p.len() {
        return Err(malformed(2, Malformation::BadTotalLength));
    }
    Ok(Ip {
        ihl,
        total,
        ..fields(&h)
    })
}

/// The IPv4 header of the datagram an ICMP error reports on, at `at` in `p`. Its total length
/// is the original datagram's, not what the error carries, so it is not checked.
fn parse_embedded(p: &[u8], at: usize) -> Result<Ip, PatError> {
    let bad = malformed(at, Malformation::BadEmbeddedHeader);
    let h = header_at(p, at).ok_or(bad)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || ihl < IPV4_MIN || at + ihl > p.len() {
        return Err(bad);
    }
    Ok(Ip { ihl, ..fields(&h) })
}

fn header_at(p: &[u8], at: usize) -> Option<[u8; IPV4_MIN]> {
    p.get(at..at.checked_add(IPV4_MIN)?)?.try_into().ok()
}

fn fields(h: &[u8; IPV4_MIN]) -> Ip {
    Ip {
        ihl: IPV4_MIN,
        total: 0,
        proto: h[9],
        fragment: u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0,
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
    }
}

/// The TCP or UDP header fields PAT needs.
#[derive(Clone, Copy, Debug)]
struct Transport {
    proto: PatProto,
    src_port: u16,
    dst_port: u16,
    /// TCP flags (0 for UDP).
    flags: u8,
}

/// Checks that the TCP or UDP header is whole (checksum included) before anything is written.
fn transport(pkt: &[u8], ip: &Ip) -> Result<Transport, PatError> {
    let l4 = ip.ihl;
    let truncated = malformed(l4, Malformation::TruncatedTransport);
    if ip.proto == PROTO_TCP {
        let h: [u8; TCP_MIN] = pkt
            .get(l4..l4 + TCP_MIN)
            .and_then(|h| h.try_into().ok())
            .ok_or(truncated)?;
        let offset = usize::from(h[12] >> 4) * 4;
        if offset < TCP_MIN || l4 + offset > pkt.len() {
            return Err(malformed(l4 + 12, Malformation::BadTcpDataOffset));
        }
        Ok(Transport {
            proto: PatProto::Tcp,
            src_port: u16::from_be_bytes([h[0], h[1]]),
            dst_port: u16::from_be_bytes([h[2], h[3]]),
            flags: h[13],
        })
    } else {
        let h: [u8; UDP_LEN] = pkt
            .get(l4..l4 + UDP_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(truncated)?;
        Ok(Transport {
            proto: PatProto::Udp,
            src_port: u16::from_be_bytes([h[0], h[1]]),
            dst_port: u16::from_be_bytes([h[2], h[3]]),
            flags: 0,
        })
    }
}

/// The type of an ICMP message whose 8-byte header is whole.
fn icmp_type(pkt: &[u8], ip: &Ip) -> Result<u8, PatError> {
    pkt.get(ip.ihl..ip.ihl + ICMP_HDR)
        .and_then(|h| h.first().copied())
        .ok_or(malformed(ip.ihl, Malformation::TruncatedTransport))
}

/// Updates the TCP or UDP checksum of the header at `l4` for a change of `delta` (addresses in
/// the pseudo-header and ports).
fn fix_transport(pkt: &mut [u8], l4: usize, proto: PatProto, delta: Delta) -> Result<(), PatError> {
    match proto {
        PatProto::Udp => fix_udp(pkt, l4 + 6, delta)?,
        _ => fix(pkt, l4 + 16, delta)?,
    };
    Ok(())
}

/// A one's-complement sum of changes to 16-bit words, `~m + m'` for each word changed from
/// `m` to `m'` (RFC 1624 eqn. 3), to apply to every checksum that covers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Delta(u32);

impl Delta {
    const ZERO: Delta = Delta(0);

    fn change(old: u16, new: u16) -> Delta {
        // 0x0000 and 0xffff are the same number in one's complement: no change either.
        Delta(fold(u32::from(!old) + u32::from(new)))
    }

    fn plus(self, other: Delta) -> Delta {
        Delta(fold(self.0 + other.0))
    }

    /// `HC' = ~(~HC + sum)`; a checksum nothing changed is left as it is, bit for bit.
    fn apply(self, hc: u16) -> u16 {
        if self.0 == 0 {
            return hc;
        }
        !(fold(u32::from(!hc) + self.0) as u16)
    }
}

fn fold(mut s: u32) -> u32 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

fn get16(p: &[u8], at: usize) -> Result<u16, PatError> {
    p.get(at..at.saturating_add(2))
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_be_bytes)
        .ok_or(malformed(at, Malformation::TruncatedTransport))
}

/// Writes `v` at `at` and returns the change for the checksums covering it.
fn put16(p: &mut [u8], at: usize, v: u16) -> Result<Delta, PatError> {
    let w: &mut [u8; 2] = p
        .get_mut(at..at.saturating_add(2))
        .and_then(|b| b.try_into().ok())
        .ok_or(malformed(at, Malformation::TruncatedTransport))?;
    let old = u16::from_be_bytes(*w);
    *w = v.to_be_bytes();
    Ok(if old == v {
        Delta::ZERO
    } else {
        Delta::change(old, v)
    })
}

fn put_addr(p: &mut [u8], at: usize, a: Ipv4Addr) -> Result<Delta, PatError> {
    let [a0, a1, a2, a3] = a.octets();
    let hi = put16(p, at, u16::from_be_bytes([a0, a1]))?;
    Ok(hi.plus(put16(p, at + 2, u16::from_be_bytes([a2, a3]))?))
}

/// Applies `delta` to the checksum at `at`; returns the checksum word's own change (for an
/// ICMP checksum that covers it).
fn fix(p: &mut [u8], at: usize, delta: Delta) -> Result<Delta, PatError> {
    let old = get16(p, at)?;
    put16(p, at, delta.apply(old))
}

/// As [`fix`] for a UDP checksum: zero means "none" and stays so, and a computed zero is sent
/// as 0xffff (RFC 768).
fn fix_udp(p: &mut [u8], at: usize, delta: Delta) -> Result<Delta, PatError> {
    let old = get16(p, at)?;
    if old == 0 {
        return Ok(Delta::ZERO);
    }
    let new = match delta.apply(old) {
        0 => 0xffff,
        c => c,
    };
    put16(p, at, new)
}

#[cfg(test)]
#[path = "pat_tests.rs"]
mod tests;
