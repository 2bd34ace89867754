//! Routes for the protected networks, the policy rule that keeps the engine's own packets out of
//! its TUN, and read-only checks of the host's routes.
//!
//! Loop prevention (the choice): the TUN routes live in a dedicated table (default 485), selected
//! by `ip rule add not fwmark MARK lookup TABLE pref PREF`. Every socket of the engine (UDP 500,
//! UDP 4500, raw ESP) carries SO_MARK = MARK, so its packets skip that rule and are routed by the
//! main table out the physical interface, even when a crypto ACL covers the peer's own address.
//! Forwarded cleartext from the LAN is unmarked, takes the rule, finds the protected network in
//! the table and goes to the TUN; a destination the table does not hold falls through to the main
//! table as if the rule were not there. The main table is never touched, so cleanup is exact:
//! delete the routes we added and the one rule.
//!
//! Static VTIs route through the main table instead ([`VtiRoutes`]), where routing daemons put
//! their routes too; that is why the engine's marked packets get an underlay table of their own
//! ([`Underlay`]), looked up before the main table.
//!
//! Routes and rules are installed with `ip` (iproute2), whose error text goes into the returned
//! error, so the operator sees exactly what the kernel refused.

use crate::net::Ipv4Net;
use std::io;
use std::net::Ipv4Addr;
use std::process::Command;

/// Default firewall mark on the engine's sockets.
pub const DEFAULT_MARK: u32 = 0x1e5;
/// Default routing table for the TUN routes.
pub const DEFAULT_TABLE: u32 = 485;
/// Default preference of the policy rule (before `main` at 32766).
pub const DEFAULT_RULE_PREF: u32 = 10485;
/// Default underlay table (see [`Underlay`]).
pub const DEFAULT_UNDERLAY_TABLE: u32 = 486;
/// Default preference of the underlay rule: before the `not fwmark` rule.
pub const DEFAULT_UNDERLAY_RULE_PREF: u32 = 10484;

/// Runs `ip ARGS` and returns its standard output.
fn ip_output(args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// How the kernel reaches an address now: (gateway, device), from `ip route get` output such
/// as `203.0.113.2 via 198.51.100.1 dev wan src 198.51.100.2 uid 0`.
pub fn parse_route_get(text: &str) -> Option<(Option<Ipv4Addr>, String)> {
    let w: Vec<&str> = text.split_whitespace().collect();
    let after = |k: &str| w.iter().position(|x| *x == k).and_then(|i| w.get(i + 1));
    let dev = after("dev")?.to_string();
    let via = after("via").and_then(|a| a.parse().ok());
    Some((via, dev))
}

/// The engine's own packets (those carrying its mark) never follow a route into a tunnel,
/// whatever a routing daemon puts into the main table (a default route, or the peer's own /32,
/// learned over a VTI would otherwise loop IKE and ESP into the tunnel they carry).
///
/// The choice: `ip rule add fwmark MARK lookup UNDERLAY pref PREF` and, in that table, a /32 to
/// each tunnel destination via the next hop the main table gave when the engine started (before
/// any tunnel existed). Marked packets to other destinations find nothing there and fall
/// through to the main table as before. The next hop is not followed afterwards: a host whose
/// physical next hop changes (DHCP) needs a restart. Removed by [`Underlay::cleanup`] (also on
/// drop); the table is the engine's alone, so it is flushed.
#[derive(Debug)]
pub struct Underlay {
    mark: u32,
    table: u32,
    pref: u32,
    rule_installed: bool,
    routes: Vec<(Ipv4Addr, Option<Ipv4Addr>, String)>,
}

impl Underlay {
    /// Resolves each destination in the main table and installs the rule and the /32s.
    pub fn install(
        mark: u32,
        table: u32,
        pref: u32,
        destinations: &[Ipv4Addr],
    ) -> io::Result<Underlay> {
        let mut u = Underlay {
            mark,
            table,
            pref,
            rule_installed: false,
            routes: Vec::new(),
        };
        let t = table.to_string();
        let _ = u.rule("del");
        let _ = ip(&["route", "flush", "table", &t]);
        for d in destinations {
            let ds = d.to_string();
            let got = ip_output(&["-4", "route", "get", &ds])?;
            let (via, dev) = parse_route_get(&got).ok_or_else(|| {
                io::Error::other(format!("ip route get {ds}: no device in {got:?}"))
            })?;
            let dst = format!("{ds}/32");
            let mut args = vec!["route", "replace", &dst];
            let v = via.map(|v| v.to_string());
            if let Some(v) = &v {
                args.extend(["via", v.as_str()]);
            }
            args.extend(["dev", dev.as_str(), "table", &t]);
            ip(&args)?;
            u.routes.push((*d, via, dev));
        }
        u.rule("add")?;
        u.rule_installed = true;
        Ok(u)
    }

    /// The /32s installed: (destination, gateway, device).
    pub fn routes(&self) -> &[(Ipv4Addr, Option<Ipv4Addr>, String)] {
        &self.routes
    }

    fn rule(&self, verb: &str) -> io::Result<()> {
        let m = format!("{:#x}/{:#x}", self.mark, self.mark);
        let t = self.table.to_string();
        let p = self.pref.to_string();
        ip(&["rule", verb, "fwmark", &m, "lookup", &t, "pref", &p])
    }

    /// Removes the rule and flushes the table; returns the first failure but tries both.
    pub fn cleanup(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        if self.rule_installed {
            self.rule_installed = false;
            first = self.rule("del");
        }
        if !std::mem::take(&mut self.routes).is_empty() {
            let r = ip(&["route", "flush", "table", &self.table.to_string()]);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        let _ = self.cleanup();
    }
}

/// The static routes through one VTI (`ip route P M TunnelN [distance]`), in the main table
/// with the distance as metric (`proto static`), present only while the tunnel's line protocol
/// is up: withdrawn when it goes down, so that a floating static route with a higher distance
/// through another interface takes over, as on IOS. Removed by [`VtiRoutes::set_up`]`(false)`
/// (also on drop).
#[derive(Debug)]
pub struct VtiRoutes {
    dev: String,
    routes: Vec<(Ipv4Net, u32)>,
    up: bool,
}

impl VtiRoutes {
    /// Routes through `dev`, none installed yet.
    pub fn new(dev: &str, routes: &[(Ipv4Net, u32)]) -> VtiRoutes {
        VtiRoutes {
            dev: dev.to_string(),
            routes: routes.to_vec(),
            up: false,
        }
    }

    /// Whether the routes are installed.
    pub fn is_up(&self) -> bool {
        self.up
    }

    fn args(&self, verb: &'static str, net: &Ipv4Net, metric: u32) -> Vec<String> {
        [
            "route",
            verb,
            &net.to_string(),
            "dev",
            &self.dev,
            "table",
            "main",
            "proto",
            "static",
            "metric",
            &metric.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Installs (`up`) or withdraws the routes; returns what failed (the rest is done).
    pub fn set_up(&mut self, up: bool) -> Vec<String> {
        let mut errors = Vec::new();
        if up == self.up {
            return errors;
        }
        self.up = up;
        for (net, metric) in &self.routes {
            let a = self.args(if up { "replace" } else { "del" }, net, *metric);
            match ip(&a.iter().map(String::as_str).collect::<Vec<_>>()) {
                Err(e)
                    if !up
                        && (e.to_string().contains("No such")
                            || e.to_string().contains("Cannot find device")) => {}
                Err(e) => errors.push(e.to_string()),
                Ok(()) => {}
            }
        }
        errors
    }
}

impl Drop for VtiRoutes {
    fn drop(&mut self) {
        let _ = self.set_up(false);
    }
}

/// Runs `ip ARGS`, failing with iproute2's stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The routing protocol number (`ip route ... proto 229`, rtnetlink `rtm_protocol`) of the
/// routes reverse route injection puts into the main table: above the kernel's own (0-4) and
/// the numbers iproute2 and the routing daemons use (8-19, 42, 99, 186-192), so a routing
/// daemon can tell them apart (bird: `krt_source = 229`) and the engine finds its own.
pub const RTPROT_IPSEC_RRI: u8 = 229;

/// A route the tunnel layer asks for ([`ipsec_proto::tunnel::InjectedRoute`]) as the host
/// installs it: published ones in the main table (`proto 229`, metric = distance, realm = tag
/// when the tag fits the 16-bit realm, else the tag is only shown), the others in the engine's
/// own table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RriRoute {
    /// The network.
    pub net: Ipv4Net,
    /// Main table (`reverse-route`) or the engine's table.
    pub publish: bool,
    /// Metric (the administrative distance).
    pub metric: u32,
    /// `set reverse-route tag`, 0 for none.
    pub tag: u32,
}

impl RriRoute {
    fn args(&self, verb: &str, dev: &str, table: u32, realm: bool) -> Vec<String> {
        let mut a: Vec<String> = vec!["route".into(), verb.into(), self.net.to_string()];
        a.extend(["dev".into(), dev.into()]);
        if self.publish {
            a.extend(["table".into(), "main".into()]);
            a.extend(["proto".into(), RTPROT_IPSEC_RRI.to_string()]);
            a.extend(["metric".into(), self.metric.to_string()]);
            if realm && self.tag != 0 && self.tag <= 0xffff {
                a.extend(["realms".into(), self.tag.to_string()]);
            }
        } else {
            a.extend(["table".into(), table.to_string()]);
        }
        a
    }
}

/// The reverse-route-injection routes the engine installed, kept equal to what the tunnel
/// layer asks for by [`RriRoutes::sync`], removed by [`RriRoutes::cleanup`] (also on drop).
/// A network already routed into the TUN at start (a crypto ACL destination in the engine's
/// table) is never added or removed there again.
#[derive(Debug)]
pub struct RriRoutes {
    dev: String,
    table: u32,
    protected: Vec<Ipv4Net>,
    installed: Vec<RriRoute>,
    /// Addresses put on `dev` (an Easy VPN client's assigned address).
    addresses: Vec<Ipv4Addr>,
}

impl RriRoutes {
    /// Routes through `dev`; `protected` are the networks [`Routing`] routes there already.
    pub fn new(dev: &str, table: u32, protected: &[Ipv4Net]) -> RriRoutes {
        RriRoutes {
            dev: dev.to_string(),
            table,
            protected: protected.to_vec(),
            installed: Vec::new(),
            addresses: Vec::new(),
        }
    }

    /// Makes the addresses on the device equal to `wanted` (each a /32, so no connected route
    /// comes with it: the split routes decide what goes in); returns what failed.
    pub fn sync_addresses(&mut self, wanted: &[Ipv4Addr]) -> Vec<String> {
        let mut errors = Vec::new();
        let stale: Vec<Ipv4Addr> = self
            .addresses
            .iter()
            .filter(|a| !wanted.contains(a))
            .copied()
            .collect();
        for a in stale {
            self.addresses.retain(|x| *x != a);
            if let Err(e) = ip(&["addr", "del", &format!("{a}/32"), "dev", &self.dev]) {
                errors.push(e.to_string());
            }
        }
        for a in wanted {
            if self.addresses.contains(a) {
                continue;
            }
            match ip(&["addr", "replace", &format!("{a}/32"), "dev", &self.dev]) {
                Ok(()) => self.addresses.push(*a),
                Err(e) => errors.push(e.to_string()),
            }
        }
        errors
    }

    /// The routes installed now.
    pub fn installed(&self) -> &[RriRoute] {
        &self.installed
    }

    /// Makes the installed routes equal to `wanted`; returns what failed (each is also left
    /// out of the installed set, so the next sync tries again).
    pub fn sync(&mut self, wanted: &[RriRoute]) -> Vec<String> {
        let mut errors = Vec::new();
        let wanted: Vec<&RriRoute> = wanted
            .iter()
            .filter(|r| r.publish || !self.protected.contains(&r.net))
            .collect();
        let stale: Vec<RriRoute> = self
            .installed
            .iter()
            .filter(|r| !wanted.contains(r))
            .cloned()
            .collect();
        for r in stale {
            self.installed.retain(|x| *x != r);
            if let Err(e) = self.del(&r) {
                errors.push(e.to_string());
            }
        }
        for r in wanted {
            if self.installed.contains(r) {
                continue;
            }
            match self.add(r) {
                Ok(()) => self.installed.push(r.clone()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        errors
    }

    fn add(&self, r: &RriRoute) -> io::Result<()> {
        let run = |realm: bool| {
            let a = r.args("replace", &self.dev, self.table, realm);
            ip(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        // A kernel without route realms (CONFIG_IP_ROUTE_CLASSID) refuses `realms`: the tag is
        // then only in `show` output.
        run(true).or_else(|_| run(false))
    }

    fn del(&self, r: &RriRoute) -> io::Result<()> {
        let a = r.args("del", &self.dev, self.table, false);
        match ip(&a.iter().map(String::as_str).collect::<Vec<_>>()) {
            Err(e)
                if e.to_string().contains("No such")
                    || e.to_string().contains("Cannot find device") =>
            {
                Ok(())
            }
            x => x,
        }
    }

    /// Removes every installed route; returns the first failure but tries everything.
    pub fn cleanup(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        for a in std::mem::take(&mut self.addresses) {
            let _ = ip(&["addr", "del", &format!("{a}/32"), "dev", &self.dev]);
        }
        for r in std::mem::take(&mut self.installed).into_iter().rev() {
            if let Err(e) = self.del(&r) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

impl Drop for RriRoutes {
    fn drop(&mut self) {
        let _ = self.cleanup();
    }
}

/// Routing state the engine installed; removed by [`Routing::cleanup`] (also on drop).
#[derive(Debug)]
pub struct Routing {
    mark: u32,
    table: u32,
    pref: u32,
    rule_installed: bool,
    routes: Vec<(Ipv4Net, String)>,
}

impl Routing {
    /// Installs the `not fwmark` rule. Nothing is routed to the TUN until [`Routing::add_route`].
    pub fn install(mark: u32, table: u32, pref: u32) -> io::Result<Routing> {
        let mut r = Routing {
            mark,
            table,
            pref,
            rule_installed: false,
            routes: Vec::new(),
        };
        // A rule or routes left by a killed predecessor: remove them first, ignoring absence.
        // The table is ours alone, so flushing it is safe.
        let _ = r.rule("del");
        let _ = ip(&["route", "flush", "table", &table.to_string()]);
        r.rule("add")?;
        r.rule_installed = true;
        Ok(r)
    }

    /// The mark the engine's sockets must carry.
    pub fn mark(&self) -> u32 {
        self.mark
    }

    /// The table holding the TUN routes.
    pub fn table(&self) -> u32 {
        self.table
    }

    /// Routes `net` through `dev` in the engine's table.
    pub fn add_route(&mut self, net: Ipv4Net, dev: &str) -> io::Result<()> {
        let n = net.to_string();
        let t = self.table.to_string();
        ip(&["route", "replace", &n, "dev", dev, "table", &t])?;
        if !self.routes.iter().any(|(r, d)| *r == net && d == dev) {
            self.routes.push((net, dev.to_string()));
        }
        Ok(())
    }

    /// Removes one route added by [`Routing::add_route`].
    pub fn del_route(&mut self, net: Ipv4Net, dev: &str) -> io::Result<()> {
        self.routes.retain(|(r, d)| !(*r == net && d == dev));
        let n = net.to_string();
        let t = self.table.to_string();
        ip(&["route", "del", &n, "dev", dev, "table", &t])
    }

    /// Removes every route and the rule; returns the first failure but tries everything.
    pub fn cleanup(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        let t = self.table.to_string();
        for (net, dev) in std::mem::take(&mut self.routes).into_iter().rev() {
            // The device may already be gone (TUN closed first), taking its routes with it.
            let n = net.to_string();
            if let Err(e) = ip(&["route", "del", &n, "dev", &dev, "table", &t]) {
                if first.is_ok()
                    && !e.to_string().contains("No such")
                    && !e.to_string().contains("Cannot find device")
                {
                    first = Err(e);
                }
            }
        }
        if self.rule_installed {
            self.rule_installed = false;
            if let Err(e) = self.rule("del") {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    fn rule(&self, verb: &str) -> io::Result<()> {
        let m = format!("{:#x}/{:#x}", self.mark, self.mark);
        let t = self.table.to_string();
        let p = self.pref.to_string();
        ip(&["rule", verb, "not", "fwmark", &m, "lookup", &t, "pref", &p])
    }
}

impl Drop for Routing {
    fn drop(&mut self) {
        let _ = self.cleanup();
    }
}

/// One route of the host's main table (from /proc/net/route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRoute {
    /// Destination network.
    pub dst: Ipv4Net,
    /// Next hop, `None` for a connected route.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface.
    pub dev: String,
}

/// Reads the main routing table of the calling thread's namespace.
pub fn host_routes() -> io::Result<Vec<HostRoute>> {
    Ok(parse_proc_net_route(&std::fs::read_to_string(
        "/proc/net/route",
    )?))
}

/// Parses the text of /proc/net/route (addresses are hex in host byte order of a little-endian
/// kernel's network-order word, i.e. the bytes reversed as text); bad lines are skipped.
pub fn parse_proc_net_route(text: &str) -> Vec<HostRoute> {
    let hex_addr = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.swap_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dev = f.first()?;
            let dst = hex_addr(f.get(1)?)?;
            let gw = hex_addr(f.get(2)?)?;
            let mask = hex_addr(f.get(7)?)?;
            Some(HostRoute {
                dst: Ipv4Net::from_mask(dst, mask).ok()?,
                gateway: (!gw.is_unspecified()).then_some(gw),
                dev: dev.to_string(),
            })
        })
        .collect()
}

/// What the host has for one `ip route` line of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteCheck {
    /// Same destination and next hop (or interface).
    Present,
    /// Same destination, different next hop or interface: the host's route.
    Differs(HostRoute),
    /// No route for exactly that prefix; the most specific host route covering it, if any.
    Missing(Option<HostRoute>),
}

/// Compares a configured static route with the host's table. `next_hop` is an address or a
/// Linux interface name (IOS interface names must be mapped by the caller).
pub fn check_route(host: &[HostRoute], dst: Ipv4Net, next_hop: &StaticNextHop) -> RouteCheck {
    if let Some(r) = host.iter().find(|r| r.dst == dst) {
        let same = match next_hop {
            StaticNextHop::Address(a) => r.gateway == Some(*a),
            StaticNextHop::Interface(d) => r.dev == *d,
        };
        return if same {
            RouteCheck::Present
        } else {
            RouteCheck::Differs(r.clone())
        };
    }
    let covering = host
        .iter()
        .filter(|r| r.dst.covers(&dst))
        .max_by_key(|r| r.dst.prefix())
        .cloned();
    RouteCheck::Missing(covering)
}

/// The next hop of an IOS `ip route`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaticNextHop {
    /// `ip route NET MASK 203.0.113.1`
    Address(Ipv4Addr),
    /// `ip route NET MASK FastEthernet4`, already mapped to a Linux interface name.
    Interface(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0171A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t0071A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
junk line\n";

    #[test]
    fn route_get_gives_the_physical_next_hop() {
        assert_eq!(
            parse_route_get(
                "203.0.113.2 via 198.51.100.1 dev wan src 198.51.100.2 uid 0 \n    cache \n"
            ),
            Some((Some(Ipv4Addr::new(198, 51, 100, 1)), "wan".into()))
        );
        assert_eq!(
            parse_route_get("198.51.100.1 dev wan src 198.51.100.2 uid 0"),
            Some((None, "wan".into()))
        );
        assert_eq!(
            parse_route_get("RTNETLINK answers: Network is unreachable"),
            None
        );
    }

    #[test]
    fn parses_and_checks_routes() {
        let r = parse_proc_net_route(SAMPLE);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].dst.to_string(), "0.0.0.0/0");
        assert_eq!(r[0].gateway, Some(Ipv4Addr::new(192, 168, 113, 1)));
        assert_eq!(r[1].dst.to_string(), "192.168.113.0/24");
        let def: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        let gw = StaticNextHop::Address(Ipv4Addr::new(192, 168, 113, 1));
        assert_eq!(check_route(&r, def, &gw), RouteCheck::Present);
        let other = StaticNextHop::Address(Ipv4Addr::new(192, 168, 113, 2));
        assert!(matches!(
            check_route(&r, def, &other),
            RouteCheck::Differs(_)
        ));
        let net: Ipv4Net = "10.9.0.0/16".parse().unwrap();
        match check_route(&r, net, &gw) {
            RouteCheck::Missing(Some(c)) => assert_eq!(c.dst, def),
            x => panic!("{x:?}"),
        }
        assert_eq!(
            check_route(
                &r,
                "192.168.113.0/24".parse().unwrap(),
                &StaticNextHop::Interface("eth0".into())
            ),
            RouteCheck::Present
        );
    }
}
