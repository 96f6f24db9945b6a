//! `GET /v1/merchants/{id}/checkout`: what the widget needs to know about a merchant before the
//! buyer types anything, and nothing more: the seller's name and country (the buyer's default
//! country, for tax-ID checks) and whether the buyer's address is required. Public, because the
//! checkout token carries only the cart, and the widget runs on the merchant's page.

use serde_json::json;
use worker::{Env, Response, Result};

use crate::{http, merchants};
use invoice_edge_core::Code;

pub async fn get(env: &Env, id: &str) -> Result<Response> {
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
        }),
    )?;
    response
        .headers()
        .set("Cache-Control", "public, max-age=60")?;
    Ok(response)
}
