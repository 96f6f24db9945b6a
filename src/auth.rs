//! Who is calling (docs/ARCHITECTURE.md, "Authentication"): a merchant's backend with an API key
//! (`Authorization: Bearer`), or a browser with a checkout token (`Checkout-Token` and
//! `?merchant=`). One place for the header parsing, with a typed refusal.

use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::token::{self, CheckoutClaims};
use invoice_edge_core::{Code, Problem};
use worker::{Env, Request};

use crate::merchants;

/// How the caller proved who it is.
pub enum Caller {
    ApiKey,
    Token(CheckoutClaims),
}

/// Why a caller is refused, and the browser origin that may read why (so the widget can show
/// a refused token's reason).
pub struct Refused {
    pub problem: Problem,
    pub cors_origin: Option<String>,
}

fn refused(code: Code, detail: &str) -> Refused {
    Refused {
        problem: Problem::single(code, detail),
        cors_origin: None,
    }
}

/// The bearer token of `Authorization`, if any (RFC 6750 section 2.1).
pub fn bearer(req: &Request) -> Option<String> {
    let header = req.headers().get("Authorization").ok().flatten()?;
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// A browser origin that may read this merchant's answers: one of its listed origins (docs/ARCHITECTURE.md,
/// "CORS"). Only checkout-token calls come from browsers; API keys are server-to-server.
pub fn listed_origin(req: &Request, merchant: &MerchantConfig) -> Option<String> {
    req.headers()
        .get("Origin")
        .ok()
        .flatten()
        .filter(|origin| merchant.allowed_origins.contains(origin))
}

/// The merchant of an API key: the admin routes and the bench floor.
pub async fn api_key_merchant(req: &Request, env: &Env) -> Result<MerchantConfig, Refused> {
    let Some(api_key) = bearer(req) else {
        return Err(refused(
            Code::Unauthenticated,
            "send Authorization: Bearer <api key>",
        ));
    };
    match merchants::by_api_key(env, &api_key).await {
        Ok(Some(merchant)) => Ok(merchant),
        Ok(None) => Err(refused(Code::ApiKeyInvalid, "the API key is not valid")),
        Err(_) => Err(refused(
            Code::StorageUnavailable,
            "merchant configuration unavailable; nothing was done",
        )),
    }
}

/// The merchant and how it authenticated, for an issuance.
pub async fn authenticate(
    req: &Request,
    env: &Env,
    now_ms: u64,
) -> Result<(MerchantConfig, Caller), Refused> {
    let Some(token_text) = req.headers().get("Checkout-Token").ok().flatten() else {
        if bearer(req).is_none() {
            return Err(refused(
                Code::Unauthenticated,
                "send Authorization: Bearer <api key>, or a Checkout-Token with ?merchant=",
            ));
        }
        return api_key_merchant(req, env)
            .await
            .map(|merchant| (merchant, Caller::ApiKey));
    };
    let merchant_id = crate::http::query_param(req, "merchant");
    let Some(merchant_id) = merchant_id else {
        return Err(refused(
            Code::MissingField,
            "a Checkout-Token is used with ?merchant=<id>",
        ));
    };
    let merchant = match merchants::load(env, &merchant_id).await {
        Ok(Some(merchant)) => merchant,
        Ok(None) => return Err(refused(Code::UnknownMerchant, "no such merchant")),
        Err(_) => {
            return Err(refused(
                Code::StorageUnavailable,
                "merchant configuration unavailable; nothing was issued",
            ))
        }
    };
    let cors_origin = listed_origin(req, &merchant);
    let with_cors = |code: Code, detail: &str| Refused {
        problem: Problem::single(code, detail),
        cors_origin: cors_origin.clone(),
    };
    let mismatch = "the checkout token was minted for another merchant";
    if token::unverified_merchant(&token_text).is_some_and(|claimed| claimed != merchant_id) {
        return Err(with_cors(Code::TokenMerchantMismatch, mismatch));
    }
    let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
    match token::verify(&token_text, &merchant.live_token_secrets(now_s), now_s) {
        Ok(claims) if claims.merchant != merchant.id => {
            Err(with_cors(Code::TokenMerchantMismatch, mismatch))
        }
        Ok(claims) => Ok((merchant, Caller::Token(claims))),
        Err(error) => Err(with_cors(error.code(), &error.detail())),
    }
}
