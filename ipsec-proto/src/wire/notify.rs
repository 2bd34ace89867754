//! Notification payload (RFC 2408 §3.14) and notify message types.

use core::fmt;

use super::error::WireError;
use super::payload::PayloadType;
use super::sa::ProtocolId;
use super::writer::Writer;
use super::{be16, be32};

/// Notify Message Type (open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NotifyType(pub u16);

impl NotifyType {
    /// INVALID-PAYLOAD-TYPE.
    pub const INVALID_PAYLOAD_TYPE: Self = Self(1);
    /// DOI-NOT-SUPPORTED.
    pub const DOI_NOT_SUPPORTED: Self = Self(2);
    /// SITUATION-NOT-SUPPORTED.
    pub const SITUATION_NOT_SUPPORTED: Self = Self(3);
    /// INVALID-COOKIE.
    pub const INVALID_COOKIE: Self = Self(4);
    /// INVALID-MAJOR-VERSION.
    pub const INVALID_MAJOR_VERSION: Self = Self(5);
    /// INVALID-MINOR-VERSION.
    pub const INVALID_MINOR_VERSION: Self = Self(6);
    /// INVALID-EXCHANGE-TYPE.
    pub const INVALID_EXCHANGE_TYPE: Self = Self(7);
    /// INVALID-FLAGS.
    pub const INVALID_FLAGS: Self = Self(8);
    /// INVALID-MESSAGE-ID.
    pub const INVALID_MESSAGE_ID: Self = Self(9);
    /// INVALID-PROTOCOL-ID.
    pub const INVALID_PROTOCOL_ID: Self = Self(10);
    /// INVALID-SPI.
    pub const INVALID_SPI: Self = Self(11);
    /// INVALID-TRANSFORM-ID.
    pub const INVALID_TRANSFORM_ID: Self = Self(12);
    /// ATTRIBUTES-NOT-SUPPORTED.
    pub const ATTRIBUTES_NOT_SUPPORTED: Self = Self(13);
    /// NO-PROPOSAL-CHOSEN (IOS debug: PROPOSAL_NOT_CHOSEN).
    pub const NO_PROPOSAL_CHOSEN: Self = Self(14);
    /// BAD-PROPOSAL-SYNTAX.
    pub const BAD_PROPOSAL_SYNTAX: Self = Self(15);
    /// PAYLOAD-MALFORMED.
    pub const PAYLOAD_MALFORMED: Self = Self(16);
    /// INVALID-KEY-INFORMATION.
    pub const INVALID_KEY_INFORMATION: Self = Self(17);
    /// INVALID-ID-INFORMATION.
    pub const INVALID_ID_INFORMATION: Self = Self(18);
    /// INVALID-CERT-ENCODING.
    pub const INVALID_CERT_ENCODING: Self = Self(19);
    /// INVALID-CERTIFICATE.
    pub const INVALID_CERTIFICATE: Self = Self(20);
    /// CERT-TYPE-UNSUPPORTED.
    pub const CERT_TYPE_UNSUPPORTED: Self = Self(21);
    /// INVALID-CERT-AUTHORITY.
    pub const INVALID_CERT_AUTHORITY: Self = Self(22);
    /// INVALID-HASH-INFORMATION.
    pub const INVALID_HASH_INFORMATION: Self = Self(23);
    /// AUTHENTICATION-FAILED.
    pub const AUTHENTICATION_FAILED: Self = Self(24);
    /// INVALID-SIGNATURE.
    pub const INVALID_SIGNATURE: Self = Self(25);
    /// ADDRESS-NOTIFICATION.
    pub const ADDRESS_NOTIFICATION: Self = Self(26);
    /// NOTIFY-SA-LIFETIME.
    pub const NOTIFY_SA_LIFETIME: Self = Self(27);
    /// CERTIFICATE-UNAVAILABLE.
    pub const CERTIFICATE_UNAVAILABLE: Self = Self(28);
    /// UNSUPPORTED-EXCHANGE-TYPE.
    pub const UNSUPPORTED_EXCHANGE_TYPE: Self = Self(29);
    /// UNEQUAL-PAYLOAD-LENGTHS.
    pub const UNEQUAL_PAYLOAD_LENGTHS: Self = Self(30);
    /// CONNECTED (status).
    pub const CONNECTED: Self = Self(16384);
    /// RESPONDER-LIFETIME (IPsec DOI status; data = SA attributes).
    pub const RESPONDER_LIFETIME: Self = Self(24576);
    /// REPLAY-STATUS (IPsec DOI status).
    pub const REPLAY_STATUS: Self = Self(24577);
    /// INITIAL-CONTACT (IPsec DOI status).
    pub const INITIAL_CONTACT: Self = Self(24578);
    /// R-U-THERE (RFC 3706 DPD).
    pub const R_U_THERE: Self = Self(36136);
    /// R-U-THERE-ACK (RFC 3706 DPD).
    pub const R_U_THERE_ACK: Self = Self(36137);
    /// Cisco UNITY-LOAD-BALANCE.
    pub const UNITY_LOAD_BALANCE: Self = Self(40501);
    /// Cisco UNITY-GROUP-HASH.
    pub const UNITY_GROUP_HASH: Self = Self(40503);

    /// True for error types (below 16384), which strongSwan treats as fatal in Main Mode.
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }

    /// RFC spelling, e.g. `NO-PROPOSAL-CHOSEN`.
    pub fn rfc_name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "INVALID-PAYLOAD-TYPE",
            2 => "DOI-NOT-SUPPORTED",
            3 => "SITUATION-NOT-SUPPORTED",
            4 => "INVALID-COOKIE",
            5 => "INVALID-MAJOR-VERSION",
            6 => "INVALID-MINOR-VERSION",
            7 => "INVALID-EXCHANGE-TYPE",
            8 => "INVALID-FLAGS",
            9 => "INVALID-MESSAGE-ID",
            10 => "INVALID-PROTOCOL-ID",
            11 => "INVALID-SPI",
            12 => "INVALID-TRANSFORM-ID",
            13 => "ATTRIBUTES-NOT-SUPPORTED",
            14 => "NO-PROPOSAL-CHOSEN",
            15 => "BAD-PROPOSAL-SYNTAX",
            16 => "PAYLOAD-MALFORMED",
            17 => "INVALID-KEY-INFORMATION",
            18 => "INVALID-ID-INFORMATION",
            19 => "INVALID-CERT-ENCODING",
            20 => "INVALID-CERTIFICATE",
            21 => "CERT-TYPE-UNSUPPORTED",
            22 => "INVALID-CERT-AUTHORITY",
            23 => "INVALID-HASH-INFORMATION",
            24 => "AUTHENTICATION-FAILED",
            25 => "INVALID-SIGNATURE",
            26 => "ADDRESS-NOTIFICATION",
            27 => "NOTIFY-SA-LIFETIME",
            28 => "CERTIFICATE-UNAVAILABLE",
            29 => "UNSUPPORTED-EXCHANGE-TYPE",
            30 => "UNEQUAL-PAYLOAD-LENGTHS",
            16384 => "CONNECTED",
            24576 => "RESPONDER-LIFETIME",
            24577 => "REPLAY-STATUS",
            24578 => "INITIAL-CONTACT",
            36136 => "R-U-THERE",
            36137 => "R-U-THERE-ACK",
            40501 => "UNITY-LOAD-BALANCE",
            40502 => "UNITY-UNKNOWN",
            40503 => "UNITY-GROUP-HASH",
            _ => return None,
        })
    }

    /// IOS `debug crypto isakmp` spelling, e.g. `PROPOSAL_NOT_CHOSEN`, `INITIAL_CONTACT`.
    pub fn ios_name(self) -> Option<&'static str> {
        Some(match self.0 {
            14 => "PROPOSAL_NOT_CHOSEN",
            18 => "INVALID_ID_INFO",
            23 => "INVALID_HASH_INFO",
            24 => "AUTHENTICATION_FAILED",
            24576 => "RESPONDER_LIFETIME",
            24578 => "INITIAL_CONTACT",
            36136 => "R_U_THERE",
            36137 => "R_U_THERE_ACK",
            _ => return None,
        })
    }
}

/// Displays the RFC name, or `NOTIFY(n)` for unknown types.
impl fmt::Display for NotifyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rfc_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "NOTIFY({})", self.0),
        }
    }
}

/// View of a Notification payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notify<'a> {
    body: &'a [u8],
    spi_end: usize,
}

impl<'a> Notify<'a> {
    /// Parse a Notification body.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 8 {
            return Err(WireError::BodyTooShort {
                payload_type: PayloadType::NOTIFY,
                needed: 8,
                len: body.len(),
            });
        }
        let spi_size = body.get(5).copied().unwrap_or(0);
        let spi_end = 8 + usize::from(spi_size);
        if spi_end > body.len() {
            return Err(WireError::SpiBeyondEnd {
                payload_type: PayloadType::NOTIFY,
                spi_size,
                len: body.len(),
            });
        }
        Ok(Self { body, spi_end })
    }

    /// DOI.
    pub fn doi(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// Protocol-ID.
    pub fn protocol(&self) -> ProtocolId {
        ProtocolId(self.body.get(4).copied().unwrap_or(0))
    }

    /// Notify message type.
    pub fn notify_type(&self) -> NotifyType {
        NotifyType(be16(self.body, 6).unwrap_or(0))
    }

    /// SPI (CKY-I|CKY-R for ISAKMP, 4 bytes for ESP, or empty).
    pub fn spi(&self) -> &'a [u8] {
        self.body.get(8..self.spi_end).unwrap_or(&[])
    }

    /// Notification data (DPD sequence number, RESPONDER-LIFETIME attributes, ...).
    pub fn data(&self) -> &'a [u8] {
        self.body.get(self.spi_end..).unwrap_or(&[])
    }
}

/// A Notification to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifySpec<'a> {
    /// DOI (normally 1).
    pub doi: u32,
    /// Protocol-ID.
    pub protocol: ProtocolId,
    /// Message type.
    pub notify_type: NotifyType,
    /// SPI (at most 255 bytes).
    pub spi: &'a [u8],
    /// Data.
    pub data: &'a [u8],
}

impl NotifySpec<'_> {
    /// Append the Notification body.
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        let spi_size =
            u8::try_from(self.spi.len()).map_err(|_| WireError::ValueTooLarge { len: 1 })?;
        w.put_u32(self.doi)?;
        w.put(&[self.protocol.0, spi_size])?;
        w.put_u16(self.notify_type.0)?;
        w.put(self.spi)?;
        w.put(self.data)
    }
}
