//! NAT Original Address payload (RFC 3947 §5.2; type 21, 131 in drafts).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::WireError;
use super::id::IdType;
use super::payload::PayloadType;
use super::writer::Writer;

/// View of a NAT-OA body: ID type (1 = IPv4, 5 = IPv6), 3 reserved bytes, address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatOa<'a> {
    body: &'a [u8],
    addr: IpAddr,
}

impl<'a> NatOa<'a> {
    /// Parse a NAT-OA body; the address must match its type's size.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 4 {
            return Err(WireError::BodyTooShort {
                payload_type: PayloadType::NAT_OA,
                needed: 4,
                len: body.len(),
            });
        }
        let id_type = body.first().copied().unwrap_or(0);
        let data = body.get(4..).unwrap_or(&[]);
        let bad = WireError::IdDataLength {
            id_type,
            len: data.len(),
        };
        let addr = match IdType(id_type) {
            IdType::IPV4_ADDR => {
                let a: [u8; 4] = data.try_into().map_err(|_| bad)?;
                IpAddr::V4(Ipv4Addr::from(a))
            }
            IdType::IPV6_ADDR => {
                let a: [u8; 16] = data.try_into().map_err(|_| bad)?;
                IpAddr::V6(Ipv6Addr::from(a))
            }
            _ => return Err(bad),
        };
        Ok(Self { body, addr })
    }

    /// ID type.
    pub fn id_type(&self) -> IdType {
        IdType(self.body.first().copied().unwrap_or(0))
    }

    /// The three reserved bytes (should be zero).
    pub fn reserved(&self) -> [u8; 3] {
        let mut r = [0u8; 3];
        if let Some(s) = self.body.get(1..4) {
            r.copy_from_slice(s);
        }
        r
    }

    /// The original address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
}

/// Append a NAT-OA body for `addr`.
pub fn write_nat_oa_body(w: &mut Writer<'_>, addr: IpAddr) -> Result<(), WireError> {
    match addr {
        IpAddr::V4(a) => {
            w.put(&[IdType::IPV4_ADDR.0, 0, 0, 0])?;
            w.put(&a.octets())
        }
        IpAddr::V6(a) => {
            w.put(&[IdType::IPV6_ADDR.0, 0, 0, 0])?;
            w.put(&a.octets())
        }
    }
}
