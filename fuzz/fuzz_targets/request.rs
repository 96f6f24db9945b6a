//! Request parsing plus validation: any body through the whole issue path (UTF-8, depth,
//! JSON, every field rule, the tax profile, the money arithmetic, JCS, signing). It must never
//! panic; an accepted body must give an invoice that verifies and a stable problem otherwise.
#![no_main]

use invoice_edge_core::document::issue::{issue_from_bytes, IssueContext};
use invoice_edge_core::document::sign::Channel;
use invoice_edge_core::document::verify::verify;
use invoice_edge_core::keys::{EdKey, Jwks};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::series::{ChainPosition, GENESIS_PREV_HASH};
use invoice_edge_core::Payment;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn merchant() -> &'static MerchantConfig {
    static MERCHANT: OnceLock<MerchantConfig> = OnceLock::new();
    MERCHANT.get_or_init(|| {
        serde_json::from_str(
            r#"{"id":"demo","series":[{"name":"DEMO"}],"seller":{"name":"Shop","country":"CN","tax_id":"91110000600037341L"},
            "tax_profile":[{"category":"S","rate":"13"},{"category":"S","rate":"9"},
            {"category":"Z","rate":"0"},{"category":"E","rate":"0","exemption_reason":"Exempt"}]}"#,
        )
        .expect("the fuzz merchant parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let key = EdKey::from_seed(&[7; 32]);
    let context = IssueContext {
        id: "01936d4e-8a0b-7c3d-9e2f-0123456789ab".into(),
        issued_at_ms: 1_764_000_000_000,
        edge_node: "fuzz".into(),
        key: &key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq: 1,
            prev_hash: GENESIS_PREV_HASH.into(),
        },
    };
    for payment in [Payment::AsRequested, Payment::FullyPaid] {
        match issue_from_bytes(data, merchant(), payment, &context) {
            Ok(issued) => {
                let value =
                    serde_json::to_value(&issued.signed).expect("a signed invoice serializes");
                let jwks = Jwks {
                    keys: vec![key.public_jwk()],
                };
                let verdict = verify(&value, &jwks);
                assert!(
                    verdict.valid,
                    "an issued invoice must verify: {}",
                    verdict.detail
                );
            }
            Err(problem) => {
                assert!(!problem.errors.is_empty());
                assert_eq!(problem.code, problem.errors[0].code);
                assert!((400..500).contains(&problem.status), "{problem:?}");
            }
        }
    }
});
