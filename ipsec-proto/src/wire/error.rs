//! The one error type of the wire layer.

use super::payload::PayloadType;

/// Why bytes could not be parsed or emitted.
///
/// Offsets are relative to the slice the failing parser was given (the message body for the
/// payload chain, the payload body for nested structures), so a network engineer can find the
/// byte in a capture. Every variant except [`WireError::BufferTooSmall`] and
/// [`WireError::ValueTooLarge`]/[`WireError::PayloadTooLong`] is caused by network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer than 28 bytes: not even an ISAKMP header.
    #[error("datagram of {len} bytes is shorter than the 28-byte ISAKMP header")]
    TruncatedHeader {
        /// Bytes available.
        len: usize,
    },
    /// The header's length field is smaller than the header itself.
    #[error("ISAKMP header length field {length} is smaller than 28")]
    HeaderLengthTooSmall {
        /// The length field.
        length: u32,
    },
    /// The header's length field claims more bytes than the datagram holds.
    #[error("ISAKMP header length field {length} exceeds the {available}-byte datagram")]
    HeaderLengthBeyondDatagram {
        /// The length field.
        length: u32,
        /// Bytes in the datagram.
        available: usize,
    },
    /// The previous payload announced `payload_type` but fewer than 4 bytes remain.
    #[error("{payload_type} payload at offset {offset}: only {available} bytes left for its 4-byte generic header")]
    PayloadHeaderTruncated {
        /// Where the payload should start.
        offset: usize,
        /// The announced type.
        payload_type: PayloadType,
        /// Bytes left (1..=3).
        available: usize,
    },
    /// The previous payload announced `payload_type` but the message ends exactly there.
    #[error("payload chain announces {payload_type} at offset {offset} but the message ends")]
    ChainOverrun {
        /// Where the payload should start.
        offset: usize,
        /// The announced type.
        payload_type: PayloadType,
    },
    /// A payload length field of zero (a peer bug that would loop a naive parser).
    #[error("{payload_type} payload at offset {offset} has length 0")]
    ZeroLength {
        /// Start of the payload.
        offset: usize,
        /// Its type.
        payload_type: PayloadType,
    },
    /// A payload length field of 1..=3, shorter than the generic header.
    #[error("{payload_type} payload at offset {offset} has length {length}, less than its 4-byte generic header")]
    LengthBelowGenericHeader {
        /// Start of the payload.
        offset: usize,
        /// Its type.
        payload_type: PayloadType,
        /// The length field.
        length: u16,
    },
    /// A payload length field reaching past the end of the enclosing message or payload.
    #[error("{payload_type} payload at offset {offset} has length {length} but only {available} bytes remain")]
    LengthBeyondEnd {
        /// Start of the payload.
        offset: usize,
        /// Its type.
        payload_type: PayloadType,
        /// The length field.
        length: u16,
        /// Bytes from `offset` to the end of the enclosing buffer.
        available: usize,
    },
    /// A payload body shorter than the fixed part of that payload type.
    #[error(
        "{payload_type} payload body of {len} bytes is shorter than its {needed}-byte fixed part"
    )]
    BodyTooShort {
        /// The payload type.
        payload_type: PayloadType,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// The RESERVED byte of a generic header is not zero (only reported in strict mode).
    #[error("{payload_type} payload at offset {offset} has RESERVED byte {value:#04x}")]
    ReservedNonZero {
        /// Start of the payload.
        offset: usize,
        /// Its type.
        payload_type: PayloadType,
        /// The byte.
        value: u8,
    },
    /// More payloads than the per-message cap; stops pathological chains.
    #[error("more than {limit} payloads in one chain")]
    TooManyPayloads {
        /// The cap.
        limit: usize,
    },
    /// Inside an SA or proposal, a next-payload value other than PROPOSAL/TRANSFORM or NONE.
    #[error("nested payload at offset {offset}: next payload {found} where {expected} or NONE was required")]
    UnexpectedNestedType {
        /// Start of the nested payload.
        offset: usize,
        /// What the chain allows.
        expected: PayloadType,
        /// What the peer sent.
        found: PayloadType,
    },
    /// Bytes left inside an SA/proposal/transform/delete body after its chain ended.
    #[error("{count} stray bytes after the last nested item of a {payload_type} payload")]
    TrailingBytes {
        /// The enclosing payload type.
        payload_type: PayloadType,
        /// How many bytes.
        count: usize,
    },
    /// A proposal's SPI size reaches past its body.
    #[error("SPI of {spi_size} bytes does not fit in a {payload_type} body of {len} bytes")]
    SpiBeyondEnd {
        /// The enclosing payload type.
        payload_type: PayloadType,
        /// SPI size field.
        spi_size: u8,
        /// Body length.
        len: usize,
    },
    /// A data attribute whose 4-byte header is cut off.
    #[error(
        "data attribute at offset {offset}: only {available} bytes left for its 4-byte header"
    )]
    AttributeTruncated {
        /// Start of the attribute within the attribute area.
        offset: usize,
        /// Bytes left.
        available: usize,
    },
    /// A TLV attribute whose length reaches past the attribute area.
    #[error("TLV attribute type {attr_type} at offset {offset} has length {length} but only {available} bytes remain")]
    AttributeLengthBeyondEnd {
        /// Start of the attribute.
        offset: usize,
        /// Attribute type (AF bit removed).
        attr_type: u16,
        /// The length field.
        length: u16,
        /// Bytes after the attribute header.
        available: usize,
    },
    /// An attribute value read as an integer is empty or longer than 8 bytes.
    #[error("attribute type {attr_type}: a {length}-byte value is not a 1..=8 byte integer")]
    AttributeValueLength {
        /// Attribute type (AF bit removed).
        attr_type: u16,
        /// Value length.
        length: usize,
    },
    /// A Delete payload whose SPI count and size do not match its body.
    #[error(
        "delete payload: {count} SPIs of {spi_size} bytes do not match {len} bytes of SPI data"
    )]
    DeleteSpiMismatch {
        /// Number-of-SPIs field.
        count: u16,
        /// SPI size field.
        spi_size: u8,
        /// Bytes after the fixed part.
        len: usize,
    },
    /// Identification (or NAT-OA) data of the wrong size for its ID type.
    #[error("identification type {id_type}: {len} bytes of data is the wrong size")]
    IdDataLength {
        /// ID type.
        id_type: u8,
        /// Data length.
        len: usize,
    },
    /// The caller's buffer is too small; `needed` is the total size required so far.
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Total bytes the buffer must have.
        needed: usize,
    },
    /// A payload body too long for the 16-bit length field (API misuse).
    #[error("{payload_type} payload of {len} bytes exceeds 65535")]
    PayloadTooLong {
        /// The payload type.
        payload_type: PayloadType,
        /// Total length including the generic header.
        len: usize,
    },
    /// A value that does not fit the field chosen for it (API misuse).
    #[error("value does not fit in {len} bytes")]
    ValueTooLarge {
        /// Field size in bytes.
        len: usize,
    },
    /// A placeholder handle that does not belong to this message (API misuse).
    #[error("hash placeholder of {len} bytes at offset {offset} is not in this message")]
    BadPlaceholder {
        /// Offset of the placeholder body.
        offset: usize,
        /// Its size.
        len: usize,
    },
}
