//! Attribute payload (payload type 14) of the Transaction exchange (exchange type 6), which
//! carries XAUTH (draft-beaulieu-ike-xauth-02) and Mode Config (draft-dukes-ike-mode-cfg-02).
//!
//! Body: cfg-type (1 byte), RESERVED (1), Identifier (2), then TV/TLV data attributes filling
//! the rest exactly. The attribute encoding is the same as in SA transforms, so the attributes
//! are read with [`Attributes`] and written with [`Attr`]; what differs is the code-point space
//! ([`CfgAttrType`]: Mode Config 1..15, Cisco Unity 28672.., XAUTH 16520..).

use core::fmt;

use super::attribute::{write_attributes, Attr, Attribute, Attributes};
use super::be16;
use super::error::WireError;
use super::payload::PayloadType;
use super::writer::Writer;

/// Bytes before the first attribute: cfg-type, RESERVED, Identifier.
const FIXED: usize = 4;

/// The cfg-type of an Attribute payload (open: unknown values are kept for the caller to refuse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CfgType(pub u8);

impl CfgType {
    /// ISAKMP_CFG_REQUEST: asks the peer for the listed attributes.
    pub const REQUEST: Self = Self(1);
    /// ISAKMP_CFG_REPLY: answers a REQUEST.
    pub const REPLY: Self = Self(2);
    /// ISAKMP_CFG_SET: pushes attributes (XAUTH STATUS, Mode Config push).
    pub const SET: Self = Self(3);
    /// ISAKMP_CFG_ACK: acknowledges a SET.
    pub const ACK: Self = Self(4);

    /// Name as the drafts (and IOS/strongSwan debug output) spell it, if known.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "REQUEST",
            2 => "REPLY",
            3 => "SET",
            4 => "ACK",
            _ => return None,
        })
    }
}

impl fmt::Display for CfgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "cfg-type {}", self.0),
        }
    }
}

/// Attribute type inside an Attribute payload (AF bit removed). Open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CfgAttrType(pub u16);

impl CfgAttrType {
    /// INTERNAL_IP4_ADDRESS (Mode Config).
    pub const INTERNAL_IP4_ADDRESS: Self = Self(1);
    /// INTERNAL_IP4_NETMASK.
    pub const INTERNAL_IP4_NETMASK: Self = Self(2);
    /// INTERNAL_IP4_DNS.
    pub const INTERNAL_IP4_DNS: Self = Self(3);
    /// INTERNAL_IP4_NBNS (WINS).
    pub const INTERNAL_IP4_NBNS: Self = Self(4);
    /// INTERNAL_ADDRESS_EXPIRY.
    pub const INTERNAL_ADDRESS_EXPIRY: Self = Self(5);
    /// INTERNAL_IP4_DHCP.
    pub const INTERNAL_IP4_DHCP: Self = Self(6);
    /// APPLICATION_VERSION.
    pub const APPLICATION_VERSION: Self = Self(7);
    /// INTERNAL_IP4_SUBNET.
    pub const INTERNAL_IP4_SUBNET: Self = Self(13);
    /// SUPPORTED_ATTRIBUTES.
    pub const SUPPORTED_ATTRIBUTES: Self = Self(14);

    /// XAUTH-TYPE (TV; 0 = generic).
    pub const XAUTH_TYPE: Self = Self(16520);
    /// XAUTH-USER-NAME.
    pub const XAUTH_USER_NAME: Self = Self(16521);
    /// XAUTH-USER-PASSWORD.
    pub const XAUTH_USER_PASSWORD: Self = Self(16522);
    /// XAUTH-PASSCODE.
    pub const XAUTH_PASSCODE: Self = Self(16523);
    /// XAUTH-MESSAGE.
    pub const XAUTH_MESSAGE: Self = Self(16524);
    /// XAUTH-CHALLENGE.
    pub const XAUTH_CHALLENGE: Self = Self(16525);
    /// XAUTH-DOMAIN.
    pub const XAUTH_DOMAIN: Self = Self(16526);
    /// XAUTH-STATUS (TV; 1 = OK, 0 = FAIL).
    pub const XAUTH_STATUS: Self = Self(16527);
    /// XAUTH-NEXT-PIN.
    pub const XAUTH_NEXT_PIN: Self = Self(16528);
    /// XAUTH-ANSWER.
    pub const XAUTH_ANSWER: Self = Self(16529);

    /// Cisco Unity MODECFG_BANNER.
    pub const UNITY_BANNER: Self = Self(28672);
    /// Cisco Unity MODECFG_SAVE_PASSWD.
    pub const UNITY_SAVE_PASSWD: Self = Self(28673);
    /// Cisco Unity MODECFG_DEF_DOMAIN.
    pub const UNITY_DEF_DOMAIN: Self = Self(28674);
    /// Cisco Unity MODECFG_SPLITDNS_NAME.
    pub const UNITY_SPLITDNS_NAME: Self = Self(28675);
    /// Cisco Unity MODECFG_SPLIT_INCLUDE (14-byte entries).
    pub const UNITY_SPLIT_INCLUDE: Self = Self(28676);
    /// Cisco Unity MODECFG_NATT_PORT.
    pub const UNITY_NATT_PORT: Self = Self(28677);
    /// Cisco Unity MODECFG_LOCAL_LAN.
    pub const UNITY_LOCAL_LAN: Self = Self(28678);
    /// Cisco Unity MODECFG_PFS.
    pub const UNITY_PFS: Self = Self(28679);
    /// Cisco Unity MODECFG_FW_TYPE.
    pub const UNITY_FW_TYPE: Self = Self(28680);
    /// Cisco Unity MODECFG_BACKUP_SERVERS.
    pub const UNITY_BACKUP_SERVERS: Self = Self(28681);
    /// Cisco Unity MODECFG_DDNS_HOSTNAME.
    pub const UNITY_DDNS_HOSTNAME: Self = Self(28682);

    /// Name for debug output, if known.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "INTERNAL_IP4_ADDRESS",
            2 => "INTERNAL_IP4_NETMASK",
            3 => "INTERNAL_IP4_DNS",
            4 => "INTERNAL_IP4_NBNS",
            5 => "INTERNAL_ADDRESS_EXPIRY",
            6 => "INTERNAL_IP4_DHCP",
            7 => "APPLICATION_VERSION",
            13 => "INTERNAL_IP4_SUBNET",
            14 => "SUPPORTED_ATTRIBUTES",
            16520 => "XAUTH_TYPE",
            16521 => "XAUTH_USER_NAME",
            16522 => "XAUTH_USER_PASSWORD",
            16523 => "XAUTH_PASSCODE",
            16524 => "XAUTH_MESSAGE",
            16525 => "XAUTH_CHALLENGE",
            16526 => "XAUTH_DOMAIN",
            16527 => "XAUTH_STATUS",
            16528 => "XAUTH_NEXT_PIN",
            16529 => "XAUTH_ANSWER",
            28672 => "MODECFG_BANNER",
            28673 => "MODECFG_SAVE_PASSWD",
            28674 => "MODECFG_DEF_DOMAIN",
            28675 => "MODECFG_SPLITDNS_NAME",
            28676 => "MODECFG_SPLIT_INCLUDE",
            28677 => "MODECFG_NATT_PORT",
            28678 => "MODECFG_LOCAL_LAN",
            28679 => "MODECFG_PFS",
            28680 => "MODECFG_FW_TYPE",
            28681 => "MODECFG_BACKUP_SERVERS",
            28682 => "MODECFG_DDNS_HOSTNAME",
            _ => return None,
        })
    }
}

impl From<CfgAttrType> for u16 {
    fn from(v: CfgAttrType) -> u16 {
        v.0
    }
}

impl fmt::Display for CfgAttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "attribute {}", self.0),
        }
    }
}

/// View of an Attribute payload body. Every attribute is checked at parse, so iterating
/// [`ConfigPayload::attributes`] afterwards cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigPayload<'a> {
    body: &'a [u8],
}

impl<'a> ConfigPayload<'a> {
    /// Parse an Attribute payload body. Attribute error offsets are relative to the body (the
    /// first attribute is at offset 4), like every other nested parser's.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        let attrs = body.get(FIXED..).ok_or(WireError::BodyTooShort {
            payload_type: PayloadType::ATTRIBUTES,
            needed: FIXED,
            len: body.len(),
        })?;
        for a in Attributes::new(attrs) {
            a.map_err(|e| shift_offset(e, FIXED))?;
        }
        Ok(Self { body })
    }

    /// cfg-type (REQUEST, REPLY, SET, ACK, or an unknown value).
    pub fn cfg_type(&self) -> CfgType {
        CfgType(self.body.first().copied().unwrap_or(0))
    }

    /// The Identifier that pairs a REPLY with its REQUEST and an ACK with its SET.
    pub fn identifier(&self) -> u16 {
        be16(self.body, 2).unwrap_or(0)
    }

    /// The attribute bytes (after the 4-byte fixed part).
    pub fn attribute_bytes(&self) -> &'a [u8] {
        self.body.get(FIXED..).unwrap_or(&[])
    }

    /// The attributes in wire order (already validated by [`ConfigPayload::parse`]).
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + 'a {
        Attributes::new(self.attribute_bytes()).filter_map(Result::ok)
    }

    /// The first attribute of this type, if any.
    pub fn find(&self, ty: CfgAttrType) -> Option<Attribute<'a>> {
        self.attributes().find(|a| a.attr_type() == ty.0)
    }
}

/// Move an attribute error's offset from the attribute area to the payload body.
fn shift_offset(e: WireError, by: usize) -> WireError {
    match e {
        WireError::AttributeTruncated { offset, available } => WireError::AttributeTruncated {
            offset: offset.saturating_add(by),
            available,
        },
        WireError::AttributeLengthBeyondEnd {
            offset,
            attr_type,
            length,
            available,
        } => WireError::AttributeLengthBeyondEnd {
            offset: offset.saturating_add(by),
            attr_type,
            length,
            available,
        },
        other => other,
    }
}

/// An Attribute payload to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigSpec<'a> {
    /// cfg-type.
    pub cfg_type: CfgType,
    /// Identifier (a REPLY/ACK repeats the REQUEST/SET's).
    pub identifier: u16,
    /// Attributes in order; a REQUEST lists wanted attributes as empty TLVs (or TV 0).
    pub attributes: &'a [Attr<'a>],
}

impl ConfigSpec<'_> {
    /// Append the body.
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put(&[self.cfg_type.0, 0])?;
        w.put_u16(self.identifier)?;
        write_attributes(w, self.attributes)
    }
}
