//! Nothing acknowledged is lost, and nothing is archived twice: concurrent duplicates, rival
//! documents for one seq, and a SIGKILL in the middle of concurrent load (issue 7,
//! "Reliability").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn fifty_concurrent_submissions_of_one_id_archive_it_once() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", &["DEMO"]);
    let mut series = SeriesWriter::new(&setup.edge, &demo, "DEMO");
    let document = series.next("SAME-1");
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|_| scope.spawn(|| origin.put(&document)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = replies.iter().filter(|r| r.status == 201).count();
    let replayed = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!((created, replayed), (1, 49));
    assert!(replies.iter().all(|r| r.json == replies[0].json));
    assert_eq!(replies[0].json["number"], "DEMO-2026-00000001");

    // Twenty different documents for seq 2, at once: one wins, the others conflict for good.
    let rivals: Vec<Value> = (0..20)
        .map(|i| series.at(2, &hash_of(&document), &format!("SAME-2-{i}"), "49.90"))
        .collect();
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = rivals
            .iter()
            .map(|document| scope.spawn(|| origin.put(document)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.status == 409 && r.json["code"] == "SEQUENCE_CONFLICT")
            .count(),
        19
    );
    // Twenty documents at seq 3 for one order, one of them the next: the same.
    let winner = replies.iter().position(|r| r.status == 201).unwrap();
    let rivals: Vec<Value> = (0..20)
        .map(|_| series.at(3, &hash_of(&rivals[winner]), "SAME-3", "49.90"))
        .collect();
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = rivals
            .iter()
            .map(|document| scope.spawn(|| origin.put(document)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(replies.iter().filter(|r| r.status == 409).count(), 19);
    assert_eq!(origin.health()["ledger_size"], 3);
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("series demo/DEMO: seq 1..3"), "{out}");
}

#[test]
fn sigkill_mid_load_loses_nothing_acknowledged() {
    // Small enough for a debug build (each edge signature check there takes milliseconds),
    // large enough that most of the load is still to come when the kill lands.
    const PER_SERIES: usize = 40;
    const KILL_AFTER: usize = 30;
    let setup = Setup::new();
    let origin = setup.start();
    // Four series of one merchant, each delivered in order by its own sender, as each series'
    // Durable Object does: two PUT one by one, two send batches of 10.
    let names = ["KILL0", "KILL1", "KILL2", "KILL3"];
    let shop = merchant("shop", &names);
    let streams: Vec<Vec<Value>> = names
        .iter()
        .map(|name| SeriesWriter::new(&setup.edge, &shop, name).take(name, PER_SERIES))
        .collect();
    let total = streams.iter().map(Vec::len).sum::<usize>();
    let acknowledged: Mutex<HashMap<String, Value>> = Mutex::new(HashMap::new());
    let killed = AtomicBool::new(false);

    std::thread::scope(|scope| {
        for (s, stream) in streams.iter().enumerate() {
            let (origin, acknowledged, killed) = (&origin, &acknowledged, &killed);
            scope.spawn(move || {
                for chunk in stream.chunks(if s < 2 { 1 } else { 10 }) {
                    let finals: Vec<Value> = if s < 2 {
                        match origin.try_put(&chunk[0]) {
                            Ok(reply) => {
                                assert_eq!(reply.status, 201, "{}", reply.text);
                                vec![reply.json]
                            }
                            Err(_) => return,
                        }
                    } else {
                        match origin.try_batch(chunk) {
                            Ok(reply) => reply
                                .results()
                                .iter()
                                .map(|r| {
                                    assert_eq!(r["status"], 201, "{r}");
                                    r["final"].clone()
                                })
                                .collect(),
                            Err(_) => return,
                        }
                    };
                    let mut acknowledged = acknowledged.lock().unwrap();
                    for (document, final_) in chunk.iter().zip(finals) {
                        assert_eq!(final_["seq"], document["invoice"]["seq"]);
                        acknowledged.insert(id_of(document), final_);
                    }
                    // The sender that sees enough acknowledged kills the origin at once, while
                    // the others are mid-request: no timing is assumed.
                    if acknowledged.len() >= KILL_AFTER && !killed.swap(true, Ordering::SeqCst) {
                        origin.signal("KILL");
                    }
                }
            });
        }
    });
    assert!(killed.load(Ordering::SeqCst));
    drop(origin);
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() < total,
        "the kill came after the load had finished; nothing was tested"
    );

    // Restart on the same file: every acknowledged receipt is there, identical.
    let origin = setup.start();
    for (id, final_) in &acknowledged {
        let stored = origin.stored(id);
        assert_eq!(stored.status, 200, "acknowledged {id} is missing");
        assert_eq!(&stored.json["final"], final_);
    }
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");

    // Each series resent from seq 1, as its object would after the origin's SEQUENCE_GAP or a
    // timeout: what was acknowledged replays identically, and every series completes.
    let mut ledger_seqs = std::collections::HashSet::new();
    for stream in &streams {
        for chunk in stream.chunks(100) {
            let reply = origin.batch(chunk);
            for (document, result) in chunk.iter().zip(reply.results()) {
                match acknowledged.get(&id_of(document)) {
                    Some(final_) => {
                        assert_eq!(result["status"], 200, "{result}");
                        assert_eq!(&result["final"], final_);
                    }
                    // Archived but unacknowledged (the kill took the answer), or new.
                    None => assert!(
                        result["status"] == 201 || result["status"] == 200,
                        "{result}"
                    ),
                }
                assert_eq!(result["final"]["seq"], document["invoice"]["seq"]);
                assert!(
                    ledger_seqs.insert(result["final"]["ledger_seq"].clone()),
                    "{result}"
                );
            }
        }
    }
    assert_eq!(ledger_seqs.len(), total);
    assert_eq!(origin.health()["ledger_size"], json!(total));
    origin.stop();
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
