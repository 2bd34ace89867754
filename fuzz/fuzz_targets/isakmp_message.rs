//! Parse arbitrary bytes as an ISAKMP message; whatever parses must re-emit to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ipsec_proto::wire::fuzzing::isakmp_message(data);
});
