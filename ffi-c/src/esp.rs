//! `ipsec_esp_sa`: one direction of an ESP SA, built from keys or moved out of a Phase 2 event.

use ipsec_proto::crypto::cipher::CipherAlg;
use ipsec_proto::esp::{
    classify_udp4500, peek_spi, EspCipher, EspConfig, EspError, EspIntegrity, EspKeys, EspMode,
    EspStats, EspTransform, EspUsage, InboundSa, LifetimeConfig, OutboundSa, Udp4500,
};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

use crate::ffi::{
    as_mut, as_ref, boundary, free_in_place, in_slice, out_slice, to_raw, try_some, write,
};
use crate::result::ipsec_result;

/// ESP encryption: NULL (RFC 2410; needs integrity).
pub const IPSEC_ESP_CIPHER_NULL: u32 = 1;
/// ESP encryption: DES-CBC (8-byte key).
pub const IPSEC_ESP_CIPHER_DES: u32 = 2;
/// ESP encryption: 3DES-CBC (24-byte key).
pub const IPSEC_ESP_CIPHER_3DES: u32 = 3;
/// ESP encryption: AES-128-CBC.
pub const IPSEC_ESP_CIPHER_AES128: u32 = 4;
/// ESP encryption: AES-192-CBC.
pub const IPSEC_ESP_CIPHER_AES192: u32 = 5;
/// ESP encryption: AES-256-CBC.
pub const IPSEC_ESP_CIPHER_AES256: u32 = 6;
/// ESP encryption: AES-128-GCM with a 16-byte ICV (RFC 4106; IOS `esp-gcm`). A combined mode:
/// use it with `IPSEC_ESP_INTEG_NONE`; its key is the AES key followed by the 4-byte salt
/// (20 bytes).
pub const IPSEC_ESP_CIPHER_AESGCM128: u32 = 7;
/// ESP encryption: AES-192-GCM (`esp-gcm 192`), 28-byte key with salt.
pub const IPSEC_ESP_CIPHER_AESGCM192: u32 = 8;
/// ESP encryption: AES-256-GCM (`esp-gcm 256`), 36-byte key with salt.
pub const IPSEC_ESP_CIPHER_AESGCM256: u32 = 9;

/// ESP integrity: none (encryption only; anti-replay is then off).
pub const IPSEC_ESP_INTEG_NONE: u32 = 0;
/// ESP integrity: HMAC-MD5-96 (16-byte key).
pub const IPSEC_ESP_INTEG_MD5_96: u32 = 1;
/// ESP integrity: HMAC-SHA1-96 (20-byte key).
pub const IPSEC_ESP_INTEG_SHA1_96: u32 = 2;
/// ESP integrity: HMAC-SHA-256-128 (32-byte key).
pub const IPSEC_ESP_INTEG_SHA256_128: u32 = 3;
/// ESP integrity: HMAC-SHA-384-192 (48-byte key).
pub const IPSEC_ESP_INTEG_SHA384_192: u32 = 4;
/// ESP integrity: HMAC-SHA-512-256 (64-byte key).
pub const IPSEC_ESP_INTEG_SHA512_256: u32 = 5;

/// SA mode: tunnel (inner packet is a whole IP packet, next header 4 or 41).
pub const IPSEC_MODE_TUNNEL: u32 = 0;
/// SA mode: transport.
pub const IPSEC_MODE_TRANSPORT: u32 = 1;

/// Direction: the SA accepts packets (decapsulate).
pub const IPSEC_DIRECTION_INBOUND: u32 = 0;
/// Direction: the SA protects packets (encapsulate).
pub const IPSEC_DIRECTION_OUTBOUND: u32 = 1;

/// UDP 4500 payload: an IKE message behind the non-ESP marker.
pub const IPSEC_UDP4500_IKE: u32 = 1;
/// UDP 4500 payload: an ESP packet.
pub const IPSEC_UDP4500_ESP: u32 = 2;
/// UDP 4500 payload: a NAT keepalive (drop it).
pub const IPSEC_UDP4500_KEEPALIVE: u32 = 3;

/// Counters of one ESP SA (the `#pkts` lines of `show crypto ipsec sa`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ipsec_esp_stats {
    /// Packets encapsulated.
    pub encaps: u64,
    /// Packets encrypted.
    pub encrypt: u64,
    /// Packets with an ICV computed.
    pub digest: u64,
    /// Packets decapsulated.
    pub decaps: u64,
    /// Packets decrypted.
    pub decrypt: u64,
    /// Packets ICV-verified.
    pub verify: u64,
    /// Replay check failures.
    pub replay_failed: u64,
    /// ICV verification failures.
    pub verify_failed: u64,
    /// Bad length.
    pub invalid_len: u64,
    /// Other decapsulation failures.
    pub decaps_failed: u64,
    /// Encapsulation failures.
    pub encaps_failed: u64,
    /// Inner bytes encapsulated.
    pub bytes_encaps: u64,
    /// Inner bytes decapsulated.
    pub bytes_decaps: u64,
}

impl From<&EspStats> for ipsec_esp_stats {
    fn from(s: &EspStats) -> Self {
        ipsec_esp_stats {
            encaps: s.encaps,
            encrypt: s.encrypt,
            digest: s.digest,
            decaps: s.decaps,
            decrypt: s.decrypt,
            verify: s.verify,
            replay_failed: s.replay_failed,
            verify_failed: s.verify_failed,
            invalid_len: s.invalid_len,
            decaps_failed: s.decaps_failed,
            encaps_failed: s.encaps_failed,
            bytes_encaps: s.bytes_encaps,
            bytes_decaps: s.bytes_decaps,
        }
    }
}

// Both variants are large; the handle is boxed either way, so boxing again would only add a hop.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Dir {
    In(InboundSa),
    Out(OutboundSa),
}

/// One direction of an ESP SA (opaque). Not thread-safe: serialise calls on one handle.
pub struct ipsec_esp_sa {
    pub(crate) dir: Dir,
}

impl ipsec_esp_sa {
    pub(crate) fn stats(&self) -> EspStats {
        match &self.dir {
            Dir::In(s) => s.stats(),
            Dir::Out(s) => s.stats(),
        }
    }

    pub(crate) fn usage(&self) -> EspUsage {
        match &self.dir {
            Dir::In(s) => s.usage(),
            Dir::Out(s) => s.usage(),
        }
    }

    pub(crate) fn is_outbound(&self) -> bool {
        matches!(self.dir, Dir::Out(_))
    }

    pub(crate) fn spi(&self) -> u32 {
        match &self.dir {
            Dir::In(s) => s.spi(),
            Dir::Out(s) => s.spi(),
        }
    }
}

pub(crate) fn transform_from_ids(cipher: u32, integ: u32) -> Option<EspTransform> {
    let cipher = match cipher {
        IPSEC_ESP_CIPHER_NULL => EspCipher::Null,
        IPSEC_ESP_CIPHER_DES => EspCipher::Cbc(CipherAlg::Des),
        IPSEC_ESP_CIPHER_3DES => EspCipher::Cbc(CipherAlg::TripleDes),
        IPSEC_ESP_CIPHER_AES128 => EspCipher::Cbc(CipherAlg::Aes128),
        IPSEC_ESP_CIPHER_AES192 => EspCipher::Cbc(CipherAlg::Aes192),
        IPSEC_ESP_CIPHER_AES256 => EspCipher::Cbc(CipherAlg::Aes256),
        IPSEC_ESP_CIPHER_AESGCM128 => EspCipher::AesGcm16(CipherAlg::Aes128),
        IPSEC_ESP_CIPHER_AESGCM192 => EspCipher::AesGcm16(CipherAlg::Aes192),
        IPSEC_ESP_CIPHER_AESGCM256 => EspCipher::AesGcm16(CipherAlg::Aes256),
        _ => return None,
    };
    let integrity = match integ {
        IPSEC_ESP_INTEG_NONE => None,
        IPSEC_ESP_INTEG_MD5_96 => Some(EspIntegrity::HmacMd5_96),
        IPSEC_ESP_INTEG_SHA1_96 => Some(EspIntegrity::HmacSha1_96),
        IPSEC_ESP_INTEG_SHA256_128 => Some(EspIntegrity::HmacSha256_128),
        IPSEC_ESP_INTEG_SHA384_192 => Some(EspIntegrity::HmacSha384_192),
        IPSEC_ESP_INTEG_SHA512_256 => Some(EspIntegrity::HmacSha512_256),
        _ => return None,
    };
    Some(EspTransform::new(cipher, integrity))
}

/// Builds an inbound or outbound SA from a pair in one call; used by the Phase 2 event.
pub(crate) fn build(
    keys: EspKeys,
    outbound: bool,
    config: EspConfig,
    now: Instant,
    rng: &mut Rng,
) -> Result<ipsec_esp_sa, EspError> {
    let dir = if outbound {
        Dir::Out(OutboundSa::new(keys, config, now, rng)?)
    } else {
        Dir::In(InboundSa::new(keys, config, now)?)
    };
    Ok(ipsec_esp_sa { dir })
}

/// Creates one direction of an ESP SA from keys (manual keying, or keys negotiated elsewhere).
///
/// `direction` is `IPSEC_DIRECTION_*`, `cipher` `IPSEC_ESP_CIPHER_*`, `integ` `IPSEC_ESP_INTEG_*`,
/// `mode` `IPSEC_MODE_*`; `udp_encap` only changes the reported overhead (NAT-T framing is the
/// caller's). `enc_key`/`auth_key` may be NULL when their length is 0. `seed` (32 bytes) seeds
/// the per-SA IV generator of an outbound SA and may be NULL for an inbound one. Lifetimes are
/// unlimited; the anti-replay window is 64 packets (when the transform has integrity).
/// `now_ms` is the install time on the caller's monotonic millisecond clock.
///
/// # Safety
/// Pointers are NULL or valid for their lengths; `out` is writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ipsec_esp_sa_new(
    direction: u32,
    spi: u32,
    cipher: u32,
    integ: u32,
    enc_key: *const u8,
    enc_key_len: usize,
    auth_key: *const u8,
    auth_key_len: usize,
    mode: u32,
    udp_encap: bool,
    seed: *const u8,
    now_ms: u64,
    out: *mut *mut ipsec_esp_sa,
) -> ipsec_result {
    boundary(|| {
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: caller contract for the key buffers.
        let enc = try_some!(unsafe { in_slice(enc_key, enc_key_len) });
        // SAFETY: as above.
        let auth = try_some!(unsafe { in_slice(auth_key, auth_key_len) });
        let outbound = match direction {
            IPSEC_DIRECTION_INBOUND => false,
            IPSEC_DIRECTION_OUTBOUND => true,
            _ => return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER,
        };
        let mode = match mode {
            IPSEC_MODE_TUNNEL => EspMode::Tunnel,
            IPSEC_MODE_TRANSPORT => EspMode::Transport,
            _ => return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER,
        };
        let Some(transform) = transform_from_ids(cipher, integ) else {
            return ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
        };
        let mut rng = if outbound {
            if seed.is_null() {
                return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
            }
            // SAFETY: non-NULL `seed` points to 32 readable bytes (documented contract).
            let s = unsafe { seed.cast::<[u8; 32]>().read_unaligned() };
            Rng::from_seed(s)
        } else {
            // Inbound SAs draw no randomness; this generator is never used.
            Rng::from_seed([0; 32])
        };
        let keys = match EspKeys::new(spi, transform, enc, auth) {
            Ok(k) => k,
            Err(e) => return ipsec_result::from(&e),
        };
        let config = EspConfig {
            mode,
            udp_encap,
            lifetime: LifetimeConfig::unlimited(),
            ..EspConfig::default()
        };
        match build(keys, outbound, config, Instant(now_ms), &mut rng) {
            Ok(sa) => {
                // SAFETY: checked non-NULL at the top.
                unsafe { write(out, to_raw(sa)) };
                ipsec_result::IPSEC_RESULT_OK
            }
            Err(e) => ipsec_result::from(&e),
        }
    })
}

/// Protects `inner` (with ESP next header `next_header`: 4 for IPv4 in tunnel mode) into `out`.
/// On success `*out_len` is the ESP packet length (SPI first; IP/UDP headers are the caller's).
/// On `IPSEC_RESULT_BUFFER_TOO_SMALL`, `*out_len` is the capacity needed and nothing changed.
///
/// # Safety
/// `sa` is a live outbound handle; buffers valid for their lengths; `out_len` writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ipsec_esp_sa_encapsulate(
    sa: *mut ipsec_esp_sa,
    now_ms: u64,
    inner: *const u8,
    inner_len: usize,
    next_header: u8,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract: live handle, no concurrent use.
        let sa = try_some!(unsafe { as_mut(sa) });
        // SAFETY: caller contract for the buffers.
        let inner = try_some!(unsafe { in_slice(inner, inner_len) });
        // SAFETY: as above.
        let out = try_some!(unsafe { out_slice(out, out_cap) });
        if out_len.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let Dir::Out(o) = &mut sa.dir else {
            return ipsec_result::IPSEC_RESULT_WRONG_DIRECTION;
        };
        let r = o.encapsulate(Instant(now_ms), inner, next_header, out);
        // SAFETY: checked non-NULL.
        unsafe { length_result(out_len, r) }
    })
}

/// Checks and decrypts the ESP packet `esp` (SPI first) into `out`. On success `*out_len` is the
/// inner packet length and `*next_header` (may be NULL) its next header (59: dummy packet, drop
/// it). `out` needs room for the whole ciphertext; on `IPSEC_RESULT_BUFFER_TOO_SMALL`,
/// `*out_len` is the capacity needed and the anti-replay window is unchanged.
///
/// # Safety
/// `sa` is a live inbound handle; buffers valid for their lengths; `out_len` writable;
/// `next_header` NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ipsec_esp_sa_decapsulate(
    sa: *mut ipsec_esp_sa,
    now_ms: u64,
    esp: *const u8,
    esp_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    next_header: *mut u8,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract: live handle, no concurrent use.
        let sa = try_some!(unsafe { as_mut(sa) });
        // SAFETY: caller contract for the buffers.
        let esp = try_some!(unsafe { in_slice(esp, esp_len) });
        // SAFETY: as above.
        let out = try_some!(unsafe { out_slice(out, out_cap) });
        if out_len.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let Dir::In(i) = &mut sa.dir else {
            return ipsec_result::IPSEC_RESULT_WRONG_DIRECTION;
        };
        let r = i.decapsulate(Instant(now_ms), esp, out).map(|d| {
            if !next_header.is_null() {
                // SAFETY: non-NULL optional out-parameter, writable by contract.
                unsafe { write(next_header, d.next_header) };
            }
            d.len
        });
        // SAFETY: checked non-NULL.
        unsafe { length_result(out_len, r) }
    })
}

/// The output length of a successful encapsulation or decapsulation, or on
/// `IPSEC_RESULT_BUFFER_TOO_SMALL` the capacity needed, into `*out_len`.
///
/// # Safety
/// `out_len` non-NULL and writable.
unsafe fn length_result(out_len: *mut usize, r: Result<usize, EspError>) -> ipsec_result {
    match r {
        Ok(n) => {
            // SAFETY: caller contract.
            unsafe { write(out_len, n) };
            ipsec_result::IPSEC_RESULT_OK
        }
        Err(EspError::BufferTooSmall { needed }) => {
            // SAFETY: caller contract.
            unsafe { write(out_len, needed) };
            ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL
        }
        Err(e) => ipsec_result::from(&e),
    }
}

/// Worst-case bytes ESP adds to an inner packet (header, IV, padding, trailer, ICV, and the UDP
/// header when UDP-encapsulated; the outer IP header is not counted). An inbound SA reports the
/// figure of its transform too. 0 for NULL.
///
/// # Safety
/// `sa` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_sa_overhead(sa: *const ipsec_esp_sa) -> usize {
    boundary(|| {
        // SAFETY: caller contract.
        let Some(sa) = (unsafe { as_ref(sa) }) else {
            return 0;
        };
        match &sa.dir {
            Dir::Out(o) => o.overhead(),
            Dir::In(i) => {
                let t = i.transform();
                let udp = if i.config().udp_encap { 8 } else { 0 };
                8 + t.cipher.iv_len() + t.cipher.align() - 1 + 2 + t.icv_len() + udp
            }
        }
    })
}

/// The SPI of the SA (0 for NULL; SPI 0 is never valid).
///
/// # Safety
/// `sa` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_sa_spi(sa: *const ipsec_esp_sa) -> u32 {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { as_ref(sa) }.map_or(0, |s| s.spi())
    })
}

/// Copies the SA's counters into `*out`.
///
/// # Safety
/// `sa` is NULL or a live handle; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_sa_stats(
    sa: *const ipsec_esp_sa,
    out: *mut ipsec_esp_stats,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let sa = try_some!(unsafe { as_ref(sa) });
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: checked non-NULL.
        unsafe { write(out, ipsec_esp_stats::from(&sa.stats())) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Frees the SA (its keys are wiped) and sets `*sa` to NULL, so freeing the same variable twice
/// is harmless. `sa == NULL` or `*sa == NULL` do nothing.
///
/// # Safety
/// `sa` is NULL or points to NULL or to a handle from this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_sa_free(sa: *mut *mut ipsec_esp_sa) {
    boundary(|| {
        // SAFETY: caller contract, see above.
        unsafe { free_in_place(sa) }
    })
}

/// Classifies the payload of a datagram received on UDP port 4500 without touching any SA
/// (RFC 3948): `*kind` gets `IPSEC_UDP4500_*` and `*offset` where the IKE message or ESP packet
/// starts in `data` (4 after the non-ESP marker, 0 for ESP, `len` for a keepalive). Pass the
/// whole datagram to `ipsec_endpoint_handle_datagram` for IKE (it strips the marker itself) and
/// `data + offset` to `ipsec_esp_sa_decapsulate` for ESP. Malformed payloads give
/// `IPSEC_RESULT_MALFORMED_MESSAGE`.
///
/// # Safety
/// `data` points to `len` readable bytes; `kind`, `offset` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_classify_udp4500(
    data: *const u8,
    len: usize,
    kind: *mut u32,
    offset: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let data = try_some!(unsafe { in_slice(data, len) });
        if kind.is_null() || offset.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        let (k, o) = match classify_udp4500(data) {
            Udp4500::Ike(rest) => (IPSEC_UDP4500_IKE, len - rest.len()),
            Udp4500::Esp(_) => (IPSEC_UDP4500_ESP, 0),
            Udp4500::Keepalive => (IPSEC_UDP4500_KEEPALIVE, len),
            _ => return ipsec_result::IPSEC_RESULT_MALFORMED_MESSAGE,
        };
        // SAFETY: both checked non-NULL.
        unsafe {
            write(kind, k);
            write(offset, o);
        }
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// The SPI of an ESP packet (for the caller's SPI-to-SA table). `IPSEC_RESULT_ESP_TRUNCATED`
/// when shorter than the ESP header or with the reserved SPI 0.
///
/// # Safety
/// `esp` points to `len` readable bytes; `spi` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_esp_peek_spi(
    esp: *const u8,
    len: usize,
    spi: *mut u32,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let esp = try_some!(unsafe { in_slice(esp, len) });
        if spi.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        match peek_spi(esp) {
            Some(s) => {
                // SAFETY: checked non-NULL.
                unsafe { write(spi, s) };
                ipsec_result::IPSEC_RESULT_OK
            }
            None => ipsec_result::IPSEC_RESULT_ESP_TRUNCATED,
        }
    })
}
