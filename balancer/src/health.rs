//! Health state shared by all workers: a lock-free state machine per target (one `AtomicU64`),
//! fed by passive reports (the engine, after each attempt) and active probes (the engine's
//! probe loop, from [`crate::Upstream::active_probe_plan`]).
//!
//! Semantics follow lua-resty-healthcheck, which Kong uses:
//! - every threshold of 0 disables its counter (reports of that kind are ignored);
//! - a healthy target counts failures per kind (tcp, timeout, http); the first kind to reach
//!   its threshold marks the target unhealthy and clears all counters;
//! - a success clears the failure counters (so failures must be consecutive, unless the
//!   success threshold is 0, in which case successes are not counted at all, as in Kong);
//! - an unhealthy target counts successes; reaching the threshold marks it healthy again;
//!   a failure clears the success streak;
//! - a manual override ([`crate::Target::set_healthy`]) sets the state and clears counters.
//!
//! Passive and active reports share the counters but use their own thresholds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::spec::{ActiveHealth, ProbeKind};
use crate::upstream::Target;

/// Set when the target is unhealthy; clear (the default) means healthy.
const UNHEALTHY: u64 = 1 << 63;
const SUCCESS_SHIFT: u32 = 0;
const TCP_SHIFT: u32 = 16;
const TIMEOUT_SHIFT: u32 = 32;
const HTTP_SHIFT: u32 = 48;
const CTR_MASK: u64 = 0x7fff;
const FAILURES: u64 =
    (CTR_MASK << TCP_SHIFT) | (CTR_MASK << TIMEOUT_SHIFT) | (CTR_MASK << HTTP_SHIFT);
const SUCCESSES: u64 = CTR_MASK << SUCCESS_SHIFT;

/// What happened to one attempt or probe, as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Success,
    TcpFailure,
    Timeout,
    HttpFailure,
}

impl Event {
    fn shift(self) -> u32 {
        match self {
            Event::Success => SUCCESS_SHIFT,
            Event::TcpFailure => TCP_SHIFT,
            Event::Timeout => TIMEOUT_SHIFT,
            Event::HttpFailure => HTTP_SHIFT,
        }
    }
}

/// Pure transition function: the new packed state, or `None` when nothing changes.
/// `limit` is the threshold configured for this kind of event (0 = disabled).
pub(crate) fn transition(state: u64, ev: Event, limit: u32) -> Option<u64> {
    if limit == 0 {
        return None;
    }
    let healthy = state & UNHEALTHY == 0;
    let shift = ev.shift();
    let count = ((state >> shift) & CTR_MASK) + 1;
    match (ev, healthy) {
        // Healthy and succeeding: only clear a failure streak, if any.
        (Event::Success, true) => (state & FAILURES != 0).then_some(state & !FAILURES),
        (Event::Success, false) if count >= u64::from(limit) => Some(0),
        (Event::Success, false) => {
            Some((state & !FAILURES & !SUCCESSES) | UNHEALTHY | (count << SUCCESS_SHIFT))
        }
        // Unhealthy and failing: only break a success streak, if any.
        (_, false) => (state & SUCCESSES != 0).then_some(state & !SUCCESSES),
        (_, true) if count >= u64::from(limit) => Some(UNHEALTHY),
        (_, true) => {
            let cleared = state & !SUCCESSES & !(CTR_MASK << shift);
            Some(cleared | (count.min(CTR_MASK) << shift))
        }
    }
}

/// The cross-worker state of one target: health word and active connection count.
#[derive(Debug, Default)]
pub(crate) struct SharedState {
    health: AtomicU64,
    active: AtomicUsize,
}

impl SharedState {
    #[inline]
    pub(crate) fn is_healthy(&self) -> bool {
        // Relaxed: a stale read only means one more or one fewer request to a flapping target.
        self.health.load(Ordering::Relaxed) & UNHEALTHY == 0
    }

    pub(crate) fn apply(&self, ev: Event, limit: u32) {
        let _ = self
            .health
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                transition(s, ev, limit)
            });
    }

    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.health
            .store(if healthy { 0 } else { UNHEALTHY }, Ordering::Release);
    }

    /// Raw counters (successes, tcp failures, timeouts, http failures), for tests and metrics.
    pub(crate) fn counters(&self) -> [u32; 4] {
        let s = self.health.load(Ordering::Acquire);
        let c = |sh: u32| ((s >> sh) & CTR_MASK) as u32;
        [
            c(SUCCESS_SHIFT),
            c(TCP_SHIFT),
            c(TIMEOUT_SHIFT),
            c(HTTP_SHIFT),
        ]
    }

    #[inline]
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn decr(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A set of HTTP statuses (100..=999) as a bitmap: O(1) membership, no allocation.
#[derive(Clone)]
pub(crate) struct StatusSet([u64; 16]);

impl StatusSet {
    pub(crate) fn new(list: &[u16]) -> Self {
        let mut bits = [0u64; 16];
        for &s in list {
            let s = usize::from(s);
            if let Some(w) = bits.get_mut(s / 64) {
                *w |= 1 << (s % 64);
            }
        }
        StatusSet(bits)
    }

    #[inline]
    pub(crate) fn contains(&self, status: u16) -> bool {
        let s = usize::from(status);
        self.0.get(s / 64).is_some_and(|w| w & (1 << (s % 64)) != 0)
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((0u16..1024).filter(|s| self.contains(*s)))
            .finish()
    }
}

/// Thresholds and status sets of one upstream, compiled for O(1) lookups; shared by its targets.
#[derive(Debug, Clone)]
pub(crate) struct HealthConfig {
    pub(crate) passive_healthy: StatusSet,
    pub(crate) passive_unhealthy: StatusSet,
    pub(crate) passive_successes: u32,
    pub(crate) passive_tcp: u32,
    pub(crate) passive_timeouts: u32,
    pub(crate) passive_http: u32,
    pub(crate) active_healthy: StatusSet,
    pub(crate) active_unhealthy: StatusSet,
    pub(crate) active_successes: u32,
    pub(crate) active_tcp: u32,
    pub(crate) active_timeouts: u32,
    pub(crate) active_http: u32,
}

impl HealthConfig {
    pub(crate) fn new(spec: &crate::UpstreamSpec) -> Self {
        let p = &spec.passive;
        let a = &spec.active;
        HealthConfig {
            passive_healthy: StatusSet::new(&p.healthy_http_statuses),
            passive_unhealthy: StatusSet::new(&p.unhealthy_http_statuses),
            passive_successes: p.healthy_successes,
            passive_tcp: p.unhealthy_tcp_failures,
            passive_timeouts: p.unhealthy_timeouts,
            passive_http: p.unhealthy_http_failures,
            active_healthy: StatusSet::new(&a.healthy.http_statuses),
            active_unhealthy: StatusSet::new(&a.unhealthy.http_statuses),
            active_successes: a.healthy.successes,
            active_tcp: a.unhealthy.tcp_failures,
            active_timeouts: a.unhealthy.timeouts,
            active_http: a.unhealthy.http_failures,
        }
    }
}

/// The result of one active probe, as the engine observed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The probe succeeded (HTTP status, or 0 for a TCP-only probe).
    Success(u16),
    /// The probe got a response counted as a failure.
    HttpFailure(u16),
    /// Connecting (or the TLS handshake) failed.
    TcpFailure,
    /// The probe did not finish within `timeout`.
    Timeout,
}

impl ProbeOutcome {
    /// Classify a probe response status with the active status lists (Kong checks the healthy
    /// list first). `None` when the status is in neither list: such a probe is not counted.
    pub fn classify(status: u16, active: &ActiveHealth) -> Option<ProbeOutcome> {
        if active.healthy.http_statuses.contains(&status) {
            Some(ProbeOutcome::Success(status))
        } else if active.unhealthy.http_statuses.contains(&status) {
            Some(ProbeOutcome::HttpFailure(status))
        } else {
            None
        }
    }
}

/// One target the engine should probe, with everything it needs to do so. Owned (cheap `Arc`
/// clones) so the engine's probe loop can keep it across awaits.
#[derive(Debug, Clone)]
pub struct ProbeTask {
    /// Name of the upstream the target belongs to.
    pub upstream: Arc<str>,
    /// The target; feed results back with [`Target::record_probe`].
    pub target: Arc<Target>,
    /// The upstream's active health-check configuration.
    pub config: Arc<ActiveHealth>,
}

impl ProbeTask {
    /// How long to wait before the next probe, given the target's current health, or `None`
    /// when targets in that state are not probed (interval 0).
    pub fn next_interval(&self) -> Option<Duration> {
        let iv = if self.target.is_healthy() {
            self.config.healthy.interval
        } else {
            self.config.unhealthy.interval
        };
        (!iv.is_zero()).then_some(iv)
    }

    /// Probe kind (http, https, tcp, grpc, grpcs).
    pub fn kind(&self) -> ProbeKind {
        self.config.kind
    }

    /// Path to request (`http_path`).
    pub fn path(&self) -> &str {
        &self.config.http_path
    }

    /// Probe timeout.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }
}

type Key = (String, SocketAddr);

/// Health/connection state that must survive config reloads, keyed by (upstream name, target
/// address). Shared by all workers (wrap it in an `Arc`); the lock is taken only while
/// building an [`crate::Upstream`], never on the request path.
#[derive(Default)]
pub struct HealthRegistry {
    states: Mutex<HashMap<Key, Arc<SharedState>>>,
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthRegistry")
            .field("entries", &self.len())
            .finish()
    }
}

impl HealthRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<SharedState>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts),
        // so a poisoned lock is safe to keep using.
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state for (upstream, addr), created healthy with zero connections if new.
    pub(crate) fn state(&self, upstream: &str, addr: SocketAddr) -> Arc<SharedState> {
        let mut map = self.lock();
        if let Some(s) = map.get(&(upstream.to_owned(), addr)) {
            return Arc::clone(s);
        }
        let s = Arc::new(SharedState::default());
        map.insert((upstream.to_owned(), addr), Arc::clone(&s));
        s
    }

    /// Number of (upstream, target) entries kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no entries are kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget the state of targets no live [`crate::Upstream`] refers to any more. Call it after
    /// a reload once the old snapshot is dropped; returns how many entries were removed.
    pub fn gc(&self) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, s| Arc::strong_count(s) > 1);
        before - map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[(Event, u32)]) -> u64 {
        events
            .iter()
            .fold(0, |s, &(ev, lim)| transition(s, ev, lim).unwrap_or(s))
    }

    #[test]
    fn disabled_threshold_ignores_reports() {
        assert_eq!(transition(0, Event::TcpFailure, 0), None);
        assert_eq!(transition(UNHEALTHY, Event::Success, 0), None);
    }

    #[test]
    fn failures_trip_at_threshold_and_reset_counters() {
        let s = run(&[(Event::Timeout, 3), (Event::Timeout, 3)]);
        assert_eq!(s & UNHEALTHY, 0);
        assert_eq!(transition(s, Event::Timeout, 3), Some(UNHEALTHY));
    }

    #[test]
    fn kinds_count_separately() {
        let s = run(&[
            (Event::Timeout, 2),
            (Event::TcpFailure, 2),
            (Event::HttpFailure, 2),
        ]);
        assert_eq!(s & UNHEALTHY, 0);
        assert_eq!(
            run(&[
                (Event::Timeout, 2),
                (Event::TcpFailure, 2),
                (Event::Timeout, 2)
            ]),
            UNHEALTHY
        );
    }

    #[test]
    fn success_breaks_failure_streak() {
        let s = run(&[
            (Event::TcpFailure, 2),
            (Event::Success, 1),
            (Event::TcpFailure, 2),
        ]);
        assert_eq!(s & UNHEALTHY, 0);
    }

    #[test]
    fn uncounted_success_keeps_failure_streak() {
        let s = run(&[
            (Event::TcpFailure, 2),
            (Event::Success, 0),
            (Event::TcpFailure, 2),
        ]);
        assert_eq!(s, UNHEALTHY);
    }

    #[test]
    fn recovery_needs_consecutive_successes() {
        let s = run(&[
            (Event::Success, 3),
            (Event::Success, 3),
            (Event::TcpFailure, 1),
        ]);
        let s = [(Event::Success, 3), (Event::Success, 3)]
            .iter()
            .fold(s | UNHEALTHY, |s, &(e, l)| transition(s, e, l).unwrap_or(s));
        assert_ne!(
            s & UNHEALTHY,
            0,
            "streak was broken, two successes are not enough"
        );
        assert_eq!(transition(s, Event::Success, 3), Some(0));
    }

    #[test]
    fn counters_count_up_to_threshold() {
        let s = (0..254).fold(0, |s, _| {
            transition(s, Event::HttpFailure, 255).unwrap_or(s)
        });
        assert_eq!(s, 254 << HTTP_SHIFT);
        assert_eq!(transition(s, Event::HttpFailure, 255), Some(UNHEALTHY));
    }

    #[test]
    fn status_set_membership() {
        let set = StatusSet::new(&[200, 302, 999]);
        assert!(set.contains(200) && set.contains(302) && set.contains(999));
        assert!(!set.contains(201) && !set.contains(0) && !set.contains(u16::MAX));
    }

    #[test]
    fn registry_gc_drops_unreferenced() {
        let reg = HealthRegistry::new();
        let addr: SocketAddr = ([127, 0, 0, 1], 80).into();
        let kept = reg.state("a", addr);
        drop(reg.state("b", addr));
        assert_eq!(reg.len(), 2);
        assert_eq!(reg.gc(), 1);
        assert!(Arc::ptr_eq(&kept, &reg.state("a", addr)));
    }
}
