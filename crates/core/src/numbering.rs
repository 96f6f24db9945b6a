//! Invoice numbers: a series' `number_format` filled in with the series name, the year of
//! `issued_at` in the merchant's UTC offset, and the gapless `seq` (docs/ARCHITECTURE.md, "The issued
//! document" and "Series"). The series' Durable Object renders the number at issuance; the
//! origin and every verifier re-render it to check it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::date::Date;

/// The default format: `SHOP-2026-00000042`.
pub const DEFAULT_NUMBER_FORMAT: &str = "{series}-{year}-{seq:08}";

/// A `{seq:0N}` wider than this is a typo, not a format: u64 has 20 digits.
const MAX_SEQ_WIDTH: usize = 20;

/// One piece of a parsed number format.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Series,
    Year,
    /// `{seq}` (width 0) or `{seq:0N}` (zero-padded to N digits).
    Seq {
        width: usize,
    },
}

/// A parsed, checked number format. Parsed once where a configuration is loaded, so a bad
/// format is refused before anything is numbered with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberFormat {
    text: String,
    parts: Vec<Part>,
}

impl NumberFormat {
    /// Parses a format. It must contain `{series}` and `{seq}` or `{seq:0N}`, so that numbers
    /// are unique per merchant across its series (docs/ARCHITECTURE.md, "Series").
    pub fn parse(text: &str) -> Result<NumberFormat, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                return Err(format!("number format {text:?}: unopened }}"));
            }
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("number format {text:?}: unclosed {{"))?;
            let part = match &after[..close] {
                "series" => Part::Series,
                "year" => Part::Year,
                "seq" => Part::Seq { width: 0 },
                other => match other.strip_prefix("seq:0").map(str::parse::<usize>) {
                    Some(Ok(width)) if (1..=MAX_SEQ_WIDTH).contains(&width) => Part::Seq { width },
                    _ => {
                        return Err(format!(
                            "number format {text:?}: unknown placeholder {{{other}}} \
                             (use {{series}}, {{year}}, {{seq}} or {{seq:0N}} with N from 1 to {MAX_SEQ_WIDTH})"
                        ))
                    }
                },
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("number format {text:?}: unopened }}"));
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if !parts.iter().any(|p| matches!(p, Part::Seq { .. })) {
            return Err(format!(
                "number format {text:?} has no {{seq}} or {{seq:0N}}: two invoices would share a number"
            ));
        }
        if !parts.contains(&Part::Series) {
            return Err(format!(
                "number format {text:?} has no {{series}}: two series of a merchant would share numbers"
            ));
        }
        // Between {series} and {seq} there must be a character that is not a digit: series
        // names may end in digits, so with "{series}{seq}" series A at 11 and series A1 at 1
        // would both be "A11" (and "{series}{year}{seq}" collides the same way).
        let series_at = parts.iter().position(|p| *p == Part::Series);
        let seq_at = parts.iter().position(|p| matches!(p, Part::Seq { .. }));
        if let (Some(a), Some(b)) = (series_at, seq_at) {
            let between = &parts[a.min(b) + 1..a.max(b)];
            let separated = between.iter().any(|part| match part {
                Part::Literal(text) => text.chars().any(|c| !c.is_ascii_digit()),
                _ => false,
            });
            if !separated {
                return Err(format!(
                    "number format {text:?}: put a separator that is not a digit between {{series}} and \
                     {{seq}}, such as \"-\" or \"/\", or two series could give the same number"
                ));
            }
        }
        Ok(NumberFormat {
            text: text.to_string(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number of the `seq`th document of `series`, issued in `year`.
    pub fn render(&self, series: &str, year: u16, seq: u64) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Series => out.push_str(series),
                Part::Year => out.push_str(&format!("{year:04}")),
                Part::Seq { width } => out.push_str(&format!("{seq:0width$}")),
            }
        }
        out
    }
}

impl Default for NumberFormat {
    fn default() -> Self {
        NumberFormat {
            text: DEFAULT_NUMBER_FORMAT.to_string(),
            parts: vec![
                Part::Series,
                Part::Literal("-".into()),
                Part::Year,
                Part::Literal("-".into()),
                Part::Seq { width: 8 },
            ],
        }
    }
}

impl Serialize for NumberFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for NumberFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<NumberFormat, D::Error> {
        let text = String::deserialize(deserializer)?;
        NumberFormat::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A merchant's offset from UTC, `+08:00` or `-05:30`, in minutes. The year in a number and
/// the default `supply_date` are local to the merchant (docs/ARCHITECTURE.md, "Series"): a Chinese invoice
/// issued at 01:00 on 1 January belongs to the new year.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UtcOffset {
    minutes: i16,
}

impl UtcOffset {
    pub const UTC: UtcOffset = UtcOffset { minutes: 0 };

    /// Parses `±HH:MM`; real offsets run from -12:00 to +14:00.
    pub fn parse(text: &str) -> Option<UtcOffset> {
        let bytes = text.as_bytes();
        if bytes.len() != 6 || bytes[3] != b':' {
            return None;
        }
        let sign = match bytes[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits = |range: std::ops::Range<usize>| -> Option<i16> {
            let part = &text[range];
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())
                .flatten()
        };
        let (hours, minutes) = (digits(1..3)?, digits(4..6)?);
        let total = sign * (hours * 60 + minutes);
        (minutes < 60 && (-12 * 60..=14 * 60).contains(&total))
            .then_some(UtcOffset { minutes: total })
    }

    pub fn minutes(self) -> i16 {
        self.minutes
    }

    /// The merchant's local calendar date at a Unix time in milliseconds.
    pub fn local_date(self, unix_millis: i64) -> Date {
        Date::from_unix_millis(unix_millis.saturating_add(i64::from(self.minutes) * 60_000))
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let total = self.minutes.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", total / 60, total % 60)
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UtcOffset, D::Error> {
        let text = String::deserialize(deserializer)?;
        UtcOffset::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "utc_offset {text:?}: use ±HH:MM between -12:00 and +14:00, e.g. \"+08:00\""
            ))
        })
    }
}

/// The number of a document: its series' format with the merchant-local year of `issued_at`.
pub fn render_number(
    format: &NumberFormat,
    series: &str,
    seq: u64,
    issued_at_ms: i64,
    offset: UtcOffset,
) -> String {
    format.render(series, offset.local_date(issued_at_ms).year(), seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_format_pads_to_eight_digits() {
        assert_eq!(
            NumberFormat::default().render("SHOP", 2026, 42),
            "SHOP-2026-00000042"
        );
        assert_eq!(
            NumberFormat::parse(DEFAULT_NUMBER_FORMAT).unwrap(),
            NumberFormat::default()
        );
    }

    #[test]
    fn custom_formats_render_every_placeholder() {
        let format = NumberFormat::parse("INV/{year}/{series}/{seq:05}").unwrap();
        assert_eq!(format.render("A", 2027, 7), "INV/2027/A/00007");
        let plain = NumberFormat::parse("{series}.{seq}").unwrap();
        assert_eq!(plain.render("A", 2027, 1234567), "A.1234567");
        // Padding never truncates a sequence that outgrew its width.
        assert_eq!(
            NumberFormat::parse("{series}-{seq:02}")
                .unwrap()
                .render("A", 2027, 123),
            "A-123"
        );
    }

    #[test]
    fn bad_formats_are_refused() {
        for bad in [
            "{series}-{year}",
            "{year}-{seq}",
            "{series}{seq",
            "{series}{seq:8}",
            "{nope}-{series}{seq}",
            "x}{series}{seq}",
            "{series}{seq:0}",
            "{series}{seq:021}",
            // Ambiguous: A at 11 and A1 at 1 would share a number.
            "{series}{seq}",
            "{seq}{series}",
            "{series}{year}{seq}",
            "{series}0{seq:04}",
        ] {
            assert!(NumberFormat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_parse_print_and_refuse_nonsense() {
        for (text, minutes) in [
            ("+08:00", 480),
            ("-05:30", -330),
            ("+00:00", 0),
            ("+14:00", 840),
        ] {
            let offset = UtcOffset::parse(text).unwrap();
            assert_eq!(offset.minutes(), minutes);
            assert_eq!(offset.to_string(), text);
        }
        for bad in ["08:00", "+8:00", "+08:60", "+15:00", "-12:01", "+0800", "Z"] {
            assert!(UtcOffset::parse(bad).is_none(), "{bad}");
        }
    }
}
