//! The worker's one home for time and randomness: the core takes both as arguments
//! (docs/ARCHITECTURE.md, "Parts"), and every adapter call site gets them here.

use worker::Env;

/// The runtime's clock, in Unix milliseconds.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// A series object's clock: the runtime's, shifted in test builds by `TEST_CLOCK_SHIFT_MS` so a
/// test can cross 72 offline hours in seconds (docs/ARCHITECTURE.md, "Offline limits"). A deployed worker
/// is built without the `test-hooks` feature and ignores the variable.
pub fn series_now_ms(env: &Env) -> i64 {
    i64::try_from(now_ms())
        .unwrap_or(i64::MAX)
        .saturating_add(clock_shift_ms(env))
}

#[cfg(feature = "test-hooks")]
fn clock_shift_ms(env: &Env) -> i64 {
    env.var("TEST_CLOCK_SHIFT_MS")
        .ok()
        .and_then(|v| v.to_string().trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(not(feature = "test-hooks"))]
fn clock_shift_ms(_env: &Env) -> i64 {
    0
}

/// `N` random bytes from `crypto.getRandomValues`. `None` if the runtime gives none: a caller
/// that needs them for an id answers 503 rather than make a predictable one.
pub fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).ok().map(|()| bytes)
}

/// A random `u64` for jitter, where predictability costs nothing (a back-off's spread).
pub fn jitter_u64() -> u64 {
    random_bytes::<8>().map_or(0, u64::from_le_bytes)
}
