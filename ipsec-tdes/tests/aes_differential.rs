//! Multi-buffer AES-CBC encryption against RustCrypto `aes` (+ `cbc`) packet by packet: random
//! keys of all three lengths mixed in one batch, random IVs, empty and one-block packets, and
//! batches much wider than the lanes (lanes refilled as packets end).

use cbc::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use ipsec_tdes::{aes_cbc_encrypt, aes_is_available, AesEncryptJob, AesKey};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn reference(key: &[u8], iv: &[u8; 16], data: &mut [u8]) {
    let len = data.len();
    match key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into())
            .encrypt_padded_mut::<NoPadding>(data, len)
            .map(|_| ()),
        24 => cbc::Encryptor::<aes::Aes192>::new(key.into(), iv.into())
            .encrypt_padded_mut::<NoPadding>(data, len)
            .map(|_| ()),
        _ => cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
            .encrypt_padded_mut::<NoPadding>(data, len)
            .map(|_| ()),
    }
    .unwrap();
}

#[test]
fn random_batches_match_packet_by_packet_cbc() {
    if !aes_is_available() {
        eprintln!("no AES-NI: nothing to compare");
        return;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(0x0ae5_cbc0);
    for round in 0..200 {
        let jobs = (rng.next_u32() % 40) as usize;
        let mut raw_keys = Vec::new();
        let mut ivs = Vec::new();
        let mut data = Vec::new();
        for _ in 0..jobs {
            let mut k = vec![0u8; [16, 24, 32][(rng.next_u32() % 3) as usize]];
            rng.fill_bytes(&mut k);
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            // Mostly short packets, some full-size ones: lanes end at different times.
            let blocks = match rng.next_u32() % 4 {
                0 => 0,
                1 => 1,
                2 => (rng.next_u32() % 8) as usize,
                _ => (rng.next_u32() % 100) as usize,
            };
            let mut d = vec![0u8; 16 * blocks];
            rng.fill_bytes(&mut d);
            raw_keys.push(k);
            ivs.push(iv);
            data.push(d);
        }
        let mut want = data.clone();
        for ((k, iv), d) in raw_keys.iter().zip(&ivs).zip(want.iter_mut()) {
            reference(k, iv, d);
        }
        let keys: Vec<AesKey> = raw_keys.iter().map(|k| AesKey::new(k).unwrap()).collect();
        let mut batch: Vec<AesEncryptJob<'_>> = keys
            .iter()
            .zip(&ivs)
            .zip(data.iter_mut())
            .map(|((key, iv), d)| AesEncryptJob {
                key,
                iv: *iv,
                data: d.as_mut_slice(),
            })
            .collect();
        aes_cbc_encrypt(&mut batch).unwrap();
        drop(batch);
        assert_eq!(data, want, "round {round}");
    }
}

#[test]
fn one_key_shared_by_many_lanes() {
    if !aes_is_available() {
        return;
    }
    let key = AesKey::new(&[0x42; 16]).unwrap();
    let mut data: Vec<Vec<u8>> = (0..17).map(|i| vec![i as u8; 16 * (i + 1)]).collect();
    let mut want = data.clone();
    for (i, d) in want.iter_mut().enumerate() {
        reference(&[0x42; 16], &[i as u8; 16], d);
    }
    let mut batch: Vec<AesEncryptJob<'_>> = data
        .iter_mut()
        .enumerate()
        .map(|(i, d)| AesEncryptJob {
            key: &key,
            iv: [i as u8; 16],
            data: d.as_mut_slice(),
        })
        .collect();
    aes_cbc_encrypt(&mut batch).unwrap();
    drop(batch);
    assert_eq!(data, want);
}
