//! Starts the real `invoice-origin` binary on a fresh SQLite file and a free 127.0.0.1 port,
//! with random edge and metrics tokens, and makes edge-numbered, edge-chained, edge-signed
//! documents with the core, as a series' Durable Object would (docs/ARCHITECTURE.md, "Series").

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::document::issue::{issue, IssueContext};
use invoice_edge_core::document::model::uuid_v7;
use invoice_edge_core::document::sign::{invoice_hash, Channel};
use invoice_edge_core::keys::{sha256, EdKey, Jwks};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::series::{next_position, ChainPosition, SeriesHead};
use invoice_edge_core::{parse_request, Payment};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_invoice-origin");

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Bytes no other call in this run (or a run at another time) gets.
pub fn fresh<const N: usize>() -> [u8; N] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!("{nanos}/{}/{}", std::process::id(), unique());
    let hash = sha256(seed.as_bytes());
    let mut out = [0u8; N];
    out.copy_from_slice(&hash[..N]);
    out
}

pub fn new_key() -> EdKey {
    EdKey::from_seed(&fresh::<32>())
}

/// A random bearer token.
pub fn new_token() -> String {
    hex::encode(fresh::<32>())
}

/// What a tokens file holds for a token: its SHA-256 in lower-case hex. Computed here with the
/// core's SHA-256, not the origin's helper, so the file format itself is under test.
pub fn token_digest(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

pub fn jwks(keys: &[&EdKey]) -> Jwks {
    Jwks {
        keys: keys.iter().map(|k| k.public_jwk()).collect(),
    }
}

/// A temporary directory, removed when dropped.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new() -> TestDir {
        let dir = std::env::temp_dir().join(format!(
            "invoice-origin-test-{}-{}",
            std::process::id(),
            u64::from_be_bytes(fresh::<8>())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The PostgreSQL server the suite runs against, when `ORIGIN_TEST_PG` names one (a superuser
/// URL, e.g. `postgres://postgres@127.0.0.1:5433/postgres`; tests/origin-pg.test.mjs starts a
/// server and sets it). Without it every test runs on SQLite files.
pub fn pg_base() -> Option<String> {
    std::env::var("ORIGIN_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty())
}

/// `base` with its database name replaced.
pub fn pg_url(base: &str, database: &str) -> String {
    let (head, tail) = base.split_at(base.rfind('/').unwrap());
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{head}/{database}{query}")
}

/// A new empty database on the suite's server; its URL.
pub fn pg_database(base: &str) -> String {
    let name = format!("ledger_{}", hex::encode(fresh::<8>()));
    let mut client = postgres::Client::connect(base, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    pg_url(base, &name)
}

/// The files one origin runs on: its ledger, its key, the edge keys it trusts, and the digests
/// of the edge's and the monitoring system's tokens.
pub struct Setup {
    pub dir: TestDir,
    /// `--db`: a SQLite file in `dir`, or a fresh PostgreSQL database under `ORIGIN_TEST_PG`.
    pub db: String,
    pub edge: EdKey,
    pub origin: EdKey,
    pub edge_token: String,
    pub metrics_token: String,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = TestDir::new();
        let db = match pg_base() {
            Some(base) => pg_database(&base),
            None => path_str(&dir.path("ledger.db")).to_string(),
        };
        let setup = Setup {
            dir,
            db,
            edge: new_key(),
            origin: new_key(),
            edge_token: new_token(),
            metrics_token: new_token(),
        };
        std::fs::write(
            setup.path("origin.jwk"),
            serde_json::to_string(&setup.origin.to_private_jwk()).unwrap(),
        )
        .unwrap();
        setup.trust(&[&setup.edge]);
        setup.edge_tokens(&[&setup.edge_token]);
        setup.write_tokens("metrics-tokens.txt", &[&setup.metrics_token]);
        setup
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    pub fn db(&self) -> String {
        self.db.clone()
    }

    /// Is this setup's ledger on PostgreSQL?
    pub fn is_pg(&self) -> bool {
        pg_base().is_some()
    }

    /// A `--db` that names no ledger (a file or a database that does not exist).
    pub fn missing_db(&self) -> String {
        match pg_base() {
            Some(base) => pg_url(&base, "no_such_ledger"),
            None => path_str(&self.path("missing.db")).to_string(),
        }
    }

    /// Writes the trusted JWKS (the origin reads it at start and on SIGHUP).
    pub fn trust(&self, keys: &[&EdKey]) {
        std::fs::write(
            self.path("trust.json"),
            serde_json::to_string(&jwks(keys)).unwrap(),
        )
        .unwrap();
    }

    /// Writes the edge tokens file: one digest a line (read at start and on SIGHUP).
    pub fn edge_tokens(&self, tokens: &[&str]) {
        self.write_tokens("edge-tokens.txt", tokens);
    }

    fn write_tokens(&self, name: &str, tokens: &[&str]) {
        let text: String = tokens
            .iter()
            .map(|t| format!("{}\n", token_digest(t)))
            .collect();
        std::fs::write(self.path(name), text).unwrap();
    }

    /// `serve` with every file of this setup; `metrics: false` leaves `/metrics` closed.
    pub fn serve_args(&self, metrics: bool) -> Vec<String> {
        let mut args: Vec<String> = [
            "serve",
            "--db",
            &self.db,
            "--trust",
            path_str(&self.path("trust.json")),
            "--key",
            path_str(&self.path("origin.jwk")),
            "--listen",
            "127.0.0.1:0",
            "--edge-tokens",
            path_str(&self.path("edge-tokens.txt")),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if metrics {
            args.push("--metrics-tokens".into());
            args.push(path_str(&self.path("metrics-tokens.txt")).into());
        }
        args
    }

    pub fn start(&self) -> Origin {
        self.start_with(&[])
    }

    pub fn start_with(&self, extra: &[&str]) -> Origin {
        let mut args = self.serve_args(true);
        args.extend(extra.iter().map(|s| s.to_string()));
        self.try_start(&args)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Starts `invoice-origin` with these arguments; `Err` holds what it said when it failed.
    pub fn try_start(&self, args: &[String]) -> Result<Origin, String> {
        Origin::start(
            args,
            &self.path("origin.log"),
            self.edge_token.clone(),
            self.metrics_token.clone(),
        )
    }

    /// What the origin has written to stderr so far (every start appends to one log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("origin.log")).unwrap_or_default()
    }

    /// Runs `invoice-origin verify` on this ledger: (exit code, stdout + stderr).
    pub fn verify(&self) -> (i32, String) {
        verify_ledger(&self.db(), &self.path("trust.json"))
    }

    /// Runs `invoice-origin void` on this ledger: (exit code, stdout, stderr).
    pub fn void(
        &self,
        merchant: &str,
        series: &str,
        document: &Value,
        reason: &str,
    ) -> (i32, String, String) {
        let file = self.path(&format!("void-{}.json", unique()));
        std::fs::write(&file, document.to_string()).unwrap();
        let output = Command::new(BIN)
            .args(["void", "--db", &self.db])
            .args(["--key", path_str(&self.path("origin.jwk"))])
            .args(["--merchant", merchant, "--series", series])
            .args(["--document", path_str(&file), "--reason", reason])
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

pub fn verify_ledger(db: &str, trust: &Path) -> (i32, String) {
    let output = Command::new(BIN)
        .args(["verify", "--db", db, "--trust", path_str(trust)])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Which credential a request carries.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// The edge token the origin was started with.
    Edge,
    /// The metrics token the origin was started with.
    Metrics,
    /// No `Authorization` header.
    Nothing,
    /// `Authorization: Bearer <this>`.
    Bearer(&'a str),
    /// This exact `Authorization` header value.
    Header(&'a str),
}

/// A running origin process; killed when dropped.
pub struct Origin {
    pub child: Child,
    pub url: String,
    pub edge_token: String,
    pub metrics_token: String,
    _stdout: BufReader<ChildStdout>,
}

impl Origin {
    fn start(
        args: &[String],
        log: &Path,
        edge_token: String,
        metrics_token: String,
    ) -> Result<Origin, String> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("invoice-origin listening on ") else {
            let _ = child.kill();
            let status = child.wait().ok().and_then(|s| s.code());
            return Err(format!(
                "the origin did not start (exit {status:?}): {line:?}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ));
        };
        Ok(Origin {
            url: url.to_string(),
            child,
            edge_token,
            metrics_token,
            _stdout: stdout,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        self.signal("TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the origin exited with {status}");
    }

    /// One request; `Err` only when no HTTP answer came at all.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        auth: Auth<'_>,
    ) -> Result<Reply, String> {
        let mut request = agent().request(method, &format!("{}{path}", self.url));
        let header = match auth {
            Auth::Edge => Some(format!("Bearer {}", self.edge_token)),
            Auth::Metrics => Some(format!("Bearer {}", self.metrics_token)),
            Auth::Nothing => None,
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
            Auth::Header(value) => Some(value.to_string()),
        };
        if let Some(header) = header {
            request = request.set("Authorization", &header);
        }
        if body.is_some() {
            request = request.set("Content-Type", "application/json");
        }
        send(request, body.map(str::as_bytes))
    }

    /// A PUT of raw bytes (not necessarily UTF-8) as an edge would send them.
    pub fn put_bytes(&self, id: &str, body: &[u8]) -> Reply {
        let request = agent()
            .request("PUT", &format!("{}/v1/ledger/invoices/{id}", self.url))
            .set("Authorization", &format!("Bearer {}", self.edge_token))
            .set("Content-Type", "application/json");
        send(request, Some(body)).unwrap()
    }

    pub fn put(&self, document: &Value) -> Reply {
        self.try_put(document).unwrap()
    }

    pub fn try_put(&self, document: &Value) -> Result<Reply, String> {
        self.call(
            "PUT",
            &format!("/v1/ledger/invoices/{}", id_or_none(document)),
            Some(&document.to_string()),
            Auth::Edge,
        )
    }

    pub fn put_text(&self, id: &str, body: &str) -> Reply {
        self.call(
            "PUT",
            &format!("/v1/ledger/invoices/{id}"),
            Some(body),
            Auth::Edge,
        )
        .unwrap()
    }

    pub fn batch(&self, documents: &[Value]) -> Reply {
        self.try_batch(documents).unwrap()
    }

    pub fn try_batch(&self, documents: &[Value]) -> Result<Reply, String> {
        self.call(
            "POST",
            "/v1/ledger/batch",
            Some(&json!({ "documents": documents }).to_string()),
            Auth::Edge,
        )
    }

    /// A ledger read, with the edge token.
    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, Auth::Edge).unwrap()
    }

    /// The stored document of an invoice id.
    pub fn stored(&self, id: &str) -> Reply {
        self.get(&format!("/v1/ledger/invoices/{id}"))
    }

    /// `/v1/health` needs no token.
    pub fn health(&self) -> Value {
        self.call("GET", "/v1/health", None, Auth::Nothing)
            .unwrap()
            .json
    }

    /// `/metrics` with the metrics token.
    pub fn metrics(&self) -> String {
        let reply = self.call("GET", "/metrics", None, Auth::Metrics).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.text
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status, content type, `WWW-Authenticate` and body (parsed when JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// Asserts a problem+json answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.json["code"], code, "{}", self.text);
        assert_eq!(self.json["status"], status);
    }

    /// The batch results, asserting a 200 batch answer.
    pub fn results(&self) -> &Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.text);
        self.json["results"].as_array().expect("results")
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

fn send(request: ureq::Request, body: Option<&[u8]>) -> Result<Reply, String> {
    let result = match body {
        Some(body) => request.send_bytes(body),
        None => request.call(),
    };
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => return Err(error.to_string()),
    };
    let status = response.status();
    let content_type = response.content_type().to_string();
    let www_authenticate = response.header("WWW-Authenticate").map(str::to_string);
    let text = response.into_string().map_err(|e| e.to_string())?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        content_type,
        www_authenticate,
        text,
        json,
    })
}

/// A merchant with these series, each in the default format `{series}-{year}-{seq:08}`.
pub fn merchant(id: &str, series: &[&str]) -> MerchantConfig {
    let series: Vec<Value> = series.iter().map(|name| json!({ "name": name })).collect();
    merchant_with(id, json!(series))
}

/// A merchant with this `series` list (names, formats).
pub fn merchant_with(id: &str, series: Value) -> MerchantConfig {
    serde_json::from_value(json!({
        "id": id,
        "seller": {"name": "示例商店", "country": "CN", "tax_id": "91110000600037341L"},
        "tax_profile": [{"category": "S", "rate": "13"}],
        "series": series,
        "payment_terms": "Paid at checkout"
    }))
    .unwrap()
}

/// 2026-11-25T00:00:00.000Z, so `{year}` is 2026.
pub const ISSUED_AT_MS: i64 = 1_795_564_800_000;

/// A new invoice id (UUIDv7).
pub fn new_id() -> String {
    uuid_v7(ISSUED_AT_MS as u64, fresh::<10>())
}

/// The invoice id of a document.
pub fn id_of(document: &Value) -> String {
    document["invoice"]["id"].as_str().unwrap().to_string()
}

fn id_or_none(document: &Value) -> &str {
    document["invoice"]["id"].as_str().unwrap_or("none")
}

/// The invoice hash of a document as it stands (SHA-256 of its invoice's JCS bytes).
pub fn hash_of(document: &Value) -> String {
    hex::encode(sha256(canonicalize(&document["invoice"]).as_bytes()))
}

/// An ordinary request: two cups of tea at `price` for a company buyer.
pub fn request(order_id: &str, price: &str) -> Value {
    json!({
        "currency": "CNY",
        "order_id": order_id,
        "buyer": {"kind": "company", "name": "Buyer Co", "email": "a@example.com"},
        "lines": [{"description": "Tea", "quantity": "2", "unit_price": price,
                   "tax_category": "S", "tax_rate": "13"}]
    })
}

/// Signs `request` for `merchant` at `position`, as the core does at the edge.
pub fn issue_document(
    key: &EdKey,
    merchant: &MerchantConfig,
    request: &Value,
    id: &str,
    issued_at_ms: i64,
    position: ChainPosition,
) -> Value {
    let request = parse_request(request).unwrap();
    let context = IssueContext {
        id: id.to_string(),
        issued_at_ms,
        edge_node: "test".into(),
        key,
        channel: Channel::ApiKey,
        position,
    };
    let signed = issue(request, merchant, Payment::FullyPaid, &context).unwrap();
    serde_json::to_value(&signed).unwrap()
}

/// A version 1 document (`invoice-edge/1`): a version 2 one relabelled, which no origin of
/// version 2 archives whatever its signature.
pub fn legacy_v1(key: &EdKey, merchant: &MerchantConfig, series: &str, order_id: &str) -> Value {
    let mut request = request(order_id, "49.90");
    request["series"] = json!(series);
    let position = ChainPosition {
        seq: 1,
        prev_hash: invoice_edge_core::series::GENESIS_PREV_HASH.into(),
    };
    let mut document = issue_document(key, merchant, &request, &new_id(), ISSUED_AT_MS, position);
    for field in ["kind", "seq", "number", "prev_hash"] {
        document["invoice"].as_object_mut().unwrap().remove(field);
    }
    document["invoice"]["format"] = json!("invoice-edge/1");
    document
}

/// One series as its Durable Object writes it: each document numbered `head.seq + 1` and
/// linked to the head's invoice hash.
#[derive(Clone)]
pub struct SeriesWriter {
    pub key: EdKey,
    pub merchant: MerchantConfig,
    pub series: String,
    pub head: Option<SeriesHead>,
}

impl SeriesWriter {
    pub fn new(key: &EdKey, merchant: &MerchantConfig, series: &str) -> SeriesWriter {
        SeriesWriter {
            key: key.clone(),
            merchant: merchant.clone(),
            series: series.to_string(),
            head: None,
        }
    }

    /// The next document, for order `order_id` at the usual price.
    pub fn next(&mut self, order_id: &str) -> Value {
        self.next_request(request(order_id, "49.90"))
    }

    /// The next document for this request (its `series` is set to this writer's).
    pub fn next_request(&mut self, mut request: Value) -> Value {
        let seq = self.head.as_ref().map_or(1, |h| h.seq + 1);
        let position = next_position(self.head.as_ref(), ISSUED_AT_MS + seq as i64).unwrap();
        request["series"] = json!(self.series);
        let document = issue_document(
            &self.key,
            &self.merchant,
            &request,
            &new_id(),
            position.issued_at_ms,
            ChainPosition {
                seq: position.seq,
                prev_hash: position.prev_hash,
            },
        );
        let signed: invoice_edge_core::document::model::SignedInvoice =
            serde_json::from_value(document.clone()).unwrap();
        let hash = hex::encode(invoice_hash(&signed.invoice));
        assert_eq!(
            hash,
            hash_of(&document),
            "the typed and the JSON hash agree"
        );
        self.head = Some(SeriesHead {
            seq: position.seq,
            hash,
            issued_at_ms: position.issued_at_ms,
        });
        document
    }

    /// The next document: a credit note of `original` (a document of this series) for the
    /// credit-note request `body`, computed and signed as the edge's series object does.
    /// `earlier` are the invoice's credit notes before it, which the object's balance holds.
    pub fn next_credit(&mut self, original: &Value, earlier: &[&Value], body: Value) -> Value {
        use invoice_edge_core::credit::{check_cap, prepare_credit, settle};
        use invoice_edge_core::document::model::{Document, SignedInvoice};
        let read =
            |value: &Value| -> SignedInvoice { serde_json::from_value(value.clone()).unwrap() };
        let original = Document::new(read(original), None, None);
        let mut balance = Vec::new();
        for note in earlier {
            balance = check_cap(
                &original.invoice,
                &balance,
                &read(note).invoice.tax_breakdown,
            )
            .unwrap();
        }
        let mut prepared = prepare_credit(&original, &body, &self.merchant).unwrap();
        settle(&original.invoice, &balance, &mut prepared.computed);
        let position = next_position(self.head.as_ref(), ISSUED_AT_MS + 1_000).unwrap();
        let context = IssueContext {
            id: new_id(),
            issued_at_ms: position.issued_at_ms,
            edge_node: "test".into(),
            key: &self.key,
            channel: Channel::ApiKey,
            position: ChainPosition {
                seq: position.seq,
                prev_hash: position.prev_hash,
            },
        };
        let invoice_edge_core::document::sign::Sealed { signed, hash, .. } =
            invoice_edge_core::document::issue::finish(
                prepared.computed,
                prepared.issuer,
                &context,
            );
        self.head = Some(SeriesHead {
            seq: position.seq,
            hash: hex::encode(hash),
            issued_at_ms: position.issued_at_ms,
        });
        serde_json::to_value(&signed).unwrap()
    }

    /// `count` next documents, orders `{prefix}-{seq}`.
    pub fn take(&mut self, prefix: &str, count: usize) -> Vec<Value> {
        (0..count)
            .map(|_| {
                let seq = self.head.as_ref().map_or(1, |h| h.seq + 1);
                self.next(&format!("{prefix}-{seq}"))
            })
            .collect()
    }

    /// A document at any place, without moving the head: for gaps and conflicts.
    pub fn at(&self, seq: u64, prev_hash: &str, order_id: &str, price: &str) -> Value {
        let mut request = request(order_id, price);
        request["series"] = json!(self.series);
        issue_document(
            &self.key,
            &self.merchant,
            &request,
            &new_id(),
            ISSUED_AT_MS + seq as i64,
            ChainPosition {
                seq,
                prev_hash: prev_hash.to_string(),
            },
        )
    }
}

/// `count` chained documents of merchant `demo`, series DEMO, orders `{prefix}-{seq}`.
pub fn documents(key: &EdKey, prefix: &str, count: usize) -> Vec<Value> {
    SeriesWriter::new(key, &merchant("demo", &["DEMO"]), "DEMO").take(prefix, count)
}

/// The statuses of a batch answer, in order.
pub fn statuses(results: &[Value]) -> Vec<u64> {
    results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

/// Polls until `done` holds, for at most 10 s.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Signs a document's invoice JSON as it stands (after a test edited it), as an edge with a
/// bug, or a newer edge, would: Ed25519 over its JCS bytes.
pub fn sign_json(key: &EdKey, mut document: Value) -> Value {
    let sig = key.sign(canonicalize(&document["invoice"]).as_bytes());
    document["edge_signature"] = json!({"alg": "EdDSA", "kid": key.kid(), "sig": sig});
    document
}
