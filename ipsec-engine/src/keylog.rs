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
//!
//! The engine usually runs as root, so the directory is checked before a key goes into it: an
//! existing directory must be a real directory (not a symbolic link), owned by our effective uid,
//! with no group or other permission bits; a file in it is never reached through a symbolic link
//! (`O_NOFOLLOW`, new files with `O_EXCL`), must be a regular file of ours with one link, and is
//! set to 0600 on the open descriptor before anything is written. Anything else is refused with
//! an error naming the problem, so another local user cannot redirect the keys into a file of
//! their choosing or read them from a directory they can enter.

use ipsec_proto::crypto::cipher::CipherAlg;
use ipsec_proto::esp::{EspCipher, EspIntegrity, EspKeys};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
        // Wireshark's GCM key is the AES key followed by the salt, as KEYMAT is.
        EspCipher::AesGcm16(_) => "AES-GCM with 16 octet ICV [RFC4106]",
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

/// Mode of the directory.
const DIR_MODE: u32 = 0o700;
/// Mode of every file written into it.
const FILE_MODE: u32 = 0o600;

fn euid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

fn refused(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{}: {why}; refusing to write session keys there",
            path.display()
        ),
    )
}

/// An existing key-log directory is accepted only if nobody else could have put something in it
/// or can read from it.
fn check_dir(dir: &Path) -> io::Result<()> {
    let m = std::fs::symlink_metadata(dir)?;
    if m.file_type().is_symlink() {
        return Err(refused(dir, "is a symbolic link, not a directory"));
    }
    if !m.is_dir() {
        return Err(refused(dir, "is not a directory"));
    }
    let me = euid();
    if m.uid() != me {
        return Err(refused(
            dir,
            format_args!(
                "is owned by uid {}, not by this process (uid {me})",
                m.uid()
            ),
        ));
    }
    if m.mode() & 0o077 != 0 {
        return Err(refused(
            dir,
            format_args!(
                "has mode {:04o}: group and others must have no access (chmod 700 it)",
                m.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Checks what `open` gave us (through the descriptor, so it is the file we will write) and sets
/// its mode to 0600 on the descriptor.
fn secure(p: &Path, f: File) -> io::Result<File> {
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(refused(p, "is not a regular file"));
    }
    let me = euid();
    if m.uid() != me {
        return Err(refused(
            p,
            format_args!(
                "is owned by uid {}, not by this process (uid {me})",
                m.uid()
            ),
        ));
    }
    // A second name could be anywhere, readable by anyone.
    if m.nlink() != 1 {
        return Err(refused(p, format_args!("has {} hard links", m.nlink())));
    }
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

fn symlink_refused(p: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        refused(p, "is a symbolic link")
    } else {
        e
    }
}

/// Creates `p` (which must not exist, not even as a dangling symbolic link) for writing.
fn create_new(p: &Path, append: bool) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .append(append)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)?;
    secure(p, f)
}

/// Opens `p` for appending, creating it when absent.
fn open_append(p: &Path) -> io::Result<File> {
    match create_new(p, true) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        r => return r,
    }
    // O_NONBLOCK: a FIFO planted in place of the table must not hang us in open; `secure`
    // refuses it afterwards. It changes nothing for a regular file.
    let f = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(p)
        .map_err(|e| symlink_refused(p, e))?;
    secure(p, f)
}

impl KeyLog {
    /// Creates `dir` (mode 0700) if needed, opens the two tables for appending (created 0600)
    /// and writes `preferences` when it does not exist yet. An existing `dir` or file that
    /// another user could have planted or can read is refused (see the module documentation).
    pub fn open(dir: impl AsRef<Path>) -> io::Result<KeyLog> {
        let dir = dir.as_ref().to_path_buf();
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The umask can only take bits away from 0700, so the new directory is private.
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(&dir)?;
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        check_dir(&dir)?;
        let prefs = dir.join(PREFERENCES);
        match create_new(&prefs, false) {
            Ok(mut f) => f.write_all(PREFERENCES_TEXT.as_bytes())?,
            // Never written again, so never opened again either.
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

    /// Appends the lines of `table` (the whole table, as [`ipsec_proto::keylog::KeyLog::ikev1_table`]
    /// receives it) not written before.
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

/// The endpoint under the tunnel layer hands its keys here; a write error is logged, never fatal
/// to the tunnels.
impl ipsec_proto::keylog::KeyLog for KeyLog {
    fn ikev1_table(&mut self, table: &str) {
        if let Err(e) = KeyLog::ikev1_table(self, table) {
            tracing::error!("key log {}: {e}", self.dir().display());
        }
    }

    fn esp_sa(&mut self, keys: &EspKeys) {
        if let Err(e) = KeyLog::esp_sa(self, keys) {
            tracing::error!("key log {}: {e}", self.dir().display());
        }
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
        let m = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(m & 0o777, 0o700);
        assert!(std::fs::read_to_string(dir.join(PREFERENCES))
            .unwrap()
            .contains("esp.enable_encryption_decode: TRUE"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh path under the temporary directory; nothing exists there yet.
    fn scratch(tag: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("keylog-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
        p
    }

    fn private_dir(tag: &str) -> PathBuf {
        let d = scratch(tag);
        std::fs::DirBuilder::new().mode(0o700).create(&d).unwrap();
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// Stops a local user from redirecting the session keys: a symbolic link planted in place of
    /// a key table (to a file they can read, or to a file of root's they want appended to) used
    /// to be followed by the root engine. Now it is refused and the link's target is untouched,
    /// whether it exists or not.
    #[test]
    fn a_symlinked_table_is_refused_and_its_target_untouched() {
        for table in [IKEV1_TABLE, ESP_SA_TABLE] {
            let dir = private_dir("symlink");
            let outside = private_dir("target");
            let target = outside.join("victim");
            std::fs::write(&target, "precious\n").unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::os::unix::fs::symlink(&target, dir.join(table)).unwrap();
            let e = KeyLog::open(&dir).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{table}: {e}");
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
            assert_eq!(mode(&target), 0o644, "{table}: target re-moded");

            // A dangling link must not make us create its target either.
            let absent = outside.join("absent");
            std::fs::remove_file(dir.join(table)).unwrap();
            std::os::unix::fs::symlink(&absent, dir.join(table)).unwrap();
            let e = KeyLog::open(&dir).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{table}: {e}");
            assert!(!absent.exists(), "{table}: dangling link followed");
            std::fs::remove_dir_all(&dir).unwrap();
            std::fs::remove_dir_all(&outside).unwrap();
        }
    }

    /// Stops a local user from reading the keys out of a directory they can enter: an existing
    /// directory with group or other bits (here 0755) used to be accepted as it was.
    #[test]
    fn a_directory_others_can_enter_is_refused() {
        let dir = private_dir("mode");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = KeyLog::open(&dir).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("mode 0755"), "{msg}");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(!dir.join(IKEV1_TABLE).exists() && !dir.join(PREFERENCES).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Stops another user from preparing the key-log directory (and so owning, reading or
    /// swapping what goes into it): a directory owned by uid 65534 used to be written into.
    /// Needs root to hand the directory to another uid; skipped otherwise.
    #[test]
    fn a_directory_of_another_user_is_refused() {
        let dir = private_dir("owner");
        if let Err(e) = std::os::unix::fs::chown(&dir, Some(65534), Some(65534)) {
            eprintln!("NOTICE: skipping: cannot chown a directory to uid 65534 ({e})");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        let e = KeyLog::open(&dir).unwrap_err();
        assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        assert!(!dir.join(IKEV1_TABLE).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Stops a local user from pointing `--keylog DIR` somewhere else: a symbolic link in place
    /// of the directory (even to a private directory of ours) used to be followed.
    #[test]
    fn a_symlinked_directory_is_refused() {
        let real = private_dir("real");
        let link = scratch("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = KeyLog::open(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!real.join(IKEV1_TABLE).exists());
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir_all(&real).unwrap();
    }

    /// Stops keys from landing in a table left readable by others: an existing 0644 table used to
    /// keep its mode when reopened for appending; now it is 0600 before any key is written.
    #[test]
    fn an_existing_table_is_made_0600() {
        let dir = private_dir("reopen");
        let t = dir.join(ESP_SA_TABLE);
        std::fs::write(&t, "").unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o644)).unwrap();
        let log = KeyLog::open(&dir).unwrap();
        assert_eq!(mode(&t), 0o600);
        assert_eq!(mode(&dir.join(IKEV1_TABLE)), 0o600);
        assert_eq!(mode(&dir), 0o700);
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
