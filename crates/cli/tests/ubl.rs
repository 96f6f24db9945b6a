//! `issue | finalize --origin | ubl`, end to end with the built binary. The origin here is a
//! small stand-in on 127.0.0.1 that countersigns with the core's own `finalize`, as the real
//! `invoice-origin` does, so this test needs no other binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::document::finalize;
use invoice_edge_core::keys::{sha256, EdKey};
use serde_json::{json, Value};

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_invoice-edge"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.as_bytes());
    }
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// What the stand-in origin answers to one PUT.
enum Answer {
    /// Countersign the invoice as final number `SHOP-2026-00000007`.
    Finalize,
    /// Answer this status and problem body.
    Status(u16, Value),
}

/// Serves one request on 127.0.0.1 and returns (base URL, the request line and body).
fn origin(answer: Answer) -> (String, JoinHandle<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body = json(&body);
        let (status, answer) = match answer {
            Answer::Finalize => {
                let hash = sha256(canonicalize(&body["invoice"]).as_bytes());
                let key = EdKey::from_seed(&[9; 32]);
                let series = body["invoice"]["series"].as_str().unwrap();
                let final_ = finalize(&hash, &[0; 32], "SHOP-2026-00000007", series, 7, &key);
                (201, serde_json::to_value(final_).unwrap())
            }
            Answer::Status(status, problem) => (status, problem),
        };
        let text = answer.to_string();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
        (request_line.trim().to_string(), body)
    });
    (url, handle)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("invoice-edge-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A pending document of a German merchant, signed by a fresh key.
fn pending_document(dir: &std::path::Path) -> String {
    let key = dir.join("edge.jwk");
    std::fs::write(&key, ok(&run(&["keygen"], ""))).unwrap();
    let merchant = dir.join("merchant.json");
    let created = run(
        &[
            "merchant",
            "create",
            "--id",
            "shop",
            "--name",
            "Muster & Söhne GmbH",
            "--country",
            "DE",
            "--tax-id",
            "136695976",
            "--tax",
            "S:19",
            "--payment-terms",
            "Net 30",
        ],
        "",
    );
    std::fs::write(&merchant, ok(&created)).unwrap();
    let request = r#"{"currency":"EUR","order_id":"A-1","buyer":{"kind":"company","name":"Käufer AG","tax_id":"DE136695976"},"lines":[{"description":"Widget","quantity":"2","unit_price":"49.90","tax_category":"S","tax_rate":"19"}]}"#;
    ok(&run(
        &[
            "issue",
            "--key",
            key.to_str().unwrap(),
            "--merchant",
            merchant.to_str().unwrap(),
        ],
        request,
    ))
}

#[test]
fn issue_finalize_ubl() {
    let dir = scratch("ubl");
    let pending = pending_document(&dir);
    let id = json(pending.as_bytes())["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A pending invoice has no number yet: no XML.
    let refused = run(&["ubl"], &pending);
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    let problem = json(&refused.stderr);
    assert_eq!(problem["code"], "NOT_FINAL");
    assert_eq!(problem["status"], 409);

    let (url, server) = origin(Answer::Finalize);
    let finalized = ok(&run(
        &["finalize", "--origin", &format!("{url}/")],
        &pending,
    ));
    let (request_line, body) = server.join().unwrap();
    assert_eq!(
        request_line,
        format!("PUT /v1/ledger/invoices/{id} HTTP/1.1")
    );
    // The origin gets the invoice exactly as signed, and nothing else.
    let sent = json(pending.as_bytes());
    assert_eq!(
        body,
        json!({"invoice": sent["invoice"], "edge_signature": sent["edge_signature"]})
    );

    let document = json(finalized.as_bytes());
    assert_eq!(document["status"], "final");
    assert_eq!(document["final"]["number"], "SHOP-2026-00000007");
    assert_eq!(document["rejection"], Value::Null);
    assert_eq!(document["invoice"], sent["invoice"]);

    let xml = ok(&run(&["ubl"], &finalized));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invoice "));
    assert!(xml.contains("<cbc:ID>SHOP-2026-00000007</cbc:ID>"));
    assert!(xml.contains("<cbc:CompanyID>DE136695976</cbc:CompanyID>"));
    assert!(xml.contains("Muster &amp; Söhne GmbH"));
    assert!(xml.contains("<cbc:PayableAmount currencyID=\"EUR\">118.76</cbc:PayableAmount>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn finalize_reports_refusals_outages_and_foreign_final_data() {
    let dir = scratch("finalize");
    let pending = pending_document(&dir);

    // 4xx: the problem on stderr, exit 1.
    let problem = json!({"type": "urn:invoice-edge:problem:ORDER_CONFLICT", "title": "t",
                         "status": 409, "code": "ORDER_CONFLICT", "errors": []});
    let (url, server) = origin(Answer::Status(409, problem));
    let out = run(&["finalize", "--origin", &url], &pending);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(json(&out.stderr)["code"], "ORDER_CONFLICT");

    // 5xx (e.g. the retryable UNKNOWN_KID): exit 3.
    let (url, server) = origin(Answer::Status(503, json!({"code": "UNKNOWN_KID"})));
    let out = run(&["finalize", "--origin", &url], &pending);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNKNOWN_KID"));

    // Final data that belongs to another invoice is not printed as this one's.
    let key = EdKey::from_seed(&[9; 32]);
    let foreign = finalize(&[1; 32], &[0; 32], "SHOP-2026-00000001", "SHOP", 1, &key);
    let (url, server) = origin(Answer::Status(201, serde_json::to_value(foreign).unwrap()));
    let out = run(&["finalize", "--origin", &url], &pending);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());

    // Nobody listening: exit 3.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = run(&["finalize", "--origin", &url], &pending);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the origin"));

    // Not a signed document: exit 1, nothing sent.
    let out = run(&["finalize", "--origin", &url], r#"{"invoice": 1}"#);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out.stderr)["code"], "MALFORMED_DOCUMENT");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ubl_refuses_what_is_not_a_document() {
    let out = run(&["ubl"], "{}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out.stderr)["code"], "MALFORMED_DOCUMENT");
}
