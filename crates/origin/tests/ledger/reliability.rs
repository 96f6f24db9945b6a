//! Nothing acknowledged is lost, and nothing is numbered twice: concurrent duplicates, and a
//! SIGKILL in the middle of concurrent load (issue 7, "Reliability").

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn fifty_concurrent_submissions_of_one_id_give_one_number() {
    let setup = Setup::new();
    let origin = setup.start();
    let demo = merchant("demo", "DEMO");
    let document = signed(&setup.edge, &demo, "SAME-1");
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

    // Twenty different invoices for one order, at once: one wins, the others are 409.
    let rivals: Vec<Value> = (0..20)
        .map(|_| signed(&setup.edge, &demo, "SAME-2"))
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
            .filter(|r| r.status == 409 && r.json["code"] == "ORDER_CONFLICT")
            .count(),
        19
    );
    assert_eq!(origin.health()["ledger_size"], 2);
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
}

#[test]
fn sigkill_mid_load_loses_nothing_acknowledged() {
    let setup = Setup::new();
    let origin = setup.start();
    // Four concurrent senders: two PUT one by one, two send batches of 10.
    let streams: Vec<Vec<Value>> = (0..4)
        .map(|s| documents(&setup.edge, &format!("KILL{s}"), 200))
        .collect();
    let total = streams.iter().map(Vec::len).sum::<usize>();
    let acknowledged: Mutex<HashMap<String, Value>> = Mutex::new(HashMap::new());

    std::thread::scope(|scope| {
        for (s, stream) in streams.iter().enumerate() {
            let (origin, acknowledged) = (&origin, &acknowledged);
            scope.spawn(move || {
                for chunk in stream.chunks(if s < 2 { 1 } else { 10 }) {
                    let finals: Vec<Value> = if s < 2 {
                        match origin.try_put(&chunk[0]) {
                            Ok(reply) => {
                                assert!(
                                    reply.status == 201 || reply.status == 200,
                                    "{}",
                                    reply.text
                                );
                                vec![reply.json]
                            }
                            Err(_) => return,
                        }
                    } else {
                        match origin.try_batch(chunk) {
                            Ok(reply) => reply.json["results"]
                                .as_array()
                                .unwrap()
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
                        let id = document["invoice"]["id"].as_str().unwrap().to_string();
                        acknowledged.insert(id, final_);
                    }
                }
            });
        }
        eventually("some acknowledged invoices", || {
            acknowledged.lock().unwrap().len() >= 100
        });
        origin.signal("KILL");
    });
    drop(origin);
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() < total,
        "the kill came after the load had finished; nothing was tested"
    );

    // Restart on the same file: every acknowledged invoice is there, with the same final data.
    let origin = setup.start();
    for (id, final_) in &acknowledged {
        let stored = origin.get(&format!("/v1/ledger/invoices/{id}"));
        assert_eq!(stored.status, 200, "acknowledged {id} is missing");
        assert_eq!(&stored.json["final"], final_);
    }
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");

    // Resend everything, acknowledged or not: each invoice ends up with exactly one number.
    let mut numbers = HashSet::new();
    for stream in &streams {
        for chunk in stream.chunks(100) {
            let reply = origin.batch(chunk);
            for (document, result) in chunk.iter().zip(reply.json["results"].as_array().unwrap()) {
                let id = document["invoice"]["id"].as_str().unwrap();
                match acknowledged.get(id) {
                    Some(final_) => {
                        assert_eq!(result["status"], 200, "{result}");
                        assert_eq!(&result["final"], final_);
                    }
                    None => assert!(
                        result["status"] == 201 || result["status"] == 200,
                        "{result}"
                    ),
                }
                assert!(
                    numbers.insert(result["final"]["number"].clone()),
                    "{result}"
                );
            }
        }
    }
    assert_eq!(numbers.len(), total);
    assert_eq!(origin.health()["ledger_size"], json!(total));
    origin.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("ledger OK: {total} entries")),
        "{out}"
    );
    assert!(
        out.contains(&format!("series DEMO: {total} numbers")),
        "{out}"
    );
}
