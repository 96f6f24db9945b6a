//! Portugal: the NIF / NIPC (número de identificação fiscal), Decreto-Lei n.º 14/2013.
//!
//! 9 digits. The leading digits give the kind of holder: 1, 2, 3 individuals; 45 non-resident
//! individuals; 5 legal persons; 6 public administration; 70, 74, 75 undivided estates; 71
//! non-resident legal persons; 72 investment funds; 77 ex officio attribution; 78 VAT-refund
//! non-residents; 79 exceptional regime (Expo 98); 8 sole traders (no longer issued, still
//! found on old records); 90, 91 condominiums and irregular companies; 98 non-residents
//! without a permanent establishment; 99 civil companies without legal personality.
//!
//! The check digit is MOD 11 with the weights 9..2: r = Σ dᵢ × (10 - i) mod 11, and the
//! check digit is 11 - r, where 10 and 11 (r = 1 and r = 0) both become 0. Because two
//! remainders share the check digit 0, some single substitutions go undetected.

use super::{fixed_digits, Checked, TaxIdError, TaxIdStatus};

fn known_range(digits: &[u32]) -> bool {
    matches!(
        (digits.first(), digits.get(1)),
        (Some(1 | 2 | 3 | 5 | 6 | 8), _)
            | (Some(4), Some(5))
            | (Some(7), Some(0 | 1 | 2 | 4 | 5 | 7 | 8 | 9))
            | (Some(9), Some(0 | 1 | 8 | 9))
    )
}

pub(super) fn check(text: &str) -> Checked {
    let digits = fixed_digits(text, 9, "a Portuguese NIF")?;
    if !known_range(&digits) {
        return Err(TaxIdError::format(format!(
            "{text} does not start with a NIF range the Portuguese tax authority assigns"
        )));
    }
    let sum: u32 = digits
        .iter()
        .take(8)
        .zip((2..=9).rev())
        .map(|(d, w)| d * w)
        .sum();
    let expected = match 11 - sum % 11 {
        10 | 11 => 0,
        other => other,
    };
    if digits.get(8) != Some(&expected) {
        return Err(TaxIdError::checksum(format!(
            "the check digit of {text} should be {expected}"
        )));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}
