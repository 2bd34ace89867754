//! Main and Aggressive Mode with RSA signatures (RFC 2409 sections 5.1 and 5.4; the PKI profile
//! of RFC 4945): CR in MM3/MM4 (AM1/AM2), ID, CERT and SIG in MM5/MM6 (AM2/AM3).
//!
//! SIG_I / SIG_R are PKCS#1 v1.5 signatures over HASH_I / HASH_R themselves, with no
//! DigestInfo, as IOS and strongSwan make them. The peer's certificate chains to one of the
//! entry's trustpoints at the wall-clock time the embedder supplies; its identity must be the
//! certificate's (subject DN as DER, or a subjectAltName); the ISAKMP profile's certificate
//! maps must take it.

use super::*;
use crate::pki::Certificate;
use crate::policy::RsaSigConfig;

/// CERT and CR encoding: X.509 certificate, signature (RFC 2408 section 3.9).
pub(super) const X509_SIGNATURE: u8 = 4;

impl Endpoint {
    /// Tells the endpoint the wall-clock time (Unix seconds) at `now`: certificate validity is
    /// checked against it. Call it once after creating the endpoint and again whenever the
    /// system clock is stepped; the endpoint never reads a clock itself.
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: i64) {
        let ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        self.wall_clock = Some(unix_secs.saturating_sub(ms / 1000));
    }

    /// Unix seconds at `now`, when [`Endpoint::set_wall_clock`] was called.
    pub(super) fn unix_time(&self, now: Instant) -> Option<i64> {
        let ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        self.wall_clock.map(|base| base.saturating_add(ms / 1000))
    }

    /// The rsa-sig configuration of the entry SA `id` speaks for, when its suite is rsa-sig.
    pub(super) fn rsa_of(&self, id: IkeSaId) -> Option<&RsaSigConfig> {
        let sa = self.sas.get(&id)?;
        if !sa.suite.is_some_and(|s| s.rsa_sig) {
            return None;
        }
        self.peer(sa.peer)?.rsa_sig.as_ref()
    }

    /// Our DN identity (the subject of our certificate) for SA `id`, when it has one.
    pub(super) fn own_dn(&self, id: IkeSaId) -> Option<Vec<u8>> {
        self.rsa_of(id)
            .and_then(|r| r.chain.first())
            .map(|c| c.subject_der.clone())
    }
}

/// One CR per CA we trust, each naming the CA's DN, so the peer picks a certificate that
/// chains to it (strongSwan sends its certificate only when asked).
pub(super) fn add_cert_requests(b: &mut MessageBuilder<'_>, rsa: &RsaSigConfig) -> Res<()> {
    let mut named = 0;
    for store in &rsa.trust {
        for anchor in &store.anchors {
            let mut body = Vec::with_capacity(1 + anchor.subject_der.len());
            body.push(X509_SIGNATURE);
            body.extend_from_slice(&anchor.subject_der);
            b.add_raw(PayloadType::CERT_REQ, &body)?;
            named += 1;
        }
    }
    if named == 0 {
        // No CA configured: an empty CR asks for a certificate from any CA.
        b.add_raw(PayloadType::CERT_REQ, &[X509_SIGNATURE])?;
    }
    Ok(())
}

/// CERT payloads (ours first, then intermediates) and SIG over `hash` (HASH_I or HASH_R).
pub(super) fn add_cert_and_sig(
    b: &mut MessageBuilder<'_>,
    rsa: &RsaSigConfig,
    rng: &mut Rng,
    hash: &[u8],
) -> Result<(), Error> {
    for cert in &rsa.chain {
        let mut body = Vec::with_capacity(1 + cert.der.len());
        body.push(X509_SIGNATURE);
        body.extend_from_slice(&cert.der);
        b.add_raw(PayloadType::CERT, &body)
            .map_err(|e| Error::from(InvalidMessage::from(e)))?;
    }
    let sig = rsa
        .key
        .sign_raw(rng, hash)
        .map_err(|e| Error::AuthenticationFailed(AuthFailure::OwnSignature(e)))?;
    b.add_raw(PayloadType::SIG, &sig)
        .map_err(|e| Error::from(InvalidMessage::from(e)))?;
    Ok(())
}

/// Checks the peer's MM5/MM6: certificate chain, identity, certificate maps and signature.
/// `id_body` is the peer's ID payload body, `expect` the HASH_I/HASH_R it must have signed,
/// `unix_time` the wall clock.
pub(super) fn verify_peer(
    rsa: &RsaSigConfig,
    list: &PayloadList<'_>,
    id_body: &[u8],
    expect: &[u8],
    unix_time: Option<i64>,
    message: u8,
    peer: IpAddr,
) -> Result<(), Error> {
    // The initiator signs MM5 and AM3, the responder MM6 and AM2.
    let sig_name = if matches!(message, 3 | 5) {
        "SIG_I"
    } else {
        "SIG_R"
    };
    let auth = Error::AuthenticationFailed;
    let sig = list
        .find(PayloadType::SIG)
        .ok_or(Error::InvalidMessage(InvalidMessage::MissingPayload("SIG")))?;
    // Certificates of other encodings (PKCS#7, raw keys) are not ours to read; the first
    // X.509 one is the peer's own (RFC 4945 section 3.3.3 leaves the order open, but every
    // implementation sends the end-entity first), the rest intermediates.
    let mut certs = Vec::new();
    for p in list.find_all(PayloadType::CERT) {
        if let Some((&X509_SIGNATURE, der)) = p.body.split_first() {
            let c = Certificate::from_der(der).map_err(|_| {
                Error::InvalidMessage(InvalidMessage::BadPayload(
                    "CERT (not an X.509 certificate)",
                ))
            })?;
            certs.push(c);
        }
    }
    let Some((end, intermediates)) = certs.split_first() else {
        return Err(auth(AuthFailure::NoCertificate { message, peer }));
    };
    let now = unix_time.ok_or(auth(AuthFailure::WallClockUnknown))?;
    // Any trustpoint of the entry will do; report the refusal of the one naming the issuer.
    let mut refusal = None;
    let mut trusted = false;
    for store in &rsa.trust {
        match store.validate(end, intermediates, now) {
            Ok(()) => {
                trusted = true;
                break;
            }
            Err(e) => {
                let names_issuer = store.anchor_by_subject(&end.issuer_der).is_some();
                if refusal.is_none() || names_issuer {
                    refusal = Some(e);
                }
            }
        }
    }
    if !trusted {
        let reason = refusal.unwrap_or(crate::pki::CertRejected::UnknownCa {
            subject: end.subject.clone(),
            issuer: end.issuer.clone(),
        });
        return Err(auth(AuthFailure::Certificate { peer, reason }));
    }
    if !identity_in_certificate(id_body, end) {
        let identity = crate::policy::Phase1Id::from_body(id_body)
            .map_or_else(|| "of unknown type".to_string(), |i| i.to_string());
        return Err(auth(AuthFailure::IdentityNotInCertificate {
            identity,
            subject: end.subject.clone(),
        }));
    }
    if !rsa.takes_certificate(end) {
        return Err(auth(AuthFailure::CertificateMapNotMatched {
            subject: end.subject.clone(),
        }));
    }
    if !end.verify_raw(expect, sig.body) {
        return Err(auth(AuthFailure::SignatureMismatch(sig_name)));
    }
    Ok(())
}

/// RFC 4945 section 3.1: a DN identity is the subject, compared as DER; FQDN, user FQDN and
/// address identities must be subjectAltNames of the certificate.
fn identity_in_certificate(id_body: &[u8], cert: &Certificate) -> bool {
    let Some((&ty, rest)) = id_body.split_first() else {
        return false;
    };
    let Some(data) = rest.get(3..) else {
        return false;
    };
    match ty {
        9 => data == cert.subject_der.as_slice(),
        2 => std::str::from_utf8(data).is_ok_and(|n| cert.has_dns_name(n)),
        3 => std::str::from_utf8(data)
            .is_ok_and(|n| cert.emails.iter().any(|e| e.eq_ignore_ascii_case(n))),
        1 => {
            <[u8; 4]>::try_from(data).is_ok_and(|a| cert.ip_addresses.contains(&Ipv4Addr::from(a)))
        }
        _ => false,
    }
}
