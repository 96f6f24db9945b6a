//! Belgium: the enterprise number (ondernemingsnummer / numéro d'entreprise), also the VAT
//! number, from the Crossroads Bank for Enterprises (KBO/BCE).
//!
//! 10 digits starting with 0 or 1; old 9-digit numbers are the same with a leading 0. The
//! last two digits are 97 - (the first eight mod 97). Since 10ᵏ is never a multiple of the
//! prime 97, any single substitution is detected.

use super::{fixed_digits, Checked, TaxIdError, TaxIdStatus};

pub(super) fn check(text: &str) -> Checked {
    let padded = if text.len() == 9 {
        format!("0{text}")
    } else {
        text.to_string()
    };
    let digits = fixed_digits(&padded, 10, "a Belgian enterprise number")?;
    if !matches!(digits.first(), Some(0 | 1)) {
        return Err(TaxIdError::format(
            "a Belgian enterprise number starts with 0 or 1",
        ));
    }
    let base = digits
        .iter()
        .take(8)
        .fold(0u64, |n, &d| n * 10 + u64::from(d));
    let given = digits
        .iter()
        .skip(8)
        .fold(0u64, |n, &d| n * 10 + u64::from(d));
    let expected = 97 - base % 97;
    if given != expected {
        return Err(TaxIdError::checksum(format!(
            "the check digits of {padded} should be {expected:02}"
        )));
    }
    Ok((padded, TaxIdStatus::Checked))
}
