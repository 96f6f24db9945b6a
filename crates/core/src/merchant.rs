//! A merchant's configuration: who the seller is, which taxes it may charge, how its invoices
//! are numbered and paid, and how its clients authenticate. The edge keeps it in KV `MERCHANTS`;
//! `invoice-edge merchant create` makes it.

use serde::{Deserialize, Serialize};

use crate::request::{Address, TaxCategory};
use crate::rules::{SellerRules, TaxProfileEntry};

/// The default final-number format (DESIGN.md, "The issued document").
pub const DEFAULT_NUMBER_FORMAT: &str = "{series}-{year}-{seq:08}";

/// The seller as printed on every invoice. Fields in sorted order (canonical JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub name: String,
    /// The VAT identifier, without its country prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    pub id: String,
    pub seller: Seller,
    /// The allowed (category, rate) pairs with their default exemption reasons.
    pub tax_profile: Vec<TaxProfileEntry>,
    /// The numbering series, e.g. `SHOP`; the origin numbers each series without gaps.
    pub series: String,
    #[serde(default = "default_number_format")]
    pub number_format: String,
    /// Printed on the invoice when something is payable, e.g. "Net 30".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    /// Origins allowed to call `POST /v1/invoices?merchant=` from a browser (CORS).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Lower-case hex SHA-256 of each valid API key; two at once during a rotation.
    #[serde(default)]
    pub api_key_hashes: Vec<String>,
    /// Secrets that verify checkout tokens (HS256). The first one mints; during a rotation the
    /// old one stays until its `accept_until`.
    #[serde(default)]
    pub token_secrets: Vec<TokenSecret>,
    /// Whether the widget must ask buyers for their address.
    #[serde(default)]
    pub require_buyer_address: bool,
}

/// A checkout-token secret, with the time (Unix seconds) after which it is no longer accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSecret {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_until: Option<i64>,
}

fn default_number_format() -> String {
    DEFAULT_NUMBER_FORMAT.to_string()
}

impl MerchantConfig {
    /// Checks what `merchant create` and the edge's loader must never accept: an id or series
    /// that cannot key storage, a format without a sequence, or a profile that breaks the
    /// EN 16931 category rules. Returns every problem as text.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let token = |text: &str| {
            !text.is_empty()
                && text.len() <= 64
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !token(&self.id) {
            problems.push(format!("id {:?}: use 1-64 of A-Z a-z 0-9 - _", self.id));
        }
        if !token(&self.series) {
            problems.push(format!(
                "series {:?}: use 1-64 of A-Z a-z 0-9 - _",
                self.series
            ));
        }
        if !self.number_format.contains("{seq") {
            problems.push(format!(
                "number format {:?} has no {{seq}} or {{seq:0N}}",
                self.number_format
            ));
        }
        if !crate::country::is_assigned(&self.seller.country) {
            problems.push(format!(
                "country {:?} is not an ISO 3166-1 alpha-2 code",
                self.seller.country
            ));
        }
        if let Some(tax_id) = &self.seller.tax_id {
            match crate::tax_id::TaxId::parse(&self.seller.country, tax_id) {
                Ok(parsed) if parsed.value() != tax_id => problems.push(format!(
                    "tax id {tax_id:?}: store it normalized, as {:?}",
                    parsed.value()
                )),
                Ok(_) => {}
                Err(error) => problems.push(format!(
                    "tax id {tax_id:?}: {} ({})",
                    error.detail(),
                    error.code()
                )),
            }
        }
        if self.seller.name.trim().is_empty() {
            problems.push("the seller needs a name".into());
        }
        for entry in &self.tax_profile {
            let (category, rate) = (entry.category, entry.rate);
            let rate_ok = match category {
                TaxCategory::O => rate.is_none(),
                TaxCategory::S => rate.is_some_and(|r| !r.is_zero()),
                _ => rate.is_some_and(|r| r.is_zero()),
            };
            if !rate_ok {
                problems.push(format!(
                    "tax {}: S needs a rate above 0, O no rate, the others rate 0 (EN 16931)",
                    category.as_str()
                ));
            }
            if category == TaxCategory::O && self.seller.tax_id.is_some() {
                problems.push(
                    "tax O: a seller with a VAT identifier cannot use O (EN 16931 BR-O-02)".into(),
                );
            }
            if category != TaxCategory::O && self.seller.tax_id.is_none() {
                problems.push(format!(
                    "tax {}: needs the seller's VAT identifier (--tax-id)",
                    category.as_str()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The token secrets still accepted at `now_seconds`.
    pub fn live_token_secrets(&self, now_seconds: i64) -> Vec<&str> {
        self.token_secrets
            .iter()
            .filter(|s| s.accept_until.is_none_or(|until| now_seconds <= until))
            .map(|s| s.secret.as_str())
            .collect()
    }

    /// True when `api_key` hashes to one of the merchant's stored key hashes.
    pub fn accepts_api_key(&self, api_key: &str) -> bool {
        let hash = api_key_hash(api_key);
        // Comparing hashes of secrets, so timing reveals nothing about the key itself.
        self.api_key_hashes.contains(&hash)
    }

    /// The seller-side facts the tax rules check.
    pub fn seller_rules(&self) -> SellerRules<'_> {
        SellerRules {
            profile: &self.tax_profile,
            seller_has_vat_id: self.seller.tax_id.is_some(),
            seller_country: Some(&self.seller.country),
        }
    }
}

/// The hash under which an API key is stored (`apikey:{sha256}` in KV): lower-case hex SHA-256.
pub fn api_key_hash(api_key: &str) -> String {
    crate::keys::hex(&crate::keys::sha256(api_key.as_bytes()))
}
