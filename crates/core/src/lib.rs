//! invoice-edge core: the pure heart of the product.
//!
//! Everything here is deterministic and free of I/O: the clock, the randomness and the keys
//! are passed in by the adapters (the edge worker, the browser module, the origin and the CLI),
//! so each adapter stays thin glue and every rule is tested once, here.

pub mod backoff;
pub mod base64url;
pub mod breaker;
pub mod canonical;
pub mod country;
pub mod credit;
pub mod currency;
pub mod date;
pub mod decimal_text;
pub mod document;
pub use invoice_edge_ed25519 as ed25519;
pub mod escape;
pub mod invoice;
pub mod json_reader;
pub mod keys;
pub mod ledger;
pub mod merchant;
pub mod money;
pub mod names;
pub mod numbering;
pub mod offline;
pub mod problem;
pub mod qr;
pub mod request;
pub mod rules;
pub mod series;
pub mod stable_sort;
mod stack_text;
pub mod tax;
pub mod tax_id;
pub mod template;
pub mod token;
pub mod ubl;
pub mod webhook;

pub use currency::Currency;
pub use invoice::{compute_invoice, ComputedInvoice, Payment};
pub use money::Money;
pub use problem::{Code, FieldError, Problem};
pub use request::{parse_request, parse_request_bytes, InvoiceRequest};

/// The product version every adapter reports (`/v1/health`, `invoice-edge --version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parses, validates and computes a request body in one call, as the edge and the CLI do.
pub fn totals_from_bytes(
    body: &[u8],
    seller: Option<rules::SellerRules<'_>>,
    payment: Payment,
) -> Result<ComputedInvoice, Problem> {
    let request = parse_request_bytes(body).map_err(Problem::from_errors)?;
    compute_invoice(request, seller, payment).map_err(Problem::from_errors)
}
