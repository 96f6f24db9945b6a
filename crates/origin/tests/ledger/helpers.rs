//! Starts the real `invoice-origin` binary on a fresh SQLite file and a free 127.0.0.1 port,
//! and makes edge-signed documents with the core, as the edge would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use invoice_edge_core::document::{issue, uuid_v7, IssueContext};
use invoice_edge_core::keys::{sha256, EdKey, Jwks};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::{parse_request, Payment};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_invoice-origin");

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Bytes no other call in this run (or a run at another time) gets.
fn fresh<const N: usize>() -> [u8; N] {
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

/// The files one origin runs on: its ledger, its key and the edge keys it trusts.
pub struct Setup {
    pub dir: TestDir,
    pub edge: EdKey,
    pub origin: EdKey,
}

impl Setup {
    pub fn new() -> Setup {
        let setup = Setup {
            dir: TestDir::new(),
            edge: new_key(),
            origin: new_key(),
        };
        std::fs::write(
            setup.path("origin.jwk"),
            serde_json::to_string(&setup.origin.to_private_jwk()).unwrap(),
        )
        .unwrap();
        setup.trust(&[&setup.edge]);
        setup
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    pub fn db(&self) -> PathBuf {
        self.path("ledger.db")
    }

    /// Writes the trusted JWKS (the origin reads it at start and on SIGHUP).
    pub fn trust(&self, keys: &[&EdKey]) {
        std::fs::write(
            self.path("trust.json"),
            serde_json::to_string(&jwks(keys)).unwrap(),
        )
        .unwrap();
    }

    pub fn start(&self) -> Origin {
        self.start_with(&[])
    }

    pub fn start_with(&self, extra: &[&str]) -> Origin {
        Origin::start(
            &[
                "serve",
                "--db",
                path_str(&self.db()),
                "--trust",
                path_str(&self.path("trust.json")),
                "--key",
                path_str(&self.path("origin.jwk")),
                "--listen",
                "127.0.0.1:0",
            ],
            extra,
            &self.path("origin.log"),
        )
    }

    /// Runs `invoice-origin verify` on this ledger: (exit code, stdout + stderr).
    pub fn verify(&self) -> (i32, String) {
        verify_ledger(&self.db(), &self.path("trust.json"))
    }
}

pub fn verify_ledger(db: &Path, trust: &Path) -> (i32, String) {
    let output = Command::new(BIN)
        .args(["verify", "--db", path_str(db), "--trust", path_str(trust)])
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

/// A running origin process; killed when dropped.
pub struct Origin {
    pub child: Child,
    pub url: String,
    _stdout: BufReader<ChildStdout>,
}

impl Origin {
    fn start(args: &[&str], extra: &[&str], log: &Path) -> Origin {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(BIN)
            .args(args)
            .args(extra)
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
            let _ = child.wait();
            panic!(
                "the origin did not start: {line:?}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        };
        Origin {
            url: url.to_string(),
            child,
            _stdout: stdout,
        }
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

    pub fn put(&self, document: &Value) -> Reply {
        let id = document["invoice"]["id"].as_str().unwrap_or("none");
        self.put_text(id, &document.to_string())
    }

    pub fn put_text(&self, id: &str, body: &str) -> Reply {
        send(
            agent()
                .put(&format!("{}/v1/ledger/invoices/{id}", self.url))
                .set("Content-Type", "application/json"),
            Some(body),
        )
        .unwrap()
    }

    pub fn batch(&self, documents: &[Value]) -> Reply {
        self.try_batch(documents).unwrap()
    }

    pub fn try_batch(&self, documents: &[Value]) -> Result<Reply, String> {
        send(
            agent()
                .post(&format!("{}/v1/ledger/batch", self.url))
                .set("Content-Type", "application/json"),
            Some(&json!({ "documents": documents }).to_string()),
        )
    }

    pub fn try_put(&self, document: &Value) -> Result<Reply, String> {
        let id = document["invoice"]["id"].as_str().unwrap_or("none");
        send(
            agent()
                .put(&format!("{}/v1/ledger/invoices/{id}", self.url))
                .set("Content-Type", "application/json"),
            Some(&document.to_string()),
        )
    }

    pub fn get(&self, path: &str) -> Reply {
        send(agent().get(&format!("{}{path}", self.url)), None).unwrap()
    }

    pub fn health(&self) -> Value {
        self.get("/v1/health").json
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status, content type and body (parsed when it is JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
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
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

fn send(request: ureq::Request, body: Option<&str>) -> Result<Reply, String> {
    let result = match body {
        Some(body) => request.send_string(body),
        None => request.call(),
    };
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => return Err(error.to_string()),
    };
    let status = response.status();
    let content_type = response.content_type().to_string();
    let text = response.into_string().map_err(|e| e.to_string())?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        content_type,
        text,
        json,
    })
}

pub fn merchant(id: &str, series: &str) -> MerchantConfig {
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

/// A signed `{invoice, edge_signature}` for `merchant`'s order `order_id`.
pub fn signed(key: &EdKey, merchant_config: &MerchantConfig, order_id: &str) -> Value {
    signed_with(key, merchant_config, order_id, &new_id(), "49.90")
}

pub fn signed_with(
    key: &EdKey,
    merchant_config: &MerchantConfig,
    order_id: &str,
    id: &str,
    price: &str,
) -> Value {
    let request = parse_request(&json!({
        "currency": "CNY",
        "order_id": order_id,
        "buyer": {"kind": "company", "name": "Buyer Co", "email": "a@example.com"},
        "lines": [{"description": "Tea", "quantity": "2", "unit_price": price,
                   "tax_category": "S", "tax_rate": "13"}]
    }))
    .unwrap();
    let context = IssueContext {
        id: id.to_string(),
        issued_at_ms: ISSUED_AT_MS,
        edge_node: "test".into(),
        key,
    };
    let signed = issue(&request, merchant_config, Payment::FullyPaid, &context).unwrap();
    serde_json::to_value(&signed).unwrap()
}

/// `count` signed documents for merchant `demo` (series DEMO), orders `{prefix}-{i}`.
pub fn documents(key: &EdKey, prefix: &str, count: usize) -> Vec<Value> {
    let config = merchant("demo", "DEMO");
    (0..count)
        .map(|i| signed(key, &config, &format!("{prefix}-{i}")))
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
