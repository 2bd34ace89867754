//! `--key-dir DIR`: the private keys and CRLs a running-config never holds.
//!
//! Each trustpoint with a certificate of ours needs its `rsakeypair LABEL` (IOS default: the
//! trustpoint's name) as `DIR/LABEL.pem`, PKCS#1 or PKCS#8 PEM, accessible by its owner only
//! (like ssh, a key others can read is refused rather than used). A trustpoint with
//! `revocation-check crl` reads `DIR/TRUSTPOINT.crl` (PEM or DER) when present.

use std::path::{Path, PathBuf};

use ipsec_proto::pki::RevocationCheck;
use ipsec_proto::pki::{PrivateKey, TrustStore};
use ipsec_proto::policy::{GatewayConfig, Trustpoint};

/// What a trustpoint expects in the key directory: `(key label, key file, CRL file)`, the CRL
/// only with `revocation-check crl` or `crl none`. Only trustpoints holding a certificate of
/// ours need a key.
pub fn expected_files(
    cfg: &GatewayConfig,
    dir: &Path,
) -> Vec<(String, Option<PathBuf>, Option<PathBuf>)> {
    cfg.trustpoints
        .iter()
        .map(|tp| {
            let key = has_own_certificate(tp).then(|| dir.join(format!("{}.pem", tp.key_label())));
            let crl = (tp.revocation_check != RevocationCheck::None)
                .then(|| dir.join(format!("{}.crl", tp.name)));
            (tp.name.clone(), key, crl)
        })
        .collect()
}

fn has_own_certificate(tp: &Trustpoint) -> bool {
    tp.chain.iter().any(|c| !c.ca)
}

/// Reads the keys and CRLs of `cfg`'s trustpoints from `dir` into `cfg`. Every problem is
/// returned (a missing or unreadable key, a key file others may read, a CRL that does not
/// parse); a missing CRL is not a problem here (`revocation-check crl` then refuses the
/// peers of that CA, by name, when they connect).
pub fn load(dir: &Path, cfg: &mut GatewayConfig) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for (tp, key, crl) in expected_files(cfg, dir) {
        if let Some(path) = key {
            match read_key(&path) {
                Ok(k) => {
                    let label = cfg
                        .trustpoints
                        .iter()
                        .find(|t| t.name == tp)
                        .map(|t| t.key_label().to_string())
                        .unwrap_or_else(|| tp.clone());
                    cfg.rsa_keys.insert(label, k);
                }
                Err(e) => problems.push(format!("trustpoint {tp}: {e}")),
            }
        }
        if let Some(path) = crl {
            match std::fs::read(&path) {
                Ok(bytes) => match crl_ders(&bytes) {
                    Ok(ders) => cfg.crls.entry(tp.clone()).or_default().extend(ders),
                    Err(e) => problems.push(format!("trustpoint {tp}: {}: {e}", path.display())),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("trustpoint {tp}: {}: {e}", path.display())),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn read_key(path: &Path) -> Result<PrivateKey, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{}: mode {:04o} lets group or others at the private key; refused (chmod 600)",
            path.display(),
            mode & 0o7777
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    PrivateKey::from_pem(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A CRL file's DER blocks: PEM (`-----BEGIN X509 CRL-----`, one or more) or one DER CRL;
/// each must parse.
fn crl_ders(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            TrustStore::crls_from_pem(text).map_err(|e| e.to_string())
        }
        _ => {
            TrustStore::check_crl(bytes).map_err(|e| e.to_string())?;
            Ok(vec![bytes.to_vec()])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("keydir-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("gw.pem");
        std::fs::write(&p, "not a key").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key(&p).unwrap_err();
        assert!(e.contains("mode 0644") && e.contains("refused"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_key(&p).unwrap_err();
        assert!(e.contains("private key unreadable"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
