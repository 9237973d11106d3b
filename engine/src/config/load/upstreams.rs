//! Upstreams and targets: wire structs to [`raw::Upstream`] / [`raw::Target`] with Kong's
//! defaults: the load-balancing algorithm, `hash_on` / `hash_fallback` with their companion
//! fields, active and passive health checks, target addresses (`host[:port]`, default port
//! 8000) and duplicate targets within one upstream.

use super::references::Owner;
use super::validate::{
    check_prefix_path, check_upstream_name, is_token, normalize_host, split_host_port,
};
use super::walk::{field_path, Item, Section};
use super::Loader;
use crate::config::raw::{self, wire, HashInput};

/// Nested lists taken out of an upstream before it is read.
const UPSTREAM_NESTED: &[&str] = &["targets"];

impl<'a> Loader<'a> {
    pub(super) fn load_upstreams(&mut self, section: Section<'a>) {
        for (path, mut item) in self.section_items(section, "upstreams", UPSTREAM_NESTED) {
            let targets = self.take_items(&mut item, "targets", &path);
            let owner = match self.deser::<wire::Upstream>(&item, &path) {
                Some(w) => {
                    let upstream = self.upstream(w, &path);
                    let idx = self.cfg.upstreams.len();
                    let (name, id) = (Some(upstream.name.as_str()), upstream.id.as_deref());
                    let name = name.filter(|n| !n.is_empty());
                    self.upstreams.register(
                        "upstream",
                        "name",
                        name,
                        id,
                        idx,
                        &path,
                        &mut self.problems,
                    );
                    self.cfg.upstreams.push(upstream);
                    Owner::Upstream(idx)
                }
                None => {
                    self.upstreams.mark_broken(&item, "name");
                    Owner::Broken("upstream")
                }
            };
            for (path, value) in targets {
                self.load_target(path, value, owner);
            }
        }
    }

    fn upstream(&mut self, mut w: wire::Upstream, path: &str) -> raw::Upstream {
        let name = self.required_string(path, "name", w.name.take());
        if !name.is_empty() {
            if let Err(msg) = check_upstream_name(&name) {
                self.problem(field_path(path, "name"), msg);
            }
        }
        let algorithm = match w.algorithm.unwrap_or(wire::Algorithm::RoundRobin) {
            wire::Algorithm::RoundRobin => raw::Algorithm::RoundRobin,
            wire::Algorithm::ConsistentHashing => raw::Algorithm::ConsistentHashing,
            wire::Algorithm::LeastConnections => raw::Algorithm::LeastConnections,
            wire::Algorithm::Latency => {
                self.problem(field_path(path, "algorithm"), "'latency' is not supported (use round-robin, consistent-hashing or least-connections)");
                raw::Algorithm::RoundRobin
            }
        };
        let cookie_path = w
            .hash_on_cookie_path
            .clone()
            .unwrap_or_else(|| "/".to_owned());
        if let Err(msg) = check_prefix_path(&cookie_path) {
            self.problem(field_path(path, "hash_on_cookie_path"), msg);
        }
        let (hash_on, hash_fallback) = self.hash_inputs(&w, path, cookie_path);
        if w.use_srv_name == Some(true) {
            self.problem(field_path(path, "use_srv_name"), "not supported by Sluice");
        }
        if let Some(h) = &w.host_header {
            if let Err(msg) = normalize_host(h) {
                self.problem(field_path(path, "host_header"), msg);
            }
        }
        raw::Upstream {
            id: self.id(path, w.id),
            name,
            algorithm,
            hash_on,
            hash_fallback,
            slots: self.int(path, "slots", w.slots, 10000u32, 10, 65536),
            host_header: w.host_header,
            healthchecks: self.healthchecks(
                &field_path(path, "healthchecks"),
                w.healthchecks.unwrap_or_default(),
            ),
            tags: self.tags(path, w.tags),
            targets: Vec::new(),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.to_owned(),
        }
    }

    /// `hash_on` / `hash_fallback` with Kong's rules (`upstreams.lua` entity checks).
    fn hash_inputs(
        &mut self,
        w: &wire::Upstream,
        path: &str,
        cookie_path: String,
    ) -> (HashInput, HashInput) {
        use wire::HashOn as H;
        let on = w.hash_on.unwrap_or(H::None);
        let fallback = w.hash_fallback.unwrap_or(H::None);
        let mut build = |kind: H,
                         header: (&Option<String>, &str),
                         query: (&Option<String>, &str),
                         capture: (&Option<String>, &str)| {
            let mut companion = |(value, field): (&Option<String>, &str)| -> String {
                match value {
                    Some(v) if !v.is_empty() => {
                        if field.ends_with("header") && !is_token(v) {
                            self.problem(
                                field_path(path, field),
                                format!("invalid header name '{v}'"),
                            );
                        }
                        v.clone()
                    }
                    _ => {
                        self.problem(
                            field_path(path, field),
                            format!("required field missing (needed by '{}')", kind.as_str()),
                        );
                        String::new()
                    }
                }
            };
            match kind {
                H::None => HashInput::None,
                H::Consumer => HashInput::Consumer,
                H::Ip => HashInput::Ip,
                H::Path => HashInput::Path,
                H::Header => HashInput::Header(companion(header)),
                H::Cookie => HashInput::Cookie {
                    name: companion((&w.hash_on_cookie, "hash_on_cookie")),
                    path: cookie_path.clone(),
                },
                H::QueryArg => HashInput::QueryArg(companion(query)),
                H::UriCapture => HashInput::UriCapture(companion(capture)),
            }
        };
        let hash_on = build(
            on,
            (&w.hash_on_header, "hash_on_header"),
            (&w.hash_on_query_arg, "hash_on_query_arg"),
            (&w.hash_on_uri_capture, "hash_on_uri_capture"),
        );
        let hash_fallback = build(
            fallback,
            (&w.hash_fallback_header, "hash_fallback_header"),
            (&w.hash_fallback_query_arg, "hash_fallback_query_arg"),
            (&w.hash_fallback_uri_capture, "hash_fallback_uri_capture"),
        );
        let fallback_path = field_path(path, "hash_fallback");
        match on {
            H::None | H::Cookie if fallback != H::None => {
                self.problem(
                    fallback_path,
                    format!("must be 'none' when 'hash_on' is '{}'", on.as_str()),
                );
            }
            H::Consumer | H::Ip | H::Path if fallback == on => {
                self.problem(
                    fallback_path,
                    format!("must differ from 'hash_on' ('{}')", on.as_str()),
                );
            }
            _ => {}
        }
        let distinct = [
            (
                &w.hash_on_header,
                &w.hash_fallback_header,
                "hash_fallback_header",
                "hash_on_header",
            ),
            (
                &w.hash_on_query_arg,
                &w.hash_fallback_query_arg,
                "hash_fallback_query_arg",
                "hash_on_query_arg",
            ),
            (
                &w.hash_on_uri_capture,
                &w.hash_fallback_uri_capture,
                "hash_fallback_uri_capture",
                "hash_on_uri_capture",
            ),
        ];
        for (a, b, field, other) in distinct {
            if let (Some(a), Some(b)) = (a, b) {
                if a.eq_ignore_ascii_case(b) {
                    self.problem(
                        field_path(path, field),
                        format!("must differ from '{other}'"),
                    );
                }
            }
        }
        (hash_on, hash_fallback)
    }

    fn healthchecks(&mut self, path: &str, w: wire::Healthchecks) -> raw::Healthchecks {
        let defaults = raw::Healthchecks::default();
        let active_path = field_path(path, "active");
        let a = w.active.unwrap_or_default();
        let ah = a.healthy.unwrap_or_default();
        let au = a.unhealthy.unwrap_or_default();
        let (ahp, aup) = (
            field_path(&active_path, "healthy"),
            field_path(&active_path, "unhealthy"),
        );
        let http_path = a.http_path.unwrap_or_else(|| "/".to_owned());
        if let Err(msg) = check_prefix_path(&http_path) {
            self.problem(field_path(&active_path, "http_path"), msg);
        }
        let active = raw::ActiveHealthcheck {
            kind: self.check_type(&active_path, a.kind),
            timeout: self.float(&active_path, "timeout", a.timeout, 1.0, 0.0, 65535.0),
            concurrency: self.int(
                &active_path,
                "concurrency",
                a.concurrency,
                10u32,
                1,
                2147483648,
            ),
            http_path,
            https_verify_certificate: a.https_verify_certificate.unwrap_or(true),
            https_sni: self.non_empty(&active_path, "https_sni", a.https_sni),
            headers: self.headers(&active_path, a.headers, false),
            healthy: raw::ActiveHealthy {
                interval: self.float(&ahp, "interval", ah.interval, 0.0, 0.0, 65535.0),
                successes: self.int(&ahp, "successes", ah.successes, 0u32, 0, 255),
                http_statuses: self.statuses(
                    &ahp,
                    ah.http_statuses,
                    defaults.active.healthy.http_statuses,
                ),
            },
            unhealthy: raw::ActiveUnhealthy {
                interval: self.float(&aup, "interval", au.interval, 0.0, 0.0, 65535.0),
                http_failures: self.int(&aup, "http_failures", au.http_failures, 0u32, 0, 255),
                tcp_failures: self.int(&aup, "tcp_failures", au.tcp_failures, 0u32, 0, 255),
                timeouts: self.int(&aup, "timeouts", au.timeouts, 0u32, 0, 255),
                http_statuses: self.statuses(
                    &aup,
                    au.http_statuses,
                    defaults.active.unhealthy.http_statuses,
                ),
            },
        };
        let passive_path = field_path(path, "passive");
        let p = w.passive.unwrap_or_default();
        let ph = p.healthy.unwrap_or_default();
        let pu = p.unhealthy.unwrap_or_default();
        let (php, pup) = (
            field_path(&passive_path, "healthy"),
            field_path(&passive_path, "unhealthy"),
        );
        let passive = raw::PassiveHealthcheck {
            kind: self.check_type(&passive_path, p.kind),
            healthy: raw::PassiveHealthy {
                successes: self.int(&php, "successes", ph.successes, 0u32, 0, 255),
                http_statuses: self.statuses(
                    &php,
                    ph.http_statuses,
                    defaults.passive.healthy.http_statuses,
                ),
            },
            unhealthy: raw::PassiveUnhealthy {
                http_failures: self.int(&pup, "http_failures", pu.http_failures, 0u32, 0, 255),
                tcp_failures: self.int(&pup, "tcp_failures", pu.tcp_failures, 0u32, 0, 255),
                timeouts: self.int(&pup, "timeouts", pu.timeouts, 0u32, 0, 255),
                http_statuses: self.statuses(
                    &pup,
                    pu.http_statuses,
                    defaults.passive.unhealthy.http_statuses,
                ),
            },
        };
        raw::Healthchecks {
            active,
            passive,
            threshold: self.float(path, "threshold", w.threshold, 0.0, 0.0, 100.0),
        }
    }

    fn check_type(
        &mut self,
        path: &str,
        kind: Option<wire::HealthcheckType>,
    ) -> raw::HealthcheckType {
        match kind.unwrap_or(wire::HealthcheckType::Http) {
            wire::HealthcheckType::Http => raw::HealthcheckType::Http,
            wire::HealthcheckType::Https => raw::HealthcheckType::Https,
            wire::HealthcheckType::Tcp => raw::HealthcheckType::Tcp,
            other => {
                let name = if other == wire::HealthcheckType::Grpc {
                    "grpc"
                } else {
                    "grpcs"
                };
                self.problem(
                    field_path(path, "type"),
                    format!("'{name}' health checks are not supported"),
                );
                raw::HealthcheckType::Http
            }
        }
    }

    pub(super) fn load_target(&mut self, path: String, value: Item<'a>, owner: Owner) {
        let Some(w) = self.deser::<wire::Target>(&value, &path) else {
            return;
        };
        let upstream = self.parent(&path, "upstream", owner, w.upstream.as_ref());
        let text = self.required_string(&path, "target", w.target);
        let (host, port) = if text.is_empty() {
            (String::new(), 8000)
        } else {
            match split_host_port(&text) {
                Ok((host, port)) => (host, port.unwrap_or(8000)),
                Err(msg) => {
                    self.problem(
                        field_path(&path, "target"),
                        format!("invalid target '{text}': {msg}"),
                    );
                    (String::new(), 8000)
                }
            }
        };
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let target = raw::Target {
            id: self.id(&path, w.id),
            target,
            host,
            port,
            weight: self.int(&path, "weight", w.weight, 100u32, 0, 65535),
            tags: self.tags(&path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        let Some(idx) = upstream else { return };
        let key = (idx, target.target.clone());
        if let Some(other) = self.targets_seen.get(&key) {
            let msg = format!(
                "duplicate target '{}' in the same upstream (already at {other})",
                target.target
            );
            self.problem(field_path(&path, "target"), msg);
        } else if let Some(u) = self.cfg.upstreams.get_mut(idx) {
            self.targets_seen.insert(key, path);
            u.targets.push(target);
        }
    }
}
