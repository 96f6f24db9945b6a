//! The origin ledger client (DESIGN.md, "Origin ledger protocol"): one PUT within a deadline on
//! the issuance path, and batches for delivery, each with `Authorization: Bearer ORIGIN_TOKEN`.
//! The wire types and the permanent-or-retryable decision are the core's (`ledger`), shared
//! with the origin: only `SIGNATURE_INVALID`, `SEQUENCE_CONFLICT` and `ORDER_CONFLICT` are
//! permanent; everything else (`UNKNOWN_KID`, `UNSUPPORTED_FORMAT`, 401, 5xx, a timeout,
//! garbage) is retried.

use futures_util::future::{select, Either};
use invoice_edge_core::document::{Final, Rejection};
use invoice_edge_core::ledger::{BatchResponse, BatchResult, Delivered};
use invoice_edge_core::problem::Problem;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

pub enum OriginOutcome {
    Final(Final),
    Rejected(Rejection),
    /// Not finalized now; deliver later. The text says why, for logs and metrics.
    Retryable(String),
}

/// One document's answer, classified by the core by its code.
fn outcome_of(result: &BatchResult) -> OriginOutcome {
    match result.delivered() {
        Delivered::Archived(final_) => OriginOutcome::Final(final_),
        Delivered::Refused(problem) => OriginOutcome::Rejected(Rejection {
            code: problem.code.as_str().to_string(),
            detail: problem.detail.unwrap_or_default(),
        }),
        Delivered::Gap { expected_seq } => OriginOutcome::Retryable(format!(
            "the origin expects seq {expected_seq} of this series first"
        )),
        Delivered::Retry(problem) => OriginOutcome::Retryable(format!(
            "the origin answered {} {}",
            result.status, problem.code
        )),
    }
}

/// Sends a request and gives up after `timeout_ms`: the fetch is raced against a `Delay` and
/// aborted, so a slow origin cannot hold the buyer's answer (TOOLCHAIN.md).
async fn send(
    url: &str,
    method: Method,
    body: String,
    token: Option<&str>,
    timeout_ms: u64,
) -> Result<(u16, String), String> {
    let headers = Headers::new();
    headers
        .set("Content-Type", "application/json")
        .map_err(|e| e.to_string())?;
    if let Some(token) = token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
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

/// `PUT /v1/ledger/invoices/{id}` with the signed `{invoice, edge_signature}` JSON.
pub async fn put_invoice(
    origin_url: &str,
    token: Option<&str>,
    id: &str,
    signed_json: String,
    timeout_ms: u64,
) -> OriginOutcome {
    let url = format!("{origin_url}/v1/ledger/invoices/{id}");
    let (status, body) = match send(&url, Method::Put, signed_json, token, timeout_ms).await {
        Err(reason) => return OriginOutcome::Retryable(reason),
        Ok(answer) => answer,
    };
    // A single PUT answers what one batch result would hold, as a receipt or a problem.
    let result = BatchResult {
        id: Some(id.to_string()),
        status,
        final_: matches!(status, 200 | 201)
            .then(|| serde_json::from_str::<Final>(&body).ok())
            .flatten(),
        problem: (!matches!(status, 200 | 201))
            .then(|| serde_json::from_str::<Problem>(&body).ok())
            .flatten(),
    };
    outcome_of(&result)
}

/// `POST /v1/ledger/batch`: one outcome per id sent; ids the answer leaves out are retryable.
pub async fn post_batch(
    origin_url: &str,
    token: Option<&str>,
    documents: &[(String, String)],
    timeout_ms: u64,
) -> Vec<(String, OriginOutcome)> {
    let body = format!(
        "{{\"documents\":[{}]}}",
        documents
            .iter()
            .map(|(_, json)| json.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let url = format!("{origin_url}/v1/ledger/batch");
    let answer = match send(&url, Method::Post, body, token, timeout_ms).await {
        Ok((200, text)) => serde_json::from_str::<BatchResponse>(&text)
            .map_err(|_| "the origin's batch answer is not {results}".to_string()),
        Ok((status, _)) => Err(format!("the origin answered {status} to a batch")),
        Err(reason) => Err(reason),
    };
    let mut results = match answer {
        Ok(answer) => answer.results,
        Err(reason) => {
            return documents
                .iter()
                .map(|(id, _)| (id.clone(), OriginOutcome::Retryable(reason.clone())))
                .collect()
        }
    };
    documents
        .iter()
        .map(|(id, _)| {
            let found = results
                .iter()
                .position(|r| r.id.as_deref() == Some(id.as_str()))
                .map(|index| results.swap_remove(index));
            let outcome = match found {
                None => OriginOutcome::Retryable("missing from the batch answer".into()),
                Some(result) => outcome_of(&result),
            };
            (id.clone(), outcome)
        })
        .collect()
}
