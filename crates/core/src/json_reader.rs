//! Reading a `serde_json::Value` into typed fields while collecting *every* problem, each with
//! its JSON pointer (RFC 6901). Serde's derive stops at the first error and names no pointer,
//! so requests are read with this instead.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::decimal_text::{self, DecimalTextError};
use crate::problem::{Code, FieldError};

/// Strings are at most 500 characters (DESIGN.md, "Limits").
pub const MAX_STRING_CHARS: usize = 500;

/// JSON bodies nest at most this many arrays and objects (DESIGN.md, "Limits"). An invoice
/// request needs 4 (`/lines/0/...` plus an address); serde_json's own limit is 128.
pub const MAX_JSON_DEPTH: usize = 32;

/// The deepest nesting of arrays and objects in `text`, scanning no further than one level past
/// `limit`. Brackets inside strings do not count. The text need not be valid JSON.
pub fn json_depth(text: &[u8], limit: usize) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > limit {
                    break;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses a JSON request body with the limits that must hold before serde sees it: UTF-8
/// (`INVALID_UTF8`, 400), at most `MAX_JSON_DEPTH` levels (`JSON_TOO_DEEP`, 422), then JSON
/// syntax (`MALFORMED_JSON`, 400). The detail never quotes the body: it may hold a secret.
pub fn parse_json(body: &[u8]) -> Result<Value, FieldError> {
    let text = std::str::from_utf8(body).map_err(|error| {
        FieldError::new(
            "",
            Code::InvalidUtf8,
            format!(
                "the body is not UTF-8 (invalid byte at offset {})",
                error.valid_up_to()
            ),
        )
    })?;
    if json_depth(text.as_bytes(), MAX_JSON_DEPTH) > MAX_JSON_DEPTH {
        return Err(FieldError::new(
            "",
            Code::JsonTooDeep,
            format!("JSON nests at most {MAX_JSON_DEPTH} arrays and objects"),
        ));
    }
    serde_json::from_str(text).map_err(|error| {
        FieldError::new(
            "",
            Code::MalformedJson,
            format!(
                "the body is not valid JSON: {} at line {} column {}",
                match error.classify() {
                    serde_json::error::Category::Eof => "unexpected end",
                    serde_json::error::Category::Syntax => "syntax error",
                    _ => "invalid data",
                },
                error.line(),
                error.column()
            ),
        )
    })
}

/// Appends an escaped object key to a JSON pointer ("~" → "~0", "/" → "~1", RFC 6901).
pub fn child_pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The problems found so far.
#[derive(Default, Debug)]
pub struct Problems {
    pub errors: Vec<FieldError>,
}

impl Problems {
    pub fn push(&mut self, pointer: impl Into<String>, code: Code, detail: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, code, detail));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the fields of one JSON object; `finish` reports the fields nobody asked for.
pub struct ObjectReader<'a> {
    map: &'a Map<String, Value>,
    pointer: String,
    known: Vec<&'static str>,
}

impl<'a> ObjectReader<'a> {
    /// `None` (with a `WRONG_TYPE` problem) when `value` is not an object.
    pub fn new(value: &'a Value, pointer: &str, problems: &mut Problems) -> Option<Self> {
        match value {
            Value::Object(map) => Some(ObjectReader {
                map,
                pointer: pointer.to_string(),
                known: Vec::new(),
            }),
            other => {
                problems.push(
                    pointer,
                    Code::WrongType,
                    format!("must be an object, not {}", type_name(other)),
                );
                None
            }
        }
    }

    pub fn pointer_to(&self, key: &str) -> String {
        child_pointer(&self.pointer, key)
    }

    /// The raw value of a field; JSON `null` counts as absent.
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.map.get(key).filter(|value| !value.is_null())
    }

    fn required(&mut self, key: &'static str, problems: &mut Problems) -> Option<&'a Value> {
        let value = self.raw(key);
        if value.is_none() {
            problems.push(
                self.pointer_to(key),
                Code::MissingField,
                format!("{key} is required"),
            );
        }
        value
    }

    /// A string of at most 500 characters; empty or blank strings are allowed only if `allow_empty`.
    pub fn string(
        &mut self,
        key: &'static str,
        required: bool,
        problems: &mut Problems,
    ) -> Option<&'a str> {
        let value = if required {
            self.required(key, problems)?
        } else {
            self.raw(key)?
        };
        let Value::String(text) = value else {
            problems.push(
                self.pointer_to(key),
                Code::WrongType,
                format!("must be a string, not {}", type_name(value)),
            );
            return None;
        };
        if text.chars().count() > MAX_STRING_CHARS {
            problems.push(
                self.pointer_to(key),
                Code::StringTooLong,
                format!("must be at most {MAX_STRING_CHARS} characters"),
            );
            return None;
        }
        if text.trim().is_empty() {
            problems.push(self.pointer_to(key), Code::EmptyString, "must not be empty");
            return None;
        }
        Some(text.as_str())
    }

    pub fn bool(&mut self, key: &'static str, problems: &mut Problems) -> Option<bool> {
        match self.raw(key)? {
            Value::Bool(flag) => Some(*flag),
            other => {
                problems.push(
                    self.pointer_to(key),
                    Code::WrongType,
                    format!("must be true or false, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A decimal string (never a JSON number), with its text kept for limit checks.
    pub fn decimal(
        &mut self,
        key: &'static str,
        required: bool,
        problems: &mut Problems,
    ) -> Option<(Decimal, &'a str)> {
        let value = if required {
            self.required(key, problems)?
        } else {
            self.raw(key)?
        };
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) => {
                problems.push(
                    self.pointer_to(key),
                    Code::DecimalMustBeString,
                    format!("must be a decimal string such as \"{number}\", not a JSON number: numbers lose precision in many JSON parsers"),
                );
                return None;
            }
            other => {
                problems.push(
                    self.pointer_to(key),
                    Code::WrongType,
                    format!("must be a decimal string, not {}", type_name(other)),
                );
                return None;
            }
        };
        match decimal_text::parse(text) {
            Ok(mut decimal) => {
                // "-0" is zero: one value, one printed form.
                if decimal.is_zero() {
                    decimal.set_sign_positive(true);
                }
                Some((decimal, text.as_str()))
            }
            Err(error) => {
                let code = match error {
                    DecimalTextError::Pattern => Code::InvalidDecimal,
                    DecimalTextError::TooManyDigits => Code::TooManyDigits,
                    DecimalTextError::Unrepresentable => Code::TooManyDecimals,
                };
                problems.push(self.pointer_to(key), code, error.to_string());
                None
            }
        }
    }

    pub fn array(
        &mut self,
        key: &'static str,
        required: bool,
        problems: &mut Problems,
    ) -> Option<&'a Vec<Value>> {
        let value = if required {
            self.required(key, problems)?
        } else {
            self.raw(key)?
        };
        match value {
            Value::Array(items) => Some(items),
            other => {
                problems.push(
                    self.pointer_to(key),
                    Code::WrongType,
                    format!("must be an array, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A nested object: its reader, or `None` when absent (or not an object, reported).
    pub fn object(
        &mut self,
        key: &'static str,
        required: bool,
        problems: &mut Problems,
    ) -> Option<ObjectReader<'a>> {
        let value = if required {
            self.required(key, problems)?
        } else {
            self.raw(key)?
        };
        let pointer = self.pointer_to(key);
        ObjectReader::new(value, &pointer, problems)
    }

    /// Reports every field that was never read: unknown fields are rejected, not ignored,
    /// so a misspelt optional field cannot silently change an invoice.
    pub fn finish(self, problems: &mut Problems) {
        for key in self.map.keys() {
            if !self.known.contains(&key.as_str()) {
                problems.push(
                    child_pointer(&self.pointer, key),
                    Code::UnknownField,
                    format!("unknown field {key:?}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_limits_each_have_their_own_code() {
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert_eq!(
            parse_json(deep.as_bytes()).unwrap_err().code,
            Code::JsonTooDeep
        );
        let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(parse_json(ok.as_bytes()).is_ok());
        // Brackets inside strings (and escaped quotes) do not nest.
        let quoted = format!("{{\"a\": \"\\\"{}\"}}", "[".repeat(100));
        assert!(parse_json(quoted.as_bytes()).is_ok());
        // serde_json's own recursion limit (128) is never what answers.
        let deeper = "{\"a\":".repeat(200);
        assert_eq!(
            parse_json(deeper.as_bytes()).unwrap_err().code,
            Code::JsonTooDeep
        );
        assert_eq!(
            parse_json(b"{\"a\": \"\xff\"}").unwrap_err().code,
            Code::InvalidUtf8
        );
        assert_eq!(
            parse_json(b"{\"a\": NaN}").unwrap_err().code,
            Code::MalformedJson
        );
        assert_eq!(
            parse_json(b"{\"a\": Infinity}").unwrap_err().code,
            Code::MalformedJson
        );
        // A malformed body's detail never echoes its content.
        let secret = parse_json(b"{\"api_key\": iek_secret}").unwrap_err();
        assert!(!secret.detail.contains("iek_secret"), "{}", secret.detail);
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        assert_eq!(child_pointer("/a", "b/c~d"), "/a/b~1c~0d");
    }

    #[test]
    fn collects_every_problem_with_its_pointer() {
        let value = json!({"a": 1, "b": "1e3", "c": "x", "zz": true});
        let mut problems = Problems::default();
        let mut reader = ObjectReader::new(&value, "", &mut problems).unwrap();
        assert!(reader.decimal("a", true, &mut problems).is_none());
        assert!(reader.decimal("b", true, &mut problems).is_none());
        assert!(reader.bool("c", &mut problems).is_none());
        assert!(reader.string("d", true, &mut problems).is_none());
        reader.finish(&mut problems);
        let found: Vec<(&str, Code)> = problems
            .errors
            .iter()
            .map(|e| (e.pointer.as_str(), e.code))
            .collect();
        assert_eq!(
            found,
            vec![
                ("/a", Code::DecimalMustBeString),
                ("/b", Code::InvalidDecimal),
                ("/c", Code::WrongType),
                ("/d", Code::MissingField),
                ("/zz", Code::UnknownField),
            ]
        );
    }
}
