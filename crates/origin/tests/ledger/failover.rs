//! The failover drill (docs/ORIGIN.md, "Failover"; issue 17): two origin processes on a
//! PostgreSQL primary with a synchronous streaming standby, under steady delivery of four
//! series. It kills one origin process, then stops the primary (an immediate shutdown, as
//! losing the machine), promotes the standby and clears its `synchronous_standby_names` (it has
//! no standby of its own, so every commit would wait forever). It measures each fault's RTO
//! (from the fault to the first batch, sent after it, that is archived), and checks that
//! everything acknowledged is in the new primary and that `verify` passes.
//!
//! tests/origin-failover.test.mjs builds the two servers and passes them in
//! `ORIGIN_TEST_FAILOVER`: `{"primary": URL, "standby": URL, "primary_pid_file": PATH}`;
//! `DRILL_PER_SERIES` sets the load (`make drill-failover` runs the long form). Without it
//! the drill does not run: `cargo test` alone has no second server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

/// One batch delivered: when it was sent and when it was acknowledged, from the drill's start.
struct Delivery {
    sent: Duration,
    acknowledged: Duration,
}

/// The first acknowledgement of a batch sent at or after `fault`, less `fault`.
fn rto(deliveries: &[Delivery], fault: Duration) -> Option<Duration> {
    deliveries
        .iter()
        .filter(|d| d.sent >= fault)
        .map(|d| d.acknowledged)
        .min()
        .map(|at| at - fault)
}

#[test]
fn failover_drill() {
    let Ok(config) = std::env::var("ORIGIN_TEST_FAILOVER") else {
        return;
    };
    let config: Value = serde_json::from_str(&config).unwrap();
    let primary = config["primary"].as_str().unwrap().to_string();
    let standby = config["standby"].as_str().unwrap().to_string();
    let pid_file = config["primary_pid_file"].as_str().unwrap().to_string();
    let per_series: usize = std::env::var("DRILL_PER_SERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(120);
    const BATCH: usize = 10;
    let pace = Duration::from_millis(40);

    // One database, created on the primary and streamed to the standby; the origins name both
    // hosts and ask for the writable one.
    let mut setup = Setup::new();
    let name = format!("drill_{}", hex::encode(fresh::<4>()));
    let mut admin = postgres::Client::connect(&primary, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let host = |url: &str| {
        let rest = &url[url.find('@').unwrap() + 1..];
        rest[..rest.find('/').unwrap()].to_string()
    };
    setup.db = format!(
        "postgres://postgres@{},{}/{name}?target_session_attrs=read-write&connect_timeout=2",
        host(&primary),
        host(&standby)
    );
    let first = setup.start();
    let second = setup.start();
    let origins = [&first, &second];

    let names = ["FO0", "FO1", "FO2", "FO3"];
    let shop = merchant("shop", &names);
    let streams: Vec<Vec<Value>> = names
        .iter()
        .map(|name| SeriesWriter::new(&setup.edge, &shop, name).take(name, per_series))
        .collect();
    let total = per_series * names.len();
    let acknowledged: Mutex<HashMap<String, Value>> = Mutex::new(HashMap::new());
    let deliveries: Mutex<Vec<Delivery>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let mut faults: Vec<(&str, Duration)> = Vec::new();
    let mut steps: Vec<(&str, Duration)> = Vec::new();

    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        for stream in &streams {
            let (acknowledged, deliveries) = (&acknowledged, &deliveries);
            senders.push(scope.spawn(move || {
                // As a series' object with ORIGIN_URL = first,second: it tries them in order
                // and stays with the first that answers; a 5xx is retried after a pause.
                let mut at = 0;
                for chunk in stream.chunks(BATCH) {
                    let deadline = Instant::now() + Duration::from_secs(300);
                    let sent = started.elapsed();
                    let finals = loop {
                        assert!(Instant::now() < deadline, "a batch was never archived");
                        match origins[at].try_batch(chunk) {
                            Err(_) => {
                                at = (at + 1) % origins.len();
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            Ok(reply) => {
                                let results = reply.results();
                                if results
                                    .iter()
                                    .all(|r| r["status"] == 201 || r["status"] == 200)
                                {
                                    break results
                                        .iter()
                                        .map(|r| r["final"].clone())
                                        .collect::<Vec<_>>();
                                }
                                // Only retryable answers are expected during a failover.
                                for r in results {
                                    assert!(r["status"].as_u64() >= Some(500), "{r}");
                                }
                                std::thread::sleep(Duration::from_millis(200));
                            }
                        }
                    };
                    deliveries.lock().unwrap().push(Delivery {
                        sent,
                        acknowledged: started.elapsed(),
                    });
                    let mut acknowledged = acknowledged.lock().unwrap();
                    for (document, final_) in chunk.iter().zip(finals) {
                        assert_eq!(final_["seq"], document["invoice"]["seq"]);
                        acknowledged.insert(id_of(document), final_);
                    }
                    drop(acknowledged);
                    std::thread::sleep(pace);
                }
            }));
        }

        // The faults, while the senders run.
        let wait_for = |count: usize| {
            while acknowledged.lock().unwrap().len() < count {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait_for(total / 5);
        faults.push(("origin process killed", started.elapsed()));
        first.signal("KILL");

        wait_for(total * 2 / 5);
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        // SIGQUIT to the postmaster: pg_ctl's immediate shutdown, no checkpoint, as a crash.
        faults.push(("primary stopped", started.elapsed()));
        let status = std::process::Command::new("kill")
            .args(["-QUIT", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        // The failover an operator (or their tooling) runs: promote, then clear the standby
        // requirement, which the new primary cannot meet.
        let mut new_primary = postgres::Client::connect(&standby, postgres::NoTls).unwrap();
        let promoted: bool = new_primary
            .query_one("SELECT pg_promote(true, 60)", &[])
            .unwrap()
            .get(0);
        assert!(promoted);
        steps.push(("standby promoted", started.elapsed()));
        // Two statements: ALTER SYSTEM cannot run in the implicit transaction of a batch.
        new_primary
            .batch_execute("ALTER SYSTEM SET synchronous_standby_names = ''")
            .unwrap();
        new_primary
            .batch_execute("SELECT pg_reload_conf()")
            .unwrap();
        steps.push(("synchronous_standby_names cleared", started.elapsed()));

        for sender in senders {
            sender.join().unwrap();
        }
    });
    let elapsed = started.elapsed();
    let deliveries = deliveries.into_inner().unwrap();
    let acknowledged = acknowledged.into_inner().unwrap();
    assert_eq!(acknowledged.len(), total);

    let mut report = format!(
        "failover drill: {total} documents in 4 series, batches of {BATCH}, in {:.1} s\n",
        elapsed.as_secs_f64()
    );
    for (what, at) in &steps {
        report += &format!("  {what} at {:.3} s\n", at.as_secs_f64());
    }
    for (what, at) in &faults {
        let recovered = rto(&deliveries, *at).expect("archiving never resumed after a fault");
        report += &format!(
            "  {what} at {:.3} s: archiving again after {:.3} s (RTO)\n",
            at.as_secs_f64(),
            recovered.as_secs_f64()
        );
        // The targets (issue 17; docs/ORIGIN.md, "RTO and RPO"): seconds for a process,
        // under 15 minutes for a primary.
        let limit = if what.starts_with("origin") { 10 } else { 900 };
        assert!(recovered < Duration::from_secs(limit), "{report}");
    }

    // Nothing acknowledged is lost: every receipt is on the new primary, identical.
    for (id, final_) in &acknowledged {
        let stored = second.stored(id);
        assert_eq!(stored.status, 200, "acknowledged {id} is missing\n{report}");
        assert_eq!(&stored.json["final"], final_);
    }
    let metrics = second.metrics();
    let retries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("origin_db_transaction_retries_total "))
        .unwrap_or("?")
        .to_string();
    report += &format!("  transaction retries in the surviving origin: {retries}\n");
    drop(first);
    second.stop();
    let (code, out) = setup.verify();
    assert_eq!(code, 0, "{out}\n{report}");
    assert!(
        out.contains(&format!("ledger OK: {total} entries, 4 series")),
        "{out}"
    );
    report += &format!("  verify: {}\n", out.lines().next().unwrap_or(""));
    println!("{report}");
    if let Ok(path) = std::env::var("DRILL_REPORT") {
        std::fs::write(path, &report).unwrap();
    }
}
