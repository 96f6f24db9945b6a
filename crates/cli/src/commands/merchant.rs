//! `merchant create`: a merchant's configuration plus its first API key and token secret.

use clap::Subcommand;
use invoice_edge_core::keys::b64url;
use invoice_edge_core::merchant::{
    api_key_hash, MerchantConfig, Seller, TokenSecret, DEFAULT_NUMBER_FORMAT,
};
use invoice_edge_core::request::{TaxCategory, TaxRate};
use invoice_edge_core::rules::TaxProfileEntry;
use serde_json::json;
use std::path::{Path, PathBuf};

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
    /// Add a new API key and print the updated merchant file (the new key in `api_key`); the
    /// old key stays valid until `--revoke-old`. Load the file with scripts/load-merchant.sh.
    RotateKey {
        /// The merchant file (`merchant create` output).
        #[arg(long)]
        merchant: PathBuf,
        /// Instead of adding a key: keep only the file's `api_key` and revoke every other one.
        #[arg(long)]
        revoke_old: bool,
    },
    /// Add a new checkout-token secret (it mints from now on) and keep accepting the old ones
    /// until `--old-until`; print the updated merchant file (the new secret in `token_secret`).
    RotateTokenSecret {
        #[arg(long)]
        merchant: PathBuf,
        /// When the old secrets stop verifying: a lifetime from now (`24h`, `90m`, `3600`),
        /// an absolute Unix time (`@1764100000`) or `now`.
        #[arg(long)]
        old_until: String,
    },
}

/// Reads `--old-until`: `now`, `@<unix seconds>` or a lifetime from now (`24h`, `15m`, `900`).
pub fn parse_until(text: &str, now_seconds: i64) -> Result<i64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now_seconds);
    }
    if let Some(absolute) = text.strip_prefix('@') {
        return absolute
            .parse::<i64>()
            .map_err(|_| format!("--old-until {text}: @ needs Unix seconds"));
    }
    invoice_edge_core::token::parse_ttl(text)
        .map(|ttl| now_seconds.saturating_add(ttl))
        .ok_or_else(|| {
            format!("--old-until {text}: use now, @UNIX_SECONDS or a lifetime such as 24h")
        })
}

fn read_merchant_file(path: &Path) -> Result<serde_json::Value, Failure> {
    let bytes = io::read_file(path)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::Io(format!("{} is not JSON: {e}", path.display())))?;
    if value.get("config").is_none() {
        return Err(Failure::Usage(format!(
            "{} is not a `merchant create` file {{config, api_key, token_secret}}",
            path.display()
        )));
    }
    Ok(value)
}

fn rotate_key(path: &Path, revoke_old: bool) -> Result<(), Failure> {
    let mut file = read_merchant_file(path)?;
    let mut config = io::read_merchant(path)?;
    if revoke_old {
        let current = file["api_key"]
            .as_str()
            .map(api_key_hash)
            .ok_or_else(|| Failure::Usage("the file holds no api_key to keep".into()))?;
        let revoked: Vec<String> = config
            .api_key_hashes
            .iter()
            .filter(|hash| **hash != current)
            .cloned()
            .collect();
        config.api_key_hashes = vec![current];
        for hash in &revoked {
            // Hashes only: never a key. The configuration's list decides, so the index entry
            // may stay; deleting it is tidiness.
            eprintln!("revoked API key {hash}; optional cleanup: npx wrangler kv key delete --binding MERCHANTS apikey:{hash}");
        }
    } else {
        if config.api_key_hashes.len() >= 2 {
            return Err(Failure::Usage(
                "two API keys are valid already; finish the last rotation with --revoke-old first"
                    .into(),
            ));
        }
        let api_key = format!("iek_{}", b64url(&io::random_bytes::<32>()?));
        config.api_key_hashes.push(api_key_hash(&api_key));
        file["api_key"] = json!(api_key);
    }
    file["config"] = serde_json::to_value(&config).map_err(|e| Failure::Io(e.to_string()))?;
    io::print_json(&file)
}

fn rotate_token_secret(path: &Path, old_until: &str) -> Result<(), Failure> {
    let mut file = read_merchant_file(path)?;
    let mut config = io::read_merchant(path)?;
    let now = io::now_millis() / 1000;
    let until = parse_until(old_until, now).map_err(Failure::Usage)?;
    // Secrets already past their time are dropped; the others stop at `until` at the latest.
    config
        .token_secrets
        .retain(|s| s.accept_until.is_none_or(|t| t >= now));
    for secret in &mut config.token_secrets {
        secret.accept_until = Some(secret.accept_until.map_or(until, |t| t.min(until)));
    }
    let token_secret = b64url(&io::random_bytes::<32>()?);
    // The first secret mints (`token` and merchant backends use `token_secret`).
    config.token_secrets.insert(
        0,
        TokenSecret {
            secret: token_secret.clone(),
            accept_until: None,
        },
    );
    file["token_secret"] = json!(token_secret);
    file["config"] = serde_json::to_value(&config).map_err(|e| Failure::Io(e.to_string()))?;
    io::print_json(&file)
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
    let (id, name, country, tax_id, taxes, series, number_format, payment_terms, allowed_origins) =
        match command {
            MerchantCommand::RotateKey {
                merchant,
                revoke_old,
            } => return rotate_key(&merchant, revoke_old),
            MerchantCommand::RotateTokenSecret {
                merchant,
                old_until,
            } => return rotate_token_secret(&merchant, &old_until),
            MerchantCommand::Create {
                id,
                name,
                country,
                tax_id,
                taxes,
                series,
                number_format,
                payment_terms,
                allowed_origins,
            } => (
                id,
                name,
                country,
                tax_id,
                taxes,
                series,
                number_format,
                payment_terms,
                allowed_origins,
            ),
        };
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

#[cfg(test)]
mod tests {
    use super::parse_until;

    #[test]
    fn old_until_takes_now_an_absolute_time_or_a_lifetime() {
        assert_eq!(parse_until("now", 1000), Ok(1000));
        assert_eq!(parse_until("@1764100000", 1000), Ok(1_764_100_000));
        assert_eq!(parse_until("24h", 1000), Ok(1000 + 86_400));
        assert_eq!(parse_until("90m", 0), Ok(5400));
        assert!(parse_until("@soon", 0).is_err());
        assert!(parse_until("yesterday", 0).is_err());
    }
}
