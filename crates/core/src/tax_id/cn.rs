//! China: the unified social credit code (统一社会信用代码), GB 32100-2015.
//!
//! 18 characters from the 31-character alphabet `0-9 A-H J-N P-R T U W-Y` (no I, O, S, V, Z):
//! - position 1: the registration authority (登记管理部门代码);
//! - position 2: the entity type within that authority (机构类别代码);
//! - positions 3-8: the authority's administrative division code (GB/T 2260), digits;
//! - positions 9-17: the subject code (the old organization code, GB 11714);
//! - position 18: the check character (GB/T 17710, MOD 31-3 style): with the character values
//!   0..30 and the weights 3^(i-1) mod 31 = 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24,
//!   10, 30, 28, check = 31 - (Σ value × weight mod 31), where 31 becomes 0.
//!
//! Every weight is non-zero modulo the prime 31, so any single substitution is detected.

use super::{Checked, TaxIdError, TaxIdStatus};

const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The entity types each registration authority may use (GB 32100-2015 table 1, as amended
/// for A and N): 1 机构编制, 2 外交, 3 司法行政, 4 文化, 5 民政, 6 旅游, 7 宗教, 8 工会,
/// 9 工商, A 中央军委改革和编制办公室, N 农业, Y 其他 (always type 1).
fn entity_types(authority: u8) -> &'static [u8] {
    match authority {
        b'1' => b"1239",
        b'2' => b"19",
        b'3' => b"123459",
        b'4' => b"19",
        b'5' => b"1239",
        b'6' => b"129",
        b'7' => b"129",
        b'8' => b"19",
        b'9' => b"123",
        b'A' => b"19",
        b'N' => b"1239",
        b'Y' => b"1",
        _ => b"",
    }
}

fn value_of(c: &u8) -> Option<u32> {
    ALPHABET.iter().position(|a| a == c).map(|p| p as u32)
}

pub(super) fn check(text: &str) -> Checked {
    let bytes = text.as_bytes();
    if bytes.len() != 18 {
        return Err(TaxIdError::format(format!(
            "a unified social credit code has 18 characters, got {}",
            text.chars().count()
        )));
    }
    let values: Vec<u32> = bytes
        .iter()
        .map(value_of)
        .collect::<Option<_>>()
        .ok_or_else(|| {
            TaxIdError::format(
                "a unified social credit code uses only digits and the letters A-Y without I, O, S, V and Z",
            )
        })?;
    let (authority, kind) = match (bytes.first(), bytes.get(1)) {
        (Some(&a), Some(&k)) => (a, k),
        _ => return Err(TaxIdError::format("the code is too short")),
    };
    if !entity_types(authority).contains(&kind) {
        return Err(TaxIdError::format(format!(
            "\"{}{}\" is not a registration authority and entity type of GB 32100-2015",
            authority as char, kind as char
        )));
    }
    if !bytes
        .get(2..8)
        .is_some_and(|r| r.iter().all(u8::is_ascii_digit))
    {
        return Err(TaxIdError::format(
            "positions 3-8 of a unified social credit code are the division code, six digits",
        ));
    }
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let expected = (31 - sum % 31) % 31;
    if values.get(17) != Some(&expected) {
        let expected_char = ALPHABET.get(expected as usize).map_or('?', |&c| c as char);
        return Err(TaxIdError::checksum(format!(
            "the check character of {text} should be {expected_char}"
        )));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_example_is_valid() {
        assert!(check("91110000600037341L").is_ok());
        assert!(matches!(
            check("91110000600037341N"),
            Err(TaxIdError::Checksum(_))
        ));
    }

    #[test]
    fn the_weights_are_powers_of_three_mod_31() {
        let mut w = 1;
        for weight in WEIGHTS {
            assert_eq!(weight, w);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn structure_is_checked() {
        // A1 (military public institution) is a real authority and type: only the check fails.
        assert!(matches!(
            check("A1110000600037341L"),
            Err(TaxIdError::Checksum(_))
        ));
        for bad in [
            "B1110000600037341L",
            "94110000600037341L",
            "91A10000600037341L",
            "9111000060003IOZSV",
        ] {
            assert!(matches!(check(bad), Err(TaxIdError::Format(_))), "{bad}");
        }
    }
}
