//! The generic payload header and the payload chain (RFC 2408 §3.2).

use core::fmt;

use super::error::WireError;
use super::{be16, MAX_PAYLOADS};

/// Next Payload / payload type code point. Open: unknown values are kept, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PayloadType(pub u8);

impl PayloadType {
    /// End of chain.
    pub const NONE: Self = Self(0);
    /// Security Association.
    pub const SA: Self = Self(1);
    /// Proposal (only inside an SA).
    pub const PROPOSAL: Self = Self(2);
    /// Transform (only inside a proposal).
    pub const TRANSFORM: Self = Self(3);
    /// Key Exchange.
    pub const KE: Self = Self(4);
    /// Identification.
    pub const ID: Self = Self(5);
    /// Certificate.
    pub const CERT: Self = Self(6);
    /// Certificate Request.
    pub const CERT_REQ: Self = Self(7);
    /// Hash.
    pub const HASH: Self = Self(8);
    /// Signature.
    pub const SIG: Self = Self(9);
    /// Nonce.
    pub const NONCE: Self = Self(10);
    /// Notification.
    pub const NOTIFY: Self = Self(11);
    /// Delete.
    pub const DELETE: Self = Self(12);
    /// Vendor ID.
    pub const VENDOR_ID: Self = Self(13);
    /// Mode-Config / XAUTH attributes.
    pub const ATTRIBUTES: Self = Self(14);
    /// NAT Discovery (RFC 3947).
    pub const NAT_D: Self = Self(20);
    /// NAT Original Address (RFC 3947).
    pub const NAT_OA: Self = Self(21);
    /// NAT-D of NAT-T drafts 00-03.
    pub const NAT_D_DRAFT: Self = Self(130);
    /// NAT-OA of NAT-T drafts 00-03.
    pub const NAT_OA_DRAFT: Self = Self(131);
    /// Cisco IKE fragmentation payload.
    pub const FRAGMENTATION: Self = Self(132);

    /// The name used by IOS/strongSwan debug output, if this is a known type.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NONE",
            1 => "SA",
            2 => "PROPOSAL",
            3 => "TRANSFORM",
            4 => "KE",
            5 => "ID",
            6 => "CERT",
            7 => "CERT_REQ",
            8 => "HASH",
            9 => "SIG",
            10 => "NONCE",
            11 => "NOTIFY",
            12 => "DELETE",
            13 => "VENDOR",
            14 => "ATTRIBUTES",
            20 => "NAT-D",
            21 => "NAT-OA",
            130 => "NAT-D (draft)",
            131 => "NAT-OA (draft)",
            132 => "FRAGMENTATION",
            _ => return None,
        })
    }

    /// Bytes of the type's body before any variable part (0 for opaque payloads); the chain
    /// iterator refuses shorter bodies with [`WireError::BodyTooShort`].
    pub fn fixed_body_len(self) -> usize {
        match self.0 {
            1 => 8,        // DOI + situation
            2 => 4,        // proposal #, protocol, SPI size, # transforms
            3 => 4,        // transform #, id, reserved2
            5 => 4,        // id type, protocol, port
            11 => 8,       // DOI, protocol, SPI size, type
            12 => 8,       // DOI, protocol, SPI size, # SPIs
            21 | 131 => 4, // id type + 3 reserved
            132 => 4,      // fragment ID, number, flags
            _ => 0,
        }
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "PAYLOAD-TYPE({})", self.0),
        }
    }
}

impl From<u8> for PayloadType {
    fn from(v: u8) -> Self {
        Self(v)
    }
}

/// One payload of a chain, as it sits in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawPayload<'a> {
    /// This payload's type (announced by the previous payload or the header).
    pub ty: PayloadType,
    /// The Next Payload field of this payload.
    pub next_type: PayloadType,
    /// The RESERVED byte of the generic header (should be 0; tolerated unless strict).
    pub reserved: u8,
    /// Offset of the generic header within the parsed buffer.
    pub offset: usize,
    /// The body without the 4-byte generic header (what SAi_b, IDii_b, Ni_b are made of).
    pub body: &'a [u8],
    /// The payload including its generic header (what HASH(1)/(2)/(3) are computed over).
    pub raw: &'a [u8],
}

/// Iterator over a payload chain: follows Next Payload and Payload Length, checking every length.
///
/// Yields `Err` at most once and then stops. The chain ends at Next Payload = NONE; bytes after
/// that are the zero padding of an encrypted body at top level ([`Payloads::trailing`]), and an
/// error inside nested chains (proposals in an SA, transforms in a proposal).
#[derive(Debug, Clone)]
pub struct Payloads<'a> {
    data: &'a [u8],
    pos: usize,
    next: PayloadType,
    count: usize,
    limit: usize,
    strict_reserved: bool,
    nested: Option<(PayloadType, PayloadType)>,
    done: bool,
}

impl<'a> Payloads<'a> {
    /// Walk a message body (bytes after the ISAKMP header), whose first payload has type `first`
    /// (the header's Next Payload).
    pub fn new(first: PayloadType, body: &'a [u8]) -> Self {
        Self {
            data: body,
            pos: 0,
            next: first,
            count: 0,
            limit: MAX_PAYLOADS,
            strict_reserved: false,
            nested: None,
            done: false,
        }
    }

    /// A nested chain of `item` payloads (proposals or transforms) inside an `outer` payload body:
    /// every Next Payload must be `item` or NONE and no bytes may follow the last one.
    pub(crate) fn nested(outer: PayloadType, item: PayloadType, data: &'a [u8]) -> Self {
        let mut p = Self::new(item, data);
        p.nested = Some((outer, item));
        p.strict_reserved = false;
        p
    }

    /// Report a nonzero RESERVED byte as [`WireError::ReservedNonZero`] instead of tolerating it.
    pub fn strict_reserved(mut self, strict: bool) -> Self {
        self.strict_reserved = strict;
        self
    }

    /// Bytes after the payload that ended the chain (encryption padding). Meaningful once the
    /// iterator has returned `None`.
    pub fn trailing(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Offset just past the last payload read.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn step(&mut self) -> Result<RawPayload<'a>, WireError> {
        let offset = self.pos;
        let ty = self.next;
        let rest = self.data.get(offset..).unwrap_or(&[]);
        if rest.is_empty() {
            return Err(WireError::ChainOverrun {
                offset,
                payload_type: ty,
            });
        }
        if rest.len() < 4 {
            return Err(WireError::PayloadHeaderTruncated {
                offset,
                payload_type: ty,
                available: rest.len(),
            });
        }
        if self.count >= self.limit {
            return Err(WireError::TooManyPayloads { limit: self.limit });
        }
        let next_type = PayloadType(rest.first().copied().unwrap_or(0));
        let reserved = rest.get(1).copied().unwrap_or(0);
        let length = be16(rest, 2).unwrap_or(0);
        if length == 0 {
            return Err(WireError::ZeroLength {
                offset,
                payload_type: ty,
            });
        }
        if length < 4 {
            return Err(WireError::LengthBelowGenericHeader {
                offset,
                payload_type: ty,
                length,
            });
        }
        let raw = rest
            .get(..usize::from(length))
            .ok_or(WireError::LengthBeyondEnd {
                offset,
                payload_type: ty,
                length,
                available: rest.len(),
            })?;
        if self.strict_reserved && reserved != 0 {
            return Err(WireError::ReservedNonZero {
                offset,
                payload_type: ty,
                value: reserved,
            });
        }
        if let Some((_, item)) = self.nested {
            if next_type != PayloadType::NONE && next_type != item {
                return Err(WireError::UnexpectedNestedType {
                    offset,
                    expected: item,
                    found: next_type,
                });
            }
        }
        let body = raw.get(4..).unwrap_or(&[]);
        let needed = ty.fixed_body_len();
        if body.len() < needed {
            return Err(WireError::BodyTooShort {
                payload_type: ty,
                needed,
                len: body.len(),
            });
        }
        self.pos = offset.saturating_add(raw.len());
        self.next = next_type;
        self.count += 1;
        Ok(RawPayload {
            ty,
            next_type,
            reserved,
            offset,
            body,
            raw,
        })
    }
}

impl<'a> Iterator for Payloads<'a> {
    type Item = Result<RawPayload<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.next == PayloadType::NONE {
            self.done = true;
            if let Some((outer, _)) = self.nested {
                let count = self.trailing();
                if count != 0 {
                    return Some(Err(WireError::TrailingBytes {
                        payload_type: outer,
                        count,
                    }));
                }
            }
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// A whole payload chain collected without heap allocation (at most [`MAX_PAYLOADS`] payloads).
#[derive(Debug, Clone)]
pub struct PayloadList<'a> {
    items: [RawPayload<'a>; MAX_PAYLOADS],
    len: usize,
    trailing: usize,
}

impl<'a> PayloadList<'a> {
    /// Parse the chain of a (decrypted) message body; see [`Payloads::new`].
    pub fn parse(first: PayloadType, body: &'a [u8]) -> Result<Self, WireError> {
        let mut list = Self {
            items: [RawPayload::default(); MAX_PAYLOADS],
            len: 0,
            trailing: 0,
        };
        let mut it = Payloads::new(first, body);
        for p in it.by_ref() {
            let p = p?;
            let slot = list
                .items
                .get_mut(list.len)
                .ok_or(WireError::TooManyPayloads {
                    limit: MAX_PAYLOADS,
                })?;
            *slot = p;
            list.len += 1;
        }
        list.trailing = it.trailing();
        Ok(list)
    }

    /// The payloads in message order.
    pub fn as_slice(&self) -> &[RawPayload<'a>] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// Iterate in message order.
    pub fn iter(&self) -> core::slice::Iter<'_, RawPayload<'a>> {
        self.as_slice().iter()
    }

    /// Number of payloads.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the chain was empty (header Next Payload = NONE).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes after the last payload (padding of an encrypted body).
    pub fn trailing(&self) -> usize {
        self.trailing
    }

    /// The first payload of type `ty`.
    pub fn find(&self, ty: PayloadType) -> Option<&RawPayload<'a>> {
        self.iter().find(|p| p.ty == ty)
    }

    /// Every payload of type `ty`, in order (VIDs, NAT-D, notifies).
    pub fn find_all(&self, ty: PayloadType) -> impl Iterator<Item = &RawPayload<'a>> + '_ {
        self.iter().filter(move |p| p.ty == ty)
    }
}
