//! A bounds-checked cursor over a caller's buffer.

use super::error::WireError;

/// Appends bytes to a caller-owned `&mut [u8]`; never panics, never allocates.
///
/// Every failed write leaves the buffer position unchanged and reports the total size the
/// buffer would need ([`WireError::BufferTooSmall`]).
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer starting at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Free bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// What has been written.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or(&[])
    }

    /// What has been written, mutably (to fill placeholders or encrypt in place).
    pub fn written_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(..self.pos).unwrap_or(&mut [])
    }

    /// Give back the written part of the buffer with the buffer's lifetime.
    pub fn into_written(self) -> &'a mut [u8] {
        let pos = self.pos;
        let buf = self.buf;
        let len = buf.len();
        let (head, _) = buf.split_at_mut(pos.min(len));
        head
    }

    /// Reserve `n` bytes (zeroed) and return their offset.
    pub fn reserve(&mut self, n: usize) -> Result<usize, WireError> {
        let at = self.pos;
        let end = at
            .checked_add(n)
            .ok_or(WireError::BufferTooSmall { needed: usize::MAX })?;
        let dst = self
            .buf
            .get_mut(at..end)
            .ok_or(WireError::BufferTooSmall { needed: end })?;
        dst.fill(0);
        self.pos = end;
        Ok(at)
    }

    /// Append bytes.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let at = self.reserve(bytes.len())?;
        self.patch(at, bytes)
    }

    /// Append one byte.
    pub fn put_u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&[v])
    }

    /// Append a big-endian u16.
    pub fn put_u16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    /// Append a big-endian u32.
    pub fn put_u32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    /// Append `n` zero bytes.
    pub fn put_zeros(&mut self, n: usize) -> Result<(), WireError> {
        self.reserve(n).map(|_| ())
    }

    /// Forget everything written after `pos` (used to undo a half-written payload).
    pub fn truncate(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }

    /// Overwrite already-written bytes at `at`.
    pub fn patch(&mut self, at: usize, bytes: &[u8]) -> Result<(), WireError> {
        let end = at
            .checked_add(bytes.len())
            .filter(|&e| e <= self.pos)
            .ok_or(WireError::BadPlaceholder {
                offset: at,
                len: bytes.len(),
            })?;
        let dst = self.buf.get_mut(at..end).ok_or(WireError::BadPlaceholder {
            offset: at,
            len: bytes.len(),
        })?;
        dst.copy_from_slice(bytes);
        Ok(())
    }
}

/// Write one payload or nested item: generic header with Next Payload `next`, the body written by
/// `body`, then the length patched. Returns the offset of the generic header.
pub(crate) fn write_payload<F>(
    w: &mut Writer<'_>,
    ty: super::payload::PayloadType,
    next: super::payload::PayloadType,
    body: F,
) -> Result<usize, WireError>
where
    F: FnOnce(&mut Writer<'_>) -> Result<(), WireError>,
{
    let start = w.position();
    w.put(&[next.0, 0, 0, 0])?;
    body(w)?;
    let len = w.position().saturating_sub(start);
    let len16 = u16::try_from(len).map_err(|_| WireError::PayloadTooLong {
        payload_type: ty,
        len,
    })?;
    w.patch(start.saturating_add(2), &len16.to_be_bytes())?;
    Ok(start)
}
