//! Signing an invoice and the hashes over canonical bytes (docs/ARCHITECTURE.md, "The issued document",
//! "Signing"), and the idempotency fingerprint of the request it was made from.

use serde_json::Value;

use crate::canonical::{canonicalize, to_jcs_bytes};
use crate::document::model::{EdgeSignature, Invoice, SignedInvoice};
use crate::keys::{sha256, EdKey};

/// How a request was made. Part of the idempotency fingerprint, so an API-key request and a
/// checkout-token request never replay each other (docs/ARCHITECTURE.md, "Edge issuance path").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    ApiKey,
    CheckoutToken,
    /// Offline tools (the CLI's `issue`).
    Offline,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::ApiKey => "api_key",
            Channel::CheckoutToken => "checkout_token",
            Channel::Offline => "offline",
        }
    }
}

/// Signs an invoice: Ed25519 over its canonical bytes.
pub fn sign(invoice: Invoice, key: &EdKey) -> SignedInvoice {
    sign_and_hash(invoice, key).0
}

/// [`sign`], with the [`invoice_hash`] of the same canonical bytes: the series' object needs
/// both, and the canonical form is serialized once instead of twice (about a tenth of the
/// issue path's CPU, docs/PERFORMANCE.md).
pub fn sign_and_hash(invoice: Invoice, key: &EdKey) -> (SignedInvoice, [u8; 32]) {
    // Serializing plain structs of strings, integers and booleans cannot fail.
    let bytes = to_jcs_bytes(&invoice).unwrap_or_default();
    let signed = SignedInvoice {
        edge_signature: EdgeSignature {
            alg: "EdDSA".into(),
            kid: key.kid().to_string(),
            sig: key.sign(&bytes),
        },
        invoice,
    };
    (signed, sha256(&bytes))
}

/// The idempotency fingerprint of a request: lower-case hex SHA-256 of how it was made, a
/// newline, and its RFC 8785 form. The same request with its keys in another order or other
/// whitespace is the same request; the same body sent with an API key and inside a checkout
/// token are not.
pub fn request_fingerprint(request: &Value, channel: Channel) -> String {
    fingerprint_of_canonical(canonicalize(request).as_bytes(), channel)
}

/// [`request_fingerprint`] from the request's RFC 8785 text, when it is already known (the
/// request's serde fast path writes it without building a `Value`).
pub fn fingerprint_of_canonical(canonical: &[u8], channel: Channel) -> String {
    let mut input = Vec::with_capacity(canonical.len() + 16);
    input.extend_from_slice(channel.as_str().as_bytes());
    input.push(b'\n');
    input.extend_from_slice(canonical);
    hex::encode(sha256(&input))
}

/// SHA-256 of an invoice's canonical bytes, as raw bytes.
pub fn invoice_hash(invoice: &Invoice) -> [u8; 32] {
    sha256(&to_jcs_bytes(invoice).unwrap_or_default())
}
