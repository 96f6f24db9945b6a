//! `invoice-origin void` (docs/ARCHITECTURE.md, "Delivery to the origin"): a document refused for good
//! stops its series, since every later document chains through it; archived as void, with the
//! operator's reason, it lets the rest chain on.

use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::keys::Jwks;
use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn a_voided_refusal_lets_the_rest_of_its_series_chain_on() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", &["DEMO", "SIG"]);

    // DEMO: seq 3 repeats seq 1's order, so it is refused (ORDER_CONFLICT), and 4 and 5,
    // which chain through it, wait.
    let mut series = SeriesWriter::new(&setup.edge, &demo, "DEMO");
    let sent = [
        series.next("O-1"),
        series.next("O-2"),
        series.next("O-1"),
        series.next("O-4"),
        series.next("O-5"),
    ];
    let one = origin.put(&sent[0]);
    let two = origin.put(&sent[1]);
    assert_eq!((one.status, two.status), (201, 201));
    origin.put(&sent[2]).assert_problem(409, "ORDER_CONFLICT");
    let reply = origin.put(&sent[3]);
    reply.assert_problem(409, "SEQUENCE_GAP");
    assert_eq!(reply.json["expected_seq"], 3);

    // What void refuses: no reason, the wrong series, a document that is not the next.
    let (code, _, err) = setup.void("demo", "DEMO", &sent[2], " ");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--reason"), "{err}");
    let (code, _, err) = setup.void("demo", "SIG", &sent[2], "duplicate order");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("belongs to demo/DEMO"), "{err}");
    let (code, _, err) = setup.void("demo", "DEMO", &sent[3], "not next");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("SEQUENCE_GAP"), "{err}");

    // The operator voids the refused document, while the origin runs.
    let (code, out, err) = setup.void("demo", "DEMO", &sent[2], "duplicate of O-1, refunded");
    assert_eq!(code, 0, "{out}{err}");
    let receipt: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(receipt["void"], true);
    assert_eq!(receipt["seq"], 3);
    assert_eq!(receipt["series"], "DEMO");
    assert_eq!(receipt["number"], sent[2]["invoice"]["number"]);
    assert_eq!(receipt["ledger_seq"], 3);
    assert_eq!(receipt["prev_hash"], two.json["hash"]);
    assert_eq!(receipt["origin_kid"], setup.origin.kid());
    // Once is enough.
    let (code, _, err) = setup.void("demo", "DEMO", &sent[2], "again");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already archived"), "{err}");

    // The refused document now replays its void receipt, and reads as final and void.
    let replay = origin.put(&sent[2]);
    assert_eq!((replay.status, &replay.json), (200, &receipt));
    let stored = origin.stored(&id_of(&sent[2]));
    assert_eq!(stored.json["final"], receipt);
    let mut keys: Jwks = serde_json::from_value(
        origin
            .call("GET", "/.well-known/jwks.json", None, Auth::Nothing)
            .unwrap()
            .json,
    )
    .unwrap();
    keys.push(setup.edge.public_jwk());
    let verification = verify(&stored.json, &keys);
    assert_eq!(
        verification.code,
        VerifyCode::Valid,
        "{}",
        verification.detail
    );
    assert!(
        verification.detail.contains("void"),
        "{}",
        verification.detail
    );

    // The rest of the series chains on.
    let results = origin.batch(&sent[3..]).results().clone();
    assert_eq!(statuses(&results), [201, 201]);
    assert_eq!(results[0]["final"]["seq"], 4);
    assert_eq!(results[0]["final"]["prev_hash"], receipt["hash"]);
    assert_eq!(results[1]["final"]["void"], false);

    // SIG: seq 2's signature is broken (its invoice is intact, so seq 3 still links to it).
    let mut sig = SeriesWriter::new(&setup.edge, &demo, "SIG");
    let mut bad = sig.take("S", 2);
    let third = sig.next("S-2");
    let text = bad[1]["edge_signature"]["sig"]
        .as_str()
        .unwrap()
        .to_string();
    let first_char = if text.starts_with('A') { "B" } else { "A" };
    bad[1]["edge_signature"]["sig"] = json!(format!("{first_char}{}", &text[1..]));
    assert_eq!(origin.put(&bad[0]).status, 201);
    origin.put(&bad[1]).assert_problem(422, "SIGNATURE_INVALID");
    origin.put(&third).assert_problem(409, "SEQUENCE_GAP");
    let (code, out, err) = setup.void("demo", "SIG", &bad[1], "signed by a broken HSM");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"void\": true"), "{out}");
    // The edge sends the refused document again when it resumes: the void receipt answers it,
    // although its signature still does not verify, so the series is not stopped again.
    let again = origin.put(&bad[1]);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["void"], true);
    // seq 3 is for the voided document's order: a void document keeps no order.
    let reply = origin.put(&third);
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["seq"], 3);

    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ledger OK: 8 entries, 2 series"), "{out}");
    assert!(
        out.contains(
            "series demo/DEMO: seq 1..5 (DEMO-2026-00000001 .. DEMO-2026-00000005), 1 void"
        ),
        "{out}"
    );
    assert!(out.contains("series demo/SIG: seq 1..3"), "{out}");
    assert!(out.contains("SIG-2026-00000003), 1 void"), "{out}");
}
