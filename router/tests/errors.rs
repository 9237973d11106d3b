//! Compile errors come back as values naming the route and the field, never as panics, and
//! all of them are reported at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::r;
use sluice_router::{RouteSpec, Router};

fn errors(specs: Vec<RouteSpec>) -> Vec<(String, String, String)> {
    match Router::compile(specs) {
        Ok(_) => vec![],
        Err(es) => es
            .into_iter()
            .map(|e| (e.route, e.field, e.reason))
            .collect(),
    }
}

#[test]
fn error_table() {
    let cases: &[(common::B, &str, &str)] = &[
        (r(1).hosts(&[""]), "hosts[0]", "must not be empty"),
        (
            r(1).hosts(&["ok.com", "a.*.com"]),
            "hosts[1]",
            "leftmost or rightmost",
        ),
        (r(1).hosts(&["*.*.com"]), "hosts[0]", "only one wildcard"),
        (r(1).hosts(&["*"]), "hosts[0]", "leftmost or rightmost"),
        (
            r(1).hosts(&["ex ample.com"]),
            "hosts[0]",
            "invalid hostname",
        ),
        (
            r(1).hosts(&["example.com:99999"]),
            "hosts[0]",
            "invalid port",
        ),
        (r(1).hosts(&["a..b"]), "hosts[0]", "invalid hostname"),
        (r(1).methods(&["get"]), "methods[0]", "uppercase"),
        (r(1).paths(&["foo"]), "paths[0]", "must start with"),
        (
            r(1).paths(&["/ok", "~/(unclosed"]),
            "paths[1]",
            "invalid regex",
        ),
        (
            r(1).paths(&["/a//b"]),
            "paths[0]",
            "not normalized; use '/a/b'",
        ),
        (r(1).paths(&["/a/../b"]), "paths[0]", "not normalized"),
        (r(1).paths(&["/%7euser"]), "paths[0]", "use '/~user'"),
        (r(1).paths(&["/users/{id"]), "paths[0]", "unclosed"),
        (
            r(1).paths(&["/img{id}.png"]),
            "paths[0]",
            "whole path segment",
        ),
        (r(1).paths(&["/{*rest}/x"]), "paths[0]", "last segment"),
        (r(1).paths(&["/{a}/{a}"]), "paths[0]", "duplicate parameter"),
        (r(1).paths(&["/{}"]), "paths[0]", "empty parameter"),
        (r(1).paths(&["/a}"]), "paths[0]", "literal brace"),
        (
            r(1).paths(&[&format!("{}/{{x}}", "/s".repeat(64))]),
            "paths[0]",
            "too many segments",
        ),
        (r(1).header("Host", &["x"]), "headers.Host", "use 'hosts'"),
        (r(1).header("x-a", &[]), "headers.x-a", "at least one value"),
        (
            r(1).header("x a", &["v"]),
            "headers[0]",
            "invalid header name",
        ),
        (
            r(1).header("x-a", &["ok", "~*("]),
            "headers.x-a[1]",
            "invalid regex",
        ),
        (
            r(1).header("x-a", &["1"]).header("X-A", &["2"]),
            "headers.X-A",
            "duplicate",
        ),
    ];
    for (b, field, reason) in cases {
        let es = errors(vec![b.0.clone()]);
        assert_eq!(es.len(), 1, "{field}: {es:?}");
        assert_eq!(es[0].0, "r1");
        assert_eq!(es[0].1, *field);
        assert!(
            es[0].2.contains(reason),
            "{field}: {:?} should contain {reason:?}",
            es[0].2
        );
    }
}

#[test]
fn all_errors_are_collected_and_displayed_with_route_and_field() {
    let mut unnamed = r(7).paths(&["~("]).0;
    unnamed.name.clear();
    let es = Router::compile(vec![
        r(1).hosts(&["a.*.b"]).paths(&["x"]).0,
        r(2).paths(&["/fine"]).0,
        unnamed,
    ])
    .err()
    .unwrap();
    let shown: Vec<String> = es.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(shown[0].starts_with("route 'r1': hosts[0]: "), "{shown:?}");
    assert!(shown[1].starts_with("route 'r1': paths[0]: "), "{shown:?}");
    assert!(
        shown[2].starts_with("route '7': paths[0]: invalid regex"),
        "{shown:?}"
    );
}

#[test]
fn valid_edge_specs_compile() {
    let ok = Router::compile(vec![
        r(1).hosts(&[
            "[::1]",
            "[::1]:80",
            "1.2.3.4:8000",
            "UPPER.example.COM",
            "under_score.io",
        ])
        .0,
        r(2).paths(&["/lit/{{x}}", "/{*all}", "~", "/"]).0,
        r(3).methods(&["PURGE", "GET"])
            .header("x_a", &["~*.*", "Plain"])
            .0,
    ]);
    assert!(ok.is_ok(), "{:?}", ok.err());
}
