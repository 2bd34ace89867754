//! NIST CAVP known answers (TDES CBC MMT and the SP 800-20 sets), for every width this CPU
//! runs: each record alone (the narrow path) and each file's records as one batch (many keys
//! sharing passes).

use ipsec_tdes::{DecryptJob, EncryptJob, TdesCbc, TdesKey, Width};

struct Record {
    key: [u8; 24],
    iv: [u8; 8],
    pt: Vec<u8>,
    ct: Vec<u8>,
    encrypt: bool,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut encrypt = true;
    let mut key = [0u8; 24];
    let mut iv = [0u8; 8];
    let mut pt = None;
    let mut ct = None;
    for line in text.lines().map(str::trim) {
        if line == "[ENCRYPT]" {
            encrypt = true;
        } else if line == "[DECRYPT]" {
            encrypt = false;
        }
        let Some((name, value)) = line.split_once(" = ") else {
            continue;
        };
        match name {
            "KEYs" => {
                let k = hex(value);
                for i in 0..3 {
                    key[8 * i..8 * i + 8].copy_from_slice(&k);
                }
            }
            "KEY1" => key[..8].copy_from_slice(&hex(value)),
            "KEY2" => key[8..16].copy_from_slice(&hex(value)),
            "KEY3" => key[16..].copy_from_slice(&hex(value)),
            "IV" => iv.copy_from_slice(&hex(value)),
            "PLAINTEXT" => pt = Some(hex(value)),
            "CIPHERTEXT" => ct = Some(hex(value)),
            _ => {}
        }
        if let (Some(p), Some(c)) = (&pt, &ct) {
            out.push(Record {
                key,
                iv,
                pt: p.clone(),
                ct: c.clone(),
                encrypt,
            });
            pt = None;
            ct = None;
        }
    }
    out
}

const FILES: [&str; 8] = [
    "TCBCMMT1.rsp",
    "TCBCMMT2.rsp",
    "TCBCMMT3.rsp",
    "TCBCinvperm.rsp",
    "TCBCpermop.rsp",
    "TCBCsubtab.rsp",
    "TCBCvarkey.rsp",
    "TCBCvartext.rsp",
];

fn load(name: &str) -> Vec<Record> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let recs = parse(&std::fs::read_to_string(&path).unwrap());
    assert!(!recs.is_empty(), "{path}: no records");
    recs
}

fn check_one(ctx: &mut TdesCbc, r: &Record, what: &str) {
    let key = TdesKey::new(&r.key);
    if r.encrypt {
        let mut d = r.pt.clone();
        ctx.encrypt_one(&key, r.iv, &mut d).unwrap();
        assert_eq!(d, r.ct, "{what}: encrypt");
    } else {
        let mut d = vec![0u8; r.ct.len()];
        ctx.decrypt_one(&key, r.iv, &r.ct, &mut d).unwrap();
        assert_eq!(d, r.pt, "{what}: decrypt");
    }
}

#[test]
fn cavp_tdes_cbc_every_record_every_width() {
    let mut total = 0;
    for (w, ternlog) in Width::available().flat_map(|w| [(w, true), (w, false)]) {
        let mut ctx = TdesCbc::with_width(w).unwrap();
        // Off: the kernels without AVX-512VL's three-input logic (U64, Avx2).
        ctx.set_ternlog(ternlog);
        for f in FILES {
            for (i, r) in load(f).iter().enumerate() {
                check_one(&mut ctx, r, &format!("{f} #{i} {w:?} ternlog {ternlog}"));
                total += 1;
            }
        }
    }
    eprintln!("{total} CAVP records checked");
}

#[test]
fn cavp_tdes_cbc_whole_file_as_one_batch() {
    for w in Width::available() {
        let mut ctx = TdesCbc::with_width(w).unwrap();
        for f in FILES {
            let recs = load(f);
            let keys: Vec<TdesKey> = recs.iter().map(|r| TdesKey::new(&r.key)).collect();
            // Both directions of every record, whatever section it came from.
            let mut enc: Vec<Vec<u8>> = recs.iter().map(|r| r.pt.clone()).collect();
            let mut jobs: Vec<EncryptJob<'_>> = enc
                .iter_mut()
                .zip(&recs)
                .zip(&keys)
                .map(|((d, r), key)| EncryptJob {
                    key,
                    iv: r.iv,
                    data: d,
                })
                .collect();
            ctx.encrypt(&mut jobs).unwrap();
            drop(jobs);
            for (i, (d, r)) in enc.iter().zip(&recs).enumerate() {
                assert_eq!(d, &r.ct, "{f} #{i} {w:?} batch encrypt");
            }
            let mut dec: Vec<Vec<u8>> = recs.iter().map(|r| vec![0; r.ct.len()]).collect();
            let mut jobs: Vec<DecryptJob<'_>> = dec
                .iter_mut()
                .zip(&recs)
                .zip(&keys)
                .map(|((d, r), key)| DecryptJob {
                    key,
                    iv: r.iv,
                    src: &r.ct,
                    dst: d,
                })
                .collect();
            ctx.decrypt(&mut jobs).unwrap();
            drop(jobs);
            for (i, (d, r)) in dec.iter().zip(&recs).enumerate() {
                assert_eq!(d, &r.pt, "{f} #{i} {w:?} batch decrypt");
            }
        }
    }
}
