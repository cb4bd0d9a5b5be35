//! Per-process request rates per operation group (DESIGN §1, reference/kms-api.md §12): one
//! token bucket per group, holding one second of its rate and refilled continuously. A request
//! that finds its bucket empty waits — for the next token, plus a jitter whose spread doubles on
//! each lost retry — and gives up with `Rejected.Throttling` once `max_wait_ms` has gone, or at
//! once when the next token cannot come in time.
//!
//! This sits on every cryptographic call: an unlimited group costs one branch, and a limited one
//! a short `parking_lot` critical section with integer arithmetic only.

use super::{KmsCode, KmsError};
use crate::config::{Rate, RateLimitConfig};
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Monotonic time and sleeping, so that tests can run the limiter on a fake clock.
pub trait Clock: Send + Sync {
    /// Time since an arbitrary fixed origin.
    fn now(&self) -> Duration;
    fn sleep(&self, d: Duration);
}

/// `Instant` and `thread::sleep`.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock { origin: Instant::now() }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// The KMS's request groups, each with its own rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Create,
    /// Cryptographic calls with AES and SM4 keys.
    CryptoSymmetric,
    /// Cryptographic calls with RSA, EC and SM2 keys.
    CryptoAsymmetric,
    Read,
    Write,
}

impl Group {
    pub const ALL: [Group; 5] =
        [Group::Create, Group::CryptoSymmetric, Group::CryptoAsymmetric, Group::Read, Group::Write];

    /// The group's key in `[rate_limit]`.
    pub fn name(self) -> &'static str {
        match self {
            Group::Create => "create",
            Group::CryptoSymmetric => "crypto_symmetric",
            Group::CryptoAsymmetric => "crypto_asymmetric",
            Group::Read => "read",
            Group::Write => "write",
        }
    }

    /// The group of a cryptographic call with a symmetric or an asymmetric key.
    pub fn crypto(symmetric: bool) -> Group {
        if symmetric { Group::CryptoSymmetric } else { Group::CryptoAsymmetric }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn rate(self, c: &RateLimitConfig) -> Rate {
        match self {
            Group::Create => c.create,
            Group::CryptoSymmetric => c.crypto_symmetric,
            Group::CryptoAsymmetric => c.crypto_asymmetric,
            Group::Read => c.read,
            Group::Write => c.write,
        }
    }
}

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Usage is counted in slots of this many nanoseconds, `SLOTS` of which make the last second.
const SLOT_NANOS: u64 = 100_000_000;
const SLOTS: usize = 10;
/// Spread of the first retry's jitter, and the most it doubles to.
const FIRST_SPREAD: Duration = Duration::from_millis(1);
const MAX_SPREAD: Duration = Duration::from_millis(128);

/// Requests granted and refused in the last `SLOTS` slots.
#[derive(Debug, Default)]
struct Window {
    granted: [u32; SLOTS],
    refused: [u32; SLOTS],
    /// The slot number (time / `SLOT_NANOS`) of the newest slot.
    newest: u64,
}

impl Window {
    fn advance(&mut self, now: u64) {
        let slot = now / SLOT_NANOS;
        let gone = slot.saturating_sub(self.newest).min(SLOTS as u64);
        for s in 1..=gone {
            let i = ((self.newest + s) % SLOTS as u64) as usize;
            self.granted[i] = 0;
            self.refused[i] = 0;
        }
        self.newest = self.newest.max(slot);
    }

    fn index(&self) -> usize {
        (self.newest % SLOTS as u64) as usize
    }

    fn grant(&mut self, now: u64) {
        self.advance(now);
        let i = self.index();
        self.granted[i] = self.granted[i].saturating_add(1);
    }

    fn refuse(&mut self, now: u64) {
        self.advance(now);
        let i = self.index();
        self.refused[i] = self.refused[i].saturating_add(1);
    }

    fn totals(&mut self, now: u64) -> (u64, u64) {
        self.advance(now);
        let sum = |a: &[u32; SLOTS]| a.iter().map(|n| u64::from(*n)).sum();
        (sum(&self.granted), sum(&self.refused))
    }
}

/// A token bucket kept as time: `credit` nanoseconds of accumulated allowance, one token per
/// `interval`, at most `capacity`. Integers, so a token that is due is never missed by a
/// rounding error.
#[derive(Debug)]
struct Bucket {
    interval: u64,
    capacity: u64,
    credit: u64,
    last: u64,
    window: Window,
}

impl Bucket {
    fn new(per_second: f64, now: u64) -> Bucket {
        let interval = ((NANOS_PER_SEC as f64 / per_second) as u64).max(1);
        // One second of the rate; a rate under one per second still needs room for one token.
        let capacity = NANOS_PER_SEC.max(interval);
        Bucket { interval, capacity, credit: capacity, last: now, window: Window::default() }
    }

    /// Takes a token, or says how long until one is due.
    fn take(&mut self, now: u64) -> Result<(), u64> {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        self.credit = self.credit.saturating_add(elapsed).min(self.capacity);
        if self.credit >= self.interval {
            self.credit -= self.interval;
            self.window.grant(now);
            Ok(())
        } else {
            Err(self.interval - self.credit)
        }
    }
}

/// What `kmsctl describe-quotas` shows for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupUsage {
    pub group: Group,
    pub rate: Rate,
    /// Requests let through in about the last second (100 ms granularity); `None` for an
    /// unlimited group, whose requests are not counted so as to cost nothing.
    pub granted_last_second: Option<u64>,
    /// Requests refused with `Rejected.Throttling` in about the last second.
    pub throttled_last_second: Option<u64>,
}

/// The process's rate limiter.
pub struct RateLimiter<C: Clock = SystemClock> {
    clock: C,
    rates: [Rate; 5],
    /// `None` for unlimited groups.
    buckets: [Option<Mutex<Bucket>>; 5],
    max_wait: Duration,
}

impl RateLimiter<SystemClock> {
    pub fn new(config: &RateLimitConfig) -> RateLimiter<SystemClock> {
        RateLimiter::with_clock(config, SystemClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> RateLimiter<C> {
        let now = nanos(clock.now());
        let rates = Group::ALL.map(|g| g.rate(config));
        let buckets = rates.map(|r| match r {
            // The configuration admits only finite positive rates; anything else is read as
            // no limit rather than as a bucket that never fills.
            Rate::PerSecond(n) if n > 0.0 && n.is_finite() => Some(Mutex::new(Bucket::new(n, now))),
            _ => None,
        });
        RateLimiter { clock, rates, buckets, max_wait: Duration::from_millis(config.max_wait_ms) }
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Lets one request of `group` through, waiting if its rate is used up; `Throttling` when
    /// no token comes within `max_wait_ms`.
    #[inline]
    pub fn acquire(&self, group: Group) -> Result<(), KmsError> {
        match &self.buckets[group.index()] {
            None => Ok(()),
            Some(bucket) => self.acquire_limited(group, bucket),
        }
    }

    fn acquire_limited(&self, group: Group, bucket: &Mutex<Bucket>) -> Result<(), KmsError> {
        let start = self.clock.now();
        let deadline = start.saturating_add(self.max_wait);
        let mut spread = FIRST_SPREAD;
        loop {
            let now = self.clock.now();
            let due = match bucket.lock().take(nanos(now)) {
                Ok(()) => return Ok(()),
                Err(due) => Duration::from_nanos(due),
            };
            let left = deadline.saturating_sub(now);
            // Only time brings tokens, and other requests can only take them: if the next
            // one is due after the deadline, waiting cannot help.
            if due > left {
                bucket.lock().window.refuse(nanos(now));
                return Err(KmsError::new(
                    KmsCode::Throttling,
                    format!(
                        "{} requests over {}/s; waited {} ms of at most {} ms",
                        group.name(),
                        rate_text(self.rates[group.index()]),
                        now.saturating_sub(start).as_millis(),
                        self.max_wait.as_millis()
                    ),
                ));
            }
            // The jitter keeps waiters that lost the same token from all waking together
            // again; its spread doubles with each loss.
            self.clock.sleep(due.saturating_add(spread.mul_f64(unit_random())).min(left));
            spread = spread.saturating_mul(2).min(MAX_SPREAD);
        }
    }

    /// Each group's configured rate and recent traffic.
    pub fn usage(&self) -> Vec<GroupUsage> {
        let now = nanos(self.clock.now());
        Group::ALL
            .iter()
            .map(|g| {
                let counted = self.buckets[g.index()].as_ref().map(|b| b.lock().window.totals(now));
                GroupUsage {
                    group: *g,
                    rate: self.rates[g.index()],
                    granted_last_second: counted.map(|c| c.0),
                    throttled_last_second: counted.map(|c| c.1),
                }
            })
            .collect()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn rate_text(r: Rate) -> String {
    match r {
        Rate::PerSecond(n) => format!("{n}"),
        Rate::Unlimited => "unlimited".to_string(),
    }
}

/// A number in [0, 1) for jitter; the midpoint should the DRBG ever fail (jitter needs no
/// strength, only spread).
fn unit_random() -> f64 {
    match crate::engine::rand::array::<8>() {
        Ok(b) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Time moves only when someone sleeps.
    #[derive(Default)]
    struct FakeClock {
        now: AtomicU64,
        slept: AtomicU64,
        sleeps: AtomicU64,
    }

    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.now.fetch_add(nanos(d), Ordering::SeqCst);
        }
        fn slept(&self) -> Duration {
            Duration::from_nanos(self.slept.load(Ordering::SeqCst))
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            Duration::from_nanos(self.now.load(Ordering::SeqCst))
        }
        fn sleep(&self, d: Duration) {
            self.advance(d);
            self.slept.fetch_add(nanos(d), Ordering::SeqCst);
            self.sleeps.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn config(rate: Rate, max_wait_ms: u64) -> RateLimitConfig {
        RateLimitConfig {
            create: rate,
            crypto_symmetric: rate,
            crypto_asymmetric: rate,
            read: rate,
            write: rate,
            max_wait_ms,
        }
    }

    #[test]
    fn a_burst_of_twice_the_rate_waits_about_a_second() {
        for rate in [10.0, 750.0] {
            let l = RateLimiter::with_clock(&config(Rate::PerSecond(rate), 60_000), FakeClock::default());
            let n = (2.0 * rate) as usize;
            for i in 0..n {
                l.acquire(Group::CryptoSymmetric).unwrap_or_else(|e| panic!("request {i}: {e}"));
                // The first second's worth goes through at once.
                if i + 1 == rate as usize {
                    assert_eq!(l.clock().slept(), Duration::ZERO);
                }
            }
            let slept = l.clock().slept().as_secs_f64();
            // The jitter a wait overshoots by is credit the next request finds, so the whole
            // burst waits one second plus at most the last jitter.
            assert!((0.999..1.0 + MAX_SPREAD.as_secs_f64()).contains(&slept), "rate {rate}: slept {slept}s");
            let u = &l.usage()[Group::CryptoSymmetric.index()];
            assert_eq!(u.rate, Rate::PerSecond(rate));
            // Usage keeps the last ten 100 ms slots: the slot of the opening burst has aged
            // out, about nine tenths of the waited-for requests remain.
            assert!(u.granted_last_second.unwrap() as f64 >= 0.8 * rate, "{u:?}");
            assert_eq!(u.throttled_last_second, Some(0));
        }
    }

    #[test]
    fn beyond_a_small_bound_requests_are_throttled() {
        // Tokens come every 100 ms; a caller waits at most 50 ms.
        let l = RateLimiter::with_clock(&config(Rate::PerSecond(10.0), 50), FakeClock::default());
        let results: Vec<_> = (0..20).map(|_| l.acquire(Group::Read)).collect();
        assert!(results[..10].iter().all(Result::is_ok));
        for r in &results[10..] {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.code, KmsCode::Throttling);
            assert!(e.message.contains("read requests over 10/s"), "{}", e.message);
        }
        // Hopeless waits are not waited out.
        assert_eq!(l.clock().slept(), Duration::ZERO);
        let u = &l.usage()[Group::Read.index()];
        assert_eq!((u.granted_last_second, u.throttled_last_second), (Some(10), Some(10)));
        // Within the bound of the next token, a request waits for it.
        l.clock().advance(Duration::from_millis(60));
        l.acquire(Group::Read).unwrap();
        assert!(l.clock().slept() >= Duration::from_millis(40));
        // Other groups have their own buckets.
        l.acquire(Group::Write).unwrap();
    }

    #[test]
    fn no_wait_at_all_with_a_zero_bound() {
        let l = RateLimiter::with_clock(&config(Rate::PerSecond(2.0), 0), FakeClock::default());
        assert!(l.acquire(Group::Create).is_ok());
        assert!(l.acquire(Group::Create).is_ok());
        assert_eq!(l.acquire(Group::Create).unwrap_err().code, KmsCode::Throttling);
        l.clock().advance(Duration::from_millis(500));
        assert!(l.acquire(Group::Create).is_ok());
        assert_eq!(l.clock().slept(), Duration::ZERO);
    }

    #[test]
    fn the_bucket_refills_to_one_second_only() {
        let l = RateLimiter::with_clock(&config(Rate::PerSecond(5.0), 0), FakeClock::default());
        l.clock().advance(Duration::from_secs(3600));
        for _ in 0..5 {
            l.acquire(Group::Write).unwrap();
        }
        assert!(l.acquire(Group::Write).is_err());
    }

    #[test]
    fn a_rate_under_one_per_second_still_lets_one_through() {
        let l = RateLimiter::with_clock(&config(Rate::PerSecond(0.5), 1_000), FakeClock::default());
        l.acquire(Group::Create).unwrap();
        // The next token is 2 s away, beyond the 1 s bound.
        assert!(l.acquire(Group::Create).is_err());
        l.clock().advance(Duration::from_millis(1500));
        l.acquire(Group::Create).unwrap();
        assert!(l.clock().slept() >= Duration::from_millis(500));
    }

    #[test]
    fn unlimited_never_waits_and_is_not_counted() {
        let l = RateLimiter::with_clock(&config(Rate::Unlimited, 0), FakeClock::default());
        for _ in 0..100_000 {
            l.acquire(Group::CryptoSymmetric).unwrap();
        }
        assert_eq!(l.clock().sleeps.load(Ordering::SeqCst), 0);
        let u = &l.usage()[Group::CryptoSymmetric.index()];
        assert_eq!((u.rate, u.granted_last_second), (Rate::Unlimited, None));
    }

    #[test]
    fn usage_forgets_after_a_second() {
        let l = RateLimiter::with_clock(&RateLimitConfig::default(), FakeClock::default());
        for _ in 0..7 {
            l.acquire(Group::Read).unwrap();
        }
        let usage = l.usage();
        assert_eq!(usage.len(), 5);
        assert_eq!(usage[Group::Read.index()].granted_last_second, Some(7));
        assert_eq!(usage[Group::Read.index()].rate, Rate::PerSecond(20.0));
        assert_eq!(usage[Group::CryptoAsymmetric.index()].rate, Rate::PerSecond(200.0));
        l.clock().advance(Duration::from_millis(950));
        assert_eq!(l.usage()[Group::Read.index()].granted_last_second, Some(7));
        l.clock().advance(Duration::from_millis(100));
        assert_eq!(l.usage()[Group::Read.index()].granted_last_second, Some(0));
        l.clock().advance(Duration::from_secs(3600));
        l.acquire(Group::Read).unwrap();
        assert_eq!(l.usage()[Group::Read.index()].granted_last_second, Some(1));
    }

    #[test]
    fn group_names_are_the_config_keys() {
        let names: Vec<_> = Group::ALL.iter().map(|g| g.name()).collect();
        assert_eq!(names, ["create", "crypto_symmetric", "crypto_asymmetric", "read", "write"]);
        assert_eq!(Group::crypto(true), Group::CryptoSymmetric);
        assert_eq!(Group::crypto(false), Group::CryptoAsymmetric);
    }

    #[test]
    fn threads_share_the_rate_on_the_real_clock() {
        let l = Arc::new(RateLimiter::new(&config(Rate::PerSecond(200.0), 5_000)));
        let start = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..75).all(|_| l.acquire(Group::CryptoAsymmetric).is_ok()))
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
        // 300 requests at 200/s with 200 in the bucket: about half a second.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(450), "{took:?}");
        assert!(took < Duration::from_secs(4), "{took:?}");
    }
}
