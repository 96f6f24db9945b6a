//! The EN 16931 tax-category rules and the merchant's tax profile, checked on a parsed request.
//!
//! They are enforced at issuance so that every final invoice in a currency EN 16931 allows can
//! be exported as valid UBL (docs/ARCHITECTURE.md, "The invoice request").

use serde::{Deserialize, Serialize};

use crate::problem::{Code, FieldError};
use crate::request::{InvoiceRequest, TaxCategory, TaxRate};

/// One allowed (category, rate) pair of a merchant, with its default exemption reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxProfileEntry {
    pub category: TaxCategory,
    /// Absent for category O, which carries no rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<TaxRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption_reason: Option<String>,
}

/// What the rules need to know about the seller. Tools that run without a merchant (the CLI's
/// `totals`) pass none, and then only the category rules apply.
#[derive(Clone, Copy, Debug)]
pub struct SellerRules<'a> {
    /// The merchant's allowed pairs; a line outside them is `TAX_NOT_IN_PROFILE`.
    pub profile: &'a [TaxProfileEntry],
    pub seller_has_vat_id: bool,
    /// The seller's country: the buyer's country when the request gives none.
    pub seller_country: Option<&'a str>,
}

/// Checks every rule and returns either the exemption reason that applies to each line
/// (its own, or the profile's default) or every problem found.
pub fn check(
    request: &InvoiceRequest,
    seller: Option<SellerRules<'_>>,
) -> Result<Vec<Option<String>>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut reasons = Vec::with_capacity(request.lines.len());
    let buyer_vat_id = request.buyer.as_ref().and_then(|b| b.tax_id.as_ref());

    for (index, line) in request.lines.iter().enumerate() {
        let at = |field: &str| format!("/lines/{index}/{field}");
        let category = line.tax_category;
        let profile_entry = seller.and_then(|seller| {
            seller
                .profile
                .iter()
                .find(|entry| entry.category == category && entry.rate == line.tax_rate)
        });

        // Rates: O carries none (BR-O-05); S is above 0 (BR-S-05); the rest are 0
        // (BR-Z-05, BR-E-05, BR-AE-05, BR-IC-05, BR-G-05).
        match (category, line.tax_rate) {
            (TaxCategory::O, Some(_)) => errors.push(FieldError::new(at("tax_rate"), Code::TaxRateNotAllowed, "category O (outside the scope of tax) carries no rate (EN 16931 BR-O-05)")),
            (TaxCategory::O, None) => {}
            (_, None) => errors.push(FieldError::new(at("tax_rate"), Code::TaxRateRequired, format!("category {} needs a tax_rate", category.as_str()))),
            (TaxCategory::S, Some(rate)) if rate.is_zero() => errors.push(FieldError::new(at("tax_rate"), Code::TaxRateInvalidForCategory, "category S (standard rate) needs a rate above 0 (EN 16931 BR-S-05); use Z for zero-rated goods")),
            (TaxCategory::S, Some(_)) => {}
            (_, Some(rate)) if !rate.is_zero() => errors.push(FieldError::new(at("tax_rate"), Code::TaxRateInvalidForCategory, format!("category {} has rate 0", category.as_str()))),
            (_, Some(_)) => {}
        }

        // Exemption reasons.
        let reason = line
            .exemption_reason
            .clone()
            .or_else(|| profile_entry.and_then(|entry| entry.exemption_reason.clone()));
        if category.needs_exemption_reason() && reason.is_none() {
            errors.push(FieldError::new(
                at("exemption_reason"),
                Code::ExemptionReasonRequired,
                format!(
                    "category {} needs an exemption reason (EN 16931 BR-{}-10)",
                    category.as_str(),
                    rule_prefix(category)
                ),
            ));
        }
        if !category.needs_exemption_reason() && line.exemption_reason.is_some() {
            errors.push(FieldError::new(
                at("exemption_reason"),
                Code::ExemptionReasonNotAllowed,
                format!(
                    "category {} carries no exemption reason (EN 16931 BR-{}-10)",
                    category.as_str(),
                    rule_prefix(category)
                ),
            ));
        }
        reasons.push(reason.filter(|_| category.needs_exemption_reason()));

        if let Some(seller) = seller {
            if profile_entry.is_none() {
                let rate = line
                    .tax_rate
                    .map_or_else(|| "no rate".to_string(), |rate| format!("rate {rate}"));
                errors.push(FieldError::new(
                    format!("/lines/{index}"),
                    Code::TaxNotInProfile,
                    format!(
                        "category {} at {rate} is not in the merchant's tax profile",
                        category.as_str()
                    ),
                ));
            }
            if category != TaxCategory::O && !seller.seller_has_vat_id {
                errors.push(FieldError::new(at("tax_category"), Code::SellerVatIdRequired, format!("category {} needs the seller's VAT identifier, and the merchant has none (EN 16931 BR-{}-02)", category.as_str(), rule_prefix(category))));
            }
        }
    }

    let has = |category: TaxCategory| {
        request
            .lines
            .iter()
            .any(|line| line.tax_category == category)
    };
    if has(TaxCategory::O) {
        // BR-O-11 to BR-O-14: an invoice with O has no other category.
        if request
            .lines
            .iter()
            .any(|line| line.tax_category != TaxCategory::O)
        {
            errors.push(FieldError::new("/lines", Code::CategoryOMixed, "category O (outside the scope of tax) cannot be mixed with other categories (EN 16931 BR-O-11)"));
        }
        // BR-O-02 to BR-O-04.
        if buyer_vat_id.is_some() {
            errors.push(FieldError::new(
                "/buyer/tax_id",
                Code::VatIdNotAllowedWithO,
                "an invoice with category O carries no buyer VAT identifier (EN 16931 BR-O-02)",
            ));
        }
        if seller.is_some_and(|seller| seller.seller_has_vat_id) {
            errors.push(FieldError::new("/lines", Code::VatIdNotAllowedWithO, "category O needs a merchant configured without a VAT identifier (EN 16931 BR-O-02)"));
        }
    }
    if (has(TaxCategory::AE) || has(TaxCategory::K)) && buyer_vat_id.is_none() {
        errors.push(FieldError::new("/buyer/tax_id", Code::BuyerVatIdRequired, "reverse charge (AE) and intra-community supply (K) need the buyer's VAT identifier (EN 16931 BR-AE-02, BR-IC-02)"));
    }
    if has(TaxCategory::K) && request.delivery.is_none() {
        errors.push(FieldError::new(
            "/delivery/country",
            Code::DeliveryCountryRequired,
            "intra-community supply (K) needs the deliver-to country (EN 16931 BR-IC-12)",
        ));
    }

    // EN 16931 has one VAT breakdown per (category, rate) with one exemption reason (BR-E-01 and
    // its siblings), so lines of one group must agree on it.
    for (index, line) in request.lines.iter().enumerate() {
        let earlier = request.lines[..index]
            .iter()
            .zip(&reasons)
            .find(|(other, _)| {
                other.tax_category == line.tax_category && other.tax_rate == line.tax_rate
            });
        if let (Some((_, earlier_reason)), Some(reason)) = (earlier, reasons.get(index)) {
            if earlier_reason != reason {
                errors.push(FieldError::new(
                    format!("/lines/{index}/exemption_reason"),
                    Code::ExemptionReasonConflict,
                    "lines of the same category and rate share one exemption reason",
                ));
            }
        }
    }

    if errors.is_empty() {
        Ok(reasons)
    } else {
        Err(errors)
    }
}

/// The prefix EN 16931 uses for a category's rules ("BR-IC-" for K).
fn rule_prefix(category: TaxCategory) -> &'static str {
    match category {
        TaxCategory::K => "IC",
        other => other.as_str(),
    }
}
