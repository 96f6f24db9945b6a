//! The issued document (DESIGN.md, "The issued document"): the signed invoice, its status and
//! the origin's final data, and offline verification of all of it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{canonicalize, to_jcs_bytes};
use crate::date::{rfc3339_millis, Date};
use crate::invoice::{compute_invoice, ComputedInvoice, Payment};
use crate::keys::{hex, hex_decode, sha256, verify_signature, EdKey, Jwks};
use crate::merchant::{MerchantConfig, Seller};
use crate::problem::FieldError;
use crate::request::{Buyer, Delivery, InvoiceRequest};
use crate::tax::{InvoiceLine, TaxBreakdown, Totals};

/// The `format` of every invoice this version signs: numbered and chained at the edge. Version
/// 1 (numbers from the origin) is not understood: no version 1 document exists in production.
pub const FORMAT: &str = "invoice-edge/2";

/// What a document is (DESIGN.md, "The issued document").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Invoice,
    CreditNote,
}

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
    /// `invoice` or `credit_note`.
    pub kind: Kind,
    pub lines: Vec<InvoiceLine>,
    pub merchant: String,
    /// The series' `number_format` rendered with `seq`.
    pub number: String,
    pub order_id: String,
    pub payment_terms: Option<String>,
    /// The invoice hash of the series' document `seq - 1`, or 64 zeros for `seq` 1.
    pub prev_hash: String,
    pub prices_include_tax: bool,
    pub seller: Seller,
    /// 1, 2, 3, … without gaps within the series.
    pub seq: u64,
    /// The numbering series, one of the merchant's.
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

/// The origin's receipt without its signature: the bytes the origin countersigns. Fields in
/// sorted order, so serde's output is the RFC 8785 form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalBody {
    /// The global audit chain: SHA-256(prev_hash ‖ invoice_hash ‖ UTF-8(number)).
    pub hash: String,
    pub ledger_seq: u64,
    pub number: String,
    pub origin_kid: String,
    /// The global audit chain's previous `hash` (not the series' `prev_hash`).
    pub prev_hash: String,
    pub received_at: String,
    pub seq: u64,
    pub series: String,
    /// True when an operator archived a refused document as void (`invoice-origin void`).
    pub void: bool,
}

/// The origin's receipt (`final`): `number`, `series` and `seq` copied from the invoice (the
/// origin checks them), its place in the global audit chain, and its countersignature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Final {
    pub number: String,
    pub series: String,
    pub seq: u64,
    pub ledger_seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub received_at: String,
    pub origin_kid: String,
    pub origin_signature: String,
    pub void: bool,
}

impl Final {
    pub fn body(&self) -> FinalBody {
        FinalBody {
            hash: self.hash.clone(),
            ledger_seq: self.ledger_seq,
            number: self.number.clone(),
            origin_kid: self.origin_kid.clone(),
            prev_hash: self.prev_hash.clone(),
            received_at: self.received_at.clone(),
            seq: self.seq,
            series: self.series.clone(),
            void: self.void,
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

/// How a request was made. Part of the idempotency fingerprint, so an API-key request and a
/// checkout-token request never replay each other (DESIGN.md, "Edge issuance path").
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

/// A document's place in its series, decided by the series' only writer (its Durable Object,
/// or the operator of the CLI's `issue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPosition {
    pub seq: u64,
    pub prev_hash: String,
}

/// What the caller supplies for one issuance: the core has no clock and no randomness.
pub struct IssueContext<'a> {
    pub id: String,
    pub issued_at_ms: i64,
    pub edge_node: String,
    pub key: &'a EdKey,
    pub channel: Channel,
    /// The document's place in its series.
    pub position: ChainPosition,
}

/// What a series' object needs of the merchant to finish a document: the seller, the series
/// and its limits, never the merchant's secrets. The edge sends it with every issuance, so the
/// object needs no KV read on its critical step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    pub merchant: String,
    pub seller: Seller,
    pub payment_terms: Option<String>,
    pub utc_offset: crate::numbering::UtcOffset,
    pub series: crate::merchant::SeriesConfig,
    pub limits: crate::offline::Limits,
}

impl MerchantConfig {
    /// The issuer of one of this merchant's series.
    pub fn issuer(&self, series: &crate::merchant::SeriesConfig) -> Issuer {
        Issuer {
            merchant: self.id.clone(),
            seller: self.seller.clone(),
            payment_terms: self.payment_terms.clone(),
            utc_offset: self.utc_offset,
            series: series.clone(),
            limits: self.limits_for(series),
        }
    }
}

/// Validates and computes a request for a merchant, and resolves its series. `Err` lists every
/// problem: the series' beside the request's.
pub fn compute_for(
    request: &InvoiceRequest,
    merchant: &MerchantConfig,
    payment: Payment,
) -> Result<(Issuer, ComputedInvoice), Vec<FieldError>> {
    // A retired series is found here and refused by whoever issues (`issue`, the series'
    // object), after the object's replay check.
    match (
        merchant.find_series(request.series.as_deref()),
        compute_invoice(request, Some(merchant.seller_rules()), payment),
    ) {
        (Ok(series), Ok(computed)) => Ok((merchant.issuer(series), computed)),
        (series, computed) => {
            let mut errors: Vec<FieldError> = series.err().into_iter().collect();
            errors.extend(computed.err().unwrap_or_default());
            Err(errors)
        }
    }
}

/// Validates, computes and signs a request for a merchant. `Err` lists every problem.
pub fn issue(
    request: &InvoiceRequest,
    merchant: &MerchantConfig,
    payment: Payment,
    context: &IssueContext<'_>,
) -> Result<SignedInvoice, Vec<FieldError>> {
    let (issuer, computed) = compute_for(request, merchant, payment)?;
    if issuer.series.retired {
        return Err(vec![crate::merchant::retired(&issuer.series)]);
    }
    Ok(finish(computed, &issuer, context))
}

/// Gives a computed invoice its id, time and place in its series, and signs it: the series'
/// object's part of an issuance (DESIGN.md, "Edge issuance path", step 3). CPU only.
pub fn finish(
    computed: ComputedInvoice,
    issuer: &Issuer,
    context: &IssueContext<'_>,
) -> SignedInvoice {
    let series = &issuer.series;
    let position = &context.position;
    let number = crate::numbering::render_number(
        &series.number_format,
        &series.name,
        position.seq,
        context.issued_at_ms,
        issuer.utc_offset,
    );
    let buyer = computed.buyer.map(|mut buyer| {
        // DESIGN.md: buyer.country defaults to the seller's country.
        buyer
            .country
            .get_or_insert_with(|| issuer.seller.country.clone());
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
        kind: Kind::Invoice,
        lines: computed.lines,
        merchant: issuer.merchant.clone(),
        number,
        order_id: computed.order_id,
        payment_terms: issuer.payment_terms.clone(),
        prev_hash: position.prev_hash.clone(),
        prices_include_tax: computed.prices_include_tax,
        seller: issuer.seller.clone(),
        seq: position.seq,
        series: series.name.clone(),
        // DESIGN.md, "Series": the default supply date is the merchant's local date.
        supply_date: computed
            .supply_date
            .unwrap_or_else(|| issuer.utc_offset.local_date(context.issued_at_ms)),
        tax_breakdown: computed.tax_breakdown,
        totals: computed.totals,
    };
    sign(invoice, context.key)
}

/// A request made ready for its series' object: validated and computed, with its series and
/// its idempotency fingerprint, but no id, time, number or signature yet.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub issuer: Issuer,
    pub computed: ComputedInvoice,
    pub fingerprint: String,
}

/// The edge's step 2 over a parsed request: parse, validate, compute, fingerprint.
pub fn prepare(
    value: &Value,
    merchant: &MerchantConfig,
    payment: Payment,
    channel: Channel,
) -> Result<Prepared, crate::problem::Problem> {
    use crate::problem::Problem;
    let request = crate::request::parse_request(value).map_err(Problem::from_errors)?;
    let (issuer, computed) =
        compute_for(&request, merchant, payment).map_err(Problem::from_errors)?;
    Ok(Prepared {
        issuer,
        computed,
        fingerprint: request_fingerprint(value, channel),
    })
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
        fingerprint: request_fingerprint(value, context.channel),
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

/// The idempotency fingerprint of a request: lower-case hex SHA-256 of how it was made, a
/// newline, and its RFC 8785 form. The same request with its keys in another order or other
/// whitespace is the same request; the same body sent with an API key and inside a checkout
/// token are not.
pub fn request_fingerprint(request: &Value, channel: Channel) -> String {
    let canonical = canonicalize(request);
    let mut input = Vec::with_capacity(canonical.len() + 16);
    input.extend_from_slice(channel.as_str().as_bytes());
    input.push(b'\n');
    input.extend_from_slice(canonical.as_bytes());
    hex(&sha256(&input))
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

/// What the origin archived, for its receipt.
pub struct Archived<'a> {
    pub invoice_hash: &'a [u8; 32],
    /// The global audit chain's head before this entry (32 zero bytes for the first).
    pub audit_prev_hash: &'a [u8; 32],
    pub number: &'a str,
    pub series: &'a str,
    pub seq: u64,
    pub ledger_seq: u64,
    pub received_at: &'a str,
    pub void: bool,
}

/// The origin's receipt for an archived document: its link in the global audit chain
/// (DESIGN.md: `hash = SHA-256(prev_hash ‖ invoice_hash ‖ UTF-8(number))`), countersigned.
pub fn receipt(archived: &Archived<'_>, origin_key: &EdKey) -> Final {
    countersign(
        FinalBody {
            hash: hex(&chain_hash(
                archived.audit_prev_hash,
                archived.invoice_hash,
                archived.number,
            )),
            ledger_seq: archived.ledger_seq,
            number: archived.number.to_string(),
            origin_kid: origin_key.kid().to_string(),
            prev_hash: hex(archived.audit_prev_hash),
            received_at: archived.received_at.to_string(),
            seq: archived.seq,
            series: archived.series.to_string(),
            void: archived.void,
        },
        origin_key,
    )
}

/// The origin's side of archiving: countersign a receipt (JCS bytes of `body`).
pub fn countersign(body: FinalBody, origin_key: &EdKey) -> Final {
    let origin_signature = origin_key.sign(&to_jcs_bytes(&body).unwrap_or_default());
    Final {
        number: body.number,
        series: body.series,
        seq: body.seq,
        ledger_seq: body.ledger_seq,
        prev_hash: body.prev_hash,
        hash: body.hash,
        received_at: body.received_at,
        origin_kid: body.origin_kid,
        origin_signature,
        void: body.void,
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
    let Some(origin_key) = jwks.find(&final_.origin_kid) else {
        return Err((
            VerifyCode::UnknownKid,
            format!("no origin key {} in the JWKS", final_.origin_kid),
        ));
    };
    let body = to_jcs_bytes(&final_.body()).unwrap_or_default();
    if !verify_signature(&origin_key, &body, &final_.origin_signature) {
        return Err((
            VerifyCode::FinalSignatureInvalid,
            "the origin's countersignature does not match final".into(),
        ));
    }
    let prev: Option<[u8; 32]> = hex_decode(&final_.prev_hash).and_then(|b| b.try_into().ok());
    let linked = prev
        .is_some_and(|prev| hex(&chain_hash(&prev, invoice_hash, &final_.number)) == final_.hash);
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
