//! `/config` (the whole declarative config), `/` (node information) and `/status`.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::errors::{apply_error, declarative_error};
use super::http::{Reply, Request, JSON};
use super::Ctx;
use crate::config::export::{self, TextFormat};
use crate::config::parse_config;
use crate::config::store::{ApplyError, Replaced};
use crate::worker::Shared;

const YAML: &str = "application/yaml; charset=utf-8";

/// `GET /config` (YAML or JSON per `?format=` or `Accept`), `POST /config` (replace it whole).
pub fn config(ctx: &Ctx, req: &Request) -> Reply {
    match req.method.as_str() {
        "GET" | "HEAD" => get_config(ctx, req),
        "POST" => post_config(ctx, req),
        _ => Reply::method_not_allowed(),
    }
}

fn wanted_format(req: &Request) -> Result<TextFormat, Reply> {
    match req.query("format").as_deref() {
        Some("yaml" | "yml") => return Ok(TextFormat::Yaml),
        Some("json") => return Ok(TextFormat::Json),
        Some(other) => {
            return Err(Reply::message(
                400,
                &format!("unknown format '{other}' (expected yaml or json)"),
            ))
        }
        None => {}
    }
    let accept = req.header("accept").unwrap_or("").to_ascii_lowercase();
    if accept.contains("application/json") && !accept.contains("yaml") {
        Ok(TextFormat::Json)
    } else {
        Ok(TextFormat::Yaml)
    }
}

fn get_config(ctx: &Ctx, req: &Request) -> Reply {
    let format = match wanted_format(req) {
        Ok(format) => format,
        Err(reply) => return reply,
    };
    let text = export::to_text(&ctx.store.document(), format);
    match format {
        TextFormat::Yaml => Reply::text(200, YAML, text),
        TextFormat::Json => Reply::text(200, JSON, text),
    }
}

fn post_config(ctx: &Ctx, req: &Request) -> Reply {
    let text = match req.config_text() {
        Ok(text) => text,
        Err(reply) => return reply,
    };
    let cfg = match parse_config(&text) {
        Ok(cfg) => cfg,
        Err(problems) => return declarative_error(&problems),
    };
    let check_hash = matches!(req.query("check_hash").as_deref(), Some("1" | "true"));
    match ctx.store.replace(cfg, check_hash) {
        Ok(Replaced::Unchanged) => Reply {
            status: 304,
            ..Reply::no_content()
        },
        Ok(Replaced::Installed(applied)) => {
            let body = serde_json::to_vec(&export::Flat(&applied.doc)).unwrap_or_default();
            Reply {
                status: 201,
                content_type: JSON,
                body,
                headers: Vec::new(),
            }
        }
        Err(ApplyError::Invalid { problems, .. }) => declarative_error(&problems),
        Err(other) => apply_error(&other),
    }
}

/// `GET /`: what Kong's root endpoint says about the node, the parts that apply.
pub fn root(ctx: &Ctx, req: &Request) -> Reply {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Reply::method_not_allowed();
    }
    let body = json!({
        "tagline": "Welcome to sluice",
        "version": env!("CARGO_PKG_VERSION"),
        "node_id": ctx.node_id,
        "configuration": {
            "database": "off",
            "declarative_config": ctx.store.path().map(|p| p.display().to_string()),
            "admin_listen": [ctx.admin_addr.to_string()],
        },
        "plugins": {
            "available_on_server": {},
            "enabled_in_cluster": [],
        },
    });
    Reply::json(200, &body)
}

/// `GET /status`.
pub fn status(ctx: &Ctx, req: &Request) -> Reply {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Reply::method_not_allowed();
    }
    Reply::json(200, &status_json(ctx.store.shared()))
}

/// Kong's `/status` server block, plus what Sluice adds: workers and config generation.
pub fn status_json(shared: &Shared) -> serde_json::Value {
    let sum = |f: fn(&crate::worker::WorkerStats) -> u64| shared.stats.iter().map(f).sum::<u64>();
    let accepted = sum(|s| s.connections_accepted.load(Ordering::Relaxed));
    let active = sum(|s| s.connections_active.load(Ordering::Relaxed));
    let requests = sum(|s| s.requests.load(Ordering::Relaxed));
    json!({
        "server": {
            "connections_accepted": accepted,
            "connections_handled": accepted,
            "connections_active": active,
            "total_requests": requests,
        },
        "database": { "reachable": true },
        "workers": shared.stats.len(),
        "configuration_generation": shared.generation.load(Ordering::Acquire),
    })
}
