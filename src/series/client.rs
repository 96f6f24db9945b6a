//! How the worker reaches a series' object: one call per issuance, and the admin calls.

use worker::{Env, Method, Response, Result, Stub};

pub use super::issue::{IssueAnswer, IssueCall};
use super::{SeriesReport, ISSUED, LOOKUP_NONE};

/// The binding of the `SeriesLedger` class (wrangler.toml).
pub const BINDING: &str = "SERIES";

/// The largest number of acknowledgements an isolate keeps for one series: past it the oldest
/// are dropped, and the object's alarm reads those records from KV instead.
const MAX_PENDING_ACKS: usize = 1_000;

thread_local! {
    /// Per object name, the `seq`s whose `inv:` this isolate wrote and has not yet told the
    /// object about. Memory only, and that is fine: a lost acknowledgement costs one KV read by
    /// the alarm, never a lost record.
    static INV_WRITTEN: std::cell::RefCell<std::collections::BTreeMap<String, Vec<u64>>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

/// The name of the object of `(merchant, series)`.
pub fn object_name(merchant: &str, series: &str) -> String {
    format!("{merchant}/{series}")
}

/// Remembers that `inv:` of `seq` is written, to tell the object with the next call.
pub fn note_inv_written(object: &str, seq: u64) {
    INV_WRITTEN.with(|acks| {
        let mut acks = acks.borrow_mut();
        let list = acks.entry(object.to_string()).or_default();
        if list.len() >= MAX_PENDING_ACKS {
            list.remove(0);
        }
        list.push(seq);
    });
}

/// The acknowledgements to send with the next call to `object` (taken: a failed call loses
/// them, and the alarm then reads KV).
pub fn take_inv_written(object: &str) -> Vec<u64> {
    INV_WRITTEN.with(|acks| acks.borrow_mut().remove(object).unwrap_or_default())
}

/// The object of `(merchant, series)`, named `{merchant}/{series}` (merchant ids and series
/// names never contain `/`). A location hint applies only when the object is first created.
pub fn stub(env: &Env, merchant: &str, series: &str, location_hint: Option<&str>) -> Result<Stub> {
    let namespace = env.durable_object(BINDING)?;
    let name = object_name(merchant, series);
    match location_hint {
        Some(hint) => namespace.get_by_name_with_location_hint(&name, hint),
        None => namespace.get_by_name(&name),
    }
}

async fn post(stub: &Stub, path: &str, body: Option<String>) -> Result<Response> {
    let request = crate::http::outgoing_request(
        &format!("https://series{path}"),
        Method::Post,
        None,
        body.map(Into::into),
    )?;
    let response = stub.fetch_with_request(request).await?;
    if response.status_code() >= 400 {
        return Err(worker::Error::RustError(format!(
            "series {path} answered {}",
            response.status_code()
        )));
    }
    Ok(response)
}

/// The one call of an issuance (docs/ARCHITECTURE.md, "Edge issuance path", step 3). An `Err` means the
/// edge cannot tell whether the document was stored: the caller answers 503, and a retry of
/// the same request returns the invoice if it was.
pub async fn issue(stub: &Stub, call: &IssueCall) -> Result<IssueAnswer> {
    let mut response = post(stub, "/issue", Some(serde_json::to_string(call)?)).await?;
    if response.status_code() == ISSUED {
        // The document as the body, after one line of its seq, id and exposure: nothing to
        // unescape (docs/PERFORMANCE.md, "Version 2").
        return super::issue::read_issued(&response.text().await?)
            .ok_or_else(|| worker::Error::RustError("series /issue: unreadable answer".into()));
    }
    response.json().await
}

/// The series' state. `location_hint` is the series' own: a report may be what first creates
/// the object, and a hint applies only then.
pub async fn report(
    env: &Env,
    merchant: &str,
    series: &str,
    location_hint: Option<&str>,
) -> Result<SeriesReport> {
    let stub = stub(env, merchant, series, location_hint)?;
    let mut response = post(&stub, "/state", None).await?;
    response.json().await
}

/// The current document of `order_id` in the series, as JSON text, or `None` when the series
/// has no invoice for it (docs/ARCHITECTURE.md, "HTTP surface of the edge"). `order_id` must
/// already be valid. An `Err` means the object could not be asked: the caller answers 503.
pub async fn lookup(
    env: &Env,
    merchant: &str,
    series: &str,
    location_hint: Option<&str>,
    order_id: &str,
) -> Result<Option<String>> {
    let stub = stub(env, merchant, series, location_hint)?;
    let mut response = post(&stub, "/lookup", Some(order_id.to_string())).await?;
    if response.status_code() == LOOKUP_NONE {
        return Ok(None);
    }
    response.text().await.map(Some)
}

/// The series' webhook delivery log, as the object's JSON text `{pending, deliveries}`
/// (docs/ARCHITECTURE.md, "Webhooks").
pub async fn hooks(
    env: &Env,
    merchant: &str,
    series: &str,
    location_hint: Option<&str>,
) -> Result<String> {
    let stub = stub(env, merchant, series, location_hint)?;
    post(&stub, "/hooks", None).await?.text().await
}

/// The current documents of an invoice's credit notes, as a JSON array's text, from the
/// series' object (docs/ARCHITECTURE.md, "Credit notes"). The id must already be valid. An
/// `Err` means the object could not be asked.
pub async fn credit_notes(env: &Env, merchant: &str, series: &str, id: &str) -> Result<String> {
    // No location hint: the invoice's object exists already, and a hint applies only at creation.
    let stub = stub(env, merchant, series, None)?;
    post(&stub, "/credits", Some(id.to_string()))
        .await?
        .text()
        .await
}

/// `resume` or `sync`: both reset the back-off and the breaker and deliver now.
pub async fn control(
    env: &Env,
    merchant: &str,
    series: &str,
    location_hint: Option<&str>,
    action: &str,
) -> Result<SeriesReport> {
    let stub = stub(env, merchant, series, location_hint)?;
    let mut response = post(&stub, &format!("/{action}"), None).await?;
    response.json().await
}

/// The cron's safety net: make sure the object's alarm is set.
pub async fn poke(env: &Env, name: &str) -> Result<()> {
    let stub = env.durable_object(BINDING)?.get_by_name(name)?;
    post(&stub, "/poke", None).await?;
    Ok(())
}
