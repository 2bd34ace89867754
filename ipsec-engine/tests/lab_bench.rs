//! Throughput in the lab, run by hand (release build, root):
//!
//! ```text
//! cargo test --release -p ipsec-engine --test lab_bench -- --ignored --nocapture
//! ```
//!
//! iperf3 (TCP, one stream) hostA -> hostB through: plain routing (the ceiling), our two
//! engines (raw ESP, and ESP in UDP 4500 forced without a NAT), and two strongSwan 5.9.8 charons (kernel-libipsec, ESP in UDP), for esp-3des and
//! esp-aes with esp-sha-hmac and esp-gcm (aes128gcm16), all in the same run so that the machine's load is shared alike.
//! With `BENCH_PERF=1`, `perf record` samples siteA's engine during its 3DES run and prints
//! where the time goes. Prints a table; asserts only that every path carried data.
//!
//! `lab_bench_rtt` (also ignored, same command): ping RTT through the seed's 3DES tunnel, idle
//! and under one iperf3 stream, through the shared constant-time passes and through RustCrypto
//! `des` packet by packet (`run --per-packet-ciphers`). `BENCH_TUN_QDISC="bfifo limit 262144"`
//! (any `tc qdisc` kind and its options) replaces both gateways' TUN qdisc first, to look for
//! where the delay under load queues.

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, CharonConn, Topology};
use std::process::Stdio;
use std::time::Duration;

const SECS: &str = "8";

#[derive(Debug)]
struct Run {
    mbps_received: f64,
    retransmits: u64,
}

fn iperf(topo: &Topology, port: u16) -> Run {
    let (mbps_received, retransmits) = iperf3(topo, port, SECS);
    Run {
        mbps_received,
        retransmits,
    }
}

fn plain() -> Run {
    let topo = Topology::two_gateways("b_plain").unwrap();
    topo.rtr.route(addr::LAN_A, addr::GW_A_WAN).unwrap();
    topo.rtr.route(addr::LAN_B, addr::GW_B_WAN).unwrap();
    iperf(&topo, 5201)
}

/// Our two engines with `esp`; `udp`: ESP in UDP 4500 (`--force-udp-encaps` on siteA, no
/// NAT), else raw ESP.
fn ours(esp: &str, perf: bool, udp: bool) -> (Run, Option<String>) {
    let cipher = esp.split(' ').next().unwrap_or_default();
    let lab = Lab::new(&format!("b_ours_{cipher}{}", if udp { "_u" } else { "" })).unwrap();
    let ts = format!("transform-set TRANSFORM {esp}");
    let a = site_a(addr::GW_B_WAN).replace("transform-set TRANSFORM esp-3des esp-sha-hmac", &ts);
    let b = site_b(addr::GW_A_WAN).replace("transform-set TRANSFORM esp-3des esp-sha-hmac", &ts);
    let args: &[&str] = if udp { &["--force-udp-encaps"] } else { &[] };
    let da = Daemon::start_with(lab.topo.gw_a.name(), lab.dir.path(), "siteA", &a, args);
    let db = Daemon::start(&lab.topo.gw_b, lab.dir.path(), "siteB", &b);
    assert!(ping_until_up(
        &lab.topo.host_a,
        addr::HOST_B,
        Duration::from_secs(30)
    ));
    let sampler = perf.then(|| {
        let out = lab.dir.path().join("perf.data");
        let pid = da.pid().to_string();
        let child = std::process::Command::new("perf")
            .args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                "499",
                "-g",
                "-p",
                &pid,
                "-o",
            ])
            .arg(&out)
            .args(["--", "sleep", "6"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, out)
    });
    let r = iperf(&lab.topo, 5202);
    let report = sampler.map(|(mut c, out)| {
        let _ = c.wait();
        let o = std::process::Command::new("perf")
            .args([
                "report",
                "--no-children",
                "--stdio",
                "--percent-limit",
                "0.7",
                "-g",
                "none",
                "-i",
            ])
            .arg(&out)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .take(45)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let sa = da.exec("show crypto ipsec sa");
    assert!(num(&sa, "#pkts encaps:") > 1000, "{sa}");
    assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");
    assert_eq!(sa.contains("UDP-Encaps"), udp, "{sa}");
    drop((da, db));
    (r, report)
}

fn strongswan(esp: &str) -> Run {
    let lab = Lab::new(&format!("b_swan_{esp}")).unwrap();
    let conn = |l: &str, r: &str, lt: &str, rt: &str| {
        CharonConn::new("gw", "lans")
            .local(l)
            .remote(r)
            .psk("ciscokey")
            .proposals("3des-sha1-modp1024")
            .esp_proposals(esp)
            .ts(lt, rt)
    };
    let b = Charon::start(
        &lab.topo.gw_b,
        &[conn(
            addr::GW_B_WAN,
            addr::GW_A_WAN,
            addr::LAN_B,
            addr::LAN_A,
        )],
    )
    .unwrap();
    b.load_all().unwrap();
    let a = Charon::start(
        &lab.topo.gw_a,
        &[conn(
            addr::GW_A_WAN,
            addr::GW_B_WAN,
            addr::LAN_A,
            addr::LAN_B,
        )],
    )
    .unwrap();
    a.load_all().unwrap();
    a.initiate("lans").unwrap();
    assert!(ping_until_up(
        &lab.topo.host_a,
        addr::HOST_B,
        Duration::from_secs(30)
    ));
    iperf(&lab.topo, 5203)
}

#[test]
#[ignore = "benchmark: run by hand with --release --ignored --nocapture"]
fn lab_bench_throughput() {
    if !ipsec_netlab::require_root_and_tools() {
        return;
    }
    // BENCH_PERF=1 (or 3des) profiles the 3DES run, BENCH_PERF=aes the AES-CBC run, gcm the
    // AES-GCM run; BENCH_ONLY=3des|aes|gcm runs that suite alone (quicker iterations).
    let perf = std::env::var("BENCH_PERF").ok();
    let perf_esp = match perf.as_deref() {
        None => "",
        Some("aes") => "esp-aes",
        Some("gcm") => "esp-gcm",
        Some(_) => "esp-3des",
    };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap();
    let mut rows = Vec::new();
    let p = plain();
    rows.push(("plain routing".to_string(), p));
    let mut report = None;
    for (ours_esp, swan_esp) in [
        ("esp-3des esp-sha-hmac", "3des-sha1"),
        ("esp-aes esp-sha-hmac", "aes128-sha1"),
        ("esp-gcm", "aes128gcm16"),
    ] {
        let cipher = ours_esp.split(' ').next().unwrap_or_default();
        if !only.is_empty() && !cipher.ends_with(only.as_str()) {
            continue;
        }
        let (o, r) = ours(ours_esp, cipher == perf_esp, false);
        if r.is_some() {
            report = r;
        }
        rows.push((format!("ipsec-engine {ours_esp} (raw ESP)"), o));
        let (u, _) = ours(ours_esp, false, true);
        rows.push((format!("ipsec-engine {ours_esp} (ESP in UDP)"), u));
        let s = strongswan(swan_esp);
        rows.push((
            format!("strongSwan 5.9.8 libipsec {swan_esp} (ESP in UDP)"),
            s,
        ));
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap();
    println!(
        "\nload average before: {}load average after:  {load_after}",
        load
    );
    // Each of our rows is also given as a ratio to the strongSwan row of its suite (the
    // next strongSwan row below it, measured in the same run).
    println!("| path | Mbit/s | TCP retransmits | vs strongSwan |\n| --- | ---: | ---: | ---: |");
    for (i, (name, r)) in rows.iter().enumerate() {
        let swan = rows
            .iter()
            .skip(i)
            .find(|(n, _)| n.starts_with("strongSwan"))
            .map(|(_, s)| s.mbps_received)
            .filter(|_| name.starts_with("ipsec-engine"));
        let ratio = swan.map_or(String::new(), |s| format!("{:.2}x", r.mbps_received / s));
        println!(
            "| {name} | {:.0} | {} | {ratio} |",
            r.mbps_received, r.retransmits
        );
    }
    if let Some(r) = report {
        println!("\nperf (cpu-clock) of siteA's engine during the {perf_esp} run:\n{r}");
    }
    for (name, r) in &rows {
        assert!(r.mbps_received > 0.0, "{name}");
    }
}

/// `rtt min/avg/max/mdev` of `ping -c COUNT -s SIZE` from host A to host B, in ms.
fn ping_rtt(topo: &Topology, size: &str, count: &str, interval: &str) -> [f64; 4] {
    let o = topo
        .host_a
        .command("ping")
        .args(["-q", "-c", count, "-i", interval, "-s", size, addr::HOST_B])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("rtt "))
        .unwrap_or_else(|| panic!("no rtt line in {text}"));
    let nums: Vec<f64> = line
        .split('=')
        .nth(1)
        .unwrap_or_default()
        .trim()
        .trim_end_matches(" ms")
        .split('/')
        .filter_map(|v| v.parse().ok())
        .collect();
    assert_eq!(nums.len(), 4, "{line}");
    [nums[0], nums[1], nums[2], nums[3]]
}

#[test]
#[ignore = "benchmark: run by hand with --release --ignored --nocapture"]
fn lab_bench_rtt() {
    if !ipsec_netlab::require_root_and_tools() {
        return;
    }
    // The seed's 3DES tunnel, raw ESP: ping RTT idle and under an iperf3 stream, through the
    // constant-time passes (the default) and through RustCrypto `des` packet by packet
    // (`--per-packet-ciphers`), one lab each, in the same run.
    let mut rows = Vec::new();
    for (label, args) in [
        ("constant-time passes", &[][..]),
        ("RustCrypto des per packet", &["--per-packet-ciphers"][..]),
    ] {
        let lab = Lab::new(if args.is_empty() {
            "b_rtt_ct"
        } else {
            "b_rtt_rc"
        })
        .unwrap();
        let a = site_a(addr::GW_B_WAN);
        let b = site_b(addr::GW_A_WAN);
        let da = Daemon::start_with(lab.topo.gw_a.name(), lab.dir.path(), "siteA", &a, args);
        let db = Daemon::start_with(lab.topo.gw_b.name(), lab.dir.path(), "siteB", &b, args);
        assert!(ping_until_up(
            &lab.topo.host_a,
            addr::HOST_B,
            Duration::from_secs(30)
        ));
        if let Ok(q) = std::env::var("BENCH_TUN_QDISC") {
            for ns in [lab.topo.gw_a.name(), lab.topo.gw_b.name()] {
                let o = std::process::Command::new("ip")
                    .args([
                        "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "ipsec0", "root",
                    ])
                    .args(q.split_whitespace())
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "tc in {ns}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        for size in ["56", "1372"] {
            rows.push((label, size, "idle", ping_rtt(&lab.topo, size, "40", "0.05")));
        }
        // Under load: one iperf3 TCP stream A -> B while the pings run.
        std::thread::scope(|s| {
            let load = s.spawn(|| iperf3(&lab.topo, 5204, "7"));
            std::thread::sleep(Duration::from_secs(2));
            for size in ["56", "1372"] {
                rows.push((
                    label,
                    size,
                    "iperf3",
                    ping_rtt(&lab.topo, size, "10", "0.2"),
                ));
            }
            let (mbps, _) = load.join().unwrap();
            assert!(mbps > 0.0);
        });
        let sa = da.exec("show crypto ipsec sa");
        assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");
        drop((da, db));
    }
    println!("\n| cipher path | ping -s | load | min ms | avg ms | max ms | mdev ms |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
    for (label, size, load, [mn, avg, mx, md]) in &rows {
        println!("| {label} | {size} | {load} | {mn:.3} | {avg:.3} | {mx:.3} | {md:.3} |");
    }
}
