//! The `ike_fragment` fuzz corpus replayed on stable: every seed through the same body as the
//! fuzz target, whose assertions (round trips reassemble exactly; the table stays within its
//! bounds; no deadline stays in the past) are the test.

use std::fs;
use std::path::Path;

#[test]
fn ike_fragment_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ike_fragment");
    let mut files = 0usize;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            ipsec_proto::ike::fuzz_fragment_reassembly(&fs::read(&path).unwrap());
            files += 1;
        }
    }
    assert!(files >= 7, "corpus {} has {files} files", dir.display());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    /// The fuzz body on random inputs, on stable: its own assertions are the property.
    #[test]
    fn ike_fragment_body_on_random_inputs(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)
    ) {
        ipsec_proto::ike::fuzz_fragment_reassembly(&data);
    }
}
