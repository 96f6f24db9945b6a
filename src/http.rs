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

/// The largest request body the edge reads (DESIGN.md, "Limits").
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A problem response with `Retry-After` in whole seconds (RFC 9110 section 10.2.3).
pub fn problem_retry_after(code: Code, detail: &str, retry_after_ms: u64) -> Result<Response> {
    let response = problem(code, detail)?;
    response.headers().set(
        "Retry-After",
        &retry_after_ms.div_ceil(1000).max(1).to_string(),
    )?;
    Ok(response)
}

/// Public read routes and static assets may be read from any origin, without credentials.
pub fn allow_any_origin(response: Response) -> Result<Response> {
    response.headers().set("Access-Control-Allow-Origin", "*")?;
    Ok(response)
}

/// A response readable by exactly this origin (a merchant's listed one).
pub fn allow_origin(response: Response, origin: &str) -> Result<Response> {
    response
        .headers()
        .set("Access-Control-Allow-Origin", origin)?;
    response.headers().append("Vary", "Origin")?;
    Ok(response)
}

/// The body of a JSON request, or the problem to answer: 415 for another content type and 413
/// for a body over the limit, checked on `Content-Length` before reading when it is given.
pub async fn json_body(
    req: &mut worker::Request,
) -> std::result::Result<Vec<u8>, Result<Response>> {
    let content_type = req
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media_type != "application/json" {
        return Err(problem(
            Code::UnsupportedMediaType,
            "send the body as application/json",
        ));
    }
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(problem(Code::BodyTooLarge, "the body is over 256 KiB"));
    }
    // Without a Content-Length (a chunked body) read the stream and stop past the limit, so
    // a client cannot make the edge buffer more than 256 KiB.
    let body = match declared {
        Some(_) => req.bytes().await.ok(),
        None => read_capped(req).await,
    };
    let Some(body) = body else {
        return Err(problem(Code::MalformedJson, "the body could not be read"));
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(problem(Code::BodyTooLarge, "the body is over 256 KiB"));
    }
    Ok(body)
}

/// The body, read chunk by chunk and cut off one chunk past `MAX_BODY_BYTES` (the caller then
/// answers 413); `None` if the stream fails.
async fn read_capped(req: &mut worker::Request) -> Option<Vec<u8>> {
    use futures_util::StreamExt;
    let mut stream = match req.stream() {
        Ok(stream) => stream,
        // No body at all.
        Err(_) => return Some(Vec::new()),
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.ok()?);
        if body.len() > MAX_BODY_BYTES {
            break;
        }
    }
    Some(body)
}
