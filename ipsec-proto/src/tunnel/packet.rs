//! The few IPv4 header fields the data path looks at, read without allocation.

use crate::policy::{FiveTuple, TrafficSelector};
use std::net::Ipv4Addr;

/// IP protocol numbers with ports in ACLs.
const TCP: u8 = 6;
const UDP: u8 = 17;

/// The 5-tuple of an IPv4 packet as IOS ACLs see it. Ports are read only from the first
/// fragment (later fragments carry none and match with port 0). `None` when the bytes are not
/// a whole IPv4 header.
pub fn five_tuple(pkt: &[u8]) -> Option<FiveTuple> {
    let vihl = *pkt.first()?;
    if vihl >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || pkt.len() < ihl {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?]));
    if total < ihl || total > pkt.len() {
        return None;
    }
    let frag_offset = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]) & 0x1fff;
    let protocol = *pkt.get(9)?;
    let addr = |o: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = pkt.get(o..o + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    let (src, dst) = (addr(12)?, addr(16)?);
    let (mut src_port, mut dst_port) = (0, 0);
    if frag_offset == 0 && matches!(protocol, TCP | UDP) {
        if let Some(&[a, b, c, d]) = pkt.get(ihl..ihl + 4) {
            src_port = u16::from_be_bytes([a, b]);
            dst_port = u16::from_be_bytes([c, d]);
        }
    }
    Some(FiveTuple {
        src,
        dst,
        protocol,
        src_port,
        dst_port,
    })
}

/// Whether a traffic selector admits `addr` with `protocol` and `port`.
pub fn selector_admits(ts: &TrafficSelector, addr: Ipv4Addr, protocol: u8, port: u16) -> bool {
    let (s, e) = ts.addr.range();
    s <= addr
        && addr <= e
        && (ts.protocol == 0 || ts.protocol == protocol)
        && ts.ports.start <= port
        && port <= ts.ports.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tuple_and_refuses_garbage() {
        let mut p = [0u8; 28];
        p[0] = 0x45;
        p[3] = 28;
        p[9] = 17;
        p[12..16].copy_from_slice(&[192, 168, 1, 10]);
        p[16..20].copy_from_slice(&[192, 168, 2, 10]);
        p[20..24].copy_from_slice(&[0x30, 0x39, 0, 53]);
        let t = five_tuple(&p).unwrap();
        assert_eq!((t.src_port, t.dst_port, t.protocol), (12345, 53, 17));
        assert_eq!(t.dst, Ipv4Addr::new(192, 168, 2, 10));
        // A later fragment has no ports.
        p[7] = 1;
        assert_eq!(five_tuple(&p).unwrap().dst_port, 0);
        assert!(five_tuple(&p[..19]).is_none());
        p[3] = 29;
        assert!(five_tuple(&p).is_none());
        p[3] = 28;
        p[0] = 0x60;
        assert!(five_tuple(&p).is_none());
    }
}
