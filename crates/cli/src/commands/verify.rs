//! `verify`: check a document's signatures offline against a JWKS.

use invoice_edge_core::document::verify;
use invoice_edge_core::keys::Jwks;
use std::path::Path;

use crate::io;
use crate::Failure;

pub fn run(jwks: &Path) -> Result<(), Failure> {
    let jwks: Jwks = serde_json::from_slice(&io::read_file(jwks)?)
        .map_err(|e| Failure::Io(format!("{} is not a JWKS: {e}", jwks.display())))?;
    let verdict = match serde_json::from_slice(&io::read_stdin()?) {
        Ok(document) => verify(&document, &jwks),
        Err(e) => invoice_edge_core::document::Verification {
            valid: false,
            code: invoice_edge_core::document::VerifyCode::Malformed,
            detail: format!("not JSON: {e}"),
            invoice_hash: None,
            status: None,
        },
    };
    io::print_json(&verdict)?;
    if verdict.valid {
        Ok(())
    } else {
        Err(Failure::Invalid)
    }
}
