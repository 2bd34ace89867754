//! Delete payload (RFC 2408 §3.15).

use super::error::WireError;
use super::payload::PayloadType;
use super::sa::ProtocolId;
use super::writer::Writer;
use super::{be16, be32};

/// View of a Delete payload body. Count and SPI size are checked against the body at parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delete<'a> {
    body: &'a [u8],
}

impl<'a> Delete<'a> {
    /// Parse a Delete body; the SPIs must fill it exactly.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 8 {
            return Err(WireError::BodyTooShort {
                payload_type: PayloadType::DELETE,
                needed: 8,
                len: body.len(),
            });
        }
        let spi_size = body.get(5).copied().unwrap_or(0);
        let count = be16(body, 6).unwrap_or(0);
        let len = body.len() - 8;
        if usize::from(spi_size) * usize::from(count) != len {
            return Err(WireError::DeleteSpiMismatch {
                count,
                spi_size,
                len,
            });
        }
        Ok(Self { body })
    }

    /// DOI.
    pub fn doi(&self) -> u32 {
        be32(self.body, 0).unwrap_or(0)
    }

    /// Protocol-ID.
    pub fn protocol(&self) -> ProtocolId {
        ProtocolId(self.body.get(4).copied().unwrap_or(0))
    }

    /// SPI size.
    pub fn spi_size(&self) -> u8 {
        self.body.get(5).copied().unwrap_or(0)
    }

    /// Number of SPIs.
    pub fn count(&self) -> u16 {
        be16(self.body, 6).unwrap_or(0)
    }

    /// The SPIs, each `spi_size` bytes (16 = CKY-I|CKY-R for ISAKMP, 4 for ESP).
    pub fn spis(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let size = usize::from(self.spi_size());
        let count = usize::from(self.count());
        let data = self.body.get(8..).unwrap_or(&[]);
        (0..count).map(move |i| data.get(i * size..(i + 1) * size).unwrap_or(&[]))
    }
}

/// A Delete payload to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteSpec<'a> {
    /// DOI (normally 1).
    pub doi: u32,
    /// Protocol-ID.
    pub protocol: ProtocolId,
    /// SPI size in bytes.
    pub spi_size: u8,
    /// The SPIs concatenated (length must be a multiple of `spi_size`).
    pub spis: &'a [u8],
}

impl DeleteSpec<'_> {
    /// Append the Delete body.
    pub fn write_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        let size = usize::from(self.spi_size);
        let count = if size == 0 {
            if !self.spis.is_empty() {
                return Err(WireError::ValueTooLarge { len: 1 });
            }
            0
        } else {
            if !self.spis.chunks_exact(size).remainder().is_empty() {
                return Err(WireError::ValueTooLarge { len: 1 });
            }
            u16::try_from(self.spis.len() / size)
                .map_err(|_| WireError::ValueTooLarge { len: 2 })?
        };
        w.put_u32(self.doi)?;
        w.put(&[self.protocol.0, self.spi_size])?;
        w.put_u16(count)?;
        w.put(self.spis)
    }
}
