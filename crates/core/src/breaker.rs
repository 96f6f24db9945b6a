//! The circuit breaker in front of the origin ledger, as a pure state machine over
//! `(now, event)`.
//!
//! docs/ARCHITECTURE.md, "Delivery to the origin": the breaker opens after `BREAKER_FAILURES`
//! consecutive failures (default 3), stays open for `BREAKER_COOLDOWN_MS` (default 30,000), and
//! is then half-open for one probe. While it is open the series' alarm does not call the origin;
//! issuance never waits for the origin in any state.
//!
//! Like tower's retry policies (`tower/src/retry/policy.rs`), it does no I/O and reads no
//! clock: the caller passes `now_ms` (the worker's `Date.now()`, in milliseconds) with every
//! event, so tests drive it with plain numbers. Each series' object keeps its breaker in its own
//! storage; correctness never depends on it, because a document the breaker holds back is
//! still stored and delivered later.
//!
//! ```text
//!            failures reach the threshold
//!   Closed ───────────────────────────────▶ Open { until }
//!     ▲                                      │ allow() at or after `until`
//!     │ record_success                       ▼
//!     └──────────────────────────────── HalfOpen { probe_started } ──┐
//!                 record_failure: Open for a new cooldown ◀──────────┤
//!                 no report within a cooldown: the next allow() ─────┘ starts a new probe
//! ```

use serde::{Deserialize, Serialize};

/// The default number of consecutive failures that opens the breaker (docs/ARCHITECTURE.md,
/// "Configuration names", `BREAKER_FAILURES`).
pub const DEFAULT_FAILURES: u32 = 3;

/// The default time the breaker stays open before a probe (docs/ARCHITECTURE.md, `BREAKER_COOLDOWN_MS`).
pub const DEFAULT_COOLDOWN_MS: u64 = 30_000;

/// How sensitive the breaker is. Deserializes with defaults for missing fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker. Zero acts as one: a breaker that could
    /// never open would be a configuration mistake, not a wish.
    pub failures: u32,
    /// How long the breaker stays open before it lets one probe through, and how long a probe
    /// may stay unanswered before another one is allowed.
    pub cooldown_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: DEFAULT_FAILURES,
            cooldown_ms: DEFAULT_COOLDOWN_MS,
        }
    }
}

impl BreakerConfig {
    fn failure_threshold(&self) -> u32 {
        self.failures.max(1)
    }
}

/// The state as the health endpoint reports it: `"closed"`, `"open"` or `"half_open"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests go to the origin.
    Closed,
    /// Requests skip the origin until the cooldown has elapsed.
    Open,
    /// The cooldown has elapsed: one probe may go (or has gone) to the origin.
    HalfOpen,
}

/// The answer to [`CircuitBreaker::allow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The breaker is closed: call the origin.
    Allowed,
    /// The breaker is half-open and this call is its single probe: call the origin and report
    /// the outcome with `record_success` or `record_failure`.
    Probe,
    /// Skip the origin. No call will be admitted before `retry_at_ms`.
    Refused { retry_at_ms: u64 },
}

impl Admission {
    /// Whether the caller may call the origin (as a normal call or as the probe).
    pub fn is_allowed(self) -> bool {
        !matches!(self, Admission::Refused { .. })
    }
}

/// Where the breaker is, with the time each phase needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Phase {
    Closed { consecutive_failures: u32 },
    Open { until_ms: u64 },
    HalfOpen { probe_started_ms: u64 },
}

/// A circuit breaker: closed, open or half-open, driven by the caller's clock.
///
/// Serializable, so an isolate may keep it wherever it likes; a lost or stale copy costs at
/// most one cooldown of needless origin calls or skips, never an invoice.
///
/// The breaker cannot tell the probe's outcome from that of a call admitted before it opened
/// and finishing late: either is fresh evidence about the origin, so both count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    phase: Phase,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::new(BreakerConfig::default())
    }
}

impl CircuitBreaker {
    /// A closed breaker with no failures counted.
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            phase: Phase::Closed {
                consecutive_failures: 0,
            },
        }
    }

    /// The configuration this breaker runs with.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// Asks whether a call to the origin may go now.
    ///
    /// - Closed: allowed.
    /// - Open: refused until the cooldown has elapsed; the first call after it turns the
    ///   breaker half-open and is its one probe.
    /// - Half-open: refused while the probe is in flight. If the probe never reports back
    ///   (the request was cancelled, or its isolate was reset by a panic or an eviction), the breaker does
    ///   not stay stuck: once a full cooldown has passed since the probe started, the next
    ///   call becomes a new probe.
    pub fn allow(&mut self, now_ms: u64) -> Admission {
        match self.phase {
            Phase::Closed { .. } => Admission::Allowed,
            Phase::Open { until_ms } => {
                let until_ms = self.clamp_deadline(until_ms, now_ms);
                // Kept, so that a clock that stepped back does not slide the deadline along.
                self.phase = Phase::Open { until_ms };
                if now_ms >= until_ms {
                    self.phase = Phase::HalfOpen {
                        probe_started_ms: now_ms,
                    };
                    Admission::Probe
                } else {
                    Admission::Refused {
                        retry_at_ms: until_ms,
                    }
                }
            }
            Phase::HalfOpen { probe_started_ms } => {
                // A probe cannot have started after now (see `clamp_deadline`).
                let probe_started_ms = probe_started_ms.min(now_ms);
                self.phase = Phase::HalfOpen { probe_started_ms };
                let probe_deadline_ms = probe_started_ms.saturating_add(self.config.cooldown_ms);
                if now_ms >= probe_deadline_ms {
                    // The last probe is presumed lost: send another one.
                    self.phase = Phase::HalfOpen {
                        probe_started_ms: now_ms,
                    };
                    Admission::Probe
                } else {
                    Admission::Refused {
                        retry_at_ms: probe_deadline_ms,
                    }
                }
            }
        }
    }

    /// Reports a call that the origin answered well. Closes the breaker from any state and
    /// resets the failure count: the origin has just shown it works.
    pub fn record_success(&mut self, _now_ms: u64) {
        self.phase = Phase::Closed {
            consecutive_failures: 0,
        };
    }

    /// Reports a failed call (refused connection, timeout, 5xx, garbage, retryable code).
    ///
    /// - Closed: counts it; the failure that reaches `failures` opens the breaker for a
    ///   cooldown from `now_ms`.
    /// - Half-open: the probe failed, so the breaker opens again for a new cooldown.
    /// - Open: a straggler admitted before the breaker opened; it tells nothing new, so the
    ///   cooldown is left as it is.
    pub fn record_failure(&mut self, now_ms: u64) {
        match self.phase {
            Phase::Closed {
                consecutive_failures,
            } => {
                let consecutive_failures = consecutive_failures.saturating_add(1);
                self.phase = if consecutive_failures >= self.config.failure_threshold() {
                    self.open_from(now_ms)
                } else {
                    Phase::Closed {
                        consecutive_failures,
                    }
                };
            }
            Phase::HalfOpen { .. } => self.phase = self.open_from(now_ms),
            Phase::Open { .. } => {}
        }
    }

    /// The state at `now_ms`, for the health endpoint. An open breaker whose cooldown has
    /// elapsed reports `HalfOpen`, since its next call would be the probe.
    pub fn state(&self, now_ms: u64) -> BreakerState {
        match self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until_ms } if now_ms < self.clamp_deadline(until_ms, now_ms) => {
                BreakerState::Open
            }
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Consecutive failures counted while closed (0 when open or half-open), for the health
    /// endpoint.
    pub fn consecutive_failures(&self) -> u32 {
        match self.phase {
            Phase::Closed {
                consecutive_failures,
            } => consecutive_failures,
            Phase::Open { .. } | Phase::HalfOpen { .. } => 0,
        }
    }

    fn open_from(&self, now_ms: u64) -> Phase {
        Phase::Open {
            until_ms: now_ms.saturating_add(self.config.cooldown_ms),
        }
    }

    /// A deadline is never more than one cooldown after `now_ms`. This guards against a clock
    /// that stepped back, or a state kept by an isolate whose clock ran ahead: neither may keep
    /// the breaker open longer than one cooldown.
    fn clamp_deadline(&self, deadline_ms: u64, now_ms: u64) -> u64 {
        deadline_ms.min(now_ms.saturating_add(self.config.cooldown_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: u64 = 30_000;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failures: 3,
            cooldown_ms: COOLDOWN,
        })
    }

    /// Opens a fresh breaker at `now` with exactly the configured number of failures.
    fn opened_at(now: u64) -> CircuitBreaker {
        let mut breaker = breaker();
        for _ in 0..3 {
            assert!(breaker.allow(now).is_allowed());
            breaker.record_failure(now);
        }
        assert_eq!(breaker.state(now), BreakerState::Open);
        breaker
    }

    #[test]
    fn defaults_follow_the_design() {
        let config = BreakerConfig::default();
        assert_eq!(config.failures, 3);
        assert_eq!(config.cooldown_ms, 30_000);
        let breaker = CircuitBreaker::default();
        assert_eq!(breaker.state(0), BreakerState::Closed);
    }

    #[test]
    fn closed_breaker_allows_calls() {
        let mut breaker = breaker();
        for now in [0, 1, 1_000_000] {
            assert_eq!(breaker.allow(now), Admission::Allowed);
        }
        assert_eq!(breaker.state(5), BreakerState::Closed);
    }

    #[test]
    fn opens_after_exactly_n_consecutive_failures() {
        let mut breaker = breaker();
        breaker.record_failure(10);
        breaker.record_failure(20);
        assert_eq!(breaker.state(20), BreakerState::Closed);
        assert_eq!(breaker.consecutive_failures(), 2);
        assert_eq!(breaker.allow(20), Admission::Allowed);
        breaker.record_failure(30);
        assert_eq!(breaker.state(30), BreakerState::Open);
        assert_eq!(
            breaker.allow(31),
            Admission::Refused {
                retry_at_ms: 30 + COOLDOWN
            }
        );
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let mut breaker = breaker();
        breaker.record_failure(1);
        breaker.record_failure(2);
        breaker.record_success(3);
        assert_eq!(breaker.consecutive_failures(), 0);
        breaker.record_failure(4);
        breaker.record_failure(5);
        assert_eq!(breaker.state(5), BreakerState::Closed);
        breaker.record_failure(6);
        assert_eq!(breaker.state(6), BreakerState::Open);
    }

    #[test]
    fn refuses_while_open() {
        let mut breaker = opened_at(1_000);
        for now in [1_000, 1_001, 15_000, 1_000 + COOLDOWN - 1] {
            assert_eq!(
                breaker.allow(now),
                Admission::Refused {
                    retry_at_ms: 1_000 + COOLDOWN
                }
            );
            assert_eq!(breaker.state(now), BreakerState::Open);
        }
    }

    #[test]
    fn half_open_allows_exactly_one_probe() {
        let mut breaker = opened_at(1_000);
        let after_cooldown = 1_000 + COOLDOWN;
        assert_eq!(breaker.state(after_cooldown), BreakerState::HalfOpen);
        assert_eq!(breaker.allow(after_cooldown), Admission::Probe);
        for now in [
            after_cooldown,
            after_cooldown + 1,
            after_cooldown + COOLDOWN - 1,
        ] {
            assert_eq!(
                breaker.allow(now),
                Admission::Refused {
                    retry_at_ms: after_cooldown + COOLDOWN
                }
            );
            assert_eq!(breaker.state(now), BreakerState::HalfOpen);
        }
    }

    #[test]
    fn probe_success_closes() {
        let mut breaker = opened_at(0);
        assert_eq!(breaker.allow(COOLDOWN), Admission::Probe);
        breaker.record_success(COOLDOWN + 200);
        assert_eq!(breaker.state(COOLDOWN + 200), BreakerState::Closed);
        assert_eq!(breaker.consecutive_failures(), 0);
        assert_eq!(breaker.allow(COOLDOWN + 201), Admission::Allowed);
        // The count starts again from zero: two failures do not reopen it.
        breaker.record_failure(COOLDOWN + 300);
        breaker.record_failure(COOLDOWN + 400);
        assert_eq!(breaker.state(COOLDOWN + 400), BreakerState::Closed);
    }

    #[test]
    fn probe_failure_reopens_for_a_new_cooldown() {
        let mut breaker = opened_at(0);
        assert_eq!(breaker.allow(COOLDOWN), Admission::Probe);
        let failed_at = COOLDOWN + 1_500;
        breaker.record_failure(failed_at);
        assert_eq!(breaker.state(failed_at), BreakerState::Open);
        assert_eq!(
            breaker.allow(failed_at + COOLDOWN - 1),
            Admission::Refused {
                retry_at_ms: failed_at + COOLDOWN
            }
        );
        assert_eq!(breaker.allow(failed_at + COOLDOWN), Admission::Probe);
    }

    #[test]
    fn a_lost_probe_is_retried_after_a_cooldown() {
        let mut breaker = opened_at(0);
        assert_eq!(breaker.allow(COOLDOWN), Admission::Probe);
        // The probe never reports back.
        assert!(!breaker.allow(2 * COOLDOWN - 1).is_allowed());
        assert_eq!(breaker.allow(2 * COOLDOWN), Admission::Probe);
        // And only one new probe.
        assert!(!breaker.allow(2 * COOLDOWN).is_allowed());
        breaker.record_success(2 * COOLDOWN + 10);
        assert_eq!(breaker.allow(2 * COOLDOWN + 11), Admission::Allowed);
    }

    #[test]
    fn a_straggling_failure_while_open_keeps_the_cooldown() {
        let mut breaker = opened_at(0);
        breaker.record_failure(10_000);
        assert_eq!(breaker.allow(COOLDOWN), Admission::Probe);
    }

    #[test]
    fn zero_failures_acts_as_one() {
        let mut breaker = CircuitBreaker::new(BreakerConfig {
            failures: 0,
            cooldown_ms: 5,
        });
        breaker.record_failure(0);
        assert_eq!(breaker.state(0), BreakerState::Open);
    }

    #[test]
    fn a_clock_that_steps_back_cannot_keep_it_open_longer_than_a_cooldown() {
        let mut breaker = opened_at(1_000_000);
        // The clock now reads far earlier; the breaker still probes one cooldown later.
        assert_eq!(
            breaker.allow(0),
            Admission::Refused {
                retry_at_ms: COOLDOWN
            }
        );
        assert!(!breaker.allow(COOLDOWN - 1).is_allowed());
        assert_eq!(breaker.allow(COOLDOWN), Admission::Probe);
        // Likewise a probe that seems to have started in the future: at most one cooldown.
        assert_eq!(
            breaker.allow(10),
            Admission::Refused {
                retry_at_ms: 10 + COOLDOWN
            }
        );
        assert_eq!(breaker.allow(10 + COOLDOWN), Admission::Probe);
    }

    #[test]
    fn no_overflow_near_the_end_of_time() {
        let mut breaker = breaker();
        for _ in 0..3 {
            breaker.record_failure(u64::MAX - 1);
        }
        assert_eq!(breaker.state(u64::MAX - 1), BreakerState::Open);
        assert_eq!(
            breaker.allow(u64::MAX - 1),
            Admission::Refused {
                retry_at_ms: u64::MAX
            }
        );
        assert_eq!(breaker.allow(u64::MAX), Admission::Probe);
    }

    #[test]
    fn state_serializes_in_lowercase() {
        let names: Vec<String> = [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ]
        .iter()
        .map(|state| serde_json::to_string(state).unwrap())
        .collect();
        assert_eq!(names, ["\"closed\"", "\"open\"", "\"half_open\""]);
        let parsed: BreakerState = serde_json::from_str("\"half_open\"").unwrap();
        assert_eq!(parsed, BreakerState::HalfOpen);
    }

    #[test]
    fn breaker_round_trips_through_serde() {
        let mut breaker = opened_at(7);
        let json = serde_json::to_string(&breaker).unwrap();
        let mut restored: CircuitBreaker = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, breaker);
        assert_eq!(restored.allow(7 + COOLDOWN), breaker.allow(7 + COOLDOWN));
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let config: BreakerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, BreakerConfig::default());
        let config: BreakerConfig = serde_json::from_str(r#"{"cooldown_ms": 5000}"#).unwrap();
        assert_eq!(config.failures, 3);
        assert_eq!(config.cooldown_ms, 5_000);
        assert!(serde_json::from_str::<BreakerConfig>(r#"{"cooldwn_ms": 1}"#).is_err());
    }
}
