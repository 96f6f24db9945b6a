//! One module per area of the HTTP surface (docs/ARCHITECTURE.md, "HTTP surface of the edge").

pub mod admin;
pub mod assets;
#[cfg(feature = "bench")]
pub mod bench;
pub mod checkout;
pub mod credit_notes;
pub mod demo;
pub mod health;
pub mod invoices;
pub mod keys;
pub mod lookup;
pub mod page;
pub mod verify;
