//! Official numbers: the merchant's `number_format` filled in with the series, the year and the
//! gapless sequence (DESIGN.md, "The issued document"; default `{series}-{year}-{seq:08}`).

use std::collections::HashMap;

use invoice_edge_core::merchant::DEFAULT_NUMBER_FORMAT;
use serde_json::Value;

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

/// A parsed, checked number format. Parsing at start-up means a bad merchant file stops the
/// origin before it numbers anything, never half-way through a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberFormat {
    parts: Vec<Part>,
}

impl NumberFormat {
    pub fn parse(text: &str) -> Result<NumberFormat, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut has_seq = false;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                return Err(format!("number format {text:?}: unopened }}"));
            }
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("number format {text:?}: unclosed {{"))?;
            let placeholder = &after[..close];
            let part = match placeholder {
                "series" => Part::Series,
                "year" => Part::Year,
                "seq" => Part::Seq { width: 0 },
                other => match other.strip_prefix("seq:0") {
                    Some(width) if !width.is_empty() && width.len() <= 2 => Part::Seq {
                        width: width
                            .parse()
                            .map_err(|_| format!("number format {text:?}: bad {{{other}}}"))?,
                    },
                    _ => {
                        return Err(format!(
                            "number format {text:?}: unknown placeholder {{{other}}} \
                             (use {{series}}, {{year}}, {{seq}} or {{seq:0N}})"
                        ))
                    }
                },
            };
            has_seq |= matches!(part, Part::Seq { .. });
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
        if !has_seq {
            // Without the sequence two invoices would share a number.
            return Err(format!(
                "number format {text:?} has no {{seq}} or {{seq:0N}}"
            ));
        }
        Ok(NumberFormat { parts })
    }

    pub fn render(&self, series: &str, year: &str, seq: u64) -> String {
        let mut out = String::with_capacity(32);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Series => out.push_str(series),
                Part::Year => out.push_str(year),
                Part::Seq { width } => out.push_str(&format!("{seq:0width$}")),
            }
        }
        out
    }
}

impl Default for NumberFormat {
    fn default() -> Self {
        NumberFormat::parse(DEFAULT_NUMBER_FORMAT).unwrap_or(NumberFormat {
            parts: vec![Part::Seq { width: 8 }],
        })
    }
}

/// Each merchant's number format, from the `--merchants` file; the default for the others.
#[derive(Clone, Debug, Default)]
pub struct NumberFormats {
    by_merchant: HashMap<String, NumberFormat>,
    default: NumberFormat,
}

impl NumberFormats {
    /// Reads a JSON array whose items are merchant configurations or `merchant create` outputs
    /// (`{config, api_key, token_secret}`). Only `id` and `number_format` are used: the origin
    /// numbers what the edge signed and needs nothing else of the merchant.
    pub fn from_json(text: &str) -> Result<NumberFormats, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("merchants file: not JSON: {e}"))?;
        let items = match value {
            Value::Array(items) => items,
            // One `merchant create` output on its own is accepted too.
            item @ Value::Object(_) => vec![item],
            _ => return Err("merchants file: expected a JSON array of merchants".into()),
        };
        let mut formats = NumberFormats::default();
        for (i, item) in items.iter().enumerate() {
            let config = item.get("config").unwrap_or(item);
            let id = config
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("merchants file: item {i} has no string id"))?;
            let format = match config.get("number_format") {
                None | Some(Value::Null) => NumberFormat::default(),
                Some(Value::String(text)) => {
                    NumberFormat::parse(text).map_err(|e| format!("merchant {id}: {e}"))?
                }
                Some(_) => return Err(format!("merchant {id}: number_format must be a string")),
            };
            formats.by_merchant.insert(id.to_string(), format);
        }
        Ok(formats)
    }

    pub fn for_merchant(&self, merchant: &str) -> &NumberFormat {
        self.by_merchant.get(merchant).unwrap_or(&self.default)
    }

    pub fn len(&self) -> usize {
        self.by_merchant.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_merchant.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_format_pads_to_eight_digits() {
        assert_eq!(
            NumberFormat::default().render("SHOP", "2026", 42),
            "SHOP-2026-00000042"
        );
    }

    #[test]
    fn custom_formats_render_every_placeholder() {
        let format = NumberFormat::parse("INV/{year}/{series}/{seq:05}").unwrap();
        assert_eq!(format.render("A", "2027", 7), "INV/2027/A/00007");
        let plain = NumberFormat::parse("{seq}").unwrap();
        assert_eq!(plain.render("A", "2027", 1234567), "1234567");
        // Padding never truncates a sequence that outgrew its width.
        assert_eq!(
            NumberFormat::parse("{seq:02}")
                .unwrap()
                .render("A", "2027", 123),
            "123"
        );
    }

    #[test]
    fn bad_formats_are_refused() {
        for bad in [
            "{series}-{year}",
            "{seq",
            "{seq:8}",
            "{nope}-{seq}",
            "x}{seq}",
            "{seq:0}",
        ] {
            assert!(NumberFormat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merchants_files_take_configs_or_create_outputs() {
        let formats = NumberFormats::from_json(
            r#"[{"id": "a", "number_format": "A{seq:04}"},
                {"config": {"id": "b", "series": "B"}, "api_key": "k"}]"#,
        )
        .unwrap();
        assert_eq!(formats.for_merchant("a").render("S", "2026", 3), "A0003");
        assert_eq!(
            formats.for_merchant("b").render("B", "2026", 3),
            "B-2026-00000003"
        );
        assert_eq!(
            formats.for_merchant("zzz").render("Z", "2026", 1),
            "Z-2026-00000001"
        );
        assert!(NumberFormats::from_json(r#"[{"id": "a", "number_format": "{year}"}]"#).is_err());
    }
}
