//! Replays the `ios_config` fuzz corpus (and any crash artifacts) on stable Rust.

use std::path::Path;

fn replay(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in rd {
        let path = entry.unwrap().path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap();
            if let Err(e) = ipsec_proto::ios::fuzzing::ios_config(&data) {
                panic!("{}: {e}", path.display());
            }
            n += 1;
        }
    }
    n
}

#[test]
fn ios_config_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let n = replay(&root.join("corpus/ios_config"));
    assert!(n >= 7, "corpus missing ({n} files)");
    replay(&root.join("artifacts/ios_config"));
}

#[test]
fn seed_corpus_entries_parse() {
    // The checked-in seeds are meant to exercise the parser, not only its error path.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ios_config");
    for name in [
        "seed_site_a.txt",
        "reference_r1.txt",
        "reference_r2.txt",
        "abbreviated.txt",
        "named_acls.txt",
    ] {
        let text = std::fs::read(dir.join(name)).unwrap();
        // `parse_for_check`: `abbreviated.txt` also abbreviates `reverse-route`, which `parse`
        // refuses (not implemented yet); the seeds are there to exercise the grammar.
        let p = ipsec_proto::ios::config::parse_for_check(&text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !p.config.interfaces.is_empty() || !p.config.access_lists.is_empty(),
            "{name}"
        );
    }
    let text = std::fs::read_to_string(dir.join("errors.txt")).unwrap();
    assert!(ipsec_proto::ios::parse(&text).is_err());
}
