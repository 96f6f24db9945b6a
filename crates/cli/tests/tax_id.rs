//! `invoice-edge tax-id COUNTRY ID`, run end to end.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invoice-edge"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_valid_id_exits_0_and_prints_it_normalized_and_checked() {
    let out = run(&["tax-id", "cn", "91110000600037341L"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "CN91110000600037341L checked\n");

    let out = run(&["tax-id", "DE", "de 136 695 976"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "DE136695976 checked\n");
}

#[test]
fn a_corrupted_id_exits_1_with_the_code_and_detail_on_stderr() {
    let out = run(&["tax-id", "CN", "91110000600037341N"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let problem: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(problem["code"], "TAX_ID_CHECKSUM");
    assert_eq!(problem["status"], 422);
    assert!(problem["detail"].as_str().unwrap().contains("L"));

    let out = run(&["tax-id", "PL", "85673462"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("TAX_ID_FORMAT"));

    let out = run(&["tax-id", "DE", "FR136695976"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("TAX_ID_COUNTRY_MISMATCH"));
}

#[test]
fn an_unknown_country_is_never_silently_valid() {
    let out = run(&["tax-id", "US", "12-3456789"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("US123456789"), "{stderr}");
    assert!(
        stderr.contains("no tax-ID scheme is known for US"),
        "{stderr}"
    );
    assert!(stderr.contains("could not be checked"), "{stderr}");

    // A French alphabetic key: the scheme is known, the key cannot be checked.
    let out = run(&["tax-id", "FR", "FR K7 399 859 412"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unchecked"));
}

#[test]
fn missing_arguments_are_a_usage_error() {
    assert_eq!(run(&["tax-id"]).status.code(), Some(2));
    assert_eq!(run(&["tax-id", "DE"]).status.code(), Some(2));
    assert_eq!(run(&["tax-id", "DE", "1", "2"]).status.code(), Some(2));
}
