//! The built `invoice-edge` binary, run end to end with stdin and files.

use std::io::Write;
use std::path::Path;
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
    // No --series: one series, the id in upper case, with the default format.
    assert_eq!(
        merchant_file["config"]["series"],
        serde_json::json!([{"name": "DEMO", "number_format": "{series}-{year}-{seq:08}"}])
    );
    assert_eq!(merchant_file["config"]["utc_offset"], "+00:00");
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
    // Neither --after nor --seq: the first document of its series.
    let invoice = &parsed["invoice"];
    assert_eq!(invoice["format"], "invoice-edge/2");
    assert_eq!(invoice["kind"], "invoice");
    assert_eq!(invoice["series"], "DEMO");
    assert_eq!(invoice["seq"], 1);
    assert_eq!(invoice["prev_hash"], "0".repeat(64));
    let year = &invoice["issued_at"].as_str().unwrap()[..4];
    assert_eq!(invoice["number"], format!("DEMO-{year}-00000001"));

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

    // The signed amount followed by another: refused as a duplicate key, never read either way.
    let twice = run(
        &["verify", "--jwks", &jwks],
        &document.replacen("\"gross\":", "\"gross\":\"1.77\",\"gross\":", 1),
    );
    assert_eq!(twice.status.code(), Some(1));
    assert_eq!(json(&twice.stdout)["code"], "MALFORMED");
    assert!(json(&twice.stdout)["detail"]
        .as_str()
        .unwrap()
        .contains("DUPLICATE_KEY"));

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
            "91110000600037341L",
            "--tax",
            "S:0",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("S needs a rate above 0"));
}

/// `merchant create` with the given flags after the seller's, written to `dir/file`.
fn merchant(dir: &Path, file: &str, id: &str, flags: &[&str]) -> String {
    let mut args = vec![
        "merchant",
        "create",
        "--id",
        id,
        "--name",
        "Demo Shop",
        "--country",
        "CN",
        "--tax-id",
        "91110000600037341L",
        "--tax",
        "S:13",
    ];
    args.extend_from_slice(flags);
    write(dir, file, &run(&args, ""))
}

/// `issue` of REQUEST with `order_id` replaced, with extra flags; the raw output.
fn issue(key: &str, merchant: &str, order: &str, flags: &[&str]) -> Output {
    let mut args = vec!["issue", "--key", key, "--merchant", merchant];
    args.extend_from_slice(flags);
    run(&args, &REQUEST.replace("A-10023", order))
}

fn invoice_hash(jwks: &str, document: &str) -> String {
    let out = run(&["verify", "--jwks", jwks], document);
    json(&out.stdout)["invoice_hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One compact JSON line per document.
fn json_lines(documents: &[&str]) -> String {
    documents
        .iter()
        .map(|d| json(d.as_bytes()).to_string() + "\n")
        .collect()
}

fn verify_chain(dir: &Path, jwks: &str, lines: &str) -> (Option<i32>, serde_json::Value) {
    let file = dir.join("chain.jsonl");
    std::fs::write(&file, lines).unwrap();
    let out = run(
        &["verify", "--chain", file.to_str().unwrap(), "--jwks", jwks],
        "",
    );
    (out.status.code(), json(&out.stdout))
}

#[test]
fn issue_after_chains_documents_and_verify_chain_checks_the_series() {
    let dir = scratch("chain");
    let edge = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let stranger = write(&dir, "stranger.jwk", &run(&["keygen"], ""));
    let jwks = write(&dir, "jwks.json", &run(&["jwks", "--key", &edge], ""));
    let shop = merchant(&dir, "shop.json", "shop", &[]);

    let first = write(&dir, "1.json", &issue(&edge, &shop, "A-1", &[]));
    let second = write(
        &dir,
        "2.json",
        &issue(&edge, &shop, "A-2", &["--after", &first]),
    );
    let third = write(
        &dir,
        "3.json",
        &issue(&edge, &shop, "A-3", &["--after", &second]),
    );
    let read = |path: &str| std::fs::read_to_string(path).unwrap();
    let documents = [read(&first), read(&second), read(&third)];
    for (index, document) in documents.iter().enumerate() {
        let invoice = &json(document.as_bytes())["invoice"];
        assert_eq!(invoice["seq"], index + 1);
        assert_eq!(invoice["series"], "SHOP");
        if index > 0 {
            assert_eq!(
                invoice["prev_hash"],
                invoice_hash(&jwks, &documents[index - 1])
            );
            // issued_at never goes backwards in a series.
            let before = &json(documents[index - 1].as_bytes())["invoice"]["issued_at"];
            assert!(invoice["issued_at"].as_str() >= before.as_str());
        }
    }
    let [one, two, three] = [&documents[0], &documents[1], &documents[2]].map(String::as_str);

    // Blank lines are ignored.
    let (code, summary) = verify_chain(
        &dir,
        &jwks,
        &(json_lines(&[one, two]) + "\n  \n" + &json_lines(&[three])),
    );
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["valid"], true);
    assert_eq!(summary["merchant"], "shop");
    assert_eq!(summary["series"], "SHOP");
    assert_eq!(
        (summary["first_seq"].as_u64(), summary["last_seq"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(summary["documents"], 3);

    // A line removed: a gap.
    let (code, verdict) = verify_chain(&dir, &jwks, &json_lines(&[one, three]));
    assert_eq!((code, verdict["valid"].as_bool()), (Some(1), Some(false)));
    assert_eq!(verdict["line"], 2);
    assert!(
        verdict["detail"].as_str().unwrap().contains("expected 2"),
        "{verdict}"
    );

    // Two lines swapped.
    let (code, verdict) = verify_chain(&dir, &jwks, &json_lines(&[one, three, two]));
    assert_eq!((code, verdict["line"].as_u64()), (Some(1), Some(2)));

    // A tampered line: its signature breaks.
    let tampered = two.replace("\"112.77\"", "\"1.77\"");
    let (code, verdict) = verify_chain(&dir, &jwks, &json_lines(&[one, &tampered, three]));
    assert_eq!((code, verdict["line"].as_u64()), (Some(1), Some(2)));
    assert!(
        verdict["detail"]
            .as_str()
            .unwrap()
            .contains("SIGNATURE_INVALID"),
        "{verdict}"
    );

    // A document signed by a key the JWKS does not hold, though perfectly linked.
    let fourth = issue(&stranger, &shop, "A-4", &["--after", &third]);
    let fourth = String::from_utf8(fourth.stdout).unwrap();
    assert_eq!(json(fourth.as_bytes())["invoice"]["seq"], 4);
    let (code, verdict) = verify_chain(&dir, &jwks, &json_lines(&[one, two, three, &fourth]));
    assert_eq!((code, verdict["line"].as_u64()), (Some(1), Some(4)));
    assert!(
        verdict["detail"].as_str().unwrap().contains("UNKNOWN_KID"),
        "{verdict}"
    );

    // An empty file holds no chain; a missing one is an I/O error.
    assert_eq!(verify_chain(&dir, &jwks, "\n").0, Some(1));
    let missing = run(
        &[
            "verify",
            "--chain",
            "/nonexistent/chain.jsonl",
            "--jwks",
            &jwks,
        ],
        "",
    );
    assert_eq!(missing.status.code(), Some(3));

    // --after a document of another merchant, or of a series other than --series: usage errors.
    let other = merchant(&dir, "other.json", "other", &[]);
    let out = issue(&edge, &other, "A-5", &["--after", &third]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"shop\""));
    let out = issue(&edge, &shop, "A-5", &["--after", &third, "--series", "WEB"]);
    assert_eq!(out.status.code(), Some(2));
    // --after a file that is not a numbered document: invalid input.
    let out = issue(&edge, &shop, "A-5", &["--after", &jwks]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out.stderr)["code"], "MALFORMED_DOCUMENT");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn issue_takes_its_place_from_seq_and_prev_hash() {
    let dir = scratch("seq");
    let edge = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let shop = merchant(&dir, "shop.json", "shop", &[]);
    let hash = "ab".repeat(32);

    let out = issue(&edge, &shop, "A-7", &["--seq", "7", "--prev-hash", &hash]);
    let document = json(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(document["invoice"]["seq"], 7);
    assert_eq!(document["invoice"]["prev_hash"], hash.as_str());
    assert!(document["invoice"]["number"]
        .as_str()
        .unwrap()
        .ends_with("-00000007"));

    let zeros = "0".repeat(64);
    let usage: [&[&str]; 7] = [
        &["--seq", "7"],
        &["--prev-hash", &hash],
        &["--seq", "0", "--prev-hash", &hash],
        &["--seq", "7", "--prev-hash", &hash.to_uppercase()],
        &["--seq", "7", "--prev-hash", "abc"],
        &["--seq", "1", "--prev-hash", &hash],
        &["--after", &shop, "--seq", "2", "--prev-hash", &zeros],
    ];
    for flags in usage {
        let out = issue(&edge, &shop, "A-8", flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(out.stdout.is_empty());
    }
    // --seq 1 with the genesis hash is the same as no flags.
    let out = issue(&edge, &shop, "A-9", &["--seq", "1", "--prev-hash", &zeros]);
    assert_eq!(json(&out.stdout)["invoice"]["seq"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_merchant_with_two_series_and_limits() {
    let dir = scratch("series");
    let edge = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let shop = merchant(
        &dir,
        "shop.json",
        "shop",
        &[
            "--series",
            "SHOP",
            "--series",
            "WEB:{series}/{year}/{seq:05}",
            "--utc-offset",
            "+08:00",
            "--max-offline-hours",
            "0.5",
            "--max-offline-count",
            "none",
            "--max-offline-amount",
            "CNY:100000",
            "--max-offline-amount",
            "EUR:9000.50",
            "--max-invoice-amount",
            "CNY:20000",
        ],
    );
    let config = &json(&std::fs::read(&shop).unwrap())["config"];
    assert_eq!(
        config["series"],
        serde_json::json!([
            {"name": "SHOP", "number_format": "{series}-{year}-{seq:08}"},
            {"name": "WEB", "number_format": "{series}/{year}/{seq:05}"},
        ])
    );
    assert_eq!(config["utc_offset"], "+08:00");
    assert_eq!(
        config["limits"],
        serde_json::json!({
            "max_offline_hours": "0.5",
            "max_offline_count": null,
            "max_offline_amount": {"CNY": "100000", "EUR": "9000.50"},
            "max_invoice_amount": {"CNY": "20000"},
        })
    );

    // Several series: a request must name one, unless --series does.
    let out = issue(&edge, &shop, "A-1", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out.stderr)["code"], "SERIES_REQUIRED");
    let out = issue(&edge, &shop, "A-1", &["--series", "WEB"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let invoice = &json(&out.stdout)["invoice"];
    assert_eq!(invoice["series"], "WEB");
    assert!(
        invoice["number"].as_str().unwrap().ends_with("/00001"),
        "{}",
        invoice["number"]
    );
    // --series replaces the request's.
    let named = REQUEST.replace("{\"currency\"", "{\"series\":\"NOPE\",\"currency\"");
    let out = run(&["issue", "--key", &edge, "--merchant", &shop], &named);
    assert_eq!(json(&out.stderr)["code"], "UNKNOWN_SERIES");
    let out = run(
        &[
            "issue",
            "--key",
            &edge,
            "--merchant",
            &shop,
            "--series",
            "SHOP",
        ],
        &named,
    );
    assert_eq!(json(&out.stdout)["invoice"]["series"], "SHOP");

    // A token for a merchant with several series names one.
    let cart = r#"{"currency":"CNY","lines":[{"description":"tea","quantity":"1","unit_price":"10","tax_category":"S","tax_rate":"13"}]}"#;
    let token = |flags: &[&str]| {
        let mut args = vec!["token", "--merchant", &shop, "--order", "A-1"];
        args.extend_from_slice(flags);
        run(&args, cart)
    };
    assert_eq!(token(&[]).status.code(), Some(2));
    assert_eq!(
        json(&token(&["--series", "NOPE"]).stderr)["code"],
        "UNKNOWN_SERIES"
    );
    let minted = token(&["--series", "WEB"]);
    assert_eq!(minted.status.code(), Some(0));
    let secret = json(&std::fs::read(&shop).unwrap())["token_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = invoice_edge_core::token::verify(
        String::from_utf8_lossy(&minted.stdout).trim(),
        &[&secret],
        now,
    )
    .unwrap();
    assert_eq!(claims.series.as_deref(), Some("WEB"));

    // Flags the configuration cannot hold are usage errors.
    for flags in [
        &["--series", "WEB:{year}-{seq}"][..],
        &["--series", "A/B"],
        &["--series", "A", "--series", "A"],
        &["--number-format", "{seq}"],
        &["--utc-offset", "8"],
        &["--max-offline-hours", "0"],
        &["--max-offline-count", "0"],
        &["--max-offline-count", "many"],
        &["--max-offline-amount", "XYZ:5"],
        &["--max-offline-amount", "CNY:0.001"],
        &["--max-invoice-amount", "CNY"],
    ] {
        let mut args = vec![
            "merchant",
            "create",
            "--id",
            "x",
            "--name",
            "X",
            "--country",
            "CN",
        ];
        args.extend_from_slice(flags);
        assert_eq!(run(&args, "").status.code(), Some(2), "{flags:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_series_needs_no_series_in_its_tokens_and_numbers_take_the_number_format() {
    let dir = scratch("one-series");
    let edge = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let shop = merchant(
        &dir,
        "shop.json",
        "shop",
        &["--number-format", "{series}.{seq}"],
    );
    let out = issue(&edge, &shop, "A-1", &[]);
    assert_eq!(json(&out.stdout)["invoice"]["number"], "SHOP.1");
    let cart = r#"{"currency":"CNY","lines":[{"description":"tea","quantity":"1","unit_price":"10","tax_category":"S","tax_rate":"13"}]}"#;
    let minted = run(&["token", "--merchant", &shop, "--order", "A-1"], cart);
    let secret = json(&std::fs::read(&shop).unwrap())["token_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = invoice_edge_core::token::verify(
        String::from_utf8_lossy(&minted.stdout).trim(),
        &[&secret],
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
    .unwrap();
    assert_eq!(claims.series, None);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_year_in_a_number_is_the_merchants_local_year() {
    let dir = scratch("offset");
    let edge = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let beijing = merchant(&dir, "cn.json", "cn", &["--utc-offset", "+08:00"]);
    let utc = merchant(&dir, "utc.json", "cn", &[]);
    // A previous document issued at 16:30 UTC on 31 December 2099, 00:30 on 1 January 2100 in
    // Beijing. Its successor is issued no earlier, so at that very time (the clock is behind).
    let first = issue(&edge, &beijing, "A-1", &[]);
    let mut previous = json(&first.stdout);
    previous["invoice"]["issued_at"] = serde_json::json!("2099-12-31T16:30:00.000Z");
    let previous_path = dir.join("previous.json");
    std::fs::write(&previous_path, previous.to_string()).unwrap();
    let after = ["--after", previous_path.to_str().unwrap()];

    let local = json(&issue(&edge, &beijing, "A-2", &after).stdout)["invoice"].clone();
    assert_eq!(local["issued_at"], "2099-12-31T16:30:00.000Z");
    assert_eq!(local["number"], "CN-2100-00000002");
    assert_eq!(local["supply_date"], "2100-01-01");

    let at_utc = json(&issue(&edge, &utc, "A-2", &after).stdout)["invoice"].clone();
    assert_eq!(at_utc["number"], "CN-2099-00000002");
    assert_eq!(at_utc["supply_date"], "2099-12-31");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn issue_refuses_an_invoice_over_the_series_max_invoice_amount() {
    let dir = scratch("max-invoice");
    let key = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let merchant = write(
        &dir,
        "merchant.json",
        &run(
            &[
                "merchant",
                "create",
                "--id",
                "shop",
                "--name",
                "Shop",
                "--country",
                "CN",
                "--tax-id",
                "91110000600037341L",
                "--tax",
                "S:13",
                "--max-invoice-amount",
                "CNY:113.00",
            ],
            "",
        ),
    );
    let request = |price: &str| {
        format!(
            r#"{{"currency":"CNY","order_id":"A","lines":[{{"description":"x","quantity":"1","unit_price":"{price}","tax_category":"S","tax_rate":"13"}}]}}"#
        )
    };
    // 100.00 net is 113.00 gross: at the limit, accepted.
    let at = run(
        &["issue", "--key", &key, "--merchant", &merchant],
        &request("100.00"),
    );
    assert_eq!(
        at.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&at.stderr)
    );
    let over = run(
        &["issue", "--key", &key, "--merchant", &merchant],
        &request("100.01"),
    );
    assert_eq!(over.status.code(), Some(1));
    assert_eq!(json(&over.stderr)["code"], "INVOICE_AMOUNT_LIMIT");
}

/// docs/ARCHITECTURE.md: tax IDs are accepted with or without their country prefix. For every country
/// whose IDs are checked, `merchant create` takes the prefixed form (as the README writes it),
/// stores it without the prefix, and refuses a wrong check digit as invalid input (exit 1).
#[test]
fn merchant_create_accepts_a_tax_id_with_its_country_prefix() {
    let valid = [
        ("BE", "0417497106"),
        ("CN", "91110000600037341L"),
        ("DE", "136695976"),
        ("ES", "A58818501"),
        ("FR", "40303265045"),
        ("IT", "00743110157"),
        ("NL", "004495445B01"),
        ("PL", "5260250274"),
        ("PT", "501964843"),
        ("SA", "310122393500003"),
    ];
    let countries: Vec<&str> = valid.iter().map(|(country, _)| *country).collect();
    assert_eq!(
        countries,
        invoice_edge_core::tax_id::SUPPORTED_COUNTRIES,
        "one case per checked country"
    );
    for (country, id) in valid {
        for given in [
            id.to_string(),
            format!("{country}{id}"),
            format!("{} {id}", country.to_lowercase()),
        ] {
            let out = run(
                &[
                    "merchant",
                    "create",
                    "--id",
                    "x",
                    "--name",
                    "X",
                    "--country",
                    country,
                    "--tax-id",
                    &given,
                    "--tax",
                    "S:13",
                ],
                "",
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{country} {given:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                json(&out.stdout)["config"]["seller"]["tax_id"],
                id,
                "{country} {given:?}"
            );
        }
    }
    let out = run(
        &[
            "merchant",
            "create",
            "--id",
            "x",
            "--name",
            "X",
            "--country",
            "DE",
            "--tax-id",
            "DE136695977",
            "--tax",
            "S:19",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a wrong check digit is invalid input"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("DE136695977"));
}

#[test]
fn merchant_update_allows_and_removes_origins_and_keeps_the_rest() {
    let dir = scratch("update-origins");
    let file = merchant(
        &dir,
        "m.json",
        "shop",
        &["--allowed-origin", "https://shop.example"],
    );
    let before = json(&std::fs::read(&file).unwrap());
    let out = run(
        &[
            "merchant",
            "update",
            &file,
            "--allow-origin",
            "https://checkout.shop.example",
            "--allow-origin",
            "http://127.0.0.1:8080",
            "--remove-origin",
            "https://shop.example",
        ],
        "",
    );
    let updated = write(&dir, "m2.json", &out);
    let after = json(&std::fs::read(&updated).unwrap());
    assert_eq!(
        after["config"]["allowed_origins"],
        serde_json::json!(["https://checkout.shop.example", "http://127.0.0.1:8080"])
    );
    // Everything else is the file as it was: keys, secrets, series.
    let mut same = after.clone();
    same["config"]["allowed_origins"] = before["config"]["allowed_origins"].clone();
    assert_eq!(same, before);

    // Allowing a listed origin again changes nothing.
    let again = run(
        &[
            "merchant",
            "update",
            &updated,
            "--allow-origin",
            "http://127.0.0.1:8080",
        ],
        "",
    );
    assert_eq!(json(&again.stdout), after);

    // What a browser never sends as Origin is refused as invalid input (exit 1), with a hint,
    // and so is removing an origin that is not listed; nothing is printed.
    for (flag, origin, hint) in [
        ("--allow-origin", "https://shop.example/", "no path"),
        (
            "--allow-origin",
            "https://Shop.example",
            "try https://shop.example",
        ),
        (
            "--allow-origin",
            "https://shop.example:443",
            "try https://shop.example",
        ),
        ("--allow-origin", "shop.example", "https://"),
        ("--remove-origin", "https://other.example", "not listed"),
    ] {
        let out = run(&["merchant", "update", &updated, flag, origin], "");
        assert_eq!(out.status.code(), Some(1), "{origin}");
        assert!(out.stdout.is_empty(), "{origin}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(hint), "{origin}: {stderr}");
    }
    // Nothing to change is a usage error.
    let out = run(&["merchant", "update", &updated], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn merchant_update_changes_what_a_merchant_changes_and_keeps_the_rest() {
    let dir = scratch("update-fields");
    let file = merchant(&dir, "m.json", "shop", &["--tax", "S:13"]);
    let before = json(&std::fs::read(&file).unwrap());
    let out = run(
        &[
            "merchant",
            "update",
            &file,
            "--name",
            "New Shop Ltd.",
            "--address-line",
            "1 Chang'an Ave",
            "--city",
            "Beijing",
            "--payment-terms",
            "Net 30",
            "--utc-offset",
            "+08:00",
            "--require-buyer-address",
            "true",
            "--tax",
            "S:9",
            "--remove-tax",
            "S:13",
            "--max-offline-hours",
            "12",
            "--max-invoice-amount",
            "CNY:20000",
            "--add-series",
            "WEB:{series}/{seq:06}",
            "--retire-series",
            "SHOP",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = json(&out.stdout);
    let config = &after["config"];
    assert_eq!(config["seller"]["name"], "New Shop Ltd.");
    assert_eq!(
        config["seller"]["address"],
        serde_json::json!({"city": "Beijing", "line": "1 Chang'an Ave"})
    );
    assert_eq!(config["payment_terms"], "Net 30");
    assert_eq!(config["utc_offset"], "+08:00");
    assert_eq!(config["require_buyer_address"], true);
    assert_eq!(
        config["tax_profile"],
        serde_json::json!([{"category": "S", "rate": "9"}])
    );
    assert_eq!(config["limits"]["max_offline_hours"], "12");
    assert_eq!(
        config["limits"]["max_invoice_amount"],
        serde_json::json!({"CNY": "20000"})
    );
    assert_eq!(config["series"][0]["retired"], true);
    assert_eq!(config["series"][1]["name"], "WEB");
    assert_eq!(config["series"][1]["number_format"], "{series}/{seq:06}");
    // Keys, secrets and the id are the file's own.
    for field in ["api_key", "token_secret"] {
        assert_eq!(after[field], before[field]);
    }
    for field in ["id", "api_key_hashes", "token_secrets", "allowed_origins"] {
        assert_eq!(config[field], before["config"][field], "{field}");
    }
    // An empty value removes an optional field.
    let updated = write(&dir, "m2.json", &out);
    let cleared = run(
        &[
            "merchant",
            "update",
            &updated,
            "--payment-terms",
            "",
            "--address-line",
            "",
            "--city",
            "",
        ],
        "",
    );
    let cleared = json(&cleared.stdout);
    assert!(cleared["config"].get("payment_terms").is_none());
    assert!(cleared["config"]["seller"].get("address").is_none());

    // Invalid input is exit 1 with nothing printed: a wrong check digit, a tax the seller
    // cannot have, an unknown series, a tax not listed.
    for (args, says) in [
        (vec!["--tax-id", "91110000600037341X"], "TAX_ID_CHECKSUM"),
        (vec!["--tax", "O:"], "BR-O-02"),
        (vec!["--retire-series", "NOPE"], "no such series"),
        (vec!["--remove-tax", "S:6"], "not in the tax profile"),
        (vec!["--max-offline-count", "many"], "whole number"),
    ] {
        let mut all = vec!["merchant", "update", &updated];
        all.extend(&args);
        let out = run(&all, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn merchant_update_changes_a_pinned_field_only_with_not_issued() {
    let dir = scratch("update-pinned");
    let file = merchant(&dir, "m.json", "shop", &["--tax", "S:13"]);
    // A series pins its format and location hint at its first issuance: without the
    // operator's word that it has not issued, the change is refused (exit 1), naming the way out.
    for args in [
        vec!["--series-format", "SHOP:{series}/{seq}"],
        vec!["--location-hint", "SHOP:weur"],
    ] {
        let mut all = vec!["merchant", "update", &file];
        all.extend(&args);
        let out = run(&all, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--add-series") && stderr.contains("--not-issued"),
            "{stderr}"
        );
    }
    let out = run(
        &[
            "merchant",
            "update",
            &file,
            "--series-format",
            "SHOP:{series}/{seq}",
            "--location-hint",
            "SHOP:weur",
            "--not-issued",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let series = &json(&out.stdout)["config"]["series"][0];
    assert_eq!(series["number_format"], "{series}/{seq}");
    assert_eq!(series["location_hint"], "weur");
    // A hint Cloudflare does not know is refused even then.
    let out = run(
        &[
            "merchant",
            "update",
            &file,
            "--location-hint",
            "SHOP:mars",
            "--not-issued",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
}

/// `merchant create` with the seller's flags and `flags` (docs/ARCHITECTURE.md, "Webhooks").
fn create_with(flags: &[&str]) -> Output {
    let mut args = vec![
        "merchant",
        "create",
        "--id",
        "hooks",
        "--name",
        "Hook Shop",
        "--country",
        "CN",
        "--tax-id",
        "91110000600037341L",
        "--tax",
        "S:13",
    ];
    args.extend_from_slice(flags);
    run(&args, "")
}

#[test]
fn merchant_create_makes_one_secret_per_webhook_and_prints_them_once() {
    let out = create_with(&[
        "--webhook",
        "https://shop.example/hooks",
        "--webhook",
        "http://127.0.0.1:9000/h",
        "--events",
        "invoice.final,series.level_changed",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = json(&out.stdout);
    let hooks = file["config"]["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[0]["url"], "https://shop.example/hooks");
    assert_eq!(
        hooks[1]["events"],
        serde_json::json!(["invoice.final", "series.level_changed"])
    );
    let secrets = file["webhook_secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2);
    for (hook, secret) in hooks.iter().zip(secrets) {
        assert_eq!(&hook["secret"], secret);
        assert!(secret.as_str().unwrap().starts_with("whsec_"));
        assert_eq!(secret.as_str().unwrap().len(), 6 + 43);
    }
    assert_ne!(secrets[0], secrets[1]);

    // Without --events: every event. Without --webhook: no `webhooks` and no secrets.
    let all = json(&create_with(&["--webhook", "https://a.example"]).stdout);
    assert_eq!(
        all["config"]["webhooks"][0]["events"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let none = json(&create_with(&[]).stdout);
    assert!(none["config"].get("webhooks").is_none());
    assert!(none.get("webhook_secrets").is_none());
}

#[test]
fn merchant_create_refuses_a_plain_http_webhook_and_an_unknown_event() {
    let plain = create_with(&["--webhook", "http://shop.example/h"]);
    assert_eq!(plain.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&plain.stderr).contains("https://"));
    let unknown = create_with(&[
        "--webhook",
        "https://a.example",
        "--events",
        "invoice.voided",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown event"));
}

#[test]
fn credit_note_signs_a_refund_offline_as_the_next_document_of_the_invoice_series() {
    let dir = scratch("credit-note");
    let edge = write(&dir, "edge.jwk", &run(&["keygen"], ""));
    let jwks = write(&dir, "jwks.json", &run(&["jwks", "--key", &edge], ""));
    let shop = merchant(&dir, "shop.json", "shop", &[]);
    let invoice = write(&dir, "1.json", &issue(&edge, &shop, "A-1", &[]));
    let credit = |file: &str, flags: &[&str], body: &str| {
        let mut args = vec![
            "credit-note",
            "--key",
            &edge,
            "--merchant",
            &shop,
            "--original",
            &invoice,
        ];
        args.extend_from_slice(flags);
        let out = run(&args, body);
        let path = dir.join(file);
        std::fs::write(&path, &out.stdout).unwrap();
        (out.status.code(), path.to_string_lossy().into_owned(), out)
    };
    // One of the invoice's pieces, then the rest: the second follows the first.
    let (code, first, out) = credit(
        "2.json",
        &[],
        r#"{"order_id": "R-1", "reason_code": "02", "lines": [{"line": 0, "quantity": "1"}]}"#,
    );
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let note = json(std::fs::read_to_string(&first).unwrap().as_bytes());
    assert_eq!(note["invoice"]["kind"], "credit_note");
    assert_eq!(note["invoice"]["seq"], 2);
    assert_eq!(
        note["invoice"]["credits"]["number"],
        json(std::fs::read_to_string(&invoice).unwrap().as_bytes())["invoice"]["number"]
    );
    // The whole invoice, after the first credit note: over the cap, exit 1 with problem+json.
    let (code, _, out) = credit(
        "over.json",
        &["--after", &first, "--credited", &first],
        r#"{"order_id": "R-2", "reason_code": "01"}"#,
    );
    assert_eq!(code, Some(1));
    assert_eq!(json(&out.stderr)["code"], "CREDIT_EXCEEDS_INVOICE");
    // A credit note of a credit note.
    let out = run(
        &[
            "credit-note",
            "--key",
            &edge,
            "--merchant",
            &shop,
            "--original",
            &first,
        ],
        r#"{"order_id": "R-3", "reason_code": "01"}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out.stderr)["code"], "NOT_CREDITABLE");
    // The chain of invoice and credit note verifies.
    let read = |path: &str| std::fs::read_to_string(path).unwrap();
    let (code, summary) = verify_chain(&dir, &jwks, &json_lines(&[&read(&invoice), &read(&first)]));
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["last_seq"], 2);
    // Its UBL is a CreditNote.
    let out = run(&["ubl"], &read(&first));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>"),
        "{xml}"
    );
}
