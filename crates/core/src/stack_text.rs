//! Formatting short values (amounts, decimals, dates) into a stack buffer before serializing
//! them as JSON strings: `collect_str` would allocate a `String` per value, and a signed invoice
//! has dozens of them on the issue path (docs/PERFORMANCE.md, "Hot spots"). The digits are
//! written from the integers directly: `write!` is a chain of calls that the size-optimized
//! worker does not inline (docs/PERFORMANCE.md, "Hardening (issue 20)").

use serde::Serializer;

/// Room for any value we format this way: a 96-bit decimal needs at most 31 characters.
const CAPACITY: usize = 64;

/// Short ASCII text built on the stack from zero-padded numbers and separators, such as dates
/// and timestamps, without the formatting machinery (see [`serialize_scaled`]).
pub struct Digits {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl Default for Digits {
    fn default() -> Digits {
        Digits {
            bytes: [0; CAPACITY],
            len: 0,
        }
    }
}

impl Digits {
    /// `value` in decimal, zero-padded to at least `width` digits (as `{value:0width$}`).
    pub fn number(&mut self, value: u64, width: usize) -> &mut Digits {
        let mut scratch = [0u8; 20];
        let mut at = scratch.len();
        let mut rest = value;
        loop {
            at -= 1;
            scratch[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for _ in (scratch.len() - at)..width.min(CAPACITY) {
            self.byte(b'0');
        }
        for &digit in &scratch[at..] {
            self.byte(digit);
        }
        self
    }

    /// One ASCII separator; bytes past the capacity are dropped (no caller comes near it).
    pub fn byte(&mut self, byte: u8) -> &mut Digits {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte.min(0x7F);
            self.len += 1;
        }
        self
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and ASCII separators are written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
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
