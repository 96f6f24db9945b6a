//! The edge's issue path (parse, validate, compute, canonicalize, fingerprint, sign, and the
//! invoice hash that the series chain links) exported to JavaScript, so
//! `benches/wasm-issue.mjs` can time it under V8 as workerd runs it.

use invoice_edge_core::canonical::to_jcs_bytes;
use invoice_edge_core::document::issue::{issue_from_bytes, IssueContext, Issued};
use invoice_edge_core::document::sign::Channel;
use invoice_edge_core::keys::EdKey;
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::series::{ChainPosition, GENESIS_PREV_HASH};
use invoice_edge_core::Payment;
use wasm_bindgen::prelude::*;

/// The fixed key and context both benchmarks use, so they sign the same bytes.
fn issue_once(request: &[u8], merchant: &MerchantConfig, key: &EdKey) -> Result<Issued, JsError> {
    let context = IssueContext {
        id: "01936d4e-8a0b-7c3d-9e2f-0123456789ab".into(),
        issued_at_ms: 1_795_600_800_123,
        edge_node: "bench".into(),
        key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq: 1,
            prev_hash: GENESIS_PREV_HASH.into(),
        },
    };
    // `issue_from_bytes` signs through `finish`, which also hashes the canonical bytes for the
    // series chain (src/series/issue.rs uses that hash), so the hash is in the timed path.
    issue_from_bytes(request, merchant, Payment::FullyPaid, &context)
        .map_err(|p| JsError::new(&p.to_json()))
}

fn setup(merchant_json: &str) -> Result<(MerchantConfig, EdKey), JsError> {
    let merchant = serde_json::from_str(merchant_json).map_err(|e| JsError::new(&e.to_string()))?;
    Ok((merchant, EdKey::from_seed(&[42; 32])))
}

/// Runs the whole issue path `iterations` times; returns the last invoice's gross total.
#[wasm_bindgen(js_name = issuePath)]
pub fn issue_path(request: &[u8], merchant_json: &str, iterations: u32) -> Result<String, JsError> {
    let (merchant, key) = setup(merchant_json)?;
    let mut gross = String::new();
    for _ in 0..iterations {
        gross = issue_once(request, &merchant, &key)?
            .signed
            .invoice
            .totals
            .gross
            .to_string();
    }
    Ok(gross)
}

/// Signs the same invoice's canonical bytes `iterations` times: the floor the path is compared to.
#[wasm_bindgen(js_name = bareSign)]
pub fn bare_sign(request: &[u8], merchant_json: &str, iterations: u32) -> Result<usize, JsError> {
    let (merchant, key) = setup(merchant_json)?;
    let issued = issue_once(request, &merchant, &key)?;
    let bytes = to_jcs_bytes(&issued.signed.invoice).map_err(|e| JsError::new(&e.to_string()))?;
    let mut length = 0;
    for _ in 0..iterations {
        length = key.sign(&bytes).len();
    }
    Ok(length)
}
