//! `crypto pki ...`: trustpoints, their certificate chains (hex blocks as `show running-config`
//! prints them, up to `quit`) and certificate maps. Enrollment is never run here (certificates
//! come pasted in the chain, private keys from the key directory), so what only shapes an
//! enrollment request is accepted with a notice; what would change which peer certificates are
//! accepted but is not implemented is refused by name.

use crate::policy::pki::RevocationCheck;
use crate::policy::{CertField, CertMatchOp, CertMatchRule, ChainCertificate, Enrollment};

use super::grammar::{Cmd, Mode, TpAttr};
use super::lex::{pick, Cursor, Pick};
use super::{ConfigError, State};

impl State {
    /// `crypto pki ...` (also the older `crypto ca ...`), after the `pki` keyword.
    pub(super) fn crypto_pki(&self, c: &mut Cursor<'_>) -> Result<Cmd, ConfigError> {
        let save = c.pos;
        if c.opt_kw(&["trustpoint"]).is_some() {
            let name = c.next("trustpoint name")?.text.to_string();
            c.end()?;
            return Ok(Cmd::Trustpoint(name));
        }
        if c.opt_kw(&["certificate"]).is_some() {
            match c.opt_kw(&["chain", "map"]) {
                Some("chain") => {
                    let t = c.next("trustpoint name")?;
                    c.end()?;
                    // IOS refuses a chain for a trustpoint it does not have.
                    if !self.cfg.trustpoints.iter().any(|tp| tp.name == t.text) {
                        return Err(c.err(
                            &t,
                            format!(
                                "no trustpoint {0} (crypto pki trustpoint {0} must come first)",
                                t.text
                            ),
                        ));
                    }
                    return Ok(Cmd::Chain(t.text.to_string()));
                }
                Some(_) => {
                    let name = c.next("certificate map name")?.text.to_string();
                    let seq = c.num("certificate map sequence number", 1, 65_535)? as u16;
                    c.end()?;
                    return Ok(Cmd::CertMap(name, seq));
                }
                None => {}
            }
        }
        c.pos = save.saturating_sub(1);
        let what = format!("certificates (crypto {})", super::crypto::rest_words(c, 3));
        Ok(c.unsupported(what, false, true))
    }

    /// A line of a `certificate` hex block: hex groups, or `quit`, which ends the certificate.
    pub(super) fn cert_hex_line(&mut self, cur: &Cursor<'_>) -> Result<(), ConfigError> {
        let Mode::CertHex {
            trustpoint,
            ca,
            serial,
            ..
        } = self.mode.clone()
        else {
            return Ok(());
        };
        let Some(first) = cur.toks.first() else {
            return Ok(());
        };
        let what = format!("certificate {serial} of chain {trustpoint}");
        if first.text.eq_ignore_ascii_case("quit") {
            if let Some(t) = cur.toks.get(1) {
                return Err(cur.err(t, format!("{what}: unexpected \"{}\" after quit", t.text)));
            }
            let hex = std::mem::take(&mut self.cert_hex);
            let Some(der) = decode_hex(&hex).filter(|d| !d.is_empty()) else {
                return Err(cur.err(first, format!("{what}: no hex data before quit")));
            };
            if let Some(tp) = self
                .cfg
                .trustpoints
                .iter_mut()
                .find(|t| t.name == trustpoint)
            {
                let cert = ChainCertificate { ca, serial, der };
                // Pasting a certificate again replaces it, as IOS keeps one per serial.
                match tp
                    .chain
                    .iter_mut()
                    .find(|x| x.ca == cert.ca && x.serial.eq_ignore_ascii_case(&cert.serial))
                {
                    Some(slot) => *slot = cert,
                    None => tp.chain.push(cert),
                }
            }
            self.mode = Mode::Chain(trustpoint);
            return Ok(());
        }
        for t in &cur.toks {
            if !t.text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(cur.err(
                    t,
                    format!(
                        "{what}: \"{}\" is not hex (a certificate's hex lines end with a line `quit`)",
                        t.text
                    ),
                ));
            }
            // IOS prints whole bytes in every group; an odd group is a damaged copy.
            if !t.text.len().is_multiple_of(2) {
                return Err(cur.err(
                    t,
                    format!(
                        "{what}: hex group \"{}\" has an odd number of digits",
                        t.text
                    ),
                ));
            }
            self.cert_hex.push_str(t.text);
        }
        Ok(())
    }

    /// A certificate hex block still open at the end of the text.
    pub(super) fn unterminated_cert_hex(&self) -> Option<ConfigError> {
        match &self.mode {
            Mode::CertHex {
                trustpoint,
                serial,
                line,
                column,
                ..
            } => Some(ConfigError {
                line: *line,
                column: *column,
                message: format!(
                    "certificate {serial} of chain {trustpoint}: hex block not ended by a line `quit`"
                ),
                unsupported: Vec::new(),
            }),
            _ => None,
        }
    }
}

/// Hex digits (an even number, any case) to bytes.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let b = hex.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// A line of `crypto pki trustpoint NAME`.
pub(super) fn trustpoint_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    const WORDS: &[&str] = &[
        "authorization",
        "auto-enroll",
        "chain-validation",
        "crl",
        "eku",
        "enrollment",
        "exit",
        "fqdn",
        "hash",
        "ip-address",
        "match",
        "ocsp",
        "password",
        "primary",
        "revocation-check",
        "rsakeypair",
        "serial-number",
        "source",
        "subject-alt-name",
        "subject-name",
        "usage",
        "vrf",
    ];
    let k = c.kw(WORDS, "trustpoint command")?;
    Ok(match k {
        "exit" => Cmd::Exit,
        "enrollment" if negate => {
            let _ = c.rest();
            Cmd::TpSet(TpAttr::Enrollment(None))
        }
        "enrollment" => match c.kw(
            &[
                "http-proxy",
                "mode",
                "pkcs12",
                "retry",
                "selfsigned",
                "terminal",
                "url",
            ],
            "enrollment method",
        )? {
            "terminal" => {
                // `enrollment terminal pem`: only how the certificate is pasted differs.
                let _ = c.opt_kw(&["pem"]);
                Cmd::TpSet(TpAttr::Enrollment(Some(Enrollment::Terminal)))
            }
            "selfsigned" => Cmd::TpSet(TpAttr::Enrollment(Some(Enrollment::SelfSigned))),
            "url" => {
                let url = c.next("enrollment URL")?.text.to_string();
                Cmd::TpSet(TpAttr::Enrollment(Some(Enrollment::Url(url))))
            }
            "pkcs12" => c.notice(
                "enrollment pkcs12 ignored: the imported certificates are in the chain, the key \
                 is read from the key directory",
            ),
            m => c.notice(format!(
                "enrollment {m} ignored: enrollment is never run here (certificates come from \
                 the certificate chain)"
            )),
        },
        "subject-name" if negate => {
            let _ = c.rest();
            Cmd::TpSet(TpAttr::SubjectName(None))
        }
        "subject-name" => {
            if c.at_end() {
                return Err(c.err_at(c.eol_col, "missing subject name"));
            }
            Cmd::TpSet(TpAttr::SubjectName(Some(c.rest())))
        }
        "revocation-check" if negate => {
            let _ = c.rest();
            Cmd::TpSet(TpAttr::Revocation(RevocationCheck::Crl))
        }
        "revocation-check" => {
            let mut methods = Vec::new();
            while !c.at_end() {
                methods.push(c.kw(&["crl", "none", "ocsp"], "revocation method")?);
            }
            if methods.contains(&"ocsp") {
                return Ok(c.unsupported("OCSP (revocation-check ocsp)", false, false));
            }
            // IOS tries the methods in order and `none` always succeeds, so what follows it is
            // never reached.
            Cmd::TpSet(TpAttr::Revocation(match methods.as_slice() {
                [] => return Err(c.err_at(c.eol_col, "missing revocation method")),
                ["none", ..] => RevocationCheck::None,
                [.., "none"] => RevocationCheck::CrlOrNone,
                _ => RevocationCheck::Crl,
            }))
        }
        "rsakeypair" if negate => {
            let _ = c.rest();
            Cmd::TpSet(TpAttr::RsaKeypair(None))
        }
        "rsakeypair" => {
            let label = c.next("key label")?.text.to_string();
            // Key sizes only say what to generate; the key itself is read from LABEL.pem.
            while let Some(t) = c.peek() {
                c.pos += 1;
                c.num_tok(&t, "key size", 360, 16_384)?;
            }
            Cmd::TpSet(TpAttr::RsaKeypair(Some(label)))
        }
        "fqdn" | "ip-address" | "serial-number" | "subject-alt-name" | "password" | "usage"
        | "hash" | "auto-enroll" | "source" | "vrf" | "eku" => c.notice(format!(
            "{k} ignored: it shapes enrollment requests, which are never made here"
        )),
        "crl" | "ocsp" => c.notice(format!(
            "{k} ignored: CRLs are read from the key directory, never fetched"
        )),
        "match" => {
            let what = super::crypto::rest_words(c, 3);
            c.unsupported(
                format!("certificate authorization in a trustpoint (match {what})"),
                false,
                false,
            )
        }
        k => {
            let _ = c.rest();
            Cmd::Unsupported {
                feature: format!("trustpoint {k}"),
                later: false,
                block: false,
            }
        }
    })
}

/// A line of `crypto pki certificate chain NAME`.
pub(super) fn chain_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    if c.kw(&["certificate", "exit"], "certificate chain command")? == "exit" {
        return Ok(Cmd::Exit);
    }
    let first = c.next("certificate serial number")?;
    let mut ca = false;
    let serial = if c.peek().is_some() {
        match pick(first.text, &["ca", "self-signed"]) {
            Pick::One("ca") => ca = true,
            Pick::One(_) => {}
            _ => {
                let what = first.text;
                return Err(c.err(
                    &first,
                    format!("certificate {what}: only `certificate [ca | self-signed] SERIAL` is supported"),
                ));
            }
        }
        c.next("certificate serial number")?
    } else {
        first
    };
    if !serial.text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(c.err(
            &serial,
            format!("invalid certificate serial number \"{}\"", serial.text),
        ));
    }
    let serial = serial.text.to_string();
    Ok(if negate {
        Cmd::NoChainCert(serial)
    } else {
        Cmd::ChainCert { ca, serial }
    })
}

/// A line of `crypto pki certificate map NAME SEQ`: `FIELD OP VALUE`.
pub(super) fn cert_map_cmd(c: &mut Cursor<'_>, negate: bool) -> Result<Cmd, ConfigError> {
    let k = c.kw(
        &[
            "alt-subject-name",
            "exit",
            "expires-on",
            "issuer-name",
            "name",
            "serial-number",
            "subject-name",
            "unstructured-subject-name",
            "valid-start",
        ],
        "certificate map field",
    )?;
    let field = match k {
        "exit" => return Ok(Cmd::Exit),
        "subject-name" => CertField::SubjectName,
        "issuer-name" => CertField::IssuerName,
        "alt-subject-name" => CertField::AltSubjectName,
        k => return Ok(c.unsupported(format!("certificate map field {k}"), false, false)),
    };
    let op = match c.kw(&["co", "eq", "nc", "ne"], "match operator")? {
        "eq" => CertMatchOp::Eq,
        "ne" => CertMatchOp::Ne,
        "co" => CertMatchOp::Co,
        _ => CertMatchOp::Nc,
    };
    if c.at_end() {
        return Err(c.err_at(c.eol_col, "missing match value"));
    }
    let rule = CertMatchRule {
        field,
        op,
        value: c.rest(),
    };
    Ok(if negate {
        Cmd::NoCertRule(rule)
    } else {
        Cmd::CertRule(rule)
    })
}

/// The IOS keyword of a certificate map field.
pub(super) fn field_keyword(f: CertField) -> &'static str {
    match f {
        CertField::SubjectName => "subject-name",
        CertField::IssuerName => "issuer-name",
        CertField::AltSubjectName => "alt-subject-name",
    }
}

/// The IOS keyword of a certificate map operator.
pub(super) fn op_keyword(o: CertMatchOp) -> &'static str {
    match o {
        CertMatchOp::Eq => "eq",
        CertMatchOp::Ne => "ne",
        CertMatchOp::Co => "co",
        CertMatchOp::Nc => "nc",
    }
}
