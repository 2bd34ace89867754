//! IKEv1 key derivation (RFC 2409 §5, §5.5, Appendix B) and the hashes that use those keys.
//!
//! ```text
//! SKEYID   = prf(pre-shared-key, Ni_b | Nr_b)                      (pre-shared key)
//! SKEYID   = prf(Ni_b | Nr_b, g^xy)                                (signatures)
//! SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//! SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//! SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//! Ka       = SKEYID_e truncated, or K1 | K2 | .. with K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1)
//! ```
//! All key material is held in [`SecretBytes`] (wiped on drop, redacted in `Debug`).

use std::net::IpAddr;

use super::cipher::CipherAlg;
use super::hmac::{Digest, HashAlg};
use super::prf::Prf;
use super::secret::SecretBytes;
use super::suite::EspSuite;

/// SKEYID for pre-shared key authentication: `prf(psk, Ni_b | Nr_b)`.
pub fn skeyid_psk(hash: HashAlg, psk: &[u8], ni_b: &[u8], nr_b: &[u8]) -> SecretBytes {
    Prf::new(hash, psk).compute_secret(&[ni_b, nr_b])
}

/// SKEYID for signature authentication: `prf(Ni_b | Nr_b, g^xy)`.
pub fn skeyid_sig(hash: HashAlg, ni_b: &[u8], nr_b: &[u8], gxy: &[u8]) -> SecretBytes {
    let mut k = Vec::with_capacity(ni_b.len() + nr_b.len());
    k.extend_from_slice(ni_b);
    k.extend_from_slice(nr_b);
    // The nonces are public, but keep the key in a wiping buffer like every PRF key.
    let key = SecretBytes::new(k);
    Prf::new(hash, key.expose_secret()).compute_secret(&[gxy])
}

/// `K1 | K2 | ..` truncated to `len`, where `K1 = prf(key, first)` and `Kn = prf(key, Kn-1 | rest)`.
/// Shared by Appendix B (`first` = 0x00, `rest` empty) and KEYMAT (`first` = `rest` = seed).
fn expand(prf: &Prf, first: &[&[u8]], rest: &[&[u8]], len: usize) -> SecretBytes {
    let mut out = Vec::with_capacity(len + prf.output_len());
    let mut prev = prf.compute(first);
    out.extend_from_slice(&prev);
    while out.len() < len {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(rest.len() + 1);
        parts.push(&prev);
        parts.extend_from_slice(rest);
        let next = prf.compute(&parts);
        drop(parts);
        out.extend_from_slice(&next);
        prev = next;
    }
    out.truncate(len);
    SecretBytes::new(out)
}

/// The Phase 1 encryption key Ka of `key_len` bytes from SKEYID_e (RFC 2409 Appendix B):
/// the leading bytes of SKEYID_e if it is long enough, else `K1 | K2 | ..` with
/// `K1 = prf(SKEYID_e, 0x00)` and `Kn = prf(SKEYID_e, Kn-1)`. SKEYID_e itself is not part of an
/// expanded Ka (strongSwan, racoon and vpnc agree).
pub fn encryption_key(hash: HashAlg, skeyid_e: &[u8], key_len: usize) -> SecretBytes {
    if skeyid_e.len() >= key_len {
        return SecretBytes::from_slice(skeyid_e.get(..key_len).unwrap_or(skeyid_e));
    }
    expand(&Prf::new(hash, skeyid_e), &[&[0u8]], &[], key_len)
}

/// NAT-D payload data (RFC 3947 §3.2): `HASH(CKY-I | CKY-R | IP | port)` with the negotiated
/// hash (a plain hash, not the PRF). The address is 4 or 16 bytes, the port 2 bytes, both in
/// network order.
pub fn natd_hash(hash: HashAlg, cky_i: &[u8; 8], cky_r: &[u8; 8], ip: IpAddr, port: u16) -> Digest {
    let port = port.to_be_bytes();
    match ip {
        IpAddr::V4(a) => hash.digest(&[cky_i, cky_r, &a.octets(), &port]),
        IpAddr::V6(a) => hash.digest(&[cky_i, cky_r, &a.octets(), &port]),
    }
}

/// The keys of one ESP SA, split from its KEYMAT: encryption key first, then integrity key.
#[derive(Clone, Debug)]
pub struct EspKeys {
    /// Encryption key (`cipher.key_len()` bytes).
    pub encryption: SecretBytes,
    /// Integrity (HMAC) key (`integ.key_len()` bytes).
    pub integrity: SecretBytes,
}

/// The keys of an ISAKMP SA and every Phase 1 / Phase 2 hash computed with them.
///
/// Built once g^xy and both nonces are known (after Main Mode messages 3 and 4). `Debug` prints
/// only algorithms and cookies; the key bytes are behind the `expose_secret` accessors.
#[derive(Clone, Debug)]
pub struct Phase1Keys {
    hash: HashAlg,
    cipher: CipherAlg,
    cky_i: [u8; 8],
    cky_r: [u8; 8],
    skeyid: SecretBytes,
    skeyid_d: SecretBytes,
    skeyid_a: SecretBytes,
    skeyid_e: SecretBytes,
    enc_key: SecretBytes,
    prf_skeyid: Prf,
    prf_d: Prf,
    prf_a: Prf,
}

impl Phase1Keys {
    /// The keys of either authentication: with `psk` SKEYID = prf(psk, Ni_b | Nr_b), without
    /// (signatures) SKEYID = prf(Ni_b | Nr_b, g^xy); then the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        hash: HashAlg,
        cipher: CipherAlg,
        psk: Option<&[u8]>,
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
    ) -> Phase1Keys {
        let skeyid = match psk {
            Some(k) => skeyid_psk(hash, k, ni_b, nr_b),
            None => skeyid_sig(hash, ni_b, nr_b, gxy),
        };
        Self::from_skeyid(hash, cipher, skeyid, gxy, cky_i, cky_r)
    }

    /// Pre-shared key authentication: SKEYID = prf(psk, Ni_b | Nr_b), then the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn from_psk(
        hash: HashAlg,
        cipher: CipherAlg,
        psk: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
    ) -> Phase1Keys {
        let skeyid = skeyid_psk(hash, psk, ni_b, nr_b);
        Self::from_skeyid(hash, cipher, skeyid, gxy, cky_i, cky_r)
    }

    /// Derives SKEYID_d/_a/_e and Ka from an SKEYID computed for any authentication method.
    pub fn from_skeyid(
        hash: HashAlg,
        cipher: CipherAlg,
        skeyid: SecretBytes,
        gxy: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
    ) -> Phase1Keys {
        let prf_skeyid = Prf::new(hash, skeyid.expose_secret());
        let skeyid_d = prf_skeyid.compute_secret(&[gxy, cky_i, cky_r, &[0]]);
        let skeyid_a =
            prf_skeyid.compute_secret(&[skeyid_d.expose_secret(), gxy, cky_i, cky_r, &[1]]);
        let skeyid_e =
            prf_skeyid.compute_secret(&[skeyid_a.expose_secret(), gxy, cky_i, cky_r, &[2]]);
        let enc_key = encryption_key(hash, skeyid_e.expose_secret(), cipher.key_len());
        Phase1Keys {
            hash,
            cipher,
            cky_i: *cky_i,
            cky_r: *cky_r,
            prf_d: Prf::new(hash, skeyid_d.expose_secret()),
            prf_a: Prf::new(hash, skeyid_a.expose_secret()),
            prf_skeyid,
            skeyid,
            skeyid_d,
            skeyid_a,
            skeyid_e,
            enc_key,
        }
    }

    /// The negotiated hash (its HMAC is the PRF).
    pub fn hash_alg(&self) -> HashAlg {
        self.hash
    }

    /// The negotiated Phase 1 cipher.
    pub fn cipher_alg(&self) -> CipherAlg {
        self.cipher
    }

    /// SKEYID. Sensitive, see [`SecretBytes::expose_secret`].
    pub fn skeyid(&self) -> &SecretBytes {
        &self.skeyid
    }

    /// SKEYID_d (keys Quick Mode KEYMAT). Sensitive.
    pub fn skeyid_d(&self) -> &SecretBytes {
        &self.skeyid_d
    }

    /// SKEYID_a (keys the Phase 2 and Informational HASH payloads). Sensitive.
    pub fn skeyid_a(&self) -> &SecretBytes {
        &self.skeyid_a
    }

    /// SKEYID_e (source of Ka). Sensitive.
    pub fn skeyid_e(&self) -> &SecretBytes {
        &self.skeyid_e
    }

    /// Ka, the ISAKMP encryption key (`cipher.key_len()` bytes; what Wireshark's ISAKMP
    /// decryption table calls the encryption key). Sensitive.
    pub fn enc_key(&self) -> &SecretBytes {
        &self.enc_key
    }

    /// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b). `sai_b` is the body of
    /// the initiator's SA payload from message 1; compare with [`Digest::ct_eq`].
    pub fn hash_i(&self, g_xi: &[u8], g_xr: &[u8], sai_b: &[u8], idii_b: &[u8]) -> Digest {
        self.prf_skeyid
            .compute(&[g_xi, g_xr, &self.cky_i, &self.cky_r, sai_b, idii_b])
    }

    /// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b). Takes g^xi and g^xr in
    /// the same order as [`Phase1Keys::hash_i`]; the swap is done here.
    pub fn hash_r(&self, g_xi: &[u8], g_xr: &[u8], sai_b: &[u8], idir_b: &[u8]) -> Digest {
        self.prf_skeyid
            .compute(&[g_xr, g_xi, &self.cky_r, &self.cky_i, sai_b, idir_b])
    }

    /// Quick Mode HASH(1) = prf(SKEYID_a, M-ID | payloads), where `payloads` are the exact bytes
    /// after the HASH payload (generic headers included, padding excluded).
    pub fn hash1(&self, message_id: u32, payloads: &[u8]) -> Digest {
        self.prf_a.compute(&[&message_id.to_be_bytes(), payloads])
    }

    /// Quick Mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | payloads); `ni_b` is the initiator's
    /// Quick Mode nonce body.
    pub fn hash2(&self, message_id: u32, ni_b: &[u8], payloads: &[u8]) -> Digest {
        self.prf_a
            .compute(&[&message_id.to_be_bytes(), ni_b, payloads])
    }

    /// Quick Mode HASH(3) = prf(SKEYID_a, 0x00 | M-ID | Ni_b | Nr_b).
    pub fn hash3(&self, message_id: u32, ni_b: &[u8], nr_b: &[u8]) -> Digest {
        self.prf_a
            .compute(&[&[0], &message_id.to_be_bytes(), ni_b, nr_b])
    }

    /// Informational HASH = prf(SKEYID_a, M-ID | payloads after the HASH payload).
    pub fn info_hash(&self, message_id: u32, payloads: &[u8]) -> Digest {
        self.hash1(message_id, payloads)
    }

    /// Transaction exchange (XAUTH, Mode Config) HASH = prf(SKEYID_a, M-ID | Attribute
    /// payload), the same construction as the Informational HASH (draft-dukes-ike-mode-cfg-02).
    pub fn transaction_hash(&self, message_id: u32, payloads: &[u8]) -> Digest {
        self.hash1(message_id, payloads)
    }

    /// Quick Mode KEYMAT of `len` bytes for the SA whose receiver chose `spi` (RFC 2409 §5.5):
    /// `K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)`,
    /// `Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)`, KEYMAT = K1 | K2 | ..
    /// truncated. `pfs_gxy` is the Quick Mode g^xy when PFS was negotiated; nonces are the
    /// Quick Mode ones. `protocol` is 3 for ESP.
    pub fn keymat(
        &self,
        protocol: u8,
        spi: u32,
        ni_b: &[u8],
        nr_b: &[u8],
        pfs_gxy: Option<&[u8]>,
        len: usize,
    ) -> SecretBytes {
        let spi = spi.to_be_bytes();
        let proto = [protocol];
        let seed_pfs: [&[u8]; 5] = [pfs_gxy.unwrap_or(&[]), &proto, &spi, ni_b, nr_b];
        expand(&self.prf_d, &seed_pfs, &seed_pfs, len)
    }

    /// The keys of one ESP SA: KEYMAT for `suite.keymat_len()` bytes, split into the encryption
    /// key then the integrity key. `spi` is the SPI of the SA being keyed (chosen by its
    /// receiver): the initiator-to-responder SA uses the responder's SPI.
    pub fn esp_keys(
        &self,
        spi: u32,
        ni_b: &[u8],
        nr_b: &[u8],
        pfs_gxy: Option<&[u8]>,
        suite: EspSuite,
    ) -> EspKeys {
        let km = self.keymat(3, spi, ni_b, nr_b, pfs_gxy, suite.keymat_len());
        let (encryption, integrity) = km.split(suite.cipher.key_len());
        EspKeys {
            encryption,
            integrity,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::suite::IntegAlg;
    use crate::test_util::hex;

    // [SELF] values below come from src/crypto/testdata/self_vectors.py.

    /// Inputs of test-vectors.md §5.2.
    pub(crate) struct V52 {
        pub cky_i: [u8; 8],
        pub cky_r: [u8; 8],
        pub ni: Vec<u8>,
        pub nr: Vec<u8>,
        pub gxi: Vec<u8>,
        pub gxr: Vec<u8>,
        pub gxy: Vec<u8>,
        pub ni2: Vec<u8>,
        pub nr2: Vec<u8>,
    }

    pub(crate) fn v52() -> V52 {
        V52 {
            cky_i: hex("a1b2c3d4e5f60718").try_into().unwrap(),
            cky_r: hex("1827364554637281").try_into().unwrap(),
            ni: (0x00u8..0x14).collect(),
            nr: (0x20u8..0x34).collect(),
            gxi: hex(
                "a3616141ace28df1503b7975754b8c03513504fbe6e5373c7334642867b0bfc3
                 4f34b23d197bddfcebb0544f05314647406a35f3a460490a86f201e051503691
                 1542486fed3e087748d5e5079e17a362555f92c501caf3c5227c47fb2f9f1f0e
                 1470a8935cfb5b58df64efa5cd0b19880cf20cd472e142af343f983240de1980",
            ),
            gxr: hex(
                "5daba0bf13f733d5e49510ade27c8ec1c5a89328278291f7548c6204ca0408c5
                 a20d7dc64829f77c3b7ef03eb279deade1f98e9d5a4198cbc4249b1a90d68501
                 94e5c8dcdc80e4eb4b663245c0e776ac8eb4dae6ec48146c206d27cf2d8f8a49
                 a53a51f7822245b6ab41d49c1cb91e1609be707945c0be75d67e16ec3011a2bb",
            ),
            gxy: hex(
                "6130d1167ba0e97f35edfb8a334f34997c37326988b09b3f1bf5a0e0a479e3b0
                 b4a2812e86ff53e9cf31ed8b7c402f532516d2bdec88539d50e37f1bef54557d
                 51fd96ef0b5ee20c5e56dfa751973820555b1e67b70aa6f8ceeb5129fd69a0f8
                 e72d4d317825c77e3bbb4ad988d794db22c704f8fa6667e2a233ed748fb5c1a9",
            ),
            ni2: (0x40u8..0x54).collect(),
            nr2: (0x60u8..0x74).collect(),
        }
    }

    pub(crate) fn keys(hash: HashAlg, cipher: CipherAlg) -> Phase1Keys {
        let v = v52();
        Phase1Keys::from_psk(
            hash,
            cipher,
            b"ciscokey",
            &v.ni,
            &v.nr,
            &v.gxy,
            &v.cky_i,
            &v.cky_r,
        )
    }

    #[test]
    fn nist_sp800_135_signature_case() {
        let gxy = hex(
            "2a2e0bbe8da3657a83f3d35826e49e2d38e557e912a1b9e6c30c63577b3eab71
             5466202862027f2c26f3090743555579611771db0b92bef93834432a3a7762fc
             8a0f4889fd281d6082770d10a40d7bad61e832f041e620d6787e7f62ab2861dd
             fbe272e0d9d3cdec5f1bbf750e24b8b32d6d714968ad69ce5086c32ad2742ebc",
        );
        let skeyid = skeyid_sig(
            HashAlg::Sha1,
            &hex("ced5635da6796075"),
            &hex("6244b427712fb776"),
            &gxy,
        );
        assert_eq!(
            skeyid.expose_secret(),
            hex("dc37ac99de6dcfbd1ee74af7fb36f9b4b0a7829d")
        );
        let k = Phase1Keys::from_skeyid(
            HashAlg::Sha1,
            CipherAlg::Aes128,
            skeyid,
            &gxy,
            &hex("382e5c8b0a3fa307").try_into().unwrap(),
            &hex("ba4b7616700a2413").try_into().unwrap(),
        );
        assert_eq!(
            k.skeyid_d().expose_secret(),
            hex("486293ed547adb562cefdaf43d3d8457b196f2b6")
        );
        assert_eq!(
            k.skeyid_a().expose_secret(),
            hex("f4053b5ca07e59bb41b8f401037ca90b72b3917e")
        );
        assert_eq!(
            k.skeyid_e().expose_secret(),
            hex("49a1d53a80fb77e663552964fbbcb45092021473")
        );
        // AES-128 with SHA-1: Ka is SKEYID_e truncated, no expansion.
        assert_eq!(
            k.enc_key().expose_secret(),
            &k.skeyid_e().expose_secret()[..16]
        );
    }

    #[test]
    fn end_to_end_psk_example_5_2() {
        let v = v52();
        let k = keys(HashAlg::Sha1, CipherAlg::TripleDes);
        let want = [
            (k.skeyid(), "a892b64762e3cb6a2ea9914d81de39c8d4a77ff5"),
            (k.skeyid_d(), "10b520b11782d9509a0f67eb2ef6131a11dffad8"),
            (k.skeyid_a(), "16cd534817ee38003c39c77a0f90a1a84a6c8aea"),
            (k.skeyid_e(), "ae4da2884b2248f352eaca458ae35253d2b4ad1e"),
            (
                k.enc_key(),
                "0398e0f8cefef0e5f47f773569435d8bd5dbaa3df2872b54",
            ),
        ];
        for (got, w) in want {
            assert_eq!(got.expose_secret(), hex(w));
        }
        // K1 and K2 individually: expansion to two full blocks (40 bytes) is K1 | K2.
        let k12 = encryption_key(HashAlg::Sha1, k.skeyid_e().expose_secret(), 40);
        assert_eq!(
            k12.expose_secret(),
            hex(
                "0398e0f8cefef0e5f47f773569435d8bd5dbaa3d f2872b54a7e2ca2d551c93b173a582b3cc3413ae"
            )
        );
        let sai_b = hex("00000001000000010000002c01010001000000240101000080010005800200028003000180040002800b0001000c000400015180");
        let hash_i = k.hash_i(&v.gxi, &v.gxr, &sai_b, &hex("011101f40a000001"));
        assert_eq!(&*hash_i, hex("da2475fb1d14e8efbd76a5c6f4af3b13bf9309ce"));
        let hash_r = k.hash_r(&v.gxi, &v.gxr, &sai_b, &hex("011101f40a000002"));
        assert_eq!(&*hash_r, hex("040fbdb3a882f26b6c815feea5fe95240d40900d"));
        assert!(hash_r.ct_eq(&hex("040fbdb3a882f26b6c815feea5fe95240d40900d")));

        let suite = EspSuite {
            cipher: CipherAlg::TripleDes,
            integ: IntegAlg::HmacSha1_96,
        };
        let i2r = hex("99e395f698d38833d2d209c501f0789763a462b1ad45e9f6d4497117159549dd815c4de0fe30c4be71d8a65e");
        let r2i = hex("de723aee6c8fbdae6692e2f359c9fea99dbf11c313491a335de42e11ff49803c7c2d0912be817b3d5d9db11d");
        assert_eq!(
            k.keymat(3, 0x5566_7788, &v.ni2, &v.nr2, None, 44)
                .expose_secret(),
            i2r
        );
        assert_eq!(
            k.keymat(3, 0x1122_3344, &v.ni2, &v.nr2, None, 44)
                .expose_secret(),
            r2i
        );
        let e = k.esp_keys(0x5566_7788, &v.ni2, &v.nr2, None, suite);
        assert_eq!(e.encryption.expose_secret(), &i2r[..24]);
        assert_eq!(e.integrity.expose_secret(), &i2r[24..]);
        assert_eq!(
            &*k.hash3(0x5a5a_5a5a, &v.ni2, &v.nr2),
            hex("c92c2cbc97410e3341ef825cebc4a3956c2891a1")
        );
    }

    #[test]
    fn keymat_without_expansion_and_with_pfs() {
        let v = v52();
        let k = keys(HashAlg::Sha1, CipherAlg::TripleDes);
        let full = k.keymat(3, 0x5566_7788, &v.ni2, &v.nr2, None, 44);
        // 16 bytes <= one SHA-1 output: K1 truncated, which is also the head of the long KEYMAT.
        let short = k.keymat(3, 0x5566_7788, &v.ni2, &v.nr2, None, 16);
        assert_eq!(
            short.expose_secret(),
            hex("99e395f698d38833d2d209c501f07897")
        );
        assert_eq!(short.expose_secret(), &full.expose_secret()[..16]);
        let k1 = Prf::new(HashAlg::Sha1, k.skeyid_d().expose_secret()).compute(&[
            &[3],
            &0x5566_7788u32.to_be_bytes(),
            &v.ni2,
            &v.nr2,
        ]);
        assert_eq!(&full.expose_secret()[..20], &*k1);
        // [SELF] PFS: g^xy goes in front of protocol | SPI | nonces, and changes everything.
        let pfs = k.keymat(3, 0x5566_7788, &v.ni2, &v.nr2, Some(&v.gxy), 44);
        assert_eq!(
            pfs.expose_secret(),
            hex("455ee42bdb5bce246f09476c37d38409dfac705d875b49826ce609f9fdab7e6311d084c060376943b1c1b584")
        );
        assert_ne!(pfs.expose_secret()[..20], full.expose_secret()[..20]);
        let pfs_k1 = Prf::new(HashAlg::Sha1, k.skeyid_d().expose_secret()).compute(&[
            &v.gxy,
            &[3],
            &0x5566_7788u32.to_be_bytes(),
            &v.ni2,
            &v.nr2,
        ]);
        assert_eq!(&pfs.expose_secret()[..20], &*pfs_k1);
        // Another protocol byte or SPI gives other keys.
        assert!(!k
            .keymat(2, 0x5566_7788, &v.ni2, &v.nr2, None, 44)
            .ct_eq(full.expose_secret()));
    }

    #[test]
    fn self_vectors_sha256_aes256_and_expansions() {
        let v = v52();
        // [SELF] Ka for AES-256 with SHA-1 needs K1 | K2; AES-128 with SHA-1 truncates.
        let k = keys(HashAlg::Sha1, CipherAlg::Aes256);
        assert_eq!(
            k.enc_key().expose_secret(),
            hex("0398e0f8cefef0e5f47f773569435d8bd5dbaa3df2872b54a7e2ca2d551c93b1")
        );
        assert_eq!(
            keys(HashAlg::Sha1, CipherAlg::Aes128)
                .enc_key()
                .expose_secret(),
            hex("ae4da2884b2248f352eaca458ae35253")
        );
        // [SELF] MD5 with 3DES: 16-byte SKEYID_e expanded to 24.
        assert_eq!(
            keys(HashAlg::Md5, CipherAlg::TripleDes)
                .enc_key()
                .expose_secret(),
            hex("925d6d2435316b162d06e6a358471d6797f7d67baa8431cf")
        );
        // [SELF] Phase 2 hashes with made-up payload bytes.
        let pl = hex("0a000018 0000000000000000000000000000000000000000");
        assert_eq!(
            &*k.hash1(0x5a5a_5a5a, &pl),
            hex("c9e7e647be2602a9987b49d507cd391ef3e54911")
        );
        assert_eq!(&*k.info_hash(0x5a5a_5a5a, &pl), &*k.hash1(0x5a5a_5a5a, &pl));
        assert_eq!(
            &*k.hash2(0x5a5a_5a5a, &v.ni2, &pl),
            hex("163582aa3bbe6bf78559ee3bca861468cca56401")
        );

        // [SELF] SHA-256 / AES-256 end to end.
        let k = keys(HashAlg::Sha256, CipherAlg::Aes256);
        let want = [
            (
                k.skeyid(),
                "0f9c62c39aed13bafc103aa2201ca7a7a7c98537792dd4b5b7c1d258cb71cc1d",
            ),
            (
                k.skeyid_d(),
                "1dcb303aadebc1a774d13aba048f3c194dc48929a308f998bee91db4f4dc9eb5",
            ),
            (
                k.skeyid_a(),
                "84ab2b4f8e2b73d1ce3efbffb6e01ae870d8bf1fe08ee0c65745c1157a43b4be",
            ),
            (
                k.skeyid_e(),
                "f765825f25f4bf2ebe64e3487ef6a5c933d11fc37053445626672577d04b5c2d",
            ),
            (
                k.enc_key(),
                "f765825f25f4bf2ebe64e3487ef6a5c933d11fc37053445626672577d04b5c2d",
            ),
        ];
        for (got, w) in want {
            assert_eq!(got.expose_secret(), hex(w));
        }
        let suite = EspSuite {
            cipher: CipherAlg::Aes256,
            integ: IntegAlg::HmacSha256_128,
        };
        assert_eq!(suite.keymat_len(), 64);
        let e = k.esp_keys(0x5566_7788, &v.ni2, &v.nr2, None, suite);
        let km = hex("6b28356b47291f1e5bd321c90d902cc425f04184ae4b5c5fd7564ff2888ce3bb3a91d574066dec943109c392bd162ad99b1b5234f9c78ba80b1f9f85fa948768");
        assert_eq!(e.encryption.expose_secret(), &km[..32]);
        assert_eq!(e.integrity.expose_secret(), &km[32..]);
        let e = k.esp_keys(0x1122_3344, &v.ni2, &v.nr2, Some(&v.gxy), suite);
        let km = hex("f1003b153b14d890f2534666eff1b6b602cfc690c752ee709057e001e631f71b971592831b5b22ce9c4900003ecdcf772a1a62931f9e2d92d863205d9b55c790");
        assert_eq!(e.encryption.expose_secret(), &km[..32]);
        assert_eq!(e.integrity.expose_secret(), &km[32..]);
        assert_eq!(
            &*k.hash3(0x5a5a_5a5a, &v.ni2, &v.nr2),
            hex("0eab3f545c3603e26603ba5050fe26cf41015e631267451822ea4cc102ce12e3")
        );
    }

    #[test]
    fn natd_and_debug_redaction() {
        let v = v52();
        let h = natd_hash(
            HashAlg::Sha1,
            &v.cky_i,
            &v.cky_r,
            "192.0.2.1".parse().unwrap(),
            500,
        );
        assert_eq!(&*h, hex("80990d59a9dba3557f64d6ac7ac0cb6deacda3e9"));
        let h = natd_hash(
            HashAlg::Sha1,
            &v.cky_i,
            &v.cky_r,
            "2001:db8::1".parse().unwrap(),
            4500,
        );
        assert_eq!(&*h, hex("2dce16ccf72de3c9bf9a0538fd425bb3d00940b8"));
        let k = keys(HashAlg::Sha1, CipherAlg::TripleDes);
        let d = format!("{k:?}");
        // No byte of SKEYID (a892b6..) or Ka (0398e0..) in any common rendering.
        for needle in ["a892", "168, 146", "0398", "3, 152"] {
            assert!(!d.contains(needle), "{d}");
        }
        assert!(d.contains("redacted"));
    }
}
