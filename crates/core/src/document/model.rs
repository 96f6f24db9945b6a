//! The issued document's types (docs/ARCHITECTURE.md, "The issued document"): the signed invoice, the
//! origin's receipt, the rejection, the status derived from them, and the document's id.

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::merchant::Seller;
use crate::request::{Buyer, Delivery};
use crate::tax::{InvoiceLine, TaxBreakdown, Totals};

/// The `format` of every invoice this version signs: numbered and chained at the edge. Version
/// 1 (numbers from the origin) is not understood: no version 1 document exists in production.
pub const FORMAT: &str = "invoice-edge/2";

/// What a document is (docs/ARCHITECTURE.md, "The issued document").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Invoice,
    CreditNote,
}

/// The signed invoice. Immutable once signed: the fields are declared in sorted order, so its
/// serde output *is* its RFC 8785 canonical form (proved against the general JCS in tests).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Buyer>,
    /// A credit note's original (EN 16931 BT-25, BT-26); absent on an invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<crate::credit::Credits>,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Where it was issued (the Cloudflare colo, or "local").
    pub edge_node: String,
    pub format: String,
    /// A UUIDv7 made at the edge.
    pub id: String,
    /// RFC 3339 UTC with milliseconds.
    pub issued_at: String,
    /// `invoice` or `credit_note`.
    pub kind: Kind,
    pub lines: Vec<InvoiceLine>,
    pub merchant: String,
    /// The series' `number_format` rendered with `seq`.
    pub number: String,
    pub order_id: String,
    pub payment_terms: Option<String>,
    /// The invoice hash of the series' document `seq - 1`, or 64 zeros for `seq` 1.
    pub prev_hash: String,
    pub prices_include_tax: bool,
    /// A credit note's reason in words, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A credit note's reason code, `01` to `04` (docs/ARCHITECTURE.md, "Credit notes").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    pub seller: Seller,
    /// 1, 2, 3, … without gaps within the series.
    pub seq: u64,
    /// The numbering series, one of the merchant's.
    pub series: String,
    pub supply_date: Date,
    pub tax_breakdown: Vec<TaxBreakdown>,
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeSignature {
    pub alg: String,
    pub kid: String,
    pub sig: String,
}

/// What the edge stores as `inv:{id}` and sends to the origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInvoice {
    pub invoice: Invoice,
    pub edge_signature: EdgeSignature,
}

/// The origin's receipt without its signature: the bytes the origin countersigns. Fields in
/// sorted order, so serde's output is the RFC 8785 form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalBody {
    /// The global audit chain: SHA-256(prev_hash ‖ invoice_hash ‖ UTF-8(number)).
    pub hash: String,
    pub ledger_seq: u64,
    pub number: String,
    pub origin_kid: String,
    /// The global audit chain's previous `hash` (not the series' `prev_hash`).
    pub prev_hash: String,
    pub received_at: String,
    pub seq: u64,
    pub series: String,
    /// True when an operator archived a refused document as void (`invoice-origin void`).
    pub void: bool,
}

/// The origin's receipt (`final`): `number`, `series` and `seq` copied from the invoice (the
/// origin checks them), its place in the global audit chain, and its countersignature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Final {
    pub number: String,
    pub series: String,
    pub seq: u64,
    pub ledger_seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub received_at: String,
    pub origin_kid: String,
    pub origin_signature: String,
    pub void: bool,
}

impl Final {
    pub fn body(&self) -> FinalBody {
        FinalBody {
            hash: self.hash.clone(),
            ledger_seq: self.ledger_seq,
            number: self.number.clone(),
            origin_kid: self.origin_kid.clone(),
            prev_hash: self.prev_hash.clone(),
            received_at: self.received_at.clone(),
            seq: self.seq,
            series: self.series.clone(),
            void: self.void,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: String,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    PendingSync,
    Final,
    Rejected,
}

/// The current document: `inv:` plus `final:` or `rejected:`, with `status` derived from which
/// of them exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub invoice: Invoice,
    pub edge_signature: EdgeSignature,
    pub status: Status,
    #[serde(rename = "final")]
    pub final_: Option<Final>,
    pub rejection: Option<Rejection>,
}

impl Document {
    pub fn new(
        signed: SignedInvoice,
        final_: Option<Final>,
        rejection: Option<Rejection>,
    ) -> Document {
        let status = match (&final_, &rejection) {
            (Some(_), _) => Status::Final,
            (None, Some(_)) => Status::Rejected,
            (None, None) => Status::PendingSync,
        };
        Document {
            invoice: signed.invoice,
            edge_signature: signed.edge_signature,
            status,
            final_,
            rejection,
        }
    }
}

/// A UUIDv7 (RFC 9562 section 5.7) from a Unix time in ms and 10 random bytes the caller drew.
pub fn uuid_v7(unix_ms: u64, random: [u8; 10]) -> String {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    bytes[6] = 0x70 | (random[0] & 0x0f);
    bytes[7] = random[1];
    bytes[8] = 0x80 | (random[2] & 0x3f);
    bytes[9..].copy_from_slice(&random[3..]);
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// True for a lower-case hyphenated UUID, the only id form the edge stores or looks up.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}
