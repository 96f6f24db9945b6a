//! The origin circuit breaker of this isolate: a hint only (DESIGN.md). The state machine is
//! the core's `CircuitBreaker`; correctness never depends on it, because the KV marker and the
//! reconciliation deliver whatever the breaker skips.

use invoice_edge_core::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use std::cell::RefCell;

thread_local! {
    static BREAKER: RefCell<Option<CircuitBreaker>> = const { RefCell::new(None) };
}

fn with<T>(config: BreakerConfig, f: impl FnOnce(&mut CircuitBreaker) -> T) -> T {
    BREAKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let breaker = slot.get_or_insert_with(|| CircuitBreaker::new(config));
        f(breaker)
    })
}

/// May this request call the origin now?
pub fn allow(config: BreakerConfig, now_ms: u64) -> bool {
    with(config, |b| b.allow(now_ms).is_allowed())
}

pub fn record(config: BreakerConfig, now_ms: u64, success: bool) {
    with(config, |b| {
        if success {
            b.record_success(now_ms)
        } else {
            b.record_failure(now_ms)
        }
    })
}

pub fn state(config: BreakerConfig, now_ms: u64) -> BreakerState {
    with(config, |b| b.state(now_ms))
}
