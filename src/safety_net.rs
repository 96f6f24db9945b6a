//! The cron's safety net (docs/ARCHITECTURE.md, "Delivery to the origin"): every minute, one bounded page
//! of the `series:` index, each series' object poked so that its alarm is set. Delivery never
//! depends on it; it only catches an object whose alarm was lost. The page cursor is kept in KV
//! `cron:series-cursor`, so successive runs walk every series.

use worker::{Env, Result};

/// Series poked per run.
const PAGE: u32 = 100;
const CURSOR_KEY: &str = "cron:series-cursor";

pub async fn run(env: &Env) -> Result<()> {
    let kv = crate::store::invoices(env)?;
    let cursor = kv.text(CURSOR_KEY).await.ok().flatten();
    let page = kv
        .list("series:", PAGE, cursor.as_deref().filter(|c| !c.is_empty()))
        .await?;
    let pokes = page.keys.iter().map(|key| async move {
        let name = key.name.trim_start_matches("series:");
        if let Err(error) = crate::series::client::poke(env, name).await {
            worker::console_error!("safety net: series {name}: {error}");
        }
    });
    futures_util::future::join_all(pokes).await;
    let next = if page.list_complete {
        String::new()
    } else {
        page.cursor.unwrap_or_default()
    };
    kv.put(CURSOR_KEY, &next).await?;
    Ok(())
}
