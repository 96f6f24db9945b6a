//! Single-document ingest: finalize, replay, conflicts, signatures, malformed input, reads.

use invoice_edge_core::document::{chain_hash, verify, VerifyCode};
use invoice_edge_core::keys::{hex, hex_decode, Jwks};
use serde_json::{json, Value};

use crate::helpers::*;

fn hash_bytes(text: &Value) -> [u8; 32] {
    hex_decode(text.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn finalizes_replays_and_chains() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", "DEMO");
    let first = signed(&setup.edge, &demo, "A-1");
    let id = first["invoice"]["id"].as_str().unwrap().to_string();

    let created = origin.put(&first);
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.content_type, "application/json");
    let final_ = &created.json;
    assert_eq!(final_["number"], "DEMO-2026-00000001");
    assert_eq!(final_["series"], "DEMO");
    assert_eq!(final_["ledger_seq"], 1);
    assert_eq!(final_["prev_hash"], hex(&[0; 32]));
    assert_eq!(final_["origin_kid"], setup.origin.kid());

    // A replay answers 200 with the very same final data, and never a second number.
    let replay = origin.put(&first);
    assert_eq!(replay.status, 200);
    assert_eq!(replay.json, created.json);

    // The next invoice links to the first.
    let second = origin.put(&signed(&setup.edge, &demo, "A-2"));
    assert_eq!(second.status, 201);
    assert_eq!(second.json["number"], "DEMO-2026-00000002");
    assert_eq!(second.json["ledger_seq"], 2);
    assert_eq!(second.json["prev_hash"], final_["hash"]);

    // The stored document is final, and verifies offline with the edge's and origin's keys.
    let document = origin.get(&format!("/v1/ledger/invoices/{id}"));
    assert_eq!(document.status, 200);
    assert_eq!(document.json["status"], "final");
    assert_eq!(document.json["final"], created.json);
    assert_eq!(document.json["invoice"], first["invoice"]);
    let mut keys: Jwks = serde_json::from_value(origin.get("/.well-known/jwks.json").json).unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].kid, setup.origin.kid());
    keys.push(setup.edge.public_jwk());
    let verification = verify(&document.json, &keys);
    assert_eq!(
        verification.code,
        VerifyCode::Valid,
        "{}",
        verification.detail
    );
    // The chain hash is SHA-256(prev_hash || invoice_hash || number).
    let invoice_hash = hash_bytes(&json!(verification.invoice_hash.unwrap()));
    assert_eq!(
        hex(&chain_hash(&[0; 32], &invoice_hash, "DEMO-2026-00000001")),
        final_["hash"]
    );

    let health = origin.health();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["ledger_size"], 2);
    let metrics = origin.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"));
    for line in [
        "origin_http_requests_total{method=\"PUT\",route=\"/v1/ledger/invoices/{id}\",status=\"201\"} 2",
        "origin_http_requests_total{method=\"PUT\",route=\"/v1/ledger/invoices/{id}\",status=\"200\"} 1",
        "origin_ingest_duration_seconds_count{route=\"put\"} 3",
        "origin_ledger_entries 2",
        "origin_documents_total{outcome=\"replayed\"} 1",
    ] {
        assert!(metrics.text.contains(line), "missing {line}\n{}", metrics.text);
    }
    origin.stop();
}

#[test]
fn numbers_follow_each_series_and_merchant_format() {
    let setup = Setup::new();
    std::fs::write(
        setup.path("merchants.json"),
        json!([
            {"config": {"id": "b", "series": "B", "number_format": "INV/{year}/{seq:05}"}, "api_key": "x"},
            {"id": "a", "series": "A"}
        ])
        .to_string(),
    )
    .unwrap();
    let origin = setup.start_with(&["--merchants", path_str(&setup.path("merchants.json"))]);
    let (a, b) = (merchant("a", "A"), merchant("b", "B"));
    let numbers: Vec<String> = [(&a, "1"), (&b, "1"), (&a, "2"), (&b, "2"), (&a, "3")]
        .iter()
        .map(|(config, order)| {
            let reply = origin.put(&signed(&setup.edge, config, order));
            assert_eq!(reply.status, 201, "{}", reply.text);
            reply.json["number"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        numbers,
        [
            "A-2026-00000001",
            "INV/2026/00001",
            "A-2026-00000002",
            "INV/2026/00002",
            "A-2026-00000003"
        ]
    );
}

#[test]
fn conflicts_are_409_and_bad_signatures_422() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", "DEMO");
    let id = new_id();
    let first = signed_with(&setup.edge, &demo, "C-1", &id, "49.90");
    assert_eq!(origin.put(&first).status, 201);

    // The same id with other content (another hash).
    let other = signed_with(&setup.edge, &demo, "C-1", &id, "59.90");
    origin.put(&other).assert_problem(409, "INVOICE_CONFLICT");
    // Another invoice for the same (merchant, order_id).
    let again = signed(&setup.edge, &demo, "C-1");
    let reply = origin.put(&again);
    reply.assert_problem(409, "ORDER_CONFLICT");
    assert!(reply.json["detail"].as_str().unwrap().contains(&id));
    // The same order id at another merchant is another order.
    assert_eq!(
        origin
            .put(&signed(&setup.edge, &merchant("shop2", "S2"), "C-1"))
            .status,
        201
    );

    // A changed signed field, under a known kid: permanent 422.
    let mut tampered = signed(&setup.edge, &demo, "C-2");
    tampered["invoice"]["totals"]["gross"] = json!("0.01");
    origin
        .put(&tampered)
        .assert_problem(422, "SIGNATURE_INVALID");
    // An unsupported format is refused before any signature is trusted.
    let mut future = signed(&setup.edge, &demo, "C-3");
    future["invoice"]["format"] = json!("invoice-edge/9");
    origin
        .put(&future)
        .assert_problem(422, "UNSUPPORTED_FORMAT");
    // Nothing of the refused ones was numbered.
    assert_eq!(origin.health()["ledger_size"], 2);
    let metrics = origin.get("/metrics").text;
    assert!(
        metrics.contains("origin_rejects_total{code=\"SIGNATURE_INVALID\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("origin_rejects_total{code=\"ORDER_CONFLICT\"} 1"),
        "{metrics}"
    );
}

#[test]
fn an_unknown_kid_is_503_until_sighup_trusts_it() {
    let setup = Setup::new();
    let origin = setup.start();
    let rotated = new_key();
    let document = signed(&rotated, &merchant("demo", "DEMO"), "K-1");
    origin.put(&document).assert_problem(503, "UNKNOWN_KID");
    // Retryable: a second try is still 503, nothing was stored.
    origin.put(&document).assert_problem(503, "UNKNOWN_KID");
    assert_eq!(origin.health()["ledger_size"], 0);

    // A bad trust file keeps the keys in force.
    std::fs::write(setup.path("trust.json"), "not json").unwrap();
    origin.signal("HUP");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        origin
            .put(&signed(&setup.edge, &merchant("demo", "DEMO"), "K-0"))
            .status,
        201
    );

    setup.trust(&[&setup.edge, &rotated]);
    origin.signal("HUP");
    eventually("the reload", || {
        origin.health()["trusted_kids"]
            .as_array()
            .is_some_and(|kids| kids.iter().any(|k| k == rotated.kid()))
    });
    let reply = origin.put(&document);
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["number"], "DEMO-2026-00000002");
}

#[test]
fn malformed_oversize_and_unknown_requests_are_problems() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", "DEMO");
    let document = signed(&setup.edge, &demo, "M-1");
    let id = document["invoice"]["id"].as_str().unwrap().to_string();

    origin
        .put_text(&id, "{")
        .assert_problem(400, "MALFORMED_JSON");
    origin
        .put_text(&id, "[]")
        .assert_problem(400, "MALFORMED_DOCUMENT");
    origin
        .put_text(&id, r#"{"invoice": {}, "edge_signature": {}}"#)
        .assert_problem(400, "MALFORMED_DOCUMENT");
    let reply = origin.put_text(
        &id,
        r#"{"invoice": {"id": 5}, "edge_signature": {"alg": "EdDSA"}}"#,
    );
    reply.assert_problem(400, "MALFORMED_DOCUMENT");
    // Every unusable field is listed, not only the first.
    assert!(
        reply.json["errors"].as_array().unwrap().len() >= 5,
        "{}",
        reply.text
    );
    let mut no_signature = document.clone();
    no_signature["edge_signature"] = json!({"alg": "EdDSA"});
    origin
        .put(&no_signature)
        .assert_problem(400, "MALFORMED_DOCUMENT");
    // The path must name the document's own id.
    origin
        .put_text(&new_id(), &document.to_string())
        .assert_problem(400, "ID_MISMATCH");

    // Over 256 KiB.
    let mut huge = document.clone();
    huge["padding"] = Value::String("x".repeat(300 * 1024));
    origin.put(&huge).assert_problem(413, "BODY_TOO_LARGE");

    let plain = ureq::put(&format!("{}/v1/ledger/invoices/{id}", origin.url))
        .set("Content-Type", "text/plain")
        .send_string(&document.to_string());
    match plain {
        Err(ureq::Error::Status(415, _)) => {}
        other => panic!("expected 415, got {other:?}"),
    }

    origin.get("/v1/nothing").assert_problem(404, "NOT_FOUND");
    origin
        .get(&format!("/v1/ledger/invoices/{}", new_id()))
        .assert_problem(404, "NOT_FOUND");
    origin
        .get("/v1/ledger/invoices/not-a-uuid")
        .assert_problem(404, "NOT_FOUND");
    match ureq::delete(&format!("{}/v1/ledger/invoices/{id}", origin.url)).call() {
        Err(ureq::Error::Status(405, response)) => {
            assert_eq!(response.content_type(), "application/problem+json")
        }
        other => panic!("expected 405, got {other:?}"),
    }

    // After all that, the document itself still goes through, and extra members are ignored.
    let mut with_status = document.clone();
    with_status["status"] = json!("pending_sync");
    assert_eq!(origin.put(&with_status).status, 201);
    assert_eq!(origin.health()["ledger_size"], 1);
}
