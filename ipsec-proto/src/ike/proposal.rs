//! ISAKMP policies and transform sets to and from SA payloads, proxy identities to and from ID
//! payloads. The byte formats are the wire module's; this is the IKE meaning of them.

use std::net::Ipv4Addr;

use crate::crypto::cipher::CipherAlg;
use crate::crypto::hmac::HashAlg;
use crate::crypto::DhGroup;
use crate::policy::acl::{PortRange, SelectorAddr, TrafficSelector};
use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy};
use crate::wire::Attr;
use crate::wire::PayloadType;
use crate::wire::WireError;
use crate::wire::Writer;
use crate::wire::{IdSpec, IdValue, Identification};
use crate::wire::{ProposalSpec, ProtocolId, SaPayload, SaSpec, TransformId, TransformSpec};

use super::config::SelectorPair;
use super::error::{InvalidMessage, PeerIncompatible};
use super::evidence::{
    EspTransform, PfsMismatch, Phase1Auth, Phase1Difference, Phase1Encryption, Phase1Evidence,
    Phase1Hash, Phase1Mismatch, Phase1Refusal, Phase1Transform, Phase2Evidence, Phase2Refusal,
    ProposalEvidence, ProxyMismatch, Unoffered,
};

const DOI_IPSEC: u32 = 1;
const SIT_IDENTITY_ONLY: u32 = 1;

// Phase 1 attribute types and values (RFC 2409 appendix A).
const P1_ENCR: u16 = 1;
const P1_HASH: u16 = 2;
const P1_AUTH: u16 = 3;
const P1_GROUP: u16 = 4;
const P1_LIFE_TYPE: u16 = 11;
const P1_LIFE_DURATION: u16 = 12;
const P1_KEY_LENGTH: u16 = 14;
const AUTH_PSK: u16 = 1;

// Phase 2 attribute types (RFC 2407 section 4.5).
const P2_LIFE_TYPE: u16 = 1;
const P2_LIFE_DURATION: u16 = 2;
const P2_GROUP: u16 = 3;
const P2_ENCAPS: u16 = 4;
const P2_AUTH: u16 = 5;
const P2_KEY_LENGTH: u16 = 6;
const LIFE_SECONDS: u16 = 1;
const LIFE_KILOBYTES: u16 = 2;

/// RFC 3947 UDP-Encapsulated-Tunnel / -Transport, and the draft values IOS also knows.
pub(crate) const ENCAPS_UDP_TUNNEL: u16 = 3;
pub(crate) const ENCAPS_UDP_TRANSPORT: u16 = 4;
pub(crate) const ENCAPS_UDP_TUNNEL_DRAFT: u16 = 61443;
pub(crate) const ENCAPS_UDP_TRANSPORT_DRAFT: u16 = 61444;

/// The agreed Phase 1 protection suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Phase1Suite {
    pub cipher: CipherAlg,
    pub hash: HashAlg,
    pub group: DhGroup,
    pub lifetime_secs: u32,
    pub encryption: IkeEncryption,
    pub ike_hash: IkeHash,
    /// The peer offered XAUTHInitPreShared (65001) and we accepted it: XAUTH runs after
    /// Phase 1, the initiator being its client.
    pub xauth: bool,
    /// `authentication rsa-sig`: MM5/MM6 carry CERT and SIG, SKEYID = prf(Ni | Nr, g^xy).
    pub rsa_sig: bool,
}

fn ike_encr_attrs(e: IkeEncryption) -> Option<(u16, Option<u16>, CipherAlg)> {
    Some(match e {
        IkeEncryption::Des => (1, None, CipherAlg::Des),
        IkeEncryption::TripleDes => (5, None, CipherAlg::TripleDes),
        IkeEncryption::Aes { bits: 128 } => (7, Some(128), CipherAlg::Aes128),
        IkeEncryption::Aes { bits: 192 } => (7, Some(192), CipherAlg::Aes192),
        IkeEncryption::Aes { bits: 256 } => (7, Some(256), CipherAlg::Aes256),
        _ => return None,
    })
}

fn ike_hash_attr(h: IkeHash) -> Option<(u16, HashAlg)> {
    Some(match h {
        IkeHash::Md5 => (1, HashAlg::Md5),
        IkeHash::Sha1 => (2, HashAlg::Sha1),
        IkeHash::Sha256 => (4, HashAlg::Sha256),
        IkeHash::Sha384 => (5, HashAlg::Sha384),
        IkeHash::Sha512 => (6, HashAlg::Sha512),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Whether we can run this policy: pre-shared keys, or RSA signatures when `rsa_sig` (the peer
/// entry has a key and certificate), with groups and algorithms we implement.
pub(crate) fn policy_usable_with(p: &IsakmpPolicy, rsa_sig: bool) -> bool {
    (p.authentication == IkeAuth::PreShare || (rsa_sig && p.authentication == IkeAuth::RsaSig))
        && DhGroup::from_ike_id(p.group).is_some()
        && ike_encr_attrs(p.encryption).is_some()
        && ike_hash_attr(p.hash).is_some()
}

/// A transform payload body rebuilt from its parts, for echoing it unchanged.
fn transform_body(t: &crate::wire::Transform<'_>) -> Vec<u8> {
    let mut v = vec![t.number(), t.transform_id().0];
    v.extend_from_slice(&t.reserved().to_be_bytes());
    v.extend_from_slice(t.attributes_raw());
    v
}

/// The Phase 1 SA payload body (SAi_b): one proposal, one KEY_IKE transform per usable policy in
/// priority order, attributes in IOS order (encr, [key length], hash, auth, group, life type,
/// life duration as a 4-byte TLV).
///
/// `xauth_client`: offer XAUTHInitPreShared (65001) instead of pre-share, as Cisco clients do.
/// `rsa_sig`: we hold a key and certificate, so `rsa-sig` policies are offered too.
pub(crate) fn phase1_sa_body(
    policies: &[&IsakmpPolicy],
    xauth_client: bool,
    rsa_sig: bool,
) -> Result<Vec<u8>, WireError> {
    let psk_auth = if xauth_client {
        Phase1Auth::XAUTH_INIT_PRE_SHARE.0
    } else {
        AUTH_PSK
    };
    let mut attr_sets: Vec<Vec<Attr<'static>>> = Vec::new();
    for p in policies.iter().filter(|p| policy_usable_with(p, rsa_sig)) {
        let auth = match p.authentication {
            IkeAuth::RsaSig => Phase1Auth::RSA_SIG.0,
            _ => psk_auth,
        };
        let Some((encr, bits, _)) = ike_encr_attrs(p.encryption) else {
            continue;
        };
        let Some((hash, _)) = ike_hash_attr(p.hash) else {
            continue;
        };
        let mut a = vec![Attr::basic(P1_ENCR, encr)];
        if let Some(b) = bits {
            a.push(Attr::basic(P1_KEY_LENGTH, b));
        }
        a.push(Attr::basic(P1_HASH, hash));
        a.push(Attr::basic(P1_AUTH, auth));
        a.push(Attr::basic(P1_GROUP, p.group));
        a.push(Attr::basic(P1_LIFE_TYPE, LIFE_SECONDS));
        a.push(Attr::variable_u32(P1_LIFE_DURATION, p.lifetime_secs));
        attr_sets.push(a);
    }
    let transforms: Vec<TransformSpec<'_>> = attr_sets
        .iter()
        .enumerate()
        .map(|(i, a)| TransformSpec {
            number: u8::try_from(i + 1).unwrap_or(u8::MAX),
            id: TransformId::KEY_IKE,
            attributes: a,
        })
        .collect();
    let proposals = [ProposalSpec {
        number: 1,
        protocol: ProtocolId::ISAKMP,
        spi: &[],
        transforms: &transforms,
    }];
    write_body(|w| {
        SaSpec {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: &proposals,
        }
        .write_body(w)
    })
}

pub(crate) fn write_body(
    f: impl FnOnce(&mut Writer<'_>) -> Result<(), WireError>,
) -> Result<Vec<u8>, WireError> {
    let mut buf = vec![0u8; 4096];
    let n = {
        let mut w = Writer::new(&mut buf);
        f(&mut w)?;
        w.position()
    };
    buf.truncate(n);
    Ok(buf)
}

/// An SA body answering with exactly one proposal carrying exactly one transform, echoed as the
/// peer sent it (its number and attribute bytes unchanged).
pub(crate) fn echo_sa_body(
    proposal_number: u8,
    protocol: u8,
    spi: &[u8],
    transform_body: &[u8],
) -> Result<Vec<u8>, WireError> {
    write_body(|w| {
        w.put_u32(DOI_IPSEC)?;
        w.put_u32(SIT_IDENTITY_ONLY)?;
        let t_len = 4 + transform_body.len();
        let p_len = 4 + 4 + spi.len() + t_len;
        let p_len = u16::try_from(p_len).map_err(|_| WireError::ValueTooLarge { len: 2 })?;
        let t_len = u16::try_from(t_len).map_err(|_| WireError::ValueTooLarge { len: 2 })?;
        let spi_len = u8::try_from(spi.len()).map_err(|_| WireError::ValueTooLarge { len: 1 })?;
        w.put(&[0, 0])?;
        w.put_u16(p_len)?;
        w.put(&[proposal_number, protocol, spi_len, 1])?;
        w.put(spi)?;
        w.put(&[0, 0])?;
        w.put_u16(t_len)?;
        w.put(transform_body)
    })
}

/// One Phase 1 transform as offered.
#[derive(Clone, Debug)]
struct P1Offer {
    number: u8,
    t: Phase1Transform,
    life_secs: Option<u64>,
}

fn parse_p1_transform(t: &crate::wire::Transform<'_>) -> Result<P1Offer, WireError> {
    // Absent attributes stay 0, a number no algorithm has, so they show as a mismatch.
    let mut o = P1Offer {
        number: t.number(),
        t: Phase1Transform {
            encryption: Phase1Encryption {
                id: 0,
                key_bits: None,
            },
            hash: Phase1Hash(0),
            authentication: Phase1Auth(0),
            group: 0,
        },
        life_secs: None,
    };
    let mut life_type = 0u16;
    for a in t.attributes() {
        let a = a?;
        let v = a.as_u64()?;
        let v16 = u16::try_from(v).unwrap_or(u16::MAX);
        match a.attr_type() {
            P1_ENCR => o.t.encryption.id = v16,
            P1_KEY_LENGTH => o.t.encryption.key_bits = Some(v16),
            P1_HASH => o.t.hash = Phase1Hash(v16),
            P1_AUTH => o.t.authentication = Phase1Auth(v16),
            P1_GROUP => o.t.group = v16,
            P1_LIFE_TYPE => life_type = v16,
            P1_LIFE_DURATION if life_type == LIFE_SECONDS => o.life_secs = (v > 0).then_some(v),
            _ => {}
        }
    }
    Ok(o)
}

/// The chosen suite, the proposal number and the transform body to echo.
pub(crate) type Phase1Choice = (Phase1Suite, u8, Vec<u8>);

/// Responder: walks the peer's transforms, each against our policies in priority order (as IOS
/// does), and returns the chosen suite with the proposal number and the transform body to echo.
/// `xauth_server`: a `client authentication list` applies, so XAUTHInitPreShared (65001) matches
/// `authentication pre-share`.
pub(crate) fn choose_phase1(
    sa_body: &[u8],
    policies: &[&IsakmpPolicy],
    xauth_server: bool,
    rsa_sig: bool,
) -> Result<Result<Phase1Choice, PeerIncompatible>, InvalidMessage> {
    let sa = SaPayload::parse(sa_body)?;
    let mut refusals: Vec<Phase1Refusal> = Vec::new();
    if policies.is_empty() {
        refusals.push(Phase1Refusal::NoPolicy);
    }
    let mut offered = false;
    for prop in sa.proposals() {
        let prop = prop?;
        if prop.protocol() != ProtocolId::ISAKMP {
            refusals.push(Phase1Refusal::NotIsakmp {
                proposal: prop.number(),
                protocol: prop.protocol().0,
            });
            continue;
        }
        for t in prop.transforms() {
            let t = t?;
            let o = parse_p1_transform(&t)?;
            offered = true;
            for p in policies {
                match p1_match(&o, p, xauth_server, rsa_sig) {
                    Ok(suite) => {
                        let body = transform_body(&t);
                        return Ok(Ok((suite, prop.number(), body)));
                    }
                    Err(difference) => refusals.push(Phase1Refusal::Transform(Phase1Mismatch {
                        transform: o.number,
                        policy: p.priority,
                        offered: o.t,
                        difference,
                    })),
                }
            }
        }
    }
    if !offered {
        refusals.push(Phase1Refusal::NothingOffered);
    }
    Ok(Err(PeerIncompatible::NoProposalChosen(
        ProposalEvidence::Phase1(Phase1Evidence { refusals }),
    )))
}

/// The first difference between an offered transform and a policy, in the order IOS checks.
fn p1_match(
    o: &P1Offer,
    p: &IsakmpPolicy,
    xauth_server: bool,
    rsa_sig: bool,
) -> Result<Phase1Suite, Phase1Difference> {
    let (_, _, cipher) = ike_encr_attrs(p.encryption)
        .ok_or(Phase1Difference::PolicyEncryptionUnsupported(p.encryption))?;
    let ours_encr = Phase1Encryption::from_policy(p.encryption)
        .ok_or(Phase1Difference::PolicyEncryptionUnsupported(p.encryption))?;
    let (_, hash_alg) =
        ike_hash_attr(p.hash).ok_or(Phase1Difference::PolicyHashUnsupported(p.hash))?;
    let ours_hash =
        Phase1Hash::from_policy(p.hash).ok_or(Phase1Difference::PolicyHashUnsupported(p.hash))?;
    let offered = &o.t;
    // Only AES carries a key length; a stray one on DES or 3DES is ignored, as IOS does.
    let encr_differs = offered.encryption.id != ours_encr.id
        || (ours_encr.id == 7 && offered.encryption.key_bits != ours_encr.key_bits);
    if encr_differs {
        return Err(Phase1Difference::Encryption {
            offered: offered.encryption,
            ours: ours_encr,
        });
    }
    if offered.hash != ours_hash {
        return Err(Phase1Difference::Hash {
            offered: offered.hash,
            ours: ours_hash,
        });
    }
    let rsa = p.authentication == IkeAuth::RsaSig;
    if !(p.authentication == IkeAuth::PreShare || (rsa && rsa_sig)) {
        return Err(Phase1Difference::PolicyAuthenticationUnsupported(
            p.authentication,
        ));
    }
    // 65001 is pre-share plus XAUTH; only a server with a `client authentication list` can
    // run the XAUTH half. Every other XAUTH/Hybrid method (RSA, DSS) differs and is named so.
    let xauth = !rsa && xauth_server && offered.authentication == Phase1Auth::XAUTH_INIT_PRE_SHARE;
    if rsa && offered.authentication != Phase1Auth::RSA_SIG {
        return Err(Phase1Difference::Authentication {
            offered: offered.authentication,
            ours: Phase1Auth::RSA_SIG,
        });
    }
    if !rsa && offered.authentication != Phase1Auth::PRE_SHARE && !xauth {
        return Err(Phase1Difference::Authentication {
            offered: offered.authentication,
            ours: if xauth_server {
                Phase1Auth::XAUTH_INIT_PRE_SHARE
            } else {
                Phase1Auth::PRE_SHARE
            },
        });
    }
    if offered.group != p.group {
        return Err(Phase1Difference::Group {
            offered: offered.group,
            ours: p.group,
        });
    }
    let group =
        DhGroup::from_ike_id(p.group).ok_or(Phase1Difference::PolicyGroupUnsupported(p.group))?;
    let theirs = o
        .life_secs
        .map_or(p.lifetime_secs, |l| u32::try_from(l).unwrap_or(u32::MAX));
    Ok(Phase1Suite {
        cipher,
        hash: hash_alg,
        group,
        lifetime_secs: theirs.min(p.lifetime_secs).max(1),
        encryption: p.encryption,
        ike_hash: p.hash,
        xauth,
        rsa_sig: rsa,
    })
}

/// Initiator: the responder's answer must be one of the transforms we offered; with
/// `xauth_client` we offered XAUTHInitPreShared only, so a plain pre-share answer is unoffered.
pub(crate) fn accept_phase1_answer(
    sa_body: &[u8],
    policies: &[&IsakmpPolicy],
    xauth_client: bool,
    rsa_sig: bool,
) -> Result<Result<Phase1Suite, Unoffered>, InvalidMessage> {
    let sa = SaPayload::parse(sa_body)?;
    let Some(prop) = sa.proposals().next() else {
        return Err(InvalidMessage::BadPayload("SA (no proposal)"));
    };
    let prop = prop?;
    let Some(t) = prop.transforms().next() else {
        return Err(InvalidMessage::BadPayload("SA (no transform)"));
    };
    let o = parse_p1_transform(&t?)?;
    for p in policies.iter().filter(|p| policy_usable_with(p, rsa_sig)) {
        match p1_match(&o, p, xauth_client, rsa_sig) {
            // An rsa-sig answer never carries XAUTH: we offered 65001 only with pre-share.
            Ok(s) if s.xauth == (xauth_client && !s.rsa_sig) => return Ok(Ok(s)),
            _ => {}
        }
    }
    Ok(Err(Unoffered::Phase1(o.t)))
}

fn esp_transform_id(e: EspEncryption) -> Option<(TransformId, Option<u16>)> {
    Some(match e {
        EspEncryption::Des => (TransformId(2), None),
        EspEncryption::TripleDes => (TransformId(3), None),
        EspEncryption::Aes128 => (TransformId(12), Some(128)),
        EspEncryption::Aes192 => (TransformId(12), Some(192)),
        EspEncryption::Aes256 => (TransformId(12), Some(256)),
        EspEncryption::Null => (TransformId(11), None),
        // ESP_AES_GCM_16 (RFC 4106 §8.4): the Key Length attribute is mandatory.
        EspEncryption::AesGcm128 => (TransformId(20), Some(128)),
        EspEncryption::AesGcm192 => (TransformId(20), Some(192)),
        EspEncryption::AesGcm256 => (TransformId(20), Some(256)),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

fn esp_auth_id(i: EspIntegrity) -> Option<u16> {
    match i {
        EspIntegrity::None => None,
        EspIntegrity::Md5 => Some(1),
        EspIntegrity::Sha1 => Some(2),
        EspIntegrity::Sha256 => Some(5),
        EspIntegrity::Sha384 => Some(6),
        EspIntegrity::Sha512 => Some(7),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Encapsulation mode attribute value.
pub(crate) fn encaps_value(mode: EspMode, udp: bool, draft: bool) -> u16 {
    match (mode, udp, draft) {
        (EspMode::Transport, false, _) => 2,
        (EspMode::Transport, true, false) => ENCAPS_UDP_TRANSPORT,
        (EspMode::Transport, true, true) => ENCAPS_UDP_TRANSPORT_DRAFT,
        (_, false, _) => 1,
        (_, true, false) => ENCAPS_UDP_TUNNEL,
        (_, true, true) => ENCAPS_UDP_TUNNEL_DRAFT,
    }
}

/// What we offer in Quick Mode (besides the transform sets).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Phase2Offer {
    pub spi: u32,
    pub lifetime_secs: u32,
    pub lifetime_kb: u64,
    pub pfs_group: Option<u16>,
    pub udp_encap: bool,
    pub draft_encap: bool,
}

fn p2_attrs(ts: &TransformSet, o: &Phase2Offer) -> Option<(TransformId, Vec<Attr<'static>>)> {
    let (id, bits) = esp_transform_id(ts.esp_encryption)?;
    // IOS order: encaps, life type seconds, duration (TV when it fits), life type kilobytes,
    // duration (4-byte TLV), authenticator, key length, group.
    let mut a = vec![Attr::basic(
        P2_ENCAPS,
        encaps_value(ts.mode, o.udp_encap, o.draft_encap),
    )];
    a.push(Attr::basic(P2_LIFE_TYPE, LIFE_SECONDS));
    match u16::try_from(o.lifetime_secs) {
        Ok(v) => a.push(Attr::basic(P2_LIFE_DURATION, v)),
        Err(_) => a.push(Attr::variable_u32(P2_LIFE_DURATION, o.lifetime_secs)),
    }
    // `lifetime kilobytes disable`: no kilobyte lifetime is proposed at all.
    if let Some(kb) = crate::policy::volume_limit(o.lifetime_kb) {
        a.push(Attr::basic(P2_LIFE_TYPE, LIFE_KILOBYTES));
        match u32::try_from(kb) {
            Ok(v) => a.push(Attr::variable_u32(P2_LIFE_DURATION, v)),
            Err(_) => a.push(Attr::variable_uint(P2_LIFE_DURATION, kb, 8)),
        }
    }
    if let Some(auth) = esp_auth_id(ts.esp_integrity) {
        a.push(Attr::basic(P2_AUTH, auth));
    }
    if let Some(b) = bits {
        a.push(Attr::basic(P2_KEY_LENGTH, b));
    }
    if let Some(g) = o.pfs_group {
        a.push(Attr::basic(P2_GROUP, g));
    }
    Some((id, a))
}

/// The Quick Mode SA body: one ESP proposal per transform set, numbered 1..n, each with one
/// transform, all carrying our SPI.
pub(crate) fn phase2_sa_body(sets: &[TransformSet], o: &Phase2Offer) -> Result<Vec<u8>, WireError> {
    let built: Vec<(TransformId, Vec<Attr<'static>>)> =
        sets.iter().filter_map(|ts| p2_attrs(ts, o)).collect();
    let spi = o.spi.to_be_bytes();
    let transforms: Vec<[TransformSpec<'_>; 1]> = built
        .iter()
        .map(|(id, a)| {
            [TransformSpec {
                number: 1,
                id: *id,
                attributes: a,
            }]
        })
        .collect();
    let proposals: Vec<ProposalSpec<'_>> = transforms
        .iter()
        .enumerate()
        .map(|(i, t)| ProposalSpec {
            number: u8::try_from(i + 1).unwrap_or(u8::MAX),
            protocol: ProtocolId::ESP,
            spi: &spi,
            transforms: t,
        })
        .collect();
    write_body(|w| {
        SaSpec {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: &proposals,
        }
        .write_body(w)
    })
}

/// One ESP transform as offered or answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct P2Transform {
    pub id: u8,
    pub encaps: u16,
    pub life_secs: Option<u64>,
    pub life_kb: Option<u64>,
    pub auth: Option<u16>,
    pub key_bits: Option<u16>,
    pub group: Option<u16>,
}

fn parse_p2_transform(t: &crate::wire::Transform<'_>) -> Result<P2Transform, WireError> {
    let mut o = P2Transform {
        id: t.transform_id().0,
        encaps: 1,
        ..P2Transform::default()
    };
    let mut life_type = 0u16;
    for a in t.attributes() {
        let a = a?;
        let v = a.as_u64()?;
        let v16 = u16::try_from(v).unwrap_or(u16::MAX);
        match a.attr_type() {
            P2_ENCAPS => o.encaps = v16,
            P2_LIFE_TYPE => life_type = v16,
            // A zero duration would mean "expire at once"; treat it as "no limit proposed".
            P2_LIFE_DURATION if life_type == LIFE_SECONDS => o.life_secs = (v > 0).then_some(v),
            P2_LIFE_DURATION if life_type == LIFE_KILOBYTES => o.life_kb = (v > 0).then_some(v),
            P2_AUTH => o.auth = Some(v16),
            P2_KEY_LENGTH => o.key_bits = Some(v16),
            P2_GROUP => o.group = Some(v16),
            _ => {}
        }
    }
    Ok(o)
}

impl P2Transform {
    /// The attributes that decide a match, as error evidence.
    pub(crate) fn evidence(&self) -> EspTransform {
        EspTransform {
            transform_id: self.id,
            key_bits: self.key_bits,
            auth: self.auth,
            encapsulation: self.encaps,
            pfs_group: self.group,
        }
    }
}

fn p2_mode(encaps: u16) -> (EspMode, bool) {
    match encaps {
        2 => (EspMode::Transport, false),
        ENCAPS_UDP_TRANSPORT | ENCAPS_UDP_TRANSPORT_DRAFT => (EspMode::Transport, true),
        ENCAPS_UDP_TUNNEL | ENCAPS_UDP_TUNNEL_DRAFT => (EspMode::Tunnel, true),
        _ => (EspMode::Tunnel, false),
    }
}

fn ts_matches(ts: &TransformSet, t: &P2Transform) -> bool {
    let Some((id, bits)) = esp_transform_id(ts.esp_encryption) else {
        return false;
    };
    let key_ok = match bits {
        Some(b) => t.key_bits == Some(b) || (b == 128 && t.key_bits.is_none()),
        None => true,
    };
    id.0 == t.id
        && key_ok
        && esp_auth_id(ts.esp_integrity) == t.auth
        && p2_mode(t.encaps).0 == ts.mode
}

/// The outcome of choosing a Quick Mode proposal.
#[derive(Clone, Debug)]
pub(crate) struct Phase2Choice {
    pub proposal_number: u8,
    pub peer_spi: u32,
    pub transform_body: Vec<u8>,
    pub transform_set: TransformSet,
    pub parsed: P2Transform,
    pub lifetime_secs: u32,
    pub lifetime_kb: u64,
    pub mode: EspMode,
}

/// Responder: the first proposal (in the peer's order) one of our transform sets accepts, with
/// PFS checked the IOS way.
pub(crate) fn choose_phase2(
    sa_body: &[u8],
    sets: &[TransformSet],
    pfs_group: Option<u16>,
    lifetime_secs: u32,
    lifetime_kb: u64,
) -> Result<Result<Phase2Choice, PeerIncompatible>, InvalidMessage> {
    let sa = SaPayload::parse(sa_body)?;
    let mut refusals: Vec<Phase2Refusal> = Vec::new();
    let mut pfs_problem: Option<PfsMismatch> = None;
    for prop in sa.proposals() {
        let prop = prop?;
        if prop.protocol() != ProtocolId::ESP {
            refusals.push(Phase2Refusal::Protocol {
                proposal: prop.number(),
                protocol: prop.protocol().0,
            });
            continue;
        }
        let Ok(spi) = <[u8; 4]>::try_from(prop.spi()) else {
            return Err(InvalidMessage::BadPayload(
                "proposal SPI (ESP needs 4 bytes)",
            ));
        };
        for t in prop.transforms() {
            let t = t?;
            let parsed = parse_p2_transform(&t)?;
            let Some(ts) = sets.iter().find(|ts| ts_matches(ts, &parsed)) else {
                refusals.push(Phase2Refusal::Transform(parsed.evidence()));
                continue;
            };
            let pfs = match (pfs_group, parsed.group) {
                (Some(ours), None) => Some(PfsMismatch::Missing { ours }),
                (Some(ours), Some(theirs)) if ours != theirs => {
                    Some(PfsMismatch::Different { ours, theirs })
                }
                (ours, Some(theirs)) if DhGroup::from_ike_id(theirs).is_none() => {
                    Some(PfsMismatch::NotImplemented { ours, theirs })
                }
                _ => None,
            };
            if pfs.is_some() {
                pfs_problem = pfs;
                continue;
            }
            let secs = parsed
                .life_secs
                .map_or(lifetime_secs, |l| u32::try_from(l).unwrap_or(u32::MAX))
                .min(lifetime_secs);
            let kb = parsed.life_kb.map_or(lifetime_kb, |l| l.min(lifetime_kb));
            return Ok(Ok(Phase2Choice {
                proposal_number: prop.number(),
                peer_spi: u32::from_be_bytes(spi),
                transform_body: transform_body(&t),
                transform_set: ts.clone(),
                mode: p2_mode(parsed.encaps).0,
                parsed,
                lifetime_secs: secs.max(1),
                lifetime_kb: kb,
            }));
        }
    }
    if let Some(p) = pfs_problem {
        return Ok(Err(PeerIncompatible::Pfs(p)));
    }
    Ok(Err(PeerIncompatible::NoProposalChosen(
        ProposalEvidence::Phase2(Phase2Evidence {
            refusals,
            ours: sets.to_vec(),
        }),
    )))
}

/// Initiator: the responder's single proposal must match one we sent.
pub(crate) fn accept_phase2_answer(
    sa_body: &[u8],
    sets: &[TransformSet],
) -> Result<Result<Phase2Choice, Unoffered>, InvalidMessage> {
    let sa = SaPayload::parse(sa_body)?;
    let Some(prop) = sa.proposals().next() else {
        return Err(InvalidMessage::BadPayload("SA (no proposal)"));
    };
    let prop = prop?;
    let Ok(spi) = <[u8; 4]>::try_from(prop.spi()) else {
        return Err(InvalidMessage::BadPayload(
            "proposal SPI (ESP needs 4 bytes)",
        ));
    };
    let Some(t) = prop.transforms().next() else {
        return Err(InvalidMessage::BadPayload("SA (no transform)"));
    };
    let t = t?;
    let parsed = parse_p2_transform(&t)?;
    let idx = usize::from(prop.number()).saturating_sub(1);
    let Some(ts) = sets
        .get(idx)
        .filter(|ts| ts_matches(ts, &parsed))
        .or_else(|| sets.iter().find(|ts| ts_matches(ts, &parsed)))
    else {
        return Ok(Err(Unoffered::Phase2(parsed.evidence())));
    };
    Ok(Ok(Phase2Choice {
        proposal_number: prop.number(),
        peer_spi: u32::from_be_bytes(spi),
        transform_body: transform_body(&t),
        transform_set: ts.clone(),
        mode: p2_mode(parsed.encaps).0,
        lifetime_secs: parsed
            .life_secs
            .map_or(u32::MAX, |l| u32::try_from(l).unwrap_or(u32::MAX)),
        lifetime_kb: parsed.life_kb.unwrap_or(crate::policy::KILOBYTES_DISABLED),
        parsed,
    }))
}

/// RESPONDER-LIFETIME notify data: life type/duration pairs.
pub(crate) fn responder_lifetime_data(secs: u32, kb: u64) -> Result<Vec<u8>, WireError> {
    write_body(|w| {
        Attr::basic(P2_LIFE_TYPE, LIFE_SECONDS).write(w)?;
        Attr::variable_u32(P2_LIFE_DURATION, secs).write(w)?;
        // No volume lifetime on either side: only the seconds.
        let Some(kb) = crate::policy::volume_limit(kb) else {
            return Ok(());
        };
        Attr::basic(P2_LIFE_TYPE, LIFE_KILOBYTES).write(w)?;
        Attr::variable_u32(P2_LIFE_DURATION, u32::try_from(kb).unwrap_or(u32::MAX)).write(w)
    })
}

/// Parses RESPONDER-LIFETIME data into (seconds, kilobytes).
pub(crate) fn parse_responder_lifetime(
    data: &[u8],
) -> Result<(Option<u64>, Option<u64>), WireError> {
    let mut life_type = 0u16;
    let (mut s, mut k) = (None, None);
    for a in crate::wire::Attributes::new(data) {
        let a = a?;
        let v = a.as_u64()?;
        match a.attr_type() {
            P2_LIFE_TYPE => life_type = u16::try_from(v).unwrap_or(0),
            P2_LIFE_DURATION if life_type == LIFE_SECONDS => s = (v > 0).then_some(v),
            P2_LIFE_DURATION if life_type == LIFE_KILOBYTES => k = (v > 0).then_some(v),
            _ => {}
        }
    }
    Ok((s, k))
}

/// The ID payload body for a proxy identity (IDci/IDcr).
pub(crate) fn selector_id_body(ts: &TrafficSelector) -> Result<Vec<u8>, WireError> {
    let value = match ts.addr {
        SelectorAddr::Host(a) => IdValue::Ipv4(a),
        SelectorAddr::Subnet { addr, mask } => IdValue::Ipv4Subnet(addr, mask),
        SelectorAddr::Range { start, end } => IdValue::Ipv4Range(start, end),
    };
    let port = if ts.ports.start == ts.ports.end {
        ts.ports.start
    } else {
        0
    };
    write_body(|w| {
        IdSpec {
            value,
            protocol: ts.protocol,
            port,
        }
        .write_body(w)
    })
}

/// A proxy identity from an ID payload body.
pub(crate) fn id_to_selector(body: &[u8]) -> Result<TrafficSelector, InvalidMessage> {
    let id = Identification::parse(body)?;
    let addr = match id.value()? {
        IdValue::Ipv4(a) => SelectorAddr::Host(a),
        IdValue::Ipv4Subnet(addr, mask) => SelectorAddr::Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & u32::from(mask)),
            mask,
        },
        // A reversed range selects nothing; accepting it would make an SA whose policy checks
        // disagree with what the peer believes it negotiated.
        IdValue::Ipv4Range(start, end) if start > end => {
            return Err(InvalidMessage::BadPayload(
                "ID (IPv4 address range ends before it starts)",
            ))
        }
        IdValue::Ipv4Range(start, end) => SelectorAddr::Range { start, end },
        _ => {
            return Err(InvalidMessage::BadPayload(
                "ID (only IPv4 proxy identities are supported)",
            ))
        }
    };
    let ports = if id.port() == 0 {
        PortRange::ANY
    } else {
        PortRange {
            start: id.port(),
            end: id.port(),
        }
    };
    Ok(TrafficSelector {
        addr,
        protocol: id.protocol(),
        ports,
    })
}

/// The refusal of proxy identities no crypto ACL line mirrors: `sel_i`/`sel_r` are the peer's
/// IDci/IDcr, so our local side is its IDcr.
pub(crate) fn proxy_mismatch(
    sel_i: TrafficSelector,
    sel_r: TrafficSelector,
    ours: &[SelectorPair],
) -> PeerIncompatible {
    PeerIncompatible::ProxyIdentities(ProxyMismatch {
        proposed_local: sel_r,
        proposed_remote: sel_i,
        ours: ours.to_vec(),
    })
}

/// A selector in IOS debug notation: `192.168.1.0/255.255.255.0/0/0`.
pub(crate) fn selector_text(ts: &TrafficSelector) -> String {
    let (a, m) = ts.addr.addr_mask();
    let port = if ts.ports.start == ts.ports.end {
        ts.ports.start
    } else {
        0
    };
    format!("{a}/{m}/{}/{port}", ts.protocol)
}

/// Phase 1 identity: ID_IPV4_ADDR, UDP, port 500 (as IOS sends it).
pub(crate) fn phase1_id_body(addr: Ipv4Addr) -> Result<Vec<u8>, WireError> {
    write_body(|w| {
        IdSpec {
            value: IdValue::Ipv4(addr),
            protocol: 17,
            port: 500,
        }
        .write_body(w)
    })
}

/// Our Main Mode ID payload body: ID_IPV4_ADDR `addr`, or the configured ID_FQDN /
/// ID_USER_FQDN, or ID_DER_ASN1_DN `dn` (our certificate's subject), each with protocol 17
/// and port 500 as IOS sends them. A DN identity without a certificate falls back to the
/// address, as IOS does.
pub(crate) fn phase1_own_id_body(
    identity: &crate::policy::LocalIdentity,
    addr: Ipv4Addr,
    dn: Option<&[u8]>,
) -> Result<Vec<u8>, WireError> {
    use crate::policy::LocalIdentity;
    let value = match identity {
        LocalIdentity::Address => return phase1_id_body(addr),
        LocalIdentity::Fqdn(n) => IdValue::Fqdn(n.as_bytes()),
        LocalIdentity::UserFqdn(u) => IdValue::UserFqdn(u.as_bytes()),
        LocalIdentity::Dn => match dn {
            Some(d) => IdValue::Other(crate::wire::IdType::DER_ASN1_DN, d),
            None => return phase1_id_body(addr),
        },
    };
    write_body(|w| {
        IdSpec {
            value,
            protocol: 17,
            port: 500,
        }
        .write_body(w)
    })
}

#[allow(dead_code)]
pub(crate) const SA: PayloadType = PayloadType::SA;
