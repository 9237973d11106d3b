//! `GET /upstreams/{u}/health` and `POST /upstreams/{u}/targets/{t}/healthy|unhealthy`.
//!
//! Health lives in the balancer's `HealthRegistry` (keyed by upstream name and address, so it
//! survives reloads); these endpoints read it through the running snapshot's compiled upstream
//! and set it with `Target::set_healthy`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use serde_json::{json, Value};

use super::http::{Reply, Request};
use super::Ctx;
use crate::config::export;
use crate::config::identity::is_uuid;
use crate::config::raw::{self, Healthchecks};
use crate::snapshot::Snapshot;

/// The upstream `key` names (id or name) and its index in the snapshot.
fn find_upstream<'a>(snapshot: &'a Snapshot, key: &str) -> Option<(usize, &'a raw::Upstream)> {
    let upstreams = &snapshot.source.upstreams;
    let by_id = is_uuid(key)
        .then(|| upstreams.iter().position(|u| u.id.as_deref() == Some(key)))
        .flatten();
    let index = by_id.or_else(|| upstreams.iter().position(|u| u.name == key))?;
    Some((index, &upstreams[index]))
}

fn find_target<'a>(upstream: &'a raw::Upstream, key: &str) -> Option<&'a raw::Target> {
    let with_port = if key.contains(':') && !key.ends_with(']') {
        key.to_owned()
    } else {
        format!("{key}:8000")
    };
    upstream
        .targets
        .iter()
        .find(|t| t.id.as_deref() == Some(key) || t.target == key || t.target == with_port)
}

/// The addresses a target stands for (DNS for names, as at compile time).
pub(super) fn addresses(target: &raw::Target) -> Vec<SocketAddr> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return vec![SocketAddr::new(ip, target.port)];
    }
    (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default()
}

/// Every threshold zero and no probe interval: Kong reports `HEALTHCHECKS_OFF`.
pub(super) fn checks_off(h: &Healthchecks) -> bool {
    let p = &h.passive;
    h.active.healthy.interval <= 0.0
        && h.active.unhealthy.interval <= 0.0
        && p.healthy.successes == 0
        && p.unhealthy.http_failures == 0
        && p.unhealthy.tcp_failures == 0
        && p.unhealthy.timeouts == 0
}

pub fn upstream_health(ctx: &Ctx, req: &Request, key: &str) -> Reply {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Reply::method_not_allowed();
    }
    let snapshot = ctx.store.shared().config.load_full();
    let Some((index, upstream)) = find_upstream(&snapshot, key) else {
        return Reply::not_found();
    };
    let Some(compiled) = snapshot.upstreams.get(index) else {
        return Reply::not_found();
    };
    let off = checks_off(&upstream.healthchecks);
    let label = |healthy: bool| match (healthy, off) {
        (false, _) => "UNHEALTHY",
        (true, true) => "HEALTHCHECKS_OFF",
        (true, false) => "HEALTHY",
    };
    let mut data = Vec::with_capacity(upstream.targets.len());
    let (mut total_weight, mut healthy_weight) = (0u64, 0u64);
    for target in &upstream.targets {
        let mut addresses_json = Vec::new();
        let mut any_healthy = false;
        for addr in addresses(target) {
            let Some(state) = compiled.target(addr) else {
                continue;
            };
            let healthy = state.is_healthy();
            any_healthy |= healthy;
            total_weight += u64::from(state.weight());
            if healthy {
                healthy_weight += u64::from(state.weight());
            }
            addresses_json.push(json!({
                "ip": addr.ip().to_string(),
                "port": addr.port(),
                "weight": state.weight(),
                "health": label(healthy),
            }));
        }
        let health = if addresses_json.is_empty() {
            "DNS_ERROR"
        } else {
            label(any_healthy)
        };
        let mut entry = export::target(target, upstream);
        entry.insert("health".to_owned(), json!(health));
        entry.insert("data".to_owned(), json!({ "addresses": addresses_json }));
        data.push(Value::Object(entry));
    }
    if matches!(req.query("balancer_health").as_deref(), Some("1" | "true")) {
        let threshold = upstream.healthchecks.threshold;
        let healthy = healthy_weight > 0
            && (healthy_weight as f64) * 100.0 >= threshold * (total_weight as f64);
        let body = json!({
            "data": {
                "id": upstream.id,
                "health": label(healthy),
                "details": {
                    "weight": { "total": total_weight, "available": healthy_weight, "unavailable": total_weight - healthy_weight },
                },
            },
            "node_id": ctx.node_id,
        });
        return Reply::json(200, &body);
    }
    Reply::json(
        200,
        &json!({ "data": data, "next": null, "node_id": ctx.node_id }),
    )
}

/// Manual override: marks every address of the target healthy or unhealthy on this node.
pub fn set_health(
    ctx: &Ctx,
    req: &Request,
    upstream_key: &str,
    target_key: &str,
    healthy: bool,
) -> Reply {
    if req.method != "POST" {
        return Reply::method_not_allowed();
    }
    let snapshot = ctx.store.shared().config.load_full();
    let Some((index, upstream)) = find_upstream(&snapshot, upstream_key) else {
        return Reply::not_found();
    };
    let (Some(compiled), Some(target)) = (
        snapshot.upstreams.get(index),
        find_target(upstream, target_key),
    ) else {
        return Reply::not_found();
    };
    let mut updated = 0;
    for addr in addresses(target) {
        if let Some(state) = compiled.target(addr) {
            state.set_healthy(healthy);
            updated += 1;
        }
    }
    if updated == 0 {
        return Reply::not_found();
    }
    tracing::info!(
        upstream = %upstream.name,
        target = %target.target,
        healthy,
        "target health set through the Admin API"
    );
    Reply::no_content()
}
