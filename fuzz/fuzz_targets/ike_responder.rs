//! A responder endpoint fed sequences of datagrams, time steps and deadline jumps (see
//! `ipsec_proto::ike::fuzzing`); it must not panic and must stay within its stated bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ipsec_proto::ike::fuzzing::responder(data);
});
