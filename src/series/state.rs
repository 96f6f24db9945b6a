//! What a series' object keeps besides its documents: the head, what the origin has archived,
//! what is outstanding, the delivery state (breaker and back-off) and whether the series is
//! stopped. One JSON row in the object's `meta` table, read and written in the same synchronous
//! step as the documents it describes.

use std::cell::Cell;
use std::collections::BTreeMap;

use invoice_edge_core::breaker::{BreakerConfig, CircuitBreaker};
use invoice_edge_core::offline::{Level, Limits, Outstanding};
use invoice_edge_core::series::SeriesHead;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What the series pinned at its first issuance: changing any of them needs a new series
/// (docs/ARCHITECTURE.md, "Series").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    pub merchant: String,
    pub series: String,
    pub number_format: String,
    /// The signature suite, and so the hash (`EdDSA`: Ed25519 over SHA-256 chains).
    pub suite: String,
    pub location_hint: Option<String>,
}

/// Why a series stopped: the origin refused one of its documents for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub seq: u64,
    pub id: String,
    pub code: String,
    pub detail: String,
    pub at_ms: i64,
}

/// The origin asked for a `seq` it had already acknowledged: it lost receipts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regressed {
    pub expected_seq: u64,
    pub acked_seq: u64,
    pub at_ms: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeriesState {
    pub pinned: Option<Pinned>,
    pub head: Option<SeriesHead>,
    /// The last `seq` the origin archived: documents up to it are final (or void).
    pub acked_seq: u64,
    /// Documents after `acked_seq`, and the per-currency gross of the invoices among them, as
    /// decimal strings (money never passes through a float).
    pub outstanding_count: u64,
    pub outstanding_gross: BTreeMap<String, String>,
    /// The latest limits the edge sent, for the alarm, which judges the offline level without a
    /// request (docs/ARCHITECTURE.md, "Offline limits").
    pub limits: Option<Limits>,
    pub stopped: Option<Stop>,
    pub regressed: Option<Regressed>,
    pub breaker: CircuitBreaker,
    /// Delivery runs that failed in a row, for the back-off.
    pub failed_runs: u32,
    pub last_contact_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Which of `ORIGIN_URL`'s processes answered last: the object stays with it.
    pub origin_index: usize,
    pub level: Level,
    /// The KV `series:` index entry is written (once, at the first alarm).
    pub indexed: bool,
}

impl SeriesState {
    pub fn new(breaker: BreakerConfig) -> SeriesState {
        SeriesState {
            pinned: None,
            head: None,
            acked_seq: 0,
            outstanding_count: 0,
            outstanding_gross: BTreeMap::new(),
            limits: None,
            stopped: None,
            regressed: None,
            breaker: CircuitBreaker::new(breaker),
            failed_runs: 0,
            last_contact_ms: None,
            last_error: None,
            origin_index: 0,
            level: Level::Ok,
            indexed: false,
        }
    }

    /// What the offline limits are checked against. `oldest` is the first outstanding
    /// document's `issued_at`, read by the caller.
    pub fn outstanding(&self, oldest_issued_at_ms: Option<i64>) -> Outstanding {
        Outstanding {
            count: self.outstanding_count,
            oldest_issued_at_ms,
            gross: self
                .outstanding_gross
                .iter()
                // A sum may have more digits than a request's amounts are allowed: read it exactly.
                .filter_map(|(currency, text)| {
                    Decimal::from_str_exact(text)
                        .ok()
                        .map(|d| (currency.clone(), d))
                })
                .collect(),
        }
    }

    /// Adds (or, negative, removes) an invoice's gross to what is outstanding.
    pub fn add_gross(&mut self, currency: &str, gross: Decimal) {
        let current = self
            .outstanding_gross
            .get(currency)
            .and_then(|t| Decimal::from_str_exact(t).ok())
            .unwrap_or_default();
        let total = current.checked_add(gross).unwrap_or(current);
        if total.is_zero() {
            self.outstanding_gross.remove(currency);
        } else {
            self.outstanding_gross
                .insert(currency.to_string(), total.normalize().to_string());
        }
    }
}

/// What an issuance reads of storage before it decides: the state, and the `issued_at` of the
/// oldest document not yet final (the first after `acked_seq`), which the offline limits need.
pub struct Known {
    pub state: SeriesState,
    pub oldest_ms: Option<i64>,
}

/// The object's memory of [`Known`] between events, so an issuance does not read and parse its
/// state again (docs/ARCHITECTURE.md, "Edge issuance path", "The state in memory").
///
/// It stays equal to storage because the object is the only writer of its storage and runs one
/// synchronous step at a time: it is filled from storage by the first issuance; the issuance
/// takes it out before it decides (so any error leaves it empty) and puts back what its
/// transaction committed, or what it read if it wrote nothing; every other writer of the state
/// (the alarm, `/resume`, `/sync`) empties it through [`super::store::save_state`], in the same
/// synchronous stretch as its write, so no issuance can run between the two. A receipt moves
/// `acked_seq`, which is in the state, so it is saved (and the memory emptied) in the stretch
/// that stores it. The memory dies with the object, and the object with a failed storage write.
/// A `Cell`, not a `RefCell`: it is only ever taken and set whole, so it needs no borrow checks.
#[derive(Default)]
pub struct Remembered(Cell<Option<Known>>);

impl Remembered {
    /// Empties the memory: the next issuance reads storage.
    pub fn forget(&self) {
        self.0.set(None);
    }

    /// Takes what is remembered, leaving the memory empty.
    pub fn take(&self) -> Option<Known> {
        self.0.take()
    }

    /// Remembers `known`: only what storage holds at this moment.
    pub fn keep(&self, known: Known) {
        self.0.set(Some(known));
    }
}
