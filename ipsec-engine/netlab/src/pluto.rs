//! Libreswan's pluto as a real IKEv1 peer inside a namespace, run from an extracted package
//! tree (Debian's `libreswan` conflicts with strongSwan, so .ci/run unpacks the .deb into
//! [`LIBRESWAN_ROOT`] instead of installing it).
//!
//! Everything pluto writes lives in one scratch directory: ipsec.conf, ipsec.secrets, the NSS
//! database, the control socket and pid file (`--rundir`), dumps, and its log (stderr). pluto
//! runs its helper `addconn` from a compiled-in `/usr/libexec/ipsec`, so it is started in a
//! private mount namespace where the extracted `usr/libexec` is bound over `/usr/libexec`; the
//! host's `/usr/libexec` is untouched. The kernel here has XFRM but no ESP, so IPsec SAs cannot
//! be installed: Phase 1 (Main Mode) completes, Quick Mode fails when pluto asks the kernel for
//! an SPI or an SA.

use crate::error::{io, LabError, Result};
use crate::netns::Netns;
use crate::util::{run, stop_child, wait_until, ScratchDir};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where .ci/run extracts the Debian `libreswan` package (`dpkg -x`); `LIBRESWAN_ROOT` in the
/// environment overrides it.
pub const LIBRESWAN_ROOT: &str = "/opt/libreswan";

/// The root of the extracted tree.
pub fn libreswan_root() -> PathBuf {
    std::env::var_os("LIBRESWAN_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(LIBRESWAN_ROOT))
}

/// `<root>/usr/libexec/ipsec/<prog>` (pluto, whack, addconn).
pub fn libexec(prog: &str) -> PathBuf {
    libreswan_root().join("usr/libexec/ipsec").join(prog)
}

/// Why pluto cannot run here, or `Ok`: the extracted binaries, NSS's `certutil`, and pluto
/// starting far enough to print its version (its shared libraries are installed).
pub fn pluto_available() -> std::result::Result<(), String> {
    for p in ["pluto", "whack", "addconn"] {
        if !libexec(p).is_file() {
            return Err(format!("{} missing", libexec(p).display()));
        }
    }
    if Command::new("certutil")
        .arg("-H")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Err("certutil missing (libnss3-tools)".into());
    }
    match Command::new(libexec("pluto")).arg("--version").output() {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("Libreswan") => Ok(()),
        Ok(o) => Err(format!(
            "pluto --version failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("pluto --version: {e}")),
    }
}

/// `pluto --version` (e.g. `Libreswan 4.10 IKEv2 IKEv1 XFRM ...`), empty if it cannot run.
pub fn pluto_version() -> String {
    Command::new(libexec("pluto"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Gate for tests that need pluto, like [`crate::require_root_and_tools`]: true when it can
/// run; otherwise panics under `CI=true`, or prints why and returns false.
pub fn require_pluto() -> bool {
    match pluto_available() {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("ipsec-netlab: Libreswan required in CI but unavailable: {why}");
            }
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "ipsec-netlab: SKIPPING Libreswan test: {why}"
            );
            false
        }
    }
}

/// One ipsec.conf `conn`: IKEv1 (`ikev2=no`) with a pre-shared key, tunnel mode between two
/// subnets, loaded at startup (`auto=add`), no PFS unless asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlutoConn {
    name: String,
    left: String,
    right: String,
    left_subnet: String,
    right_subnet: String,
    psk: String,
    ike: String,
    esp: String,
    aggressive: bool,
    pfs: bool,
    extra: Vec<(String, String)>,
}

impl PlutoConn {
    /// Connection `name`; set at least addresses, PSK and subnets.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            left: String::new(),
            right: String::new(),
            left_subnet: String::new(),
            right_subnet: String::new(),
            psk: String::new(),
            ike: "aes256-sha2_256-modp2048".into(),
            esp: "aes256-sha1".into(),
            aggressive: false,
            pfs: false,
            extra: Vec::new(),
        }
    }

    /// Local address (`left`; also the ID_IPV4_ADDR identity).
    pub fn local(mut self, addr: &str) -> Self {
        self.left = addr.into();
        self
    }

    /// Remote address (`right`).
    pub fn remote(mut self, addr: &str) -> Self {
        self.right = addr.into();
        self
    }

    /// Local and remote protected subnets (`leftsubnet`, `rightsubnet`).
    pub fn subnets(mut self, local: &str, remote: &str) -> Self {
        self.left_subnet = local.into();
        self.right_subnet = remote.into();
        self
    }

    /// The pre-shared key.
    pub fn psk(mut self, psk: &str) -> Self {
        self.psk = psk.into();
        self
    }

    /// Phase 1 proposal (`ike=`), e.g. `aes256-sha2_256-modp3072` or `aes256-sha1-dh19`.
    pub fn ike(mut self, p: &str) -> Self {
        self.ike = p.into();
        self
    }

    /// Phase 2 proposal (`esp=`).
    pub fn esp(mut self, p: &str) -> Self {
        self.esp = p.into();
        self
    }

    /// Aggressive Mode instead of Main Mode.
    pub fn aggressive(mut self, yes: bool) -> Self {
        self.aggressive = yes;
        self
    }

    /// PFS in Quick Mode.
    pub fn pfs(mut self, yes: bool) -> Self {
        self.pfs = yes;
        self
    }

    /// Any other conn option.
    pub fn option(mut self, key: &str, value: &str) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// Connection name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `conn` section.
    pub fn render(&self) -> String {
        let mut s = format!("conn {}\n", self.name);
        let mut kv = |k: &str, v: &str| {
            if !v.is_empty() {
                let _ = writeln!(s, "\t{k}={v}");
            }
        };
        let yn = |b: bool| if b { "yes" } else { "no" };
        kv("ikev2", "no");
        kv("authby", "secret");
        kv("type", "tunnel");
        kv("left", &self.left);
        kv("leftsubnet", &self.left_subnet);
        kv("right", &self.right);
        kv("rightsubnet", &self.right_subnet);
        kv("ike", &self.ike);
        kv("esp", &self.esp);
        kv("aggressive", yn(self.aggressive));
        kv("pfs", yn(self.pfs));
        // The engine and IOS do not do IKE fragmentation or NAT-T here; keep the exchange plain.
        kv("fragmentation", "no");
        kv("encapsulation", "no");
        for (k, v) in &self.extra {
            kv(k, v);
        }
        kv("auto", "add");
        s
    }

    /// Its ipsec.secrets line (`left right : PSK "key"`). Panics on a key with `"` or a line
    /// break, which this simple quoting cannot carry.
    pub fn render_secret(&self) -> String {
        assert!(
            !self.psk.contains(['"', '\n', '\r']),
            "PSK for pluto must not contain quotes or line breaks"
        );
        format!("{} {} : PSK \"{}\"\n", self.left, self.right, self.psk)
    }
}

/// A whole ipsec.conf: `config setup` accepting IKEv1 (Debian's 4.10 drops IKEv1 packets by
/// default) plus the connections.
pub fn render_ipsec_conf(conns: &[PlutoConn]) -> String {
    let mut s = String::from("config setup\n\tikev1-policy=accept\n\tuniqueids=no\n\n");
    for c in conns {
        s.push_str(&c.render());
        s.push('\n');
    }
    s
}

/// A running pluto. Dropping it stops it (SIGTERM by PID, SIGKILL after 5 s).
#[derive(Debug)]
pub struct Pluto {
    dir: ScratchDir,
    ns: String,
    child: Option<Child>,
}

impl Pluto {
    /// Write the configs and a fresh NSS database into a new `/tmp/ipsec-netlab-*` directory,
    /// start pluto in `ns` and return once its control socket exists and the connections are
    /// loaded (pluto runs `addconn --autoall` itself at startup).
    pub fn start(ns: &Netns, conns: &[PlutoConn]) -> Result<Self> {
        let dir = ScratchDir::new(&format!("pluto-{}", ns.name()))?;
        let p = dir.path().to_path_buf();
        for sub in ["run", "nss", "ipsec.d", "dump"] {
            std::fs::create_dir_all(p.join(sub)).map_err(io("mkdir in scratch dir"))?;
        }
        write(&p.join("ipsec.conf"), &render_ipsec_conf(conns))?;
        let secrets: String = conns.iter().map(PlutoConn::render_secret).collect();
        write(&p.join("ipsec.secrets"), &secrets)?;
        run(Command::new("certutil").args([
            "-N",
            "-d",
            &format!("sql:{}", p.join("nss").display()),
            "--empty-password",
        ]))?;
        let out = File::create(p.join("pluto.log")).map_err(io("create pluto.log"))?;
        let err = out.try_clone().map_err(io("dup pluto.log"))?;
        let root = libreswan_root();
        let d = p.display();
        let script = format!(
            "mount --bind {root}/usr/libexec /usr/libexec && exec {pluto} --nofork --stderrlog \
             --config {d}/ipsec.conf --secretsfile {d}/ipsec.secrets --ipsecdir {d}/ipsec.d \
             --nssdir {d}/nss --rundir {d}/run --dumpdir {d}/dump --no-dnssec",
            root = root.display(),
            pluto = libexec("pluto").display(),
        );
        let began = Instant::now();
        let child = ns
            .command("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io("spawn pluto"))?;
        let mut me = Self {
            dir,
            ns: ns.name().to_string(),
            child: Some(child),
        };
        let mut died = None;
        let timeout = Duration::from_secs(15);
        let up = wait_until(timeout, || {
            if let Some(Ok(Some(st))) = me.child.as_mut().map(Child::try_wait) {
                died = Some(st);
                return true;
            }
            // Loaded: every connection shows up in the status.
            me.ctl_path().exists()
                && me.status().is_ok_and(|st| {
                    conns
                        .iter()
                        .all(|c| st.contains(&format!("\"{}\":", c.name())))
                })
        });
        if let Some(st) = died {
            return Err(LabError::Died {
                what: "pluto".into(),
                status: st.to_string(),
                output: me.log(),
            });
        }
        if !up {
            return Err(LabError::Timeout {
                what: "pluto control socket and connections".into(),
                waited: began.elapsed(),
            });
        }
        Ok(me)
    }

    /// The scratch directory (ipsec.conf, ipsec.secrets, nss/, run/, pluto.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The control socket `run/pluto.ctl`.
    pub fn ctl_path(&self) -> PathBuf {
        self.dir().join("run/pluto.ctl")
    }

    /// pluto's PID (`None` once stopped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Run `whack --ctlsocket <ctl> <args>` in pluto's namespace; Ok(stdout) on success.
    pub fn whack(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns])
            .arg(libexec("whack"))
            .arg("--ctlsocket")
            .arg(self.ctl_path())
            .args(args);
        run(&mut c)
    }

    /// `whack --status`.
    pub fn status(&self) -> Result<String> {
        self.whack(&["--status"])
    }

    /// `whack --initiate --name <conn> --asynchronous`: starts Main Mode (then Quick Mode) and
    /// returns at once; watch the log with [`Self::wait_log`].
    pub fn initiate(&self, conn: &str) -> Result<String> {
        self.whack(&["--initiate", "--name", conn, "--asynchronous"])
    }

    /// pluto's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("pluto.log")).unwrap_or_default()
    }

    /// The log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// Wait until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        if wait_until(timeout, || self.log().contains(needle)) {
            Ok(())
        } else {
            Err(LabError::Timeout {
                what: format!("`{needle}` in pluto log"),
                waited: timeout,
            })
        }
    }

    /// Stop pluto (SIGTERM; SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, "TERM", Duration::from_secs(5));
        }
    }
}

impl Drop for Pluto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(io(format!("write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_ikev1_psk_conn() {
        let c = PlutoConn::new("siteA")
            .local("203.0.113.2")
            .remote("198.51.100.2")
            .subnets("10.2.2.0/24", "10.1.1.0/24")
            .psk("cisco key")
            .ike("aes256-sha1-dh19");
        let s = render_ipsec_conf(std::slice::from_ref(&c));
        for line in [
            "config setup",
            "\tikev1-policy=accept",
            "conn siteA",
            "\tikev2=no",
            "\tauthby=secret",
            "\tleft=203.0.113.2",
            "\tleftsubnet=10.2.2.0/24",
            "\tright=198.51.100.2",
            "\trightsubnet=10.1.1.0/24",
            "\tike=aes256-sha1-dh19",
            "\tesp=aes256-sha1",
            "\tpfs=no",
            "\tauto=add",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
        }
        assert_eq!(
            c.render_secret(),
            "203.0.113.2 198.51.100.2 : PSK \"cisco key\"\n"
        );
    }
}
