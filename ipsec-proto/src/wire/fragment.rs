//! The IKE fragmentation payload (type 132, Cisco/Microsoft; no RFC for IKEv1).
//!
//! A fragment is a whole ISAKMP message of its own: a header with the cookies and exchange type
//! of the message it is part of, then one payload 132 whose body is
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+---------------+---------------+
//! |         Fragment ID           |  Fragment #   |     Flags     |
//! +---------------+---------------+---------------+---------------+
//! |      slice of the complete (already encrypted) message ...    |
//! ```
//!
//! Fragment numbers start at 1; flag bit 0x01 marks the last one. The slices concatenated in
//! number order are the original datagram, its own 28-byte header included.

use super::error::WireError;
use super::header::Header;
use super::payload::{PayloadType, Payloads};
use super::writer::Writer;
use super::{be16, HEADER_LEN};

/// Bytes of a fragment payload before its data: the generic header (4) and ID, number, flags.
pub const FRAGMENT_OVERHEAD: usize = 8;

/// A parsed fragment payload body (zero-copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    id: u16,
    number: u8,
    flags: u8,
    data: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Flag bit of the last fragment of a message.
    pub const LAST: u8 = 0x01;

    /// Parses a payload 132 body (without the generic header).
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let too_short = WireError::BodyTooShort {
            payload_type: PayloadType::FRAGMENTATION,
            needed: 4,
            len: body.len(),
        };
        let id = be16(body, 0).ok_or(too_short)?;
        let number = body.get(2).copied().ok_or(too_short)?;
        let flags = body.get(3).copied().ok_or(too_short)?;
        let data = body.get(4..).ok_or(too_short)?;
        Ok(Fragment {
            id,
            number,
            flags,
            data,
        })
    }

    /// Parses a whole fragment datagram (already cut at its header length): the header, then
    /// exactly one payload 132. Anything after it but padding, or another payload chained to it,
    /// is refused: a fragment carries nothing else. The E flag is not looked at (fragments are
    /// never encrypted themselves; racoon sets the bit anyway).
    pub fn parse_message(msg: &'a [u8]) -> Result<(Header, Self), WireError> {
        let header = Header::parse(msg)?;
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let mut chain = Payloads::new(header.next_payload, body);
        let first = match chain.next() {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(WireError::ChainOverrun {
                    offset: 0,
                    payload_type: PayloadType::FRAGMENTATION,
                })
            }
        };
        if first.ty != PayloadType::FRAGMENTATION {
            return Err(WireError::UnexpectedNestedType {
                offset: first.offset,
                expected: PayloadType::FRAGMENTATION,
                found: first.ty,
            });
        }
        if first.next_type != PayloadType::NONE {
            return Err(WireError::UnexpectedNestedType {
                offset: first.offset,
                expected: PayloadType::NONE,
                found: first.next_type,
            });
        }
        let trailing = body.len().saturating_sub(first.raw.len());
        if trailing != 0 {
            return Err(WireError::TrailingBytes {
                payload_type: PayloadType::FRAGMENTATION,
                count: trailing,
            });
        }
        Ok((header, Self::parse(first.body)?))
    }

    /// Fragment ID: the same for every fragment of one message.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Fragment number, from 1.
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The flags byte (unknown bits kept).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// True on the last fragment of a message.
    pub fn is_last(&self) -> bool {
        self.flags & Self::LAST != 0
    }

    /// The slice of the original message this fragment carries.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// One fragment to emit with [`write_fragment_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentSpec<'a> {
    /// Fragment ID.
    pub id: u16,
    /// Fragment number (from 1).
    pub number: u8,
    /// Set the LAST flag.
    pub last: bool,
    /// The slice of the original message.
    pub data: &'a [u8],
}

/// Writes a complete fragment datagram into `out`: `header` (its next payload, flags and length
/// are set here: 132, no E flag, the real length), then the fragment payload. Returns the
/// length written; [`WireError::BufferTooSmall`] names the size needed.
pub fn write_fragment_message(
    out: &mut [u8],
    header: &Header,
    spec: &FragmentSpec<'_>,
) -> Result<usize, WireError> {
    let payload_len = FRAGMENT_OVERHEAD.saturating_add(spec.data.len());
    let plen = u16::try_from(payload_len).map_err(|_| WireError::PayloadTooLong {
        payload_type: PayloadType::FRAGMENTATION,
        len: payload_len,
    })?;
    let total = HEADER_LEN + payload_len;
    if out.len() < total {
        return Err(WireError::BufferTooSmall { needed: total });
    }
    let mut h = *header;
    h.next_payload = PayloadType::FRAGMENTATION;
    h.flags = super::header::Flags(h.flags.0 & !super::header::Flags::ENCRYPTION.0);
    h.length = u32::try_from(total).map_err(|_| WireError::ValueTooLarge { len: 4 })?;
    let mut w = Writer::new(out);
    h.write(&mut w)?;
    w.put(&[PayloadType::NONE.0, 0])?;
    w.put(&plen.to_be_bytes())?;
    w.put(&spec.id.to_be_bytes())?;
    w.put(&[spec.number, if spec.last { Fragment::LAST } else { 0 }])?;
    w.put(spec.data)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Cookie, ExchangeType, Flags};

    fn header() -> Header {
        Header::new(
            Cookie([1; 8]),
            Cookie([2; 8]),
            ExchangeType::MAIN_MODE,
            Flags::ENCRYPTION,
            0,
        )
    }

    #[test]
    fn fragment_round_trip() {
        let mut buf = [0u8; 64];
        let spec = FragmentSpec {
            id: 0x1234,
            number: 3,
            last: true,
            data: b"abcdef",
        };
        let n = write_fragment_message(&mut buf, &header(), &spec).unwrap();
        assert_eq!(n, 28 + 8 + 6);
        let (h, f) = Fragment::parse_message(&buf[..n]).unwrap();
        assert_eq!(h.next_payload, PayloadType::FRAGMENTATION);
        assert!(!h.flags.encrypted(), "a fragment is never encrypted itself");
        assert_eq!(h.length as usize, n);
        assert_eq!(
            (f.id(), f.number(), f.is_last(), f.data()),
            (0x1234, 3, true, &b"abcdef"[..])
        );
        assert_eq!(&buf[28..36], &[0, 0, 0, 14, 0x12, 0x34, 3, 1]);
    }

    #[test]
    fn fragment_buffer_too_small() {
        let mut buf = [0u8; 40];
        let spec = FragmentSpec {
            id: 1,
            number: 1,
            last: false,
            data: &[0; 10],
        };
        assert_eq!(
            write_fragment_message(&mut buf, &header(), &spec),
            Err(WireError::BufferTooSmall { needed: 46 })
        );
    }

    #[test]
    fn fragment_malformed_bodies() {
        assert!(matches!(
            Fragment::parse(&[0, 1, 2]),
            Err(WireError::BodyTooShort { len: 3, .. })
        ));
        let mut buf = [0u8; 64];
        let spec = FragmentSpec {
            id: 1,
            number: 1,
            last: true,
            data: b"xy",
        };
        let n = write_fragment_message(&mut buf, &header(), &spec).unwrap();
        // Another payload chained after the fragment.
        let mut chained = buf;
        chained[28] = 13;
        assert!(matches!(
            Fragment::parse_message(&chained[..n]),
            Err(WireError::UnexpectedNestedType { offset: 0, .. })
        ));
        // Payload length reaching past the message.
        let mut long = buf;
        long[31] = 40;
        assert!(matches!(
            Fragment::parse_message(&long[..n]),
            Err(WireError::LengthBeyondEnd { offset: 0, .. })
        ));
        // Bytes after the fragment payload.
        let mut short = buf;
        short[31] = 9;
        assert!(matches!(
            Fragment::parse_message(&short[..n]),
            Err(WireError::TrailingBytes { count: 1, .. })
        ));
        // A message whose first payload is not a fragment.
        let mut other = buf;
        other[16] = 13;
        assert!(matches!(
            Fragment::parse_message(&other[..n]),
            Err(WireError::UnexpectedNestedType { .. })
        ));
        // Body of the fragment payload shorter than its 4-byte fixed part.
        let mut tiny = [0u8; 28 + 6];
        tiny[..28].copy_from_slice(&header().to_bytes());
        tiny[16] = 132;
        tiny[28..32].copy_from_slice(&[0, 0, 0, 6]);
        assert!(matches!(
            Fragment::parse_message(&tiny),
            Err(WireError::BodyTooShort { len: 2, .. })
        ));
    }

    #[test]
    fn fragmentation_vendor_ids_recognised() {
        use crate::wire::vendor::{recognize, KnownVendor, FRAGMENTATION};
        let hex = "4048b7d56ebce88525e7de7f00d6c2d3";
        let bytes: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(bytes, FRAGMENTATION);
        assert_eq!(recognize(&bytes), Some(KnownVendor::Fragmentation));
        let mut cisco = bytes.clone();
        cisco.extend_from_slice(&[0x80, 0, 0, 0]);
        assert_eq!(recognize(&cisco), Some(KnownVendor::Fragmentation));
        cisco[16] = 0xc0;
        assert_eq!(recognize(&cisco), Some(KnownVendor::Fragmentation));
        assert_eq!(recognize(&bytes[..15]), None);
    }
}
