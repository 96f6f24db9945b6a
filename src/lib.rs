//! The invoice-edge worker: thin glue between workerd and the core.
//!
//! Each request is routed here and answered by a handler in `routes/`. Handlers call into
//! `invoice-edge-core` for every rule; this crate only speaks HTTP, KV, Durable Objects and
//! Queues.

use worker::{event, Context, Env, Method, Request, Response, Result};

mod http;
mod routes;

use invoice_edge_core::Code;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method();
    match (segments.as_slice(), method) {
        (["v1", "health"], Method::Get | Method::Head) => routes::health::get(&env),
        (["v1", "health"], _) => http::method_not_allowed(&["GET", "HEAD"]),
        _ => http::problem(Code::NotFound, &format!("no route for {path}")),
    }
}
