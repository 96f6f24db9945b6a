//! Calendar dates and timestamps without a clock: the adapters pass the time in.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A proleptic Gregorian calendar date, written `YYYY-MM-DD` (ISO 8601, as EN 16931 uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// Parses `YYYY-MM-DD` and checks that the day exists (no 2026-02-29).
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = &text[range];
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())
                .flatten()
        };
        let year = number(0..4)?;
        let month = u8::try_from(number(5..7)?).ok()?;
        let day = u8::try_from(number(8..10)?).ok()?;
        let valid =
            year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// The UTC date of a Unix time in milliseconds (Howard Hinnant's `civil_from_days`).
    pub fn from_unix_millis(millis: i64) -> Date {
        let days = millis.div_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        Date {
            year: year.clamp(1, 9999) as u16,
            month,
            day,
        }
    }

    pub fn year(self) -> u16 {
        self.year
    }
}

fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Date {
    /// `YYYY-MM-DD` appended to `text`, as `Display` writes it.
    fn write_to(self, text: &mut crate::stack_text::Digits) {
        text.number(u64::from(self.year), 4)
            .byte(b'-')
            .number(u64::from(self.month), 2)
            .byte(b'-')
            .number(u64::from(self.day), 2);
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Written without the formatting machinery, as amounts are (`stack_text`).
        let mut text = crate::stack_text::Digits::default();
        self.write_to(&mut text);
        serializer.serialize_str(text.as_str())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        Date::parse(&text).ok_or_else(|| serde::de::Error::custom("not a YYYY-MM-DD date"))
    }
}

/// An RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-25T09:30:00.123Z`.
pub fn rfc3339_millis(unix_millis: i64) -> String {
    let date = Date::from_unix_millis(unix_millis);
    let in_day = unix_millis.rem_euclid(86_400_000);
    let (hours, minutes) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (seconds, millis) = (in_day / 1000 % 60, in_day % 1000);
    // `{date}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z`, without the formatting
    // machinery: every issuance writes one (`stack_text`).
    let mut text = crate::stack_text::Digits::default();
    date.write_to(&mut text);
    let two = |value: i64| u64::try_from(value).unwrap_or(0);
    text.byte(b'T')
        .number(two(hours), 2)
        .byte(b':')
        .number(two(minutes), 2)
        .byte(b':')
        .number(two(seconds), 2)
        .byte(b'.')
        .number(two(millis), 3)
        .byte(b'Z');
    text.as_str().to_string()
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads back what [`rfc3339_millis`] writes (`YYYY-MM-DDTHH:MM:SS.mmmZ`) as Unix milliseconds.
/// Only that exact form: every timestamp we sign is written by `rfc3339_millis`.
pub fn parse_rfc3339_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 24
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
        || bytes[19] != b'.'
        || bytes[23] != b'Z'
    {
        return None;
    }
    let date = Date::parse(&text[..10])?;
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &text[range];
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (hours, minutes, seconds, millis) = (
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
        number(20..23)?,
    );
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(date.year), date.month, date.day);
    Some(days * 86_400_000 + ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_days_only() {
        assert_eq!(Date::parse("2026-11-25").unwrap().to_string(), "2026-11-25");
        assert!(Date::parse("2024-02-29").is_some());
        assert!(Date::parse("2026-02-29").is_none());
        assert!(Date::parse("1900-02-29").is_none());
        assert!(Date::parse("2000-02-29").is_some());
        for bad in [
            "2026-13-01",
            "2026-00-10",
            "2026-1-1",
            "26-11-25",
            "2026-11-25T00",
            "2026/11/25",
            "+026-11-25",
        ] {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_read_back_as_written() {
        for millis in [0, 951_782_400_000, 1_795_600_800_123, 1_798_732_800_000 - 1] {
            assert_eq!(parse_rfc3339_millis(&rfc3339_millis(millis)), Some(millis));
        }
        for bad in [
            "2026-11-25T10:00:00Z",
            "2026-11-25T24:00:00.000Z",
            "2026-11-25 10:00:00.000Z",
        ] {
            assert_eq!(parse_rfc3339_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_timestamps_in_utc_with_millis() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_795_600_800_123),
            "2026-11-25T10:00:00.123Z"
        );
        assert_eq!(
            Date::from_unix_millis(951_782_400_000).to_string(),
            "2000-02-29"
        );
    }

    proptest::proptest! {
        #[test]
        fn timestamps_and_dates_are_written_as_the_formatting_machinery_writes_them(
            unix_millis in -62_135_596_800_000i64..253_402_300_799_999,
        ) {
            let date = Date::from_unix_millis(unix_millis);
            let in_day = unix_millis.rem_euclid(86_400_000);
            let (hours, minutes) = (in_day / 3_600_000, in_day / 60_000 % 60);
            let (seconds, millis) = (in_day / 1000 % 60, in_day % 1000);
            proptest::prop_assert_eq!(
                rfc3339_millis(unix_millis),
                format!("{date}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z")
            );
            proptest::prop_assert_eq!(serde_json::to_string(&date).unwrap(), format!("\"{date}\""));
        }
    }
}
