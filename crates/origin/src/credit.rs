//! The credit cap, checked again at archiving (docs/ARCHITECTURE.md, "Credit notes"): the edge's
//! series object checks it when it issues a credit note, and the origin, the ledger of record,
//! does not take that on trust. A breach is `CREDIT_EXCEEDS_INVOICE`, permanent at the edge
//! ("Delivery to the origin"): the series stops until an operator acts.
//!
//! One function over the archiving transaction's [`Book`], with the same rule as the edge
//! (`invoice_edge_core::credit::check_cap`), so both storage backends run it the same way.

use invoice_edge_core::credit::check_cap;
use invoice_edge_core::document::model::{Kind, SignedInvoice};
use invoice_edge_core::{Code, Problem};

use crate::intake::Checked;
use crate::ledger::Book;

/// The id of the invoice a credit note's document credits, if it reads as one.
pub fn credited_id(document: &str) -> Option<String> {
    serde_json::from_str::<SignedInvoice>(document)
        .ok()?
        .invoice
        .credits
        .map(|credits| credits.id)
}

/// `None` when `document` is not a credit note or stays within its invoice together with the
/// credit notes of it already archived; else the refusal. The invoice must be archived, not as
/// void, in the same `(merchant, series)`: a credit note follows its invoice in the series'
/// order, so a missing one has nothing left to credit.
pub fn check_credit_cap<B: Book>(
    book: &mut B,
    document: &Checked,
) -> Result<Option<Problem>, B::Error> {
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
    let original = book.by_id(&credits.id)?.filter(|entry| {
        entry.merchant == document.merchant && entry.series == document.series && !entry.void
    });
    let Some(original) = original.as_ref().and_then(|entry| read(&entry.document)) else {
        return refuse(format!(
            "invoice {} ({}) is not archived in {}/{}, or was voided",
            credits.id, credits.number, document.merchant, document.series
        ));
    };
    if original.invoice.kind != Kind::Invoice {
        return refuse(format!("{} is a credit note", credits.number));
    }
    let mut balance = Vec::new();
    for text in book.credit_notes_of(&document.merchant, &document.series, &credits.id)? {
        if let Some(earlier) = read(&text) {
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
