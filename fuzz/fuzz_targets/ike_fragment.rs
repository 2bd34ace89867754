//! IKE fragment reassembly: split-and-reassemble round trips in any order, and arbitrary
//! fragment streams against the per-peer bounds (fragments, bytes, time, peers), also fed to an
//! endpoint with fragmentation on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ipsec_proto::ike::fuzz_fragment_reassembly(data);
});
