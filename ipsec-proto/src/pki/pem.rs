//! PEM armour (RFC 7468): every block of a text, in order, whatever its label.

/// One decoded PEM block.
pub(crate) struct Block {
    /// The label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...).
    pub label: String,
    /// The decoded bytes (may be a secret: callers that hold keys zeroize them).
    pub der: Vec<u8>,
}

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// Every `-----BEGIN X----- ... -----END X-----` block of `text`; text between blocks (OpenSSL
/// `Bag Attributes`, comments) is skipped, as the tools that write such files expect.
pub(crate) fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let from_begin = rest.get(start..).unwrap_or_default();
        let after_begin = from_begin.get(BEGIN.len()..).unwrap_or_default();
        let label_len = after_begin
            .find(DASHES)
            .ok_or_else(|| "unterminated BEGIN line".to_string())?;
        let label = after_begin.get(..label_len).unwrap_or_default();
        let end_marker = format!("-----END {label}-----");
        let end_at = from_begin
            .find(&end_marker)
            .ok_or_else(|| format!("no END line for {label}"))?;
        let block_len = end_at + end_marker.len();
        let block = from_begin.get(..block_len).unwrap_or_default();
        let (decoded_label, der) = pem_rfc7468::decode_vec(block.as_bytes())
            .map_err(|e| format!("bad PEM block {label}: {e}"))?;
        out.push(Block {
            label: decoded_label.to_string(),
            der,
        });
        rest = from_begin.get(block_len..).unwrap_or_default();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_in_order_and_garbage_between() {
        let text = concat!(
            "Bag Attributes\n",
            include_str!("testdata/ca.pem"),
            "junk\n",
            include_str!("testdata/gw1.pem")
        );
        let b = blocks(text).unwrap();
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|b| b.label == "CERTIFICATE"));
        assert!(blocks("-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
        assert!(blocks("-----BEGIN CERT").is_err());
        assert!(blocks("no pem here").unwrap().is_empty());
    }
}
