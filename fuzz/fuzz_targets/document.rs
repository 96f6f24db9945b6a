//! Document verification (`POST /v1/verify`, the origin, the CLI): any JSON against a JWKS.
//! It must never panic and never call a document valid unless its signature verifies.
#![no_main]

use invoice_edge_core::document::verify::verify;
use invoice_edge_core::json_reader::parse_json;
use invoice_edge_core::keys::{EdKey, Jwks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = parse_json(data) else {
        return;
    };
    let key = EdKey::from_seed(&[9; 32]);
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let verdict = verify(&value, &jwks);
    if verdict.valid {
        // Nobody but the holder of the seed can sign; the fuzzer cannot forge a signature, so a
        // valid verdict means a bug.
        panic!("a fuzzed document verified: {value}");
    }
});
