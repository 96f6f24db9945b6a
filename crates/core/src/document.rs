//! The issued document (DESIGN.md, "The issued document"): the signed invoice, its status and
//! the origin's final data, and offline verification of all of it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{canonicalize, to_jcs_bytes};
use crate::date::{rfc3339_millis, Date};
use crate::invoice::{compute_invoice, Payment};
use crate::keys::{hex, hex_decode, sha256, verify_signature, EdKey, Jwks};
use crate::merchant::{MerchantConfig, Seller};
use crate::problem::FieldError;
use crate::request::{Buyer, Delivery, InvoiceRequest};
use crate::tax::{InvoiceLine, TaxBreakdown, Totals};

/// The `format` of every invoice this version signs.
pub const FORMAT: &str = "invoice-edge/1";

/// The signed invoice. Immutable once signed: the fields are declared in sorted order, so its
/// serde output *is* its RFC 8785 canonical form (proved against the general JCS in tests).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Buyer>,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Where it was issued (the Cloudflare colo, or "local").
    pub edge_node: String,
    pub format: String,
    /// A UUIDv7 made at the edge.
    pub id: String,
    /// RFC 3339 UTC with milliseconds.
    pub issued_at: String,
    pub lines: Vec<InvoiceLine>,
    pub merchant: String,
    pub order_id: String,
    pub payment_terms: Option<String>,
    pub prices_include_tax: bool,
    pub seller: Seller,
    /// The numbering series the origin numbers this invoice in, from the merchant's configuration.
    pub series: String,
    pub supply_date: Date,
    pub tax_breakdown: Vec<TaxBreakdown>,
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeSignature {
    pub alg: String,
    pub kid: String,
    pub sig: String,
}

/// What the edge stores as `inv:{id}` and sends to the origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInvoice {
    pub invoice: Invoice,
    pub edge_signature: EdgeSignature,
}

/// The origin's final data, without its signature: the bytes the origin countersigns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalBody {
    pub hash: String,
    pub ledger_seq: u64,
    pub number: String,
    pub origin_kid: String,
    pub prev_hash: String,
    pub series: String,
}

/// The origin's final data: official number, chain link and countersignature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Final {
    pub number: String,
    pub series: String,
    pub ledger_seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub origin_kid: String,
    pub origin_signature: String,
}

impl Final {
    pub fn body(&self) -> FinalBody {
        FinalBody {
            hash: self.hash.clone(),
            ledger_seq: self.ledger_seq,
            number: self.number.clone(),
            origin_kid: self.origin_kid.clone(),
            prev_hash: self.prev_hash.clone(),
            series: self.series.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: String,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    PendingSync,
    Final,
    Rejected,
}

/// The current document: `inv:` plus `final:` or `rejected:`, with `status` derived from which
/// of them exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub invoice: Invoice,
    pub edge_signature: EdgeSignature,
    pub status: Status,
    #[serde(rename = "final")]
    pub final_: Option<Final>,
    pub rejection: Option<Rejection>,
}

impl Document {
    pub fn new(
        signed: SignedInvoice,
        final_: Option<Final>,
        rejection: Option<Rejection>,
    ) -> Document {
        let status = match (&final_, &rejection) {
            (Some(_), _) => Status::Final,
            (None, Some(_)) => Status::Rejected,
            (None, None) => Status::PendingSync,
        };
        Document {
            invoice: signed.invoice,
            edge_signature: signed.edge_signature,
            status,
            final_,
            rejection,
        }
    }
}

/// A UUIDv7 (RFC 9562 section 5.7) from a Unix time in ms and 10 random bytes the caller drew.
pub fn uuid_v7(unix_ms: u64, random: [u8; 10]) -> String {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    bytes[6] = 0x70 | (random[0] & 0x0f);
    bytes[7] = random[1];
    bytes[8] = 0x80 | (random[2] & 0x3f);
    bytes[9..].copy_from_slice(&random[3..]);
    let h = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// True for a lower-case hyphenated UUID, the only id form the edge stores or looks up.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

/// What the caller supplies for one issuance: the core has no clock and no randomness.
pub struct IssueContext<'a> {
    pub id: String,
    pub issued_at_ms: i64,
    pub edge_node: String,
    pub key: &'a EdKey,
}

/// Validates, computes and signs a request for a merchant. `Err` lists every problem.
pub fn issue(
    request: &InvoiceRequest,
    merchant: &MerchantConfig,
    payment: Payment,
    context: &IssueContext<'_>,
) -> Result<SignedInvoice, Vec<FieldError>> {
    let computed = compute_invoice(request, Some(merchant.seller_rules()), payment)?;
    let buyer = computed.buyer.map(|mut buyer| {
        // DESIGN.md: buyer.country defaults to the seller's country.
        buyer
            .country
            .get_or_insert_with(|| merchant.seller.country.clone());
        buyer
    });
    let invoice = Invoice {
        buyer,
        currency: computed.currency,
        delivery: computed.delivery,
        edge_node: context.edge_node.clone(),
        format: FORMAT.to_string(),
        id: context.id.clone(),
        issued_at: rfc3339_millis(context.issued_at_ms),
        lines: computed.lines,
        merchant: merchant.id.clone(),
        order_id: computed.order_id,
        payment_terms: merchant.payment_terms.clone(),
        prices_include_tax: computed.prices_include_tax,
        seller: merchant.seller.clone(),
        series: merchant.series.clone(),
        supply_date: computed
            .supply_date
            .unwrap_or_else(|| Date::from_unix_millis(context.issued_at_ms)),
        tax_breakdown: computed.tax_breakdown,
        totals: computed.totals,
    };
    Ok(sign(invoice, context.key))
}

/// A request body made into a signed invoice, with the request's idempotency fingerprint.
#[derive(Clone, Debug)]
pub struct Issued {
    pub signed: SignedInvoice,
    pub fingerprint: String,
}

/// The whole edge issue path over a request body: parse, validate, compute, canonicalize,
/// fingerprint and sign. `Err` is the problem to answer with.
pub fn issue_from_bytes(
    body: &[u8],
    merchant: &MerchantConfig,
    payment: Payment,
    context: &IssueContext<'_>,
) -> Result<Issued, crate::problem::Problem> {
    use crate::problem::Problem;
    let value: Value =
        crate::json_reader::parse_json(body).map_err(|error| Problem::from_errors(vec![error]))?;
    issue_from_value(&value, merchant, payment, context)
}

/// As [`issue_from_bytes`], for a request already parsed to JSON (e.g. assembled from a token).
pub fn issue_from_value(
    value: &Value,
    merchant: &MerchantConfig,
    payment: Payment,
    context: &IssueContext<'_>,
) -> Result<Issued, crate::problem::Problem> {
    let request =
        crate::request::parse_request(value).map_err(crate::problem::Problem::from_errors)?;
    let signed = issue(&request, merchant, payment, context)
        .map_err(crate::problem::Problem::from_errors)?;
    Ok(Issued {
        signed,
        fingerprint: request_fingerprint(value),
    })
}

/// Signs an invoice: Ed25519 over its canonical bytes.
pub fn sign(invoice: Invoice, key: &EdKey) -> SignedInvoice {
    // Serializing plain structs of strings, integers and booleans cannot fail.
    let bytes = to_jcs_bytes(&invoice).unwrap_or_default();
    SignedInvoice {
        edge_signature: EdgeSignature {
            alg: "EdDSA".into(),
            kid: key.kid().to_string(),
            sig: key.sign(&bytes),
        },
        invoice,
    }
}

/// The idempotency fingerprint of a request: lower-case hex SHA-256 of its RFC 8785 form, so
/// the same request with its keys in another order or other whitespace is the same request.
pub fn request_fingerprint(request: &Value) -> String {
    hex(&sha256(canonicalize(request).as_bytes()))
}

/// SHA-256 of an invoice's canonical bytes, as raw bytes.
pub fn invoice_hash(invoice: &Invoice) -> [u8; 32] {
    sha256(&to_jcs_bytes(invoice).unwrap_or_default())
}

/// The ledger's chain link: SHA-256(prev_hash ‖ invoice_hash ‖ UTF-8(number)) over raw bytes
/// (DESIGN.md, "Origin ledger protocol"); the genesis `prev_hash` is 32 zero bytes.
pub fn chain_hash(prev_hash: &[u8; 32], invoice_hash: &[u8; 32], number: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(64 + number.len());
    input.extend_from_slice(prev_hash);
    input.extend_from_slice(invoice_hash);
    input.extend_from_slice(number.as_bytes());
    sha256(&input)
}

/// The origin's side of finalization: link into the chain and countersign.
pub fn finalize(
    invoice_hash: &[u8; 32],
    prev_hash: &[u8; 32],
    number: &str,
    series: &str,
    ledger_seq: u64,
    origin_key: &EdKey,
) -> Final {
    let body = FinalBody {
        hash: hex(&chain_hash(prev_hash, invoice_hash, number)),
        ledger_seq,
        number: number.to_string(),
        origin_kid: origin_key.kid().to_string(),
        prev_hash: hex(prev_hash),
        series: series.to_string(),
    };
    let origin_signature = origin_key.sign(&to_jcs_bytes(&body).unwrap_or_default());
    Final {
        number: body.number,
        series: body.series,
        ledger_seq: body.ledger_seq,
        prev_hash: body.prev_hash,
        hash: body.hash,
        origin_kid: body.origin_kid,
        origin_signature,
    }
}

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
    /// `final` does not belong to this invoice (chain hash or series differ).
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
    }
}

/// Verifies any document (or a bare `{invoice, edge_signature}`) against a JWKS, offline.
///
/// The invoice is canonicalized from the JSON as given, not re-serialized from our structs, so a
/// changed byte anywhere in it, or a field this version does not know, is covered by the check.
pub fn verify(document: &Value, jwks: &Jwks) -> Verification {
    let malformed = |detail: &str| verdict(VerifyCode::Malformed, detail, None, None);
    let Some(invoice) = document.get("invoice").filter(|v| v.is_object()) else {
        return malformed("the document has no invoice object");
    };
    let Ok(signature) = serde_json::from_value::<EdgeSignature>(
        document
            .get("edge_signature")
            .cloned()
            .unwrap_or(Value::Null),
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
    let hash_hex = Some(hex(&hash));
    let Some(edge_key) = jwks.find(&signature.kid) else {
        return verdict(
            VerifyCode::UnknownKid,
            format!("no key {} in the JWKS", signature.kid),
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
        Some(value) => match serde_json::from_value::<Status>(value.clone()) {
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
            Some(Status::Rejected) => "signed by the edge; the origin rejected it",
            _ => "signed by the edge; not yet final",
        };
        return verdict(VerifyCode::Valid, detail, hash_hex, status);
    };

    let Ok(final_) = serde_json::from_value::<Final>(final_value.clone()) else {
        return malformed("final must be {number, series, ledger_seq, prev_hash, hash, origin_kid, origin_signature}");
    };
    let Some(origin_key) = jwks.find(&final_.origin_kid) else {
        return verdict(
            VerifyCode::UnknownKid,
            format!("no origin key {} in the JWKS", final_.origin_kid),
            hash_hex,
            status,
        );
    };
    let body = to_jcs_bytes(&final_.body()).unwrap_or_default();
    if !verify_signature(&origin_key, &body, &final_.origin_signature) {
        return verdict(
            VerifyCode::FinalSignatureInvalid,
            "the origin's countersignature does not match final",
            hash_hex,
            status,
        );
    }
    let prev: Option<[u8; 32]> = hex_decode(&final_.prev_hash).and_then(|b| b.try_into().ok());
    let linked =
        prev.is_some_and(|prev| hex(&chain_hash(&prev, &hash, &final_.number)) == final_.hash);
    if !linked || invoice.get("series").and_then(Value::as_str) != Some(final_.series.as_str()) {
        return verdict(
            VerifyCode::FinalMismatch,
            "final belongs to another invoice: its chain hash or series does not match",
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
