//! Our endpoint against a real strongSwan 5.9.8 (charon) over UDP, in two network namespaces.
//!
//! Needs root, iproute2 and strongSwan (`/usr/lib/ipsec/charon`, `swanctl`); run with
//! `cargo test -p ipsec-proto --test ike_strongswan -- --ignored --test-threads=1`.
//! The test builds namespaces `ikesw-a` (our endpoint, 192.0.2.1) and `ikesw-b` (charon,
//! 192.0.2.2) joined by a veth pair, then re-runs itself inside `ikesw-a` to drive the endpoint
//! over real sockets. strongSwan 5.9.8 with kernel-libipsec forces NAT-T (fake NAT-D), so this
//! also exercises the float to 4500 and encapsulation mode 3.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant as StdInstant};

use ipsec_proto::ike::{Endpoint, EndpointConfig, Event, Path, PeerConfig, PeerId, SelectorPair};
use ipsec_proto::policy::acl::TrafficSelector;
use ipsec_proto::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use ipsec_proto::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

const OURS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SWAN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const NS_A: &str = "ikesw-a";
const NS_B: &str = "ikesw-b";

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn ok(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn net(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::new(255, 255, 255, 0))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Suite {
    /// The seed: 3DES/SHA-1/group 2, esp-3des esp-sha-hmac.
    Seed,
    /// The seed with PFS group 2.
    SeedPfs,
    /// AES-256/SHA-256/group 14, esp-aes 256 esp-sha256-hmac, PFS group 14.
    Aes,
    /// The seed with DPD on both sides, then strongSwan deletes everything.
    Lifecycle,
    /// The seed, both sides rekey the IPsec SA pair.
    Rekey,
    /// Our pre-shared key differs from strongSwan's.
    WrongPsk,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Seed => "seed",
            Suite::SeedPfs => "seedpfs",
            Suite::Aes => "aes",
            Suite::Lifecycle => "lifecycle",
            Suite::Rekey => "rekey",
            Suite::WrongPsk => "wrongpsk",
        }
    }
    fn from_name(s: &str) -> Suite {
        match s {
            "seedpfs" => Suite::SeedPfs,
            "aes" => Suite::Aes,
            "lifecycle" => Suite::Lifecycle,
            "rekey" => Suite::Rekey,
            "wrongpsk" => Suite::WrongPsk,
            _ => Suite::Seed,
        }
    }
    fn swan_ike(self) -> &'static str {
        match self {
            Suite::Aes => "aes256-sha256-modp2048",
            _ => "3des-sha1-modp1024",
        }
    }
    fn swan_esp(self) -> &'static str {
        match self {
            Suite::Seed | Suite::Lifecycle | Suite::Rekey | Suite::WrongPsk => "3des-sha1",
            Suite::SeedPfs => "3des-sha1-modp1024",
            Suite::Aes => "aes256-sha256-modp2048",
        }
    }
    fn swan_sa_text(self) -> &'static str {
        match self {
            Suite::Aes => "TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128",
            _ => "TUNNEL-in-UDP, ESP:3DES_CBC/HMAC_SHA1_96",
        }
    }
}

fn our_config(suite: Suite) -> EndpointConfig {
    let aes = suite == Suite::Aes;
    let psk: &[u8] = if suite == Suite::WrongPsk {
        b"wrongkey"
    } else {
        b"ciscokey"
    };
    let mut p = PeerConfig::new(SWAN, PskSecret::new(psk.to_vec()));
    p.local_address = Some(OURS);
    p.isakmp_policies = vec![IsakmpPolicy {
        priority: 1,
        encryption: if aes {
            IkeEncryption::Aes { bits: 256 }
        } else {
            IkeEncryption::TripleDes
        },
        hash: if aes { IkeHash::Sha256 } else { IkeHash::Sha1 },
        authentication: IkeAuth::PreShare,
        group: if aes { 14 } else { 2 },
        lifetime_secs: 86_400,
    }];
    p.transform_sets = vec![TransformSet {
        name: "TRANSFORM".into(),
        esp_encryption: if aes {
            EspEncryption::Aes256
        } else {
            EspEncryption::TripleDes
        },
        esp_integrity: if aes {
            EspIntegrity::Sha256
        } else {
            EspIntegrity::Sha1
        },
        mode: EspMode::Tunnel,
    }];
    p.pfs_group = match suite {
        Suite::Seed | Suite::Lifecycle | Suite::Rekey | Suite::WrongPsk => None,
        Suite::SeedPfs => Some(2),
        Suite::Aes => Some(14),
    };
    p.selectors = vec![SelectorPair {
        local: net([192, 168, 1, 0]),
        remote: net([192, 168, 2, 0]),
    }];
    EndpointConfig {
        peers: vec![p],
        dpd: (suite == Suite::Lifecycle).then_some(ipsec_proto::policy::ipsec::DpdConfig {
            interval_secs: 2,
            retry_secs: 1,
            mode: ipsec_proto::policy::ipsec::DpdMode::Periodic,
        }),
        retransmit: ipsec_proto::ike::RetransmitConfig {
            initial: Duration::from_millis(200),
            max: Duration::from_millis(800),
            max_retries: 5,
            jitter_percent: 10,
        },
        ..EndpointConfig::default()
    }
}

/// Inside namespace A: drive the endpoint over real sockets until a Phase 2 SA is up.
fn inner(initiate: bool, suite: Suite) {
    let s500 = UdpSocket::bind((OURS, 500)).unwrap();
    let s4500 = UdpSocket::bind((OURS, 4500)).unwrap();
    s500.set_nonblocking(true).unwrap();
    s4500.set_nonblocking(true).unwrap();
    let start = StdInstant::now();
    let now = || Instant::from_millis(start.elapsed().as_millis() as u64 + 1);
    let mut ep = Endpoint::new(our_config(suite), Rng::from_u64(0x5157));
    if initiate {
        ep.initiate(now(), PeerId(0), 0).unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let mut rx = vec![0u8; 65536];
    let mut p1 = false;
    let mut p2 = None;
    let lifecycle = suite == Suite::Lifecycle;
    let (mut p1_deleted, mut p2_deleted) = (false, false);
    let mut p2_count = 0;
    let mut rekey_at: Option<Instant> = None;
    let mut failure: Option<String> = None;
    while start.elapsed() < Duration::from_secs(20) {
        while let Some(t) = ep.poll_transmit(now(), &mut buf).unwrap() {
            let sock = if t.path.local.port() == 4500 {
                &s4500
            } else {
                &s500
            };
            let mut out = Vec::new();
            if t.non_esp_marker {
                out.extend_from_slice(&[0, 0, 0, 0]);
            }
            out.extend_from_slice(&buf[..t.len]);
            sock.send_to(&out, t.path.remote).unwrap();
            println!("sent {} bytes to {}", out.len(), t.path.remote);
        }
        while let Some(e) = ep.poll_event() {
            println!("event: {e:?}");
            match e {
                Event::Phase1Established { .. } => p1 = true,
                Event::Phase2Established(x) => {
                    p2_count += 1;
                    if p2_count == 1 && suite == Suite::Rekey {
                        rekey_at = Some(Instant::from_millis(now().as_millis() + 1000));
                    }
                    if p2.is_none() {
                        p2 = Some(x);
                    }
                }
                Event::NegotiationFailed { error, .. } if suite == Suite::WrongPsk => {
                    failure = Some(error.to_string());
                }
                Event::NegotiationFailed { error, .. } => panic!("negotiation failed: {error}"),
                Event::PeerDead { .. } => {
                    panic!("strongSwan answers DPD, it must not be declared dead")
                }
                Event::Phase1Deleted { reason, .. } => {
                    assert_eq!(reason, ipsec_proto::ike::DeleteReason::PeerDelete);
                    p1_deleted = true;
                }
                Event::Phase2Deleted { reason, spi_in, .. } => {
                    assert_eq!(reason, ipsec_proto::ike::DeleteReason::PeerDelete);
                    let ours: Option<&ipsec_proto::ike::Phase2Established> = p2.as_deref();
                    assert_eq!(Some(spi_in), ours.map(|p| p.keys.inbound.spi()));
                    p2_deleted = true;
                }
                _ => {}
            }
        }
        if failure.is_some() {
            break;
        }
        let rekeyed = suite != Suite::Rekey || p2_count >= 3;
        if p1 && p2.is_some() && rekeyed && (!lifecycle || (p1_deleted && p2_deleted)) {
            break;
        }
        if rekey_at.is_some_and(|t| t <= now()) {
            rekey_at = None;
            let child = ep.ipsec_sas(now())[0].child;
            ep.rekey_child(now(), child).unwrap();
        }
        if ep.poll_timeout().is_some_and(|t| t <= now()) {
            ep.handle_timeout(now());
            continue;
        }
        let mut got = false;
        for (sock, port) in [(&s500, 500u16), (&s4500, 4500u16)] {
            if let Ok((n, from)) = sock.recv_from(&mut rx) {
                got = true;
                println!("received {n} bytes from {from} on {port}");
                let data = &rx[..n];
                if port == 4500 && data.len() >= 4 && data[..4] != [0, 0, 0, 0] && data != [0xff] {
                    continue; // ESP: not for the IKE endpoint
                }
                let path = Path {
                    local: SocketAddr::new(IpAddr::V4(OURS), port),
                    remote: from,
                };
                ep.handle_datagram(now(), path, data);
            }
        }
        if !got {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    if suite == Suite::WrongPsk {
        let f = failure.expect("the wrong key is reported");
        println!("FAILURE: {f}");
        assert!(
            f.contains("MM_KEY_EXCH") && f.contains("pre-shared key mismatch"),
            "{f}"
        );
        assert!(p2.is_none());
        return;
    }
    let p2 = p2.expect("Phase 2 SA with strongSwan");
    println!(
        "PHASE2 spi_in={:08x} spi_out={:08x} udp_encap={} path={:?} life={}",
        p2.keys.inbound.spi(),
        p2.keys.outbound.spi(),
        p2.udp_encap,
        p2.path,
        p2.lifetime_secs
    );
    if lifecycle {
        assert!(ep.isakmp_sas(now()).is_empty() && ep.ipsec_sas(now()).is_empty());
        return;
    }
    let sa = &ep.isakmp_sas(now())[0];
    assert_eq!(sa.state, "QM_IDLE");
    assert!(p2.udp_encap, "strongSwan 5.9.8 forces UDP encapsulation");
    // Give charon a moment to receive QM3 before the process (and sockets) go away.
    std::thread::sleep(Duration::from_millis(300));
    let _ = s500.send_to(&[], SocketAddr::new(IpAddr::V4(SWAN), 9));
}

struct Lab {
    dir: PathBuf,
    charon: Child,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = sh(&["kill", "-TERM", &self.charon.id().to_string()]);
        let _ = self.charon.wait();
        let _ = sh(&["ip", "netns", "del", NS_A]);
        let _ = sh(&["ip", "netns", "del", NS_B]);
        if std::env::var_os("IKE_SWAN_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn lab(suite: Suite) -> Lab {
    let _ = sh(&["ip", "netns", "del", NS_A]);
    let _ = sh(&["ip", "netns", "del", NS_B]);
    ok(&["ip", "netns", "add", NS_A]);
    ok(&["ip", "netns", "add", NS_B]);
    ok(&[
        "ip", "-n", NS_A, "link", "add", "swa", "type", "veth", "peer", "name", "swb", "netns",
        NS_B,
    ]);
    ok(&[
        "ip",
        "-n",
        NS_A,
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        "swa",
    ]);
    ok(&[
        "ip",
        "-n",
        NS_B,
        "addr",
        "add",
        "192.0.2.2/24",
        "dev",
        "swb",
    ]);
    for (ns, dev) in [(NS_A, "swa"), (NS_B, "swb")] {
        ok(&["ip", "-n", ns, "link", "set", dev, "up"]);
        ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    // charon's route to the remote LAN needs a source address inside its own LAN.
    ok(&[
        "ip", "-n", NS_B, "link", "add", "lan", "type", "veth", "peer", "name", "lan-peer",
    ]);
    ok(&["ip", "-n", NS_B, "link", "set", "lan-peer", "up"]);
    ok(&[
        "ip",
        "-n",
        NS_B,
        "addr",
        "add",
        "192.168.2.1/24",
        "dev",
        "lan",
    ]);
    ok(&["ip", "-n", NS_B, "link", "set", "lan", "up"]);
    ok(&[
        "ip",
        "-n",
        NS_B,
        "route",
        "add",
        "default",
        "via",
        "192.0.2.1",
    ]);
    ok(&[
        "ip",
        "-n",
        NS_A,
        "route",
        "add",
        "default",
        "via",
        "192.0.2.2",
    ]);
    for ns in [NS_A, NS_B] {
        ok(&[
            "ip", "netns", "exec", ns, "sh", "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 \
             && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
        ]);
    }
    let dir = std::env::temp_dir().join(format!("ikesw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let d = dir.display().to_string();
    std::fs::write(
        dir.join("strongswan.conf"),
        format!(
            "charon {{\n  load_modular = no\n  load = nonce openssl kernel-libipsec kernel-netlink socket-default vici\n  \
             plugins {{\n    vici {{\n      socket = unix://{d}/charon.vici\n    }}\n  }}\n  \
             filelog {{\n    log {{\n      path = {d}/charon.log\n      default = 1\n      ike = 2\n      cfg = 2\n      knl = 1\n      flush_line = yes\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let (ike, esp) = (suite.swan_ike(), suite.swan_esp());
    let dpd = if suite == Suite::Lifecycle { "1s" } else { "0" };
    let child_life = if suite == Suite::Rekey {
        "rekey_time = 4s\n        life_time = 60s\n        rand_time = 0s"
    } else {
        "rekey_time = 3600s"
    };
    std::fs::write(
        dir.join("swanctl.conf"),
        format!(
            "connections {{\n  ours {{\n    version = 1\n    aggressive = no\n    local_addrs = 192.0.2.2\n    remote_addrs = 192.0.2.1\n    \
             proposals = {ike}\n    encap = no\n    mobike = no\n    fragmentation = no\n    reauth_time = 0\n    \
             rekey_time = 86400s\n    dpd_delay = {dpd}\n    local {{\n      auth = psk\n      id = 192.0.2.2\n    }}\n    \
             remote {{\n      auth = psk\n      id = 192.0.2.1\n    }}\n    children {{\n      net {{\n        \
             local_ts = 192.168.2.0/24\n        remote_ts = 192.168.1.0/24\n        mode = tunnel\n        \
             esp_proposals = {esp}\n        {child_life}\n        start_action = none\n      }}\n    }}\n  }}\n}}\n\
             secrets {{\n  ike-x {{\n    id-local = 192.0.2.2\n    id-remote = 192.0.2.1\n    secret = \"ciscokey\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let charon = Command::new("ip")
        .args([
            "netns",
            "exec",
            NS_B,
            "unshare",
            "-m",
            "--propagation",
            "private",
            "env",
        ])
        .arg(format!("STRONGSWAN_CONF={d}/strongswan.conf"))
        .args(["sh", "-c"])
        .arg(format!(
            "mount --bind {d}/run /run && exec /usr/lib/ipsec/charon"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lab = Lab { dir, charon };
    // Wait for the vici socket, then load the connection.
    let vici = lab.dir.join("charon.vici");
    for _ in 0..100 {
        if vici.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    swanctl(
        &lab.dir,
        &["--load-all", "--file", &format!("{d}/swanctl.conf")],
    );
    lab
}

fn swanctl(dir: &FsPath, args: &[&str]) -> String {
    let d = dir.display();
    let o = Command::new("ip")
        .args(["netns", "exec", NS_B, "env"])
        .arg(format!("STRONGSWAN_CONF={d}/strongswan.conf"))
        .arg("swanctl")
        .args(args)
        .arg("--uri")
        .arg(format!("unix://{d}/charon.vici"))
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "swanctl {args:?}: {out}");
    out
}

fn run_inner(name: &str, mode: &str) -> Child {
    let exe = std::env::current_exe().unwrap();
    Command::new("ip")
        .args(["netns", "exec", NS_A])
        .arg(exe)
        .args(["--exact", name, "--ignored", "--nocapture"])
        .env("IKE_SWAN_INNER", mode)
        .spawn()
        .unwrap()
}

fn charon_log(dir: &FsPath) -> String {
    std::fs::read_to_string(dir.join("charon.log")).unwrap_or_default()
}

/// Entry point for both roles: the outer run builds the lab, the inner run (inside namespace A,
/// flagged by IKE_SWAN_INNER) drives the endpoint.
fn scenario(name: &str, we_initiate: bool, suite: Suite) {
    if let Ok(mode) = std::env::var("IKE_SWAN_INNER") {
        let (role, suite) = mode.split_once(':').unwrap_or((&mode, "seed"));
        inner(role == "initiate", Suite::from_name(suite));
        return;
    }
    let lab = lab(suite);
    let role = if we_initiate { "initiate" } else { "respond" };
    let mut child = run_inner(name, &format!("{role}:{}", suite.name()));
    if !we_initiate {
        std::thread::sleep(Duration::from_millis(500));
        swanctl(
            &lab.dir,
            &["--initiate", "--child", "net", "--timeout", "15"],
        );
    }
    if suite == Suite::Lifecycle {
        // Let DPD run both ways for a few rounds, then strongSwan tears everything down.
        std::thread::sleep(Duration::from_millis(4500));
        swanctl(
            &lab.dir,
            &["--terminate", "--ike", "ours", "--timeout", "5"],
        );
        let status = child.wait().unwrap();
        let log = charon_log(&lab.dir);
        assert!(status.success(), "our side failed\ncharon log:\n{log}");
        assert!(
            log.contains("N(DPD_ACK)"),
            "strongSwan got our R-U-THERE-ACKs\n{log}"
        );
        assert!(
            log.contains("N(DPD)"),
            "strongSwan got our R-U-THEREs\n{log}"
        );
        return;
    }
    if suite == Suite::WrongPsk {
        let status = child.wait().unwrap();
        let log = charon_log(&lab.dir);
        assert!(status.success(), "our side failed\ncharon log:\n{log}");
        println!(
            "{}",
            log.lines()
                .filter(|l| l.contains("[IKE]") || l.contains("[ENC]"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        return;
    }
    let status = child.wait().unwrap();
    let sas = swanctl(&lab.dir, &["--list-sas"]);
    let log = charon_log(&lab.dir);
    assert!(status.success(), "our side failed\ncharon log:\n{log}");
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}\ncharon log:\n{log}"
    );
    assert!(sas.contains(suite.swan_sa_text()), "{sas}");
    assert!(
        sas.contains("local  192.168.2.0/24") && sas.contains("remote 192.168.1.0/24"),
        "{sas}"
    );
    println!("{sas}");
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_responder() {
    scenario("strongswan_responder", true, Suite::Seed);
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_initiator() {
    scenario("strongswan_initiator", false, Suite::Seed);
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_responder_with_pfs() {
    scenario("strongswan_responder_with_pfs", true, Suite::SeedPfs);
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_responder_aes256_sha256_group14() {
    scenario(
        "strongswan_responder_aes256_sha256_group14",
        true,
        Suite::Aes,
    );
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_initiator_aes256_sha256_group14() {
    scenario(
        "strongswan_initiator_aes256_sha256_group14",
        false,
        Suite::Aes,
    );
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_dpd_and_delete() {
    scenario("strongswan_dpd_and_delete", true, Suite::Lifecycle);
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_rekeys_from_both_sides() {
    scenario("strongswan_rekeys_from_both_sides", true, Suite::Rekey);
}

#[test]
#[ignore = "needs root and strongSwan; see the module documentation"]
fn strongswan_wrong_psk_is_diagnosed() {
    scenario("strongswan_wrong_psk_is_diagnosed", true, Suite::WrongPsk);
}
