//! The error catalogue is documented: every code appears in openapi.yaml's ErrorCode enum.

use invoice_edge_core::Code;

#[test]
fn every_code_is_documented_in_openapi_yaml() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let openapi = std::fs::read_to_string(path).expect("openapi.yaml at the repository root");
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !openapi.contains(&format!("- {code}\n")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes missing from openapi.yaml's ErrorCode enum: {missing:?}"
    );
}
