//! The 28-byte ISAKMP header (RFC 2408 §3.1).

use core::fmt;

use super::error::WireError;
use super::payload::PayloadType;
use super::writer::Writer;
use super::{be32, HEADER_LEN};

/// An ISAKMP cookie (CKY-I or CKY-R).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Cookie(pub [u8; 8]);

impl Cookie {
    /// The all-zero responder cookie of a first message.
    pub const ZERO: Self = Self([0; 8]);

    /// True for the all-zero cookie.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Exchange type code point (open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ExchangeType(pub u8);

impl ExchangeType {
    /// None.
    pub const NONE: Self = Self(0);
    /// Base.
    pub const BASE: Self = Self(1);
    /// Identity Protection (Main Mode).
    pub const MAIN_MODE: Self = Self(2);
    /// Authentication Only.
    pub const AUTH_ONLY: Self = Self(3);
    /// Aggressive Mode.
    pub const AGGRESSIVE: Self = Self(4);
    /// Informational.
    pub const INFORMATIONAL: Self = Self(5);
    /// Transaction (Mode-Config / XAUTH).
    pub const TRANSACTION: Self = Self(6);
    /// Quick Mode.
    pub const QUICK_MODE: Self = Self(32);
    /// New Group Mode.
    pub const NEW_GROUP: Self = Self(33);

    /// Debug name of a known exchange type.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NONE",
            1 => "BASE",
            2 => "MAIN_MODE",
            3 => "AUTH_ONLY",
            4 => "AGGRESSIVE",
            5 => "INFORMATIONAL",
            6 => "TRANSACTION",
            32 => "QUICK_MODE",
            33 => "NEW_GROUP",
            _ => return None,
        })
    }
}

impl fmt::Display for ExchangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "EXCHANGE({})", self.0),
        }
    }
}

/// Header flags; unknown bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// E: everything after the header is encrypted.
    pub const ENCRYPTION: Self = Self(0x01);
    /// C: commit.
    pub const COMMIT: Self = Self(0x02);
    /// A: authentication only.
    pub const AUTH_ONLY: Self = Self(0x04);

    /// True when every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The E flag.
    pub fn encrypted(self) -> bool {
        self.contains(Self::ENCRYPTION)
    }

    /// The C flag.
    pub fn commit(self) -> bool {
        self.contains(Self::COMMIT)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// A parsed (or to-be-written) ISAKMP header. Owned and `Copy`: it is only 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// CKY-I.
    pub initiator_cookie: Cookie,
    /// CKY-R.
    pub responder_cookie: Cookie,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major (high nibble) and minor version; 0x10 for IKEv1.
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID (0 in phase 1).
    pub message_id: u32,
    /// Length of the whole message including header and padding.
    pub length: u32,
}

impl Header {
    /// ISAKMP version 1.0.
    pub const VERSION_1_0: u8 = 0x10;

    /// A header with version 1.0, no payloads yet and length 28 (patched by the message builder).
    pub fn new(
        initiator_cookie: Cookie,
        responder_cookie: Cookie,
        exchange: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Self {
            initiator_cookie,
            responder_cookie,
            next_payload: PayloadType::NONE,
            version: Self::VERSION_1_0,
            exchange,
            flags,
            message_id,
            length: HEADER_LEN as u32,
        }
    }

    /// Parse the first 28 bytes of a datagram. Checks only that they exist: version, exchange
    /// and length are for the caller to judge (see [`Header::message`]).
    pub fn parse(data: &[u8]) -> Result<Self, WireError> {
        let h: &[u8; HEADER_LEN] = data
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::TruncatedHeader { len: data.len() })?;
        let mut i = [0u8; 8];
        let mut r = [0u8; 8];
        i.copy_from_slice(&h[0..8]);
        r.copy_from_slice(&h[8..16]);
        Ok(Self {
            initiator_cookie: Cookie(i),
            responder_cookie: Cookie(r),
            next_payload: PayloadType(h[16]),
            version: h[17],
            exchange: ExchangeType(h[18]),
            flags: Flags(h[19]),
            message_id: be32(h, 20).unwrap_or(0),
            length: be32(h, 24).unwrap_or(0),
        })
    }

    /// Major version (high nibble).
    pub fn major_version(&self) -> u8 {
        self.version >> 4
    }

    /// Minor version (low nibble).
    pub fn minor_version(&self) -> u8 {
        self.version & 0x0f
    }

    /// The message as delimited by the length field: `datagram[..length]`. Errors when the
    /// field is below 28 or beyond the datagram; bytes after `length` are not part of the message.
    pub fn message<'a>(&self, datagram: &'a [u8]) -> Result<&'a [u8], WireError> {
        let len = self.checked_len(datagram.len())?;
        datagram
            .get(..len)
            .ok_or(WireError::HeaderLengthBeyondDatagram {
                length: self.length,
                available: datagram.len(),
            })
    }

    /// The length field as a `usize`, checked against a datagram of `available` bytes (for
    /// callers that need `&mut datagram[HEADER_LEN..len]` to decrypt in place).
    pub fn checked_len(&self, available: usize) -> Result<usize, WireError> {
        if self.length < HEADER_LEN as u32 {
            return Err(WireError::HeaderLengthTooSmall {
                length: self.length,
            });
        }
        usize::try_from(self.length)
            .ok()
            .filter(|&l| l <= available)
            .ok_or(WireError::HeaderLengthBeyondDatagram {
                length: self.length,
                available,
            })
    }

    /// The 28 bytes of this header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&self.initiator_cookie.0);
        b[8..16].copy_from_slice(&self.responder_cookie.0);
        b[16] = self.next_payload.0;
        b[17] = self.version;
        b[18] = self.exchange.0;
        b[19] = self.flags.0;
        b[20..24].copy_from_slice(&self.message_id.to_be_bytes());
        b[24..28].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Append the 28 bytes to `w`.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put(&self.to_bytes())
    }
}
