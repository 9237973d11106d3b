//! `GET /metrics`: the prometheus plugin's exposition (Kong serves it on the Admin API too).
//!
//! Traffic metrics (`kong_http_requests_total`, latency histograms, bandwidth) come from the
//! plugin's per-worker shards; the node metrics (`kong_nginx_*`, `kong_node_info`) from the
//! worker counters; `kong_upstream_target_health` from the balancer's health registry when a
//! prometheus instance sets `upstream_health_metrics`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use sluice_plugins::{prometheus_escape as escape, prometheus_header as header};

use super::health::{addresses, checks_off};
use super::http::{Reply, Request};
use super::Ctx;

/// The text format's content type (version 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn metrics(ctx: &Ctx, req: &Request) -> Reply {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Reply::method_not_allowed();
    }
    let shared = ctx.store.shared();
    let mut out = String::with_capacity(4096);
    shared.plugin_state.render_metrics(&mut out);

    let snapshot = shared.config.load_full();
    if snapshot.plugins.wants_upstream_health_metrics() {
        header(
            &mut out,
            "kong_upstream_target_health",
            "Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy|dns_error, value is 1 when state is populated.",
            "gauge",
        );
        for (index, upstream) in snapshot.source.upstreams.iter().enumerate() {
            let Some(compiled) = snapshot.upstreams.get(index) else {
                continue;
            };
            let off = checks_off(&upstream.healthchecks);
            for target in &upstream.targets {
                let addrs = addresses(target);
                let mut states: Vec<(String, &str)> = addrs
                    .iter()
                    .filter_map(|addr| {
                        let state = compiled.target(*addr)?;
                        let label = match (state.is_healthy(), off) {
                            (false, _) => "unhealthy",
                            (true, true) => "healthchecks_off",
                            (true, false) => "healthy",
                        };
                        Some((addr.to_string(), label))
                    })
                    .collect();
                if states.is_empty() {
                    states.push((String::new(), "dns_error"));
                }
                for (address, current) in states {
                    for state in ["healthchecks_off", "healthy", "unhealthy", "dns_error"] {
                        let _ = writeln!(
                            out,
                            "kong_upstream_target_health{{upstream=\"{}\",target=\"{}\",address=\"{}\",state=\"{state}\",subsystem=\"http\"}} {}",
                            escape(&upstream.name),
                            escape(&target.target),
                            escape(&address),
                            u8::from(state == current)
                        );
                    }
                }
            }
        }
    }

    let sum = |f: fn(&crate::worker::WorkerStats) -> u64| shared.stats.iter().map(f).sum::<u64>();
    let accepted = sum(|s| s.connections_accepted.load(Ordering::Relaxed));
    let active = sum(|s| s.connections_active.load(Ordering::Relaxed));
    let requests = sum(|s| s.requests.load(Ordering::Relaxed));
    let node = escape(&ctx.node_id);
    header(
        &mut out,
        "kong_nginx_connections_total",
        "Number of connections by subsystem",
        "gauge",
    );
    for (state, value) in [
        ("accepted", accepted),
        ("active", active),
        ("handled", accepted),
    ] {
        let _ = writeln!(
            out,
            "kong_nginx_connections_total{{node_id=\"{node}\",subsystem=\"http\",state=\"{state}\"}} {value}"
        );
    }
    header(
        &mut out,
        "kong_nginx_requests_total",
        "Number of requests total",
        "gauge",
    );
    let _ = writeln!(
        out,
        "kong_nginx_requests_total{{node_id=\"{node}\",subsystem=\"http\"}} {requests}"
    );
    header(
        &mut out,
        "kong_node_info",
        "Kong Node metadata information",
        "gauge",
    );
    let _ = writeln!(
        out,
        "kong_node_info{{node_id=\"{node}\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    header(
        &mut out,
        "sluice_log_entries_dropped_total",
        "Log entries (file-log, http-log) dropped: full queue, failed write or undeliverable batch",
        "counter",
    );
    let _ = writeln!(
        out,
        "sluice_log_entries_dropped_total {}",
        shared.plugin_state.dropped_log_entries()
    );
    Reply::text(200, CONTENT_TYPE, out)
}
