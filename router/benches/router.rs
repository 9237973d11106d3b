//! Router benchmarks: lookup time for 10, 1k, 10k and 100k routes (a realistic mix of exact
//! and wildcard hosts, host-less routes, prefixes, templates, a few regexes, methods and
//! headers), and compile time for 10k and 100k routes.
//!
//! Run: `cargo bench -p sluice-router --bench router`. Criterion's median (p50) per lookup is
//! in `target/criterion/lookup/<n>/new/estimates.json` (`median.point_estimate`, ns).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use sluice_router::{normalize_path, RequestInfo, RouteSpec, Router};
use std::time::Duration;

/// Deterministic mixing so route sets and requests are the same on every run.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[derive(Clone, Copy)]
enum HostSel {
    Exact(usize),
    Wild(usize),
    None,
}

#[derive(Clone, Copy)]
enum PathSel {
    Regex,
    Template,
    Prefix(usize),
    None,
}

fn shape(i: usize, n: usize) -> (HostSel, PathSel) {
    let hosts = (n / 40).max(1);
    let r = mix(i as u64);
    let h = (r % hosts as u64) as usize;
    let host = match (r >> 8) % 10 {
        0..=5 => HostSel::Exact(h),
        6 => HostSel::Wild(h),
        _ => HostSel::None,
    };
    let path = match (r >> 16) % 200 {
        0 => PathSel::Regex,
        1..=40 => PathSel::Template,
        41..=195 => PathSel::Prefix(1 + (i % 2)),
        _ => PathSel::None,
    };
    (host, path)
}

fn routes(n: usize) -> Vec<RouteSpec> {
    (0..n)
        .map(|i| {
            let (host, path) = shape(i, n);
            let r = mix(i as u64 ^ 0xabcd);
            let hosts = match host {
                HostSel::Exact(h) => vec![format!("svc{h}.example.com")],
                HostSel::Wild(h) => vec![format!("*.tenant{h}.example.org")],
                HostSel::None => vec![],
            };
            let paths = match path {
                PathSel::Regex => vec![format!("~/legacy/r{i}/(?<id>\\d+)$")],
                PathSel::Template => vec![format!("/api/v1/r{i}/{{id}}/items/{{item}}")],
                PathSel::Prefix(v) => vec![format!("/api/v{v}/r{i}")],
                PathSel::None => vec![],
            };
            let methods = if r.is_multiple_of(2) {
                vec!["GET".into(), "POST".into()]
            } else {
                vec![]
            };
            let headers = if r % 20 == 1 {
                vec![(
                    "x-version".to_string(),
                    vec!["v1".to_string(), "v2".to_string()],
                )]
            } else {
                vec![]
            };
            RouteSpec {
                id: i as u32,
                name: format!("route-{i}"),
                hosts,
                methods,
                paths,
                headers,
                regex_priority: 0,
                strip_path: true,
                created_order: i as u32,
            }
        })
        .collect()
}

/// Requests aimed at routes spread over the set (most hit, a few miss).
fn requests(n: usize) -> Vec<(String, String)> {
    (0..512)
        .map(|k| {
            let i = (mix(k as u64 ^ 0x5eed) % n as u64) as usize;
            let (host, path) = shape(i, n);
            let host = match host {
                HostSel::Exact(h) => format!("svc{h}.example.com"),
                HostSel::Wild(h) => format!("edge.tenant{h}.example.org:8443"),
                HostSel::None => "unknown.example.net".to_string(),
            };
            let raw = match path {
                PathSel::Regex => format!("/legacy/r{i}/12345"),
                PathSel::Template => format!("/api/v1/r{i}/42/items/7"),
                PathSel::Prefix(v) => format!("/api/v{v}/r{i}/orders/99?x=1"),
                PathSel::None => "/no/such/path".to_string(),
            };
            let raw = raw.split('?').next().unwrap_or("/").to_string();
            let mut norm = String::new();
            let _ = normalize_path(raw.as_bytes(), &mut norm);
            (host, norm)
        })
        .collect()
}

fn bench_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in [10usize, 1_000, 10_000, 100_000] {
        let router = match Router::compile(routes(n)) {
            Ok(r) => r,
            Err(e) => panic!("bench routes do not compile: {:?}", &e[..e.len().min(3)]),
        };
        let reqs = requests(n);
        let hits = reqs
            .iter()
            .filter(|(h, p)| {
                let req = RequestInfo {
                    host: Some(h.as_bytes()),
                    method: b"GET",
                    path: p,
                };
                router
                    .lookup(&req, [("x-version", &b"v1"[..])].as_slice())
                    .is_some()
            })
            .count();
        eprintln!(
            "lookup/{n}: {hits}/{} sample requests match a route",
            reqs.len()
        );
        let headers: &[(&str, &[u8])] = &[("user-agent", b"bench"), ("x-version", b"v1")];
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let mut k = 0usize;
            b.iter(|| {
                let (h, p) = &reqs[k % reqs.len()];
                k = k.wrapping_add(1);
                let req = RequestInfo {
                    host: Some(h.as_bytes()),
                    method: b"GET",
                    path: p,
                };
                black_box(
                    router
                        .lookup(black_box(&req), headers)
                        .map(|m| m.route_id()),
                )
            });
        });
    }
    g.finish();
}

fn bench_normalize(c: &mut Criterion) {
    let mut out = String::with_capacity(64);
    c.bench_function("normalize_path/typical", |b| {
        b.iter(|| normalize_path(black_box(b"/api/v1/users/42/orders%2Fx/./items"), &mut out))
    });
}

fn bench_compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    for n in [10_000usize, 100_000] {
        let specs = routes(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || specs.clone(),
                |s| black_box(Router::compile(s).map(|r| r.len()).unwrap_or(0)),
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, bench_lookup, bench_normalize, bench_compile);
criterion_main!(benches);
