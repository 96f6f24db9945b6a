//! The series chain (docs/ARCHITECTURE.md, "The issued document" and "Origin ledger protocol"): each
//! series numbers its documents 1, 2, 3, … without gaps, and each document carries the invoice
//! hash of the one before it. These pure rules are shared by the series' Durable Object (which
//! extends the chain), the origin (which archives it in order) and every verifier (which
//! re-checks it), so all of them agree on what a valid chain is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::model::FORMAT;
use crate::document::verify::{verify, VerifyCode};
use crate::keys::Jwks;

/// `prev_hash` of `seq` 1: 64 zeros (the hash of "nothing before").
pub const GENESIS_PREV_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// True for 64 lower-case hex digits: the only form an invoice hash is written in.
pub fn is_hash_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The last document of a series: what the next one chains to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesHead {
    pub seq: u64,
    /// The invoice hash of document `seq`, lower-case hex.
    pub hash: String,
    /// When document `seq` was issued (Unix ms): `issued_at` never goes backwards in a series.
    pub issued_at_ms: i64,
}

/// Where the next document of a series goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextPosition {
    pub seq: u64,
    pub prev_hash: String,
    /// max(the clock, the head's `issued_at`): `seq` order is time order within a series, even
    /// when a Durable Object moves to a machine whose clock is a little behind.
    pub issued_at_ms: i64,
}

/// The position of the document after `head` (`None`: the series is empty), issued at `now_ms`.
/// `None` when `seq` would overflow, which no real series reaches.
pub fn next_position(head: Option<&SeriesHead>, now_ms: i64) -> Option<NextPosition> {
    Some(match head {
        None => NextPosition {
            seq: 1,
            prev_hash: GENESIS_PREV_HASH.to_string(),
            issued_at_ms: now_ms,
        },
        Some(head) => NextPosition {
            seq: head.seq.checked_add(1)?,
            prev_hash: head.hash.clone(),
            issued_at_ms: now_ms.max(head.issued_at_ms),
        },
    })
}

/// A document's place in its series, decided by the series' only writer (its Durable Object,
/// or the operator of the CLI's `issue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPosition {
    pub seq: u64,
    pub prev_hash: String,
}

/// A document's place in its series, as it claims it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLink<'a> {
    pub seq: u64,
    pub prev_hash: &'a str,
    /// The document's own invoice hash.
    pub hash: &'a str,
}

/// What an archive should do with a document, given the series as archived so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// The next document, linked to the head: archive it.
    Accept,
    /// Already archived at that `seq` with the same hash: answer the stored receipt.
    Replay,
    /// Documents are missing before it: retryable; the sender resends from `expected_seq`.
    Gap { expected_seq: u64 },
    /// Another document holds that `seq`, or it does not link to its predecessor: permanent.
    Conflict { reason: String },
}

/// Judges `link` against an archive whose last document is `head` (`None`: nothing archived
/// yet). `hash_at(seq)` gives the archived hash at a `seq` at or below the head.
pub fn judge(
    head: Option<(u64, &str)>,
    link: &ChainLink<'_>,
    hash_at: impl FnOnce(u64) -> Option<String>,
) -> Judgement {
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS_PREV_HASH));
    if link.seq == 0 {
        return Judgement::Conflict {
            reason: "seq starts at 1".into(),
        };
    }
    if link.seq <= head_seq {
        return match hash_at(link.seq) {
            Some(stored) if stored == link.hash => Judgement::Replay,
            _ => Judgement::Conflict {
                reason: format!(
                    "seq {} is already archived with another invoice hash",
                    link.seq
                ),
            },
        };
    }
    if link.seq > head_seq + 1 {
        return Judgement::Gap {
            expected_seq: head_seq + 1,
        };
    }
    if link.prev_hash != head_hash {
        return Judgement::Conflict {
            reason: format!(
                "seq {} has prev_hash {}, but seq {head_seq} has invoice hash {head_hash}",
                link.seq, link.prev_hash
            ),
        };
    }
    Judgement::Accept
}

/// Why a chain of documents is not one valid series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainError {
    /// The 0-based position in the input (the line of a JSON-lines file, less one).
    pub index: usize,
    pub detail: String,
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "document {}: {}", self.index + 1, self.detail)
    }
}

/// What a valid chain holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    pub merchant: String,
    pub series: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_hash: String,
}

/// Checks one whole series' documents in order, offline: each edge signature under `jwks`, one
/// merchant and series throughout, `seq` running without a gap from 1, and every `prev_hash`
/// equal to the invoice hash of the document before (64 zeros for `seq` 1). A file that starts
/// later than `seq` 1 is refused: a missing first document must not pass for an excerpt.
pub fn verify_chain(documents: &[Value], jwks: &Jwks) -> Result<ChainSummary, ChainError> {
    let mut summary: Option<ChainSummary> = None;
    for (index, document) in documents.iter().enumerate() {
        let fail = |detail: String| Err(ChainError { index, detail });
        let verification = verify(document, jwks);
        if verification.code != VerifyCode::Valid {
            let code = serde_json::to_value(verification.code).unwrap_or_default();
            return fail(format!(
                "{}: {}",
                code.as_str().unwrap_or("INVALID"),
                verification.detail
            ));
        }
        let Some(hash) = verification.invoice_hash else {
            return fail("no invoice hash".into());
        };
        let invoice = &document["invoice"];
        if invoice["format"].as_str() != Some(FORMAT) {
            return fail(format!("only {FORMAT} documents form a series chain"));
        }
        // `verify` has checked these fields' presence and form for the format.
        let text = |name: &str| invoice[name].as_str().unwrap_or_default().to_string();
        let (merchant, series, prev_hash) = (text("merchant"), text("series"), text("prev_hash"));
        let seq = invoice["seq"].as_u64().unwrap_or(0);
        match &mut summary {
            None => {
                if seq != 1 {
                    return fail(format!("the series starts at seq {seq}, not 1"));
                }
                if prev_hash != GENESIS_PREV_HASH {
                    return fail("seq 1 must have prev_hash of 64 zeros".into());
                }
                summary = Some(ChainSummary {
                    merchant,
                    series,
                    first_seq: seq,
                    last_seq: seq,
                    last_hash: hash,
                });
            }
            Some(chain) => {
                if (merchant.as_str(), series.as_str()) != (&chain.merchant, &chain.series) {
                    return fail(format!(
                        "belongs to {merchant}/{series}, not {}/{}",
                        chain.merchant, chain.series
                    ));
                }
                if seq != chain.last_seq + 1 {
                    return fail(format!(
                        "seq {seq} follows seq {}: expected {}",
                        chain.last_seq,
                        chain.last_seq + 1
                    ));
                }
                if prev_hash != chain.last_hash {
                    return fail(format!(
                        "prev_hash {prev_hash} is not the invoice hash of seq {} ({})",
                        chain.last_seq, chain.last_hash
                    ));
                }
                chain.last_seq = seq;
                chain.last_hash = hash;
            }
        }
    }
    summary.ok_or(ChainError {
        index: 0,
        detail: "no documents".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64, hash: &str) -> SeriesHead {
        SeriesHead {
            seq,
            hash: hash.into(),
            issued_at_ms: 1_000,
        }
    }

    #[test]
    fn the_next_position_follows_the_head_and_never_goes_back_in_time() {
        let first = next_position(None, 500).unwrap();
        assert_eq!(
            (first.seq, first.prev_hash.as_str()),
            (1, GENESIS_PREV_HASH)
        );
        let h = "a".repeat(64);
        let next = next_position(Some(&head(7, &h)), 900).unwrap();
        assert_eq!((next.seq, next.prev_hash, next.issued_at_ms), (8, h, 1_000));
        assert_eq!(
            next_position(Some(&head(7, "x")), 2_000)
                .unwrap()
                .issued_at_ms,
            2_000
        );
        assert!(next_position(Some(&head(u64::MAX, "x")), 0).is_none());
    }

    #[test]
    fn judging_accepts_replays_and_spots_gaps_and_conflicts() {
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));

        let first = ChainLink {
            seq: 1,
            prev_hash: GENESIS_PREV_HASH,
            hash: &a,
        };
        assert_eq!(judge(None, &first, |_| None), Judgement::Accept);
        let second = ChainLink {
            seq: 2,
            prev_hash: &a,
            hash: &b,
        };
        assert_eq!(judge(Some((1, &a)), &second, |_| None), Judgement::Accept);
        assert_eq!(
            judge(Some((2, &b)), &second, |_| Some(b.clone())),
            Judgement::Replay
        );
        assert!(matches!(
            judge(Some((2, &c)), &second, |_| Some(c.clone())),
            Judgement::Conflict { .. }
        ));
        let fifth = ChainLink {
            seq: 5,
            prev_hash: &c,
            hash: &a,
        };
        assert_eq!(
            judge(Some((2, &b)), &fifth, |_| None),
            Judgement::Gap { expected_seq: 3 }
        );
        assert_eq!(
            judge(None, &fifth, |_| None),
            Judgement::Gap { expected_seq: 1 }
        );
        let unlinked = ChainLink {
            seq: 3,
            prev_hash: &a,
            hash: &c,
        };
        assert!(matches!(
            judge(Some((2, &b)), &unlinked, |_| None),
            Judgement::Conflict { .. }
        ));
        let zero = ChainLink {
            seq: 0,
            prev_hash: GENESIS_PREV_HASH,
            hash: &a,
        };
        assert!(matches!(
            judge(None, &zero, |_| None),
            Judgement::Conflict { .. }
        ));
    }

    #[test]
    fn hashes_are_lower_case_hex_of_64_digits() {
        assert!(is_hash_hex(GENESIS_PREV_HASH));
        assert!(!is_hash_hex(&"A".repeat(64)));
        assert!(!is_hash_hex(&"a".repeat(63)));
    }
}
