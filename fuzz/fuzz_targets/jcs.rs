//! RFC 8785 canonicalization: any JSON value. It must never panic, its output must be JSON that
//! parses back to the same value, and canonicalizing that again must give the same bytes.
#![no_main]

use invoice_edge_core::canonical::canonicalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let canonical = canonicalize(&value);
    let reparsed: serde_json::Value = serde_json::from_str(&canonical).expect("JCS output is JSON");
    assert_eq!(canonicalize(&reparsed), canonical, "JCS is idempotent");
});
