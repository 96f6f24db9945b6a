//! The invoice request (docs/ARCHITECTURE.md, "The invoice request"), parsed from JSON with every problem
//! collected. Parsing checks shapes and single values; the EN 16931 category rules and the
//! merchant's tax profile are checked in `rules`, which needs the whole request.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::country;
use crate::currency::Currency;
use crate::date::Date;
use crate::json_reader::{ObjectReader, Problems};
use crate::problem::Code;

/// At most 1,000 lines (docs/ARCHITECTURE.md, "Limits").
pub const MAX_LINES: usize = 1000;
/// Quantities have at most 6 decimal places.
pub const MAX_QUANTITY_DECIMALS: u32 = 6;
/// Prices have at most the currency's minor digits plus 4 decimal places.
pub const EXTRA_PRICE_DECIMALS: u32 = 4;
/// Rates have at most 4 decimal places ("9.975" needs 3).
pub const MAX_RATE_DECIMALS: u32 = 4;

/// UNCL5305 tax category codes that EN 16931 uses and we support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaxCategory {
    /// Standard rate.
    S,
    /// Zero rated goods.
    Z,
    /// Exempt from tax.
    E,
    /// Reverse charge.
    AE,
    /// Intra-community supply (VAT exempt for EEA intra-community supply).
    K,
    /// Free export item, tax not charged.
    G,
    /// Services outside scope of tax.
    O,
}

impl TaxCategory {
    pub fn parse(code: &str) -> Option<TaxCategory> {
        Some(match code {
            "S" => TaxCategory::S,
            "Z" => TaxCategory::Z,
            "E" => TaxCategory::E,
            "AE" => TaxCategory::AE,
            "K" => TaxCategory::K,
            "G" => TaxCategory::G,
            "O" => TaxCategory::O,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaxCategory::S => "S",
            TaxCategory::Z => "Z",
            TaxCategory::E => "E",
            TaxCategory::AE => "AE",
            TaxCategory::K => "K",
            TaxCategory::G => "G",
            TaxCategory::O => "O",
        }
    }

    /// E, AE, K, G and O carry an exemption reason (EN 16931 BR-E-10, BR-AE-10, BR-IC-10,
    /// BR-G-10, BR-O-10); S and Z must not (BR-S-10, BR-Z-10).
    pub fn needs_exemption_reason(self) -> bool {
        !matches!(self, TaxCategory::S | TaxCategory::Z)
    }
}

/// A tax rate in percent, compared as a number and written without trailing zeros ("13", "9.975").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaxRate(Decimal);

impl TaxRate {
    pub fn new(percent: Decimal) -> TaxRate {
        TaxRate(percent.normalize())
    }

    pub fn percent(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl std::fmt::Display for TaxRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for TaxRate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::decimal_text::as_string::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for TaxRate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TaxRate, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::decimal_text::parse(&text)
            .map(TaxRate::new)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BuyerKind {
    #[default]
    Individual,
    Company,
}

/// Fields are declared in sorted order: the signed invoice is serialized straight into RFC 8785
/// canonical form (see `canonical`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub postal_code: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub address: Option<Address>,
    /// ISO 3166-1 alpha-2; when absent in a request, the seller's country applies.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    pub kind: BuyerKind,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Stored without its country prefix, next to `country`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tax_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub country: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRequest {
    pub description: String,
    pub quantity: Decimal,
    pub unit_code: String,
    pub unit_price: Decimal,
    pub tax_category: TaxCategory,
    pub tax_rate: Option<TaxRate>,
    pub exemption_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceRequest {
    pub currency: Currency,
    pub order_id: String,
    /// The numbering series; may be left out while the merchant has only one.
    pub series: Option<String>,
    pub prices_include_tax: bool,
    pub supply_date: Option<Date>,
    /// Defaults to 0 (and to the gross for a checkout-token issuance, set by the caller).
    pub paid_amount: Option<Decimal>,
    pub buyer: Option<Buyer>,
    pub delivery: Option<Delivery>,
    pub lines: Vec<LineRequest>,
    pub expected_total: Option<Decimal>,
}

/// What [`is_valid_order_id`] accepts, in words, for every problem that refuses an order id.
pub const ORDER_ID_RULE: &str = "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'";

/// `order_id`: 1-128 characters of `[A-Za-z0-9._:-]` (docs/ARCHITECTURE.md).
pub fn is_valid_order_id(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// UN/ECE Recommendation 20 (and 21) codes are 2-3 upper-case letters or digits ("H87", "KGM",
/// "C62", "XBX"). The full list has about 2,000 entries; we check the form, not membership.
pub fn is_valid_unit_code(text: &str) -> bool {
    (2..=3).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces,
/// at most 254 characters (RFC 5321 section 4.5.3.1.3).
pub fn is_plausible_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parses a request body. `Err` holds every problem found, with pointers.
pub fn parse_request_bytes(body: &[u8]) -> Result<InvoiceRequest, Vec<crate::problem::FieldError>> {
    if let Some(parsed) = parse_request_fast(body) {
        return Ok(parsed.request);
    }
    let value: Value = crate::json_reader::parse_json(body).map_err(|error| vec![error])?;
    parse_request(&value)
}

/// Reads a request from a parsed JSON value.
pub fn parse_request(value: &Value) -> Result<InvoiceRequest, Vec<crate::problem::FieldError>> {
    let mut problems = Problems::default();
    let request = read_request(value, &mut problems);
    match request {
        Some(request) if problems.is_empty() => Ok(request),
        _ => Err(problems.errors),
    }
}

/// Where a field check's problems go. The collecting reader records each at the field's
/// pointer; the serde fast path only notes that there was one, and gives way to the reader.
/// Both read a request through the same checks, so they cannot disagree on what is valid.
type Report<'r> = &'r mut dyn FnMut(Code, String);

fn check_currency(code: &str, report: Report<'_>) -> Option<Currency> {
    let found = Currency::from_code(code);
    if found.is_none() {
        report(
            Code::UnknownCurrency,
            format!("{code:?} is not an ISO 4217 currency code we can invoice in"),
        );
    }
    found
}

fn check_order_id(id: &str, report: Report<'_>) -> Option<String> {
    if !is_valid_order_id(id) {
        report(Code::InvalidOrderId, ORDER_ID_RULE.into());
        return None;
    }
    Some(id.to_string())
}

fn check_series(name: &str, report: Report<'_>) -> Option<String> {
    if !crate::merchant::is_valid_series_name(name) {
        report(
            Code::UnknownSeries,
            "a series name is 1-32 characters of A-Z, a-z, 0-9, '_' or '-'".into(),
        );
        return None;
    }
    Some(name.to_string())
}

fn check_supply_date(text: &str, report: Report<'_>) -> Option<Date> {
    let date = Date::parse(text);
    if date.is_none() {
        report(
            Code::InvalidDate,
            "must be a calendar date YYYY-MM-DD".into(),
        );
    }
    date
}

/// Amounts given in money (not prices) have at most the currency's minor digits and are not
/// negative: one cannot pay a tenth of a fen.
fn check_money(value: Decimal, text: &str, currency: Option<Currency>, report: Report<'_>) {
    if value.is_sign_negative() && !value.is_zero() {
        report(Code::NegativeAmount, "must not be negative".into());
    }
    if let Some(currency) = currency {
        let digits = crate::decimal_text::fraction_digits(text);
        if digits > currency.minor_digits() as usize {
            report(
                Code::TooManyDecimals,
                format!(
                    "{currency} amounts have at most {} decimal places",
                    currency.minor_digits()
                ),
            );
        }
    }
}

fn check_country(code: &str, report: Report<'_>) -> Option<String> {
    if country::is_assigned(code) {
        Some(code.to_string())
    } else {
        report(
            Code::InvalidCountry,
            format!("{code:?} is not an ISO 3166-1 alpha-2 code (upper case, e.g. \"CN\")"),
        );
        None
    }
}

fn check_buyer_kind(kind: Option<&str>, report: Report<'_>) -> BuyerKind {
    match kind {
        None | Some("individual") => BuyerKind::Individual,
        Some("company") => BuyerKind::Company,
        Some(other) => {
            report(
                Code::InvalidEnumValue,
                format!("must be \"individual\" or \"company\", not {other:?}"),
            );
            BuyerKind::Individual
        }
    }
}

fn check_email(email: &str, report: Report<'_>) -> Option<String> {
    if !is_plausible_email(email) {
        report(
            Code::InvalidEmail,
            "must be an email address such as name@example.com".into(),
        );
        return None;
    }
    Some(email.to_string())
}

/// False when there are too many lines to read at all.
fn check_line_count(count: usize, report: Report<'_>) -> bool {
    if count == 0 {
        report(Code::NoLines, "an invoice needs at least one line".into());
    }
    if count > MAX_LINES {
        report(
            Code::TooManyLines,
            format!("at most {MAX_LINES} lines, got {count}"),
        );
        return false;
    }
    true
}

fn check_quantity(text: &str, report: Report<'_>) {
    if crate::decimal_text::fraction_digits(text) > MAX_QUANTITY_DECIMALS as usize {
        report(
            Code::TooManyDecimals,
            format!("quantities have at most {MAX_QUANTITY_DECIMALS} decimal places"),
        );
    }
}

/// A line's unit: UN/ECE Rec. 20 "H87" (piece) when none is given.
fn check_unit_code(code: Option<&str>, report: Report<'_>) -> Option<String> {
    match code {
        None => Some("H87".to_string()),
        Some(code) if is_valid_unit_code(code) => Some(code.to_string()),
        Some(code) => {
            report(
                Code::InvalidUnitCode,
                format!(
                    "{code:?} is not a UN/ECE Recommendation 20 code such as \"H87\" or \"KGM\""
                ),
            );
            None
        }
    }
}

fn check_unit_price(value: Decimal, text: &str, currency: Option<Currency>, report: Report<'_>) {
    if value.is_sign_negative() && !value.is_zero() {
        report(
            Code::NegativePrice,
            "prices are not negative (EN 16931 BR-27); give a discount as a negative quantity"
                .into(),
        );
    }
    if let Some(currency) = currency {
        let allowed = currency.minor_digits() + EXTRA_PRICE_DECIMALS;
        if crate::decimal_text::fraction_digits(text) > allowed as usize {
            report(
                Code::TooManyDecimals,
                format!("{currency} prices have at most {allowed} decimal places"),
            );
        }
    }
}

fn check_tax_category(code: &str, report: Report<'_>) -> Option<TaxCategory> {
    let category = TaxCategory::parse(code);
    if category.is_none() {
        report(
            Code::InvalidTaxCategory,
            format!("{code:?} is not one of S, Z, E, AE, K, G, O"),
        );
    }
    category
}

fn check_tax_rate(value: Decimal, text: &str, report: Report<'_>) -> Option<TaxRate> {
    let in_range = !value.is_sign_negative() && value <= Decimal::ONE_HUNDRED;
    let precise = crate::decimal_text::fraction_digits(text) <= MAX_RATE_DECIMALS as usize;
    if in_range && precise {
        Some(TaxRate::new(value))
    } else {
        report(
            Code::TaxRateOutOfRange,
            format!(
                "a rate is a percentage from 0 to 100 with at most {MAX_RATE_DECIMALS} decimals"
            ),
        );
        None
    }
}

fn read_request(value: &Value, problems: &mut Problems) -> Option<InvoiceRequest> {
    let mut reader = ObjectReader::new(value, "", problems)?;

    let currency = reader
        .string("currency", true, problems)
        .and_then(|code| check_currency(code, &mut |c, d| problems.push("/currency", c, d)));
    let order_id = reader
        .string("order_id", true, problems)
        .and_then(|id| check_order_id(id, &mut |c, d| problems.push("/order_id", c, d)));
    let series = reader
        .string("series", false, problems)
        .and_then(|name| check_series(name, &mut |c, d| problems.push("/series", c, d)));
    let prices_include_tax = reader.bool("prices_include_tax", problems).unwrap_or(false);
    let supply_date = reader
        .string("supply_date", false, problems)
        .and_then(|text| check_supply_date(text, &mut |c, d| problems.push("/supply_date", c, d)));
    let paid_amount = reader
        .decimal("paid_amount", false, problems)
        .map(|(value, text)| {
            check_money(value, text, currency, &mut |c, d| {
                problems.push("/paid_amount", c, d)
            });
            value
        });
    let expected_total = reader
        .decimal("expected_total", false, problems)
        .map(|(value, text)| {
            check_money(value, text, currency, &mut |c, d| {
                problems.push("/expected_total", c, d)
            });
            value
        });

    let buyer = reader
        .object("buyer", false, problems)
        .and_then(|buyer| read_buyer(buyer, problems));
    let delivery = reader
        .object("delivery", false, problems)
        .and_then(|delivery| read_delivery(delivery, problems));

    let lines = reader.array("lines", true, problems).map(|items| {
        if !check_line_count(items.len(), &mut |c, d| problems.push("/lines", c, d)) {
            return Vec::new();
        }
        items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                read_line(item, &format!("/lines/{index}"), currency, problems)
            })
            .collect::<Vec<_>>()
    });

    reader.finish(problems);

    Some(InvoiceRequest {
        currency: currency?,
        order_id: order_id?,
        series,
        prices_include_tax,
        supply_date,
        paid_amount,
        buyer,
        delivery,
        lines: lines?,
        expected_total,
    })
}

fn read_country(
    reader: &mut ObjectReader<'_>,
    required: bool,
    problems: &mut Problems,
) -> Option<String> {
    let pointer = reader.pointer_to("country");
    reader
        .string("country", required, problems)
        .and_then(|code| check_country(code, &mut |c, d| problems.push(pointer.clone(), c, d)))
}

fn read_buyer(mut reader: ObjectReader<'_>, problems: &mut Problems) -> Option<Buyer> {
    let kind_pointer = reader.pointer_to("kind");
    let kind_text = reader.string("kind", false, problems);
    let kind = check_buyer_kind(kind_text, &mut |c, d| {
        problems.push(kind_pointer.clone(), c, d)
    });
    let name = reader
        .string("name", kind == BuyerKind::Company, problems)
        .map(str::to_string);
    let tax_id = reader.string("tax_id", false, problems).map(str::to_string);
    let country = read_country(&mut reader, false, problems);
    let email_pointer = reader.pointer_to("email");
    let email = reader.string("email", false, problems).and_then(|email| {
        check_email(email, &mut |c, d| {
            problems.push(email_pointer.clone(), c, d)
        })
    });
    let address = reader
        .object("address", false, problems)
        .map(|mut address| {
            let read = Address {
                line: address.string("line", false, problems).map(str::to_string),
                city: address.string("city", false, problems).map(str::to_string),
                postal_code: address
                    .string("postal_code", false, problems)
                    .map(str::to_string),
            };
            address.finish(problems);
            read
        });
    reader.finish(problems);
    Some(Buyer {
        address,
        country,
        email,
        kind,
        name,
        tax_id,
    })
}

fn read_delivery(mut reader: ObjectReader<'_>, problems: &mut Problems) -> Option<Delivery> {
    let country = read_country(&mut reader, true, problems);
    reader.finish(problems);
    country.map(|country| Delivery { country })
}

fn read_line(
    value: &Value,
    pointer: &str,
    currency: Option<Currency>,
    problems: &mut Problems,
) -> Option<LineRequest> {
    let mut reader = ObjectReader::new(value, pointer, problems)?;
    let at = |field: &str| format!("{pointer}/{field}");
    let description = reader
        .string("description", true, problems)
        .map(str::to_string);
    let quantity = reader
        .decimal("quantity", true, problems)
        .map(|(value, text)| {
            check_quantity(text, &mut |c, d| problems.push(at("quantity"), c, d));
            value
        });
    let unit_text = reader.string("unit_code", false, problems);
    let unit_code = check_unit_code(unit_text, &mut |c, d| problems.push(at("unit_code"), c, d));
    let unit_price = reader
        .decimal("unit_price", true, problems)
        .map(|(value, text)| {
            check_unit_price(value, text, currency, &mut |c, d| {
                problems.push(at("unit_price"), c, d)
            });
            value
        });
    let tax_category = reader
        .string("tax_category", true, problems)
        .and_then(|code| {
            check_tax_category(code, &mut |c, d| problems.push(at("tax_category"), c, d))
        });
    let mut rate_ok = true;
    let tax_rate = reader
        .decimal("tax_rate", false, problems)
        .and_then(|(value, text)| {
            let rate = check_tax_rate(value, text, &mut |c, d| problems.push(at("tax_rate"), c, d));
            rate_ok = rate.is_some();
            rate
        });
    let exemption_reason = reader
        .string("exemption_reason", false, problems)
        .map(str::to_string);
    reader.finish(problems);

    rate_ok.then_some(())?;
    Some(LineRequest {
        description: description?,
        quantity: quantity?,
        unit_code: unit_code?,
        unit_price: unit_price?,
        tax_category: tax_category?,
        tax_rate,
        exemption_reason,
    })
}

/// A request read by the serde fast path, with its RFC 8785 canonical text (for the
/// idempotency fingerprint, without building a `Value`).
pub struct FastRequest {
    pub request: InvoiceRequest,
    /// UTF-8, kept as bytes: only hashed, so not validated again.
    pub canonical: Vec<u8>,
}

/// The request body read straight into the typed request with serde (issue 20, CPU), when it is
/// a plain valid request: every field known, of its type, once, with no `null`, and every
/// value passing the same checks as the collecting reader. `None` for anything else, and then
/// the caller runs the collecting reader, which lists every problem. The canonical text is
/// the wire structs serialized in their sorted field order (see `canonical`), which equals
/// the general JCS of the body (tested against it).
pub fn parse_request_fast(body: &[u8]) -> Option<FastRequest> {
    // The reader counts `null` as absent, and the wire structs would leave it out of the
    // canonical text, which must keep it: a body with a `null` anywhere (even inside a string,
    // which only costs the slow path) is left to the reader.
    if contains_null(body) {
        return None;
    }
    // Through `&str`, as every other reader of JSON in the worker: `from_slice` would compile a
    // second copy of serde_json's whole parser (docs/PERFORMANCE.md, "Size").
    let text = std::str::from_utf8(body).ok()?;
    let wire: wire::Request<'_> = serde_json::from_str(text).ok()?;
    let canonical = crate::canonical::to_jcs_bytes(&wire).ok()?;
    let request = wire.into_request()?;
    Some(FastRequest { request, canonical })
}

/// Whether `null` occurs anywhere in the body: a scan for its first byte, where `windows(4)`
/// compared a 4-byte slice at each of the body's positions.
fn contains_null(body: &[u8]) -> bool {
    let mut rest = body;
    while let Some(at) = rest.iter().position(|&byte| byte == b'n') {
        if rest[at..].starts_with(b"null") {
            return true;
        }
        rest = &rest[at + 1..];
    }
    false
}

/// The request as it travels, for the fast path: fields in sorted order (RFC 8785), strings
/// borrowed from the body where they hold no escapes.
mod wire {
    use std::borrow::Cow;
    use std::cell::Cell;

    use serde::{Deserialize, Serialize};

    use super::*;

    /// A string of the body, borrowed unless it holds escapes. A plain `Cow<str>` borrows only
    /// as a struct's direct field: serde's derive special-cases that type, and inside an
    /// `Option` falls back to `Cow`'s own impl, which always copies. With this type the fast path
    /// makes 31 allocations for the benchmark's 10-line body instead of 101.
    #[derive(Serialize)]
    #[serde(transparent)]
    pub(super) struct Text<'a>(Cow<'a, str>);

    impl std::ops::Deref for Text<'_> {
        type Target = str;

        fn deref(&self) -> &str {
            &self.0
        }
    }

    impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Text<'de>;

                fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                    formatter.write_str("a string")
                }

                fn visit_borrowed_str<E: serde::de::Error>(
                    self,
                    text: &'de str,
                ) -> Result<Self::Value, E> {
                    Ok(Text(Cow::Borrowed(text)))
                }

                fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                    Ok(Text(Cow::Owned(text.to_owned())))
                }

                fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
                    Ok(Text(Cow::Owned(text)))
                }
            }
            deserializer.deserialize_str(Visitor)
        }
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Request<'a> {
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        buyer: Option<Buyer<'a>>,
        #[serde(borrow)]
        currency: Text<'a>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        delivery: Option<Delivery<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        expected_total: Option<Text<'a>>,
        #[serde(borrow)]
        lines: Vec<Line<'a>>,
        #[serde(borrow)]
        order_id: Text<'a>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        paid_amount: Option<Text<'a>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prices_include_tax: Option<bool>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        series: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        supply_date: Option<Text<'a>>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Buyer<'a> {
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        address: Option<Address<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        country: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        email: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        kind: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        name: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        tax_id: Option<Text<'a>>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Address<'a> {
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        city: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        line: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        postal_code: Option<Text<'a>>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Delivery<'a> {
        #[serde(borrow)]
        country: Text<'a>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Line<'a> {
        #[serde(borrow)]
        description: Text<'a>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        exemption_reason: Option<Text<'a>>,
        #[serde(borrow)]
        quantity: Text<'a>,
        #[serde(borrow)]
        tax_category: Text<'a>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        tax_rate: Option<Text<'a>>,
        #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
        unit_code: Option<Text<'a>>,
        #[serde(borrow)]
        unit_price: Text<'a>,
    }

    /// Any problem at all: the fast path gives way.
    struct Checks(Cell<bool>);

    impl Checks {
        fn failed(&self) -> bool {
            self.0.get()
        }

        fn fail(&self) {
            self.0.set(true);
        }

        /// A string field's text rules (`json_reader::check_field_text`).
        fn text<'t>(&self, key: &str, text: &'t str) -> &'t str {
            if crate::json_reader::check_field_text(key, text).is_err() {
                self.fail();
            }
            text
        }

        fn decimal(&self, text: &str) -> Decimal {
            crate::json_reader::decimal_value(text).unwrap_or_else(|_| {
                self.fail();
                Decimal::ZERO
            })
        }
    }

    impl Request<'_> {
        pub fn into_request(self) -> Option<InvoiceRequest> {
            let checks = Checks(Cell::new(false));
            let mut report = |_: Code, _: String| checks.fail();
            let currency = check_currency(checks.text("currency", &self.currency), &mut report);
            let order_id = check_order_id(checks.text("order_id", &self.order_id), &mut report);
            let series = self
                .series
                .as_deref()
                .and_then(|name| check_series(checks.text("series", name), &mut report));
            let supply_date = self
                .supply_date
                .as_deref()
                .and_then(|text| check_supply_date(checks.text("supply_date", text), &mut report));
            let mut money = |text: &str| {
                let value = checks.decimal(text);
                check_money(value, text, currency, &mut report);
                value
            };
            let paid_amount = self.paid_amount.as_deref().map(&mut money);
            let expected_total = self.expected_total.as_deref().map(&mut money);
            let buyer = self.buyer.map(|buyer| buyer.into_buyer(&checks));
            let delivery = self.delivery.and_then(|delivery| {
                check_country(checks.text("country", &delivery.country), &mut report)
                    .map(|country| super::Delivery { country })
            });
            if !check_line_count(self.lines.len(), &mut report) {
                return None;
            }
            let lines: Vec<LineRequest> = self
                .lines
                .iter()
                .filter_map(|line| line.to_line(currency, &checks))
                .collect();
            if checks.failed() || lines.len() != self.lines.len() {
                return None;
            }
            Some(InvoiceRequest {
                currency: currency?,
                order_id: order_id?,
                series,
                prices_include_tax: self.prices_include_tax.unwrap_or(false),
                supply_date,
                paid_amount,
                buyer,
                delivery,
                lines,
                expected_total,
            })
        }
    }

    impl Buyer<'_> {
        fn into_buyer(self, checks: &Checks) -> super::Buyer {
            let mut report = |_: Code, _: String| checks.fail();
            let kind_text = self.kind.as_deref().map(|kind| checks.text("kind", kind));
            let kind = check_buyer_kind(kind_text, &mut report);
            if kind == BuyerKind::Company && self.name.is_none() {
                checks.fail();
            }
            let text = |key: &str, value: Option<Text<'_>>| {
                value.map(|value| checks.text(key, &value).to_string())
            };
            let country = self
                .country
                .as_deref()
                .and_then(|code| check_country(checks.text("country", code), &mut report));
            let email = self
                .email
                .as_deref()
                .and_then(|email| check_email(checks.text("email", email), &mut report));
            let address = self.address.map(|address| super::Address {
                city: text("city", address.city),
                line: text("line", address.line),
                postal_code: text("postal_code", address.postal_code),
            });
            super::Buyer {
                address,
                country,
                email,
                kind,
                name: text("name", self.name),
                tax_id: text("tax_id", self.tax_id),
            }
        }
    }

    impl Line<'_> {
        fn to_line(&self, currency: Option<Currency>, checks: &Checks) -> Option<LineRequest> {
            let mut report = |_: Code, _: String| checks.fail();
            let description = checks.text("description", &self.description).to_string();
            let quantity_text = &self.quantity;
            let quantity = checks.decimal(quantity_text);
            check_quantity(quantity_text, &mut report);
            let unit_code = check_unit_code(
                self.unit_code
                    .as_deref()
                    .map(|code| checks.text("unit_code", code)),
                &mut report,
            );
            let unit_price = checks.decimal(&self.unit_price);
            check_unit_price(unit_price, &self.unit_price, currency, &mut report);
            let tax_category =
                check_tax_category(checks.text("tax_category", &self.tax_category), &mut report);
            let tax_rate = match self.tax_rate.as_deref() {
                None => None,
                Some(text) => Some(check_tax_rate(checks.decimal(text), text, &mut report)?),
            };
            let exemption_reason = self
                .exemption_reason
                .as_deref()
                .map(|reason| checks.text("exemption_reason", reason).to_string());
            Some(LineRequest {
                description,
                quantity,
                unit_code: unit_code?,
                unit_price,
                tax_category: tax_category?,
                tax_rate,
                exemption_reason,
            })
        }
    }
}
