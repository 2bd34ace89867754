//! The Rust tunnel example runs to the end and prints what the seed shows.

#[test]
fn the_two_tunnels_example_passes_pings_and_prints_the_show_output() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_two_tunnels"))
        .output()
        .expect("run the example");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("QM_IDLE"), "{text}");
    assert!(text.contains("#pkts encaps: 3"), "{text}");
    assert!(text.contains("#pkts decaps: 3"), "{text}");
}
