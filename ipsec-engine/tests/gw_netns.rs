//! The seed's two routers as two `ipsec-engine run` daemons in network namespaces, each with a
//! host behind it: the first ping brings the tunnel up, the rest cross it as ESP, and
//! `show crypto ipsec sa` over each control socket counts them. Needs root (namespaces, TUN).
//!
//! Topology (the WAN addresses share one /24 here instead of the seed's two provider networks):
//! hostA 192.168.1.10 -- 192.168.1.1 siteA 198.51.100.1 -- 198.51.100.2 siteB 192.168.2.1 -- 192.168.2.10 hostB

mod sys_util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sys_util::*;

const BIN: &str = env!("CARGO_BIN_EXE_ipsec-engine");

fn config(me: &str, peer: &str, wan: &str, lan: u8, remote_lan: u8) -> String {
    format!(
        "hostname {me}
crypto isakmp policy 1
 encr 3des
 authentication pre-share
 group 2
crypto isakmp key ciscokey address {peer}
!
crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac
!
crypto map VPN 10 ipsec-isakmp
 set peer {peer}
 set transform-set TRANSFORM
 match address 100
!
interface FastEthernet4
 ip address {wan} 255.255.255.0
 ip nat outside
 crypto map VPN
interface Vlan1
 ip address 192.168.{lan}.1 255.255.255.0
 ip nat inside
!
access-list 100 permit ip 192.168.{lan}.0 0.0.0.255 192.168.{remote_lan}.0 0.0.0.255
"
    )
}

struct Daemon {
    child: Child,
    sock: PathBuf,
}

impl Daemon {
    fn start(ns: &Netns, cfg: &Path, sock: &Path) -> Daemon {
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, BIN, "run", "--config"])
            .arg(cfg)
            .arg("--control")
            .arg(sock)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut d = Daemon {
            child,
            sock: sock.to_path_buf(),
        };
        let start = Instant::now();
        while !d.sock.exists() {
            if let Some(st) = d.child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(d.child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("daemon exited {st}: {err}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn exec(&self, line: &str) -> String {
        let mut args: Vec<&str> = line.split_whitespace().collect();
        let s = self.sock.to_str().unwrap();
        args.extend(["--control", s]);
        let o = Command::new(BIN).args(&args).output().unwrap();
        assert!(
            o.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn stop(mut self) -> String {
        run("kill", &["-TERM", &self.child.id().to_string()]);
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        let st = self.child.wait().unwrap();
        assert!(st.success(), "{err}");
        err
    }
}

fn num(text: &str, key: &str) -> u64 {
    let i = text.find(key).unwrap_or_else(|| panic!("{key} in\n{text}")) + key.len();
    text[i..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn two_engines_carry_pings_between_lans() {
    let a = Netns::new("gwa");
    let b = Netns::new("gwb");
    let ha = Netns::new("gwha");
    let hb = Netns::new("gwhb");
    veth(&a, "wan0", "198.51.100.1/24", &b, "wan0", "198.51.100.2/24");
    veth(&ha, "eth0", "192.168.1.10/24", &a, "lan0", "192.168.1.1/24");
    veth(&hb, "eth0", "192.168.2.10/24", &b, "lan0", "192.168.2.1/24");
    ha.ip(&["route", "add", "default", "via", "192.168.1.1"]);
    hb.ip(&["route", "add", "default", "via", "192.168.2.1"]);
    for ns in [&a, &b] {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &ns.name,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        );
    }

    let dir = std::env::temp_dir().join(format!("ie-gwns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cb) = (dir.join("siteA.cfg"), dir.join("siteB.cfg"));
    std::fs::write(&ca, config("siteA", "198.51.100.2", "198.51.100.1", 1, 2)).unwrap();
    std::fs::write(&cb, config("siteB", "198.51.100.1", "198.51.100.2", 2, 1)).unwrap();
    let da = Daemon::start(&a, &ca, &dir.join("a.sock"));
    let db = Daemon::start(&b, &cb, &dir.join("b.sock"));

    // The first echo starts IKE and is lost (as on IOS); the tunnel is up well within a second.
    let ping = |n: &str| {
        Command::new("ip")
            .args([
                "netns", "exec", &ha.name, "ping", "-n", "-q", "-c", n, "-i", "0.3", "-W", "2",
            ])
            .arg("192.168.2.10")
            .output()
            .unwrap()
    };
    let first = ping("1");
    let _ = first;
    std::thread::sleep(Duration::from_millis(500));
    let o = ping("10");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let sa = da.exec("show crypto isakmp sa");
    assert!(
        text.contains("10 received"),
        "{text}\n{sa}\n{}",
        da.exec("show crypto ipsec sa")
    );
    assert!(sa.contains("QM_IDLE"), "{sa}");
    assert!(
        sa.contains("198.51.100.2    198.51.100.1    QM_IDLE"),
        "{sa}"
    );

    let sa_a = da.exec("show crypto ipsec sa");
    let sa_b = db.exec("show crypto ipsec sa");
    // siteA encrypted at least the 10 requests and decrypted their 10 replies; siteB mirrors.
    assert!(num(&sa_a, "#pkts encaps:") >= 10, "{sa_a}");
    assert!(num(&sa_a, "#pkts decaps:") >= 10, "{sa_a}");
    assert_eq!(
        num(&sa_a, "#pkts encaps:"),
        num(&sa_b, "#pkts decaps:"),
        "{sa_a}\n{sa_b}"
    );
    assert_eq!(num(&sa_b, "#pkts encaps:"), num(&sa_a, "#pkts decaps:"));
    assert!(
        num(&sa_a, "#send errors") >= 1,
        "the first echo was dropped: {sa_a}"
    );
    assert_eq!(num(&sa_a, "#recv errors"), 0);
    assert!(sa_a.contains("current_peer 198.51.100.2 port 500"));
    println!("siteA#show crypto isakmp sa\n{sa}siteA#show crypto ipsec sa\n{sa_a}");
    let session = db.exec("show crypto session");
    assert!(session.contains("Session status: UP-ACTIVE"), "{session}");

    let ea = da.stop();
    let eb = db.stop();
    assert!(
        !ea.contains("panicked") && !eb.contains("panicked"),
        "{ea}\n{eb}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
