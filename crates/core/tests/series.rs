//! The series chain, numbering and series resolution (docs/ARCHITECTURE.md, "Series" and "The issued
//! document"): golden numbers across the year boundary, and a property test that a verifier
//! detects any gap, swap, tamper or foreign key in a random series.

use invoice_edge_core::date::parse_rfc3339_millis;
use invoice_edge_core::document::issue::{issue, IssueContext};
use invoice_edge_core::document::model::SignedInvoice;
use invoice_edge_core::document::sign::{invoice_hash, request_fingerprint, sign, Channel};
use invoice_edge_core::keys::{EdKey, Jwks};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::numbering::{render_number, NumberFormat, UtcOffset};
use invoice_edge_core::series::{
    next_position, verify_chain, ChainPosition, SeriesHead, GENESIS_PREV_HASH,
};
use invoice_edge_core::{parse_request, Code, Payment};
use proptest::prelude::*;
use serde_json::{json, Value};

#[test]
fn numbers_follow_the_golden_cases_across_the_year_boundary() {
    let text = include_str!("golden/numbers.jsonl");
    let mut cases = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let format = NumberFormat::parse(case["format"].as_str().unwrap()).unwrap();
        let offset = UtcOffset::parse(case["utc_offset"].as_str().unwrap()).unwrap();
        let at = parse_rfc3339_millis(case["issued_at"].as_str().unwrap()).unwrap();
        let number = render_number(
            &format,
            case["series"].as_str().unwrap(),
            case["seq"].as_u64().unwrap(),
            at,
            offset,
        );
        assert_eq!(number, case["number"].as_str().unwrap(), "{}", case["case"]);
        cases += 1;
    }
    assert!(cases >= 8);
}

fn merchant(series: Value) -> MerchantConfig {
    serde_json::from_value(json!({
        "id": "shop",
        "seller": {"name": "Shop", "country": "CN", "tax_id": "91110000600037341L"},
        "tax_profile": [{"category": "S", "rate": "13"}],
        "series": series,
        "utc_offset": "+08:00",
    }))
    .unwrap()
}

fn request(order: &str, series: Option<&str>) -> Value {
    let mut request = json!({"currency": "CNY", "order_id": order,
        "lines": [{"description": "tea", "quantity": "1", "unit_price": "10.00", "tax_category": "S", "tax_rate": "13"}]});
    if let Some(series) = series {
        request["series"] = json!(series);
    }
    request
}

fn issue_in(
    merchant: &MerchantConfig,
    request: &Value,
    key: &EdKey,
    head: Option<&SeriesHead>,
    now_ms: i64,
) -> Result<SignedInvoice, Vec<Code>> {
    let parsed =
        parse_request(request).map_err(|e| e.iter().map(|e| e.code).collect::<Vec<_>>())?;
    let position = next_position(head, now_ms).unwrap();
    let context = IssueContext {
        id: format!("01900000-0000-7000-8000-{:012x}", position.seq),
        issued_at_ms: position.issued_at_ms,
        edge_node: "test".into(),
        key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq: position.seq,
            prev_hash: position.prev_hash,
        },
    };
    issue(parsed, merchant, Payment::AsRequested, &context)
        .map_err(|e| e.iter().map(|e| e.code).collect())
}

#[test]
fn series_are_resolved_by_name_and_required_when_there_are_several() {
    let key = EdKey::from_seed(&[1; 32]);
    let one = merchant(json!([{"name": "SHOP"}]));
    let signed = issue_in(&one, &request("a", None), &key, None, 1_798_732_800_000).unwrap();
    // 2027-01-01T00:00:00Z is 08:00 in +08:00: the local year and date.
    assert_eq!(signed.invoice.number.as_str(), "SHOP-2027-00000001");
    assert_eq!(signed.invoice.supply_date.to_string(), "2027-01-01");

    let two = merchant(
        json!([{"name": "A"}, {"name": "B", "number_format": "B{seq:03}-{series}"}, {"name": "OLD", "retired": true}]),
    );
    assert_eq!(
        issue_in(&two, &request("a", None), &key, None, 0).unwrap_err(),
        [Code::SeriesRequired]
    );
    assert_eq!(
        issue_in(&two, &request("a", Some("C")), &key, None, 0).unwrap_err(),
        [Code::UnknownSeries]
    );
    assert_eq!(
        issue_in(&two, &request("a", Some("OLD")), &key, None, 0).unwrap_err(),
        [Code::SeriesRetired]
    );
    assert_eq!(
        issue_in(&two, &request("a", Some("no/slash")), &key, None, 0).unwrap_err(),
        [Code::UnknownSeries]
    );
    let b = issue_in(&two, &request("a", Some("B")), &key, None, 0).unwrap();
    assert_eq!(
        (b.invoice.series.as_str(), b.invoice.number.as_str()),
        ("B", "B001-B")
    );
}

#[test]
fn the_fingerprint_depends_on_how_the_request_was_made() {
    let body = request("a", None);
    let reordered: Value = serde_json::from_str(&body.to_string()).unwrap();
    assert_eq!(
        request_fingerprint(&body, Channel::ApiKey),
        request_fingerprint(&reordered, Channel::ApiKey)
    );
    assert_ne!(
        request_fingerprint(&body, Channel::ApiKey),
        request_fingerprint(&body, Channel::CheckoutToken)
    );
}

#[test]
fn merchant_validation_enforces_the_series_rules() {
    let mut config = merchant(
        json!([{"name": "A"}, {"name": "A"}, {"name": "bad/name", "location_hint": "mars"}]),
    );
    let problems = config.validate().unwrap_err().join("\n");
    assert!(problems.contains("listed twice"), "{problems}");
    assert!(problems.contains("bad/name"), "{problems}");
    assert!(problems.contains("mars"), "{problems}");
    config.series.clear();
    assert!(config
        .validate()
        .unwrap_err()
        .join("")
        .contains("at least one series"));
    let many: Vec<Value> = (0..=invoice_edge_core::merchant::MAX_SERIES)
        .map(|i| json!({"name": format!("S{i}")}))
        .collect();
    let too_many = merchant(Value::Array(many.clone())).validate().unwrap_err();
    assert!(too_many.join("").contains("at most"), "{too_many:?}");
    assert!(merchant(Value::Array(many[1..].to_vec()))
        .validate()
        .is_ok());
    assert!(
        serde_json::from_value::<MerchantConfig>(json!({
            "id": "x", "seller": {"name": "S", "country": "CN"}, "tax_profile": [],
            "series": [{"name": "A", "number_format": "{year}-{seq}"}]
        }))
        .is_err(),
        "a format without {{series}} is refused when read"
    );
}

/// A series of `n` documents signed with `key`, as one series' object would issue them.
fn series_of(n: usize, key: &EdKey) -> Vec<SignedInvoice> {
    let shop = merchant(json!([{"name": "SHOP"}]));
    let mut head: Option<SeriesHead> = None;
    let mut out = Vec::new();
    for i in 0..n {
        let signed = issue_in(
            &shop,
            &request(&format!("o-{i}"), None),
            key,
            head.as_ref(),
            1_795_600_800_000 + i as i64,
        )
        .unwrap();
        head = Some(SeriesHead {
            seq: signed.invoice.seq,
            hash: hex::encode(invoice_hash(&signed.invoice)),
            issued_at_ms: 1_795_600_800_000 + i as i64,
        });
        out.push(signed);
    }
    out
}

fn values(documents: &[SignedInvoice]) -> Vec<Value> {
    documents
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect()
}

#[derive(Clone, Debug)]
enum Damage {
    Gap(usize),
    Swap(usize, usize),
    Tamper(usize),
    ForeignKey(usize),
    Relink(usize),
}

fn damage(n: usize) -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0..n).prop_map(Damage::Gap),
        (0..n, 0..n)
            .prop_filter("two places", |(a, b)| a != b)
            .prop_map(|(a, b)| Damage::Swap(a, b)),
        (0..n).prop_map(Damage::Tamper),
        (0..n).prop_map(Damage::ForeignKey),
        (0..n).prop_map(Damage::Relink),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_gap_swap_tamper_or_foreign_key_is_detected((n, damage) in (3usize..12).prop_flat_map(|n| (Just(n), damage(n)))) {
        let key = EdKey::from_seed(&[4; 32]);
        let foreign = EdKey::from_seed(&[5; 32]);
        let jwks = Jwks { keys: vec![key.public_jwk()] };
        let documents = series_of(n, &key);
        let summary = verify_chain(&values(&documents), &jwks).unwrap();
        prop_assert_eq!((summary.first_seq, summary.last_seq), (1, n as u64));

        let mut damaged = documents.clone();
        match damage {
            // Removing the last document leaves a valid, shorter series: not damage.
            Damage::Gap(i) => { prop_assume!(i + 1 < n); damaged.remove(i); }
            Damage::Swap(a, b) => damaged.swap(a, b),
            Damage::Tamper(i) => damaged[i].invoice.order_id.push('x'),
            Damage::ForeignKey(i) => damaged[i] = sign(damaged[i].invoice.clone(), &foreign),
            // Re-signed with the right key, but linked to nothing: a forged predecessor.
            Damage::Relink(i) => {
                let mut invoice = damaged[i].invoice.clone();
                invoice.prev_hash = hex::encode([0xab; 32]);
                damaged[i] = sign(invoice, &key);
            }
        }
        prop_assert!(verify_chain(&values(&damaged), &jwks).is_err());
    }
}

#[test]
fn a_chain_must_start_at_genesis_and_stay_in_one_series() {
    let key = EdKey::from_seed(&[4; 32]);
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let documents = series_of(3, &key);
    assert_eq!(documents[0].invoice.prev_hash.as_str(), GENESIS_PREV_HASH);
    // A file without seq 1 is refused: its first document may be the missing one.
    let excerpt = verify_chain(&values(&documents[1..]), &jwks).unwrap_err();
    assert!(
        excerpt.detail.contains("starts at seq 2"),
        "{}",
        excerpt.detail
    );
    let mut other = documents.clone();
    other[2].invoice.series = "OTHER".into();
    other[2] = sign(other[2].invoice.clone(), &key);
    let error = verify_chain(&values(&other), &jwks).unwrap_err();
    assert_eq!(error.index, 2);
    assert!(verify_chain(&[], &jwks).is_err());
}
