//! Version 1 documents (`invoice-edge/1`), numbered by the origin.
//!
//! Version 2 numbers every document at the edge, and the origin only checks and archives the
//! chain. Until edge numbering part 2 replaces the edge worker's version 1 path, that path still
//! sends unnumbered `invoice-edge/1` documents; the origin gives each the next `seq` of its
//! `(merchant, series)`, the number from the merchant's configuration (`--merchants`), and the
//! series head's hash as its link, then archives it like any other document. No version 1
//! document exists in production (DESIGN.md), so this module goes with that path.

use std::collections::HashMap;

use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::numbering::{render_number, NumberFormat, UtcOffset};
use serde_json::Value;

/// Each merchant's series formats and UTC offset, from the `--merchants` file.
#[derive(Clone, Debug, Default)]
pub struct NumberFormats {
    by_merchant: HashMap<String, (UtcOffset, HashMap<String, NumberFormat>)>,
    default: NumberFormat,
}

impl NumberFormats {
    /// Reads a JSON array whose items are merchant configurations or `merchant create` outputs
    /// (`{config, api_key, token_secret}`); one such object on its own is accepted too.
    pub fn from_json(text: &str) -> Result<NumberFormats, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("merchants file: not JSON: {e}"))?;
        let items = match value {
            Value::Array(items) => items,
            item @ Value::Object(_) => vec![item],
            _ => return Err("merchants file: expected a JSON array of merchants".into()),
        };
        let mut formats = NumberFormats::default();
        for (i, item) in items.into_iter().enumerate() {
            let config = match item.get("config") {
                Some(config) => config.clone(),
                None => item,
            };
            let config: MerchantConfig = serde_json::from_value(config)
                .map_err(|e| format!("merchants file: item {i}: {e}"))?;
            let series = config
                .series
                .iter()
                .map(|s| (s.name.clone(), s.number_format.clone()))
                .collect();
            formats
                .by_merchant
                .insert(config.id.clone(), (config.utc_offset, series));
        }
        Ok(formats)
    }

    /// The number of a version 1 document: its merchant's format for the series, else the
    /// default `{series}-{year}-{seq:08}` in UTC.
    pub fn render(&self, merchant: &str, series: &str, seq: u64, issued_at_ms: i64) -> String {
        let (offset, format) = match self.by_merchant.get(merchant) {
            Some((offset, formats)) => (*offset, formats.get(series).unwrap_or(&self.default)),
            None => (UtcOffset::UTC, &self.default),
        };
        render_number(format, series, seq, issued_at_ms, offset)
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
    fn merchants_files_take_configs_or_create_outputs() {
        let seller = r#"{"name": "S", "country": "CN"}"#;
        let formats = NumberFormats::from_json(&format!(
            r#"[{{"id": "a", "seller": {seller}, "tax_profile": [], "utc_offset": "+08:00",
                  "series": [{{"name": "S", "number_format": "A{{series}}{{seq:04}}-{{year}}"}}]}},
                {{"config": {{"id": "b", "seller": {seller}, "tax_profile": [], "series": [{{"name": "B"}}]}}, "api_key": "k"}}]"#
        ))
        .unwrap();
        // 2026-12-31T17:00Z is 2027 in +08:00.
        assert_eq!(
            formats.render("a", "S", 3, 1_798_736_400_000),
            "AS0003-2027"
        );
        assert_eq!(
            formats.render("b", "B", 3, 1_798_736_400_000),
            "B-2026-00000003"
        );
        assert_eq!(formats.render("zzz", "Z", 1, 0), "Z-1970-00000001");
        assert_eq!(formats.len(), 2);
        assert!(NumberFormats::from_json(r#"[{"id": "a"}]"#).is_err());
    }
}
