//! Workers KV and the rate-limiting binding, called on their JavaScript objects directly.
//!
//! workers-rs converts every KV call's options, a list's answer and a rate limiter's outcome
//! with serde_wasm_bindgen, even when there are no options; that converter and its serde code
//! were about 18 KB of the worker before gzip, for the handful of calls below
//! (docs/PERFORMANCE.md, "Size"). The calls are the platform's documented ones: `get(key)` (text),
//! `put(key, value, {metadata})`, `list({prefix, limit, cursor})` and a rate limiter's
//! `limit({key})`.

use js_sys::{Function, Object, Promise, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Error, Result};

/// A KV namespace binding.
pub struct Kv(JsValue);

/// One page of a `list`.
pub struct ListPage {
    pub keys: Vec<ListedKey>,
    pub list_complete: bool,
    pub cursor: Option<String>,
}

pub struct ListedKey {
    pub name: String,
    /// The metadata stored with the key (a JavaScript object), or `undefined`.
    pub metadata: JsValue,
}

fn get(target: &JsValue, name: &str) -> Result<JsValue> {
    Ok(Reflect::get(target, &JsValue::from_str(name))?)
}

fn set(target: &Object, name: &str, value: &JsValue) -> Result<()> {
    Reflect::set(target, &JsValue::from_str(name), value)?;
    Ok(())
}

/// Calls `target.name(args…)` and awaits the promise it returns.
async fn call(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue> {
    let function: Function = get(target, name)?
        .dyn_into()
        .map_err(|_| Error::RustError(format!("{name} is not a function of the binding")))?;
    let returned = match args {
        [a] => function.call1(target, a)?,
        [a, b] => function.call2(target, a, b)?,
        [a, b, c] => function.call3(target, a, b, c)?,
        _ => function.call0(target)?,
    };
    Ok(JsFuture::from(Promise::resolve(&returned)).await?)
}

/// A string member of a JavaScript object, if it is one.
pub fn string_member(object: &JsValue, name: &str) -> Option<String> {
    if !object.is_object() {
        return None;
    }
    Reflect::get(object, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

fn binding(env: &Env, name: &str) -> Result<JsValue> {
    let value = get(env.as_ref(), name)?;
    if value.is_undefined() || value.is_null() {
        return Err(Error::RustError(format!("no binding {name}")));
    }
    Ok(value)
}

impl Kv {
    pub fn bind(env: &Env, name: &str) -> Result<Kv> {
        binding(env, name).map(Kv)
    }

    /// The text at `key`, or `None` when there is none.
    pub async fn text(&self, key: &str) -> Result<Option<String>> {
        Ok(call(&self.0, "get", &[JsValue::from_str(key)])
            .await?
            .as_string())
    }

    pub async fn put(&self, key: &str, value: &str) -> Result<()> {
        call(&self.0, "put", &[key.into(), value.into()]).await?;
        Ok(())
    }

    /// Writes `value` with `metadata`, the JSON text of an object (KV keeps it with the key and
    /// returns it in `list`).
    pub async fn put_with_metadata(&self, key: &str, value: &str, metadata: &str) -> Result<()> {
        let options = Object::new();
        set(&options, "metadata", &JSON::parse(metadata)?)?;
        call(&self.0, "put", &[key.into(), value.into(), options.into()]).await?;
        Ok(())
    }

    /// One page of the keys starting with `prefix`, at most `limit`, after `cursor`.
    pub async fn list(&self, prefix: &str, limit: u32, cursor: Option<&str>) -> Result<ListPage> {
        let options = Object::new();
        set(&options, "prefix", &prefix.into())?;
        set(&options, "limit", &limit.into())?;
        if let Some(cursor) = cursor {
            set(&options, "cursor", &cursor.into())?;
        }
        let answer = call(&self.0, "list", &[options.into()]).await?;
        let keys = js_sys::Array::from(&get(&answer, "keys")?)
            .iter()
            .filter_map(|key| {
                Some(ListedKey {
                    name: string_member(&key, "name")?,
                    metadata: get(&key, "metadata").unwrap_or(JsValue::UNDEFINED),
                })
            })
            .collect();
        Ok(ListPage {
            keys,
            list_complete: get(&answer, "list_complete")?.as_bool().unwrap_or(true),
            cursor: string_member(&answer, "cursor").filter(|c| !c.is_empty()),
        })
    }
}

/// Counts one request for `key` on the rate limiter `name`: `Ok(true)` while under the limit.
pub async fn rate_limit(env: &Env, name: &str, key: &str) -> Result<bool> {
    let limiter = binding(env, name)?;
    let options = Object::new();
    set(&options, "key", &key.into())?;
    let outcome = call(&limiter, "limit", &[options.into()]).await?;
    Ok(get(&outcome, "success")?.as_bool().unwrap_or(true))
}
