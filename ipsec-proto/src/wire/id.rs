//! Identification payload, IPsec DOI form (RFC 2407 §4.6.2).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::be16;
use super::error::WireError;
use super::payload::PayloadType;
use super::writer::Writer;

/// Identification type (open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IdType(pub u8);

impl IdType {
    /// ID_IPV4_ADDR.
    pub const IPV4_ADDR: Self = Self(1);
    /// ID_FQDN.
    pub const FQDN: Self = Self(2);
    /// ID_USER_FQDN.
    pub const USER_FQDN: Self = Self(3);
    /// ID_IPV4_ADDR_SUBNET.
    pub const IPV4_ADDR_SUBNET: Self = Self(4);
    /// ID_IPV6_ADDR.
    pub const IPV6_ADDR: Self = Self(5);
    /// ID_IPV6_ADDR_SUBNET.
    pub const IPV6_ADDR_SUBNET: Self = Self(6);
    /// ID_IPV4_ADDR_RANGE.
    pub const IPV4_ADDR_RANGE: Self = Self(7);
    /// ID_IPV6_ADDR_RANGE.
    pub const IPV6_ADDR_RANGE: Self = Self(8);
    /// ID_DER_ASN1_DN.
    pub const DER_ASN1_DN: Self = Self(9);
    /// ID_DER_ASN1_GN.
    pub const DER_ASN1_GN: Self = Self(10);
    /// ID_KEY_ID.
    pub const KEY_ID: Self = Self(11);
}

impl fmt::Display for IdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = match self.0 {
            1 => "ID_IPV4_ADDR",
            2 => "ID_FQDN",
            3 => "ID_USER_FQDN",
            4 => "ID_IPV4_ADDR_SUBNET",
            5 => "ID_IPV6_ADDR",
            6 => "ID_IPV6_ADDR_SUBNET",
            7 => "ID_IPV4_ADDR_RANGE",
            8 => "ID_IPV6_ADDR_RANGE",
            9 => "ID_DER_ASN1_DN",
            10 => "ID_DER_ASN1_GN",
            11 => "ID_KEY_ID",
            n => return write!(f, "ID_TYPE({n})"),
        };
        f.write_str(n)
    }
}

/// Typed identification data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdValue<'a> {
    /// One IPv4 address.
    Ipv4(Ipv4Addr),
    /// IPv4 subnet: address and mask.
    Ipv4Subnet(Ipv4Addr, Ipv4Addr),
    /// IPv4 range: first and last address.
    Ipv4Range(Ipv4Addr, Ipv4Addr),
    /// One IPv6 address.
    Ipv6(Ipv6Addr),
    /// IPv6 subnet: address and mask.
    Ipv6Subnet(Ipv6Addr, Ipv6Addr),
    /// IPv6 range: first and last address.
    Ipv6Range(Ipv6Addr, Ipv6Addr),
    /// Fully qualified domain name (bytes as sent, not validated as text).
    Fqdn(&'a [u8]),
    /// user@FQDN (bytes as sent).
    UserFqdn(&'a [u8]),
    /// Any other type, raw.
    Other(IdType, &'a [u8]),
}

fn v4(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

fn v6(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let a: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(a))
}

impl<'a> IdValue<'a> {
    /// Decode `data` according to `id_type`; address types must have their exact size.
    pub fn decode(id_type: IdType, data: &'a [u8]) -> Result<Self, WireError> {
        let bad = WireError::IdDataLength {
            id_type: id_type.0,
            len: data.len(),
        };
        let exact = |n: usize| if data.len() == n { Ok(()) } else { Err(bad) };
        Ok(match id_type {
            IdType::IPV4_ADDR => {
                exact(4)?;
                Self::Ipv4(v4(data, 0).ok_or(bad)?)
            }
            IdType::IPV4_ADDR_SUBNET | IdType::IPV4_ADDR_RANGE => {
                exact(8)?;
                let (a, b) = (v4(data, 0).ok_or(bad)?, v4(data, 4).ok_or(bad)?);
                if id_type == IdType::IPV4_ADDR_SUBNET {
                    Self::Ipv4Subnet(a, b)
                } else {
                    Self::Ipv4Range(a, b)
                }
            }
            IdType::IPV6_ADDR => {
                exact(16)?;
                Self::Ipv6(v6(data, 0).ok_or(bad)?)
            }
            IdType::IPV6_ADDR_SUBNET | IdType::IPV6_ADDR_RANGE => {
                exact(32)?;
                let (a, b) = (v6(data, 0).ok_or(bad)?, v6(data, 16).ok_or(bad)?);
                if id_type == IdType::IPV6_ADDR_SUBNET {
                    Self::Ipv6Subnet(a, b)
                } else {
                    Self::Ipv6Range(a, b)
                }
            }
            IdType::FQDN => Self::Fqdn(data),
            IdType::USER_FQDN => Self::UserFqdn(data),
            other => Self::Other(other, data),
        })
    }

    /// The ID type this value is sent as.
    pub fn id_type(&self) -> IdType {
        match self {
            Self::Ipv4(_) => IdType::IPV4_ADDR,
            Self::Ipv4Subnet(..) => IdType::IPV4_ADDR_SUBNET,
            Self::Ipv4Range(..) => IdType::IPV4_ADDR_RANGE,
            Self::Ipv6(_) => IdType::IPV6_ADDR,
            Self::Ipv6Subnet(..) => IdType::IPV6_ADDR_SUBNET,
            Self::Ipv6Range(..) => IdType::IPV6_ADDR_RANGE,
            Self::Fqdn(_) => IdType::FQDN,
            Self::UserFqdn(_) => IdType::USER_FQDN,
            Self::Other(t, _) => *t,
        }
    }

    /// Append the identification data.
    pub fn write_data(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        match self {
            Self::Ipv4(a) => w.put(&a.octets()),
            Self::Ipv4Subnet(a, b) | Self::Ipv4Range(a, b) => {
                w.put(&a.octets())?;
                w.put(&b.octets())
            }
            Self::Ipv6(a) => w.put(&a.octets()),
            Self::Ipv6Subnet(a, b) | Self::Ipv6Range(a, b) => {
                w.put(&a.octets())?;
                w.put(&b.octets())
            }
            Self::Fqdn(d) | Self::UserFqdn(d) | Self::Other(_, d) => w.put(d),
        }
    }
}

/// View of an Identification payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identification<'a> {
    body: &'a [u8],
}

impl<'a> Identification<'a> {
    /// Parse an ID body (type, protocol, port, data). The data is decoded lazily by
    /// [`Identification::value`], so IDii_b hashing never depends on it.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 4 {
            return Err(WireError::BodyTooShort {
                payload_type: PayloadType::ID,
                needed: 4,
                len: body.len(),
            });
        }
        Ok(Self { body })
    }

    /// ID type.
    pub fn id_type(&self) -> IdType {
        IdType(self.body.first().copied().unwrap_or(0))
    }

    /// IP protocol (0 = any; 17 in phase 1 from IOS).
    pub fn protocol(&self) -> u8 {
        self.body.get(1).copied().unwrap_or(0)
    }

    /// Port (0 = any; 500 in phase 1 from IOS).
    pub fn port(&self) -> u16 {
        be16(self.body, 2).unwrap_or(0)
    }

    /// Identification data, raw.
    pub fn data(&self) -> &'a [u8] {
        self.body.get(4..).unwrap_or(&[])
    }

    /// The whole body (IDii_b / IDir_b).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Typed data.
    pub fn value(&self) -> Result<IdValue<'a>, WireError> {
        IdValue::decode(self.id_type(), self.data())
    }
}

/// An Identification payload to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSpec<'a> {
    /// The identity (its variant fixes the ID type).
    pub value: IdValue<'a>,
    /// IP protocol.
    pub protocol: u8,
    /// Port.
    pub port: u16,
}

impl IdSpec<'_> {
    /// Append the ID body.
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put(&[self.value.id_type().0, self.protocol])?;
        w.put_u16(self.port)?;
        self.value.write_data(w)
    }
}
