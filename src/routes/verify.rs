//! `POST /v1/verify`: 200 `{valid, code, detail}` for any document; 4xx only for input that is
//! not JSON at all.

use invoice_edge_core::document::verify;
use invoice_edge_core::Code;
use worker::{Env, Request, Response, Result};

use crate::http;

pub async fn post(mut req: Request, env: &Env) -> Result<Response> {
    let body = match http::json_body(&mut req).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return http::problem(Code::MalformedJson, "the body is not valid JSON");
    };
    http::json(200, &verify(&document, &crate::config::jwks(env)))
}
