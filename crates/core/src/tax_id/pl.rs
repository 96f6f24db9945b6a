//! Poland: the NIP (numer identyfikacji podatkowej), Ministry of Finance.
//!
//! 10 digits; the last is Σ dᵢ × wᵢ mod 11 over the first nine with the weights
//! 6, 5, 7, 2, 3, 4, 5, 6, 7. A remainder of 10 is never issued, so it is an error. Every
//! weight is non-zero modulo the prime 11, so any single substitution is detected.

use super::{fixed_digits, Checked, TaxIdError, TaxIdStatus};

const WEIGHTS: [u32; 9] = [6, 5, 7, 2, 3, 4, 5, 6, 7];

pub(super) fn check(text: &str) -> Checked {
    let digits = fixed_digits(text, 10, "a Polish NIP")?;
    let expected = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum::<u32>() % 11;
    if expected == 10 {
        return Err(TaxIdError::checksum(format!(
            "{text} cannot be a NIP: its first nine digits give the remainder 10"
        )));
    }
    if digits.get(9) != Some(&expected) {
        return Err(TaxIdError::checksum(format!(
            "the check digit of NIP {text} should be {expected}"
        )));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}
