//! Saudi Arabia: the VAT registration number (ZATCA).
//!
//! 15 digits, the first and the last being 3 (ZATCA e-invoicing rule BR-KSA-40). ZATCA
//! publishes no check digit, so "checked" means this format rule only; most mistyped
//! middle digits cannot be detected offline.

use super::{fixed_digits, Checked, TaxIdError, TaxIdStatus};

pub(super) fn check(text: &str) -> Checked {
    let digits = fixed_digits(text, 15, "a Saudi VAT number")?;
    if digits.first() != Some(&3) || digits.last() != Some(&3) {
        return Err(TaxIdError::format(
            "a Saudi VAT number starts and ends with 3 (ZATCA BR-KSA-40)",
        ));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}
