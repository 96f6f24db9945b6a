//! `GET /v1/merchants/{id}/checkout`: what the widget needs to know about a merchant before the
//! buyer types anything, and nothing more: the seller's name and country (the buyer's default
//! country, for tax-ID checks) and whether the buyer's address is required. Public, because the
//! checkout token carries only the cart, and the widget runs on the merchant's page.
//!
//! `origin_allowed` tells the widget at load whether its page may issue at all: a page whose
//! origin the merchant has not listed can load the widget (the static files are for any origin)
//! but its `POST /v1/invoices?merchant=` is refused by CORS (docs/ARCHITECTURE.md, "CORS"), so
//! the widget says so at once instead of failing at submit with a retry that cannot succeed.

use serde_json::json;
use worker::{Env, Request, Response, Result};

use crate::{auth, http, merchants};
use invoice_edge_core::Code;

pub async fn get(req: &Request, env: &Env, id: &str) -> Result<Response> {
    let merchant = match merchants::load(env, id).await {
        Ok(Some(merchant)) => merchant,
        Ok(None) => return http::problem(Code::UnknownMerchant, "no such merchant"),
        Err(_) => {
            return http::problem(
                Code::StorageUnavailable,
                "merchant configuration unavailable; retry shortly",
            )
        }
    };
    let response = http::json(
        200,
        &json!({
            "merchant": merchant.id,
            "seller": {"name": merchant.seller.name, "country": merchant.seller.country},
            "require_buyer_address": merchant.require_buyer_address,
            // The same comparison as issuance's CORS check, so the two cannot disagree; no
            // `Origin` (a same-origin GET, or not a browser) is not a listed origin.
            "origin_allowed": auth::listed_origin(req, &merchant).is_some(),
        }),
    )?;
    let headers = response.headers();
    headers.set("Cache-Control", "public, max-age=60")?;
    // The answer depends on `Origin`: a cache must not hand one page's answer to another's.
    headers.set("Vary", "Origin")?;
    Ok(response)
}
