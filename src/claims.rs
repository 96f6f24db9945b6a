//! The idempotency claim: one Durable Object per `merchant:order_id` (binding `CLAIMS`, class
//! `IdempotencyClaim`), because KV has no compare-and-set and two concurrent retries must not
//! both issue (DESIGN.md, "Edge issuance path", steps 2-3).
//!
//! The claim stores the request fingerprint, a 30 s lease and the signed document, in the same
//! storage write, so a retry after a crashed attempt reuses the document and its id. Between
//! the `get` and the `put` of a claim there is no other I/O, so the Durable Object's input gate
//! makes the check-and-set atomic (TOOLCHAIN.md: with I/O in between, 20 of 20 racers won).

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// How long an attempt owns the claim before a retry may take it over.
pub const LEASE_MS: u64 = 30_000;

/// The longest `Retry-After` a retry during a live lease is told. A live attempt answers within
/// the origin deadline (1.5 s) plus its storage writes, so waiting out the whole 30 s lease would
/// only delay the buyer's answer; a crashed attempt's lease is polled every 2 s until it expires
/// (found by the outage drills, docs/RESILIENCE.md).
pub const RETRY_HINT_MS: u64 = 2_000;

const CLAIM_KEY: &str = "claim";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Claim {
    fingerprint: String,
    invoice_id: String,
    /// The signed `{invoice, edge_signature}`, as JSON text.
    signed: String,
    lease_until_ms: u64,
    /// The status the first answer had, once it was given.
    completed_status: Option<u16>,
}

/// What the worker asks for: "this request, signed as this document, at this time".
#[derive(Serialize, Deserialize)]
pub struct ClaimRequest {
    pub fingerprint: String,
    pub invoice_id: String,
    pub signed: String,
    pub now_ms: u64,
}

/// The claim's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// Go on with this document (the new one, or the one a crashed attempt stored).
    Proceed { signed: String },
    /// The order was invoiced by a different request.
    Conflict { invoice_id: String },
    /// The same request already completed: answer again with its status.
    Replay { invoice_id: String, status: u16 },
    /// The same request is being issued right now.
    InProgress { retry_after_ms: u64 },
}

#[derive(Serialize, Deserialize)]
pub struct CompleteRequest {
    pub status: u16,
}

fn decide(existing: Option<Claim>, request: ClaimRequest) -> (ClaimOutcome, Option<Claim>) {
    match existing {
        None => {
            let claim = Claim {
                fingerprint: request.fingerprint,
                invoice_id: request.invoice_id,
                signed: request.signed.clone(),
                lease_until_ms: request.now_ms + LEASE_MS,
                completed_status: None,
            };
            (
                ClaimOutcome::Proceed {
                    signed: request.signed,
                },
                Some(claim),
            )
        }
        Some(claim) if claim.fingerprint != request.fingerprint => (
            ClaimOutcome::Conflict {
                invoice_id: claim.invoice_id,
            },
            None,
        ),
        Some(claim) => match claim.completed_status {
            Some(status) => (
                ClaimOutcome::Replay {
                    invoice_id: claim.invoice_id,
                    status,
                },
                None,
            ),
            None if request.now_ms < claim.lease_until_ms => (
                ClaimOutcome::InProgress {
                    retry_after_ms: (claim.lease_until_ms - request.now_ms).min(RETRY_HINT_MS),
                },
                None,
            ),
            None => {
                // The attempt that held the lease crashed: take it over with *its* document.
                let renewed = Claim {
                    lease_until_ms: request.now_ms + LEASE_MS,
                    ..claim
                };
                (
                    ClaimOutcome::Proceed {
                        signed: renewed.signed.clone(),
                    },
                    Some(renewed),
                )
            }
        },
    }
}

#[durable_object]
pub struct IdempotencyClaim {
    state: State,
}

impl DurableObject for IdempotencyClaim {
    fn new(state: State, _env: Env) -> Self {
        IdempotencyClaim { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() != Method::Post {
            return Response::error("method not allowed", 405);
        }
        let storage = self.state.storage();
        match req.path().as_str() {
            "/claim" => {
                let request: ClaimRequest = req.json().await?;
                // get, decide, put: no other I/O in between (see the module comment).
                let existing: Option<Claim> = storage.get(CLAIM_KEY).await?;
                let (outcome, write) = decide(existing, request);
                if let Some(claim) = write {
                    storage.put(CLAIM_KEY, claim).await?;
                }
                Response::from_json(&outcome)
            }
            "/complete" => {
                let request: CompleteRequest = req.json().await?;
                let existing: Option<Claim> = storage.get(CLAIM_KEY).await?;
                if let Some(mut claim) = existing {
                    // The first answer's status stands; a later completion does not change it.
                    claim.completed_status.get_or_insert(request.status);
                    storage.put(CLAIM_KEY, claim).await?;
                }
                Response::ok("")
            }
            _ => Response::error("not found", 404),
        }
    }
}

/// Asks the claim of `merchant:order_id`.
pub async fn claim(
    env: &Env,
    merchant: &str,
    order_id: &str,
    request: &ClaimRequest,
) -> Result<ClaimOutcome> {
    let mut response = call(
        env,
        merchant,
        order_id,
        "/claim",
        &serde_json::to_string(request)?,
    )
    .await?;
    response.json().await
}

/// Records the status of the first answer, so replays answer the same.
pub async fn complete(env: &Env, merchant: &str, order_id: &str, status: u16) -> Result<()> {
    call(
        env,
        merchant,
        order_id,
        "/complete",
        &serde_json::to_string(&CompleteRequest { status })?,
    )
    .await?;
    Ok(())
}

async fn call(
    env: &Env,
    merchant: &str,
    order_id: &str,
    path: &str,
    body: &str,
) -> Result<Response> {
    let stub = env
        .durable_object("CLAIMS")?
        .id_from_name(&format!("{merchant}:{order_id}"))?
        .get_stub()?;
    let mut init = worker::RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let request = Request::new_with_init(&format!("https://claims{path}"), &init)?;
    let response = stub.fetch_with_request(request).await?;
    if response.status_code() >= 400 {
        return Err(worker::Error::RustError(format!(
            "claim {path} answered {}",
            response.status_code()
        )));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fingerprint: &str, now_ms: u64) -> ClaimRequest {
        ClaimRequest {
            fingerprint: fingerprint.into(),
            invoice_id: format!("id-{now_ms}"),
            signed: format!("doc-{now_ms}"),
            now_ms,
        }
    }

    #[test]
    fn first_claim_proceeds_and_stores_the_document() {
        let (outcome, write) = decide(None, request("f", 1000));
        assert!(matches!(outcome, ClaimOutcome::Proceed { ref signed } if signed == "doc-1000"));
        assert_eq!(write.unwrap().lease_until_ms, 1000 + LEASE_MS);
    }

    #[test]
    fn a_live_lease_is_in_progress_and_an_expired_one_reuses_the_stored_document() {
        let (_, claim) = decide(None, request("f", 1000));
        let claim = claim.unwrap();
        let (outcome, write) = decide(Some(claim.clone()), request("f", 2000));
        assert!(
            matches!(outcome, ClaimOutcome::InProgress { retry_after_ms } if retry_after_ms == RETRY_HINT_MS)
        );
        assert!(write.is_none());
        let (outcome, _) = decide(Some(claim.clone()), request("f", LEASE_MS));
        assert!(
            matches!(outcome, ClaimOutcome::InProgress { retry_after_ms } if retry_after_ms == 1000),
            "the hint never outlasts the lease"
        );
        let (outcome, write) = decide(Some(claim), request("f", 1000 + LEASE_MS));
        assert!(
            matches!(outcome, ClaimOutcome::Proceed { ref signed } if signed == "doc-1000"),
            "the crashed attempt's document, not a new one"
        );
        assert_eq!(write.unwrap().invoice_id, "id-1000");
    }

    #[test]
    fn another_request_conflicts_and_a_completed_one_replays() {
        let (_, claim) = decide(None, request("f", 1000));
        let mut claim = claim.unwrap();
        assert!(
            matches!(decide(Some(claim.clone()), request("g", 1500)).0, ClaimOutcome::Conflict { ref invoice_id } if invoice_id == "id-1000")
        );
        claim.completed_status = Some(201);
        assert!(matches!(
            decide(Some(claim), request("f", 1500)).0,
            ClaimOutcome::Replay { status: 201, .. }
        ));
    }
}
