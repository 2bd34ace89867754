//! Vendor ID payloads: the known values and their recognition.
//!
//! Values from reference/ikev1-rfc-facts.md §13 (MD5 derivations recomputed there).

/// NAT-T, RFC 3947: MD5("RFC 3947").
pub const NAT_T_RFC3947: [u8; 16] = [
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-00.
pub const NAT_T_DRAFT_00: [u8; 16] = [
    0x44, 0x85, 0x15, 0x2d, 0x18, 0xb6, 0xbb, 0xcd, 0x0b, 0xe8, 0xa8, 0x46, 0x95, 0x79, 0xdd, 0xcc,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-02.
pub const NAT_T_DRAFT_02: [u8; 16] = [
    0xcd, 0x60, 0x46, 0x43, 0x35, 0xdf, 0x21, 0xf8, 0x7c, 0xfd, 0xb2, 0xfc, 0x68, 0xb6, 0xa4, 0x48,
];
/// NAT-T draft-02 with a trailing newline in the hashed name (IOS: "NAT-T v2").
pub const NAT_T_DRAFT_02_N: [u8; 16] = [
    0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-03.
pub const NAT_T_DRAFT_03: [u8; 16] = [
    0x7d, 0x94, 0x19, 0xa6, 0x53, 0x10, 0xca, 0x6f, 0x2c, 0x17, 0x9d, 0x92, 0x15, 0x52, 0x9d, 0x56,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-04.
pub const NAT_T_DRAFT_04: [u8; 16] = [
    0x99, 0x09, 0xb6, 0x4e, 0xed, 0x93, 0x7c, 0x65, 0x73, 0xde, 0x52, 0xac, 0xe9, 0x52, 0xfa, 0x6b,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-05.
pub const NAT_T_DRAFT_05: [u8; 16] = [
    0x80, 0xd0, 0xbb, 0x3d, 0xef, 0x54, 0x56, 0x5e, 0xe8, 0x46, 0x45, 0xd4, 0xc8, 0x5c, 0xe3, 0xee,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-06.
pub const NAT_T_DRAFT_06: [u8; 16] = [
    0x4d, 0x1e, 0x0e, 0x13, 0x6d, 0xea, 0xfa, 0x34, 0xc4, 0xf3, 0xea, 0x9f, 0x02, 0xec, 0x72, 0x85,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-07.
pub const NAT_T_DRAFT_07: [u8; 16] = [
    0x43, 0x9b, 0x59, 0xf8, 0xba, 0x67, 0x6c, 0x4c, 0x77, 0x37, 0xae, 0x22, 0xea, 0xb8, 0xf5, 0x82,
];
/// NAT-T draft-ietf-ipsec-nat-t-ike-08.
pub const NAT_T_DRAFT_08: [u8; 16] = [
    0x8f, 0x8d, 0x83, 0x82, 0x6d, 0x24, 0x6b, 0x6f, 0xc7, 0xa8, 0xa6, 0xa4, 0x28, 0xc1, 0x1d, 0xe8,
];
/// Dead Peer Detection (RFC 3706) version 1.0; the last two bytes are major/minor.
pub const DPD: [u8; 16] = [
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];
/// Cisco Unity 1.0; the last two bytes are major/minor.
pub const CISCO_UNITY: [u8; 16] = [
    0x12, 0xf5, 0xf2, 0x8c, 0x45, 0x71, 0x68, 0xa9, 0x70, 0x2d, 0x9f, 0xe2, 0x74, 0xcc, 0x01, 0x00,
];
/// XAUTH (8 bytes; matched as a prefix).
pub const XAUTH: [u8; 8] = [0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12];
/// Prefix of the VID every Cisco IOS device sends ("speaking to another IOS box!").
pub const CISCO_IOS_PREFIX: [u8; 4] = [0x3e, 0x98, 0x40, 0x48];
/// Cisco VPN 3000 concentrator: first 14 bytes of MD5("ALTIGA GATEWAY"), then a version.
pub const CISCO_VPN3000_PREFIX: [u8; 14] = [
    0x1f, 0x07, 0xf7, 0x0e, 0xaa, 0x65, 0x14, 0xd3, 0xb0, 0xfa, 0x96, 0x54, 0x2a, 0x50,
];
/// Cisco VPN 3000 client: MD5("ALTIGA NETWORKS").
pub const CISCO_VPN3000_CLIENT: [u8; 16] = [
    0xf6, 0xf7, 0xef, 0xc7, 0xf5, 0xae, 0xb8, 0xcb, 0x15, 0x8c, 0xb9, 0xd0, 0x94, 0xba, 0x69, 0xe7,
];
/// IKE fragmentation: MD5("FRAGMENTATION"), optionally followed by 4 capability bytes.
pub const FRAGMENTATION: [u8; 16] = [
    0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3,
];
/// The fragmentation VID as IOS announces it: [`FRAGMENTATION`] then the capability word
/// `0x80000000` (bit 31: IKEv1 fragmentation of Main Mode messages). We send this form; peers
/// send it bare (Windows), with it, or with `c0000000` (Cisco), all recognised.
pub const FRAGMENTATION_CISCO: [u8; 20] = [
    0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3,
    0x80, 0x00, 0x00, 0x00,
];
/// strongSwan: MD5("strongSwan").
pub const STRONGSWAN: [u8; 16] = [
    0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc, 0x22, 0x51, 0x61, 0x3b, 0x2e, 0xbe, 0x5b, 0xeb,
];
/// KAME/racoon: MD5("KAME/racoon").
pub const KAME: [u8; 16] = [
    0x70, 0x03, 0xcb, 0xc1, 0x09, 0x7d, 0xbe, 0x9c, 0x26, 0x00, 0xba, 0x69, 0x83, 0xbc, 0x8b, 0x35,
];
/// Microsoft NT5 ISAKMPOAKLEY, followed by a 4-byte version.
pub const MS_NT5: [u8; 16] = [
    0x1e, 0x2b, 0x51, 0x69, 0x05, 0x99, 0x1c, 0x7d, 0x7c, 0x96, 0xfc, 0xbf, 0xb5, 0x87, 0xe4, 0x61,
];

/// A recognised Vendor ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KnownVendor {
    /// NAT-T per RFC 3947.
    NatTRfc3947,
    /// NAT-T draft number (0, 2, 3, 4, 5, 6, 7, 8).
    NatTDraft(u8),
    /// NAT-T draft-02 with the newline ("v2").
    NatTDraft02N,
    /// RFC 3706 DPD, with the major/minor version bytes.
    Dpd {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// Cisco Unity, with the major/minor version bytes.
    CiscoUnity {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// XAUTH.
    Xauth,
    /// Another Cisco IOS device.
    CiscoIos,
    /// Cisco VPN 3000 concentrator.
    CiscoVpn3000,
    /// Cisco VPN 3000 client.
    CiscoVpn3000Client,
    /// IKE fragmentation (Cisco/Microsoft).
    Fragmentation,
    /// strongSwan.
    StrongSwan,
    /// KAME/racoon.
    Kame,
    /// Microsoft Windows.
    MsNt5,
}

impl KnownVendor {
    /// True for any NAT-T flavour (RFC or draft).
    pub fn is_nat_t(self) -> bool {
        matches!(
            self,
            Self::NatTRfc3947 | Self::NatTDraft(_) | Self::NatTDraft02N
        )
    }
}

/// Recognise a Vendor ID payload body.
pub fn recognize(vid: &[u8]) -> Option<KnownVendor> {
    let exact: [(&[u8; 16], KnownVendor); 14] = [
        (&NAT_T_RFC3947, KnownVendor::NatTRfc3947),
        (&NAT_T_DRAFT_00, KnownVendor::NatTDraft(0)),
        (&NAT_T_DRAFT_02, KnownVendor::NatTDraft(2)),
        (&NAT_T_DRAFT_02_N, KnownVendor::NatTDraft02N),
        (&NAT_T_DRAFT_03, KnownVendor::NatTDraft(3)),
        (&NAT_T_DRAFT_04, KnownVendor::NatTDraft(4)),
        (&NAT_T_DRAFT_05, KnownVendor::NatTDraft(5)),
        (&NAT_T_DRAFT_06, KnownVendor::NatTDraft(6)),
        (&NAT_T_DRAFT_07, KnownVendor::NatTDraft(7)),
        (&NAT_T_DRAFT_08, KnownVendor::NatTDraft(8)),
        (&CISCO_VPN3000_CLIENT, KnownVendor::CiscoVpn3000Client),
        (&STRONGSWAN, KnownVendor::StrongSwan),
        (&KAME, KnownVendor::Kame),
        (&FRAGMENTATION, KnownVendor::Fragmentation),
    ];
    if let Some((_, k)) = exact.iter().find(|(v, _)| vid == v.as_slice()) {
        return Some(*k);
    }
    let version = |v: &[u8]| (v.get(14).copied(), v.get(15).copied());
    if vid.len() == 16 && vid.starts_with(&DPD[..14]) {
        if let (Some(major), Some(minor)) = version(vid) {
            return Some(KnownVendor::Dpd { major, minor });
        }
    }
    if vid.len() == 16 && vid.starts_with(&CISCO_UNITY[..14]) {
        if let (Some(major), Some(minor)) = version(vid) {
            return Some(KnownVendor::CiscoUnity { major, minor });
        }
    }
    if vid.starts_with(&FRAGMENTATION) {
        // Followed by capability flags (Cisco sends c0000000).
        return Some(KnownVendor::Fragmentation);
    }
    if vid.starts_with(&MS_NT5) {
        return Some(KnownVendor::MsNt5);
    }
    if vid.starts_with(&XAUTH) {
        return Some(KnownVendor::Xauth);
    }
    if vid.starts_with(&CISCO_VPN3000_PREFIX) {
        return Some(KnownVendor::CiscoVpn3000);
    }
    if vid.starts_with(&CISCO_IOS_PREFIX) {
        return Some(KnownVendor::CiscoIos);
    }
    None
}
