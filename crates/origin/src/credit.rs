//! The credit cap, checked again at archiving (docs/ARCHITECTURE.md, "Credit notes"): the edge's
//! series object checks it when it issues a credit note, and the origin, the ledger of record,
//! does not take that on trust. A breach is `CREDIT_EXCEEDS_INVOICE`, permanent at the edge
//! ("Delivery to the origin"): the series stops until an operator acts.
//!
//! One function over one open transaction, with the same rule as the edge
//! (`invoice_edge_core::credit::check_cap`), so any storage backend calls it the same way.

use invoice_edge_core::credit::check_cap;
use invoice_edge_core::document::model::{Kind, SignedInvoice};
use invoice_edge_core::{Code, Problem};
use rusqlite::{params, Connection, OptionalExtension};

use crate::intake::Checked;

/// `None` when `document` is not a credit note or stays within its invoice together with the
/// credit notes of it already archived; else the refusal. The invoice must be archived, not as
/// void, in the same `(merchant, series)`: a credit note follows its invoice in the series'
/// order, so a missing one has nothing left to credit.
pub fn check_credit_cap(
    conn: &Connection,
    document: &Checked,
) -> rusqlite::Result<Option<Problem>> {
    if document.kind != "credit_note" {
        return Ok(None);
    }
    let refuse = |detail: String| Ok(Some(Problem::single(Code::CreditExceedsInvoice, detail)));
    let read = |text: &str| serde_json::from_str::<SignedInvoice>(text).ok();
    let Some(note) = read(&document.document) else {
        return refuse("the credit note does not read as a document".into());
    };
    let Some(credits) = &note.invoice.credits else {
        return refuse("the credit note names no invoice (credits)".into());
    };
    let original: Option<String> = conn
        .prepare_cached(
            "SELECT document FROM entries \
             WHERE invoice_id = ?1 AND merchant = ?2 AND series = ?3 AND void = 0",
        )?
        .query_row(
            params![credits.id, document.merchant, document.series],
            |row| row.get(0),
        )
        .optional()?;
    let Some(original) = original.as_deref().and_then(read) else {
        return refuse(format!(
            "invoice {} ({}) is not archived in {}/{}, or was voided",
            credits.id, credits.number, document.merchant, document.series
        ));
    };
    if original.invoice.kind != Kind::Invoice {
        return refuse(format!("{} is a credit note", credits.number));
    }
    let mut earlier = conn.prepare_cached(
        "SELECT document FROM entries WHERE merchant = ?1 AND series = ?2 \
         AND kind = 'credit_note' AND void = 0 \
         AND json_extract(document, '$.invoice.credits.id') = ?3 ORDER BY seq",
    )?;
    let mut balance = Vec::new();
    for text in earlier.query_map(
        params![document.merchant, document.series, credits.id],
        |row| row.get::<_, String>(0),
    )? {
        if let Some(earlier) = read(&text?) {
            // Archived ones passed this check; summed the same way as the edge sums them.
            balance = check_cap(&original.invoice, &balance, &earlier.invoice.tax_breakdown)
                .unwrap_or(balance);
        }
    }
    Ok(
        check_cap(&original.invoice, &balance, &note.invoice.tax_breakdown)
            .err()
            .map(Problem::from_errors),
    )
}
