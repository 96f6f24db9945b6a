//! `merchant create`: a merchant's configuration plus its first API key and token secret; its
//! series (docs/ARCHITECTURE.md, "Series"), UTC offset and merchant-wide offline limits ("Offline limits").

use clap::{Args, Subcommand};
use invoice_edge_core::keys::b64url;
use invoice_edge_core::merchant::{
    api_key_hash, MerchantConfig, Seller, SeriesConfig, TokenSecret,
};
use invoice_edge_core::numbering::{NumberFormat, UtcOffset};
use invoice_edge_core::offline::{Amount, AmountByCurrency, LimitsConfig};
use invoice_edge_core::request::{TaxCategory, TaxRate};
use invoice_edge_core::rules::TaxProfileEntry;
use invoice_edge_core::webhook::{EventType, Webhook};
use serde_json::json;
use std::path::{Path, PathBuf};

use crate::io;
use crate::Failure;

#[derive(Subcommand)]
pub enum MerchantCommand {
    /// Print {config, api_key, token_secret}: the file every `--merchant FILE` reads.
    // Boxed: its many flags would make every variant as large (clippy::large_enum_variant).
    Create(Box<CreateArgs>),
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
    /// Change what a merchant changes (allowed origins, seller, taxes, payment terms, UTC
    /// offset, limits, series) and print the updated merchant file, keys and secrets unchanged;
    /// push it to the edge with scripts/load-merchant.sh. What a series pins at its first
    /// issuance (format, location hint) changes only with --not-issued.
    Update(Box<UpdateArgs>),
}

/// `merchant update FILE`: every flag is optional; what no flag names is kept as it is.
#[derive(Args)]
pub struct UpdateArgs {
    /// The merchant file (`merchant create` output).
    file: PathBuf,
    /// An origin to allow, exactly as a browser sends it: scheme://host[:port], e.g.
    /// https://shop.example; repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// A listed origin to remove; repeatable.
    #[arg(long = "remove-origin", value_name = "ORIGIN")]
    remove_origins: Vec<String>,
    /// The seller's name as printed on invoices.
    #[arg(long)]
    name: Option<String>,
    /// The seller's country (ISO 3166-1 alpha-2); its tax ID is checked again under it.
    #[arg(long)]
    country: Option<String>,
    /// The seller's VAT identifier (checked as by `merchant create`); `none` removes it.
    #[arg(long, value_name = "ID|none")]
    tax_id: Option<String>,
    /// The seller's street address line; an empty value removes it.
    #[arg(long, value_name = "TEXT")]
    address_line: Option<String>,
    /// The seller's city; an empty value removes it.
    #[arg(long, value_name = "TEXT")]
    city: Option<String>,
    /// The seller's postal code; an empty value removes it.
    #[arg(long, value_name = "TEXT")]
    postal_code: Option<String>,
    /// Printed on the invoice when something is payable; an empty value removes it.
    #[arg(long, value_name = "TEXT")]
    payment_terms: Option<String>,
    /// The merchant's offset from UTC, ±HH:MM (the year in new numbers, the supply date).
    #[arg(long, value_parser = parse_utc_offset)]
    utc_offset: Option<UtcOffset>,
    /// Whether the widget asks buyers for their address.
    #[arg(long, value_name = "true|false")]
    require_buyer_address: Option<bool>,
    /// A tax to allow, CAT:RATE[:REASON] (a listed one gets the new reason); repeatable.
    #[arg(long = "tax", value_name = "CAT:RATE[:REASON]")]
    taxes: Vec<String>,
    /// A tax to stop allowing, CAT:RATE (O: just O); repeatable.
    #[arg(long = "remove-tax", value_name = "CAT:RATE")]
    remove_taxes: Vec<String>,
    /// Merchant-wide offline limit, as for `merchant create`.
    #[arg(long, value_name = "HOURS|none")]
    max_offline_hours: Option<String>,
    /// Merchant-wide offline limit, as for `merchant create`.
    #[arg(long, value_name = "N|none")]
    max_offline_count: Option<String>,
    /// Per currency, as for `merchant create`; replaces the whole list.
    #[arg(long = "max-offline-amount", value_name = "CUR:AMOUNT")]
    max_offline_amount: Vec<String>,
    /// Per currency, as for `merchant create`; replaces the whole list.
    #[arg(long = "max-invoice-amount", value_name = "CUR:AMOUNT")]
    max_invoice_amount: Vec<String>,
    /// A new series NAME[:FORMAT] (default format: the merchant's default); repeatable.
    #[arg(long = "add-series", value_name = "NAME[:FORMAT]")]
    add_series: Vec<String>,
    /// Retire a series: it issues nothing new, but is still delivered and listed.
    #[arg(long = "retire-series", value_name = "NAME")]
    retire_series: Vec<String>,
    /// Pinned: change an existing series' number format (NAME:FORMAT). Needs --not-issued.
    #[arg(long = "series-format", value_name = "NAME:FORMAT")]
    series_formats: Vec<String>,
    /// Pinned: change an existing series' location hint (NAME:HINT or NAME:none). Needs
    /// --not-issued.
    #[arg(long = "location-hint", value_name = "NAME:HINT|none")]
    location_hints: Vec<String>,
    /// Asserts that the series whose pinned fields change have issued nothing yet (their
    /// `head_seq` is 0 in `GET /v1/admin/series`): a series pins its format, signature suite
    /// and location hint at its first issuance, so after it, open a new series instead.
    #[arg(long)]
    not_issued: bool,
}

impl UpdateArgs {
    fn changes_nothing(&self) -> bool {
        self.allow_origins.is_empty()
            && self.remove_origins.is_empty()
            && self.name.is_none()
            && self.country.is_none()
            && self.tax_id.is_none()
            && self.address_line.is_none()
            && self.city.is_none()
            && self.postal_code.is_none()
            && self.payment_terms.is_none()
            && self.utc_offset.is_none()
            && self.require_buyer_address.is_none()
            && self.taxes.is_empty()
            && self.remove_taxes.is_empty()
            && self.max_offline_hours.is_none()
            && self.max_offline_count.is_none()
            && self.max_offline_amount.is_empty()
            && self.max_invoice_amount.is_empty()
            && self.add_series.is_empty()
            && self.retire_series.is_empty()
            && self.series_formats.is_empty()
            && self.location_hints.is_empty()
    }
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    id: String,
    #[arg(long)]
    name: String,
    /// ISO 3166-1 alpha-2 country of the seller.
    #[arg(long)]
    country: String,
    /// The seller's VAT identifier, with or without its country prefix (stored without it).
    #[arg(long)]
    tax_id: Option<String>,
    /// An allowed tax: CAT:RATE[:REASON], e.g. S:13 or E:0:Exempt (the reason may hold colons).
    #[arg(long = "tax")]
    taxes: Vec<String>,
    /// A numbering series, NAME or NAME:FORMAT (e.g. WEB:{series}/{year}/{seq:06}); repeat for
    /// several. The first is the merchant's default series (the demo checkout's). Without any:
    /// one series named after the id in upper case.
    #[arg(long = "series", value_name = "NAME[:FORMAT]")]
    series: Vec<String>,
    /// The number format of every series given without its own FORMAT
    /// [default: {series}-{year}-{seq:08}].
    #[arg(long, value_name = "FORMAT")]
    number_format: Option<String>,
    /// The merchant's offset from UTC, ±HH:MM: the year in its numbers and the default supply
    /// date are local.
    #[arg(long, default_value = "+00:00", value_parser = parse_utc_offset)]
    utc_offset: UtcOffset,
    /// Offline limit: the age in hours of the oldest document not yet final, a decimal such as
    /// 72 or 0.5, or `none` [default when left out: 72].
    #[arg(long, value_name = "HOURS|none")]
    max_offline_hours: Option<String>,
    /// Offline limit: how many documents may be not yet final, or `none` [default when left
    /// out: 100000].
    #[arg(long, value_name = "N|none")]
    max_offline_count: Option<String>,
    /// Offline limit: per currency, the gross of the documents not yet final, e.g. CNY:100000;
    /// repeat for several currencies.
    #[arg(long = "max-offline-amount", value_name = "CUR:AMOUNT")]
    max_offline_amount: Vec<String>,
    /// Per currency, the most one invoice's gross may be, e.g. CNY:10000; repeatable.
    #[arg(long = "max-invoice-amount", value_name = "CUR:AMOUNT")]
    max_invoice_amount: Vec<String>,
    #[arg(long)]
    payment_terms: Option<String>,
    /// A browser origin allowed to issue with checkout tokens, e.g. https://shop.example.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// An endpoint for signed events (docs/ARCHITECTURE.md, "Webhooks"); repeatable. Each gets
    /// its own signing secret, printed once in `webhook_secrets`.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// The events every `--webhook` receives, comma-separated [default: all of them].
    #[arg(long, value_name = "EVENT,...", value_delimiter = ',', value_parser = parse_event)]
    events: Vec<EventType>,
}

fn parse_event(text: &str) -> Result<EventType, String> {
    EventType::parse(text.trim()).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        format!("unknown event {text:?}; events are {}", known.join(", "))
    })
}

fn parse_utc_offset(text: &str) -> Result<UtcOffset, String> {
    UtcOffset::parse(text).ok_or_else(|| "use ±HH:MM between -12:00 and +14:00, e.g. +08:00".into())
}

/// Reads `--series NAME[:FORMAT]`. A name holds no colon, so the format starts after the first.
fn parse_series(text: &str, default_format: &NumberFormat) -> Result<SeriesConfig, String> {
    let (name, format) = match text.split_once(':') {
        Some((name, format)) => (
            name,
            NumberFormat::parse(format).map_err(|e| format!("--series {text}: {e}"))?,
        ),
        None => (text, default_format.clone()),
    };
    let mut series = SeriesConfig::new(name);
    series.number_format = format;
    Ok(series)
}

/// The series of a merchant that names none: its id in upper case, made a valid series name.
fn default_series_name(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c.to_ascii_uppercase(),
            _ => '_',
        })
        .take(32)
        .collect()
}

/// A positive decimal string, as the configuration holds it (hours or an amount).
fn parse_amount(flag: &str, text: &str) -> Result<Amount, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| format!("--{flag} {text}: {e}"))
}

/// `--max-offline-hours` and `--max-offline-count`: a value, or `none` for no limit (`null`);
/// left out, the merchant inherits the default.
fn parse_limit<T>(
    text: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<Option<T>>, String> {
    match text {
        None => Ok(None),
        Some("none") => Ok(Some(None)),
        Some(text) => parse(text).map(|value| Some(Some(value))),
    }
}

/// Repeated `CUR:AMOUNT` flags as one per-currency limit; none given: inherit the default.
fn parse_amounts(
    flag: &str,
    entries: &[String],
) -> Result<Option<Option<AmountByCurrency>>, String> {
    if entries.is_empty() {
        return Ok(None);
    }
    let mut amounts = AmountByCurrency::new();
    for entry in entries {
        let (currency, amount) = entry
            .split_once(':')
            .ok_or_else(|| format!("--{flag} {entry}: give CURRENCY:AMOUNT, e.g. CNY:100000"))?;
        if amounts
            .insert(currency.to_string(), parse_amount(flag, amount)?)
            .is_some()
        {
            return Err(format!("--{flag}: {currency} is given twice"));
        }
    }
    Ok(Some(Some(amounts)))
}

/// The merchant-wide limits from the flags.
fn limits(args: &CreateArgs) -> Result<LimitsConfig, String> {
    Ok(LimitsConfig {
        max_offline_hours: parse_limit(args.max_offline_hours.as_deref(), |t| {
            parse_amount("max-offline-hours", t)
        })?,
        max_offline_count: parse_limit(args.max_offline_count.as_deref(), |t| {
            t.parse::<u64>()
                .map_err(|_| format!("--max-offline-count {t}: give a whole number or none"))
        })?,
        max_offline_amount: parse_amounts("max-offline-amount", &args.max_offline_amount)?,
        max_invoice_amount: parse_amounts("max-invoice-amount", &args.max_invoice_amount)?,
    })
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

/// Why `text` is not an origin as a browser serializes it in `Origin` (RFC 6454 section 6.1):
/// issuance compares origins exactly (docs/ARCHITECTURE.md, "CORS"), so a trailing slash, a
/// path, upper case or a default port would be listed and never match.
pub fn origin_problem(text: &str) -> Option<String> {
    let Some((scheme, authority)) = text.split_once("://") else {
        return Some("an origin starts with https:// or http://".into());
    };
    if scheme != "https" && scheme != "http" {
        return Some("an origin starts with https:// or http://".into());
    }
    if authority.is_empty() {
        return Some("an origin names a host".into());
    }
    if authority.contains(['/', '?', '#', '@']) || authority.contains(char::is_whitespace) {
        return Some(format!(
            "an origin is scheme://host[:port], with no path, query or user (try {scheme}://{})",
            authority.split(['/', '?', '#']).next().unwrap_or_default()
        ));
    }
    if authority.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(format!(
            "browsers send the host in lower case (try {scheme}://{})",
            authority.to_ascii_lowercase()
        ));
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if let Some(host) = authority.strip_suffix(default_port) {
        return Some(format!(
            "browsers leave out the default port (try {scheme}://{host})"
        ));
    }
    None
}

/// An empty flag value removes the field.
fn text_or_none(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.to_string())
}

/// Splits `NAME:VALUE` of the series flags; the series must exist.
fn series_flag<'a>(
    config: &MerchantConfig,
    flag: &str,
    text: &'a str,
) -> Result<(usize, &'a str), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("--{flag} {text}: give NAME:VALUE"))?;
    let index = config
        .series
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| format!("--{flag} {text}: the merchant has no series {name:?}"))?;
    Ok((index, value))
}

/// Applies every flag but the origins; `Err` is one line per problem, all invalid input (exit 1).
fn apply_update(args: &UpdateArgs, config: &mut MerchantConfig) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut note = |result: Result<(), String>| {
        if let Err(problem) = result {
            problems.push(problem);
        }
    };
    if let Some(name) = &args.name {
        config.seller.name = name.clone();
    }
    if let Some(country) = &args.country {
        config.seller.country = country.to_ascii_uppercase();
    }
    // The tax ID is normalized as `merchant create` does (a wrong check digit is invalid input);
    // a new country alone re-checks the stored one, in MerchantConfig::validate below.
    match args.tax_id.as_deref() {
        Some("none") => config.seller.tax_id = None,
        Some(raw) => note(
            invoice_edge_core::tax_id::TaxId::parse(&config.seller.country, raw)
                .map(|parsed| config.seller.tax_id = Some(parsed.value().to_string()))
                .map_err(|e| format!("--tax-id {raw:?}: {} ({})", e.detail(), e.code())),
        ),
        None => {}
    }
    if args.address_line.is_some() || args.city.is_some() || args.postal_code.is_some() {
        let mut address = config.seller.address.take().unwrap_or_default();
        if let Some(line) = &args.address_line {
            address.line = text_or_none(line);
        }
        if let Some(city) = &args.city {
            address.city = text_or_none(city);
        }
        if let Some(code) = &args.postal_code {
            address.postal_code = text_or_none(code);
        }
        let empty =
            address.line.is_none() && address.city.is_none() && address.postal_code.is_none();
        config.seller.address = (!empty).then_some(address);
    }
    if let Some(terms) = &args.payment_terms {
        config.payment_terms = text_or_none(terms);
    }
    if let Some(offset) = args.utc_offset {
        config.utc_offset = offset;
    }
    if let Some(require) = args.require_buyer_address {
        config.require_buyer_address = require;
    }
    for text in &args.remove_taxes {
        note(parse_tax(text).and_then(|gone| {
            let before = config.tax_profile.len();
            config
                .tax_profile
                .retain(|t| (t.category, t.rate) != (gone.category, gone.rate));
            if config.tax_profile.len() == before {
                Err(format!("--remove-tax {text}: not in the tax profile"))
            } else {
                Ok(())
            }
        }));
    }
    for text in &args.taxes {
        note(parse_tax(text).map(|entry| {
            match config
                .tax_profile
                .iter_mut()
                .find(|t| (t.category, t.rate) == (entry.category, entry.rate))
            {
                Some(listed) => listed.exemption_reason = entry.exemption_reason,
                None => config.tax_profile.push(entry),
            }
        }));
    }
    let hours = parse_limit(args.max_offline_hours.as_deref(), |t| {
        parse_amount("max-offline-hours", t)
    });
    note(hours.map(|h| {
        if h.is_some() {
            config.limits.max_offline_hours = h;
        }
    }));
    let count = parse_limit(args.max_offline_count.as_deref(), |t| {
        t.parse::<u64>()
            .map_err(|_| format!("--max-offline-count {t}: give a whole number or none"))
    });
    note(count.map(|c| {
        if c.is_some() {
            config.limits.max_offline_count = c;
        }
    }));
    note(
        parse_amounts("max-offline-amount", &args.max_offline_amount).map(|a| {
            if a.is_some() {
                config.limits.max_offline_amount = a;
            }
        }),
    );
    note(
        parse_amounts("max-invoice-amount", &args.max_invoice_amount).map(|a| {
            if a.is_some() {
                config.limits.max_invoice_amount = a;
            }
        }),
    );
    for text in &args.add_series {
        note(parse_series(text, &NumberFormat::default()).map(|s| config.series.push(s)));
    }
    for name in &args.retire_series {
        match config.series.iter_mut().find(|s| &s.name == name) {
            Some(series) => series.retired = true,
            None => note(Err(format!(
                "--retire-series {name}: the merchant has no such series"
            ))),
        }
    }
    // A series pins its number format, signature suite and location hint at its first
    // issuance (docs/ARCHITECTURE.md, "Series"): the CLI cannot see whether it has issued, so
    // changing a pinned field needs the operator's --not-issued, and otherwise is refused with
    // the way out (a new series). The suite is EdDSA for every series; no flag changes it.
    let pinned_change = !args.series_formats.is_empty() || !args.location_hints.is_empty();
    if pinned_change && !args.not_issued {
        note(Err(
            "--series-format and --location-hint change what a series pins at its first issuance; \
             if the series has issued (head_seq above 0 in GET /v1/admin/series), open a new one \
             (--add-series, then --retire-series the old one); if not, add --not-issued"
                .into(),
        ));
    } else {
        for text in &args.series_formats {
            let parsed = series_flag(config, "series-format", text).and_then(|(index, format)| {
                NumberFormat::parse(format)
                    .map(|f| (index, f))
                    .map_err(|e| format!("--series-format {text}: {e}"))
            });
            note(parsed.map(|(index, format)| config.series[index].number_format = format));
        }
        for text in &args.location_hints {
            note(
                series_flag(config, "location-hint", text).map(|(index, hint)| {
                    config.series[index].location_hint = (hint != "none").then(|| hint.to_string());
                }),
            );
        }
    }
    if problems.is_empty() {
        // The whole configuration as the edge's loader checks it: a tax profile that no longer
        // fits the seller, a bad hint, a series named twice.
        config.validate()
    } else {
        Err(problems)
    }
}

fn update(args: &UpdateArgs) -> Result<(), Failure> {
    if args.changes_nothing() {
        return Err(Failure::Usage(
            "nothing to change: give a flag (see merchant update --help)".into(),
        ));
    }
    let (path, allow, remove) = (&args.file, &args.allow_origins, &args.remove_origins);
    let mut file = read_merchant_file(path)?;
    let mut config = io::read_merchant(path)?;
    let mut invalid = false;
    if let Err(problems) = apply_update(args, &mut config) {
        for problem in problems {
            eprintln!("invoice-edge: {problem}");
        }
        invalid = true;
    }
    for origin in allow {
        if let Some(problem) = origin_problem(origin) {
            eprintln!("--allow-origin {origin}: {problem}");
            invalid = true;
        }
    }
    for origin in remove {
        if !config.allowed_origins.contains(origin) {
            eprintln!(
                "--remove-origin {origin}: not listed (listed: {})",
                config.allowed_origins.join(", ")
            );
            invalid = true;
        }
    }
    if invalid {
        return Err(Failure::Invalid);
    }
    config
        .allowed_origins
        .retain(|origin| !remove.contains(origin));
    for origin in allow {
        if !config.allowed_origins.contains(origin) {
            config.allowed_origins.push(origin.clone());
        }
    }
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
    match command {
        MerchantCommand::Create(args) => create(*args),
        MerchantCommand::RotateKey {
            merchant,
            revoke_old,
        } => rotate_key(&merchant, revoke_old),
        MerchantCommand::RotateTokenSecret {
            merchant,
            old_until,
        } => rotate_token_secret(&merchant, &old_until),
        MerchantCommand::Update(args) => update(&args),
    }
}

fn create(args: CreateArgs) -> Result<(), Failure> {
    let tax_profile = args
        .taxes
        .iter()
        .map(|t| parse_tax(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    let default_format = match &args.number_format {
        Some(text) => NumberFormat::parse(text)
            .map_err(|e| Failure::Usage(format!("--number-format: {e}")))?,
        None => NumberFormat::default(),
    };
    let mut series = args
        .series
        .iter()
        .map(|text| parse_series(text, &default_format))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    if series.is_empty() {
        let mut only = SeriesConfig::new(default_series_name(&args.id));
        only.number_format = default_format;
        series.push(only);
    }
    let limits = limits(&args).map_err(Failure::Usage)?;
    // Tax IDs are accepted with or without their country prefix, in any case and with the
    // usual separators, and stored normalized (docs/ARCHITECTURE.md, "The invoice request"). A wrong
    // check digit is invalid input (exit 1), not a usage error.
    let tax_id = match &args.tax_id {
        Some(raw) => match invoice_edge_core::tax_id::TaxId::parse(&args.country, raw) {
            Ok(parsed) => Some(parsed.value().to_string()),
            Err(error) => {
                eprintln!(
                    "invoice-edge: --tax-id {raw:?}: {} ({})",
                    error.detail(),
                    error.code()
                );
                return Err(Failure::Invalid);
            }
        },
        None => None,
    };
    let api_key = format!("iek_{}", b64url(&io::random_bytes::<32>()?));
    let token_secret = b64url(&io::random_bytes::<32>()?);
    let events: Vec<String> = if args.events.is_empty() {
        EventType::ALL.iter().map(|e| e.as_str().into()).collect()
    } else {
        args.events.iter().map(|e| e.as_str().into()).collect()
    };
    let webhooks = args
        .webhooks
        .iter()
        .map(|url| {
            Ok(Webhook {
                url: url.clone(),
                events: events.clone(),
                secret: format!("whsec_{}", b64url(&io::random_bytes::<32>()?)),
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let webhook_secrets: Vec<String> = webhooks.iter().map(|w| w.secret.clone()).collect();
    let config = MerchantConfig {
        id: args.id,
        seller: Seller {
            address: None,
            country: args.country,
            name: args.name,
            tax_id,
        },
        tax_profile,
        series,
        utc_offset: args.utc_offset,
        limits,
        payment_terms: args.payment_terms,
        allowed_origins: args.allowed_origins,
        api_key_hashes: vec![api_key_hash(&api_key)],
        token_secrets: vec![TokenSecret {
            secret: token_secret.clone(),
            accept_until: None,
        }],
        require_buyer_address: false,
        webhooks,
    };
    if let Err(problems) = config.validate() {
        return Err(Failure::Usage(problems.join("; ")));
    }
    let mut file = json!({"config": config, "api_key": api_key, "token_secret": token_secret});
    if !webhook_secrets.is_empty() {
        // The only time the secrets are shown apart from the file itself: the edge never
        // answers or logs them (docs/ARCHITECTURE.md, "Webhooks").
        file["webhook_secrets"] = json!(webhook_secrets);
    }
    io::print_json(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_until_takes_now_an_absolute_time_or_a_lifetime() {
        assert_eq!(parse_until("now", 1000), Ok(1000));
        assert_eq!(parse_until("@1764100000", 1000), Ok(1_764_100_000));
        assert_eq!(parse_until("24h", 1000), Ok(1000 + 86_400));
        assert_eq!(parse_until("90m", 0), Ok(5400));
        assert!(parse_until("@soon", 0).is_err());
        assert!(parse_until("yesterday", 0).is_err());
    }

    #[test]
    fn a_series_takes_its_own_format_or_the_default_one() {
        let default = NumberFormat::default();
        let plain = parse_series("SHOP", &default).unwrap();
        assert_eq!(
            (plain.name.as_str(), &plain.number_format),
            ("SHOP", &default)
        );
        // The format may hold colons of its own: only the first one splits.
        let custom = parse_series("WEB:{series}:{seq:05}", &default).unwrap();
        assert_eq!(custom.name, "WEB");
        assert_eq!(custom.number_format.as_str(), "{series}:{seq:05}");
        assert!(parse_series("WEB:{year}-{seq}", &default).is_err());
        assert!(parse_series("WEB:", &default).is_err());
    }

    #[test]
    fn the_default_series_is_the_id_upper_cased_and_made_a_series_name() {
        assert_eq!(default_series_name("demo-shop_1"), "DEMO-SHOP_1");
        assert_eq!(default_series_name(&"a".repeat(64)), "A".repeat(32));
        assert_eq!(default_series_name("a.b"), "A_B");
    }

    #[test]
    fn limits_take_decimals_none_and_per_currency_amounts() {
        assert_eq!(
            parse_limit(Some("0.01"), |t| parse_amount("h", t))
                .unwrap()
                .map(|h| serde_json::to_value(h).unwrap()),
            Some(json!("0.01"))
        );
        assert_eq!(
            parse_limit(Some("none"), |t| parse_amount("h", t)).unwrap(),
            Some(None)
        );
        assert_eq!(parse_limit(None, |t| parse_amount("h", t)).unwrap(), None);
        assert!(parse_limit(Some("0"), |t| parse_amount("h", t)).is_err());
        assert!(parse_limit(Some("1e3"), |t| parse_amount("h", t)).is_err());

        let amounts = parse_amounts(
            "max-offline-amount",
            &["CNY:100000".into(), "EUR:0.5".into()],
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(amounts).unwrap(),
            json!({"CNY": "100000", "EUR": "0.5"})
        );
        assert_eq!(parse_amounts("max-offline-amount", &[]).unwrap(), None);
        assert!(parse_amounts("max-offline-amount", &["CNY".into()]).is_err());
        assert!(parse_amounts("max-offline-amount", &["CNY:1".into(), "CNY:2".into()]).is_err());
        assert!(parse_amounts("max-offline-amount", &["CNY:-1".into()]).is_err());
    }
}
