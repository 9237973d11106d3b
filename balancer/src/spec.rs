//! Upstream configuration as the engine hands it over (already parsed from Kong's declarative
//! format), Kong's defaults, validation, and the hash-key helper.

use std::net::SocketAddr;
use std::time::Duration;

/// Kong's default `slots`.
pub const DEFAULT_SLOTS: u32 = 10_000;
/// Kong's lower bound for `slots`.
pub const MIN_SLOTS: u32 = 10;
/// Kong's upper bound for `slots`.
pub const MAX_SLOTS: u32 = 65_536;
/// Kong's upper bound for a target weight.
pub const MAX_WEIGHT: u32 = 65_535;
/// Kong caps every health-check counter threshold at 255.
const MAX_THRESHOLD: u32 = 255;

/// Load-balancing algorithm (Kong's `algorithm`; `latency` is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Smooth weighted round-robin (Kong's default).
    #[default]
    RoundRobin,
    /// Ketama consistent hashing over `hash_on` / `hash_fallback`.
    ConsistentHashing,
    /// Fewest active connections relative to weight.
    LeastConnections,
}

/// What to hash for consistent hashing (Kong's `hash_on` / `hash_fallback` plus companions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HashOn {
    /// No hashing: the upstream behaves as round-robin.
    #[default]
    None,
    /// The client IP, in textual form (Kong hashes `remote_addr`).
    Ip,
    /// A request header (`hash_on_header`).
    Header(String),
    /// A cookie (`hash_on_cookie`); Kong generates it when missing.
    Cookie(String),
    /// The request path.
    Path,
    /// A query argument (`hash_on_query_arg`).
    QueryArg(String),
    /// A named regex capture of the route's path (`hash_on_uri_capture`).
    UriCapture(String),
    /// The authenticated consumer id (falls back to the credential id).
    Consumer,
}

/// One target as configured.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Resolved address of the target.
    pub addr: SocketAddr,
    /// 0..=65535; 0 disables the target (it is kept, shown, health-tracked, never picked).
    pub weight: u32,
}

/// Kong's `healthchecks.passive` (the circuit breaker). A threshold of 0 disables that counter.
#[derive(Debug, Clone)]
pub struct PassiveHealth {
    /// Statuses counted as successes (Kong: 2xx and 3xx).
    pub healthy_http_statuses: Vec<u16>,
    /// Successes that bring an unhealthy target back (0 = never by passive reports).
    pub healthy_successes: u32,
    /// Statuses counted as HTTP failures (Kong: 429, 500, 503).
    pub unhealthy_http_statuses: Vec<u16>,
    /// TCP failures that make a target unhealthy.
    pub unhealthy_tcp_failures: u32,
    /// Timeouts that make a target unhealthy.
    pub unhealthy_timeouts: u32,
    /// HTTP failures (statuses above) that make a target unhealthy.
    pub unhealthy_http_failures: u32,
}

/// Kong's health-check status defaults (`healthchecks` in its upstream schema); the config
/// layer uses these too, so the defaults live in one place.
pub mod kong_defaults {
    /// `active.healthy.http_statuses`.
    pub const ACTIVE_HEALTHY_STATUSES: &[u16] = &[200, 302];
    /// `active.unhealthy.http_statuses`.
    pub const ACTIVE_UNHEALTHY_STATUSES: &[u16] = &[429, 404, 500, 501, 502, 503, 504, 505];
    /// `passive.healthy.http_statuses`: every registered 2xx and 3xx code.
    pub const PASSIVE_HEALTHY_STATUSES: &[u16] = &[
        200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307,
        308,
    ];
    /// `passive.unhealthy.http_statuses`.
    pub const PASSIVE_UNHEALTHY_STATUSES: &[u16] = &[429, 500, 503];
    /// `active.timeout`, seconds.
    pub const ACTIVE_TIMEOUT_SECS: f64 = 1.0;
    /// `active.concurrency`.
    pub const ACTIVE_CONCURRENCY: u32 = 10;
}

impl Default for PassiveHealth {
    fn default() -> Self {
        PassiveHealth {
            healthy_http_statuses: kong_defaults::PASSIVE_HEALTHY_STATUSES.to_vec(),
            healthy_successes: 0,
            unhealthy_http_statuses: kong_defaults::PASSIVE_UNHEALTHY_STATUSES.to_vec(),
            unhealthy_tcp_failures: 0,
            unhealthy_timeouts: 0,
            unhealthy_http_failures: 0,
        }
    }
}

/// Kong's `healthchecks.active.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProbeKind {
    /// HTTP GET of `http_path` (Kong's default).
    #[default]
    Http,
    /// HTTPS GET of `http_path`.
    Https,
    /// TCP connect only.
    Tcp,
    /// gRPC health check over h2c.
    Grpc,
    /// gRPC health check over TLS.
    Grpcs,
}

/// Kong's `healthchecks.active.healthy`.
#[derive(Debug, Clone)]
pub struct ActiveHealthy {
    /// Probe interval while the target is healthy; zero = do not probe healthy targets.
    pub interval: Duration,
    /// Successful probes that bring an unhealthy target back (0 = disabled).
    pub successes: u32,
    /// Probe statuses counted as successes (Kong: 200, 302).
    pub http_statuses: Vec<u16>,
}

impl Default for ActiveHealthy {
    fn default() -> Self {
        ActiveHealthy {
            interval: Duration::ZERO,
            successes: 0,
            http_statuses: kong_defaults::ACTIVE_HEALTHY_STATUSES.to_vec(),
        }
    }
}

/// Kong's `healthchecks.active.unhealthy`.
#[derive(Debug, Clone)]
pub struct ActiveUnhealthy {
    /// Probe interval while the target is unhealthy; zero = do not probe unhealthy targets.
    pub interval: Duration,
    /// Failed HTTP probes (statuses below) that make a target unhealthy.
    pub http_failures: u32,
    /// Failed TCP connects that make a target unhealthy.
    pub tcp_failures: u32,
    /// Probe timeouts that make a target unhealthy.
    pub timeouts: u32,
    /// Probe statuses counted as failures (Kong: 429, 404, 500-505).
    pub http_statuses: Vec<u16>,
}

impl Default for ActiveUnhealthy {
    fn default() -> Self {
        ActiveUnhealthy {
            interval: Duration::ZERO,
            http_failures: 0,
            tcp_failures: 0,
            timeouts: 0,
            http_statuses: kong_defaults::ACTIVE_UNHEALTHY_STATUSES.to_vec(),
        }
    }
}

/// Kong's `healthchecks.active`. Probing is off while both intervals are zero (Kong's default).
#[derive(Debug, Clone)]
pub struct ActiveHealth {
    /// Kong's `type`.
    pub kind: ProbeKind,
    /// Path to GET (Kong: "/").
    pub http_path: String,
    /// Probe timeout (Kong: 1 s).
    pub timeout: Duration,
    /// Concurrent probes per upstream (Kong: 10).
    pub concurrency: u32,
    /// Verify the target's certificate for https probes (Kong: true).
    pub https_verify_certificate: bool,
    /// SNI for https probes (Kong: the target's host).
    pub https_sni: Option<String>,
    /// Extra request headers for the probe.
    pub headers: Vec<(String, String)>,
    /// Thresholds for becoming healthy.
    pub healthy: ActiveHealthy,
    /// Thresholds for becoming unhealthy.
    pub unhealthy: ActiveUnhealthy,
}

impl Default for ActiveHealth {
    fn default() -> Self {
        ActiveHealth {
            kind: ProbeKind::Http,
            http_path: "/".to_owned(),
            timeout: Duration::from_secs_f64(kong_defaults::ACTIVE_TIMEOUT_SECS),
            concurrency: kong_defaults::ACTIVE_CONCURRENCY,
            https_verify_certificate: true,
            https_sni: None,
            headers: Vec::new(),
            healthy: ActiveHealthy::default(),
            unhealthy: ActiveUnhealthy::default(),
        }
    }
}

impl ActiveHealth {
    /// True when probes should run at all (some interval is non-zero).
    pub fn enabled(&self) -> bool {
        !self.healthy.interval.is_zero() || !self.unhealthy.interval.is_zero()
    }
}

/// One upstream as configured.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// Unique upstream name; also the health-registry key.
    pub name: String,
    /// Balancing algorithm.
    pub algorithm: Algorithm,
    /// Primary hash input (consistent-hashing only).
    pub hash_on: HashOn,
    /// Hash input used when the primary one is missing.
    pub hash_fallback: HashOn,
    /// 10..=65536 (default 10000): ring size cap for consistent hashing, wheel size cap for
    /// round-robin.
    pub slots: u32,
    /// Targets in configuration order.
    pub targets: Vec<TargetSpec>,
    /// Passive health checks.
    pub passive: PassiveHealth,
    /// Active health checks.
    pub active: ActiveHealth,
}

impl Default for UpstreamSpec {
    fn default() -> Self {
        UpstreamSpec {
            name: String::new(),
            algorithm: Algorithm::RoundRobin,
            hash_on: HashOn::None,
            hash_fallback: HashOn::None,
            slots: DEFAULT_SLOTS,
            targets: Vec::new(),
            passive: PassiveHealth::default(),
            active: ActiveHealth::default(),
        }
    }
}

/// A configuration error: `field` is a path relative to the upstream (the engine prefixes
/// `upstreams[i].`), `reason` says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BalancerError {
    /// Path of the offending field, e.g. `targets[2].weight`.
    pub field: String,
    /// Human-readable reason.
    pub reason: String,
}

impl BalancerError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        BalancerError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Accessors the engine implements on its request context so the balancer can pick the hash
/// key. Each returns `None` when the value is absent. Values are borrowed, never copied.
pub trait HashInputs {
    /// Client IP in textual form (`"203.0.113.9"`), as Kong hashes `remote_addr`.
    fn client_ip(&self) -> Option<&[u8]>;
    /// First value of the named request header (case-insensitive name).
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// Value of the named request cookie.
    fn cookie(&self, name: &str) -> Option<&[u8]>;
    /// Request path (without query string).
    fn path(&self) -> Option<&[u8]>;
    /// Value of the named query argument.
    fn query_arg(&self, name: &str) -> Option<&[u8]>;
    /// Value of the named capture of the matched route's regex path.
    fn uri_capture(&self, name: &str) -> Option<&[u8]>;
    /// Consumer id, or the credential id when no consumer is mapped.
    fn consumer(&self) -> Option<&[u8]>;
}

impl HashOn {
    /// The key this input selects, or `None` when it is `HashOn::None` or the value is missing.
    pub fn key<'a, I: HashInputs + ?Sized>(&self, inputs: &'a I) -> Option<&'a [u8]> {
        match self {
            HashOn::None => None,
            HashOn::Ip => inputs.client_ip(),
            HashOn::Header(name) => inputs.header(name),
            HashOn::Cookie(name) => inputs.cookie(name),
            HashOn::Path => inputs.path(),
            HashOn::QueryArg(name) => inputs.query_arg(name),
            HashOn::UriCapture(name) => inputs.uri_capture(name),
            HashOn::Consumer => inputs.consumer(),
        }
    }

    fn kong_name(&self) -> &'static str {
        match self {
            HashOn::None => "none",
            HashOn::Ip => "ip",
            HashOn::Header(_) => "header",
            HashOn::Cookie(_) => "cookie",
            HashOn::Path => "path",
            HashOn::QueryArg(_) => "query_arg",
            HashOn::UriCapture(_) => "uri_capture",
            HashOn::Consumer => "consumer",
        }
    }

    fn companion(&self) -> Option<&str> {
        match self {
            HashOn::Header(s) | HashOn::Cookie(s) | HashOn::QueryArg(s) | HashOn::UriCapture(s) => {
                Some(s)
            }
            _ => None,
        }
    }
}

impl UpstreamSpec {
    /// The hash key for this request: `hash_on`, else `hash_fallback`, else `None`
    /// (which [`crate::Upstream::retry_order`] treats as a round-robin start).
    /// Only meaningful for [`Algorithm::ConsistentHashing`]; returns `None` otherwise.
    pub fn hash_key<'a, I: HashInputs + ?Sized>(&self, inputs: &'a I) -> Option<&'a [u8]> {
        if self.algorithm != Algorithm::ConsistentHashing {
            return None;
        }
        self.hash_on
            .key(inputs)
            .or_else(|| self.hash_fallback.key(inputs))
    }

    /// Every problem with this spec (empty when valid).
    pub fn validate(&self) -> Vec<BalancerError> {
        let mut errs = Vec::new();
        if self.name.is_empty() {
            errs.push(BalancerError::new("name", "must not be empty"));
        }
        if !(MIN_SLOTS..=MAX_SLOTS).contains(&self.slots) {
            errs.push(BalancerError::new(
                "slots",
                format!(
                    "value should be between {MIN_SLOTS} and {MAX_SLOTS}, got {}",
                    self.slots
                ),
            ));
        }
        validate_hash(&self.hash_on, "hash_on", &mut errs);
        validate_hash(&self.hash_fallback, "hash_fallback", &mut errs);
        if self.hash_fallback != HashOn::None {
            match self.hash_on {
                HashOn::None => errs.push(BalancerError::new(
                    "hash_fallback",
                    "must be 'none' when hash_on is 'none'",
                )),
                HashOn::Cookie(_) => errs.push(BalancerError::new(
                    "hash_fallback",
                    "must be 'none' when hash_on is 'cookie'",
                )),
                _ if self.hash_on == self.hash_fallback => errs.push(BalancerError::new(
                    "hash_fallback",
                    "must differ from hash_on",
                )),
                _ => {}
            }
        }
        let mut seen: Vec<SocketAddr> = Vec::with_capacity(self.targets.len());
        for (i, t) in self.targets.iter().enumerate() {
            if t.weight > MAX_WEIGHT {
                errs.push(BalancerError::new(
                    format!("targets[{i}].weight"),
                    format!(
                        "value should be between 0 and {MAX_WEIGHT}, got {}",
                        t.weight
                    ),
                ));
            }
            if seen.contains(&t.addr) {
                errs.push(BalancerError::new(
                    format!("targets[{i}].target"),
                    format!("duplicate target {}", t.addr),
                ));
            }
            seen.push(t.addr);
        }
        if self.targets.len() > u32::MAX as usize / 2 {
            errs.push(BalancerError::new("targets", "too many targets"));
        }
        self.validate_passive(&mut errs);
        self.validate_active(&mut errs);
        errs
    }

    fn validate_passive(&self, errs: &mut Vec<BalancerError>) {
        let p = &self.passive;
        let base = "healthchecks.passive";
        statuses(
            &p.healthy_http_statuses,
            &format!("{base}.healthy.http_statuses"),
            errs,
        );
        statuses(
            &p.unhealthy_http_statuses,
            &format!("{base}.unhealthy.http_statuses"),
            errs,
        );
        threshold(
            p.healthy_successes,
            &format!("{base}.healthy.successes"),
            errs,
        );
        threshold(
            p.unhealthy_tcp_failures,
            &format!("{base}.unhealthy.tcp_failures"),
            errs,
        );
        threshold(
            p.unhealthy_timeouts,
            &format!("{base}.unhealthy.timeouts"),
            errs,
        );
        threshold(
            p.unhealthy_http_failures,
            &format!("{base}.unhealthy.http_failures"),
            errs,
        );
    }

    fn validate_active(&self, errs: &mut Vec<BalancerError>) {
        let a = &self.active;
        let base = "healthchecks.active";
        if !a.http_path.starts_with('/') {
            errs.push(BalancerError::new(
                format!("{base}.http_path"),
                "must start with '/'",
            ));
        }
        if a.concurrency == 0 {
            errs.push(BalancerError::new(
                format!("{base}.concurrency"),
                "must be at least 1",
            ));
        }
        if a.enabled() && a.timeout.is_zero() {
            errs.push(BalancerError::new(
                format!("{base}.timeout"),
                "must be greater than 0",
            ));
        }
        statuses(
            &a.healthy.http_statuses,
            &format!("{base}.healthy.http_statuses"),
            errs,
        );
        statuses(
            &a.unhealthy.http_statuses,
            &format!("{base}.unhealthy.http_statuses"),
            errs,
        );
        threshold(
            a.healthy.successes,
            &format!("{base}.healthy.successes"),
            errs,
        );
        threshold(
            a.unhealthy.http_failures,
            &format!("{base}.unhealthy.http_failures"),
            errs,
        );
        threshold(
            a.unhealthy.tcp_failures,
            &format!("{base}.unhealthy.tcp_failures"),
            errs,
        );
        threshold(
            a.unhealthy.timeouts,
            &format!("{base}.unhealthy.timeouts"),
            errs,
        );
    }
}

fn validate_hash(h: &HashOn, field: &str, errs: &mut Vec<BalancerError>) {
    if let Some(c) = h.companion() {
        if c.is_empty() {
            errs.push(BalancerError::new(
                format!("{field}_{}", h.kong_name()),
                format!("required when {field} is '{}'", h.kong_name()),
            ));
        }
    }
}

fn statuses(list: &[u16], field: &str, errs: &mut Vec<BalancerError>) {
    for (i, s) in list.iter().enumerate() {
        if !(100..=999).contains(s) {
            errs.push(BalancerError::new(
                format!("{field}[{i}]"),
                format!("value should be between 100 and 999, got {s}"),
            ));
        }
    }
}

fn threshold(v: u32, field: &str, errs: &mut Vec<BalancerError>) {
    if v > MAX_THRESHOLD {
        errs.push(BalancerError::new(
            field,
            format!("value should be between 0 and {MAX_THRESHOLD}, got {v}"),
        ));
    }
}
