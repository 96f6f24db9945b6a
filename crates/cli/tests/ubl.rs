//! `issue | finalize --origin | ubl`, end to end with the built binary. The origin here is a
//! small stand-in on 127.0.0.1 that answers with the core's own `receipt`, as the real
//! `invoice-origin` does, so this test needs no other binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::document::model::Final;
use invoice_edge_core::keys::{sha256, EdKey};
use invoice_edge_core::ledger::{receipt, Archived};
use serde_json::{json, Value};

const TOKEN: &str = "edge-token-0123";

/// Runs the binary with `env` set and no inherited `ORIGIN_TOKEN`.
fn run_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_invoice-edge"));
    command
        .args(args)
        .env_remove("ORIGIN_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary runs");
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.as_bytes());
    }
    child.wait_with_output().unwrap()
}

fn run(args: &[&str], stdin: &str) -> Output {
    run_env(args, stdin, &[])
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

/// The stand-in origin's signing key.
fn origin_key() -> EdKey {
    EdKey::from_seed(&[9; 32])
}

/// A receipt for an invoice (as JSON), as the origin countersigns it at `ledger_seq` 7.
fn receipt_for(invoice: &Value, key: &EdKey) -> Final {
    let hash = sha256(canonicalize(invoice).as_bytes());
    receipt(
        &Archived {
            invoice_hash: &hash,
            audit_prev_hash: &[0; 32],
            number: invoice["number"].as_str().unwrap(),
            series: invoice["series"].as_str().unwrap(),
            seq: invoice["seq"].as_u64().unwrap(),
            ledger_seq: 7,
            received_at: "2026-12-01T10:00:00.000Z",
            void: false,
        },
        key,
    )
}

/// What the stand-in origin answers to one PUT.
enum Answer {
    /// Archive the invoice and answer its receipt.
    Archive,
    /// Answer this status and body.
    Status(u16, Value),
}

/// What the stand-in origin received.
struct Received {
    request_line: String,
    authorization: Option<String>,
    body: Value,
}

/// Serves one request on 127.0.0.1 and returns (base URL, what it received).
fn origin(answer: Answer) -> (String, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let (mut length, mut authorization) = (0, None);
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
                if name.eq_ignore_ascii_case("authorization") {
                    authorization = Some(value.trim().to_string());
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body = json(&body);
        let (status, answer) = match answer {
            Answer::Archive => (
                201,
                serde_json::to_value(receipt_for(&body["invoice"], &origin_key())).unwrap(),
            ),
            Answer::Status(status, body) => (status, body),
        };
        let text = answer.to_string();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
        Received {
            request_line: request_line.trim().to_string(),
            authorization,
            body,
        }
    });
    (url, handle)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("invoice-edge-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).to_string_lossy().into_owned()
}

/// A pending document of a German merchant, signed by a fresh key; `jwks.json` in `dir` holds
/// the edge's and the stand-in origin's public keys.
fn pending_document(dir: &Path) -> String {
    std::fs::write(dir.join("edge.jwk"), ok(&run(&["keygen"], ""))).unwrap();
    std::fs::write(
        dir.join("origin.json"),
        serde_json::to_string(&origin_key().public_jwk()).unwrap(),
    )
    .unwrap();
    let jwks = run(
        &[
            "jwks",
            "--key",
            &path(dir, "edge.jwk"),
            "--key",
            &path(dir, "origin.json"),
        ],
        "",
    );
    std::fs::write(dir.join("jwks.json"), ok(&jwks)).unwrap();
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
    std::fs::write(dir.join("merchant.json"), ok(&created)).unwrap();
    let request = r#"{"currency":"EUR","order_id":"A-1","buyer":{"kind":"company","name":"Käufer AG","tax_id":"DE136695976"},"lines":[{"description":"Widget","quantity":"2","unit_price":"49.90","tax_category":"S","tax_rate":"19"}]}"#;
    ok(&run(
        &[
            "issue",
            "--key",
            &path(dir, "edge.jwk"),
            "--merchant",
            &path(dir, "merchant.json"),
        ],
        request,
    ))
}

#[test]
fn issue_finalize_ubl() {
    let dir = scratch("ubl");
    let jwks = path(&dir, "jwks.json");
    let pending = pending_document(&dir);
    let sent = json(pending.as_bytes());
    let id = sent["invoice"]["id"].as_str().unwrap().to_string();
    let number = sent["invoice"]["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("SHOP-") && number.ends_with("-00000001"));

    // Version 2: a pending invoice already has its number, so it exports, with that number.
    let xml = ok(&run(&["ubl"], &pending));
    assert!(xml.contains(&format!("<cbc:ID>{number}</cbc:ID>")));

    let (url, server) = origin(Answer::Archive);
    let finalized = ok(&run(
        &[
            "finalize",
            "--origin",
            &format!("{url}/"),
            "--token",
            TOKEN,
            "--jwks",
            &jwks,
        ],
        &pending,
    ));
    let received = server.join().unwrap();
    assert_eq!(
        received.request_line,
        format!("PUT /v1/ledger/invoices/{id} HTTP/1.1")
    );
    assert_eq!(
        received.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // The origin gets the invoice exactly as signed, and nothing else.
    assert_eq!(
        received.body,
        json!({"invoice": sent["invoice"], "edge_signature": sent["edge_signature"]})
    );

    let document = json(finalized.as_bytes());
    assert_eq!(document["status"], "final");
    assert_eq!(document["final"]["number"], number.as_str());
    assert_eq!(document["final"]["seq"], 1);
    assert_eq!(document["final"]["void"], false);
    assert_eq!(document["rejection"], Value::Null);
    assert_eq!(document["invoice"], sent["invoice"]);
    // Anyone with the JWKS can check it offline, countersignature included.
    let verified = run(&["verify", "--jwks", &jwks], &finalized);
    assert_eq!(json(&verified.stdout)["code"], "VALID");

    let xml = ok(&run(&["ubl"], &finalized));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invoice "));
    assert!(xml.contains(&format!("<cbc:ID>{number}</cbc:ID>")));
    assert!(xml.contains("<cbc:CompanyID>DE136695976</cbc:CompanyID>"));
    assert!(xml.contains("Muster &amp; Söhne GmbH"));
    assert!(xml.contains("<cbc:PayableAmount currencyID=\"EUR\">118.76</cbc:PayableAmount>"));

    // A rejected invoice is not exported.
    let mut rejected = sent.clone();
    rejected["status"] = json!("rejected");
    rejected["rejection"] = json!({"code": "SEQUENCE_CONFLICT", "detail": "x"});
    let refused = run(&["ubl"], &rejected.to_string());
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    let problem = json(&refused.stderr);
    assert_eq!(problem["code"], "NOT_FINAL");
    assert_eq!(problem["status"], 409);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn finalize_takes_its_token_from_the_environment_and_needs_one() {
    let dir = scratch("finalize-token");
    let pending = pending_document(&dir);

    let (url, server) = origin(Answer::Archive);
    let out = run_env(
        &["finalize", "--origin", &url],
        &pending,
        &[("ORIGIN_TOKEN", TOKEN)],
    );
    ok(&out);
    assert_eq!(
        server.join().unwrap().authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // Without --jwks the countersignature cannot be checked, and the tool says so.
    assert!(String::from_utf8_lossy(&out.stderr).contains("countersignature was not checked"));

    // No token at all, or one that would break the header: usage errors, nothing sent.
    let out = run(&["finalize", "--origin", &url], &pending);
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &["finalize", "--origin", &url, "--token", "two words"],
        &pending,
    );
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn finalize_reports_refusals_outages_and_foreign_final_data() {
    let dir = scratch("finalize");
    let jwks = path(&dir, "jwks.json");
    let pending = pending_document(&dir);
    let invoice = json(pending.as_bytes())["invoice"].clone();
    let finalize = |url: &str| run(&["finalize", "--origin", url, "--token", TOKEN], &pending);
    let answering = |status: u16, body: Value, with_jwks: bool| {
        let (url, server) = origin(Answer::Status(status, body));
        let mut args = vec!["finalize", "--origin", &url, "--token", TOKEN];
        if with_jwks {
            args.extend(["--jwks", jwks.as_str()]);
        }
        let out = run(&args, &pending);
        server.join().unwrap();
        out
    };

    // 4xx: the problem on stderr, exit 1.
    let problem = json!({"type": "urn:invoice-edge:problem:ORDER_CONFLICT", "title": "t",
                         "status": 409, "code": "ORDER_CONFLICT", "errors": []});
    let out = answering(409, problem, false);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(json(&out.stderr)["code"], "ORDER_CONFLICT");

    // 5xx (e.g. the retryable UNKNOWN_KID): exit 3.
    let out = answering(503, json!({"code": "UNKNOWN_KID"}), false);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNKNOWN_KID"));

    // A receipt for another invoice (its chain hash covers another invoice hash), or for
    // this one at another place in the series, is not printed as this one's.
    let mut other = invoice.clone();
    other["order_id"] = json!("B-9");
    let foreign = receipt_for(&other, &origin_key());
    let mut elsewhere = invoice.clone();
    elsewhere["seq"] = json!(2);
    let misplaced = receipt_for(&elsewhere, &origin_key());
    for wrong in [foreign, misplaced] {
        let out = answering(201, serde_json::to_value(wrong).unwrap(), false);
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong"));
    }

    // The right receipt countersigned by a key the JWKS does not hold: refused with --jwks.
    let forged = serde_json::to_value(receipt_for(&invoice, &EdKey::from_seed(&[8; 32]))).unwrap();
    let out = answering(201, forged.clone(), true);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
    // A receipt whose countersignature does not match its content: refused with --jwks.
    let mut altered = serde_json::to_value(receipt_for(&invoice, &origin_key())).unwrap();
    altered["received_at"] = json!("2026-12-02T10:00:00.000Z");
    let out = answering(201, altered, true);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FinalSignatureInvalid"));

    // Nobody listening: exit 3.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = finalize(&url);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the origin"));

    // Not a signed document, or not a numbered one: exit 1, nothing sent.
    let out = run(
        &["finalize", "--origin", &url, "--token", TOKEN],
        r#"{"invoice": 1}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out.stderr)["code"], "MALFORMED_DOCUMENT");
    let unnumbered = pending.replace("\"invoice-edge/2\"", "\"invoice-edge/1\"");
    let out = run(
        &["finalize", "--origin", &url, "--token", TOKEN],
        &unnumbered,
    );
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
