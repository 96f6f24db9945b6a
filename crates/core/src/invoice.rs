//! From a parsed request to a computed (not yet signed) invoice: rules, tax and totals, and the
//! checks that need the totals (a negative gross, an overpayment, an `expected_total`).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::money::{AmountOverflow, Money};
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
    /// The buyer has paid the gross: a checkout-token issuance (docs/ARCHITECTURE.md, "Authentication").
    FullyPaid,
}

/// The computed invoice: the request's own fields plus lines, breakdown and totals.
/// Fields are in sorted order (RFC 8785 canonical form, see `canonical`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputedInvoice {
    pub buyer: Option<Buyer>,
    /// What a credit note credits, and why (docs/ARCHITECTURE.md, "Credit notes"); `None` for
    /// an invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<crate::credit::CreditOf>,
    pub currency: String,
    pub delivery: Option<Delivery>,
    pub lines: Vec<InvoiceLine>,
    pub order_id: String,
    pub prices_include_tax: bool,
    pub supply_date: Option<Date>,
    pub tax_breakdown: Vec<TaxBreakdown>,
    pub totals: Totals,
}

/// What a checkout shows before it issues (the browser module's `preview`): the computed
/// invoice, and beside each line the amount the buyer sees, so a page never adds money itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preview<'a> {
    #[serde(flatten)]
    pub invoice: &'a ComputedInvoice,
    /// Per line, its amount `round(quantity × unit_price)` (docs/ARCHITECTURE.md, "Money rules"): the line
    /// net with net pricing, the line gross (`net_amount + tax_amount`) with tax-inclusive
    /// pricing.
    pub line_amounts: Vec<Money>,
}

impl ComputedInvoice {
    /// The invoice with each line's amount, as a checkout shows it.
    pub fn preview(&self) -> Result<Preview<'_>, AmountOverflow> {
        let line_amounts = self
            .lines
            .iter()
            .map(|line| {
                if self.prices_include_tax {
                    // The line's net is its amount minus its allocated tax (tax::compute), so
                    // this sum is the amount itself and stays within its bounds.
                    line.net_amount.checked_add(line.tax_amount)
                } else {
                    Ok(line.net_amount)
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Preview {
            invoice: self,
            line_amounts,
        })
    }
}

/// Validates and computes an invoice. `Err` lists every problem found. The request is taken,
/// not borrowed: its texts (descriptions, unit codes, the buyer) move into the computed invoice
/// instead of being copied (docs/PERFORMANCE.md, "Native, paired: allocations").
pub fn compute_invoice(
    request: InvoiceRequest,
    seller: Option<SellerRules<'_>>,
    payment: Payment,
) -> Result<ComputedInvoice, Vec<FieldError>> {
    // Both checks run, so one answer lists the tax ID's problem beside the tax rules'.
    let (reasons, normalized_tax_id) = match (
        rules::check(&request, seller),
        normalized_tax_id(&request, seller),
    ) {
        (Ok(reasons), Ok(tax_id)) => (reasons, tax_id),
        (reasons, tax_id) => {
            let mut errors = tax_id.err().unwrap_or_default();
            errors.extend(reasons.err().unwrap_or_default());
            return Err(errors);
        }
    };
    let requested_paid = match payment {
        Payment::AsRequested => request.paid_amount.unwrap_or(Decimal::ZERO),
        Payment::FullyPaid => Decimal::ZERO,
    };
    let mut computation = tax::compute(&request, &reasons, requested_paid)?;
    let totals = &mut computation.totals;

    let mut errors = Vec::new();
    if totals.gross.is_negative() {
        errors.push(FieldError::new("/lines", Code::NegativeTotal, format!("the total is {}; an invoice cannot be negative (a refund is a credit note against the invoice)", totals.gross)));
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

    let buyer = request.buyer.map(|mut buyer| {
        if normalized_tax_id.is_some() {
            buyer.tax_id = normalized_tax_id;
        }
        buyer
    });
    Ok(ComputedInvoice {
        buyer,
        credit: None,
        currency: request.currency.code().to_string(),
        delivery: request.delivery,
        lines: tax::invoice_lines(computation.line_amounts, request.lines, reasons),
        order_id: request.order_id,
        prices_include_tax: request.prices_include_tax,
        supply_date: request.supply_date,
        tax_breakdown: computation.tax_breakdown,
        totals: computation.totals,
    })
}

/// The buyer's tax ID checked by its country's scheme, normalized without its country prefix
/// (docs/ARCHITECTURE.md). The country is the buyer's, else the seller's; `None` when there is
/// no ID, or no country to check it by (the CLI's `totals` without a merchant): the ID is then
/// kept as given.
fn normalized_tax_id(
    request: &InvoiceRequest,
    seller: Option<SellerRules<'_>>,
) -> Result<Option<String>, Vec<FieldError>> {
    let Some(buyer) = &request.buyer else {
        return Ok(None);
    };
    let country = buyer
        .country
        .as_deref()
        .or(seller.and_then(|s| s.seller_country));
    let (Some(tax_id), Some(country)) = (&buyer.tax_id, country) else {
        return Ok(None);
    };
    match TaxId::parse(country, tax_id) {
        Ok(parsed) => Ok(Some(parsed.value().to_string())),
        Err(error) => Err(vec![FieldError::new(
            "/buyer/tax_id",
            error.code(),
            error.detail(),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn computed(prices_include_tax: bool, lines: serde_json::Value) -> ComputedInvoice {
        let request = crate::parse_request(&json!({
            "currency": "CNY", "order_id": "P-1", "prices_include_tax": prices_include_tax, "lines": lines,
        }))
        .unwrap();
        compute_invoice(request, None, Payment::FullyPaid).unwrap()
    }

    #[test]
    fn the_preview_shows_each_line_amount_rounded_half_away_from_zero() {
        // Net pricing: 0.5 × 24.97 = 12.485 → 12.49, the line's net; the group's tax 12.50 ×
        // 13 % = 1.625 → 1.63.
        let net = computed(
            false,
            json!([
                {"description": "tea", "quantity": "0.5", "unit_price": "24.97", "tax_category": "S", "tax_rate": "13"},
                {"description": "bag", "quantity": "1", "unit_price": "0.01", "tax_category": "S", "tax_rate": "13"},
            ]),
        );
        let preview = serde_json::to_value(net.preview().unwrap()).unwrap();
        assert_eq!(preview["line_amounts"], json!(["12.49", "0.01"]));
        assert_eq!(preview["totals"]["tax"], json!("1.63"));
        // The computed invoice's own members are all there, unchanged.
        assert_eq!(preview["lines"], serde_json::to_value(&net.lines).unwrap());
        // Tax-inclusive pricing: the amount is the line gross, net + allocated tax; 3 × 0.415 =
        // 1.245 → 1.25, though its net is 1.11.
        let gross = computed(
            true,
            json!([
                {"description": "sample", "quantity": "3", "unit_price": "0.415", "tax_category": "S", "tax_rate": "13"},
                {"description": "cup", "quantity": "1", "unit_price": "10.00", "tax_category": "S", "tax_rate": "13"},
            ]),
        );
        assert_eq!(gross.lines[0].net_amount.to_string(), "1.11");
        let amounts: Vec<String> = gross
            .preview()
            .unwrap()
            .line_amounts
            .iter()
            .map(Money::to_string)
            .collect();
        assert_eq!(amounts, ["1.25", "10.00"]);
        assert_eq!(gross.totals.gross.to_string(), "11.25");
    }
}
