//! The static files of `www/` (the demo checkout, `widget.js`, `widget.mjs`, `verify.js` and the
//! browser module in `pkg/`), served from the `ASSETS` binding of wrangler.toml's `[assets]`.
//!
//! `run_worker_first = true` sends every request through the worker, so the API routes keep
//! priority and a path that is neither a route nor a file gets the API's problem+json 404. The
//! files are readable from any origin: merchants load the widget and its wasm from their own
//! pages, and module scripts and `fetch` need CORS for that.

use invoice_edge_core::Code;
use worker::{Env, Headers, Request, Response, Result};

use crate::http;

pub const ASSETS: &str = "ASSETS";

pub async fn get(req: Request, env: &Env) -> Result<Response> {
    let path = req.path();
    let Ok(assets) = env.assets(ASSETS) else {
        return http::problem(Code::NotFound, &format!("no route for {path}"));
    };
    let response = assets.fetch_request(req).await?;
    if response.status_code() == 404 {
        return http::problem(Code::NotFound, &format!("no route for {path}"));
    }
    // A fetched response's headers are immutable: copy them into a new response.
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        headers.set(&name, &value)?;
    }
    headers.set("Access-Control-Allow-Origin", "*")?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    let status = response.status_code();
    let (_, body) = response.into_parts();
    Ok(Response::from_body(body)?
        .with_status(status)
        .with_headers(headers))
}
