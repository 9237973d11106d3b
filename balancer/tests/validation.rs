//! Configuration errors: every problem reported at once, with a field path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sluice_balancer::{Algorithm, HashOn, HealthRegistry, TargetSpec, Upstream, UpstreamSpec};

fn errors(s: &UpstreamSpec) -> Vec<(String, String)> {
    match Upstream::build(s, &HealthRegistry::new()) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| (e.field, e.reason)).collect(),
    }
}

fn fields(s: &UpstreamSpec) -> Vec<String> {
    errors(s).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn valid_spec_builds() {
    assert!(errors(&spec(Algorithm::ConsistentHashing, &[0, 1, 65_535])).is_empty());
}

#[test]
fn table_of_errors() {
    type Case = (&'static str, fn(&mut UpstreamSpec), &'static [&'static str]);
    let cases: &[Case] = &[
        ("empty name", |s| s.name.clear(), &["name"]),
        ("slots low", |s| s.slots = 9, &["slots"]),
        ("slots high", |s| s.slots = 65_537, &["slots"]),
        (
            "weight",
            |s| s.targets[1].weight = 65_536,
            &["targets[1].weight"],
        ),
        (
            "dup",
            |s| {
                s.targets.push(TargetSpec {
                    addr: addr(0),
                    weight: 1,
                })
            },
            &["targets[2].target"],
        ),
        (
            "header name",
            |s| s.hash_on = HashOn::Header(String::new()),
            &["hash_on_header"],
        ),
        (
            "fallback cookie name",
            |s| {
                s.hash_on = HashOn::Ip;
                s.hash_fallback = HashOn::Cookie(String::new());
            },
            &["hash_fallback_cookie"],
        ),
        (
            "fallback without hash_on",
            |s| s.hash_fallback = HashOn::Ip,
            &["hash_fallback"],
        ),
        (
            "fallback after cookie",
            |s| {
                s.hash_on = HashOn::Cookie("sid".into());
                s.hash_fallback = HashOn::Ip;
            },
            &["hash_fallback"],
        ),
        (
            "same fallback",
            |s| {
                s.hash_on = HashOn::Header("x-a".into());
                s.hash_fallback = HashOn::Header("x-a".into());
            },
            &["hash_fallback"],
        ),
        (
            "status",
            |s| s.passive.unhealthy_http_statuses.push(1000),
            &["healthchecks.passive.unhealthy.http_statuses[3]"],
        ),
        (
            "threshold",
            |s| s.active.unhealthy.timeouts = 256,
            &["healthchecks.active.unhealthy.timeouts"],
        ),
        (
            "path",
            |s| s.active.http_path = "status".into(),
            &["healthchecks.active.http_path"],
        ),
        (
            "concurrency",
            |s| s.active.concurrency = 0,
            &["healthchecks.active.concurrency"],
        ),
        (
            "several at once",
            |s| {
                s.slots = 0;
                s.name.clear();
                s.targets[0].weight = 70_000;
            },
            &["name", "slots", "targets[0].weight"],
        ),
    ];
    for (what, edit, want) in cases {
        let mut s = spec(Algorithm::ConsistentHashing, &[1, 1]);
        edit(&mut s);
        assert_eq!(fields(&s), *want, "{what}: {:?}", errors(&s));
    }
}

#[test]
fn different_header_names_are_a_valid_fallback() {
    let mut s = spec(Algorithm::ConsistentHashing, &[1]);
    s.hash_on = HashOn::Header("x-a".into());
    s.hash_fallback = HashOn::Header("x-b".into());
    assert!(errors(&s).is_empty());
}

#[test]
fn error_display_names_the_field() {
    let mut s = spec(Algorithm::RoundRobin, &[1]);
    s.slots = 5;
    let e = Upstream::build(&s, &HealthRegistry::new()).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "slots: value should be between 10 and 65536, got 5"
    );
}
