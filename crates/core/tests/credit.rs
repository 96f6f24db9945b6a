//! Credit notes (docs/ARCHITECTURE.md, "Credit notes"): the request, the amounts under the money
//! rules, the cap per (category, rate) group and in total, and what cannot be credited.

use invoice_edge_core::credit::{
    check_cap, compute_credit, parse_credit_request, prepare_credit, settle,
};
use invoice_edge_core::document::issue::{finish, issue, IssueContext};
use invoice_edge_core::document::model::{uuid_v7, Document, Invoice, Kind, Rejection};
use invoice_edge_core::document::sign::Channel;
use invoice_edge_core::keys::EdKey;
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::series::ChainPosition;
use invoice_edge_core::tax::TaxBreakdown;
use invoice_edge_core::{parse_request, Code, Payment};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn merchant() -> MerchantConfig {
    serde_json::from_value(json!({
        "id": "demo",
        "seller": {"name": "示例商店", "country": "CN", "tax_id": "91110000600037341L"},
        "tax_profile": [
            {"category": "S", "rate": "13"}, {"category": "S", "rate": "9"}, {"category": "S", "rate": "5"},
            {"category": "Z", "rate": "0"}, {"category": "E", "rate": "0", "exemption_reason": "免税"}
        ],
        "series": [{"name": "DEMO"}],
    }))
    .unwrap()
}

fn context(key: &EdKey, seq: u64) -> IssueContext<'_> {
    IssueContext {
        id: uuid_v7(1_795_600_800_000 + seq, [seq as u8; 10]),
        issued_at_ms: 1_795_600_800_000 + seq as i64,
        edge_node: "test".into(),
        key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq,
            prev_hash: "0".repeat(64),
        },
    }
}

fn invoice(request: Value) -> Invoice {
    let key = EdKey::from_seed(&[3; 32]);
    let request = parse_request(&request).unwrap();
    issue(
        request,
        &merchant(),
        Payment::AsRequested,
        &context(&key, 1),
    )
    .unwrap()
    .invoice
}

fn shop(inclusive: bool) -> Invoice {
    invoice(json!({
        "currency": "CNY", "order_id": "A-1", "prices_include_tax": inclusive,
        "lines": [
            {"description": "tea", "quantity": "10", "unit_price": "10.00", "tax_category": "S", "tax_rate": "13"},
            {"description": "book", "quantity": "2", "unit_price": "49.90", "tax_category": "S", "tax_rate": "9"},
            {"description": "voucher", "quantity": "-1", "unit_price": "5.00", "tax_category": "S", "tax_rate": "13"},
        ],
    }))
}

fn credit(
    original: &Invoice,
    body: Value,
) -> Result<invoice_edge_core::ComputedInvoice, Vec<Code>> {
    let request =
        parse_credit_request(&body).map_err(|e| e.iter().map(|e| e.code).collect::<Vec<_>>())?;
    compute_credit(original, &request).map_err(|e| e.iter().map(|e| e.code).collect())
}

#[test]
fn a_full_credit_note_repeats_the_original_amounts_exactly() {
    for inclusive in [false, true] {
        let original = shop(inclusive);
        let full = credit(&original, json!({"order_id": "R-1", "reason_code": "01"})).unwrap();
        assert_eq!(full.lines, original.lines);
        assert_eq!(full.tax_breakdown, original.tax_breakdown);
        assert_eq!(full.totals.gross, original.totals.gross);
        assert_eq!(
            full.totals.paid.units(),
            0,
            "nothing is paid on a credit note"
        );
        assert_eq!(full.totals.payable, full.totals.gross);
        let of = full.credit.as_ref().unwrap();
        assert_eq!(of.credits.number, original.number);
        assert_eq!(of.reason_code, "01");
        // The whole invoice credited once: the balance is the invoice itself.
        let balance = check_cap(&original, &[], &full.tax_breakdown).unwrap();
        assert_eq!(balance, original.tax_breakdown);
        // A second full credit note is over the cap, in every group.
        let errors = check_cap(&original, &balance, &full.tax_breakdown).unwrap_err();
        assert!(errors.iter().all(|e| e.code == Code::CreditExceedsInvoice));
        assert!(errors.len() >= 2, "{errors:?}");
    }
}

#[test]
fn partial_credit_notes_use_the_line_s_price_and_group_rate() {
    let original = shop(false);
    let part = credit(
        &original,
        json!({"order_id": "R-2", "reason_code": "02", "reason": "two cups broken\nreturned",
               "lines": [{"line": 0, "quantity": "3"}, {"line": 1, "quantity": "1"}]}),
    )
    .unwrap();
    // 3 × 10.00 at 13 % = 30.00 + 3.90; 1 × 49.90 at 9 % = 49.90 + 4.49 (4.491).
    assert_eq!(part.totals.net.to_string(), "79.90");
    assert_eq!(part.totals.tax.to_string(), "8.39");
    assert_eq!(part.totals.gross.to_string(), "88.29");
    assert_eq!(part.lines[0].description, "tea");
    // More than the line's quantity is refused at once.
    assert_eq!(
        credit(
            &original,
            json!({"order_id": "R-3", "reason_code": "02", "lines": [{"line": 0, "quantity": "11"}]})
        ),
        Err(vec![Code::CreditExceedsInvoice])
    );
    // No such line.
    assert_eq!(
        credit(
            &original,
            json!({"order_id": "R-3", "reason_code": "02", "lines": [{"line": 3, "quantity": "1"}]})
        ),
        Err(vec![Code::InvalidEnumValue])
    );
    // Crediting only the voucher (a discount line) would be a negative credit note.
    assert_eq!(
        credit(
            &original,
            json!({"order_id": "R-3", "reason_code": "01", "lines": [{"line": 2, "quantity": "1"}]})
        ),
        Err(vec![Code::NegativeTotal])
    );
}

#[test]
fn an_allowance_is_an_amount_in_the_original_s_pricing_taxed_at_its_group_rate() {
    // Net pricing: 10.00 net at 13 % → 1.30 tax.
    let net = credit(
        &shop(false),
        json!({"order_id": "R-4", "reason_code": "04", "lines": [{"line": 0, "amount": "10.00"}]}),
    )
    .unwrap();
    assert_eq!(
        (net.totals.net.to_string(), net.totals.tax.to_string()),
        ("10.00".into(), "1.30".into())
    );
    // Tax-inclusive: 11.30 gross at 13 % holds 1.30 of tax.
    let gross = credit(
        &shop(true),
        json!({"order_id": "R-4", "reason_code": "04", "lines": [{"line": 0, "amount": "11.30"}]}),
    )
    .unwrap();
    assert_eq!(
        (gross.totals.net.to_string(), gross.totals.gross.to_string()),
        ("10.00".into(), "11.30".into())
    );
    // Half a unit rounds away from zero: 0.05 at 13 % = 0.0065 → 0.01.
    let small = credit(
        &shop(false),
        json!({"order_id": "R-4", "reason_code": "04", "lines": [{"line": 0, "amount": "0.05"}]}),
    )
    .unwrap();
    assert_eq!(small.totals.tax.to_string(), "0.01");
    // An allowance is by amount only, and needs its lines; amounts have the currency's digits.
    assert_eq!(
        credit(
            &shop(false),
            json!({"order_id": "R-4", "reason_code": "04", "lines": [{"line": 0, "quantity": "1"}]})
        ),
        Err(vec![Code::MissingField, Code::UnknownField])
    );
    assert_eq!(
        credit(
            &shop(false),
            json!({"order_id": "R-4", "reason_code": "04"})
        ),
        Err(vec![Code::MissingField])
    );
    assert_eq!(
        credit(
            &shop(false),
            json!({"order_id": "R-4", "reason_code": "04", "lines": [{"line": 0, "amount": "1.005"}]})
        ),
        Err(vec![Code::TooManyDecimals])
    );
}

#[test]
fn the_request_is_read_strictly() {
    let codes = |body: Value| {
        parse_credit_request(&body)
            .unwrap_err()
            .iter()
            .map(|e| e.code)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        codes(json!({"order_id": "R", "reason_code": "05"})),
        [Code::InvalidEnumValue]
    );
    assert_eq!(codes(json!({"reason_code": "01"})), [Code::MissingField]);
    assert_eq!(
        codes(json!({"order_id": "R", "reason_code": "01", "lines": [{"line": 0, "quantity": 1}]})),
        [Code::DecimalMustBeString]
    );
    assert_eq!(
        codes(
            json!({"order_id": "R", "reason_code": "01", "lines": [{"line": 0, "quantity": "0"}]})
        ),
        [Code::NegativeAmount]
    );
    assert_eq!(
        codes(json!({"order_id": "R", "reason_code": "01", "lines": []})),
        [Code::NoLines]
    );
    assert_eq!(
        codes(json!({"order_id": "R", "reason_code": "01", "total": "1"})),
        [Code::UnknownField]
    );
    assert_eq!(
        codes(
            json!({"order_id": "R", "reason_code": "01", "lines": [{"line": "0", "quantity": "1"}]})
        ),
        [Code::WrongType]
    );
}

#[test]
fn a_credit_note_or_a_rejected_invoice_is_not_creditable() {
    let key = EdKey::from_seed(&[3; 32]);
    let original = shop(false);
    let body = json!({"order_id": "R-5", "reason_code": "01"});
    let signed = |invoice: Invoice| invoice_edge_core::document::sign::sign(invoice, &key);
    let prepared = prepare_credit(
        &Document::new(signed(original.clone()), None, None),
        &body,
        &merchant(),
    )
    .unwrap();
    let note = finish(prepared.computed, prepared.issuer, &context(&key, 2)).signed;
    assert_eq!(note.invoice.kind, Kind::CreditNote);
    assert_eq!(note.invoice.credits.as_ref().unwrap().id, original.id);
    assert_eq!(note.invoice.reason_code.as_deref(), Some("01"));
    // Signed like any document: it verifies, and the canonical form holds its new members.
    let text = serde_json::to_value(&note.invoice).unwrap();
    assert_eq!(text["kind"], "credit_note");
    assert_eq!(text["credits"]["number"], original.number);
    let of_note = prepare_credit(
        &Document::new(note, None, None),
        &json!({"order_id": "R-6", "reason_code": "01"}),
        &merchant(),
    );
    assert_eq!(of_note.unwrap_err().code, Code::NotCreditable);
    let rejection = Rejection {
        code: "SIGNATURE_INVALID".into(),
        detail: "x".into(),
    };
    let rejected = prepare_credit(
        &Document::new(signed(original), None, Some(rejection)),
        &body,
        &merchant(),
    );
    assert_eq!(rejected.unwrap_err().code, Code::NotCreditable);
    // The fingerprint binds the invoice: the same body against another invoice is another order.
    let a = invoice_edge_core::credit::credit_fingerprint("a", &body);
    assert_ne!(a, invoice_edge_core::credit::credit_fingerprint("b", &body));
}

fn units(groups: &[TaxBreakdown]) -> (i128, i128) {
    groups.iter().fold((0, 0), |(n, t), g| {
        (n + g.taxable_amount.units(), t + g.tax_amount.units())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any sequence of partial credit notes and allowances: each one obeys BR-CO-10..16, and
    /// what the cap lets through never exceeds the invoice in any group or in total.
    #[test]
    fn the_cap_holds_over_any_sequence_of_credit_notes(
        lines in prop::collection::vec((1i64..20, 1i64..50_000, 0usize..5), 1..6),
        inclusive in any::<bool>(),
        credits in prop::collection::vec((0usize..6, 1i64..20, any::<bool>(), 1i64..40_000), 1..25),
    ) {
        const TAXES: [(&str, &str); 5] = [("S", "13"), ("S", "9"), ("S", "5"), ("Z", "0"), ("E", "0")];
        let request_lines: Vec<Value> = lines.iter().map(|(q, p, t)| {
            let mut line = json!({"description": "x", "quantity": q.to_string(),
                "unit_price": Decimal::new(*p, 2).to_string(), "tax_category": TAXES[*t].0, "tax_rate": TAXES[*t].1});
            if TAXES[*t].0 == "E" { line["exemption_reason"] = json!("免税"); }
            line
        }).collect();
        let original = invoice(json!({"currency": "CNY", "order_id": "P", "prices_include_tax": inclusive, "lines": request_lines}));
        let mut balance: Vec<TaxBreakdown> = Vec::new();
        for (i, (line, quantity, allowance, amount)) in credits.into_iter().enumerate() {
            let line = line % original.lines.len();
            let body = if allowance {
                json!({"order_id": format!("C-{i}"), "reason_code": "04", "lines": [{"line": line, "amount": Decimal::new(amount, 2).to_string()}]})
            } else {
                json!({"order_id": format!("C-{i}"), "reason_code": "02", "lines": [{"line": line, "quantity": quantity.to_string()}]})
            };
            let Ok(mut note) = credit(&original, body) else { continue };
            settle(&original, &balance, &mut note);
            let totals = note.totals;
            // BR-CO-13..16 on the credit note itself.
            let (net, tax) = units(&note.tax_breakdown);
            prop_assert_eq!(net, totals.net.units());
            prop_assert_eq!(tax, totals.tax.units());
            prop_assert_eq!(totals.net.units() + totals.tax.units(), totals.gross.units());
            prop_assert_eq!(totals.payable, totals.gross);
            // Lines add up to their groups (BR-CO-10) after any settling.
            let lines_net: i128 = note.lines.iter().map(|l| l.net_amount.units()).sum();
            let lines_tax: i128 = note.lines.iter().map(|l| l.tax_amount.units()).sum();
            prop_assert_eq!((lines_net, lines_tax), (totals.net.units(), totals.tax.units()));
            if let Ok(next) = check_cap(&original, &balance, &note.tax_breakdown) {
                balance = next;
            }
            for group in &balance {
                let of = original.tax_breakdown.iter().find(|g| g.tax_category == group.tax_category && g.tax_rate == group.tax_rate).unwrap();
                prop_assert!(group.taxable_amount.units() <= of.taxable_amount.units());
                prop_assert!(group.tax_amount.units() <= of.tax_amount.units());
            }
            let (net, tax) = units(&balance);
            prop_assert!(net + tax <= original.totals.gross.units());
        }
    }
}

#[test]
fn credit_notes_that_together_credit_the_whole_invoice_credit_exactly_its_amounts() {
    // 2 × 49.90 at 13 %: tax 12.97; each half rounds to 6.49. Net and tax-inclusive pricing,
    // and 3 × 1.00 at 13 % inclusive (tax 0.35; each third 0.12).
    for (lines, inclusive, pieces) in [
        (
            json!([{"description": "tea", "quantity": "2", "unit_price": "49.90", "tax_category": "S", "tax_rate": "13"}]),
            false,
            2,
        ),
        (
            json!([{"description": "tea", "quantity": "2", "unit_price": "49.90", "tax_category": "S", "tax_rate": "13"}]),
            true,
            2,
        ),
        (
            json!([{"description": "cup", "quantity": "3", "unit_price": "1.00", "tax_category": "S", "tax_rate": "13"}]),
            true,
            3,
        ),
    ] {
        let original = invoice(
            json!({"currency": "CNY", "order_id": "W", "prices_include_tax": inclusive, "lines": lines}),
        );
        let mut balance = Vec::new();
        let mut taxes = Vec::new();
        for piece in 0..pieces {
            let mut note = credit(&original, json!({"order_id": format!("P-{piece}"), "reason_code": "02", "lines": [{"line": 0, "quantity": "1"}]})).unwrap();
            settle(&original, &balance, &mut note);
            taxes.push(note.totals.tax.to_string());
            balance = check_cap(&original, &balance, &note.tax_breakdown)
                .unwrap_or_else(|e| panic!("piece {piece} of {}: {e:?}", original.totals.gross));
        }
        // Together exactly the invoice: the last piece took what was left.
        assert_eq!(balance, original.tax_breakdown, "{taxes:?}");
        // Settling never touches a credit note that does not complete a group.
        let mut first = credit(
            &original,
            json!({"order_id": "P", "reason_code": "02", "lines": [{"line": 0, "quantity": "1"}]}),
        )
        .unwrap();
        let unsettled = first.clone();
        settle(&original, &[], &mut first);
        assert_eq!(first, unsettled);
    }
}
