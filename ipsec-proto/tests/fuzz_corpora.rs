//! Runs every checked-in fuzz corpus file through its target's body on stable Rust, so the
//! corpora act as regression tests in CI. Add a line to `TARGETS` per new fuzz target.

use std::fs;
use std::path::Path;

type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("isakmp_message", ipsec_proto::wire::fuzzing::isakmp_message),
    ("sa_attributes", ipsec_proto::wire::fuzzing::sa_attributes),
];

#[test]
fn fuzz_corpora_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, run) in TARGETS {
        let dir = root.join(name);
        let mut files = 0usize;
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_file() {
                let data = fs::read(&path).unwrap();
                run(&data);
                files += 1;
            }
        }
        assert!(files > 0, "empty corpus {}", dir.display());
    }
}
