//! Phase-1 configuration: ISAKMP policies (protection suites) and pre-shared keys.

use std::fmt;
use std::net::Ipv4Addr;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Phase-1 encryption algorithm of an ISAKMP policy (`encryption` in `config-isakmp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IkeEncryption {
    /// DES-CBC (56-bit keys), the IOS default.
    Des,
    /// Three-key triple DES (`3des`).
    TripleDes,
    /// AES-CBC with the given key size in bits (128, 192 or 256; plain `aes` is 128).
    Aes {
        /// Key length in bits.
        bits: u16,
    },
}

impl IkeEncryption {
    /// Keyword IOS prints in running-config after `encr`.
    pub fn ios_keyword(&self) -> String {
        match self {
            IkeEncryption::Des => "des".into(),
            IkeEncryption::TripleDes => "3des".into(),
            IkeEncryption::Aes { bits: 128 } => "aes".into(),
            IkeEncryption::Aes { bits } => format!("aes {bits}"),
        }
    }
}

/// Phase-1 hash (PRF/authentication hash) of an ISAKMP policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IkeHash {
    /// MD5 (`md5`).
    Md5,
    /// SHA-1 (`sha`), the IOS default.
    Sha1,
    /// SHA-256 (`sha256`).
    Sha256,
    /// SHA-384 (`sha384`).
    Sha384,
    /// SHA-512 (`sha512`).
    Sha512,
}

impl IkeHash {
    /// Keyword used in the `hash` command.
    pub fn ios_keyword(&self) -> &'static str {
        match self {
            IkeHash::Md5 => "md5",
            IkeHash::Sha1 => "sha",
            IkeHash::Sha256 => "sha256",
            IkeHash::Sha384 => "sha384",
            IkeHash::Sha512 => "sha512",
        }
    }
}

/// Phase-1 authentication method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IkeAuth {
    /// Pre-shared key (`pre-share`).
    PreShare,
    /// RSA signatures (`rsa-sig`), the IOS default.
    RsaSig,
    /// RSA encrypted nonces (`rsa-encr`).
    RsaEncr,
}

impl IkeAuth {
    /// Keyword used in the `authentication` command.
    pub fn ios_keyword(&self) -> &'static str {
        match self {
            IkeAuth::PreShare => "pre-share",
            IkeAuth::RsaSig => "rsa-sig",
            IkeAuth::RsaEncr => "rsa-encr",
        }
    }
}

/// One `crypto isakmp policy <priority>` protection suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsakmpPolicy {
    /// Priority 1..=10000; lower numbers are offered and checked first.
    pub priority: u16,
    /// Encryption algorithm.
    pub encryption: IkeEncryption,
    /// Hash algorithm.
    pub hash: IkeHash,
    /// Authentication method.
    pub authentication: IkeAuth,
    /// Diffie-Hellman (MODP/ECP) group number as configured; checked by [`crate::policy::GatewayConfig::validate`].
    pub group: u16,
    /// ISAKMP SA lifetime in seconds.
    pub lifetime_secs: u32,
}

impl IsakmpPolicy {
    /// IOS default ISAKMP lifetime.
    pub const DEFAULT_LIFETIME_SECS: u32 = 86_400;

    /// A policy with the IOS defaults (DES, SHA-1, rsa-sig, group 1, 86400 s), as created by
    /// `crypto isakmp policy <priority>` before any sub-command.
    pub fn new(priority: u16) -> Self {
        IsakmpPolicy {
            priority,
            encryption: IkeEncryption::Des,
            hash: IkeHash::Sha1,
            authentication: IkeAuth::RsaSig,
            group: 1,
            lifetime_secs: Self::DEFAULT_LIFETIME_SECS,
        }
    }

    /// The "Default protection suite" IOS always has after the configured ones.
    pub fn default_suite() -> Self {
        Self::new(65_535)
    }
}

/// Groups this stack knows by number (MODP 1, 2, 5, 14-16 and ECP 19-21, MODP 24).
pub const KNOWN_GROUPS: &[u16] = &[1, 2, 5, 14, 15, 16, 19, 20, 21, 24];

/// Modulus (or curve) size in bits of a group, as printed by `show crypto isakmp policy`.
pub fn group_bits(group: u16) -> Option<u16> {
    Some(match group {
        1 => 768,
        2 => 1024,
        5 => 1536,
        14 => 2048,
        15 => 3072,
        16 => 4096,
        19 => 256,
        20 => 384,
        21 => 521,
        24 => 2048,
        _ => return None,
    })
}

/// How IOS describes a group in `show crypto isakmp policy` and the `group ?` help: the size,
/// with `ecp` for the elliptic curves and the subgroup size for group 24.
pub fn group_description(group: u16) -> Option<String> {
    let bits = group_bits(group)?;
    Some(match group {
        19..=21 => format!("{bits} bit ecp"),
        24 => format!("{bits} bit, 256 bit subgroup"),
        _ => format!("{bits} bit"),
    })
}

/// Secret bytes of a pre-shared key: wiped on drop, never printed by `Debug`.
#[derive(Clone)]
pub struct PskSecret(Zeroizing<Vec<u8>>);

impl PskSecret {
    /// Wraps key bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        PskSecret(Zeroizing::new(bytes.into()))
    }

    /// The key bytes (the IKE key derivation needs them).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PskSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PskSecret(<redacted, {} bytes>)", self.0.len())
    }
}

impl PartialEq for PskSecret {
    fn eq(&self, other: &Self) -> bool {
        // Keys are compared when reloading configuration; no need to leak the common prefix length.
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for PskSecret {}

/// How the key string was written in the configuration (`crypto isakmp key [0|6]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyEncoding {
    /// Type 0 (or no type): the key string is the key.
    Clear,
    /// Type 6: the key string is AES-encrypted with the router's master key, which we do not have;
    /// such a key cannot be used for authentication and is kept only to render it back.
    Type6,
}

/// Which peers a pre-shared key applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PskPeer {
    /// `address A [M]`: peers whose address matches A under mask M (255.255.255.255 when omitted).
    Address {
        /// Peer address.
        addr: Ipv4Addr,
        /// Network mask (not a wildcard).
        mask: Ipv4Addr,
    },
    /// `hostname H`: peers identifying with ID_FQDN H (aggressive mode / hostname identity).
    Hostname(String),
}

/// One `crypto isakmp key` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreSharedKey {
    /// The key.
    pub key: PskSecret,
    /// How the key was written.
    pub encoding: KeyEncoding,
    /// Peers it applies to.
    pub peer: PskPeer,
    /// `no-xauth`.
    pub no_xauth: bool,
}

impl PreSharedKey {
    /// Prefix length of an address key's mask (None for hostname keys or non-contiguous masks).
    pub fn prefix_len(&self) -> Option<u32> {
        match &self.peer {
            PskPeer::Address { mask, .. } => mask_prefix_len(*mask),
            PskPeer::Hostname(_) => None,
        }
    }

    /// Whether this is an address key covering `peer`.
    pub fn matches_addr(&self, peer: Ipv4Addr) -> bool {
        match &self.peer {
            PskPeer::Address { addr, mask } => {
                let m = u32::from(*mask);
                u32::from(*addr) & m == u32::from(peer) & m
            }
            PskPeer::Hostname(_) => false,
        }
    }
}

/// Prefix length of a contiguous netmask, None when the mask has holes.
pub fn mask_prefix_len(mask: Ipv4Addr) -> Option<u32> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones)
    } else {
        None
    }
}

/// Finds the key for a peer address: the address key with the longest mask wins
/// (`0.0.0.0 0.0.0.0` is the wildcard key). Type-6 keys are skipped because their clear text is unknown.
pub fn lookup_key(keys: &[PreSharedKey], peer: Ipv4Addr) -> Option<&PreSharedKey> {
    keys.iter()
        .filter(|k| k.encoding == KeyEncoding::Clear && k.matches_addr(peer))
        .max_by_key(|k| match &k.peer {
            PskPeer::Address { mask, .. } => u32::from(*mask).count_ones(),
            PskPeer::Hostname(_) => 0,
        })
}

/// Finds the key configured for an FQDN identity (`crypto isakmp key K hostname H`), case-insensitively.
pub fn lookup_key_by_hostname<'a>(
    keys: &'a [PreSharedKey],
    fqdn: &str,
) -> Option<&'a PreSharedKey> {
    keys.iter().find(|k| {
        k.encoding == KeyEncoding::Clear
            && matches!(&k.peer, PskPeer::Hostname(h) if h.eq_ignore_ascii_case(fqdn))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str, a: [u8; 4], m: [u8; 4]) -> PreSharedKey {
        PreSharedKey {
            key: PskSecret::new(k.as_bytes()),
            encoding: KeyEncoding::Clear,
            peer: PskPeer::Address {
                addr: a.into(),
                mask: m.into(),
            },
            no_xauth: false,
        }
    }

    #[test]
    fn defaults_are_ios_defaults() {
        let p = IsakmpPolicy::new(1);
        assert_eq!(p.encryption, IkeEncryption::Des);
        assert_eq!(p.hash, IkeHash::Sha1);
        assert_eq!(p.authentication, IkeAuth::RsaSig);
        assert_eq!(p.group, 1);
        assert_eq!(p.lifetime_secs, 86400);
    }

    #[test]
    fn longest_mask_wins_and_wildcard_catches_rest() {
        let keys = vec![
            key("wild", [0, 0, 0, 0], [0, 0, 0, 0]),
            key("net", [203, 0, 113, 0], [255, 255, 255, 0]),
            key("host", [203, 0, 113, 2], [255, 255, 255, 255]),
        ];
        let k = |a: [u8; 4]| lookup_key(&keys, a.into()).map(|k| k.key.expose().to_vec());
        assert_eq!(k([203, 0, 113, 2]), Some(b"host".to_vec()));
        assert_eq!(k([203, 0, 113, 3]), Some(b"net".to_vec()));
        assert_eq!(k([8, 8, 8, 8]), Some(b"wild".to_vec()));
        assert_eq!(lookup_key(&keys[1..], [8, 8, 8, 8].into()), None);
    }

    #[test]
    fn debug_redacts_key() {
        let k = key("supersecret", [1, 2, 3, 4], [255; 4]);
        let s = format!("{k:?}");
        assert!(!s.contains("supersecret"), "{s}");
        assert!(s.contains("redacted"));
    }

    #[test]
    fn prefix_len() {
        assert_eq!(mask_prefix_len([255, 255, 255, 0].into()), Some(24));
        assert_eq!(mask_prefix_len([0, 0, 0, 0].into()), Some(0));
        assert_eq!(mask_prefix_len([255, 255, 255, 255].into()), Some(32));
        assert_eq!(mask_prefix_len([255, 0, 255, 0].into()), None);
    }
}
