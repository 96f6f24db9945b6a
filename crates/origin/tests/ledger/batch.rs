//! `POST /v1/ledger/batch`: always 200, one result per document in order, each with the status
//! the single PUT would have had; documents are judged in order, so a series chains within one
//! batch, and a bad document fails alone.

use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn a_batch_answers_each_document_independently() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", &["DEMO", "T", "U"]);
    let mut series = SeriesWriter::new(&setup.edge, &demo, "DEMO");
    let first = series.next("B-1");
    let second = series.next("B-2");
    // Refused documents each in a series of their own, so they leave DEMO's chain alone.
    let mut tampered = SeriesWriter::new(&setup.edge, &demo, "T").next("T-1");
    tampered["invoice"]["buyer"]["name"] = json!("Someone Else");
    let unknown = SeriesWriter::new(&new_key(), &demo, "U").next("U-1");
    // DEMO's seq 3, but for order B-1, which seq 1 already has.
    let same_order = series.clone().next("B-1");
    // DEMO's seq 5: 3 and 4 are missing.
    let mut ahead = series.clone();
    ahead.take("AHEAD", 2);
    let gap = ahead.next("AHEAD-5");
    assert_eq!(gap["invoice"]["seq"], 5);
    let batch = vec![
        first.clone(),
        tampered.clone(),
        second.clone(),
        unknown,
        first.clone(),
        json!(42),
        same_order,
        json!({"invoice": {"id": "x"}}),
        gap,
    ];
    let reply = origin.batch(&batch);
    assert_eq!(reply.content_type, "application/json");
    let results = reply.results();
    assert_eq!(
        statuses(results),
        [201, 422, 201, 503, 200, 400, 409, 400, 409]
    );
    let ids: Vec<Value> = results.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids[0], first["invoice"]["id"]);
    assert_eq!(ids[1], tampered["invoice"]["id"]);
    assert_eq!(ids[5], Value::Null);
    assert_eq!(ids[7], "x");
    assert_eq!(results[0]["final"]["number"], "DEMO-2026-00000001");
    assert_eq!(results[2]["final"]["number"], "DEMO-2026-00000002");
    assert_eq!(
        results[2]["final"]["prev_hash"],
        results[0]["final"]["hash"]
    );
    assert_eq!(results[4]["final"], results[0]["final"]);
    assert_eq!(results[1]["problem"]["code"], "SIGNATURE_INVALID");
    assert_eq!(results[3]["problem"]["code"], "UNKNOWN_KID");
    assert_eq!(results[5]["problem"]["code"], "MALFORMED_DOCUMENT");
    assert_eq!(results[6]["problem"]["code"], "ORDER_CONFLICT");
    assert_eq!(results[7]["problem"]["code"], "MALFORMED_DOCUMENT");
    assert_eq!(results[8]["problem"]["code"], "SEQUENCE_GAP");
    assert_eq!(results[8]["problem"]["expected_seq"], 3);
    assert!(results[0].get("problem").is_none());
    assert!(results[1].get("final").is_none());

    // The batch and the single PUT agree.
    let put = origin.put(&second);
    assert_eq!(put.status, 200);
    assert_eq!(put.json, results[2]["final"]);
    assert_eq!(origin.health()["ledger_size"], 2);
    assert_eq!(origin.batch(&[]).json, json!({"results": []}));
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_batch_of_100_with_one_bad_document_archives_the_99_others() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", &["DEMO", "OTHER"]);
    let mut series = SeriesWriter::new(&setup.edge, &demo, "DEMO");

    // 1. The bad document is of another series (OTHER's seq 1) and its signature is broken:
    //    it is refused, and DEMO's 99 documents around it chain on without it.
    let first_99 = series.take("H", 99);
    let mut batch = first_99.clone();
    let mut bad = SeriesWriter::new(&setup.edge, &demo, "OTHER").next("H-1");
    let sig = bad["edge_signature"]["sig"].as_str().unwrap().to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    bad["edge_signature"]["sig"] = json!(format!("{flipped}{}", &sig[1..]));
    batch.insert(50, bad);
    let results = origin.batch(&batch).results().clone();
    assert_eq!(results.len(), 100);
    let mut seq = 0;
    for (i, result) in results.iter().enumerate() {
        if i == 50 {
            assert_eq!(result["status"], 422, "{result}");
            assert_eq!(result["problem"]["code"], "SIGNATURE_INVALID");
            continue;
        }
        seq += 1;
        assert_eq!(result["status"], 201, "{result}");
        assert_eq!(result["final"]["seq"], seq);
        assert_eq!(result["final"]["ledger_seq"], seq);
    }
    assert_eq!(seq, 99);

    // 2. The bad document is DEMO's own, but a rival of an archived seq (5), validly signed:
    //    SEQUENCE_CONFLICT, and it takes no place from the documents that follow it.
    let mut batch = series.take("I", 19);
    let rival = series.at(5, &hash_of(&first_99[3]), "I-R", "1.00");
    batch.insert(10, rival);
    let results = origin.batch(&batch).results().clone();
    assert_eq!(results.len(), 20);
    for (i, result) in results.iter().enumerate() {
        if i == 10 {
            assert_eq!(result["status"], 409, "{result}");
            assert_eq!(result["problem"]["code"], "SEQUENCE_CONFLICT");
        } else {
            assert_eq!(result["status"], 201, "{result}");
        }
    }
    assert_eq!(results[19]["final"]["seq"], 118);
    assert_eq!(results[19]["final"]["ledger_seq"], 118);
    assert_eq!(origin.health()["ledger_size"], 118);
}

#[test]
fn a_batch_of_five_hundred_is_one_transaction_and_more_is_413() {
    let setup = Setup::new();
    let origin = setup.start();
    let documents = documents(&setup.edge, "F", 500);
    let results = origin.batch(&documents).results().clone();
    assert_eq!(results.len(), 500);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["status"], 201, "{result}");
        assert_eq!(result["final"]["ledger_seq"], i + 1);
        assert_eq!(result["final"]["seq"], i + 1);
        assert_eq!(result["final"]["number"], format!("DEMO-2026-{:08}", i + 1));
    }
    let mut too_many = documents.clone();
    too_many.push(documents[0].clone());
    origin
        .batch(&too_many)
        .assert_problem(413, "BATCH_TOO_LARGE");
    for body in [r#"{"documents": 5}"#, "[]", r#"{"docs": []}"#] {
        origin
            .call("POST", "/v1/ledger/batch", Some(body), Auth::Edge)
            .unwrap()
            .assert_problem(400, "WRONG_TYPE");
    }
    // Over 16 MiB.
    let oversize = json!({"documents": [], "padding": "x".repeat(16 * 1024 * 1024 + 1)});
    origin
        .call(
            "POST",
            "/v1/ledger/batch",
            Some(&oversize.to_string()),
            Auth::Edge,
        )
        .unwrap()
        .assert_problem(413, "BODY_TOO_LARGE");
    assert_eq!(origin.health()["ledger_size"], 500);
}
