//! Germany: the USt-IdNr (Umsatzsteuer-Identifikationsnummer), issued by the BZSt.
//!
//! 9 digits, the first not 0; the ninth is an ISO 7064 MOD 11,10 check digit over the first
//! eight: p = 10; for each digit, s = (d + p) mod 10 (0 becomes 10) and p = 2s mod 11; the
//! check digit is (11 - p) mod 10. MOD 11,10 detects every single substitution.

use super::{fixed_digits, Checked, TaxIdError, TaxIdStatus};

pub(super) fn check(text: &str) -> Checked {
    let digits = fixed_digits(text, 9, "a German USt-IdNr")?;
    if digits.first() == Some(&0) {
        return Err(TaxIdError::format(
            "a German USt-IdNr does not start with 0",
        ));
    }
    let mut product = 10;
    for d in digits.iter().take(8) {
        let sum = match (d + product) % 10 {
            0 => 10,
            s => s,
        };
        product = sum * 2 % 11;
    }
    let expected = (11 - product) % 10;
    if digits.get(8) != Some(&expected) {
        return Err(TaxIdError::checksum(format!(
            "the check digit of {text} should be {expected}"
        )));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}
