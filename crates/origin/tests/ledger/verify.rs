//! `invoice-origin verify`: passes on a sound ledger, across an origin key rotation, and names
//! the first broken link of a ledger edited behind the origin's back: in a document, the
//! global chain, a countersignature, a series chain or a series head.

use std::path::Path;

use invoice_edge_core::keys::Jwks;
use serde_json::Value;

use crate::helpers::*;

/// A connection to a tampered copy, on either backend. Statements use `$1`, `$2`… which both
/// SQLite and PostgreSQL read as positional parameters.
enum Db {
    Sqlite(rusqlite::Connection),
    Pg(postgres::Client),
}

impl Db {
    fn execute(&mut self, statement: &str, params: &[&str]) -> u64 {
        match self {
            Db::Sqlite(conn) => conn
                .execute(statement, rusqlite::params_from_iter(params.iter()))
                .unwrap() as u64,
            Db::Pg(client) => {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                client.execute(statement, &params).unwrap()
            }
        }
    }

    fn text(&mut self, query: &str) -> String {
        match self {
            Db::Sqlite(conn) => conn.query_row(query, [], |r| r.get(0)).unwrap(),
            Db::Pg(client) => client.query_one(query, &[]).unwrap().get(0),
        }
    }
}

/// Copies a cleanly stopped ledger (a file, or a database by `CREATE DATABASE … TEMPLATE`),
/// lifts its append-only triggers, and edits the copy; the copy's `--db`.
fn tampered_copy(setup: &Setup, name: &str, edit: impl FnOnce(&mut Db)) -> String {
    let (copy, mut db) = match pg_base() {
        Some(base) => {
            let name = format!(
                "{}_{}",
                name.replace(['.', '-'], "_"),
                hex::encode(fresh::<4>())
            );
            let source = setup.db();
            let source = &source[source.rfind('/').unwrap() + 1..];
            let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {source}"))
                .unwrap();
            let url = pg_url(&base, &name);
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client
                .batch_execute("ALTER TABLE entries DISABLE TRIGGER entries_append_only")
                .unwrap();
            (url, Db::Pg(client))
        }
        None => {
            let copy = setup.path(name);
            std::fs::copy(setup.db(), &copy).unwrap();
            let wal = setup.path("ledger.db-wal");
            if wal.exists() {
                std::fs::copy(&wal, setup.path(&format!("{name}-wal"))).unwrap();
            }
            let conn = rusqlite::Connection::open(&copy).unwrap();
            conn.execute_batch(
                "DROP TRIGGER entries_append_only_update; DROP TRIGGER entries_append_only_delete;",
            )
            .unwrap();
            (path_str(&copy).to_string(), Db::Sqlite(conn))
        }
    };
    edit(&mut db);
    copy
}

fn sql(statement: &'static str) -> impl FnOnce(&mut Db) {
    move |db| {
        let changed = db.execute(statement, &[]);
        assert_eq!(changed, 1, "{statement}");
    }
}

fn assert_broken(db: &str, trust: &Path, expected: &[&str]) {
    let (code, out) = verify_ledger(db, trust);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN"), "{out}");
    for text in expected {
        assert!(out.contains(text), "expected {text:?} in:\n{out}");
    }
}

#[test]
fn verify_passes_across_key_rotation_and_names_the_first_broken_link() {
    let setup = Setup::new();
    let origin = setup.start();
    let results = origin
        .batch(&documents(&setup.edge, "V", 8))
        .results()
        .clone();
    assert_eq!(statuses(&results), [201; 8]);
    let other = merchant("other", &["OTHER"]);
    let mut others = SeriesWriter::new(&setup.edge, &other, "OTHER");
    for i in 1..=3 {
        assert_eq!(origin.put(&others.next(&format!("O-{i}"))).status, 201);
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
    let keys: Jwks = serde_json::from_value(
        origin
            .call("GET", "/.well-known/jwks.json", None, Auth::Nothing)
            .unwrap()
            .json,
    )
    .unwrap();
    assert_eq!(keys.keys.len(), 2);
    let reply = origin.put(&others.next("O-4"));
    assert_eq!(reply.json["origin_kid"], rotated.kid());
    assert_eq!(reply.json["number"], "OTHER-2026-00000004");
    assert_eq!(reply.json["ledger_seq"], 12);
    origin.stop();

    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    for line in [
        "ledger OK: 12 entries, 2 series, 2 origin key(s)",
        "series demo/DEMO: seq 1..8 (DEMO-2026-00000001 .. DEMO-2026-00000008), 0 void, every link and signature valid",
        "series other/OTHER: seq 1..4 (OTHER-2026-00000001 .. OTHER-2026-00000004), 0 void",
    ] {
        assert!(out.contains(line), "missing {line}\n{out}");
    }

    let trust = setup.path("trust.json");
    // A signed field changed in the stored document: its hash no longer matches...
    let db = tampered_copy(
        &setup,
        "edited.db",
        sql("UPDATE entries SET document = replace(document, 'Buyer Co', 'Buyer Cx') WHERE ledger_seq = 7"),
    );
    assert_broken(&db, &trust, &["ledger_seq 7", "invoice_hash"]);
    // ... and with its hash column made to match, its edge signature fails.
    let db = tampered_copy(&setup, "edited-rehashed.db", |db| {
        let document = db.text("SELECT document FROM entries WHERE ledger_seq = 7");
        let edited: Value =
            serde_json::from_str(&document.replace("Buyer Co", "Buyer Cx")).unwrap();
        db.execute(
            "UPDATE entries SET document = $1, invoice_hash = $2 WHERE ledger_seq = 7",
            &[&edited.to_string(), &hash_of(&edited)],
        );
    });
    assert_broken(&db, &trust, &["ledger_seq 7", "SIGNATURE_INVALID"]);
    // A number changed: it is no longer the signed one.
    let db = tampered_copy(
        &setup,
        "renumbered.db",
        sql("UPDATE entries SET number = 'DEMO-2026-00000099' WHERE ledger_seq = 3"),
    );
    assert_broken(
        &db,
        &trust,
        &["ledger_seq 3", "DEMO-2026-00000099", "number"],
    );
    // A seq changed.
    let db = tampered_copy(
        &setup,
        "reseq.db",
        sql("UPDATE entries SET seq = 30 WHERE ledger_seq = 3"),
    );
    assert_broken(&db, &trust, &["ledger_seq 3", "seq"]);
    // A series link changed.
    let db = tampered_copy(
        &setup,
        "relinked.db",
        sql("UPDATE entries SET series_prev_hash = (SELECT invoice_hash FROM entries WHERE ledger_seq = 1) WHERE ledger_seq = 4"),
    );
    assert_broken(&db, &trust, &["ledger_seq 4", "series_prev_hash"]);
    // An entry removed: the next one does not follow.
    let db = tampered_copy(
        &setup,
        "deleted.db",
        sql("DELETE FROM entries WHERE ledger_seq = 5"),
    );
    assert_broken(&db, &trust, &["ledger_seq 6", "gap"]);
    // The last entry removed: the global chain is intact, but its series' head says more.
    let db = tampered_copy(
        &setup,
        "truncated.db",
        sql("DELETE FROM entries WHERE ledger_seq = 12"),
    );
    assert_broken(
        &db,
        &trust,
        &["series other/OTHER", "head says seq 4", "end at seq 3"],
    );
    // A countersignature replaced by another entry's.
    let db = tampered_copy(
        &setup,
        "resigned.db",
        sql("UPDATE entries SET origin_signature = (SELECT origin_signature FROM entries WHERE ledger_seq = 1) WHERE ledger_seq = 2"),
    );
    assert_broken(&db, &trust, &["ledger_seq 2", "countersignature"]);
    // A series head moved on, as if a document had been acknowledged and lost.
    let db = tampered_copy(
        &setup,
        "ahead.db",
        sql("UPDATE series SET head_seq = 9 WHERE merchant = 'demo' AND series = 'DEMO'"),
    );
    assert_broken(&db, &trust, &["series demo/DEMO", "head says seq 9"]);
    let db = tampered_copy(
        &setup,
        "head-hash.db",
        sql("UPDATE series SET head_hash = (SELECT invoice_hash FROM entries WHERE ledger_seq = 1) WHERE merchant = 'demo'"),
    );
    assert_broken(&db, &trust, &["series demo/DEMO"]);
    let db = tampered_copy(
        &setup,
        "headless.db",
        sql("DELETE FROM series WHERE merchant = 'other'"),
    );
    assert_broken(&db, &trust, &["no head row"]);
    // Without the edge's key, the first entry cannot be checked.
    std::fs::write(setup.path("empty.json"), r#"{"keys": []}"#).unwrap();
    assert_broken(
        &setup.db(),
        &setup.path("empty.json"),
        &["ledger_seq 1", "UNKNOWN_KID"],
    );
    // The untouched ledger still verifies; a missing one is an I/O error.
    assert_eq!(setup.verify().0, 0);
    let (code, out) = verify_ledger(&setup.missing_db(), &trust);
    assert_eq!(code, 3, "{out}");
}
