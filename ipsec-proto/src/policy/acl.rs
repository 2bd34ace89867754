//! Access lists (crypto ACLs, NAT ACLs) and the traffic selectors (proxy identities) derived from them.

use std::fmt;
use std::net::Ipv4Addr;

/// `permit` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclAction {
    /// `permit`: in a crypto ACL, traffic to protect; in a NAT ACL, traffic to translate.
    Permit,
    /// `deny`: in a crypto ACL, send in clear; in a NAT ACL, exempt from translation.
    Deny,
}

impl AclAction {
    /// IOS keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            AclAction::Permit => "permit",
            AclAction::Deny => "deny",
        }
    }
}

/// IP protocol matched by an ACL entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AclProtocol {
    /// `ip`: any protocol.
    Ip,
    /// One IP protocol number (`icmp` = 1, `tcp` = 6, `udp` = 17, `gre` = 47, ...).
    Number(u8),
}

/// Protocol names IOS prints instead of numbers.
const PROTO_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ahp", 51),
    ("eigrp", 88),
    ("ospf", 89),
    ("pim", 103),
];

impl AclProtocol {
    /// TCP.
    pub const TCP: AclProtocol = AclProtocol::Number(6);
    /// UDP.
    pub const UDP: AclProtocol = AclProtocol::Number(17);
    /// ICMP.
    pub const ICMP: AclProtocol = AclProtocol::Number(1);

    /// Names accepted in ACL lines (besides `ip` and numbers).
    pub fn names() -> impl Iterator<Item = &'static str> {
        PROTO_NAMES.iter().map(|(n, _)| *n)
    }

    /// Looks a protocol name up.
    pub fn from_name(name: &str) -> Option<AclProtocol> {
        if name == "ip" {
            return Some(AclProtocol::Ip);
        }
        PROTO_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| AclProtocol::Number(*p))
    }

    /// Protocol number on the wire (0 = any, as in a proxy identity).
    pub fn number(&self) -> u8 {
        match self {
            AclProtocol::Ip => 0,
            AclProtocol::Number(n) => *n,
        }
    }

    /// Whether port operators are allowed (TCP and UDP).
    pub fn has_ports(&self) -> bool {
        matches!(self, AclProtocol::Number(6 | 17))
    }
}

impl fmt::Display for AclProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclProtocol::Ip => f.write_str("ip"),
            AclProtocol::Number(n) => match PROTO_NAMES.iter().find(|(_, p)| p == n) {
                Some((name, _)) => f.write_str(name),
                None => write!(f, "{n}"),
            },
        }
    }
}

/// Address + wildcard (inverted mask; set bits are "don't care", holes allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrMatch {
    /// Address (bits under the wildcard are ignored).
    pub addr: Ipv4Addr,
    /// Wildcard bits.
    pub wildcard: Ipv4Addr,
}

impl AddrMatch {
    /// `any`.
    pub const ANY: AddrMatch = AddrMatch {
        addr: Ipv4Addr::UNSPECIFIED,
        wildcard: Ipv4Addr::BROADCAST,
    };

    /// `host A`.
    pub fn host(addr: Ipv4Addr) -> Self {
        AddrMatch {
            addr,
            wildcard: Ipv4Addr::UNSPECIFIED,
        }
    }

    /// Whether `a` is matched.
    pub fn matches(&self, a: Ipv4Addr) -> bool {
        let care = !u32::from(self.wildcard);
        u32::from(self.addr) & care == u32::from(a) & care
    }

    /// Whether every address from `start` to `end` (inclusive) is matched.
    pub fn contains_range(&self, start: Ipv4Addr, end: Ipv4Addr) -> bool {
        let (s, e) = (u32::from(start), u32::from(end));
        if s > e {
            return false;
        }
        // Every bit at or below the highest differing bit takes both values somewhere in [s, e].
        let diff = s ^ e;
        let varying = if diff == 0 {
            0
        } else {
            u32::MAX >> diff.leading_zeros()
        };
        varying & !u32::from(self.wildcard) == 0 && self.matches(start)
    }

    /// The equivalent subnet mask when the wildcard is contiguous (`0.0.0.255` -> `255.255.255.0`).
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        let w = u32::from(self.wildcard);
        // contiguous wildcard = low bits set: w + 1 is a power of two (or w is all ones).
        if w == u32::MAX || w.wrapping_add(1) & w == 0 {
            Some(Ipv4Addr::from(!w))
        } else {
            None
        }
    }

    /// Whether every address matched by `other` is matched by this one.
    pub fn covers(&self, other: &AddrMatch) -> bool {
        let care = !u32::from(self.wildcard);
        // Bits this match cares about must be fixed in `other`, and agree.
        care & u32::from(other.wildcard) == 0 && self.matches(other.addr)
    }

    /// Whether the two match at least one common address.
    pub fn overlaps(&self, other: &AddrMatch) -> bool {
        let care = !u32::from(self.wildcard) & !u32::from(other.wildcard);
        u32::from(self.addr) & care == u32::from(other.addr) & care
    }
}

impl fmt::Display for AddrMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if u32::from(self.wildcard) == 0 {
            write!(f, "host {}", self.addr)
        } else if u32::from(self.wildcard) == u32::MAX {
            f.write_str("any")
        } else {
            write!(f, "{} {}", self.addr, self.wildcard)
        }
    }
}

/// Port operator of a TCP/UDP ACL entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortMatch {
    /// No operator: any port.
    Any,
    /// `eq P`.
    Eq(u16),
    /// `neq P`.
    Neq(u16),
    /// `lt P`.
    Lt(u16),
    /// `gt P`.
    Gt(u16),
    /// `range A B` (inclusive).
    Range(u16, u16),
}

impl PortMatch {
    /// Whether port `p` is matched.
    pub fn matches(&self, p: u16) -> bool {
        match *self {
            PortMatch::Any => true,
            PortMatch::Eq(x) => p == x,
            PortMatch::Neq(x) => p != x,
            PortMatch::Lt(x) => p < x,
            PortMatch::Gt(x) => p > x,
            PortMatch::Range(a, b) => a <= p && p <= b,
        }
    }

    /// The matched ports as one inclusive range, None for `neq` (two ranges) or an empty set.
    pub fn as_range(&self) -> Option<PortRange> {
        let (s, e) = match *self {
            PortMatch::Any => (0, u16::MAX),
            PortMatch::Eq(x) => (x, x),
            PortMatch::Neq(_) => return None,
            PortMatch::Lt(x) => (0, x.checked_sub(1)?),
            PortMatch::Gt(x) => (x.checked_add(1)?, u16::MAX),
            PortMatch::Range(a, b) => (a, b),
        };
        (s <= e).then_some(PortRange { start: s, end: e })
    }

    /// Whether every port of `r` is matched.
    pub fn contains(&self, r: PortRange) -> bool {
        match *self {
            PortMatch::Neq(x) => !(r.start <= x && x <= r.end),
            _ => self
                .as_range()
                .is_some_and(|m| m.start <= r.start && r.end <= m.end),
        }
    }
}

impl fmt::Display for PortMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortMatch::Any => Ok(()),
            PortMatch::Eq(p) => write!(f, "eq {p}"),
            PortMatch::Neq(p) => write!(f, "neq {p}"),
            PortMatch::Lt(p) => write!(f, "lt {p}"),
            PortMatch::Gt(p) => write!(f, "gt {p}"),
            PortMatch::Range(a, b) => write!(f, "range {a} {b}"),
        }
    }
}

/// Inclusive port range of a traffic selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

impl PortRange {
    /// All ports (the IKEv1 ID payload's port 0).
    pub const ANY: PortRange = PortRange {
        start: 0,
        end: u16::MAX,
    };

    /// The single port an IKEv1 ID payload can carry: 0 for any, P for exactly P, None otherwise.
    pub fn ikev1_port(&self) -> Option<u16> {
        if *self == PortRange::ANY {
            Some(0)
        } else if self.start == self.end {
            Some(self.start)
        } else {
            None
        }
    }
}

/// A packet's 5-tuple, as ACLs see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub protocol: u8,
    /// Source port (0 when the protocol has none).
    pub src_port: u16,
    /// Destination port (0 when the protocol has none).
    pub dst_port: u16,
}

/// One ACL entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// Sequence number (10, 20, ... when not given).
    pub seq: u32,
    /// Permit or deny.
    pub action: AclAction,
    /// Protocol.
    pub protocol: AclProtocol,
    /// Source.
    pub src: AddrMatch,
    /// Source port operator (TCP/UDP only).
    pub src_port: PortMatch,
    /// Destination.
    pub dst: AddrMatch,
    /// Destination port operator (TCP/UDP only).
    pub dst_port: PortMatch,
    /// `log` keyword (kept for rendering; logging is not implemented).
    pub log: bool,
}

impl AclEntry {
    /// Whether the entry matches the packet.
    pub fn matches(&self, p: &FiveTuple) -> bool {
        if let AclProtocol::Number(n) = self.protocol {
            if n != p.protocol {
                return false;
            }
        }
        let ports_ok = !self.protocol.has_ports()
            || (self.src_port.matches(p.src_port) && self.dst_port.matches(p.dst_port));
        self.src.matches(p.src) && self.dst.matches(p.dst) && ports_ok
    }

    /// The proxy identities (local = source side, remote = destination side) IOS proposes in Quick Mode
    /// for this line. None when the line is not expressible as a selector pair (non-contiguous wildcard
    /// or `neq`).
    pub fn to_selectors(&self) -> Option<(TrafficSelector, TrafficSelector)> {
        let proto = self.protocol.number();
        let (sp, dp) = if self.protocol.has_ports() {
            (self.src_port.as_range()?, self.dst_port.as_range()?)
        } else {
            (PortRange::ANY, PortRange::ANY)
        };
        let local = TrafficSelector {
            addr: SelectorAddr::from_match(&self.src)?,
            protocol: proto,
            ports: sp,
        };
        let remote = TrafficSelector {
            addr: SelectorAddr::from_match(&self.dst)?,
            protocol: proto,
            ports: dp,
        };
        Some((local, remote))
    }

    /// Responder check: whether the peer's proposal (its IDci describing our remote side and IDcr
    /// describing our local side, already swapped into our view) lies entirely inside this line.
    pub fn contains(&self, local: &TrafficSelector, remote: &TrafficSelector) -> bool {
        let proto_ok = |ts: &TrafficSelector| match self.protocol {
            AclProtocol::Ip => true,
            AclProtocol::Number(n) => ts.protocol == n,
        };
        let port_ok = |m: &PortMatch, ts: &TrafficSelector| {
            !self.protocol.has_ports() || m.contains(ts.ports)
        };
        let (ls, le) = local.addr.range();
        let (rs, re) = remote.addr.range();
        proto_ok(local)
            && proto_ok(remote)
            && self.src.contains_range(ls, le)
            && self.dst.contains_range(rs, re)
            && port_ok(&self.src_port, local)
            && port_ok(&self.dst_port, remote)
    }

    /// This line as the peer should have it (source and destination swapped).
    pub fn mirrored(&self) -> AclEntry {
        AclEntry {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..self.clone()
        }
    }

    /// Whether `other` (the peer's line) is the exact mirror image of this one.
    pub fn is_mirror_of(&self, other: &AclEntry) -> bool {
        let m = self.mirrored();
        m.action == other.action
            && m.protocol == other.protocol
            && m.src == other.src
            && m.dst == other.dst
            && m.src_port == other.src_port
            && m.dst_port == other.dst_port
    }

    /// Whether every packet matched by `other` is matched by this entry.
    pub fn covers(&self, other: &AclEntry) -> bool {
        let proto = match (self.protocol, other.protocol) {
            (AclProtocol::Ip, _) => true,
            (AclProtocol::Number(a), AclProtocol::Number(b)) => a == b,
            (AclProtocol::Number(_), AclProtocol::Ip) => false,
        };
        let ports = |mine: &PortMatch, theirs: &PortMatch| {
            if !self.protocol.has_ports() || *mine == PortMatch::Any {
                return true;
            }
            match theirs.as_range() {
                Some(r) => mine.contains(r),
                None => mine == theirs,
            }
        };
        proto
            && self.src.covers(&other.src)
            && self.dst.covers(&other.dst)
            && ports(&self.src_port, &other.src_port)
            && ports(&self.dst_port, &other.dst_port)
    }

    /// Whether some packet is matched by both entries (protocol, addresses; ports approximated by ranges).
    pub fn overlaps(&self, other: &AclEntry) -> bool {
        let proto = match (self.protocol, other.protocol) {
            (AclProtocol::Number(a), AclProtocol::Number(b)) => a == b,
            _ => true,
        };
        let ports = |a: &PortMatch, b: &PortMatch| match (a.as_range(), b.as_range()) {
            (Some(x), Some(y)) => x.start <= y.end && y.start <= x.end,
            _ => true,
        };
        let both_ports = self.protocol.has_ports() && other.protocol.has_ports();
        proto
            && self.src.overlaps(&other.src)
            && self.dst.overlaps(&other.dst)
            && (!both_ports
                || (ports(&self.src_port, &other.src_port)
                    && ports(&self.dst_port, &other.dst_port)))
    }

    /// The entry text after the sequence number, as IOS prints it (`permit ip 10.0.0.0 0.0.0.255 any`).
    pub fn render(&self, kind: AclKind) -> String {
        let mut s = String::from(self.action.keyword());
        if kind == AclKind::Standard {
            s.push(' ');
            if u32::from(self.src.wildcard) == 0 {
                s.push_str(&self.src.addr.to_string());
            } else {
                s.push_str(&self.src.to_string());
            }
        } else {
            s.push_str(&format!(" {} {}", self.protocol, self.src));
            if self.src_port != PortMatch::Any {
                s.push_str(&format!(" {}", self.src_port));
            }
            s.push_str(&format!(" {}", self.dst));
            if self.dst_port != PortMatch::Any {
                s.push_str(&format!(" {}", self.dst_port));
            }
        }
        if self.log {
            s.push_str(" log");
        }
        s
    }
}

/// Standard (source only) or extended ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclKind {
    /// Standard ACL (1-99, 1300-1999): source address only.
    Standard,
    /// Extended ACL (100-199, 2000-2699, or named extended).
    Extended,
}

/// A numbered or named access list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessList {
    /// Number (as text) or name.
    pub name: String,
    /// True for `access-list N`, false for `ip access-list extended NAME`.
    pub numbered: bool,
    /// Standard or extended.
    pub kind: AclKind,
    /// Entries in sequence order.
    pub entries: Vec<AclEntry>,
    /// `remark` lines, in order.
    pub remarks: Vec<String>,
}

impl AccessList {
    /// An empty list.
    pub fn new(name: impl Into<String>, numbered: bool, kind: AclKind) -> Self {
        AccessList {
            name: name.into(),
            numbered,
            kind,
            entries: Vec::new(),
            remarks: Vec::new(),
        }
    }

    /// The first entry matching the packet (IOS first-match semantics; no match = implicit deny).
    pub fn first_match(&self, p: &FiveTuple) -> Option<&AclEntry> {
        self.entries.iter().find(|e| e.matches(p))
    }

    /// Whether the packet is permitted.
    pub fn permits(&self, p: &FiveTuple) -> bool {
        self.first_match(p)
            .is_some_and(|e| e.action == AclAction::Permit)
    }

    /// Inserts an entry keeping sequence order; with `seq` None the next multiple of ten after the
    /// highest existing number is used. Returns false when that sequence number already exists.
    pub fn insert(&mut self, seq: Option<u32>, mut entry: AclEntry) -> bool {
        let seq = match seq {
            Some(s) => s,
            None => self
                .entries
                .last()
                .map_or(10, |e| (e.seq / 10).saturating_add(1).saturating_mul(10)),
        };
        if self.entries.iter().any(|e| e.seq == seq) {
            return false;
        }
        entry.seq = seq;
        let pos = self
            .entries
            .iter()
            .position(|e| e.seq > seq)
            .unwrap_or(self.entries.len());
        self.entries.insert(pos, entry);
        true
    }

    /// Responder check: the first permit line containing the proposed selectors.
    pub fn find_containing(
        &self,
        local: &TrafficSelector,
        remote: &TrafficSelector,
    ) -> Option<&AclEntry> {
        self.entries
            .iter()
            .find(|e| e.action == AclAction::Permit && e.contains(local, remote))
    }
}

/// Address part of a traffic selector (IKEv1 ID types 1, 4 and 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SelectorAddr {
    /// ID_IPV4_ADDR.
    Host(Ipv4Addr),
    /// ID_IPV4_ADDR_SUBNET (mask contiguous).
    Subnet {
        /// Network address (host bits clear).
        addr: Ipv4Addr,
        /// Netmask.
        mask: Ipv4Addr,
    },
    /// ID_IPV4_ADDR_RANGE (inclusive).
    Range {
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
}

impl SelectorAddr {
    /// From an ACL address match: host -> Host, contiguous wildcard -> Subnet, else None.
    pub fn from_match(m: &AddrMatch) -> Option<SelectorAddr> {
        if u32::from(m.wildcard) == 0 {
            return Some(SelectorAddr::Host(m.addr));
        }
        let mask = m.subnet_mask()?;
        Some(SelectorAddr::Subnet {
            addr: Ipv4Addr::from(u32::from(m.addr) & u32::from(mask)),
            mask,
        })
    }

    /// First and last address covered.
    pub fn range(&self) -> (Ipv4Addr, Ipv4Addr) {
        match *self {
            SelectorAddr::Host(a) => (a, a),
            SelectorAddr::Subnet { addr, mask } => {
                let m = u32::from(mask);
                let a = u32::from(addr) & m;
                (Ipv4Addr::from(a), Ipv4Addr::from(a | !m))
            }
            SelectorAddr::Range { start, end } => (start, end),
        }
    }

    /// `(addr, mask)` as IOS prints proxies (`192.168.1.0/255.255.255.0`; hosts get /255.255.255.255).
    /// Ranges print their start and end.
    pub fn addr_mask(&self) -> (Ipv4Addr, Ipv4Addr) {
        match *self {
            SelectorAddr::Host(a) => (a, Ipv4Addr::BROADCAST),
            SelectorAddr::Subnet { addr, mask } => (addr, mask),
            SelectorAddr::Range { start, end } => (start, end),
        }
    }
}

/// A proxy identity (IKEv1 IDci / IDcr): addresses, protocol (0 = any) and ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// Addresses.
    pub addr: SelectorAddr,
    /// IP protocol, 0 = any.
    pub protocol: u8,
    /// Ports; IKEv1 can carry only one port or any.
    pub ports: PortRange,
}

impl TrafficSelector {
    /// A whole-protocol selector for a subnet or host.
    pub fn subnet(addr: Ipv4Addr, mask: Ipv4Addr) -> Self {
        let addr = if u32::from(mask) == u32::MAX {
            SelectorAddr::Host(addr)
        } else {
            SelectorAddr::Subnet {
                addr: Ipv4Addr::from(u32::from(addr) & u32::from(mask)),
                mask,
            }
        };
        TrafficSelector {
            addr,
            protocol: 0,
            ports: PortRange::ANY,
        }
    }

    /// Whether `other` lies entirely inside this selector.
    pub fn contains(&self, other: &TrafficSelector) -> bool {
        let (s, e) = self.addr.range();
        let (os, oe) = other.addr.range();
        (self.protocol == 0 || self.protocol == other.protocol)
            && s <= os
            && oe <= e
            && self.ports.start <= other.ports.start
            && other.ports.end <= self.ports.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn m(a: &str, w: &str) -> AddrMatch {
        AddrMatch {
            addr: ip(a),
            wildcard: ip(w),
        }
    }
    fn entry(action: AclAction, proto: AclProtocol, src: AddrMatch, dst: AddrMatch) -> AclEntry {
        AclEntry {
            seq: 0,
            action,
            protocol: proto,
            src,
            src_port: PortMatch::Any,
            dst,
            dst_port: PortMatch::Any,
            log: false,
        }
    }
    fn pkt(s: &str, d: &str, proto: u8, sp: u16, dp: u16) -> FiveTuple {
        FiveTuple {
            src: ip(s),
            dst: ip(d),
            protocol: proto,
            src_port: sp,
            dst_port: dp,
        }
    }

    #[test]
    fn nat_exemption_first_match() {
        let mut acl = AccessList::new("101", true, AclKind::Extended);
        let lan = m("192.168.1.0", "0.0.0.255");
        acl.insert(
            None,
            entry(
                AclAction::Deny,
                AclProtocol::Ip,
                lan,
                m("192.168.2.0", "0.0.0.255"),
            ),
        );
        acl.insert(
            None,
            entry(AclAction::Permit, AclProtocol::Ip, lan, AddrMatch::ANY),
        );
        assert_eq!(
            acl.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![10, 20]
        );
        assert!(!acl.permits(&pkt("192.168.1.5", "192.168.2.9", 6, 1, 2)));
        assert!(acl.permits(&pkt("192.168.1.5", "8.8.8.8", 17, 1, 53)));
        assert!(!acl.permits(&pkt("10.0.0.1", "8.8.8.8", 17, 1, 53)));
    }

    #[test]
    fn ports_and_noncontiguous_wildcards() {
        let mut e = entry(
            AclAction::Permit,
            AclProtocol::TCP,
            m("10.0.0.1", "0.255.0.0"),
            AddrMatch::ANY,
        );
        e.dst_port = PortMatch::Range(1000, 2000);
        assert!(e.matches(&pkt("10.77.0.1", "1.1.1.1", 6, 5, 1500)));
        assert!(!e.matches(&pkt("10.77.0.2", "1.1.1.1", 6, 5, 1500)));
        assert!(!e.matches(&pkt("10.77.0.1", "1.1.1.1", 17, 5, 1500)));
        assert!(!e.matches(&pkt("10.77.0.1", "1.1.1.1", 6, 5, 2001)));
        assert_eq!(
            e.to_selectors(),
            None,
            "non-contiguous wildcard has no selector"
        );
        e.dst_port = PortMatch::Neq(80);
        assert!(e.matches(&pkt("10.0.0.1", "1.1.1.1", 6, 5, 81)));
        assert!(!e.matches(&pkt("10.0.0.1", "1.1.1.1", 6, 5, 80)));
        assert_eq!(PortMatch::Lt(0).as_range(), None);
        assert_eq!(
            PortMatch::Gt(1023).as_range(),
            Some(PortRange {
                start: 1024,
                end: 65535
            })
        );
    }

    #[test]
    fn selectors_from_permit_line() {
        let e = entry(
            AclAction::Permit,
            AclProtocol::Ip,
            m("192.168.1.0", "0.0.0.255"),
            AddrMatch::host(ip("192.168.2.7")),
        );
        let (l, r) = e.to_selectors().unwrap();
        assert_eq!(
            l.addr,
            SelectorAddr::Subnet {
                addr: ip("192.168.1.0"),
                mask: ip("255.255.255.0")
            }
        );
        assert_eq!(r.addr, SelectorAddr::Host(ip("192.168.2.7")));
        assert_eq!((l.protocol, l.ports.ikev1_port()), (0, Some(0)));
        let any = entry(
            AclAction::Permit,
            AclProtocol::UDP,
            AddrMatch::ANY,
            AddrMatch::ANY,
        );
        let (l, _) = any.to_selectors().unwrap();
        assert_eq!(l.addr.range(), (ip("0.0.0.0"), ip("255.255.255.255")));
        assert_eq!(l.protocol, 17);
    }

    #[test]
    fn responder_containment() {
        let e = entry(
            AclAction::Permit,
            AclProtocol::Ip,
            m("192.168.1.0", "0.0.0.255"),
            m("192.168.2.0", "0.0.0.255"),
        );
        let sub = TrafficSelector::subnet(ip("192.168.1.128"), ip("255.255.255.128"));
        let host = TrafficSelector::subnet(ip("192.168.2.9"), ip("255.255.255.255"));
        assert!(e.contains(&sub, &host));
        assert!(!e.contains(&host, &sub), "swapped sides are not contained");
        let wider = TrafficSelector::subnet(ip("192.168.0.0"), ip("255.255.0.0"));
        assert!(!e.contains(&wider, &host));
        let udp_host = TrafficSelector {
            protocol: 17,
            ports: PortRange { start: 53, end: 53 },
            ..host
        };
        assert!(e.contains(&sub, &udp_host), "ip line contains any protocol");
        let mut tcp = e.clone();
        tcp.protocol = AclProtocol::TCP;
        tcp.dst_port = PortMatch::Eq(80);
        assert!(!tcp.contains(&sub, &udp_host));
        let tcp80 = TrafficSelector {
            protocol: 6,
            ports: PortRange { start: 80, end: 80 },
            ..host
        };
        let tcp_any_port = TrafficSelector { protocol: 6, ..sub };
        assert!(tcp.contains(&tcp_any_port, &tcp80));
        let range = TrafficSelector {
            addr: SelectorAddr::Range {
                start: ip("192.168.1.250"),
                end: ip("192.168.2.3"),
            },
            ..sub
        };
        assert!(
            !e.contains(&range, &host),
            "range crossing the /24 boundary"
        );
        // non-contiguous wildcard line containing a range
        let odd = entry(
            AclAction::Permit,
            AclProtocol::Ip,
            m("10.0.0.0", "0.0.255.3"),
            AddrMatch::ANY,
        );
        let r = |a: &str, b: &str| SelectorAddr::Range {
            start: ip(a),
            end: ip(b),
        };
        let ts = |a| TrafficSelector {
            addr: a,
            protocol: 0,
            ports: PortRange::ANY,
        };
        assert!(odd.contains(
            &ts(r("10.0.7.0", "10.0.7.3")),
            &ts(SelectorAddr::Host(ip("1.1.1.1")))
        ));
        assert!(!odd.contains(
            &ts(r("10.0.7.0", "10.0.7.4")),
            &ts(SelectorAddr::Host(ip("1.1.1.1")))
        ));
    }

    #[test]
    fn mirror_and_overlap() {
        let a = entry(
            AclAction::Permit,
            AclProtocol::Ip,
            m("192.168.1.0", "0.0.0.255"),
            m("192.168.2.0", "0.0.0.255"),
        );
        let b = entry(
            AclAction::Permit,
            AclProtocol::Ip,
            m("192.168.2.0", "0.0.0.255"),
            m("192.168.1.0", "0.0.0.255"),
        );
        assert!(a.is_mirror_of(&b));
        assert!(!a.is_mirror_of(&a));
        let host = entry(
            AclAction::Permit,
            AclProtocol::ICMP,
            AddrMatch::host(ip("192.168.1.9")),
            AddrMatch::ANY,
        );
        assert!(a.overlaps(&host));
        assert!(!b.overlaps(&host));
        assert!(a.covers(&AclEntry {
            protocol: AclProtocol::ICMP,
            src: AddrMatch::host(ip("192.168.1.9")),
            ..a.clone()
        }));
        assert!(!host.covers(&a));
        let any = entry(
            AclAction::Deny,
            AclProtocol::Ip,
            AddrMatch::ANY,
            AddrMatch::ANY,
        );
        assert!(any.covers(&a) && any.covers(&host));
        assert!(!m("10.0.0.0", "0.0.0.255").covers(&m("10.0.0.0", "0.0.255.0")));
        assert!(m("10.0.0.0", "0.0.255.255").covers(&m("10.0.7.0", "0.0.0.255")));
    }

    #[test]
    fn render_forms() {
        let mut e = entry(
            AclAction::Permit,
            AclProtocol::TCP,
            AddrMatch::host(ip("1.2.3.4")),
            AddrMatch::ANY,
        );
        e.dst_port = PortMatch::Eq(443);
        e.log = true;
        assert_eq!(
            e.render(AclKind::Extended),
            "permit tcp host 1.2.3.4 any eq 443 log"
        );
        assert_eq!(AclProtocol::Number(47).to_string(), "gre");
        assert_eq!(AclProtocol::Number(99).to_string(), "99");
    }
}
