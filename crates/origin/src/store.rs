//! The storage interface the HTTP handlers use, and its two backends: one SQLite file
//! ([`crate::ledger`], the default) or PostgreSQL ([`crate::pg`], several origin processes on
//! one database; docs/ORIGIN.md, "PostgreSQL: several origins, one replicated database"). `--db` chooses: a
//! `postgres://` or `postgresql://` URL, or a file path.
//!
//! Both backends judge documents with the same rules ([`crate::ledger::archive_one`]); they
//! differ in how they lock and commit.

use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::intake::Checked;
use crate::ledger::{self, Entry, Outcome, Writer};
use crate::pg::PgStore;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the server needs of a ledger.
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`, for `/metrics`.
    fn backend(&self) -> &'static str;
    /// Archives the documents (one transaction, or several on retry); one outcome each, in order.
    fn archive(&self, documents: Vec<Checked>) -> BoxFuture<'_, Vec<Outcome>>;
    /// The entry with this invoice id.
    fn entry_by_id(&self, id: String) -> BoxFuture<'_, Result<Option<Entry>, String>>;
    /// The backend's own lines for `/metrics`: pool use and transaction retries.
    fn metrics(&self, out: &mut String);
}

/// One SQLite file: the single writer thread, and one read connection.
pub struct SqliteStore {
    pub writer: Writer,
    pub reader: Arc<Mutex<Connection>>,
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn archive(&self, documents: Vec<Checked>) -> BoxFuture<'_, Vec<Outcome>> {
        Box::pin(self.writer.submit(documents))
    }

    fn entry_by_id(&self, id: String) -> BoxFuture<'_, Result<Option<Entry>, String>> {
        let reader = self.reader.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
                ledger::entry_by_id(&conn, &id).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }

    fn metrics(&self, out: &mut String) {
        // SQLite never retries: the one writer thread cannot conflict with itself.
        retries_metric(out, 0);
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn archive(&self, documents: Vec<Checked>) -> BoxFuture<'_, Vec<Outcome>> {
        Box::pin(self.submit(documents))
    }

    fn entry_by_id(&self, id: String) -> BoxFuture<'_, Result<Option<Entry>, String>> {
        Box::pin(async move {
            let client = self
                .pool
                .get()
                .await
                .map_err(|e| format!("no database connection: {e}"))?;
            crate::pg::entry_by_id(&**client, &id).await
        })
    }

    fn metrics(&self, out: &mut String) {
        let status = self.pool.status();
        let _ = writeln!(
            out,
            "# HELP origin_db_pool_connections Database connections of this process, by state."
        );
        let _ = writeln!(out, "# TYPE origin_db_pool_connections gauge");
        let idle = status.available;
        let in_use = status.size.saturating_sub(status.available);
        let _ = writeln!(out, "origin_db_pool_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(
            out,
            "origin_db_pool_connections{{state=\"in_use\"}} {in_use}"
        );
        let _ = writeln!(
            out,
            "# HELP origin_db_pool_max_connections The pool's limit.\n\
             # TYPE origin_db_pool_max_connections gauge\n\
             origin_db_pool_max_connections {}",
            status.max_size
        );
        let _ = writeln!(
            out,
            "# HELP origin_db_pool_waiting Requests waiting for a connection.\n\
             # TYPE origin_db_pool_waiting gauge\n\
             origin_db_pool_waiting {}",
            status.waiting
        );
        retries_metric(out, self.retries.load(Ordering::Relaxed));
    }
}

fn retries_metric(out: &mut String, retries: u64) {
    let _ = writeln!(
        out,
        "# HELP origin_db_transaction_retries_total Ledger transactions run again after a \
         serialization failure, deadlock or lost connection.\n\
         # TYPE origin_db_transaction_retries_total counter\n\
         origin_db_transaction_retries_total {retries}"
    );
}

/// The backend line of `/metrics`.
pub fn backend_metric(out: &mut String, backend: &str) {
    let _ = writeln!(
        out,
        "# HELP origin_db_backend The ledger's storage backend (value 1).\n\
         # TYPE origin_db_backend gauge\n\
         origin_db_backend{{backend=\"{backend}\"}} 1"
    );
}
