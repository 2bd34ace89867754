#![no_main]
// Body lives in the library so the corpus replays as an ordinary test on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ipsec_proto::esp::fuzzing::udp4500_classify(data);
});
