//! Building whole ISAKMP messages into a caller buffer.

use core::net::IpAddr;

use super::config::ConfigSpec;
use super::delete::DeleteSpec;
use super::error::WireError;
use super::header::Header;
use super::id::IdSpec;
use super::natoa::write_nat_oa_body;
use super::notify::NotifySpec;
use super::payload::PayloadType;
use super::sa::SaSpec;
use super::writer::{write_payload, Writer};
use super::HEADER_LEN;

/// A HASH payload reserved by [`MessageBuilder::add_hash_placeholder`], to be filled once the
/// rest of the message exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSlot {
    /// Offset of the hash value (payload body) from the start of the message.
    pub offset: usize,
    /// Length of the hash value.
    pub len: usize,
}

impl HashSlot {
    /// Offset just past the HASH payload: where the bytes covered by HASH(1)/(2)/(3) start.
    pub fn end(&self) -> usize {
        self.offset.saturating_add(self.len)
    }
}

/// Writes a header and then payloads in order, keeping every Next Payload field and the header's
/// length correct after each step.
///
/// ```
/// use ipsec_proto::wire::*;
/// let mut buf = [0u8; 256];
/// let hdr = Header::new(Cookie([1; 8]), Cookie([2; 8]), ExchangeType::INFORMATIONAL,
///                       Flags::ENCRYPTION, 0x1234_5678);
/// let mut b = MessageBuilder::new(&mut buf, hdr).unwrap();
/// let slot = b.add_hash_placeholder(20).unwrap();
/// b.add_notify(&NotifySpec { doi: 1, protocol: ProtocolId::ISAKMP,
///     notify_type: NotifyType::R_U_THERE, spi: &[0; 16], data: &7u32.to_be_bytes() }).unwrap();
/// let covered_len = b.bytes_after(slot).len(); // prf(SKEYID_a, M-ID | these bytes)
/// b.fill(slot, &[0xaa; 20]).unwrap();
/// let msg = b.finish().unwrap();
/// assert_eq!(msg.len(), 28 + 24 + covered_len);
/// ```
#[derive(Debug)]
pub struct MessageBuilder<'a> {
    w: Writer<'a>,
    last_next: usize,
}

impl<'a> MessageBuilder<'a> {
    /// Start a message in `buf`; the header's Next Payload and length are managed from here on.
    pub fn new(buf: &'a mut [u8], header: Header) -> Result<Self, WireError> {
        let mut w = Writer::new(buf);
        let mut h = header;
        h.next_payload = PayloadType::NONE;
        h.length = HEADER_LEN as u32;
        h.write(&mut w)?;
        Ok(Self { w, last_next: 16 })
    }

    /// Bytes written so far (header included).
    pub fn len(&self) -> usize {
        self.w.position()
    }

    /// Always false: the header is there from the start.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The message so far, with consistent chain and length fields.
    pub fn message(&self) -> &[u8] {
        self.w.written()
    }

    fn patch_len(&mut self) -> Result<(), WireError> {
        let len =
            u32::try_from(self.w.position()).map_err(|_| WireError::ValueTooLarge { len: 4 })?;
        self.w.patch(24, &len.to_be_bytes())
    }

    /// Add a payload of type `ty` whose body `body` writes; returns the payload's offset
    /// (its generic header). On error nothing is added.
    pub fn add_with<F>(&mut self, ty: PayloadType, body: F) -> Result<usize, WireError>
    where
        F: FnOnce(&mut Writer<'_>) -> Result<(), WireError>,
    {
        let start = self.w.position();
        let r = write_payload(&mut self.w, ty, PayloadType::NONE, body);
        let at = match r {
            Ok(at) => at,
            Err(e) => {
                self.w.truncate(start);
                return Err(e);
            }
        };
        self.w.patch(self.last_next, &[ty.0])?;
        self.last_next = at;
        self.patch_len()?;
        Ok(at)
    }

    /// Add a payload with this exact body (unknown payloads are re-emitted this way).
    pub fn add_raw(&mut self, ty: PayloadType, body: &[u8]) -> Result<usize, WireError> {
        self.add_with(ty, |w| w.put(body))
    }

    /// Set the RESERVED byte of the payload at `offset` (only to reproduce a received message).
    pub fn set_reserved(&mut self, offset: usize, value: u8) -> Result<(), WireError> {
        self.w.patch(offset.saturating_add(1), &[value])
    }

    /// Add an SA payload with nested proposals, transforms and attributes.
    pub fn add_sa(&mut self, sa: &SaSpec<'_>) -> Result<usize, WireError> {
        self.add_with(PayloadType::SA, |w| sa.write_body(w))
    }

    /// Add a KE payload (the DH public value, already left-padded to the prime's length).
    pub fn add_ke(&mut self, public_value: &[u8]) -> Result<usize, WireError> {
        self.add_raw(PayloadType::KE, public_value)
    }

    /// Add a Nonce payload.
    pub fn add_nonce(&mut self, nonce: &[u8]) -> Result<usize, WireError> {
        self.add_raw(PayloadType::NONCE, nonce)
    }

    /// Add an Identification payload.
    pub fn add_id(&mut self, id: &IdSpec<'_>) -> Result<usize, WireError> {
        self.add_with(PayloadType::ID, |w| id.write_body(w))
    }

    /// Add a HASH payload whose value is already known (HASH_I / HASH_R).
    pub fn add_hash(&mut self, hash: &[u8]) -> Result<usize, WireError> {
        self.add_raw(PayloadType::HASH, hash)
    }

    /// Reserve a HASH payload of `len` zero bytes to be filled with [`MessageBuilder::fill`].
    pub fn add_hash_placeholder(&mut self, len: usize) -> Result<HashSlot, WireError> {
        let at = self.add_with(PayloadType::HASH, |w| w.put_zeros(len))?;
        Ok(HashSlot {
            offset: at.saturating_add(4),
            len,
        })
    }

    /// Everything written after the HASH payload of `slot` (generic headers included).
    pub fn bytes_after(&self, slot: HashSlot) -> &[u8] {
        self.w.written().get(slot.end()..).unwrap_or(&[])
    }

    /// Write the hash value into its placeholder; `value` must have the reserved length.
    pub fn fill(&mut self, slot: HashSlot, value: &[u8]) -> Result<(), WireError> {
        if value.len() != slot.len || slot.offset < HEADER_LEN + 4 {
            return Err(WireError::BadPlaceholder {
                offset: slot.offset,
                len: slot.len,
            });
        }
        self.w.patch(slot.offset, value)
    }

    /// Add a Notification payload.
    pub fn add_notify(&mut self, n: &NotifySpec<'_>) -> Result<usize, WireError> {
        self.add_with(PayloadType::NOTIFY, |w| n.write_body(w))
    }

    /// Add a Delete payload.
    pub fn add_delete(&mut self, d: &DeleteSpec<'_>) -> Result<usize, WireError> {
        self.add_with(PayloadType::DELETE, |w| d.write_body(w))
    }

    /// Add an Attribute payload (Transaction exchange: XAUTH, Mode Config).
    pub fn add_config(&mut self, c: &ConfigSpec<'_>) -> Result<usize, WireError> {
        self.add_with(PayloadType::ATTRIBUTES, |w| c.write_body(w))
    }

    /// Add a Vendor ID payload.
    pub fn add_vendor_id(&mut self, vid: &[u8]) -> Result<usize, WireError> {
        self.add_raw(PayloadType::VENDOR_ID, vid)
    }

    /// Add a NAT-D payload; `ty` is [`PayloadType::NAT_D`] or, with draft peers,
    /// [`PayloadType::NAT_D_DRAFT`].
    pub fn add_nat_d(&mut self, ty: PayloadType, hash: &[u8]) -> Result<usize, WireError> {
        self.add_raw(ty, hash)
    }

    /// Add a NAT-OA payload; `ty` is [`PayloadType::NAT_OA`] or [`PayloadType::NAT_OA_DRAFT`].
    pub fn add_nat_oa(&mut self, ty: PayloadType, addr: IpAddr) -> Result<usize, WireError> {
        self.add_with(ty, |w| write_nat_oa_body(w, addr))
    }

    /// Append bytes after the last payload (encryption padding; counted in the header length).
    pub fn pad(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.w.put(bytes)?;
        self.patch_len()
    }

    /// Append zero padding so the body after the header is a multiple of `block` bytes.
    /// Returns the number of bytes added.
    pub fn pad_to_block(&mut self, block: usize) -> Result<usize, WireError> {
        if block == 0 {
            return Ok(0);
        }
        let body = self.w.position().saturating_sub(HEADER_LEN);
        let n = (block - body % block) % block;
        self.w.put_zeros(n)?;
        self.patch_len()?;
        Ok(n)
    }

    /// The finished message, mutable so the body can be encrypted in place.
    pub fn finish(mut self) -> Result<&'a mut [u8], WireError> {
        self.patch_len()?;
        Ok(self.w.into_written())
    }
}
