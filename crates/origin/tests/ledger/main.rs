//! Integration tests of the origin ledger: each test runs the real `invoice-origin` binary on
//! its own SQLite file and port (DESIGN.md, "Origin ledger protocol"; issue 7).

mod helpers;

mod batch;
mod protocol;
mod reliability;
mod verify;
