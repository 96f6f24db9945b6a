//! Offline limits (docs/ARCHITECTURE.md, "Offline limits"): how much a series may issue that the origin
//! has not archived yet, like a Chinese tax-control device's 离线开票时限 and 离线开票总金额, and
//! the level a series is at. Pure: the series' Durable Object passes in the clock and what it
//! holds that is not yet final, and uses the answer both to admit an issuance and to set the
//! `Offline-Exposure` header.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::problem::Code;

/// Default `max_offline_hours`: three days, as a tax device's usual offline window.
pub const DEFAULT_MAX_OFFLINE_HOURS: u32 = 72;
/// Default `max_offline_count`.
pub const DEFAULT_MAX_OFFLINE_COUNT: u64 = 100_000;
/// How long a blocked series asks clients to wait before retrying (docs/ARCHITECTURE.md).
pub const BLOCKED_RETRY_AFTER_SECONDS: u32 = 60;

const MS_PER_HOUR: i64 = 3_600_000;

/// Reads a field that may be absent (inherit), `null` (no limit) or a value.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A per-currency amount map: `{"CNY": "100000.00"}`.
pub type AmountByCurrency = BTreeMap<String, Amount>;

/// A positive decimal string limit (hours or an amount).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(pub Decimal);

impl Amount {
    /// A limit from decimal text ("72", "0.01", "100000.00"): above 0, no exponent.
    pub fn parse(text: &str) -> Result<Amount, String> {
        let value = crate::decimal_text::parse(text).map_err(|e| format!("{text:?} {e}"))?;
        if value <= Decimal::ZERO {
            return Err(format!("{text:?}: a limit is above 0 (or none)"));
        }
        Ok(Amount(value))
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::decimal_text::as_string::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let value = crate::decimal_text::as_string::deserialize(deserializer)?;
        if value <= Decimal::ZERO {
            return Err(serde::de::Error::custom(
                "a limit is above 0 (or null for none)",
            ));
        }
        Ok(Amount(value))
    }
}

/// Limits as configured, for a merchant or one series. Each field may be absent (take the
/// merchant's, then the default), `null` (no limit) or a value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Hours, as a decimal string ("72", "0.01").
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_offline_hours: Option<Option<Amount>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_offline_count: Option<Option<u64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_offline_amount: Option<Option<AmountByCurrency>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_invoice_amount: Option<Option<AmountByCurrency>>,
}

impl LimitsConfig {
    pub fn is_empty(&self) -> bool {
        self == &LimitsConfig::default()
    }

    /// Problems a configuration loader must refuse: an amount in an unknown currency, or with
    /// more decimals than the currency has, or a zero count.
    pub fn problems(&self, context: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(Some(0)) = self.max_offline_count {
            problems.push(format!(
                "{context}max_offline_count: at least 1 (or null for none)"
            ));
        }
        for (name, map) in [
            ("max_offline_amount", &self.max_offline_amount),
            ("max_invoice_amount", &self.max_invoice_amount),
        ] {
            for (currency, amount) in map.iter().flatten().flatten() {
                match crate::Currency::from_code(currency) {
                    None => problems.push(format!(
                        "{context}{name}: {currency:?} is not an ISO 4217 currency"
                    )),
                    Some(known) if amount.0.scale() > known.minor_digits() => {
                        problems.push(format!(
                            "{context}{name}: {currency} has {} decimals",
                            known.minor_digits()
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        problems
    }
}

/// The limits in force for one series: its own, else the merchant's, else the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_offline_hours: Option<Amount>,
    pub max_offline_count: Option<u64>,
    /// Currencies without an entry have no limit.
    pub max_offline_amount: AmountByCurrency,
    pub max_invoice_amount: AmountByCurrency,
}

impl Limits {
    pub fn resolve(series: &LimitsConfig, merchant: &LimitsConfig) -> Limits {
        fn pick<T: Clone>(
            series: &Option<Option<T>>,
            merchant: &Option<Option<T>>,
        ) -> Option<Option<T>> {
            series.clone().or_else(|| merchant.clone())
        }
        Limits {
            max_offline_hours: pick(&series.max_offline_hours, &merchant.max_offline_hours)
                .unwrap_or(Some(Amount(Decimal::from(DEFAULT_MAX_OFFLINE_HOURS)))),
            max_offline_count: pick(&series.max_offline_count, &merchant.max_offline_count)
                .unwrap_or(Some(DEFAULT_MAX_OFFLINE_COUNT)),
            max_offline_amount: pick(&series.max_offline_amount, &merchant.max_offline_amount)
                .flatten()
                .unwrap_or_default(),
            max_invoice_amount: pick(&series.max_invoice_amount, &merchant.max_invoice_amount)
                .flatten()
                .unwrap_or_default(),
        }
    }

    /// No limit at all.
    pub fn none() -> Limits {
        Limits {
            max_offline_hours: None,
            max_offline_count: None,
            max_offline_amount: BTreeMap::new(),
            max_invoice_amount: BTreeMap::new(),
        }
    }

    fn hours_ms(&self) -> Option<Decimal> {
        self.max_offline_hours
            .map(|h| h.0 * Decimal::from(MS_PER_HOUR))
    }
}

/// What a series holds that the origin has not archived yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outstanding {
    pub count: u64,
    /// `issued_at` (Unix ms) of the oldest document not yet final.
    pub oldest_issued_at_ms: Option<i64>,
    /// Per currency, the gross of the invoices not yet final (credit notes do not count).
    pub gross: BTreeMap<String, Decimal>,
}

/// The offline level of a series (docs/ARCHITECTURE.md: ok below 50 % of every limit, warn from 50 %,
/// critical from 80 %, blocked at 100 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warn,
    Critical,
    Blocked,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Ok, Level::Warn, Level::Critical, Level::Blocked];

    pub fn of(used: Decimal) -> Level {
        if used >= Decimal::ONE {
            Level::Blocked
        } else if used >= Decimal::new(8, 1) {
            Level::Critical
        } else if used >= Decimal::new(5, 1) {
            Level::Warn
        } else {
            Level::Ok
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Critical => "critical",
            Level::Blocked => "blocked",
        }
    }
}

/// Which limit a figure is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitName {
    None,
    Hours,
    Count,
    /// `max_offline_amount` in one currency.
    Amount(String),
}

impl LimitName {
    pub fn as_str(&self) -> &'static str {
        match self {
            LimitName::None => "none",
            LimitName::Hours => "hours",
            LimitName::Count => "count",
            LimitName::Amount(_) => "amount",
        }
    }
}

/// The level of a series and the limit nearest to exhaustion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub level: Level,
    pub limit: LimitName,
    /// The fraction of that limit in use (1 or more when blocked).
    pub used: Decimal,
}

impl fmt::Display for Exposure {
    /// The `Offline-Exposure` header value, an RFC 8941 dictionary:
    /// `level=warn, limit=hours, used=0.63`. `used` is an sf-decimal with two places, rounded
    /// down so that a series shown at 1.00 really is blocked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used = self
            .used
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero);
        let used = if used.is_zero() {
            Decimal::ZERO
        } else {
            used.normalize()
        };
        write!(
            f,
            "level={}, limit={}",
            self.level.as_str(),
            self.limit.as_str()
        )?;
        if let LimitName::Amount(currency) = &self.limit {
            write!(f, ", currency=\"{currency}\"")?;
        }
        write!(f, ", used={used}")
    }
}

fn fraction(part: Decimal, whole: Decimal) -> Decimal {
    if whole <= Decimal::ZERO {
        return Decimal::ONE;
    }
    part.checked_div(whole)
        .unwrap_or(Decimal::ONE)
        .max(Decimal::ZERO)
}

/// The exposure of a series at `now_ms`: the highest fraction over every limit.
pub fn exposure(now_ms: i64, outstanding: &Outstanding, limits: &Limits) -> Exposure {
    let mut worst = Exposure {
        level: Level::Ok,
        limit: LimitName::None,
        used: Decimal::ZERO,
    };
    let mut consider = |limit: LimitName, used: Decimal| {
        if used > worst.used || (worst.limit == LimitName::None && !used.is_zero()) {
            worst = Exposure {
                level: Level::of(used),
                limit,
                used,
            };
        }
    };
    if outstanding.count == 0 {
        return worst;
    }
    if let (Some(hours_ms), Some(oldest)) = (limits.hours_ms(), outstanding.oldest_issued_at_ms) {
        consider(
            LimitName::Hours,
            fraction(
                Decimal::from(now_ms.saturating_sub(oldest).max(0)),
                hours_ms,
            ),
        );
    }
    if let Some(max) = limits.max_offline_count {
        consider(
            LimitName::Count,
            fraction(Decimal::from(outstanding.count), Decimal::from(max)),
        );
    }
    for (currency, max) in &limits.max_offline_amount {
        if let Some(gross) = outstanding.gross.get(currency) {
            consider(LimitName::Amount(currency.clone()), fraction(*gross, max.0));
        }
    }
    worst
}

/// A new document asking to be issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub currency: &'a str,
    pub gross: Decimal,
    /// False for a credit note: it counts toward the hours and count limits, not the amount.
    pub counts_toward_amount: bool,
}

/// Why a document may not be issued now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `OFFLINE_LIMIT_REACHED` (503, retry later) or `INVOICE_AMOUNT_LIMIT` (422, never).
    pub code: Code,
    pub detail: String,
    pub retry_after_seconds: Option<u32>,
}

/// Decides whether `candidate` may be issued at `now_ms`, with the new document included: an
/// issuance that would take the count or the amount beyond its limit is refused, and so is any
/// issuance once the oldest document not yet final is `max_offline_hours` old.
pub fn admit(
    now_ms: i64,
    outstanding: &Outstanding,
    limits: &Limits,
    candidate: &Candidate<'_>,
) -> Result<(), Refusal> {
    if let Some(max) = limits.max_invoice_amount.get(candidate.currency) {
        if candidate.counts_toward_amount && candidate.gross > max.0 {
            return Err(Refusal {
                code: Code::InvoiceAmountLimit,
                detail: format!(
                    "the gross {} {} is over this series' max_invoice_amount of {}",
                    candidate.gross, candidate.currency, max.0
                ),
                retry_after_seconds: None,
            });
        }
    }
    let blocked = |detail: String| Refusal {
        code: Code::OfflineLimitReached,
        detail,
        retry_after_seconds: Some(BLOCKED_RETRY_AFTER_SECONDS),
    };
    if let (Some(hours_ms), Some(oldest)) = (limits.hours_ms(), outstanding.oldest_issued_at_ms) {
        if outstanding.count > 0 && Decimal::from(now_ms.saturating_sub(oldest)) >= hours_ms {
            return Err(blocked(format!(
                "the origin has not archived this series for {} hours (max_offline_hours); \
                 issuance resumes as soon as it does",
                limits.max_offline_hours.map_or(Decimal::ZERO, |h| h.0)
            )));
        }
    }
    if let Some(max) = limits.max_offline_count {
        if outstanding.count.saturating_add(1) > max {
            return Err(blocked(format!(
                "{} documents of this series are not yet archived by the origin \
                 (max_offline_count {max})",
                outstanding.count
            )));
        }
    }
    if candidate.counts_toward_amount {
        if let Some(max) = limits.max_offline_amount.get(candidate.currency) {
            // Alone over the amount limit, it could never be issued, even with nothing pending:
            // that is the invoice's own limit, not a wait (never 503 for ever).
            if candidate.gross > max.0 {
                return Err(Refusal {
                    code: Code::InvoiceAmountLimit,
                    detail: format!(
                        "the gross {} {} is over this series' max_offline_amount of {} by itself",
                        candidate.gross, candidate.currency, max.0
                    ),
                    retry_after_seconds: None,
                });
            }
            let pending = outstanding
                .gross
                .get(candidate.currency)
                .copied()
                .unwrap_or_default();
            if pending
                .checked_add(candidate.gross)
                .is_none_or(|total| total > max.0)
            {
                return Err(blocked(format!(
                    "{pending} {} not yet archived by the origin, plus this invoice's {}, is over \
                     max_offline_amount {}",
                    candidate.currency, candidate.gross, max.0
                )));
            }
        }
    }
    Ok(())
}

/// When the hours limit next crosses a level threshold (50 %, 80 %, 100 %) after `now_ms`, so
/// that the series' alarm notices a level change without traffic. `None` when no threshold of
/// the hours limit lies ahead.
pub fn next_level_change_at(
    now_ms: i64,
    outstanding: &Outstanding,
    limits: &Limits,
) -> Option<i64> {
    let hours_ms = limits.hours_ms()?;
    let oldest = outstanding
        .oldest_issued_at_ms
        .filter(|_| outstanding.count > 0)?;
    [Decimal::new(5, 1), Decimal::new(8, 1), Decimal::ONE]
        .into_iter()
        .filter_map(|share| {
            let offset = (hours_ms * share).ceil();
            i64::try_from(offset.mantissa() / 10i128.pow(offset.scale()))
                .ok()
                .map(|offset| oldest.saturating_add(offset))
        })
        .find(|at| *at > now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(hours: &str, count: u64) -> Limits {
        Limits {
            max_offline_hours: Some(Amount(hours.parse().unwrap())),
            max_offline_count: Some(count),
            max_offline_amount: BTreeMap::from([("CNY".into(), Amount(Decimal::new(1000, 0)))]),
            max_invoice_amount: BTreeMap::from([("CNY".into(), Amount(Decimal::new(600, 0)))]),
        }
    }

    fn outstanding(count: u64, oldest: i64, gross: i64) -> Outstanding {
        Outstanding {
            count,
            oldest_issued_at_ms: Some(oldest),
            gross: BTreeMap::from([("CNY".into(), Decimal::new(gross, 0))]),
        }
    }

    fn cny(gross: i64) -> Candidate<'static> {
        Candidate {
            currency: "CNY",
            gross: Decimal::new(gross, 0),
            counts_toward_amount: true,
        }
    }

    #[test]
    fn nothing_outstanding_is_ok_with_no_limit_named() {
        let exposure = exposure(0, &Outstanding::default(), &limits("72", 5));
        assert_eq!(exposure.to_string(), "level=ok, limit=none, used=0");
    }

    #[test]
    fn levels_follow_the_nearest_limit() {
        let l = limits("72", 10);
        assert_eq!(exposure(0, &outstanding(4, 0, 10), &l).level, Level::Ok);
        let warn = exposure(0, &outstanding(5, 0, 10), &l);
        assert_eq!(warn.to_string(), "level=warn, limit=count, used=0.5");
        assert_eq!(
            exposure(0, &outstanding(8, 0, 10), &l).level,
            Level::Critical
        );
        assert_eq!(
            exposure(0, &outstanding(10, 0, 10), &l).level,
            Level::Blocked
        );
        let hours = exposure(63 * MS_PER_HOUR / 100 * 72, &outstanding(1, 0, 10), &l);
        assert_eq!(hours.to_string(), "level=warn, limit=hours, used=0.63");
        let amount = exposure(0, &outstanding(1, 0, 900), &l);
        assert_eq!(
            amount.to_string(),
            "level=critical, limit=amount, currency=\"CNY\", used=0.9"
        );
    }

    #[test]
    fn admission_counts_the_new_document() {
        let l = limits("0.5", 3);
        assert!(admit(0, &outstanding(2, 0, 10), &l, &cny(10)).is_ok());
        let full = admit(0, &outstanding(3, 0, 10), &l, &cny(10)).unwrap_err();
        assert_eq!(
            (full.code, full.retry_after_seconds),
            (Code::OfflineLimitReached, Some(60))
        );
        let amount = admit(0, &outstanding(1, 0, 500), &l, &cny(501)).unwrap_err();
        assert_eq!(amount.code, Code::OfflineLimitReached);
        assert!(admit(0, &outstanding(1, 0, 500), &l, &cny(500)).is_ok());
        let big = admit(0, &Outstanding::default(), &l, &cny(601)).unwrap_err();
        assert_eq!(
            (big.code, big.retry_after_seconds),
            (Code::InvoiceAmountLimit, None)
        );
        let credit = Candidate {
            counts_toward_amount: false,
            ..cny(5000)
        };
        assert!(admit(0, &outstanding(1, 0, 999), &l, &credit).is_ok());
        let old = admit(MS_PER_HOUR / 2, &outstanding(1, 0, 1), &l, &cny(1)).unwrap_err();
        assert_eq!(old.code, Code::OfflineLimitReached);
        assert!(admit(MS_PER_HOUR / 2 - 1, &outstanding(1, 0, 1), &l, &cny(1)).is_ok());
        assert!(admit(
            i64::MAX,
            &outstanding(u64::MAX, 0, 1),
            &Limits::none(),
            &cny(1)
        )
        .is_ok());
        // Alone over max_offline_amount (1000): never issuable, so 422 and not a wait.
        let no_cap = Limits {
            max_invoice_amount: BTreeMap::new(),
            ..l.clone()
        };
        let alone = admit(0, &Outstanding::default(), &no_cap, &cny(1001)).unwrap_err();
        assert_eq!(
            (alone.code, alone.retry_after_seconds),
            (Code::InvoiceAmountLimit, None)
        );
    }

    #[test]
    fn the_alarm_knows_when_the_hours_level_changes() {
        let l = limits("1", 100);
        let o = outstanding(1, 1_000, 1);
        assert_eq!(next_level_change_at(1_000, &o, &l), Some(1_000 + 1_800_000));
        assert_eq!(
            next_level_change_at(1_000 + 1_800_000, &o, &l),
            Some(1_000 + 2_880_000)
        );
        assert_eq!(next_level_change_at(1_000 + 3_600_000, &o, &l), None);
        assert_eq!(next_level_change_at(0, &Outstanding::default(), &l), None);
    }

    #[test]
    fn series_limits_override_the_merchants_and_null_means_none() {
        let merchant: LimitsConfig = serde_json::from_str(
            r#"{"max_offline_count": 5, "max_offline_amount": {"CNY": "100.00"}}"#,
        )
        .unwrap();
        let series: LimitsConfig =
            serde_json::from_str(r#"{"max_offline_hours": "0.01", "max_offline_count": null}"#)
                .unwrap();
        let resolved = Limits::resolve(&series, &merchant);
        assert_eq!(resolved.max_offline_hours, Some(Amount(Decimal::new(1, 2))));
        assert_eq!(resolved.max_offline_count, None);
        assert_eq!(
            resolved.max_offline_amount["CNY"],
            Amount(Decimal::new(10000, 2))
        );
        let defaults = Limits::resolve(&LimitsConfig::default(), &LimitsConfig::default());
        assert_eq!(defaults.max_offline_hours, Some(Amount(Decimal::from(72))));
        assert_eq!(defaults.max_offline_count, Some(100_000));
        assert!(serde_json::from_str::<LimitsConfig>(r#"{"max_offline_hours": "0"}"#).is_err());
        assert!(serde_json::from_str::<LimitsConfig>(r#"{"max_offline_hours": 3}"#).is_err());
        let round_trip = serde_json::to_string(&series).unwrap();
        assert_eq!(
            round_trip,
            r#"{"max_offline_hours":"0.01","max_offline_count":null}"#
        );
        let bad: LimitsConfig =
            serde_json::from_str(r#"{"max_invoice_amount": {"XXY": "1", "JPY": "1.5"}}"#).unwrap();
        assert_eq!(bad.problems("").len(), 2);
    }
}
