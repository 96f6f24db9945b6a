//! Property tests for the money invariants (EN 16931 BR-CO-10..16) and for robustness.

use invoice_edge_core::{totals_from_bytes, Currency, Payment};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const CURRENCIES: &[&str] = &["CNY", "JPY", "KWD", "EUR", "CLF"];
const TAXES: &[(&str, &str)] = &[
    ("S", "13"),
    ("S", "9"),
    ("S", "6"),
    ("S", "19"),
    ("S", "14.975"),
    ("S", "5.5"),
    ("Z", "0"),
    ("E", "0"),
];

/// A decimal string from an integer mantissa and a scale, e.g. (1234, 2) → "12.34".
fn decimal_text(mantissa: i64, scale: u32) -> String {
    Decimal::new(mantissa, scale).to_string()
}

prop_compose! {
    fn line()(quantity in -3i64..60, quantity_scale in 0u32..3, price in 0i64..2_000_000, price_scale in 0u32..4, tax in 0..TAXES.len()) -> Value {
        let (category, rate) = TAXES[tax];
        let mut line = json!({
            "description": "item",
            "quantity": decimal_text(quantity, quantity_scale),
            "unit_price": decimal_text(price, price_scale),
            "tax_category": category,
            "tax_rate": rate,
        });
        if category == "E" {
            line["exemption_reason"] = json!("exempt");
        }
        line
    }
}

prop_compose! {
    fn request()(currency in 0..CURRENCIES.len(), inclusive in any::<bool>(), lines in prop::collection::vec(line(), 1..25)) -> Value {
        json!({"currency": CURRENCIES[currency], "order_id": "prop-1", "prices_include_tax": inclusive, "lines": lines})
    }
}

fn money(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

fn sum(values: impl Iterator<Item = Decimal>) -> Decimal {
    values.fold(Decimal::ZERO, |a, b| a + b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn totals_obey_br_co_10_to_16_and_lines_sum_to_their_groups(request in request()) {
        let outcome = totals_from_bytes(request.to_string().as_bytes(), None, Payment::AsRequested);
        let invoice = match outcome {
            Ok(invoice) => serde_json::to_value(invoice).unwrap(),
            // Discounts can outweigh the goods; a negative total is rejected by design.
            Err(problem) => {
                prop_assert_eq!(problem.code.as_str(), "NEGATIVE_TOTAL");
                return Ok(());
            }
        };
        let totals = &invoice["totals"];
        let lines = invoice["lines"].as_array().unwrap();
        let groups = invoice["tax_breakdown"].as_array().unwrap();
        // BR-CO-10: Σ line net = net (no document-level allowances or charges).
        prop_assert_eq!(sum(lines.iter().map(|l| money(&l["net_amount"]))), money(&totals["net"]));
        // BR-CO-13 and BR-CO-14: totals are the sums of the breakdown.
        prop_assert_eq!(sum(groups.iter().map(|g| money(&g["taxable_amount"]))), money(&totals["net"]));
        prop_assert_eq!(sum(groups.iter().map(|g| money(&g["tax_amount"]))), money(&totals["tax"]));
        // BR-CO-15 and BR-CO-16.
        prop_assert_eq!(money(&totals["net"]) + money(&totals["tax"]), money(&totals["gross"]));
        prop_assert_eq!(money(&totals["gross"]) - money(&totals["paid"]), money(&totals["payable"]));
        // Lines add up to their group exactly.
        for group in groups {
            let members: Vec<&Value> = lines.iter().filter(|l| l["tax_category"] == group["tax_category"] && l["tax_rate"] == group["tax_rate"]).collect();
            prop_assert!(!members.is_empty());
            prop_assert_eq!(sum(members.iter().map(|l| money(&l["tax_amount"]))), money(&group["tax_amount"]));
            prop_assert_eq!(sum(members.iter().map(|l| money(&l["net_amount"]))), money(&group["taxable_amount"]));
        }
    }

    #[test]
    fn output_money_has_exactly_the_currency_digits(request in request()) {
        let currency = Currency::from_code(request["currency"].as_str().unwrap()).unwrap();
        if let Ok(invoice) = totals_from_bytes(request.to_string().as_bytes(), None, Payment::AsRequested) {
            let invoice = serde_json::to_value(invoice).unwrap();
            let mut amounts: Vec<&Value> = invoice["totals"].as_object().unwrap().values().collect();
            for line in invoice["lines"].as_array().unwrap() {
                amounts.extend([&line["net_amount"], &line["tax_amount"]]);
            }
            for group in invoice["tax_breakdown"].as_array().unwrap() {
                amounts.extend([&group["taxable_amount"], &group["tax_amount"]]);
            }
            for amount in amounts {
                let text = amount.as_str().unwrap();
                let digits = text.split_once('.').map_or(0, |(_, f)| f.len());
                prop_assert_eq!(digits as u32, currency.minor_digits(), "{}", text);
            }
        }
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = totals_from_bytes(&bytes, None, Payment::AsRequested);
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_json_like_text(text in r#"\{("[a-z_]{1,12}":("[-0-9.eE]{0,25}"|[-0-9.eE]{1,25}|\[\{.{0,40}\}\]|null|true),?){0,8}\}"#) {
        let _ = totals_from_bytes(text.as_bytes(), None, Payment::AsRequested);
    }
}
