//! Packet captures with dumpcap inside a namespace, decoded by tshark.

use crate::error::{io, LabError, Result};
use crate::keylog::{CharonKeys, SaKeys};
use crate::netns::Netns;
use crate::util::{hex, run, stop_child, wait_until, ScratchDir};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running (then stopped) capture to a pcapng file in its own scratch directory.
#[derive(Debug)]
pub struct Capture {
    dir: ScratchDir,
    child: Option<Child>,
    file: PathBuf,
}

impl Capture {
    /// Start `dumpcap -i <iface> -f <filter>` inside `ns`; returns once dumpcap reports that it
    /// is capturing, so traffic sent afterwards is in the file.
    pub fn start(ns: &Netns, iface: &str, filter: &str) -> Result<Self> {
        let dir = ScratchDir::new(&format!("cap-{iface}"))?;
        let file = dir.path().join(format!("{iface}.pcapng"));
        let errf = dir.path().join("dumpcap.err");
        let err = File::create(&errf).map_err(io("create dumpcap.err"))?;
        let mut cmd = ns.command("dumpcap");
        cmd.args(["-i", iface, "-w"]).arg(&file);
        if !filter.is_empty() {
            cmd.args(["-f", filter]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(io("spawn dumpcap"))?;
        let mut me = Self {
            dir,
            child: Some(child),
            file,
        };
        let mut died = None;
        let ok = wait_until(Duration::from_secs(10), || {
            if let Some(Ok(Some(st))) = me.child.as_mut().map(Child::try_wait) {
                died = Some(st);
                return true;
            }
            std::fs::read_to_string(&errf).is_ok_and(|s| s.contains("Capturing on"))
        });
        let err_text = || std::fs::read_to_string(&errf).unwrap_or_default();
        if let Some(st) = died {
            return Err(LabError::Died {
                what: "dumpcap".into(),
                status: st.to_string(),
                output: err_text(),
            });
        }
        if !ok {
            return Err(LabError::Timeout {
                what: "dumpcap to start".into(),
                waited: Duration::from_secs(10),
            });
        }
        Ok(me)
    }

    /// Stop dumpcap (SIGINT lets it finish the file) and return the file's path.
    pub fn stop(&mut self) -> &Path {
        if let Some(mut c) = self.child.take() {
            // libpcap hands packets over in blocks retired by a ~250 ms timeout, and dumpcap
            // drops a block not yet retired when signalled: packets of the last moments
            // would be missing.
            std::thread::sleep(Duration::from_millis(400));
            stop_child(&mut c, "INT", Duration::from_secs(5));
        }
        &self.file
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The scratch directory (a good place for a Wireshark config dir).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stop if needed, then `tshark -r <file> -V <extra>`.
    pub fn decode(&mut self, extra: &[&str]) -> Result<String> {
        self.stop();
        decode(&self.file, None, extra)
    }

    /// Stop if needed, then decode with `WIRESHARK_CONFIG_DIR=<config>` (see [`WiresharkKeys`]).
    pub fn decode_with(&mut self, config: &Path, extra: &[&str]) -> Result<String> {
        self.stop();
        decode(&self.file, Some(config), extra)
    }
}

impl Capture {
    /// Stop if needed, then one row per packet matching `display_filter` with the values of
    /// `fields` (tshark `-T fields`; a field that occurs several times is joined by `,`).
    pub fn fields(&mut self, display_filter: &str, fields: &[&str]) -> Result<Vec<Vec<String>>> {
        self.stop();
        fields_of(&self.file, None, display_filter, fields)
    }
}

/// `tshark -r <file> -Y <filter> -T fields -e ...`, split into rows and columns.
pub fn fields_of(
    file: &Path,
    config: Option<&Path>,
    display_filter: &str,
    fields: &[&str],
) -> Result<Vec<Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(["-T", "fields", "-E", "separator=/t"]);
    if !display_filter.is_empty() {
        cmd.args(["-Y", display_filter]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    if let Some(c) = config {
        cmd.env("WIRESHARK_CONFIG_DIR", c);
    }
    let out = run(&mut cmd)?;
    Ok(out
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `tshark -r <file> -V <extra>`, optionally with a Wireshark config directory.
pub fn decode(file: &Path, config: Option<&Path>, extra: &[&str]) -> Result<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).arg("-V").args(extra);
    if let Some(c) = config {
        cmd.env("WIRESHARK_CONFIG_DIR", c);
    }
    run(&mut cmd)
}

/// Decryption tables for tshark, filled from charon's logged keys (or our own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WiresharkKeys {
    ikev1: Vec<(Vec<u8>, Vec<u8>)>,
    esp: Vec<String>,
}

/// Wireshark's ESP cipher name for a strongSwan algorithm name, with the key length.
fn ws_encr(alg: &str, key_len: usize) -> Option<&'static str> {
    Some(match (alg, key_len) {
        ("3DES_CBC", _) => "TripleDES-CBC [RFC2451]",
        ("AES_CBC", _) => "AES-CBC [RFC3602]",
        ("AES_GCM_16", _) => "AES-GCM with 16 octet ICV [RFC4106]",
        ("DES_CBC", _) => "DES-CBC [RFC2405]",
        ("NULL", _) => "NULL",
        _ => return None,
    })
}

fn ws_integ(alg: &str) -> Option<&'static str> {
    Some(match alg {
        "HMAC_SHA1_96" => "HMAC-SHA-1-96 [RFC2404]",
        "HMAC_MD5_96" => "HMAC-MD5-96 [RFC2403]",
        "HMAC_SHA2_256_128" => "HMAC-SHA-256-128 [RFC4868]",
        "HMAC_SHA2_384_192" => "HMAC-SHA-384-192 [RFC4868]",
        "HMAC_SHA2_512_256" => "HMAC-SHA-512-256 [RFC4868]",
        _ => return None,
    })
}

impl WiresharkKeys {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// An ISAKMP SA: initiator cookie and Phase 1 encryption key.
    pub fn ikev1(mut self, cookie_i: &[u8], enc_key: &[u8]) -> Self {
        self.ikev1.push((cookie_i.to_vec(), enc_key.to_vec()));
        self
    }

    /// An ESP SA; `None` if Wireshark has no name for one of its algorithms.
    pub fn esp(mut self, sa: &SaKeys) -> Option<Self> {
        let e = ws_encr(&sa.encr_alg, sa.enc_key.len())?;
        let i = ws_integ(&sa.integ_alg)?;
        self.esp.push(format!(
            "\"IPv4\",\"*\",\"*\",\"0x{:08x}\",\"{e}\",\"0x{}\",\"{i}\",\"0x{}\"",
            sa.spi,
            hex(&sa.enc_key),
            hex(&sa.integ_key)
        ));
        Some(self)
    }

    /// Every Phase 1 and every SA with known algorithms from one charon's keys.
    pub fn from_charon(keys: &CharonKeys) -> Self {
        let mut w = Self::new();
        for p in keys.phase1.iter().filter(|p| !p.cookie_i.is_empty()) {
            w = w.ikev1(&p.cookie_i, &p.enc_key);
        }
        for sa in &keys.sas {
            w = match w.clone().esp(sa) {
                Some(n) => n,
                None => w,
            };
        }
        w
    }

    /// Write `ikev1_decryption_table` (unquoted hex: tshark rejects quoted), `esp_sa` and
    /// `preferences` (ESP decryption and ICV check on) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io("mkdir wireshark config"))?;
        let mut ike = String::new();
        for (c, k) in &self.ikev1 {
            ike.push_str(&format!("{},{}\n", hex(c), hex(k)));
        }
        let mut esp = String::new();
        for l in &self.esp {
            esp.push_str(l);
            esp.push('\n');
        }
        let prefs = "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n";
        for (name, text) in [
            ("ikev1_decryption_table", ike),
            ("esp_sa", esp),
            ("preferences", prefs.to_string()),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(io(format!("write {}", p.display())))?;
        }
        Ok(())
    }
}
