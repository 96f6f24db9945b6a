//! `invoice-origin verify`: passes on a sound ledger, across an origin key rotation, and names
//! the first broken link of a ledger edited behind the origin's back.

use std::path::Path;

use invoice_edge_core::keys::Jwks;
use rusqlite::Connection;

use crate::helpers::*;

/// Copies a cleanly stopped ledger and edits the copy with raw SQL.
fn tampered_copy(setup: &Setup, name: &str, sql: &str) -> std::path::PathBuf {
    let copy = setup.path(name);
    std::fs::copy(setup.db(), &copy).unwrap();
    let wal = setup.path("ledger.db-wal");
    if wal.exists() {
        std::fs::copy(&wal, setup.path(&format!("{name}-wal"))).unwrap();
    }
    let conn = Connection::open(&copy).unwrap();
    conn.execute_batch(
        "DROP TRIGGER entries_append_only_update; DROP TRIGGER entries_append_only_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
    copy
}

fn assert_broken(db: &Path, trust: &Path, expected: &[&str]) {
    let (code, out) = verify_ledger(db, trust);
    assert_eq!(code, 1, "{out}");
    for text in expected {
        assert!(out.contains(text), "expected {text:?} in:\n{out}");
    }
}

#[test]
fn verify_passes_and_names_the_first_broken_link() {
    let setup = Setup::new();
    let origin = setup.start();
    assert_eq!(origin.batch(&documents(&setup.edge, "V", 8)).status, 200);
    let other = merchant("other", "OTHER");
    for i in 0..3 {
        assert_eq!(
            origin
                .put(&signed(&setup.edge, &other, &format!("O-{i}")))
                .status,
            201
        );
    }
    origin.stop();

    // The origin's key rotates: old countersignatures still verify from the recorded keys.
    let rotated = new_key();
    std::fs::write(
        setup.path("origin.jwk"),
        serde_json::to_string(&rotated.to_private_jwk()).unwrap(),
    )
    .unwrap();
    let origin = setup.start();
    let keys: Jwks = serde_json::from_value(origin.get("/.well-known/jwks.json").json).unwrap();
    assert_eq!(keys.keys.len(), 2);
    let reply = origin.put(&signed(&setup.edge, &other, "O-3"));
    assert_eq!(reply.json["origin_kid"], rotated.kid());
    assert_eq!(reply.json["number"], "OTHER-2026-00000004");
    origin.stop();

    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ledger OK: 12 entries, 2 series, 2 origin key(s)"),
        "{out}"
    );
    assert!(
        out.contains("series DEMO: 8 numbers, DEMO-2026-00000001 .. DEMO-2026-00000008"),
        "{out}"
    );
    assert!(out.contains("series OTHER: 4 numbers"), "{out}");

    let trust = setup.path("trust.json");
    // A signed field changed in the stored document.
    let db = tampered_copy(
        &setup,
        "edited.db",
        "UPDATE entries SET document = replace(document, 'Buyer Co', 'Buyer Cx') WHERE ledger_seq = 7",
    );
    assert_broken(&db, &trust, &["ledger_seq 7", "SIGNATURE_INVALID"]);
    // A number changed: the chain hash no longer matches.
    let db = tampered_copy(
        &setup,
        "renumbered.db",
        "UPDATE entries SET number = 'DEMO-2026-00000099' WHERE ledger_seq = 3",
    );
    assert_broken(&db, &trust, &["ledger_seq 3", "DEMO-2026-00000099", "hash"]);
    // An entry removed: the next one does not link.
    let db = tampered_copy(
        &setup,
        "deleted.db",
        "DELETE FROM entries WHERE ledger_seq = 5",
    );
    assert_broken(&db, &trust, &["ledger_seq 6", "gap"]);
    // A countersignature replaced by another entry's.
    let db = tampered_copy(
        &setup,
        "resigned.db",
        "UPDATE entries SET origin_signature = (SELECT origin_signature FROM entries WHERE ledger_seq = 1) WHERE ledger_seq = 2",
    );
    assert_broken(&db, &trust, &["ledger_seq 2", "countersignature"]);
    // A number handed out and lost.
    let db = tampered_copy(
        &setup,
        "burned.db",
        "UPDATE series SET last_seq = 9 WHERE series = 'DEMO'",
    );
    assert_broken(&db, &trust, &["series DEMO", "9"]);
    // Without the edge's key, the first entry cannot be checked.
    std::fs::write(setup.path("empty.json"), r#"{"keys": []}"#).unwrap();
    assert_broken(
        &setup.db(),
        &setup.path("empty.json"),
        &["ledger_seq 1", "UNKNOWN_KID"],
    );
    // Not a ledger at all.
    let (code, out) = verify_ledger(&setup.path("missing.db"), &trust);
    assert_eq!(code, 3, "{out}");
}
