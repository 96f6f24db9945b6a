//! `ubl`: a final document on stdin, its UBL 2.1 / EN 16931 XML on stdout (docs/UBL.md).

use invoice_edge_core::document::model::Document;
use invoice_edge_core::problem::{Code, Problem};
use invoice_edge_core::ubl::to_ubl;
use std::io::Write;

use crate::io;
use crate::Failure;

pub fn run() -> Result<(), Failure> {
    let document: Document = serde_json::from_slice(&io::read_stdin()?).map_err(|e| {
        io::reject(&Problem::single(
            Code::MalformedDocument,
            format!(
                "not an issued document {{invoice, edge_signature, status, final, rejection}}: {e}"
            ),
        ))
    })?;
    let xml = to_ubl(&document).map_err(|error| io::reject(&error.problem()))?;
    std::io::stdout()
        .lock()
        .write_all(xml.as_bytes())
        .map_err(|e| Failure::Io(format!("cannot write stdout: {e}")))
}
