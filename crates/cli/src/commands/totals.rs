//! `invoice-edge totals [--merchant FILE]`: request on stdin, computed invoice on stdout.

use invoice_edge_core::{totals_from_bytes, Payment};
use std::path::Path;

use crate::io;
use crate::Failure;

pub fn run(merchant: Option<&Path>) -> Result<(), Failure> {
    let merchant = merchant.map(io::read_merchant).transpose()?;
    let body = io::read_stdin()?;
    let seller = merchant.as_ref().map(|m| m.seller_rules());
    match totals_from_bytes(&body, seller, Payment::AsRequested) {
        Ok(invoice) => io::print_json(&invoice),
        Err(problem) => Err(io::reject(&problem)),
    }
}
