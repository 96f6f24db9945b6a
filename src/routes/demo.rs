//! `POST /v1/demo/token` (`DEMO_MODE=true`, local dev only): a checkout token for a demo cart of
//! the `demo` merchant, answered only to requests addressed to localhost.

use invoice_edge_core::token::{self, Cart, CheckoutClaims};
use invoice_edge_core::Code;
use serde_json::json;
use worker::{Env, Request, Response, Result};

use crate::http;

/// A demo token lives 15 minutes, like a real checkout session.
const DEMO_TOKEN_TTL_S: i64 = 15 * 60;

pub async fn token(req: Request, env: &Env) -> Result<Response> {
    let host = crate::http::request_host(&req).unwrap_or_default();
    if !matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
        return http::problem(
            Code::ForbiddenHost,
            "the demo token route answers only on localhost",
        );
    }
    let Some(merchant) = crate::merchants::load(env, "demo").await? else {
        return http::problem(
            Code::UnknownMerchant,
            "no demo merchant is configured (make dev seeds it)",
        );
    };
    let Some(secret) = merchant.token_secrets.first() else {
        return http::problem(Code::Misconfigured, "the demo merchant has no token secret");
    };
    let now = i64::try_from(crate::routes::invoices::now_ms() / 1000).unwrap_or(0);
    let Some(suffix) = crate::clock::random_bytes::<6>() else {
        return http::problem(
            Code::StorageUnavailable,
            "no randomness for an order id; retry",
        );
    };
    let order_id = format!("DEMO-{}", hex::encode(suffix));
    let claims = CheckoutClaims {
        merchant: merchant.id.clone(),
        order_id: order_id.clone(),
        // The demo merchant has one series (make dev); with several, the token must name one.
        series: merchant
            .default_series()
            .filter(|_| merchant.series.len() > 1)
            .map(|s| s.name.clone()),
        currency: "CNY".into(),
        cart: Cart {
            prices_include_tax: true,
            lines: vec![
                json!({"description": "龙井茶 Longjing tea 250 g", "quantity": "2", "unit_code": "H87", "unit_price": "68.00", "tax_category": "S", "tax_rate": "9"}),
                json!({"description": "茶具 Tea cup set", "quantity": "1", "unit_code": "H87", "unit_price": "129.00", "tax_category": "S", "tax_rate": "13"}),
                json!({"description": "配送 Delivery", "quantity": "1", "unit_code": "H87", "unit_price": "12.00", "tax_category": "S", "tax_rate": "6"}),
            ],
        },
        iat: now,
        exp: now + DEMO_TOKEN_TTL_S,
        nbf: None,
    };
    http::json(
        200,
        &json!({"token": token::mint(&claims, &secret.secret), "order_id": order_id}),
    )
}
