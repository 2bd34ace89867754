//! Certificates as IOS configures them: `crypto pki trustpoint`, `crypto pki certificate chain`,
//! `crypto pki certificate map`, `crypto isakmp identity`.

pub use crate::pki::RevocationCheck;
use crate::pki::{Certificate, PrivateKey, TrustStore};

/// `enrollment ...` of a trustpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enrollment {
    /// `enrollment terminal`: certificates pasted (the chain block holds them).
    Terminal,
    /// `enrollment selfsigned`.
    SelfSigned,
    /// `enrollment url URL` (SCEP): read and shown, never contacted.
    Url(String),
}

/// One `certificate [ca] SERIAL` block of `crypto pki certificate chain T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainCertificate {
    /// `certificate ca`: a CA certificate (a trust anchor); otherwise ours.
    pub ca: bool,
    /// The serial label as written (hex, as `show running-config` prints it).
    pub serial: String,
    /// The certificate, DER (the hex block decoded).
    pub der: Vec<u8>,
}

/// `crypto pki trustpoint NAME` with its certificate chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trustpoint {
    /// Its name.
    pub name: String,
    /// `enrollment ...`.
    pub enrollment: Option<Enrollment>,
    /// `subject-name X.500-NAME`, as written.
    pub subject_name: Option<String>,
    /// `revocation-check none | crl | crl none` (IOS default: crl).
    pub revocation_check: RevocationCheck,
    /// `rsakeypair LABEL`: our key, read from `LABEL.pem` in the key directory (private keys are
    /// not in a running-config).
    pub rsakeypair: Option<String>,
    /// `crypto pki certificate chain NAME`: its certificates in configuration order.
    pub chain: Vec<ChainCertificate>,
}

impl Trustpoint {
    /// The key label: `rsakeypair LABEL`, else IOS's default, the trustpoint name.
    pub fn key_label(&self) -> &str {
        self.rsakeypair.as_deref().unwrap_or(&self.name)
    }
}

/// `crypto isakmp identity address | hostname | dn`: what we send in our Phase 1 ID payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IsakmpIdentity {
    /// `address` (the IOS default): ID_IPV4_ADDR.
    #[default]
    Address,
    /// `hostname`: ID_FQDN `hostname.domain`.
    Hostname,
    /// `dn`: ID_DER_ASN1_DN, the subject of our certificate.
    Dn,
}

/// Which certificate field a `crypto pki certificate map` rule tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertField {
    /// `subject-name`.
    SubjectName,
    /// `issuer-name`.
    IssuerName,
    /// `alt-subject-name`: any subjectAltName (DNS, IP address, e-mail).
    AltSubjectName,
}

/// The operator of a certificate map rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertMatchOp {
    /// `eq`: equal (case-insensitive, as IOS compares).
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `nc`: does not contain.
    Nc,
}

/// One line of a certificate map: `subject-name co example`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertMatchRule {
    /// The field.
    pub field: CertField,
    /// The operator.
    pub op: CertMatchOp,
    /// The value, as written.
    pub value: String,
}

/// `crypto pki certificate map NAME SEQ`: a certificate matches when every rule holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateMap {
    /// Its name (an ISAKMP profile's `match certificate NAME`).
    pub name: String,
    /// Its sequence number; entries of one name are alternatives.
    pub seq: u16,
    /// The rules.
    pub rules: Vec<CertMatchRule>,
}

impl CertMatchRule {
    /// Whether `cert` satisfies this rule.
    pub fn matches(&self, cert: &Certificate) -> bool {
        let value = self.value.to_ascii_lowercase();
        let test = |field: &str| {
            let field = field.to_ascii_lowercase();
            match self.op {
                CertMatchOp::Eq => field == value,
                CertMatchOp::Ne => field != value,
                CertMatchOp::Co => field.contains(&value),
                CertMatchOp::Nc => !field.contains(&value),
            }
        };
        match self.field {
            CertField::SubjectName => test(&cert.subject),
            CertField::IssuerName => test(&cert.issuer),
            CertField::AltSubjectName => {
                let alts: Vec<String> = cert
                    .dns_names
                    .iter()
                    .cloned()
                    .chain(cert.emails.iter().cloned())
                    .chain(cert.ip_addresses.iter().map(|a| a.to_string()))
                    .collect();
                // Negative operators hold when no alternative name breaks them; positive ones
                // when one satisfies them.
                match self.op {
                    CertMatchOp::Ne | CertMatchOp::Nc => alts.iter().all(|a| test(a)),
                    CertMatchOp::Eq | CertMatchOp::Co => alts.iter().any(|a| test(a)),
                }
            }
        }
    }
}

/// Whether `cert` matches one entry named `name` among `maps` (entries of a name are
/// alternatives, tried in sequence order; an unknown name matches nothing).
pub fn certificate_map_matches(maps: &[CertificateMap], name: &str, cert: &Certificate) -> bool {
    maps.iter()
        .filter(|m| m.name == name)
        .any(|m| m.rules.iter().all(|r| r.matches(cert)))
}

/// What a peer entry authenticates with when its policies say `rsa-sig`: our key and
/// certificate chain, and what the peer's certificate must chain to and match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaSigConfig {
    /// Our private key.
    pub key: PrivateKey,
    /// Our certificate first, then any intermediates we send with it.
    pub chain: Vec<Certificate>,
    /// The trustpoints a peer certificate may chain to (an ISAKMP profile's `ca trust-point`
    /// lines, else every trustpoint with a CA certificate); CR payloads name their CAs.
    pub trust: Vec<TrustStore>,
    /// The ISAKMP profile's `match certificate NAME` maps, resolved: the peer's certificate
    /// must match one of them when not empty.
    pub certificate_maps: Vec<Vec<CertificateMap>>,
}

impl RsaSigConfig {
    /// Whether the profile's certificate maps take `cert` (always when it has none).
    pub fn takes_certificate(&self, cert: &Certificate) -> bool {
        self.certificate_maps.is_empty()
            || self.certificate_maps.iter().any(|entries| {
                entries
                    .iter()
                    .any(|m| m.rules.iter().all(|r| r.matches(cert)))
            })
    }
}

impl super::GatewayConfig {
    /// The rsa-sig configuration of an entry whose ISAKMP profile is `profile`: `Ok(None)`
    /// when no ISAKMP policy says `authentication rsa-sig`; `Err` (the reason, for the entry's
    /// skipped note) when one does but no trustpoint gives both a certificate of ours and its
    /// key, or a configured certificate, CRL or certificate map is unusable.
    pub fn rsa_sig_config(
        &self,
        profile: Option<&super::IsakmpProfile>,
    ) -> Result<Option<RsaSigConfig>, String> {
        if !self
            .isakmp_policies
            .iter()
            .any(|p| p.authentication == super::IkeAuth::RsaSig)
        {
            return Ok(None);
        }
        let named = profile.map(|p| p.ca_trustpoints.as_slice()).unwrap_or(&[]);
        let mut used = Vec::new();
        for n in named {
            match self.trustpoints.iter().find(|t| &t.name == n) {
                Some(t) => used.push(t),
                None => return Err(format!("ca trust-point {n}: no such trustpoint")),
            }
        }
        if named.is_empty() {
            used = self.trustpoints.iter().collect();
        }
        let parse = |tp: &Trustpoint, c: &ChainCertificate| {
            Certificate::from_der(&c.der)
                .map_err(|e| format!("trustpoint {}: certificate {}: {e}", tp.name, c.serial))
        };
        let mut trust = Vec::new();
        let mut own: Option<(PrivateKey, Vec<Certificate>)> = None;
        let mut missing_key = None;
        for tp in &used {
            let mut anchors = Vec::new();
            for c in tp.chain.iter().filter(|c| c.ca) {
                anchors.push(parse(tp, c)?);
            }
            let crls = self.crls.get(&tp.name).cloned().unwrap_or_default();
            for crl in &crls {
                TrustStore::check_crl(crl).map_err(|e| format!("trustpoint {}: {e}", tp.name))?;
            }
            if !anchors.is_empty() {
                trust.push(TrustStore {
                    name: tp.name.clone(),
                    anchors,
                    crls,
                    revocation: tp.revocation_check,
                });
            }
            if own.is_some() {
                continue;
            }
            let mine: Vec<Certificate> = tp
                .chain
                .iter()
                .filter(|c| !c.ca)
                .map(|c| parse(tp, c))
                .collect::<Result<_, _>>()?;
            let Some(first) = mine.first() else { continue };
            match self.rsa_keys.get(tp.key_label()) {
                Some(k) if k.matches(first) => own = Some((k.clone(), mine)),
                Some(_) => {
                    return Err(format!(
                        "trustpoint {}: key {} is not the key of its certificate",
                        tp.name,
                        tp.key_label()
                    ))
                }
                None => missing_key = Some((tp.name.clone(), tp.key_label().to_string())),
            }
        }
        let Some((key, chain)) = own else {
            return Err(match missing_key {
                Some((tp, label)) => {
                    format!("trustpoint {tp}: rsakeypair {label}: no key loaded (key directory file {label}.pem)")
                }
                None => "no trustpoint holds a certificate of ours".to_string(),
            });
        };
        if trust.is_empty() {
            return Err("no trustpoint holds a CA certificate".to_string());
        }
        let mut certificate_maps = Vec::new();
        for m in profile
            .map(|p| p.match_certificates.as_slice())
            .unwrap_or(&[])
        {
            let entries: Vec<CertificateMap> = self
                .certificate_maps
                .iter()
                .filter(|c| &c.name == m)
                .cloned()
                .collect();
            if entries.is_empty() {
                return Err(format!("match certificate {m}: no such certificate map"));
            }
            certificate_maps.push(entries);
        }
        Ok(Some(RsaSigConfig {
            key,
            chain,
            trust,
            certificate_maps,
        }))
    }
}
