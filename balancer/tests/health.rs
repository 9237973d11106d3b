//! Passive and active health, manual overrides, and persistence across rebuilds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use sluice_balancer::{
    ActiveHealth, ActiveHealthy, ActiveUnhealthy, Algorithm, Cursor, HealthRegistry, ProbeOutcome,
    Upstream,
};

#[test]
fn defaults_are_kongs() {
    let s = sluice_balancer::UpstreamSpec::default();
    assert_eq!(s.slots, 10_000);
    assert_eq!(s.passive.unhealthy_http_statuses, [429, 500, 503]);
    assert!(s.passive.healthy_http_statuses.contains(&200));
    assert!(s.passive.healthy_http_statuses.contains(&308));
    assert_eq!(s.active.http_path, "/");
    assert_eq!(s.active.timeout, Duration::from_secs(1));
    assert_eq!(s.active.concurrency, 10);
    assert_eq!(s.active.healthy.http_statuses, [200, 302]);
    assert_eq!(
        s.active.unhealthy.http_statuses,
        [429, 404, 500, 501, 502, 503, 504, 505]
    );
    assert!(!s.active.enabled());
}

#[test]
fn thresholds_of_zero_never_trip() {
    let up = build(&spec(Algorithm::RoundRobin, &[1, 1]));
    let t = &up.targets()[0];
    for _ in 0..1000 {
        t.report_tcp_failure();
        t.report_timeout();
        t.report_http_status(500);
    }
    assert!(t.is_healthy());
}

#[test]
fn passive_tcp_failures_trip_and_targets_are_skipped() {
    let mut s = spec(Algorithm::RoundRobin, &[1, 1, 1]);
    s.passive = breaker(3, 2);
    let up = build(&s);
    let t = &up.targets()[1];
    t.report_tcp_failure();
    t.report_tcp_failure();
    assert!(t.is_healthy());
    t.report_tcp_failure();
    assert!(!t.is_healthy());
    let counts = first_picks(&up, 3000);
    assert_eq!(counts.get(&addr(1)), None);
    assert_eq!(counts[&addr(0)], 1500);
}

#[test]
fn passive_http_statuses_count_only_configured_ones() {
    let mut s = spec(Algorithm::RoundRobin, &[1]);
    s.passive = breaker(2, 1);
    let up = build(&s);
    let t = &up.targets()[0];
    for status in [404, 502, 504, 418] {
        t.report_http_status(status); // in neither list: ignored
    }
    t.report_http_status(500);
    assert!(t.is_healthy());
    assert_eq!(t.health_counters(), [0, 0, 0, 1]);
    t.report_http_status(200); // success breaks the streak
    t.report_http_status(503);
    assert!(t.is_healthy());
    t.report_http_status(429);
    assert!(!t.is_healthy());
}

#[test]
fn recovery_after_configured_successes() {
    let mut s = spec(Algorithm::ConsistentHashing, &[1, 1]);
    s.passive = breaker(1, 3);
    let up = build(&s);
    let t = &up.targets()[0];
    t.report_timeout();
    assert!(!t.is_healthy());
    t.report_http_status(200);
    t.report_http_status(204);
    assert!(!t.is_healthy());
    t.report_http_status(302);
    assert!(t.is_healthy());
    assert_eq!(t.health_counters(), [0; 4]);
}

#[test]
fn manual_override_wins_and_clears_counters() {
    let mut s = spec(Algorithm::LeastConnections, &[1, 1]);
    s.passive = breaker(2, 0);
    let up = build(&s);
    let t = &up.targets()[0];
    t.report_tcp_failure();
    t.set_healthy(false);
    assert!(!t.is_healthy());
    assert_eq!(up.healthy_count(), 1);
    t.report_http_status(200); // passive successes disabled: stays down
    assert!(!t.is_healthy());
    t.set_healthy(true);
    assert!(t.is_healthy());
    assert_eq!(t.health_counters(), [0; 4]);
}

#[test]
fn health_and_connections_survive_rebuild_via_registry() {
    let reg = HealthRegistry::new();
    let mut s = spec(Algorithm::RoundRobin, &[1, 1, 1]);
    s.passive = breaker(1, 1);
    let old = Upstream::build(&s, &reg).unwrap();
    old.targets()[2].report_tcp_failure();
    let guard = old.targets()[0].begin();

    // Reload: a new target, weights changed, algorithm changed.
    s.targets.push(sluice_balancer::TargetSpec {
        addr: addr(3),
        weight: 5,
    });
    s.targets[0].weight = 10;
    s.algorithm = Algorithm::LeastConnections;
    let new = Upstream::build(&s, &reg).unwrap();
    assert!(!new.targets()[2].is_healthy(), "health carried over");
    assert_eq!(
        new.targets()[0].active_connections(),
        1,
        "connections carried over"
    );
    drop(guard);
    assert_eq!(new.targets()[0].active_connections(), 0);
    assert!(new.targets()[3].is_healthy());

    // Same address in another upstream is a different key.
    let mut other = s.clone();
    other.name = "other".into();
    let other = Upstream::build(&other, &reg).unwrap();
    assert!(other.targets()[2].is_healthy());

    // Old snapshot dropped; targets removed from config are garbage-collected.
    drop(old);
    s.targets.truncate(1);
    let newer = Upstream::build(&s, &reg).unwrap();
    drop(new);
    assert_eq!(reg.len(), 8, "svc: 4 addresses, other: 4");
    assert_eq!(reg.gc(), 3, "svc's addr 1..=3 are gone");
    assert_eq!(reg.len(), 5);
    drop((newer, other));
}

fn active_spec() -> sluice_balancer::UpstreamSpec {
    let mut s = spec(Algorithm::RoundRobin, &[1, 0]);
    s.active = ActiveHealth {
        http_path: "/status".into(),
        timeout: Duration::from_millis(500),
        healthy: ActiveHealthy {
            interval: Duration::from_secs(5),
            successes: 2,
            ..ActiveHealthy::default()
        },
        unhealthy: ActiveUnhealthy {
            interval: Duration::from_secs(1),
            http_failures: 2,
            tcp_failures: 1,
            timeouts: 3,
            ..ActiveUnhealthy::default()
        },
        ..ActiveHealth::default()
    };
    s
}

#[test]
fn active_probe_plan_lists_every_target_with_interval_by_health() {
    let up = build(&active_spec());
    let plan = up.active_probe_plan();
    assert_eq!(plan.len(), 2, "disabled targets are probed too");
    let p = &plan[0];
    assert_eq!(&*p.upstream, "svc");
    assert_eq!(p.path(), "/status");
    assert_eq!(p.timeout(), Duration::from_millis(500));
    assert_eq!(p.next_interval(), Some(Duration::from_secs(5)));
    p.target.record_probe(ProbeOutcome::TcpFailure);
    assert!(!up.targets()[0].is_healthy());
    assert_eq!(p.next_interval(), Some(Duration::from_secs(1)));

    assert!(build(&spec(Algorithm::RoundRobin, &[1]))
        .active_probe_plan()
        .is_empty());
}

#[test]
fn active_probe_state_machine() {
    let s = active_spec();
    let up = build(&s);
    let t = &up.targets()[0];
    t.record_probe_status(404);
    t.record_probe_status(200);
    t.record_probe_status(500);
    assert!(
        t.is_healthy(),
        "success in between resets the failure streak"
    );
    t.record_probe_status(503);
    assert!(!t.is_healthy());
    t.record_probe(ProbeOutcome::Success(200));
    t.record_probe(ProbeOutcome::Timeout);
    t.record_probe(ProbeOutcome::Success(200));
    assert!(!t.is_healthy(), "timeout broke the success streak");
    t.record_probe_status(302);
    assert!(t.is_healthy());
    t.record_probe_status(418); // in neither list
    assert_eq!(t.health_counters(), [0; 4]);

    assert_eq!(
        ProbeOutcome::classify(200, &s.active),
        Some(ProbeOutcome::Success(200))
    );
    assert_eq!(
        ProbeOutcome::classify(505, &s.active),
        Some(ProbeOutcome::HttpFailure(505))
    );
    assert_eq!(ProbeOutcome::classify(201, &s.active), None);
}

#[test]
fn health_is_shared_across_worker_threads() {
    let mut s = spec(Algorithm::RoundRobin, &[1, 1]);
    s.passive = breaker(255, 0);
    let up = std::sync::Arc::new(build(&s));
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let up = &up;
            scope.spawn(move || {
                let mut cursor = Cursor::default();
                for _ in 0..200 {
                    if let Some(t) = up.pick(&mut cursor, None) {
                        if t.addr() == addr(1) {
                            t.report_tcp_failure();
                        }
                    }
                }
            });
        }
    });
    // Each worker lands on target 1 every other pick: 2 x 100 failures, all counted in the
    // one shared counter (threshold 255), so 55 more trip it.
    assert!(up.targets()[1].is_healthy());
    assert_eq!(up.targets()[1].health_counters()[1], 200);
    for _ in 0..55 {
        up.targets()[1].report_tcp_failure();
    }
    assert!(!up.targets()[1].is_healthy());
}
