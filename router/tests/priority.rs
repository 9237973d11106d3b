//! The priority order, as a table: each row is a set of routes that all match the request,
//! and the route that must win. Rows go through the rules most significant first (Kong's
//! `get_priority()` in `kong/router/transform.lua`, then creation order).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{compile, r, B};

struct Row {
    rule: &'static str,
    routes: fn() -> Vec<B>,
    host: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    winner: u32,
}

const H: &str = "api.example.com";
const XV: &[(&str, &str)] = &[("x-v", "1"), ("x-w", "2")];

#[test]
fn priority_table() {
    let rows = [
        Row {
            rule: "1. more fields set wins (methods+paths beats paths)",
            routes: || {
                vec![
                    r(1).paths(&["/a/b/c"]),
                    r(2).methods(&["GET"]).paths(&["/a"]),
                ]
            },
            host: H,
            path: "/a/b/c",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "1. ... even over a regex path with a high regex_priority",
            routes: || {
                vec![
                    r(1).paths(&["~/a"]).prio(100),
                    r(2).hosts(&[H]).paths(&["/"]),
                ]
            },
            host: H,
            path: "/a",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "1. a route with hosts beats one without, all else equal",
            routes: || {
                vec![
                    r(1).paths(&["/a"]),
                    r(2).hosts(&["*.example.com"]).paths(&["/a"]),
                ]
            },
            host: H,
            path: "/a",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "2. plain hosts only beats a wildcard host",
            routes: || {
                vec![
                    r(1).hosts(&["*.example.com"]).paths(&["/a/b"]),
                    r(2).hosts(&[H]).paths(&["/a"]),
                ]
            },
            host: H,
            path: "/a/b",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "2. one wildcard among the hosts loses the plain-host bit",
            routes: || {
                vec![
                    r(1).hosts(&[H, "x.*"]).paths(&["/a/b"]),
                    r(2).hosts(&[H]).paths(&["/a"]),
                ]
            },
            host: H,
            path: "/a/b",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "3. more headers wins",
            routes: || {
                vec![
                    r(1).header("x-v", &["1"]).paths(&["~/a"]).prio(9),
                    r(2).header("x-v", &["1"])
                        .header("x-w", &["2"])
                        .paths(&["/"]),
                ]
            },
            host: H,
            path: "/a",
            headers: XV,
            winner: 2,
        },
        Row {
            rule: "4. regex path beats a longer prefix path",
            routes: || vec![r(1).paths(&["/users/42"]), r(2).paths(&["~/users/\\d+"])],
            host: H,
            path: "/users/42",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "4. template path beats a longer prefix path",
            routes: || vec![r(1).paths(&["/users/42/x"]), r(2).paths(&["/users/{id}/x"])],
            host: H,
            path: "/users/42/x",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "5. higher regex_priority wins among regexes",
            routes: || {
                vec![
                    r(1).paths(&["~/a"]).prio(1),
                    r(2).paths(&["~/a/b"]).prio(0),
                    r(3).paths(&["~/"]).prio(5),
                ]
            },
            host: H,
            path: "/a/b",
            headers: &[],
            winner: 3,
        },
        Row {
            rule: "5. negative regex_priority ranks below 0",
            routes: || vec![r(1).paths(&["~/a"]).prio(-1), r(2).paths(&["~/"])],
            host: H,
            path: "/a",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "5. regex_priority means nothing for prefix paths",
            routes: || vec![r(1).paths(&["/a"]).prio(100), r(2).paths(&["/a/b"])],
            host: H,
            path: "/a/b",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "5. regex_priority also orders templates, before static length",
            routes: || {
                vec![
                    r(1).paths(&["/users/{id}"]),
                    r(2).paths(&["/{a}/{b}"]).prio(1),
                ]
            },
            host: H,
            path: "/users/1",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "6. longest prefix wins",
            routes: || {
                vec![
                    r(1).paths(&["/a"]),
                    r(2).paths(&["/a/b/c"]),
                    r(3).paths(&["/a/b"]),
                ]
            },
            host: H,
            path: "/a/b/c/d",
            headers: &[],
            winner: 2,
        },
        Row {
            rule:
                "6. templates: more static bytes wins; a template beats a regex of equal priority",
            routes: || {
                vec![
                    r(1).paths(&["~/users/.*"]),
                    r(2).paths(&["/{x}/{y}"]),
                    r(3).paths(&["/users/{id}"]),
                ]
            },
            host: H,
            path: "/users/7",
            headers: &[],
            winner: 3,
        },
        Row {
            rule: "6. each path of a route is ranked on its own",
            routes: || vec![r(1).paths(&["/a", "/a/b/c"]), r(2).paths(&["/a/b"])],
            host: H,
            path: "/a/b/c",
            headers: &[],
            winner: 1,
        },
        Row {
            rule: "7. tie: lower created_order wins, whatever the list order",
            routes: || {
                vec![
                    r(1).paths(&["/a"]).created(5),
                    r(2).paths(&["/a"]).created(3),
                ]
            },
            host: H,
            path: "/a",
            headers: &[],
            winner: 2,
        },
        Row {
            rule: "7. tie on created_order: lower id wins",
            routes: || {
                vec![
                    r(7).paths(&["~/a"]).created(1),
                    r(4).paths(&["~/a"]).created(1),
                ]
            },
            host: H,
            path: "/a",
            headers: &[],
            winner: 4,
        },
        Row {
            rule: "7. exact tie of wildcard hosts: creation order",
            routes: || {
                vec![
                    r(1).hosts(&["api.*"]).created(2),
                    r(2).hosts(&["*.com"]).created(1),
                ]
            },
            host: H,
            path: "/",
            headers: &[],
            winner: 2,
        },
    ];
    for row in rows {
        let t = compile((row.routes)());
        let got = t
            .find(Some(row.host), "GET", row.path, row.headers)
            .map(|f| f.0);
        assert_eq!(got, Some(row.winner), "rule: {}", row.rule);
    }
}
