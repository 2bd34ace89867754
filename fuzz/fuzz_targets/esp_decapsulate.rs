#![no_main]
// Body lives in the library so the corpus replays as an ordinary test on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _accepted = ipsec_proto::esp::fuzzing::esp_decapsulate(data);
});
