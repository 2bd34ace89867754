//! UDP port 4500 framing (RFC 3948): telling IKE, ESP and NAT-keepalives apart before any SA is
//! touched, and building the two non-ESP forms.

/// The 4-byte non-ESP marker in front of every IKE message on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT-keepalive payload: one byte 0xFF.
pub const NAT_KEEPALIVE: [u8; 1] = [0xFF];
/// The ISAKMP header length, the least an IKE message can be.
const ISAKMP_HEADER_LEN: usize = 28;
/// SPI and sequence number, the least an ESP packet can be.
const ESP_HEADER_LEN: usize = 8;

/// Why a UDP-4500 payload is neither IKE, ESP nor a keepalive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// An empty datagram.
    Empty,
    /// Fewer than 4 bytes and not a keepalive.
    TooShort,
    /// A non-ESP marker followed by less than an ISAKMP header.
    TruncatedIke,
    /// A non-zero SPI followed by less than a sequence number.
    TruncatedEsp,
}

/// What a UDP-4500 payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Udp4500<'a> {
    /// An IKE message, the non-ESP marker stripped.
    Ike(&'a [u8]),
    /// An ESP packet starting at its (non-zero) SPI.
    Esp(&'a [u8]),
    /// A NAT-keepalive, to be dropped silently.
    Keepalive,
    /// Neither; drop and count.
    Malformed(Malformed),
}

/// Classifies the payload of a datagram received on UDP port 4500 (statelessly).
pub fn classify_udp4500(payload: &[u8]) -> Udp4500<'_> {
    match payload {
        [] => Udp4500::Malformed(Malformed::Empty),
        [0xFF] => Udp4500::Keepalive,
        [0, 0, 0, 0, ike @ ..] => {
            if ike.len() < ISAKMP_HEADER_LEN {
                Udp4500::Malformed(Malformed::TruncatedIke)
            } else {
                Udp4500::Ike(ike)
            }
        }
        [_, _, _, _, ..] => {
            if payload.len() < ESP_HEADER_LEN {
                Udp4500::Malformed(Malformed::TruncatedEsp)
            } else {
                Udp4500::Esp(payload)
            }
        }
        _ => Udp4500::Malformed(Malformed::TooShort),
    }
}

/// Writes a NAT-keepalive into `out`; returns its length, or the length needed as `Err`.
pub fn write_keepalive(out: &mut [u8]) -> Result<usize, usize> {
    let dst = out
        .get_mut(..NAT_KEEPALIVE.len())
        .ok_or(NAT_KEEPALIVE.len())?;
    dst.copy_from_slice(&NAT_KEEPALIVE);
    Ok(NAT_KEEPALIVE.len())
}

/// Writes the non-ESP marker followed by `ike` into `out`; returns the length written, or the
/// length needed as `Err`.
pub fn prefix_non_esp_marker(ike: &[u8], out: &mut [u8]) -> Result<usize, usize> {
    let total = ike.len().saturating_add(NON_ESP_MARKER.len());
    let dst = out.get_mut(..total).ok_or(total)?;
    let (marker, body) = dst.split_at_mut(NON_ESP_MARKER.len());
    marker.copy_from_slice(&NON_ESP_MARKER);
    body.copy_from_slice(ike);
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        assert_eq!(classify_udp4500(&[0xFF]), Udp4500::Keepalive);
        assert_eq!(classify_udp4500(&[]), Udp4500::Malformed(Malformed::Empty));
        assert_eq!(
            classify_udp4500(&[0xFE]),
            Udp4500::Malformed(Malformed::TooShort)
        );
        assert_eq!(
            classify_udp4500(&[0, 0, 0]),
            Udp4500::Malformed(Malformed::TooShort)
        );
        let mut ike = vec![0u8; 4 + 28];
        ike[4] = 0xAB;
        assert_eq!(classify_udp4500(&ike), Udp4500::Ike(&ike[4..]));
        assert_eq!(
            classify_udp4500(&ike[..31]),
            Udp4500::Malformed(Malformed::TruncatedIke)
        );
        let esp = [0, 0, 0x43, 0x21, 0, 0, 0, 1, 9];
        assert_eq!(classify_udp4500(&esp), Udp4500::Esp(&esp));
        assert_eq!(
            classify_udp4500(&esp[..7]),
            Udp4500::Malformed(Malformed::TruncatedEsp)
        );
        // Two 0xFF bytes are not a keepalive: an SPI starting 0xFFFF.. is ESP if long enough.
        assert_eq!(
            classify_udp4500(&[0xFF, 0xFF]),
            Udp4500::Malformed(Malformed::TooShort)
        );
    }

    #[test]
    fn builds_marker_and_keepalive() {
        let mut out = [0u8; 40];
        assert_eq!(write_keepalive(&mut out), Ok(1));
        assert_eq!(out[0], 0xFF);
        assert_eq!(write_keepalive(&mut []), Err(1));
        let ike = [7u8; 28];
        assert_eq!(prefix_non_esp_marker(&ike, &mut out), Ok(32));
        assert_eq!(classify_udp4500(&out[..32]), Udp4500::Ike(&ike[..]));
        assert_eq!(prefix_non_esp_marker(&ike, &mut out[..31]), Err(32));
    }
}
