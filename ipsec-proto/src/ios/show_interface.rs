//! `show interfaces TunnelN` for a static VTI, in the IOS layout (pure rendering of a
//! snapshot the tunnel layer takes).

use std::fmt::Write;
use std::net::Ipv4Addr;

/// What `show interfaces TunnelN` shows of one VTI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelInterfaceSnapshot {
    /// `Tunnel0`.
    pub name: String,
    /// `shutdown` configured.
    pub admin_down: bool,
    /// Line protocol (an IPsec SA pair exists).
    pub line_up: bool,
    /// `ip address A M`.
    pub address: Option<(Ipv4Addr, Ipv4Addr)>,
    /// `ip unnumbered IF`: the interface and its address.
    pub unnumbered: Option<(String, Option<Ipv4Addr>)>,
    /// `description`.
    pub description: Option<String>,
    /// The tunnel source address, and the interface it was named by.
    pub source: Option<(Ipv4Addr, Option<String>)>,
    /// `tunnel destination`.
    pub destination: Option<Ipv4Addr>,
    /// `tunnel protection ipsec profile NAME`.
    pub profile: Option<String>,
    /// The largest packet the tunnel carries without fragmenting after ESP.
    pub transport_mtu: u32,
    /// Packets and bytes that came out of the tunnel (decrypted).
    pub input: (u64, u64),
    /// Packets and bytes sent into the tunnel (encrypted).
    pub output: (u64, u64),
    /// Packets dropped on the way in (ESP errors) and out (no SA, send errors).
    pub input_errors: u64,
    /// Packets dropped on the way out.
    pub output_drops: u64,
}

fn prefix_len(mask: Ipv4Addr) -> u32 {
    u32::from(mask).count_ones()
}

/// `show interfaces TunnelN`.
pub fn show_interfaces_tunnel(s: &TunnelInterfaceSnapshot) -> String {
    let mut o = String::new();
    let state = if s.admin_down {
        "administratively down"
    } else {
        "up"
    };
    let line = if s.line_up && !s.admin_down {
        "up"
    } else {
        "down"
    };
    let _ = writeln!(o, "{} is {state}, line protocol is {line} ", s.name);
    o.push_str("  Hardware is Tunnel\n");
    if let Some(d) = &s.description {
        let _ = writeln!(o, "  Description: {d}");
    }
    match (&s.address, &s.unnumbered) {
        (Some((a, m)), _) => {
            let _ = writeln!(o, "  Internet address is {a}/{}", prefix_len(*m));
        }
        (None, Some((i, a))) => {
            let a = a.map_or_else(|| "unassigned".to_string(), |a| a.to_string());
            let _ = writeln!(o, "  Interface is unnumbered. Using address of {i} ({a})");
        }
        (None, None) => {}
    }
    o.push_str("  MTU 17878 bytes, BW 100 Kbit/sec, DLY 50000 usec, \n");
    o.push_str("     reliability 255/255, txload 1/255, rxload 1/255\n");
    o.push_str("  Encapsulation TUNNEL, loopback not set\n");
    o.push_str("  Keepalive not set\n");
    let _ = writeln!(o, "  Tunnel linestate evaluation {line}");
    let src = match &s.source {
        Some((a, Some(i))) => format!("{a} ({i})"),
        Some((a, None)) => a.to_string(),
        None => "UNKNOWN".into(),
    };
    let dst = s
        .destination
        .map_or_else(|| "UNKNOWN".to_string(), |d| d.to_string());
    let _ = writeln!(o, "  Tunnel source {src}, destination {dst}");
    o.push_str("  Tunnel protocol/transport IPSEC/IP\n");
    o.push_str("  Tunnel TTL 255\n");
    let _ = writeln!(o, "  Tunnel transport MTU {} bytes", s.transport_mtu);
    o.push_str("  Tunnel transmit bandwidth 8000 (kbps)\n");
    o.push_str("  Tunnel receive bandwidth 8000 (kbps)\n");
    if let Some(p) = &s.profile {
        let _ = writeln!(o, "  Tunnel protection via IPSec (profile \"{p}\")");
    }
    o.push_str("  Last clearing of \"show interface\" counters never\n");
    let _ = writeln!(
        o,
        "  Input queue: 0/375/0/0 (size/max/drops/flushes); Total output drops: {}",
        s.output_drops
    );
    o.push_str("  Queueing strategy: fifo\n");
    o.push_str("  Output queue: 0/0 (size/max)\n");
    let _ = writeln!(
        o,
        "     {} packets input, {} bytes, 0 no buffer",
        s.input.0, s.input.1
    );
    let _ = writeln!(
        o,
        "     {} input errors, 0 CRC, 0 frame, 0 overrun, 0 ignored, 0 abort",
        s.input_errors
    );
    let _ = writeln!(
        o,
        "     {} packets output, {} bytes, 0 underruns",
        s.output.0, s.output.1
    );
    o.push_str("     0 output errors, 0 collisions, 0 interface resets\n");
    o.push_str("     0 unknown protocol drops\n");
    o
}

/// One row of `show ip interface brief`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceBrief {
    /// IOS name.
    pub name: String,
    /// The address it has (its own, or for `ip unnumbered` the borrowed one).
    pub address: Option<Ipv4Addr>,
    /// `shutdown` configured.
    pub admin_down: bool,
    /// Link up (for a physical interface: the host's; for a VTI: always, it has no link).
    pub link_up: bool,
    /// Line protocol (for a VTI: an IPsec SA pair exists).
    pub line_up: bool,
}

/// `show ip interface brief` in the IOS 15 layout (`Method manual`: the addresses come from
/// the configuration file, as typed-in ones would).
pub fn show_ip_interface_brief(rows: &[InterfaceBrief]) -> String {
    let mut o = String::from(
        "Interface                  IP-Address      OK? Method Status                Protocol\n",
    );
    for r in rows {
        let (addr, method) = match r.address {
            Some(a) => (a.to_string(), "manual"),
            None => ("unassigned".to_string(), "unset "),
        };
        let status = if r.admin_down {
            "administratively down"
        } else if r.link_up {
            "up"
        } else {
            "down"
        };
        let proto = if r.line_up && r.link_up && !r.admin_down {
            "up"
        } else {
            "down"
        };
        let _ = writeln!(
            o,
            "{:<26} {:<15} YES {method} {status:<21} {proto}",
            r.name, addr
        );
    }
    o
}

#[cfg(test)]
mod brief_tests {
    use super::*;

    #[test]
    fn brief_columns_line_up_as_on_ios() {
        let rows = [
            InterfaceBrief {
                name: "GigabitEthernet0/0".into(),
                address: Some(Ipv4Addr::new(198, 51, 100, 2)),
                admin_down: false,
                link_up: true,
                line_up: true,
            },
            InterfaceBrief {
                name: "Tunnel0".into(),
                address: Some(Ipv4Addr::new(169, 254, 0, 1)),
                admin_down: false,
                link_up: true,
                line_up: false,
            },
            InterfaceBrief {
                name: "Tunnel1".into(),
                address: None,
                admin_down: true,
                link_up: true,
                line_up: false,
            },
        ];
        let t = show_ip_interface_brief(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[1],
            "GigabitEthernet0/0         198.51.100.2    YES manual up                    up"
        );
        assert_eq!(
            lines[2],
            "Tunnel0                    169.254.0.1     YES manual up                    down"
        );
        assert_eq!(
            lines[3],
            "Tunnel1                    unassigned      YES unset  administratively down down"
        );
        // Every column starts where the header's does.
        for (col, head) in [
            (27, "IP-Address"),
            (43, "OK?"),
            (47, "Method"),
            (54, "Status"),
        ] {
            assert_eq!(lines[0].find(head), Some(col), "{head}");
        }
        assert_eq!(lines[0].find("Protocol"), Some(76));
        assert_eq!(&lines[3][76..], "down");
    }
}
