//! Response builders shared by every route: JSON bodies and problem+json errors.

use invoice_edge_core::problem::PROBLEM_CONTENT_TYPE;
use invoice_edge_core::{Code, Problem};
use serde::Serialize;
use worker::{Headers, Response, Result};

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// An RFC 9457 problem response: status, code and body all come from the core's catalogue.
pub fn problem_response(problem: &Problem) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", PROBLEM_CONTENT_TYPE)?;
    Ok(Response::ok(problem.to_json())?
        .with_status(problem.status)
        .with_headers(headers))
}

/// A problem response with a single error at the document root.
pub fn problem(code: Code, detail: &str) -> Result<Response> {
    problem_response(&Problem::single(code, detail))
}

/// 405 with the `Allow` header that RFC 9110 section 15.5.6 requires.
pub fn method_not_allowed(allowed: &[&str]) -> Result<Response> {
    let allow = allowed.join(", ");
    let response = problem(
        Code::MethodNotAllowed,
        &format!("this route accepts {allow}"),
    )?;
    response.headers().set("Allow", &allow)?;
    Ok(response)
}
