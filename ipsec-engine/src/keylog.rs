//! Wireshark key export (`run --keylog DIR`): **the files written here contain every session key
//! of the gateway**. Anyone holding them can decrypt captured IKE and ESP traffic (past captures
//! included, for the SAs listed). Use only while debugging, on a lab or with consent, and delete
//! the directory afterwards.
//!
//! The directory is laid out as a Wireshark configuration directory, so
//! `WIRESHARK_CONFIG_DIR=DIR tshark -r capture.pcapng` decrypts at once:
//! - `ikev1_decryption_table`: `<initiator cookie hex>,<Phase 1 encryption key hex>` (unquoted;
//!   the key is the encryption key after RFC 2409 Appendix B expansion, not SKEYID_e);
//! - `esp_sa`: one UAT line per ESP SA and direction,
//!   `"IPv4","*","*","0x<SPI>","<cipher>","0x<key>","<integrity>","0x<key>"`;
//! - `preferences`: ESP decryption and ICV checking on (written once, not overwritten).
//!
//! Lines are appended as SAs are created and never removed, so a capture that spans rekeys still
//! decrypts. Files are created with mode 0600 and the directory with 0700.

use ipsec_proto::crypto::cipher::CipherAlg;
use ipsec_proto::esp::{EspCipher, EspIntegrity, EspKeys};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Wireshark's file of IKEv1 keys.
pub const IKEV1_TABLE: &str = "ikev1_decryption_table";
/// Wireshark's file of ESP SAs.
pub const ESP_SA_TABLE: &str = "esp_sa";
/// Wireshark's preferences file.
pub const PREFERENCES: &str = "preferences";
/// What `preferences` must say for ESP to be decrypted and verified.
pub const PREFERENCES_TEXT: &str =
    "# Written by ipsec-engine --keylog\nesp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Wireshark's name of an ESP cipher (the strings of its `esp_sa` UAT).
pub fn wireshark_cipher(c: EspCipher) -> &'static str {
    match c {
        EspCipher::Null => "NULL",
        EspCipher::Cbc(CipherAlg::Des) => "DES-CBC [RFC2405]",
        EspCipher::Cbc(CipherAlg::TripleDes) => "TripleDES-CBC [RFC2451]",
        // Wireshark takes the AES key size from the key itself.
        EspCipher::Cbc(CipherAlg::Aes128 | CipherAlg::Aes192 | CipherAlg::Aes256) => {
            "AES-CBC [RFC3602]"
        }
    }
}

/// Wireshark's name of an ESP integrity algorithm (`NULL` when there is none).
pub fn wireshark_integrity(i: Option<EspIntegrity>) -> &'static str {
    match i {
        None => "NULL",
        Some(EspIntegrity::HmacMd5_96) => "HMAC-MD5-96 [RFC2403]",
        Some(EspIntegrity::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(EspIntegrity::HmacSha256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(EspIntegrity::HmacSha384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(EspIntegrity::HmacSha512_256) => "HMAC-SHA-512-256 [RFC4868]",
    }
}

/// **Exposes secrets.** The `esp_sa` line of one SA (one direction).
pub fn esp_sa_line(k: &EspKeys) -> String {
    let t = k.transform();
    format!(
        "\"IPv4\",\"*\",\"*\",\"0x{:08x}\",\"{}\",\"0x{}\",\"{}\",\"0x{}\"",
        k.spi(),
        wireshark_cipher(t.cipher),
        hex(k.enc_key()),
        wireshark_integrity(t.integrity),
        hex(k.auth_key())
    )
}

/// **Exposes secrets.** The `ikev1_decryption_table` line of one ISAKMP SA.
pub fn ikev1_line(cookie_i: &[u8], enc_key: &[u8]) -> String {
    format!("{},{}", hex(cookie_i), hex(enc_key))
}

/// An open key-log directory; see the module documentation.
#[derive(Debug)]
pub struct KeyLog {
    dir: PathBuf,
    ike: File,
    esp: File,
    written: HashSet<String>,
}

fn open_append(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)
}

impl KeyLog {
    /// Creates `dir` (mode 0700) if needed, opens the two tables for appending (created 0600)
    /// and writes `preferences` when it does not exist yet.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<KeyLog> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let prefs = dir.join(PREFERENCES);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&prefs)
        {
            Ok(mut f) => f.write_all(PREFERENCES_TEXT.as_bytes())?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        Ok(KeyLog {
            ike: open_append(&dir.join(IKEV1_TABLE))?,
            esp: open_append(&dir.join(ESP_SA_TABLE))?,
            dir,
            written: HashSet::new(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn append(f: &mut File, written: &mut HashSet<String>, line: String) -> io::Result<()> {
        if written.contains(&line) {
            return Ok(());
        }
        f.write_all(format!("{line}\n").as_bytes())?;
        f.flush()?;
        written.insert(line);
        Ok(())
    }

    /// Appends the lines of `table` (as [`ipsec_proto::ike::Endpoint::dangerous_wireshark_ikev1_keys`]
    /// returns it) not written before.
    pub fn ikev1_table(&mut self, table: &str) -> io::Result<()> {
        for l in table.lines().filter(|l| !l.is_empty()) {
            Self::append(&mut self.ike, &mut self.written, l.to_string())?;
        }
        Ok(())
    }

    /// Appends one ESP SA.
    pub fn esp_sa(&mut self, k: &EspKeys) -> io::Result<()> {
        Self::append(&mut self.esp, &mut self.written, esp_sa_line(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipsec_proto::esp::EspTransform;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lines_and_modes() {
        let k = EspKeys::new(
            0x1234_abcd,
            EspTransform::new(CipherAlg::Aes256, Some(EspIntegrity::HmacSha256_128)),
            &[0x11; 32],
            &[0x22; 32],
        )
        .unwrap();
        let line = esp_sa_line(&k);
        assert_eq!(
            line,
            format!(
                "\"IPv4\",\"*\",\"*\",\"0x1234abcd\",\"AES-CBC [RFC3602]\",\"0x{}\",\"HMAC-SHA-256-128 [RFC4868]\",\"0x{}\"",
                "11".repeat(32),
                "22".repeat(32)
            )
        );
        assert_eq!(
            ikev1_line(&[1, 2, 3, 4, 5, 6, 7, 0xff], &[0xab; 3]),
            "01020304050607ff,ababab"
        );
        let dir = std::env::temp_dir().join(format!("keylog-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = KeyLog::open(&dir).unwrap();
        log.esp_sa(&k).unwrap();
        log.esp_sa(&k).unwrap();
        log.ikev1_table("0102030405060708,aabb\n").unwrap();
        drop(log);
        // Reopening appends, never truncates.
        let mut log = KeyLog::open(&dir).unwrap();
        log.ikev1_table("1112131415161718,ccdd\n").unwrap();
        let esp = std::fs::read_to_string(dir.join(ESP_SA_TABLE)).unwrap();
        assert_eq!(esp, format!("{line}\n"));
        let ike = std::fs::read_to_string(dir.join(IKEV1_TABLE)).unwrap();
        assert_eq!(ike, "0102030405060708,aabb\n1112131415161718,ccdd\n");
        for f in [IKEV1_TABLE, ESP_SA_TABLE, PREFERENCES] {
            let m = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o600, "{f}");
        }
        assert!(std::fs::read_to_string(dir.join(PREFERENCES))
            .unwrap()
            .contains("esp.enable_encryption_decode: TRUE"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
