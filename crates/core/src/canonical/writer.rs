//! A serde `Serializer` that writes exactly what `serde_json`'s compact serializer writes for
//! our signed structs (strings, integers, booleans, `null`, sequences, structs and string-keyed
//! maps), and nothing else: anything it does not support is an error.
//!
//! Why it exists: the deployed worker compiles the core for size (opt-level "z",
//! docs/DEVELOPERS.md), and at that level `serde_json`'s serializer is a chain of small calls
//! per field (`serialize_field` → `serialize_key` → the escaper → the writer → `Vec::extend`)
//! that are not inlined. Serializing the invoice and the request's canonical text was the
//! largest part of the issue path's cost at "z" against opt-level 3 (docs/PERFORMANCE.md,
//! "Hardening (issue 20)"). Here each field is one call to the derive's code, the writes are
//! forced inline, and a string without escapes is copied in one piece.

use serde::ser::{self, Error as _, Serialize};

/// What the writer cannot write the way `serde_json` does (floats, bytes, enum payloads,
/// non-string map keys): RFC 8785 numbers would need more than `serde_json` writes, and no
/// signed struct holds any of them.
fn unsupported() -> serde_json::Error {
    serde_json::Error::custom("not written by the canonical writer")
}

pub struct CanonicalWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> CanonicalWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> CanonicalWriter<'a> {
        CanonicalWriter { out }
    }

    #[inline(always)]
    fn byte(&mut self, byte: u8) {
        self.out.push(byte);
    }

    #[inline(always)]
    fn bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn integer(&mut self, negative: bool, magnitude: u64) {
        if negative {
            self.byte(b'-');
        }
        let mut digits = crate::stack_text::Digits::default();
        self.bytes(digits.number(magnitude, 0).as_str().as_bytes());
    }
}

/// Escapes as `serde_json` does, which is what RFC 8785 asks for: `"` and `\`, the short forms
/// `\b \f \n \r \t`, other controls as lower-case `\u00xx`, everything else literal.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..index]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0x0F)]);
            }
        }
        run_start = index + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// A struct, sequence or map being written: whether a comma comes before the next member.
pub struct Compound<'w, 'a> {
    writer: &'w mut CanonicalWriter<'a>,
    first: bool,
}

impl Compound<'_, '_> {
    #[inline(always)]
    fn separator(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.writer.byte(b',');
        }
    }
}

type Result<T> = std::result::Result<T, serde_json::Error>;

impl<'w, 'a> ser::Serializer for &'w mut CanonicalWriter<'a> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = ser::Impossible<(), serde_json::Error>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = ser::Impossible<(), serde_json::Error>;

    fn serialize_bool(self, value: bool) -> Result<()> {
        self.bytes(if value { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, value: i8) -> Result<()> {
        self.serialize_i64(i64::from(value))
    }
    fn serialize_i16(self, value: i16) -> Result<()> {
        self.serialize_i64(i64::from(value))
    }
    fn serialize_i32(self, value: i32) -> Result<()> {
        self.serialize_i64(i64::from(value))
    }
    fn serialize_i64(self, value: i64) -> Result<()> {
        self.integer(value < 0, value.unsigned_abs());
        Ok(())
    }
    fn serialize_u8(self, value: u8) -> Result<()> {
        self.serialize_u64(u64::from(value))
    }
    fn serialize_u16(self, value: u16) -> Result<()> {
        self.serialize_u64(u64::from(value))
    }
    fn serialize_u32(self, value: u32) -> Result<()> {
        self.serialize_u64(u64::from(value))
    }
    fn serialize_u64(self, value: u64) -> Result<()> {
        self.integer(false, value);
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<()> {
        Err(unsupported())
    }
    fn serialize_f64(self, _: f64) -> Result<()> {
        Err(unsupported())
    }
    fn serialize_char(self, value: char) -> Result<()> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, value: &str) -> Result<()> {
        write_json_string(self.out, value);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<()> {
        Err(unsupported())
    }
    fn serialize_none(self) -> Result<()> {
        self.bytes(b"null");
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<()> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<()> {
        Err(unsupported())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w, 'a>> {
        self.byte(b'[');
        Ok(Compound {
            writer: self,
            first: true,
        })
    }
    fn serialize_tuple(self, length: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_seq(Some(length))
    }
    fn serialize_tuple_struct(self, _: &'static str, length: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_seq(Some(length))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(unsupported())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'w, 'a>> {
        self.byte(b'{');
        Ok(Compound {
            writer: self,
            first: true,
        })
    }
    fn serialize_struct(self, _: &'static str, length: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_map(Some(length))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(unsupported())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.separator();
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<()> {
        self.writer.byte(b']');
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<()> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<()> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<()> {
        self.separator();
        // Only string keys: `serde_json` quotes integer keys, which this writer would not.
        let start = self.writer.out.len();
        key.serialize(&mut *self.writer)?;
        if self.writer.out.get(start) != Some(&b'"') {
            return Err(unsupported());
        }
        self.writer.byte(b':');
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<()> {
        self.writer.byte(b'}');
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;
    #[inline(always)]
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.separator();
        // Field names are plain identifiers: nothing to escape.
        self.writer.byte(b'"');
        self.writer.bytes(key.as_bytes());
        self.writer.bytes(b"\":");
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<()> {
        ser::SerializeMap::end(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    fn ours<T: Serialize>(value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        value.serialize(&mut CanonicalWriter::new(&mut out))?;
        Ok(out)
    }

    fn same_as_serde_json<T: Serialize>(value: &T) {
        let expected = serde_json::to_vec(value).expect("serde_json writes it");
        assert_eq!(
            String::from_utf8_lossy(&ours(value).expect("the writer writes it")),
            String::from_utf8_lossy(&expected)
        );
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        CreditNote,
    }

    #[derive(Serialize)]
    #[serde(tag = "outcome", rename_all = "snake_case")]
    enum Tagged {
        Issued { id: String, seq: u64 },
    }

    #[derive(Serialize)]
    struct Inner {
        amount: String,
        flag: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<String>,
        absent: Option<u8>,
    }

    #[derive(Serialize)]
    struct Outer {
        inner: Inner,
        kind: Kind,
        lines: Vec<Inner>,
        map: BTreeMap<String, i64>,
        negative: i64,
        tagged: Tagged,
        tuple: (u8, char),
        unit: (),
        wide: u64,
    }

    #[test]
    fn writes_what_serde_json_writes_for_every_shape_our_documents_use() {
        let inner = || Inner {
            amount: "12.50".into(),
            flag: true,
            skipped: None,
            absent: None,
        };
        same_as_serde_json(&Outer {
            inner: inner(),
            kind: Kind::CreditNote,
            lines: vec![inner(), inner()],
            map: BTreeMap::from([("b".into(), -1), ("a\u{7f}".into(), i64::MIN)]),
            negative: -42,
            tagged: Tagged::Issued {
                id: "x".into(),
                seq: 0,
            },
            tuple: (7, 'é'),
            unit: (),
            wide: u64::MAX,
        });
        same_as_serde_json(&Vec::<u8>::new());
        same_as_serde_json(&Some(Some(3u16)));
    }

    #[test]
    fn every_control_character_and_quote_is_escaped_as_serde_json_does() {
        let all: String = (0u8..0x80).map(char::from).collect();
        same_as_serde_json(&all);
        same_as_serde_json(&"\"\\/ €😀 \u{2028}");
    }

    #[test]
    fn what_it_cannot_write_is_an_error() {
        assert!(ours(&1.5f64).is_err());
        assert!(ours(&BTreeMap::from([(1u8, 2u8)])).is_err());
        assert!(super::super::to_jcs_bytes(&(1.5f64, "a")).is_err());
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_does(text in any::<String>()) {
            prop_assert_eq!(ours(&text).unwrap(), serde_json::to_vec(&text).unwrap());
        }

        #[test]
        fn any_integer_is_written_as_serde_json_does(a in any::<i64>(), b in any::<u64>()) {
            prop_assert_eq!(ours(&(a, b)).unwrap(), serde_json::to_vec(&(a, b)).unwrap());
        }
    }
}
