//! Client-side rate limits, one [`Limiter`] per throttled API, shared by every thread that
//! calls it.
//!
//! # Design: at most N starts in any window of W
//!
//! Microsoft Graph's identity and access reports (`auditLogs/*`, `identityProtection/*`) allow
//! 5 requests per 10 seconds per app per tenant and answer 429 beyond that. A classic token
//! bucket (refill 0.5/s, burst 5) is *not* safe against a server that counts over a sliding
//! window: after a burst of 5 at t=0 it grants the 6th at t=2 s, which the server — still
//! seeing 5 requests in its last 10 s — refuses. Against a fixed window aligned on the server's
//! clock, which we do not know, a bucket is unsafe too.
//!
//! The limiter therefore keeps the start times of the last N requests (a ring) and lets a new
//! request start only when the oldest of them is at least W ago: "at most N starts in any
//! window of length W". That is exactly the sliding-window rule, and it implies the fixed-window
//! rule for any alignment (a fixed window is one of the sliding ones). It is also optimal: any
//! schedule the server accepts satisfies it, and the limiter never waits when the rule allows a
//! start. A small `margin` is added to W because the server counts a request when it *arrives*,
//! and arrivals can be closer together than our starts when latency varies (default 250 ms for
//! Graph: 97.6 % of the theoretical rate).
//!
//! # Pauses after a 429
//!
//! A 429 means our view of the server's budget is wrong (another client of the same app, a
//! restarted collection, a server that counts differently). [`Limiter::pause`] then holds back
//! *every* request of the API — not only the refused one — until `Retry-After` has passed, so
//! the other threads do not keep hitting the limit.
//!
//! ARM reads use the same structure with a larger ring (by default 200 per minute, the
//! documented 12,000 reads per hour spread evenly), or no limit at all.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A request rate: at most `requests` starts in any window of `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Requests allowed per window (at least 1).
    pub requests: u32,
    /// The window length.
    #[serde(with = "duration_ms")]
    pub per: Duration,
}

impl Rate {
    /// `requests` per `per`.
    pub fn new(requests: u32, per: Duration) -> Rate {
        Rate { requests: requests.max(1), per }
    }

    /// Microsoft Graph identity and access reports: 5 requests per 10 seconds per tenant.
    pub fn graph_reports() -> Rate {
        Rate::new(5, Duration::from_secs(10))
    }

    /// ARM reads: 12,000 per hour, as 200 per minute so a burst cannot use the hour at once.
    pub fn arm_reads() -> Rate {
        Rate::new(200, Duration::from_secs(60))
    }

    /// Requests per second in the long run.
    pub fn per_second(&self) -> f64 {
        f64::from(self.requests) / self.per.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} per {:?}", self.requests, self.per)
    }
}

/// The wait was interrupted by the cancel flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// A limiter shared by every thread that calls one API.
#[derive(Debug)]
pub struct Limiter {
    name: String,
    rate: Option<Rate>,
    margin: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Start times of the last `rate.requests` requests, oldest first.
    starts: VecDeque<Instant>,
    /// No request starts before this instant (set after a 429).
    paused_until: Option<Instant>,
    granted: u64,
    pauses: u64,
    waited: Duration,
}

/// What a limiter did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LimiterStats {
    /// Requests allowed to start.
    pub granted: u64,
    /// Pauses after a 429.
    pub pauses: u64,
    /// Total time callers waited (summed over threads).
    #[serde(with = "duration_ms")]
    pub waited: Duration,
}

impl Limiter {
    /// A limiter named `name` (for messages) allowing `rate`, or anything when `None`.
    pub fn new(name: impl Into<String>, rate: Option<Rate>) -> Limiter {
        Limiter { name: name.into(), rate, margin: Duration::ZERO, state: Mutex::new(State::default()) }
    }

    /// A limiter that never holds a request back (but still honours [`Limiter::pause`]).
    pub fn unlimited(name: impl Into<String>) -> Limiter {
        Limiter::new(name, None)
    }

    /// Adds `margin` to the window: the server may see our requests closer together than we
    /// started them.
    pub fn with_margin(mut self, margin: Duration) -> Limiter {
        self.margin = margin;
        self
    }

    /// The API this limiter guards.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configured rate (`None`: unlimited).
    pub fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// Blocks until a request may start, records its start and returns how long it waited.
    /// Checks `cancel` at least every 50 ms.
    pub fn acquire(&self, cancel: &AtomicBool) -> Result<Duration, Cancelled> {
        let t0 = Instant::now();
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled);
            }
            let now = Instant::now();
            let wait = match self.try_acquire_at(now) {
                Ok(()) => {
                    let waited = now - t0;
                    self.lock().waited += waited;
                    return Ok(waited);
                }
                Err(at) => at - now,
            };
            std::thread::sleep(wait.min(Duration::from_millis(50)));
        }
    }

    /// Grants a start at `now` when the rule allows it (and records it), else returns the
    /// earliest instant at which it would.
    pub fn try_acquire_at(&self, now: Instant) -> Result<(), Instant> {
        let mut st = self.lock();
        let mut earliest = now;
        if let Some(p) = st.paused_until {
            if p > now {
                earliest = p;
            } else {
                st.paused_until = None;
            }
        }
        if let Some(rate) = self.rate {
            let n = rate.requests as usize;
            while st.starts.len() > n {
                st.starts.pop_front();
            }
            if st.starts.len() == n {
                if let Some(&oldest) = st.starts.front() {
                    earliest = earliest.max(oldest + rate.per + self.margin);
                }
            }
        }
        if earliest > now {
            return Err(earliest);
        }
        if let Some(rate) = self.rate {
            if st.starts.len() == rate.requests as usize {
                st.starts.pop_front();
            }
            st.starts.push_back(now);
        }
        st.granted += 1;
        Ok(())
    }

    /// Holds back every request of this API for `d` (after a 429 with `Retry-After`).
    pub fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut st = self.lock();
        st.pauses += 1;
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
    }

    /// What this limiter did so far.
    pub fn stats(&self) -> LimiterStats {
        let st = self.lock();
        LimiterStats { granted: st.granted, pauses: st.pauses, waited: st.waited }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the ring consistent (every update is one push
        // or pop), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serde of a `Duration` as integer milliseconds.
pub(crate) mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u128::from(u64::MAX)) as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn at_most_n_starts_in_any_window() {
        let l = Limiter::new("t", Some(Rate::new(5, ms(10_000))));
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(l.try_acquire_at(t0 + ms(i)), Ok(()), "start {i}");
        }
        // The 6th may start exactly 10 s after the 1st, not before.
        assert_eq!(l.try_acquire_at(t0 + ms(2_000)), Err(t0 + ms(10_000)));
        assert_eq!(l.try_acquire_at(t0 + ms(10_000)), Ok(()));
        // The 7th: 10 s after the 2nd.
        assert_eq!(l.try_acquire_at(t0 + ms(10_000)), Err(t0 + ms(10_001)));
    }

    #[test]
    fn any_granted_schedule_satisfies_the_sliding_rule() {
        // Greedy requests at 1 ms steps for 60 s of simulated time.
        let rate = Rate::new(5, ms(1_000));
        let l = Limiter::new("t", Some(rate));
        let t0 = Instant::now();
        let mut granted = Vec::new();
        for step in 0..60_000u64 {
            let now = t0 + ms(step);
            if l.try_acquire_at(now).is_ok() {
                granted.push(now);
            }
        }
        for w in granted.windows(6) {
            assert!(w[5] - w[0] >= rate.per, "6 starts within one window");
        }
        // Optimal: 5 per second for 60 s.
        assert_eq!(granted.len(), 300);
    }

    #[test]
    fn a_fixed_window_server_is_also_satisfied() {
        let rate = Rate::new(5, ms(1_000));
        let l = Limiter::new("t", Some(rate));
        let t0 = Instant::now();
        let mut per_window = std::collections::HashMap::<u64, u32>::new();
        for step in 0..20_000u64 {
            if l.try_acquire_at(t0 + ms(step)).is_ok() {
                // Any alignment: try an offset of 337 ms.
                *per_window.entry((step + 337) / 1_000).or_default() += 1;
            }
        }
        assert!(per_window.values().all(|&n| n <= 5));
    }

    #[test]
    fn margin_widens_the_window() {
        let l = Limiter::new("t", Some(Rate::new(1, ms(100)))).with_margin(ms(20));
        let t0 = Instant::now();
        assert!(l.try_acquire_at(t0).is_ok());
        assert_eq!(l.try_acquire_at(t0 + ms(100)), Err(t0 + ms(120)));
    }

    #[test]
    fn pause_holds_back_everyone_and_unlimited_too() {
        let l = Limiter::unlimited("arm");
        let cancel = AtomicBool::new(false);
        assert!(l.acquire(&cancel).unwrap() < ms(20));
        l.pause(ms(150));
        let t = Instant::now();
        l.acquire(&cancel).unwrap();
        assert!(t.elapsed() >= ms(140));
        assert_eq!(l.stats().pauses, 1);
    }

    #[test]
    fn threads_share_the_budget() {
        let l = Arc::new(Limiter::new("graph", Some(Rate::new(3, ms(200)))));
        let cancel = Arc::new(AtomicBool::new(false));
        let starts = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (l, c, s) = (l.clone(), cancel.clone(), starts.clone());
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        l.acquire(&c).unwrap();
                        s.lock().unwrap().push(Instant::now());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut s = starts.lock().unwrap().clone();
        s.sort();
        assert_eq!(s.len(), 12);
        for w in s.windows(4) {
            // Recorded after acquire returned, so allow the scheduling slack of a busy machine.
            assert!(w[3] - w[0] >= ms(190), "{:?}", w[3] - w[0]);
        }
    }

    #[test]
    fn cancel_interrupts_a_wait() {
        let l = Limiter::unlimited("x");
        l.pause(Duration::from_secs(60));
        let cancel = AtomicBool::new(true);
        assert_eq!(l.acquire(&cancel), Err(Cancelled));
    }
}
