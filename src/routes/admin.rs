//! Admin routes for a merchant's backend (API key; no cross-origin use):
//! `GET /v1/admin/pending` lists its pending and rejected invoices, `POST /v1/admin/sync`
//! reconciles now.

use serde::Serialize;
use worker::{Env, Request, Response, Result};

use crate::http;
use crate::merchants;
use crate::store::{self, Marker, RejectedMeta, PENDING_PREFIX};
use invoice_edge_core::Code;

/// Listed per answer; the merchant pages with `?cursor=` (not yet: see README, "Not done").
const MAX_LISTED: usize = 1000;

async fn merchant_id(req: &Request, env: &Env) -> std::result::Result<String, Result<Response>> {
    let api_key = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .and_then(|v| v.strip_prefix("Bearer ").map(|k| k.trim().to_string()));
    let Some(api_key) = api_key else {
        return Err(http::problem(
            Code::Unauthenticated,
            "send Authorization: Bearer <api key>",
        ));
    };
    match merchants::by_api_key(env, &api_key).await {
        Ok(Some(merchant)) => Ok(merchant.id),
        Ok(None) => Err(http::problem(
            Code::ApiKeyInvalid,
            "the API key is not valid",
        )),
        Err(_) => Err(http::problem(
            Code::StorageUnavailable,
            "merchant configuration unavailable",
        )),
    }
}

#[derive(Serialize)]
struct PendingEntry {
    id: String,
    attempts: u32,
    next_attempt_at: u64,
}

#[derive(Serialize)]
struct RejectedEntry {
    id: String,
    rejection: Option<invoice_edge_core::document::Rejection>,
}

#[derive(Serialize)]
struct PendingList {
    pending: Vec<PendingEntry>,
    rejected: Vec<RejectedEntry>,
}

pub async fn pending(req: Request, env: &Env) -> Result<Response> {
    let merchant = match merchant_id(&req, env).await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let kv = store::invoices(env)?;
    let markers = store::list_pending_page(&kv, None).await?;
    let pending = markers
        .keys
        .into_iter()
        .filter_map(|key| {
            let marker: Marker = serde_json::from_value(key.metadata?).ok()?;
            (marker.merchant == merchant).then(|| PendingEntry {
                id: key.name.trim_start_matches(PENDING_PREFIX).to_string(),
                attempts: marker.attempts,
                next_attempt_at: marker.next_attempt_at,
            })
        })
        .take(MAX_LISTED)
        .collect();
    let rejected_keys = kv
        .list()
        .prefix("rejected:".to_string())
        .limit(1000)
        .execute()
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut rejected = Vec::new();
    for key in rejected_keys.keys {
        let owner: Option<RejectedMeta> = key.metadata.and_then(|m| serde_json::from_value(m).ok());
        if owner.is_some_and(|o| o.merchant == merchant) && rejected.len() < MAX_LISTED {
            let rejection = kv.get(&key.name).json().await.ok().flatten();
            rejected.push(RejectedEntry {
                id: key.name.trim_start_matches("rejected:").to_string(),
                rejection,
            });
        }
    }
    http::json(200, &PendingList { pending, rejected })
}

pub async fn sync(req: Request, env: &Env) -> Result<Response> {
    if let Err(response) = merchant_id(&req, env).await {
        return response;
    }
    let report = crate::delivery::reconcile(env).await?;
    http::json(200, &report)
}
