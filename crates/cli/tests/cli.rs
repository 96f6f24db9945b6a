//! The built `invoice-edge` binary, run end to end with stdin and files.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_invoice-edge"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // A child that fails fast may exit before reading stdin: a broken pipe is not a failure.
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.as_bytes());
    }
    child.wait_with_output().unwrap()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

const REQUEST: &str = r#"{"currency":"CNY","order_id":"A-10023","lines":[{"description":"cable","quantity":"2","unit_price":"49.90","tax_category":"S","tax_rate":"13"}]}"#;

#[test]
fn totals_prints_the_computed_invoice() {
    let out = run(&["totals"], REQUEST);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let invoice = json(&out.stdout);
    assert_eq!(invoice["totals"]["gross"], "112.77");
    assert_eq!(invoice["tax_breakdown"][0]["tax_amount"], "12.97");
}

#[test]
fn totals_rejects_invalid_input_with_problem_json_on_stderr() {
    let out = run(
        &["totals"],
        r#"{"currency":"CNY","order_id":"x","lines":[{"description":"a","quantity":2,"unit_price":"1","tax_category":"S","tax_rate":"13"}]}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let problem = json(&out.stderr);
    assert_eq!(problem["code"], "DECIMAL_MUST_BE_STRING");
    assert_eq!(problem["errors"][0]["pointer"], "/lines/0/quantity");
}

#[test]
fn usage_errors_exit_2_and_io_errors_exit_3() {
    assert_eq!(
        run(&["totals", "--no-such-flag"], "").status.code(),
        Some(2)
    );
    assert_eq!(run(&[], "").status.code(), Some(2));
    let missing = run(
        &["totals", "--merchant", "/nonexistent/merchant.json"],
        REQUEST,
    );
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/merchant.json"));
}

/// A scratch directory for one test's key and merchant files.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("invoice-edge-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &std::path::Path, file: &str, out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(file);
    std::fs::write(&path, &out.stdout).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn keygen_merchant_issue_verify_end_to_end() {
    let dir = scratch("e2e");
    let edge = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let stranger = write(&dir, "stranger.jwk", &run(&["keygen"], ""));
    let merchant = write(
        &dir,
        "merchant.json",
        &run(
            &[
                "merchant",
                "create",
                "--id",
                "demo",
                "--name",
                "Demo Shop",
                "--country",
                "CN",
                "--tax-id",
                "91110000600037341L",
                "--tax",
                "S:13",
                "--tax",
                "E:0:Exempt: education",
            ],
            "",
        ),
    );
    let merchant_file = json(&std::fs::read(&merchant).unwrap());
    assert_eq!(merchant_file["config"]["series"], "DEMO");
    assert_eq!(
        merchant_file["config"]["tax_profile"][1]["exemption_reason"], "Exempt: education",
        "a reason keeps its colons"
    );
    assert!(merchant_file["api_key"]
        .as_str()
        .unwrap()
        .starts_with("iek_"));
    let jwks = write(&dir, "jwks.json", &run(&["jwks", "--key", &edge], ""));

    let issued = run(&["issue", "--key", &edge, "--merchant", &merchant], REQUEST);
    let document_path = write(&dir, "doc.json", &issued);
    let document = std::fs::read_to_string(&document_path).unwrap();
    let parsed = json(document.as_bytes());
    assert_eq!(parsed["status"], "pending_sync");
    assert_eq!(parsed["invoice"]["totals"]["gross"], "112.77");

    let verified = run(&["verify", "--jwks", &jwks], &document);
    assert_eq!(verified.status.code(), Some(0));
    assert_eq!(json(&verified.stdout)["code"], "VALID");

    // One amount changed: the signature no longer matches.
    let tampered = run(
        &["verify", "--jwks", &jwks],
        &document.replace("\"112.77\"", "\"1.77\""),
    );
    assert_eq!(tampered.status.code(), Some(1));
    assert_eq!(json(&tampered.stdout)["code"], "SIGNATURE_INVALID");

    // Verified against another key: the kid is unknown.
    let other_jwks = write(&dir, "other.json", &run(&["jwks", "--key", &stranger], ""));
    let wrong_key = run(&["verify", "--jwks", &other_jwks], &document);
    assert_eq!(wrong_key.status.code(), Some(1));
    assert_eq!(json(&wrong_key.stdout)["code"], "UNKNOWN_KID");

    // A request outside the merchant's profile is refused with the exact code.
    let refused = run(
        &["issue", "--key", &edge, "--merchant", &merchant],
        &REQUEST.replace("\"13\"", "\"9\""),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(json(&refused.stderr)["code"], "TAX_NOT_IN_PROFILE");

    // A checkout token for a cart: three dot-separated parts; a bad cart is refused.
    let cart = r#"{"currency":"CNY","prices_include_tax":true,"lines":[{"description":"tea","quantity":"1","unit_price":"10","tax_category":"S","tax_rate":"13"}]}"#;
    let token = run(
        &[
            "token",
            "--merchant",
            &merchant,
            "--order",
            "A-1",
            "--ttl",
            "15m",
        ],
        cart,
    );
    assert_eq!(token.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&token.stdout)
            .trim()
            .split('.')
            .count(),
        3
    );
    assert_eq!(
        run(
            &[
                "token",
                "--merchant",
                &merchant,
                "--order",
                "A-1",
                "--ttl",
                "25h"
            ],
            cart
        )
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        run(
            &["token", "--merchant", &merchant, "--order", "A-1"],
            &cart.replace("\"13\"", "\"5\"")
        )
        .status
        .code(),
        Some(1)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn merchant_create_refuses_a_profile_that_breaks_the_category_rules() {
    let out = run(
        &[
            "merchant",
            "create",
            "--id",
            "x",
            "--name",
            "X",
            "--country",
            "CN",
            "--tax-id",
            "1",
            "--tax",
            "S:0",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("S needs a rate above 0"));
}
