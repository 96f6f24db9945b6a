//! A bounded load benchmark of the origin ledger, against 127.0.0.1 only (issue 7,
//! "Performance"). It starts the real `invoice-origin` on a fresh SQLite file next to it,
//! signs every document beforehand (the edge's work, not the origin's), then measures:
//!
//! 1. batched ingest: `POST /v1/ledger/batch` with batches of `--batch` (default 100) from
//!    `--clients` concurrent senders. The edge numbers and chains each series, and the origin
//!    archives a series only in `seq` order, so each sender delivers a series of its own
//!    (`BENCH0`, `BENCH1`, ...) in order, as each series' Durable Object does. Every document is
//!    signature-checked, its chain link checked, appended to the audit chain, countersigned and
//!    committed with synchronous=FULL;
//! 2. single `PUT` latency, one request at a time (p50, p90, p99), in one more series (`PUT`);
//! 3. `invoice-origin verify` over the resulting ledger.
//!
//! Run (bench profile, from the workspace root; `make bench-origin`):
//!
//! ```text
//! cargo bench -p invoice-edge-origin --bench origin_load -- --invoices 20000
//! ```
//!
//! Options: --invoices N (20000), --batch N (100), --clients N (4), --puts N (2000),
//! --max-seconds N (120, a hard bound on each phase), --bin PATH (the invoice-origin binary;
//! default: the one cargo built for this bench), --dir PATH (where the ledger file goes),
//! --db DB (the ledger instead: a file, or an empty PostgreSQL database as `postgres://…`;
//! `make bench-origin-pg` starts servers for it, tests/support/pg-bench.mjs).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use invoice_edge_core::document::issue::{issue, IssueContext};
use invoice_edge_core::document::model::uuid_v7;
use invoice_edge_core::document::sign::{invoice_hash, Channel};
use invoice_edge_core::keys::{sha256, EdKey, Jwks};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::series::{next_position, ChainPosition, SeriesHead};
use invoice_edge_core::{parse_request, Payment};
use serde_json::{json, Value};

struct Options {
    invoices: usize,
    batch: usize,
    clients: usize,
    puts: usize,
    max_seconds: u64,
    bin: PathBuf,
    dir: PathBuf,
    db: Option<String>,
}

fn options() -> Result<Options, String> {
    // Cargo builds the package's binaries for its benches and names them here.
    let default_bin = PathBuf::from(env!("CARGO_BIN_EXE_invoice-origin"));
    let mut options = Options {
        invoices: 20_000,
        batch: 100,
        clients: 4,
        puts: 2_000,
        max_seconds: 120,
        bin: default_bin,
        dir: std::env::temp_dir(),
        db: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--bench" {
            continue; // cargo bench passes it to every bench binary
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--invoices" => options.invoices = number()?,
            "--batch" => options.batch = number()?.clamp(1, 500),
            "--clients" => options.clients = number()?.max(1),
            "--puts" => options.puts = number()?,
            "--max-seconds" => options.max_seconds = number()? as u64,
            "--bin" => options.bin = PathBuf::from(value),
            "--dir" => options.dir = PathBuf::from(value),
            "--db" => options.db = Some(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

/// The series of batch sender `client`.
fn batch_series(client: usize) -> String {
    format!("BENCH{client}")
}

/// The series of the single PUTs.
const PUT_SERIES: &str = "PUT";

fn merchant(clients: usize) -> MerchantConfig {
    let mut series: Vec<Value> = (0..clients)
        .map(|c| json!({ "name": batch_series(c) }))
        .collect();
    series.push(json!({ "name": PUT_SERIES }));
    serde_json::from_value(json!({
        "id": "bench",
        "seller": {"name": "Bench Shop", "country": "CN", "tax_id": "91110000600037341L"},
        "tax_profile": [{"category": "S", "rate": "13"}, {"category": "S", "rate": "6"}],
        "series": series,
        "payment_terms": "Paid at checkout"
    }))
    .expect("a valid merchant")
}

/// `count` documents of one series, numbered and chained in order as its Durable Object would.
fn series_documents(
    key: &EdKey,
    merchant: &MerchantConfig,
    series: &str,
    count: usize,
    now_ms: i64,
) -> Vec<Value> {
    let mut head: Option<SeriesHead> = None;
    (0..count)
        .map(|n| {
            let position = next_position(head.as_ref(), now_ms).expect("a next seq");
            let (document, hash) = document(key, merchant, series, n, &position, now_ms);
            head = Some(SeriesHead {
                seq: position.seq,
                hash,
                issued_at_ms: position.issued_at_ms,
            });
            document
        })
        .collect()
}

/// A typical checkout invoice: a company buyer and three lines (about 2 KB of JSON), with its
/// invoice hash (what the next document of the series links to).
fn document(
    key: &EdKey,
    merchant: &MerchantConfig,
    series: &str,
    n: usize,
    position: &invoice_edge_core::series::NextPosition,
    now_ms: i64,
) -> (Value, String) {
    let request = parse_request(&json!({
        "currency": "CNY",
        "series": series,
        "order_id": format!("LOAD-{now_ms}-{series}-{n}"),
        "buyer": {"kind": "company", "name": "Buyer Co", "tax_id": "91110000600037341L",
                  "email": "buyer@example.com", "address": {"line": "1 Road", "city": "Beijing"}},
        "lines": [
            {"description": "Tea", "quantity": "2", "unit_price": "49.90", "tax_category": "S", "tax_rate": "13"},
            {"description": "Cup", "quantity": "1", "unit_price": "15.00", "tax_category": "S", "tax_rate": "13"},
            {"description": "Delivery", "quantity": "1", "unit_price": "8.00", "tax_category": "S", "tax_rate": "6"}
        ]
    }))
    .expect("a valid request");
    let seed = sha256(format!("{now_ms}/{series}/{n}").as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&seed[..10]);
    let context = IssueContext {
        id: uuid_v7(now_ms as u64, random),
        issued_at_ms: position.issued_at_ms,
        edge_node: "bench".into(),
        key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq: position.seq,
            prev_hash: position.prev_hash.clone(),
        },
    };
    let signed = issue(request, merchant, Payment::FullyPaid, &context).expect("issued");
    let hash = hex::encode(invoice_hash(&signed.invoice));
    (serde_json::to_value(signed).expect("json"), hash)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<(), String> {
    let options = options()?;
    let dir = options
        .dir
        .join(format!("invoice-origin-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run(&options, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(options: &Options, dir: &std::path::Path) -> Result<(), String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let edge = EdKey::from_seed(&sha256(format!("edge/{now_ms}").as_bytes()));
    let origin_key = EdKey::from_seed(&sha256(format!("origin/{now_ms}").as_bytes()));
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write(
        "trust.json",
        serde_json::to_string(&Jwks {
            keys: vec![edge.public_jwk()],
        })
        .map_err(|e| e.to_string())?,
    )?;
    write(
        "origin.jwk",
        serde_json::to_string(&origin_key.to_private_jwk()).map_err(|e| e.to_string())?,
    )?;
    // The edge's bearer token; the origin keeps only its SHA-256.
    let token = hex::encode(sha256(
        format!("token/{now_ms}/{}", std::process::id()).as_bytes(),
    ));
    write(
        "edge-tokens.txt",
        format!("{}\n", hex::encode(sha256(token.as_bytes()))),
    )?;
    let db = options
        .db
        .clone()
        .unwrap_or_else(|| dir.join("ledger.db").display().to_string());

    // Sign everything first, one thread per series (each is a chain): the edge's work.
    let started = Instant::now();
    let clients = options.clients;
    let merchant = merchant(clients);
    let (edge, merchant) = (&edge, &merchant);
    let (per_client, singles): (Vec<Vec<Value>>, Vec<Value>) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                // The first `invoices % clients` senders take one more.
                let count =
                    options.invoices / clients + usize::from(c < options.invoices % clients);
                scope.spawn(move || {
                    series_documents(edge, merchant, &batch_series(c), count, now_ms)
                })
            })
            .collect();
        let singles =
            scope.spawn(|| series_documents(edge, merchant, PUT_SERIES, options.puts, now_ms));
        (
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect(),
            singles.join().unwrap_or_default(),
        )
    });
    let batched: usize = per_client.iter().map(Vec::len).sum();
    let bodies: Vec<Vec<String>> = per_client
        .iter()
        .map(|documents| {
            documents
                .chunks(options.batch)
                .map(|chunk| json!({ "documents": chunk }).to_string())
                .collect()
        })
        .collect();
    let average = bodies.iter().flatten().map(String::len).sum::<usize>() / batched.max(1);
    println!(
        "prepared {} signed documents in {} series ({average} bytes each in a batch) in {:.1} s",
        batched + singles.len(),
        clients + 1,
        started.elapsed().as_secs_f64()
    );

    let mut child = Command::new(&options.bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--trust")
        .arg(dir.join("trust.json"))
        .arg("--key")
        .arg(dir.join("origin.jwk"))
        .arg("--edge-tokens")
        .arg(dir.join("edge-tokens.txt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", options.bin.display()))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let Some(url) = line.trim().strip_prefix("invoice-origin listening on ") else {
        let _ = child.kill();
        return Err(format!("the origin did not start: {line:?}"));
    };
    let url = url.to_string();
    let outcome = measure(options, &url, &token, &bodies, batched, &singles);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    outcome?;

    let started = Instant::now();
    let verify = Command::new(&options.bin)
        .args(["verify", "--db"])
        .arg(&db)
        .arg("--trust")
        .arg(dir.join("trust.json"))
        .output()
        .map_err(|e| e.to_string())?;
    println!(
        "verify: exit {} in {:.2} s: {}",
        verify.status.code().unwrap_or(-1),
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&verify.stdout)
            .lines()
            .next()
            .unwrap_or("")
    );
    if !verify.status.success() {
        return Err("verify failed".into());
    }
    Ok(())
}

fn measure(
    options: &Options,
    url: &str,
    token: &str,
    bodies: &[Vec<String>],
    batched: usize,
    singles: &[Value],
) -> Result<(), String> {
    let authorization = format!("Bearer {token}");
    let agent = || {
        ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build()
    };
    let deadline = Duration::from_secs(options.max_seconds);

    // 1. Batched ingest: each sender delivers its own series, batch after batch, in order.
    let latencies = Mutex::new(Vec::with_capacity(bodies.iter().map(Vec::len).sum()));
    let failures = Mutex::new(Vec::<String>::new());
    let created_total = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (client, series_bodies) in bodies.iter().enumerate() {
            let (latencies, failures, created_total, authorization) =
                (&latencies, &failures, &created_total, &authorization);
            scope.spawn(move || {
                let agent = agent();
                let fail = |message: String| {
                    failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(message)
                };
                for (index, body) in series_bodies.iter().enumerate() {
                    if started.elapsed() > deadline {
                        break;
                    }
                    let sent = Instant::now();
                    let reply = agent
                        .post(&format!("{url}/v1/ledger/batch"))
                        .set("Content-Type", "application/json")
                        .set("Authorization", authorization)
                        .send_string(body)
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.into_string().map_err(|e| e.to_string()));
                    let elapsed = sent.elapsed();
                    let name = batch_series(client);
                    match reply {
                        Ok(text) => {
                            let created = text.matches("\"status\":201").count();
                            created_total.fetch_add(created, Ordering::Relaxed);
                            latencies
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(elapsed);
                            if created != body.matches("\"edge_signature\"").count() {
                                // The rest of the series would only gap: stop this sender.
                                fail(format!(
                                    "{name} batch {index}: only {created} created: {}",
                                    &text[..text.len().min(300)]
                                ));
                                break;
                            }
                        }
                        Err(error) => {
                            fail(format!("{name} batch {index}: {error}"));
                            break;
                        }
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let failures = failures.into_inner().unwrap_or_default();
    if !failures.is_empty() {
        return Err(format!(
            "{} failed batches, first: {}",
            failures.len(),
            failures[0]
        ));
    }
    let mut latencies = latencies.into_inner().unwrap_or_default();
    latencies.sort();
    let done = created_total.into_inner();
    if done < batched {
        println!("batched ingest stopped at --max-seconds: {done} of {batched} archived");
    }
    println!(
        "batched ingest: {done} invoices in {} batches of {} from {} clients (one series each) in {:.2} s \
         = {:.0} invoices/s (batch latency p50 {}, p99 {})",
        latencies.len(),
        options.batch,
        options.clients,
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
    );

    // 2. Single PUT latency, one at a time on a kept-alive connection.
    let agent = agent();
    let mut latencies = Vec::with_capacity(singles.len());
    let started = Instant::now();
    for document in singles {
        if started.elapsed() > deadline {
            break;
        }
        let id = document["invoice"]["id"].as_str().unwrap_or("");
        let body = document.to_string();
        let sent = Instant::now();
        let reply = agent
            .put(&format!("{url}/v1/ledger/invoices/{id}"))
            .set("Content-Type", "application/json")
            .set("Authorization", &authorization)
            .send_string(&body)
            .map_err(|e| format!("PUT {id}: {e}"))?;
        let status = reply.status();
        let _ = reply.into_string();
        latencies.push(sent.elapsed());
        if status != 201 {
            return Err(format!("PUT {id}: status {status}, expected 201"));
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    if !latencies.is_empty() {
        println!(
            "single PUT: {} sequential requests in {:.2} s: p50 {}, p90 {}, p99 {}, max {}",
            latencies.len(),
            elapsed.as_secs_f64(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.9)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 1.0)),
        );
    }
    Ok(())
}
