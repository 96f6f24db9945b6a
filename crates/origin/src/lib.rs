//! The reference origin ledger (DESIGN.md, "Origin ledger protocol"): an HTTP server on SQLite
//! that takes edge-signed invoices idempotently, verifies them, numbers each series without
//! gaps, chains every entry into one hash chain, and countersigns. `invoice-origin verify`
//! re-checks a ledger file offline.
//!
//! - [`intake`]: shape and signature checks, before anything touches the ledger;
//! - [`ledger`]: the SQLite schema and the single writer that numbers, chains and countersigns;
//! - [`numbering`]: merchants' number formats;
//! - [`server`]: the HTTP routes;
//! - [`metrics`]: Prometheus text;
//! - [`audit`]: the `verify` subcommand.

pub mod audit;
pub mod intake;
pub mod ledger;
pub mod metrics;
pub mod numbering;
pub mod server;
