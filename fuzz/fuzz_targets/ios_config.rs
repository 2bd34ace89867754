#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = ipsec_proto::ios::fuzzing::ios_config(data) {
        panic!("{e}");
    }
});
