//! Several origin processes on one database (docs/ORIGIN.md, "PostgreSQL: several origins, one replicated database";
//! issue 17): migrations that race, and two `invoice-origin serve` processes archiving four
//! series at once while the first is killed mid-delivery. Multi-active needs PostgreSQL; on
//! SQLite only the migration test runs (one process per file, docs/ORIGIN.md).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::Value;

use crate::helpers::*;

#[test]
fn migrate_is_idempotent_and_two_at_once_do_not_race() {
    let setup = Setup::new();
    let runs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    Command::new(BIN)
                        .args(["migrate", "--db", &setup.db])
                        .output()
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // PostgreSQL's second migration indexes credit notes; SQLite's third (after version 1's
    // and version 2's schemas) does the same.
    let version = if setup.db.starts_with("postgres") {
        2
    } else {
        3
    };
    for run in runs {
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(out.trim(), format!("ledger schema at version {version}"));
    }
    // The migrated ledger serves, and verifies empty.
    let origin = setup.start();
    assert_eq!(origin.put(&documents(&setup.edge, "M", 1)[0]).status, 201);
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
}

/// The CLI (`invoice-edge`), built beside `invoice-origin` by `make binaries`.
fn cli_binary() -> PathBuf {
    let path = std::env::var_os("INVOICE_EDGE_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(BIN).with_file_name("invoice-edge"));
    assert!(
        path.exists(),
        "{} is missing: `make binaries` builds the CLI",
        path.display()
    );
    path
}

/// `invoice-edge finalize` of one document through `origin`: its receipt.
fn finalize(cli: &PathBuf, origin: &str, token: &str, document: &Value) -> Result<Value, String> {
    let mut child = Command::new(cli)
        .args(["finalize", "--origin", origin, "--token", token])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let printed: Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    Ok(printed["final"].clone())
}

#[test]
fn two_origins_on_one_database_archive_four_series_through_a_kill() {
    let setup = Setup::new();
    if !setup.is_pg() {
        // One process per SQLite file: multi-active is the PostgreSQL backend's (docs/ORIGIN.md).
        return;
    }
    const PER_SERIES: usize = 500;
    const BATCH: usize = 50;
    const CLI_DOCUMENTS: usize = 30;
    const KILL_AFTER: usize = 500;
    let cli = cli_binary();
    let first = setup.start();
    let second = setup.start();
    let origins = [&first, &second];
    let names = ["MA0", "MA1", "MA2", "MA3"];
    let shop = merchant("shop", &names);
    let streams: Vec<Vec<Value>> = names
        .iter()
        .map(|name| SeriesWriter::new(&setup.edge, &shop, name).take(name, PER_SERIES))
        .collect();
    let total = PER_SERIES * names.len();
    let acknowledged: Mutex<HashMap<String, Value>> = Mutex::new(HashMap::new());
    let count = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    let cli_done = AtomicUsize::new(0);
    let failed_over = AtomicUsize::new(0);

    std::thread::scope(|scope| {
        for (s, stream) in streams.iter().enumerate() {
            let (acknowledged, count, killed, cli_done, cli, token) = (
                &acknowledged,
                &count,
                &killed,
                &cli_done,
                &cli,
                &setup.edge_token,
            );
            let failed_over = &failed_over;
            scope.spawn(move || {
                // Three series start on the first origin, as an edge whose ORIGIN_URL lists it
                // first; the fourth writes through the second from the start, its first
                // documents by the CLI's `finalize`: both processes archive at once.
                let mut at = if s < 3 { 0 } else { 1 };
                let mut next = 0;
                let record = |documents: &[Value], finals: Vec<Value>| {
                    let mut acknowledged = acknowledged.lock().unwrap();
                    for (document, final_) in documents.iter().zip(finals) {
                        assert_eq!(final_["seq"], document["invoice"]["seq"]);
                        acknowledged.insert(id_of(document), final_);
                    }
                    count.fetch_add(documents.len(), Ordering::SeqCst)
                };
                if s == 3 {
                    for document in &stream[..CLI_DOCUMENTS] {
                        let final_ = finalize(cli, &origins[1].url, token, document)
                            .unwrap_or_else(|e| panic!("finalize: {e}"));
                        record(std::slice::from_ref(document), vec![final_]);
                        cli_done.fetch_add(1, Ordering::SeqCst);
                    }
                    next = CLI_DOCUMENTS;
                }
                while next < stream.len() {
                    let chunk = &stream[next..(next + BATCH).min(stream.len())];
                    let reply = match origins[at].try_batch(chunk) {
                        Ok(reply) => reply,
                        Err(_) => {
                            // The process is gone: the next URL of the list, as the object does.
                            assert_eq!(at, 0, "the second origin failed");
                            at = 1;
                            failed_over.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                    };
                    let results = reply.results();
                    // A batch commits whole: archived now, or replayed after a lost answer.
                    let finals: Vec<Value> = results
                        .iter()
                        .map(|r| {
                            assert!(r["status"] == 201 || r["status"] == 200, "{r}");
                            r["final"].clone()
                        })
                        .collect();
                    let seen = record(chunk, finals) + chunk.len();
                    next += chunk.len();
                    if seen >= KILL_AFTER && at == 0 && !killed.swap(true, Ordering::SeqCst) {
                        origins[0].signal("KILL");
                    }
                }
            });
        }
    });
    assert!(killed.load(Ordering::SeqCst));
    // The kill landed mid-delivery: senders of the first origin moved to the second.
    assert!(failed_over.load(Ordering::SeqCst) > 0);
    assert_eq!(cli_done.load(Ordering::SeqCst), CLI_DOCUMENTS);
    let acknowledged = acknowledged.into_inner().unwrap();
    assert_eq!(acknowledged.len(), total);

    // One global chain: every ledger_seq from 1 to 2,000 exactly once, and every receipt is the
    // one stored (read back through the surviving process).
    let ledger_seqs: HashSet<u64> = acknowledged
        .values()
        .map(|f| f["ledger_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(ledger_seqs.len(), total);
    assert_eq!(ledger_seqs.iter().max(), Some(&(total as u64)));
    for (id, final_) in acknowledged.iter().step_by(97) {
        assert_eq!(&second.stored(id).json["final"], final_);
    }
    assert!(second
        .metrics()
        .contains("origin_db_backend{backend=\"postgres\"} 1"));
    drop(first);
    second.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("ledger OK: {total} entries, 4 series")),
        "{out}"
    );
    for name in names {
        let line = format!("series shop/{name}: seq 1..{PER_SERIES} ({name}-2026-00000001 ..");
        assert!(out.contains(&line), "missing {line}\n{out}");
    }
}
