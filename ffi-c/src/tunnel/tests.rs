use super::*;

const SITE_A: &str = include_str!("../../../ipsec-proto/src/ios/seed/siteA.cfg");
const SITE_B: &str = include_str!("../../../ipsec-proto/src/ios/seed/siteB.cfg");

fn new(text: &str, seed: u8) -> Result<*mut ipsec_tunnel, (ipsec_result, usize, usize)> {
    let mut t = std::ptr::null_mut();
    let (mut line, mut col) = (usize::MAX, usize::MAX);
    let s = [seed; 32];
    let rc = unsafe {
        ipsec_tunnel_new_from_ios(
            text.as_ptr(),
            text.len(),
            s.as_ptr(),
            &mut t,
            &mut line,
            &mut col,
        )
    };
    if rc == ipsec_result::IPSEC_RESULT_OK {
        assert_eq!((line, col), (usize::MAX, usize::MAX), "written on success");
        Ok(t)
    } else {
        assert!(t.is_null(), "out written on failure");
        Err((rc, line, col))
    }
}

fn ping(src: [u8; 4], dst: [u8; 4], seq: u8) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[0] = 0x45;
    p[3] = 60;
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20] = 8;
    p[27] = seq;
    p
}

/// Every datagram from `from` into `to`; the packets `to` then delivers.
fn carry(from: *mut ipsec_tunnel, to: *mut ipsec_tunnel, now: u64) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let mut delivered = Vec::new();
    loop {
        let mut tx = ipsec_tunnel_transmit::default();
        let rc = unsafe {
            ipsec_tunnel_poll_transmit(
                from,
                buf.as_mut_ptr(),
                buf.len(),
                &mut tx,
                std::ptr::null_mut(),
            )
        };
        if rc == ipsec_result::IPSEC_RESULT_NONE {
            break;
        }
        assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
        let rc = if tx.kind == IPSEC_TUNNEL_TRANSMIT_UDP {
            let rx = ipsec_path {
                local: tx.path.remote,
                remote: tx.path.local,
            };
            unsafe { ipsec_tunnel_handle_datagram(to, now, &rx, buf.as_ptr(), tx.len) }
        } else {
            assert_eq!(tx.kind, IPSEC_TUNNEL_TRANSMIT_ESP);
            unsafe { ipsec_tunnel_handle_esp(to, now, &tx.path.local, buf.as_ptr(), tx.len) }
        };
        assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
        let mut n = 0usize;
        while unsafe { ipsec_tunnel_poll_plaintext(to, buf.as_mut_ptr(), buf.len(), &mut n) }
            == ipsec_result::IPSEC_RESULT_OK
        {
            delivered.push(buf[..n].to_vec());
        }
    }
    delivered
}

fn plaintext(t: *mut ipsec_tunnel, now: u64, p: &[u8]) -> u32 {
    let mut v = 0;
    let rc = unsafe { ipsec_tunnel_handle_plaintext(t, now, p.as_ptr(), p.len(), &mut v) };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
    v
}

fn show(t: *mut ipsec_tunnel, now: u64, which: u32) -> String {
    let mut need = 0;
    let rc = unsafe {
        ipsec_tunnel_show(
            t,
            now,
            which,
            std::ptr::null(),
            std::ptr::null_mut(),
            0,
            &mut need,
        )
    };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL);
    let mut buf = vec![0u8; need];
    let mut n = 0;
    let rc = unsafe {
        ipsec_tunnel_show(
            t,
            now,
            which,
            std::ptr::null(),
            buf.as_mut_ptr(),
            need,
            &mut n,
        )
    };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[test]
fn the_seed_sites_pass_pings_both_ways_through_the_c_abi() {
    let (mut a, mut b) = (new(SITE_A, 1).unwrap(), new(SITE_B, 2).unwrap());
    let (lan_a, lan_b) = ([192, 168, 1, 10], [192, 168, 2, 10]);
    let mut now = 1_000;
    assert_eq!(
        plaintext(a, now, &ping(lan_a, lan_b, 0)),
        IPSEC_TUN_VERDICT_NO_SA
    );
    let mut ev = ipsec_tunnel_event::default();
    let mut up = None;
    let mut states = Vec::new();
    while up.is_none() && now < 5_000 {
        carry(a, b, now);
        carry(b, a, now);
        while unsafe { ipsec_tunnel_poll_event(a, &mut ev) } == ipsec_result::IPSEC_RESULT_OK {
            if ev.kind == IPSEC_TUNNEL_EVENT_IPSEC_UP {
                up = Some(ev);
            } else if ev.kind == IPSEC_TUNNEL_EVENT_ISAKMP_STATE {
                let s = unsafe { std::ffi::CStr::from_ptr(ev.to_state.as_ptr()) };
                states.push(s.to_str().unwrap().to_string());
            }
        }
        now += 10;
    }
    let up = up.expect("IPsec SA pair up at site A");
    assert_eq!((up.entry, up.map_seq), (0, 10));
    assert_eq!(&up.peer.bytes[..4], &[203, 0, 113, 2]);
    assert_eq!(
        states.last().map(String::as_str),
        Some("QM_IDLE"),
        "{states:?}"
    );
    for seq in 1..=3 {
        let p = ping(lan_a, lan_b, seq);
        assert_eq!(plaintext(a, now, &p), IPSEC_TUN_VERDICT_PROTECTED);
        assert_eq!(carry(a, b, now), vec![p]);
        let r = ping(lan_b, lan_a, seq);
        assert_eq!(plaintext(b, now, &r), IPSEC_TUN_VERDICT_PROTECTED);
        assert_eq!(carry(b, a, now), vec![r]);
    }
    assert!(show(a, now, IPSEC_SHOW_ISAKMP_SA).contains("QM_IDLE"));
    assert!(show(a, now, IPSEC_SHOW_IPSEC_SA).contains("#pkts encaps: 3"));
    // The same configuration again: the entry keeps its pair; a broken one is refused.
    let (mut kept, mut cleared, mut line, mut col) = (9, 9, 0, 0);
    let rc = unsafe {
        ipsec_tunnel_reconfigure_ios(
            a,
            now,
            SITE_A.as_ptr(),
            SITE_A.len(),
            &mut kept,
            &mut cleared,
            &mut line,
            &mut col,
        )
    };
    assert_eq!((rc, kept, cleared), (ipsec_result::IPSEC_RESULT_OK, 1, 0));
    let bad = "crypto isakmp policy 1\n encr rot13\n";
    let rc = unsafe {
        ipsec_tunnel_reconfigure_ios(
            a,
            now,
            bad.as_ptr(),
            bad.len(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut line,
            &mut col,
        )
    };
    assert_eq!(
        (rc, line, col),
        (ipsec_result::IPSEC_RESULT_CONFIG_SYNTAX, 2, 7)
    );
    let p = ping(lan_a, lan_b, 4);
    assert_eq!(plaintext(a, now, &p), IPSEC_TUN_VERDICT_PROTECTED);
    assert_eq!(carry(a, b, now), vec![p]);
    let mut deadline = 0;
    assert!(unsafe { ipsec_tunnel_poll_timeout(a, &mut deadline) });
    assert!(deadline > now);
    unsafe {
        ipsec_tunnel_free(&mut a);
        ipsec_tunnel_free(&mut b);
        ipsec_tunnel_free(&mut a);
    }
    assert!(a.is_null() && b.is_null());
}

/// The C string `name` of `examples/c/tunnel_wire.h`, unescaped.
fn c_string(header: &str, name: &str) -> String {
    let start = header.find(&format!("{name}[] =\n")).expect(name);
    let body = &header[start..];
    let body = &body[body.find('\n').unwrap() + 1..body.find(";\n").unwrap()];
    body.lines()
        .map(|l| {
            let l = l
                .trim()
                .strip_prefix('"')
                .unwrap()
                .strip_suffix("\\n\"")
                .unwrap();
            l.replace("\\\"", "\"").replace("\\\\", "\\") + "\n"
        })
        .collect()
}

#[test]
fn the_c_examples_embed_the_seed_configurations_verbatim() {
    let header = include_str!("../../../examples/c/tunnel_wire.h");
    assert_eq!(c_string(header, "SITE_A_CFG"), SITE_A);
    assert_eq!(c_string(header, "SITE_B_CFG"), SITE_B);
}

#[test]
fn bad_text_gives_the_code_and_the_position() {
    let bad = "hostname x\ncrypto isakmp policy 1\n encr rot13\n";
    assert_eq!(
        new(bad, 1).unwrap_err(),
        (ipsec_result::IPSEC_RESULT_CONFIG_SYNTAX, 3, 7)
    );
    let (rc, line, col) = new("hostname x\n", 1).unwrap_err();
    assert_eq!(
        (rc, line, col),
        (ipsec_result::IPSEC_RESULT_INVALID_CONFIG, 0, 0)
    );
    let mut buf = [0u8; 256];
    let mut n = 0;
    let rc =
        unsafe { ipsec_tunnel_explain_ios(bad.as_ptr(), bad.len(), buf.as_mut_ptr(), 256, &mut n) };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
    let msg = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(msg.starts_with("line 3, column 7: "), "{msg}");
}

const EZ_HUB: &str = include_str!("../../../ipsec-proto/src/tunnel/testdata/easy_vpn_hub.cfg");

const EZ_REMOTE: &str =
    include_str!("../../../ipsec-proto/src/tunnel/testdata/easy_vpn_remote.cfg");

fn kinds(t: *mut ipsec_tunnel) -> Vec<ipsec_tunnel_event> {
    let mut out = Vec::new();
    let mut ev = ipsec_tunnel_event::default();
    while unsafe { ipsec_tunnel_poll_event(t, &mut ev) } == ipsec_result::IPSEC_RESULT_OK {
        out.push(ev);
    }
    out
}

#[test]
fn an_easy_vpn_remote_learns_its_address_and_the_server_reports_the_lease() {
    let (hub, remote) = (new(EZ_HUB, 7).unwrap(), new(EZ_REMOTE, 8).unwrap());
    let mut now = 1_000;
    // `connect auto`: the remote's timer starts it, with no packet.
    for _ in 0..200 {
        for t in [hub, remote] {
            let mut due = 0;
            if unsafe { ipsec_tunnel_poll_timeout(t, &mut due) } && due <= now {
                assert_eq!(
                    unsafe { ipsec_tunnel_handle_timeout(t, now) },
                    ipsec_result::IPSEC_RESULT_OK
                );
            }
        }
        carry(remote, hub, now);
        carry(hub, remote, now);
        now += 10;
    }
    let assigned = Some(SocketAddr::from(([10, 99, 0, 10], 0)));
    let r = kinds(remote);
    let conf: Vec<_> = r
        .iter()
        .filter(|e| e.kind == IPSEC_TUNNEL_EVENT_CLIENT_CONFIGURED)
        .collect();
    assert_eq!(conf.len(), 1, "{r:?}");
    assert_eq!(addr_from_c(&conf[0].assigned), assigned);
    let h = kinds(hub);
    assert!(
        h.iter()
            .any(|e| e.kind == IPSEC_TUNNEL_EVENT_CLIENT_LEASED
                && addr_from_c(&e.assigned) == assigned),
        "{h:?}"
    );
    let p = ping([10, 99, 0, 10], [192, 168, 1, 10], 1);
    assert_eq!(plaintext(remote, now, &p), IPSEC_TUN_VERDICT_PROTECTED);
    assert_eq!(carry(remote, hub, now), vec![p]);
    let s = show(remote, now, IPSEC_SHOW_CRYPTO_IPSEC_CLIENT_EZVPN);
    assert!(s.contains("Current State: IPSEC_ACTIVE"), "{s}");
    let (mut hub, mut remote) = (hub, remote);
    unsafe {
        ipsec_tunnel_free(&mut hub);
        ipsec_tunnel_free(&mut remote);
    }
}

pub(crate) mod pki;

#[test]
fn a_remote_from_its_parts_asks_for_credentials_and_connects_on_demand() {
    let hub = new(EZ_HUB, 9).unwrap();
    let peers = [addr_to_c(SocketAddr::from(([198, 51, 100, 1], 0)))];
    let (name, group, key) = ("RA", "vpngroup", "tunnel-group-key");
    let mut spec = ipsec_ezvpn_remote {
        name: name.as_ptr(),
        name_len: name.len(),
        local: addr_to_c(SocketAddr::from(([203, 0, 113, 2], 0))),
        local_prefix_len: 24,
        peers: peers.as_ptr(),
        peers_len: peers.len(),
        group: group.as_ptr(),
        group_len: group.len(),
        key: key.as_ptr(),
        key_len: key.len(),
        user: std::ptr::null(),
        user_len: 0,
        password: std::ptr::null(),
        password_len: 0,
        network_extension: false,
        inside: ipsec_addr::default(),
        inside_prefix_len: 0,
        connect_auto: false,
    };
    let seed = [5u8; 32];
    let mut remote: *mut ipsec_tunnel = std::ptr::null_mut();
    // Refused: a group with white space, a prefix length above 32.
    let bad_group = "vpn group";
    let mut bad = spec;
    bad.group = bad_group.as_ptr();
    bad.group_len = bad_group.len();
    assert_eq!(
        unsafe { ipsec_tunnel_new_ezvpn_remote(&bad, seed.as_ptr(), &mut remote) },
        ipsec_result::IPSEC_RESULT_INVALID_PARAMETER
    );
    spec.local_prefix_len = 33;
    assert_eq!(
        unsafe { ipsec_tunnel_new_ezvpn_remote(&spec, seed.as_ptr(), &mut remote) },
        ipsec_result::IPSEC_RESULT_INVALID_PARAMETER
    );
    spec.local_prefix_len = 24;
    assert_eq!(
        unsafe { ipsec_tunnel_new_ezvpn_remote(&spec, seed.as_ptr(), &mut remote) },
        ipsec_result::IPSEC_RESULT_OK
    );
    let mut now = 1_000;
    let step = |now: &mut u64, n: u32| {
        for _ in 0..n {
            for t in [hub, remote] {
                let mut due = 0;
                if unsafe { ipsec_tunnel_poll_timeout(t, &mut due) } && due <= *now {
                    unsafe { ipsec_tunnel_handle_timeout(t, *now) };
                }
            }
            carry(remote, hub, *now);
            carry(hub, remote, *now);
            *now += 10;
        }
    };
    // `connect_auto` false: nothing until connected by hand.
    step(&mut now, 50);
    assert!(kinds(remote)
        .iter()
        .all(|e| e.kind != IPSEC_TUNNEL_EVENT_ISAKMP_STATE));
    let other = "NOPE";
    assert_eq!(
        unsafe { ipsec_tunnel_ezvpn_connect(remote, now, other.as_ptr(), other.len()) },
        ipsec_result::IPSEC_RESULT_INVALID_PARAMETER
    );
    assert_eq!(
        unsafe { ipsec_tunnel_ezvpn_connect(remote, now, name.as_ptr(), name.len()) },
        ipsec_result::IPSEC_RESULT_OK
    );
    step(&mut now, 100);
    let r = kinds(remote);
    assert!(
        r.iter()
            .any(|e| e.kind == IPSEC_TUNNEL_EVENT_CREDENTIALS_NEEDED),
        "{r:?}"
    );
    let (user, password) = ("alice", "tunnel-pass-1");
    let xauth = |now: u64| unsafe {
        ipsec_tunnel_ezvpn_xauth(
            remote,
            now,
            name.as_ptr(),
            name.len(),
            user.as_ptr(),
            user.len(),
            password.as_ptr(),
            password.len(),
        )
    };
    assert_eq!(xauth(now), ipsec_result::IPSEC_RESULT_OK);
    // Answered: nothing is pending any more.
    assert_eq!(xauth(now), ipsec_result::IPSEC_RESULT_NO_SUCH_SA);
    step(&mut now, 200);
    let r = kinds(remote);
    let conf: Vec<_> = r
        .iter()
        .filter(|e| e.kind == IPSEC_TUNNEL_EVENT_CLIENT_CONFIGURED)
        .collect();
    assert_eq!(conf.len(), 1, "{r:?}");
    assert_eq!(
        addr_from_c(&conf[0].assigned),
        Some(SocketAddr::from(([10, 99, 0, 10], 0)))
    );
    let p = ping([10, 99, 0, 10], [192, 168, 1, 10], 1);
    assert_eq!(plaintext(remote, now, &p), IPSEC_TUN_VERDICT_PROTECTED);
    assert_eq!(carry(remote, hub, now), vec![p]);
    let s = show(remote, now, IPSEC_SHOW_CRYPTO_IPSEC_CLIENT_EZVPN);
    assert!(s.contains("Tunnel name : RA"), "{s}");
    assert!(s.contains("Current State: IPSEC_ACTIVE"), "{s}");
    let (mut hub, mut remote) = (hub, remote);
    unsafe {
        ipsec_tunnel_free(&mut hub);
        ipsec_tunnel_free(&mut remote);
    }
}
