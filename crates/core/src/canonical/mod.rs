//! RFC 8785 JSON Canonicalization Scheme (JCS): the bytes that are hashed and signed.
//!
//! Two paths produce them:
//! - [`to_jcs_bytes`] serializes our own structs directly with `serde_json`. That equals JCS
//!   because every signed struct declares its fields in sorted order, holds no floats (money is
//!   a string) and no maps, and `serde_json` escapes strings exactly as JCS does (`\"`, `\\`,
//!   `\b \f \n \r \t`, other controls as lower-case `\u00xx`, everything else literal). It skips
//!   building a `Value` tree, which measured about 6 µs cheaper per invoice in wasm.
//! - [`canonicalize`] is the general JCS of any `serde_json::Value`; a test proves both agree.
//!
//! Numbers: our documents carry integers and strings only. Non-integer numbers are written as
//! RFC 8785 says, but their *parsing* is exact only with `serde_json`'s `float_roundtrip`
//! feature, which the tests enable and the worker leaves out for size: a foreign document with
//! floats may canonicalize differently in the worker, and then simply fails verification.

use serde::Serialize;
use serde_json::Value;
use std::fmt::Write;

mod writer;

pub use writer::write_json_string;

/// The canonical bytes of a struct whose fields are declared in sorted order.
///
/// Written by [`writer::CanonicalWriter`], which writes the same bytes as `serde_json` for what
/// our signed structs hold, faster in the size-optimized worker (see there). What it does not
/// write (floats, bytes, enum payloads, non-string map keys) is an error: no signed struct holds
/// any, and a second serializer per type would cost the worker's size budget.
pub fn to_jcs_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    // A 10-line invoice is about 2 KiB; starting there saves the Vec's repeated doubling.
    let mut out = Vec::with_capacity(4096);
    value.serialize(&mut writer::CanonicalWriter::new(&mut out))?;
    Ok(out)
}

/// The general RFC 8785 canonical form of a JSON value.
pub fn canonicalize(value: &Value) -> String {
    let mut out = Vec::new();
    write_value(value, &mut out);
    // Only whole `&str`s and ASCII are written, so this never fails.
    String::from_utf8(out).unwrap_or_default()
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(flag) => out.extend_from_slice(if *flag { b"true" } else { b"false" }),
        Value::Number(number) => write_number(number, out),
        // RFC 8785 section 3.2.2.2: ECMAScript's JSON.stringify escaping, which is serde_json's.
        Value::String(text) => write_json_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // RFC 8785 section 3.2.3: members sorted by their names as UTF-16 code units.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // serde_json's map already iterates in UTF-8 byte order, which equals UTF-16 order
            // unless keys hold characters from U+E000 up; sort only when it is not in order.
            let in_order = members
                .windows(2)
                .all(|pair| pair[0].0.encode_utf16().le(pair[1].0.encode_utf16()));
            if !in_order {
                crate::stable_sort::sort_by(&mut members, |a, b| {
                    a.0.encode_utf16().lt(b.0.encode_utf16())
                });
            }
            out.push(b'{');
            for (index, (name, member)) in members.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_json_string(out, name);
                out.push(b':');
                write_value(member, out);
            }
            out.push(b'}');
        }
    }
}

/// RFC 8785 section 3.2.2.3: numbers as ECMAScript's Number.prototype.toString writes the
/// IEEE 754 double: the shortest round-trip digits, exponent form below 1e-6 and from 1e21.
fn write_number(number: &serde_json::Number, out: &mut Vec<u8>) {
    if let Some(integer) = number.as_i64() {
        if integer.unsigned_abs() < (1u64 << 53) {
            out.extend_from_slice(integer.to_string().as_bytes());
            return;
        }
    }
    let value = number.as_f64().unwrap_or(f64::NAN);
    out.extend_from_slice(ecmascript_number(value).as_bytes());
}

/// Formats a finite double as ECMAScript does (ECMA-262 Number::toString).
pub fn ecmascript_number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string(); // -0 prints as 0 as well.
    }
    if !value.is_finite() {
        // JSON has no NaN or Infinity; serde_json never produces them.
        return "null".to_string();
    }
    // Ryu gives the shortest digits that round-trip, and of those the closest to the value, as
    // ECMA-262 requires; Rust's own `{:e}` may pick another of equal length (1.0000000000000001e23
    // for 0x44b52d02c7e14af7, where ECMAScript prints 1.0000000000000002e+23).
    let mut buffer = ryu::Buffer::new();
    let shortest = buffer.format_finite(value.abs());
    let (mantissa, exponent) = shortest.split_once(['e', 'E']).unwrap_or((shortest, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let point = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let all_digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let leading_zeros = all_digits.len() - all_digits.trim_start_matches('0').len();
    let digits = all_digits.trim_start_matches('0').trim_end_matches('0');
    let k = digits.len() as i32; // significant digits
    let n = point - leading_zeros as i32 + exponent; // the decimal point's position after them
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc_8785_number_examples() {
        // RFC 8785 Appendix B values, each checked against Node 24's String(number).
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in cases {
            assert_eq!(
                ecmascript_number(f64::from_bits(*bits)),
                *expected,
                "{bits:#x}"
            );
        }
    }

    #[test]
    fn rfc_8785_section_3_2_example() {
        // The example of RFC 8785 section 3.2.4 (input with mixed key order and escapes).
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            canonicalize(&value),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // RFC 8785 section 3.2.3's sorting example: "\u20ac" (one unit) sorts before the
        // surrogate pair of U+1F600, though its UTF-8 bytes sort after.
        let value = json!({"\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew Letter Dalet With Dagesh", "1": "One", "\u{1f600}": "Emoji: Grinning Face", "\u{0080}": "Control", "\u{00f6}": "Latin Small Letter O With Diaeresis"});
        let order = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small",
            "Euro Sign",
            "Emoji",
            "Hebrew",
        ];
        let text = canonicalize(&value);
        let positions: Vec<usize> = order.iter().map(|name| text.find(name).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
}
