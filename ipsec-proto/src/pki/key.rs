//! Our RSA private key and the raw PKCS#1 v1.5 signature of IKEv1.

use rsa::pkcs1::RsaPrivateKeyRef;
use rsa::pkcs8::{EncodePublicKey, PrivateKeyInfoRef};
use rsa::traits::PublicKeyParts;
use x509_cert::der::Decode;
use zeroize::Zeroizing;

use super::{Certificate, PkiError};
use crate::rng::Rng;

/// The modulus sizes accepted: below 1024 is broken, above 8192 a denial-of-service lever.
pub(crate) const KEY_BITS: core::ops::RangeInclusive<usize> = 1024..=8192;

/// An RSA private key (`crypto pki trustpoint T` / `rsakeypair LABEL`).
#[derive(Clone)]
pub struct PrivateKey {
    inner: rsa::PrivateKey,
    /// Kept encoded: `PartialEq`, `public_der` and `matches` all want it, and encoding cannot
    /// then fail after construction.
    spki: Vec<u8>,
    bits: usize,
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({} bits)", self.modulus_bits())
    }
}

impl PartialEq for PrivateKey {
    /// Keys are equal when their public halves are (configurations compare that way).
    fn eq(&self, other: &Self) -> bool {
        self.public_der() == other.public_der()
    }
}
impl Eq for PrivateKey {}

/// rsa 0.10 speaks rand_core 0.10 while the crate's generator implements 0.6: this bridges the
/// two for the blinding factor without a second source of randomness.
struct Rng010<'a>(&'a mut Rng);

impl rand_core_010::TryRng for Rng010<'_> {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}

// ChaCha20 seeded by the caller: as strong as the seed, which is the crate's contract.
impl rand_core_010::TryCryptoRng for Rng010<'_> {}

/// Bit length of a big-endian unsigned integer.
pub(crate) fn uint_bits(be: &[u8]) -> usize {
    let mut bytes = be.iter().skip_while(|b| **b == 0);
    match bytes.next() {
        None => 0,
        Some(first) => {
            let rest = bytes.count();
            rest * 8 + (8 - first.leading_zeros() as usize)
        }
    }
}

impl PrivateKey {
    /// Reads a PEM key: `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1) or `-----BEGIN PRIVATE
    /// KEY-----` (PKCS#8, unencrypted).
    pub fn from_pem(text: &str) -> Result<Self, PkiError> {
        let blocks = super::pem::blocks(text).map_err(PkiError::BadKey)?;
        let mut blocks = blocks.into_iter();
        let Some(block) = blocks.next() else {
            return Err(PkiError::BadKey("no PEM block".into()));
        };
        // Wrapped at once so the key material of every block is wiped, used or not.
        let der = Zeroizing::new(block.der);
        for other in blocks {
            drop(Zeroizing::new(other.der));
        }
        match block.label.as_str() {
            "RSA PRIVATE KEY" => Self::from_pkcs1(&der),
            "PRIVATE KEY" => Self::from_pkcs8(&der),
            "ENCRYPTED PRIVATE KEY" => Err(PkiError::BadKey(
                "encrypted PKCS#8 key (only unencrypted keys are read)".into(),
            )),
            other => Err(PkiError::BadKey(format!(
                "PEM block \"{other}\" is not an RSA PRIVATE KEY or PRIVATE KEY"
            ))),
        }
    }

    /// Reads a DER key, PKCS#1 or PKCS#8.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        match PrivateKeyInfoRef::from_der(der) {
            Ok(info) => Self::from_info(&info),
            Err(p8) => Self::from_pkcs1(der).map_err(|e| match e {
                PkiError::BadKey(p1) => {
                    PkiError::BadKey(format!("neither PKCS#8 ({p8}) nor PKCS#1 ({p1})"))
                }
                other => other,
            }),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, PkiError> {
        let info = PrivateKeyInfoRef::from_der(der)
            .map_err(|e| PkiError::BadKey(format!("PKCS#8: {e}")))?;
        Self::from_info(&info)
    }

    fn from_info(info: &PrivateKeyInfoRef<'_>) -> Result<Self, PkiError> {
        if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
            return Err(PkiError::BadKey(format!(
                "PKCS#8 key of algorithm {} (not rsaEncryption)",
                info.algorithm.oid
            )));
        }
        Self::from_pkcs1(info.private_key.as_bytes())
    }

    fn from_pkcs1(der: &[u8]) -> Result<Self, PkiError> {
        let key = RsaPrivateKeyRef::from_der(der)
            .map_err(|e| PkiError::BadKey(format!("PKCS#1: {e}")))?;
        let bits = uint_bits(key.modulus.as_bytes());
        if !KEY_BITS.contains(&bits) {
            return Err(PkiError::KeySize(bits));
        }
        let inner = rsa::PrivateKey::try_from(key)
            .map_err(|e| PkiError::BadKey(format!("inconsistent RSA key: {e}")))?;
        let spki = inner
            .as_public_key()
            .to_public_key_der()
            .map_err(|e| PkiError::BadKey(format!("public key not encodable: {e}")))?
            .into_vec();
        Ok(PrivateKey { inner, spki, bits })
    }

    /// Size of the modulus in bits.
    pub fn modulus_bits(&self) -> usize {
        self.bits
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn public_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    /// Whether `cert` carries this key's public half.
    pub fn matches(&self, cert: &Certificate) -> bool {
        // Compared as (n, e) rather than as bytes: a certificate may encode the same key with
        // an absent rather than NULL algorithm parameter.
        cert.rsa_public_key()
            .is_some_and(|k| &k == self.inner.as_public_key())
    }

    /// PKCS#1 v1.5 (block type 1) signature of `data` as it is, with no DigestInfo: what SIG_I
    /// and SIG_R carry (`data` is HASH_I or HASH_R). Blinded with `rng`.
    pub fn sign_raw(&self, rng: &mut Rng, data: &[u8]) -> Result<Vec<u8>, PkiError> {
        // RFC 8017 section 9.2 step 3: at least 8 bytes of 0xff padding plus 3 framing bytes.
        if data.len().saturating_add(11) > self.inner.size() {
            return Err(PkiError::DataTooLong(data.len()));
        }
        self.inner
            .sign_with_rng(&mut Rng010(rng), rsa::Pkcs1v15Sign::new_unprefixed(), data)
            .map_err(|e| match e {
                rsa::Error::MessageTooLong => PkiError::DataTooLong(data.len()),
                other => PkiError::BadKey(format!("signing failed: {other}")),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW1_KEY: &str = include_str!("testdata/gw1.key");
    const GW2_KEY: &str = include_str!("testdata/gw2.key");
    const GW1_PEM: &str = include_str!("testdata/gw1.pem");
    const GW2_PEM: &str = include_str!("testdata/gw2.pem");
    const GW1_SIG20: &str = include_str!("testdata/gw1_sig20.hex");

    fn hex(s: &str) -> Vec<u8> {
        let s = s.trim();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn data20() -> Vec<u8> {
        (0u8..20).collect()
    }

    #[test]
    fn pki_key_pkcs1_and_pkcs8_load() {
        assert!(GW1_KEY.contains("BEGIN RSA PRIVATE KEY"));
        assert!(GW2_KEY.contains("BEGIN PRIVATE KEY"));
        let k1 = PrivateKey::from_pem(GW1_KEY).unwrap();
        let k2 = PrivateKey::from_pem(GW2_KEY).unwrap();
        assert_eq!(k1.modulus_bits(), 2048);
        assert_eq!(k2.modulus_bits(), 2048);
        assert_ne!(k1, k2);
        assert_eq!(format!("{k1:?}"), "PrivateKey(2048 bits)");
        // DER of either form.
        let der1 = super::super::pem::blocks(GW1_KEY).unwrap().remove(0).der;
        let der2 = super::super::pem::blocks(GW2_KEY).unwrap().remove(0).der;
        assert_eq!(PrivateKey::from_der(&der1).unwrap(), k1);
        assert_eq!(PrivateKey::from_der(&der2).unwrap(), k2);
        // The SPKI we produce is the certificate's.
        let cert = Certificate::from_pem(GW1_PEM).unwrap().remove(0);
        let spki = x509_cert::Certificate::from_der(&cert.der)
            .unwrap()
            .tbs_certificate()
            .subject_public_key_info()
            .clone();
        assert_eq!(
            k1.public_der(),
            x509_cert::der::Encode::to_der(&spki).unwrap()
        );
    }

    #[test]
    fn pki_key_bad_inputs() {
        match PrivateKey::from_pem(GW1_PEM) {
            Err(PkiError::BadKey(m)) => assert!(m.contains("CERTIFICATE"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            PrivateKey::from_pem("nothing"),
            Err(PkiError::BadKey(_))
        ));
        assert!(matches!(
            PrivateKey::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]),
            Err(PkiError::BadKey(_))
        ));
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        match PrivateKey::from_pem(enc) {
            Err(PkiError::BadKey(m)) => assert!(m.contains("encrypted"), "{m}"),
            other => panic!("{other:?}"),
        }
        let der = super::super::pem::blocks(GW1_KEY).unwrap().remove(0).der;
        for cut in 0..der.len() {
            assert!(PrivateKey::from_der(&der[..cut]).is_err());
        }
    }

    #[test]
    fn pki_key_small_modulus_is_key_size() {
        let small = include_str!("testdata/small512.key");
        match PrivateKey::from_pem(small) {
            Err(PkiError::KeySize(512)) => {}
            Err(PkiError::BadKey(m)) if m.contains("PKCS#1") => {
                panic!("fixture unreadable: {m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pki_key_sign_raw_known_answer() {
        let k = PrivateKey::from_pem(GW1_KEY).unwrap();
        let mut rng = Rng::from_u64(7);
        let sig = k.sign_raw(&mut rng, &data20()).unwrap();
        assert_eq!(sig, hex(GW1_SIG20));
        // Blinding changes nothing in the output.
        let mut rng = Rng::from_u64(8);
        assert_eq!(k.sign_raw(&mut rng, &data20()).unwrap(), sig);
    }

    #[test]
    fn pki_key_sign_raw_verify_and_limits() {
        let k = PrivateKey::from_pem(GW1_KEY).unwrap();
        let gw1 = Certificate::from_pem(GW1_PEM).unwrap().remove(0);
        let gw2 = Certificate::from_pem(GW2_PEM).unwrap().remove(0);
        let mut rng = Rng::from_u64(1);
        let sig = k.sign_raw(&mut rng, b"hash of 20 bytes....").unwrap();
        assert!(gw1.verify_raw(b"hash of 20 bytes....", &sig));
        assert!(!gw1.verify_raw(b"hash of 20 bytes...!", &sig));
        assert!(!gw2.verify_raw(b"hash of 20 bytes....", &sig));
        assert!(!gw1.verify_raw(b"hash of 20 bytes....", &sig[1..]));
        // 256-byte modulus: 245 bytes fit, 246 do not.
        assert_eq!(k.sign_raw(&mut rng, &[1; 245]).unwrap().len(), 256);
        assert_eq!(
            k.sign_raw(&mut rng, &[1; 246]),
            Err(PkiError::DataTooLong(246))
        );
    }

    #[test]
    fn pki_key_matches_cert() {
        let k1 = PrivateKey::from_pem(GW1_KEY).unwrap();
        let k2 = PrivateKey::from_pem(GW2_KEY).unwrap();
        let gw1 = Certificate::from_pem(GW1_PEM).unwrap().remove(0);
        let gw2 = Certificate::from_pem(GW2_PEM).unwrap().remove(0);
        assert!(k1.matches(&gw1));
        assert!(k2.matches(&gw2));
        assert!(!k1.matches(&gw2));
        assert!(!k2.matches(&gw1));
    }

    #[test]
    fn pki_key_uint_bits() {
        assert_eq!(uint_bits(&[]), 0);
        assert_eq!(uint_bits(&[0, 0]), 0);
        assert_eq!(uint_bits(&[0, 1]), 1);
        assert_eq!(uint_bits(&[0x80, 0]), 16);
        assert_eq!(uint_bits(&[0, 0x7f, 0xff]), 15);
    }
}
