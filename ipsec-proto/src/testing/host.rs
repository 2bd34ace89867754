//! A host on a gateway's LAN ([`crate::testing::Network::attach`]): it sends the IPv4 packets
//! a test gives it, answers ICMP echo requests as any IP stack does, and keeps what it
//! received, so a scenario can ping across a tunnel.

use std::net::Ipv4Addr;

use super::network::{Node, Packet, Wire};
use crate::time::Instant;

/// The Internet checksum (RFC 1071) of `b`.
fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        let w = match c {
            [x, y] => u16::from_be_bytes([*x, *y]),
            [x] => u16::from_be_bytes([*x, 0]),
            _ => 0,
        };
        s += u32::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    // The fold above leaves at most 16 bits.
    !(s as u16)
}

/// Fills in the IPv4 header checksum and the ICMP checksum of an ICMP packet.
fn seal_icmp(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    p[10..12].fill(0);
    let c = checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[ihl + 2..ihl + 4].fill(0);
    let c = checksum(&p[ihl..]);
    p[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
}

/// An ICMP echo as a host of the LAN sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    /// The sender.
    pub src: Ipv4Addr,
    /// ICMP type: 8 request, 0 reply.
    pub ty: u8,
    /// Identifier.
    pub id: u16,
    /// Sequence number.
    pub seq: u16,
}

impl Echo {
    /// The echo in an IPv4 packet, if it is one.
    pub fn parse(p: &[u8]) -> Option<Echo> {
        let ihl = usize::from(p.first()? & 0x0f) * 4;
        if p.len() < ihl + 8 || p[0] >> 4 != 4 || p[9] != 1 || !matches!(p[ihl], 0 | 8) {
            return None;
        }
        let word = |at: usize| u16::from_be_bytes([p[at], p[at + 1]]);
        Some(Echo {
            src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            ty: p[ihl],
            id: word(ihl + 4),
            seq: word(ihl + 6),
        })
    }
}

/// A host: see the module documentation.
#[derive(Clone, Debug)]
pub struct Host {
    /// Its address.
    pub addr: Ipv4Addr,
    /// The TTL of the packets it originates (255, as IOS sends them, unless changed).
    pub ttl: u8,
    /// Every packet it received, with the time it arrived, in order.
    pub received: Vec<(Instant, Vec<u8>)>,
    outbox: Vec<Vec<u8>>,
}

impl Host {
    /// A host at `addr`.
    pub fn new(addr: Ipv4Addr) -> Host {
        Host {
            addr,
            ttl: 255,
            received: Vec::new(),
            outbox: Vec::new(),
        }
    }

    /// Queues an IPv4 packet; it leaves when the network next collects from this host.
    pub fn send(&mut self, packet: Vec<u8>) {
        self.outbox.push(packet);
    }

    /// An ICMP echo request of `len` bytes (IP header included) from this host to `dst`; the
    /// IP identification is the sequence number.
    pub fn echo_request(&self, dst: Ipv4Addr, id: u16, seq: u16, len: usize) -> Vec<u8> {
        let len = len.max(28);
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        p[4..6].copy_from_slice(&seq.to_be_bytes());
        p[8] = self.ttl;
        p[9] = 1;
        p[12..16].copy_from_slice(&self.addr.octets());
        p[16..20].copy_from_slice(&dst.octets());
        p[20] = 8;
        p[24..26].copy_from_slice(&id.to_be_bytes());
        p[26..28].copy_from_slice(&seq.to_be_bytes());
        for (i, b) in p[28..].iter_mut().enumerate() {
            // The index only varies the pattern: truncation is intended.
            *b = 0xAB_u8.wrapping_add(i as u8);
        }
        seal_icmp(&mut p);
        p
    }

    /// The echo replies this host received, with their arrival times.
    pub fn replies(&self) -> impl Iterator<Item = (Instant, Echo)> + '_ {
        self.received
            .iter()
            .filter_map(|(at, p)| Echo::parse(p).filter(|e| e.ty == 0).map(|e| (*at, e)))
    }
}

impl Node for Host {
    fn poll_transmit(&mut self, _now: Instant, out: &mut Vec<Packet>) {
        for bytes in self.outbox.drain(..) {
            out.push(Packet {
                wire: Wire::ip(&bytes),
                bytes,
            });
        }
    }

    fn handle_packet(&mut self, now: Instant, p: &Packet) {
        if !matches!(p.wire, Wire::Ip { dst, .. } if dst == self.addr) {
            return;
        }
        self.received.push((now, p.bytes.clone()));
        if Echo::parse(&p.bytes).is_some_and(|e| e.ty == 8) {
            // The reply echoes the request's data; only addresses, type and TTL change.
            let mut r = p.bytes.clone();
            r.copy_within(12..16, 16);
            r[12..16].copy_from_slice(&self.addr.octets());
            r[8] = self.ttl;
            let ihl = usize::from(r[0] & 0x0f) * 4;
            r[ihl] = 0;
            seal_icmp(&mut r);
            self.outbox.push(r);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_an_echo_with_its_data() {
        let a = Host::new(Ipv4Addr::new(10, 0, 0, 1));
        let mut b = Host::new(Ipv4Addr::new(10, 0, 0, 2));
        let req = a.echo_request(b.addr, 7, 3, 100);
        assert_eq!(checksum(&req[..20]), 0);
        assert_eq!(checksum(&req[20..]), 0);
        b.handle_packet(
            Instant(0),
            &Packet {
                wire: Wire::ip(&req),
                bytes: req.clone(),
            },
        );
        let mut out = Vec::new();
        b.poll_transmit(Instant(0), &mut out);
        let reply = &out[0].bytes;
        assert_eq!(
            out[0].wire,
            Wire::Ip {
                src: b.addr,
                dst: a.addr
            }
        );
        assert_eq!(&reply[28..], &req[28..]);
        assert_eq!(checksum(&reply[..20]), 0);
        assert_eq!(checksum(&reply[20..]), 0);
        let e = Echo::parse(reply).unwrap();
        assert_eq!((e.src, e.ty, e.id, e.seq), (b.addr, 0, 7, 3));
    }
}
