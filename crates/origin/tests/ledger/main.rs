//! Integration tests of the origin ledger, version 2: each test runs the real `invoice-origin`
//! binary on its own ledger (a SQLite file, or a fresh PostgreSQL database when `ORIGIN_TEST_PG`
//! names a server: tests/origin-pg.test.mjs) and port, with its own tokens (docs/ARCHITECTURE.md, "Origin ledger
//! protocol" and "Delivery to the origin"; issue 7).

mod helpers;

mod auth;
mod batch;
mod failover;
mod multi_active;
mod protocol;
mod reliability;
mod verify;
mod void;
