//! A heap buffer for key material that is wiped on drop and never printed.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes (SKEYID*, encryption and integrity keys, KEYMAT, g^xy).
///
/// The buffer is allocated once at its final size and overwritten with zeros when dropped, and
/// `Debug` prints only the length. Read the bytes with [`SecretBytes::expose_secret`].
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `v` (its allocation is wiped on drop).
    pub fn new(v: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(v))
    }

    /// Copies `s` into a new secret buffer.
    pub fn from_slice(s: &[u8]) -> SecretBytes {
        SecretBytes::new(s.to_vec())
    }

    /// The key bytes.
    ///
    /// **Sensitive**: this is the raw key. It exists so keys can be handed to the ESP data path,
    /// compared with a peer's logs (strongSwan `charondebug knl 4`, IOS `debug crypto isakmp`) or
    /// exported to Wireshark's ISAKMP/ESP decryption tables. Never log it by default.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `other` (lengths are not secret).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }

    /// Splits into the leading `n` bytes and the rest (both wiped on drop). `n` is capped at the
    /// length.
    pub fn split(&self, n: usize) -> (SecretBytes, SecretBytes) {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        (SecretBytes::from_slice(a), SecretBytes::from_slice(b))
    }
}

impl core::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_split_works() {
        let s = SecretBytes::from_slice(&[0xab, 0xcd, 0xef]);
        let d = format!("{s:?}");
        assert!(!d.contains("ab") && !d.contains("171") && d.contains("3 bytes"));
        let (a, b) = s.split(1);
        assert_eq!(a.expose_secret(), &[0xab]);
        assert_eq!(b.expose_secret(), &[0xcd, 0xef]);
        assert!(s.ct_eq(&[0xab, 0xcd, 0xef]) && !s.ct_eq(&[0xab, 0xcd, 0xee]));
        assert_eq!(s.split(9).1.len(), 0);
    }
}
