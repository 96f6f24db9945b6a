//! `merchant create`: a merchant's configuration plus its first API key and token secret.

use clap::Subcommand;
use invoice_edge_core::keys::b64url;
use invoice_edge_core::merchant::{
    api_key_hash, MerchantConfig, Seller, TokenSecret, DEFAULT_NUMBER_FORMAT,
};
use invoice_edge_core::request::{TaxCategory, TaxRate};
use invoice_edge_core::rules::TaxProfileEntry;
use serde_json::json;

use crate::io;
use crate::Failure;

#[derive(Subcommand)]
pub enum MerchantCommand {
    /// Print {config, api_key, token_secret}: the file every `--merchant FILE` reads.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// ISO 3166-1 alpha-2 country of the seller.
        #[arg(long)]
        country: String,
        /// The seller's VAT identifier.
        #[arg(long)]
        tax_id: Option<String>,
        /// An allowed tax: CAT:RATE[:REASON], e.g. S:13 or E:0:Exempt (the reason may hold colons).
        #[arg(long = "tax")]
        taxes: Vec<String>,
        /// The numbering series; defaults to the id in upper case.
        #[arg(long)]
        series: Option<String>,
        #[arg(long, default_value = DEFAULT_NUMBER_FORMAT)]
        number_format: String,
        #[arg(long)]
        payment_terms: Option<String>,
        /// A browser origin allowed to issue with checkout tokens, e.g. https://shop.example.
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
    },
}

/// Splits CAT:RATE[:REASON] at its first two colons.
pub fn parse_tax(text: &str) -> Result<TaxProfileEntry, String> {
    let mut parts = text.splitn(3, ':');
    let category = parts.next().unwrap_or_default();
    let rate = parts.next().unwrap_or_default();
    let reason = parts.next().filter(|r| !r.is_empty()).map(str::to_string);
    let category = TaxCategory::parse(category).ok_or_else(|| {
        format!("--tax {text}: unknown category {category:?} (S, Z, E, AE, K, G, O)")
    })?;
    let rate = match rate {
        "" if category == TaxCategory::O => None,
        "" => {
            return Err(format!(
                "--tax {text}: category {} needs a rate",
                category.as_str()
            ))
        }
        rate => Some(TaxRate::new(
            invoice_edge_core::decimal_text::parse(rate)
                .map_err(|e| format!("--tax {text}: rate {e}"))?,
        )),
    };
    Ok(TaxProfileEntry {
        category,
        rate,
        exemption_reason: reason,
    })
}

pub fn run(command: MerchantCommand) -> Result<(), Failure> {
    let MerchantCommand::Create {
        id,
        name,
        country,
        tax_id,
        taxes,
        series,
        number_format,
        payment_terms,
        allowed_origins,
    } = command;
    let tax_profile = taxes
        .iter()
        .map(|t| parse_tax(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    let api_key = format!("iek_{}", b64url(&io::random_bytes::<32>()?));
    let token_secret = b64url(&io::random_bytes::<32>()?);
    let config = MerchantConfig {
        series: series.unwrap_or_else(|| id.to_uppercase()),
        id,
        seller: Seller {
            address: None,
            country,
            name,
            tax_id,
        },
        tax_profile,
        number_format,
        payment_terms,
        allowed_origins,
        api_key_hashes: vec![api_key_hash(&api_key)],
        token_secrets: vec![TokenSecret {
            secret: token_secret.clone(),
            accept_until: None,
        }],
        require_buyer_address: false,
    };
    if let Err(problems) = config.validate() {
        return Err(Failure::Usage(problems.join("; ")));
    }
    io::print_json(&json!({"config": config, "api_key": api_key, "token_secret": token_secret}))
}
