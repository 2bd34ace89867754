//! Replays the checked-in corpora of the ESP fuzz targets through the same bodies, on stable.

use std::path::Path;

fn replay(target: &str, mut body: impl FnMut(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            body(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}

#[test]
fn esp_decapsulate_corpus() {
    let mut accepted = 0;
    replay("esp_decapsulate", |d| {
        accepted += usize::from(ipsec_proto::esp::fuzzing::esp_decapsulate(d))
    });
    // The seeds include valid packets, so the success path is exercised too.
    assert!(accepted >= 2, "only {accepted} accepted");
}

#[test]
fn esp_decapsulate_seeds_reach_acceptance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/esp_decapsulate");
    for seed in ["enc_only_valid", "enc_only_longpad"] {
        let data = std::fs::read(dir.join(seed)).unwrap();
        assert!(ipsec_proto::esp::fuzzing::esp_decapsulate(&data), "{seed}");
    }
}

#[test]
fn replay_window_corpus() {
    replay("replay_window", ipsec_proto::esp::fuzzing::replay_window);
}

#[test]
fn udp4500_classify_corpus() {
    replay(
        "udp4500_classify",
        ipsec_proto::esp::fuzzing::udp4500_classify,
    );
}
