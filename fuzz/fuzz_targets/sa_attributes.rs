//! Parse arbitrary bytes as an SA payload body, proposal and attribute run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ipsec_proto::wire::fuzzing::sa_attributes(data);
});
