//! Signing an invoice and the hashes over canonical bytes (docs/ARCHITECTURE.md, "The issued document",
//! "Signing"), and the idempotency fingerprint of the request it was made from.

use serde_json::Value;

use crate::canonical::{canonicalize, to_jcs_bytes, write_json_string};
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
    sign_and_hash(invoice, key).signed
}

/// A signed invoice with what the series' object stores beside it, all from the one canonical
/// serialization of the invoice (each serialization is about a tenth of the issue path's CPU,
/// docs/PERFORMANCE.md).
pub struct Sealed {
    pub signed: SignedInvoice,
    /// The [`invoice_hash`]: the next document of the series links to it.
    pub hash: [u8; 32],
    canonical: Vec<u8>,
}

impl Sealed {
    /// The signed document's JSON text, byte for byte what `serde_json` writes for
    /// [`SignedInvoice`] (its invoice member is the canonical bytes, which is what `serde_json`
    /// writes for an [`Invoice`]: `canonical`), without serializing the invoice again.
    pub fn json(&self) -> String {
        let signature = &self.signed.edge_signature;
        let mut out = Vec::with_capacity(self.canonical.len() + 200);
        out.extend_from_slice(b"{\"invoice\":");
        out.extend_from_slice(&self.canonical);
        out.extend_from_slice(b",\"edge_signature\":{\"alg\":");
        write_json_string(&mut out, &signature.alg);
        out.extend_from_slice(b",\"kid\":");
        write_json_string(&mut out, &signature.kid);
        out.extend_from_slice(b",\"sig\":");
        write_json_string(&mut out, &signature.sig);
        out.extend_from_slice(b"}}");
        // Both writers copy whole `&str`s and ASCII only.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// [`sign`], with the [`invoice_hash`] and the JSON text of the same canonical bytes.
pub fn sign_and_hash(invoice: Invoice, key: &EdKey) -> Sealed {
    // Serializing plain structs of strings, integers and booleans cannot fail.
    let canonical = to_jcs_bytes(&invoice).unwrap_or_default();
    let signed = SignedInvoice {
        edge_signature: EdgeSignature {
            alg: "EdDSA".into(),
            kid: key.kid().to_string(),
            sig: key.sign(&canonical),
        },
        invoice,
    };
    Sealed {
        signed,
        hash: sha256(&canonical),
        canonical,
    }
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
    // Hashed in pieces: joining them first cost an allocation and a copy of the request's text
    // (docs/PERFORMANCE.md, "Native, paired: allocations").
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(channel.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical);
    hex::encode(hasher.finalize())
}

/// SHA-256 of an invoice's canonical bytes, as raw bytes.
pub fn invoice_hash(invoice: &Invoice) -> [u8; 32] {
    sha256(&to_jcs_bytes(invoice).unwrap_or_default())
}
