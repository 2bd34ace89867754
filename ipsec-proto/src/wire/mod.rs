//! ISAKMP byte formats (RFC 2408, 2407, 2409, 3947, 3706): zero-copy parsing and emitting.
//!
//! # Receiving
//!
//! 1. [`Header::parse`] reads the 28-byte header (cookies for demux, exchange type, flags,
//!    message ID); [`Header::message`] cuts the datagram at the header's length field.
//! 2. If [`Flags::encrypted`], decrypt `message[28..]` in place; the plaintext ends with padding.
//! 3. [`PayloadList::parse`]`(header.next_payload, body)` (or the lazy [`Payloads`] iterator)
//!    walks the chain and yields [`RawPayload`]s: `ty`, `body` (without the generic header:
//!    SAi_b, IDii_b, Ni_b are bodies) and `raw` (with it: HASH(1)/(2)/(3) cover raw bytes).
//!    The chain stops at Next Payload = NONE; the remaining bytes are padding
//!    ([`PayloadList::trailing`]). Every length is checked, at most [`MAX_PAYLOADS`] payloads.
//! 4. Typed views parse a body: [`SaPayload`] (→ [`Proposal`] → [`Transform`] →
//!    [`Attribute`]), [`KeyExchange`], [`Nonce`], [`Identification`], [`HashPayload`], [`Notify`],
//!    [`Delete`], [`ConfigPayload`] (XAUTH / Mode Config), [`Fragment`] (payload 132), Vendor ID (use [`recognize`]), [`NatD`], [`NatOa`].
//!
//! Every failure is a [`WireError`] naming the offset and payload type; nothing here panics or
//! allocates on the parse path.
//!
//! # Sending
//!
//! [`MessageBuilder::new`] writes the header into the caller's buffer; `add_*` methods append
//! payloads in order and keep the Next Payload chain and header length right. Phase-2 and
//! Informational messages start with [`MessageBuilder::add_hash_placeholder`]; once the other
//! payloads are in, hash `M-ID | `[`MessageBuilder::bytes_after`]`(slot)` and
//! [`MessageBuilder::fill`] the slot, then [`MessageBuilder::pad_to_block`] and
//! [`MessageBuilder::finish`] (returns the message mutably for in-place encryption). The SA
//! payload is described by [`SaSpec`]/[`ProposalSpec`]/[`TransformSpec`]/[`Attr`]; the attribute
//! encoding (TV or TLV of a given length) is always the caller's explicit choice, because the
//! peer hashes the exact bytes. A buffer too small gives [`WireError::BufferTooSmall`].
//!
//! [`OwnedMessage`] is an owned form whose [`OwnedMessage::emit`] reproduces parsed bytes
//! exactly; `fuzzing` (cargo feature `fuzzing`) holds the fuzz-target bodies.

mod attribute;
mod builder;
mod config;
mod delete;
mod error;
mod fragment;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod header;
mod id;
mod message;
mod natoa;
mod notify;
mod opaque;
mod payload;
mod sa;
pub mod vendor;
mod writer;

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod tests;

pub use attribute::{
    write_attributes, Attr, AttrValue, Attribute, Attributes, AuthAlgorithm, AuthMethod,
    EncapsulationMode, GroupDescription, IkeAttrType, IkeEncryption, IkeHash, IpsecAttrType,
    LifeType,
};
pub use builder::{HashSlot, MessageBuilder};
pub use config::{CfgAttrType, CfgType, ConfigPayload, ConfigSpec};
pub use delete::{Delete, DeleteSpec};
pub use error::WireError;
pub use fragment::{write_fragment_message, Fragment, FragmentSpec, FRAGMENT_OVERHEAD};
pub use header::{Cookie, ExchangeType, Flags, Header};
pub use id::{IdSpec, IdType, IdValue, Identification};
pub use message::{OwnedAttr, OwnedMessage, OwnedPayload, OwnedProposal, OwnedSa, OwnedTransform};
pub use natoa::{write_nat_oa_body, NatOa};
pub use notify::{Notify, NotifySpec, NotifyType};
pub use opaque::{HashPayload, KeyExchange, NatD, Nonce};
pub use payload::{PayloadList, PayloadType, Payloads, RawPayload};
pub use sa::{
    Proposal, ProposalSpec, Proposals, ProtocolId, SaPayload, SaSpec, Transform, TransformId,
    TransformSpec, Transforms, DOI_IPSEC, SIT_IDENTITY_ONLY,
};
pub use vendor::{recognize, KnownVendor};
pub use writer::Writer;

/// Size of the ISAKMP header.
pub const HEADER_LEN: usize = 28;

/// Most payloads accepted in one chain: real messages carry fewer than 20.
pub const MAX_PAYLOADS: usize = 64;

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(s))
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}
