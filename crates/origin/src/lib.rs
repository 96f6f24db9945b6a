//! The reference origin ledger (docs/ARCHITECTURE.md, "Origin ledger protocol"): an HTTP server on SQLite
//! that takes edge-numbered, edge-signed documents idempotently, checks each series' chain in
//! order, keys everything by `(merchant, series)`, appends every document to one global audit
//! chain, and countersigns a receipt. It numbers nothing of its own. `invoice-origin verify` re-checks a ledger file offline, and
//! `invoice-origin void` archives a refused document so that its series chains on.
//!
//! - [`intake`]: shape, format and signature checks, before anything touches the ledger;
//! - [`ledger`]: the SQLite schema and the single writer that judges chains, appends and
//!   countersigns;
//! - [`auth`]: bearer tokens, kept as SHA-256 digests;
//! - [`server`]: the HTTP routes;
//! - [`metrics`]: Prometheus text;
//! - [`audit`]: the `verify` subcommand;
//! - [`void`]: the `void` subcommand;
//! - [`store`]: the storage interface; [`pg`]: the PostgreSQL backend (`--db postgres://…`).

pub mod audit;
pub mod auth;
pub mod credit;
pub mod intake;
pub mod ledger;
pub mod metrics;
pub mod pg;
pub mod server;
pub mod store;
pub mod void;
