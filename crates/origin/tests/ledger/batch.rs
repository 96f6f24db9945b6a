//! `POST /v1/ledger/batch`: one answer per document, each as the single PUT would have had.

use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn a_batch_answers_each_document_independently() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", "DEMO");
    let first = signed(&setup.edge, &demo, "B-1");
    let mut tampered = signed(&setup.edge, &demo, "B-2");
    tampered["invoice"]["buyer"]["name"] = json!("Someone Else");
    let second = signed(&setup.edge, &demo, "B-3");
    let unknown = signed(&new_key(), &demo, "B-4");
    let same_order = signed(&setup.edge, &demo, "B-1");
    let batch = vec![
        first.clone(),
        tampered.clone(),
        second.clone(),
        unknown,
        first.clone(),
        json!(42),
        same_order,
        json!({"invoice": {"id": "x"}}),
    ];
    let reply = origin.batch(&batch);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let results = reply.json["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 422, 201, 503, 200, 400, 409, 400]);
    let ids: Vec<Value> = results.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids[0], first["invoice"]["id"]);
    assert_eq!(ids[1], tampered["invoice"]["id"]);
    assert_eq!(ids[5], Value::Null);
    assert_eq!(ids[7], "x");
    assert_eq!(results[0]["final"]["number"], "DEMO-2026-00000001");
    // A bad neighbour costs no number: the next good one is 2.
    assert_eq!(results[2]["final"]["number"], "DEMO-2026-00000002");
    assert_eq!(results[4]["final"], results[0]["final"]);
    assert_eq!(results[1]["problem"]["code"], "SIGNATURE_INVALID");
    assert_eq!(results[3]["problem"]["code"], "UNKNOWN_KID");
    assert_eq!(results[5]["problem"]["code"], "MALFORMED_DOCUMENT");
    assert_eq!(results[6]["problem"]["code"], "ORDER_CONFLICT");
    assert!(results[0].get("problem").is_none());
    assert!(results[1].get("final").is_none());

    // The batch and single PUT agree.
    assert_eq!(origin.put(&second).json, results[2]["final"]);
    assert_eq!(origin.health()["ledger_size"], 2);
    assert_eq!(origin.batch(&[]).json, json!({"results": []}));
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_batch_of_five_hundred_is_one_transaction_and_more_is_413() {
    let setup = Setup::new();
    let origin = setup.start();
    let documents = documents(&setup.edge, "F", 500);
    let reply = origin.batch(&documents);
    let results = reply.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["status"], 201);
        assert_eq!(result["final"]["ledger_seq"], i + 1);
        assert_eq!(result["final"]["number"], format!("DEMO-2026-{:08}", i + 1));
    }
    let mut too_many = documents.clone();
    too_many.push(documents[0].clone());
    origin
        .batch(&too_many)
        .assert_problem(413, "BATCH_TOO_LARGE");
    let not_a_batch = ureq::post(&format!("{}/v1/ledger/batch", origin.url))
        .set("Content-Type", "application/json")
        .send_string(r#"{"documents": 5}"#);
    match not_a_batch {
        Err(ureq::Error::Status(400, response)) => {
            let body: Value = serde_json::from_str(&response.into_string().unwrap()).unwrap();
            assert_eq!(body["code"], "WRONG_TYPE");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    assert_eq!(origin.health()["ledger_size"], 500);
}
