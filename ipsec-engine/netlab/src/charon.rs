//! strongSwan's charon as a real IKEv1 peer inside a namespace, configured through swanctl.

use crate::error::{io, LabError, Result};
use crate::keylog::{parse_keys, CharonKeys};
use crate::netns::Netns;
use crate::util::{run, stop_child, wait_until, ScratchDir};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One swanctl `connections` entry with one child, Cisco-like defaults (IKEv1 Main Mode, PSK,
/// no MOBIKE/fragmentation/reauth, tunnel mode, responder only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharonConn {
    name: String,
    child: String,
    local_addrs: String,
    remote_addrs: String,
    local_id: String,
    remote_id: String,
    psk: String,
    aggressive: bool,
    proposals: String,
    esp_proposals: String,
    local_ts: String,
    remote_ts: String,
    ike_rekey_time: u32,
    reauth_time: u32,
    rekey_time: u32,
    life_time: Option<u32>,
    dpd_delay: u32,
    dpd_action: Option<String>,
    mode: String,
    start_action: String,
    extra_conn: Vec<(String, String)>,
    extra_child: Vec<(String, String)>,
    xauth: Option<(String, String)>,
    xauth_server: Option<(String, String)>,
    pool: Option<(String, Vec<(String, String)>)>,
    cert: Option<String>,
}

impl CharonConn {
    /// Connection `name` with child `child`; set at least addresses, PSK and traffic selectors.
    pub fn new(name: &str, child: &str) -> Self {
        Self {
            name: name.into(),
            child: child.into(),
            local_addrs: "%any".into(),
            remote_addrs: "%any".into(),
            local_id: String::new(),
            remote_id: String::new(),
            psk: String::new(),
            aggressive: false,
            proposals: "3des-sha1-modp1024".into(),
            esp_proposals: "3des-sha1".into(),
            local_ts: "0.0.0.0/0".into(),
            remote_ts: "0.0.0.0/0".into(),
            ike_rekey_time: 86400,
            reauth_time: 0,
            rekey_time: 3600,
            life_time: None,
            dpd_delay: 0,
            dpd_action: None,
            mode: "tunnel".into(),
            start_action: "none".into(),
            extra_conn: Vec::new(),
            extra_child: Vec::new(),
            xauth: None,
            xauth_server: None,
            pool: None,
            cert: None,
        }
    }

    /// Authenticate both ends with certificates (`auth = pubkey`) instead of the PSK: ours is
    /// `file` in the scratch dir's `x509/` (its key in `private/`, the CAs in `x509ca/`; copy
    /// them there before [`Charon::load_all`]).
    pub fn cert(mut self, file: &str) -> Self {
        self.cert = Some(file.into());
        self
    }

    /// Be an XAUTH server after the PSK round: a second remote round `auth = xauth` and an
    /// `xauth` secret for `user` with `password` (needs `xauth-generic`).
    pub fn xauth_server(mut self, user: &str, password: &str) -> Self {
        self.xauth_server = Some((user.into(), password.into()));
        self
    }

    /// Hand out Mode Config from a pool of `addrs` (e.g. `10.98.0.0/28`) with these further
    /// attributes (`dns`, `split_include` (Unity, needs the `unity` plugin), ...): the
    /// connection's `pools` and a `pools { }` entry of its own.
    pub fn pool(mut self, addrs: &str, attrs: &[(&str, &str)]) -> Self {
        self.pool = Some((
            addrs.into(),
            attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        self
    }

    /// Be an XAUTH client after the PSK round (IKEv1 XAUTHInitPreShared): a second local
    /// round `auth = xauth` with `xauth_id = user`, and an `xauth` secret with `password`.
    /// Needs the `xauth-generic` plugin loaded (see [`XAUTH_GENERIC_LOAD`]).
    pub fn xauth_client(mut self, user: &str, password: &str) -> Self {
        self.xauth = Some((user.into(), password.into()));
        self
    }

    /// Local address; also the local identity (ID_IPV4_ADDR) unless set by [`Self::local_id`].
    pub fn local(mut self, addr: &str) -> Self {
        self.local_addrs = addr.into();
        if self.local_id.is_empty() {
            self.local_id = addr.into();
        }
        self
    }

    /// Remote address; also the remote identity unless set by [`Self::remote_id`].
    pub fn remote(mut self, addr: &str) -> Self {
        self.remote_addrs = addr.into();
        if self.remote_id.is_empty() {
            self.remote_id = addr.into();
        }
        self
    }

    /// Local identity (`id`), e.g. an address or an FQDN.
    pub fn local_id(mut self, id: &str) -> Self {
        self.local_id = id.into();
        self
    }

    /// Remote identity (`id`).
    pub fn remote_id(mut self, id: &str) -> Self {
        self.remote_id = id.into();
        self
    }

    /// The pre-shared key (written to the `secrets` block for the two identities).
    pub fn psk(mut self, psk: &str) -> Self {
        self.psk = psk.into();
        self
    }

    /// Aggressive Mode instead of Main Mode.
    pub fn aggressive(mut self, yes: bool) -> Self {
        self.aggressive = yes;
        self
    }

    /// IKE proposals, e.g. `3des-sha1-modp1024`, `aes256-sha256-modp2048`.
    pub fn proposals(mut self, p: &str) -> Self {
        self.proposals = p.into();
        self
    }

    /// ESP proposals; adding a DH group (`3des-sha1-modp1024`) turns on PFS.
    pub fn esp_proposals(mut self, p: &str) -> Self {
        self.esp_proposals = p.into();
        self
    }

    /// Local and remote traffic selectors (proxy identities).
    pub fn ts(mut self, local: &str, remote: &str) -> Self {
        self.local_ts = local.into();
        self.remote_ts = remote.into();
        self
    }

    /// IKE SA rekey time in seconds (`rekey_time` of the connection).
    pub fn ike_rekey_time(mut self, secs: u32) -> Self {
        self.ike_rekey_time = secs;
        self
    }

    /// IKE SA reauthentication time in seconds (`reauth_time`; 0, the default, is off). For
    /// IKEv1 this is how charon replaces an ISAKMP SA: a new Main Mode; 5.9.8 moves the CHILD
    /// SAs to the new IKE SA once it is up and deletes the old one (sends its Delete) a tenth
    /// of `reauth_time` later.
    pub fn reauth_time(mut self, secs: u32) -> Self {
        self.reauth_time = secs;
        self
    }

    /// CHILD SA rekey time in seconds (Quick Mode proposes 1.1 × this as lifetime).
    pub fn rekey_time(mut self, secs: u32) -> Self {
        self.rekey_time = secs;
        self
    }

    /// CHILD SA hard lifetime in seconds.
    pub fn life_time(mut self, secs: u32) -> Self {
        self.life_time = Some(secs);
        self
    }

    /// DPD interval (0 = off) and action (`clear`, `trap`, `restart`).
    pub fn dpd(mut self, delay_secs: u32, action: &str) -> Self {
        self.dpd_delay = delay_secs;
        self.dpd_action = Some(action.into());
        self
    }

    /// `tunnel` (default) or `transport`.
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = mode.into();
        self
    }

    /// `none` (default: initiate with swanctl), `start` or `trap`.
    pub fn start_action(mut self, a: &str) -> Self {
        self.start_action = a.into();
        self
    }

    /// Any other connection-level swanctl option.
    pub fn conn_option(mut self, key: &str, value: &str) -> Self {
        self.extra_conn.push((key.into(), value.into()));
        self
    }

    /// Any other child-level swanctl option.
    pub fn child_option(mut self, key: &str, value: &str) -> Self {
        self.extra_child.push((key.into(), value.into()));
        self
    }

    /// Connection name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Child name.
    pub fn child_name(&self) -> &str {
        &self.child
    }

    /// The entry inside `connections { }`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "  {} {{", self.name);
        let mut kv = |k: &str, v: &str| {
            let _ = writeln!(s, "    {k} = {v}");
        };
        kv("version", "1");
        kv("aggressive", if self.aggressive { "yes" } else { "no" });
        kv("local_addrs", &self.local_addrs);
        kv("remote_addrs", &self.remote_addrs);
        kv("proposals", &self.proposals);
        kv("encap", "no");
        kv("mobike", "no");
        kv("fragmentation", "no");
        if self.reauth_time == 0 {
            kv("reauth_time", "0");
        } else {
            kv("reauth_time", &format!("{}s", self.reauth_time));
        }
        kv("rekey_time", &format!("{}s", self.ike_rekey_time));
        kv("dpd_delay", &format!("{}s", self.dpd_delay));
        if self.pool.is_some() {
            kv("pools", &format!("pool-{}", self.name));
        }
        for (k, v) in &self.extra_conn {
            kv(k, v);
        }
        let auth = if self.cert.is_some() { "pubkey" } else { "psk" };
        let certs = self
            .cert
            .as_ref()
            .map(|c| format!("      certs = {c}\n"))
            .unwrap_or_default();
        let id = |id: &str| {
            if id.is_empty() {
                String::new()
            } else {
                format!("      id = \"{id}\"\n")
            }
        };
        let _ = writeln!(
            s,
            "    local {{\n      auth = {auth}\n{certs}{}    }}",
            id(&self.local_id)
        );
        if let Some((user, _)) = &self.xauth {
            // Rounds are ordered by the suffix after "local": "" before "2".
            let _ = writeln!(
                s,
                "    local2 {{\n      auth = xauth\n      xauth_id = {user}\n    }}"
            );
        }
        let _ = writeln!(
            s,
            "    remote {{\n      auth = {auth}\n{}    }}",
            id(&self.remote_id)
        );
        if self.xauth_server.is_some() {
            let _ = writeln!(s, "    remote2 {{\n      auth = xauth\n    }}");
        }
        let _ = writeln!(s, "    children {{\n      {} {{", self.child);
        let mut ckv = |k: &str, v: &str| {
            let _ = writeln!(s, "        {k} = {v}");
        };
        ckv("local_ts", &self.local_ts);
        ckv("remote_ts", &self.remote_ts);
        ckv("mode", &self.mode);
        ckv("esp_proposals", &self.esp_proposals);
        ckv("rekey_time", &format!("{}s", self.rekey_time));
        if let Some(l) = self.life_time {
            ckv("life_time", &format!("{l}s"));
        }
        if let Some(a) = &self.dpd_action {
            ckv("dpd_action", a);
        }
        ckv("start_action", &self.start_action);
        for (k, v) in &self.extra_child {
            ckv(k, v);
        }
        let _ = writeln!(s, "      }}\n    }}\n  }}");
        s
    }

    /// The `secrets` entries for this connection's PSK (`ike-<name>`) and, for an XAUTH
    /// client, its password (`xauth-<name>`).
    pub fn render_secret(&self) -> String {
        let quote = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let mut s = format!(
            "  ike-{} {{\n    id-local = {}\n    id-remote = {}\n    secret = \"{}\"\n  }}\n",
            self.name,
            self.local_id,
            self.remote_id,
            quote(&self.psk)
        );
        if let Some((user, password)) = self.xauth.as_ref().or(self.xauth_server.as_ref()) {
            let _ = write!(
                s,
                "  xauth-{} {{\n    id = {user}\n    secret = \"{}\"\n  }}\n",
                self.name,
                quote(password)
            );
        }
        s
    }

    /// The `pools { }` entry of [`Self::pool`], if any.
    pub fn render_pool(&self) -> Option<String> {
        let (addrs, attrs) = self.pool.as_ref()?;
        let mut s = format!("  pool-{} {{\n    addrs = {addrs}\n", self.name);
        for (k, v) in attrs {
            let _ = writeln!(s, "    {k} = {v}");
        }
        s.push_str("  }\n");
        Some(s)
    }
}

/// A whole swanctl.conf for these connections.
pub fn render_swanctl(conns: &[CharonConn]) -> String {
    let mut s = String::from("connections {\n");
    for c in conns {
        s.push_str(&c.render());
    }
    s.push_str("}\nsecrets {\n");
    for c in conns.iter().filter(|c| !c.psk.is_empty()) {
        s.push_str(&c.render_secret());
    }
    s.push_str("}\n");
    let pools: Vec<String> = conns.iter().filter_map(CharonConn::render_pool).collect();
    if !pools.is_empty() {
        s.push_str("pools {\n");
        for p in pools {
            s.push_str(&p);
        }
        s.push_str("}\n");
    }
    s
}

/// A `charon { }` line for [`Charon::start_with`] that loads the usual plugins plus
/// `xauth-generic` (XAUTH with a secret from swanctl.conf), overriding the default `load`.
pub const XAUTH_GENERIC_LOAD: &str =
    "  load = nonce openssl kernel-libipsec kernel-netlink socket-default vici xauth-generic";

/// strongswan.conf for one instance: the minimal plugin set with kernel-libipsec before
/// kernel-netlink (the other order fails SA installation with ENOSYS here), the vici socket
/// and a key-logging filelog in `dir`.
pub fn render_strongswan_conf(dir: &Path, extra_charon: &str) -> String {
    let d = dir.display();
    format!(
        "charon {{\n  load_modular = no\n  load = nonce openssl pem pkcs1 x509 constraints \
         kernel-libipsec kernel-netlink socket-default vici\n  plugins {{\n    vici {{\n      socket = unix://{d}/charon.vici\n    \
         }}\n  }}\n  filelog {{\n    main {{\n      path = {d}/charon.log\n      \
         time_format = %b %e %T\n      default = 1\n      ike = 4\n      chd = 4\n      \
         mgr = 2\n      flush_line = yes\n    }}\n  }}\n{extra_charon}\n}}\n"
    )
}

/// A running charon. Dropping it stops it (SIGTERM by PID, SIGKILL after 5 s).
#[derive(Debug)]
pub struct Charon {
    dir: ScratchDir,
    child: Option<Child>,
    startup: Duration,
}

/// Credential directories swanctl scans next to swanctl.conf; created empty so that
/// `--load-all` does not complain about each one on stderr.
const SWANCTL_DIRS: &[&str] = &[
    "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa",
    "ecdsa", "bliss", "pkcs8", "pkcs12",
];

impl Charon {
    /// Write the configs into a fresh `/tmp/ipsec-netlab-*` directory and start charon in `ns`
    /// with a private `/run` (charon hard-codes /var/run/charon.pid); returns once the vici
    /// socket exists. Call [`Self::load_all`] next.
    pub fn start(ns: &Netns, conns: &[CharonConn]) -> Result<Self> {
        Self::start_with(ns, conns, "")
    }

    /// Like [`Self::start`], with extra lines for the `charon { }` section (e.g.
    /// `retransmit_tries = 2`).
    pub fn start_with(ns: &Netns, conns: &[CharonConn], extra_charon: &str) -> Result<Self> {
        let dir = ScratchDir::new(&format!("charon-{}", ns.name()))?;
        let p = dir.path().to_path_buf();
        for sub in std::iter::once("run").chain(SWANCTL_DIRS.iter().copied()) {
            std::fs::create_dir_all(p.join(sub)).map_err(io("mkdir in scratch dir"))?;
        }
        write(
            &p.join("strongswan.conf"),
            &render_strongswan_conf(&p, extra_charon),
        )?;
        write(&p.join("swanctl.conf"), &render_swanctl(conns))?;
        let out = File::create(p.join("charon.out")).map_err(io("create charon.out"))?;
        let err = out.try_clone().map_err(io("dup charon.out"))?;
        let script = format!(
            "mount --bind {}/run /run && exec {}",
            p.display(),
            crate::CHARON_BIN
        );
        let began = Instant::now();
        let child = ns
            .command("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env("STRONGSWAN_CONF", p.join("strongswan.conf"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io("spawn charon"))?;
        let mut me = Self {
            dir,
            child: Some(child),
            startup: Duration::ZERO,
        };
        let sock = p.join("charon.vici");
        let mut died = None;
        let up = wait_until(Duration::from_secs(10), || {
            if let Some(Ok(Some(st))) = me.child.as_mut().map(Child::try_wait) {
                died = Some(st);
                return true;
            }
            sock.exists()
        });
        if let Some(st) = died {
            return Err(LabError::Died {
                what: "charon".into(),
                status: st.to_string(),
                output: format!("{}\n{}", me.output(), me.log()),
            });
        }
        if !up {
            return Err(LabError::Timeout {
                what: "charon vici socket".into(),
                waited: began.elapsed(),
            });
        }
        me.startup = began.elapsed();
        Ok(me)
    }

    /// Time from spawn to the vici socket appearing.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The scratch directory (strongswan.conf, swanctl.conf, charon.log, charon.out, run/).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `unix://<dir>/charon.vici`.
    pub fn vici_uri(&self) -> String {
        format!("unix://{}/charon.vici", self.dir().display())
    }

    /// charon's PID (`None` once stopped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Run `swanctl <args> --uri <vici>`; Ok(stdout) on success.
    pub fn swanctl(&self, args: &[&str]) -> Result<String> {
        run(Command::new("swanctl")
            .args(args)
            .args(["--uri", &self.vici_uri()])
            .env("STRONGSWAN_CONF", self.dir().join("strongswan.conf")))
    }

    /// `swanctl --load-all` of the generated swanctl.conf.
    pub fn load_all(&self) -> Result<String> {
        let file = self.dir().join("swanctl.conf");
        self.swanctl(&["--load-all", "--file", &file.to_string_lossy()])
    }

    /// Replace the connections (rewrites swanctl.conf) and load them.
    pub fn reload(&self, conns: &[CharonConn]) -> Result<String> {
        write(&self.dir().join("swanctl.conf"), &render_swanctl(conns))?;
        self.load_all()
    }

    /// `swanctl --initiate --child <child>`: Main Mode then Quick Mode; returns when done.
    pub fn initiate(&self, child: &str) -> Result<String> {
        self.swanctl(&["--initiate", "--child", child, "--timeout", "30"])
    }

    /// `swanctl --initiate --ike <ike>` (Phase 1 only).
    pub fn initiate_ike(&self, ike: &str) -> Result<String> {
        self.swanctl(&["--initiate", "--ike", ike, "--timeout", "30"])
    }

    /// `swanctl --terminate --ike <ike>`.
    pub fn terminate_ike(&self, ike: &str) -> Result<String> {
        self.swanctl(&["--terminate", "--ike", ike, "--timeout", "10"])
    }

    /// `swanctl --terminate --child <child>`.
    pub fn terminate_child(&self, child: &str) -> Result<String> {
        self.swanctl(&["--terminate", "--child", child, "--timeout", "10"])
    }

    /// `swanctl --list-sas` text.
    pub fn list_sas(&self) -> Result<String> {
        self.swanctl(&["--list-sas"])
    }

    /// The filelog so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("charon.log")).unwrap_or_default()
    }

    /// charon's stdout/stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir().join("charon.out")).unwrap_or_default()
    }

    /// Key material parsed from the log so far.
    pub fn keys(&self) -> CharonKeys {
        parse_keys(&self.log())
    }

    /// Wait until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        if wait_until(timeout, || self.log().contains(needle)) {
            Ok(())
        } else {
            Err(LabError::Timeout {
                what: format!("`{needle}` in charon log"),
                waited: timeout,
            })
        }
    }

    /// Stop charon (SIGTERM: it sends DELETEs and exits in about 1.5 s; SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, "TERM", Duration::from_secs(5));
        }
    }

    /// Path of the filelog.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("charon.log")
    }

    /// Follow the filelog on a thread, stamping each line when it appears (to line up charon's
    /// rekeys with other events at sub-second precision; the log's own stamps are seconds).
    pub fn follow_log(&self) -> crate::follow::LogFollower {
        crate::follow::LogFollower::start(&self.log_path())
    }
}

impl Drop for Charon {
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
    fn renders_a_cisco_like_connection() {
        let c = CharonConn::new("gw", "net")
            .local("198.51.100.2")
            .remote("203.0.113.2")
            .psk("cisco\"123")
            .proposals("aes256-sha256-modp2048")
            .esp_proposals("3des-sha1-modp1024")
            .ts("10.1.1.0/24", "10.2.2.0/24")
            .dpd(10, "restart")
            .life_time(4000);
        let s = render_swanctl(&[c]);
        for line in [
            "  gw {",
            "    version = 1",
            "    aggressive = no",
            "    local_addrs = 198.51.100.2",
            "    remote_addrs = 203.0.113.2",
            "    proposals = aes256-sha256-modp2048",
            "    encap = no",
            "    rekey_time = 86400s",
            "    dpd_delay = 10s",
            // Quoted: a DN identity holds commas and `=`.
            "      id = \"198.51.100.2\"",
            "      id = \"203.0.113.2\"",
            "      net {",
            "        local_ts = 10.1.1.0/24",
            "        remote_ts = 10.2.2.0/24",
            "        mode = tunnel",
            "        esp_proposals = 3des-sha1-modp1024",
            "        rekey_time = 3600s",
            "        life_time = 4000s",
            "        dpd_action = restart",
            "        start_action = none",
            "  ike-gw {",
            "    id-local = 198.51.100.2",
            "    id-remote = 203.0.113.2",
            "    secret = \"cisco\\\"123\"",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
        }
        // Braces balance, or swanctl rejects the file.
        assert_eq!(s.matches('{').count(), s.matches('}').count());
    }

    #[test]
    fn renders_reauth_time_only_when_set() {
        let off = CharonConn::new("a", "b").render();
        assert!(off.lines().any(|l| l == "    reauth_time = 0"), "{off}");
        let on = CharonConn::new("a", "b")
            .reauth_time(300)
            .ike_rekey_time(0)
            .render();
        assert!(on.lines().any(|l| l == "    reauth_time = 300s"), "{on}");
        assert!(on.lines().any(|l| l == "    rekey_time = 0s"), "{on}");
        assert_eq!(on.matches("reauth_time").count(), 1);
    }

    #[test]
    fn explicit_ids_survive_addresses() {
        let c = CharonConn::new("a", "b")
            .remote_id("gw.example")
            .remote("%any")
            .psk("k");
        assert!(c.render().contains("id = \"gw.example\""));
        assert!(c.render().contains("remote_addrs = %any"));
    }
}
