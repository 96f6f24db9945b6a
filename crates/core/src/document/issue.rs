//! Building an issued document (docs/ARCHITECTURE.md, "Edge issuance path"): a request validated and
//! computed for a merchant and its series, then numbered, chained and signed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::date::rfc3339_millis;
use crate::document::model::{Invoice, Kind, SignedInvoice, FORMAT};
use crate::document::sign::{
    fingerprint_of_canonical, request_fingerprint, sign_and_hash, Channel, Sealed,
};
use crate::invoice::{compute_invoice, ComputedInvoice, Payment};
use crate::keys::EdKey;
use crate::merchant::{MerchantConfig, Seller};
use crate::problem::FieldError;
use crate::request::InvoiceRequest;
use crate::series::ChainPosition;

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
    request: InvoiceRequest,
    merchant: &MerchantConfig,
    payment: Payment,
) -> Result<(Issuer, ComputedInvoice), Vec<FieldError>> {
    // A retired series is found here and refused by whoever issues (`issue`, the series'
    // object), after the object's replay check.
    let series = merchant.find_series(request.series.as_deref());
    match (
        series,
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
    request: InvoiceRequest,
    merchant: &MerchantConfig,
    payment: Payment,
    context: &IssueContext<'_>,
) -> Result<SignedInvoice, Vec<FieldError>> {
    let (issuer, computed) = compute_for(request, merchant, payment)?;
    if issuer.series.retired {
        return Err(vec![crate::merchant::retired(&issuer.series)]);
    }
    Ok(finish(computed, issuer, context).signed)
}

/// Gives a computed invoice its id, time and place in its series, and signs it: the series'
/// object's part of an issuance (docs/ARCHITECTURE.md, "Edge issuance path", step 3). CPU only.
/// Returns the invoice hash too, which the next document of the series links to, and the signed
/// document's JSON text. The issuer is taken, not borrowed: its strings move into the document
/// instead of being copied (docs/PERFORMANCE.md, "Native, paired: allocations").
pub fn finish(computed: ComputedInvoice, issuer: Issuer, context: &IssueContext<'_>) -> Sealed {
    let series = issuer.series;
    let position = &context.position;
    let number = crate::numbering::render_number(
        &series.number_format,
        &series.name,
        position.seq,
        context.issued_at_ms,
        issuer.utc_offset,
    );
    let buyer = computed.buyer.map(|mut buyer| {
        // docs/ARCHITECTURE.md: buyer.country defaults to the seller's country.
        buyer
            .country
            .get_or_insert_with(|| issuer.seller.country.clone());
        buyer
    });
    // A credit note is an invoice's twin with a kind and a reference (docs/ARCHITECTURE.md,
    // "Credit notes"): the same numbering, chain and signature.
    let (kind, credits, reason, reason_code) = match computed.credit {
        Some(credit) => (
            Kind::CreditNote,
            Some(credit.credits),
            credit.reason,
            Some(credit.reason_code),
        ),
        None => (Kind::Invoice, None, None, None),
    };
    let invoice = Invoice {
        buyer,
        credits,
        currency: computed.currency,
        delivery: computed.delivery,
        edge_node: context.edge_node.clone(),
        format: FORMAT.to_string(),
        id: context.id.clone(),
        issued_at: rfc3339_millis(context.issued_at_ms),
        kind,
        lines: computed.lines,
        merchant: issuer.merchant,
        number,
        order_id: computed.order_id,
        payment_terms: issuer.payment_terms,
        prev_hash: position.prev_hash.clone(),
        prices_include_tax: computed.prices_include_tax,
        reason,
        reason_code,
        seller: issuer.seller,
        seq: position.seq,
        series: series.name,
        // docs/ARCHITECTURE.md, "Series": the default supply date is the merchant's local date.
        supply_date: computed
            .supply_date
            .unwrap_or_else(|| issuer.utc_offset.local_date(context.issued_at_ms)),
        tax_breakdown: computed.tax_breakdown,
        totals: computed.totals,
    };
    sign_and_hash(invoice, context.key)
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
        compute_for(request, merchant, payment).map_err(Problem::from_errors)?;
    Ok(Prepared {
        issuer,
        computed,
        fingerprint: request_fingerprint(value, channel),
    })
}

/// [`prepare`] over a request body: the serde fast path when the body is a plain valid request
/// (no `Value` is built, and the fingerprint comes from its canonical text), else the
/// collecting reader, which answers with every problem. Both give the same result for any body
/// the fast path reads (crates/core/tests/request_fast_path.rs).
pub fn prepare_body(
    body: &[u8],
    merchant: &MerchantConfig,
    payment: Payment,
    channel: Channel,
) -> Result<Prepared, crate::problem::Problem> {
    use crate::problem::Problem;
    let Some(fast) = crate::request::parse_request_fast(body) else {
        let value = crate::json_reader::parse_json(body)
            .map_err(|error| Problem::from_errors(vec![error]))?;
        return prepare(&value, merchant, payment, channel);
    };
    let (issuer, computed) =
        compute_for(fast.request, merchant, payment).map_err(Problem::from_errors)?;
    Ok(Prepared {
        issuer,
        computed,
        fingerprint: fingerprint_of_canonical(&fast.canonical, channel),
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
    let Some(fast) = crate::request::parse_request_fast(body) else {
        let value: Value = crate::json_reader::parse_json(body)
            .map_err(|error| Problem::from_errors(vec![error]))?;
        return issue_from_value(&value, merchant, payment, context);
    };
    let signed = issue(fast.request, merchant, payment, context).map_err(Problem::from_errors)?;
    Ok(Issued {
        signed,
        fingerprint: fingerprint_of_canonical(&fast.canonical, context.channel),
    })
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
    let signed =
        issue(request, merchant, payment, context).map_err(crate::problem::Problem::from_errors)?;
    Ok(Issued {
        signed,
        fingerprint: request_fingerprint(value, context.channel),
    })
}
