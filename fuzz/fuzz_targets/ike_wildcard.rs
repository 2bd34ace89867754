//! A gateway with one wildcard pre-shared key and two peers that both know it: whatever the
//! attacking peer sends over its own authenticated ISAKMP SA, the victim's SAs at the gateway
//! stay (see `ipsec_proto::ike::fuzzing_wildcard`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ipsec_proto::ike::fuzzing_wildcard::wildcard_peers(data);
});
