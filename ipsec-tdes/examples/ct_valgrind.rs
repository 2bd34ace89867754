//! Constant-time evidence under valgrind memcheck: keys and plaintext/ciphertext are marked
//! *undefined* with a memcheck client request, then batches are encrypted and decrypted.
//! Memcheck reports every branch ("Conditional jump or move depends on uninitialised
//! value(s)") and every memory address ("Use of uninitialised value of size 8") computed from
//! undefined bits, i.e. from secrets: a constant-time implementation gets 0 errors.
//!
//! ```text
//! cargo build --release -p ipsec-tdes --example ct_valgrind
//! valgrind --error-exitcode=1 target/release/examples/ct_valgrind u64        # expect 0 errors
//! valgrind --error-exitcode=1 target/release/examples/ct_valgrind avx2       # expect 0 errors
//! valgrind --error-exitcode=1 target/release/examples/ct_valgrind aes        # expect 0 errors
//! valgrind --error-exitcode=1 target/release/examples/ct_valgrind rustcrypto # the control: errors
//! ```
//!
//! `aes` runs the multi-buffer AES-CBC lanes (keys of all three lengths, expanded here too)
//! under the same marking; it exits with status 3 where AES-NI is missing.
//!
//! Valgrind does not emulate AVX-512 (its CPUID hides it), so `avx512` and `vbmi` exit with
//! status 3 ("width unavailable"); the AVX-512 width has a dudect-style timing test instead
//! (`tests/dudect.rs`). Outside valgrind the client request is a no-op.

use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ipsec_tdes::{
    aes_cbc_encrypt, aes_is_available, AesEncryptJob, AesKey, DecryptJob, EncryptJob, TdesCbc,
    TdesKey, Width,
};

/// memcheck.h: VG_USERREQ_TOOL_BASE('M','C') + 1.
const MAKE_MEM_UNDEFINED: u64 = 0x4D43_0001;

/// VALGRIND_MAKE_MEM_UNDEFINED(buf): valgrind's amd64 client-request sequence (valgrind.h).
fn make_undefined(buf: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        let args: [u64; 6] = [
            MAKE_MEM_UNDEFINED,
            buf.as_ptr() as u64,
            buf.len() as u64,
            0,
            0,
            0,
        ];
        let mut _result: u64 = 0;
        // SAFETY: the four rotations of rdi add up to 128 bits, leaving it unchanged, and
        // `xchg rbx, rbx` is a no-op: natively the sequence changes nothing. Under valgrind it
        // is the client-request marker; valgrind reads the 6 words at rax (live for the call)
        // and writes its answer to rdx (declared). It only changes memcheck's shadow state.
        unsafe {
            core::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") args.as_ptr(),
                inout("rdx") _result,
                options(nostack),
            );
        }
        core::hint::black_box(&args);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = buf;
}

const PACKETS: usize = 9;

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "u64".into());
    let mut keys = [[0u8; 24]; PACKETS];
    let mut data = [[0u8; 160]; PACKETS];
    for (i, k) in keys.iter_mut().enumerate() {
        for (j, b) in k.iter_mut().enumerate() {
            *b = (i * 37 + j * 11) as u8;
        }
    }
    for (i, d) in data.iter_mut().enumerate() {
        for (j, b) in d.iter_mut().enumerate() {
            *b = (i * 5 + j * 3) as u8;
        }
    }
    // The secrets: every key byte and every data byte.
    for k in &keys {
        make_undefined(k);
    }
    for d in &data {
        make_undefined(d);
    }
    let ivs: Vec<[u8; 8]> = (0..PACKETS).map(|i| [i as u8; 8]).collect();
    // Packets of different lengths (lengths are public), so lanes are refilled mid-batch.
    let lens: Vec<usize> = (0..PACKETS).map(|i| 8 * (1 + (i * 7) % 20)).collect();

    if what == "rustcrypto" {
        for ((k, d), (iv, len)) in keys.iter().zip(data.iter_mut()).zip(ivs.iter().zip(&lens)) {
            let d = &mut d[..*len];
            cbc::Encryptor::<des::TdesEde3>::new(k.into(), iv.into())
                .encrypt_padded_mut::<NoPadding>(d, *len)
                .unwrap();
            cbc::Decryptor::<des::TdesEde3>::new(k.into(), iv.into())
                .decrypt_padded_mut::<NoPadding>(d)
                .unwrap();
        }
        println!("rustcrypto: done");
        return;
    }
    if what == "aes" {
        if !aes_is_available() {
            println!("aes: no AES-NI on this CPU (or under valgrind)");
            std::process::exit(3);
        }
        // Key lengths 16, 24 and 32 from the (undefined) 24-byte keys and their doubles.
        let long: Vec<[u8; 32]> = keys
            .iter()
            .map(|k| core::array::from_fn(|j| k[j % 24] ^ (j as u8)))
            .collect();
        let akeys: Vec<AesKey> = long
            .iter()
            .enumerate()
            .map(|(i, k)| AesKey::new(&k[..[16, 24, 32][i % 3]]).unwrap())
            .collect();
        let mut jobs: Vec<AesEncryptJob<'_>> = data
            .iter_mut()
            .zip(&akeys)
            .enumerate()
            .map(|(i, (d, key))| AesEncryptJob {
                key,
                iv: [i as u8; 16],
                data: &mut d[..16 * (1 + (i * 7) % 10)],
            })
            .collect();
        aes_cbc_encrypt(&mut jobs).unwrap();
        drop(jobs);
        println!("aes: done");
        return;
    }
    let Some(w) = Width::parse(&what) else {
        eprintln!("usage: ct_valgrind u64|avx2|vbmi|avx512|aes|rustcrypto");
        std::process::exit(2);
    };
    let Some(mut ctx) = TdesCbc::with_width(w) else {
        println!("{w:?}: width unavailable on this CPU (or under valgrind)");
        std::process::exit(3);
    };
    let tkeys: Vec<TdesKey> = keys.iter().map(TdesKey::new).collect();
    for _ in 0..2 {
        let mut jobs: Vec<EncryptJob<'_>> = data
            .iter_mut()
            .zip(&tkeys)
            .zip(ivs.iter().zip(&lens))
            .map(|((d, key), (iv, len))| EncryptJob {
                key,
                iv: *iv,
                data: &mut d[..*len],
            })
            .collect();
        ctx.encrypt(&mut jobs).unwrap();
    }
    let mut out = [[0u8; 160]; PACKETS];
    let mut jobs: Vec<DecryptJob<'_>> = out
        .iter_mut()
        .zip(&data)
        .zip(&tkeys)
        .zip(ivs.iter().zip(&lens))
        .map(|(((o, d), key), (iv, len))| DecryptJob {
            key,
            iv: *iv,
            src: &d[..*len],
            dst: o,
        })
        .collect();
    ctx.decrypt(&mut jobs).unwrap();
    drop(jobs);
    // One lone packet too: the narrow path.
    ctx.encrypt_one(&tkeys[0], ivs[0], &mut out[0][..lens[0]])
        .unwrap();
    core::hint::black_box(&out);
    println!("{w:?}: done");
}
