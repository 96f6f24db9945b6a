//! Merchant configuration in KV `MERCHANTS` (docs/ARCHITECTURE.md, "Authentication"):
//! - `merchant:{id}` → the `MerchantConfig` JSON (`invoice-edge merchant create` output's `config`);
//! - `apikey:{sha256}` → the merchant id, one key per valid API key (two during a rotation).
//!
//! Both lookups are cached in the isolate for at most 60 s (docs/ARCHITECTURE.md, "Edge issuance path",
//! step 1): an issuance then makes no KV read at all. So a revoked key, or a changed
//! configuration, takes effect within a minute (docs/SECURITY.md).

use std::cell::RefCell;
use std::collections::BTreeMap;

use invoice_edge_core::merchant::{api_key_hash, MerchantConfig};
use worker::Env;

pub const MERCHANTS: &str = "MERCHANTS";

/// How long an isolate trusts what it read from `MERCHANTS`: at most 60 s; `MERCHANT_CACHE_MS`
/// may shorten it (the rotation tests set 0, to see a change at once).
pub const CACHE_MS: u64 = 60_000;

fn cache_ms(env: &Env) -> u64 {
    env.var("MERCHANT_CACHE_MS")
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u64>().ok())
        .map_or(CACHE_MS, |ms| ms.min(CACHE_MS))
}
/// Entries kept per isolate; past it the cache starts again empty (isolates are short-lived).
const CACHE_ENTRIES: usize = 1_000;

fn error(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

thread_local! {
    /// `merchant:{id}` and `apikey:{hash}` answers, with the time they stop being trusted.
    static CACHE: RefCell<BTreeMap<String, (u64, Option<String>)>> = const { RefCell::new(BTreeMap::new()) };
}

/// A `MERCHANTS` text value, from the isolate's cache when it is younger than 60 s. A missing
/// key is cached too, so a flood of unknown ids or keys costs one read a minute each.
pub async fn cached_text(env: &Env, key: &str) -> worker::Result<Option<String>> {
    let now = crate::clock::now_ms();
    let ttl = cache_ms(env);
    let hit = CACHE.with(|cache| {
        cache
            .borrow()
            .get(key)
            .filter(|(until, _)| *until > now)
            .map(|(_, value)| value.clone())
    });
    if let Some(value) = hit {
        return Ok(value);
    }
    let value = crate::kv::Kv::bind(env, MERCHANTS)?.text(key).await?;
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key.to_string(), (now + ttl, value.clone()));
    });
    Ok(value)
}

/// A merchant's configuration, parsed and **validated** as it is loaded (not only when
/// `merchant create` wrote it): a hand-edited configuration that breaks a rule is refused with
/// its problems in the log, and the caller answers that the configuration is unavailable.
pub async fn load(env: &Env, id: &str) -> worker::Result<Option<MerchantConfig>> {
    let Some(text) = cached_text(env, &format!("merchant:{id}")).await? else {
        return Ok(None);
    };
    let config: MerchantConfig = serde_json::from_str(&text).map_err(error)?;
    if let Err(problems) = config.validate() {
        worker::console_error!(
            "merchant {id}: configuration refused: {}",
            problems.join("; ")
        );
        return Err(error(format!(
            "merchant {id}: the configuration breaks {} rule(s)",
            problems.len()
        )));
    }
    if config.id != id {
        return Err(error(format!(
            "merchant:{id} holds the configuration of {:?}",
            config.id
        )));
    }
    Ok(Some(config))
}

/// The merchant an API key belongs to; `None` for an unknown or revoked key.
pub async fn by_api_key(env: &Env, api_key: &str) -> worker::Result<Option<MerchantConfig>> {
    let Some(id) = cached_text(env, &format!("apikey:{}", api_key_hash(api_key))).await? else {
        return Ok(None);
    };
    // The configuration's own list decides, so removing a hash there revokes the key even if
    // the `apikey:` index entry lingers.
    Ok(load(env, id.trim())
        .await?
        .filter(|merchant| merchant.accepts_api_key(api_key)))
}
