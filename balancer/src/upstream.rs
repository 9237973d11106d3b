//! Upstreams and targets: the immutable, compiled form of an [`UpstreamSpec`].

use std::net::SocketAddr;
use std::sync::Arc;

use crate::health::{Event, HealthConfig, HealthRegistry, ProbeOutcome, ProbeTask, SharedState};
use crate::leastconn::Slot;
use crate::retry::{usable, RetryOrder};
use crate::ring::{stable_hash, Ring};
use crate::spec::{ActiveHealth, Algorithm, BalancerError, HashInputs, UpstreamSpec};
use crate::wrr::{wheel, with_prev, Entry, Walk};

/// One target of an upstream: its address and weight (from this config) and its health and
/// connection count (from the [`HealthRegistry`], so they survive reloads).
pub struct Target {
    addr: SocketAddr,
    weight: u32,
    state: Arc<SharedState>,
    health: Arc<HealthConfig>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("weight", &self.weight)
            .field("healthy", &self.is_healthy())
            .field("active", &self.active_connections())
            .finish()
    }
}

/// RAII guard counting one active connection/request on a target (for least-connections);
/// dropping it decrements the count. Owns an `Arc`, so it may live across awaits and reloads.
#[derive(Debug)]
pub struct ConnectionGuard {
    state: Arc<SharedState>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.state.decr();
    }
}

impl Target {
    /// The target's address.
    #[inline]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configured weight (0 = disabled, never picked).
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Current health, as seen by every worker.
    #[inline]
    pub fn is_healthy(&self) -> bool {
        self.state.is_healthy()
    }

    /// Connections/requests currently open on this target, across all workers.
    #[inline]
    pub fn active_connections(&self) -> usize {
        self.state.active()
    }

    /// Count one active connection/request until the guard is dropped.
    #[inline]
    pub fn begin(&self) -> ConnectionGuard {
        self.state.incr();
        ConnectionGuard {
            state: Arc::clone(&self.state),
        }
    }

    /// Passive report: connecting to the target failed.
    pub fn report_tcp_failure(&self) {
        self.state.apply(Event::TcpFailure, self.health.passive_tcp);
    }

    /// Passive report: the target did not answer in time.
    pub fn report_timeout(&self) {
        self.state
            .apply(Event::Timeout, self.health.passive_timeouts);
    }

    /// Passive report: the target answered with `status`. Counted as a success when it is in
    /// `healthy_http_statuses` (checked first), as an HTTP failure when it is in
    /// `unhealthy_http_statuses`, otherwise ignored.
    pub fn report_http_status(&self, status: u16) {
        let h = &self.health;
        if h.passive_healthy.contains(status) {
            self.state.apply(Event::Success, h.passive_successes);
        } else if h.passive_unhealthy.contains(status) {
            self.state.apply(Event::HttpFailure, h.passive_http);
        }
    }

    /// Active probe result, with the active thresholds.
    pub fn record_probe(&self, outcome: ProbeOutcome) {
        let h = &self.health;
        match outcome {
            ProbeOutcome::Success(_) => self.state.apply(Event::Success, h.active_successes),
            ProbeOutcome::HttpFailure(_) => self.state.apply(Event::HttpFailure, h.active_http),
            ProbeOutcome::TcpFailure => self.state.apply(Event::TcpFailure, h.active_tcp),
            ProbeOutcome::Timeout => self.state.apply(Event::Timeout, h.active_timeouts),
        }
    }

    /// Active probe that got an HTTP response: classified with the active status lists
    /// (healthy first), ignored when the status is in neither.
    pub fn record_probe_status(&self, status: u16) {
        let h = &self.health;
        if h.active_healthy.contains(status) {
            self.record_probe(ProbeOutcome::Success(status));
        } else if h.active_unhealthy.contains(status) {
            self.record_probe(ProbeOutcome::HttpFailure(status));
        }
    }

    /// Manual override (Admin API `POST .../healthy|unhealthy`): set health, clear counters.
    pub fn set_healthy(&self, healthy: bool) {
        self.state.set_healthy(healthy);
    }

    /// Current counters `[successes, tcp_failures, timeouts, http_failures]` (Admin API, tests).
    pub fn health_counters(&self) -> [u32; 4] {
        self.state.counters()
    }
}

/// Worker-local round-robin state for one upstream: a position in the precomputed wheel
/// (round-robin, and consistent-hashing without a key) or the tie-break rotation
/// (least-connections). Keep one per upstream per worker; it stays valid across reloads.
#[derive(Default, Debug, Clone)]
pub struct Cursor {
    pos: usize,
}

impl Cursor {
    /// A cursor starting at `seed` (e.g. the worker id times a large odd number), so workers
    /// do not all start on the same target.
    pub fn with_seed(seed: u64) -> Self {
        Cursor { pos: seed as usize }
    }
}

/// An upstream compiled for picking: immutable after [`Upstream::build`], `Send + Sync`,
/// shared across workers via `Arc`.
#[derive(Debug)]
pub struct Upstream {
    spec: UpstreamSpec,
    name: Arc<str>,
    targets: Vec<Arc<Target>>,
    /// One period of the smooth-WRR sequence over enabled targets (round-robin, and
    /// consistent-hashing when no key is available). Empty for least-connections.
    wheel: Vec<Entry>,
    /// The Ketama continuum (consistent-hashing only).
    ring: Ring,
    /// Dense (state, weight) per target, in target order (least-connections only).
    slots: Vec<Slot>,
    active: Arc<ActiveHealth>,
}

impl Upstream {
    /// Validate `spec` and compile it, attaching each target to its persistent state in
    /// `registry`. Returns every configuration error at once.
    pub fn build(
        spec: &UpstreamSpec,
        registry: &HealthRegistry,
    ) -> Result<Upstream, Vec<BalancerError>> {
        let errs = spec.validate();
        if !errs.is_empty() {
            return Err(errs);
        }
        let health = Arc::new(HealthConfig::new(spec));
        let targets: Vec<Arc<Target>> = spec
            .targets
            .iter()
            .map(|t| {
                Arc::new(Target {
                    addr: t.addr,
                    weight: t.weight,
                    state: registry.state(&spec.name, t.addr),
                    health: Arc::clone(&health),
                })
            })
            .collect();
        let enabled: Vec<(u32, SocketAddr, u32)> = spec
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.weight > 0)
            .map(|(i, t)| (i as u32, t.addr, t.weight))
            .collect();
        let slots = match spec.algorithm {
            Algorithm::LeastConnections => targets
                .iter()
                .map(|t| Slot {
                    state: Arc::clone(&t.state),
                    weight: t.weight,
                })
                .collect(),
            _ => Vec::new(),
        };
        let (wheel, ring) = match spec.algorithm {
            Algorithm::LeastConnections => (Vec::new(), Ring::default()),
            alg => {
                let pairs: Vec<(u32, u32)> = enabled.iter().map(|&(i, _, w)| (i, w)).collect();
                let wheel = with_prev(&wheel(&pairs, spec.slots as usize), targets.len());
                let ring = if alg == Algorithm::ConsistentHashing {
                    Ring::build(&enabled, spec.slots, targets.len())
                } else {
                    Ring::default()
                };
                (wheel, ring)
            }
        };
        Ok(Upstream {
            name: Arc::from(spec.name.as_str()),
            spec: spec.clone(),
            targets,
            wheel,
            ring,
            slots,
            active: Arc::new(spec.active.clone()),
        })
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All targets in configuration order, including disabled (weight 0) ones.
    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    /// The spec this upstream was built from.
    pub fn spec(&self) -> &UpstreamSpec {
        &self.spec
    }

    /// The balancing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.spec.algorithm
    }

    /// The target with this address, if configured (Admin API health overrides).
    pub fn target(&self, addr: SocketAddr) -> Option<&Arc<Target>> {
        self.targets.iter().find(|t| t.addr == addr)
    }

    /// How many enabled targets are currently healthy.
    pub fn healthy_count(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.weight > 0 && t.is_healthy())
            .count()
    }

    /// The hash key for this request (`hash_on`, else `hash_fallback`); `None` unless the
    /// algorithm is consistent-hashing. See [`UpstreamSpec::hash_key`].
    pub fn hash_key<'a, I: HashInputs + ?Sized>(&self, inputs: &'a I) -> Option<&'a [u8]> {
        self.spec.hash_key(inputs)
    }

    /// Targets in the order to try them (first pick, then retries), each at most once, healthy
    /// and enabled ones only; empty when none is usable (Kong answers 503 "failure to get a
    /// peer from the ring-balancer"). The engine caps it with the service's `retries`.
    ///
    /// `cursor` is the worker's private state for this upstream. `hash_key` is used by
    /// consistent-hashing only (`None` => weighted round-robin start); the ring walks clockwise
    /// past unhealthy targets without rebuilding. No heap allocation.
    pub fn retry_order<'a>(
        &'a self,
        cursor: &mut Cursor,
        hash_key: Option<&[u8]>,
    ) -> RetryOrder<'a> {
        let targets = &self.targets[..];
        match (self.spec.algorithm, hash_key) {
            (Algorithm::LeastConnections, _) => {
                let rot = cursor.pos;
                cursor.pos = cursor.pos.wrapping_add(1);
                RetryOrder::least_conn(targets, &self.slots, rot)
            }
            (Algorithm::ConsistentHashing, Some(key)) if self.ring.len() > 0 => {
                let start = self.ring.position(stable_hash(key));
                RetryOrder::walk(targets, Walk::new(&self.ring.entries, start), None)
            }
            _ if self.wheel.is_empty() => RetryOrder::empty(targets),
            _ => {
                let len = self.wheel.len();
                let mut walk = Walk::new(&self.wheel, cursor.pos % len);
                let first = walk.next_pos(|t| usable(targets, t));
                if let Some(p) = first {
                    // Continue after the pick: unhealthy entries are skipped, not re-routed to
                    // their successor, so healthy targets keep their relative weights.
                    cursor.pos = if p + 1 == len { 0 } else { p + 1 };
                }
                RetryOrder::walk(targets, walk, first)
            }
        }
    }

    /// The first target to try, or `None` when no target is usable.
    #[inline]
    pub fn pick(&self, cursor: &mut Cursor, hash_key: Option<&[u8]>) -> Option<&Arc<Target>> {
        self.retry_order(cursor, hash_key).next()
    }

    /// What the engine's probe loop should run: one task per target (enabled or not, as Kong
    /// probes every target). Empty when active checks are off (both intervals zero).
    pub fn active_probe_plan(&self) -> Vec<ProbeTask> {
        if !self.active.enabled() {
            return Vec::new();
        }
        self.targets
            .iter()
            .map(|t| ProbeTask {
                upstream: Arc::clone(&self.name),
                target: Arc::clone(t),
                config: Arc::clone(&self.active),
            })
            .collect()
    }
}
