//! `ipsec_keystore`: the private keys and CRLs of certificate authentication, which IOS text
//! never holds. A C program fills one (`ipsec_keystore_add_*`) and hands it to
//! `ipsec_tunnel_new_from_ios_with_keys`, which copies what it needs: the keystore can be freed
//! right after, or reused for another tunnel.

use std::collections::BTreeMap;

use ipsec_proto::pki::{PrivateKey, TrustStore};

use crate::ffi::{as_mut, boundary, free_in_place, in_slice, to_raw, try_ok, try_some, write};
use crate::result::ipsec_result;

/// RSA private keys by `rsakeypair` label and DER CRLs by trustpoint name (opaque). Keys are
/// wiped when it is freed. Not thread-safe: serialise calls on one keystore.
#[derive(Clone, Default)]
pub struct ipsec_keystore {
    pub(crate) rsa_keys: BTreeMap<String, PrivateKey>,
    pub(crate) crls: BTreeMap<String, Vec<Vec<u8>>>,
}

/// A label or trustpoint name: `len` bytes of UTF-8, not empty, no NUL, no white space (IOS
/// names are single words).
///
/// # Safety
/// `p` NULL or `len` readable bytes.
unsafe fn name_arg(p: *const u8, len: usize) -> Result<String, ipsec_result> {
    // SAFETY: caller contract.
    let bytes = unsafe { in_slice(p, len) }.ok_or(ipsec_result::IPSEC_RESULT_NULL_PARAMETER)?;
    let text = std::str::from_utf8(bytes).map_err(|_| ipsec_result::IPSEC_RESULT_INVALID_UTF8)?;
    if text.is_empty() || text.chars().any(|c| c == '\0' || c.is_whitespace()) {
        return Err(ipsec_result::IPSEC_RESULT_INVALID_PARAMETER);
    }
    Ok(text.to_string())
}

/// Makes an empty keystore into `*out`; free it with `ipsec_keystore_free`.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_keystore_new(out: *mut *mut ipsec_keystore) -> ipsec_result {
    boundary(|| {
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: checked non-NULL.
        unsafe { write(out, to_raw(ipsec_keystore::default())) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Adds the RSA private key of `rsakeypair LABEL` (`label`: `label_len` bytes, UTF-8, one
/// word) from PEM text (`pem_len` bytes, need not be NUL-terminated): `-----BEGIN RSA PRIVATE
/// KEY-----` (PKCS#1) or unencrypted `-----BEGIN PRIVATE KEY-----` (PKCS#8). A key already under
/// that label is replaced. A label that no trustpoint uses is kept and ignored. A trustpoint
/// without `rsakeypair` uses its own name as the label, as on IOS.
///
/// Errors: `IPSEC_RESULT_NULL_PARAMETER`; `IPSEC_RESULT_INVALID_UTF8` (label or PEM text);
/// `IPSEC_RESULT_INVALID_PARAMETER` (empty label, or with white space or NUL);
/// `IPSEC_RESULT_INVALID_KEY` (not a PEM RSA key, or one outside 1024-8192 bits). On error the
/// keystore is unchanged.
///
/// # Safety
/// `ks` a live keystore; `label` `label_len` readable bytes; `pem` `pem_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_keystore_add_rsa_key_pem(
    ks: *mut ipsec_keystore,
    label: *const u8,
    label_len: usize,
    pem: *const u8,
    pem_len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ks = try_some!(unsafe { as_mut(ks) });
        // SAFETY: caller contract.
        let label = try_ok!(unsafe { name_arg(label, label_len) });
        // SAFETY: caller contract.
        let pem = try_some!(unsafe { in_slice(pem, pem_len) });
        let Ok(pem) = std::str::from_utf8(pem) else {
            return ipsec_result::IPSEC_RESULT_INVALID_UTF8;
        };
        let Ok(key) = PrivateKey::from_pem(pem) else {
            return ipsec_result::IPSEC_RESULT_INVALID_KEY;
        };
        ks.rsa_keys.insert(label, key);
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// `ipsec_keystore_add_rsa_key_pem` for a DER key (`der_len` bytes, PKCS#1 or PKCS#8), with the
/// same errors but `IPSEC_RESULT_INVALID_UTF8` only for the label.
///
/// # Safety
/// `ks` a live keystore; `label` `label_len` readable bytes; `der` `der_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_keystore_add_rsa_key_der(
    ks: *mut ipsec_keystore,
    label: *const u8,
    label_len: usize,
    der: *const u8,
    der_len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ks = try_some!(unsafe { as_mut(ks) });
        // SAFETY: caller contract.
        let label = try_ok!(unsafe { name_arg(label, label_len) });
        // SAFETY: caller contract.
        let der = try_some!(unsafe { in_slice(der, der_len) });
        let Ok(key) = PrivateKey::from_der(der) else {
            return ipsec_result::IPSEC_RESULT_INVALID_KEY;
        };
        ks.rsa_keys.insert(label, key);
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Adds a CRL (DER, `der_len` bytes) for `crypto pki trustpoint TRUSTPOINT` (`trustpoint`:
/// `trustpoint_len` bytes, UTF-8, one word), consulted under `revocation-check crl`. A
/// trustpoint may have several; they accumulate. Whether the CRL is signed by the trustpoint's
/// CA is checked when a peer's certificate is validated.
///
/// Errors: `IPSEC_RESULT_NULL_PARAMETER`; `IPSEC_RESULT_INVALID_UTF8`,
/// `IPSEC_RESULT_INVALID_PARAMETER` (the name, as for keys); `IPSEC_RESULT_INVALID_CRL` (not a
/// DER CRL this library can use, e.g. PEM text or a v1 CRL). On error the keystore is unchanged.
///
/// # Safety
/// `ks` a live keystore; `trustpoint` `trustpoint_len` readable bytes; `der` `der_len` readable
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_keystore_add_crl_der(
    ks: *mut ipsec_keystore,
    trustpoint: *const u8,
    trustpoint_len: usize,
    der: *const u8,
    der_len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ks = try_some!(unsafe { as_mut(ks) });
        // SAFETY: caller contract.
        let name = try_ok!(unsafe { name_arg(trustpoint, trustpoint_len) });
        // SAFETY: caller contract.
        let der = try_some!(unsafe { in_slice(der, der_len) });
        if TrustStore::check_crl(der).is_err() {
            return ipsec_result::IPSEC_RESULT_INVALID_CRL;
        }
        ks.crls.entry(name).or_default().push(der.to_vec());
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// How many keys (`*out_keys`) and CRLs (`*out_crls`) the keystore holds; either pointer may be
/// NULL.
///
/// # Safety
/// `ks` a live keystore; `out_keys`, `out_crls` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_keystore_count(
    ks: *const ipsec_keystore,
    out_keys: *mut usize,
    out_crls: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let ks = try_some!(unsafe { crate::ffi::as_ref(ks) });
        let crls = ks.crls.values().map(Vec::len).sum();
        for (p, n) in [(out_keys, ks.rsa_keys.len()), (out_crls, crls)] {
            if !p.is_null() {
                // SAFETY: non-NULL optional out-parameter, writable by contract.
                unsafe { write(p, n) };
            }
        }
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Frees the keystore (wiping its keys) and sets `*ks` to NULL. Tunnels built with it keep
/// their own copies.
///
/// # Safety
/// `ks` NULL, or points to NULL or a keystore from this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn ipsec_keystore_free(ks: *mut *mut ipsec_keystore) {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { free_in_place(ks) }
    })
}

#[cfg(test)]
#[allow(clippy::undocumented_unsafe_blocks)] // tests: live locals and buffers throughout
mod tests {
    use super::*;
    use crate::tunnel::tests_pem_der as pem_der;

    const GW1_KEY: &str = include_str!("../../ipsec-proto/src/pki/testdata/gw1.key");
    const GW2_KEY: &str = include_str!("../../ipsec-proto/src/pki/testdata/gw2.key");
    const SMALL_KEY: &str = include_str!("../../ipsec-proto/src/pki/testdata/small512.key");
    const CA_PEM: &str = include_str!("../../ipsec-proto/src/pki/testdata/ca.pem");
    const CRL_PEM: &str = include_str!("../../ipsec-proto/src/pki/testdata/ca.crl.pem");

    use ipsec_result as R;

    fn pem(ks: *mut ipsec_keystore, label: &[u8], pem: &[u8]) -> ipsec_result {
        unsafe {
            ipsec_keystore_add_rsa_key_pem(ks, label.as_ptr(), label.len(), pem.as_ptr(), pem.len())
        }
    }

    fn der(ks: *mut ipsec_keystore, label: &[u8], der: &[u8]) -> ipsec_result {
        unsafe {
            ipsec_keystore_add_rsa_key_der(ks, label.as_ptr(), label.len(), der.as_ptr(), der.len())
        }
    }

    fn crl(ks: *mut ipsec_keystore, tp: &[u8], der: &[u8]) -> ipsec_result {
        unsafe { ipsec_keystore_add_crl_der(ks, tp.as_ptr(), tp.len(), der.as_ptr(), der.len()) }
    }

    fn counts(ks: *const ipsec_keystore) -> (usize, usize) {
        let (mut k, mut c) = (0, 0);
        assert_eq!(
            unsafe { ipsec_keystore_count(ks, &mut k, &mut c) },
            R::IPSEC_RESULT_OK
        );
        (k, c)
    }

    fn new() -> *mut ipsec_keystore {
        let mut ks = std::ptr::null_mut();
        assert_eq!(unsafe { ipsec_keystore_new(&mut ks) }, R::IPSEC_RESULT_OK);
        ks
    }

    #[test]
    fn pem_and_der_keys_of_both_encodings_are_accepted() {
        let mut ks = new();
        // gw1.key is PKCS#1, gw2.key PKCS#8.
        assert_eq!(pem(ks, b"gw1", GW1_KEY.as_bytes()), R::IPSEC_RESULT_OK);
        assert_eq!(pem(ks, b"gw2", GW2_KEY.as_bytes()), R::IPSEC_RESULT_OK);
        assert_eq!(der(ks, b"gw1-der", &pem_der(GW1_KEY)), R::IPSEC_RESULT_OK);
        assert_eq!(der(ks, b"gw2-der", &pem_der(GW2_KEY)), R::IPSEC_RESULT_OK);
        // The same label again replaces.
        assert_eq!(pem(ks, b"gw1", GW2_KEY.as_bytes()), R::IPSEC_RESULT_OK);
        assert_eq!(counts(ks), (4, 0));
        assert_eq!(crl(ks, b"LAB", &pem_der(CRL_PEM)), R::IPSEC_RESULT_OK);
        assert_eq!(crl(ks, b"LAB", &pem_der(CRL_PEM)), R::IPSEC_RESULT_OK);
        assert_eq!(crl(ks, b"OTHER", &pem_der(CRL_PEM)), R::IPSEC_RESULT_OK);
        assert_eq!(counts(ks), (4, 3));
        let mut k = 0;
        assert_eq!(
            unsafe { ipsec_keystore_count(ks, &mut k, std::ptr::null_mut()) },
            R::IPSEC_RESULT_OK
        );
        assert_eq!(k, 4);
        unsafe {
            ipsec_keystore_free(&mut ks);
            ipsec_keystore_free(&mut ks);
            ipsec_keystore_free(std::ptr::null_mut());
        }
        assert!(ks.is_null());
    }

    #[test]
    fn bad_keys_and_crls_get_their_own_codes_and_change_nothing() {
        let mut ks = new();
        let bad_key = R::IPSEC_RESULT_INVALID_KEY;
        assert_eq!(pem(ks, b"gw", b"not a key"), bad_key);
        assert_eq!(pem(ks, b"gw", b""), bad_key);
        assert_eq!(pem(ks, b"gw", CA_PEM.as_bytes()), bad_key, "a certificate");
        assert_eq!(pem(ks, b"gw", SMALL_KEY.as_bytes()), bad_key, "512 bits");
        // A wrong (short) length cuts the PEM text.
        let cut = &GW1_KEY.as_bytes()[..GW1_KEY.len() / 2];
        assert_eq!(pem(ks, b"gw", cut), bad_key);
        let mut garbled = GW1_KEY.as_bytes().to_vec();
        garbled[100] ^= 0x80;
        assert_eq!(pem(ks, b"gw", &garbled), R::IPSEC_RESULT_INVALID_UTF8);
        assert_eq!(der(ks, b"gw", GW1_KEY.as_bytes()), bad_key, "PEM as DER");
        let key_der = pem_der(GW1_KEY);
        assert_eq!(der(ks, b"gw", &key_der[..key_der.len() - 1]), bad_key);
        assert_eq!(der(ks, b"gw", &[]), bad_key);
        let bad_crl = R::IPSEC_RESULT_INVALID_CRL;
        assert_eq!(crl(ks, b"LAB", CRL_PEM.as_bytes()), bad_crl, "PEM as DER");
        assert_eq!(crl(ks, b"LAB", &pem_der(CA_PEM)), bad_crl, "a certificate");
        let crl_der = pem_der(CRL_PEM);
        assert_eq!(crl(ks, b"LAB", &crl_der[..crl_der.len() - 3]), bad_crl);
        assert_eq!(crl(ks, b"LAB", &[]), bad_crl);
        assert_eq!(counts(ks), (0, 0));
        unsafe { ipsec_keystore_free(&mut ks) };
    }

    #[test]
    fn names_must_be_one_utf8_word() {
        let mut ks = new();
        let key = GW1_KEY.as_bytes();
        let bad = R::IPSEC_RESULT_INVALID_PARAMETER;
        assert_eq!(pem(ks, b"", key), bad);
        assert_eq!(pem(ks, b"two words", key), bad);
        assert_eq!(pem(ks, b"nul\0", key), bad);
        assert_eq!(pem(ks, b"\xff", key), R::IPSEC_RESULT_INVALID_UTF8);
        assert_eq!(crl(ks, b"", &pem_der(CRL_PEM)), bad);
        assert_eq!(crl(ks, b"L\tAB", &pem_der(CRL_PEM)), bad);
        assert_eq!(
            crl(ks, b"\xc3", &pem_der(CRL_PEM)),
            R::IPSEC_RESULT_INVALID_UTF8
        );
        // A label only as long as `label_len` says.
        let r = unsafe {
            ipsec_keystore_add_rsa_key_pem(ks, b"gw junk".as_ptr(), 2, key.as_ptr(), key.len())
        };
        assert_eq!(r, R::IPSEC_RESULT_OK);
        assert_eq!(counts(ks), (1, 0));
        unsafe { ipsec_keystore_free(&mut ks) };
    }

    #[test]
    fn null_pointers_are_refused() {
        let null = R::IPSEC_RESULT_NULL_PARAMETER;
        let ks = new();
        let key = GW1_KEY.as_bytes();
        let nul = std::ptr::null::<u8>();
        unsafe {
            assert_eq!(ipsec_keystore_new(std::ptr::null_mut()), null);
            let none = std::ptr::null_mut();
            assert_eq!(
                ipsec_keystore_add_rsa_key_pem(none, b"gw".as_ptr(), 2, key.as_ptr(), key.len()),
                null
            );
            assert_eq!(
                ipsec_keystore_add_rsa_key_pem(ks, nul, 2, key.as_ptr(), key.len()),
                null
            );
            assert_eq!(
                ipsec_keystore_add_rsa_key_pem(ks, b"gw".as_ptr(), 2, nul, 10),
                null
            );
            // NULL with length 0 is an empty input: an empty name, an empty key.
            assert_eq!(
                ipsec_keystore_add_rsa_key_pem(ks, nul, 0, key.as_ptr(), key.len()),
                R::IPSEC_RESULT_INVALID_PARAMETER
            );
            assert_eq!(
                ipsec_keystore_add_rsa_key_pem(ks, b"gw".as_ptr(), 2, nul, 0),
                R::IPSEC_RESULT_INVALID_KEY
            );
            assert_eq!(
                ipsec_keystore_add_rsa_key_der(none, b"gw".as_ptr(), 2, key.as_ptr(), 1),
                null
            );
            assert_eq!(
                ipsec_keystore_add_rsa_key_der(ks, b"gw".as_ptr(), 2, nul, 1),
                null
            );
            assert_eq!(
                ipsec_keystore_add_rsa_key_der(ks, nul, 1, key.as_ptr(), 1),
                null
            );
            assert_eq!(
                ipsec_keystore_add_crl_der(none, b"LAB".as_ptr(), 3, key.as_ptr(), 1),
                null
            );
            assert_eq!(
                ipsec_keystore_add_crl_der(ks, nul, 3, key.as_ptr(), 1),
                null
            );
            assert_eq!(
                ipsec_keystore_add_crl_der(ks, b"LAB".as_ptr(), 3, nul, 1),
                null
            );
            assert_eq!(
                ipsec_keystore_count(std::ptr::null(), std::ptr::null_mut(), std::ptr::null_mut()),
                null
            );
            let mut ks = ks;
            ipsec_keystore_free(&mut ks);
        }
    }
}
