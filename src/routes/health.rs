//! `GET /v1/health`: liveness and version.

use serde::Serialize;
use worker::{Env, Response, Result};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

pub fn get(_env: &Env) -> Result<Response> {
    crate::http::json(
        200,
        &Health {
            status: "ok",
            version: invoice_edge_core::VERSION,
        },
    )
}
