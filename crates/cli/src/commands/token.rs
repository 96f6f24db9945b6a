//! `token`: mint a checkout token for one order from a cart on stdin. A merchant with several
//! series must name one in every token (docs/ARCHITECTURE.md, "Series"), so a retried checkout can never
//! land in another series: `--series` is required then.

use invoice_edge_core::token::{self, Cart, CheckoutClaims, MAX_LIFETIME_SECONDS};
use invoice_edge_core::{compute_invoice, parse_request, Payment, Problem};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::Path;

use crate::io;
use crate::Failure;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CartInput {
    currency: String,
    #[serde(default)]
    prices_include_tax: bool,
    lines: Vec<Value>,
}

pub fn run(merchant: &Path, order: &str, series: Option<&str>, ttl: &str) -> Result<(), Failure> {
    let merchant = io::read_merchant(merchant)?;
    let ttl = token::parse_ttl(ttl)
        .filter(|t| *t <= MAX_LIFETIME_SECONDS)
        .ok_or_else(|| Failure::Usage(format!("--ttl {ttl}: give 1s to 24h, e.g. 15m")))?;
    if series.is_none() && merchant.series.len() > 1 {
        let names: Vec<&str> = merchant.series.iter().map(|s| s.name.as_str()).collect();
        return Err(Failure::Usage(format!(
            "merchant {} has several series: name one with --series ({})",
            merchant.id,
            names.join(", ")
        )));
    }
    // An unknown or retired series fails here, not when the buyer asks for the invoice.
    merchant
        .resolve_series(series)
        .map_err(|error| io::reject(&Problem::from_errors(vec![error])))?;
    let cart: CartInput = serde_json::from_slice(&io::read_stdin()?).map_err(|e| {
        eprintln!("the cart must be {{currency, prices_include_tax, lines}}: {e}");
        Failure::Invalid
    })?;
    let now = io::now_millis() / 1000;
    let claims = CheckoutClaims {
        merchant: merchant.id.clone(),
        order_id: order.to_string(),
        series: series.map(str::to_string),
        currency: cart.currency,
        cart: Cart {
            prices_include_tax: cart.prices_include_tax,
            lines: cart.lines,
        },
        iat: now,
        exp: now + ttl,
        nbf: None,
    };
    // Check the cart as the edge will, with the request it will assemble from this token (no
    // buyer yet: the buyer adds one at checkout), so a bad cart fails here and not in the
    // buyer's browser.
    token::invoice_request(&claims, &Value::Object(Map::new()))
        .and_then(|request| parse_request(&request).map_err(Problem::from_errors))
        .and_then(|request| {
            compute_invoice(request, Some(merchant.seller_rules()), Payment::FullyPaid)
                .map_err(Problem::from_errors)
        })
        .map_err(|problem| io::reject(&problem))?;
    let secret = merchant
        .token_secrets
        .first()
        .ok_or_else(|| Failure::Usage("the merchant has no token secret".into()))?;
    println!("{}", token::mint(&claims, &secret.secret));
    Ok(())
}
