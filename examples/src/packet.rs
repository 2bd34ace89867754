//! Just enough IPv4 and ICMP to put a ping through a tunnel without a TUN device: the driver
//! example crafts inner packets itself and checks what comes back.

use std::net::Ipv4Addr;

/// IPv4 header length without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// ICMP echo request type.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP echo reply type.
pub const ICMP_ECHO_REPLY: u8 = 0;

/// RFC 1071 Internet checksum of `data` (odd length padded with a zero byte).
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A whole IPv4 packet carrying an ICMP echo request from `src` to `dst`, both checksums
/// computed, TTL 64, DF clear.
pub fn icmp_echo_request(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let icmp_len = 8 + payload.len();
    let total = IPV4_HEADER_LEN + icmp_len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    // Identification: anything; the sequence number makes retransmits distinguishable.
    p[4..6].copy_from_slice(&seq.to_be_bytes());
    p[8] = 64;
    p[9] = PROTO_ICMP;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let ck = internet_checksum(&p[..IPV4_HEADER_LEN]);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    let icmp = &mut p[IPV4_HEADER_LEN..];
    icmp[0] = ICMP_ECHO_REQUEST;
    icmp[4..6].copy_from_slice(&ident.to_be_bytes());
    icmp[6..8].copy_from_slice(&seq.to_be_bytes());
    icmp[8..].copy_from_slice(payload);
    let ck = internet_checksum(icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    p
}

/// An ICMP echo message found in an IPv4 packet whose checksums verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpEcho {
    /// Outer source.
    pub src: Ipv4Addr,
    /// Outer destination.
    pub dst: Ipv4Addr,
    /// [`ICMP_ECHO_REQUEST`] or [`ICMP_ECHO_REPLY`].
    pub icmp_type: u8,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
    /// Data after the ICMP header.
    pub payload: Vec<u8>,
}

/// Parses an IPv4 packet holding an ICMP echo request or reply; `None` for anything else,
/// including a wrong IPv4 or ICMP checksum or a fragment.
pub fn parse_icmp_echo(packet: &[u8]) -> Option<IcmpEcho> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < IPV4_HEADER_LEN {
        return None;
    }
    let header = packet.get(..ihl)?;
    if internet_checksum(header) != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    let frag = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]);
    if frag & 0x3fff != 0 || *packet.get(9)? != PROTO_ICMP {
        return None;
    }
    let icmp = packet.get(ihl..total)?;
    if icmp.len() < 8 || internet_checksum(icmp) != 0 {
        return None;
    }
    let icmp_type = icmp[0];
    if icmp_type != ICMP_ECHO_REQUEST && icmp_type != ICMP_ECHO_REPLY {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b = packet.get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    Some(IcmpEcho {
        src: addr(12)?,
        dst: addr(16)?,
        icmp_type,
        ident: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: icmp[8..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3: the one's complement sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn echo_request_round_trips_and_verifies() {
        let src = Ipv4Addr::new(10, 1, 1, 10);
        let dst = Ipv4Addr::new(10, 2, 2, 10);
        let p = icmp_echo_request(src, dst, 0x1234, 7, b"abcdefgh");
        assert_eq!(p.len(), 20 + 8 + 8);
        let e = parse_icmp_echo(&p).unwrap();
        assert_eq!(
            (e.src, e.dst, e.icmp_type, e.ident, e.seq),
            (src, dst, ICMP_ECHO_REQUEST, 0x1234, 7)
        );
        assert_eq!(e.payload, b"abcdefgh");
        // A flipped bit breaks the ICMP checksum.
        let mut bad = p.clone();
        bad[30] ^= 1;
        assert!(parse_icmp_echo(&bad).is_none());
        // And one in the IPv4 header breaks the header checksum.
        let mut bad = p;
        bad[8] ^= 1;
        assert!(parse_icmp_echo(&bad).is_none());
    }
}
