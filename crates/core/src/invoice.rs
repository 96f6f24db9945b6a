//! From a parsed request to a computed (not yet signed) invoice: rules, tax and totals, and the
//! checks that need the totals (a negative gross, an overpayment, an `expected_total`).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::money::Money;
use crate::problem::{Code, FieldError};
use crate::request::{Buyer, Delivery, InvoiceRequest};
use crate::rules::{self, SellerRules};
use crate::tax::{self, InvoiceLine, TaxBreakdown, Totals};
use crate::tax_id::TaxId;

/// How much of the invoice is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payment {
    /// `paid_amount` from the request, default 0.
    AsRequested,
    /// The buyer has paid the gross: a checkout-token issuance (DESIGN.md, "Authentication").
    FullyPaid,
}

/// The computed invoice: the request's own fields plus lines, breakdown and totals.
/// Fields are in sorted order (RFC 8785 canonical form, see `canonical`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputedInvoice {
    pub buyer: Option<Buyer>,
    pub currency: String,
    pub delivery: Option<Delivery>,
    pub lines: Vec<InvoiceLine>,
    pub order_id: String,
    pub prices_include_tax: bool,
    pub supply_date: Option<Date>,
    pub tax_breakdown: Vec<TaxBreakdown>,
    pub totals: Totals,
}

/// Validates and computes an invoice. `Err` lists every problem found.
pub fn compute_invoice(
    request: &InvoiceRequest,
    seller: Option<SellerRules<'_>>,
    payment: Payment,
) -> Result<ComputedInvoice, Vec<FieldError>> {
    // Both checks run, so one answer lists the tax ID's problem beside the tax rules'.
    let (reasons, buyer) = match (
        rules::check(request, seller),
        normalized_buyer(request, seller),
    ) {
        (Ok(reasons), Ok(buyer)) => (reasons, buyer),
        (reasons, buyer) => {
            let mut errors = buyer.err().unwrap_or_default();
            errors.extend(reasons.err().unwrap_or_default());
            return Err(errors);
        }
    };
    let requested_paid = match payment {
        Payment::AsRequested => request.paid_amount.unwrap_or(Decimal::ZERO),
        Payment::FullyPaid => Decimal::ZERO,
    };
    let mut computation = tax::compute(request, &reasons, requested_paid)?;
    let totals = &mut computation.totals;

    let mut errors = Vec::new();
    if totals.gross.is_negative() {
        errors.push(FieldError::new("/lines", Code::NegativeTotal, format!("the total is {}; an invoice cannot be negative (credit notes are not supported yet)", totals.gross)));
    }
    if payment == Payment::FullyPaid {
        totals.paid = totals.gross;
        totals.payable = Money::zero(request.currency);
    } else if totals.paid > totals.gross && !totals.gross.is_negative() {
        errors.push(FieldError::new(
            "/paid_amount",
            Code::PaidExceedsTotal,
            format!(
                "paid {} is more than the total {}",
                totals.paid, totals.gross
            ),
        ));
    }
    if let Some(expected) = request.expected_total {
        if expected != totals.gross.to_decimal() {
            errors.push(FieldError::new(
                "/expected_total",
                Code::TotalMismatch,
                format!(
                    "expected {expected}, but the computed total is {}",
                    totals.gross
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    Ok(ComputedInvoice {
        buyer,
        currency: request.currency.code().to_string(),
        delivery: request.delivery.clone(),
        lines: computation.lines,
        order_id: request.order_id.clone(),
        prices_include_tax: request.prices_include_tax,
        supply_date: request.supply_date,
        tax_breakdown: computation.tax_breakdown,
        totals: computation.totals,
    })
}

/// The buyer with its tax ID checked by its country's scheme and stored normalized, without its
/// country prefix (DESIGN.md). The country is the buyer's, else the seller's; with neither (the
/// CLI's `totals` without a merchant) the ID is kept as given.
fn normalized_buyer(
    request: &InvoiceRequest,
    seller: Option<SellerRules<'_>>,
) -> Result<Option<Buyer>, Vec<FieldError>> {
    let Some(mut buyer) = request.buyer.clone() else {
        return Ok(None);
    };
    let country = buyer
        .country
        .as_deref()
        .or(seller.and_then(|s| s.seller_country));
    if let (Some(tax_id), Some(country)) = (&buyer.tax_id, country) {
        match TaxId::parse(country, tax_id) {
            Ok(parsed) => buyer.tax_id = Some(parsed.value().to_string()),
            Err(error) => {
                return Err(vec![FieldError::new(
                    "/buyer/tax_id",
                    error.code(),
                    error.detail(),
                )])
            }
        }
    }
    Ok(Some(buyer))
}
