//! Distribution and retry order of the three algorithms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use sluice_balancer::{Algorithm, Cursor, Upstream};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn upstream_and_target_are_send_sync() {
    assert_send_sync::<Upstream>();
    assert_send_sync::<sluice_balancer::Target>();
    assert_send_sync::<sluice_balancer::HealthRegistry>();
    assert_send_sync::<sluice_balancer::ConnectionGuard>();
}

#[test]
fn round_robin_distribution_within_10pct_over_10k() {
    for weights in [
        &[100, 100, 100][..],
        &[5, 1, 1],
        &[300, 200, 100, 0, 50],
        &[65_535, 1000, 7],
    ] {
        let up = build(&spec(Algorithm::RoundRobin, weights));
        let counts = first_picks(&up, 10_000);
        assert_within_10pct(&up, &counts, 10_000);
    }
}

#[test]
fn round_robin_is_smooth() {
    let up = build(&spec(Algorithm::RoundRobin, &[5, 1, 1]));
    let mut cursor = Cursor::default();
    let seq: Vec<_> = (0..14)
        .map(|_| up.pick(&mut cursor, None).unwrap().addr())
        .collect();
    let (a, b, c) = (addr(0), addr(1), addr(2));
    assert_eq!(seq, [a, a, b, a, c, a, a, a, a, b, a, c, a, a]);
}

#[test]
fn round_robin_skips_unhealthy_keeping_proportions() {
    let up = build(&spec(Algorithm::RoundRobin, &[300, 200, 100]));
    up.targets()[1].set_healthy(false);
    let counts = first_picks(&up, 10_000);
    assert_eq!(counts.get(&addr(1)), None);
    assert_within_10pct(&up, &counts, 10_000);
}

#[test]
fn consistent_hashing_without_key_is_weighted_round_robin() {
    let up = build(&spec(Algorithm::ConsistentHashing, &[300, 100]));
    let counts = first_picks(&up, 10_000);
    assert_within_10pct(&up, &counts, 10_000);
}

#[test]
fn consistent_hashing_spreads_keys_by_weight() {
    let up = build(&spec(Algorithm::ConsistentHashing, &[100, 100, 200, 400]));
    let keys = keys(40_000);
    let mut counts: HashMap<_, usize> = HashMap::new();
    for a in key_map(&up, &keys) {
        *counts.entry(a).or_default() += 1;
    }
    // Ketama with ~160 points per share: expect within ~15% of the weight share.
    for (i, w) in [100.0, 100.0, 200.0, 400.0].iter().enumerate() {
        let got = counts[&addr(i as u32)] as f64 / 40_000.0;
        let want = w / 800.0;
        assert!(
            (got - want).abs() < want * 0.15,
            "target {i}: {got} vs {want}"
        );
    }
}

#[test]
fn least_connections_prefers_fewest_active_relative_to_weight() {
    let up = build(&spec(Algorithm::LeastConnections, &[100, 100, 200]));
    let t = up.targets();
    let _g: Vec<_> = (0..3)
        .map(|_| t[0].begin())
        .chain((0..1).map(|_| t[1].begin()))
        .collect();
    // loads: t0 4/100, t1 2/100, t2 1/200 -> t2, then t1, then t0
    let mut cursor = Cursor::default();
    let order: Vec<_> = up
        .retry_order(&mut cursor, None)
        .map(|t| t.addr())
        .collect();
    assert_eq!(order, [addr(2), addr(1), addr(0)]);
}

#[test]
fn least_connections_balances_held_connections_by_weight() {
    let up = build(&spec(Algorithm::LeastConnections, &[100, 200, 300, 0]));
    let mut cursor = Cursor::default();
    let mut guards = Vec::new();
    let mut counts: HashMap<_, usize> = HashMap::new();
    for _ in 0..6_000 {
        let t = up.pick(&mut cursor, None).unwrap();
        *counts.entry(t.addr()).or_default() += 1;
        guards.push(t.begin());
    }
    assert_eq!(counts.get(&addr(3)), None, "weight 0 never picked");
    assert_within_10pct(&up, &counts, 6_000);
    assert_eq!(up.targets()[2].active_connections(), counts[&addr(2)]);
    guards.clear();
    assert!(up.targets().iter().all(|t| t.active_connections() == 0));
}

#[test]
fn least_connections_rotates_ties() {
    let up = build(&spec(Algorithm::LeastConnections, &[100, 100, 100]));
    let mut cursor = Cursor::default();
    let picks: Vec<_> = (0..6)
        .map(|_| up.pick(&mut cursor, None).unwrap().addr())
        .collect();
    assert_eq!(
        picks,
        [addr(0), addr(1), addr(2), addr(0), addr(1), addr(2)]
    );
}

#[test]
fn least_connections_large_upstream_retries_by_rotation() {
    let weights = vec![100; 300];
    let up = build(&spec(Algorithm::LeastConnections, &weights));
    let _g = up.targets()[0].begin();
    let mut cursor = Cursor::default();
    let order: Vec<_> = up.retry_order(&mut cursor, None).collect();
    assert_eq!(order.len(), 300);
    assert_eq!(order[0].addr(), addr(1));
    assert_eq!(order[1].addr(), addr(2));
    let distinct: HashSet<_> = order.iter().map(|t| t.addr()).collect();
    assert_eq!(distinct.len(), 300);
}

#[test]
fn retry_order_yields_each_healthy_enabled_target_once() {
    for alg in [
        Algorithm::RoundRobin,
        Algorithm::ConsistentHashing,
        Algorithm::LeastConnections,
    ] {
        let up = build(&spec(alg, &[100, 0, 50, 25, 300, 100]));
        up.targets()[3].set_healthy(false);
        let mut cursor = Cursor::default();
        for i in 0..200 {
            let key = format!("k{i}");
            let order: Vec<_> = up
                .retry_order(&mut cursor, Some(key.as_bytes()))
                .map(|t| t.addr())
                .collect();
            let distinct: HashSet<_> = order.iter().copied().collect();
            assert_eq!(
                distinct.len(),
                order.len(),
                "{alg:?}: duplicate in {order:?}"
            );
            let expect: HashSet<_> = [0, 2, 4, 5].into_iter().map(addr).collect();
            assert_eq!(distinct, expect, "{alg:?}");
        }
    }
}

#[test]
fn retry_order_is_empty_when_nothing_is_usable() {
    for alg in [
        Algorithm::RoundRobin,
        Algorithm::ConsistentHashing,
        Algorithm::LeastConnections,
    ] {
        let up = build(&spec(alg, &[0, 0]));
        assert!(up
            .retry_order(&mut Cursor::default(), Some(b"k"))
            .next()
            .is_none());
        let up = build(&spec(alg, &[]));
        assert!(up
            .retry_order(&mut Cursor::default(), Some(b"k"))
            .next()
            .is_none());
        let up = build(&spec(alg, &[10, 20]));
        up.targets().iter().for_each(|t| t.set_healthy(false));
        assert!(up.pick(&mut Cursor::default(), Some(b"k")).is_none());
        assert_eq!(up.healthy_count(), 0);
    }
}

#[test]
fn round_robin_retries_follow_the_wheel() {
    let up = build(&spec(Algorithm::RoundRobin, &[5, 1, 1]));
    let mut cursor = Cursor::default();
    let order: Vec<_> = up
        .retry_order(&mut cursor, None)
        .map(|t| t.addr())
        .collect();
    assert_eq!(order, [addr(0), addr(1), addr(2)]);
    // The cursor advanced by one pick only, whatever the retries did.
    assert_eq!(up.pick(&mut cursor, None).unwrap().addr(), addr(0));
    assert_eq!(up.pick(&mut cursor, None).unwrap().addr(), addr(1));
}

#[test]
fn cursor_survives_a_smaller_rebuild() {
    let big = build(&spec(Algorithm::RoundRobin, &[5, 3, 2, 7]));
    let mut cursor = Cursor::with_seed(0x9e37_79b9_7f4a_7c15);
    for _ in 0..13 {
        big.pick(&mut cursor, None).unwrap();
    }
    let small = build(&spec(Algorithm::RoundRobin, &[1]));
    assert_eq!(small.pick(&mut cursor, None).unwrap().addr(), addr(0));
}
