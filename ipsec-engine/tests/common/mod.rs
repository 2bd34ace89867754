//! Shared setup of the lab_* tests: the seed's configuration (cisco-ios.md A.8) adapted to the
//! netlab addresses, `ipsec-engine run` daemons inside namespaces, their control sockets and
//! debug streams, and TCP transfers between the host namespaces.
#![allow(dead_code)]

use ipsec_netlab::{addr, CharonConn, Netns, ScratchDir, Topology};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The seed's siteB as strongSwan in gwB: siteA is its peer, pre-shared key `ciscokey`,
/// 3des-sha1-modp1024 and ESP 3des-sha1 between the two LANs. Labs change what they test.
pub fn seed_charon_conn() -> CharonConn {
    CharonConn::new("siteA", "lans")
        .local(addr::GW_B_WAN)
        .remote(addr::GW_A_WAN)
        .psk("ciscokey")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A)
}

/// The engine binary under test: this build's, or `IPSEC_ENGINE_BIN` (to compare builds in
/// one run, e.g. the lab benchmark before and after a change).
pub fn bin() -> String {
    std::env::var("IPSEC_ENGINE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ipsec-engine").to_string())
}

/// The seed's router configuration ([`ipsec_proto::ios::seed::SITE_A`]) with the lab's
/// addresses: `wan` on FastEthernet4, `lan_gw` on Vlan1, protecting `lan` (x.y.z) towards
/// `remote_lan`, peer and key address `peer`, default route via rtr.
/// Tests derive failure cases from it with `str::replace`.
pub fn a8(hostname: &str, wan: &str, peer: &str, lan_gw: &str, lan: &str, remote: &str) -> String {
    let rtr = if wan.starts_with("198.51.100.") {
        addr::RTR_A
    } else {
        addr::RTR_B
    };
    let subs = [
        ("hostname siteA", format!("hostname {hostname}")),
        ("203.0.113.2", peer.to_string()),
        ("198.51.100.254", rtr.to_string()),
        ("198.51.100.1", wan.to_string()),
        ("192.168.1.1", lan_gw.to_string()),
        ("192.168.1.0", format!("{lan}.0")),
        ("192.168.2.0", format!("{remote}.0")),
    ];
    // Placeholders first, so that a substituted address never matches a later pattern.
    let mut text = ipsec_proto::ios::seed::SITE_A.to_string();
    for (i, (from, _)) in subs.iter().enumerate() {
        text = text.replace(from, &format!("\u{0}{i}\u{0}"));
    }
    for (i, (_, to)) in subs.iter().enumerate() {
        text = text.replace(&format!("\u{0}{i}\u{0}"), to);
    }
    text
}

/// siteA (in gwA) peering with `peer` (gwB's address as siteA sees it).
pub fn site_a(peer: &str) -> String {
    a8(
        "siteA",
        addr::GW_A_WAN,
        peer,
        addr::GW_A_LAN,
        "10.1.1",
        "10.2.2",
    )
}

/// siteB (in gwB) peering with `peer` (gwA's address as siteB sees it: rtr's behind NAT).
pub fn site_b(peer: &str) -> String {
    a8(
        "siteB",
        addr::GW_B_WAN,
        peer,
        addr::GW_B_LAN,
        "10.2.2",
        "10.1.1",
    )
}

/// An `ipsec-engine run` daemon inside a namespace.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    sock: PathBuf,
    cfg: PathBuf,
    ns: String,
    stderr: Arc<Mutex<String>>,
    /// Further `run` options (`--keylog DIR`).
    args: Vec<String>,
}

impl Daemon {
    /// Writes `config` to `dir/<name>.cfg` and starts the daemon in `ns`; returns once its
    /// control socket exists.
    pub fn start(ns: &Netns, dir: &Path, name: &str, config: &str) -> Daemon {
        Daemon::start_in(ns.name(), dir, name, config)
    }

    /// Like [`Self::start`], for a namespace known by name.
    pub fn start_in(ns: &str, dir: &Path, name: &str, config: &str) -> Daemon {
        Daemon::start_with(ns, dir, name, config, &[])
    }

    /// Like [`Self::start_in`] with further `run` options (`--keylog DIR`).
    pub fn start_with(ns: &str, dir: &Path, name: &str, config: &str, args: &[&str]) -> Daemon {
        let cfg = dir.join(format!("{name}.cfg"));
        std::fs::write(&cfg, config).unwrap();
        let mut d = Daemon {
            name: name.into(),
            child: None,
            sock: dir.join(format!("{name}.sock")),
            cfg,
            ns: ns.into(),
            stderr: Arc::new(Mutex::new(String::new())),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.sock);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns, &bin(), "run", "--config"])
            .arg(&self.cfg)
            .arg("--control")
            .arg(&self.sock)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let buf = self.stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let start = Instant::now();
        while !self.sock.exists() {
            if let Some(st) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("{} exited {st}: {}", self.name, self.stderr());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{} did not start: {}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Replaces the configuration file the daemon reads on `reload` and SIGHUP.
    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.cfg, text).unwrap();
    }

    /// What the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Runs an exec command through the control socket with the CLI client.
    pub fn exec(&self, line: &str) -> String {
        let mut args: Vec<&str> = line.split_whitespace().collect();
        let s = self.sock.to_str().unwrap();
        args.extend(["--control", s]);
        let o = Command::new(bin()).args(&args).output().unwrap();
        assert!(
            o.status.success(),
            "{}: {line}: {}{}",
            self.name,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `show crypto isakmp sa`, `show crypto ipsec sa` and `show crypto session`, for messages.
    pub fn state(&self) -> String {
        format!(
            "{n}#show crypto isakmp sa\n{}{n}#show crypto ipsec sa\n{}{n}#show crypto session\n{}",
            self.exec("show crypto isakmp sa"),
            self.exec("show crypto ipsec sa"),
            self.exec("show crypto session"),
            n = self.name
        )
    }

    /// Subscribes to `debug crypto isakmp` and `debug crypto ipsec`; lines accumulate in the tap.
    pub fn debug(&self) -> DebugTap {
        let text = Arc::new(Mutex::new(String::new()));
        let mut streams = Vec::new();
        for cmd in ["debug crypto isakmp\n", "debug crypto ipsec\n"] {
            let mut s = UnixStream::connect(&self.sock).unwrap();
            s.write_all(cmd.as_bytes()).unwrap();
            let r = s.try_clone().unwrap();
            let t = text.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(r);
                let mut line = Vec::new();
                while let Ok(n) = r.read_until(b'\n', &mut line) {
                    if n == 0 {
                        break;
                    }
                    // The answer's terminator (NUL, status byte, newline) is no debug line.
                    if line.first() != Some(&0) {
                        t.lock().unwrap().push_str(&String::from_utf8_lossy(&line));
                    }
                    line.clear();
                }
            });
            streams.push(s);
        }
        // The subscription is active once the daemon answered (the banner arrives first).
        let tap = DebugTap { text, streams };
        assert!(
            tap.wait_for("debugging is on", Duration::from_secs(10)),
            "no debug banner"
        );
        tap
    }

    /// Like [`Self::exec`], but a failure (the daemon gone, a refused command) is an `Err` with
    /// the client's stderr instead of a panic: for long runs that report before they fail.
    pub fn try_exec(&self, line: &str) -> Result<String, String> {
        let mut args: Vec<&str> = line.split_whitespace().collect();
        let s = self.sock.to_str().unwrap();
        args.extend(["--control", s]);
        let o = Command::new(bin())
            .args(&args)
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        } else {
            Err(format!(
                "{}: {line}: {} {}{}",
                self.name,
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    }

    /// Like [`Self::debug`], each line stamped with the moment it arrived (to line events up
    /// with traffic and with a peer's log).
    pub fn debug_timed(&self) -> TimedTap {
        let lines = ipsec_netlab::TimedLines::new();
        let mut streams = Vec::new();
        for cmd in ["debug crypto isakmp\n", "debug crypto ipsec\n"] {
            let mut s = UnixStream::connect(&self.sock).unwrap();
            s.write_all(cmd.as_bytes()).unwrap();
            let r = s.try_clone().unwrap();
            let t = lines.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(r);
                let mut line = Vec::new();
                while let Ok(n) = r.read_until(b'\n', &mut line) {
                    if n == 0 {
                        break;
                    }
                    if line.first() != Some(&0) {
                        let text = String::from_utf8_lossy(&line);
                        t.push(Instant::now(), text.trim_end_matches(['\n', '\r']));
                    }
                    line.clear();
                }
            });
            streams.push(s);
        }
        assert!(
            lines.wait_for("debugging is on", Duration::from_secs(10)),
            "no debug banner"
        );
        TimedTap { lines, streams }
    }

    /// The daemon's PID (of the `ip netns exec` child, which execs the engine).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Kills the daemon without letting it send Deletes (a crash or power loss).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again with the same configuration (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGTERM, wait; asserts a clean exit without a panic and returns stderr.
    pub fn stop(mut self) -> String {
        let mut c = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let st = c.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr();
        assert!(st.success(), "{} exit {st}: {err}", self.name);
        assert!(!err.contains("panicked"), "{err}");
        err
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Debug lines streamed from a daemon.
pub struct DebugTap {
    text: Arc<Mutex<String>>,
    streams: Vec<UnixStream>,
}

impl DebugTap {
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.text().contains(needle))
    }
}

impl Drop for DebugTap {
    fn drop(&mut self) {
        for s in &self.streams {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Debug lines streamed from a daemon, each with the moment it arrived.
pub struct TimedTap {
    pub lines: ipsec_netlab::TimedLines,
    streams: Vec<UnixStream>,
}

impl Drop for TimedTap {
    fn drop(&mut self) {
        for s in &self.streams {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Polls `f` every 100 ms until true or `timeout`.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The number after `key` in a show output (the first occurrence).
pub fn num(text: &str, key: &str) -> u64 {
    let i = text.find(key).unwrap_or_else(|| panic!("{key} in\n{text}")) + key.len();
    text[i..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("number after {key} in\n{text}"))
}

/// Checks what one gateway encrypted against what its peer decrypted, read from `show crypto
/// ipsec sa` on both after the traffic stopped. The receiver can never be ahead. It may be a
/// little behind: on a loaded host a UDP datagram can be dropped in transit during a TCP burst
/// (the sender's loop counts that as a send error, TCP retransmits, the transfer completes), so
/// a loss of up to 2 % is accepted and printed.
pub fn assert_transit(sent: u64, received: u64, what: &str) {
    assert!(
        received <= sent,
        "{what}: decrypted {received} > encrypted {sent}"
    );
    let lost = sent - received;
    assert!(
        lost <= sent / 50 + 2,
        "{what}: {lost} of {sent} ESP packets lost in transit"
    );
    if lost > 0 {
        println!("{what}: {lost} of {sent} ESP packets lost in transit (loaded host)");
    }
}

/// `ping -c count` from `ns`; the number of replies.
pub fn ping(ns: &Netns, dst: &str, count: u32) -> u32 {
    ping_sized(ns, dst, count, 56)
}

/// Like [`ping`] with `size` bytes of ICMP payload.
pub fn ping_sized(ns: &Netns, dst: &str, count: u32, size: u32) -> u32 {
    let o = ns
        .command("ping")
        .args([
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            "-s",
            &size.to_string(),
            dst,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    text.split(',')
        .find_map(|p| p.trim().strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Pings until one reply arrives (the first packets start IKE and are dropped, as on IOS).
pub fn ping_until_up(ns: &Netns, dst: &str, timeout: Duration) -> bool {
    wait_until(timeout, || ping(ns, dst, 1) == 1)
}

/// Runs `f` on a thread inside namespace `ns` (its sockets belong there).
pub fn in_ns<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{}", ns.name());
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on a namespace file we just opened; affects this thread only.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
}

/// Deterministic bytes for a transfer (a counter pattern that exposes reordering or loss).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[1])
        .collect()
}

/// What a TCP transfer saw.
#[derive(Debug)]
pub struct Transfer {
    pub bytes: usize,
    pub intact: bool,
    pub mss: Option<u32>,
    pub elapsed: Duration,
}

/// Sends `len` bytes over TCP from `client` to a listener in `server` at `server_addr:port`;
/// the server checks them against [`pattern`]. Panics if it does not finish within `timeout`.
pub fn tcp_transfer(
    client: &Netns,
    server: &Netns,
    server_addr: &str,
    port: u16,
    len: usize,
    timeout: Duration,
) -> Transfer {
    let bind = format!("{server_addr}:{port}");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let srv = in_ns(server, move || {
        let l = std::net::TcpListener::bind(&bind).unwrap();
        ready_tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mss = tcp_maxseg(&s);
        let mut got = Vec::with_capacity(len);
        s.read_to_end(&mut got).unwrap();
        let intact = got == pattern(len);
        s.write_all(b"ok").unwrap();
        (got.len(), intact, mss)
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let dst = format!("{server_addr}:{port}");
    let cli = in_ns(client, move || {
        let start = Instant::now();
        let mut s =
            std::net::TcpStream::connect_timeout(&dst.parse().unwrap(), Duration::from_secs(20))
                .unwrap();
        s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(&pattern(len)).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut ack = Vec::new();
        s.read_to_end(&mut ack).unwrap();
        assert_eq!(ack, b"ok");
        start.elapsed()
    });
    let deadline = Instant::now() + timeout;
    while !(srv.is_finished() && cli.is_finished()) {
        assert!(Instant::now() < deadline, "TCP transfer did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = cli.join().unwrap();
    let (bytes, intact, mss) = srv.join().unwrap();
    Transfer {
        bytes,
        intact,
        mss,
        elapsed,
    }
}

/// TCP_MAXSEG of a connected socket (the MSS the peer announced, after clamping on the way).
fn tcp_maxseg(s: &std::net::TcpStream) -> Option<u32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a c_int of the right size on a valid socket.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v as u32)
}

/// A lab with a scratch directory: the five namespaces plus a place for configs and sockets.
pub struct Lab {
    pub topo: Topology,
    pub dir: ScratchDir,
}

impl Lab {
    /// `None` (skip) when the lab cannot run here.
    pub fn new(tag: &str) -> Option<Lab> {
        if !ipsec_netlab::require_root_and_tools() {
            return None;
        }
        Some(Lab {
            topo: Topology::two_gateways(tag).unwrap(),
            dir: ScratchDir::new(tag).unwrap(),
        })
    }

    /// With NAT (masquerade) in rtr.
    pub fn with_nat(tag: &str) -> Option<Lab> {
        if !ipsec_netlab::require_root_and_tools() {
            return None;
        }
        Some(Lab {
            topo: Topology::two_gateways_nat(tag, ipsec_netlab::Nat::Masquerade).unwrap(),
            dir: ScratchDir::new(tag).unwrap(),
        })
    }

    /// siteA in gwA and siteB in gwB from the given configurations.
    pub fn engines(&self, a: &str, b: &str) -> (Daemon, Daemon) {
        let da = Daemon::start(&self.topo.gw_a, self.dir.path(), "siteA", a);
        let db = Daemon::start(&self.topo.gw_b, self.dir.path(), "siteB", b);
        (da, db)
    }

    /// A nft ruleset in rtr.
    pub fn rtr_nft(&self, rules: &str) {
        let mut c = self.topo.rtr.command("nft");
        c.args(["-f", "-"]).stdin(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft: {rules}");
    }
}

/// bird2 running in a namespace with its own configuration, log and control socket.
pub struct Bird {
    child: Child,
    sock: String,
    ns: String,
    log: PathBuf,
}

impl Bird {
    /// Starts bird in `ns` with `conf` (a `log` line to `dir/<name>.log` is put first);
    /// `None` (skip, or a failure in CI) when bird is not installed.
    pub fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Option<Bird> {
        if Command::new("bird").arg("--version").output().is_err() {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "bird2 is required in CI (apt-get install bird2)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPING: bird not installed (apt-get install bird2)"
            );
            return None;
        }
        let path = dir.join(format!("{name}.conf"));
        let sock = dir.join(format!("{name}.ctl")).display().to_string();
        let log = dir.join(format!("{name}.log"));
        std::fs::write(&path, format!("log \"{}\" all;\n{conf}", log.display())).unwrap();
        let child = ns
            .command("bird")
            .args(["-f", "-c"])
            .arg(&path)
            .args(["-s", &sock])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let b = Bird {
            child,
            sock,
            ns: ns.name().to_string(),
            log,
        };
        assert!(
            wait_until(Duration::from_secs(10), || b
                .birdc("show status")
                .contains("Daemon is up")),
            "bird did not start: {}",
            b.log()
        );
        Some(b)
    }

    /// A birdc command's output.
    pub fn birdc(&self, cmd: &str) -> String {
        let mut args = vec!["netns", "exec", &self.ns, "birdc", "-s", &self.sock];
        args.extend(cmd.split_whitespace());
        Command::new("ip")
            .args(&args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// `show route all`.
    pub fn routes(&self) -> String {
        self.birdc("show route all")
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The address pool of [`easy_vpn_hub`].
pub const EZ_POOL: (std::net::Ipv4Addr, std::net::Ipv4Addr) = (
    std::net::Ipv4Addr::new(10, 99, 0, 10),
    std::net::Ipv4Addr::new(10, 99, 0, 20),
);

/// An Easy VPN server hub: siteA with a dynamic crypto map (no `match address`: clients
/// propose their assigned address ⇄ 0.0.0.0/0), XAUTH against `alice`/`password`, and the
/// client configuration group `group` (pool [`EZ_POOL`], DNS 10.1.1.53, domain example.test,
/// split ACL 10.1.1.0/24, banner). AES-128/SHA1 in both phases: vpnc proposes it ahead of 3DES
/// (see vpnc-notes.md).
pub fn easy_vpn_hub(group: &str, group_key: &str, password: &str) -> String {
    let peer = addr::GW_B_WAN;
    let config = site_a(peer)
        .replace(" encr 3des\n", " encr aes\n")
        .replace(
            "crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac\n",
            "crypto ipsec transform-set TRANSFORM esp-aes esp-sha-hmac\n",
        )
        .replace(
            &format!("crypto map VPN 10 ipsec-isakmp\n set peer {peer}\n set transform-set TRANSFORM\n match address 100\n"),
            // No `match address`: vpnc proposes its assigned address ⇄ 0.0.0.0/0, which no
            // LAN-to-LAN ACL describes.
            "crypto dynamic-map SPOKES 10\n set transform-set TRANSFORM\n reverse-route\n\
             crypto map VPN client authentication list vpnusers\n\
             crypto map VPN isakmp authorization list vpngroups\n\
             crypto map VPN client configuration address respond\n\
             crypto map VPN 65535 ipsec-isakmp dynamic SPOKES\n",
        )
        .replace(
            &format!("crypto isakmp key ciscokey address {peer}\n"),
            &format!(
                "aaa new-model\naaa authentication login vpnusers local\n\
                 aaa authorization network vpngroups local\n\
                 username alice password 0 {password}\n\
                 ip local pool EZPOOL {} {}\n\
                 access-list 150 permit ip 10.1.1.0 0.0.0.255 any\n\
                 crypto isakmp client configuration group {group}\n key {group_key}\n\
                 \x20dns 10.1.1.53\n domain example.test\n pool EZPOOL\n acl 150\n\
                 \x20save-password\n banner ^Welcome to the lab hub^\n",
                EZ_POOL.0, EZ_POOL.1
            ),
        )
        // Replies to the pool must not leave through the overload NAT, as on IOS.
        .replace(
            "access-list 101 permit ip 10.1.1.0 0.0.0.255 any\n",
            "access-list 101 deny   ip 10.1.1.0 0.0.0.255 10.99.0.0 0.0.0.255\n\
             access-list 101 permit ip 10.1.1.0 0.0.0.255 any\n",
        );
    for needle in [
        "dynamic SPOKES",
        "client configuration group",
        "address respond",
        "encr aes",
        "esp-aes",
        "deny   ip 10.1.1.0 0.0.0.255 10.99.0.0",
    ] {
        assert!(config.contains(needle), "{needle}:\n{config}");
    }
    config
}

/// Pings `dst` from address `src` of namespace `ns` (`ping -I`), after waiting up to 10 s for a
/// first answer; returns how many of `count` came back.
pub fn ping_from(ns: &Netns, src: &str, dst: &str, count: u32) -> u32 {
    let once = |c: u32| {
        let o = ns
            .command("ping")
            .args(["-n", "-q", "-c", &c.to_string(), "-i", "0.2", "-W", "2"])
            .args(["-I", src, dst])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split(',')
            .find_map(|p| p.trim().strip_suffix(" received"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0u32)
    };
    wait_until(Duration::from_secs(10), || once(1) == 1);
    once(count)
}

/// charon's plugin line for an Easy VPN server (XAUTH with local secrets, Unity, pools) that
/// answers Aggressive Mode with a pre-shared key.
pub fn ezvpn_server_load() -> String {
    format!(
        "{} unity attr\n  i_dont_care_about_security_and_use_aggressive_mode_psk = yes",
        ipsec_netlab::XAUTH_GENERIC_LOAD
    )
}

/// The value after `key` on the first line of `show` that starts with it (leading blanks
/// ignored), trimmed: `show_field(ezvpn, "Address:")`.
pub fn show_field<'a>(show: &'a str, key: &str) -> Option<&'a str> {
    show.lines()
        .find_map(|l| l.trim_start().strip_prefix(key))
        .map(str::trim)
}

/// One iperf3 run (TCP, one stream) from host A to host B on `port` for `secs` seconds:
/// (Mbit/s received, TCP retransmits of the sender).
pub fn iperf3(topo: &Topology, port: u16, secs: &str) -> (f64, u64) {
    let p = port.to_string();
    let mut srv = topo
        .host_b
        .command("iperf3")
        .args(["-s", "-1", "-p", &p])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let o = topo
        .host_a
        .command("iperf3")
        .args(["-c", addr::HOST_B, "-p", &p, "-t", secs, "-J"])
        .output()
        .unwrap();
    let _ = srv.wait();
    let text = String::from_utf8_lossy(&o.stdout);
    let num = |section: &str, key: &str| -> f64 {
        let i = text
            .find(section)
            .unwrap_or_else(|| panic!("{section} in {text}"));
        let j = text[i..]
            .find(key)
            .unwrap_or_else(|| panic!("{key} in {text}"))
            + i
            + key.len();
        text[j..]
            .trim_start_matches([':', ' '])
            .split([',', '\n', '}'])
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} of {section} in {text}"))
    };
    (
        num("\"sum_received\"", "\"bits_per_second\"") / 1e6,
        num("\"sum_sent\"", "\"retransmits\"") as u64,
    )
}
