//! `ipsec_config`: endpoint and peer configuration, from IOS text or from C structs.

use std::net::Ipv4Addr;

use ipsec_proto::ike::{EndpointConfig, GatewayConfigIssue, PeerConfig, SelectorPair};
use ipsec_proto::ios::config::parse as parse_ios;
use ipsec_proto::ios::config::Item;
use ipsec_proto::policy::acl::TrafficSelector;
use ipsec_proto::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use ipsec_proto::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
use ipsec_proto::policy::GatewayConfig;

use crate::esp::{
    IPSEC_ESP_CIPHER_3DES, IPSEC_ESP_CIPHER_AES128, IPSEC_ESP_CIPHER_AES192,
    IPSEC_ESP_CIPHER_AES256, IPSEC_ESP_CIPHER_AESGCM128, IPSEC_ESP_CIPHER_AESGCM192,
    IPSEC_ESP_CIPHER_AESGCM256, IPSEC_ESP_CIPHER_DES, IPSEC_ESP_CIPHER_NULL,
    IPSEC_ESP_INTEG_MD5_96, IPSEC_ESP_INTEG_NONE, IPSEC_ESP_INTEG_SHA1_96,
    IPSEC_ESP_INTEG_SHA256_128, IPSEC_ESP_INTEG_SHA384_192, IPSEC_ESP_INTEG_SHA512_256,
    IPSEC_MODE_TRANSPORT, IPSEC_MODE_TUNNEL,
};
use crate::ffi::{
    as_mut, as_ref, boundary, free_in_place, in_slice, to_raw, try_some, write, write_text,
};
use crate::result::ipsec_result;

/// ISAKMP encryption: DES.
pub const IPSEC_IKE_CIPHER_DES: u32 = 1;
/// ISAKMP encryption: 3DES.
pub const IPSEC_IKE_CIPHER_3DES: u32 = 2;
/// ISAKMP encryption: AES-128.
pub const IPSEC_IKE_CIPHER_AES128: u32 = 3;
/// ISAKMP encryption: AES-192.
pub const IPSEC_IKE_CIPHER_AES192: u32 = 4;
/// ISAKMP encryption: AES-256.
pub const IPSEC_IKE_CIPHER_AES256: u32 = 5;

/// ISAKMP hash: MD5.
pub const IPSEC_IKE_HASH_MD5: u32 = 1;
/// ISAKMP hash: SHA-1 (IOS `sha`).
pub const IPSEC_IKE_HASH_SHA1: u32 = 2;
/// ISAKMP hash: SHA-256.
pub const IPSEC_IKE_HASH_SHA256: u32 = 3;
/// ISAKMP hash: SHA-384.
pub const IPSEC_IKE_HASH_SHA384: u32 = 4;
/// ISAKMP hash: SHA-512.
pub const IPSEC_IKE_HASH_SHA512: u32 = 5;

/// One peer with pre-shared key authentication, one ISAKMP policy, one transform set and one
/// crypto ACL line (IOS `crypto isakmp policy`, `crypto isakmp key`, `crypto ipsec
/// transform-set` and a `crypto map` entry, reduced to their essentials). Addresses are IPv4 in
/// network order; zero fields take the IOS defaults noted per field.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipsec_peer_params {
    /// The peer's address (`set peer`); 0.0.0.0 makes a responder-only wildcard entry.
    pub peer_addr: [u8; 4],
    /// Our address towards the peer; 0.0.0.0 = learn it from the first answer.
    pub local_addr: [u8; 4],
    /// Pre-shared key bytes (`crypto isakmp key`).
    pub psk: *const u8,
    /// Length of `psk`.
    pub psk_len: usize,
    /// `IPSEC_IKE_CIPHER_*`.
    pub ike_cipher: u32,
    /// `IPSEC_IKE_HASH_*`.
    pub ike_hash: u32,
    /// Diffie-Hellman group (1, 2, 5, 14, ...).
    pub dh_group: u32,
    /// ISAKMP SA lifetime in seconds; 0 = 86400.
    pub ike_lifetime_secs: u32,
    /// `IPSEC_ESP_CIPHER_*`.
    pub esp_cipher: u32,
    /// `IPSEC_ESP_INTEG_*`.
    pub esp_integ: u32,
    /// `IPSEC_MODE_*`.
    pub mode: u32,
    /// `set pfs groupN`; 0 = no PFS.
    pub pfs_group: u32,
    /// IPsec SA lifetime in seconds; 0 = 3600.
    pub lifetime_secs: u32,
    /// IPsec SA lifetime in kilobytes; 0 = 4608000.
    pub lifetime_kb: u64,
    /// Our protected network (crypto ACL source).
    pub local_net: [u8; 4],
    /// Its prefix length (0-32).
    pub local_prefix: u8,
    /// The peer's protected network (crypto ACL destination).
    pub remote_net: [u8; 4],
    /// Its prefix length (0-32).
    pub remote_prefix: u8,
}

/// Presentation details for show output that the protocol configuration does not carry.
#[derive(Clone, Debug)]
pub(crate) struct ShowMeta {
    pub interface: String,
    pub map_tag: String,
    pub local_addr: Option<Ipv4Addr>,
}

/// Endpoint configuration (opaque): peers, NAT-T, DPD, anti-replay window.
#[derive(Clone, Debug)]
pub struct ipsec_config {
    pub(crate) endpoint: EndpointConfig,
    pub(crate) replay_window: u32,
    pub(crate) show: ShowMeta,
}

impl Default for ipsec_config {
    fn default() -> Self {
        ipsec_config {
            endpoint: EndpointConfig::default(),
            replay_window: 64,
            show: ShowMeta {
                interface: "ipsec0".into(),
                map_tag: "ipsec".into(),
                local_addr: None,
            },
        }
    }
}

fn prefix_mask(prefix: u8) -> Option<Ipv4Addr> {
    match prefix {
        0 => Some(Ipv4Addr::UNSPECIFIED),
        1..=32 => Some(Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix)))),
        _ => None,
    }
}

/// Converts the C parameters; `Err` carries the result code to return.
///
/// # Safety
/// `p.psk` is NULL or points to `p.psk_len` readable bytes.
pub(crate) unsafe fn peer_from_params(p: &ipsec_peer_params) -> Result<PeerConfig, ipsec_result> {
    let bad = ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
    // SAFETY: forwarded caller contract for the key buffer.
    let psk =
        unsafe { in_slice(p.psk, p.psk_len) }.ok_or(ipsec_result::IPSEC_RESULT_NULL_PARAMETER)?;
    if psk.is_empty() {
        return Err(ipsec_result::IPSEC_RESULT_INVALID_CONFIG);
    }
    let encryption = match p.ike_cipher {
        IPSEC_IKE_CIPHER_DES => IkeEncryption::Des,
        IPSEC_IKE_CIPHER_3DES => IkeEncryption::TripleDes,
        IPSEC_IKE_CIPHER_AES128 => IkeEncryption::Aes { bits: 128 },
        IPSEC_IKE_CIPHER_AES192 => IkeEncryption::Aes { bits: 192 },
        IPSEC_IKE_CIPHER_AES256 => IkeEncryption::Aes { bits: 256 },
        _ => return Err(bad),
    };
    let hash = match p.ike_hash {
        IPSEC_IKE_HASH_MD5 => IkeHash::Md5,
        IPSEC_IKE_HASH_SHA1 => IkeHash::Sha1,
        IPSEC_IKE_HASH_SHA256 => IkeHash::Sha256,
        IPSEC_IKE_HASH_SHA384 => IkeHash::Sha384,
        IPSEC_IKE_HASH_SHA512 => IkeHash::Sha512,
        _ => return Err(bad),
    };
    let group = u16::try_from(p.dh_group).map_err(|_| bad)?;
    let esp_encryption = match p.esp_cipher {
        IPSEC_ESP_CIPHER_NULL => EspEncryption::Null,
        IPSEC_ESP_CIPHER_DES => EspEncryption::Des,
        IPSEC_ESP_CIPHER_3DES => EspEncryption::TripleDes,
        IPSEC_ESP_CIPHER_AES128 => EspEncryption::Aes128,
        IPSEC_ESP_CIPHER_AES192 => EspEncryption::Aes192,
        IPSEC_ESP_CIPHER_AES256 => EspEncryption::Aes256,
        IPSEC_ESP_CIPHER_AESGCM128 => EspEncryption::AesGcm128,
        IPSEC_ESP_CIPHER_AESGCM192 => EspEncryption::AesGcm192,
        IPSEC_ESP_CIPHER_AESGCM256 => EspEncryption::AesGcm256,
        _ => return Err(bad),
    };
    let esp_integrity = match p.esp_integ {
        IPSEC_ESP_INTEG_NONE => EspIntegrity::None,
        IPSEC_ESP_INTEG_MD5_96 => EspIntegrity::Md5,
        IPSEC_ESP_INTEG_SHA1_96 => EspIntegrity::Sha1,
        IPSEC_ESP_INTEG_SHA256_128 => EspIntegrity::Sha256,
        IPSEC_ESP_INTEG_SHA384_192 => EspIntegrity::Sha384,
        IPSEC_ESP_INTEG_SHA512_256 => EspIntegrity::Sha512,
        _ => return Err(bad),
    };
    // GCM authenticates by itself; a separate integrity algorithm would be a second ICV.
    if esp_encryption.is_aead() && esp_integrity != EspIntegrity::None {
        return Err(bad);
    }
    let mode = match p.mode {
        IPSEC_MODE_TUNNEL => EspMode::Tunnel,
        IPSEC_MODE_TRANSPORT => EspMode::Transport,
        _ => return Err(bad),
    };
    let local_mask = prefix_mask(p.local_prefix).ok_or(bad)?;
    let remote_mask = prefix_mask(p.remote_prefix).ok_or(bad)?;
    let mut peer = PeerConfig::new(Ipv4Addr::from(p.peer_addr), PskSecret::new(psk));
    let local = Ipv4Addr::from(p.local_addr);
    peer.local_address = (!local.is_unspecified()).then_some(local);
    peer.isakmp_policies = vec![IsakmpPolicy {
        priority: 1,
        encryption,
        hash,
        authentication: IkeAuth::PreShare,
        group,
        lifetime_secs: if p.ike_lifetime_secs == 0 {
            IsakmpPolicy::DEFAULT_LIFETIME_SECS
        } else {
            p.ike_lifetime_secs
        },
    }];
    peer.transform_sets = vec![TransformSet {
        name: "ipsec".into(),
        esp_encryption,
        esp_integrity,
        mode,
    }];
    peer.pfs_group = if p.pfs_group == 0 {
        None
    } else {
        Some(u16::try_from(p.pfs_group).map_err(|_| bad)?)
    };
    if p.lifetime_secs != 0 {
        peer.lifetime_secs = p.lifetime_secs;
    }
    if p.lifetime_kb != 0 {
        peer.lifetime_kb = p.lifetime_kb;
    }
    peer.selectors = vec![SelectorPair {
        local: TrafficSelector::subnet(Ipv4Addr::from(p.local_net), local_mask),
        remote: TrafficSelector::subnet(Ipv4Addr::from(p.remote_net), remote_mask),
    }];
    Ok(peer)
}

/// Why an IOS configuration cannot drive an endpoint, with the line to blame (0 = none).
#[derive(Debug)]
pub(crate) struct Unusable {
    pub line: usize,
    pub message: String,
}

/// Builds an endpoint configuration from a parsed IOS configuration with
/// [`EndpointConfig::from_gateway`]: the crypto map applied to an interface (the first such
/// interface; without one, the first map) becomes one peer per entry. Entries without `set peer`
/// stay disabled as in IOS; an entry whose peer has no key, or that names a missing transform
/// set, makes the configuration unusable (the caller gets the entry's line).
pub(crate) fn from_gateway(
    g: &GatewayConfig,
    origins: &ipsec_proto::ios::config::Origins,
) -> Result<ipsec_config, Unusable> {
    let applied = g
        .interfaces
        .iter()
        .find_map(|i| i.crypto_map.as_deref().map(|m| (m, i)));
    let map = match applied {
        Some((m, _)) => m.to_string(),
        None => match g.crypto_maps.first() {
            Some(e) => e.map.clone(),
            None => {
                return Err(Unusable {
                    line: 0,
                    message: "no crypto map".into(),
                })
            }
        },
    };
    let (endpoint, _seqs, issues) = EndpointConfig::from_gateway(g, &map);
    let line_of = |seq: u16| origins.line(&Item::MapEntry(map.clone(), seq)).unwrap_or(0);
    for issue in &issues {
        let (seq, message) = match issue {
            GatewayConfigIssue::NoPeer { .. } => continue,
            GatewayConfigIssue::NoKey { seq, peer } => (
                *seq,
                format!("crypto map {map} {seq}: no crypto isakmp key for peer {peer}"),
            ),
            GatewayConfigIssue::UnknownTransformSet { seq, name } => (
                *seq,
                format!("crypto map {map} {seq}: transform set {name} does not exist"),
            ),
            other => (0, format!("crypto map {map}: {other:?}")),
        };
        return Err(Unusable {
            line: line_of(seq),
            message,
        });
    }
    if endpoint.peers.is_empty() {
        return Err(Unusable {
            line: 0,
            message: format!("crypto map {map} has no entry with set peer"),
        });
    }
    Ok(ipsec_config {
        endpoint,
        replay_window: g.ipsec.replay_window,
        show: ShowMeta {
            interface: applied.map_or_else(|| "ipsec0".into(), |(_, i)| i.name.clone()),
            map_tag: map.clone(),
            local_addr: applied.and_then(|(_, i)| i.address.map(|(a, _)| a)),
        },
    })
}

/// Creates an empty configuration (no peers, NAT-T on, no DPD, replay window 64).
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_config_new(out: *mut *mut ipsec_config) -> ipsec_result {
    boundary(|| {
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: checked non-NULL.
        unsafe { write(out, to_raw(ipsec_config::default())) };
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Parses IOS configuration text (`len` bytes, UTF-8, need not be NUL-terminated) into a
/// configuration: one peer per complete entry of the crypto map applied to an interface.
///
/// On `IPSEC_RESULT_CONFIG_SYNTAX`, `*err_line` and `*err_col` (both may be NULL) receive the
/// 1-based position of the offending token; on `IPSEC_RESULT_INVALID_CONFIG` (text parses but
/// cannot drive an endpoint, e.g. a peer without key) they receive the crypto map entry's line
/// and column 1, or 0 when no line is to blame. They are not written on success.
///
/// # Safety
/// `text` points to `len` readable bytes; `out` writable; `err_line`/`err_col` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_config_from_ios(
    text: *const u8,
    len: usize,
    out: *mut *mut ipsec_config,
    err_line: *mut usize,
    err_col: *mut usize,
) -> ipsec_result {
    boundary(|| {
        if out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: caller contract for the text buffer.
        let bytes = try_some!(unsafe { in_slice(text, len) });
        let Ok(text) = std::str::from_utf8(bytes) else {
            return ipsec_result::IPSEC_RESULT_INVALID_UTF8;
        };
        let report = |line: usize, col: usize| {
            if !err_line.is_null() {
                // SAFETY: non-NULL optional out-parameter, writable by contract.
                unsafe { write(err_line, line) };
            }
            if !err_col.is_null() {
                // SAFETY: as above.
                unsafe { write(err_col, col) };
            }
        };
        let parsed = match parse_ios(text) {
            Ok(p) => p,
            Err(e) => {
                report(e.line, e.column);
                return ipsec_result::IPSEC_RESULT_CONFIG_SYNTAX;
            }
        };
        match from_gateway(&parsed.config, &parsed.origins) {
            Ok(cfg) => {
                // SAFETY: checked non-NULL.
                unsafe { write(out, to_raw(cfg)) };
                ipsec_result::IPSEC_RESULT_OK
            }
            Err(u) => {
                report(u.line, usize::from(u.line != 0));
                ipsec_result::IPSEC_RESULT_INVALID_CONFIG
            }
        }
    })
}

/// Explains why `ipsec_config_from_ios` refuses `text`: renders "line L, column C: reason" into
/// `buf` like `ipsec_result_message` and returns `IPSEC_RESULT_OK` when the text would be
/// accepted (the message is then empty). Other results are those of writing the message.
///
/// # Safety
/// `text` points to `len` readable bytes; `buf` `cap` writable bytes (or NULL with 0); `out_len`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_config_explain_ios(
    text: *const u8,
    len: usize,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract for the text buffer.
        let bytes = try_some!(unsafe { in_slice(text, len) });
        let msg = match std::str::from_utf8(bytes) {
            Err(e) => format!("not UTF-8: {e}"),
            Ok(text) => match parse_ios(text) {
                Err(e) => e.to_string(),
                Ok(parsed) => match from_gateway(&parsed.config, &parsed.origins) {
                    Ok(_) => String::new(),
                    Err(u) if u.line != 0 => format!("line {}: {}", u.line, u.message),
                    Err(u) => u.message,
                },
            },
        };
        // SAFETY: forwarded caller contract.
        unsafe { write_text(&msg, buf, cap, out_len) }
    })
}

/// Appends a peer; `*out_peer` (may be NULL) receives its index for `ipsec_endpoint_initiate`.
///
/// # Safety
/// `cfg` a live handle; `params` readable (and its `psk` valid); `out_peer` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_config_add_peer(
    cfg: *mut ipsec_config,
    params: *const ipsec_peer_params,
    out_peer: *mut u32,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let cfg = try_some!(unsafe { as_mut(cfg) });
        // SAFETY: caller contract.
        let params = try_some!(unsafe { as_ref(params) });
        // SAFETY: the struct's key pointer is valid by contract.
        let peer = match unsafe { peer_from_params(params) } {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Ok(index) = u32::try_from(cfg.endpoint.peers.len()) else {
            return ipsec_result::IPSEC_RESULT_INVALID_CONFIG;
        };
        cfg.endpoint.peers.push(peer);
        if !out_peer.is_null() {
            // SAFETY: non-NULL optional out-parameter.
            unsafe { write(out_peer, index) };
        }
        ipsec_result::IPSEC_RESULT_OK
    })
}

/// Number of peers (0 for NULL).
///
/// # Safety
/// `cfg` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ipsec_config_peer_count(cfg: *const ipsec_config) -> u32 {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { as_ref(cfg) }.map_or(0, |c| {
            u32::try_from(c.endpoint.peers.len()).unwrap_or(u32::MAX)
        })
    })
}

/// Frees the configuration and sets `*cfg` to NULL. Endpoints made from it keep their own copy.
///
/// # Safety
/// `cfg` NULL, or points to NULL or a handle from this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn ipsec_config_free(cfg: *mut *mut ipsec_config) {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe { free_in_place(cfg) }
    })
}
