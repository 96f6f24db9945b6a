//! France: the numéro de TVA intracommunautaire, a 2-character key and the 9-digit SIREN.
//!
//! - The SIREN passes the Luhn test (INSEE). Monaco's numbers use the French format with
//!   SIRENs starting 000, which are not Luhn numbers; the Luhn test is skipped for them.
//! - A numeric key is (12 + 3 × (SIREN mod 97)) mod 97, as two digits (DGFiP; the same as
//!   SIREN·100 + 12 mod 97).
//! - Keys with a letter (0-9 and A-Z without I and O) are also issued. No official
//!   description of how they are computed is published, so they are checked for format
//!   and for the SIREN's Luhn digit only, and the ID is `Unchecked`: never reported valid.

use super::{digits, fixed_digits, luhn_valid, Checked, TaxIdError, TaxIdStatus};

fn is_key_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

pub(super) fn check(text: &str) -> Checked {
    let (key, siren_text) = match (text.get(..2), text.get(2..)) {
        (Some(key), Some(siren)) if text.len() == 11 => (key, siren),
        _ => {
            return Err(TaxIdError::format(format!(
                "a French VAT number has 11 characters after FR (a 2-character key and the 9-digit SIREN), got \"{text}\""
            )))
        }
    };
    if !key.chars().all(is_key_char) {
        return Err(TaxIdError::format(format!(
            "the key of a French VAT number is two digits or letters other than I and O, got \"{key}\""
        )));
    }
    let siren = fixed_digits(siren_text, 9, "a SIREN")?;
    let monaco = siren_text.starts_with("000");
    if !monaco && !luhn_valid(&siren) {
        return Err(TaxIdError::checksum(format!(
            "the SIREN {siren_text} fails its Luhn check digit"
        )));
    }
    let Some(key_digits) = digits(key) else {
        return Ok((text.to_string(), TaxIdStatus::Unchecked));
    };
    let siren_mod_97 = siren.iter().fold(0, |r, d| (r * 10 + d) % 97);
    let expected = (12 + 3 * siren_mod_97) % 97;
    let given = key_digits.iter().fold(0, |n, d| n * 10 + d);
    if given != expected {
        return Err(TaxIdError::checksum(format!(
            "the key of a French VAT number with SIREN {siren_text} should be {expected:02}"
        )));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}
