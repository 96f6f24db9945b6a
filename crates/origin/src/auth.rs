//! Bearer-token authentication of the ledger routes (docs/ARCHITECTURE.md, "Origin ledger protocol").
//!
//! The origin never holds a token, only the SHA-256 of each one it accepts, one lower-case hex
//! digest a line (`serve --edge-tokens FILE`; two lines during a rotation). `/metrics` has its
//! own file (`--metrics-tokens`), so a monitoring system's credential cannot write the ledger.

use hex::FromHex;
use invoice_edge_core::keys::sha256;
use subtle::ConstantTimeEq;

/// The SHA-256 digests of the tokens a route accepts.
#[derive(Clone, Debug, Default)]
pub struct TokenHashes {
    digests: Vec<[u8; 32]>,
}

impl TokenHashes {
    /// Parses a tokens file: one digest a line; blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<TokenHashes, String> {
        let mut digests = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let digest = <[u8; 32]>::from_hex(line)
                .ok()
                .filter(|_| line.bytes().all(|b| !b.is_ascii_uppercase()))
                .ok_or_else(|| {
                    format!(
                        "line {}: expected the lower-case hex SHA-256 of a token (64 digits), \
                         e.g. `printf %s \"$TOKEN\" | sha256sum`",
                        number + 1
                    )
                })?;
            digests.push(digest);
        }
        if digests.is_empty() {
            return Err("no token digests: every ledger route would refuse every caller".into());
        }
        Ok(TokenHashes { digests })
    }

    pub fn read(path: &std::path::Path) -> Result<TokenHashes, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        TokenHashes::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// True when `token` hashes to one of the digests. Every digest is compared, each in
    /// constant time, so the answer's timing says nothing about which one matched or how much.
    pub fn accepts(&self, token: &str) -> bool {
        let digest = sha256(token.as_bytes());
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |any, known| {
                any | known.ct_eq(&digest)
            })
            .into()
    }

    /// The lower-case hex digest of a token: what a tokens file holds.
    pub fn digest_of(token: &str) -> String {
        hex::encode(sha256(token.as_bytes()))
    }
}

/// The bearer token of an `Authorization` header value, if it is one (RFC 6750 section 2.1).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tokens_at_once_for_a_rotation() {
        let file = format!(
            "# edge tokens\n{}\n\n{}\n",
            TokenHashes::digest_of("old"),
            TokenHashes::digest_of("new")
        );
        let hashes = TokenHashes::parse(&file).unwrap();
        assert!(hashes.accepts("old") && hashes.accepts("new"));
        assert!(!hashes.accepts("other") && !hashes.accepts(""));
        assert!(TokenHashes::parse("").is_err());
        assert!(TokenHashes::parse("abc").is_err());
        assert!(TokenHashes::parse(&TokenHashes::digest_of("x").to_uppercase()).is_err());
    }

    #[test]
    fn bearer_headers_parse() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
