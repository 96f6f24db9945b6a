//! The issue path against a bare Ed25519 signature over the same bytes (docs/PERFORMANCE.md).
//!
//! `cargo bench -p invoice-edge-core --bench issue_path`

use criterion::{criterion_group, criterion_main, Criterion};
use invoice_edge_core::canonical::to_jcs_bytes;
use invoice_edge_core::document::issue::{issue_from_bytes, IssueContext};
use invoice_edge_core::document::sign::{request_fingerprint, Channel};
use invoice_edge_core::keys::sha256;
use invoice_edge_core::keys::EdKey;
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::series::{ChainPosition, GENESIS_PREV_HASH};
use invoice_edge_core::Payment;
use invoice_edge_core::{compute_invoice, parse_request};
use std::hint::black_box;

const REQUEST: &str = include_str!("fixtures/ten_lines.json");
const MERCHANT: &str = include_str!("fixtures/merchant.json");

fn issue_path(c: &mut Criterion) {
    let merchant: MerchantConfig = serde_json::from_str(MERCHANT).expect("fixture merchant");
    let key = EdKey::from_seed(&[42; 32]);
    let context = IssueContext {
        id: "01936d4e-8a0b-7c3d-9e2f-0123456789ab".into(),
        issued_at_ms: 1_795_600_800_123,
        edge_node: "bench".into(),
        key: &key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq: 1,
            prev_hash: GENESIS_PREV_HASH.into(),
        },
    };
    let issued = issue_from_bytes(REQUEST.as_bytes(), &merchant, Payment::FullyPaid, &context)
        .expect("fixture issues");
    let signed_bytes = to_jcs_bytes(&issued.signed.invoice).expect("serializes");

    let mut group = c.benchmark_group("ten_line_invoice");
    group.bench_function("issue_path", |b| {
        b.iter(|| {
            issue_from_bytes(
                black_box(REQUEST.as_bytes()),
                &merchant,
                Payment::FullyPaid,
                &context,
            )
        })
    });
    group.bench_function("bare_ed25519_sign", |b| {
        b.iter(|| key.sign(black_box(&signed_bytes)))
    });
    group.finish();

    // The stages of the path, to name the hot spots (docs/PERFORMANCE.md).
    let value: serde_json::Value = serde_json::from_str(REQUEST).expect("fixture parses");
    let request = parse_request(&value).expect("fixture is valid");
    let mut stages = c.benchmark_group("stages");
    stages.bench_function("json_to_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(REQUEST.as_bytes())))
    });
    // The collecting reader's way in (strict: duplicate keys, depth, UTF-8), against the serde
    // fast path that reads a plain valid body straight into the typed request, with its
    // canonical text for the fingerprint.
    stages.bench_function("strict_json_to_value", |b| {
        b.iter(|| invoice_edge_core::json_reader::parse_json(black_box(REQUEST.as_bytes())))
    });
    stages.bench_function("fast_path_request_and_canonical", |b| {
        b.iter(|| invoice_edge_core::request::parse_request_fast(black_box(REQUEST.as_bytes())))
    });
    stages.bench_function("parse_request", |b| {
        b.iter(|| parse_request(black_box(&value)))
    });
    stages.bench_function("validate_and_compute", |b| {
        b.iter(|| {
            compute_invoice(
                black_box(&request),
                Some(merchant.seller_rules()),
                Payment::FullyPaid,
            )
        })
    });
    stages.bench_function("request_fingerprint", |b| {
        b.iter(|| request_fingerprint(black_box(&value), Channel::ApiKey))
    });
    stages.bench_function("invoice_jcs", |b| {
        b.iter(|| to_jcs_bytes(black_box(&issued.signed.invoice)))
    });
    stages.bench_function("sha256_invoice", |b| {
        b.iter(|| sha256(black_box(&signed_bytes)))
    });
    let price: rust_decimal::Decimal = "149.90".parse().expect("decimal");
    stages.bench_function("decimal_to_string", |b| {
        b.iter(|| black_box(&price).to_string())
    });
    stages.finish();
}

criterion_group! {
    name = benches;
    // Short runs: these 2-core machines are noisy, and the figures are read as ratios.
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = issue_path
}
criterion_main!(benches);
