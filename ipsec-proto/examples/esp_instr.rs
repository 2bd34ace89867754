//! A fixed ESP workload for instruction counting, which unlike wall time does not depend on the
//! machine's load:
//!
//! ```text
//! cargo build --release -p ipsec-proto --example esp_instr
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg target/release/examples/esp_instr aes 1400 2000
//! ```
//!
//! Arguments: suite (`aes` = AES-128/HMAC-SHA1-96, `3des` = 3DES/HMAC-SHA1-96), inner packet
//! size, packet count. Each packet is encapsulated by one SA and decapsulated by its peer.

use ipsec_proto::crypto::cipher::CipherAlg;
use ipsec_proto::esp::{
    EspConfig, EspIntegrity, EspKeys, EspTransform, InboundSa, LifetimeConfig, OutboundSa,
};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cipher = match args.get(1).map(String::as_str) {
        Some("3des") => CipherAlg::TripleDes,
        _ => CipherAlg::Aes128,
    };
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1400);
    let count: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let integ = EspIntegrity::HmacSha1_96;
    let t = EspTransform::new(cipher, Some(integ));
    let enc = vec![0x11u8; cipher.key_len()];
    let auth = vec![0x22u8; integ.key_len()];
    let cfg = EspConfig {
        lifetime: LifetimeConfig::unlimited(),
        ..EspConfig::default()
    };
    let mut rng = Rng::from_u64(1);
    let keys = || EspKeys::new(0x100, t, &enc, &auth).expect("keys");
    let mut out_sa = OutboundSa::new(keys(), cfg, Instant::ZERO, &mut rng).expect("outbound SA");
    let mut in_sa = InboundSa::new(keys(), cfg, Instant::ZERO).expect("inbound SA");
    let inner = vec![0x45u8; size];
    let mut wire = vec![0u8; size + out_sa.overhead()];
    let mut plain = vec![0u8; wire.len()];
    let mut sum = 0usize;
    for _ in 0..count {
        let n = out_sa
            .encapsulate(Instant::ZERO, &inner, 4, &mut wire)
            .expect("encapsulate");
        let d = in_sa
            .decapsulate(Instant::ZERO, &wire[..n], &mut plain)
            .expect("decapsulate");
        sum += d.len;
    }
    println!("{count} packets, {sum} bytes decapsulated");
}
