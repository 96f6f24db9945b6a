//! The origin ledger client (docs/ARCHITECTURE.md, "Origin ledger protocol"): the series objects' delivery
//! batches, each with `Authorization: Bearer ORIGIN_TOKEN` and raced against a deadline. The
//! wire types, and which refusals are permanent, are the core's (`ledger`), shared with the
//! origin.

use futures_util::future::{select, Either};
use invoice_edge_core::ledger::BatchResponse;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method};

/// Sends a request and gives up after `timeout_ms`: the fetch is raced against a `Delay` and
/// aborted, so a slow origin cannot hold the buyer's answer (docs/DEVELOPERS.md).
/// `header` is the one header of the call's own (the origin's `Authorization`, a webhook's
/// signature); the body is always JSON. Shared by the origin's batches and the webhooks
/// (docs/ARCHITECTURE.md, "Webhooks").
pub(crate) async fn send(
    url: &str,
    method: Method,
    body: String,
    header: Option<(&str, &str)>,
    timeout_ms: u64,
) -> Result<(u16, String), String> {
    let headers = Headers::new();
    headers
        .set("Content-Type", "application/json")
        .map_err(|e| e.to_string())?;
    if let Some((name, value)) = header {
        headers.set(name, value).map_err(|e| e.to_string())?;
    }
    let request = crate::http::outgoing_request(url, method, Some(&headers), Some(body.into()))
        .map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status_code();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((status, text))
    };
    let deadline = Delay::from(Duration::from_millis(timeout_ms));
    futures_util::pin_mut!(exchange, deadline);
    match select(exchange, deadline).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {timeout_ms} ms"))
        }
    }
}

/// `POST /v1/ledger/batch` for a series' delivery: the answer as the core's wire type, or why
/// there is none (transport, deadline, a non-200 answer, garbage), which is retryable.
pub async fn post_ledger_batch(
    origin_url: &str,
    token: Option<&str>,
    body: String,
    timeout_ms: u64,
) -> Result<BatchResponse, String> {
    let url = format!("{origin_url}/v1/ledger/batch");
    let authorization = token.map(|token| format!("Bearer {token}"));
    let header = authorization
        .as_deref()
        .map(|value| ("Authorization", value));
    match send(&url, Method::Post, body, header, timeout_ms).await {
        Ok((200, text)) => BatchResponse::parse(&text).map_err(|e| format!("{origin_url}: {e}")),
        Ok((status, _)) => Err(format!("{origin_url} answered {status} to the batch")),
        Err(reason) => Err(format!("{origin_url}: {reason}")),
    }
}
