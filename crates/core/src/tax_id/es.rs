//! Spain: the NIF (número de identificación fiscal), Real Decreto 1065/2007 and Orden
//! EHA/451/2008. Nine characters, in one of four forms:
//! - DNI (Spanish individuals): 8 digits and a letter, `TRWAGMYFPDXBNJZSQVHLCKE`[n mod 23];
//! - NIE (foreigners): X, Y or Z (read as 0, 1, 2), 7 digits and the same mod 23 letter;
//! - K, L, M (individuals without DNI or NIE): the letter, 7 digits, and the mod 23 letter of
//!   those 7 digits;
//! - CIF (entities): the organisation-type letter (A B C D E F G H J N P Q R S U V W), 7
//!   digits (2 for the province, 5 for the entity) and a control character. Over the 7
//!   digits: the digits in even positions are added, those in odd positions are doubled
//!   and their digits added; c = (10 - sum mod 10) mod 10. The control is the digit c or
//!   the letter `JABCDEFGHI`[c]: a digit for A, B, E, H; a letter for N, P, Q, R, S, W;
//!   either for C, D, F, G, J, U, V.

use super::{digits, Checked, TaxIdError, TaxIdStatus};

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
const CIF_LETTERS: &[u8; 10] = b"JABCDEFGHI";

fn dni_letter(number: u32) -> char {
    DNI_LETTERS
        .get((number % 23) as usize)
        .map_or('?', |&b| b as char)
}

fn to_number(digits: &[u32]) -> u32 {
    digits.iter().fold(0, |n, d| n * 10 + d)
}

fn format_error(text: &str) -> TaxIdError {
    TaxIdError::format(format!(
        "a Spanish NIF is 9 characters: 8 digits and a letter (DNI), X/Y/Z, 7 digits and a letter (NIE), or an organisation letter, 7 digits and a control character (CIF); got \"{text}\""
    ))
}

/// Checks a mod 23 control letter.
fn letter_check(text: &str, number: u32, control: char) -> Checked {
    let expected = dni_letter(number);
    if control != expected {
        return Err(TaxIdError::checksum(format!(
            "the control letter of {text} should be {expected}"
        )));
    }
    Ok((text.to_string(), TaxIdStatus::Checked))
}

pub(super) fn check(text: &str) -> Checked {
    let chars: Vec<char> = text.chars().collect();
    let (first, middle, last) = match chars.as_slice() {
        [first, middle @ .., last] if chars.len() == 9 => (*first, middle, *last),
        _ => return Err(format_error(text)),
    };
    let middle: String = middle.iter().collect();
    let seven = digits(&middle).ok_or_else(|| format_error(text))?;
    if first.is_ascii_digit() {
        // DNI: eight digits and a letter.
        let first_digit = first.to_digit(10).unwrap_or(0);
        if !last.is_ascii_uppercase() {
            return Err(format_error(text));
        }
        return letter_check(text, first_digit * 10_000_000 + to_number(&seven), last);
    }
    match first {
        'X' | 'Y' | 'Z' => {
            let lead = match first {
                'X' => 0,
                'Y' => 1,
                _ => 2,
            };
            if !last.is_ascii_uppercase() {
                return Err(format_error(text));
            }
            letter_check(text, lead * 10_000_000 + to_number(&seven), last)
        }
        'K' | 'L' | 'M' => {
            if !last.is_ascii_uppercase() {
                return Err(format_error(text));
            }
            letter_check(text, to_number(&seven), last)
        }
        'A' | 'B' | 'C' | 'D' | 'E' | 'F' | 'G' | 'H' | 'J' | 'N' | 'P' | 'Q' | 'R' | 'S' | 'U'
        | 'V' | 'W' => cif(text, first, &seven, last),
        _ => Err(format_error(text)),
    }
}

fn cif(text: &str, kind: char, seven: &[u32], control: char) -> Checked {
    let sum: u32 = seven
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    let digit = (10 - sum % 10) % 10;
    let letter = CIF_LETTERS.get(digit as usize).map_or('?', |&b| b as char);
    let digit_char = char::from_digit(digit, 10).unwrap_or('?');
    let (digit_ok, letter_ok) = match kind {
        'A' | 'B' | 'E' | 'H' => (true, false),
        'N' | 'P' | 'Q' | 'R' | 'S' | 'W' => (false, true),
        _ => (true, true),
    };
    if !(control.is_ascii_digit() || control.is_ascii_uppercase()) {
        return Err(format_error(text));
    }
    if (digit_ok && control == digit_char) || (letter_ok && control == letter) {
        return Ok((text.to_string(), TaxIdStatus::Checked));
    }
    let expected = match (digit_ok, letter_ok) {
        (true, false) => format!("{digit_char}"),
        (false, true) => format!("{letter}"),
        _ => format!("{digit_char} or {letter}"),
    };
    Err(TaxIdError::checksum(format!(
        "the control character of CIF {text} should be {expected}"
    )))
}
