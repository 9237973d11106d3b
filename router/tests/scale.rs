//! Larger route sets that exercise the frozen tries' layout limits (labels longer than a node
//! holds inline, nodes with more children than fit inline, template segments longer than an
//! edge slot), many host buckets and wildcards: every lookup is checked against the reference.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{compile, r, B};

const LONG: &str = "averyveryverylongsegment-abcdefghijklmnopqrstuvwxyz";

fn routes() -> Vec<B> {
    let mut v = Vec::new();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    // many siblings under one node: /k<c> for 60 different bytes
    let chars: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='7').collect();
    for c in &chars {
        v.push(r(next()).paths(&[&format!("/k{c}")]));
        v.push(
            r(next())
                .paths(&[&format!("/k{c}/{LONG}/{c}")])
                .methods(&["GET"]),
        );
    }
    // long labels, with branching deep inside them
    for i in 0..40 {
        v.push(r(next()).paths(&[&format!("/{LONG}{LONG}/{i}")]));
        v.push(r(next()).paths(&[&format!("/{LONG}/{{id}}/{LONG}{i}")]));
    }
    // hosts, wildcards and ports, templates with many static siblings, a few regexes
    for h in 0..30 {
        let host = format!("svc{h}.example.com");
        let wild = format!("*.t{h}.example.org");
        let port = format!("svc{h}.example.com:8{h:03}");
        v.push(
            r(next())
                .hosts(&[&host])
                .paths(&["/api", &format!("/api/v1/{{x}}/{h}")]),
        );
        v.push(r(next()).hosts(&[&wild]).paths(&[&format!("/api/v{h}")]));
        v.push(r(next()).hosts(&[&port]).methods(&["POST"]).paths(&["/"]));
        v.push(
            r(next())
                .hosts(&[&format!("svc{h}.*")])
                .header("x-v", &["1", "~*^2"]),
        );
        v.push(
            r(next())
                .hosts(&[&host])
                .paths(&[&format!("~/re{h}/(?<n>\\d+)")])
                .prio(h % 3),
        );
        v.push(r(next()).paths(&[&format!("/t/s{h}/{{*rest}}")]).created(0));
    }
    v
}

#[test]
fn large_tables_agree_with_reference() {
    let t = compile(routes());
    let hosts = [
        None,
        Some("svc3.example.com"),
        Some("SVC3.example.com:8003"),
        Some("a.t7.example.org"),
        Some("svc9.example.net"),
        Some("other.io"),
    ];
    let mut paths: Vec<String> = vec![
        "/".into(),
        "/api".into(),
        "/api/v1/x/3".into(),
        "/api/v7/z".into(),
    ];
    for c in ['a', 'Z', '7', '9'] {
        paths.push(format!("/k{c}"));
        paths.push(format!("/k{c}xyz"));
        paths.push(format!("/k{c}/{LONG}/{c}"));
        paths.push(format!("/k{c}/{LONG}/{c}/more"));
        paths.push(format!("/k{c}/{LONG}"));
    }
    for i in [0, 7, 39, 40] {
        paths.push(format!("/{LONG}{LONG}/{i}"));
        paths.push(format!("/{LONG}{LONG}/{i}9"));
        paths.push(format!("/{LONG}{}", &LONG[..10]));
        paths.push(format!("/{LONG}/42/{LONG}{i}"));
        paths.push(format!("/{LONG}/42/{LONG}"));
        paths.push(format!("/re{i}/123/x"));
        paths.push(format!("/t/s{i}/a/b"));
        paths.push(format!("/t/s{i}/"));
    }
    let mut matched = 0;
    for host in hosts {
        for method in ["GET", "POST", "PATCH"] {
            for p in &paths {
                for hs in [&[][..], &[("x-v", "1")][..], &[("x-v", "22")][..]] {
                    if t.find(host, method, p, hs).is_some() {
                        matched += 1;
                    }
                }
            }
        }
    }
    assert!(matched > 100, "{matched}");
}
