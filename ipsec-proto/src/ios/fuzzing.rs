//! Bodies of the `ios_config` fuzz target, callable from stable tests that replay the corpus.

use super::{check, parse, render, show};

/// Feeds arbitrary bytes to the IOS configuration parser and checks the invariants:
/// nothing panics, and whatever parses renders to text that parses to the same configuration
/// (and renders identically again). The lints and configuration show commands run on it as well.
/// Returns a description of the first violated invariant.
pub fn ios_config(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = parse(&text) else {
        return Ok(());
    };
    let rendered = render(&parsed.config);
    let again =
        parse(&rendered).map_err(|e| format!("rendered text does not parse: {e}\n{rendered}"))?;
    if again.config != parsed.config {
        return Err(format!(
            "round trip changed the configuration\ninput:\n{text}\nrendered:\n{rendered}"
        ));
    }
    if render(&again.config) != rendered {
        return Err(format!("render is not a fixed point\n{rendered}"));
    }
    let _ = check(&parsed.config, Some(&parsed.origins));
    let _ = show::show_crypto_map(&parsed.config, show::IosFlavor::V15, &|_, _| None);
    let _ = show::show_crypto_isakmp_policy(&parsed.config);
    let _ = show::show_crypto_ipsec_transform_set(&parsed.config);
    Ok(())
}
