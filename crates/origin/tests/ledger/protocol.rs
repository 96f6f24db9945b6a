//! Single-document ingest (docs/ARCHITECTURE.md, "Origin ledger protocol"): a series archived in order,
//! replays, gaps, permanent conflicts, separate counters per merchant, duplicate orders across
//! series, large documents, untrusted keys, unsupported formats, malformed input, reads, and
//! the version 1 path.

use hex::FromHex;
use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::keys::Jwks;
use invoice_edge_core::ledger::chain_hash;
use invoice_edge_core::series::{verify_chain, GENESIS_PREV_HASH};
use serde_json::{json, Value};

use crate::helpers::*;

fn bytes32(text: &str) -> [u8; 32] {
    <[u8; 32]>::from_hex(text).unwrap()
}

/// The origin's JWKS (open to anyone) with the edge key added: all an offline verifier needs.
fn offline_keys(origin: &Origin, setup: &Setup) -> Jwks {
    let reply = origin
        .call("GET", "/.well-known/jwks.json", None, Auth::Nothing)
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut keys: Jwks = serde_json::from_value(reply.json).unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].kid, setup.origin.kid());
    keys.push(setup.edge.public_jwk());
    keys
}

#[test]
fn a_series_is_archived_in_order_and_verifies_offline() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", &["DEMO", "B"]);
    let mut series = SeriesWriter::new(&setup.edge, &demo, "DEMO");
    let mut other = SeriesWriter::new(&setup.edge, &demo, "B");
    // Two series of one merchant, interleaved: each keeps its own seq, the audit chain is one.
    let sent: Vec<Value> = vec![
        series.next("A-1"),
        series.next("A-2"),
        other.next("B-1"),
        series.next("A-3"),
        other.next("B-2"),
        series.next("A-4"),
    ];
    let mut receipts = Vec::new();
    for document in &sent {
        let reply = origin.put(document);
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.content_type, "application/json");
        receipts.push(reply.json);
    }

    let mut audit_prev = hex::encode([0; 32]);
    for (i, (document, final_)) in sent.iter().zip(&receipts).enumerate() {
        let invoice = &document["invoice"];
        // The receipt repeats the invoice's own place; the origin numbers nothing.
        assert_eq!(final_["number"], invoice["number"], "{final_}");
        assert_eq!(final_["series"], invoice["series"]);
        assert_eq!(final_["seq"], invoice["seq"]);
        assert_eq!(final_["void"], false);
        assert_eq!(final_["origin_kid"], setup.origin.kid());
        // The global audit chain: ledger_seq 1, 2, 3, ... each linked to the one before.
        assert_eq!(final_["ledger_seq"], i + 1);
        assert_eq!(final_["prev_hash"], audit_prev.as_str());
        let hash = chain_hash(
            &bytes32(&audit_prev),
            &bytes32(&hash_of(document)),
            invoice["number"].as_str().unwrap(),
        );
        assert_eq!(final_["hash"], hex::encode(hash));
        audit_prev = hex::encode(hash);
    }
    let numbers: Vec<&Value> = receipts.iter().map(|r| &r["number"]).collect();
    assert_eq!(
        numbers,
        [
            "DEMO-2026-00000001",
            "DEMO-2026-00000002",
            "B-2026-00000001",
            "DEMO-2026-00000003",
            "B-2026-00000002",
            "DEMO-2026-00000004"
        ]
    );
    assert_eq!(sent[0]["invoice"]["prev_hash"], GENESIS_PREV_HASH);

    // Each stored document is final and verifies offline, alone and as a chain.
    let keys = offline_keys(&origin, &setup);
    let mut stored_demo = Vec::new();
    for (document, final_) in sent.iter().zip(&receipts) {
        let stored = origin.stored(&id_of(document));
        assert_eq!(stored.status, 200, "{}", stored.text);
        assert_eq!(stored.json["status"], "final");
        assert_eq!(&stored.json["final"], final_);
        assert_eq!(stored.json["rejection"], Value::Null);
        assert_eq!(stored.json["invoice"], document["invoice"]);
        assert_eq!(stored.json["edge_signature"], document["edge_signature"]);
        let verification = verify(&stored.json, &keys);
        assert_eq!(
            verification.code,
            VerifyCode::Valid,
            "{}",
            verification.detail
        );
        if document["invoice"]["series"] == "DEMO" {
            stored_demo.push(stored.json);
        }
    }
    let chain = verify_chain(&stored_demo, &keys).unwrap();
    assert_eq!((chain.first_seq, chain.last_seq), (1, 4));
    assert_eq!(chain.last_hash, hash_of(&sent[5]));
    // A receipt moved onto another document does not verify.
    let mut swapped = stored_demo[1].clone();
    swapped["final"] = stored_demo[0]["final"].clone();
    assert_eq!(verify(&swapped, &keys).code, VerifyCode::FinalMismatch);

    let health = origin.health();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["ledger_size"], 6);
    assert_eq!(health["origin_kid"], setup.origin.kid());
    let metrics = origin.metrics();
    for line in [
        "origin_http_requests_total{method=\"PUT\",route=\"/v1/ledger/invoices/{id}\",status=\"201\"} 6",
        "origin_ingest_duration_seconds_count{route=\"put\"} 6",
        "origin_ledger_entries 6",
        "origin_documents_total{outcome=\"created\"} 6",
        "origin_duplicate_orders_total 0",
        "origin_db_transaction_retries_total 0",
        if setup.is_pg() {
            "origin_db_backend{backend=\"postgres\"} 1"
        } else {
            "origin_db_backend{backend=\"sqlite\"} 1"
        },
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    if setup.is_pg() {
        assert!(
            metrics.contains("origin_db_pool_max_connections 8"),
            "{metrics}"
        );
        assert!(
            metrics.contains("origin_db_pool_connections{state=\"in_use\"} 0"),
            "{metrics}"
        );
    }
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ledger OK: 6 entries, 2 series, 1 origin key(s)"),
        "{out}"
    );
    assert!(
        out.contains(
            "series demo/DEMO: seq 1..4 (DEMO-2026-00000001 .. DEMO-2026-00000004), 0 void"
        ),
        "{out}"
    );
    assert!(out.contains("series demo/B: seq 1..2"), "{out}");
}

#[test]
fn a_replay_answers_200_with_the_same_receipt() {
    let setup = Setup::new();
    let origin = setup.start();
    let mut series = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    let sent = series.take("R", 3);
    let receipts: Vec<Value> = sent
        .iter()
        .map(|document| {
            let reply = origin.put(document);
            assert_eq!(reply.status, 201, "{}", reply.text);
            reply.json
        })
        .collect();

    // The head again, and an older seq: 200 with the very same receipt, nothing new archived.
    for (document, final_) in sent.iter().zip(&receipts).rev() {
        let replay = origin.put(document);
        assert_eq!(replay.status, 200, "{}", replay.text);
        assert_eq!(&replay.json, final_);
    }
    // The whole document as stored (status and final members are ignored) replays too.
    let stored = origin.stored(&id_of(&sent[0]));
    let replay = origin.put(&stored.json);
    assert_eq!((replay.status, &replay.json), (200, &receipts[0]));
    // In a batch, and after a restart.
    let results = origin.batch(&sent).results().clone();
    assert_eq!(statuses(&results), [200, 200, 200]);
    for (result, final_) in results.iter().zip(&receipts) {
        assert_eq!(&result["final"], final_);
    }
    origin.stop();
    let origin = setup.start();
    let replay = origin.put(&sent[1]);
    assert_eq!((replay.status, &replay.json), (200, &receipts[1]));
    assert_eq!(origin.health()["ledger_size"], 3);
    let next = origin.put(&series.next("R-4"));
    assert_eq!(next.status, 201, "{}", next.text);
    assert_eq!(next.json["ledger_seq"], 4);
    assert_eq!(next.json["prev_hash"], receipts[2]["hash"]);
}

#[test]
fn a_gap_is_409_sequence_gap_with_the_expected_seq() {
    let setup = Setup::new();
    let origin = setup.start();
    let mut series = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    let sent = series.take("G", 5);

    // Nothing archived yet: seq 2 is a gap, seq 1 is expected.
    let reply = origin.put(&sent[1]);
    reply.assert_problem(409, "SEQUENCE_GAP");
    assert_eq!(reply.json["expected_seq"], 1, "{}", reply.text);

    assert_eq!(origin.put(&sent[0]).status, 201);
    // seq 1 archived, seq 4 arrives: send from 2.
    let reply = origin.put(&sent[3]);
    reply.assert_problem(409, "SEQUENCE_GAP");
    assert_eq!(reply.json["expected_seq"], 2, "{}", reply.text);
    // Retryable: the same answer again, and nothing was archived.
    assert_eq!(origin.put(&sent[3]).json["expected_seq"], 2);
    assert_eq!(origin.health()["ledger_size"], 1);

    // The same in a batch result.
    let results = origin.batch(&[sent[3].clone()]).results().clone();
    assert_eq!(statuses(&results), [409]);
    assert_eq!(results[0]["problem"]["code"], "SEQUENCE_GAP");
    assert_eq!(results[0]["problem"]["expected_seq"], 2);
    assert_eq!(results[0]["id"], sent[3]["invoice"]["id"]);
    assert!(results[0].get("final").is_none());

    // Resent from the expected seq, in order, the series completes.
    let results = origin.batch(&sent[1..]).results().clone();
    assert_eq!(statuses(&results), [201, 201, 201, 201]);
    let seqs: Vec<&Value> = results.iter().map(|r| &r["final"]["seq"]).collect();
    assert_eq!(seqs, [2, 3, 4, 5]);
    let metrics = origin.metrics();
    assert!(
        metrics.contains("origin_rejects_total{code=\"SEQUENCE_GAP\"} 4"),
        "{metrics}"
    );
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("series demo/DEMO: seq 1..5"), "{out}");
}

#[test]
fn chain_and_order_conflicts_are_permanent() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", &["DEMO"]);
    let mut series = SeriesWriter::new(&setup.edge, &demo, "DEMO");
    let first = series.next("C-1");
    let second = series.next("C-2");
    assert_eq!(origin.put(&first).status, 201);
    assert_eq!(origin.put(&second).status, 201);

    // Another document at an archived seq, properly linked: SEQUENCE_CONFLICT, and again.
    let rival = series.at(2, &hash_of(&first), "C-2b", "59.90");
    for _ in 0..2 {
        let reply = origin.put(&rival);
        reply.assert_problem(409, "SEQUENCE_CONFLICT");
        assert!(reply.json.get("expected_seq").is_none(), "{}", reply.text);
    }
    origin
        .put(&series.at(1, GENESIS_PREV_HASH, "C-1b", "49.90"))
        .assert_problem(409, "SEQUENCE_CONFLICT");
    // The next seq, but linked to seq 1 instead of seq 2, or to nothing: SEQUENCE_CONFLICT.
    origin
        .put(&series.at(3, &hash_of(&first), "C-3", "49.90"))
        .assert_problem(409, "SEQUENCE_CONFLICT");
    origin
        .put(&series.at(3, &"ab".repeat(32), "C-3", "49.90"))
        .assert_problem(409, "SEQUENCE_CONFLICT");
    origin
        .put(&series.at(3, GENESIS_PREV_HASH, "C-3", "49.90"))
        .assert_problem(409, "SEQUENCE_CONFLICT");
    // The same id with other content, at its own archived place.
    let mut same_id = series.at(2, &hash_of(&first), "C-2", "59.90");
    same_id["invoice"]["id"] = second["invoice"]["id"].clone();
    let resigned = sign_json(&setup.edge, same_id);
    origin
        .put(&resigned)
        .assert_problem(409, "SEQUENCE_CONFLICT");

    // A second invoice for an archived order of the series, correctly chained: ORDER_CONFLICT.
    let mut fork = series.clone();
    let same_order = fork.next("C-1");
    for _ in 0..2 {
        let reply = origin.put(&same_order);
        reply.assert_problem(409, "ORDER_CONFLICT");
        assert!(
            reply.json["detail"]
                .as_str()
                .unwrap()
                .contains(&id_of(&first)),
            "{}",
            reply.text
        );
    }
    // None of that moved the series: its real next document still archives at seq 3.
    let third = series.next("C-3");
    let reply = origin.put(&third);
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["seq"], 3);
    assert_eq!(reply.json["ledger_seq"], 3);
    // And the refused rivals stay refused.
    origin.put(&rival).assert_problem(409, "SEQUENCE_CONFLICT");

    assert_eq!(origin.health()["ledger_size"], 3);
    let metrics = origin.metrics();
    for line in [
        "origin_rejects_total{code=\"SEQUENCE_CONFLICT\"} 8",
        "origin_rejects_total{code=\"ORDER_CONFLICT\"} 2",
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
}

#[test]
fn two_merchants_keep_separate_counters_for_one_series_name() {
    let setup = Setup::new();
    let origin = setup.start();
    let a = merchant("a", &["SHOP"]);
    let b = merchant("b", &["SHOP"]);
    let c = merchant_with(
        "c",
        json!([{"name": "SHOP", "number_format": "INV-{series}/{year}/{seq:05}"}]),
    );
    let mut writers = [
        SeriesWriter::new(&setup.edge, &a, "SHOP"),
        SeriesWriter::new(&setup.edge, &b, "SHOP"),
        SeriesWriter::new(&setup.edge, &c, "SHOP"),
    ];
    let mut numbers: Vec<Vec<String>> = vec![Vec::new(); 3];
    for round in 1..=3 {
        for (m, writer) in writers.iter_mut().enumerate() {
            // The same order ids at every merchant: each merchant's orders are its own.
            let reply = origin.put(&writer.next(&format!("ORDER-{round}")));
            assert_eq!(reply.status, 201, "{}", reply.text);
            assert_eq!(reply.json["seq"], round);
            numbers[m].push(reply.json["number"].as_str().unwrap().to_string());
        }
    }
    let shop: Vec<String> = (1..=3).map(|i| format!("SHOP-2026-{i:08}")).collect();
    assert_eq!(numbers[0], shop);
    // The same numbers at merchant b: numbers are unique per merchant, not across merchants.
    assert_eq!(numbers[1], shop);
    assert_eq!(
        numbers[2],
        [
            "INV-SHOP/2026/00001",
            "INV-SHOP/2026/00002",
            "INV-SHOP/2026/00003"
        ]
    );
    // Nothing was counted as a duplicate order: the merchants differ.
    assert!(origin.metrics().contains("origin_duplicate_orders_total 0"));
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ledger OK: 9 entries, 3 series"), "{out}");
    for line in [
        "series a/SHOP: seq 1..3 (SHOP-2026-00000001 .. SHOP-2026-00000003)",
        "series b/SHOP: seq 1..3 (SHOP-2026-00000001 .. SHOP-2026-00000003)",
        "series c/SHOP: seq 1..3 (INV-SHOP/2026/00001 .. INV-SHOP/2026/00003)",
    ] {
        assert!(out.contains(line), "missing {line}\n{out}");
    }
}

#[test]
fn the_same_order_in_two_series_is_archived_and_counted() {
    let setup = Setup::new();
    let origin = setup.start();
    let shop = merchant("shop", &["WEB", "POS"]);
    let mut web = SeriesWriter::new(&setup.edge, &shop, "WEB");
    let mut pos = SeriesWriter::new(&setup.edge, &shop, "POS");
    assert_eq!(origin.put(&web.next("ORDER-7")).status, 201);
    assert!(!setup.log().contains("DUPLICATE_ORDER"));
    let duplicate = pos.next("ORDER-7");
    let reply = origin.put(&duplicate);
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["series"], "POS");
    let metrics = origin.metrics();
    assert!(
        metrics.contains("origin_duplicate_orders_total 1"),
        "{metrics}"
    );
    let log = setup.log();
    assert!(
        log.contains("DUPLICATE_ORDER") && log.contains("WEB"),
        "{log}"
    );
    // A replay is not a second duplicate; other orders are none.
    assert_eq!(origin.put(&duplicate).status, 200);
    assert_eq!(origin.put(&pos.next("ORDER-8")).status, 201);
    assert!(origin.metrics().contains("origin_duplicate_orders_total 1"));
    assert_eq!(origin.health()["ledger_size"], 3);
}

#[test]
fn a_signed_document_over_256_kib_is_accepted_and_a_body_over_512_kib_is_413() {
    let setup = Setup::new();
    let origin = setup.start();
    let mut series = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    // Many lines with long descriptions (strings are at most 500 characters, lines 1,000).
    let lines: Vec<Value> = (0..600)
        .map(|i| {
            json!({"description": format!("{i:04} {}", "Long-leaf oolong tea, ".repeat(20)),
                   "quantity": "1", "unit_price": "1.00", "tax_category": "S", "tax_rate": "13"})
        })
        .collect();
    let large = series.next_request(json!({
        "currency": "CNY", "order_id": "LARGE-1",
        "buyer": {"kind": "company", "name": "Buyer Co", "email": "a@example.com"},
        "lines": lines
    }));
    let size = large.to_string().len();
    assert!(
        size > 256 * 1024 && size < 512 * 1024,
        "the signed document is {size} bytes"
    );
    let reply = origin.put(&large);
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(
        origin.stored(&id_of(&large)).json["invoice"],
        large["invoice"]
    );

    // A body over 512 KiB is refused, whatever it holds.
    let mut huge = series.next("LARGE-2");
    huge["padding"] = Value::String("x".repeat(520 * 1024));
    origin.put(&huge).assert_problem(413, "BODY_TOO_LARGE");
    // The same document without the padding is fine.
    huge.as_object_mut().unwrap().remove("padding");
    assert_eq!(origin.put(&huge).status, 201);
    assert_eq!(origin.health()["ledger_size"], 2);
}

#[test]
fn an_unknown_kid_is_503_until_sighup_trusts_it() {
    let setup = Setup::new();
    let origin = setup.start();
    let rotated = new_key();
    let demo = merchant("demo", &["DEMO", "K"]);
    let document = SeriesWriter::new(&rotated, &demo, "DEMO").next("K-1");
    origin.put(&document).assert_problem(503, "UNKNOWN_KID");
    // Retryable: a second try is still 503, nothing was stored.
    origin.put(&document).assert_problem(503, "UNKNOWN_KID");
    assert_eq!(origin.health()["ledger_size"], 0);

    // A bad trust file keeps the keys in force.
    std::fs::write(setup.path("trust.json"), "not json").unwrap();
    origin.signal("HUP");
    eventually("the failed reload", || {
        setup.log().contains("trust JWKS not reloaded")
    });
    let known = SeriesWriter::new(&setup.edge, &demo, "K").next("K-0");
    assert_eq!(origin.put(&known).status, 201);

    setup.trust(&[&setup.edge, &rotated]);
    origin.signal("HUP");
    eventually("the reload", || {
        origin.health()["trusted_kids"]
            .as_array()
            .is_some_and(|kids| kids.iter().any(|k| k == rotated.kid()))
    });
    let reply = origin.put(&document);
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["number"], "DEMO-2026-00000001");
    assert!(origin
        .metrics()
        .contains("origin_rejects_total{code=\"UNKNOWN_KID\"} 2"));
}

#[test]
fn unsupported_formats_are_503_and_retryable() {
    let setup = Setup::new();
    let origin = setup.start();
    let mut series = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    let document = series.next("F-1");

    // A format from a newer edge is refused before any signature is trusted.
    let mut future = document.clone();
    future["invoice"]["format"] = json!("invoice-edge/9");
    let reply = origin.put(&future);
    reply.assert_problem(503, "UNSUPPORTED_FORMAT");
    assert_eq!(reply.json["errors"][0]["pointer"], "/invoice/format");
    // A signed field this origin does not know (a newer edge's, say a prepayment reference), at
    // the top or inside a line, properly signed: refused, retryable, not archived unchecked.
    let mut unknown_field = document.clone();
    unknown_field["invoice"]["prepaid_by"] = json!({"id": new_id()});
    let unknown_field = sign_json(&setup.edge, unknown_field);
    let reply = origin.put(&unknown_field);
    reply.assert_problem(503, "UNSUPPORTED_FORMAT");
    assert_eq!(reply.json["errors"][0]["pointer"], "/invoice/prepaid_by");
    let mut unknown_nested = document.clone();
    unknown_nested["invoice"]["lines"][0]["credited_line"] = json!(0);
    let unknown_nested = sign_json(&setup.edge, unknown_nested);
    let reply = origin.put(&unknown_nested);
    reply.assert_problem(503, "UNSUPPORTED_FORMAT");
    assert_eq!(
        reply.json["errors"][0]["pointer"],
        "/invoice/lines/0/credited_line"
    );
    let results = origin
        .batch(&[future.clone(), unknown_field, unknown_nested])
        .results()
        .clone();
    assert_eq!(statuses(&results), [503, 503, 503]);
    for result in &results {
        assert_eq!(result["problem"]["code"], "UNSUPPORTED_FORMAT");
    }
    assert_eq!(origin.health()["ledger_size"], 0);
    assert!(origin
        .metrics()
        .contains("origin_rejects_total{code=\"UNSUPPORTED_FORMAT\"} 6"));

    // The document as this version signs it goes through.
    assert_eq!(origin.put(&document).status, 201);
}

#[test]
fn malformed_and_unknown_requests_are_problems() {
    let setup = Setup::new();
    let origin = setup.start();
    let mut series = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    let document = series.next("M-1");
    let id = id_of(&document);

    origin
        .put_text(&id, "{")
        .assert_problem(400, "MALFORMED_JSON");
    // A key twice: the same reader as the edge refuses it, wherever it is.
    let text = serde_json::to_string(&document).unwrap();
    let twice = text.replacen("\"order_id\":", "\"order_id\":\"OTHER\",\"order_id\":", 1);
    assert_ne!(twice, text);
    origin
        .put_text(&id, &twice)
        .assert_problem(400, "DUPLICATE_KEY");
    // Depth and UTF-8 mean what they mean at the edge: the core's reader, its codes.
    origin
        .put_text(&id, &format!("{}{}", "[".repeat(200), "]".repeat(200)))
        .assert_problem(422, "JSON_TOO_DEEP");
    origin
        .put_bytes(&id, b"{\"invoice\": \"\xff\"}")
        .assert_problem(400, "INVALID_UTF8");
    origin
        .put_text(&id, "[]")
        .assert_problem(400, "MALFORMED_DOCUMENT");
    // An invoice without any format is broken, not from a newer version.
    origin
        .put_text(&id, r#"{"invoice": {}, "edge_signature": {}}"#)
        .assert_problem(400, "MALFORMED_DOCUMENT");
    // A known format with a field of the wrong type.
    let mut wrong_type = document.clone();
    wrong_type["invoice"]["lines"] = json!(5);
    origin
        .put(&wrong_type)
        .assert_problem(400, "MALFORMED_DOCUMENT");
    let reply = origin.put_text(
        &id,
        r#"{"invoice": {"format": "invoice-edge/2", "id": 5}, "edge_signature": {"alg": "EdDSA"}}"#,
    );
    reply.assert_problem(400, "MALFORMED_DOCUMENT");
    // Every unusable field is listed, not only the first.
    assert!(
        reply.json["errors"].as_array().unwrap().len() >= 8,
        "{}",
        reply.text
    );
    // A version 2 invoice without its place in the series.
    for field in ["seq", "prev_hash", "number"] {
        let mut placeless = document.clone();
        placeless["invoice"].as_object_mut().unwrap().remove(field);
        let reply = origin.put(&placeless);
        reply.assert_problem(400, "MALFORMED_DOCUMENT");
        assert_eq!(
            reply.json["errors"][0]["pointer"],
            format!("/invoice/{field}"),
            "{}",
            reply.text
        );
    }
    let mut zero = document.clone();
    zero["invoice"]["seq"] = json!(0);
    origin.put(&zero).assert_problem(400, "MALFORMED_DOCUMENT");
    let mut no_signature = document.clone();
    no_signature["edge_signature"] = json!({"alg": "EdDSA"});
    origin
        .put(&no_signature)
        .assert_problem(400, "MALFORMED_DOCUMENT");
    // A changed signed field, under a known kid: permanent 422.
    let mut tampered = document.clone();
    tampered["invoice"]["totals"]["gross"] = json!("0.01");
    origin
        .put(&tampered)
        .assert_problem(422, "SIGNATURE_INVALID");
    let mut tampered = document.clone();
    tampered["invoice"]["seq"] = json!(2);
    origin
        .put(&tampered)
        .assert_problem(422, "SIGNATURE_INVALID");
    // The path must name the document's own id.
    origin
        .put_text(&new_id(), &document.to_string())
        .assert_problem(400, "ID_MISMATCH");

    let plain = origin.call(
        "PUT",
        &format!("/v1/ledger/invoices/{id}"),
        None,
        Auth::Edge,
    );
    assert_eq!(plain.unwrap().status, 400);
    let text_plain = ureq::put(&format!("{}/v1/ledger/invoices/{id}", origin.url))
        .set("Authorization", &format!("Bearer {}", setup.edge_token))
        .set("Content-Type", "text/plain")
        .send_string(&document.to_string());
    match text_plain {
        Err(ureq::Error::Status(415, response)) => {
            let body: Value = serde_json::from_str(&response.into_string().unwrap()).unwrap();
            assert_eq!(body["code"], "UNSUPPORTED_MEDIA_TYPE");
        }
        other => panic!("expected 415, got {other:?}"),
    }

    origin.get("/v1/nothing").assert_problem(404, "NOT_FOUND");
    origin.stored(&new_id()).assert_problem(404, "NOT_FOUND");
    origin.stored("not-a-uuid").assert_problem(404, "NOT_FOUND");
    let reply = origin
        .call(
            "DELETE",
            &format!("/v1/ledger/invoices/{id}"),
            None,
            Auth::Edge,
        )
        .unwrap();
    reply.assert_problem(405, "METHOD_NOT_ALLOWED");
    origin
        .call("GET", "/v1/ledger/batch", None, Auth::Edge)
        .unwrap()
        .assert_problem(405, "METHOD_NOT_ALLOWED");
    assert_eq!(origin.health()["ledger_size"], 0);

    // After all that, the document itself still goes through as seq 1.
    let reply = origin.put(&document);
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["seq"], 1);
    assert_eq!(origin.health()["ledger_size"], 1);
}

#[test]
fn a_version_1_document_is_not_numbered_by_the_origin() {
    // Version 2 numbers at the edge only: an unnumbered `invoice-edge/1` document is a format
    // this origin does not archive (retryable, as for any format it does not know).
    let setup = Setup::new();
    let origin = setup.start();
    let shop = merchant_with("shop", json!([{"name": "LEGACY"}]));
    let old = legacy_v1(&setup.edge, &shop, "LEGACY", "V1-1");
    assert_eq!(old["invoice"]["format"], "invoice-edge/1");
    origin.put(&old).assert_problem(503, "UNSUPPORTED_FORMAT");
    assert_eq!(origin.health()["ledger_size"], 0);
}

#[test]
fn a_version_1_ledger_file_is_refused_at_start() {
    let setup = Setup::new();
    if setup.is_pg() {
        // Version 1 existed only as a SQLite file; a PostgreSQL ledger starts at version 2.
        return;
    }
    {
        let conn = rusqlite::Connection::open(&setup.db).unwrap();
        conn.execute_batch(
            "CREATE TABLE entries (ledger_seq INTEGER PRIMARY KEY, invoice_id TEXT, number TEXT);
             CREATE TABLE series (series TEXT PRIMARY KEY, last_seq INTEGER);
             CREATE TABLE origin_keys (kid TEXT PRIMARY KEY, jwk TEXT, first_used_at TEXT);
             INSERT INTO entries VALUES (1, 'x', 'DEMO-2026-00000001');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let error = match setup.try_start(&setup.serve_args(true)) {
        Ok(_) => panic!("a version 1 ledger with entries was opened"),
        Err(error) => error,
    };
    assert!(error.contains("exit Some(1)"), "{error}");
    assert!(
        error.contains("version 1") && error.contains("new --db"),
        "{error}"
    );
}

#[test]
fn the_origin_checks_the_credit_cap_again_at_archiving() {
    let setup = Setup::new();
    let origin = setup.start();
    let tea = |order: &str| json!({"order_id": order, "reason_code": "02", "lines": [{"line": 0, "quantity": "1"}]});
    let mut writer = SeriesWriter::new(&setup.edge, &merchant("demo", &["DEMO"]), "DEMO");
    let invoice = writer.next("INV-1");
    assert_eq!(origin.put(&invoice).status, 201);
    // One of the two teas: within the invoice, archived like any document.
    let first = writer.next_credit(&invoice, &[], tea("CN-1"));
    assert_eq!(first["invoice"]["kind"], "credit_note");
    let reply = origin.put(&first);
    assert_eq!(reply.status, 201, "{}", reply.json);
    let after_first = writer.clone();
    // The whole invoice again: more than it together. The edge's object refuses this; should
    // an edge let it through, the ledger of record does not, and for good.
    let over = writer.next_credit(
        &invoice,
        &[],
        json!({"order_id": "CN-2", "reason_code": "01"}),
    );
    origin
        .put(&over)
        .assert_problem(422, "CREDIT_EXCEEDS_INVOICE");
    assert!(invoice_edge_core::ledger::is_permanent(
        invoice_edge_core::Code::CreditExceedsInvoice
    ));
    assert_eq!(origin.stored(&id_of(&over)).status, 404, "not archived");
    // A credit note of a credit note (one relabelled an invoice and signed by a faulty edge)
    // is refused at the same place of the chain: the archived original is a credit note.
    let mut relabelled = first.clone();
    relabelled["invoice"]["kind"] = json!("invoice");
    let relabelled = sign_json(&setup.edge, relabelled);
    let of_note = after_first.clone().next_credit(
        &relabelled,
        &[],
        json!({"order_id": "CN-3", "reason_code": "01"}),
    );
    origin
        .put(&of_note)
        .assert_problem(422, "CREDIT_EXCEEDS_INVOICE");
    // The other tea is credited at that place: its tax is what the first left (12.97 - 6.49),
    // so the two credit exactly the invoice.
    let last = after_first
        .clone()
        .next_credit(&invoice, &[&first], tea("CN-4"));
    assert_eq!(last["invoice"]["totals"]["tax"], "6.48");
    let reply = origin.put(&last);
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(setup.verify().0, 0);
}
