//! A merchant's configuration: who the seller is, which taxes it may charge, how its invoices
//! are numbered and paid, and how its clients authenticate. The edge keeps it in KV `MERCHANTS`;
//! `invoice-edge merchant create` makes it.

use serde::{Deserialize, Serialize};

use crate::request::Address;
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
    /// Whether the widget must ask buyers for their address.
    #[serde(default)]
    pub require_buyer_address: bool,
}

fn default_number_format() -> String {
    DEFAULT_NUMBER_FORMAT.to_string()
}

impl MerchantConfig {
    /// The seller-side facts the tax rules check.
    pub fn seller_rules(&self) -> SellerRules<'_> {
        SellerRules {
            profile: &self.tax_profile,
            seller_has_vat_id: self.seller.tax_id.is_some(),
        }
    }
}
