//! Owned form of a cleartext message, for logging, tests and exact re-emission.

use super::attribute::Attr;
use super::builder::MessageBuilder;
use super::error::WireError;
use super::header::Header;
use super::payload::{PayloadType, Payloads};
use super::sa::{ProposalSpec, ProtocolId, SaPayload, SaSpec, TransformId, TransformSpec};
use super::writer::Writer;
use super::HEADER_LEN;

/// An owned data attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedAttr {
    /// Type, AF bit removed.
    pub attr_type: u16,
    /// TV (true) or TLV (false).
    pub basic: bool,
    /// Value bytes (exactly 2 for TV).
    pub value: Vec<u8>,
}

/// An owned transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTransform {
    /// Transform number.
    pub number: u8,
    /// Transform-ID.
    pub id: TransformId,
    /// Attributes in wire order.
    pub attributes: Vec<OwnedAttr>,
}

/// An owned proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedProposal {
    /// Proposal number.
    pub number: u8,
    /// Protocol-ID.
    pub protocol: ProtocolId,
    /// SPI.
    pub spi: Vec<u8>,
    /// Transforms.
    pub transforms: Vec<OwnedTransform>,
}

/// An owned SA payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSa {
    /// DOI.
    pub doi: u32,
    /// Situation.
    pub situation: u32,
    /// Proposals.
    pub proposals: Vec<OwnedProposal>,
}

impl OwnedSa {
    /// Decode an SA payload body completely. Fields that the encoder derives (counts, SPI size,
    /// reserved bytes) are not kept, so re-emitting gives the canonical encoding.
    pub fn from_body(body: &[u8]) -> Result<Self, WireError> {
        let sa = SaPayload::parse(body)?;
        let mut proposals = Vec::new();
        for p in sa.proposals() {
            let p = p?;
            let mut transforms = Vec::new();
            for t in p.transforms() {
                let t = t?;
                let mut attributes = Vec::new();
                for a in t.attributes() {
                    let a = a?;
                    attributes.push(OwnedAttr {
                        attr_type: a.attr_type(),
                        basic: a.is_basic(),
                        value: a.value().to_vec(),
                    });
                }
                transforms.push(OwnedTransform {
                    number: t.number(),
                    id: t.transform_id(),
                    attributes,
                });
            }
            proposals.push(OwnedProposal {
                number: p.number(),
                protocol: p.protocol(),
                spi: p.spi().to_vec(),
                transforms,
            });
        }
        Ok(Self {
            doi: sa.doi(),
            situation: sa.situation(),
            proposals,
        })
    }

    /// Append the SA body through the [`SaSpec`] encoder.
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        let attrs: Vec<Vec<Vec<Attr<'_>>>> = self
            .proposals
            .iter()
            .map(|p| {
                p.transforms
                    .iter()
                    .map(|t| t.attributes.iter().map(to_attr).collect())
                    .collect()
            })
            .collect();
        let transforms: Vec<Vec<TransformSpec<'_>>> = self
            .proposals
            .iter()
            .zip(&attrs)
            .map(|(p, pa)| {
                p.transforms
                    .iter()
                    .zip(pa)
                    .map(|(t, a)| TransformSpec {
                        number: t.number,
                        id: t.id,
                        attributes: a,
                    })
                    .collect()
            })
            .collect();
        let proposals: Vec<ProposalSpec<'_>> = self
            .proposals
            .iter()
            .zip(&transforms)
            .map(|(p, t)| ProposalSpec {
                number: p.number,
                protocol: p.protocol,
                spi: &p.spi,
                transforms: t,
            })
            .collect();
        SaSpec {
            doi: self.doi,
            situation: self.situation,
            proposals: &proposals,
        }
        .write_body(w)
    }

    /// The canonical encoding as a vector.
    pub fn to_body(&self) -> Result<Vec<u8>, WireError> {
        let mut buf = vec![0u8; 65535];
        let mut w = Writer::new(&mut buf);
        self.write_body(&mut w)?;
        Ok(w.written().to_vec())
    }
}

fn to_attr(a: &OwnedAttr) -> Attr<'_> {
    match (a.basic, a.value.as_slice()) {
        (true, [hi, lo]) => Attr::basic(a.attr_type, u16::from_be_bytes([*hi, *lo])),
        _ => Attr::variable(a.attr_type, &a.value),
    }
}

/// One payload of an [`OwnedMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedPayload {
    /// An SA payload whose canonical encoding equals the received bytes.
    Sa(OwnedSa),
    /// Any other payload (or an SA in a non-canonical encoding), verbatim.
    Raw {
        /// Payload type.
        ty: PayloadType,
        /// RESERVED byte of the generic header.
        reserved: u8,
        /// Body.
        body: Vec<u8>,
    },
}

/// A whole cleartext message in owned form: parse, then [`OwnedMessage::emit`] reproduces the
/// bytes the header's length field delimited, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    /// The header (length and Next Payload are recomputed on emit).
    pub header: Header,
    /// Payloads in order.
    pub payloads: Vec<OwnedPayload>,
    /// Bytes after the payload chain (padding).
    pub trailing: Vec<u8>,
}

impl OwnedMessage {
    /// Parse a cleartext datagram (or a decrypted one with the header in front).
    pub fn parse(datagram: &[u8]) -> Result<Self, WireError> {
        let header = Header::parse(datagram)?;
        let msg = header.message(datagram)?;
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let mut it = Payloads::new(header.next_payload, body);
        let mut payloads = Vec::new();
        for p in it.by_ref() {
            let p = p?;
            let structured = if p.ty == PayloadType::SA && p.reserved == 0 {
                OwnedSa::from_body(p.body)
                    .ok()
                    .filter(|sa| sa.to_body().ok().as_deref() == Some(p.body))
            } else {
                None
            };
            payloads.push(match structured {
                Some(sa) => OwnedPayload::Sa(sa),
                None => OwnedPayload::Raw {
                    ty: p.ty,
                    reserved: p.reserved,
                    body: p.body.to_vec(),
                },
            });
        }
        let trailing = body.get(it.position()..).unwrap_or(&[]).to_vec();
        Ok(Self {
            header,
            payloads,
            trailing,
        })
    }

    /// Write the message into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut b = MessageBuilder::new(buf, self.header)?;
        for p in &self.payloads {
            match p {
                OwnedPayload::Sa(sa) => {
                    b.add_with(PayloadType::SA, |w| sa.write_body(w))?;
                }
                OwnedPayload::Raw { ty, reserved, body } => {
                    let at = b.add_raw(*ty, body)?;
                    if *reserved != 0 {
                        b.set_reserved(at, *reserved)?;
                    }
                }
            }
        }
        b.pad(&self.trailing)?;
        Ok(b.finish()?.len())
    }
}
