//! `POST /v1/invoices` (issue) and `GET /v1/invoices/{id}` (the current document).
//!
//! Issuance follows docs/ARCHITECTURE.md, "Edge issuance path": authenticate and rate-limit, validate and
//! compute with the core, make one call to the series' object (which numbers, chains, signs and
//! stores), write `inv:` to KV, and answer 201 with the offline exposure. The origin is not on
//! this path: the object's alarm delivers.

use invoice_edge_core::document::issue::{prepare, prepare_body};
use invoice_edge_core::document::model::{is_uuid, Document};
use invoice_edge_core::document::sign::Channel;
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::token;
use invoice_edge_core::webhook::EventType;
use invoice_edge_core::{Code, Payment, Problem};
use worker::{Env, Request, Response, Result};

use crate::auth::{self, Caller};
use crate::http;
use crate::ratelimit;
use crate::series::{self, client::IssueAnswer, client::IssueCall};
use crate::store;

pub use crate::clock::now_ms;

/// A document answer from its JSON text, as the series' object made it.
fn document_response(status: u16, id: &str, document: String, replayed: bool) -> Result<Response> {
    let response = Response::ok(document)?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    response
        .headers()
        .set("Location", &format!("/v1/invoices/{id}"))?;
    if replayed {
        response.headers().set("Idempotent-Replayed", "true")?;
    }
    Ok(response)
}

fn rate_limited(who: &str, retry_after_ms: u64) -> Result<Response> {
    ratelimit::rate_limited("issuance", who, retry_after_ms)
}

pub async fn issue(mut req: Request, env: Env, edge_node: String) -> Result<Response> {
    let now = now_ms();
    let ip = ratelimit::client_ip(&req);
    let (merchant, caller) = match auth::authenticate(&req, &env, now).await {
        Ok(found) => found,
        Err(refused) => {
            // A failed attempt counts against the client IP: keys and tokens cannot be guessed fast.
            let response = match ratelimit::over_limit(&env, ratelimit::IP_LIMITER, &ip).await {
                Some(retry_after_ms) => rate_limited("this client", retry_after_ms),
                None => http::problem_response(&refused.problem),
            };
            return match (response, refused.cors_origin) {
                (Ok(response), Some(origin)) => http::allow_origin(response, &origin),
                (response, _) => response,
            };
        }
    };
    // A browser on one of the merchant's listed origins may read the answer (docs/ARCHITECTURE.md, CORS).
    let cors_origin = match caller {
        Caller::Token(_) => auth::listed_origin(&req, &merchant),
        Caller::ApiKey => None,
    };
    let limited = match caller {
        Caller::Token(_) => ratelimit::over_limit(&env, ratelimit::IP_LIMITER, &ip)
            .await
            .map(|ms| ("this client", ms)),
        Caller::ApiKey => None,
    };
    let limited = match limited {
        Some(found) => Some(found),
        None => ratelimit::over_limit(&env, ratelimit::MERCHANT_LIMITER, &merchant.id)
            .await
            .map(|ms| ("this merchant", ms)),
    };
    if let Some((who, retry_after_ms)) = limited {
        return match (rate_limited(who, retry_after_ms), cors_origin) {
            (Ok(response), Some(origin)) => http::allow_origin(response, &origin),
            (response, _) => response,
        };
    }
    let response = issue_for(&mut req, &env, edge_node, &merchant, caller, None).await;
    match (response, cors_origin) {
        (Ok(response), Some(origin)) => http::allow_origin(response, &origin),
        (response, _) => response,
    }
}

/// Steps 2 to 5 of an issuance (docs/ARCHITECTURE.md, "Edge issuance path"), for an invoice or,
/// with `credited` (the invoice's current document), a credit note of it ("Credit notes"):
/// both take this one path to the series' object, `inv:` and the answer.
pub async fn issue_for(
    req: &mut Request,
    env: &Env,
    edge_node: String,
    merchant: &MerchantConfig,
    caller: Caller,
    credited: Option<&Document>,
) -> Result<Response> {
    let body = match http::json_body(req).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let prepared = match (&caller, credited) {
        (_, Some(original)) => invoice_edge_core::json_reader::parse_json(&body)
            .map_err(|error| Problem::from_errors(vec![error]))
            .and_then(|value| {
                invoice_edge_core::credit::prepare_credit(original, &value, merchant)
            }),
        // An API-key request is the body itself: the core reads it with its serde fast path,
        // or, for anything unusual, with the collecting reader that lists every problem (UTF-8,
        // nesting depth and syntax each with its own code: docs/ARCHITECTURE.md, "Limits").
        (Caller::ApiKey, None) => {
            prepare_body(&body, merchant, Payment::AsRequested, Channel::ApiKey)
        }
        // The cart from the token, the buyer from the body (docs/ARCHITECTURE.md, "Authentication").
        (Caller::Token(claims), None) => {
            let value = match invoice_edge_core::json_reader::parse_json(&body) {
                Ok(value) => value,
                Err(error) => return http::problem_response(&Problem::from_errors(vec![error])),
            };
            let request = match token::invoice_request(claims, &value) {
                Ok(request) => request,
                Err(problem) => return http::problem_response(&problem),
            };
            // A token's cart that breaks a rule is the merchant's error, not the buyer's.
            prepare(
                &request,
                merchant,
                Payment::FullyPaid,
                Channel::CheckoutToken,
            )
            .map_err(token::cart_problem)
        }
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(problem) => return http::problem_response(&problem),
    };

    // Step 3: one call to the series' object, which numbers, chains, signs and stores.
    let issuer = prepared.issuer;
    let stub = match series::client::stub(
        env,
        &issuer.merchant,
        &issuer.series.name,
        issuer.series.location_hint.as_deref(),
    ) {
        Ok(stub) => stub,
        Err(_) => {
            return http::problem(
                Code::StorageUnavailable,
                "the series is unavailable; nothing was issued, and a retry is safe",
            )
        }
    };
    let object = series::client::object_name(&issuer.merchant, &issuer.series.name);
    // The event this issuance would store, and whether any endpoint of the configuration just
    // read wants it (docs/ARCHITECTURE.md, "Webhooks"): the alarm would drop it otherwise.
    let event = if credited.is_some() {
        EventType::CreditNoteIssued
    } else {
        EventType::InvoiceIssued
    };
    let unsubscribed = !invoice_edge_core::webhook::anyone_wants(&merchant.webhooks, event);
    let call = IssueCall {
        order_id: prepared.computed.order_id.clone(),
        fingerprint: prepared.fingerprint,
        computed: prepared.computed,
        issuer,
        edge_node,
        inv_written: series::client::take_inv_written(&object),
        unsubscribed,
    };
    let answer = match series::client::issue(&stub, &call).await {
        Ok(answer) => answer,
        Err(error) => {
            worker::console_error!("series call failed: {error}");
            // The edge cannot tell whether the object stored the invoice (docs/ARCHITECTURE.md): a retry of
            // the same request returns it if it did.
            return http::problem_retry_after(
                Code::StorageUnavailable,
                "the edge cannot tell whether the invoice was issued; retry the same request, \
                 which returns it if it was",
                1_000,
            );
        }
    };
    match answer {
        IssueAnswer::Issued {
            id,
            seq,
            signed,
            exposure,
        } => {
            // The answer is the signed document with its status: the same bytes serde would
            // write for `Document`, whose members follow `SignedInvoice`'s.
            let document = pending_document(&signed);
            // Step 4: inv:{id}, awaited before the 201 so any edge can read it. If it fails,
            // the answer is still 201: the object holds the invoice, and its alarm writes every
            // KV record it has not seen written.
            if skip_kv_for_test(req) {
                worker::console_log!("invoice {id}: inv: not written (test hook)");
            } else {
                match write_inv(env, &id, signed).await {
                    // Told to the object with the next call, so its alarm need not check.
                    Ok(()) => series::client::note_inv_written(&object, seq),
                    Err(error) => worker::console_error!(
                        "invoice {id}: inv: not written, the alarm will: {error}"
                    ),
                }
            }
            with_exposure(document_response(201, &id, document, false)?, &exposure)
        }
        IssueAnswer::Replayed {
            id,
            document,
            exposure,
        } => with_exposure(document_response(201, &id, document, true)?, &exposure),
        IssueAnswer::OrderTaken {
            invoice_id,
            exposure,
        } => {
            let response = http::problem(
                Code::OrderAlreadyInvoiced,
                &format!(
                    "order {} was already invoiced by a different request: /v1/invoices/{invoice_id}",
                    call.order_id
                ),
            )?;
            response.headers().set(
                "Link",
                &format!("</v1/invoices/{invoice_id}>; rel=\"existing\""),
            )?;
            with_exposure(response, &exposure)
        }
        IssueAnswer::Refused {
            problem,
            retry_after_s,
            exposure,
        } => {
            let response = http::problem_response(&problem)?;
            if let Some(seconds) = retry_after_s {
                response
                    .headers()
                    .set("Retry-After", &seconds.max(1).to_string())?;
            }
            with_exposure(response, &exposure)
        }
    }
}

/// `{invoice, edge_signature}` as the document of a new invoice: `pending_sync`, no receipt.
fn pending_document(signed: &str) -> String {
    let open = signed.trim_end().strip_suffix('}').unwrap_or(signed);
    format!("{open},\"status\":\"pending_sync\",\"final\":null,\"rejection\":null}}")
}

/// Every issuance answer carries the series' offline state (docs/ARCHITECTURE.md, "Offline limits").
fn with_exposure(response: Response, exposure: &str) -> Result<Response> {
    response.headers().set("Offline-Exposure", exposure)?;
    Ok(response)
}

async fn write_inv(env: &Env, id: &str, signed: String) -> Result<()> {
    store::invoices(env)?
        .put(&format!("inv:{id}"), &signed)
        .await
}

/// Test builds only: `X-Test-Skip-Inv: 1` leaves `inv:` unwritten after the object committed,
/// as a failed KV write would (the alarm must write it).
#[cfg(feature = "test-hooks")]
fn skip_kv_for_test(req: &Request) -> bool {
    req.headers()
        .get("X-Test-Skip-Inv")
        .ok()
        .flatten()
        .is_some_and(|v| v == "1")
}

#[cfg(not(feature = "test-hooks"))]
fn skip_kv_for_test(_req: &Request) -> bool {
    false
}

/// How long after its id's time KV may still miss an invoice: KV is eventually consistent
/// across locations, about a minute (docs/ARCHITECTURE.md, "Edge issuance path").
const KV_PROPAGATION_MS: u64 = 120_000;

/// The Unix ms in a UUIDv7's first 48 bits.
fn uuid_v7_millis(id: &str) -> Option<u64> {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    u64::from_str_radix(&hex, 16).ok()
}

/// The current document of `id` from KV, or the answer to give: 404 `NOT_FOUND`, with
/// `Retry-After: 2` while the id is young enough that this location's KV may not have it yet
/// (docs/ARCHITECTURE.md, "Edge issuance path", "Reading"), or 503.
pub async fn current(env: &Env, id: &str) -> std::result::Result<Document, Result<Response>> {
    if !is_uuid(id) {
        return Err(http::problem(Code::NotFound, "no such invoice"));
    }
    let kv = store::invoices(env).map_err(Err)?;
    match store::read_document(&kv, id).await {
        Ok(Some(document)) => Ok(document),
        // A young id may not have reached this location's KV yet: ask to retry, briefly.
        Ok(None) if uuid_v7_millis(id).is_some_and(|at| now_ms().saturating_sub(at) < KV_PROPAGATION_MS) => {
            Err(http::problem_retry_after(
                Code::NotFound,
                "no such invoice here yet; a new invoice reaches every location within a minute or two",
                2_000,
            ))
        }
        Ok(None) => Err(http::problem(Code::NotFound, "no such invoice")),
        Err(_) => Err(http::problem(
            Code::StorageUnavailable,
            "the invoice could not be read; retry shortly",
        )),
    }
}

/// `GET /v1/invoices/{id}`: public by id (a UUIDv7 has 74 random bits, and the QR code must work
/// without a login).
pub async fn get(env: &Env, id: &str) -> Result<Response> {
    match current(env, id).await {
        Ok(document) => http::json(200, &document),
        Err(answer) => answer,
    }
}

/// `GET /v1/invoices/{id}.xml`: UBL 2.1 / EN 16931 of a numbered invoice (docs/UBL.md):
/// `pending_sync` and `final` alike, since both have their number. A rejected one is refused
/// with `NOT_FINAL`.
pub async fn get_ubl(env: &Env, id: &str) -> Result<Response> {
    let document = match current(env, id).await {
        Ok(document) => document,
        Err(answer) => return answer,
    };
    match invoice_edge_core::ubl::to_ubl(&document) {
        Ok(xml) => {
            let response = Response::ok(xml)?;
            response
                .headers()
                .set("Content-Type", "application/xml; charset=utf-8")?;
            let number = &document.invoice.number;
            response.headers().set(
                "Content-Disposition",
                &format!("attachment; filename=\"{number}.xml\""),
            )?;
            Ok(response)
        }
        Err(error) => http::problem_response(&error.problem()),
    }
}
