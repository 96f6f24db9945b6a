//! Webhooks: what a merchant subscribes to, the events, their signature and their retry policy
//! (docs/ARCHITECTURE.md, "Webhooks"). Pure: the series' object stores, sends and logs them.
//!
//! An event is `{id, type, created, data}`, signed as
//! `Invoice-Edge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` under the
//! webhook's secret, and delivered at least once: receivers dedupe by `id` and refuse a `t` more
//! than 5 minutes away from their clock.

use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::backoff::{Backoff, Jitter, RandomSource};
use crate::document::model::{Final, Invoice, Kind, Rejection};
use crate::money::Money;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Invoice-Edge-Signature";

/// Webhooks per merchant at most: each is called from every series' alarm.
pub const MAX_WEBHOOKS: usize = 4;

/// How long an event is retried: 3 days from its creation (docs/ARCHITECTURE.md, "Webhooks").
pub const RETRY_FOR_MS: i64 = 3 * 86_400_000;

/// The back-off of one endpoint: 10 s doubling, at most 6 h, equal jitter, so about twenty
/// attempts spread over the 3 days.
pub const BACKOFF: Backoff = Backoff {
    base_ms: 10_000,
    factor: 2,
    cap_ms: 6 * 3_600_000,
    jitter: Jitter::Equal,
};

/// The events a webhook may subscribe to; [`EventType::as_str`] is the wire name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    InvoiceIssued,
    InvoiceFinal,
    InvoiceRejected,
    CreditNoteIssued,
    SeriesLevelChanged,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::InvoiceIssued,
        EventType::InvoiceFinal,
        EventType::InvoiceRejected,
        EventType::CreditNoteIssued,
        EventType::SeriesLevelChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::InvoiceIssued => "invoice.issued",
            EventType::InvoiceFinal => "invoice.final",
            EventType::InvoiceRejected => "invoice.rejected",
            EventType::CreditNoteIssued => "credit_note.issued",
            EventType::SeriesLevelChanged => "series.level_changed",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// One endpoint of a merchant's configuration (`webhooks: [{url, events, secret}]`). `events`
/// are wire names, checked by [`Webhook::problems`] when the configuration is loaded: plain
/// strings, so the worker needs no deserializer of its own for them (docs/PERFORMANCE.md, size).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    pub events: Vec<String>,
    /// The HMAC key (its UTF-8 bytes). Never shown by the edge: `merchant create` prints it once.
    pub secret: String,
}

impl Webhook {
    /// What is wrong with this endpoint, as text that never repeats the secret.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let url = &self.url;
        // Plain HTTP only to this machine (local receivers and tests); anything else would send
        // invoices' data in clear.
        let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
            .iter()
            .any(|host| {
                url.strip_prefix(host)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
        if !(url.starts_with("https://") && url.len() > 8 || loopback)
            || url.len() > 2048
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            problems.push(format!(
                "webhook {url:?}: an https:// URL (http:// only to localhost), at most 2048 characters"
            ));
        }
        if self.events.is_empty() {
            problems.push(format!("webhook {url:?}: subscribe to at least one event"));
        }
        for (index, event) in self.events.iter().enumerate() {
            if EventType::parse(event).is_none() || self.events[..index].contains(event) {
                problems.push(format!(
                    "webhook {url:?}: event {event:?} is unknown or listed twice"
                ));
            }
        }
        if !(32..=256).contains(&self.secret.len()) {
            problems.push(format!(
                "webhook {url:?}: the secret must be 32 to 256 characters"
            ));
        }
        problems
    }

    pub fn wants(&self, event: EventType) -> bool {
        self.events.iter().any(|e| e == event.as_str())
    }
}

/// Whether any of a merchant's endpoints subscribes to `event`: an event nobody wants is not
/// stored (docs/ARCHITECTURE.md, "Webhooks").
pub fn anyone_wants(webhooks: &[Webhook], event: EventType) -> bool {
    webhooks.iter().any(|webhook| webhook.wants(event))
}

/// A merchant's webhooks: each valid, at most [`MAX_WEBHOOKS`], no URL twice (a URL is the
/// endpoint's identity in a series' queue).
pub fn problems(webhooks: &[Webhook]) -> Vec<String> {
    let mut problems = Vec::new();
    for webhook in webhooks {
        problems.extend(webhook.problems());
    }
    if webhooks.len() > MAX_WEBHOOKS {
        problems.push(format!("at most {MAX_WEBHOOKS} webhooks"));
    }
    for (index, webhook) in webhooks.iter().enumerate() {
        if webhooks[..index].iter().any(|w| w.url == webhook.url) {
            problems.push(format!("webhook {:?} is listed twice", webhook.url));
        }
    }
    problems
}

/// An event ready to store: its id, type, creation time and the exact body every attempt
/// sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: EventType,
    pub created_ms: i64,
    pub body: String,
}

/// A document's event data (`invoice.issued`, `credit_note.issued`, `invoice.final`,
/// `invoice.rejected`): what a receiver needs to find it (`GET /v1/invoices/{id}`), with the
/// receipt or the rejection when there is one. Borrowed and serialized by serde_json's writer,
/// whose code the worker has for these types already (docs/PERFORMANCE.md, size).
#[derive(Serialize)]
pub struct DocumentData<'a> {
    pub id: &'a str,
    pub kind: Kind,
    pub merchant: &'a str,
    pub series: &'a str,
    pub seq: u64,
    pub number: &'a str,
    pub order_id: &'a str,
    pub issued_at: &'a str,
    pub currency: &'a str,
    pub gross: &'a Money,
    pub status: &'a str,
    #[serde(rename = "final", skip_serializing_if = "Option::is_none")]
    pub receipt: Option<&'a Final>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<&'a Rejection>,
}

impl<'a> DocumentData<'a> {
    pub fn of(invoice: &'a Invoice, status: &'a str) -> DocumentData<'a> {
        DocumentData {
            id: &invoice.id,
            kind: invoice.kind,
            merchant: &invoice.merchant,
            series: &invoice.series,
            seq: invoice.seq,
            number: &invoice.number,
            order_id: &invoice.order_id,
            issued_at: &invoice.issued_at,
            currency: &invoice.currency,
            gross: &invoice.totals.gross,
            status,
            receipt: None,
            rejection: None,
        }
    }
}

/// `series.level_changed`'s data.
#[derive(Serialize)]
pub struct LevelData<'a> {
    pub merchant: &'a str,
    pub series: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// The `Offline-Exposure` value at the change.
    pub exposure: String,
}

impl Event {
    /// `data` is the event's data as JSON text. `subject` makes the id: the same cause (a
    /// document's id, a level change's moment) in the same series gives the same id, so an
    /// event stored twice is still one to a receiver.
    pub fn new(object: &str, kind: EventType, subject: &str, created_ms: i64, data: &str) -> Event {
        let digest =
            crate::keys::sha256(format!("{object}\n{}\n{subject}", kind.as_str()).as_bytes());
        let id = format!("evt_{}", hex::encode(&digest[..16]));
        // The id, the type and the time are ASCII without quotes or backslashes: JSON as they
        // stand, so the envelope needs no serializer of its own.
        let body = format!(
            r#"{{"id":"{id}","type":"{}","created":"{}","data":{data}}}"#,
            kind.as_str(),
            crate::date::rfc3339_millis(created_ms)
        );
        Event {
            id,
            kind,
            created_ms,
            body,
        }
    }

    /// A document's event, its id following the document.
    pub fn document(object: &str, kind: EventType, data: &DocumentData, created_ms: i64) -> Event {
        Event::new(object, kind, data.id, created_ms, &json_text(data))
    }

    /// `series.level_changed`, its id following the change and its moment.
    pub fn level(object: &str, data: &LevelData, created_ms: i64) -> Event {
        let subject = format!("{}>{}@{created_ms}", data.from, data.to);
        Event::new(
            object,
            EventType::SeriesLevelChanged,
            &subject,
            created_ms,
            &json_text(data),
        )
    }
}

/// Plain structs of strings and numbers: their serialization cannot fail.
fn json_text<T: Serialize>(data: &T) -> String {
    serde_json::to_string(data).unwrap_or_default()
}

/// The `Invoice-Edge-Signature` value for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &str, t: u64, body: &str) -> String {
    let mut mac = crate::token::mac(secret);
    mac.update(format!("{t}.").as_bytes());
    mac.update(body.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// When an endpoint that just failed its `attempts`-th try of an event created at `created_ms`
/// is tried again, or `None` once the event is 3 days old: it is then given up.
pub fn next_attempt_ms(
    created_ms: i64,
    attempts: u32,
    now_ms: i64,
    random: &mut dyn RandomSource,
) -> Option<i64> {
    let deadline = created_ms.saturating_add(RETRY_FOR_MS);
    if now_ms >= deadline {
        return None;
    }
    let delay = i64::try_from(BACKOFF.delay_ms(attempts, random)).unwrap_or(i64::MAX);
    // One last attempt at the deadline itself rather than none after a long wait.
    Some(now_ms.saturating_add(delay).min(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, secret: &str) -> Webhook {
        Webhook {
            url: url.into(),
            events: vec!["invoice.issued".into()],
            secret: secret.into(),
        }
    }

    const SECRET: &str = "whsec_test_secret_0123456789abcdef";

    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body_in_hex() {
        // Computed independently with Python's hmac module:
        // hmac.new(SECRET, b'1764630000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature(SECRET, 1_764_630_000, r#"{"id":"evt_1"}"#),
            "t=1764630000,v1=315ecb151a33e08fc1f36a7c5924ae5da76d7e6b8a93184b35ea67cea2627cb7"
        );
        assert_ne!(
            signature(SECRET, 1_764_630_001, r#"{"id":"evt_1"}"#),
            signature(SECRET, 1_764_630_000, r#"{"id":"evt_1"}"#)
        );
    }

    #[test]
    fn a_webhook_has_its_three_members_of_their_types_and_no_other() {
        let read = |text: &str| serde_json::from_str::<Webhook>(text);
        let hook =
            read(r#"{"url":"https://a.example","events":["invoice.final"],"secret":"s"}"#).unwrap();
        assert_eq!(hook.url, "https://a.example");
        assert_eq!(hook.events, vec!["invoice.final".to_string()]);
        assert_eq!(hook.secret, "s");
        for wrong in [
            r#"{"url":"https://a.example","events":[],"secret":"s","extra":1}"#,
            r#"{"url":"https://a.example","events":[],"secret":5}"#,
            r#"{"url":"https://a.example","events":[1],"secret":"s"}"#,
            r#"{"url":"https://a.example","events":"invoice.final","secret":"s"}"#,
            r#"{"events":[],"secret":"s"}"#,
        ] {
            assert!(read(wrong).is_err(), "{wrong}");
        }
        let round = serde_json::to_string(&hook).unwrap();
        assert_eq!(read(&round).unwrap(), hook);
    }

    #[test]
    fn event_types_round_trip_through_their_wire_names() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventType::parse("invoice.voided"), None);
    }

    #[test]
    fn endpoints_need_https_or_loopback_events_and_a_long_secret() {
        assert!(hook("https://shop.example/hooks", SECRET)
            .problems()
            .is_empty());
        assert!(hook("http://127.0.0.1:8080/h", SECRET)
            .problems()
            .is_empty());
        assert!(hook("http://localhost", SECRET).problems().is_empty());
        assert_eq!(hook("http://shop.example/h", SECRET).problems().len(), 1);
        assert_eq!(
            hook("http://localhost.evil.example/h", SECRET)
                .problems()
                .len(),
            1
        );
        assert_eq!(hook("https://", SECRET).problems().len(), 1);
        assert_eq!(hook("https://a b", SECRET).problems().len(), 1);
        let short = hook("https://shop.example/h", "short-secret-never-shown");
        let problems = short.problems();
        assert_eq!(problems.len(), 1);
        assert!(
            !problems[0].contains("short-secret-never-shown"),
            "{problems:?}"
        );
        let mut twice = hook("https://shop.example/h", SECRET);
        twice.events = vec!["invoice.final".into(), "invoice.final".into()];
        assert_eq!(twice.problems().len(), 1);
        twice.events = vec!["invoice.voided".into()];
        assert_eq!(twice.problems().len(), 1);
        twice.events.clear();
        assert_eq!(twice.problems().len(), 1);
        assert!(hook("https://a.example", SECRET).wants(EventType::InvoiceIssued));
        assert!(!hook("https://a.example", SECRET).wants(EventType::InvoiceFinal));
        let same = [
            hook("https://a.example", SECRET),
            hook("https://a.example", SECRET),
        ];
        assert_eq!(problems_of(&same), 1);
        let many: Vec<Webhook> = (0..5)
            .map(|i| hook(&format!("https://{i}.example"), SECRET))
            .collect();
        assert_eq!(problems_of(&many), 1);
    }

    fn problems_of(webhooks: &[Webhook]) -> usize {
        problems(webhooks).len()
    }

    #[test]
    fn event_ids_follow_their_cause_and_bodies_hold_the_envelope() {
        let a = Event::new("m/S", EventType::InvoiceFinal, "doc-1", 0, r#"{"x":1}"#);
        let b = Event::new("m/S", EventType::InvoiceFinal, "doc-1", 5, r#"{"x":2}"#);
        let c = Event::new("m/S", EventType::InvoiceIssued, "doc-1", 0, "{}");
        let d = Event::new("m/T", EventType::InvoiceFinal, "doc-1", 0, "{}");
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_ne!(a.id, d.id);
        assert!(a.id.starts_with("evt_") && a.id.len() == 36, "{}", a.id);
        assert_eq!(
            a.body,
            format!(
                r#"{{"id":"{}","type":"invoice.final","created":"1970-01-01T00:00:00.000Z","data":{{"x":1}}}}"#,
                a.id
            )
        );
        let level = LevelData {
            merchant: "m",
            series: "S",
            from: "ok",
            to: "warn",
            exposure: "level=warn, limit=hours, used=0.5".into(),
        };
        let changed = Event::level("m/S", &level, 5);
        let again = Event::level("m/S", &level, 6);
        assert_ne!(changed.id, again.id, "another moment, another change");
        // The body is JSON a receiver parses back to the envelope.
        let parsed: serde_json::Value = serde_json::from_str(&changed.body).unwrap();
        assert_eq!(parsed["type"], "series.level_changed");
        assert_eq!(parsed["created"], "1970-01-01T00:00:00.005Z");
        assert_eq!(parsed["data"]["to"], "warn");
        assert_eq!(
            parsed["data"]["exposure"],
            "level=warn, limit=hours, used=0.5"
        );
    }

    #[test]
    fn retries_back_off_and_stop_after_three_days() {
        let mut low = || 0u64;
        let mut high = || u64::MAX;
        assert_eq!(next_attempt_ms(0, 1, 0, &mut low), Some(5_000));
        assert_eq!(next_attempt_ms(0, 1, 0, &mut high), Some(10_000));
        assert_eq!(next_attempt_ms(0, 3, 100, &mut high), Some(40_100));
        // Capped at 6 h, and never past the deadline.
        assert_eq!(next_attempt_ms(0, 30, 0, &mut high), Some(6 * 3_600_000));
        let late = RETRY_FOR_MS - 1_000;
        assert_eq!(next_attempt_ms(0, 30, late, &mut high), Some(RETRY_FOR_MS));
        assert_eq!(next_attempt_ms(0, 30, RETRY_FOR_MS, &mut high), None);
        assert_eq!(next_attempt_ms(0, 1, RETRY_FOR_MS + 1, &mut low), None);
    }
}
