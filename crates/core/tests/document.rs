//! The signed document: canonical bytes, signatures, finalization and verification.

use invoice_edge_core::canonical::{canonicalize, to_jcs_bytes};
use invoice_edge_core::document::issue::{issue, IssueContext};
use invoice_edge_core::document::model::{uuid_v7, Document, Final};
use invoice_edge_core::document::sign::{invoice_hash, Channel};
use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::keys::{EdKey, Jwks};
use invoice_edge_core::ledger::{countersign, receipt, Archived};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::series::{ChainPosition, GENESIS_PREV_HASH};
use invoice_edge_core::token::{self, Cart, CheckoutClaims};
use invoice_edge_core::{parse_request, Payment};
use proptest::prelude::*;
use serde_json::{json, Value};

fn merchant() -> MerchantConfig {
    serde_json::from_value(json!({
        "id": "demo",
        "seller": {"name": "示例商店", "country": "CN", "tax_id": "91110000600037341L", "address": {"city": "北京"}},
        "tax_profile": [
            {"category": "S", "rate": "13"}, {"category": "S", "rate": "9"}, {"category": "S", "rate": "6"},
            {"category": "Z", "rate": "0"}, {"category": "E", "rate": "0", "exemption_reason": "免税"}
        ],
        "series": [{"name": "DEMO"}],
        "utc_offset": "+08:00",
        "payment_terms": "Paid at checkout"
    }))
    .unwrap()
}

const TAXES: &[(&str, &str)] = &[("S", "13"), ("S", "9"), ("S", "6"), ("Z", "0"), ("E", "0")];

// Text without control characters: a line's description is one line (CONTROL_CHARACTER).
prop_compose! {
    fn request()(lines in prop::collection::vec((1i64..20, 1i64..100_000, 0..TAXES.len(), "[a-zA-Z0-9 \u{4e00}-\u{4e10}\"\\\\/]{1,20}"), 1..12), inclusive in any::<bool>(), name in "[\u{20}-\u{7e}\u{a0}-\u{ff}\u{1f600}]{1,30}") -> Value {
        let lines: Vec<Value> = lines.into_iter().map(|(q, p, t, description)| json!({
            "description": format!("item {description}"),
            "quantity": q.to_string(),
            "unit_price": format!("{}.{:02}", p / 100, p % 100),
            "tax_category": TAXES[t].0,
            "tax_rate": TAXES[t].1,
        })).collect();
        json!({"currency": "CNY", "order_id": "ord-1", "prices_include_tax": inclusive,
               "buyer": {"kind": "company", "name": format!("B {name}"), "email": "a@example.com"}, "lines": lines})
    }
}

fn issue_document(request: &Value, key: &EdKey) -> Document {
    let request = parse_request(request).unwrap();
    let context = IssueContext {
        id: uuid_v7(1_795_600_800_123, [7; 10]),
        issued_at_ms: 1_795_600_800_123,
        edge_node: "test".into(),
        key,
        channel: Channel::CheckoutToken,
        position: ChainPosition {
            seq: 1,
            prev_hash: GENESIS_PREV_HASH.into(),
        },
    };
    Document::new(
        issue(request, &merchant(), Payment::FullyPaid, &context).unwrap(),
        None,
        None,
    )
}

/// Writes a JSON value with each object's members in an order chosen by `seed`.
fn shuffled_text(value: &Value, seed: &mut u64) -> String {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            for i in (1..members.len()).rev() {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                members.swap(i, (*seed >> 33) as usize % (i + 1));
            }
            let parts: Vec<String> = members
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        serde_json::to_string(k).unwrap(),
                        shuffled_text(v, seed)
                    )
                })
                .collect();
            format!("{{ {} }}", parts.join(" , "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| shuffled_text(v, seed))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn struct_serialization_equals_general_jcs(request in request()) {
        let document = issue_document(&request, &EdKey::from_seed(&[1; 32]));
        let direct = String::from_utf8(to_jcs_bytes(&document.invoice).unwrap()).unwrap();
        prop_assert_eq!(direct, canonicalize(&serde_json::to_value(&document.invoice).unwrap()));
    }

    #[test]
    fn canonical_bytes_and_signed_text_equal_what_serde_json_writes(request in request()) {
        let document = issue_document(&request, &EdKey::from_seed(&[1; 32]));
        prop_assert_eq!(
            to_jcs_bytes(&document.invoice).unwrap(),
            serde_json::to_vec(&document.invoice).unwrap()
        );
        let sealed = invoice_edge_core::document::sign::sign_and_hash(
            document.invoice.clone(),
            &EdKey::from_seed(&[1; 32]),
        );
        prop_assert_eq!(sealed.json(), serde_json::to_string(&sealed.signed).unwrap());
        prop_assert_eq!(&sealed.signed.invoice, &document.invoice);
    }

    #[test]
    fn jcs_does_not_depend_on_key_order(request in request(), seed in any::<u64>()) {
        let document = issue_document(&request, &EdKey::from_seed(&[1; 32]));
        let value = serde_json::to_value(&document).unwrap();
        let reparsed: Value = serde_json::from_str(&shuffled_text(&value, &mut seed.clone())).unwrap();
        prop_assert_eq!(canonicalize(&reparsed), canonicalize(&value));
    }

    #[test]
    fn sign_then_verify_succeeds_and_any_byte_change_fails(request in request(), index in any::<prop::sample::Index>(), replacement in any::<u8>()) {
        let key = EdKey::from_seed(&[3; 32]);
        let jwks = Jwks { keys: vec![key.public_jwk()] };
        let document = issue_document(&request, &key);
        let as_value = serde_json::to_value(&document).unwrap();
        prop_assert_eq!(verify(&as_value, &jwks).code, VerifyCode::Valid);

        let mut bytes = canonicalize(&as_value["invoice"]).into_bytes();
        let at = index.index(bytes.len());
        prop_assume!(bytes[at] != replacement);
        bytes[at] = replacement;
        if let Ok(changed) = serde_json::from_slice::<Value>(&bytes) {
            let mut tampered = as_value.clone();
            tampered["invoice"] = changed;
            let verdict = verify(&tampered, &jwks);
            prop_assert!(!verdict.valid, "a changed byte at {} verified", at);
        }
    }

    #[test]
    fn a_token_round_trips_and_any_change_is_rejected(order in "[A-Za-z0-9-]{1,20}", index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.-]") {
        let claims = CheckoutClaims { merchant: "demo".into(), order_id: order, series: Some("DEMO".into()), currency: "CNY".into(), cart: Cart { prices_include_tax: true, lines: vec![json!({"description": "tea"})] }, iat: 100, exp: 1000, nbf: None };
        let minted = token::mint(&claims, "secret");
        prop_assert_eq!(token::verify(&minted, &["secret"], 500).unwrap(), claims);
        let mut chars: Vec<char> = minted.chars().collect();
        let at = index.index(chars.len());
        let replacement = replacement.chars().next().unwrap();
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(token::verify(&changed, &["secret"], 500).is_err());
    }
}

#[test]
fn a_final_document_needs_a_valid_countersignature_bound_to_its_invoice() {
    let edge = EdKey::from_seed(&[1; 32]);
    let origin = EdKey::from_seed(&[2; 32]);
    let jwks = Jwks {
        keys: vec![edge.public_jwk(), origin.public_jwk()],
    };
    let request = json!({"currency": "CNY", "order_id": "A-1", "lines": [{"description": "x", "quantity": "1", "unit_price": "10", "tax_category": "S", "tax_rate": "13"}]});
    let pending = issue_document(&request, &edge);
    let signed = invoice_edge_core::document::model::SignedInvoice {
        invoice: pending.invoice.clone(),
        edge_signature: pending.edge_signature.clone(),
    };

    let archive = |invoice_hash: &[u8; 32], number: &str, seq: u64| -> Final {
        receipt(
            &Archived {
                invoice_hash,
                audit_prev_hash: &[0; 32],
                number,
                series: "DEMO",
                seq,
                ledger_seq: 1,
                received_at: "2026-11-25T10:00:01.000Z",
                void: false,
            },
            &origin,
        )
    };
    let final_ = archive(&invoice_hash(&pending.invoice), "DEMO-2026-00000001", 1);
    let document =
        serde_json::to_value(Document::new(signed.clone(), Some(final_.clone()), None)).unwrap();
    let verdict = verify(&document, &jwks);
    assert_eq!(verdict.code, VerifyCode::Valid, "{}", verdict.detail);
    assert_eq!(document["status"], "final");

    // The origin's key missing from the JWKS: unknown, not valid.
    let edge_only = Jwks {
        keys: vec![edge.public_jwk()],
    };
    assert_eq!(verify(&document, &edge_only).code, VerifyCode::UnknownKid);

    // A changed number breaks the countersignature.
    let mut renumbered = document.clone();
    renumbered["final"]["number"] = json!("DEMO-2026-00000002");
    assert_eq!(
        verify(&renumbered, &jwks).code,
        VerifyCode::FinalSignatureInvalid
    );

    // A genuine final object of another invoice does not transfer.
    let other = archive(&[9; 32], "DEMO-2026-00000001", 1);
    let mut swapped = document.clone();
    swapped["final"] = serde_json::to_value(other).unwrap();
    assert_eq!(verify(&swapped, &jwks).code, VerifyCode::FinalMismatch);

    // A genuine receipt for this invoice hash under another number or seq is not its receipt.
    for (number, seq) in [("DEMO-2026-00000002", 1), ("DEMO-2026-00000001", 2)] {
        let mut elsewhere = document.clone();
        elsewhere["final"] =
            serde_json::to_value(archive(&invoice_hash(&pending.invoice), number, seq)).unwrap();
        assert_eq!(verify(&elsewhere, &jwks).code, VerifyCode::FinalMismatch);
    }

    // A countersigned receipt whose prev_hash is not 32 bytes of hex links to nothing: not hex,
    // odd length, too short, and sign characters (which a radix parse would have taken).
    for prev_hash in [
        "g".repeat(64),
        "0".repeat(63),
        "00".repeat(31),
        "+0".repeat(32),
    ] {
        let mut body = final_.body();
        body.prev_hash = prev_hash.clone();
        let mut unlinked = document.clone();
        unlinked["final"] = serde_json::to_value(countersign(body, &origin)).unwrap();
        let verdict = verify(&unlinked, &jwks);
        assert_eq!(verdict.code, VerifyCode::FinalMismatch, "{prev_hash}");
    }

    // An invoice without its chain fields is malformed, even when validly signed.
    let mut unchained = serde_json::to_value(&pending.invoice).unwrap();
    unchained.as_object_mut().unwrap().remove("prev_hash");
    let sig = edge.sign(canonicalize(&unchained).as_bytes());
    let unchained = json!({"invoice": unchained, "edge_signature": {"alg": "EdDSA", "kid": edge.kid(), "sig": sig}});
    assert_eq!(verify(&unchained, &jwks).code, VerifyCode::Malformed);

    // Status must agree with the fields.
    let mut lying = document.clone();
    lying["status"] = json!("pending_sync");
    assert_eq!(verify(&lying, &jwks).code, VerifyCode::StatusMismatch);

    // A wrong key, a malformed document, an unknown format.
    assert_eq!(
        verify(
            &document,
            &Jwks {
                keys: vec![EdKey::from_seed(&[5; 32]).public_jwk()]
            }
        )
        .code,
        VerifyCode::UnknownKid
    );
    assert_eq!(
        verify(&json!({"invoice": 1}), &jwks).code,
        VerifyCode::Malformed
    );
    let mut future = document.clone();
    future["invoice"]["format"] = json!("invoice-edge/3");
    assert_eq!(verify(&future, &jwks).code, VerifyCode::UnsupportedFormat);
}

#[test]
fn issuing_fills_the_invoice_fields_from_the_merchant_and_the_context() {
    let key = EdKey::from_seed(&[1; 32]);
    let request = json!({"currency": "CNY", "order_id": "A-1", "buyer": {"name": "王先生"}, "lines": [{"description": "x", "quantity": "1", "unit_price": "113", "tax_category": "S", "tax_rate": "13"}], "prices_include_tax": true});
    let document = serde_json::to_value(issue_document(&request, &key)).unwrap();
    let invoice = &document["invoice"];
    assert_eq!(invoice["format"], "invoice-edge/2");
    assert_eq!(invoice["kind"], "invoice");
    assert_eq!(invoice["merchant"], "demo");
    assert_eq!(invoice["series"], "DEMO");
    assert_eq!(invoice["seq"], 1);
    assert_eq!(invoice["number"], "DEMO-2026-00000001");
    assert_eq!(invoice["prev_hash"], GENESIS_PREV_HASH);
    assert_eq!(invoice["issued_at"], "2026-11-25T10:00:00.123Z");
    // 10:00 UTC is 18:00 in the merchant's +08:00.
    assert_eq!(invoice["supply_date"], "2026-11-25");
    assert_eq!(
        invoice["buyer"]["country"], "CN",
        "defaults to the seller's country"
    );
    assert_eq!(
        invoice["totals"]["paid"], "113.00",
        "a token issuance is paid"
    );
    assert_eq!(invoice["totals"]["payable"], "0.00");
    assert_eq!(invoice["id"].as_str().unwrap().len(), 36);
    assert_eq!(
        &invoice["id"].as_str().unwrap()[14..15],
        "7",
        "UUID version 7"
    );
    assert_eq!(document["edge_signature"]["kid"], key.kid());
    assert_eq!(document["status"], "pending_sync");
    assert_eq!(document["final"], Value::Null);
}

#[test]
fn verification_names_the_unsigned_fields_and_keeps_each_key_to_its_role() {
    use invoice_edge_core::keys::{ROLE_EDGE, ROLE_ORIGIN};
    let edge = EdKey::from_seed(&[1; 32]);
    let origin = EdKey::from_seed(&[2; 32]);
    let with_roles = Jwks {
        keys: vec![
            edge.public_jwk().with_role(ROLE_EDGE),
            origin.public_jwk().with_role(ROLE_ORIGIN),
        ],
    };
    let request = json!({"currency": "CNY", "order_id": "R-1", "lines": [{"description": "x", "quantity": "1", "unit_price": "10", "tax_category": "S", "tax_rate": "13"}]});
    let pending = issue_document(&request, &edge);
    let signed = invoice_edge_core::document::model::SignedInvoice {
        invoice: pending.invoice.clone(),
        edge_signature: pending.edge_signature.clone(),
    };
    let countersigned_by = |key: &EdKey| {
        receipt(
            &Archived {
                invoice_hash: &invoice_hash(&pending.invoice),
                audit_prev_hash: &[0; 32],
                number: &pending.invoice.number,
                series: "DEMO",
                seq: 1,
                ledger_seq: 1,
                received_at: "2026-11-25T10:00:01.000Z",
                void: false,
            },
            key,
        )
    };

    // A pending document: the invoice is signed, its status is not.
    let pending_value = serde_json::to_value(&pending).unwrap();
    let verdict = verify(&pending_value, &with_roles);
    assert_eq!(verdict.code, VerifyCode::Valid, "{}", verdict.detail);
    assert_eq!(verdict.unsigned, ["status"]);

    // A rejected one: neither the status nor the rejection is signed, and the detail says so.
    let mut rejected = pending_value.clone();
    rejected["status"] = json!("rejected");
    rejected["rejection"] = json!({"code": "SEQUENCE_GAP", "detail": "anyone could write this"});
    let verdict = verify(&rejected, &with_roles);
    assert_eq!(verdict.code, VerifyCode::Valid, "{}", verdict.detail);
    assert_eq!(verdict.unsigned, ["rejection", "status"]);
    assert!(verdict.detail.contains("not signed"), "{}", verdict.detail);

    // Final: the receipt is signed by the origin, the status still is not.
    let final_doc = serde_json::to_value(Document::new(
        signed.clone(),
        Some(countersigned_by(&origin)),
        None,
    ))
    .unwrap();
    let verdict = verify(&final_doc, &with_roles);
    assert_eq!(verdict.code, VerifyCode::Valid, "{}", verdict.detail);
    assert_eq!(verdict.unsigned, ["status"]);

    // A receipt countersigned with the edge's own key is not a receipt: the edge key is listed
    // as an edge key, and origin_kid is looked up among origin keys only.
    let by_edge = serde_json::to_value(Document::new(
        signed.clone(),
        Some(countersigned_by(&edge)),
        None,
    ))
    .unwrap();
    let verdict = verify(&by_edge, &with_roles);
    assert_eq!(verdict.code, VerifyCode::UnknownKid, "{}", verdict.detail);
    assert!(verdict.detail.contains("edge key"), "{}", verdict.detail);
    // Nor can an origin key sign an invoice.
    let by_origin = issue_document(&request, &origin);
    let verdict = verify(&serde_json::to_value(&by_origin).unwrap(), &with_roles);
    assert_eq!(verdict.code, VerifyCode::UnknownKid, "{}", verdict.detail);
    // A JWKS from before roles lists keys without one: each is usable in either role.
    let without_roles = Jwks {
        keys: vec![edge.public_jwk(), origin.public_jwk()],
    };
    assert_eq!(verify(&by_edge, &without_roles).code, VerifyCode::Valid);
}

#[test]
fn signing_hashes_the_same_canonical_bytes_it_signs() {
    use invoice_edge_core::document::sign::sign_and_hash;
    let key = EdKey::from_seed(&[3; 32]);
    let request = json!({"currency": "CNY", "order_id": "H-1", "lines": [{"description": "x", "quantity": "1", "unit_price": "10", "tax_category": "S", "tax_rate": "13"}]});
    let document = issue_document(&request, &key);
    let invoice_edge_core::document::sign::Sealed { signed, hash, .. } =
        sign_and_hash(document.invoice.clone(), &key);
    assert_eq!(hash, invoice_hash(&signed.invoice));
    assert_eq!(signed.edge_signature, document.edge_signature);
}
