//! The request's serde fast path (`parse_request_fast`) against the collecting reader
//! (`parse_json` + `parse_request`): whenever the fast path answers, the reader accepts the same
//! body, reads the same request, and its general RFC 8785 form equals the fast path's canonical
//! text (the idempotency fingerprint). A valid plain request always takes the fast path.

use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::json_reader::parse_json;
use invoice_edge_core::request::{parse_request, parse_request_fast};
use proptest::prelude::*;
use serde_json::{json, Value};

const CURRENCIES: &[&str] = &["CNY", "JPY", "EUR", "KWD", "XXX"];
/// Strings that test each rule: plain, non-ASCII, escapes, blank, controls, bidi, invisible,
/// too long, and `null` inside a string (the fast path leaves any `null` to the reader).
const TEXTS: &[&str] = &[
    "tea",
    "绿茶 Green tea",
    "quote \" and backslash \\",
    "Room 1\nBuilding 2",
    "tab\there",
    "",
    "   ",
    "bell\u{7}",
    "c1\u{85}",
    "bidi \u{202E}",
    "\u{200B}\u{200B}",
    "nullable",
    "\u{1F600} emoji",
];
const DECIMALS: &[&str] = &[
    "1",
    "2.5",
    "0.125",
    "-1",
    "-0",
    "19.90",
    "1e3",
    "+1",
    "1.",
    "12345678901234567890",
    "0.0000001",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..TEXTS.len()).prop_map(|i| TEXTS[i].to_string()),
        1 => Just("x".repeat(501)),
    ]
}

fn decimal() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => (0..DECIMALS.len()).prop_map(|i| json!(DECIMALS[i])),
        1 => Just(json!(3)),
        1 => Just(Value::Null),
    ]
}

prop_compose! {
    fn line()(description in text(), quantity in decimal(), price in decimal(),
              category in prop::sample::select(vec!["S", "Z", "E", "Q"]),
              rate in prop::option::of(prop::sample::select(vec!["13", "0", "101", "9.975", "1.23456"])),
              unit in prop::option::of(prop::sample::select(vec!["H87", "KGM", "kg"])),
              reason in prop::option::of(text()), extra in any::<bool>()) -> Value {
        let mut line = json!({"description": description, "quantity": quantity, "unit_price": price, "tax_category": category});
        if let Some(rate) = rate { line["tax_rate"] = json!(rate); }
        if let Some(unit) = unit { line["unit_code"] = json!(unit); }
        if let Some(reason) = reason { line["exemption_reason"] = json!(reason); }
        if extra { line["colour"] = json!("red"); }
        line
    }
}

prop_compose! {
    fn buyer()(kind in prop::option::of(prop::sample::select(vec!["company", "individual", "robot"])),
               name in prop::option::of(text()), tax_id in prop::option::of(text()),
               country in prop::option::of(prop::sample::select(vec!["CN", "DE", "XX", "cn"])),
               email in prop::option::of(prop::sample::select(vec!["a@b.cn", "not an email"])),
               line in prop::option::of(text()), city in prop::option::of(text())) -> Value {
        let mut buyer = json!({});
        if let Some(kind) = kind { buyer["kind"] = json!(kind); }
        if let Some(name) = name { buyer["name"] = json!(name); }
        if let Some(tax_id) = tax_id { buyer["tax_id"] = json!(tax_id); }
        if let Some(country) = country { buyer["country"] = json!(country); }
        if let Some(email) = email { buyer["email"] = json!(email); }
        if line.is_some() || city.is_some() {
            buyer["address"] = json!({});
            if let Some(line) = line { buyer["address"]["line"] = json!(line); }
            if let Some(city) = city { buyer["address"]["city"] = json!(city); }
        }
        buyer
    }
}

prop_compose! {
    fn request()(currency in 0..CURRENCIES.len(), order in prop::sample::select(vec!["A-1", "bad order", "x:y.z_1"]),
                 inclusive in prop::option::of(any::<bool>()), lines in prop::collection::vec(line(), 0..4),
                 buyer in prop::option::of(buyer()), paid in prop::option::of(decimal()),
                 series in prop::option::of(prop::sample::select(vec!["SHOP", "bad/series"])),
                 supply in prop::option::of(prop::sample::select(vec!["2026-11-30", "2026-02-30"])),
                 delivery in prop::option::of(prop::sample::select(vec!["CN", "XX"]))) -> Value {
        let mut request = json!({"currency": CURRENCIES[currency], "order_id": order, "lines": lines});
        if let Some(inclusive) = inclusive { request["prices_include_tax"] = json!(inclusive); }
        if let Some(buyer) = buyer { request["buyer"] = buyer; }
        if let Some(paid) = paid { request["paid_amount"] = paid; }
        if let Some(series) = series { request["series"] = json!(series); }
        if let Some(supply) = supply { request["supply_date"] = json!(supply); }
        if let Some(delivery) = delivery { request["delivery"] = json!({"country": delivery}); }
        request
    }
}

/// The fast path never disagrees with the reader: when it answers, the reader accepts the body
/// with the same request, and the canonical texts are equal.
fn agrees(body: &[u8]) -> Result<bool, TestCaseError> {
    let fast = parse_request_fast(body);
    let slow = parse_json(body)
        .map_err(|error| vec![error])
        .and_then(|value| parse_request(&value).map(|request| (request, value)));
    match (fast, slow) {
        (Some(fast), Ok((request, value))) => {
            prop_assert_eq!(&fast.request, &request);
            prop_assert_eq!(fast.canonical, canonicalize(&value).into_bytes());
            Ok(true)
        }
        (Some(_), Err(errors)) => Err(TestCaseError::fail(format!(
            "the fast path accepted what the reader refuses: {errors:?}"
        ))),
        (None, _) => Ok(false),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_fast_path_reads_what_the_reader_reads(request in request(), pretty in any::<bool>()) {
        let body = if pretty { serde_json::to_vec_pretty(&request) } else { serde_json::to_vec(&request) }.unwrap();
        agrees(&body)?;
        // A valid request with no `null` in it takes the fast path.
        let valid = parse_json(&body).ok().is_some_and(|value| parse_request(&value).is_ok());
        if valid && !body.windows(4).any(|w| w == b"null") {
            prop_assert!(parse_request_fast(&body).is_some());
        }
    }

    #[test]
    fn duplicate_keys_and_escapes_never_fool_the_fast_path(request in request(), escape in any::<bool>()) {
        let text = serde_json::to_string(&request).unwrap();
        // The first key named twice: the reader refuses it as DUPLICATE_KEY.
        let duplicated = text.replacen('{', r#"{"order_id":"DUP-1","#, 1);
        prop_assert!(parse_request_fast(duplicated.as_bytes()).is_none());
        // The same text written with \u escapes reads as the same request.
        if escape {
            let escaped = text.replace("\"tea\"", "\"\\u0074ea\"");
            agrees(escaped.as_bytes())?;
        }
    }
}

#[test]
fn the_benchmark_fixture_takes_the_fast_path() {
    let body = include_bytes!("../../../benches/fixtures/ten_lines.json");
    assert!(parse_request_fast(body).is_some());
    assert!(agrees(body).unwrap());
}
