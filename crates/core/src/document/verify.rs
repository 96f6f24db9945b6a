//! Offline verification of an issued document (docs/ARCHITECTURE.md, "The issued document"): the edge
//! signature, the series chain fields, and the origin's receipt.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{canonicalize, to_jcs_bytes};
use crate::document::model::{EdgeSignature, Final, Status, FORMAT};
use hex::FromHex;

use crate::keys::{sha256, verify_signature, Jwks, ROLE_EDGE, ROLE_ORIGIN};
use crate::ledger::chain_hash;

/// The outcome codes of verification (documented in openapi.yaml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    /// Every signature that should be there verifies.
    Valid,
    /// Not a document: missing or mistyped `invoice` or `edge_signature`.
    Malformed,
    /// An `invoice.format` this version does not know.
    UnsupportedFormat,
    /// A key id that the JWKS does not list.
    UnknownKid,
    /// The edge signature does not verify: the invoice was changed or not signed by that key.
    SignatureInvalid,
    /// The origin's countersignature over `final` does not verify.
    FinalSignatureInvalid,
    /// `final` does not belong to this invoice (chain hash, number, series or seq differ).
    FinalMismatch,
    /// `status` disagrees with the `final` / `rejection` fields.
    StatusMismatch,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub valid: bool,
    pub code: VerifyCode,
    pub detail: String,
    /// SHA-256 of the invoice's canonical bytes, when it could be computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The document's fields that no signature covers (issue 20, "Verification says what is
    /// signed"): `status` and `rejection` are the edge's record of what happened, not part of
    /// the signed invoice or the origin's countersigned receipt, so a reader must not take them
    /// as proven. `invoice` is covered by `edge_signature`, `final` by the origin's signature.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsigned: Vec<String>,
}

/// The fields of `document` with a value that no signature covers, by name.
fn unsigned_fields(document: &Value) -> Vec<String> {
    const SIGNED: &[&str] = &["invoice", "edge_signature", "final"];
    document
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(key, value)| !value.is_null() && !SIGNED.contains(&key.as_str()))
                .map(|(key, _)| key.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn verdict(
    code: VerifyCode,
    detail: impl Into<String>,
    invoice_hash: Option<String>,
    status: Option<Status>,
) -> Verification {
    Verification {
        valid: code == VerifyCode::Valid,
        code,
        detail: detail.into(),
        invoice_hash,
        status,
        unsigned: Vec::new(),
    }
}

/// The version 2 chain fields must be there and well-formed before anything relies on them.
fn check_chain_fields(invoice: &Value) -> Result<(), String> {
    let kind_ok = matches!(
        invoice.get("kind").and_then(Value::as_str),
        Some("invoice" | "credit_note")
    );
    let seq_ok = invoice
        .get("seq")
        .and_then(Value::as_u64)
        .is_some_and(|seq| seq >= 1);
    let number_ok = invoice
        .get("number")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let prev_ok = invoice
        .get("prev_hash")
        .and_then(Value::as_str)
        .is_some_and(crate::series::is_hash_hex);
    let series_ok = invoice
        .get("series")
        .and_then(Value::as_str)
        .is_some_and(crate::merchant::is_valid_series_name);
    let mut missing = Vec::new();
    for (ok, rule) in [
        (kind_ok, "kind (invoice or credit_note)"),
        (seq_ok, "seq (an integer from 1)"),
        (number_ok, "number"),
        (prev_ok, "prev_hash (64 lower-case hex digits)"),
        (series_ok, "series (1-32 of A-Z a-z 0-9 _ -)"),
    ] {
        if !ok {
            missing.push(rule);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("an {FORMAT} invoice needs {}", missing.join(", ")))
    }
}

/// Checks the origin's receipt for an invoice whose hash is `invoice_hash`: the
/// countersignature under a key of `jwks`, the audit-chain link over that hash, and `number`,
/// `series` and `seq` equal to the invoice's (version 2). The edge signature is not looked at:
/// the series' object checks receipts for documents it signed and holds itself.
pub fn check_receipt(
    invoice: &Value,
    invoice_hash: &[u8; 32],
    final_: &Final,
    jwks: &Jwks,
) -> Result<(), (VerifyCode, String)> {
    // Origin keys only: an edge key can never countersign (docs/SECURITY.md, "Signing keys").
    let Some(origin_key) = jwks.find_for(&final_.origin_kid, ROLE_ORIGIN) else {
        return Err((
            VerifyCode::UnknownKid,
            jwks.missing_reason(&final_.origin_kid, ROLE_ORIGIN),
        ));
    };
    let body = to_jcs_bytes(&final_.body()).unwrap_or_default();
    if !verify_signature(&origin_key, &body, &final_.origin_signature) {
        return Err((
            VerifyCode::FinalSignatureInvalid,
            "the origin's countersignature does not match final".into(),
        ));
    }
    let prev = <[u8; 32]>::from_hex(&final_.prev_hash).ok();
    let linked = prev.is_some_and(|prev| {
        hex::encode(chain_hash(&prev, invoice_hash, &final_.number)) == final_.hash
    });
    // The receipt repeats the invoice's own number, series and seq.
    let same_place = invoice.get("number").and_then(Value::as_str) == Some(final_.number.as_str())
        && invoice.get("seq").and_then(Value::as_u64) == Some(final_.seq);
    if !linked
        || !same_place
        || invoice.get("series").and_then(Value::as_str) != Some(final_.series.as_str())
    {
        return Err((
            VerifyCode::FinalMismatch,
            "final belongs to another invoice: its chain hash, number, series or seq does not match"
                .into(),
        ));
    }
    Ok(())
}

/// Verifies any document (or a bare `{invoice, edge_signature}`) against a JWKS, offline, and
/// names the fields that no signature covers.
///
/// The invoice is canonicalized from the JSON as given, not re-serialized from our structs, so a
/// changed byte anywhere in it, or a field this version does not know, is covered by the check.
pub fn verify(document: &Value, jwks: &Jwks) -> Verification {
    let mut verification = verify_signatures(document, jwks);
    verification.unsigned = unsigned_fields(document);
    verification
}

fn verify_signatures(document: &Value, jwks: &Jwks) -> Verification {
    let malformed = |detail: &str| verdict(VerifyCode::Malformed, detail, None, None);
    let Some(invoice) = document.get("invoice").filter(|v| v.is_object()) else {
        return malformed("the document has no invoice object");
    };
    let Ok(signature) = crate::json_reader::reread::<EdgeSignature>(
        document.get("edge_signature").unwrap_or(&Value::Null),
    ) else {
        return malformed("the document has no edge_signature {alg, kid, sig}");
    };
    if invoice.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return verdict(
            VerifyCode::UnsupportedFormat,
            format!("only {FORMAT} invoices are understood"),
            None,
            None,
        );
    }
    if let Err(detail) = check_chain_fields(invoice) {
        return malformed(&detail);
    }
    if signature.alg != "EdDSA" {
        return verdict(
            VerifyCode::SignatureInvalid,
            "edge_signature.alg must be EdDSA",
            None,
            None,
        );
    }
    let bytes = canonicalize(invoice).into_bytes();
    let hash = sha256(&bytes);
    let hash_hex = Some(hex::encode(hash));
    let Some(edge_key) = jwks.find_for(&signature.kid, ROLE_EDGE) else {
        return verdict(
            VerifyCode::UnknownKid,
            jwks.missing_reason(&signature.kid, ROLE_EDGE),
            hash_hex,
            None,
        );
    };
    if !verify_signature(&edge_key, &bytes, &signature.sig) {
        return verdict(
            VerifyCode::SignatureInvalid,
            "the edge signature does not match the invoice",
            hash_hex,
            None,
        );
    }

    let status = match document.get("status") {
        None | Some(Value::Null) => None,
        Some(value) => match crate::json_reader::reread::<Status>(value) {
            Ok(status) => Some(status),
            Err(_) => return malformed("status must be pending_sync, final or rejected"),
        },
    };
    let final_value = document.get("final").filter(|v| !v.is_null());
    let rejection = document.get("rejection").filter(|v| !v.is_null());
    let consistent = match status {
        None => final_value.is_none() && rejection.is_none(),
        Some(Status::PendingSync) => final_value.is_none() && rejection.is_none(),
        Some(Status::Final) => final_value.is_some() && rejection.is_none(),
        Some(Status::Rejected) => final_value.is_none() && rejection.is_some(),
    };
    if !consistent {
        return verdict(
            VerifyCode::StatusMismatch,
            "status disagrees with the final and rejection fields",
            hash_hex,
            status,
        );
    }
    let Some(final_value) = final_value else {
        let detail = match status {
            Some(Status::Rejected) => {
                "signed by the edge; the origin rejected it (the rejection is not signed)"
            }
            _ => "signed by the edge; not yet final",
        };
        return verdict(VerifyCode::Valid, detail, hash_hex, status);
    };

    let Ok(final_) = crate::json_reader::reread::<Final>(final_value) else {
        return malformed("final must be {number, series, seq, ledger_seq, prev_hash, hash, received_at, origin_kid, origin_signature, void}");
    };
    if let Err((code, detail)) = check_receipt(invoice, &hash, &final_, jwks) {
        return verdict(code, detail, hash_hex, status);
    }
    if final_.void {
        return verdict(
            VerifyCode::Valid,
            format!(
                "archived by the origin as void (an operator's decision) at {} {}",
                final_.series, final_.seq
            ),
            hash_hex,
            status,
        );
    }
    verdict(
        VerifyCode::Valid,
        format!("final as {}, countersigned by the origin", final_.number),
        hash_hex,
        status,
    )
}
