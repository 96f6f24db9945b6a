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
}
