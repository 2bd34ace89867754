//! Phase-2 configuration: transform sets, crypto map entries and global IPsec settings.

use std::net::Ipv4Addr;

/// ESP encryption transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EspEncryption {
    /// `esp-des`.
    Des,
    /// `esp-3des`.
    TripleDes,
    /// `esp-aes` (128-bit key).
    Aes128,
    /// `esp-aes 192`.
    Aes192,
    /// `esp-aes 256`.
    Aes256,
    /// `esp-null`.
    Null,
    /// `esp-gcm` (AES-128-GCM, 16-byte ICV, RFC 4106): a combined mode, alone in its set.
    AesGcm128,
    /// `esp-gcm 192`.
    AesGcm192,
    /// `esp-gcm 256`.
    AesGcm256,
}

impl EspEncryption {
    /// IOS transform keyword(s), as in `crypto ipsec transform-set` and show output.
    pub fn ios_name(&self) -> &'static str {
        match self {
            EspEncryption::Des => "esp-des",
            EspEncryption::TripleDes => "esp-3des",
            EspEncryption::Aes128 => "esp-aes",
            EspEncryption::Aes192 => "esp-aes 192",
            EspEncryption::Aes256 => "esp-aes 256",
            EspEncryption::Null => "esp-null",
            EspEncryption::AesGcm128 => "esp-gcm",
            EspEncryption::AesGcm192 => "esp-gcm 192",
            EspEncryption::AesGcm256 => "esp-gcm 256",
        }
    }

    /// Whether this is a combined-mode cipher, which authenticates by itself (the transform set
    /// then has no integrity transform).
    pub fn is_aead(&self) -> bool {
        matches!(
            self,
            EspEncryption::AesGcm128 | EspEncryption::AesGcm192 | EspEncryption::AesGcm256
        )
    }

    /// Cipher block size in bytes (1 for NULL, which pads to 4 bytes only).
    pub fn block_size(&self) -> u16 {
        match self {
            EspEncryption::Des | EspEncryption::TripleDes => 8,
            EspEncryption::Aes128 | EspEncryption::Aes192 | EspEncryption::Aes256 => 16,
            EspEncryption::Null
            | EspEncryption::AesGcm128
            | EspEncryption::AesGcm192
            | EspEncryption::AesGcm256 => 4,
        }
    }

    /// ICV bytes a combined-mode cipher appends (its tag), 0 for the others.
    pub fn icv_len(&self) -> u16 {
        if self.is_aead() {
            16
        } else {
            0
        }
    }

    /// IV length carried in each ESP packet.
    pub fn iv_len(&self) -> u16 {
        match self {
            EspEncryption::Null => 0,
            EspEncryption::AesGcm128 | EspEncryption::AesGcm192 | EspEncryption::AesGcm256 => 8,
            other => other.block_size(),
        }
    }
}

/// ESP integrity transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EspIntegrity {
    /// No integrity (encryption-only transform set; no anti-replay).
    None,
    /// `esp-md5-hmac` (HMAC-MD5-96).
    Md5,
    /// `esp-sha-hmac` (HMAC-SHA1-96).
    Sha1,
    /// `esp-sha256-hmac` (HMAC-SHA256-128).
    Sha256,
    /// `esp-sha384-hmac` (HMAC-SHA384-192).
    Sha384,
    /// `esp-sha512-hmac` (HMAC-SHA512-256).
    Sha512,
}

impl EspIntegrity {
    /// IOS transform keyword, None for no integrity.
    pub fn ios_name(&self) -> Option<&'static str> {
        Some(match self {
            EspIntegrity::None => return None,
            EspIntegrity::Md5 => "esp-md5-hmac",
            EspIntegrity::Sha1 => "esp-sha-hmac",
            EspIntegrity::Sha256 => "esp-sha256-hmac",
            EspIntegrity::Sha384 => "esp-sha384-hmac",
            EspIntegrity::Sha512 => "esp-sha512-hmac",
        })
    }

    /// Truncated ICV length in bytes.
    pub fn icv_len(&self) -> u16 {
        match self {
            EspIntegrity::None => 0,
            EspIntegrity::Md5 | EspIntegrity::Sha1 => 12,
            EspIntegrity::Sha256 => 16,
            EspIntegrity::Sha384 => 24,
            EspIntegrity::Sha512 => 32,
        }
    }
}

/// ESP encapsulation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EspMode {
    /// Tunnel mode, the IOS default.
    #[default]
    Tunnel,
    /// Transport mode.
    Transport,
}

/// `crypto ipsec transform-set NAME ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformSet {
    /// Transform set name.
    pub name: String,
    /// ESP encryption.
    pub esp_encryption: EspEncryption,
    /// ESP integrity.
    pub esp_integrity: EspIntegrity,
    /// Mode.
    pub mode: EspMode,
}

impl TransformSet {
    /// The transforms as IOS prints them, e.g. `esp-3des esp-sha-hmac` or `esp-aes 256 esp-sha-hmac`.
    pub fn display_transforms(&self) -> String {
        match self.esp_integrity.ios_name() {
            Some(i) => format!("{} {}", self.esp_encryption.ios_name(), i),
            None => self.esp_encryption.ios_name().to_string(),
        }
    }
}

/// `crypto ipsec profile NAME`: the IPsec policy of a VTI (`tunnel protection ipsec profile`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpsecProfile {
    /// Profile name.
    pub name: String,
    /// `set transform-set` names, offered in this order.
    pub transform_sets: Vec<String>,
    /// `set pfs [groupN]`.
    pub pfs_group: Option<u16>,
    /// `set security-association lifetime seconds`, overriding the global value.
    pub lifetime_secs: Option<u32>,
    /// `set security-association lifetime kilobytes`, overriding the global value.
    pub lifetime_kb: Option<u64>,
    /// `set security-association replay window-size N | disable` (`Some(0)`: disabled).
    pub replay_window: Option<u32>,
    /// `set isakmp-profile NAME`.
    pub isakmp_profile: Option<String>,
}

/// `crypto map NAME SEQ ipsec-isakmp` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoMapEntry {
    /// Map name (`crypto map NAME` on the interface refers to it).
    pub map: String,
    /// Sequence number 1..=65535; lower numbers are checked first.
    pub seq: u16,
    /// `set peer` addresses in order; the first is the current (default) peer, the others are backups.
    pub peers: Vec<Ipv4Addr>,
    /// `set peer A default`: `peers[0]` is the default peer, to which IOS returns after a
    /// backup fails (instead of moving on to the next backup).
    pub default_peer: bool,
    /// `set transform-set` names, offered in this order.
    pub transform_sets: Vec<String>,
    /// `set pfs [groupN]` (bare `set pfs` = group 1); None = no PFS.
    pub pfs_group: Option<u16>,
    /// `set security-association lifetime seconds`, overriding the global value.
    pub lifetime_secs: Option<u32>,
    /// `set security-association lifetime kilobytes`, overriding the global value;
    /// `Some(`[`KILOBYTES_DISABLED`]`)` for `... kilobytes disable`.
    pub lifetime_kb: Option<u64>,
    /// `set security-association idle-time S [default]`, overriding the global idle time.
    pub idle_time: Option<IdleTime>,
    /// `match address` ACL name or number.
    pub acl: Option<String>,
    /// `reverse-route [static]` (reverse route injection); `None` without it.
    pub reverse_route: Option<ReverseRoute>,
    /// `set reverse-route tag N` (None: no tag, 0 on the wire).
    pub reverse_route_tag: Option<u32>,
    /// `set reverse-route distance N` (None: the IOS default, 1).
    pub reverse_route_distance: Option<u8>,
    /// `crypto map M N ipsec-isakmp dynamic NAME`: the entry answers unnamed peers with the
    /// entries of dynamic map NAME.
    pub dynamic: Option<String>,
    /// `set security-association replay window-size N` (`Some(N)`) or `... replay disable`
    /// (`Some(0)`), overriding the global window.
    pub replay_window: Option<u32>,
    /// `set isakmp-profile NAME`.
    pub isakmp_profile: Option<String>,
}

impl CryptoMapEntry {
    /// An empty entry as created by `crypto map NAME SEQ ipsec-isakmp`.
    pub fn new(map: impl Into<String>, seq: u16) -> Self {
        CryptoMapEntry {
            map: map.into(),
            seq,
            peers: Vec::new(),
            default_peer: false,
            transform_sets: Vec::new(),
            pfs_group: None,
            lifetime_secs: None,
            lifetime_kb: None,
            idle_time: None,
            acl: None,
            reverse_route: None,
            reverse_route_tag: None,
            reverse_route_distance: None,
            dynamic: None,
            replay_window: None,
            isakmp_profile: None,
        }
    }

    /// The peer negotiations start with.
    pub fn current_peer(&self) -> Option<Ipv4Addr> {
        self.peers.first().copied()
    }
}

/// The kilobyte lifetime meaning "no volume lifetime" (`set security-association lifetime
/// kilobytes disable`, `crypto ipsec security-association lifetime kilobytes disable`).
///
/// A kilobyte lifetime is a `u64` everywhere it travels (configuration, Quick Mode offers, the
/// negotiated [`crate::ike::Phase2Established::lifetime_kb`], the endpoint's child SAs); this one
/// value, never a real limit (IOS accepts at most 4294967295), stands for "none": no life type
/// kilobytes attribute is proposed, nothing rekeys or expires on volume, and a peer's proposed
/// kilobyte lifetime is adopted as it is (the minimum of "none" and theirs). Use
/// [`volume_limit`] to turn it into an `Option`.
pub const KILOBYTES_DISABLED: u64 = u64::MAX;

/// A kilobyte lifetime as an `Option`: `None` for [`KILOBYTES_DISABLED`].
pub fn volume_limit(kb: u64) -> Option<u64> {
    (kb != KILOBYTES_DISABLED).then_some(kb)
}

/// `set security-association idle-time S [default]` / `crypto ipsec security-association
/// idle-time S [default]`: an IPsec SA pair that carried no traffic either way for `secs`
/// seconds is deleted (a Delete goes to the peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleTime {
    /// Seconds without traffic (IOS: 60-86400).
    pub secs: u32,
    /// `default`: an entry on a backup peer returns to its first `set peer` when a pair is
    /// deleted for idling.
    pub default_peer: bool,
}

/// `reverse-route` in a crypto map or dynamic map entry: which networks the gateway publishes
/// as routes towards the tunnel, where routing daemons see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ReverseRoute {
    /// `reverse-route` (also `reverse-route remote-peer ...`): the remote proxy networks of
    /// each IPsec SA pair, while the pair exists.
    #[default]
    WhileUp,
    /// `reverse-route static`: the crypto ACL's destinations, from the moment the map is
    /// applied, SA or not (static crypto maps only).
    Static,
}

impl ReverseRoute {
    /// Administrative distance of injected routes without `set reverse-route distance`.
    pub const DEFAULT_DISTANCE: u8 = 1;
}

/// `crypto ipsec df-bit clear|set|copy` (globally, or in an interface carrying a crypto map):
/// the DF bit of the outer IPv4 header of tunnel-mode ESP (plain or in UDP). IOS copies the
/// inner packet's bit by default; `clear` lets the path fragment the ESP packets (sites whose
/// path MTU discovery is broken), `set` forbids it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DfBit {
    /// `copy`: the outer DF is the inner packet's (the IOS default).
    #[default]
    Copy,
    /// `set`: DF always set.
    Set,
    /// `clear`: DF never set.
    Clear,
}

impl DfBit {
    /// The IOS keyword (`clear`, `set`, `copy`).
    pub fn ios_name(self) -> &'static str {
        match self {
            DfBit::Copy => "copy",
            DfBit::Set => "set",
            DfBit::Clear => "clear",
        }
    }

    /// The outer header's DF for a packet whose own DF is `inner_df`.
    pub fn outer_df(self, inner_df: bool) -> bool {
        match self {
            DfBit::Copy => inner_df,
            DfBit::Set => true,
            DfBit::Clear => false,
        }
    }
}

/// DPD sending mode (`crypto isakmp keepalive ... periodic|on-demand`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpdMode {
    /// Send R-U-THERE only when there is outbound traffic and nothing was received for `interval`.
    #[default]
    OnDemand,
    /// Send R-U-THERE every `interval`.
    Periodic,
}

/// RFC 3706 dead peer detection, `crypto isakmp keepalive S [R] [periodic|on-demand]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpdConfig {
    /// Idle interval in seconds (10-3600).
    pub interval_secs: u32,
    /// Retry interval in seconds (2-60, default 2).
    pub retry_secs: u32,
    /// Mode.
    pub mode: DpdMode,
}

impl DpdConfig {
    /// Default retry interval.
    pub const DEFAULT_RETRY_SECS: u32 = 2;
}

/// Global IPsec settings (`crypto ipsec ...` and the NAT-T / keepalive ISAKMP settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpsecGlobals {
    /// `crypto ipsec security-association lifetime seconds` (default 3600).
    pub sa_lifetime_secs: u32,
    /// `crypto ipsec security-association lifetime kilobytes` (default 4608000;
    /// [`KILOBYTES_DISABLED`] for `... kilobytes disable`).
    pub sa_lifetime_kb: u64,
    /// `crypto ipsec security-association idle-time` (None: no idle timer).
    pub sa_idle_time: Option<IdleTime>,
    /// `crypto ipsec security-association replay window-size` (default 64).
    pub replay_window: u32,
    /// `crypto isakmp keepalive` (None = not configured; IOS still answers R-U-THERE).
    pub dpd: Option<DpdConfig>,
    /// `crypto isakmp nat keepalive S` (None = no NAT keepalives).
    pub nat_keepalive_secs: Option<u32>,
    /// NAT traversal enabled (`no crypto ipsec nat-transparency udp-encapsulation` clears it).
    pub nat_t: bool,
    /// Encapsulate ESP in UDP 4500 even when NAT-D finds no NAT (no IOS command: the engine's
    /// `run --force-udp-encaps`, strongSwan's `forceencaps`). See
    /// [`crate::ike::EndpointConfig::force_udp_encaps`].
    pub force_udp_encaps: bool,
    /// `crypto ipsec df-bit clear|set|copy` (default copy); an interface's own
    /// `crypto ipsec df-bit` overrides it for the crypto maps applied there.
    pub df_bit: DfBit,
    /// `crypto isakmp fragmentation [mtu N]`: IKE fragmentation on, fragments of at most N
    /// bytes (IP datagram; default [`crate::ike::FragmentationConfig::DEFAULT_MTU`]). None: off.
    pub ike_fragmentation_mtu: Option<u16>,
}

impl IpsecGlobals {
    /// Default IPsec SA lifetime in seconds.
    pub const DEFAULT_LIFETIME_SECS: u32 = 3600;
    /// Default IPsec SA lifetime in kilobytes.
    pub const DEFAULT_LIFETIME_KB: u64 = 4_608_000;
    /// Default anti-replay window.
    pub const DEFAULT_REPLAY_WINDOW: u32 = 64;
}

impl Default for IpsecGlobals {
    fn default() -> Self {
        IpsecGlobals {
            sa_lifetime_secs: Self::DEFAULT_LIFETIME_SECS,
            sa_lifetime_kb: Self::DEFAULT_LIFETIME_KB,
            sa_idle_time: None,
            replay_window: Self::DEFAULT_REPLAY_WINDOW,
            dpd: None,
            nat_keepalive_secs: None,
            nat_t: true,
            force_udp_encaps: false,
            df_bit: DfBit::Copy,
            ike_fragmentation_mtu: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        let ts = TransformSet {
            name: "T".into(),
            esp_encryption: EspEncryption::TripleDes,
            esp_integrity: EspIntegrity::Sha1,
            mode: EspMode::Tunnel,
        };
        assert_eq!(ts.display_transforms(), "esp-3des esp-sha-hmac");
        let ts = TransformSet {
            esp_encryption: EspEncryption::Aes256,
            ..ts
        };
        assert_eq!(ts.display_transforms(), "esp-aes 256 esp-sha-hmac");
        let ts = TransformSet {
            esp_integrity: EspIntegrity::None,
            ..ts
        };
        assert_eq!(ts.display_transforms(), "esp-aes 256");
    }

    #[test]
    fn globals_defaults() {
        let g = IpsecGlobals::default();
        assert_eq!(
            (g.sa_lifetime_secs, g.sa_lifetime_kb, g.replay_window),
            (3600, 4_608_000, 64)
        );
        assert!(g.nat_t);
        assert_eq!(g.nat_keepalive_secs, None);
    }
}
