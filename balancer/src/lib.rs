//! sluice-balancer: owns upstreams, targets, algorithms, health state and retry order.
//!
//! Request lifecycle step 6 (after the plugins' access phase, before connecting upstream):
//! the engine asks [`Upstream::retry_order`] for the targets to try, in order, and feeds the
//! outcome of every attempt back through the passive health methods on [`Target`].
//!
//! Everything here is synchronous and allocation-free on the hot path:
//! - [`Upstream`] is immutable after [`Upstream::build`], `Send + Sync`, shared via `Arc`.
//! - [`Cursor`] is the worker's private round-robin state (one per upstream per worker).
//! - Health and connection counts live in atomics owned by a [`HealthRegistry`] and keyed by
//!   (upstream name, target address), so they survive config reloads and are seen by all workers.
//!
//! Algorithms (each file's module docs have the details):
//! - round-robin: nginx's smooth weighted round-robin, precomputed into a wheel (`wrr.rs`).
//! - consistent-hashing: Kong's Ketama variant (xxhash32, ~160 points per weight share,
//!   points keyed `"ip:port i"`), built with the `hashring` crate (`ring.rs`).
//! - least-connections: min `(active + 1) / weight`, ties rotated by the cursor (`leastconn.rs`).
//!
//! ```
//! use sluice_balancer::*;
//!
//! let spec = UpstreamSpec {
//!     name: "orders".into(),
//!     targets: vec![
//!         TargetSpec { addr: "10.0.0.1:8080".parse().unwrap(), weight: 100 },
//!         TargetSpec { addr: "10.0.0.2:8080".parse().unwrap(), weight: 100 },
//!     ],
//!     passive: PassiveHealth { unhealthy_tcp_failures: 3, ..PassiveHealth::default() },
//!     ..UpstreamSpec::default()
//! };
//! let registry = HealthRegistry::new(); // one per process, outlives reloads
//! let upstream = Upstream::build(&spec, &registry).map_err(|e| format!("{e:?}")).unwrap();
//! let mut cursor = Cursor::default(); // one per worker per upstream
//! let retries = 5; // the service's `retries`
//! for target in upstream.retry_order(&mut cursor, None).take(1 + retries) {
//!     let _guard = target.begin(); // counts the request for least-connections
//!     // ... connect; on failure: target.report_tcp_failure(); continue
//!     target.report_http_status(200);
//!     break;
//! }
//! ```

mod health;
mod leastconn;
mod retry;
mod ring;
mod spec;
mod upstream;
mod wrr;

pub use health::{HealthRegistry, ProbeOutcome, ProbeTask};
pub use retry::RetryOrder;
pub use ring::{stable_hash, StableHashBuilder, StableHasher};
pub use spec::{
    kong_defaults, ActiveHealth, ActiveHealthy, ActiveUnhealthy, Algorithm, BalancerError,
    HashInputs, HashOn, PassiveHealth, ProbeKind, TargetSpec, UpstreamSpec, DEFAULT_SLOTS,
    MAX_SLOTS, MAX_WEIGHT, MIN_SLOTS,
};
pub use upstream::{ConnectionGuard, Cursor, Target, Upstream};
