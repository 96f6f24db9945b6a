//! Golden cases, one per row of `golden/*.jsonl`: adding a case is adding a row.

use invoice_edge_core::rules::{SellerRules, TaxProfileEntry};
use invoice_edge_core::{totals_from_bytes, Payment};
use serde_json::Value;

fn rows(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}: {line}")))
        .collect()
}

fn body(row: &Value) -> Vec<u8> {
    match row.get("body") {
        Some(Value::String(raw)) => raw.clone().into_bytes(),
        _ => row["request"].to_string().into_bytes(),
    }
}

fn profile(row: &Value) -> Option<Vec<TaxProfileEntry>> {
    row.get("profile")
        .map(|p| serde_json::from_value(p.clone()).unwrap())
}

fn seller<'a>(row: &Value, profile: &'a Option<Vec<TaxProfileEntry>>) -> Option<SellerRules<'a>> {
    profile.as_deref().map(|profile| SellerRules {
        profile,
        seller_has_vat_id: row["seller_has_vat_id"].as_bool().unwrap_or(true),
        seller_country: Some("CN"),
    })
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn totals_match_the_golden_rows() {
    let rows = rows("totals.jsonl");
    assert!(rows.len() >= 15);
    for row in rows {
        let case = row["case"].as_str().unwrap();
        let profile = profile(&row);
        let invoice = totals_from_bytes(&body(&row), seller(&row, &profile), Payment::AsRequested)
            .unwrap_or_else(|problem| panic!("{case}: {problem:?}"));
        let computed = serde_json::to_value(&invoice).unwrap();
        for field in ["net", "tax", "gross", "paid", "payable"] {
            assert_eq!(
                computed["totals"][field], row["totals"][field],
                "{case}: totals.{field}"
            );
        }
        let lines = computed["lines"].as_array().unwrap();
        let column = |name: &str| -> Vec<String> {
            lines
                .iter()
                .map(|l| l[name].as_str().unwrap().to_string())
                .collect()
        };
        if let Some(expected) = row.get("line_tax") {
            assert_eq!(column("tax_amount"), strings(expected), "{case}: line tax");
        }
        if let Some(expected) = row.get("line_net") {
            assert_eq!(column("net_amount"), strings(expected), "{case}: line net");
        }
        if let Some(expected) = row.get("groups") {
            assert_eq!(
                computed["tax_breakdown"].as_array().unwrap().len() as u64,
                expected.as_u64().unwrap(),
                "{case}: groups"
            );
        }
        if let Some(expected) = row.get("buyer_tax_id") {
            assert_eq!(
                &computed["buyer"]["tax_id"], expected,
                "{case}: buyer tax id"
            );
        }
        if let Some(expected) = row.get("reasons") {
            let reasons: Vec<Value> = lines
                .iter()
                .map(|l| l["exemption_reason"].clone())
                .collect();
            assert_eq!(&Value::Array(reasons), expected, "{case}: reasons");
        }
    }
}

#[test]
fn errors_match_the_golden_rows_exactly() {
    let rows = rows("errors.jsonl");
    assert!(rows.len() >= 25);
    for row in rows {
        let case = row["case"].as_str().unwrap();
        let profile = profile(&row);
        let problem = totals_from_bytes(&body(&row), seller(&row, &profile), Payment::AsRequested)
            .err()
            .unwrap_or_else(|| panic!("{case}: accepted"));
        let found: Vec<(String, String)> = problem
            .errors
            .iter()
            .map(|e| (e.pointer.clone(), e.code.as_str().to_string()))
            .collect();
        let mut expected: Vec<(String, String)> = row["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_string(),
                    pair[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let (mut found_sorted, expected_first) = (found.clone(), expected[0].clone());
        found_sorted.sort();
        expected.sort();
        assert_eq!(found_sorted, expected, "{case}");
        assert_eq!(
            problem.code.as_str(),
            found[0].1,
            "{case}: top-level code is errors[0].code"
        );
        if let Some(status) = row.get("status") {
            assert_eq!(
                u64::from(problem.status),
                status.as_u64().unwrap(),
                "{case}: status"
            );
            assert_eq!(found[0], expected_first, "{case}: first error");
        }
    }
}
