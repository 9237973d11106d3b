//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;

use sluice_balancer::{
    Algorithm, Cursor, HealthRegistry, PassiveHealth, TargetSpec, Upstream, UpstreamSpec,
};

pub fn addr(i: u32) -> SocketAddr {
    SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 8000))
}

pub fn spec(alg: Algorithm, weights: &[u32]) -> UpstreamSpec {
    UpstreamSpec {
        name: "svc".into(),
        algorithm: alg,
        targets: weights
            .iter()
            .enumerate()
            .map(|(i, &w)| TargetSpec {
                addr: addr(i as u32),
                weight: w,
            })
            .collect(),
        ..UpstreamSpec::default()
    }
}

pub fn build(spec: &UpstreamSpec) -> Upstream {
    Upstream::build(spec, &HealthRegistry::new()).unwrap()
}

pub fn breaker(tcp: u32, successes: u32) -> PassiveHealth {
    PassiveHealth {
        unhealthy_tcp_failures: tcp,
        unhealthy_timeouts: tcp,
        unhealthy_http_failures: tcp,
        healthy_successes: successes,
        ..PassiveHealth::default()
    }
}

/// First picks over `n` requests, counted per target address.
pub fn first_picks(up: &Upstream, n: usize) -> HashMap<SocketAddr, usize> {
    let mut cursor = Cursor::default();
    let mut counts = HashMap::new();
    for _ in 0..n {
        let t = up.pick(&mut cursor, None).expect("a target");
        *counts.entry(t.addr()).or_default() += 1;
    }
    counts
}

/// Asserts each target's share is within 10% (relative) of its weight share.
pub fn assert_within_10pct(up: &Upstream, counts: &HashMap<SocketAddr, usize>, n: usize) {
    let total_w: u32 = up
        .targets()
        .iter()
        .filter(|t| t.is_healthy())
        .map(|t| t.weight())
        .sum();
    for t in up.targets() {
        let got = counts.get(&t.addr()).copied().unwrap_or(0) as f64 / n as f64;
        let want = if t.is_healthy() {
            f64::from(t.weight()) / f64::from(total_w)
        } else {
            0.0
        };
        assert!(
            (got - want).abs() <= want * 0.10 + 1e-9,
            "{}: got share {got:.4}, want {want:.4}",
            t.addr()
        );
    }
}

/// The target each key maps to (first pick), with consistent hashing.
pub fn key_map(up: &Upstream, keys: &[String]) -> Vec<SocketAddr> {
    let mut cursor = Cursor::default();
    keys.iter()
        .map(|k| up.pick(&mut cursor, Some(k.as_bytes())).unwrap().addr())
        .collect()
}

pub fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}
