//! `ipsec-engine` command line.

fn main() {
    eprintln!("ipsec-engine: no commands yet");
    std::process::exit(2);
}
