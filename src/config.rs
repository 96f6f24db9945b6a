//! The worker's configuration, read from its bindings (docs/ARCHITECTURE.md, "Configuration names").

use invoice_edge_core::breaker::BreakerConfig;
use invoice_edge_core::keys::{EdKey, Jwks, PublicJwk, ROLE_EDGE, ROLE_ORIGIN};
use std::cell::RefCell;
use worker::Env;

/// Default deadline of one delivery batch (docs/ARCHITECTURE.md: `ORIGIN_BATCH_TIMEOUT_MS`).
pub const DEFAULT_ORIGIN_BATCH_TIMEOUT_MS: u64 = 15_000;

fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
        .filter(|value| !value.trim().is_empty())
}

fn number(env: &Env, name: &str, default: u64) -> u64 {
    text(env, name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

pub struct EdgeConfig {
    /// `ORIGIN_URL`: one URL, or several comma-separated processes sharing one database.
    pub origin_url: Option<String>,
    /// `ORIGIN_TOKEN`, the edge's bearer credential at the origin (a secret).
    pub origin_token: Option<String>,
    pub origin_batch_timeout_ms: u64,
    pub breaker: BreakerConfig,
    pub demo_mode: bool,
    /// `Retry-After` of a rate-limited issuance: the period of the `[[ratelimits]]` bindings.
    pub rate_limit_period_s: u64,
}

impl EdgeConfig {
    /// The origin processes of `ORIGIN_URL`, in the order the series' objects try them.
    pub fn origin_urls(&self) -> Vec<String> {
        self.origin_url
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|url| url.trim().trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty())
            .collect()
    }

    pub fn from_env(env: &Env) -> EdgeConfig {
        let defaults = BreakerConfig::default();
        EdgeConfig {
            origin_url: text(env, "ORIGIN_URL").map(|url| url.trim_end_matches('/').to_string()),
            origin_token: text(env, "ORIGIN_TOKEN"),
            origin_batch_timeout_ms: number(
                env,
                "ORIGIN_BATCH_TIMEOUT_MS",
                DEFAULT_ORIGIN_BATCH_TIMEOUT_MS,
            ),
            breaker: BreakerConfig {
                failures: u32::try_from(number(
                    env,
                    "BREAKER_FAILURES",
                    u64::from(defaults.failures),
                ))
                .unwrap_or(defaults.failures),
                cooldown_ms: number(env, "BREAKER_COOLDOWN_MS", defaults.cooldown_ms),
            },
            demo_mode: text(env, "DEMO_MODE").is_some_and(|v| v == "true"),
            rate_limit_period_s: number(
                env,
                "RATE_LIMIT_PERIOD_S",
                crate::ratelimit::DEFAULT_PERIOD_S,
            ),
        }
    }
}

thread_local! {
    /// Parsing a JWK derives its public key (a scalar multiplication); an isolate keeps the
    /// result for as long as the secret is unchanged.
    static SIGNING_KEY: RefCell<Option<(String, EdKey)>> = const { RefCell::new(None) };
}

/// `EDGE_SIGNING_KEY`, the private JWK every invoice is signed with.
pub fn signing_key(env: &Env) -> Option<EdKey> {
    let secret = text(env, "EDGE_SIGNING_KEY")?;
    SIGNING_KEY.with(|cell| {
        let mut cached = cell.borrow_mut();
        match cached.as_ref() {
            Some((source, key)) if *source == secret => Some(key.clone()),
            _ => {
                let key = EdKey::from_jwk_json(&secret).ok()?;
                *cached = Some((secret, key.clone()));
                Some(key)
            }
        }
    })
}

/// KV `MERCHANTS` key of the archive of retired public keys, a JWKS `{"keys": [...]}`
/// (docs/ARCHITECTURE.md, "Configuration names"): a key leaves the secrets when it retires, never the JWKS,
/// so a ten-year-old invoice still verifies. `invoice-edge signing-key rotate` maintains it.
pub const JWKS_ARCHIVE_KEY: &str = "jwks:archive";

/// The public keys anyone needs to verify our invoices offline: the current edge key, the next
/// one (published before it signs, so caches know it when it starts), the previous one, every
/// origin key in `ORIGIN_PUBLIC_JWK`, and the archive of retired keys in KV. The archive is read
/// through the merchants' 60 s isolate cache; if it cannot be read the live keys still serve.
pub async fn jwks(env: &Env) -> Jwks {
    let mut jwks = Jwks::default();
    // Each key is listed with its role, so a verifier checks an invoice's signature with edge
    // keys and a receipt's countersignature with origin keys only (docs/SECURITY.md, "Signing keys").
    if let Some(key) = signing_key(env) {
        jwks.push(key.public_jwk().with_role(ROLE_EDGE));
    }
    for name in ["EDGE_SIGNING_KEY_NEXT", "EDGE_SIGNING_KEY_PREVIOUS"] {
        // A private JWK: only its public half is ever served.
        if let Some(key) = text(env, name).and_then(|s| EdKey::from_jwk_json(&s).ok()) {
            jwks.push(key.public_jwk().with_role(ROLE_EDGE));
        }
    }
    for jwk in origin_public_keys(env) {
        jwks.push(jwk.with_role(ROLE_ORIGIN));
    }
    match crate::merchants::cached_text(env, JWKS_ARCHIVE_KEY).await {
        Ok(Some(text)) => match serde_json::from_str::<Jwks>(&text) {
            Ok(archive) => {
                for jwk in archive.keys {
                    // Only well-formed Ed25519 keys, re-derived: the kid is always the thumbprint.
                    // A retired key keeps the role `signing-key rotate --role` gave it.
                    if let Ok(key) = jwk.verifying_key() {
                        let mut public = PublicJwk::from_key(&key);
                        public.role = jwk.role.filter(|r| r == ROLE_EDGE || r == ROLE_ORIGIN);
                        jwks.push(public);
                    }
                }
            }
            Err(error) => worker::console_error!("{JWKS_ARCHIVE_KEY} is not a JWKS: {error}"),
        },
        Ok(None) => {}
        Err(error) => worker::console_error!("{JWKS_ARCHIVE_KEY} unreadable: {error}"),
    }
    jwks
}

/// The origin's public keys from `ORIGIN_PUBLIC_JWK`: one JWK, or a JSON array of them (the
/// origin's keys across its rotations). A private key given by mistake: only its public half.
pub fn origin_public_keys(env: &Env) -> Vec<PublicJwk> {
    use invoice_edge_core::json_reader::reread;
    let Some(origin) = text(env, "ORIGIN_PUBLIC_JWK") else {
        return Vec::new();
    };
    let listed: Vec<PublicJwk> = match serde_json::from_str::<serde_json::Value>(&origin) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| reread(&item).ok())
            .collect(),
        Ok(item) => reread(&item).ok().into_iter().collect(),
        Err(_) => Vec::new(),
    };
    listed
        .iter()
        .filter_map(|jwk| jwk.verifying_key().ok())
        .map(|key| PublicJwk::from_key(&key))
        .collect()
}
