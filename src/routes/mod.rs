//! One module per area of the HTTP surface (../shared/DESIGN.md, "HTTP surface of the edge").

pub mod admin;
#[cfg(feature = "bench")]
pub mod bench;
pub mod demo;
pub mod health;
pub mod invoices;
pub mod keys;
pub mod verify;
