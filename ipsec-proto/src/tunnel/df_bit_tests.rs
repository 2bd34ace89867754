//! `crypto ipsec df-bit`: the outer DF of ESP follows the setting (global or the crypto map
//! interface's own), read from what `poll_transmit` hands the embedder.

use super::polled::tests::{carry, ping, SITE_A, SITE_B};
use super::{CoreOptions, Dest, TunVerdict, Tunnel};
use crate::time::Instant;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];

/// A ping with the inner DF bit as given (checksum recomputed).
fn ping_df(seq: u16, df: bool) -> Vec<u8> {
    let mut p = ping(HOST_A, HOST_B, seq);
    p[6] = if df { 0x40 } else { 0 };
    p[10] = 0;
    p[11] = 0;
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p
}

/// Site A (with `site_a` edited by `edit`) and site B with their SAs up.
fn up(edit: impl Fn(&str) -> String) -> (Tunnel, Tunnel, Instant) {
    let text = edit(SITE_A);
    let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    assert_eq!(a.handle_plaintext(now, &ping_df(0, true)), TunVerdict::NoSa);
    let mut buf = vec![0u8; 65_536];
    for _ in 0..20 {
        // IKE messages never ask for DF: the host's default is fine for them.
        let mut moved = Vec::new();
        while let Ok(Some(t)) = a.poll_transmit(&mut buf) {
            assert!(!t.df, "IKE datagram with DF asked");
            moved.push((t, buf[..t.len].to_vec()));
        }
        for (t, m) in moved {
            if let Dest::Udp { local, remote } = t.dest {
                assert_eq!(b.handle_udp(now, remote, local, &m), Ok(()));
            }
        }
        carry(&mut b, &mut a, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    (a, b, now)
}

/// The outer DF of the ESP packet site A sends for a ping whose DF is `inner`.
fn outer_df(a: &mut Tunnel, b: &mut Tunnel, now: Instant, seq: u16, inner: bool) -> bool {
    let p = ping_df(seq, inner);
    assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
    let mut buf = vec![0u8; 65_536];
    let t = a.poll_transmit(&mut buf).unwrap().expect("an ESP packet");
    assert!(matches!(t.dest, Dest::Esp { .. }), "{:?}", t.dest);
    assert!(a.poll_transmit(&mut buf).unwrap().is_none());
    let Dest::Esp { src, .. } = t.dest else {
        unreachable!()
    };
    // The packet itself is unchanged by the setting: the peer decrypts the ping as sent.
    assert_eq!(b.handle_esp(now, src, &buf[..t.len]), Ok(()));
    let n = b.poll_plaintext(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..n], &p[..]);
    t.df
}

#[test]
fn by_default_the_outer_df_is_the_inner_one() {
    let (mut a, mut b, now) = up(|s| s.to_string());
    assert!(outer_df(&mut a, &mut b, now, 1, true));
    assert!(!outer_df(&mut a, &mut b, now, 2, false));
}

#[test]
fn global_df_bit_clear_and_set_decide_whatever_the_inner_bit() {
    let global = |word: &'static str| {
        move |s: &str| {
            s.replace(
                "crypto ipsec transform-set",
                &format!("crypto ipsec df-bit {word}\ncrypto ipsec transform-set"),
            )
        }
    };
    let (mut a, mut b, now) = up(global("clear"));
    assert!(!outer_df(&mut a, &mut b, now, 1, true));
    assert!(!outer_df(&mut a, &mut b, now, 2, false));
    let (mut a, mut b, now) = up(global("set"));
    assert!(outer_df(&mut a, &mut b, now, 1, true));
    assert!(outer_df(&mut a, &mut b, now, 2, false));
    let (mut a, mut b, now) = up(global("copy"));
    assert!(outer_df(&mut a, &mut b, now, 1, true));
    assert!(!outer_df(&mut a, &mut b, now, 2, false));
}

#[test]
fn the_crypto_interface_setting_overrides_the_global_one() {
    let (mut a, mut b, now) = up(|s| {
        s.replace(
            "crypto ipsec transform-set",
            "crypto ipsec df-bit set\ncrypto ipsec transform-set",
        )
        .replace(
            " crypto map VPN\n",
            " crypto map VPN\n crypto ipsec df-bit clear\n",
        )
    });
    assert!(!outer_df(&mut a, &mut b, now, 1, true));
}

#[test]
fn df_bit_lines_parse_and_render_back() {
    let text = SITE_A
        .replace(
            "crypto ipsec transform-set",
            "crypto ipsec df-bit clear\ncrypto ipsec transform-set",
        )
        .replace(
            " crypto map VPN\n",
            " crypto map VPN\n crypto ipsec df-bit set\n",
        );
    let p = crate::ios::parse(&text).unwrap();
    assert_eq!(p.config.ipsec.df_bit, crate::policy::DfBit::Clear);
    assert_eq!(
        p.config.interface("FastEthernet4").unwrap().df_bit,
        Some(crate::policy::DfBit::Set)
    );
    assert!(p.warnings.iter().all(|w| !w.message.contains("df-bit")));
    let again = crate::ios::parse(&crate::ios::render(&p.config)).unwrap();
    assert_eq!(again.config.ipsec.df_bit, p.config.ipsec.df_bit);
    assert_eq!(
        again.config.interface("FastEthernet4").unwrap().df_bit,
        Some(crate::policy::DfBit::Set)
    );
    let e = crate::ios::parse("crypto ipsec df-bit sometimes\n").unwrap_err();
    assert_eq!((e.line, e.column), (1, 21), "{e}");
}
