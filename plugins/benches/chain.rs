//! Plugin chain cost per request: the access phase with key-auth + rate-limiting (the pair
//! Kong users measure), and with no plugins, on an in-memory request.
//!
//!   cargo bench -p sluice-plugins --bench chain

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sluice_plugins::{
    Access, ConsumerSpec, EntityInfo, KeyCredential, Latencies, LogFacts, PluginCtx, PluginSpec,
    PluginState, Plugins, RequestView, ResponseSource,
};

struct Request {
    headers: Vec<(&'static str, &'static str)>,
    ip: IpAddr,
}

impl RequestView for Request {
    fn method(&self) -> &[u8] {
        b"GET"
    }
    fn path(&self) -> &str {
        "/api/orders"
    }
    fn raw_query(&self) -> Option<&[u8]> {
        None
    }
    fn header(&self, lowercase_name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| v.as_bytes())
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.headers {
            f(n.as_bytes(), v.as_bytes());
        }
    }
    fn client_ip(&self) -> IpAddr {
        self.ip
    }
    fn content_length(&self) -> Option<u64> {
        None
    }
    fn is_chunked(&self) -> bool {
        false
    }
    fn service(&self) -> Option<usize> {
        Some(0)
    }
}

fn plugin(name: &str, config: serde_json::Value) -> PluginSpec {
    PluginSpec {
        id: None,
        name: name.to_owned(),
        config,
        enabled: true,
        service: None,
        route: None,
        consumer: None,
        service_id: None,
        route_id: None,
        source_path: format!("plugins.{name}"),
    }
}

fn bench_chain(c: &mut Criterion) {
    let consumers: Vec<ConsumerSpec> = (0..1000)
        .map(|i| ConsumerSpec {
            id: format!("consumer-{i}"),
            username: Some(format!("user-{i}")),
            keyauth: vec![KeyCredential {
                id: format!("cred-{i}"),
                key: format!("key-{i}"),
            }],
            ..ConsumerSpec::default()
        })
        .collect();
    let routes = [Some(0)];
    let state = Arc::new(PluginState::default());
    let with_plugins = Plugins::compile(
        &[
            plugin("key-auth", json!({})),
            // A limit no benchmark run reaches, so every request takes the full path.
            plugin(
                "rate-limiting",
                json!({"second": 1_000_000_000_u64, "hour": 1_000_000_000_000_u64}),
            ),
        ],
        &consumers,
        &routes,
        Arc::clone(&state),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let none =
        Plugins::compile(&[], &consumers, &routes, state).unwrap_or_else(|e| panic!("{e:?}"));
    let request = Request {
        headers: vec![
            ("host", "api.example.com"),
            ("apikey", "key-517"),
            ("accept", "*/*"),
        ],
        ip: "10.1.2.3".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
    };
    let mut ctx = PluginCtx::new();
    let mut group = c.benchmark_group("plugin_chain_access");
    group.bench_function("key-auth+rate-limiting", |b| {
        b.iter(|| {
            ctx.clear();
            let verdict = with_plugins.access(0, black_box(&request), &mut ctx, 1_795_000_000.0);
            assert!(matches!(verdict, Access::Continue));
        })
    });
    group.bench_function("no-plugins", |b| {
        b.iter(|| {
            ctx.clear();
            if !none.is_empty() {
                let _ = none.access(0, black_box(&request), &mut ctx, 1_795_000_000.0);
            }
        })
    });
    group.finish();

    // Log phase of a request that went through prometheus with every per-request metric on:
    // the cost each request pays for metrics (one uncontended shard lock, three histograms).
    let state = Arc::new(PluginState::default());
    let mut metrics = Plugins::compile(
        &[plugin(
            "prometheus",
            json!({"status_code_metrics": true, "latency_metrics": true,
                   "bandwidth_metrics": true, "per_consumer": true}),
        )],
        &consumers,
        &routes,
        state,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    metrics.describe_entities(
        vec![EntityInfo {
            id: "route".into(),
            label: "route".into(),
            json: serde_json::Value::Null,
        }],
        vec![EntityInfo {
            id: "service".into(),
            label: "service".into(),
            json: serde_json::Value::Null,
        }],
    );
    let facts = LogFacts {
        worker: 0,
        route: Some(0),
        service: Some(0),
        status: 200,
        source: ResponseSource::Service,
        request_bytes: 120,
        response_bytes: 640,
        started_at_ms: 1_795_000_000_000,
        latencies: Latencies {
            kong_ms: 0.2,
            proxy_ms: Some(1.4),
            request_ms: 1.6,
            receive_ms: 0.1,
        },
        upstream_uri: "/x",
        upstream_status: Some(200),
        tries: &[],
        client_ip: request.ip,
        server_port: 8000,
    };
    let mut group = c.benchmark_group("plugin_log_phase");
    group.bench_function("prometheus-all-metrics", |b| {
        ctx.clear();
        let _ = metrics.access(0, &request, &mut ctx, 1_795_000_000.0);
        b.iter(|| metrics.log(black_box(&facts), &mut ctx))
    });
    group.finish();
}

criterion_group!(benches, bench_chain);
criterion_main!(benches);
