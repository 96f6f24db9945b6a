//! `POST /v1/invoices/{id}/credit-notes` (issue a credit note against an invoice) and `GET` the
//! same (list them), for the merchant's backend: API key, no CORS (docs/ARCHITECTURE.md,
//! "Credit notes").
//!
//! The edge finds the invoice's series from `inv:{id}`, computes the credit note with the core
//! (`credit::prepare_credit`), and hands it to the invoice's series object through the very
//! path an invoice takes (`invoices::issue_for`): the object checks the cap against the
//! balances it keeps, numbers the credit note as the series' next `seq`, signs and stores it in
//! one synchronous step.

use invoice_edge_core::document::model::Document;
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::Code;
use worker::{Env, Request, Response, Result};

use crate::{http, ratelimit, series};

/// The caller's merchant and the invoice, or the answer to give. Another merchant's invoice is
/// the same 404 as an unknown one: ids are capabilities, and an API key learns nothing about
/// another merchant's documents.
async fn original(
    req: &Request,
    env: &Env,
    id: &str,
) -> std::result::Result<(MerchantConfig, Document), Result<Response>> {
    let merchant = super::admin::merchant(req, env, "credit notes").await?;
    let document = super::invoices::current(env, id).await?;
    if document.invoice.merchant != merchant.id {
        return Err(http::problem(Code::NotFound, "no such invoice"));
    }
    Ok((merchant, document))
}

pub async fn post(mut req: Request, env: &Env, id: &str, edge_node: String) -> Result<Response> {
    let (merchant, document) = match original(&req, env, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    // An issuance like any other: it counts against the merchant's limiter.
    if let Some(ms) = ratelimit::over_limit(env, ratelimit::MERCHANT_LIMITER, &merchant.id).await {
        return ratelimit::rate_limited("issuance", "this merchant", ms);
    }
    // The invoice's own path from here (docs/ARCHITECTURE.md, "Edge issuance path").
    super::invoices::issue_for(
        &mut req,
        env,
        edge_node,
        &merchant,
        crate::auth::Caller::ApiKey,
        Some(&document),
    )
    .await
}

pub async fn list(req: Request, env: &Env, id: &str) -> Result<Response> {
    let (_, document) = match original(&req, env, id).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let invoice = &document.invoice;
    match series::client::credit_notes(env, &invoice.merchant, &invoice.series, id).await {
        Ok(list) => {
            let response = Response::ok(format!("{{\"credit_notes\":{list}}}"))?;
            response.headers().set("Content-Type", "application/json")?;
            Ok(response)
        }
        Err(error) => {
            worker::console_error!("series credit-note list failed: {error}");
            http::problem_retry_after(
                Code::StorageUnavailable,
                "the series could not be reached; retry shortly",
                1_000,
            )
        }
    }
}
