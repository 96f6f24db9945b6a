//! Checkout tokens: HS256 JWS (RFC 7515/7519) minted by a merchant's backend for one order.
//!
//! The token carries the cart, so the browser can add only the buyer and cannot change a line,
//! a rate or a price (docs/ARCHITECTURE.md, "Authentication").

use crate::json_reader::type_name;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use std::borrow::Cow;

use crate::keys::{b64url, b64url_decode};
use crate::problem::{Code, FieldError, Problem};

/// `exp` is at most 24 h after `iat`.
pub const MAX_LIFETIME_SECONDS: i64 = 24 * 60 * 60;
/// Clocks differ; a token issued up to a minute "in the future" is still accepted.
pub const CLOCK_SKEW_SECONDS: i64 = 60;
/// A token travels in a header; anything longer is not one of ours.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cart {
    /// Absent in a token means `false`, as in a request (docs/ARCHITECTURE.md, "The invoice
    /// request": `prices_include_tax` defaults to `false`).
    pub prices_include_tax: bool,
    /// Request lines, validated by the same parser as any request when the token is used.
    pub lines: Vec<Value>,
}

/// A token's claims. Read by `read_claims` (not serde), so that a refusal names the claim at
/// fault; written by `mint` with serde.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckoutClaims {
    pub merchant: String,
    pub order_id: String,
    /// The numbering series; required when the merchant has several (docs/ARCHITECTURE.md, "Series").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    pub currency: String,
    pub cart: Cart,
    /// Seconds since the Unix epoch.
    pub iat: i64,
    pub exp: i64,
    /// RFC 7519 section 4.1.5 "not before", in seconds, when the minting library set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The registered claims of RFC 7519 section 4.1 that ordinary JWT libraries add on their own
/// (a `jti` per token, a configured `iss`, `aud` or `sub`). None of them says anything the edge
/// acts on: the token is bound to its merchant by the `merchant` claim and `?merchant=`, and
/// to its order by `order_id`. They are accepted and ignored, whatever their value
/// (docs/ARCHITECTURE.md, "Authentication"). `nbf`, `iat` and `exp` are read and checked.
pub const IGNORED_REGISTERED_CLAIMS: &[&str] = &["jti", "iss", "aud", "sub"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not an HS256 JWS with checkout claims; the text says what is wrong, naming the claim
    /// at fault when there is one.
    Malformed(Cow<'static, str>),
    /// Forged: the HMAC does not verify under the merchant's secret.
    SignatureInvalid,
    Expired,
    LifetimeTooLong,
    /// `iat` (beyond the clock skew) or `nbf` is in the future; the claim it names.
    NotYetValid(&'static str),
}

impl TokenError {
    pub fn code(&self) -> Code {
        match self {
            TokenError::Malformed(_) => Code::TokenMalformed,
            TokenError::SignatureInvalid => Code::TokenSignatureInvalid,
            TokenError::Expired => Code::TokenExpired,
            TokenError::LifetimeTooLong => Code::TokenLifetimeTooLong,
            TokenError::NotYetValid(_) => Code::TokenNotYetValid,
        }
    }

    pub fn detail(&self) -> Cow<'static, str> {
        match self {
            TokenError::Malformed(why) => {
                format!("the checkout token is not an HS256 JWS with checkout claims: {why}").into()
            }
            TokenError::SignatureInvalid => "the checkout token's signature does not verify".into(),
            TokenError::Expired => {
                "the checkout token has expired; ask the shop for a new one".into()
            }
            TokenError::LifetimeTooLong => {
                "a checkout token lives at most 24 hours (exp - iat)".into()
            }
            TokenError::NotYetValid(claim) => {
                format!("the checkout token is not valid yet: its {claim} is in the future").into()
            }
        }
    }
}

fn malformed(why: impl Into<Cow<'static, str>>) -> TokenError {
    TokenError::Malformed(why.into())
}

/// The claims of a payload, each checked for presence and type, so that a refusal names the
/// claim at fault (`claim exp: ...`). The details never quote a value: a claim may be anything
/// a client sent. A `null` optional claim counts as absent, as in a request.
fn read_claims(payload: &[u8]) -> Result<CheckoutClaims, TokenError> {
    let text = std::str::from_utf8(payload).map_err(|_| malformed("its payload is not UTF-8"))?;
    // The strict reader: a claim named twice is refused, as a key named twice is everywhere
    // else (docs/ARCHITECTURE.md, "Error catalogue": DUPLICATE_KEY).
    let value = crate::json_reader::parse_strict(text)
        .map_err(|error| malformed(format!("its payload is not a JSON object ({error})")))?;
    let Value::Object(claims) = value else {
        return Err(malformed("its payload is not a JSON object"));
    };
    if let Some(unknown) = claims.keys().find(|name| {
        !CLAIMS.contains(&name.as_str()) && !IGNORED_REGISTERED_CLAIMS.contains(&name.as_str())
    }) {
        return Err(malformed(format!(
            "unknown claim {unknown:?} (checkout claims are {}, and RFC 7519's registered claims)",
            CLAIMS.join(", ")
        )));
    }
    let cart = claims
        .get("cart")
        .ok_or_else(|| malformed("claim cart is missing"))?;
    let Value::Object(cart) = cart else {
        return Err(malformed(format!(
            "claim cart must be an object {{prices_include_tax, lines}}, not {}",
            type_name(cart)
        )));
    };
    // A misspelt member would otherwise be dropped, and a misspelt prices_include_tax would
    // silently price the cart net.
    if let Some(unknown) = cart
        .keys()
        .find(|name| !CART_MEMBERS.contains(&name.as_str()))
    {
        return Err(malformed(format!(
            "claim cart has an unknown member {unknown:?} (it holds prices_include_tax and lines)"
        )));
    }
    let prices_include_tax = match cart.get("prices_include_tax") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => {
            return Err(malformed(format!(
                "claim cart.prices_include_tax must be true or false, not {}",
                type_name(other)
            )))
        }
    };
    let lines = match cart.get("lines") {
        Some(Value::Array(lines)) => lines.clone(),
        None | Some(Value::Null) => return Err(malformed("claim cart.lines is missing")),
        Some(other) => {
            return Err(malformed(format!(
                "claim cart.lines must be an array, not {}",
                type_name(other)
            )))
        }
    };
    Ok(CheckoutClaims {
        merchant: string_claim(&claims, "merchant")?
            .ok_or_else(|| malformed("claim merchant is missing"))?,
        order_id: string_claim(&claims, "order_id")?
            .ok_or_else(|| malformed("claim order_id is missing"))?,
        series: string_claim(&claims, "series")?,
        currency: string_claim(&claims, "currency")?
            .ok_or_else(|| malformed("claim currency is missing"))?,
        cart: Cart {
            prices_include_tax,
            lines,
        },
        iat: time_claim(&claims, "iat")?.ok_or_else(|| malformed("claim iat is missing"))?,
        exp: time_claim(&claims, "exp")?.ok_or_else(|| malformed("claim exp is missing"))?,
        nbf: time_claim(&claims, "nbf")?,
    })
}

/// The checkout claims a token may carry besides RFC 7519's ignored ones.
const CLAIMS: &[&str] = &[
    "merchant", "order_id", "series", "currency", "cart", "iat", "exp", "nbf",
];
const CART_MEMBERS: &[&str] = &["prices_include_tax", "lines"];

fn string_claim(
    claims: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(malformed(format!(
            "claim {name} must be a string, not {}",
            type_name(other)
        ))),
    }
}

/// A NumericDate (RFC 7519 section 2) in whole seconds, as JWT libraries write `iat`, `exp`
/// and `nbf`.
fn time_claim(
    claims: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number.as_i64().map(Some).ok_or_else(|| {
            malformed(format!(
                "claim {name} must be a whole number of seconds since 1970-01-01T00:00:00Z"
            ))
        }),
        Some(other) => Err(malformed(format!(
            "claim {name} must be a number of seconds since 1970-01-01T00:00:00Z, not {}",
            type_name(other)
        ))),
    }
}

pub(crate) fn mac(secret: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail (RFC 2104 section 2).
    <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Mints a token; the HMAC key is the UTF-8 bytes of the merchant's token secret.
pub fn mint(claims: &CheckoutClaims, secret: &str) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", b64url(HEADER.as_bytes()), b64url(&payload));
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&mac.finalize().into_bytes()))
}

struct Parts<'a> {
    signing_input: &'a str,
    claims: CheckoutClaims,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("it is over 64 KiB"));
    }
    let mut pieces = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(malformed(
            "a JWS in compact form is three base64url parts joined by '.'",
        ));
    };
    let header: Value = b64url_decode(header)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| malformed("its header is not base64url-encoded JSON"))?;
    // Only HS256: "none" or an asymmetric alg would let a forger choose how we check.
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(malformed("its header's alg is not HS256"));
    }
    let payload =
        b64url_decode(payload).ok_or_else(|| malformed("its payload is not base64url"))?;
    let claims = read_claims(&payload)?;
    let signature =
        b64url_decode(signature).ok_or_else(|| malformed("its signature is not base64url"))?;
    // The signing input is everything before the last '.', borrowed rather than rebuilt.
    let signing_input = token.rfind('.').map_or("", |dot| &token[..dot]);
    Ok(Parts {
        signing_input,
        claims,
        signature,
    })
}

/// The merchant a token claims, read *without* verifying it: only to find which secret to
/// verify it with. Never trust it before `verify`.
pub fn unverified_merchant(token: &str) -> Option<String> {
    unverified_claims(token).ok().map(|claims| claims.merchant)
}

/// A token's claims read *without* verifying its HMAC, which only the edge can (it holds the
/// secret): for the widget, to show the cart and check the request the edge will assemble
/// before anything is sent. Never trust them before `verify`.
pub fn unverified_claims(token: &str) -> Result<CheckoutClaims, TokenError> {
    split(token).map(|parts| parts.claims)
}

/// Verifies a token against any of the merchant's current secrets (two during a rotation).
/// The HMAC comparison is constant-time (`Mac::verify_slice`).
pub fn verify(
    token: &str,
    secrets: &[&str],
    now_seconds: i64,
) -> Result<CheckoutClaims, TokenError> {
    let parts = split(token)?;
    let authentic = secrets.iter().any(|secret| {
        let mut mac = mac(secret);
        mac.update(parts.signing_input.as_bytes());
        mac.verify_slice(&parts.signature).is_ok()
    });
    if !authentic {
        return Err(TokenError::SignatureInvalid);
    }
    let claims = parts.claims;
    if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECONDS || claims.exp < claims.iat {
        return Err(TokenError::LifetimeTooLong);
    }
    if now_seconds >= claims.exp {
        return Err(TokenError::Expired);
    }
    if claims.iat > now_seconds.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(TokenError::NotYetValid("iat"));
    }
    // RFC 7519 section 4.1.5: not accepted before `nbf`, with the same leeway for clock skew
    // as `iat` (the section allows "a few minutes").
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now_seconds.saturating_add(CLOCK_SKEW_SECONDS))
    {
        return Err(TokenError::NotYetValid("nbf"));
    }
    Ok(claims)
}

/// The fields of an issuance request that a checkout token supplies (its claims and cart); the
/// body adds only `buyer`.
pub const TOKEN_FIELDS: &[&str] = &[
    "/currency",
    "/order_id",
    "/series",
    "/prices_include_tax",
    "/lines",
];

/// The invoice request of a checkout-token issuance: the token's claims supply the currency,
/// the order id, the series and the cart (`prices_include_tax`, `lines`); the body supplies
/// only `buyer` (docs/ARCHITECTURE.md, "Authentication": the browser adds only the buyer and cannot change
/// a line, a rate or a price).
///
/// Written once here for its three users, so they check one and the same request: the edge
/// assembles what it issues with it, the CLI checks a cart with it before minting a token, and
/// the widget (through the browser module) previews and validates with it before posting.
///
/// `body` is what the browser posts: an object with at most `buyer`. Anything else in it is
/// `UNKNOWN_FIELD`, each field reported; a body that is not an object is `WRONG_TYPE`. The
/// buyer is passed on as sent, for `parse_request` to check like any request's. The result
/// holds exactly the fields given, so its idempotency fingerprint (`document`) is the same
/// however the token and body were written.
pub fn invoice_request(claims: &CheckoutClaims, body: &Value) -> Result<Value, Problem> {
    let Value::Object(fields) = body else {
        return Err(Problem::single(
            Code::WrongType,
            "the body must be an object {\"buyer\": {...}}",
        ));
    };
    let unknown: Vec<FieldError> = fields
        .keys()
        .filter(|key| key.as_str() != "buyer")
        .map(|key| {
            FieldError::new(
                crate::json_reader::child_pointer("", key),
                Code::UnknownField,
                "with a checkout token the cart comes from the token; the body holds only buyer",
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(Problem::from_errors(unknown));
    }
    let mut request = serde_json::Map::new();
    request.insert("currency".into(), Value::from(claims.currency.as_str()));
    request.insert("order_id".into(), Value::from(claims.order_id.as_str()));
    if let Some(series) = &claims.series {
        request.insert("series".into(), Value::from(series.as_str()));
    }
    request.insert(
        "prices_include_tax".into(),
        Value::Bool(claims.cart.prices_include_tax),
    );
    request.insert("lines".into(), Value::Array(claims.cart.lines.clone()));
    if let Some(buyer) = fields.get("buyer") {
        request.insert("buyer".into(), buyer.clone());
    }
    Ok(Value::Object(request))
}

fn from_token(pointer: &str) -> bool {
    TOKEN_FIELDS.iter().any(|field| {
        pointer
            .strip_prefix(field)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The problem for a token issuance whose request failed validation. When any error lies in
/// what the token supplied (a line outside the tax profile, a bad rate, currency or order id),
/// the answer is 422 `TOKEN_CART_INVALID` first, then every error found: the merchant's backend
/// minted a cart the edge will never accept, and no buyer input can fix it. Errors only in the
/// buyer's part are answered as they are.
pub fn cart_problem(problem: Problem) -> Problem {
    let Some(first) = problem.errors.iter().find(|e| from_token(&e.pointer)) else {
        return problem;
    };
    let lead = FieldError::new(
        "",
        Code::TokenCartInvalid,
        format!(
            "the checkout token's cart cannot be invoiced: {} at {} (pointers are into the request assembled from the token)",
            first.code, first.pointer
        ),
    );
    let code = Code::TokenCartInvalid;
    let mut errors = vec![lead];
    errors.extend(problem.errors);
    Problem {
        type_uri: crate::problem::type_uri(code),
        title: code.title().to_string(),
        status: code.status(),
        code,
        detail: errors.first().map(|e| e.detail.clone()),
        errors,
        expected_seq: None,
    }
}

/// Parses a lifetime such as `15m`, `2h`, `900s` or `900` (seconds).
pub fn parse_ttl(text: &str) -> Option<i64> {
    let (number, unit) = match text.char_indices().last()? {
        (i, 's') => (&text[..i], 1),
        (i, 'm') => (&text[..i], 60),
        (i, 'h') => (&text[..i], 3600),
        _ => (text, 1),
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(iat: i64, exp: i64) -> CheckoutClaims {
        CheckoutClaims {
            merchant: "demo".into(),
            order_id: "A-1".into(),
            series: None,
            currency: "CNY".into(),
            cart: Cart {
                prices_include_tax: true,
                lines: vec![
                    json!({"description": "tea", "quantity": "1", "unit_price": "10.00", "tax_category": "S", "tax_rate": "13"}),
                ],
            },
            iat,
            exp,
            nbf: None,
        }
    }

    #[test]
    fn round_trips_and_reports_each_failure_with_its_own_code() {
        let token = mint(&claims(1000, 1900), "s3cret");
        assert_eq!(
            verify(&token, &["s3cret"], 1500).unwrap(),
            claims(1000, 1900)
        );
        assert_eq!(
            verify(&token, &["old", "s3cret"], 1500).unwrap().order_id,
            "A-1"
        );
        assert_eq!(
            verify(&token, &["other"], 1500),
            Err(TokenError::SignatureInvalid)
        );
        assert_eq!(verify(&token, &["s3cret"], 1900), Err(TokenError::Expired));
        assert_eq!(
            verify(&token, &["s3cret"], 900),
            Err(TokenError::NotYetValid("iat"))
        );
        let long = mint(&claims(0, MAX_LIFETIME_SECONDS + 1), "s3cret");
        assert_eq!(
            verify(&long, &["s3cret"], 10),
            Err(TokenError::LifetimeTooLong)
        );
        assert!(matches!(
            verify("a.b", &["s3cret"], 10),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(unverified_merchant(&token).as_deref(), Some("demo"));
    }

    #[test]
    fn alg_none_is_refused() {
        let token = mint(&claims(1000, 1900), "s3cret");
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", b64url(br#"{"alg":"none"}"#));
        assert!(matches!(
            verify(&none, &["s3cret"], 1500),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn matches_an_independent_hs256_implementation() {
        // RFC 7515 A.1 uses HS256 with a binary key; check our MAC with the RFC 4231 case 2
        // vector instead, whose key is UTF-8 text like a token secret.
        let mut mac = mac("Jefe");
        mac.update(b"what do ya want for nothing?");
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(hex::encode(mac.finalize().into_bytes()), expected);
    }

    #[test]
    fn a_cart_error_is_token_cart_invalid_and_a_buyer_error_stays_itself() {
        let cart = Problem::from_errors(vec![
            FieldError::new("/buyer/email", Code::InvalidEmail, "x"),
            FieldError::new("/lines/0/tax_rate", Code::TaxNotInProfile, "y"),
        ]);
        let answered = cart_problem(cart);
        assert_eq!(
            (answered.status, answered.code),
            (422, Code::TokenCartInvalid)
        );
        assert_eq!(answered.errors[0].code, Code::TokenCartInvalid);
        assert_eq!(answered.errors.len(), 3);
        let buyer = Problem::from_errors(vec![FieldError::new(
            "/buyer/email",
            Code::InvalidEmail,
            "x",
        )]);
        assert_eq!(cart_problem(buyer).code, Code::InvalidEmail);
        let shape = Problem::from_errors(vec![FieldError::new(
            "/lines/0/quantity",
            Code::DecimalMustBeString,
            "z",
        )]);
        assert_eq!(cart_problem(shape).status, 422);
        assert!(!from_token("/linesx"));
    }

    /// The cart of a token for a merchant with several series: every claim that maps is set.
    fn cart_claims() -> CheckoutClaims {
        CheckoutClaims {
            merchant: "demo".into(),
            order_id: "A-10023".into(),
            series: Some("SHOP".into()),
            currency: "CNY".into(),
            cart: Cart {
                prices_include_tax: true,
                lines: vec![
                    json!({"description": "龙井茶", "quantity": "2", "unit_price": "68.00", "tax_category": "S", "tax_rate": "9"}),
                    json!({"description": "delivery", "quantity": "1", "unit_price": "12.00", "tax_category": "S", "tax_rate": "6", "unit_code": "E48"}),
                ],
            },
            iat: 1000,
            exp: 1900,
            nbf: None,
        }
    }

    #[test]
    fn the_request_takes_each_cart_field_from_the_claims_and_only_the_buyer_from_the_body() {
        // The body exactly as the widget posts it for a company buyer.
        let buyer = json!({"kind": "company", "country": "CN", "name": "示例 <b>Tea</b> & \"Co.\"", "tax_id": "91110000600037341L", "email": "finance@example.cn"});
        let request = invoice_request(&cart_claims(), &json!({ "buyer": buyer })).unwrap();
        assert_eq!(
            request,
            json!({
                "currency": "CNY",
                "order_id": "A-10023",
                "series": "SHOP",
                "prices_include_tax": true,
                "lines": cart_claims().cart.lines,
                "buyer": buyer,
            })
        );
        // What the token does not carry is not invented: no series, a net cart, and no buyer
        // (the CLI checks a cart before any buyer exists) give no such members.
        let mut claims = cart_claims();
        claims.series = None;
        claims.cart.prices_include_tax = false;
        let request = invoice_request(&claims, &json!({})).unwrap();
        let members: Vec<&str> = request
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            members,
            ["currency", "lines", "order_id", "prices_include_tax"]
        );
        assert_eq!(request["prices_include_tax"], json!(false));
        // The buyer is passed on as sent; its checks are parse_request's, as for any request.
        let odd = invoice_request(&claims, &json!({"buyer": "nobody"})).unwrap();
        assert_eq!(odd["buyer"], json!("nobody"));
        // The request it makes is one the edge accepts, with the cart's own figures.
        let parsed = crate::parse_request(
            &invoice_request(&cart_claims(), &json!({ "buyer": buyer })).unwrap(),
        )
        .unwrap();
        let computed = crate::compute_invoice(parsed, None, crate::Payment::FullyPaid).unwrap();
        assert_eq!(computed.order_id, "A-10023");
        assert_eq!(computed.totals.gross.to_string(), "148.00");
        assert_eq!(
            computed.buyer.unwrap().tax_id.as_deref(),
            Some("91110000600037341L")
        );
    }

    #[test]
    fn a_body_with_more_than_the_buyer_or_not_an_object_is_refused() {
        let claims = cart_claims();
        // The browser cannot change a line, a price or the order: each such field is reported.
        let problem = invoice_request(
            &claims,
            &json!({"buyer": {"kind": "individual"}, "lines": [], "order_id": "B-1", "a/b~c": 1}),
        )
        .unwrap_err();
        assert_eq!((problem.status, problem.code), (400, Code::UnknownField));
        let pointers: Vec<&str> = problem.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/a~1b~0c", "/lines", "/order_id"]);
        assert!(problem.errors.iter().all(|e| e.code == Code::UnknownField));
        for body in [json!([]), json!("buyer"), json!(null)] {
            let problem = invoice_request(&claims, &body).unwrap_err();
            assert_eq!(
                (problem.status, problem.code),
                (400, Code::WrongType),
                "{body}"
            );
        }
    }

    #[test]
    fn the_claims_read_unverified_are_the_minted_ones_and_a_bad_token_is_malformed() {
        let token = mint(&cart_claims(), "s3cret");
        assert_eq!(unverified_claims(&token), Ok(cart_claims()));
        assert!(matches!(
            unverified_claims("a.b.c"),
            Err(TokenError::Malformed(_))
        ));
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", b64url(br#"{"alg":"none"}"#));
        assert!(matches!(
            unverified_claims(&none),
            Err(TokenError::Malformed(_))
        ));
    }

    /// A token as a JWT library writes it: any payload, HS256, with our HMAC.
    fn mint_payload(payload: &Value, secret: &str) -> String {
        let signing_input = format!(
            "{}.{}",
            b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64url(payload.to_string().as_bytes())
        );
        let mut mac = mac(secret);
        mac.update(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&mac.finalize().into_bytes()))
    }

    fn payload() -> Value {
        serde_json::to_value(claims(1000, 1900)).unwrap()
    }

    fn with(mut payload: Value, name: &str, value: Value) -> Value {
        payload[name] = value;
        payload
    }

    #[test]
    fn each_registered_claim_a_jwt_library_adds_is_accepted_and_ignored() {
        for (name, value) in [
            ("jti", json!("4f1c9b2e-7d1a-4c2b-9e8f-0a1b2c3d4e5f")),
            ("iss", json!("https://shop.example")),
            ("aud", json!("invoice-edge")),
            ("aud", json!(["invoice-edge", "other"])),
            ("sub", json!("customer-42")),
            // Whatever its value: the edge acts on none of them.
            ("jti", json!(17)),
        ] {
            let token = mint_payload(&with(payload(), name, value.clone()), "s3cret");
            assert_eq!(
                verify(&token, &["s3cret"], 1500),
                Ok(claims(1000, 1900)),
                "{name}: {value}"
            );
        }
        let all = json!({"jti": "j-1", "iss": "shop", "aud": "edge", "sub": "c-1", "nbf": 1000});
        let mut every = payload();
        for (name, value) in all.as_object().unwrap() {
            every[name] = value.clone();
        }
        let verified = verify(&mint_payload(&every, "s3cret"), &["s3cret"], 1500).unwrap();
        assert_eq!(verified.nbf, Some(1000));
        assert_eq!(verified.order_id, "A-1");
    }

    #[test]
    fn nbf_in_the_future_is_refused_and_nbf_past_is_accepted() {
        let at = |nbf: Value| mint_payload(&with(payload(), "nbf", nbf), "s3cret");
        // Past, now, and within the clock skew allowed for iat: accepted.
        for nbf in [900, 1500, 1500 + CLOCK_SKEW_SECONDS] {
            assert_eq!(
                verify(&at(json!(nbf)), &["s3cret"], 1500).map(|c| c.nbf),
                Ok(Some(nbf)),
                "nbf {nbf}"
            );
        }
        let future = verify(&at(json!(1500 + CLOCK_SKEW_SECONDS + 1)), &["s3cret"], 1500);
        assert_eq!(future, Err(TokenError::NotYetValid("nbf")));
        let error = future.unwrap_err();
        assert_eq!(error.code(), Code::TokenNotYetValid);
        assert!(error.detail().contains("nbf"), "{}", error.detail());
        // Once its time comes, the same token is accepted; null is no nbf.
        assert!(verify(&at(json!(1800)), &["s3cret"], 1800).is_ok());
        assert_eq!(
            verify(&at(Value::Null), &["s3cret"], 1500).map(|c| c.nbf),
            Ok(None)
        );
        // Minted with an nbf, it round-trips.
        let mut minted = claims(1000, 1900);
        minted.nbf = Some(1200);
        assert_eq!(
            verify(&mint(&minted, "s3cret"), &["s3cret"], 1500),
            Ok(minted)
        );
    }

    #[test]
    fn a_malformed_claim_is_named_in_the_detail() {
        let mut no_exp = payload();
        no_exp.as_object_mut().unwrap().remove("exp");
        let cases = [
            (with(payload(), "nbf", json!("1000")), "claim nbf"),
            (with(payload(), "nbf", json!(1000.5)), "claim nbf"),
            (with(payload(), "exp", json!("soon")), "claim exp"),
            (no_exp, "claim exp is missing"),
            (with(payload(), "order_id", json!(42)), "claim order_id"),
            (with(payload(), "series", json!(["A"])), "claim series"),
            (
                with(payload(), "currency", Value::Null),
                "claim currency is missing",
            ),
            (with(payload(), "cart", json!([])), "claim cart"),
            (
                with(payload(), "scope", json!("x")),
                "unknown claim \"scope\"",
            ),
            (
                with(
                    payload(),
                    "cart",
                    json!({"prices_include_tax": "yes", "lines": []}),
                ),
                "claim cart.prices_include_tax",
            ),
            (
                with(
                    payload(),
                    "cart",
                    json!({"prices_include_taxes": true, "lines": []}),
                ),
                "\"prices_include_taxes\"",
            ),
            (
                with(payload(), "cart", json!({"prices_include_tax": true})),
                "claim cart.lines is missing",
            ),
        ];
        for (payload, named) in cases {
            let token = mint_payload(&payload, "s3cret");
            let error = verify(&token, &["s3cret"], 1500).unwrap_err();
            assert_eq!(error.code(), Code::TokenMalformed, "{payload}");
            assert!(
                error.detail().contains(named),
                "{named}: {}",
                error.detail()
            );
        }
        // A claim named twice is refused, naming it, as DUPLICATE_KEY is everywhere else.
        let twice = r#"{"merchant":"demo","order_id":"A-1","order_id":"B-2","currency":"CNY","cart":{"lines":[]},"iat":1000,"exp":1900}"#;
        let token = format!(
            "{}.{}.{}",
            b64url(br#"{"alg":"HS256"}"#),
            b64url(twice.as_bytes()),
            b64url(b"sig")
        );
        let error = unverified_claims(&token).unwrap_err();
        assert!(
            error.detail().contains("\"order_id\""),
            "{}",
            error.detail()
        );
        // The cart's flag, left out, is false as in a request.
        let net = verify(
            &mint_payload(&no_cart_flag_ok(), "s3cret"),
            &["s3cret"],
            1500,
        );
        assert_eq!(net.map(|c| c.cart.prices_include_tax), Ok(false));
    }

    fn no_cart_flag_ok() -> Value {
        let mut payload = payload();
        payload["cart"]
            .as_object_mut()
            .unwrap()
            .remove("prices_include_tax");
        payload
    }

    #[test]
    fn a_cart_without_prices_include_tax_is_priced_net_as_a_request_is() {
        let token = mint_payload(&no_cart_flag_ok(), "s3cret");
        let claims = verify(&token, &["s3cret"], 1500).unwrap();
        assert!(!claims.cart.prices_include_tax);
        let request = invoice_request(&claims, &json!({})).unwrap();
        assert_eq!(request["prices_include_tax"], json!(false));
        // The same request as one that leaves the field out: parsed, both price net.
        let mut without = request.clone();
        without
            .as_object_mut()
            .unwrap()
            .remove("prices_include_tax");
        let computed = |request: &Value| {
            let parsed = crate::parse_request(request).unwrap();
            crate::compute_invoice(parsed, None, crate::Payment::FullyPaid)
                .unwrap()
                .totals
                .gross
                .to_string()
        };
        assert_eq!(computed(&request), "11.30");
        assert_eq!(computed(&request), computed(&without));
    }

    #[test]
    fn ttl_parses_units() {
        assert_eq!(parse_ttl("15m"), Some(900));
        assert_eq!(parse_ttl("2h"), Some(7200));
        assert_eq!(parse_ttl("30s"), Some(30));
        assert_eq!(parse_ttl("45"), Some(45));
        assert_eq!(parse_ttl("0m"), None);
        assert_eq!(parse_ttl("x"), None);
    }
}
