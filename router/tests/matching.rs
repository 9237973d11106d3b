//! Table tests for each matching rule: hosts, methods, headers, paths (prefix, regex,
//! template) and captures. Every lookup is also checked against the reference matcher.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{compile, r};

#[test]
fn hosts_exact_wildcard_and_ports() {
    let t = compile(vec![
        r(1).hosts(&["example.com"]),
        r(2).hosts(&["*.example.com"]),
        r(3).hosts(&["example.*"]),
        r(4).hosts(&["api.example.com:8080"]),
        r(5).hosts(&["*.wild.org:9000"]),
        r(6).hosts(&["[::1]:8443"]),
        r(7).hosts(&["MiXeD.Case.NET"]),
    ]);
    let cases: &[(Option<&str>, Option<u32>)] = &[
        // exact, case-insensitive, request port ignored for port-less route hosts
        (Some("example.com"), Some(1)),
        (Some("EXAMPLE.COM"), Some(1)),
        (Some("example.com:80"), Some(1)),
        (Some("example.com:1234"), Some(1)),
        (Some("mixed.case.net"), Some(7)),
        // suffix wildcard: any depth, but not the bare domain (that is r1 here)
        (Some("a.example.com"), Some(2)),
        (Some("a.b.example.com"), Some(2)),
        (Some("A.Example.Com:443"), Some(2)),
        (Some("badexample.com"), None),
        // prefix wildcard: `example.` followed by anything
        (Some("example.org"), Some(3)),
        (Some("example.co.uk"), Some(3)),
        (Some("example"), None),
        (Some("examples.org"), None),
        // a route host with a port needs that port in the Host header
        (Some("api.example.com:8080"), Some(4)),
        (Some("api.example.com"), Some(2)),
        (Some("api.example.com:8081"), Some(2)),
        (Some("x.wild.org:9000"), Some(5)),
        (Some("x.wild.org"), None),
        (Some("[::1]:8443"), Some(6)),
        (Some("[::1]"), None),
        // no Host header: only host-less routes could match
        (None, None),
        (Some(""), None),
        // not a port: the whole value is the host, which `example.*` accepts
        (Some("example.com:notaport"), Some(3)),
    ];
    for (host, want) in cases {
        assert_eq!(t.id(*host, "GET", "/"), *want, "host {host:?}");
    }
}

#[test]
fn wildcard_edge_cases() {
    let t = compile(vec![
        r(1).hosts(&["*.a.b"]),
        r(2).hosts(&["*.b"]),
        r(3).hosts(&["a.*"]),
        r(4).hosts(&["a.b.*"]),
    ]);
    let cases: &[(&str, Option<u32>)] = &[
        // both suffix wildcards match x.a.b: equal priority, so creation order decides
        ("x.a.b", Some(1)),
        ("x.b", Some(2)),
        // `a.b` ends with `.b` (r2) and starts with `a.` (r3): equal rank, r2 created first
        ("a.b", Some(2)),
        // `a.*` and `a.b.*` both match; wildcard length is not a priority: creation order
        ("a.b.c", Some(3)),
        ("a.x", Some(3)),
        ("a.", Some(3)),
        (".b", Some(2)),
        ("b", None),
        ("ab", None),
    ];
    for (host, want) in cases {
        assert_eq!(t.id(Some(host), "GET", "/"), *want, "host {host}");
    }
    // creation order, not list order, breaks the tie
    let t = compile(vec![
        r(1).hosts(&["*.a.b"]).created(9),
        r(2).hosts(&["*.b"]),
    ]);
    assert_eq!(t.id(Some("x.a.b"), "GET", "/"), Some(2));
}

#[test]
fn methods() {
    let t = compile(vec![
        r(1).methods(&["GET", "HEAD"]).paths(&["/m"]),
        r(2).methods(&["PURGE"]).paths(&["/m"]),
        r(3).paths(&["/any"]),
    ]);
    let cases: &[(&str, &str, Option<u32>)] = &[
        ("GET", "/m", Some(1)),
        ("HEAD", "/m", Some(1)),
        ("PURGE", "/m", Some(2)),
        // method mismatch on an otherwise matching route: no match (404 like Kong)
        ("POST", "/m", None),
        ("get", "/m", None),
        ("POST", "/any", Some(3)),
        ("WHATEVER", "/any", Some(3)),
    ];
    for (m, p, want) in cases {
        assert_eq!(t.id(None, m, p), *want, "{m} {p}");
    }
}

#[test]
fn headers_or_within_and_across() {
    let t = compile(vec![
        r(1).paths(&["/h"])
            .header("X-Version", &["v1", "V2"])
            .header("x-region", &["eu"]),
        r(2).paths(&["/h"]).header("x-version", &["~*^v\\d+$"]),
        r(3).paths(&["/h"]).header("x_under", &["yes"]),
        r(4).paths(&["/h"]),
    ]);
    let cases: &[(&[(&str, &str)], u32)] = &[
        (&[("x-version", "v1"), ("x-region", "eu")], 1),
        (&[("X-VERSION", "v2"), ("X-Region", "EU")], 1),
        // one header of the two: r1 fails, the regex route takes it
        (&[("x-version", "v2")], 2),
        (&[("x-version", "V77")], 2),
        (&[("x-version", "v7x")], 4),
        // a repeated header: any of its values may match
        (
            &[("x-version", "zz"), ("x-version", "v1"), ("x-region", "eu")],
            1,
        ),
        (&[("x-region", "eu")], 4),
        // `_` in a route header name matches `-` in the request (Kong)
        (&[("x-under", "YES")], 3),
        (&[], 4),
    ];
    for (hs, want) in cases {
        assert_eq!(
            t.find(None, "GET", "/h", hs).map(|f| f.0),
            Some(*want),
            "{hs:?}"
        );
    }
}

#[test]
fn prefix_paths_are_raw_string_prefixes() {
    let t = compile(vec![
        r(1).paths(&["/foo"]),
        r(2).paths(&["/foo/bar"]),
        r(3).paths(&["/"]),
    ]);
    let cases: &[(&str, u32, usize)] = &[
        ("/foo", 1, 4),
        ("/foobar", 1, 4), // not segment-aware, as Kong
        ("/foo/", 1, 4),
        ("/foo/bar", 2, 8),
        ("/foo/barbaz/x", 2, 8),
        ("/fo", 3, 1),
        ("/", 3, 1),
        ("/FOO", 3, 1),          // case-sensitive
        ("/x/../foo/./y", 1, 4), // normalised first: /foo/y
        ("/%66oo", 1, 4),        // %66 is 'f', decoded
    ];
    for (p, id, strip) in cases {
        assert_eq!(
            t.find(None, "GET", p, &[]).map(|f| (f.0, f.1)),
            Some((*id, *strip)),
            "{p}"
        );
    }
}

#[test]
fn regex_paths_anchored_at_start_with_captures() {
    let t = compile(vec![
        r(1).paths(&[r"~/users/(?<id>\d+)$"]),
        r(2).paths(&[r"~/files/(?P<name>[a-z]+)(\.(?<ext>\w+))?"]),
        r(3).paths(&[r"~/a|/b"]),
        r(4).paths(&[r"~.*/tail$"]),
        r(9).paths(&["/"]),
    ]);
    type Caps = &'static [(&'static str, &'static str)];
    let cases: &[(&str, u32, usize, Caps)] = &[
        ("/users/42", 1, 9, &[("id", "42")]),
        ("/users/42/x", 9, 1, &[]),  // `$` anchors the end
        ("/v1/users/42", 9, 1, &[]), // anchored at the start
        (
            "/files/readme.md/more",
            2,
            16,
            &[("name", "readme"), ("ext", "md")],
        ),
        ("/files/readme", 2, 13, &[("name", "readme")]), // ext did not take part
        ("/a/x", 3, 2, &[]),
        ("/b/x", 3, 2, &[]), // every alternative is anchored
        ("/x/b", 9, 1, &[]),
        ("/deep/down/tail", 4, 15, &[]),
    ];
    for (p, id, strip, caps) in cases {
        let got = t.find(None, "GET", p, &[]).unwrap();
        let caps: Vec<(String, String)> = caps
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, (*id, *strip, caps), "{p}");
    }
}

#[test]
fn templates_with_params_and_catch_all() {
    let t = compile(vec![
        r(1).paths(&["/users/{id}"]),
        r(2).paths(&["/users/{id}/posts/{post}"]),
        r(3).paths(&["/static/{*rest}"]),
        r(4).paths(&["/{a}/{b}"]).prio(-1),
        r(5).paths(&["/lit/{{x}}"]),
        r(6).paths(&["/users/me"]).strip(false),
        r(9).paths(&["/"]),
    ]);
    type Caps = &'static [(&'static str, &'static str)];
    let cases: &[(&str, u32, usize, Caps)] = &[
        ("/users/42", 1, 7, &[("id", "42")]),
        ("/users/42/posts/7", 2, 7, &[("id", "42"), ("post", "7")]),
        ("/users/42/", 9, 1, &[]), // a param never matches an empty segment
        ("/users/", 9, 1, &[]),
        ("/static/css/site.css", 3, 8, &[("rest", "css/site.css")]),
        ("/static/", 9, 1, &[]), // a catch-all needs a non-empty rest
        ("/x/y", 4, 1, &[("a", "x"), ("b", "y")]),
        // overlapping templates all match; priority picks (r1 has more static bytes than r4)
        ("/users/me", 1, 7, &[("id", "me")]),
        ("/lit/{x}", 5, 8, &[]),
    ];
    for (p, id, strip, caps) in cases {
        let got = t.find(None, "GET", p, &[]).unwrap();
        let caps: Vec<(String, String)> = caps
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, (*id, *strip, caps), "{p}");
    }
}

#[test]
fn overlapping_templates_fall_back_when_the_better_one_fails_its_method() {
    let t = compile(vec![
        r(1).methods(&["POST"]).paths(&["/users/{id}/avatar"]),
        r(2).methods(&["GET"]).paths(&["/users/{name}/{what}"]),
        r(3).methods(&["GET"]).paths(&["/{*all}"]),
    ]);
    assert_eq!(t.id(None, "POST", "/users/1/avatar"), Some(1));
    assert_eq!(t.id(None, "GET", "/users/1/avatar"), Some(2));
    assert_eq!(t.id(None, "GET", "/users/1/avatar/big"), Some(3));
    assert_eq!(t.id(None, "DELETE", "/users/1/avatar"), None);
}

#[test]
fn no_paths_no_hosts_matches_everything() {
    let t = compile(vec![r(1)]);
    assert_eq!(
        t.find(Some("x"), "GET", "/anything", &[]),
        Some((1, 0, vec![]))
    );
    assert!(sluice_router::Router::empty().is_empty());
    assert_eq!(t.fast.len(), 1);
}

#[test]
fn router_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<sluice_router::Router>();
}
