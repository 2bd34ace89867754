//! Software segmentation for a TUN device opened with IFF_VNET_HDR and TSO offload.
//!
//! With TCP segmentation offload advertised, the kernel hands the TUN reader TCP "super-packets"
//! of up to 64 KiB preceded by a `virtio_net_hdr`, instead of one read per MSS-sized segment. The
//! engine cuts them back into the segments the kernel would have sent (each is then protected
//! like any other packet), which saves the per-segment read(2) and lets the sending TCP stack
//! work in large units. Checksums the kernel left to the "device" (`NEEDS_CSUM`) are completed
//! here too. In the other direction, runs of decapsulated segments of one TCP flow are
//! coalesced into one super-packet per write (what GRO does on a NIC), so the kernel routes and
//! delivers one large packet instead of dozens. Pure functions over caller buffers: nothing is
//! allocated per packet.

/// Length of `struct virtio_net_hdr` (no mergeable buffers), the TUNSETVNETHDRSZ default.
pub const VNET_HDR_LEN: usize = 10;

const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_ECN: u8 = 0x80;

const TCP_FIN: u8 = 0x01;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// The fields of a `virtio_net_hdr` the segmentation needs (little-endian on the wire, which is
/// the TUN default on little-endian hosts and what TUNSETVNETLE would select elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VnetHdr {
    /// VIRTIO_NET_HDR_F_* flags.
    pub flags: u8,
    /// VIRTIO_NET_HDR_GSO_* type (ECN bit included).
    pub gso_type: u8,
    /// Payload bytes per segment for a GSO packet.
    pub gso_size: u16,
    /// Where the checksummed area starts, when `NEEDS_CSUM`.
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Parses the header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Option<VnetHdr> {
        let h = buf.get(..VNET_HDR_LEN)?;
        let le = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        Some(VnetHdr {
            flags: h[0],
            gso_type: h[1],
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        })
    }
}

/// Why a packet read from the TUN could not be turned into segments (it is dropped and counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GsoError {
    /// Shorter than the virtio header, or headers that do not parse.
    #[error("malformed packet from the TUN offload path")]
    Malformed,
    /// A GSO type other than TCPv4 (never advertised, so never expected).
    #[error("unsupported GSO type {0:#x}")]
    Unsupported(u8),
    /// A segment would not fit the scratch buffer.
    #[error("segment larger than the scratch buffer")]
    TooLarge,
}

/// Splits one TUN read (`virtio_net_hdr` + IP packet) into plain IP packets and calls `each`
/// with every one, in order. Non-GSO packets are passed through (their checksum completed if
/// the kernel asked for it); `scratch` holds one segment at a time. Returns the number of
/// packets produced.
pub fn for_each_segment(
    read: &mut [u8],
    scratch: &mut [u8],
    mut each: impl FnMut(&[u8]),
) -> Result<usize, GsoError> {
    let hdr = VnetHdr::parse(read).ok_or(GsoError::Malformed)?;
    let pkt = read.get_mut(VNET_HDR_LEN..).ok_or(GsoError::Malformed)?;
    match hdr.gso_type & !GSO_ECN {
        GSO_NONE => {
            if hdr.flags & F_NEEDS_CSUM != 0 {
                complete_csum(pkt, hdr.csum_start.into(), hdr.csum_offset.into())?;
            }
            each(pkt);
            Ok(1)
        }
        GSO_TCPV4 => segment_tcp4(pkt, hdr.gso_size.into(), scratch, each),
        t => Err(GsoError::Unsupported(t)),
    }
}

/// Finishes a partial checksum: the field already holds the pseudo-header sum, so the
/// ones'-complement sum from `start` to the end, complemented, goes into the field.
fn complete_csum(pkt: &mut [u8], start: usize, offset: usize) -> Result<(), GsoError> {
    let at = start.checked_add(offset).ok_or(GsoError::Malformed)?;
    if at.checked_add(2).is_none_or(|e| e > pkt.len()) {
        return Err(GsoError::Malformed);
    }
    let area = pkt.get(start..).ok_or(GsoError::Malformed)?;
    let c = !fold(sum(area, 0));
    pkt.get_mut(at..at + 2)
        .ok_or(GsoError::Malformed)?
        .copy_from_slice(&c.to_be_bytes());
    Ok(())
}

fn segment_tcp4(
    pkt: &[u8],
    mss: usize,
    scratch: &mut [u8],
    mut each: impl FnMut(&[u8]),
) -> Result<usize, GsoError> {
    let b0 = *pkt.first().ok_or(GsoError::Malformed)?;
    let ihl = usize::from(b0 & 0x0f) * 4;
    if b0 >> 4 != 4 || ihl < 20 || pkt.get(9) != Some(&6) {
        return Err(GsoError::Malformed);
    }
    let doff = pkt.get(ihl + 12).ok_or(GsoError::Malformed)?;
    let thl = usize::from(doff >> 4) * 4;
    let hl = ihl + thl;
    if thl < 20 || pkt.len() < hl || mss == 0 {
        return Err(GsoError::Malformed);
    }
    // The IP total length may be 0 for >64 KiB (BIG TCP); the read length is authoritative.
    let (headers, payload) = pkt.split_at(hl);
    let id0 = u16::from_be_bytes([headers[4], headers[5]]);
    let seq0 = u32::from_be_bytes([
        headers[ihl + 4],
        headers[ihl + 5],
        headers[ihl + 6],
        headers[ihl + 7],
    ]);
    let flags0 = headers[ihl + 13];
    let addrs = headers.get(12..20).ok_or(GsoError::Malformed)?;
    let pseudo = sum(addrs, 6);
    let n = payload.len().div_ceil(mss).max(1);
    for (i, chunk) in payload
        .chunks(mss)
        .chain(payload.is_empty().then_some(&[][..]))
        .enumerate()
    {
        let len = hl + chunk.len();
        let seg = scratch.get_mut(..len).ok_or(GsoError::TooLarge)?;
        let total = u16::try_from(len).map_err(|_| GsoError::TooLarge)?;
        seg[..hl].copy_from_slice(headers);
        seg[hl..].copy_from_slice(chunk);
        seg[2..4].copy_from_slice(&total.to_be_bytes());
        seg[4..6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
        seg[10..12].fill(0);
        let ipc = !fold(sum(&seg[..ihl], 0));
        seg[10..12].copy_from_slice(&ipc.to_be_bytes());
        let off = u32::try_from(i * mss).map_err(|_| GsoError::TooLarge)?;
        seg[ihl + 4..ihl + 8].copy_from_slice(&seq0.wrapping_add(off).to_be_bytes());
        let mut f = flags0;
        if i > 0 {
            f &= !TCP_CWR;
        }
        if i + 1 < n {
            f &= !(TCP_FIN | TCP_PSH);
        }
        seg[ihl + 13] = f;
        seg[ihl + 16..ihl + 18].fill(0);
        let tcp_len = (len - ihl) as u64;
        let c = !fold(sum(&seg[ihl..], pseudo + tcp_len));
        seg[ihl + 16..ihl + 18].copy_from_slice(&c.to_be_bytes());
        each(seg);
    }
    Ok(n)
}

/// The facts of a TCPv4 segment that may be coalesced (see [`tcp4_segment`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSeg {
    ihl: usize,
    hl: usize,
    seq: u32,
    payload: usize,
    psh: bool,
}

/// A packet that may join a super-packet: IPv4 without fragmentation, TCP with only ACK (and
/// PSH) set, some payload, and an IP total length matching the buffer.
pub fn tcp4_segment(pkt: &[u8]) -> Option<TcpSeg> {
    let b0 = *pkt.first()?;
    let ihl = usize::from(b0 & 0x0f) * 4;
    if b0 >> 4 != 4 || ihl < 20 || *pkt.get(9)? != 6 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?]));
    let frag = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]) & 0x3fff;
    let thl = usize::from(*pkt.get(ihl + 12)? >> 4) * 4;
    let flags = *pkt.get(ihl + 13)?;
    let hl = ihl + thl;
    if total != pkt.len() || frag != 0 || thl < 20 || pkt.len() <= hl {
        return None;
    }
    if flags & !(TCP_ACK | TCP_PSH) != 0 || flags & TCP_ACK == 0 {
        return None;
    }
    let seq = u32::from_be_bytes(pkt.get(ihl + 4..ihl + 8)?.try_into().ok()?);
    Some(TcpSeg {
        ihl,
        hl,
        seq,
        payload: pkt.len() - hl,
        psh: flags & TCP_PSH != 0,
    })
}

impl TcpSeg {
    /// TCP payload bytes.
    pub fn payload_len(&self) -> usize {
        self.payload
    }
}

/// Whether `next` continues the super-packet that starts with `first` and so far ends with
/// `prev`: same flow and headers (but for length, id, sequence number, PSH and checksums),
/// contiguous, every segment but the last exactly the first's size, and the total within an
/// IP packet.
pub fn can_follow(
    first: &[u8],
    f: &TcpSeg,
    prev: &TcpSeg,
    total: usize,
    next: &[u8],
    n: &TcpSeg,
) -> bool {
    if n.ihl != f.ihl || n.hl != f.hl || prev.payload != f.payload || prev.psh {
        return false;
    }
    if n.payload > f.payload || total + n.payload > 0xffff {
        return false;
    }
    if n.seq != prev.seq.wrapping_add(prev.payload as u32) {
        return false;
    }
    let (ihl, hl) = (f.ihl, f.hl);
    let same = |r: core::ops::Range<usize>| first.get(r.clone()) == next.get(r);
    same(0..2)
        && same(6..10)
        && same(12..ihl)
        && same(ihl..ihl + 4)
        && same(ihl + 8..ihl + 13)
        && same(ihl + 14..ihl + 16)
        && same(ihl + 18..hl)
}

/// Writes `virtio_net_hdr` + one TCP super-packet made of `pkts` (a run accepted by
/// [`can_follow`], starting with the packet `f` describes) into `out`; returns its length.
/// The TCP checksum is left partial (pseudo-header sum, NEEDS_CSUM) as for any GSO packet.
pub fn build_super<'a>(
    f: &TcpSeg,
    mut pkts: impl Iterator<Item = &'a [u8]>,
    out: &mut [u8],
) -> Option<usize> {
    let (ihl, hl) = (f.ihl, f.hl);
    let first = pkts.next()?;
    let mut len = VNET_HDR_LEN + first.len();
    out.get_mut(VNET_HDR_LEN..len)?.copy_from_slice(first);
    let mut psh = f.psh;
    for p in pkts {
        let body = p.get(hl..)?;
        let end = len + body.len();
        out.get_mut(len..end)?.copy_from_slice(body);
        len = end;
        psh = tcp4_segment(p).is_some_and(|s| s.psh);
    }
    let (hdr, pkt) = out.get_mut(..len)?.split_at_mut(VNET_HDR_LEN);
    hdr.fill(0);
    hdr[0] = F_NEEDS_CSUM;
    hdr[1] = GSO_TCPV4;
    hdr[2..4].copy_from_slice(&(hl as u16).to_le_bytes());
    hdr[4..6].copy_from_slice(&(f.payload as u16).to_le_bytes());
    hdr[6..8].copy_from_slice(&(ihl as u16).to_le_bytes());
    hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
    let total = u16::try_from(pkt.len()).ok()?;
    pkt[2..4].copy_from_slice(&total.to_be_bytes());
    pkt[10..12].fill(0);
    let ipc = !fold(sum(pkt.get(..ihl)?, 0));
    pkt[10..12].copy_from_slice(&ipc.to_be_bytes());
    if psh {
        pkt[ihl + 13] |= TCP_PSH;
    }
    let partial = fold(sum(pkt.get(12..20)?, 6 + (pkt.len() - ihl) as u64));
    pkt[ihl + 16..ihl + 18].copy_from_slice(&partial.to_be_bytes());
    Some(len)
}

/// Ones'-complement sum of big-endian 16-bit words (an odd tail byte is padded with zero),
/// added to `init`; fold before use.
fn sum(data: &[u8], init: u64) -> u64 {
    let mut acc = init;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let Some(&b) = pairs.remainder().first() {
        acc += u64::from(b) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent RFC 1071 check: a header with a correct checksum sums to 0xffff.
    fn verify(data: &[u8], init: u32) -> bool {
        let mut s: u32 = init;
        for p in data.chunks(2) {
            let w = if p.len() == 2 {
                u32::from(p[0]) << 8 | u32::from(p[1])
            } else {
                u32::from(p[0]) << 8
            };
            s += w;
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s == 0xffff
    }

    fn tcp_ok(seg: &[u8]) -> bool {
        let ihl = usize::from(seg[0] & 0xf) * 4;
        let mut ps: u32 = 6 + (seg.len() - ihl) as u32;
        for p in seg[12..20].chunks(2) {
            ps += u32::from(p[0]) << 8 | u32::from(p[1]);
        }
        verify(&seg[ihl..], ps)
    }

    fn super_packet(payload: usize, flags: u8, mss: u16) -> Vec<u8> {
        let mut v = vec![0u8; VNET_HDR_LEN];
        v[0] = F_NEEDS_CSUM;
        v[1] = GSO_TCPV4;
        v[4..6].copy_from_slice(&mss.to_le_bytes());
        v[6..8].copy_from_slice(&20u16.to_le_bytes());
        v[8..10].copy_from_slice(&16u16.to_le_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&[10, 1, 0, 10, 10, 2, 0, 10]);
        let mut tcp = vec![0u8; 32];
        tcp[0..4].copy_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
        tcp[4..8].copy_from_slice(&0xffff_f000u32.to_be_bytes());
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&[0xff, 0xff]);
        tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        v.extend_from_slice(&ip);
        v.extend_from_slice(&tcp);
        v.extend((0..payload).map(|i| (i * 7 % 251) as u8));
        v
    }

    #[test]
    fn segments_tcp4_super_packet() {
        let mut read = super_packet(5000, 0x18 | TCP_FIN | TCP_CWR, 1400);
        let orig_payload = read[VNET_HDR_LEN + 52..].to_vec();
        let mut scratch = vec![0u8; 2000];
        let mut segs: Vec<Vec<u8>> = Vec::new();
        let n = for_each_segment(&mut read, &mut scratch, |s| segs.push(s.to_vec())).unwrap();
        assert_eq!(n, 4);
        assert_eq!(segs.len(), 4);
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let want = if i < 3 { 1400 } else { 5000 - 3 * 1400 };
            assert_eq!(s.len(), 52 + want);
            assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
            assert_eq!(u16::from_be_bytes([s[4], s[5]]), 0x1234 + i as u16);
            assert!(verify(&s[..20], 0), "IP checksum of segment {i}");
            assert!(tcp_ok(s), "TCP checksum of segment {i}");
            let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
            assert_eq!(seq, 0xffff_f000u32.wrapping_add(1400 * i as u32));
            let f = s[33];
            assert_eq!(f & TCP_CWR != 0, i == 0);
            assert_eq!(f & (TCP_FIN | TCP_PSH) != 0, i == 3);
            assert_eq!(f & 0x10, 0x10, "ACK kept");
            assert_eq!(&s[40..52], &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
            joined.extend_from_slice(&s[52..]);
        }
        assert_eq!(joined, orig_payload);
    }

    #[test]
    fn completes_partial_checksum_of_plain_packet() {
        let mut read = super_packet(333, 0x18, 0);
        read[1] = GSO_NONE;
        // Put the pseudo-header sum into the field, as the kernel does for CHECKSUM_PARTIAL.
        let p = &read[VNET_HDR_LEN..];
        let ps = fold(sum(&p[12..20], 6 + (p.len() - 20) as u64));
        read[VNET_HDR_LEN + 36..VNET_HDR_LEN + 38].copy_from_slice(&ps.to_be_bytes());
        let mut out = Vec::new();
        let n = for_each_segment(&mut read, &mut [], |s| out = s.to_vec()).unwrap();
        assert_eq!(n, 1);
        assert!(tcp_ok(&out));
        // Without NEEDS_CSUM the packet passes untouched.
        let mut plain = vec![0u8; VNET_HDR_LEN];
        plain.extend_from_slice(&[0x45, 1, 2, 3]);
        let mut got = Vec::new();
        for_each_segment(&mut plain, &mut [], |s| got = s.to_vec()).unwrap();
        assert_eq!(got, [0x45, 1, 2, 3]);
    }

    #[test]
    fn coalesces_what_it_segmented() {
        // Segment a super-packet, coalesce the segments, segment again: same segments.
        let mut read = super_packet(5000, 0x18, 1400);
        let mut scratch = vec![0u8; 2000];
        let mut segs: Vec<Vec<u8>> = Vec::new();
        for_each_segment(&mut read, &mut scratch, |s| segs.push(s.to_vec())).unwrap();
        let f = tcp4_segment(&segs[0]).unwrap();
        let (mut prev, mut total) = (f, segs[0].len());
        for s in &segs[1..] {
            let n = tcp4_segment(s).unwrap();
            assert!(can_follow(&segs[0], &f, &prev, total, s, &n));
            prev = n;
            total += n.payload;
        }
        let mut big = vec![0u8; 70000];
        let len = build_super(&f, segs.iter().map(|s| &s[..]), &mut big).unwrap();
        assert_eq!(len, VNET_HDR_LEN + 52 + 5000);
        let hdr = VnetHdr::parse(&big).unwrap();
        assert_eq!(
            (hdr.gso_type, hdr.gso_size, hdr.csum_start),
            (GSO_TCPV4, 1400, 20)
        );
        assert!(verify(&big[VNET_HDR_LEN..VNET_HDR_LEN + 20], 0));
        let mut again: Vec<Vec<u8>> = Vec::new();
        for_each_segment(&mut big[..len], &mut scratch, |s| again.push(s.to_vec())).unwrap();
        assert_eq!(again, segs);
    }

    #[test]
    fn refuses_to_coalesce_across_flows_gaps_and_flags() {
        let mut read = super_packet(2800, 0x10, 1400);
        let mut scratch = vec![0u8; 2000];
        let mut segs: Vec<Vec<u8>> = Vec::new();
        for_each_segment(&mut read, &mut scratch, |s| segs.push(s.to_vec())).unwrap();
        let f = tcp4_segment(&segs[0]).unwrap();
        let ok = |b: &[u8]| {
            tcp4_segment(b).is_some_and(|n| can_follow(&segs[0], &f, &f, segs[0].len(), b, &n))
        };
        assert!(ok(&segs[1]));
        let mut other_port = segs[1].clone();
        other_port[21] ^= 1;
        assert!(!ok(&other_port));
        let mut gap = segs[1].clone();
        gap[27] ^= 1;
        assert!(!ok(&gap));
        let mut fin = segs[1].clone();
        fin[33] |= TCP_FIN;
        assert!(!ok(&fin));
        let mut other_ts = segs[1].clone();
        other_ts[47] ^= 1;
        assert!(!ok(&other_ts));
        let mut frag = segs[1].clone();
        frag[6] |= 0x20;
        assert!(!ok(&frag));
        assert!(tcp4_segment(&segs[0][..52]).is_none(), "no payload");
    }

    #[test]
    fn rejects_bad_input() {
        let mut scratch = vec![0u8; 100];
        assert_eq!(
            for_each_segment(&mut [0u8; 4], &mut scratch, |_| {}),
            Err(GsoError::Malformed)
        );
        let mut udp = super_packet(10, 0, 1400);
        udp[1] = 3;
        assert_eq!(
            for_each_segment(&mut udp, &mut scratch, |_| {}),
            Err(GsoError::Unsupported(3))
        );
        let mut big = super_packet(3000, 0x10, 1400);
        assert_eq!(
            for_each_segment(&mut big, &mut scratch, |_| {}),
            Err(GsoError::TooLarge)
        );
        let mut cut = super_packet(10, 0x10, 1400);
        cut.truncate(VNET_HDR_LEN + 30);
        assert_eq!(
            for_each_segment(&mut cut, &mut scratch, |_| {}),
            Err(GsoError::Malformed)
        );
        let mut bad_csum = super_packet(10, 0x10, 0);
        bad_csum[1] = GSO_NONE;
        bad_csum[6..8].copy_from_slice(&60u16.to_le_bytes());
        assert_eq!(
            for_each_segment(&mut bad_csum, &mut scratch, |_| {}),
            Err(GsoError::Malformed)
        );
    }
}
