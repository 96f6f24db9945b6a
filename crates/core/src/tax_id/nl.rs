//! The Netherlands: the btw-identificatienummer, "NNNNNNNNN" + "B" + 2 digits (Belastingdienst).
//!
//! Two rules are in use, and a number is valid if it passes either:
//! - Numbers of legal entities carry the RSIN, whose ninth digit is the "elfproef" check:
//!   Σ dᵢ × (10 - i) over the first eight digits minus the ninth is a multiple of 11.
//! - Since 1 January 2020 sole traders get numbers unrelated to their BSN, checked with ISO
//!   7064 MOD 97-10 over the whole number with the prefix ("NL" + 9 digits + "B" + 2 digits,
//!   letters as A = 10 … Z = 35): the remainder is 1. The Belastingdienst's own example is
//!   NL000099998B57.
//!
//! Leading zeros of the nine digits are sometimes left out; they are put back.

use super::{digits, mod97_10, Checked, TaxIdError, TaxIdStatus};

fn elfproef(nine: &[u32]) -> bool {
    let weighted: i64 = nine
        .iter()
        .zip([9i64, 8, 7, 6, 5, 4, 3, 2, -1])
        .map(|(&d, w)| i64::from(d) * w)
        .sum();
    nine.iter().any(|&d| d != 0) && weighted % 11 == 0
}

pub(super) fn check(text: &str) -> Checked {
    let format_error = || {
        TaxIdError::format(format!(
            "a Dutch VAT number is 9 digits, B and 2 digits (e.g. 123456789B01), got \"{text}\""
        ))
    };
    let (number, suffix) = text.split_once('B').ok_or_else(format_error)?;
    let number_digits = digits(number).ok_or_else(format_error)?;
    let suffix_ok = suffix.len() == 2 && suffix.bytes().all(|b| b.is_ascii_digit());
    if number_digits.is_empty() || number_digits.len() > 9 || !suffix_ok {
        return Err(format_error());
    }
    let value = format!("{number:0>9}B{suffix}");
    let mut nine = vec![0; 9 - number_digits.len()];
    nine.extend(number_digits);
    if elfproef(&nine) || mod97_10(&format!("NL{value}")) == Some(1) {
        return Ok((value, TaxIdStatus::Checked));
    }
    Err(TaxIdError::checksum(format!(
        "NL{value} passes neither the RSIN check (elfproef) nor the 2020 MOD 97-10 check"
    )))
}
