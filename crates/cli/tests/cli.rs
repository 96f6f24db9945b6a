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
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

const REQUEST: &str = r#"{"currency":"CNY","order_id":"A-10023","lines":[{"description":"cable","quantity":"2","unit_price":"49.90","tax_category":"S","tax_rate":"13"}]}"#;

#[test]
fn totals_prints_the_computed_invoice() {
    let out = run(&["totals"], REQUEST);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let invoice = json(&out.stdout);
    assert_eq!(invoice["totals"]["gross"], "112.77");
    assert_eq!(invoice["tax_breakdown"][0]["tax_amount"], "12.97");
}

#[test]
fn totals_rejects_invalid_input_with_problem_json_on_stderr() {
    let out = run(&["totals"], r#"{"currency":"CNY","order_id":"x","lines":[{"description":"a","quantity":2,"unit_price":"1","tax_category":"S","tax_rate":"13"}]}"#);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let problem = json(&out.stderr);
    assert_eq!(problem["code"], "DECIMAL_MUST_BE_STRING");
    assert_eq!(problem["errors"][0]["pointer"], "/lines/0/quantity");
}

#[test]
fn usage_errors_exit_2_and_io_errors_exit_3() {
    assert_eq!(run(&["totals", "--no-such-flag"], "").status.code(), Some(2));
    assert_eq!(run(&[], "").status.code(), Some(2));
    let missing = run(&["totals", "--merchant", "/nonexistent/merchant.json"], REQUEST);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/merchant.json"));
}
