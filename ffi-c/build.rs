//! Gives the shared library a versioned SONAME, `libipsecrs.so.<SOVERSION>`, so that programs
//! record that name (not the bare `libipsecrs.so` development symlink) and an ABI break can be
//! installed beside the old library. `rustc-cdylib-link-arg` reaches only the cdylib's link, not
//! the staticlib, the rlib or the test binaries. ffi-c/install.sh reads the SONAME back from the
//! built library, so this constant is the only place it is written.
//!
//! SOVERSION is the ABI generation, not the crate version: it goes up by one with every release
//! that breaks the ABI (see "ABI policy" in ffi-c/README.md).

const SOVERSION: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // ELF targets with a GNU-compatible linker; macOS uses install names instead.
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libipsecrs.so.{SOVERSION}");
    }
}
