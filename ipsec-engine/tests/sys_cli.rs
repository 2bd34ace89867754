//! The binary: `run` in a namespace sets up TUN, routes, rule and NAT from an IOS
//! configuration, warns about a static route the host lacks, answers the CLI client, and
//! removes everything on SIGTERM.

mod sys_util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sys_util::*;

const BIN: &str = env!("CARGO_BIN_EXE_ipsec-engine");

const CONFIG: &str = "hostname siteA
crypto isakmp policy 1
 encr 3des
 authentication pre-share
 group 2
crypto isakmp key ciscokey address 203.0.113.2
crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac
crypto map VPN 10 ipsec-isakmp
 set peer 203.0.113.2
 set transform-set TRANSFORM
 match address 100
interface FastEthernet4
 ip address 198.51.100.2 255.255.255.0
 crypto map VPN
interface Vlan1
 ip address 10.1.1.1 255.255.255.0
ip route 0.0.0.0 0.0.0.0 198.51.100.1
ip route 192.0.2.0 255.255.255.0 Vlan1
ip nat inside source list 101 interface FastEthernet4 overload
access-list 100 permit ip 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255
access-list 101 deny   ip 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255
access-list 101 permit ip 10.1.1.0 0.0.0.255 any
";

/// `ip netns exec <ns> nft list table ip ipsec_engine_nat`: the engine's NAT exemption rules.
fn nat_table(ns: &str) -> [&str; 8] {
    [
        "netns",
        "exec",
        ns,
        "nft",
        "list",
        "table",
        "ip",
        "ipsec_engine_nat",
    ]
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn run_sets_up_answers_and_cleans_up() {
    let ns = Netns::new("cli");
    let peer = Netns::new("clip");
    // The LAN interface is mapped explicitly to a Linux name that differs from the IOS one.
    veth(
        &ns,
        "wan0",
        "198.51.100.2/24",
        &peer,
        "up0",
        "198.51.100.1/24",
    );
    ns.ip(&[
        "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
    ]);
    ns.ip(&["link", "set", "lan0p", "up"]);
    ns.ip(&["addr", "add", "10.1.1.1/24", "dev", "lan0"]);
    ns.ip(&["link", "set", "lan0", "up"]);
    ns.ip(&["route", "add", "default", "via", "198.51.100.1"]);

    let dir = std::env::temp_dir().join(format!("ie-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("siteA.cfg");
    std::fs::write(&cfg, CONFIG).unwrap();
    let sock = dir.join("ctl.sock");
    let sock_s = sock.to_str().unwrap().to_string();

    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            BIN,
            "run",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .args([
            "--control",
            &sock_s,
            "--apply-nat",
            "--map-interface",
            "Vlan1=lan0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "daemon did not start"
        );
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("daemon exited {st}: {err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let routes = ns.ip(&["route", "show", "table", "485"]);
    assert!(routes.contains("10.2.2.0/24 dev ipsec0"), "{routes}");
    // 1500 minus outer IP, UDP (NAT-T worst case), ESP header, 3DES IV and SHA-1 ICV, rounded
    // down to the block, minus the trailer: IOS's plaintext mtu rule.
    assert!(ns.ip(&["link", "show", "ipsec0"]).contains("mtu 1438"));
    assert!(ns
        .ip(&["rule", "show"])
        .contains("not from all fwmark 0x1e5/0x1e5 lookup 485"));
    let nat = run("ip", &nat_table(&ns.name));
    assert!(
        nat.contains("oifname \"wan0\" ip saddr 10.1.1.0/24 ip daddr 10.2.2.0/24 return"),
        "{nat}"
    );
    assert!(
        nat.contains("oifname \"wan0\" ip saddr 10.1.1.0/24 masquerade"),
        "{nat}"
    );
    // UDP 500/4500 bound to the crypto interface's address, with the mark.
    for port in ["500", "4500"] {
        let filter = format!("sport = :{port}");
        let ss = run("ip", &["netns", "exec", &ns.name, "ss", "-uaneH", &filter]);
        assert!(ss.contains(&format!("198.51.100.2:{port} ")), "{ss}");
        assert!(ss.contains("fwmark:0x1e5"), "{ss}");
    }

    // The client: a typo is refused locally; a valid command reaches the daemon.
    let (code, _, err) = cli(&["sh", "cry", "isx", "sa", "--control", &sock_s]);
    assert_eq!(code, 2);
    assert!(
        err.contains("% Invalid input detected at '^' marker."),
        "{err}"
    );
    let (code, out, _) = cli(&["sh", "cry", "isa", "sa", "--control", &sock_s]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("IPv4 Crypto ISAKMP SA\ndst "), "{out}");
    let (code, out, _) = cli(&["sh", "cry", "ips", "sa", "--control", &sock_s]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("current outbound spi: 0x0(0)"), "{out}");
    let (code, out, _) = cli(&["undebug", "all", "--control", &sock_s]);
    assert_eq!(
        (code, out.as_str()),
        (0, "All possible debugging has been turned off\n")
    );

    // SIGTERM: clean exit, nothing left behind.
    run("kill", &["-TERM", &child.id().to_string()]);
    // `ip netns exec` execs the engine, so the child pid is the engine itself.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The default route matches; the Vlan1 route does not exist on the host.
    assert!(!err.contains("ip route 0.0.0.0/0"), "{err}");
    assert!(err.contains("net.ipv4.ip_forward is 0"), "{err}");
    assert!(
        err.contains("ip route 192.0.2.0/24 Vlan1: the host has no such route"),
        "{err}"
    );
    assert!(
        err.contains("interface Vlan1 is lan0") && err.contains("interface FastEthernet4 is wan0"),
        "{err}"
    );
    assert!(!ns.ip(&["rule", "show"]).contains("fwmark"));
    assert!(ns.ip(&["route", "show", "table", "485"]).trim().is_empty());
    assert!(!try_run("ip", &["-n", &ns.name, "link", "show", "ipsec0"]));
    assert!(!try_run("ip", &nat_table(&ns.name)));
    assert!(!sock.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_without_daemon_and_bad_arguments() {
    let (code, _, err) = cli(&[
        "show",
        "crypto",
        "isakmp",
        "sa",
        "--control",
        "/nonexistent/x.sock",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/x.sock"), "{err}");
    let (code, _, err) = cli(&["sh", "cry"]);
    assert_eq!(code, 2);
    assert!(err.contains("% Incomplete command."), "{err}");
    let (code, _, _) = cli(&["run", "--config", "/x", "--map-interface", "nonsense"]);
    assert_eq!(code, 2);
}

#[test]
fn check_warns_about_weak_crypto_and_still_succeeds() {
    // No namespace needed: `check` only parses and lints.
    let dir = std::env::temp_dir().join(format!("ipsec-engine-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weak = dir.join("weak.cfg");
    std::fs::write(&weak, CONFIG).unwrap();
    let path = weak.display().to_string();
    let (code, out, _) = cli(&["check", "--config", &path]);
    assert_eq!(code, 0, "warnings only: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!(
            "{path}:2: warning: isakmp policy 1 uses Diffie-Hellman group 2"
        )),
        "{out}"
    );
    assert!(lines[0].ends_with("use `group 14` under `crypto isakmp policy 1` on both peers"));
    assert!(
        lines[1].starts_with(&format!(
            "{path}:6: warning: crypto isakmp key for 203.0.113.2 is weak"
        )),
        "{out}"
    );
    assert!(lines[1].contains("CVE-2018-5389"), "{out}");
    assert!(!out.contains("ciscokey"), "the key is never printed: {out}");
    assert_eq!(
        lines[2],
        format!("{path}: 1 crypto map entry ready, 0 error(s)")
    );
    // The same tunnel with strong settings: no warnings.
    let strong = dir.join("strong.cfg");
    let text = CONFIG
        .replace(" encr 3des\n", " encryption aes 256\n hash sha256\n")
        .replace(" group 2\n", " group 14\n")
        .replace("key ciscokey", "key q7#Vx2!mR9pL@4sT8wZ&k3Nb")
        .replace("esp-3des esp-sha-hmac", "esp-aes 256 esp-sha256-hmac");
    std::fs::write(&strong, text).unwrap();
    let path = strong.display().to_string();
    let (code, out, _) = cli(&["check", "--config", &path]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        format!("{path}: 1 crypto map entry ready, 0 error(s)\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
