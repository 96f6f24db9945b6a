//! A merchant's configuration: who the seller is, which taxes it may charge, how its invoices
//! are numbered and paid, and how its clients authenticate. The edge keeps it in KV `MERCHANTS`;
//! `invoice-edge merchant create` makes it.

use serde::{Deserialize, Serialize};

pub use crate::numbering::DEFAULT_NUMBER_FORMAT;
use crate::numbering::{NumberFormat, UtcOffset};
use crate::offline::{Limits, LimitsConfig};
use crate::problem::{Code, FieldError};
use crate::request::{Address, TaxCategory};
use crate::rules::{SellerRules, TaxProfileEntry};
use crate::webhook::Webhook;

/// Cloudflare's Durable Object location hints (a series' `location_hint`).
pub const LOCATION_HINTS: &[&str] = &[
    "wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me",
];

/// Series per merchant at most: the admin routes (`/v1/admin/series`, `/v1/admin/sync`) call
/// every series' object in one request, so their work is bounded by this, well inside the
/// Workers limit of simultaneous subrequests per invocation.
pub const MAX_SERIES: usize = 32;

/// True for a series name: 1-32 of `[A-Za-z0-9_-]` (docs/ARCHITECTURE.md, "Series"). Names key the
/// series' Durable Object (`{merchant}/{series}`) and KV records, so no `/` or `:`.
pub fn is_valid_series_name(text: &str) -> bool {
    (1..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One numbering series of a merchant (docs/ARCHITECTURE.md, "Series").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesConfig {
    pub name: String,
    /// Pinned by the series' object at its first issuance: a change needs a new series.
    #[serde(default)]
    pub number_format: NumberFormat,
    /// Where the series' object is placed when first created (`weur`, `apac`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_hint: Option<String>,
    /// This series' own limits; what it leaves out comes from the merchant's.
    #[serde(default, skip_serializing_if = "LimitsConfig::is_empty")]
    pub limits: LimitsConfig,
    /// A retired series issues nothing new, but is still delivered and listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

impl SeriesConfig {
    pub fn new(name: impl Into<String>) -> SeriesConfig {
        SeriesConfig {
            name: name.into(),
            number_format: NumberFormat::default(),
            location_hint: None,
            limits: LimitsConfig::default(),
            retired: false,
        }
    }
}

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
    /// The numbering series, one or more; a merchant with several must name one in every
    /// request and token (docs/ARCHITECTURE.md, "Series").
    pub series: Vec<SeriesConfig>,
    /// The merchant's offset from UTC: the year in a number and the default supply date are
    /// local (default `+00:00`).
    #[serde(default)]
    pub utc_offset: UtcOffset,
    /// Merchant-wide offline limits, the defaults for each series (docs/ARCHITECTURE.md, "Offline limits").
    #[serde(default, skip_serializing_if = "LimitsConfig::is_empty")]
    pub limits: LimitsConfig,
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
    /// Endpoints that receive signed events (docs/ARCHITECTURE.md, "Webhooks"). Their secrets
    /// are in clear text (HMAC needs them) and never leave the edge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
}

/// A checkout-token secret, with the time (Unix seconds) after which it is no longer accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSecret {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_until: Option<i64>,
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
        if self.series.is_empty() {
            problems.push("a merchant needs at least one series".into());
        }
        if self.series.len() > MAX_SERIES {
            problems.push(format!(
                "{} series: a merchant has at most {MAX_SERIES}",
                self.series.len()
            ));
        }
        for (index, series) in self.series.iter().enumerate() {
            if !is_valid_series_name(&series.name) {
                problems.push(format!(
                    "series {:?}: use 1-32 of A-Z a-z 0-9 - _",
                    series.name
                ));
            }
            if self.series[..index].iter().any(|s| s.name == series.name) {
                problems.push(format!("series {:?} is listed twice", series.name));
            }
            if let Some(hint) = &series.location_hint {
                if !LOCATION_HINTS.contains(&hint.as_str()) {
                    problems.push(format!(
                        "series {:?}: location hint {hint:?} is not one of {}",
                        series.name,
                        LOCATION_HINTS.join(", ")
                    ));
                }
            }
            problems.extend(
                series
                    .limits
                    .problems(&format!("series {:?}: ", series.name)),
            );
        }
        problems.extend(self.limits.problems(""));
        problems.extend(crate::webhook::problems(&self.webhooks));
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

    /// The series a request or token names, or the merchant's only series when it names none.
    /// `Err` is `SERIES_REQUIRED`, `UNKNOWN_SERIES` or `SERIES_RETIRED` at `/series`.
    pub fn resolve_series(&self, requested: Option<&str>) -> Result<&SeriesConfig, FieldError> {
        let found = self.find_series(requested)?;
        if found.retired {
            return Err(retired(found));
        }
        Ok(found)
    }

    /// As [`MerchantConfig::resolve_series`], but a retired series is found too: the edge asks
    /// its object, which still answers a replay of an invoice issued before the series retired
    /// and refuses anything new with [`retired`].
    pub fn find_series(&self, requested: Option<&str>) -> Result<&SeriesConfig, FieldError> {
        let found = match (requested, self.series.as_slice()) {
            (Some(name), all) => all.iter().find(|s| s.name == name).ok_or_else(|| {
                FieldError::new(
                    "/series",
                    Code::UnknownSeries,
                    format!(
                        "merchant {} has no series {name:?}; its series are {}",
                        self.id,
                        self.series_names()
                    ),
                )
            })?,
            // Only a merchant with exactly one series may leave it out, so a retry can never
            // land in another series (docs/ARCHITECTURE.md, "The invoice request").
            (None, [only]) => only,
            (None, _) => {
                return Err(FieldError::new(
                    "/series",
                    Code::SeriesRequired,
                    format!(
                        "merchant {} has several series; name one of {}",
                        self.id,
                        self.series_names()
                    ),
                ))
            }
        };
        Ok(found)
    }

    fn series_names(&self) -> String {
        self.series
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first series: what tools use when none is named.
    pub fn default_series(&self) -> Option<&SeriesConfig> {
        self.series.first()
    }

    /// The limits in force for a series.
    pub fn limits_for(&self, series: &SeriesConfig) -> Limits {
        Limits::resolve(&series.limits, &self.limits)
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

/// `SERIES_RETIRED` for a series: it issues nothing new, but is still delivered and listed.
pub fn retired(series: &SeriesConfig) -> FieldError {
    FieldError::new(
        "/series",
        Code::SeriesRetired,
        format!("series {} is retired and issues nothing new", series.name),
    )
}

/// The hash under which an API key is stored (`apikey:{sha256}` in KV): lower-case hex SHA-256.
pub fn api_key_hash(api_key: &str) -> String {
    hex::encode(crate::keys::sha256(api_key.as_bytes()))
}
