//! Reading a `serde_json::Value` into typed fields while collecting *every* problem, each with
//! its JSON pointer (RFC 6901). Serde's derive stops at the first error and names no pointer,
//! so requests are read with this instead.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::decimal_text::{self, DecimalTextError};
use crate::problem::{Code, FieldError};

/// Strings are at most 500 characters (docs/ARCHITECTURE.md, "Limits").
pub const MAX_STRING_CHARS: usize = 500;

/// JSON bodies nest at most this many arrays and objects (docs/ARCHITECTURE.md, "Limits"). An invoice
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
    parse_strict(text).map_err(|error| {
        let error = match error {
            StrictError::DuplicateKey { pointer, key } => {
                return FieldError::new(
                    pointer,
                    Code::DuplicateKey,
                    format!("the key {key:?} appears twice in one object"),
                )
            }
            StrictError::Syntax(error) => error,
        };
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

/// Fields whose text may hold tab and newline: an address `line`, `remarks`, a credit note's
/// `reason`. Every other string is one line.
pub const MULTILINE_FIELDS: &[&str] = &["line", "remarks", "reason"];

/// Characters that print as nothing: format characters (zero-width space, joiners, marks,
/// word joiner, invisible operators, the byte-order mark, the soft hyphen, the Mongolian vowel
/// separator) and fillers (Hangul fillers, the braille blank).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}' | '\u{FFA0}')
}

/// The rules every text field obeys (issue 20, "Strict JSON and text"): no C0/C1 control
/// characters (tab and newline only where `multiline`), no bidirectional overrides or isolates,
/// and not only invisible characters.
pub fn check_text(text: &str, multiline: bool) -> Result<(), (Code, String)> {
    for c in text.chars() {
        let control = matches!(c, '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}');
        if control && !(multiline && matches!(c, '\t' | '\n')) {
            return Err((
                Code::ControlCharacter,
                format!(
                    "must not hold the control character U+{:04X}{}",
                    u32::from(c),
                    if multiline {
                        ""
                    } else {
                        " (this field is one line)"
                    }
                ),
            ));
        }
        if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            return Err((
                Code::BidiControl,
                format!(
                    "must not hold the bidirectional control U+{:04X}",
                    u32::from(c)
                ),
            ));
        }
    }
    if text.chars().all(is_invisible) {
        return Err((
            Code::InvisibleText,
            "is made only of invisible characters".into(),
        ));
    }
    Ok(())
}

/// The rules of a request's string field named `key`: at most [`MAX_STRING_CHARS`] characters
/// (`STRING_TOO_LONG`), not blank (`EMPTY_STRING`), and [`check_text`]. The collecting reader
/// and the request's serde fast path (`request::parse_request_fast`) both apply exactly this.
pub fn check_field_text(key: &str, text: &str) -> Result<(), (Code, String)> {
    // Printable ASCII only (codes, amounts, most Latin-script names): no character that the
    // rules refuse is printable ASCII, and a byte is a character, so one pass over the bytes
    // decides everything; only blankness is left (the one ASCII whitespace here is the space).
    let bytes = text.as_bytes();
    if bytes.len() <= MAX_STRING_CHARS && bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        if bytes.iter().all(|&b| b == b' ') {
            return Err((Code::EmptyString, "must not be empty".into()));
        }
        return Ok(());
    }
    if text.chars().count() > MAX_STRING_CHARS {
        return Err((
            Code::StringTooLong,
            format!("must be at most {MAX_STRING_CHARS} characters"),
        ));
    }
    if text.trim().is_empty() {
        return Err((Code::EmptyString, "must not be empty".into()));
    }
    check_text(text, MULTILINE_FIELDS.contains(&key))
}

/// A decimal string's value, `-0` made `0` (one value, one printed form), or its problem.
pub fn decimal_value(text: &str) -> Result<Decimal, (Code, String)> {
    match decimal_text::parse(text) {
        Ok(mut decimal) => {
            if decimal.is_zero() {
                decimal.set_sign_positive(true);
            }
            Ok(decimal)
        }
        Err(error) => {
            let code = match error {
                DecimalTextError::Pattern => Code::InvalidDecimal,
                DecimalTextError::TooManyDigits => Code::TooManyDigits,
                DecimalTextError::Unrepresentable => Code::TooManyDecimals,
            };
            Err((code, error.to_string()))
        }
    }
}

/// A typed reading of a `Value` already parsed: through its text and `serde_json::from_str`,
/// not `serde_json::from_value`. Every type here is also read from text somewhere, so this
/// shares that deserializer instead of compiling a second one per type for `Value`, which cost
/// the worker several KB gzip (docs/PERFORMANCE.md, "Size"). Only for small values off the
/// issuance path: receipts, signatures, batch answers, key lists.
pub fn reread<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, serde_json::Error> {
    serde_json::from_str(&value.to_string())
}

/// Why strict parsing failed.
#[derive(Debug)]
pub enum StrictError {
    /// An object names `key` twice; `pointer` is that object's place (RFC 6901).
    DuplicateKey {
        pointer: String,
        key: String,
    },
    Syntax(serde_json::Error),
}

impl std::fmt::Display for StrictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrictError::DuplicateKey { pointer, key } => {
                write!(
                    f,
                    "the key {key:?} appears twice in the object at {pointer:?}"
                )
            }
            StrictError::Syntax(error) => write!(f, "{error}"),
        }
    }
}

/// Parses JSON text into a `Value` like `serde_json::from_str`, except that an object naming
/// the same key twice is refused (serde_json keeps the last value silently). Every reader of
/// requests, documents and receipts goes through this, so no two readers can disagree.
pub fn parse_strict(text: &str) -> Result<Value, StrictError> {
    let trail = std::cell::RefCell::new(Trail::default());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = serde::de::DeserializeSeed::deserialize(StrictSeed(&trail), &mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(error) => {
            let trail = trail.into_inner();
            match trail.duplicate {
                Some(key) => {
                    // The trail was gathered on the way out, innermost first.
                    let pointer = trail
                        .path
                        .iter()
                        .rev()
                        .fold(String::new(), |pointer, part| child_pointer(&pointer, part));
                    Err(StrictError::DuplicateKey { pointer, key })
                }
                None => Err(StrictError::Syntax(error)),
            }
        }
    }
}

/// Where a duplicate key was met: the key, and the keys and indexes around it, recorded only
/// while the error unwinds (nothing is allocated for a valid document).
#[derive(Default)]
struct Trail {
    duplicate: Option<String>,
    path: Vec<String>,
}

#[derive(Clone, Copy)]
struct StrictSeed<'t>(&'t std::cell::RefCell<Trail>);

impl<'de> serde::de::DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(error) => {
                    self.note(|| items.len().to_string());
                    return Err(error);
                }
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                self.0.borrow_mut().duplicate = Some(key);
                return Err(serde::de::Error::custom("duplicate key"));
            }
            match map.next_value_seed(self) {
                Ok(value) => {
                    fields.insert(key, value);
                }
                Err(error) => {
                    self.note(|| key.clone());
                    return Err(error);
                }
            }
        }
        Ok(Value::Object(fields))
    }
}

impl StrictSeed<'_> {
    /// Records one step of the path while a duplicate-key error unwinds through it.
    fn note(&self, part: impl FnOnce() -> String) {
        let mut trail = self.0.borrow_mut();
        if trail.duplicate.is_some() {
            trail.path.push(part());
        }
    }
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

/// A JSON value's type in words, for problem details ("must be a string, not a number").
pub fn type_name(value: &Value) -> &'static str {
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
        if let Err((code, detail)) = check_field_text(key, text) {
            problems.push(self.pointer_to(key), code, detail);
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
        match decimal_value(text) {
            Ok(decimal) => Some((decimal, text.as_str())),
            Err((code, detail)) => {
                problems.push(self.pointer_to(key), code, detail);
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
    fn text_refuses_controls_bidi_and_invisible_names() {
        assert!(check_text("Zhang San 张三", false).is_ok());
        assert!(check_text("Room 1\nBuilding 2", true).is_ok());
        let code = |text: &str, multiline| check_text(text, multiline).unwrap_err().0;
        assert_eq!(code("Room 1\nBuilding 2", false), Code::ControlCharacter);
        assert_eq!(code("a\u{0}b", true), Code::ControlCharacter);
        assert_eq!(code("a\u{85}b", true), Code::ControlCharacter);
        assert_eq!(code("a\rb", true), Code::ControlCharacter);
        assert_eq!(code("price \u{202E}001", false), Code::BidiControl);
        assert_eq!(code("\u{2067}x", false), Code::BidiControl);
        assert_eq!(code("\u{200B}\u{200B}", false), Code::InvisibleText);
        assert_eq!(code("\u{3164}", false), Code::InvisibleText);
        // Joiners inside visible text are fine (emoji sequences, Indic scripts).
        assert!(check_text("क्\u{200D}ष", false).is_ok());
    }

    #[test]
    fn a_key_twice_in_one_object_is_refused_with_its_place() {
        let error = parse_json(br#"{"a": 1, "b": {"c": [0, {"d": 1, "d": 2}]}}"#).unwrap_err();
        assert_eq!(error.code, Code::DuplicateKey);
        assert_eq!(error.pointer, "/b/c/1");
        assert!(error.detail.contains("\"d\""), "{}", error.detail);
        let top = parse_json(br#"{"total": "1.00", "total": "100.00"}"#).unwrap_err();
        assert_eq!((top.code, top.pointer.as_str()), (Code::DuplicateKey, ""));
        // The same key in two objects, or escaped differently but equal, is told apart right.
        assert!(parse_json(br#"{"a": {"k": 1}, "b": {"k": 1}}"#).is_ok());
        assert_eq!(
            parse_json(br#"{"k": 1, "\u006b": 2}"#).unwrap_err().code,
            Code::DuplicateKey
        );
    }

    proptest::proptest! {
        /// Without duplicates, the strict parser reads exactly what serde_json reads.
        #[test]
        fn strict_parsing_agrees_with_serde_json(text in r#"\{("[a-c]{1,2}": ?(-?[0-9]{1,3}(\.[0-9])?|"[a-z ]{0,4}"|true|null|\[\]|\{\}|\[1, ?"x"\]),? ?){0,4}\}"#) {
            let ours = parse_strict(&text);
            let theirs = serde_json::from_str::<Value>(&text);
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => proptest::prop_assert_eq!(ours, theirs),
                // A duplicate is reported where it is met, before any later syntax error.
                (Err(StrictError::DuplicateKey { .. }), _) => {}
                (Err(StrictError::Syntax(_)), Err(_)) => {}
                (ours, theirs) => proptest::prop_assert!(false, "{text}: {ours:?} vs {theirs:?}"),
            }
        }
    }

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
