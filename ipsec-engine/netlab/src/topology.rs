//! The five-namespace layout of interop-lab.md:
//!
//! ```text
//! hostA 10.1.1.10 -- 10.1.1.1 [gwA] 198.51.100.2 -- 198.51.100.1 [rtr] 203.0.113.1 -- 203.0.113.2 [gwB] 10.2.2.1 -- 10.2.2.10 hostB
//! ```
//!
//! `rtr` has no route to either LAN, so hostA reaching hostB proves the tunnel carried it.

use crate::error::Result;
use crate::netns::{veth, Netns};

/// Addresses and interface names of the layout (the same in every instance: each lives in its
/// own namespaces).
pub mod addr {
    /// hostA.
    pub const HOST_A: &str = "10.1.1.10";
    /// gwA on LAN A.
    pub const GW_A_LAN: &str = "10.1.1.1";
    /// gwA on the WAN side.
    pub const GW_A_WAN: &str = "198.51.100.2";
    /// rtr facing gwA.
    pub const RTR_A: &str = "198.51.100.1";
    /// rtr facing gwB (also gwA's address as gwB sees it behind NAT).
    pub const RTR_B: &str = "203.0.113.1";
    /// gwB on the WAN side.
    pub const GW_B_WAN: &str = "203.0.113.2";
    /// gwB on LAN B.
    pub const GW_B_LAN: &str = "10.2.2.1";
    /// hostB.
    pub const HOST_B: &str = "10.2.2.10";
    /// LAN A prefix (protected by gwA).
    pub const LAN_A: &str = "10.1.1.0/24";
    /// LAN B prefix (protected by gwB).
    pub const LAN_B: &str = "10.2.2.0/24";
    /// Interface of a host towards its gateway.
    pub const IF_HOST: &str = "eth0";
    /// Gateway interface towards its LAN.
    pub const IF_GW_LAN: &str = "lan";
    /// Gateway interface towards rtr.
    pub const IF_GW_WAN: &str = "wan";
    /// rtr interface towards gwA.
    pub const IF_RTR_A: &str = "ethA";
    /// rtr interface towards gwB.
    pub const IF_RTR_B: &str = "ethB";
}

/// NAT in rtr (nftables) for traffic from gwA's side leaving towards gwB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nat {
    /// `masquerade`: source address rewritten, ports kept when possible.
    Masquerade,
    /// `masquerade to :20000-29999`: UDP/TCP source ports remapped too (IKE leaves 500/4500).
    MasqueradePorts,
}

/// Five namespaces wired as above. Fields drop in order, each deleting its namespace.
#[derive(Debug)]
pub struct Topology {
    /// hostA (10.1.1.10, default via gwA).
    pub host_a: Netns,
    /// gwA (LAN A + WAN 198.51.100.2, default via rtr).
    pub gw_a: Netns,
    /// rtr (knows only the two WAN subnets).
    pub rtr: Netns,
    /// gwB (WAN 203.0.113.2 + LAN B, default via rtr).
    pub gw_b: Netns,
    /// hostB (10.2.2.10, default via gwB).
    pub host_b: Netns,
    nat: Option<Nat>,
}

impl Topology {
    /// The plain layout; `tag` names the test (namespaces become `nlab-<pid>-<seq>-<tag>-<role>`).
    pub fn two_gateways(tag: &str) -> Result<Self> {
        Self::build(tag, None)
    }

    /// The layout with NAT in rtr: gwB sees gwA as 203.0.113.1.
    pub fn two_gateways_nat(tag: &str, nat: Nat) -> Result<Self> {
        Self::build(tag, Some(nat))
    }

    fn build(tag: &str, nat: Option<Nat>) -> Result<Self> {
        use addr::*;
        // Created one by one so that a failure half-way drops (deletes) what exists.
        let t = Self {
            host_a: Netns::new(tag, "hostA")?,
            gw_a: Netns::new(tag, "gwA")?,
            rtr: Netns::new(tag, "rtr")?,
            gw_b: Netns::new(tag, "gwB")?,
            host_b: Netns::new(tag, "hostB")?,
            nat,
        };
        for ns in t.all() {
            ns.router_defaults()?;
        }
        veth(
            &t.host_a,
            IF_HOST,
            &cidr(HOST_A),
            &t.gw_a,
            IF_GW_LAN,
            &cidr(GW_A_LAN),
        )?;
        veth(
            &t.gw_a,
            IF_GW_WAN,
            &cidr(GW_A_WAN),
            &t.rtr,
            IF_RTR_A,
            &cidr(RTR_A),
        )?;
        veth(
            &t.rtr,
            IF_RTR_B,
            &cidr(RTR_B),
            &t.gw_b,
            IF_GW_WAN,
            &cidr(GW_B_WAN),
        )?;
        veth(
            &t.gw_b,
            IF_GW_LAN,
            &cidr(GW_B_LAN),
            &t.host_b,
            IF_HOST,
            &cidr(HOST_B),
        )?;
        t.host_a.route("default", GW_A_LAN)?;
        t.gw_a.route("default", RTR_A)?;
        t.gw_b.route("default", RTR_B)?;
        t.host_b.route("default", GW_B_LAN)?;
        if let Some(nat) = nat {
            let m = format!("oifname \"{IF_RTR_B}\" ip saddr 198.51.100.0/24");
            // nft accepts a port range only after a transport protocol match; other protocols
            // (ICMP) fall through to the plain rule.
            let ports = match nat {
                Nat::Masquerade => String::new(),
                Nat::MasqueradePorts => {
                    format!("  {m} meta l4proto {{ tcp, udp }} masquerade to :20000-29999\n")
                }
            };
            let rules = format!(
                "table ip nlab {{\n chain post {{\n  type nat hook postrouting priority 100;\n\
                 {ports}  {m} masquerade\n }}\n}}\n"
            );
            let mut cmd = t.rtr.command("nft");
            cmd.args(["-f", "-"]);
            pipe_in(cmd, &rules)?;
        }
        Ok(t)
    }

    /// The five namespaces, hostA to hostB.
    pub fn all(&self) -> [&Netns; 5] {
        [
            &self.host_a,
            &self.gw_a,
            &self.rtr,
            &self.gw_b,
            &self.host_b,
        ]
    }

    /// The NAT configured in rtr, if any.
    pub fn nat(&self) -> Option<Nat> {
        self.nat
    }

    /// gwA's address as gwB sees it (rtr's address when NAT is on).
    pub fn gw_a_as_seen_by_gw_b(&self) -> &'static str {
        if self.nat.is_some() {
            addr::RTR_B
        } else {
            addr::GW_A_WAN
        }
    }
}

fn cidr(a: &str) -> String {
    format!("{a}/24")
}

fn pipe_in(mut cmd: std::process::Command, input: &str) -> Result<()> {
    use std::io::Write;
    use std::process::Stdio;
    let what = crate::util::describe(&cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(crate::error::io(format!("spawn {what}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(crate::error::io(format!("write to {what}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(crate::error::io(format!("wait for {what}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(crate::error::LabError::Command {
            cmd: what,
            status: out.status.to_string(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
