//! The delivery back-off: when a pending invoice should next be offered to the origin.
//!
//! docs/ARCHITECTURE.md, "Delivery to the origin": after a failed batch the series' object sets
//! its alarm for the next attempt, and this module computes that time. Like tower's `retry/backoff.rs` it is a pure policy: the caller
//! passes the clock (`now_ms`, the worker's `Date.now()`) and the randomness (a
//! [`RandomSource`]), so tests run with plain numbers, and the core never owns an rng.
//!
//! The delay is exponential (`base_ms · factorⁿ⁻¹` after `n` failed attempts), capped at
//! `cap_ms`, with jitter as named by Marc Brooker, "Exponential Backoff And Jitter", AWS
//! Architecture Blog, 2015 (<https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>):
//!
//! - **Equal Jitter** (the default): `ceiling/2 + random_between(0, ceiling/2)`.
//! - **Full Jitter**: `random_between(0, ceiling)`.
//!
//! Equal Jitter is the default because it keeps a floor of half the exponential wait: when
//! the origin is down, no retry comes back almost at once by bad luck, so the attempt count
//! (which sends a message to the dead-letter queue once spent) always stands for real time
//! waited. The blog's benchmark favours Full Jitter (Equal Jitter did a little more work and
//! took longer), but it models clients competing for one contended resource; here the waits
//! mostly sit out an outage, where the floor matters more. Full Jitter stays available by
//! configuration.

use serde::{Deserialize, Serialize};

/// The default wait after the first failed attempt: one second.
pub const DEFAULT_BASE_MS: u64 = 1_000;
/// The default growth of the wait per failed attempt: it doubles.
pub const DEFAULT_FACTOR: u32 = 2;
/// The default longest wait: five minutes, so a recovered origin is reached within minutes
/// even after a long outage (and the every-minute reconciliation cron catches up meanwhile).
pub const DEFAULT_CAP_MS: u64 = 300_000;

/// Where the jitter comes from. The worker passes `crypto.getRandomValues` (or
/// `Math.random`) behind it; tests pass fixed values. Any closure `FnMut() -> u64` is one.
pub trait RandomSource {
    /// A uniformly distributed `u64`.
    fn next_u64(&mut self) -> u64;
}

impl<F> RandomSource for F
where
    F: FnMut() -> u64,
{
    fn next_u64(&mut self) -> u64 {
        self()
    }
}

/// How the random part of the wait is drawn (AWS Architecture Blog naming, see the module
/// documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// `ceiling/2 + random_between(0, ceiling/2)`: never less than half the ceiling.
    #[default]
    Equal,
    /// `random_between(0, ceiling)`.
    Full,
}

/// A capped exponential back-off with jitter. Deserializes with defaults for missing fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    /// The ceiling of the wait after the first failed attempt, in milliseconds.
    pub base_ms: u64,
    /// How much the ceiling grows per further failed attempt. Zero acts as one (no growth).
    pub factor: u32,
    /// The largest ceiling, in milliseconds.
    pub cap_ms: u64,
    /// How the wait is drawn below its ceiling.
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: DEFAULT_BASE_MS,
            factor: DEFAULT_FACTOR,
            cap_ms: DEFAULT_CAP_MS,
            jitter: Jitter::Equal,
        }
    }
}

impl Backoff {
    /// The longest wait after `attempts` failed attempts, before jitter:
    /// `min(cap_ms, base_ms · factor^(attempts − 1))`, and 0 before any attempt.
    /// Saturates instead of overflowing, for any `attempts` up to `u32::MAX`.
    pub fn ceiling_ms(&self, attempts: u32) -> u64 {
        let Some(exponent) = attempts.checked_sub(1) else {
            // Never tried: nothing to back off from.
            return 0;
        };
        let growth = u64::from(self.factor.max(1))
            .checked_pow(exponent)
            .unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(growth).min(self.cap_ms)
    }

    /// The wait after `attempts` failed attempts, jittered with one draw from `random`.
    pub fn delay_ms<R>(&self, attempts: u32, random: &mut R) -> u64
    where
        R: RandomSource + ?Sized,
    {
        let ceiling = self.ceiling_ms(attempts);
        match self.jitter {
            Jitter::Full => uniform_at_most(ceiling, random.next_u64()),
            Jitter::Equal => {
                let floor = ceiling / 2;
                floor + uniform_at_most(ceiling - floor, random.next_u64())
            }
        }
    }

    /// When the next delivery attempt is due, in the caller's clock (`now_ms` plus the
    /// jittered wait), for the `pending:` marker's `next_attempt_at`. `attempts` is the
    /// number of attempts already made and failed; with 0 the attempt is due at once.
    /// Saturates at `u64::MAX` rather than overflowing.
    pub fn next_attempt_at<R>(&self, now_ms: u64, attempts: u32, random: &mut R) -> u64
    where
        R: RandomSource + ?Sized,
    {
        now_ms.saturating_add(self.delay_ms(attempts, random))
    }
}

/// Maps a uniform `u64` onto `0..=max` by fixed-point scaling (Lemire's multiply-shift): 0
/// maps to 0 and `u64::MAX` to `max`, so the bounds of the jitter are reachable and testable,
/// with no modulo and no overflow (the product fits in 128 bits).
fn uniform_at_most(max: u64, random: u64) -> u64 {
    let scaled = (u128::from(random) * (u128::from(max) + 1)) >> 64;
    // `scaled <= max` because `random < 2^64`, so the conversion never fails.
    u64::try_from(scaled).unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64 (Steele, Lea and Flood, 2014): a tiny seeded generator, so the tests are
    /// deterministic without an rng crate.
    struct SplitMix64(u64);

    impl RandomSource for SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    fn lowest() -> impl FnMut() -> u64 {
        || 0
    }

    fn highest() -> impl FnMut() -> u64 {
        || u64::MAX
    }

    fn full_jitter() -> Backoff {
        Backoff {
            jitter: Jitter::Full,
            ..Backoff::default()
        }
    }

    #[test]
    fn ceiling_grows_exponentially_then_is_capped() {
        let backoff = Backoff::default();
        let ceilings: Vec<u64> = (0..=11).map(|n| backoff.ceiling_ms(n)).collect();
        assert_eq!(
            ceilings,
            [
                0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
                300_000
            ]
        );
    }

    #[test]
    fn equal_jitter_bounds_are_half_and_whole_ceiling() {
        let backoff = Backoff::default();
        for attempts in 1..=20 {
            let ceiling = backoff.ceiling_ms(attempts);
            assert_eq!(backoff.delay_ms(attempts, &mut lowest()), ceiling / 2);
            assert_eq!(backoff.delay_ms(attempts, &mut highest()), ceiling);
        }
        assert_eq!(backoff.delay_ms(1, &mut lowest()), 500);
        assert_eq!(backoff.delay_ms(30, &mut highest()), 300_000);
    }

    #[test]
    fn full_jitter_bounds_are_zero_and_whole_ceiling() {
        let backoff = full_jitter();
        for attempts in 1..=20 {
            let ceiling = backoff.ceiling_ms(attempts);
            assert_eq!(backoff.delay_ms(attempts, &mut lowest()), 0);
            assert_eq!(backoff.delay_ms(attempts, &mut highest()), ceiling);
        }
    }

    #[test]
    fn jitter_stays_within_bounds_for_many_draws() {
        let mut random = SplitMix64(42);
        for backoff in [Backoff::default(), full_jitter()] {
            for attempts in 0..=40 {
                let ceiling = backoff.ceiling_ms(attempts);
                let floor = match backoff.jitter {
                    Jitter::Equal => ceiling / 2,
                    Jitter::Full => 0,
                };
                for _ in 0..200 {
                    let delay = backoff.delay_ms(attempts, &mut random);
                    assert!(
                        (floor..=ceiling).contains(&delay),
                        "{delay} outside {floor}..={ceiling} at attempt {attempts}"
                    );
                }
            }
        }
    }

    #[test]
    fn jitter_actually_varies() {
        let backoff = Backoff::default();
        let mut random = SplitMix64(7);
        let delays: std::collections::BTreeSet<u64> =
            (0..50).map(|_| backoff.delay_ms(8, &mut random)).collect();
        assert!(delays.len() > 40, "only {} distinct delays", delays.len());
    }

    #[test]
    fn deterministic_for_a_given_random_source() {
        let backoff = Backoff::default();
        let schedule = |seed| {
            let mut random = SplitMix64(seed);
            (0..30)
                .map(|attempts| backoff.next_attempt_at(1_000_000, attempts, &mut random))
                .collect::<Vec<u64>>()
        };
        assert_eq!(schedule(1), schedule(1));
        assert_ne!(schedule(1), schedule(2));
    }

    #[test]
    fn next_attempt_is_now_plus_the_delay() {
        let backoff = Backoff::default();
        let now = 1_764_000_000_000; // 2025-11-24, as `Date.now()` gives it
        assert_eq!(backoff.next_attempt_at(now, 0, &mut highest()), now);
        assert_eq!(backoff.next_attempt_at(now, 1, &mut highest()), now + 1_000);
        assert_eq!(backoff.next_attempt_at(now, 3, &mut lowest()), now + 2_000);
    }

    #[test]
    fn no_overflow_at_the_largest_attempt_count() {
        let backoff = Backoff::default();
        assert_eq!(backoff.ceiling_ms(u32::MAX), 300_000);
        assert_eq!(backoff.delay_ms(u32::MAX, &mut highest()), 300_000);
        assert_eq!(
            backoff.next_attempt_at(u64::MAX - 1, u32::MAX, &mut highest()),
            u64::MAX
        );

        let unbounded = Backoff {
            base_ms: u64::MAX,
            factor: u32::MAX,
            cap_ms: u64::MAX,
            jitter: Jitter::Equal,
        };
        assert_eq!(unbounded.ceiling_ms(u32::MAX), u64::MAX);
        assert_eq!(unbounded.delay_ms(u32::MAX, &mut highest()), u64::MAX);
        assert_eq!(
            unbounded.delay_ms(u32::MAX, &mut lowest()),
            u64::MAX / 2,
            "equal jitter keeps half of a saturated ceiling"
        );
        assert_eq!(
            unbounded.next_attempt_at(5, u32::MAX, &mut highest()),
            u64::MAX
        );
    }

    #[test]
    fn factor_zero_or_one_means_no_growth() {
        for factor in [0, 1] {
            let backoff = Backoff {
                factor,
                ..Backoff::default()
            };
            assert_eq!(backoff.ceiling_ms(1), 1_000);
            assert_eq!(backoff.ceiling_ms(u32::MAX), 1_000);
        }
    }

    #[test]
    fn accepts_a_trait_object() {
        let backoff = Backoff::default();
        let mut random = SplitMix64(3);
        let source: &mut dyn RandomSource = &mut random;
        let delay = backoff.delay_ms(2, source);
        assert!((1_000..=2_000).contains(&delay));
    }

    #[test]
    fn uniform_mapping_hits_both_ends() {
        assert_eq!(uniform_at_most(0, u64::MAX), 0);
        assert_eq!(uniform_at_most(10, 0), 0);
        assert_eq!(uniform_at_most(10, u64::MAX), 10);
        assert_eq!(uniform_at_most(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(uniform_at_most(1, 1 << 63), 1);
        assert_eq!(uniform_at_most(1, (1 << 63) - 1), 0);
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let backoff: Backoff = serde_json::from_str("{}").unwrap();
        assert_eq!(backoff, Backoff::default());
        let backoff: Backoff =
            serde_json::from_str(r#"{"cap_ms": 60000, "jitter": "full"}"#).unwrap();
        assert_eq!(backoff.cap_ms, 60_000);
        assert_eq!(backoff.base_ms, 1_000);
        assert_eq!(backoff.jitter, Jitter::Full);
        assert_eq!(
            serde_json::to_value(Backoff::default()).unwrap(),
            serde_json::json!({"base_ms": 1000, "factor": 2, "cap_ms": 300000, "jitter": "equal"})
        );
        assert!(serde_json::from_str::<Backoff>(r#"{"base": 1}"#).is_err());
    }
}
