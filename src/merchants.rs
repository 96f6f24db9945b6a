//! Merchant configuration in KV `MERCHANTS` (DESIGN.md, "Authentication"):
//! - `merchant:{id}` → the `MerchantConfig` JSON (`invoice-edge merchant create` output's `config`);
//! - `apikey:{sha256}` → the merchant id, one key per valid API key (two during a rotation).

use invoice_edge_core::merchant::{api_key_hash, MerchantConfig};
use worker::Env;

pub const MERCHANTS: &str = "MERCHANTS";

fn error(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

pub async fn load(env: &Env, id: &str) -> worker::Result<Option<MerchantConfig>> {
    let kv = env.kv(MERCHANTS)?;
    kv.get(&format!("merchant:{id}"))
        .json()
        .await
        .map_err(error)
}

/// The merchant an API key belongs to; `None` for an unknown or revoked key.
pub async fn by_api_key(env: &Env, api_key: &str) -> worker::Result<Option<MerchantConfig>> {
    let kv = env.kv(MERCHANTS)?;
    let Some(id) = kv
        .get(&format!("apikey:{}", api_key_hash(api_key)))
        .text()
        .await
        .map_err(error)?
    else {
        return Ok(None);
    };
    // The configuration's own list decides, so removing a hash there revokes the key even if
    // the `apikey:` index entry lingers.
    Ok(load(env, id.trim())
        .await?
        .filter(|merchant| merchant.accepts_api_key(api_key)))
}
