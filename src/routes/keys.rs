//! `GET /.well-known/jwks.json`: the public keys that verify every invoice offline.

use worker::{Env, Response, Result};

pub async fn jwks(env: &Env) -> Result<Response> {
    let response = crate::http::json(200, &crate::config::jwks(env).await)?;
    // Keys change by a deployment or an archive update; let clients cache them briefly.
    response
        .headers()
        .set("Cache-Control", "public, max-age=300")?;
    crate::http::allow_any_origin(response)
}
