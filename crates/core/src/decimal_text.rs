//! Decimal strings on the wire: `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$` (docs/ARCHITECTURE.md, "The invoice request").
//!
//! Money and quantities never pass through `f64`: a JSON number, an exponent, `NaN` or
//! `Infinity` is rejected before any arithmetic, and the text is parsed exactly.

use rust_decimal::Decimal;
use std::fmt;

/// Significant digits allowed in a quantity or price (docs/ARCHITECTURE.md, "Limits").
pub const MAX_SIGNIFICANT_DIGITS: usize = 18;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalTextError {
    /// Not of the form `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: exponents, `+`, spaces, `NaN`, `1.`.
    Pattern,
    /// More than [`MAX_SIGNIFICANT_DIGITS`] significant digits.
    TooManyDigits,
    /// Fits the pattern and the digit limit but not a 96-bit decimal (more than 28 decimals).
    Unrepresentable,
}

impl fmt::Display for DecimalTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecimalTextError::Pattern => {
                "must be a decimal string such as \"12.50\" (no exponent, sign '+', spaces or NaN)"
            }
            DecimalTextError::TooManyDigits => "has more than 18 significant digits",
            DecimalTextError::Unrepresentable => "cannot be represented exactly",
        })
    }
}

/// Checks the wire pattern without allocating.
pub fn matches_pattern(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    let (integer, fraction) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    let integer_ok = match integer {
        [] => false,
        [b'0'] => true,
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    let fraction_ok = fraction.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit));
    integer_ok && fraction_ok
}

/// Digits after the decimal point, as written ("2.50" has 2).
pub fn fraction_digits(text: &str) -> usize {
    text.split_once('.')
        .map_or(0, |(_, fraction)| fraction.len())
}

/// Significant digits: every digit after the leading zeros ("0.050" has 2, "100" has 3).
pub fn significant_digits(text: &str) -> usize {
    text.bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|&b| b == b'0')
        .count()
}

/// Parses a wire decimal exactly, enforcing the pattern and the significant-digit limit.
pub fn parse(text: &str) -> Result<Decimal, DecimalTextError> {
    if !matches_pattern(text) {
        return Err(DecimalTextError::Pattern);
    }
    if significant_digits(text) > MAX_SIGNIFICANT_DIGITS {
        return Err(DecimalTextError::TooManyDigits);
    }
    // The pattern holds and there are at most 18 digits after the leading zeros, trailing zeros
    // included: the digits fit an i64, so the value is built directly instead of through
    // rust_decimal's general parser (the same mantissa, scale and sign: tested against it).
    let negative = text.starts_with('-');
    let mut mantissa: i64 = 0;
    let mut scale: u32 = 0;
    let mut in_fraction = false;
    for byte in text.bytes() {
        match byte {
            b'.' => in_fraction = true,
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i64::from(byte - b'0');
                scale += u32::from(in_fraction);
            }
            _ => {}
        }
    }
    let mut value =
        Decimal::try_new(mantissa, scale).map_err(|_| DecimalTextError::Unrepresentable)?;
    value.set_sign_negative(negative && mantissa != 0);
    Ok(value)
}

/// Serde for a `Decimal` field as a wire decimal string (`#[serde(with = "decimal_text::as_string")]`).
pub mod as_string {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        // `Decimal`'s `Display` writes no sign for a negative zero.
        crate::stack_text::serialize_scaled(
            value.is_sign_negative() && !value.is_zero(),
            value.mantissa().unsigned_abs(),
            value.scale(),
            serializer,
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_the_design_pattern() {
        for ok in [
            "0", "-0", "7", "49.90", "-0.125", "100", "0.000001", "9.975",
        ] {
            assert!(matches_pattern(ok), "{ok}");
        }
        for bad in [
            "", "-", "+1", "01", "1.", ".5", "1e5", "1E5", "NaN", "Infinity", " 1", "1 ", "1,5",
            "0x10", "--1", "1.2.3", "١",
        ] {
            assert!(!matches_pattern(bad), "{bad:?}");
        }
    }

    #[test]
    fn counts_significant_and_fraction_digits() {
        assert_eq!(significant_digits("0.050"), 2);
        assert_eq!(significant_digits("-100"), 3);
        assert_eq!(significant_digits("0"), 0);
        assert_eq!(fraction_digits("2.50"), 2);
        assert_eq!(fraction_digits("2"), 0);
    }

    proptest::proptest! {
        #[test]
        fn parses_as_rust_decimal_does(integer in "0|[1-9][0-9]{0,12}", fraction in proptest::option::of("[0-9]{1,30}"), negative in proptest::bool::ANY) {
            let text = format!("{}{integer}{}", if negative { "-" } else { "" }, fraction.map(|f| format!(".{f}")).unwrap_or_default());
            let ours = parse(&text);
            if significant_digits(&text) > MAX_SIGNIFICANT_DIGITS {
                proptest::prop_assert_eq!(ours, Err(DecimalTextError::TooManyDigits));
            } else {
                match Decimal::from_str_exact(&text) {
                    Ok(expected) => {
                        let ours = ours.unwrap();
                        proptest::prop_assert_eq!(ours.mantissa(), expected.mantissa());
                        proptest::prop_assert_eq!(ours.scale(), expected.scale());
                        proptest::prop_assert_eq!(ours.is_sign_negative(), expected.is_sign_negative());
                        proptest::prop_assert_eq!(ours.to_string(), expected.to_string());
                    }
                    Err(_) => proptest::prop_assert_eq!(ours, Err(DecimalTextError::Unrepresentable)),
                }
            }
        }
    }

    #[test]
    fn parses_exactly_and_enforces_limits() {
        assert_eq!(parse("49.90").unwrap().to_string(), "49.90");
        assert_eq!(
            parse("123456789012345678"),
            Ok("123456789012345678".parse().unwrap())
        );
        assert_eq!(
            parse("1234567890123456789"),
            Err(DecimalTextError::TooManyDigits)
        );
        assert_eq!(parse("1e3"), Err(DecimalTextError::Pattern));
        assert_eq!(
            parse("0.00000000000000000000000000001"),
            Err(DecimalTextError::Unrepresentable)
        );
    }
}
