//! `ipsec-engine demo`: the seed's two routers (siteA and siteB, cisco-ios.md A.8 and its
//! mirror) run the real gateway core against each other over a simulated WAN inside one
//! process, in virtual time. A host on each LAN pings the other: the first echo triggers IKE
//! (and is lost, as on IOS), the rest cross the tunnel, and siteA's `show crypto isakmp sa` and
//! `show crypto ipsec sa` are printed as the seed shows them.
//!
//! Deterministic: the same seed gives the same SPIs, cookies and output.

use crate::control;
use crate::gateway::{CoreOptions, GatewayCore, TunVerdict};
use crate::outputs::{DebugKind, Dest, Outputs};
use crate::Gateway;
use ipsec_proto::ios::config::ConfigError;
use ipsec_proto::policy::SelectorAddr;
use ipsec_proto::time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The seed's two routers (re-exported from [`ipsec_proto::ios::seed`]).
pub use ipsec_proto::ios::seed::{SITE_A, SITE_B};

/// One-way WAN latency.
const WAN_MS: u64 = 10;
/// LAN latency between a host and its router.
const LAN_MS: u64 = 1;
/// Time between two echoes of one ping run.
const PING_INTERVAL_MS: u64 = 1000;
/// IOS ping's default timeout.
const PING_TIMEOUT_MS: u64 = 2000;
/// Echo size on the wire (IOS default `100-byte ICMP Echos`).
const ECHO_LEN: usize = 100;

/// Demo choices (`ipsec-engine demo ...`).
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// siteA configuration text (default [`SITE_A`]).
    pub config_a: Option<String>,
    /// siteB configuration text (default [`SITE_B`]).
    pub config_b: Option<String>,
    /// Echoes each way.
    pub pings: u32,
    /// Include `debug crypto isakmp` and `debug crypto ipsec` output of both routers.
    pub debug: bool,
    /// Seed of both routers' randomness.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            config_a: None,
            config_b: None,
            pings: 20,
            debug: false,
            seed: 1,
        }
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A configuration did not parse.
    #[error("{site}: {error}")]
    Config {
        /// Which site.
        site: String,
        /// The parser's error (line and column).
        error: ConfigError,
    },
    /// A configuration has no usable crypto map.
    #[error("{site}: {error}")]
    Build {
        /// Which site.
        site: String,
        /// Why.
        error: crate::gateway::BuildError,
    },
}

/// What the demo printed, and the pieces a test looks at.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// Everything, as `ipsec-engine demo` prints it.
    pub text: String,
    /// siteA `show crypto isakmp sa`.
    pub a_isakmp: String,
    /// siteA `show crypto ipsec sa`.
    pub a_ipsec: String,
    /// siteB `show crypto isakmp sa`.
    pub b_isakmp: String,
    /// siteB `show crypto ipsec sa`.
    pub b_ipsec: String,
    /// Echo replies received by siteA's host and by siteB's host.
    pub replies: [u32; 2],
}

struct Site {
    name: String,
    core: GatewayCore,
    out: Outputs,
    wan: Ipv4Addr,
    host: Ipv4Addr,
    peer_host: Ipv4Addr,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Delivery {
    /// A datagram or ESP packet arriving at a site's WAN interface.
    Wan { site: usize, dest: WanDest },
    /// A packet from the LAN host into the router.
    FromHost { site: usize },
    /// A packet from the router to the LAN host.
    ToHost { site: usize },
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum WanDest {
    Udp {
        local: SocketAddrV4,
        remote: SocketAddrV4,
    },
    Esp {
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
}

/// A host address inside a proxy identity (the `.10` of a subnet, the host itself).
fn host_in(a: &SelectorAddr) -> Ipv4Addr {
    match *a {
        SelectorAddr::Host(h) => h,
        SelectorAddr::Subnet { addr, mask } => {
            let span = !u32::from(mask);
            Ipv4Addr::from(u32::from(addr) | 10.min(span.saturating_sub(1)).max(1))
        }
        SelectorAddr::Range { start, .. } => start,
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        let w = match c {
            [x, y] => u16::from_be_bytes([*x, *y]),
            [x] => u16::from_be_bytes([*x, 0]),
            _ => 0,
        };
        s += u32::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An ICMP echo request (type 8) or reply (type 0) of [`ECHO_LEN`] bytes.
fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; ECHO_LEN];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(ECHO_LEN as u16).to_be_bytes());
    p[4..6].copy_from_slice(&seq.to_be_bytes());
    p[8] = 255;
    p[9] = 1;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = ty;
    p[24..26].copy_from_slice(&id.to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = 0xAB_u8.wrapping_add(i as u8);
    }
    let c = checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

/// `*Mar  1 00:00:01.012: ` (IOS debug timestamps, virtual time from boot).
fn stamp(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "*Mar  1 {:02}:{:02}:{:02}.{:03}: ",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

fn secs(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// (delivery time, tie-breaking sequence number, where, bytes).
type Scheduled = (u64, u64, Delivery, Vec<u8>);

struct Sim {
    sites: Vec<Site>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    now: u64,
    debug: bool,
    debug_text: String,
    story: Vec<(u64, String)>,
    /// Replies received per site: (sequence number, round trip in ms).
    replies: [Vec<(u16, u64)>; 2],
    sent_at: [Vec<u64>; 2],
    lost_wan: u64,
}

impl Sim {
    fn push(&mut self, at: u64, d: Delivery, bytes: Vec<u8>) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, d, bytes)));
    }

    /// Moves what site `i` queued into the network and the LAN.
    fn drain(&mut self, i: usize) {
        let Some(site) = self.sites.get_mut(i) else {
            return;
        };
        let mut moves = Vec::new();
        for (dest, bytes) in site.out.packets() {
            moves.push((dest, bytes.to_vec()));
        }
        if self.debug {
            for (_, line) in site.out.debug_lines() {
                for l in line.trim_end().lines() {
                    let _ = writeln!(self.debug_text, "{}{}: {l}", stamp(self.now), site.name);
                }
            }
        }
        site.out.clear();
        for (dest, bytes) in moves {
            match dest {
                Dest::Tun => self.push(self.now + LAN_MS, Delivery::ToHost { site: i }, bytes),
                Dest::Udp { local, remote } => {
                    match self.sites.iter().position(|s| s.wan == *remote.ip()) {
                        Some(j) => self.push(
                            self.now + WAN_MS,
                            Delivery::Wan {
                                site: j,
                                dest: WanDest::Udp {
                                    local: remote,
                                    remote: local,
                                },
                            },
                            bytes,
                        ),
                        None => self.lost_wan += 1,
                    }
                }
                Dest::Esp { src, dst } => match self.sites.iter().position(|s| s.wan == dst) {
                    Some(j) => self.push(
                        self.now + WAN_MS,
                        Delivery::Wan {
                            site: j,
                            dest: WanDest::Esp { src, dst },
                        },
                        bytes,
                    ),
                    None => self.lost_wan += 1,
                },
            }
        }
    }

    fn send_echo(&mut self, from: usize, seq: u16) {
        let Some(s) = self.sites.get(from) else {
            return;
        };
        let pkt = icmp_echo(s.host, s.peer_host, 8, 0x1000 + from as u16, seq);
        if let Some(v) = self.sent_at.get_mut(from) {
            v.push(self.now);
        }
        self.push(self.now + LAN_MS, Delivery::FromHost { site: from }, pkt);
    }

    fn deliver(&mut self, d: Delivery, bytes: Vec<u8>) {
        let now = Instant(self.now);
        match d {
            Delivery::Wan { site, dest } => {
                if let Some(s) = self.sites.get_mut(site) {
                    match dest {
                        WanDest::Udp { local, remote } => {
                            s.core.on_udp(now, local, remote, &bytes, &mut s.out)
                        }
                        WanDest::Esp { src, dst } => {
                            s.core.on_esp(now, src, dst, &bytes, &mut s.out)
                        }
                    }
                }
                self.after(site);
            }
            Delivery::FromHost { site } => {
                let before = self.sites.get(site).map_or(0, |s| s.core.installed_pairs());
                let verdict = match self.sites.get_mut(site) {
                    Some(s) => s.core.protect(now, &bytes, &mut s.out),
                    None => return,
                };
                if verdict == TunVerdict::NoSa && before == 0 {
                    if let Some(s) = self.sites.get(site) {
                        let t = crate::gateway::five_tuple(&bytes);
                        let fresh = !self
                            .story
                            .iter()
                            .any(|l| l.1.contains(&format!("{}: packet", s.name)));
                        if fresh {
                            self.story.push((self.now, format!(
                                "t={}  {}: packet {} -> {} matches crypto map {} {} (access-list {}); \
                                 no IPsec SA: dropped (#send errors), IKE started",
                                secs(self.now),
                                s.name,
                                t.map_or(Ipv4Addr::UNSPECIFIED, |t| t.src),
                                t.map_or(Ipv4Addr::UNSPECIFIED, |t| t.dst),
                                s.core.entries().first().map_or("?", |e| e.map.as_str()),
                                s.core.entries().first().map_or(0, |e| e.seq),
                                s.core.entries().first().map_or("?", |e| e.acl.name.as_str()),
                            )));
                        }
                    }
                }
                self.after(site);
            }
            Delivery::ToHost { site } => self.host_receives(site, &bytes),
        }
    }

    /// Bookkeeping after a site handled something: move its output, note new SA pairs.
    fn after(&mut self, i: usize) {
        self.drain(i);
    }

    fn host_receives(&mut self, site: usize, pkt: &[u8]) {
        let Some(s) = self.sites.get(site) else {
            return;
        };
        let Some(t) = crate::gateway::five_tuple(pkt) else {
            return;
        };
        if t.dst != s.host || t.protocol != 1 {
            return;
        }
        let ihl = usize::from(pkt.first().map_or(5, |b| b & 0x0f)) * 4;
        let ty = pkt.get(ihl).copied();
        let id = pkt
            .get(ihl + 4..ihl + 6)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let seq = pkt
            .get(ihl + 6..ihl + 8)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        match ty {
            Some(8) => {
                let reply = icmp_echo(s.host, t.src, 0, id, seq);
                self.push(self.now + LAN_MS, Delivery::FromHost { site }, reply);
            }
            Some(0) if id == 0x1000 + site as u16 => {
                let sent = self
                    .sent_at
                    .get(site)
                    .and_then(|v| v.get(usize::from(seq)))
                    .copied()
                    .unwrap_or(self.now);
                // IOS counts a reply after the timeout as lost.
                if self.now - sent <= PING_TIMEOUT_MS {
                    if let Some(r) = self.replies.get_mut(site) {
                        r.push((seq, self.now - sent));
                    }
                }
            }
            _ => {}
        }
    }

    fn next_time(&self) -> Option<u64> {
        let q = self.queue.peek().map(|Reverse((t, ..))| *t);
        let d = self
            .sites
            .iter()
            .filter_map(|s| s.core.next_deadline().map(|d| d.0))
            .min();
        match (q, d) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs everything due up to `until` (exclusive of later events).
    fn run_until(&mut self, until: u64) {
        let mut guard = 0u32;
        while let Some(t) = self.next_time() {
            if t > until {
                break;
            }
            guard += 1;
            if guard > 1_000_000 {
                break;
            }
            self.now = self.now.max(t);
            // Timers first, then the packets due now.
            for i in 0..self.sites.len() {
                let due = self
                    .sites
                    .get(i)
                    .and_then(|s| s.core.next_deadline())
                    .is_some_and(|d| d.0 <= self.now);
                if due {
                    if let Some(s) = self.sites.get_mut(i) {
                        s.core.on_timer(Instant(self.now), &mut s.out);
                    }
                    self.drain(i);
                }
            }
            while let Some(Reverse((at, ..))) = self.queue.peek() {
                if *at > self.now {
                    break;
                }
                let Some(Reverse((_, _, d, bytes))) = self.queue.pop() else {
                    break;
                };
                self.deliver(d, bytes);
            }
        }
        self.now = self.now.max(until);
    }

    /// One ping run from site `from`: `n` echoes one second apart; returns the IOS-style lines.
    fn ping(&mut self, from: usize, n: u32) -> String {
        let start_replies = self.replies.get(from).map_or(0, |r| r.len());
        let base = self.sent_at.get(from).map_or(0, |v| v.len());
        let t0 = self.now;
        for k in 0..n {
            self.run_until(t0 + u64::from(k) * PING_INTERVAL_MS);
            self.send_echo(from, (base + k as usize) as u16);
        }
        self.run_until(t0 + u64::from(n.saturating_sub(1)) * PING_INTERVAL_MS + PING_TIMEOUT_MS);
        let got: Vec<(u16, u64)> = self
            .replies
            .get(from)
            .map(|r| r.iter().skip(start_replies).copied().collect())
            .unwrap_or_default();
        let mut marks = String::new();
        for k in 0..n {
            let seq = (base + k as usize) as u16;
            marks.push(if got.iter().any(|(s, _)| *s == seq) {
                '!'
            } else {
                '.'
            });
        }
        let (s, peer) = self
            .sites
            .get(from)
            .map_or((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED), |s| {
                (s.host, s.peer_host)
            });
        let ok = got.len() as u32;
        let pct = (ok * 100).checked_div(n).unwrap_or(0);
        let mut o = format!(
            "host {s}> ping {peer} repeat {n}\nType escape sequence to abort.\n\
             Sending {n}, {ECHO_LEN}-byte ICMP Echos to {peer}, timeout is 2 seconds:\n"
        );
        for chunk in marks.as_bytes().chunks(70) {
            o.push_str(std::str::from_utf8(chunk).unwrap_or(""));
            o.push('\n');
        }
        let _ = write!(o, "Success rate is {pct} percent ({ok}/{n})");
        if !got.is_empty() {
            let min = got.iter().map(|g| g.1).min().unwrap_or(0);
            let max = got.iter().map(|g| g.1).max().unwrap_or(0);
            let avg = got.iter().map(|g| g.1).sum::<u64>() / got.len() as u64;
            let _ = write!(o, ", round-trip min/avg/max = {min}/{avg}/{max} ms");
        }
        o.push('\n');
        o
    }

    fn show(&mut self, i: usize, line: &str) -> String {
        let Ok(Some(cmd)) = control::resolve(line) else {
            return String::new();
        };
        let now = Instant(self.now);
        let text = match self.sites.get_mut(i) {
            Some(s) => match s.core.on_control(now, &cmd, &mut s.out) {
                control::ControlReply::Text(t) | control::ControlReply::Error(t) => t,
            },
            None => String::new(),
        };
        self.drain(i);
        text
    }
}

fn site(
    name: &str,
    text: &str,
    seed: u64,
    debug: bool,
) -> Result<(GatewayCore, Outputs), DemoError> {
    let parsed = ipsec_proto::ios::parse(text).map_err(|error| DemoError::Config {
        site: name.into(),
        error,
    })?;
    let core = GatewayCore::new(parsed.config, CoreOptions::seeded(seed)).map_err(|error| {
        DemoError::Build {
            site: name.into(),
            error,
        }
    })?;
    let mut out = Outputs::default();
    out.set_debugging(DebugKind::Isakmp, debug);
    out.set_debugging(DebugKind::Ipsec, debug);
    Ok((core, out))
}

/// Runs the demonstration.
pub fn run(opts: &DemoOptions) -> Result<DemoReport, DemoError> {
    let ta = opts.config_a.as_deref().unwrap_or(SITE_A);
    let tb = opts.config_b.as_deref().unwrap_or(SITE_B);
    let (ca, oa) = site("siteA", ta, opts.seed, opts.debug)?;
    // A different stream for siteB, still fixed by the seed.
    let (cb, ob) = site("siteB", tb, opts.seed ^ 0x5EED_B0B0, opts.debug)?;
    let mk = |name: String, core: GatewayCore, out: Outputs| {
        let e = core.entries().first().cloned();
        let (host, peer_host) = core
            .endpoint()
            .config()
            .peers
            .first()
            .and_then(|p| p.selectors.first())
            .map_or((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED), |s| {
                (host_in(&s.local.addr), host_in(&s.remote.addr))
            });
        Site {
            name,
            wan: e.map_or(Ipv4Addr::UNSPECIFIED, |e| e.local),
            core,
            out,
            host,
            peer_host,
        }
    };
    let name_a = ca
        .config()
        .hostname
        .clone()
        .unwrap_or_else(|| "siteA".into());
    let name_b = cb
        .config()
        .hostname
        .clone()
        .unwrap_or_else(|| "siteB".into());
    let sites = vec![mk(name_a, ca, oa), mk(name_b, cb, ob)];
    let mut sim = Sim {
        sites,
        queue: BinaryHeap::new(),
        seq: 0,
        now: 1000,
        debug: opts.debug,
        debug_text: String::new(),
        story: Vec::new(),
        replies: [Vec::new(), Vec::new()],
        sent_at: [Vec::new(), Vec::new()],
        lost_wan: 0,
    };
    let mut text = String::new();
    let (a, b) = (&sim.sites[0], &sim.sites[1]);
    let _ = writeln!(
        text,
        "IPsec LAN-to-LAN demonstration (seed {}): {} {} (host {}) <-> {} {} (host {}),\n\
         simulated WAN with {WAN_MS} ms one-way latency, virtual time.\n",
        opts.seed, a.name, a.wan, a.host, b.name, b.wan, b.host
    );
    for s in &sim.sites {
        for k in s.core.skipped() {
            let _ = writeln!(text, "{}: warning: {k}", s.name);
        }
    }
    let ping_a = sim.ping(0, opts.pings);
    let after_a = sim.now;
    let ping_b = sim.ping(1, opts.pings);
    let _ = writeln!(text, "{ping_a}\n{ping_b}");
    let name_a = sim.sites[0].name.clone();
    let name_b = sim.sites[1].name.clone();

    // The narrative: state changes as both routers saw them.
    let mut story = std::mem::take(&mut sim.story);
    for s in &sim.sites {
        let mut per_sa: Vec<(u32, std::net::IpAddr, u64, bool, Vec<String>)> = Vec::new();
        for t in s.core.transitions() {
            let i = match per_sa.iter().position(|x| x.0 == t.conn_id) {
                Some(i) => i,
                None => {
                    per_sa.push((t.conn_id, t.peer, t.at.0, t.initiator, Vec::new()));
                    per_sa.len() - 1
                }
            };
            if let (Some(to), Some(x)) = (t.to, per_sa.get_mut(i)) {
                x.4.push(format!("{to} ({})", secs(t.at.0)));
            }
        }
        for (conn, peer, at, initiator, states) in per_sa {
            story.push((
                at,
                format!(
                    "t={}  {}: ISAKMP SA conn-id {conn} with {peer} as {}: {}",
                    secs(at),
                    s.name,
                    if initiator { "initiator" } else { "responder" },
                    states.join(" -> ")
                ),
            ));
        }
        for c in s.core.endpoint().ipsec_sas(Instant(sim.now)) {
            story.push((
                c.established.0,
                format!(
                    "t={}  {}: Quick Mode done, IPsec SA pair installed: inbound spi 0x{:X}, \
                 outbound spi 0x{:X}, {}",
                    secs(c.established.0),
                    s.name,
                    c.spi_in,
                    c.spi_out,
                    c.transform.display_transforms()
                ),
            ));
        }
    }
    story.sort_by_key(|x| x.0);
    let _ = writeln!(text, "What happened:");
    for (_, l) in &story {
        let _ = writeln!(text, "  {l}");
    }
    let _ = writeln!(
        text,
        "  {name_a} pinged until t={}, then {name_b}; WAN packets to unknown addresses: {}\n",
        secs(after_a),
        sim.lost_wan
    );
    if opts.debug {
        let _ = writeln!(
            text,
            "Debug output (debug crypto isakmp, debug crypto ipsec):"
        );
        text.push_str(&sim.debug_text);
        text.push('\n');
    }
    let a_isakmp = sim.show(0, "show crypto isakmp sa");
    let a_ipsec = sim.show(0, "show crypto ipsec sa");
    let b_isakmp = sim.show(1, "show crypto isakmp sa");
    let b_ipsec = sim.show(1, "show crypto ipsec sa");
    let _ = write!(text, "{name_a}#show crypto isakmp sa\n{a_isakmp}");
    let _ = write!(text, "{name_a}#show crypto ipsec sa\n{a_ipsec}");
    let replies = [sim.replies[0].len() as u32, sim.replies[1].len() as u32];
    Ok(DemoReport {
        text,
        a_isakmp,
        a_ipsec,
        b_isakmp,
        b_ipsec,
        replies,
    })
}
