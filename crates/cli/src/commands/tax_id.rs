//! `invoice-edge tax-id COUNTRY ID`: check a tax identifier against its country's rule.
//!
//! Exit 0 only for an ID that was checked and passed, printed normalized with its prefix and
//! "checked" on stdout. An invalid ID exits 1 with the problem (code and detail) on stderr.
//! An ID that cannot be checked (no scheme for the country, or a French alphabetic key) also
//! exits 1, with the reason on stderr: it is never reported as valid.

use invoice_edge_core::tax_id::{is_supported, TaxId, TaxIdStatus};
use invoice_edge_core::Problem;
use std::io::Write;

use crate::io;
use crate::Failure;

pub fn run(country: &str, id: &str) -> Result<(), Failure> {
    let tax_id = match TaxId::parse(country, id) {
        Ok(tax_id) => tax_id,
        Err(error) => return Err(io::reject(&Problem::single(error.code(), error.detail()))),
    };
    match tax_id.status() {
        TaxIdStatus::Checked => {
            let mut stdout = std::io::stdout().lock();
            writeln!(
                stdout,
                "{} {}",
                tax_id.with_prefix(),
                tax_id.status().as_str()
            )
            .map_err(|e| Failure::Io(format!("cannot write stdout: {e}")))
        }
        TaxIdStatus::Unchecked => {
            let why = if is_supported(tax_id.country()) {
                format!(
                    "the {} scheme has no published check for this form of ID",
                    tax_id.country()
                )
            } else {
                format!("no tax-ID scheme is known for {}", tax_id.country())
            };
            eprintln!(
                "invoice-edge: {} unchecked: {why}, so it could not be checked (not valid)",
                tax_id.with_prefix()
            );
            Err(Failure::Invalid)
        }
    }
}
