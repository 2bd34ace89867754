//! ESP encapsulation and decapsulation allocate nothing per packet once the SAs exist.
//!
//! A counting global allocator records allocations made by the current thread only, so other
//! tests running in parallel cannot disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ipsec_proto::crypto::cipher::CipherAlg;
use ipsec_proto::esp::{
    EspConfig, EspIntegrity, EspKeys, EspTransform, InboundSa, LifetimeConfig, OutboundSa,
};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with` because the allocator may run while thread-locals are being torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

fn steady_state(cipher: CipherAlg, integrity: EspIntegrity) {
    let t = EspTransform::new(cipher, Some(integrity));
    let enc = vec![0x11u8; cipher.key_len()];
    let auth = vec![0x22u8; integrity.key_len()];
    let config = EspConfig {
        replay_window: 1024,
        lifetime: LifetimeConfig::ios_default(),
        ..EspConfig::default()
    };
    let mut rng = Rng::from_u64(9);
    let mut out_sa = OutboundSa::new(
        EspKeys::new(0x1001, t, &enc, &auth).unwrap(),
        config,
        Instant::ZERO,
        &mut rng,
    )
    .unwrap();
    let mut in_sa = InboundSa::new(
        EspKeys::new(0x1001, t, &enc, &auth).unwrap(),
        config,
        Instant::ZERO,
    )
    .unwrap();
    let inner = vec![0x45u8; 1400];
    let mut wire = vec![0u8; 1400 + out_sa.overhead()];
    let mut plain = vec![0u8; 1500];

    // Warm up (first use of any lazily initialised CPU-feature detection).
    let n = out_sa
        .encapsulate(Instant::ZERO, &inner, 4, &mut wire)
        .unwrap();
    in_sa
        .decapsulate(Instant::ZERO, &wire[..n], &mut plain)
        .unwrap();

    let before = allocations();
    for (i, len) in [64usize, 512, 1400, 0, 1399]
        .iter()
        .cycle()
        .take(200)
        .enumerate()
    {
        let now = Instant::from_millis(i as u64);
        let n = out_sa
            .encapsulate(now, &inner[..*len], 4, &mut wire)
            .unwrap();
        let d = in_sa.decapsulate(now, &wire[..n], &mut plain).unwrap();
        assert_eq!(d.len, *len);
        // Refusals must not allocate either.
        assert!(in_sa.decapsulate(now, &wire[..n], &mut plain).is_err());
        wire[n - 1] ^= 1;
        assert!(in_sa.decapsulate(now, &wire[..n], &mut plain).is_err());
    }
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "{cipher:?}/{integrity:?} allocated per packet"
    );
    // The counter works: a deliberate allocation is seen.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > after);
    drop(v);
}

#[test]
fn encapsulate_and_decapsulate_do_not_allocate() {
    steady_state(CipherAlg::TripleDes, EspIntegrity::HmacSha1_96);
    steady_state(CipherAlg::Aes128, EspIntegrity::HmacSha1_96);
    steady_state(CipherAlg::Aes256, EspIntegrity::HmacSha256_128);
}
