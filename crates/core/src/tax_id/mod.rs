//! Tax identifiers: normalization and the published check-digit rules, one file per scheme.
//!
//! `TaxId::parse("DE", "de 136-695-976")` gives `DE` + `136695976`, status `Checked`. An ID
//! is stored without its country prefix (docs/ARCHITECTURE.md, "The invoice request"), in upper case,
//! with spaces, dots and hyphens removed.
//!
//! A country without a scheme here is accepted as given, with status `Unchecked`: it is never
//! reported as valid, because nothing about it was verified. The same holds for the one
//! documented gap of a supported scheme (French VAT numbers with an alphabetic key, see
//! `fr.rs`).
//!
//! Everything here runs on the request path of a WebAssembly worker, where a panic resets
//! the isolate: the code uses no `unwrap`, no `expect` and no indexing that could panic.

mod be;
mod cn;
mod de;
mod es;
mod fr;
mod it;
mod nl;
mod pl;
mod pt;
mod sa;

use crate::problem::Code;
use std::fmt;

/// Whether an ID was verified against its country's published rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaxIdStatus {
    /// The country's published format and check-digit rule hold.
    Checked,
    /// Accepted as given: there is no rule to check it against. Never "valid".
    Unchecked,
}

impl TaxIdStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaxIdStatus::Checked => "checked",
            TaxIdStatus::Unchecked => "unchecked",
        }
    }
}

/// A normalized tax identifier: its country and its value without the country prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaxId {
    country: String,
    value: String,
    status: TaxIdStatus,
}

/// Why an input is not an acceptable tax identifier, with a human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaxIdError {
    /// Wrong length, characters or structure (`TAX_ID_FORMAT`).
    Format(String),
    /// Well-formed, but the check digit or check character is wrong (`TAX_ID_CHECKSUM`).
    Checksum(String),
    /// The input carries another country's prefix (`TAX_ID_COUNTRY_MISMATCH`).
    CountryMismatch(String),
}

impl TaxIdError {
    /// The stable catalogue code of this error.
    pub fn code(&self) -> Code {
        match self {
            TaxIdError::Format(_) => Code::TaxIdFormat,
            TaxIdError::Checksum(_) => Code::TaxIdChecksum,
            TaxIdError::CountryMismatch(_) => Code::TaxIdCountryMismatch,
        }
    }

    /// What exactly is wrong, for people.
    pub fn detail(&self) -> &str {
        match self {
            TaxIdError::Format(detail)
            | TaxIdError::Checksum(detail)
            | TaxIdError::CountryMismatch(detail) => detail,
        }
    }

    pub(crate) fn format(detail: impl Into<String>) -> Self {
        TaxIdError::Format(detail.into())
    }

    pub(crate) fn checksum(detail: impl Into<String>) -> Self {
        TaxIdError::Checksum(detail.into())
    }
}

impl fmt::Display for TaxIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

impl std::error::Error for TaxIdError {}

/// What a scheme's check returns: the normalized value (some schemes pad old short forms)
/// and whether it could be checked.
type Checked = Result<(String, TaxIdStatus), TaxIdError>;

/// One supported scheme.
struct Scheme {
    country: &'static str,
    /// False when every valid ID starts with a digit, so a leading letter pair that is
    /// another country's code is surely a wrong prefix, not part of the number.
    may_start_with_letters: bool,
    check: fn(&str) -> Checked,
}

const SCHEMES: &[Scheme] = &[
    Scheme {
        country: "BE",
        may_start_with_letters: false,
        check: be::check,
    },
    Scheme {
        country: "CN",
        may_start_with_letters: true,
        check: cn::check,
    },
    Scheme {
        country: "DE",
        may_start_with_letters: false,
        check: de::check,
    },
    Scheme {
        country: "ES",
        may_start_with_letters: true,
        check: es::check,
    },
    Scheme {
        country: "FR",
        may_start_with_letters: true,
        check: fr::check,
    },
    Scheme {
        country: "IT",
        may_start_with_letters: false,
        check: it::check,
    },
    Scheme {
        country: "NL",
        may_start_with_letters: false,
        check: nl::check,
    },
    Scheme {
        country: "PL",
        may_start_with_letters: false,
        check: pl::check,
    },
    Scheme {
        country: "PT",
        may_start_with_letters: false,
        check: pt::check,
    },
    Scheme {
        country: "SA",
        may_start_with_letters: false,
        check: sa::check,
    },
];

/// The countries whose IDs are checked, in alphabetical order.
pub const SUPPORTED_COUNTRIES: &[&str] =
    &["BE", "CN", "DE", "ES", "FR", "IT", "NL", "PL", "PT", "SA"];

/// Prefixes that clearly name a country: the EU VAT prefixes (Greece is "EL", Northern
/// Ireland "XI") and the other supported schemes.
const KNOWN_PREFIXES: &[&str] = &[
    "AT", "BE", "BG", "CN", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SA", "SE", "SI", "SK", "XI",
];

/// The longest value accepted for a country without a scheme; real TINs are far shorter.
const MAX_UNCHECKED_LEN: usize = 32;

/// True when `country` (upper case) has a check-digit scheme here.
pub fn is_supported(country: &str) -> bool {
    SUPPORTED_COUNTRIES.contains(&country)
}

impl TaxId {
    /// Normalizes and checks `input` as a tax identifier of `country` (ISO 3166-1 alpha-2,
    /// any case). The input may carry the country prefix.
    pub fn parse(country: &str, input: &str) -> Result<TaxId, TaxIdError> {
        let country = country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(TaxIdError::format(format!(
                "the country must be a two-letter ISO 3166-1 code, got \"{country}\""
            )));
        }
        let compact = compact(input);
        let scheme = SCHEMES.iter().find(|s| s.country == country);
        let body = strip_prefix(&country, &compact, scheme)?;
        if body.is_empty() {
            return Err(TaxIdError::format("the tax identifier is empty"));
        }
        let (value, status) = match scheme {
            Some(scheme) => (scheme.check)(body)?,
            None => (unchecked(&country, body)?, TaxIdStatus::Unchecked),
        };
        Ok(TaxId {
            country,
            value,
            status,
        })
    }

    /// The ISO 3166-1 alpha-2 country code, upper case.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The normalized ID without the country prefix, e.g. `136695976`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The normalized ID with the country prefix, e.g. `DE136695976`.
    pub fn with_prefix(&self) -> String {
        format!("{}{}", self.country, self.value)
    }

    pub fn status(&self) -> TaxIdStatus {
        self.status
    }

    /// True only when the ID was checked against a published rule and passed.
    pub fn is_checked(&self) -> bool {
        self.status == TaxIdStatus::Checked
    }
}

impl fmt::Display for TaxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.country, self.value)
    }
}

/// Upper case, without whitespace, dots and hyphens (the usual printed separators).
fn compact(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Removes the country's own prefix; rejects another country's prefix where that cannot be
/// part of the number.
fn strip_prefix<'a>(
    country: &str,
    compact: &'a str,
    scheme: Option<&Scheme>,
) -> Result<&'a str, TaxIdError> {
    if let Some(rest) = compact.strip_prefix(country) {
        // A French key may itself be two letters, "FR" included, so "FR" + 9 digits could be
        // a complete number or a prefixed one missing its key. It is read as a prefix, and a
        // French number must then have all its 13 characters; the rare key "FR" can still be
        // given with the prefix ("FRFR…").
        if country == "FR" && compact.len() != 13 {
            return Err(TaxIdError::format(format!(
                "with its FR prefix, a French VAT number has 13 characters, got \"{compact}\""
            )));
        }
        return Ok(rest);
    }
    if let (Some(scheme), Some(head)) = (scheme, compact.get(..2)) {
        if !scheme.may_start_with_letters && KNOWN_PREFIXES.contains(&head) {
            return Err(TaxIdError::CountryMismatch(format!(
                "the prefix {head} names another country than {country}"
            )));
        }
    }
    Ok(compact)
}

/// A country without a scheme: kept as given, if it is plausibly an identifier at all.
fn unchecked(country: &str, body: &str) -> Result<String, TaxIdError> {
    if body.len() > MAX_UNCHECKED_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TaxIdError::format(format!(
            "a tax identifier for {country} must be at most {MAX_UNCHECKED_LEN} letters and digits"
        )));
    }
    Ok(body.to_string())
}

/// The decimal digits of `text`, or `None` if any character is not an ASCII digit.
fn digits(text: &str) -> Option<Vec<u32>> {
    text.chars().map(|c| c.to_digit(10)).collect()
}

/// Checks that `text` is exactly `len` ASCII digits and returns them.
fn fixed_digits(text: &str, len: usize, what: &str) -> Result<Vec<u32>, TaxIdError> {
    match digits(text) {
        Some(d) if d.len() == len => Ok(d),
        _ => Err(TaxIdError::format(format!(
            "{what} has {len} digits, got \"{text}\""
        ))),
    }
}

/// The Luhn (ISO/IEC 7812-1 annex B) test over digits that end with their check digit:
/// from the right, every second digit is doubled and its digits summed; the total is a
/// multiple of 10.
fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 7064 MOD 97-10 over digits and letters (A = 10 … Z = 35): the remainder is 1 for a
/// valid string. `None` if a character is neither.
fn mod97_10(text: &str) -> Option<u32> {
    let mut remainder: u32 = 0;
    for c in text.chars() {
        let value = c.to_digit(36)?;
        remainder = if value > 9 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    Some(remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_the_supported_list_agree() {
        let countries: Vec<&str> = SCHEMES.iter().map(|s| s.country).collect();
        assert_eq!(countries, SUPPORTED_COUNTRIES);
        for country in SUPPORTED_COUNTRIES {
            assert!(KNOWN_PREFIXES.contains(country));
        }
    }

    #[test]
    fn luhn_and_mod97_follow_their_definitions() {
        assert!(luhn_valid(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
        assert!(!luhn_valid(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
        // The ISO 13616 example IBAN GB82 WEST 1234 5698 7654 32, rearranged.
        assert_eq!(mod97_10("WEST12345698765432GB82"), Some(1));
        assert_eq!(mod97_10("A*"), None);
    }

    #[test]
    fn normalizes_case_separators_and_prefix() {
        let id = TaxId::parse("de", " de 136.695-976 ").unwrap();
        assert_eq!(id.country(), "DE");
        assert_eq!(id.value(), "136695976");
        assert_eq!(id.with_prefix(), "DE136695976");
        assert_eq!(id.to_string(), "DE136695976");
        assert_eq!(id.status(), TaxIdStatus::Checked);
    }

    #[test]
    fn unknown_countries_are_never_checked() {
        let id = TaxId::parse("us", "12-3456789").unwrap();
        assert_eq!(id.status(), TaxIdStatus::Unchecked);
        assert!(!id.is_checked());
        assert_eq!(id.with_prefix(), "US123456789");
        assert_eq!(
            TaxId::parse("US", "").unwrap_err().code(),
            Code::TaxIdFormat
        );
        assert_eq!(
            TaxId::parse("US", "12/34").unwrap_err().code(),
            Code::TaxIdFormat
        );
    }

    #[test]
    fn a_bad_country_code_is_a_format_error() {
        for country in ["", "D", "DEU", "1E", "É"] {
            let error = TaxId::parse(country, "136695976").unwrap_err();
            assert_eq!(error.code(), Code::TaxIdFormat, "{country}");
        }
    }

    #[test]
    fn another_countrys_prefix_is_a_mismatch_only_where_it_is_unambiguous() {
        let error = TaxId::parse("DE", "FR136695976").unwrap_err();
        assert_eq!(error.code(), Code::TaxIdCountryMismatch);
        assert!(error.to_string().starts_with("TAX_ID_COUNTRY_MISMATCH: "));
        // A Spanish CIF may start with a letter, so "FR…" there is only a bad format.
        assert_eq!(
            TaxId::parse("ES", "FR1234567").unwrap_err().code(),
            Code::TaxIdFormat
        );
    }
}
