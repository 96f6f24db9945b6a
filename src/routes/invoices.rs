//! `POST /v1/invoices` (issue) and `GET /v1/invoices/{id}` (the current document).
//!
//! Issuance follows DESIGN.md, "Edge issuance path": authenticate, compute and sign with the
//! core, claim the order in its Durable Object, record in KV before telling anyone, then try
//! the origin within its deadline, and otherwise leave the invoice pending for delivery.

use invoice_edge_core::document::{
    is_uuid, issue_from_value, uuid_v7, Channel, Document, IssueContext, SignedInvoice,
};
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::token::{self, CheckoutClaims};
use invoice_edge_core::{Code, FieldError, Payment, Problem};
use serde_json::{json, Value};
use worker::{Env, Request, Response, Result};

use crate::claims::{self, ClaimOutcome, ClaimRequest};
use crate::config::{self, EdgeConfig};
use crate::delivery;
use crate::http;
use crate::merchants;
use crate::origin::{self, OriginOutcome};
use crate::ratelimit;
use crate::store::{self, Marker};

/// How long a new invoice waits before the reconciliation first re-enqueues it: the queue is
/// the fast path, so the cron only steps in for what it lost. `RECONCILE_GRACE_MS` overrides it
/// (the tests set 0 so one cron run picks up what they just issued).
pub const FIRST_RECONCILE_DELAY_MS: u64 = 60_000;

/// How the caller proved who it is.
enum Caller {
    ApiKey,
    Token(CheckoutClaims),
}

pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// A browser origin that may read this merchant's answers: one of its listed origins (DESIGN.md,
/// "CORS"). Only checkout-token calls come from browsers; API keys are server-to-server.
fn listed_origin(req: &Request, merchant: &MerchantConfig) -> Option<String> {
    req.headers()
        .get("Origin")
        .ok()
        .flatten()
        .filter(|origin| merchant.allowed_origins.contains(origin))
}

/// The merchant and how it authenticated, or the problem to answer with the browser origin that
/// may read it (so the widget can show why a token was refused).
async fn authenticate(
    req: &Request,
    env: &Env,
    now_ms: u64,
) -> std::result::Result<(MerchantConfig, Caller), (Option<String>, Result<Response>)> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if let Some(token_text) = header("Checkout-Token") {
        let url = req.url().map_err(|e| (None, Err(e)))?;
        let Some(merchant_id) = url
            .query_pairs()
            .find(|(k, _)| k == "merchant")
            .map(|(_, v)| v.into_owned())
        else {
            return Err((
                None,
                http::problem(
                    Code::MissingField,
                    "a Checkout-Token is used with ?merchant=<id>",
                ),
            ));
        };
        let merchant = match merchants::load(env, &merchant_id).await {
            Ok(Some(merchant)) => merchant,
            Ok(None) => {
                return Err((
                    None,
                    http::problem(Code::UnknownMerchant, "no such merchant"),
                ))
            }
            Err(_) => {
                return Err((
                    None,
                    http::problem(
                        Code::StorageUnavailable,
                        "merchant configuration unavailable; nothing was issued",
                    ),
                ))
            }
        };
        let cors = listed_origin(req, &merchant);
        let mismatch = || {
            http::problem(
                Code::TokenMerchantMismatch,
                "the checkout token was minted for another merchant",
            )
        };
        if token::unverified_merchant(&token_text).is_some_and(|claimed| claimed != merchant_id) {
            return Err((cors, mismatch()));
        }
        let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        return match token::verify(&token_text, &merchant.live_token_secrets(now_s), now_s) {
            Ok(claims) if claims.merchant != merchant.id => Err((cors, mismatch())),
            Ok(claims) => Ok((merchant, Caller::Token(claims))),
            Err(error) => Err((cors, http::problem(error.code(), error.detail()))),
        };
    }
    let Some(api_key) = header("Authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(|k| k.trim().to_string()))
    else {
        return Err((
            None,
            http::problem(
                Code::Unauthenticated,
                "send Authorization: Bearer <api key>, or a Checkout-Token with ?merchant=",
            ),
        ));
    };
    match merchants::by_api_key(env, &api_key).await {
        Ok(Some(merchant)) => Ok((merchant, Caller::ApiKey)),
        Ok(None) => Err((
            None,
            http::problem(Code::ApiKeyInvalid, "the API key is not valid"),
        )),
        Err(_) => Err((
            None,
            http::problem(
                Code::StorageUnavailable,
                "merchant configuration unavailable; nothing was issued",
            ),
        )),
    }
}

/// With a checkout token the cart comes from the token and the body holds only `buyer`.
fn request_from_token(
    claims: &CheckoutClaims,
    body: &Value,
) -> std::result::Result<Value, Problem> {
    let Value::Object(fields) = body else {
        return Err(Problem::single(
            Code::WrongType,
            "the body must be an object {\"buyer\": {...}}",
        ));
    };
    let unknown: Vec<FieldError> = fields
        .keys()
        .filter(|key| key.as_str() != "buyer")
        .map(|key| {
            FieldError::new(
                format!("/{key}"),
                Code::UnknownField,
                "with a checkout token the cart comes from the token; the body holds only buyer",
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(Problem::from_errors(unknown));
    }
    let mut request = json!({
        "currency": claims.currency,
        "order_id": claims.order_id,
        "prices_include_tax": claims.cart.prices_include_tax,
        "lines": claims.cart.lines,
    });
    if let Some(series) = &claims.series {
        request["series"] = json!(series);
    }
    if let Some(buyer) = fields.get("buyer") {
        request["buyer"] = buyer.clone();
    }
    Ok(request)
}

fn document_response(status: u16, document: &Document, replayed: bool) -> Result<Response> {
    let response = http::json(status, document)?;
    response
        .headers()
        .set("Location", &format!("/v1/invoices/{}", document.invoice.id))?;
    if replayed {
        response.headers().set("Idempotent-Replayed", "true")?;
    }
    Ok(response)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // crypto.getRandomValues in workerd; it does not fail for 10 bytes.
    let _ = getrandom::getrandom(&mut bytes);
    bytes
}

/// 429 `RATE_LIMITED` with `Retry-After` (docs/SECURITY.md, "Rate limits").
fn rate_limited(who: &str, retry_after_ms: u64) -> Result<Response> {
    http::problem_retry_after(
        Code::RateLimited,
        &format!("too many issuance requests for {who}; retry after Retry-After seconds"),
        retry_after_ms,
    )
}

pub async fn issue(mut req: Request, env: Env, edge_node: String) -> Result<Response> {
    let now = now_ms();
    let ip = ratelimit::client_ip(&req);
    let (merchant, caller) = match authenticate(&req, &env, now).await {
        Ok(found) => found,
        Err((cors, response)) => {
            // A failed attempt counts against the client IP: keys and tokens cannot be guessed fast.
            let response = match ratelimit::over_limit(&env, ratelimit::IP_LIMITER, &ip).await {
                Some(retry_after_ms) => rate_limited("this client", retry_after_ms),
                None => response,
            };
            return match (response, cors) {
                (Ok(response), Some(origin)) => http::allow_origin(response, &origin),
                (response, _) => response,
            };
        }
    };
    // A browser on one of the merchant's listed origins may read the answer (DESIGN.md, CORS).
    let cors_origin = match caller {
        Caller::Token(_) => listed_origin(&req, &merchant),
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
    let response = issue_for(&mut req, &env, edge_node, now, &merchant, caller).await;
    match (response, cors_origin) {
        (Ok(response), Some(origin)) => http::allow_origin(response, &origin),
        (response, _) => response,
    }
}

async fn issue_for(
    req: &mut Request,
    env: &Env,
    edge_node: String,
    now: u64,
    merchant: &MerchantConfig,
    caller: Caller,
) -> Result<Response> {
    let body = match http::json_body(req).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    // UTF-8, nesting depth and syntax, each with its own code (DESIGN.md, "Limits").
    let value = match invoice_edge_core::json_reader::parse_json(&body) {
        Ok(value) => value,
        Err(error) => return http::problem_response(&Problem::from_errors(vec![error])),
    };
    let (value, payment) = match &caller {
        Caller::ApiKey => (value, Payment::AsRequested),
        Caller::Token(claims) => match request_from_token(claims, &value) {
            Ok(request) => (request, Payment::FullyPaid),
            Err(problem) => return http::problem_response(&problem),
        },
    };
    let Some(key) = config::signing_key(env) else {
        return http::problem(
            Code::Misconfigured,
            "EDGE_SIGNING_KEY is missing or not an Ed25519 JWK",
        );
    };
    let context = IssueContext {
        id: uuid_v7(now, random_bytes::<10>()),
        issued_at_ms: i64::try_from(now).unwrap_or(i64::MAX),
        edge_node,
        key: &key,
        channel: match caller {
            Caller::ApiKey => Channel::ApiKey,
            Caller::Token(_) => Channel::CheckoutToken,
        },
        // Version 1: the origin numbers the invoice (edge numbering part 2 replaces this path).
        position: None,
    };
    let issued = match issue_from_value(&value, merchant, payment, &context) {
        Ok(issued) => issued,
        // A token's cart that breaks a rule is the merchant's error, not the buyer's.
        Err(problem) if matches!(caller, Caller::Token(_)) => {
            return http::problem_response(&token::cart_problem(problem))
        }
        Err(problem) => return http::problem_response(&problem),
    };
    let order_id = issued.signed.invoice.order_id.clone();
    let signed_json = serde_json::to_string(&issued.signed)?;

    // Claim the order: at most one invoice per (merchant, order_id), whatever the retries.
    let claim_request = ClaimRequest {
        fingerprint: issued.fingerprint,
        invoice_id: issued.signed.invoice.id.clone(),
        signed: signed_json,
        now_ms: now,
    };
    let outcome = match claims::claim(env, &merchant.id, &order_id, &claim_request).await {
        Ok(outcome) => outcome,
        Err(_) => {
            return http::problem(
                Code::StorageUnavailable,
                "the idempotency claim could not be made; nothing was issued",
            )
        }
    };
    let kv = store::invoices(env)?;
    let signed: SignedInvoice = match outcome {
        ClaimOutcome::Proceed { signed } => serde_json::from_str(&signed)?,
        ClaimOutcome::Conflict { invoice_id } => {
            let response = http::problem(Code::OrderAlreadyInvoiced, &format!("order {order_id} was already invoiced by a different request: /v1/invoices/{invoice_id}"))?;
            response.headers().set(
                "Link",
                &format!("</v1/invoices/{invoice_id}>; rel=\"existing\""),
            )?;
            return Ok(response);
        }
        ClaimOutcome::InProgress { retry_after_ms } => {
            return http::problem_retry_after(
                Code::IdempotencyInProgress,
                "this order's invoice is being issued right now; retry shortly",
                retry_after_ms,
            );
        }
        ClaimOutcome::Replay { invoice_id, status } => {
            return match store::read_document(&kv, &invoice_id).await {
                Ok(Some(document)) => document_response(status, &document, true),
                _ => http::problem(
                    Code::StorageUnavailable,
                    "the invoice exists but could not be read; retry shortly",
                ),
            };
        }
    };
    let id = signed.invoice.id.clone();

    // Record before telling anyone: if this fails, nothing was issued and the origin never saw it.
    let config = EdgeConfig::from_env(env);
    let marker = Marker {
        merchant: merchant.id.clone(),
        attempts: 0,
        next_attempt_at: now + config.reconcile_grace_ms,
        written_at: now,
    };
    if store::record_issued(&kv, &signed, &marker).await.is_err() {
        return http::problem(
            Code::StorageUnavailable,
            "the invoice could not be stored; nothing was issued",
        );
    }

    let outcome = match &config.origin_url {
        Some(url) if crate::circuit::allow(config.breaker, now) => {
            let outcome = origin::put_invoice(
                url,
                config.origin_token.as_deref(),
                &id,
                serde_json::to_string(&signed)?,
                config.origin_timeout_ms,
            )
            .await;
            crate::circuit::record(
                config.breaker,
                now_ms(),
                !matches!(outcome, OriginOutcome::Retryable(_)),
            );
            outcome
        }
        Some(_) => OriginOutcome::Retryable("the origin circuit is open".into()),
        None => OriginOutcome::Retryable("no ORIGIN_URL configured".into()),
    };
    let document = match outcome {
        OriginOutcome::Final(final_) => {
            // If this write fails, answer final anyway: the origin is idempotent, and the
            // reconciliation re-delivers the still-present marker and repairs KV.
            let _ = store::write_final(&kv, &id, &final_).await;
            Document::new(signed, Some(final_), None)
        }
        OriginOutcome::Rejected(rejection) => {
            let _ = store::write_rejected(&kv, &id, &merchant.id, &rejection).await;
            Document::new(signed, None, Some(rejection))
        }
        OriginOutcome::Retryable(reason) => {
            worker::console_log!("invoice {id} pending: {reason}");
            // Ids only: a queue message holds at most 128 KB. If the send fails, the marker
            // still stands and the reconciliation enqueues it.
            let _ = delivery::enqueue(env, std::slice::from_ref(&id)).await;
            Document::new(signed, None, None)
        }
    };
    let _ = claims::complete(env, &merchant.id, &order_id, 201).await;
    document_response(201, &document, false)
}

/// `GET /v1/invoices/{id}`: public by id (a UUIDv7 has 74 random bits, and the QR code must work
/// without a login).
pub async fn get(env: &Env, id: &str) -> Result<Response> {
    if !is_uuid(id) {
        return http::problem(Code::NotFound, "no such invoice");
    }
    let kv = store::invoices(env)?;
    match store::read_document(&kv, id).await {
        Ok(Some(document)) => http::json(200, &document),
        Ok(None) => http::problem(Code::NotFound, "no such invoice"),
        Err(_) => http::problem(
            Code::StorageUnavailable,
            "the invoice could not be read; retry shortly",
        ),
    }
}

/// `GET /v1/invoices/{id}.xml`: UBL 2.1 / EN 16931 of a final invoice (docs/UBL.md). A pending
/// or rejected invoice has no official number yet and is refused with `NOT_FINAL`.
pub async fn get_ubl(env: &Env, id: &str) -> Result<Response> {
    if !is_uuid(id) {
        return http::problem(Code::NotFound, "no such invoice");
    }
    let kv = store::invoices(env)?;
    let document = match store::read_document(&kv, id).await {
        Ok(Some(document)) => document,
        Ok(None) => return http::problem(Code::NotFound, "no such invoice"),
        Err(_) => {
            return http::problem(
                Code::StorageUnavailable,
                "the invoice could not be read; retry shortly",
            )
        }
    };
    match invoice_edge_core::ubl::to_ubl(&document) {
        Ok(xml) => {
            let response = Response::ok(xml)?;
            response
                .headers()
                .set("Content-Type", "application/xml; charset=utf-8")?;
            let number = document.final_.as_ref().map_or(id, |f| f.number.as_str());
            response.headers().set(
                "Content-Disposition",
                &format!("attachment; filename=\"{number}.xml\""),
            )?;
            Ok(response)
        }
        Err(error) => http::problem_response(&error.problem()),
    }
}
