//! The gateway core's data path allocates nothing per packet once the SA pair exists: a
//! cleartext packet is classified, encrypted into the output queue, and the ESP packet is
//! decrypted on the other side into its output queue, with no heap allocation.
//!
//! A counting global allocator records allocations made by the current thread only.

use ipsec_engine::gateway::{CoreOptions, GatewayCore, TunVerdict};
use ipsec_engine::{Dest, Gateway, Outputs};
use ipsec_proto::ios::seed::{SITE_A, SITE_B};
use ipsec_proto::time::Instant;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
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

fn core(text: &str, seed: u64) -> GatewayCore {
    let p = ipsec_proto::ios::parse(text).unwrap();
    GatewayCore::new(p.config, CoreOptions::seeded(seed)).unwrap()
}

/// Delivers everything `from` queued to `to` (IKE and ESP); returns packets meant for the TUN.
fn deliver(from: &mut Outputs, to: &mut GatewayCore, to_out: &mut Outputs, now: Instant) -> usize {
    let mut tun = 0;
    let n = from.len();
    for i in 0..n {
        let Some((d, p)) = from.packet(i) else {
            continue;
        };
        match d {
            Dest::Tun | Dest::Vti(_) => tun += 1,
            Dest::Udp { local, remote } => to.on_udp(now, remote, local, p, to_out),
            Dest::Esp { src, dst } => to.on_esp(now, src, dst, p, to_out),
        }
    }
    from.clear();
    tun
}

/// Two cores with their SA pair up, a 1400-byte packet from LAN A to LAN B, and the time.
struct Up {
    a: GatewayCore,
    b: GatewayCore,
    oa: Outputs,
    ob: Outputs,
    pkt: Vec<u8>,
    now: Instant,
}

fn up(seed: u64) -> Up {
    up_with(seed, "esp-3des esp-sha-hmac")
}

/// [`up`] with the transform set `esp` on both sites.
fn up_with(seed: u64, esp: &str) -> Up {
    assert!(SITE_A.contains("transform-set TRANSFORM esp-3des esp-sha-hmac"));
    let ts = |site: &str| {
        site.replace(
            "transform-set TRANSFORM esp-3des esp-sha-hmac",
            &format!("transform-set TRANSFORM {esp}"),
        )
    };
    let (mut a, mut b) = (core(&ts(SITE_A), seed), core(&ts(SITE_B), seed + 1));
    let (mut oa, mut ob) = (Outputs::default(), Outputs::default());
    let mut pkt = vec![0u8; 1400];
    pkt[0] = 0x45;
    pkt[2..4].copy_from_slice(&1400u16.to_be_bytes());
    pkt[9] = 17;
    pkt[12..16].copy_from_slice(&[192, 168, 1, 10]);
    pkt[16..20].copy_from_slice(&[192, 168, 2, 10]);
    let mut now = Instant(1000);
    assert_eq!(a.protect(now, &pkt, &mut oa), TunVerdict::NoSa);
    for _ in 0..20 {
        deliver(&mut oa, &mut b, &mut ob, now);
        deliver(&mut ob, &mut a, &mut oa, now);
        now = Instant(now.0 + 5);
    }
    assert_eq!(a.installed_pairs(), 1);
    Up {
        a,
        b,
        oa,
        ob,
        pkt,
        now,
    }
}

#[test]
fn steady_state_data_path_does_not_allocate() {
    let Up {
        mut a,
        mut b,
        mut oa,
        mut ob,
        pkt,
        mut now,
    } = up(1);
    // Warm-up: queues reach their working size.
    for _ in 0..10 {
        assert_eq!(a.protect(now, &pkt, &mut oa), TunVerdict::Protected);
        assert_eq!(deliver(&mut oa, &mut b, &mut ob, now), 0);
        assert_eq!(ob.len(), 1);
        ob.clear();
    }
    let before = allocations();
    let mut delivered = 0;
    for _ in 0..200 {
        now = Instant(now.0 + 1);
        a.protect(now, &pkt, &mut oa);
        deliver(&mut oa, &mut b, &mut ob, now);
        delivered += ob.len();
        ob.clear();
    }
    let used = allocations() - before;
    assert_eq!(delivered, 200);
    assert_eq!(
        used, 0,
        "{used} allocations for 200 packets through both cores"
    );
}

/// The seed's suite is esp-3des: batches of 16 run the bitsliced 3DES pass both ways. Its
/// context and scratch are made once, in each core's first batch (the warm-up runs the same
/// batch verbs as the measured loop, so that happens there).
#[test]
fn steady_state_batches_do_not_allocate() {
    batches_do_not_allocate(up(3));
}

/// esp-aes: batches of 16 are sealed by the multi-buffer AES-CBC lanes (on CPUs with AES-NI),
/// their keys expanded on the stack.
#[test]
fn steady_state_aes_batches_do_not_allocate() {
    batches_do_not_allocate(up_with(5, "esp-aes esp-sha-hmac"));
}

fn batches_do_not_allocate(up: Up) {
    use ipsec_proto::tunnel::Iface;
    let Up {
        mut a,
        mut b,
        mut oa,
        mut ob,
        pkt,
        mut now,
    } = up;
    let batch: [&[u8]; 16] = [&pkt; 16];
    let mut round = |now: Instant| {
        let v = a.handle_plaintext_batch(now, Iface::Inside, batch, &mut oa);
        assert_eq!(v.protected, 16);
        // The ESP goes to B through its batch verb (raw ESP from one peer, as a receive run).
        let mut esp: [&[u8]; 16] = [&[]; 16];
        let mut n = 0;
        for i in 0..oa.len() {
            if let Some((Dest::Esp { .. }, p)) = oa.packet(i) {
                if let Some(s) = esp.get_mut(n) {
                    *s = p;
                    n += 1;
                }
            }
        }
        let v = b.handle_esp_batch(
            now,
            [198, 51, 100, 1].into(),
            esp[..n].iter().copied(),
            &mut ob,
        );
        assert_eq!(v.protected, 16);
        oa.clear();
        let delivered = ob.len();
        ob.clear();
        delivered
    };
    // Warm-up: queues reach their working size, the 3DES contexts are made.
    for _ in 0..5 {
        now = Instant(now.0 + 1);
        round(now);
    }
    let before = allocations();
    let mut delivered = 0;
    for _ in 0..50 {
        now = Instant(now.0 + 1);
        delivered += round(now);
    }
    let used = allocations() - before;
    assert_eq!(delivered, 50 * 16);
    assert_eq!(
        used, 0,
        "{used} allocations for 800 packets in batches through both cores"
    );
}
