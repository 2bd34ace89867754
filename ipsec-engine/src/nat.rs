//! `ip nat inside source list N interface X overload` on Linux: masquerade out of X for what ACL N
//! permits, its deny lines exempted (the usual "don't NAT the VPN traffic" lines), in a table of
//! our own that is deleted on exit.
//!
//! The ACL is evaluated as IOS does, first match wins: each deny line becomes a `return` (leave
//! the packet alone), each permit line a `masquerade`, in order; the implicit deny at the end
//! needs no rule.

use crate::net::Ipv4Net;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::process::{Command, Stdio};

/// Name of the nftables table the engine owns.
pub const TABLE: &str = "ipsec_engine_nat";

/// Permit or deny, as in the ACL line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Translate.
    Permit,
    /// Exempt from translation.
    Deny,
}

/// The protocol keyword of an extended ACL line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// `ip`: any protocol.
    Any,
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `icmp`.
    Icmp,
    /// A protocol number.
    Number(u8),
}

/// One ACL line, already reduced to networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclLine {
    /// Permit (translate) or deny (exempt).
    pub action: Action,
    /// Protocol.
    pub proto: Proto,
    /// Source network (`any` is 0.0.0.0/0).
    pub src: Ipv4Net,
    /// Destination network.
    pub dst: Ipv4Net,
}

/// A NAT overload statement: translate out of `out_interface` per `acl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatOverload {
    /// Linux interface name (IOS name already mapped).
    pub out_interface: String,
    /// ACL lines in configuration order.
    pub acl: Vec<AclLine>,
}

/// The nftables script that (re)creates our table with the given rules, atomically: the
/// `add table; delete table` prelude makes it replace a table left by a killed predecessor.
pub fn script(nats: &[NatOverload]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "add table ip {TABLE}");
    let _ = writeln!(s, "delete table ip {TABLE}");
    let _ = writeln!(s, "table ip {TABLE} {{");
    let _ = writeln!(s, "\tchain postrouting {{");
    let _ = writeln!(
        s,
        "\t\ttype nat hook postrouting priority srcnat; policy accept;"
    );
    for nat in nats {
        for line in &nat.acl {
            let _ = write!(s, "\t\toifname \"{}\"", nat.out_interface);
            match line.proto {
                Proto::Any => {}
                Proto::Tcp => s.push_str(" meta l4proto tcp"),
                Proto::Udp => s.push_str(" meta l4proto udp"),
                Proto::Icmp => s.push_str(" meta l4proto icmp"),
                Proto::Number(n) => {
                    let _ = write!(s, " meta l4proto {n}");
                }
            }
            if line.src.prefix() != 0 {
                let _ = write!(s, " ip saddr {}", line.src);
            }
            if line.dst.prefix() != 0 {
                let _ = write!(s, " ip daddr {}", line.dst);
            }
            s.push_str(match line.action {
                Action::Deny => " return\n",
                Action::Permit => " masquerade\n",
            });
        }
    }
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "}}");
    s
}

/// Rules applied by [`apply`]; deleting the table on [`NatGuard::remove`] or drop.
#[derive(Debug)]
pub struct NatGuard {
    active: bool,
}

/// Applies [`script`] with `nft -f -`.
pub fn apply(nats: &[NatOverload]) -> io::Result<NatGuard> {
    // The name is spliced into the script between quotes: refuse anything iproute2 would not
    // accept as an interface name anyway.
    if let Some(bad) = nats.iter().find(|n| !valid_ifname(&n.out_interface)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {:?}", bad.out_interface),
        ));
    }
    nft_stdin(&script(nats))?;
    Ok(NatGuard { active: true })
}

impl NatGuard {
    /// Deletes our table.
    pub fn remove(&mut self) -> io::Result<()> {
        if !std::mem::replace(&mut self.active, false) {
            return Ok(());
        }
        nft_stdin(&format!("delete table ip {TABLE}\n"))
    }
}

impl Drop for NatGuard {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@:".contains(&b))
}

fn nft_stdin(script: &str) -> io::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft -f: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_lines_exempt_before_masquerade() {
        let nat = NatOverload {
            out_interface: "eth0".into(),
            acl: vec![
                AclLine {
                    action: Action::Deny,
                    proto: Proto::Any,
                    src: "10.1.1.0/24".parse().unwrap(),
                    dst: "10.2.2.0/24".parse().unwrap(),
                },
                AclLine {
                    action: Action::Permit,
                    proto: Proto::Udp,
                    src: "10.1.1.0/24".parse().unwrap(),
                    dst: "0.0.0.0/0".parse().unwrap(),
                },
                AclLine {
                    action: Action::Permit,
                    proto: Proto::Any,
                    src: "10.1.1.0/24".parse().unwrap(),
                    dst: "0.0.0.0/0".parse().unwrap(),
                },
            ],
        };
        let s = script(&[nat]);
        let expected = "add table ip ipsec_engine_nat\n\
delete table ip ipsec_engine_nat\n\
table ip ipsec_engine_nat {\n\
\tchain postrouting {\n\
\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
\t\toifname \"eth0\" ip saddr 10.1.1.0/24 ip daddr 10.2.2.0/24 return\n\
\t\toifname \"eth0\" meta l4proto udp ip saddr 10.1.1.0/24 masquerade\n\
\t\toifname \"eth0\" ip saddr 10.1.1.0/24 masquerade\n\
\t}\n\
}\n";
        assert_eq!(s, expected);
    }
}
