//! Keyrings and ISAKMP profiles against strongSwan: one charon in gwB speaks as two peers,
//! 203.0.113.2 and 203.0.113.3 (an address added for the test), each with its own key. Our
//! gateway keeps each key in its own keyring and binds each crypto map entry to a profile that
//! matches the peer's identity. Both peers initiate and get their tunnel; a third conn, whose
//! identity no profile matches, is refused.

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, CharonConn};
use std::time::Duration;

const SECOND: &str = "203.0.113.3";

fn conn(name: &str, child: &str, local: &str, psk: &str, remote_ts: &str) -> CharonConn {
    CharonConn::new(name, child)
        .local(local)
        .remote(addr::GW_A_WAN)
        .psk(psk)
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(remote_ts, addr::LAN_A)
}

#[test]
fn lab_keyring_profile_two_strongswan_peers_selected_by_keyring_and_profile() {
    let Some(lab) = Lab::new("keyring_profile") else {
        return;
    };
    let t = &lab.topo;
    t.gw_b
        .run(
            "ip",
            &["addr", "add", &format!("{SECOND}/24"), "dev", "wan"],
        )
        .unwrap();
    // charon routes the second tunnel's traffic from an address of its own in 10.9.9.0/24.
    t.gw_b
        .run("ip", &["addr", "add", "10.9.9.1/24", "dev", "lo"])
        .unwrap();
    let peer = Charon::start(
        &t.gw_b,
        &[
            conn(
                "first",
                "lans-first",
                addr::GW_B_WAN,
                "firstkey",
                addr::LAN_B,
            ),
            conn("second", "lans-second", SECOND, "secondkey", "10.9.9.0/24"),
            // The right key, but an identity P-SECOND does not match.
            conn("third", "lans-third", SECOND, "secondkey", "10.9.9.0/24").local_id("198.18.0.1"),
        ],
    )
    .unwrap();
    peer.load_all().unwrap();
    let base = site_a(addr::GW_B_WAN);
    let config = base
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2\n",
            &format!(
                "crypto keyring FIRST\n  pre-shared-key address 203.0.113.2 key firstkey\n\
                 crypto keyring SECOND\n  pre-shared-key address {SECOND} key secondkey\n\
                 crypto isakmp profile P-FIRST\n   keyring FIRST\n   match identity address 203.0.113.2 255.255.255.255\n\
                 crypto isakmp profile P-SECOND\n   keyring SECOND\n   match identity address {SECOND} 255.255.255.255\n"
            ),
        )
        .replace(
            " match address 100\n",
            &format!(
                " match address 100\n set isakmp-profile P-FIRST\ncrypto map VPN 20 ipsec-isakmp\n set peer {SECOND}\n set transform-set TRANSFORM\n match address 120\n set isakmp-profile P-SECOND\n"
            ),
        );
    let config =
        format!("{config}access-list 120 permit ip 10.1.1.0 0.0.0.255 10.9.9.0 0.0.0.255\n");
    assert!(config.contains("set isakmp-profile P-SECOND"), "{config}");
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &config);
    let check = da.exec("show crypto map");
    assert!(
        check.contains("Crypto Map \"VPN\" 20 ipsec-isakmp"),
        "{check}"
    );
    for child in ["lans-first", "lans-second"] {
        let out = peer.initiate(child);
        assert!(
            out.is_ok(),
            "{child}: {out:?}\n{}\n{}",
            peer.log(),
            da.state()
        );
    }
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains("198.51.100.2    203.0.113.2     QM_IDLE"),
        "{isa}"
    );
    assert!(
        isa.contains(&format!("198.51.100.2    {SECOND}     QM_IDLE")),
        "{isa}"
    );
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    let sa = da.exec("show crypto ipsec sa");
    assert!(sa.contains(&format!("current_peer {SECOND} port")), "{sa}");
    // Delete the second peer's SAs, then let it come with the wrong identity.
    peer.terminate_ike("second").unwrap();
    let out = peer.initiate("lans-third");
    assert!(out.is_err(), "an unmatched identity got through: {out:?}");
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        !isa.contains(&format!("198.51.100.2    {SECOND}     QM_IDLE")),
        "{isa}"
    );
    let verdicts = da.exec(&format!("diagnose peer {SECOND}"));
    assert!(
        verdicts.contains("the peer's identity is not matched by the ISAKMP profile")
            && verdicts.contains("198.18.0.1"),
        "{verdicts}"
    );
    da.stop();
}
