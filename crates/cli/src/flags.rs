//! Flag values that clap cannot check by their type alone. Each parser returns the reason as
//! text, which clap prints as a usage error (exit 2).

use invoice_edge_core::merchant::is_valid_series_name;
use invoice_edge_core::series::is_hash_hex;

/// `--series NAME`: 1-32 of `[A-Za-z0-9_-]` (docs/ARCHITECTURE.md, "Series").
pub fn series_name(text: &str) -> Result<String, String> {
    if is_valid_series_name(text) {
        Ok(text.to_string())
    } else {
        Err("a series name is 1-32 characters of A-Z, a-z, 0-9, '_' or '-'".into())
    }
}

/// `--prev-hash HEX`: an invoice hash, 64 lower-case hex digits.
pub fn hash_hex(text: &str) -> Result<String, String> {
    if is_hash_hex(text) {
        Ok(text.to_string())
    } else {
        Err("an invoice hash is 64 lower-case hex digits (64 zeros before seq 1)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_and_hashes_are_checked_before_anything_runs() {
        assert_eq!(series_name("WEB-2027"), Ok("WEB-2027".into()));
        assert!(series_name("a/b").is_err());
        assert!(series_name(&"A".repeat(33)).is_err());
        assert!(hash_hex(&"0".repeat(64)).is_ok());
        assert!(hash_hex(&"A".repeat(64)).is_err());
        assert!(hash_hex("abc").is_err());
    }
}
