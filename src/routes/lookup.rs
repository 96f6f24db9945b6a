//! `GET /v1/invoices?order_id=…&series=…`: the current document of one of the caller's orders,
//! for the merchant's backend (API key only, no CORS: docs/ARCHITECTURE.md, "HTTP surface of
//! the edge"). One call to the series' object, which owns the order index ("Storage records"),
//! so the answer is that object's own record rather than KV's eventually consistent copy: an
//! invoice issued a moment ago is found at once, from any location.
//!
//! The object is per merchant and series, and the merchant comes from the API key, so another
//! merchant's order is never visible: it is simply not in this merchant's objects.

use invoice_edge_core::request::{is_valid_order_id, ORDER_ID_RULE};
use invoice_edge_core::{Code, FieldError, Problem};
use worker::{Env, Request, Response, Result};

use crate::http;
use crate::series::client;

/// Query parameters have no place in a JSON pointer: their problems point at the whole request
/// (`""`, as the catalogue's header problems do) and the detail names the parameter.
fn parameter_problem(name: &str, code: Code, detail: &str) -> FieldError {
    FieldError::new("", code, format!("query parameter {name}: {detail}"))
}

pub async fn get(req: Request, env: &Env) -> Result<Response> {
    let merchant = match super::admin::merchant(&req, env, "invoice lookup").await {
        Ok(merchant) => merchant,
        Err(response) => return response,
    };
    let order_id = http::query_param(&req, "order_id");
    let requested_series = http::query_param(&req, "series");

    // Every problem at once, with the codes issuance uses for the same fields
    // (docs/ARCHITECTURE.md, "The invoice request" and "Series").
    let mut problems = Vec::new();
    match order_id.as_deref() {
        None => problems.push(parameter_problem(
            "order_id",
            Code::MissingField,
            "required: the order whose invoice to find",
        )),
        Some(id) if !is_valid_order_id(id) => problems.push(parameter_problem(
            "order_id",
            Code::InvalidOrderId,
            ORDER_ID_RULE,
        )),
        Some(_) => {}
    }
    // As issuance resolves it: only a merchant with exactly one series may leave it out, and a
    // retired series is still found (its object still holds its invoices).
    let series = match merchant.find_series(requested_series.as_deref()) {
        Ok(series) => Some(series),
        Err(error) => {
            problems.push(parameter_problem("series", error.code, &error.detail));
            None
        }
    };
    let (Some(order_id), Some(series), true) = (order_id, series, problems.is_empty()) else {
        return http::problem_response(&Problem::from_errors(problems));
    };

    let hint = series.location_hint.as_deref();
    match client::lookup(env, &merchant.id, &series.name, hint, &order_id).await {
        Ok(Some(document)) => {
            let response = Response::ok(document)?;
            response.headers().set("Content-Type", "application/json")?;
            Ok(response)
        }
        Ok(None) => http::problem(
            Code::NotFound,
            &format!("series {} has no invoice for order {order_id}", series.name),
        ),
        Err(error) => {
            worker::console_error!("series lookup failed: {error}");
            http::problem_retry_after(
                Code::StorageUnavailable,
                "the series could not be reached; retry shortly",
                1_000,
            )
        }
    }
}
