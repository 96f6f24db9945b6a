//! The origin ledger client (DESIGN.md, "Origin ledger protocol"): one PUT within a deadline on
//! the issuance path, and batches for delivery. Every failure is classified as permanent
//! (409 or 422: the invoice is rejected) or retryable (anything else, `UNKNOWN_KID` included).

use futures_util::future::{select, Either};
use invoice_edge_core::document::{Final, Rejection};
use serde::Deserialize;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

pub enum OriginOutcome {
    Final(Final),
    Rejected(Rejection),
    /// Not finalized now; deliver later. The text says why, for logs and metrics.
    Retryable(String),
}

/// A permanent answer: the origin will never accept this invoice as it is.
fn is_permanent(status: u16) -> bool {
    status == 409 || status == 422
}

fn rejection_from_problem(status: u16, body: &str) -> Rejection {
    #[derive(Deserialize)]
    struct ProblemBody {
        code: Option<String>,
        detail: Option<String>,
    }
    let problem: Option<ProblemBody> = serde_json::from_str(body).ok();
    Rejection {
        code: problem
            .as_ref()
            .and_then(|p| p.code.clone())
            .unwrap_or_else(|| format!("ORIGIN_{status}")),
        detail: problem
            .and_then(|p| p.detail)
            .unwrap_or_else(|| format!("the origin answered {status}")),
    }
}

/// Sends a request and gives up after `timeout_ms`: the fetch is raced against a `Delay` and
/// aborted, so a slow origin cannot hold the buyer's answer (TOOLCHAIN.md).
async fn send(
    url: &str,
    method: Method,
    body: String,
    timeout_ms: u64,
) -> Result<(u16, String), String> {
    let headers = Headers::new();
    headers
        .set("Content-Type", "application/json")
        .map_err(|e| e.to_string())?;
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
    id: &str,
    signed_json: String,
    timeout_ms: u64,
) -> OriginOutcome {
    let url = format!("{origin_url}/v1/ledger/invoices/{id}");
    match send(&url, Method::Put, signed_json, timeout_ms).await {
        Err(reason) => OriginOutcome::Retryable(reason),
        Ok((200 | 201, body)) => match serde_json::from_str::<Final>(&body) {
            Ok(final_) => OriginOutcome::Final(final_),
            Err(_) => OriginOutcome::Retryable("the origin's answer is not a final object".into()),
        },
        Ok((status, body)) if is_permanent(status) => {
            OriginOutcome::Rejected(rejection_from_problem(status, &body))
        }
        Ok((status, _)) => OriginOutcome::Retryable(format!("the origin answered {status}")),
    }
}

#[derive(Deserialize)]
struct BatchResult {
    id: String,
    status: u16,
    #[serde(rename = "final")]
    final_: Option<Final>,
    problem: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct BatchAnswer {
    results: Vec<BatchResult>,
}

/// `POST /v1/ledger/batch`: one outcome per id sent; ids the answer leaves out are retryable.
pub async fn post_batch(
    origin_url: &str,
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
    let answer = match send(&url, Method::Post, body, timeout_ms).await {
        Ok((200, text)) => serde_json::from_str::<BatchAnswer>(&text)
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
                .position(|r| r.id == *id)
                .map(|index| results.swap_remove(index));
            let outcome = match found {
                None => OriginOutcome::Retryable("missing from the batch answer".into()),
                Some(BatchResult {
                    status: 200 | 201,
                    final_: Some(final_),
                    ..
                }) => OriginOutcome::Final(final_),
                Some(BatchResult {
                    status, problem, ..
                }) if is_permanent(status) => OriginOutcome::Rejected(rejection_from_problem(
                    status,
                    &problem.map(|p| p.to_string()).unwrap_or_default(),
                )),
                Some(BatchResult { status, .. }) => {
                    OriginOutcome::Retryable(format!("the origin answered {status} for it"))
                }
            };
            (id.clone(), outcome)
        })
        .collect()
}
