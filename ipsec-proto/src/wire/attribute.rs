//! Data attributes, TV ("basic") and TLV ("variable") (RFC 2408 §3.3), and their code points
//! for phase 1 (RFC 2409 App. A) and phase 2 (RFC 2407 §4.5).

use super::be16;
use super::error::WireError;
use super::writer::Writer;

const AF: u16 = 0x8000;

macro_rules! open_u16 {
    ($(#[$m:meta])* $name:ident { $($(#[$cm:meta])* $c:ident = $v:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u16);
        impl $name {
            $($(#[$cm])* pub const $c: Self = Self($v);)*
        }
        impl From<$name> for u16 {
            fn from(v: $name) -> u16 {
                v.0
            }
        }
    };
}

open_u16!(
    /// Phase-1 (IKE) SA attribute type.
    IkeAttrType {
        /// Encryption algorithm (B).
        ENCRYPTION_ALGORITHM = 1,
        /// Hash algorithm (B).
        HASH_ALGORITHM = 2,
        /// Authentication method (B).
        AUTHENTICATION_METHOD = 3,
        /// Group description (B).
        GROUP_DESCRIPTION = 4,
        /// Group type (B).
        GROUP_TYPE = 5,
        /// Group prime (V).
        GROUP_PRIME = 6,
        /// Life type (B).
        LIFE_TYPE = 11,
        /// Life duration (V).
        LIFE_DURATION = 12,
        /// PRF (B).
        PRF = 13,
        /// Key length in bits (B).
        KEY_LENGTH = 14,
    }
);

open_u16!(
    /// Phase-2 (IPsec DOI) SA attribute type.
    IpsecAttrType {
        /// SA life type (B).
        SA_LIFE_TYPE = 1,
        /// SA life duration (V).
        SA_LIFE_DURATION = 2,
        /// Group description, present with PFS (B).
        GROUP_DESCRIPTION = 3,
        /// Encapsulation mode (B).
        ENCAPSULATION_MODE = 4,
        /// Authentication algorithm (B).
        AUTHENTICATION_ALGORITHM = 5,
        /// Key length in bits (B).
        KEY_LENGTH = 6,
        /// Key rounds (B).
        KEY_ROUNDS = 7,
        /// ECN tunnel (B).
        ECN_TUNNEL = 10,
        /// Extended sequence numbers (B).
        EXTENDED_SEQUENCE_NUMBER = 11,
    }
);

open_u16!(
    /// Phase-1 encryption algorithm value.
    IkeEncryption {
        /// DES-CBC.
        DES_CBC = 1,
        /// 3DES-CBC.
        TRIPLE_DES_CBC = 5,
        /// AES-CBC (needs a key length attribute).
        AES_CBC = 7,
    }
);

open_u16!(
    /// Phase-1 hash algorithm value.
    IkeHash {
        /// MD5.
        MD5 = 1,
        /// SHA-1.
        SHA = 2,
        /// SHA2-256.
        SHA2_256 = 4,
        /// SHA2-384.
        SHA2_384 = 5,
        /// SHA2-512.
        SHA2_512 = 6,
    }
);

open_u16!(
    /// Phase-1 authentication method value.
    AuthMethod {
        /// Pre-shared key.
        PRE_SHARED_KEY = 1,
        /// RSA signatures.
        RSA_SIG = 3,
        /// Hybrid: initiator authenticated by XAUTH, responder by RSA (draft-ietf-ipsec-isakmp-hybrid-auth).
        HYBRID_INIT_RSA = 64221,
        /// Hybrid, responder side.
        HYBRID_RESP_RSA = 64222,
        /// Hybrid with DSS, initiator side.
        HYBRID_INIT_DSS = 64223,
        /// Hybrid with DSS, responder side.
        HYBRID_RESP_DSS = 64224,
        /// XAUTH initiator with pre-shared key: the Phase 1 initiator is the XAUTH client
        /// (vpnc and Cisco clients propose it).
        XAUTH_INIT_PRE_SHARED = 65001,
        /// XAUTH responder with pre-shared key: the Phase 1 responder is the XAUTH client.
        XAUTH_RESP_PRE_SHARED = 65002,
        /// XAUTH initiator with DSS signatures.
        XAUTH_INIT_DSS = 65003,
        /// XAUTH responder with DSS signatures.
        XAUTH_RESP_DSS = 65004,
        /// XAUTH initiator with RSA signatures.
        XAUTH_INIT_RSA = 65005,
        /// XAUTH responder with RSA signatures.
        XAUTH_RESP_RSA = 65006,
        /// XAUTH initiator with RSA encryption.
        XAUTH_INIT_RSA_ENCRYPTION = 65007,
        /// XAUTH responder with RSA encryption.
        XAUTH_RESP_RSA_ENCRYPTION = 65008,
        /// XAUTH initiator with revised RSA encryption.
        XAUTH_INIT_RSA_REVISED_ENCRYPTION = 65009,
        /// XAUTH responder with revised RSA encryption.
        XAUTH_RESP_RSA_REVISED_ENCRYPTION = 65010,
    }
);

open_u16!(
    /// Diffie-Hellman group description value (both phases).
    GroupDescription {
        /// 768-bit MODP.
        MODP_768 = 1,
        /// 1024-bit MODP.
        MODP_1024 = 2,
        /// 1536-bit MODP.
        MODP_1536 = 5,
        /// 2048-bit MODP.
        MODP_2048 = 14,
    }
);

open_u16!(
    /// Life type value (both phases).
    LifeType {
        /// Seconds.
        SECONDS = 1,
        /// Kilobytes.
        KILOBYTES = 2,
    }
);

open_u16!(
    /// Phase-2 encapsulation mode value.
    EncapsulationMode {
        /// Tunnel.
        TUNNEL = 1,
        /// Transport.
        TRANSPORT = 2,
        /// UDP-encapsulated tunnel (RFC 3947).
        UDP_TUNNEL = 3,
        /// UDP-encapsulated transport (RFC 3947).
        UDP_TRANSPORT = 4,
        /// UDP-encapsulated tunnel of the NAT-T drafts.
        UDP_TUNNEL_DRAFT = 61443,
        /// UDP-encapsulated transport of the NAT-T drafts.
        UDP_TRANSPORT_DRAFT = 61444,
    }
);

open_u16!(
    /// Phase-2 authentication algorithm value.
    AuthAlgorithm {
        /// HMAC-MD5.
        HMAC_MD5 = 1,
        /// HMAC-SHA-1.
        HMAC_SHA = 2,
        /// HMAC-SHA2-256.
        HMAC_SHA2_256 = 5,
        /// HMAC-SHA2-384.
        HMAC_SHA2_384 = 6,
        /// HMAC-SHA2-512.
        HMAC_SHA2_512 = 7,
    }
);

/// One parsed data attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    attr_type: u16,
    basic: bool,
    value: &'a [u8],
    raw: &'a [u8],
}

impl<'a> Attribute<'a> {
    /// Attribute type, AF bit removed.
    pub fn attr_type(&self) -> u16 {
        self.attr_type
    }

    /// True for TV (AF = 1) encoding.
    pub fn is_basic(&self) -> bool {
        self.basic
    }

    /// The value bytes: 2 bytes for TV, the L bytes for TLV.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The whole encoded attribute.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The 16-bit value of a TV attribute.
    pub fn basic_value(&self) -> Option<u16> {
        if self.basic {
            be16(self.value, 0)
        } else {
            None
        }
    }

    /// The value as a big-endian unsigned integer, for TV or for TLV of 1..=8 bytes
    /// (life durations arrive either way).
    pub fn as_u64(&self) -> Result<u64, WireError> {
        let len = self.value.len();
        if len == 0 || len > 8 {
            return Err(WireError::AttributeValueLength {
                attr_type: self.attr_type,
                length: len,
            });
        }
        Ok(self
            .value
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Iterator over a run of data attributes (a transform's tail, RESPONDER-LIFETIME data).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Attributes<'a> {
    /// Attributes filling `data` exactly.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Attribute<'a>, WireError> {
        let offset = self.pos;
        let rest = self.data.get(offset..).unwrap_or(&[]);
        let (Some(t), Some(v)) = (be16(rest, 0), be16(rest, 2)) else {
            return Err(WireError::AttributeTruncated {
                offset,
                available: rest.len(),
            });
        };
        let attr_type = t & !AF;
        let basic = t & AF != 0;
        let total = if basic { 4 } else { 4 + usize::from(v) };
        let raw = rest
            .get(..total)
            .ok_or(WireError::AttributeLengthBeyondEnd {
                offset,
                attr_type,
                length: v,
                available: rest.len().saturating_sub(4),
            })?;
        let value = raw.get(if basic { 2 } else { 4 }..).unwrap_or(&[]);
        self.pos = offset.saturating_add(total);
        Ok(Attribute {
            attr_type,
            basic,
            value,
            raw,
        })
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attribute<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// How an attribute value is to be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// TV: 16-bit value in the header (AF = 1).
    Basic(u16),
    /// TLV with these exact value bytes.
    Variable(&'a [u8]),
    /// TLV holding `value` big-endian in exactly `len` bytes (1..=8).
    VariableUint {
        /// The number.
        value: u64,
        /// Bytes of the TLV value.
        len: u8,
    },
}

/// An attribute to emit. The encoding is the caller's explicit choice: IOS sends life duration
/// 86400 s as a 4-byte TLV but 3600 s as TV, and the peer hashes the exact bytes (SAi_b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Attribute type (must be below 0x8000).
    pub attr_type: u16,
    /// Value and its encoding.
    pub value: AttrValue<'a>,
}

impl<'a> Attr<'a> {
    /// A TV attribute.
    pub fn basic(attr_type: impl Into<u16>, value: impl Into<u16>) -> Self {
        Self {
            attr_type: attr_type.into(),
            value: AttrValue::Basic(value.into()),
        }
    }

    /// A TLV attribute with these value bytes.
    pub fn variable(attr_type: impl Into<u16>, value: &'a [u8]) -> Self {
        Self {
            attr_type: attr_type.into(),
            value: AttrValue::Variable(value),
        }
    }

    /// A TLV attribute carrying `value` as 4 big-endian bytes (IOS life durations).
    pub fn variable_u32(attr_type: impl Into<u16>, value: u32) -> Self {
        Self::variable_uint(attr_type, u64::from(value), 4)
    }

    /// A TLV attribute carrying `value` in `len` big-endian bytes.
    pub fn variable_uint(attr_type: impl Into<u16>, value: u64, len: u8) -> Self {
        Self {
            attr_type: attr_type.into(),
            value: AttrValue::VariableUint { value, len },
        }
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        4 + match self.value {
            AttrValue::Basic(_) => 0,
            AttrValue::Variable(v) => v.len(),
            AttrValue::VariableUint { len, .. } => usize::from(len),
        }
    }

    /// Append the encoded attribute.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        if self.attr_type & AF != 0 {
            return Err(WireError::ValueTooLarge { len: 2 });
        }
        match self.value {
            AttrValue::Basic(v) => {
                w.put_u16(self.attr_type | AF)?;
                w.put_u16(v)
            }
            AttrValue::Variable(bytes) => {
                let l =
                    u16::try_from(bytes.len()).map_err(|_| WireError::ValueTooLarge { len: 2 })?;
                w.put_u16(self.attr_type)?;
                w.put_u16(l)?;
                w.put(bytes)
            }
            AttrValue::VariableUint { value, len } => {
                let l = usize::from(len);
                if l == 0 || l > 8 || (l < 8 && value >> (8 * l) != 0) {
                    return Err(WireError::ValueTooLarge { len: l });
                }
                let be = value.to_be_bytes();
                let bytes = be.get(8 - l..).unwrap_or(&[]);
                w.put_u16(self.attr_type)?;
                w.put_u16(u16::from(len))?;
                w.put(bytes)
            }
        }
    }
}

/// Append every attribute in order.
pub fn write_attributes(w: &mut Writer<'_>, attrs: &[Attr<'_>]) -> Result<(), WireError> {
    attrs.iter().try_for_each(|a| a.write(w))
}
