//! Two IKE endpoints negotiating over a network the fuzzer controls (drop, duplicate, corrupt,
//! reorder, replace, time jumps); invariants are asserted inside the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ipsec_proto::ike::fuzzing::endpoint_pair(data);
});
