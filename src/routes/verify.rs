//! `POST /v1/verify`: 200 `{valid, code, detail, invoice_hash, status, unsigned}` for any
//! well-formed document (`unsigned` names the fields no signature covers); 400 for input that
//! is not JSON or not a document.

use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::Code;
use worker::{Env, Request, Response, Result};

use crate::http;

pub async fn post(mut req: Request, env: &Env) -> Result<Response> {
    let body = match http::json_body(&mut req).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let document = match invoice_edge_core::json_reader::parse_json(&body) {
        Ok(document) => document,
        Err(error) => {
            return http::problem_response(&invoice_edge_core::Problem::from_errors(vec![error]))
        }
    };
    let verdict = verify(&document, &crate::config::jwks(env).await);
    // docs/ARCHITECTURE.md: 200 for any well-formed document, 4xx only for malformed input; JSON that is not
    // a document at all is malformed input.
    if verdict.code == VerifyCode::Malformed {
        return http::problem(Code::MalformedDocument, &verdict.detail);
    }
    http::json(200, &verdict)
}
