//! Per-pick cost of each algorithm (what the engine pays per request at lifecycle step 6).
//! Run: `cargo bench -p sluice-balancer --bench pick`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sluice_balancer::{Algorithm, Cursor, HealthRegistry, TargetSpec, Upstream, UpstreamSpec};

fn upstream(alg: Algorithm, n: u32) -> Upstream {
    let spec = UpstreamSpec {
        name: "bench".into(),
        algorithm: alg,
        targets: (0..n)
            .map(|i| TargetSpec {
                addr: SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 8080)),
                weight: 100 + 50 * (i % 4),
            })
            .collect(),
        ..UpstreamSpec::default()
    };
    Upstream::build(&spec, &HealthRegistry::new()).unwrap()
}

fn bench_pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("pick");
    for n in [10u32, 100] {
        let rr = upstream(Algorithm::RoundRobin, n);
        let mut cursor = Cursor::default();
        g.bench_function(format!("round_robin/{n}"), |b| {
            b.iter(|| rr.pick(&mut cursor, None).map(|t| t.weight()))
        });

        let ch = upstream(Algorithm::ConsistentHashing, n);
        let keys: Vec<String> = (0..1024)
            .map(|i| format!("203.0.113.{}:{i}", i % 251))
            .collect();
        let mut cursor = Cursor::default();
        let mut i = 0usize;
        g.bench_function(format!("consistent_hashing/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                ch.pick(&mut cursor, Some(black_box(keys[i].as_bytes())))
                    .map(|t| t.weight())
            })
        });

        let lc = upstream(Algorithm::LeastConnections, n);
        let _held: Vec<_> = lc.targets().iter().step_by(3).map(|t| t.begin()).collect();
        let mut cursor = Cursor::default();
        g.bench_function(format!("least_connections/{n}"), |b| {
            b.iter(|| lc.pick(&mut cursor, None).map(|t| t.weight()))
        });
    }
    g.finish();
}

fn bench_retry(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry_order_4");
    for alg in [
        Algorithm::RoundRobin,
        Algorithm::ConsistentHashing,
        Algorithm::LeastConnections,
    ] {
        let up = upstream(alg, 10);
        // Every other target is down: the walks have to skip.
        up.targets()
            .iter()
            .step_by(2)
            .for_each(|t| t.set_healthy(false));
        let mut cursor = Cursor::default();
        g.bench_function(format!("{alg:?}_half_unhealthy"), |b| {
            b.iter(|| {
                up.retry_order(&mut cursor, Some(black_box(b"user-1234")))
                    .take(4)
                    .fold(0, |acc, t| acc + t.weight())
            })
        });
    }
    g.finish();
}

fn bench_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    g.bench_function("consistent_hashing/100", |b| {
        b.iter(|| upstream(Algorithm::ConsistentHashing, black_box(100)))
    });
    g.bench_function("round_robin/1000", |b| {
        b.iter(|| upstream(Algorithm::RoundRobin, black_box(1000)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = bench_pick, bench_retry, bench_build }
criterion_main!(benches);
