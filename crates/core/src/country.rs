//! ISO 3166-1 alpha-2 country codes.

/// The officially assigned ISO 3166-1 alpha-2 codes, concatenated and sorted.
const ASSIGNED: &str = "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

/// True when `code` is an assigned ISO 3166-1 alpha-2 code (upper case, e.g. "CN").
pub fn is_assigned(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && ASSIGNED
            .as_bytes()
            .chunks(2)
            .any(|pair| pair == code.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_pairs_in_order() {
        let pairs: Vec<&[u8]> = ASSIGNED.as_bytes().chunks(2).collect();
        assert_eq!(pairs.len(), 249);
        assert!(pairs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn knows_assigned_codes_only() {
        for ok in ["CN", "DE", "SA", "PT", "US", "GB"] {
            assert!(is_assigned(ok), "{ok}");
        }
        for bad in ["cn", "XX", "EU", "C", "CHN", "UK"] {
            assert!(!is_assigned(bad), "{bad}");
        }
    }
}
