//! docs/ARCHITECTURE.md is the repository's design document, and code comments cite it by
//! section. Its error catalogue must list every code with the status the code answers with, and
//! the sections the comments cite must exist, so neither can drift from the code silently.

use invoice_edge_core::Code;

fn architecture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ARCHITECTURE.md");
    std::fs::read_to_string(path).expect("docs/ARCHITECTURE.md at the repository root")
}

#[test]
fn every_code_is_in_the_error_catalogue_with_its_status() {
    let doc = architecture();
    let wrong: Vec<String> = Code::ALL
        .iter()
        .map(|code| format!("| `{}` | {} |", code.as_str(), code.status()))
        .filter(|row| !doc.contains(row.as_str()))
        .collect();
    assert!(
        wrong.is_empty(),
        "rows missing from docs/ARCHITECTURE.md, \"Error catalogue\" (or with another status): {wrong:?}"
    );
}

#[test]
fn the_cited_sections_exist() {
    let doc = architecture();
    let headings: Vec<&str> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .collect();
    let missing: Vec<&str> = [
        "Who uses it",
        "Parts",
        "Series",
        "Edge issuance path",
        "Delivery to the origin",
        "Offline limits",
        "The invoice request",
        "The issued document",
        "Authentication",
        "Money rules",
        "Limits",
        "HTTP surface of the edge",
        "Configuration names",
        "Origin ledger protocol",
        "Storage records",
        "Error catalogue",
        "CORS",
        "Webhooks",
        "Credit notes",
    ]
    .into_iter()
    .filter(|section| !headings.contains(section))
    .collect();
    assert!(missing.is_empty(), "sections missing: {missing:?}");
}
