//! HTTP/1 codec hot paths (lifecycle steps 3, 7 and 9): request head parse, response head
//! parse, the strict chunked scanner, and building the upstream request head.
//!
//! Run: `cargo bench -p sluice-engine --bench codec` (add `-- --quick` for a fast check).
//! Criterion's estimates land in `target/criterion/<group>/<bench>/new/estimates.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_engine::forward::{write_upstream_head, ClientFacts, UpstreamTarget};
use sluice_engine::http::chunked::ChunkedScanner;
use sluice_engine::http::request::{parse_request, ParseStatus, RequestHead};
use sluice_engine::http::response::{parse_response, ResponseHead, ResponseStatus};
use sluice_engine::http::HeadLimits;

/// A browser-like GET: about 400 bytes, the usual Accept* headers, a cookie.
const BROWSER: &str = "GET /api/v1/orders/12345?expand=items&page=2 HTTP/1.1\r\n\
Host: shop.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: application/json, text/plain, */*\r\n\
Accept-Language: en-GB,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://shop.example.com/orders\r\n\
Sec-Fetch-Mode: cors\r\n\
Cookie: session=3f2a9c1e7b; theme=dark\r\n\
Connection: keep-alive\r\n\r\n";

/// What curl sends by default.
const CURL: &str =
    "GET /status HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

/// An upstream answer as nginx or a typical app server sends it.
const RESPONSE: &str = "HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Sun, 22 Nov 2026 00:00:00 GMT\r\n\
Content-Type: application/json; charset=utf-8\r\n\
Content-Length: 1024\r\n\
Connection: keep-alive\r\n\
Cache-Control: no-cache\r\n\
X-Request-Id: 9f3c2a71-5b0e-4c7d-8a1f-2e6b9d0c4a55\r\n\r\n";

fn parse(raw: &[u8], limits: &HeadLimits, head: RequestHead) -> RequestHead {
    match parse_request(raw, limits, head) {
        Ok(ParseStatus::Complete(head)) => head,
        _ => panic!("bench request does not parse"),
    }
}

fn bench_request(c: &mut Criterion) {
    let limits = HeadLimits::default();
    assert!(
        (390..=420).contains(&BROWSER.len()),
        "browser request is {} bytes",
        BROWSER.len()
    );
    let mut g = c.benchmark_group("parse_request");
    for (name, raw) in [("browser_400b", BROWSER), ("curl", CURL)] {
        g.throughput(Throughput::Bytes(raw.len() as u64));
        // The head is reused across requests, as the proxy loop does (keeps the Vec capacity).
        let mut head = RequestHead::default();
        g.bench_function(name, |b| {
            b.iter(|| {
                let reused = std::mem::take(&mut head);
                head = parse(black_box(raw.as_bytes()), &limits, reused);
                black_box(&head);
            })
        });
    }
    g.finish();
}

fn bench_response(c: &mut Criterion) {
    let limits = HeadLimits::default();
    let mut g = c.benchmark_group("parse_response");
    g.throughput(Throughput::Bytes(RESPONSE.len() as u64));
    let mut head = ResponseHead::default();
    g.bench_function("typical_300b", |b| {
        b.iter(|| {
            let reused = std::mem::take(&mut head);
            head = match parse_response(black_box(RESPONSE.as_bytes()), &limits, false, reused) {
                Ok(ResponseStatus::Complete(head)) => head,
                _ => panic!("bench response does not parse"),
            };
            black_box(&head);
        })
    });
    g.finish();
}

/// `total` payload bytes encoded as chunks of `chunk` bytes, then the last chunk.
fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + total / chunk * 12 + 8);
    let mut left = total;
    while left > 0 {
        let n = chunk.min(left);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend(std::iter::repeat_n(b'x', n));
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn bench_chunked(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunked_scan");
    for (name, chunk) in [("64k_body_4k_chunks", 4096), ("64k_body_256b_chunks", 256)] {
        let body = chunked_body(64 * 1024, chunk);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut scanner = ChunkedScanner::new(16 * 1024);
                let n = scanner.scan(black_box(&body)).unwrap();
                assert!(scanner.is_done() && n == body.len());
                n
            })
        });
    }
    g.finish();
}

fn bench_upstream_head(c: &mut Criterion) {
    let limits = HeadLimits::default();
    let mut g = c.benchmark_group("write_upstream_head");
    let client = ClientFacts::new("10.0.0.9".parse().unwrap(), false, 8000);
    for (name, raw) in [("browser_400b", BROWSER), ("curl", CURL)] {
        let head = parse(raw.as_bytes(), &limits, RequestHead::default());
        let target = UpstreamTarget {
            path: "/orders/12345",
            host: "orders.internal:8080",
            preserve_host: false,
            stripped_prefix: "/api/v1",
        };
        let mut out = Vec::with_capacity(1024);
        g.bench_function(name, |b| {
            b.iter(|| {
                write_upstream_head(&mut out, black_box(raw.as_bytes()), &head, &target, &client);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_request,
    bench_response,
    bench_chunked,
    bench_upstream_head
);
criterion_main!(benches);
