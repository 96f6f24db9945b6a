//! Formatting short values (amounts, decimals, dates) into a stack buffer before serializing
//! them as JSON strings: `collect_str` would allocate a `String` per value, and a signed invoice
//! has dozens of them on the issue path (docs/PERFORMANCE.md, "Hot spots").

use serde::Serializer;
use std::fmt::{self, Display, Write};

/// Room for any value we format this way: a 96-bit decimal needs at most 31 characters.
const CAPACITY: usize = 64;

struct StackText {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl Write for StackText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Serializes `value`'s `Display` form as a JSON string, without a heap allocation when it fits.
pub fn serialize_display<S: Serializer, T: Display + ?Sized>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buffer = StackText {
        bytes: [0; CAPACITY],
        len: 0,
    };
    if write!(buffer, "{value}").is_ok() {
        // Only whole `&str`s were copied in, so the bytes are UTF-8.
        if let Ok(text) = std::str::from_utf8(&buffer.bytes[..buffer.len]) {
            return serializer.serialize_str(text);
        }
    }
    serializer.collect_str(value)
}

/// Serializes the decimal `-?magnitude × 10^-scale` as a JSON string with exactly `scale` digits
/// after the point ("5.00", "-0.13", "7"), as the `Display` of `Money` and `rust_decimal`
/// write it, from the integer directly: the formatting machinery is a chain of calls that the
/// size-optimized worker does not inline, and a signed invoice has dozens of amounts
/// (docs/PERFORMANCE.md, "Hardening (issue 20)").
pub fn serialize_scaled<S: Serializer>(
    negative: bool,
    magnitude: u128,
    scale: u32,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    // A u128 has at most 39 digits; `Decimal` and `Money` scales are at most 28.
    let mut bytes = [0u8; 80];
    let mut at = bytes.len();
    let mut rest = magnitude;
    let mut push = |byte: u8| {
        at -= 1;
        bytes[at] = byte;
    };
    for _ in 0..scale.min(40) {
        push(b'0' + (rest % 10) as u8);
        rest /= 10;
    }
    if scale > 0 {
        push(b'.');
    }
    loop {
        push(b'0' + (rest % 10) as u8);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        push(b'-');
    }
    // ASCII digits, a point and a sign only.
    match std::str::from_utf8(&bytes[at..]) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => Err(serde::ser::Error::custom("unreachable: ASCII digits")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_and_long_values_serialize_the_same_way() {
        let mut short = serde_json::Serializer::new(Vec::new());
        super::serialize_display("12.50", &mut short).unwrap();
        assert_eq!(short.into_inner(), b"\"12.50\"");
        let long = "x".repeat(100);
        let mut out = serde_json::Serializer::new(Vec::new());
        super::serialize_display(long.as_str(), &mut out).unwrap();
        assert_eq!(out.into_inner(), format!("\"{long}\"").into_bytes());
    }

    fn scaled(negative: bool, magnitude: u128, scale: u32) -> String {
        let mut out = serde_json::Serializer::new(Vec::new());
        super::serialize_scaled(negative, magnitude, scale, &mut out).unwrap();
        String::from_utf8(out.into_inner()).unwrap()
    }

    #[test]
    fn scaled_values_are_written_as_display_writes_them() {
        assert_eq!(scaled(false, 500, 2), "\"5.00\"");
        assert_eq!(scaled(true, 13, 2), "\"-0.13\"");
        assert_eq!(scaled(false, 7, 0), "\"7\"");
        assert_eq!(scaled(false, 0, 3), "\"0.000\"");
    }

    proptest::proptest! {
        #[test]
        fn any_decimal_is_written_as_its_display(lo in proptest::prelude::any::<u32>(), mid in proptest::prelude::any::<u32>(), hi in proptest::prelude::any::<u32>(), negative in proptest::prelude::any::<bool>(), scale in 0u32..=28) {
            let value = rust_decimal::Decimal::from_parts(lo, mid, hi, negative, scale);
            let mut out = serde_json::Serializer::new(Vec::new());
            crate::decimal_text::as_string::serialize(&value, &mut out).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(out.into_inner()).unwrap(), format!("\"{value}\""));
        }
    }
}
