//! `authentication rsa-sig` against strongSwan 5.9.8 (gwB, kernel-libipsec) with certificates
//! made at test time by strongSwan's own `pki` tool (package strongswan-pki): one lab CA, a
//! certificate per gateway, an expired one, one from another CA, and a CRL. Our side runs the
//! IOS syntax a router's `show running-config` prints (`crypto pki trustpoint`, the hex
//! `crypto pki certificate chain`), its key read from `--key-dir`.

mod common;

use common::*;
use ipsec_netlab::{addr, Capture, Charon};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DN_A: &str = "C=US, O=Lab, CN=siteA";
const DN_B: &str = "C=US, O=Lab, CN=siteB";

/// Runs strongSwan's `pki` with `args`, the output into `out`.
fn pki(dir: &Path, args: &[&str], out: &str) {
    let o = Command::new("pki")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("strongSwan's pki tool (package strongswan-pki)");
    assert!(
        o.status.success(),
        "pki {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(dir.join(out), &o.stdout).unwrap();
}

/// A key and a certificate `name.pem` for `dn` (with `sans`) signed by CA `ca`; `dates` as
/// pki's `--not-before/--not-after` (`dd.mm.yy HH:MM:SS`).
fn issue(dir: &Path, ca: &str, name: &str, dn: &str, sans: &[&str], dates: Option<(&str, &str)>) {
    pki(
        dir,
        &[
            "--gen",
            "--type",
            "rsa",
            "--size",
            "2048",
            "--outform",
            "pem",
        ],
        &format!("{name}.key"),
    );
    pki(
        dir,
        &["--pub", "--in", &format!("{name}.key"), "--type", "rsa"],
        &format!("{name}.pub"),
    );
    let (cacert, cakey, pubf) = (
        format!("{ca}.pem"),
        format!("{ca}.key"),
        format!("{name}.pub"),
    );
    let mut args = vec![
        "--issue",
        "--in",
        &pubf,
        "--type",
        "pub",
        "--cacert",
        &cacert,
        "--cakey",
        &cakey,
        "--dn",
        dn,
        "--outform",
        "pem",
    ];
    for s in sans {
        args.extend(["--san", s]);
    }
    match dates {
        Some((nb, na)) => args.extend(["--not-before", nb, "--not-after", na]),
        None => args.extend(["--lifetime", "1825"]),
    }
    pki(dir, &args, &format!("{name}.pem"));
}

fn ca(dir: &Path, name: &str, dn: &str) {
    pki(
        dir,
        &[
            "--gen",
            "--type",
            "rsa",
            "--size",
            "2048",
            "--outform",
            "pem",
        ],
        &format!("{name}.key"),
    );
    pki(
        dir,
        &[
            "--self",
            "--ca",
            "--lifetime",
            "3650",
            "--in",
            &format!("{name}.key"),
            "--type",
            "rsa",
            "--dn",
            dn,
            "--outform",
            "pem",
        ],
        &format!("{name}.pem"),
    );
}

/// A certificate as IOS prints it in `crypto pki certificate chain`: hex in groups of 8 digits.
fn ios_hex(pem_file: &Path) -> (String, String) {
    let text = std::fs::read_to_string(pem_file).unwrap();
    let cert = ipsec_proto::pki::Certificate::from_pem(&text)
        .unwrap()
        .remove(0);
    let serial = cert.serial_hex();
    let hex: String = cert.der.iter().map(|b| format!("{b:02X}")).collect();
    let mut out = String::new();
    for line in hex.as_bytes().chunks(64) {
        out.push_str("  ");
        let groups: Vec<&str> = line
            .chunks(8)
            .map(|g| std::str::from_utf8(g).unwrap())
            .collect();
        out.push_str(&groups.join(" "));
        out.push('\n');
    }
    out.push_str("  \tquit\n");
    (serial, out)
}

/// siteA with an rsa-sig policy and no pre-shared key, trustpoint LAB holding the lab CA and
/// our certificate `ours`, identifying as `identity` (`dn` or `hostname`).
fn site_a_rsa(dir: &Path, ours: &str, identity: &str, revocation: &str) -> String {
    let (ca_serial, ca_hex) = ios_hex(&dir.join("ca.pem"));
    let (serial, hex) = ios_hex(&dir.join(format!("{ours}.pem")));
    let pki_text = format!(
        "ip domain name lab.example\ncrypto isakmp identity {identity}\n\
crypto pki trustpoint LAB\n enrollment terminal\n revocation-check {revocation}\n rsakeypair siteA\n\
crypto pki certificate chain LAB\n certificate {serial}\n{hex} certificate ca {ca_serial}\n{ca_hex}!\n"
    );
    let text = site_a(addr::GW_B_WAN)
        .replace(" authentication pre-share\n", " authentication rsa-sig\n")
        .replace(
            "crypto isakmp policy 1\n",
            &format!("{pki_text}crypto isakmp policy 1\n"),
        );
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("crypto isakmp key"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(text.contains("authentication rsa-sig"), "{text}");
    text
}

struct Pki {
    keys: std::path::PathBuf,
}

/// The lab CA, siteA's and siteB's certificates, an expired siteB, a siteB from another CA, and
/// the lab CA's CRL revoking `revoked` (another siteB certificate).
fn make_pki(dir: &Path) -> Pki {
    ca(dir, "ca", "C=US, O=Lab, CN=Lab Root CA");
    ca(dir, "ca2", "C=DE, O=Elsewhere, CN=Other CA");
    issue(
        dir,
        "ca",
        "a",
        DN_A,
        &["siteA.lab.example", addr::GW_A_WAN],
        None,
    );
    issue(
        dir,
        "ca",
        "b",
        DN_B,
        &["siteB.lab.example", addr::GW_B_WAN],
        None,
    );
    issue(
        dir,
        "ca",
        "b_expired",
        DN_B,
        &[addr::GW_B_WAN],
        Some(("01.01.20 00:00:00", "01.01.21 00:00:00")),
    );
    issue(dir, "ca2", "b_other", DN_B, &[addr::GW_B_WAN], None);
    issue(dir, "ca", "b_revoked", DN_B, &[addr::GW_B_WAN], None);
    pki(
        dir,
        &[
            "--signcrl",
            "--cacert",
            "ca.pem",
            "--cakey",
            "ca.key",
            "--reason",
            "key-compromise",
            "--cert",
            "b_revoked.pem",
            "--outform",
            "pem",
        ],
        "ca.crl.pem",
    );
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(dir.join("a.key"), keys.join("siteA.pem")).unwrap();
    std::fs::copy(dir.join("ca.crl.pem"), keys.join("LAB.crl")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        keys.join("siteA.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    Pki { keys }
}

/// strongSwan in gwB with certificate `b_cert`, trusting the lab CA.
fn charon(lab: &Lab, dir: &Path, b_cert: &str, remote_id: &str) -> Charon {
    charon_with(lab, dir, b_cert, remote_id, None)
}

/// As [`charon`]; `fragment_size`: `fragmentation = force` with charon cutting its own
/// messages at that many bytes.
fn charon_with(
    lab: &Lab,
    dir: &Path,
    b_cert: &str,
    remote_id: &str,
    fragment_size: Option<usize>,
) -> Charon {
    charon_conn(lab, dir, b_cert, (DN_B, remote_id), fragment_size, false)
}

/// As [`charon_with`] with charon's own and its peer's identity in `ids`; `aggressive`:
/// charon initiates and accepts Aggressive Mode.
fn charon_conn(
    lab: &Lab,
    dir: &Path,
    b_cert: &str,
    (local_id, remote_id): (&str, &str),
    fragment_size: Option<usize>,
    aggressive: bool,
) -> Charon {
    let mut conn = seed_charon_conn()
        .cert(&format!("{b_cert}.pem"))
        .local_id(local_id)
        .remote_id(remote_id)
        .aggressive(aggressive);
    let mut extra = String::new();
    if let Some(n) = fragment_size {
        conn = conn.conn_option("fragmentation", "force");
        extra = format!("  fragment_size = {n}");
    }
    let peer = Charon::start_with(&lab.topo.gw_b, &[conn], &extra).unwrap();
    let d = peer.dir().to_path_buf();
    std::fs::copy(
        dir.join(format!("{b_cert}.pem")),
        d.join("x509").join(format!("{b_cert}.pem")),
    )
    .unwrap();
    std::fs::copy(
        dir.join(format!("{b_cert}.key")),
        d.join("private").join(format!("{b_cert}.key")),
    )
    .unwrap();
    std::fs::copy(dir.join("ca.pem"), d.join("x509ca").join("ca.pem")).unwrap();
    let loaded = peer.load_all().unwrap();
    assert!(loaded.contains("loaded certificate"), "{loaded}");
    peer
}

fn daemon(lab: &Lab, dir: &Path, keys: &Path, identity: &str, revocation: &str) -> Daemon {
    daemon_text(lab, keys, site_a_rsa(dir, "a", identity, revocation))
}

fn daemon_text(lab: &Lab, keys: &Path, text: String) -> Daemon {
    let keys = keys.display().to_string();
    Daemon::start_with(
        lab.topo.gw_a.name(),
        lab.dir.path(),
        "siteA",
        &text,
        &["--key-dir", &keys],
    )
}

fn up_and_passing(da: &Daemon, peer: &Charon, lab: &Lab, we_initiate: bool) {
    if we_initiate {
        assert!(
            ping_until_up(&lab.topo.host_a, addr::HOST_B, Duration::from_secs(30)),
            "{}\n{}",
            da.state(),
            peer.log()
        );
    } else {
        let out = peer.initiate("lans");
        assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    }
    let t = &lab.topo;
    let n = ping(&t.host_a, addr::HOST_B, 3) + ping(&t.host_b, addr::HOST_A, 3);
    assert_eq!(n, 6, "{}", da.state());
    let detail = da.exec("show crypto isakmp sa detail");
    assert!(detail.contains("rsig"), "{detail}");
    println!("{detail}\n{}", da.exec("show crypto pki certificates"));
}

#[test]
fn lab_pki_dn_identities_strongswan_initiates() {
    let Some(lab) = Lab::new("pki_dn") else {
        return;
    };
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let p = make_pki(&dir);
    let da = daemon(&lab, &dir, &p.keys, "dn", "none");
    let peer = charon(&lab, &dir, "b", DN_A);
    up_and_passing(&da, &peer, &lab, false);
    let sas = peer.list_sas().unwrap_or_default();
    assert!(sas.contains(DN_A), "strongSwan saw our DN identity: {sas}");
    da.stop();
}

#[test]
fn lab_pki_fqdn_identity_we_initiate_with_a_crl_loaded() {
    let Some(lab) = Lab::new("pki_fqdn") else {
        return;
    };
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let p = make_pki(&dir);
    let da = daemon(&lab, &dir, &p.keys, "hostname", "crl");
    let peer = charon(&lab, &dir, "b", "siteA.lab.example");
    up_and_passing(&da, &peer, &lab, true);
    da.stop();
}

/// strongSwan presents `b_cert`; we refuse it and `show`/`diagnose` say why with `needle`.
fn refused(tag: &str, b_cert: &str, revocation: &str, needle: &str) {
    let Some(lab) = Lab::new(tag) else { return };
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let p = make_pki(&dir);
    let da = daemon(&lab, &dir, &p.keys, "dn", revocation);
    let peer = charon(&lab, &dir, b_cert, DN_A);
    let out = peer.initiate("lans");
    assert!(
        out.is_err() || !out.as_ref().unwrap().contains("successfully"),
        "{out:?}"
    );
    let seen = wait_until(Duration::from_secs(10), || {
        da.exec("diagnose").contains(needle)
    });
    let diag = da.exec("diagnose");
    println!("diagnose:\n{diag}");
    assert!(seen, "want {needle}:\n{diag}\n{}", da.state());
    da.stop();
}

#[test]
fn lab_pki_expired_certificate_refused() {
    refused("pki_exp", "b_expired", "none", "expired");
}

#[test]
fn lab_pki_certificate_of_another_ca_refused() {
    refused("pki_ca2", "b_other", "none", "not by a trusted CA");
}

#[test]
fn lab_pki_revoked_certificate_refused() {
    refused("pki_crl", "b_revoked", "crl", "revoked");
}

/// The path between the gateways carries at most this many bytes per IP datagram.
const PATH_MTU: usize = 576;

/// Both WAN links at [`PATH_MTU`], and both gateways dropping IP fragments.
fn narrow_path(lab: &Lab) {
    let t = &lab.topo;
    for ns in [&t.gw_a, &t.gw_b] {
        ns.ip(&["link", "set", addr::IF_GW_WAN, "mtu", &PATH_MTU.to_string()])
            .unwrap();
        // Before defragmentation (priority -400), so no fragment is ever put back together.
        ns.sh("nft add table ip nofrag && \
             nft add chain ip nofrag pre '{ type filter hook prerouting priority -450; }' && \
             nft add rule ip nofrag pre 'ip frag-off & 0x3fff != 0 counter drop'")
            .unwrap();
    }
}

/// Certificates make MM5/MM6 outgrow a 576-byte path: both WAN links get that MTU and both
/// gateways drop IP fragments (as many firewalls do), so Main Mode completes only if both
/// sides cut their messages into IKE fragments (payload 132), ours at `crypto isakmp
/// fragmentation mtu 576`, strongSwan's at `fragmentation = force`, `fragment_size = 576`.
#[test]
fn lab_pki_fragmented_main_mode_over_a_path_that_drops_ip_fragments() {
    let Some(lab) = Lab::new("pki_frag") else {
        return;
    };
    let t = &lab.topo;
    narrow_path(&lab);
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let p = make_pki(&dir);
    let mut cap = Capture::start(
        &t.gw_a,
        addr::IF_GW_WAN,
        "udp port 500 or udp port 4500 or ip[6:2] & 0x3fff != 0",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let text = format!(
        "crypto isakmp fragmentation mtu {PATH_MTU}\n{}",
        site_a_rsa(&dir, "a", "dn", "none")
    );
    let da = daemon_text(&lab, &p.keys, text);
    let peer = charon_with(&lab, &dir, "b", DN_A, Some(PATH_MTU));
    up_and_passing(&da, &peer, &lab, true);
    let rows = cap
        .fields(
            "isakmp.frag.packetid",
            &[
                "ip.src",
                "ip.len",
                "isakmp.frag.packetid",
                "isakmp.frag.seq",
            ],
        )
        .unwrap_or_default();
    let ours: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == addr::GW_A_WAN).collect();
    let theirs = rows.iter().filter(|r| r[0] == addr::GW_B_WAN).count();
    assert!(ours.len() >= 2 && theirs >= 2, "{rows:?}\n{}", peer.log());
    for r in &ours {
        let len: usize = r[1].parse().unwrap();
        assert!(len <= PATH_MTU, "our fragment of {len} bytes: {r:?}");
    }
    let log = peer.log();
    assert!(
        log.contains("reassembled fragmented IKE message"),
        "charon reassembled none of ours:\n{log}"
    );
    // The certificate message is what needed cutting: more than one fragment of one ID.
    let mut ids: Vec<&str> = ours.iter().map(|r| r[2].as_str()).collect();
    ids.sort_unstable();
    let most = ids
        .chunk_by(|a, b| a == b)
        .map(<[&str]>::len)
        .max()
        .unwrap_or(0);
    assert!(most >= 2, "{rows:?}");
    let dropped = t.gw_a.sh("nft list table ip nofrag").unwrap();
    let decoded = cap
        .decode(&[
            "-Y",
            &format!("ip.src == {} && isakmp.frag.packetid", addr::GW_A_WAN),
        ])
        .unwrap();
    let first = decoded
        .split("\n\n")
        .find_map(|p| p.find("Internet Security Association").map(|i| &p[i..]))
        .unwrap_or("");
    assert!(
        first.contains("Payload: Cisco-Fragmentation (132)"),
        "{decoded}"
    );
    println!(
        "fragments: ours {} (largest message in {most}), charon's {theirs}",
        ours.len()
    );
    println!("nft on gwA:\n{dropped}");
    println!("tshark -V, our first fragment:\n{first}");
    println!("{}", da.exec("show crypto isakmp sa"));
    da.stop();
}

/// The control for the test above: the same path without `crypto isakmp fragmentation` here.
/// Our MM5 leaves as IP fragments that gwB drops, so Main Mode hangs at MM_KEY_EXCH, and
/// `diagnose` blames the path and names the command instead of suspecting keys.
#[test]
fn lab_pki_mm5_lost_as_ip_fragments_is_diagnosed() {
    let Some(lab) = Lab::new("pki_nofrag") else {
        return;
    };
    narrow_path(&lab);
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let p = make_pki(&dir);
    let da = daemon(&lab, &dir, &p.keys, "dn", "none");
    let peer = charon_with(&lab, &dir, "b", DN_A, Some(PATH_MTU));
    let t = &lab.topo;
    assert!(!ping_until_up(
        &t.host_a,
        addr::HOST_B,
        Duration::from_secs(3)
    ));
    let needle = "lost as IP fragments";
    let seen = wait_until(Duration::from_secs(30), || {
        ping(&t.host_a, addr::HOST_B, 1);
        da.exec("diagnose").contains(needle)
    });
    let diag = da.exec("diagnose");
    println!("diagnose:\n{diag}");
    assert!(seen, "want {needle}:\n{diag}\n{}", da.state());
    assert!(diag.contains("crypto isakmp fragmentation"), "{diag}");
    let dropped = t.gw_b.sh("nft list table ip nofrag").unwrap();
    assert!(!dropped.contains("counter packets 0 "), "{dropped}");
    println!("nft on gwB:\n{dropped}");
    drop(peer);
    da.stop();
}

/// Aggressive Mode with certificates: AM2 and AM3 carry CERT and SIG.
fn aggressive(tag: &str, we_initiate: bool) {
    let Some(lab) = Lab::new(tag) else {
        return;
    };
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let p = make_pki(&dir);
    let mut text = site_a_rsa(&dir, "a", "dn", "none");
    if we_initiate {
        text = text
            .replace(
                "crypto isakmp policy 1\n",
                "crypto isakmp profile AM\n initiate mode aggressive\ncrypto isakmp policy 1\n",
            )
            .replace(
                " match address 100\n",
                " match address 100\n set isakmp-profile AM\n",
            );
        assert!(text.contains("set isakmp-profile AM"), "{text}");
    }
    let da = daemon_text(&lab, &p.keys, text);
    // charon answers Aggressive Mode only for a connection that has `aggressive = yes`.
    let peer = charon_conn(&lab, &dir, "b", (DN_B, DN_A), None, true);
    up_and_passing(&da, &peer, &lab, we_initiate);
    let log = peer.log();
    let am: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("AGGRESSIVE") && (l.contains("CERT") || l.contains("SIG")))
        .collect();
    assert!(
        am.len() >= 2,
        "charon saw no Aggressive Mode with CERT/SIG:\n{log}"
    );
    println!("charon:\n{}", am.join("\n"));
    da.stop();
}

#[test]
fn lab_pki_aggressive_mode_strongswan_initiates() {
    aggressive("pki_am_they", false);
}

#[test]
fn lab_pki_aggressive_mode_we_initiate() {
    aggressive("pki_am_we", true);
}

/// `crypto isakmp identity address` (the IOS default): each side's ID_IPV4_ADDR must be an
/// IP address subjectAltName of its certificate.
#[test]
fn lab_pki_address_identities_we_initiate() {
    let Some(lab) = Lab::new("pki_addr") else {
        return;
    };
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    let p = make_pki(&dir);
    let da = daemon(&lab, &dir, &p.keys, "address", "none");
    let peer = charon_conn(
        &lab,
        &dir,
        "b",
        (addr::GW_B_WAN, addr::GW_A_WAN),
        None,
        false,
    );
    up_and_passing(&da, &peer, &lab, true);
    let sas = peer.list_sas().unwrap_or_default();
    assert!(sas.contains(addr::GW_A_WAN), "{sas}");
    da.stop();
}
