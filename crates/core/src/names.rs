//! Names for people of the codes an invoice carries, for the verification page (`/v/{id}`,
//! docs/ARCHITECTURE.md, "Parts"): the signed document keeps the codes (UNCL5305 tax
//! categories, UN/ECE Recommendation 20 units), the page shows "Standard rate · 标准税率" and
//! "piece · 件". Small on purpose: only the units merchants commonly use are named; any other code
//! is shown as it is.

use crate::request::TaxCategory;

/// The bilingual name of a UNCL5305 tax category, as the page prints it.
pub fn tax_category(category: TaxCategory) -> &'static str {
    match category {
        TaxCategory::S => "Standard rate · 标准税率",
        TaxCategory::Z => "Zero rated · 零税率",
        TaxCategory::E => "Exempt · 免税",
        TaxCategory::AE => "Reverse charge · 反向征收",
        TaxCategory::K => "Intra-EU supply · 欧盟内免税供应",
        TaxCategory::G => "Export · 出口免税",
        TaxCategory::O => "Not subject to VAT · 不征税",
    }
}

/// The bilingual name of a UN/ECE Recommendation 20 unit, or `None` for a code not in the table.
pub fn unit(code: &str) -> Option<&'static str> {
    Some(match code {
        "H87" => "piece · 件",
        "C62" | "EA" => "unit · 个",
        "SET" => "set · 套",
        "PR" => "pair · 双",
        "BX" => "box · 盒",
        "KGM" => "kg · 千克",
        "GRM" => "g · 克",
        "LTR" => "l · 升",
        "MTR" => "m · 米",
        "HUR" => "hour · 小时",
        "DAY" => "day · 天",
        "MON" => "month · 月",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_a_name_and_common_units_have_theirs() {
        for code in ["S", "Z", "E", "AE", "K", "G", "O"] {
            let category = TaxCategory::parse(code).unwrap();
            assert!(tax_category(category).contains(" · "), "{code}");
        }
        assert_eq!(tax_category(TaxCategory::S), "Standard rate · 标准税率");
        assert_eq!(unit("H87"), Some("piece · 件"));
        assert_eq!(unit("KGM"), Some("kg · 千克"));
        assert_eq!(unit("XYZ"), None);
    }
}
