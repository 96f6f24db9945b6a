//! One issuance, inside the series' object (docs/ARCHITECTURE.md, "Edge issuance path", step 3): in one
//! synchronous step, with no I/O before its storage write, the object answers a replay, refuses
//! (another request for the order, a stopped series, an offline limit), or numbers, chains,
//! signs and stores the document with the order index and the new head.

use invoice_edge_core::credit::{check_cap, not_creditable, settle};
use invoice_edge_core::document::issue::{finish, IssueContext, Issuer};
use invoice_edge_core::document::model::{
    uuid_v7, Document, Kind, Rejection, SignedInvoice, Status,
};
use invoice_edge_core::document::sign::Channel;
use invoice_edge_core::invoice::ComputedInvoice;
use invoice_edge_core::numbering::NumberFormat;
use invoice_edge_core::offline::{admit, exposure, Candidate, Limits};
use invoice_edge_core::series::{next_position, ChainPosition, SeriesHead};
use invoice_edge_core::tax::TaxBreakdown;
use invoice_edge_core::webhook::{DocumentData, Event, EventType};
use invoice_edge_core::{Code, Problem};
use serde::{Deserialize, Serialize};
use worker::{Env, Response, Result, State};

use super::state::{Known, Pinned, Remembered, SeriesState};
use super::store::{self, Acks, DocumentRow, NewDocument};
use crate::config::{self, EdgeConfig};

/// What the worker sends: the request already validated and computed, its fingerprint, and
/// the merchant's issuer (never its secrets).
#[derive(Serialize, Deserialize)]
pub struct IssueCall {
    pub order_id: String,
    pub fingerprint: String,
    pub computed: ComputedInvoice,
    pub issuer: Issuer,
    pub edge_node: String,
    /// The `seq`s of this series whose `inv:` the calling isolate has written since its last
    /// call here (see [`super::client::note_inv_written`]): the object holds them for its alarm
    /// ([`store::Acks`]), so the alarm need not read KV to find out (docs/ARCHITECTURE.md budget:
    /// one KV write per issuance, no KV read). A lost acknowledgement only means the alarm reads
    /// that record itself.
    #[serde(default)]
    pub inv_written: Vec<u64>,
    /// True when, by the merchant's configuration the worker read (its 60 s cache), no webhook
    /// endpoint subscribes to this document's `invoice.issued` or `credit_note.issued`: the
    /// object then stores no event, which the alarm would only drop (docs/ARCHITECTURE.md,
    /// "Webhooks"). Absent, the event is stored.
    #[serde(default)]
    pub unsubscribed: bool,
}

/// The object's answer. Documents travel as JSON text, passed through by the worker without
/// being parsed again (CPU on the issuance path: docs/PERFORMANCE.md).
///
/// `Issued`, the common answer, is not JSON: it is status [`super::ISSUED`] with a first line
/// `{seq} {id} {exposure}` and then the signed document's text, byte for byte, so the document
/// is neither escaped into a JSON string by the object nor unescaped by the worker
/// ([`issued_body`], [`super::client::issue`]). The other outcomes are this enum's JSON.
#[derive(Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IssueAnswer {
    /// A new document, `pending_sync`. `signed` is the exact text of `inv:{id}`.
    #[serde(skip)]
    Issued {
        id: String,
        seq: u64,
        signed: String,
        exposure: String,
    },
    /// The same request again: the current document's JSON, with 201 whatever the series'
    /// state.
    Replayed {
        id: String,
        document: String,
        exposure: String,
    },
    /// Another request already has this order: 422 `ORDER_ALREADY_INVOICED`.
    OrderTaken {
        invoice_id: String,
        exposure: String,
    },
    /// Nothing issued.
    Refused {
        problem: Problem,
        retry_after_s: Option<u32>,
        exposure: String,
    },
}

/// The current document of a stored row: its receipt wins over a rejection (docs/ARCHITECTURE.md).
pub fn document_of(row: &DocumentRow) -> Result<Document> {
    let signed: SignedInvoice = serde_json::from_str(&row.signed)?;
    let receipt = row
        .receipt
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?;
    let rejection: Option<Rejection> = row
        .rejection
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?;
    Ok(Document::new(signed, receipt, rejection))
}

pub async fn issue(
    state: &State,
    env: &Env,
    alarm_set: &std::cell::Cell<bool>,
    memory: &Remembered,
    acks: &Acks,
    mut call: IssueCall,
) -> Result<Response> {
    let now = super::now_ms(env);
    let storage = state.storage();
    // Held in memory for the alarm, which writes them before it looks for unwritten records:
    // no statement on the issuance path (docs/ARCHITECTURE.md, "Edge issuance path", step 4).
    acks.note(std::mem::take(&mut call.inv_written));
    // Taken out of the memory: an error from here on leaves it empty, and the next issuance
    // reads storage (docs/ARCHITECTURE.md, "Edge issuance path", "The state in memory").
    let known = match memory.take() {
        Some(known) => known,
        None => store::load_known(&storage.sql(), EdgeConfig::from_env(env).breaker)?,
    };
    let (answer, known) = decide(&storage, env, call, now, known)?;
    memory.keep(known);
    match answer {
        IssueAnswer::Issued {
            id,
            seq,
            signed,
            exposure,
        } => {
            // Storage only: the alarm delivers it and writes any KV record the worker could not.
            super::outbox::ensure_alarm(state, alarm_set).await?;
            Ok(Response::ok(issued_body(seq, &id, &exposure, &signed))?.with_status(super::ISSUED))
        }
        answer => Response::from_json(&answer),
    }
}

/// The body of an `Issued` answer: `{seq} {id} {exposure}`, a newline, the signed document.
/// Neither the id (a UUID) nor the exposure (`Offline-Exposure`'s value) holds a newline, and
/// the exposure, which holds spaces, comes last on its line.
fn issued_body(seq: u64, id: &str, exposure: &str, signed: &str) -> String {
    format!("{seq} {id} {exposure}\n{signed}")
}

/// Reads an `Issued` answer's body ([`issued_body`]): `None` if it is not one.
pub fn read_issued(body: &str) -> Option<IssueAnswer> {
    let (head, signed) = body.split_once('\n')?;
    let (seq, head) = head.split_once(' ')?;
    let (id, exposure) = head.split_once(' ')?;
    Some(IssueAnswer::Issued {
        id: id.to_string(),
        seq: seq.parse().ok()?,
        signed: signed.to_string(),
        exposure: exposure.to_string(),
    })
}

/// A credit note's check against its original, inside the issuing step (docs/ARCHITECTURE.md,
/// "Credit notes"): the original must be an invoice of this series that the origin has not
/// refused, and with the new note its credit notes together must stay within it, per group and
/// in total. `Ok(Ok((credited, notes)))` is the new balance to store with the note; `Ok(Err)`
/// the refusal. Synchronous storage reads only, so concurrent credit notes are serialized by
/// the object's input gate and cannot together exceed the invoice.
/// The last credit note of a group takes what is left of its tax (`credit::settle`), so it is
/// settled here, against the balance, before the cap is checked.
#[allow(clippy::type_complexity)]
fn credit_step(
    sql: &worker::SqlStorage,
    computed: &mut ComputedInvoice,
    id: &str,
) -> Result<std::result::Result<(String, Vec<u64>), Problem>> {
    let Some(row) = store::by_id(sql, id)? else {
        return Ok(Err(Problem::single(
            Code::NotFound,
            format!("no invoice {id} in this series"),
        )));
    };
    let original = document_of(&row)?;
    if original.status == Status::Rejected || original.invoice.kind != Kind::Invoice {
        return Ok(Err(Problem::from_errors(vec![not_creditable(format!(
            "{} is a credit note or was rejected; it cannot be credited",
            original.invoice.number
        ))])));
    }
    let (credited, notes): (Vec<TaxBreakdown>, Vec<u64>) = match store::credit_balance(sql, id)? {
        Some((credited, notes)) => (
            serde_json::from_str(&credited)?,
            serde_json::from_str(&notes)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    settle(&original.invoice, &credited, computed);
    Ok(
        match check_cap(&original.invoice, &credited, &computed.tax_breakdown) {
            Ok(balance) => Ok((serde_json::to_string(&balance)?, notes)),
            Err(errors) => Err(Problem::from_errors(errors)),
        },
    )
}

fn refused(
    code: Code,
    detail: String,
    retry_after_s: Option<u32>,
    exposure: String,
) -> IssueAnswer {
    IssueAnswer::Refused {
        problem: Problem::single(code, detail),
        retry_after_s,
        exposure,
    }
}

/// The critical step: synchronous from the order lookup to the committed write. `known` is
/// the state as storage holds it, and comes back with the answer as storage then holds it:
/// unchanged when nothing was written, else what the transaction committed.
fn decide(
    storage: &worker::Storage,
    env: &Env,
    mut call: IssueCall,
    now: i64,
    known: Known,
) -> Result<(IssueAnswer, Known)> {
    let sql = storage.sql();
    let limits: Limits = call.issuer.limits.clone();
    let oldest = known.oldest_ms;
    let current_exposure = exposure(now, &known.state.outstanding(oldest), &limits).to_string();

    if let Some(row) = store::by_order(&sql, &call.order_id)? {
        if row.fingerprint == call.fingerprint {
            return Ok((
                IssueAnswer::Replayed {
                    id: row.id.clone(),
                    document: serde_json::to_string(&document_of(&row)?)?,
                    exposure: current_exposure,
                },
                known,
            ));
        }
        return Ok((
            IssueAnswer::OrderTaken {
                invoice_id: row.id,
                exposure: current_exposure,
            },
            known,
        ));
    }
    let credited_id = call
        .computed
        .credit
        .as_ref()
        .map(|of| of.credits.id.clone());
    let credit = match credited_id {
        Some(id) => match credit_step(&sql, &mut call.computed, &id)? {
            Ok(balance) => Some((id, balance)),
            Err(problem) => {
                return Ok((
                    IssueAnswer::Refused {
                        problem,
                        retry_after_s: None,
                        exposure: current_exposure,
                    },
                    known,
                ))
            }
        },
        None => None,
    };
    // A retired series issues no invoice, but its invoices stay refundable: a credit note is
    // numbered in its original's series (docs/ARCHITECTURE.md, "Credit notes").
    if call.issuer.series.retired && credit.is_none() {
        return Ok((
            IssueAnswer::Refused {
                problem: Problem::from_errors(vec![invoice_edge_core::merchant::retired(
                    &call.issuer.series,
                )]),
                retry_after_s: None,
                exposure: current_exposure,
            },
            known,
        ));
    }
    if let Some(stop) = &known.state.stopped {
        return Ok((
            refused(
                Code::SeriesStopped,
                format!(
                    "series {} stopped: the origin refused seq {} ({}); an operator resumes it",
                    call.issuer.series.name, stop.seq, stop.code
                ),
                None,
                current_exposure,
            ),
            known,
        ));
    }
    let gross = call.computed.totals.gross.to_decimal();
    let candidate = Candidate {
        currency: &call.computed.currency,
        gross,
        // docs/ARCHITECTURE.md, "Offline limits": credit notes count toward the hours and the
        // count, not the amount.
        counts_toward_amount: credit.is_none(),
    };
    if let Err(refusal) = admit(now, &known.state.outstanding(oldest), &limits, &candidate) {
        return Ok((
            refused(
                refusal.code,
                refusal.detail,
                refusal.retry_after_seconds,
                current_exposure,
            ),
            known,
        ));
    }
    let Some(key) = config::signing_key(env) else {
        return Ok((
            refused(
                Code::Misconfigured,
                "EDGE_SIGNING_KEY is missing or not an Ed25519 JWK".into(),
                None,
                current_exposure,
            ),
            known,
        ));
    };
    let Some(random) = crate::clock::random_bytes::<10>() else {
        // Never a zero id: nothing is issued, and a retry is safe.
        return Ok((
            refused(
                Code::StorageUnavailable,
                "no randomness for the invoice id; nothing was issued".into(),
                Some(1),
                current_exposure,
            ),
            known,
        ));
    };

    let Some(position) = next_position(known.state.head.as_ref(), now) else {
        return Ok((
            refused(
                Code::Internal,
                "the series is full".into(),
                None,
                current_exposure,
            ),
            known,
        ));
    };
    // Every refusal is above: from here the state changes, and an error drops it.
    let mut state = known.state;
    // Pinned at the first issuance: a later change of format or hint in the merchant's
    // configuration does not move an existing series (docs/ARCHITECTURE.md, "Series").
    let issuer = pin(&mut state, call.issuer);
    let issued_at_ms = position.issued_at_ms;
    let id = uuid_v7(u64::try_from(issued_at_ms).unwrap_or(0), random);
    let context = IssueContext {
        id: id.clone(),
        issued_at_ms,
        edge_node: call.edge_node,
        key: &key,
        channel: Channel::ApiKey,
        position: ChainPosition {
            seq: position.seq,
            prev_hash: position.prev_hash,
        },
    };
    let currency = call.computed.currency.clone();
    let sealed = finish(call.computed, issuer, &context);
    // The text from the canonical bytes already made for the signature: no second serialization.
    let signed_json = sealed.json();
    let hash = hex::encode(sealed.hash);
    let signed = sealed.signed;
    // Stored in the same transaction as the document: at least once (docs/ARCHITECTURE.md,
    // "Webhooks"); not at all when no endpoint wants it.
    let event = (!call.unsubscribed).then(|| {
        Event::document(
            &super::client::object_name(&signed.invoice.merchant, &signed.invoice.series),
            if credit.is_some() {
                EventType::CreditNoteIssued
            } else {
                EventType::InvoiceIssued
            },
            &DocumentData::of(&signed.invoice, "pending_sync"),
            issued_at_ms,
        )
    });

    state.head = Some(SeriesHead {
        seq: position.seq,
        hash: hash.clone(),
        issued_at_ms,
    });
    state.outstanding_count += 1;
    if credit.is_none() {
        state.add_gross(&currency, gross);
    }
    state.limits = Some(limits.clone());
    let after = exposure(
        now,
        &state.outstanding(oldest.or(Some(issued_at_ms))),
        &limits,
    )
    .to_string();

    let row = NewDocument {
        seq: position.seq,
        id,
        order_id: call.order_id,
        fingerprint: call.fingerprint,
        hash,
        issued_at_ms,
        currency,
        gross: gross.to_string(),
        kind: if credit.is_some() {
            "credit_note"
        } else {
            "invoice"
        }
        .into(),
        signed: signed_json.clone(),
    };
    let write_sql = sql.clone();
    let seq = position.seq;
    let state = store::transaction_sync(storage, move || {
        store::insert(&write_sql, &row)?;
        store::write_state(&write_sql, &state)?;
        if let Some(event) = &event {
            super::hooks::enqueue(&write_sql, event)?;
        }
        if let Some((invoice_id, (credited, mut notes))) = credit {
            notes.push(seq);
            let notes = serde_json::to_string(&notes)?;
            store::set_credit_balance(&write_sql, &invoice_id, &credited, &notes)?;
        }
        Ok(state)
    })?;
    Ok((
        IssueAnswer::Issued {
            id: signed.invoice.id,
            seq: position.seq,
            signed: signed_json,
            exposure: after,
        },
        Known {
            state,
            oldest_ms: oldest.or(Some(issued_at_ms)),
        },
    ))
}

/// The issuer with the series' pinned format, pinning it first if this is the first issuance.
fn pin(state: &mut SeriesState, mut issuer: Issuer) -> Issuer {
    match &state.pinned {
        None => {
            state.pinned = Some(Pinned {
                merchant: issuer.merchant.clone(),
                series: issuer.series.name.clone(),
                number_format: issuer.series.number_format.as_str().to_string(),
                suite: "EdDSA".into(),
                location_hint: issuer.series.location_hint.clone(),
            });
        }
        Some(pinned) => {
            if pinned.number_format != issuer.series.number_format.as_str() {
                if let Ok(format) = NumberFormat::parse(&pinned.number_format) {
                    issuer.series.number_format = format;
                }
            }
        }
    }
    issuer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_answer_reads_back_as_written() {
        let exposure = "level=warn, limit=amount, currency=\"CNY\", used=0.6";
        // The document is kept byte for byte, a newline of its own included.
        let signed = "{\"invoice\":{\"note\":\"a\\nb\"},\"edge_signature\":\"x\"}\n";
        let id = "0190a5f2-7c1e-7000-8000-000000000001";
        match read_issued(&issued_body(42, id, exposure, signed)) {
            Some(IssueAnswer::Issued {
                id: read_id,
                seq,
                signed: read_signed,
                exposure: read_exposure,
            }) => {
                assert_eq!(seq, 42);
                assert_eq!(read_id, id);
                assert_eq!(read_exposure, exposure);
                assert_eq!(read_signed, signed);
            }
            _ => panic!("not read back as Issued"),
        }
        assert!(read_issued("{\"outcome\":\"order_taken\"}").is_none());
        assert!(
            read_issued("x 1 e\n{}").is_none(),
            "a seq that is no number"
        );
    }
}
