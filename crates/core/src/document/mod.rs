//! The issued document (docs/ARCHITECTURE.md, "The issued document"), one concern per file:
//! - [`model`]: the signed invoice, the origin's receipt, the status, and the document's id;
//! - [`issue`]: a request validated, computed, numbered and chained for a merchant's series;
//! - [`sign`]: the edge signature, the invoice hash and the request's fingerprint;
//! - [`verify`]: offline verification of all of it against a JWKS.
//!
//! The series chain's rules live in [`crate::series`]; the origin's audit chain and its receipt
//! in [`crate::ledger`].

pub mod issue;
pub mod model;
pub mod sign;
pub mod verify;
