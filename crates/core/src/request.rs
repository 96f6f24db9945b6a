//! The invoice request (DESIGN.md, "The invoice request"), parsed from JSON with every problem
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

/// At most 1,000 lines (DESIGN.md, "Limits").
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
        crate::stack_text::serialize_display(self, serializer)
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

/// `order_id`: 1-128 characters of `[A-Za-z0-9._:-]` (DESIGN.md).
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

fn read_request(value: &Value, problems: &mut Problems) -> Option<InvoiceRequest> {
    let mut reader = ObjectReader::new(value, "", problems)?;

    let currency = reader.string("currency", true, problems).and_then(|code| {
        let found = Currency::from_code(code);
        if found.is_none() {
            problems.push(
                "/currency",
                Code::UnknownCurrency,
                format!("{code:?} is not an ISO 4217 currency code we can invoice in"),
            );
        }
        found
    });

    let order_id = reader
        .string("order_id", true, problems)
        .map(str::to_string)
        .filter(|id| {
            let ok = is_valid_order_id(id);
            if !ok {
                problems.push(
                    "/order_id",
                    Code::InvalidOrderId,
                    "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
                );
            }
            ok
        });

    let series = reader
        .string("series", false, problems)
        .map(str::to_string)
        .filter(|name| {
            let ok = crate::merchant::is_valid_series_name(name);
            if !ok {
                problems.push(
                    "/series",
                    Code::UnknownSeries,
                    "a series name is 1-32 characters of A-Z, a-z, 0-9, '_' or '-'",
                );
            }
            ok
        });

    let prices_include_tax = reader.bool("prices_include_tax", problems).unwrap_or(false);

    let supply_date = reader
        .string("supply_date", false, problems)
        .and_then(|text| {
            let date = Date::parse(text);
            if date.is_none() {
                problems.push(
                    "/supply_date",
                    Code::InvalidDate,
                    "must be a calendar date YYYY-MM-DD",
                );
            }
            date
        });

    let paid_amount = reader
        .decimal("paid_amount", false, problems)
        .map(|(value, text)| {
            check_money_field(value, text, "/paid_amount", currency, problems);
            value
        });
    let expected_total = reader
        .decimal("expected_total", false, problems)
        .map(|(value, text)| {
            check_money_field(value, text, "/expected_total", currency, problems);
            value
        });

    let buyer = reader
        .object("buyer", false, problems)
        .and_then(|buyer| read_buyer(buyer, problems));
    let delivery = reader
        .object("delivery", false, problems)
        .and_then(|delivery| read_delivery(delivery, problems));

    let lines = reader.array("lines", true, problems).map(|items| {
        if items.is_empty() {
            problems.push(
                "/lines",
                Code::NoLines,
                "an invoice needs at least one line",
            );
        }
        if items.len() > MAX_LINES {
            problems.push(
                "/lines",
                Code::TooManyLines,
                format!("at most {MAX_LINES} lines, got {}", items.len()),
            );
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

/// Amounts given in money (not prices) have at most the currency's minor digits and are not
/// negative: one cannot pay a tenth of a fen.
fn check_money_field(
    value: Decimal,
    text: &str,
    pointer: &str,
    currency: Option<Currency>,
    problems: &mut Problems,
) {
    if value.is_sign_negative() && !value.is_zero() {
        problems.push(pointer, Code::NegativeAmount, "must not be negative");
    }
    if let Some(currency) = currency {
        let digits = crate::decimal_text::fraction_digits(text);
        if digits > currency.minor_digits() as usize {
            problems.push(
                pointer,
                Code::TooManyDecimals,
                format!(
                    "{currency} amounts have at most {} decimal places",
                    currency.minor_digits()
                ),
            );
        }
    }
}

fn read_country(
    reader: &mut ObjectReader<'_>,
    required: bool,
    problems: &mut Problems,
) -> Option<String> {
    let pointer = reader.pointer_to("country");
    reader
        .string("country", required, problems)
        .and_then(|code| {
            if country::is_assigned(code) {
                Some(code.to_string())
            } else {
                problems.push(
                    pointer,
                    Code::InvalidCountry,
                    format!("{code:?} is not an ISO 3166-1 alpha-2 code (upper case, e.g. \"CN\")"),
                );
                None
            }
        })
}

fn read_buyer(mut reader: ObjectReader<'_>, problems: &mut Problems) -> Option<Buyer> {
    let kind_pointer = reader.pointer_to("kind");
    let kind = match reader.string("kind", false, problems) {
        None | Some("individual") => BuyerKind::Individual,
        Some("company") => BuyerKind::Company,
        Some(other) => {
            problems.push(
                kind_pointer,
                Code::InvalidEnumValue,
                format!("must be \"individual\" or \"company\", not {other:?}"),
            );
            BuyerKind::Individual
        }
    };
    let name = reader
        .string("name", kind == BuyerKind::Company, problems)
        .map(str::to_string);
    let tax_id = reader.string("tax_id", false, problems).map(str::to_string);
    let country = read_country(&mut reader, false, problems);
    let email_pointer = reader.pointer_to("email");
    let email = reader
        .string("email", false, problems)
        .map(str::to_string)
        .filter(|email| {
            let ok = is_plausible_email(email);
            if !ok {
                problems.push(
                    email_pointer.clone(),
                    Code::InvalidEmail,
                    "must be an email address such as name@example.com",
                );
            }
            ok
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
    let description = reader
        .string("description", true, problems)
        .map(str::to_string);

    let quantity = reader
        .decimal("quantity", true, problems)
        .map(|(value, text)| {
            if crate::decimal_text::fraction_digits(text) > MAX_QUANTITY_DECIMALS as usize {
                problems.push(
                    format!("{pointer}/quantity"),
                    Code::TooManyDecimals,
                    format!("quantities have at most {MAX_QUANTITY_DECIMALS} decimal places"),
                );
            }
            value
        });

    let unit_code = match reader.string("unit_code", false, problems) {
        None => Some("H87".to_string()),
        Some(code) if is_valid_unit_code(code) => Some(code.to_string()),
        Some(code) => {
            problems.push(
                format!("{pointer}/unit_code"),
                Code::InvalidUnitCode,
                format!(
                    "{code:?} is not a UN/ECE Recommendation 20 code such as \"H87\" or \"KGM\""
                ),
            );
            None
        }
    };

    let unit_price = reader.decimal("unit_price", true, problems).map(|(value, text)| {
        if value.is_sign_negative() && !value.is_zero() {
            problems.push(format!("{pointer}/unit_price"), Code::NegativePrice, "prices are not negative (EN 16931 BR-27); give a discount as a negative quantity");
        }
        if let Some(currency) = currency {
            let allowed = currency.minor_digits() + EXTRA_PRICE_DECIMALS;
            if crate::decimal_text::fraction_digits(text) > allowed as usize {
                problems.push(format!("{pointer}/unit_price"), Code::TooManyDecimals, format!("{currency} prices have at most {allowed} decimal places"));
            }
        }
        value
    });

    let tax_category = reader
        .string("tax_category", true, problems)
        .and_then(|code| {
            let category = TaxCategory::parse(code);
            if category.is_none() {
                problems.push(
                    format!("{pointer}/tax_category"),
                    Code::InvalidTaxCategory,
                    format!("{code:?} is not one of S, Z, E, AE, K, G, O"),
                );
            }
            category
        });

    let mut rate_ok = true;
    let tax_rate = reader.decimal("tax_rate", false, problems).and_then(|(value, text)| {
        let in_range = !value.is_sign_negative() && value <= Decimal::ONE_HUNDRED;
        let precise = crate::decimal_text::fraction_digits(text) <= MAX_RATE_DECIMALS as usize;
        if in_range && precise {
            Some(TaxRate::new(value))
        } else {
            rate_ok = false;
            problems.push(format!("{pointer}/tax_rate"), Code::TaxRateOutOfRange, format!("a rate is a percentage from 0 to 100 with at most {MAX_RATE_DECIMALS} decimals"));
            None
        }
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
