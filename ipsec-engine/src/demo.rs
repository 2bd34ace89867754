//! `ipsec-engine demo`: the seed's two routers (siteA and siteB, cisco-ios.md A.8 and its
//! mirror) run the real gateway core against each other over a simulated WAN inside one
//! process, in virtual time. A host on each LAN pings the other: the first echo triggers IKE
//! (and is lost, as on IOS), the rest cross the tunnel, and siteA's `show crypto isakmp sa` and
//! `show crypto ipsec sa` are printed as the seed shows them.
//!
//! Deterministic: the same seed gives the same SPIs, cookies and output.
//!
//! The network is `ipsec_proto::testing`'s: the routers are tunnel-layer nodes with a host on
//! each LAN ([`Network::attach`]); what is demo-specific (the narrative, IOS ping's marks and
//! timeout, debug timestamps) lives here.

use crate::control;
use crate::gateway::{CoreOptions, GatewayCore, TunVerdict};
use crate::outputs::DebugKind;
use crate::Gateway;
use ipsec_proto::ios::config::ConfigError;
use ipsec_proto::policy::SelectorAddr;
use ipsec_proto::testing::{Host, Link, Network, Node, Packet, TunnelsNode, Wire};
use ipsec_proto::time::Instant;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

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

/// What both routers add to the printout while the network runs, in the order it happened
/// (shared, because the network interleaves the two routers).
#[derive(Default)]
struct Transcript {
    /// `debug crypto` lines with their timestamps.
    debug: String,
    /// Narrative lines with the virtual time they belong at.
    story: Vec<(u64, String)>,
}

/// A router on the network: the gateway core, plus what the narrative notes about it.
struct Router {
    name: String,
    node: TunnelsNode,
    wan: Ipv4Addr,
    host: Ipv4Addr,
    peer_host: Ipv4Addr,
    debug: bool,
    /// The first packet that found no SA was told in the narrative.
    told_no_sa: bool,
    transcript: Rc<RefCell<Transcript>>,
}

impl Router {
    fn core(&self) -> &GatewayCore {
        &self.node.tunnels
    }

    /// A packet from the LAN host; the first one that starts IKE goes into the narrative.
    fn handle_lan(&mut self, now: Instant, pkt: &[u8]) {
        let before = self.node.tunnels.installed_pairs();
        let verdict = self.node.tunnels.protect(now, pkt, &mut self.node.out);
        if verdict != TunVerdict::NoSa || before != 0 || self.told_no_sa {
            return;
        }
        self.told_no_sa = true;
        let t = crate::gateway::five_tuple(pkt);
        let e = self.core().entries().first();
        let line = format!(
            "t={}  {}: packet {} -> {} matches crypto map {} {} (access-list {}); \
             no IPsec SA: dropped (#send errors), IKE started",
            secs(now.0),
            self.name,
            t.map_or(Ipv4Addr::UNSPECIFIED, |t| t.src),
            t.map_or(Ipv4Addr::UNSPECIFIED, |t| t.dst),
            e.map_or("?", |e| e.map.as_str()),
            e.map_or(0, |e| e.seq),
            e.map_or("?", |e| e.acl.name.as_str()),
        );
        self.transcript.borrow_mut().story.push((now.0, line));
    }
}

impl Node for Router {
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Packet>) {
        if self.debug {
            let mut t = self.transcript.borrow_mut();
            for (_, line) in self.node.out.debug_lines() {
                for l in line.trim_end().lines() {
                    let _ = writeln!(t.debug, "{}{}: {l}", stamp(now.0), self.name);
                }
            }
        }
        self.node.poll_transmit(now, out);
        // Already in the transcript, with the router's name.
        self.node.debug.clear();
    }

    fn handle_packet(&mut self, now: Instant, p: &Packet) {
        match p.wire {
            Wire::Ip { .. } => self.handle_lan(now, &p.bytes),
            _ => self.node.handle_packet(now, p),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.node.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.node.handle_timeout(now);
    }
}

/// Node numbers on the network: the routers, then their hosts.
const ROUTERS: [usize; 2] = [0, 1];
const HOSTS: [usize; 2] = [2, 3];

struct Sim {
    routers: [Router; 2],
    hosts: [Host; 2],
    net: Network,
    /// Send time of every echo per host, by sequence number.
    sent_at: [Vec<u64>; 2],
}

impl Sim {
    fn nodes(&mut self) -> [&mut dyn Node; 4] {
        let [a, b] = &mut self.routers;
        let [ha, hb] = &mut self.hosts;
        [a, b, ha, hb]
    }

    fn now(&self) -> u64 {
        self.net.now().0
    }

    fn run_until(&mut self, until: u64) {
        let mut net = std::mem::replace(&mut self.net, Network::new(Instant(0), 0));
        net.run_until(&mut self.nodes(), Instant(until));
        self.net = net;
    }

    /// The ICMP identifier of host `i`'s pings.
    fn ping_id(i: usize) -> u16 {
        0x1000 + i as u16
    }

    fn send_echo(&mut self, from: usize, seq: u16) {
        let now = self.now();
        let h = &mut self.hosts[from];
        let pkt = h.echo_request(
            self.routers[from].peer_host,
            Self::ping_id(from),
            seq,
            ECHO_LEN,
        );
        h.send(pkt);
        self.sent_at[from].push(now);
    }

    /// Replies host `i` got in time: (sequence number, round trip in ms). IOS counts a reply
    /// after the timeout as lost.
    fn replies(&self, i: usize) -> Vec<(u16, u64)> {
        self.hosts[i]
            .replies()
            .filter(|(_, e)| e.id == Self::ping_id(i))
            .filter_map(|(at, e)| {
                let sent = self.sent_at[i]
                    .get(usize::from(e.seq))
                    .copied()
                    .unwrap_or(at.0);
                (at.0 - sent <= PING_TIMEOUT_MS).then_some((e.seq, at.0 - sent))
            })
            .collect()
    }

    /// WAN packets sent to an address no router has.
    fn lost_wan(&self) -> usize {
        let wan = [self.routers[0].wan, self.routers[1].wan];
        self.net
            .log()
            .iter()
            .filter(|s| match s.packet.wire {
                Wire::Udp { dst, .. } => !wan.iter().any(|w| dst.ip() == *w),
                Wire::Esp { dst, .. } => !wan.contains(&dst),
                Wire::Ip { .. } => false,
            })
            .count()
    }

    /// One ping run from site `from`: `n` echoes one second apart; returns the IOS-style lines.
    fn ping(&mut self, from: usize, n: u32) -> String {
        let start_replies = self.replies(from).len();
        let base = self.sent_at[from].len();
        let t0 = self.now();
        for k in 0..n {
            self.run_until(t0 + u64::from(k) * PING_INTERVAL_MS);
            self.send_echo(from, (base + k as usize) as u16);
        }
        self.run_until(t0 + u64::from(n.saturating_sub(1)) * PING_INTERVAL_MS + PING_TIMEOUT_MS);
        let got: Vec<(u16, u64)> = self.replies(from).into_iter().skip(start_replies).collect();
        let mut marks = String::new();
        for k in 0..n {
            let seq = (base + k as usize) as u16;
            marks.push(if got.iter().any(|(s, _)| *s == seq) {
                '!'
            } else {
                '.'
            });
        }
        let (s, peer) = (self.routers[from].host, self.routers[from].peer_host);
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
        let now = self.net.now();
        let node = &mut self.routers[i].node;
        let text = match node.tunnels.on_control(now, &cmd, &mut node.out) {
            control::ControlReply::Text(t) | control::ControlReply::Error(t) => t,
        };
        let mut net = std::mem::replace(&mut self.net, Network::new(Instant(0), 0));
        net.collect_from(&mut self.nodes(), ROUTERS[i]);
        self.net = net;
        text
    }
}

fn site(name: &str, text: &str, seed: u64, debug: bool) -> Result<TunnelsNode, DemoError> {
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
    let mut node = TunnelsNode::new(core);
    node.out.set_debugging(DebugKind::Isakmp, debug);
    node.out.set_debugging(DebugKind::Ipsec, debug);
    node.lan = true;
    Ok(node)
}

/// Runs the demonstration.
pub fn run(opts: &DemoOptions) -> Result<DemoReport, DemoError> {
    let ta = opts.config_a.as_deref().unwrap_or(SITE_A);
    let tb = opts.config_b.as_deref().unwrap_or(SITE_B);
    let na = site("siteA", ta, opts.seed, opts.debug)?;
    // A different stream for siteB, still fixed by the seed.
    let nb = site("siteB", tb, opts.seed ^ 0x5EED_B0B0, opts.debug)?;
    let transcript = Rc::new(RefCell::new(Transcript::default()));
    let mk = |fallback: &str, node: TunnelsNode| {
        let core = &node.tunnels;
        let (host, peer_host) = core
            .endpoint()
            .config()
            .peers
            .first()
            .and_then(|p| p.selectors.first())
            .map_or((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED), |s| {
                (host_in(&s.local.addr), host_in(&s.remote.addr))
            });
        Router {
            name: core
                .config()
                .hostname
                .clone()
                .unwrap_or_else(|| fallback.into()),
            wan: core
                .entries()
                .first()
                .map_or(Ipv4Addr::UNSPECIFIED, |e| e.local),
            node,
            host,
            peer_host,
            debug: opts.debug,
            told_no_sa: false,
            transcript: transcript.clone(),
        }
    };
    let routers = [mk("siteA", na), mk("siteB", nb)];
    // The seed only drives lossy links, and these are perfect.
    let mut net = Network::new(Instant(1000), 0);
    net.set_default_link(Link::with_latency(Duration::from_millis(WAN_MS)));
    for r in &routers {
        net.add_node(r.wan);
    }
    for (r, h) in ROUTERS.into_iter().zip(HOSTS) {
        let n = net.add_node(routers[r].host);
        debug_assert_eq!(n, h);
        net.attach(h, r);
        let lan = Link::with_latency(Duration::from_millis(LAN_MS));
        net.set_link(h, r, lan);
        net.set_link(r, h, lan);
    }
    let hosts = [Host::new(routers[0].host), Host::new(routers[1].host)];
    let mut sim = Sim {
        routers,
        hosts,
        net,
        sent_at: [Vec::new(), Vec::new()],
    };
    let mut text = String::new();
    let [a, b] = &sim.routers;
    let _ = writeln!(
        text,
        "IPsec LAN-to-LAN demonstration (seed {}): {} {} (host {}) <-> {} {} (host {}),\n\
         simulated WAN with {WAN_MS} ms one-way latency, virtual time.\n",
        opts.seed, a.name, a.wan, a.host, b.name, b.wan, b.host
    );
    for s in &sim.routers {
        for k in s.core().skipped() {
            let _ = writeln!(text, "{}: warning: {k}", s.name);
        }
    }
    let ping_a = sim.ping(0, opts.pings);
    let after_a = sim.now();
    let ping_b = sim.ping(1, opts.pings);
    let _ = writeln!(text, "{ping_a}\n{ping_b}");
    let name_a = sim.routers[0].name.clone();
    let name_b = sim.routers[1].name.clone();

    // The narrative: state changes as both routers saw them.
    let mut story = std::mem::take(&mut transcript.borrow_mut().story);
    for s in &sim.routers {
        let mut per_sa: Vec<(u32, std::net::IpAddr, u64, bool, Vec<String>)> = Vec::new();
        for t in s.core().transitions() {
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
        for c in s.core().endpoint().ipsec_sas(sim.net.now()) {
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
        sim.lost_wan()
    );
    if opts.debug {
        let _ = writeln!(
            text,
            "Debug output (debug crypto isakmp, debug crypto ipsec):"
        );
        text.push_str(&transcript.borrow().debug);
        text.push('\n');
    }
    let a_isakmp = sim.show(0, "show crypto isakmp sa");
    let a_ipsec = sim.show(0, "show crypto ipsec sa");
    let b_isakmp = sim.show(1, "show crypto isakmp sa");
    let b_ipsec = sim.show(1, "show crypto ipsec sa");
    let _ = write!(text, "{name_a}#show crypto isakmp sa\n{a_isakmp}");
    let _ = write!(text, "{name_a}#show crypto ipsec sa\n{a_ipsec}");
    let replies = [sim.replies(0).len() as u32, sim.replies(1).len() as u32];
    Ok(DemoReport {
        text,
        a_isakmp,
        a_ipsec,
        b_isakmp,
        b_ipsec,
        replies,
    })
}
