//! Italy: the partita IVA (DPR 633/1972 art. 35, Agenzia delle Entrate).
//!
//! 11 digits: a 7-digit matricola (a progressive number, so never 0000000), the 3-digit
//! office code, and a check digit computed with the Luhn algorithm: the digits in even
//! positions (2nd, 4th, … 10th) are doubled, 9 is taken off results above 9, everything is
//! summed and the check digit is (10 - sum mod 10) mod 10. The office code range is not
//! checked here: we found no official list of the codes in use.

use super::{fixed_digits, luhn_valid, Checked, TaxIdError, TaxIdStatus};

pub(super) fn check(text: &str) -> Checked {
    let digits = fixed_digits(text, 11, "an Italian partita IVA")?;
    if digits.iter().take(7).all(|&d| d == 0) {
        return Err(TaxIdError::format(
            "the first seven digits of a partita IVA (the matricola) cannot all be 0",
        ));
    }
    if !luhn_valid(&digits) {
        return Err(TaxIdError::checksum(format!(
            "the check digit of partita IVA {text} is wrong"
        )));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}
