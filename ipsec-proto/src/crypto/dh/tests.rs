use super::*;
use crate::test_util::hex;
use num_bigint::BigUint;

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn prime(g: DhGroup) -> Vec<u8> {
    g.modp_prime().expect("a MODP group")
}

const MODP: [DhGroup; 7] = [
    DhGroup::Modp768,
    DhGroup::Modp1024,
    DhGroup::Modp1536,
    DhGroup::Modp2048,
    DhGroup::Modp3072,
    DhGroup::Modp4096,
    DhGroup::Modp2048S256,
];

#[test]
fn primes_match_rfc_fingerprints() {
    // SHA-256 of each prime's big-endian bytes. Groups 1-14: the fingerprints in the project's
    // RFC facts (ikev1-rfc-facts.md §14); groups 15, 16, 24: of the primes OpenSSL 3.0 ships as
    // modp_3072, modp_4096 and dh_2048_256 (RFC 3526 §4-5, RFC 5114 §2.3), which the structural
    // test below checks independently.
    let want = [
        (
            DhGroup::Modp768,
            "b52ba6a3026520a6c49d37e4587601801bee500123b3259b6bf03e7cecc3e63d",
        ),
        (
            DhGroup::Modp1024,
            "3f35a3f5f6c4376a744acad409bb22f8d897f949d2311d885adaa890981b67a0",
        ),
        (
            DhGroup::Modp1536,
            "64fcc83ec403930bf18393dbc883ccaa1fbb08ac876f77f7aa99748ca945019b",
        ),
        (
            DhGroup::Modp2048,
            "d66436f79bbd6b2e38c0ffbd079be904d2641415e2e67140e09448be9a60890e",
        ),
        (
            DhGroup::Modp3072,
            "48cf8b092fbce4359d9871abf74f98e25b6163379eaa15cd9087e800c6d1c55c",
        ),
        (
            DhGroup::Modp4096,
            "4ee95187682bcb230ad26a95205f6920e84708f6251b3894329b09ec23919e33",
        ),
        (
            DhGroup::Modp2048S256,
            "0b7835722cb619827610c2549fdda5587421686c4409a13865e76225522ddcc9",
        ),
    ];
    for (g, fp) in want {
        let p = prime(g);
        assert_eq!(p.len(), g.public_len());
        let d = crate::crypto::hmac::HashAlg::Sha256.digest(&[&p]);
        assert_eq!(to_hex(&d), fp, "{g:?}");
    }
    for g in DhGroup::ALL {
        assert_eq!(DhGroup::from_ike_id(g.ike_id()), Some(g));
        assert!(crate::policy::KNOWN_GROUPS.contains(&g.ike_id()), "{g:?}");
        assert_eq!(g.modp_prime().is_none(), g.is_ecp(), "{g:?}");
    }
    for id in [0, 3, 4, 17, 18, 22, 23, 25, 26] {
        assert_eq!(DhGroup::from_ike_id(id), None, "{id}");
    }
}

#[test]
fn rfc3526_primes_have_their_published_shape() {
    // RFC 3526: p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) pi) + k), so the top and bottom
    // 64 bits are all ones, and p is a safe prime with 2 a quadratic residue (p = 7 mod 8).
    for (g, bits) in [(DhGroup::Modp3072, 3072u32), (DhGroup::Modp4096, 4096)] {
        let pb = prime(g);
        assert_eq!(pb.len() * 8, bits as usize);
        assert!(pb[..8]
            .iter()
            .chain(&pb[pb.len() - 8..])
            .all(|&b| b == 0xff));
        let p = BigUint::from_bytes_be(&pb);
        let one = BigUint::from(1u8);
        let two = BigUint::from(2u8);
        let q = (&p - 1u8) >> 1u32;
        assert_eq!(two.modpow(&(&p - 1u8), &p), one, "Fermat base 2, {g:?}");
        assert_eq!(
            BigUint::from(3u8).modpow(&(&q - 1u8), &q),
            one,
            "q Fermat, {g:?}"
        );
        assert_eq!(
            two.modpow(&q, &p),
            one,
            "2 generates the order-q subgroup, {g:?}"
        );
    }
}

#[test]
fn rfc5114_group_24_generator_has_order_q() {
    let f = &modp::F2048_256;
    let p = BigUint::from_bytes_be(&prime(DhGroup::Modp2048S256));
    let q = BigUint::from_bytes_be(&f.subgroup_order().unwrap());
    assert_eq!(q.bits(), 256);
    assert_eq!((&p - 1u8) % &q, BigUint::from(0u8), "q divides p-1");
    let one = vec![1u8];
    let s = DhSecret::from_exponent_bytes(DhGroup::Modp2048S256, &one).unwrap();
    let g = BigUint::from_bytes_be(s.public_value());
    assert_ne!(g, BigUint::from(1u8));
    assert_eq!(g.modpow(&q, &p), BigUint::from(1u8), "g^q = 1");
    // x must be below q.
    let qb = q.to_bytes_be();
    assert_eq!(
        DhSecret::from_exponent_bytes(DhGroup::Modp2048S256, &qb).unwrap_err(),
        DhError::BadExponent
    );
    let qm1 = (&q - 1u8).to_bytes_be();
    assert!(DhSecret::from_exponent_bytes(DhGroup::Modp2048S256, &qm1).is_ok());
}

#[test]
fn group_24_refuses_values_outside_the_subgroup() {
    let g = DhGroup::Modp2048S256;
    let mut rng = Rng::from_u64(24);
    let a = DhSecret::generate(g, &mut rng);
    let b = DhSecret::generate(g, &mut rng);
    let ab = a.compute_shared(b.public_value()).unwrap();
    assert_eq!(
        ab.expose_secret(),
        b.compute_shared(a.public_value()).unwrap().expose_secret()
    );
    // 2 is in the range check's bounds, but not of order q (q is odd and 2^q != 1 here).
    let mut two = vec![0u8; g.public_len()];
    two[g.public_len() - 1] = 2;
    assert_eq!(a.compute_shared(&two).unwrap_err(), DhError::NotInSubgroup);
    // An element of order 2 * q: the negation of a valid public value.
    let p = BigUint::from_bytes_be(&prime(g));
    let neg = (&p - BigUint::from_bytes_be(b.public_value())).to_bytes_be();
    let mut padded = vec![0u8; g.public_len() - neg.len()];
    padded.extend_from_slice(&neg);
    assert_eq!(
        a.compute_shared(&padded).unwrap_err(),
        DhError::NotInSubgroup
    );
}

fn oracle_pow(p: &[u8], base: &[u8], x: &[u8]) -> Vec<u8> {
    let pp = BigUint::from_bytes_be(p);
    let r = BigUint::from_bytes_be(base).modpow(&BigUint::from_bytes_be(x), &pp);
    let b = r.to_bytes_be();
    let mut out = vec![0u8; p.len() - b.len()];
    out.extend_from_slice(&b);
    out
}

#[test]
fn differential_against_num_bigint() {
    let mut rng = Rng::from_u64(0x1dff);
    for g in MODP.into_iter().filter(|g| *g != DhGroup::Modp2048S256) {
        let p = prime(g);
        let rounds = match p.len() {
            0..=192 => 32,
            193..=256 => 16,
            _ => 4,
        };
        let xlen = if g == DhGroup::Modp4096 { 48 } else { 32 };
        for i in 0..rounds {
            let mut x = vec![0u8; xlen];
            rng.fill(&mut x);
            if i == 0 {
                // Small exponents exercise the leading-zero path of the bounded ladder.
                x.iter_mut().for_each(|b| *b = 0);
                x[xlen - 1] = 3;
            }
            let s = DhSecret::from_exponent_bytes(g, &x).unwrap();
            assert_eq!(
                s.public_value(),
                oracle_pow(&p, &[2], &x).as_slice(),
                "{g:?}"
            );
            // A random peer value below p (top byte cleared keeps it below every prime here).
            let mut y = vec![0u8; p.len()];
            rng.fill(&mut y);
            y[0] &= 0x7f;
            let z = s.compute_shared(&y).unwrap();
            assert_eq!(
                z.expose_secret(),
                oracle_pow(&p, &y, &x).as_slice(),
                "{g:?}"
            );
            assert_eq!(z.len(), g.shared_len());
        }
    }
    // Group 16 draws 384-bit exponents: 49 bytes are refused, 48 accepted.
    assert!(DhSecret::from_exponent_bytes(DhGroup::Modp4096, &[1; 48]).is_ok());
    assert_eq!(
        DhSecret::from_exponent_bytes(DhGroup::Modp4096, &[1; 49]).unwrap_err(),
        DhError::BadExponent
    );
    assert_eq!(
        DhSecret::from_exponent_bytes(DhGroup::Modp3072, &[1; 33]).unwrap_err(),
        DhError::BadExponent
    );
}

#[test]
fn generated_pairs_agree_in_every_group() {
    let mut rng = Rng::from_u64(5);
    for g in DhGroup::ALL {
        let a = DhSecret::generate(g, &mut rng);
        let b = DhSecret::generate(g, &mut rng);
        assert_eq!(a.public_value().len(), g.public_len(), "{g:?}");
        assert_ne!(a.public_value(), b.public_value());
        let ab = a.compute_shared(b.public_value()).unwrap();
        let ba = b.compute_shared(a.public_value()).unwrap();
        assert_eq!(ab.expose_secret(), ba.expose_secret(), "{g:?}");
        assert_eq!(ab.len(), g.shared_len(), "{g:?}");
        assert!(!format!("{a:?}").contains("key"));
    }
}

#[test]
fn vector_5_2_group2() {
    let g = DhGroup::Modp1024;
    let i = DhSecret::from_exponent_bytes(g, &[0x11; 32]).unwrap();
    let r = DhSecret::from_exponent_bytes(g, &[0x22; 32]).unwrap();
    let gxi = hex(
        "a3616141ace28df1503b7975754b8c03513504fbe6e5373c7334642867b0bfc3
         4f34b23d197bddfcebb0544f05314647406a35f3a460490a86f201e051503691
         1542486fed3e087748d5e5079e17a362555f92c501caf3c5227c47fb2f9f1f0e
         1470a8935cfb5b58df64efa5cd0b19880cf20cd472e142af343f983240de1980",
    );
    let gxr = hex(
        "5daba0bf13f733d5e49510ade27c8ec1c5a89328278291f7548c6204ca0408c5
         a20d7dc64829f77c3b7ef03eb279deade1f98e9d5a4198cbc4249b1a90d68501
         94e5c8dcdc80e4eb4b663245c0e776ac8eb4dae6ec48146c206d27cf2d8f8a49
         a53a51f7822245b6ab41d49c1cb91e1609be707945c0be75d67e16ec3011a2bb",
    );
    let gxy = hex(
        "6130d1167ba0e97f35edfb8a334f34997c37326988b09b3f1bf5a0e0a479e3b0
         b4a2812e86ff53e9cf31ed8b7c402f532516d2bdec88539d50e37f1bef54557d
         51fd96ef0b5ee20c5e56dfa751973820555b1e67b70aa6f8ceeb5129fd69a0f8
         e72d4d317825c77e3bbb4ad988d794db22c704f8fa6667e2a233ed748fb5c1a9",
    );
    assert_eq!(i.public_value(), gxi.as_slice());
    assert_eq!(r.public_value(), gxr.as_slice());
    assert_eq!(
        i.compute_shared(&gxr).unwrap().expose_secret(),
        gxy.as_slice()
    );
    assert_eq!(
        r.compute_shared(&gxi).unwrap().expose_secret(),
        gxy.as_slice()
    );
}

/// One ECDH known answer: both scalars, both public values (x | y), the shared x.
struct EcpVector {
    group: DhGroup,
    i: &'static str,
    gi: &'static str,
    r: &'static str,
    gr: &'static str,
    z: &'static str,
}

fn check_ecp(v: &EcpVector) {
    let (i, r) = (hex(v.i), hex(v.r));
    let a = DhSecret::from_exponent_bytes(v.group, &i).unwrap();
    let b = DhSecret::from_exponent_bytes(v.group, &r).unwrap();
    assert_eq!(
        to_hex(a.public_value()),
        to_hex(&hex(v.gi)),
        "{:?} g^i",
        v.group
    );
    assert_eq!(
        to_hex(b.public_value()),
        to_hex(&hex(v.gr)),
        "{:?} g^r",
        v.group
    );
    let z = hex(v.z);
    assert_eq!(
        a.compute_shared(&hex(v.gr)).unwrap().expose_secret(),
        z.as_slice()
    );
    assert_eq!(
        b.compute_shared(&hex(v.gi)).unwrap().expose_secret(),
        z.as_slice()
    );
}

#[test]
fn ecp_known_answers() {
    // RFC 5903 §8.1 (256-bit random ECP group) and §8.2 (384-bit); the KE data is x | y
    // and g^ir is the x coordinate alone (§7, §9).
    check_ecp(&EcpVector {
        group: DhGroup::Ecp256,
        i: "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        gi: "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180
             5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
        r: "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
        gr: "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63
             56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
        z: "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
    });
    check_ecp(&EcpVector {
        group: DhGroup::Ecp384,
        i: "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655
            E35B538041E649EE3FAEF896783AB194",
        gi: "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6
             DE3AC808ACB4BDB4C88732AEE95F41AA9482ED1FC0EEB9CAFC4984625CCFC23F
             65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
        r: "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942
            E0308312916B8ED2960E4BD55A7448FC",
        gr: "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D
             0D1AC43A0336DEF96FDA41D0774A3571DCFBEC7AACF3196472169E838430367F
             66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C",
        z: "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4
            D603135569B9E9D09CF5D4A270F59746",
    });
    // P-521: computed with OpenSSL 3.0.19 (pyca/cryptography 48, SECP521R1, derive_private_key
    // and ECDH exchange), an implementation independent of the one under test.
    check_ecp(&EcpVector {
        group: DhGroup::Ecp521,
        i: "01a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5
            a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5",
        gi: "006d5cc96239f41ac90e921eaafa7482ab18c225099ffe730fec44bcd0424317c3bb
             e7a9959cc7c3df5f4f89eef673ec9ddaed9d89c91f299c86adbdc386c7925ae1018b
             0c3ccd5f7d85b1489ba093395f7dbd0222409b2436bce09d0228758ef3bd42f7877b
             f4a0ff7cebb29a1b0c4fa6bdda8175fd61f49597e5ca222c0af3a82713d7",
        r: "003c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c
            3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
        gr: "00c26788ec807024fd6b697f3de4b6e5d0379976febd7076853c76f951dedd8e0c4c
             e857e50bd4ee07946a4bd2a24052bd79bbcbc2bf170e6c1573f6928ebb31bc9500ed
             bb19617dddf4c79e4c7eac5108c9bc6d3b402f90b428a66b3ad73bdb94846c752880
             5d35aebc7f5c49024c8b5a91921c9e084e690d68df725b0f46a3a54b760a",
        z: "01f46231649be164884314fd322cc8a42fde8b6bff50ab370c2b11e08732844869ee
            24d958b4a7e8c2bc566eb1e15b07ffd29a43fab8555d64fcf10aa6fe90cb3f69",
    });
}

#[test]
fn ecp_refuses_bad_points_and_scalars() {
    let mut rng = Rng::from_u64(19);
    for g in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Ecp521] {
        let a = DhSecret::generate(g, &mut rng);
        let b = DhSecret::generate(g, &mut rng);
        let n = g.public_len();
        let mut off = b.public_value().to_vec();
        off[n - 1] ^= 1;
        assert_eq!(
            a.compute_shared(&off).unwrap_err(),
            DhError::NotOnCurve,
            "{g:?}"
        );
        assert_eq!(
            a.compute_shared(&vec![0; n]).unwrap_err(),
            DhError::NotOnCurve
        );
        assert_eq!(
            a.compute_shared(&vec![0xff; n]).unwrap_err(),
            DhError::NotOnCurve
        );
        // A SEC1 encoding (with its 0x04 byte) is not what IKE carries.
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(b.public_value());
        assert_eq!(
            a.compute_shared(&sec1).unwrap_err(),
            DhError::WrongLength {
                expected: n,
                got: n + 1
            }
        );
        assert_eq!(
            a.compute_shared(&b.public_value()[..n / 2]).unwrap_err(),
            DhError::WrongLength {
                expected: n,
                got: n / 2
            }
        );
        assert_eq!(
            DhSecret::from_exponent_bytes(g, &[0; 8]).unwrap_err(),
            DhError::BadExponent
        );
        assert_eq!(
            DhSecret::from_exponent_bytes(g, &vec![0xff; g.shared_len()]).unwrap_err(),
            DhError::BadExponent,
            "{g:?}: above the order"
        );
        assert_eq!(
            DhSecret::from_exponent_bytes(g, &vec![1; g.shared_len() + 1]).unwrap_err(),
            DhError::BadExponent
        );
    }
}

#[cfg(feature = "fuzzing")]
#[test]
fn fuzz_group_against_num_bigint() {
    let g = DhGroup::Fuzz64;
    assert_eq!(DhGroup::from_ike_id(FUZZ_GROUP_ID), Some(g));
    assert!(!DhGroup::ALL.contains(&g));
    assert!(!crate::policy::KNOWN_GROUPS.contains(&FUZZ_GROUP_ID));
    let pb = prime(g);
    let p = BigUint::from_bytes_be(&pb);
    assert_eq!(p, (BigUint::from(1u8) << 64u32) - BigUint::from(8489u32));
    let q = (&p - 1u8) >> 1u32;
    // 2 has order q (a quadratic residue of a safe prime).
    assert_eq!(BigUint::from(2u8).modpow(&q, &p), BigUint::from(1u8));
    let mut rng = Rng::from_u64(0xf64);
    for _ in 0..32 {
        let a = DhSecret::generate(g, &mut rng);
        let b = DhSecret::generate(g, &mut rng);
        assert_eq!(a.public_value().len(), 8);
        let ab = a.compute_shared(b.public_value()).unwrap();
        let ba = b.compute_shared(a.public_value()).unwrap();
        assert_eq!(ab.expose_secret(), ba.expose_secret());
        let mut x = [0u8; 32];
        rng.fill(&mut x);
        let s = DhSecret::from_exponent_bytes(g, &x).unwrap();
        // Only the exponent's low 64 bits count in this group.
        assert_eq!(s.public_value(), oracle_pow(&pb, &[2], &x[24..]).as_slice());
    }
    let s = DhSecret::from_exponent_bytes(g, &[7]).unwrap();
    let pm1 = (&p - 1u8).to_bytes_be();
    assert_eq!(s.compute_shared(&pm1).unwrap_err(), DhError::PMinusOne);
    assert_eq!(s.compute_shared(&[0; 8]).unwrap_err(), DhError::TooSmall);
    assert_eq!(
        s.compute_shared(&[1; 128]).unwrap_err(),
        DhError::WrongLength {
            expected: 8,
            got: 128
        }
    );
}

#[test]
fn bad_peer_values_are_distinct_errors() {
    let g = DhGroup::Modp768;
    let s = DhSecret::from_exponent_bytes(g, &[7]).unwrap();
    let n = g.public_len();
    assert_eq!(
        s.compute_shared(&vec![1u8; n - 1]).unwrap_err(),
        DhError::WrongLength {
            expected: n,
            got: n - 1
        }
    );
    assert_eq!(
        s.compute_shared(&vec![1u8; n + 1]).unwrap_err(),
        DhError::WrongLength {
            expected: n,
            got: n + 1
        }
    );
    assert_eq!(
        s.compute_shared(&vec![0u8; n]).unwrap_err(),
        DhError::TooSmall
    );
    let mut one = vec![0u8; n];
    one[n - 1] = 1;
    assert_eq!(s.compute_shared(&one).unwrap_err(), DhError::TooSmall);
    let mut two = one.clone();
    two[n - 1] = 2;
    assert!(s.compute_shared(&two).is_ok());
    let p = prime(g);
    let mut pm1 = p.clone();
    pm1[n - 1] -= 1;
    assert_eq!(s.compute_shared(&pm1).unwrap_err(), DhError::PMinusOne);
    let mut pm2 = p.clone();
    pm2[n - 1] -= 2;
    assert!(s.compute_shared(&pm2).is_ok());
    assert_eq!(s.compute_shared(&p).unwrap_err(), DhError::NotBelowPrime);
    assert_eq!(
        s.compute_shared(&vec![0xff; n]).unwrap_err(),
        DhError::NotBelowPrime
    );
    assert_eq!(
        DhSecret::from_exponent_bytes(g, &[0; 4]).unwrap_err(),
        DhError::BadExponent
    );
    assert_eq!(
        DhSecret::from_exponent_bytes(g, &[1; 33]).unwrap_err(),
        DhError::BadExponent
    );
}
