//! Security Association, Proposal and Transform payloads (RFC 2408 §3.4-3.6, RFC 2407 §4.6.1).

use core::fmt;

use super::attribute::{write_attributes, Attr, Attributes};
use super::error::WireError;
use super::payload::{PayloadType, Payloads};
use super::writer::{write_payload, Writer};
use super::{be16, be32};

/// Domain of Interpretation value of the IPsec DOI.
pub const DOI_IPSEC: u32 = 1;
/// Situation SIT_IDENTITY_ONLY.
pub const SIT_IDENTITY_ONLY: u32 = 1;

/// Protocol-ID (open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ProtocolId(pub u8);

impl ProtocolId {
    /// PROTO_ISAKMP.
    pub const ISAKMP: Self = Self(1);
    /// PROTO_IPSEC_AH.
    pub const AH: Self = Self(2);
    /// PROTO_IPSEC_ESP.
    pub const ESP: Self = Self(3);
    /// PROTO_IPCOMP.
    pub const IPCOMP: Self = Self(4);
}

impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("PROTO_ISAKMP"),
            2 => f.write_str("PROTO_IPSEC_AH"),
            3 => f.write_str("PROTO_IPSEC_ESP"),
            4 => f.write_str("PROTO_IPCOMP"),
            n => write!(f, "PROTO({n})"),
        }
    }
}

/// Transform-ID (open; meaning depends on the proposal's protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransformId(pub u8);

impl TransformId {
    /// KEY_IKE (phase 1).
    pub const KEY_IKE: Self = Self(1);
    /// ESP_DES.
    pub const ESP_DES: Self = Self(2);
    /// ESP_3DES.
    pub const ESP_3DES: Self = Self(3);
    /// ESP_NULL.
    pub const ESP_NULL: Self = Self(11);
    /// ESP_AES (CBC).
    pub const ESP_AES: Self = Self(12);
    /// ESP AES-GCM with 16-byte ICV.
    pub const ESP_AES_GCM_16: Self = Self(20);
    /// AH_MD5.
    pub const AH_MD5: Self = Self(2);
    /// AH_SHA.
    pub const AH_SHA: Self = Self(3);
}

/// View of an SA payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaPayload<'a> {
    body: &'a [u8],
}

impl<'a> SaPayload<'a> {
    /// Parse the fixed part (DOI, situation) of an SA payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 8 {
            return Err(WireError::BodyTooShort {
                payload_type: PayloadType::SA,
                needed: 8,
                len: body.len(),
            });
        }
        Ok(Self { body })
    }

    /// DOI (1 = IPsec).
    pub fn doi(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// Situation bitmask.
    pub fn situation(&self) -> u32 {
        be32(self.body, 4).unwrap_or(0)
    }

    /// The whole body (SAi_b when this is the initiator's SA).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The proposals, in order.
    pub fn proposals(&self) -> Proposals<'a> {
        Proposals(Payloads::nested(
            PayloadType::SA,
            PayloadType::PROPOSAL,
            self.body.get(8..).unwrap_or(&[]),
        ))
    }

    /// Walk every proposal, transform and attribute; the first error found, if any.
    pub fn validate(&self) -> Result<(), WireError> {
        for p in self.proposals() {
            for t in p?.transforms() {
                for a in t?.attributes() {
                    a?;
                }
            }
        }
        Ok(())
    }
}

/// Iterator over the proposals of an SA payload.
#[derive(Debug, Clone)]
pub struct Proposals<'a>(Payloads<'a>);

impl<'a> Iterator for Proposals<'a> {
    type Item = Result<Proposal<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next()
            .map(|r| r.and_then(|p| Proposal::parse(p.body)))
    }
}

/// View of a proposal body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal<'a> {
    body: &'a [u8],
    spi_end: usize,
}

impl<'a> Proposal<'a> {
    /// Parse a proposal body (without its generic header).
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let spi_size = *body.get(2).ok_or(WireError::BodyTooShort {
            payload_type: PayloadType::PROPOSAL,
            needed: 4,
            len: body.len(),
        })?;
        if body.len() < 4 {
            return Err(WireError::BodyTooShort {
                payload_type: PayloadType::PROPOSAL,
                needed: 4,
                len: body.len(),
            });
        }
        let spi_end = 4 + usize::from(spi_size);
        if spi_end > body.len() {
            return Err(WireError::SpiBeyondEnd {
                payload_type: PayloadType::PROPOSAL,
                spi_size,
                len: body.len(),
            });
        }
        Ok(Self { body, spi_end })
    }

    /// Proposal number.
    pub fn number(&self) -> u8 {
        self.body.first().copied().unwrap_or(0)
    }

    /// Protocol-ID.
    pub fn protocol(&self) -> ProtocolId {
        ProtocolId(self.body.get(1).copied().unwrap_or(0))
    }

    /// SPI size field.
    pub fn spi_size(&self) -> u8 {
        self.body.get(2).copied().unwrap_or(0)
    }

    /// The "# of Transforms" field as sent (not checked against the chain).
    pub fn transform_count(&self) -> u8 {
        self.body.get(3).copied().unwrap_or(0)
    }

    /// The SPI (4 bytes for ESP: the sender's inbound SPI; empty in phase 1).
    pub fn spi(&self) -> &'a [u8] {
        self.body.get(4..self.spi_end).unwrap_or(&[])
    }

    /// The transforms, in order.
    pub fn transforms(&self) -> Transforms<'a> {
        Transforms(Payloads::nested(
            PayloadType::PROPOSAL,
            PayloadType::TRANSFORM,
            self.body.get(self.spi_end..).unwrap_or(&[]),
        ))
    }
}

/// Iterator over the transforms of a proposal.
#[derive(Debug, Clone)]
pub struct Transforms<'a>(Payloads<'a>);

impl<'a> Iterator for Transforms<'a> {
    type Item = Result<Transform<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next()
            .map(|r| r.and_then(|p| Transform::parse(p.body)))
    }
}

/// View of a transform body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform<'a> {
    body: &'a [u8],
}

impl<'a> Transform<'a> {
    /// Parse a transform body (without its generic header).
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 4 {
            return Err(WireError::BodyTooShort {
                payload_type: PayloadType::TRANSFORM,
                needed: 4,
                len: body.len(),
            });
        }
        Ok(Self { body })
    }

    /// Transform number.
    pub fn number(&self) -> u8 {
        self.body.first().copied().unwrap_or(0)
    }

    /// Transform-ID.
    pub fn transform_id(&self) -> TransformId {
        TransformId(self.body.get(1).copied().unwrap_or(0))
    }

    /// RESERVED2 (should be 0).
    pub fn reserved(&self) -> u16 {
        be16(self.body, 2).unwrap_or(0)
    }

    /// The encoded attributes.
    pub fn attributes_raw(&self) -> &'a [u8] {
        self.body.get(4..).unwrap_or(&[])
    }

    /// The attributes, in order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.attributes_raw())
    }
}

/// A transform to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformSpec<'a> {
    /// Transform number.
    pub number: u8,
    /// Transform-ID.
    pub id: TransformId,
    /// Attributes, in the order they go on the wire.
    pub attributes: &'a [Attr<'a>],
}

/// A proposal to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalSpec<'a> {
    /// Proposal number (equal numbers form a bundle).
    pub number: u8,
    /// Protocol-ID.
    pub protocol: ProtocolId,
    /// SPI (empty in phase 1).
    pub spi: &'a [u8],
    /// Transforms, alternatives in preference order.
    pub transforms: &'a [TransformSpec<'a>],
}

/// An SA payload to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaSpec<'a> {
    /// DOI (normally [`DOI_IPSEC`]).
    pub doi: u32,
    /// Situation (normally [`SIT_IDENTITY_ONLY`]).
    pub situation: u32,
    /// Proposals in order.
    pub proposals: &'a [ProposalSpec<'a>],
}

impl TransformSpec<'_> {
    /// Append the transform body (no generic header).
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put(&[self.number, self.id.0, 0, 0])?;
        write_attributes(w, self.attributes)
    }
}

impl ProposalSpec<'_> {
    /// Append the proposal body (no generic header) with its nested transforms.
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        let spi_size =
            u8::try_from(self.spi.len()).map_err(|_| WireError::ValueTooLarge { len: 1 })?;
        let count =
            u8::try_from(self.transforms.len()).map_err(|_| WireError::ValueTooLarge { len: 1 })?;
        w.put(&[self.number, self.protocol.0, spi_size, count])?;
        w.put(self.spi)?;
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            let next = if i + 1 == n {
                PayloadType::NONE
            } else {
                PayloadType::TRANSFORM
            };
            write_payload(w, PayloadType::TRANSFORM, next, |w| t.write_body(w))?;
        }
        Ok(())
    }
}

impl SaSpec<'_> {
    /// Append the SA payload body (no generic header): the bytes of SAi_b.
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put_u32(self.doi)?;
        w.put_u32(self.situation)?;
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let next = if i + 1 == n {
                PayloadType::NONE
            } else {
                PayloadType::PROPOSAL
            };
            write_payload(w, PayloadType::PROPOSAL, next, |w| p.write_body(w))?;
        }
        Ok(())
    }
}
