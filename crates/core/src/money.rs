//! Money: exact amounts in a currency's minor units, rounded half away from zero.
//!
//! Amounts are held as an integer count of minor units (fen, cents, fils), so sums and
//! allocations are exact integer arithmetic. Every amount is bounded to 18 digits of minor
//! units, which keeps the product of two amounts inside `i128` and every figure we publish
//! inside an `i64` (and exact in any JSON client that reads it as a string).

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use crate::currency::Currency;

/// The largest magnitude of any amount, in minor units: 18 digits (docs/ARCHITECTURE.md, "Limits").
pub const MAX_UNITS: i128 = 999_999_999_999_999_999;

/// An amount could not be represented within [`MAX_UNITS`] or exactly in a decimal:
/// reported as `AMOUNT_OVERFLOW`, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmountOverflow;

impl fmt::Display for AmountOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the amount is too large to compute exactly")
    }
}

/// Rounds to `decimal_places`, half away from zero: 0.125 → 0.13 and −0.125 → −0.13.
///
/// `rust_decimal`'s plain `round_dp` rounds half to even (0.125 → 0.12), which is wrong for
/// invoices (docs/ARCHITECTURE.md, "Money rules"), so the strategy is always named.
pub fn round_half_away_from_zero(value: Decimal, decimal_places: u32) -> Decimal {
    value.round_dp_with_strategy(decimal_places, RoundingStrategy::MidpointAwayFromZero)
}

/// `numerator / denominator` as an integer, rounded half away from zero. `denominator > 0`.
pub fn div_round_half_away_from_zero(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    // |remainder| >= denominator / 2, compared without dividing: 2|r| >= d.
    if remainder.unsigned_abs() * 2 >= denominator.unsigned_abs() {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

/// An exact amount of money with the currency's number of minor digits.
///
/// It serializes as a decimal string with exactly those digits ("5.00", never "5"), because
/// the signed bytes of an invoice depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money {
    units: i64,
    minor_digits: u32,
}

impl Money {
    /// `units` minor units (e.g. fen for CNY); fails beyond [`MAX_UNITS`].
    pub fn from_units(units: i128, minor_digits: u32) -> Result<Money, AmountOverflow> {
        if units.abs() > MAX_UNITS {
            return Err(AmountOverflow);
        }
        let units = i64::try_from(units).map_err(|_| AmountOverflow)?;
        Ok(Money {
            units,
            minor_digits,
        })
    }

    pub fn zero(currency: Currency) -> Money {
        Money {
            units: 0,
            minor_digits: currency.minor_digits(),
        }
    }

    /// Rounds a decimal to the currency's minor unit, half away from zero.
    pub fn round(value: Decimal, currency: Currency) -> Result<Money, AmountOverflow> {
        let digits = currency.minor_digits();
        let rounded = round_half_away_from_zero(value, digits);
        // After rounding the scale is at most `digits`; scale the mantissa up to exactly it.
        let factor = 10i128
            .checked_pow(digits - rounded.scale().min(digits))
            .ok_or(AmountOverflow)?;
        let units = rounded
            .mantissa()
            .checked_mul(factor)
            .ok_or(AmountOverflow)?;
        Money::from_units(units, digits)
    }

    /// Zero with the same minor digits.
    pub fn zero_like(self) -> Money {
        Money {
            units: 0,
            minor_digits: self.minor_digits,
        }
    }

    pub fn units(self) -> i128 {
        i128::from(self.units)
    }

    pub fn minor_digits(self) -> u32 {
        self.minor_digits
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::from_i128_with_scale(self.units(), self.minor_digits)
    }

    pub fn is_negative(self) -> bool {
        self.units < 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, AmountOverflow> {
        Money::from_units(self.units() + other.units(), self.minor_digits)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, AmountOverflow> {
        Money::from_units(self.units() - other.units(), self.minor_digits)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Exactly the minor digits: "5.00", "-0.13", "7". Written from the integer directly,
        // because this runs for every amount of every signed invoice.
        let magnitude = self.units.unsigned_abs();
        let sign = if self.units < 0 { "-" } else { "" };
        if self.minor_digits == 0 {
            return write!(f, "{sign}{magnitude}");
        }
        let scale = 10u64.pow(self.minor_digits);
        let width = self.minor_digits as usize;
        write!(
            f,
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale
        )
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The same text as `Display`, without the formatting machinery (see `stack_text`).
        crate::stack_text::serialize_scaled(
            self.units < 0,
            u128::from(self.units.unsigned_abs()),
            self.minor_digits,
            serializer,
        )
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Reads a money string from a stored document: its scale is taken as the minor digits.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let text = String::deserialize(deserializer)?;
        let value = crate::decimal_text::parse(&text).map_err(serde::de::Error::custom)?;
        Money::from_units(value.mantissa(), value.scale())
            .map_err(|_| serde::de::Error::custom(AmountOverflow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn cny() -> Currency {
        Currency::from_code("CNY").unwrap()
    }

    #[test]
    fn rounds_half_away_from_zero_not_to_even() {
        let d = |s| Decimal::from_str(s).unwrap();
        assert_eq!(Money::round(d("0.125"), cny()).unwrap().to_string(), "0.13");
        assert_eq!(
            Money::round(d("-0.125"), cny()).unwrap().to_string(),
            "-0.13"
        );
        assert_eq!(Money::round(d("0.135"), cny()).unwrap().to_string(), "0.14");
        assert_eq!(
            Money::round(d("0.1249"), cny()).unwrap().to_string(),
            "0.12"
        );
        assert_eq!(Money::round(d("5"), cny()).unwrap().to_string(), "5.00");
    }

    #[test]
    fn integer_division_rounds_half_away_from_zero() {
        assert_eq!(div_round_half_away_from_zero(5, 2), 3);
        assert_eq!(div_round_half_away_from_zero(-5, 2), -3);
        assert_eq!(div_round_half_away_from_zero(4, 3), 1);
        assert_eq!(div_round_half_away_from_zero(-4, 3), -1);
        assert_eq!(div_round_half_away_from_zero(0, 7), 0);
    }

    #[test]
    fn bounds_are_enforced_without_panicking() {
        assert!(Money::from_units(MAX_UNITS, 2).is_ok());
        assert_eq!(Money::from_units(MAX_UNITS + 1, 2), Err(AmountOverflow));
        let max = Money::from_units(MAX_UNITS, 2).unwrap();
        assert_eq!(max.checked_add(max), Err(AmountOverflow));
        assert_eq!(Money::round(Decimal::MAX, cny()), Err(AmountOverflow));
    }

    #[test]
    fn serializes_with_exactly_the_minor_digits() {
        let jpy = Currency::from_code("JPY").unwrap();
        let kwd = Currency::from_code("KWD").unwrap();
        assert_eq!(
            Money::round(Decimal::from(7), jpy).unwrap().to_string(),
            "7"
        );
        assert_eq!(Money::zero(kwd).to_string(), "0.000");
        let json = serde_json::to_string(&Money::from_units(-1, 2).unwrap()).unwrap();
        assert_eq!(json, "\"-0.01\"");
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Money::from_units(-1, 2).unwrap());
    }
}
