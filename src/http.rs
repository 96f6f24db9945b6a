//! Response builders shared by every route: JSON bodies and problem+json errors.

use invoice_edge_core::problem::PROBLEM_CONTENT_TYPE;
use invoice_edge_core::{Code, Problem};
use serde::Serialize;
use wasm_bindgen::JsValue;
use worker::{Headers, Method, Request, Response, Result};

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// The challenge of every 401 the edge answers. RFC 9110 section 15.5.2: a 401 carries
/// `WWW-Authenticate` with at least one challenge; the API key is a bearer credential
/// (RFC 6750 section 3), and a wrong one is `invalid_token`. A checkout token has no scheme of
/// its own: its 401s name the same realm.
pub const REALM: &str = "invoice-edge";

fn challenge(code: Code) -> String {
    match code {
        Code::ApiKeyInvalid => format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
        _ => format!("Bearer realm=\"{REALM}\""),
    }
}

/// An RFC 9457 problem response: status, code and body all come from the core's catalogue.
/// Every 401 goes through here, so every 401 carries its challenge.
pub fn problem_response(problem: &Problem) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", PROBLEM_CONTENT_TYPE)?;
    if problem.status == 401 {
        headers.set("WWW-Authenticate", &challenge(problem.code))?;
    }
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

/// The largest request body the edge reads (docs/ARCHITECTURE.md, "Limits").
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

/// The headers of a capability URL's answer: `GET /v1/invoices/{id}` (and its `.xml`) and the
/// page `/v/{id}` return the buyer's name and tax ID to whoever holds the link
/// (docs/SECURITY.md, "Public invoice links"). So no shared cache keeps a copy (`private`;
/// `no-store` also because the status changes from pending to final), the link does not leave
/// in a `Referer` when the page links elsewhere, and search engines that come across a link do
/// not index it.
pub fn capability_url_headers(headers: &Headers) -> Result<()> {
    headers.set("Cache-Control", "private, no-store")?;
    headers.set("Referrer-Policy", "no-referrer")?;
    headers.set("X-Robots-Tag", "noindex")?;
    Ok(())
}

/// `response` with `capability_url_headers`.
pub fn capability_url(response: Response) -> Result<Response> {
    capability_url_headers(response.headers())?;
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

// The request's URL, read from its text. `worker::Request::url()` parses a `url::Url`, which
// pulls the `url` crate and its IDNA mapping tables into the worker (about 20 KB gzip, most of
// the size budget's margin: docs/PERFORMANCE.md, "size"). workerd hands the worker an absolute,
// already normalized URL, so its parts are found by position.

/// The query parameter `name`, percent-decoded (`application/x-www-form-urlencoded`).
pub fn query_param(req: &worker::Request, name: &str) -> Option<String> {
    query_param_of(&req.inner().url(), name)
}

/// The request's origin, `scheme://host[:port]` (RFC 6454), as a page links to itself.
pub fn request_origin(req: &worker::Request) -> Option<String> {
    origin_of(&req.inner().url())
}

/// The request's host without the port: `example.com`, `127.0.0.1`, `[::1]`.
pub fn request_host(req: &worker::Request) -> Option<String> {
    host_of(&req.inner().url())
}

fn query_param_of(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The authority of an absolute URL (`host[:port]`), without any user information.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    Some(
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host),
    )
}

fn origin_of(url: &str) -> Option<String> {
    let scheme = url.split_once("://")?.0.to_ascii_lowercase();
    Some(format!(
        "{scheme}://{}",
        authority(url)?.to_ascii_lowercase()
    ))
}

fn host_of(url: &str) -> Option<String> {
    let authority = authority(url)?.to_ascii_lowercase();
    match authority.strip_prefix('[') {
        // An IPv6 literal keeps its brackets; its colons are not a port.
        Some(rest) => Some(format!("[{}]", rest.split_once(']')?.0)),
        None => Some(
            authority
                .split_once(':')
                .map_or(authority.as_str(), |(host, _)| host)
                .to_string(),
        ),
    }
}

/// An outgoing request (to a Durable Object or the origin), built with web-sys. Not with
/// `worker::RequestInit`: its conversion serializes the `cf` options through
/// serde_wasm_bindgen whether or not they are set, which compiles every image-resizing option
/// into the worker (docs/PERFORMANCE.md, "Size"). We set no `cf` option; redirects are
/// followed, as with `RequestInit`'s default.
pub fn outgoing_request(
    url: &str,
    method: Method,
    headers: Option<&Headers>,
    body: Option<JsValue>,
) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_ref());
    if let Some(headers) = headers {
        init.set_headers(headers.as_ref());
    }
    if let Some(body) = body {
        init.set_body(&body);
    }
    Ok(Request::from(web_sys::Request::new_with_str_and_init(
        url, &init,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_match_what_the_url_crate_would_give() {
        let url = "https://Shop.Example:8443/v1/invoices?x=1&merchant=d%C3%A9mo+shop#frag";
        assert_eq!(
            query_param_of(url, "merchant").as_deref(),
            Some("démo shop")
        );
        assert_eq!(query_param_of(url, "x").as_deref(), Some("1"));
        assert_eq!(query_param_of(url, "frag"), None);
        assert_eq!(query_param_of("http://a/b", "merchant"), None);
        assert_eq!(origin_of(url).as_deref(), Some("https://shop.example:8443"));
        assert_eq!(host_of(url).as_deref(), Some("shop.example"));
        assert_eq!(
            host_of("http://127.0.0.1:8787/v1/demo/token").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host_of("http://[::1]:8787/").as_deref(), Some("[::1]"));
        assert_eq!(host_of("http://localhost").as_deref(), Some("localhost"));
        // User information never passes for the host.
        assert_eq!(
            host_of("http://localhost@evil.example/").as_deref(),
            Some("evil.example")
        );
        assert_eq!(host_of("not a url"), None);
    }
}
