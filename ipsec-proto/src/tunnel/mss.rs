//! `ip tcp adjust-mss N`: the MSS option of TCP SYN segments crossing the inside interface is
//! lowered to N (never raised), so that hosts send segments that fit the tunnel without
//! fragmentation. IOS applies it in both directions; the engine does it to SYNs entering the
//! tunnel (from the TUN) and to SYNs leaving it (decrypted, towards the TUN).

const PROTO_TCP: u8 = 6;
const TCP_SYN: u8 = 0x02;
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

/// Where the MSS value of a SYN lies in `pkt` (byte offset) and its value; `None` for anything
/// else (not IPv4/TCP, a fragment, not a SYN, no MSS option, truncated or bad option lengths).
pub fn syn_mss(pkt: &[u8]) -> Option<(usize, u16)> {
    let vihl = *pkt.first()?;
    if vihl >> 4 != 4 || *pkt.get(9)? != PROTO_TCP {
        return None;
    }
    let frag = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]) & 0x1fff;
    if frag != 0 {
        return None;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    let tcp = pkt.get(ihl..)?;
    if tcp.get(13)? & TCP_SYN == 0 {
        return None;
    }
    let doff = usize::from(tcp.get(12)? >> 4) * 4;
    let opts = tcp.get(20..doff)?;
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            OPT_END => return None,
            OPT_NOP => i += 1,
            _ => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 {
                    return None;
                }
                if kind == OPT_MSS && len == 4 {
                    let v = u16::from_be_bytes([*opts.get(i + 2)?, *opts.get(i + 3)?]);
                    return Some((ihl + 20 + i + 2, v));
                }
                i += len;
            }
        }
    }
    None
}

/// Lowers the MSS of a SYN to `max` and fixes the TCP checksum (RFC 1624 incremental update);
/// true if the packet changed.
pub fn clamp(pkt: &mut [u8], max: u16) -> bool {
    let Some((at, old)) = syn_mss(pkt) else {
        return false;
    };
    if old <= max {
        return false;
    }
    let ihl = usize::from(pkt.first().map_or(0, |b| b & 0x0f)) * 4;
    let csum_at = ihl + 16;
    let Some(c) = pkt.get(csum_at..csum_at + 2) else {
        return false;
    };
    let hc = u16::from_be_bytes([c[0], c[1]]);
    // HC' = ~(~HC + ~m + m')
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(max);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let new = !(sum as u16);
    if let Some(m) = pkt.get_mut(at..at + 2) {
        m.copy_from_slice(&max.to_be_bytes());
    }
    if let Some(c) = pkt.get_mut(csum_at..csum_at + 2) {
        c.copy_from_slice(&new.to_be_bytes());
    }
    true
}

#[cfg(test)]
pub(in crate::tunnel) mod tests {
    use super::*;

    fn csum(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// IPv4 + TCP SYN 10.1.1.10:40000 -> 10.2.2.10:80 with options NOP NOP MSS(mss) NOP WS(7)
    /// SACK-permitted, TCP checksum valid.
    pub(in crate::tunnel) fn syn(mss: u16, flags: u8) -> Vec<u8> {
        let opts = [1u8, 1, 2, 4, (mss >> 8) as u8, mss as u8, 1, 3, 3, 7, 4, 2];
        let tcp_len = 20 + opts.len();
        let mut p = vec![0u8; 20 + tcp_len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 1, 1, 10]);
        p[16..20].copy_from_slice(&[10, 2, 2, 10]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[32] = ((tcp_len / 4) as u8) << 4;
        p[33] = flags;
        p[34..36].copy_from_slice(&64240u16.to_be_bytes());
        p[40..].copy_from_slice(&opts);
        let c = tcp_csum(&p);
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn tcp_csum(p: &[u8]) -> u16 {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&p[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&((p.len() - 20) as u16).to_be_bytes());
        let mut seg = p[20..].to_vec();
        seg[16] = 0;
        seg[17] = 0;
        pseudo.extend_from_slice(&seg);
        csum(&pseudo)
    }

    #[test]
    fn clamps_a_larger_mss_and_keeps_the_checksum_valid() {
        let mut p = syn(1460, TCP_SYN);
        assert_eq!(syn_mss(&p), Some((44, 1460)));
        assert!(clamp(&mut p, 1360));
        assert_eq!(syn_mss(&p), Some((44, 1360)));
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), tcp_csum(&p));
        // SYN-ACK too.
        let mut p = syn(1460, TCP_SYN | 0x10);
        assert!(clamp(&mut p, 1200));
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), tcp_csum(&p));
    }

    #[test]
    fn leaves_smaller_mss_non_syn_and_garbage_alone() {
        let mut p = syn(1300, TCP_SYN);
        let orig = p.clone();
        assert!(!clamp(&mut p, 1360));
        assert_eq!(p, orig);
        let mut ack = syn(1460, 0x10);
        assert!(!clamp(&mut ack, 1360));
        // Truncated options and zero-length options end the scan without a panic.
        for cut in 0..p.len() {
            let mut q = syn(1460, TCP_SYN)[..cut].to_vec();
            let _ = clamp(&mut q, 1000);
        }
        // An option of length 0 before the MSS option ends the scan.
        let mut bad = syn(1460, TCP_SYN);
        bad[40] = 5;
        bad[41] = 0;
        assert!(!clamp(&mut bad, 1000));
        // END before the MSS option: no MSS.
        let mut end = syn(1460, TCP_SYN);
        end[40] = 0;
        assert!(!clamp(&mut end, 1000));
    }
}
