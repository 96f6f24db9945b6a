//! invoice-edge core: the pure heart of the product.
//!
//! Everything here is deterministic and free of I/O: the clock, the randomness and the keys
//! are passed in by the adapters (the edge worker, the browser module, the origin and the CLI),
//! so each adapter stays thin glue and every rule is tested once, here.

pub mod problem;

pub use problem::{Code, FieldError, Problem};

/// The product version every adapter reports (`/v1/health`, `invoice-edge --version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
