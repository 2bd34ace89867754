//! Network namespaces owned by one test.

use crate::error::Result;
use crate::util::{run, signal, unique, wait_until};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Every namespace the lab creates starts with this, followed by the creating process id, so
/// leftovers of a crashed run can be recognised and removed (see [`cleanup_stale`]).
pub const PREFIX: &str = "nlab-";

/// A network namespace named `nlab-<pid>-<seq>-<tag>-<role>`. Dropping it kills every process
/// still inside it and deletes it, so a failing test leaves nothing behind.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create an empty namespace with loopback up.
    pub fn new(tag: &str, role: &str) -> Result<Self> {
        let name = format!("{PREFIX}{}-{role}", unique(tag));
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` that runs `program` inside the namespace; add args, env and stdio yourself.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Run `program args` inside the namespace to completion; Ok(stdout) if it succeeded.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        run(self.command(program).args(args))
    }

    /// Run a `sh -c` script inside the namespace.
    pub fn sh(&self, script: &str) -> Result<String> {
        self.run("sh", &["-c", script])
    }

    /// Start `program args` inside the namespace with stdio discarded; it is killed when the
    /// namespace is dropped if it is still running then.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Result<Child> {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(crate::error::io(format!(
                "spawn {program} in {}",
                self.name
            )))
    }

    /// `ip -n <ns> args...`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Write a sysctl (`net.ipv4.ip_forward`) through /proc/sys as seen from inside the
    /// namespace (no dependency on procps).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.sh(&format!("echo {value} > {path}")).map(drop)
    }

    /// What every lab node gets before its interfaces exist (so they inherit the defaults):
    /// forwarding on, rp_filter off (asymmetric tunnel paths), IPv6 off (quiet captures).
    pub fn router_defaults(&self) -> Result<()> {
        let mut script = String::new();
        for (k, v) in [
            ("net/ipv4/ip_forward", "1"),
            ("net/ipv4/conf/all/rp_filter", "0"),
            ("net/ipv4/conf/default/rp_filter", "0"),
            ("net/ipv6/conf/all/disable_ipv6", "1"),
            ("net/ipv6/conf/default/disable_ipv6", "1"),
        ] {
            script.push_str(&format!("echo {v} > /proc/sys/{k} && "));
        }
        script.push_str("true");
        self.sh(&script).map(drop)
    }

    /// Add `via` as the route to `dest` (`default` or a prefix).
    pub fn route(&self, dest: &str, via: &str) -> Result<()> {
        self.ip(&["route", "add", dest, "via", via]).map(drop)
    }

    /// `ping -c count` with a short interval; true if at least one reply came back.
    pub fn ping(&self, dst: &str, count: u32) -> bool {
        let count = count.to_string();
        self.command("ping")
            .args(["-n", "-q", "-c", &count, "-i", "0.2", "-W", "1", dst])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Process ids currently inside the namespace.
    pub fn pids(&self) -> Vec<u32> {
        pids_of(&self.name)
    }
}

fn pids_of(name: &str) -> Vec<u32> {
    run(Command::new("ip").args(["netns", "pids", name]))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn destroy(name: &str) {
    let pids = pids_of(name);
    for &p in &pids {
        signal(p, "KILL");
    }
    // A killed process leaves the namespace only once it is gone; deleting earlier works too
    // but would leave the namespace alive (pinned) until then.
    wait_until(Duration::from_secs(2), || pids_of(name).is_empty());
    let _ = run(Command::new("ip").args(["netns", "del", name]));
}

impl Drop for Netns {
    fn drop(&mut self) {
        destroy(&self.name);
    }
}

/// A veth pair from `a` (interface `a_if`, address `a_cidr`) to `b`, both ends up.
pub fn veth(
    a: &Netns,
    a_if: &str,
    a_cidr: &str,
    b: &Netns,
    b_if: &str,
    b_cidr: &str,
) -> Result<()> {
    a.ip(&[
        "link",
        "add",
        a_if,
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])?;
    a.ip(&["addr", "add", a_cidr, "dev", a_if])?;
    b.ip(&["addr", "add", b_cidr, "dev", b_if])?;
    a.ip(&["link", "set", a_if, "up"])?;
    b.ip(&["link", "set", b_if, "up"])?;
    Ok(())
}

/// Delete `nlab-<pid>-...` namespaces whose creating process is gone (left by a crashed or
/// killed test run). Namespaces of live processes are left alone.
pub fn cleanup_stale() -> Result<usize> {
    let list = run(Command::new("ip").args(["netns", "list"]))?;
    let mut n = 0;
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            destroy(name);
            n += 1;
        }
    }
    Ok(n)
}
