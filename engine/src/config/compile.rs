//! Compile layer: the parsed declarative config becomes one immutable [`Snapshot`].
//!
//! Runs off the worker threads (start-up, SIGHUP, admin changes). Every problem is collected
//! with the path of the entity that caused it; nothing here panics on bad input. Host names
//! of services and targets are resolved here, once, so no worker ever blocks on DNS.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use sluice_balancer::{
    ActiveHealth, ActiveHealthy, ActiveUnhealthy, HashOn, HealthRegistry, PassiveHealth, ProbeKind,
    TargetSpec, Upstream as BalancedUpstream, UpstreamSpec,
};
use sluice_plugins::{
    BasicCredential, ConsumerSpec, EntityInfo, KeyCredential, PluginSpec, PluginState, Plugins,
};
use sluice_router::{RouteSpec, Router};

use super::load::ConfigProblem;
use super::raw::{self, DeclarativeConfig, HashInput, HealthcheckType};
use crate::snapshot::{Backend, RouteEntry, ServiceEntry, Snapshot};

/// Compiles a parsed config with fresh plugin state (for `sluice check`, tests and fuzzing).
pub fn compile(
    source: DeclarativeConfig,
    health: &HealthRegistry,
) -> Result<Snapshot, Vec<ConfigProblem>> {
    compile_with(source, health, &Arc::new(PluginState::default()))
}

/// Compiles a parsed config. `health` and `plugin_state` carry target health and plugin
/// counters (rate limits) across reloads.
pub fn compile_with(
    source: DeclarativeConfig,
    health: &HealthRegistry,
    plugin_state: &Arc<PluginState>,
) -> Result<Snapshot, Vec<ConfigProblem>> {
    let mut problems = Vec::new();

    let plugins = match compile_plugins(&source, plugin_state) {
        Ok(plugins) => plugins,
        Err(errors) => {
            problems.extend(
                errors
                    .into_iter()
                    .map(|e| ConfigProblem::new(e.path, e.message)),
            );
            Plugins::empty()
        }
    };

    let mut resolver = Resolver::default();
    let mut upstreams = Vec::with_capacity(source.upstreams.len());
    for upstream in &source.upstreams {
        match compile_upstream(upstream, health, &mut resolver) {
            Ok(compiled) => upstreams.push(Arc::new(compiled)),
            Err(mut errors) => problems.append(&mut errors),
        }
    }

    // Upstream names are matched case-insensitively; the first of equal names wins, as with a
    // scan per service (which was quadratic with many services and upstreams).
    let mut upstream_names = HashMap::with_capacity(source.upstreams.len());
    for (index, upstream) in source.upstreams.iter().enumerate() {
        upstream_names
            .entry(upstream.name.to_ascii_lowercase())
            .or_insert(index);
    }
    let services: Vec<ServiceEntry> = source
        .services
        .iter()
        .map(|service| {
            let upstream = upstream_names
                .get(&service.host.to_ascii_lowercase())
                .copied();
            compile_service(service, upstream, &source.upstreams, &mut resolver)
        })
        .collect();

    let mut specs = Vec::with_capacity(source.routes.len());
    let mut routes = Vec::with_capacity(source.routes.len());
    for (index, route) in source.routes.iter().enumerate() {
        let service_enabled = route
            .service
            .is_none_or(|s| source.services.get(s).is_some_and(|s| s.enabled));
        routes.push(RouteEntry {
            name: route
                .name
                .clone()
                .unwrap_or_else(|| route.source_path.clone()),
            service: route.service,
            preserve_host: route.preserve_host,
        });
        if !service_enabled {
            // Kong leaves routes of disabled services out of the router.
            continue;
        }
        let Ok(regex_priority) = i32::try_from(route.regex_priority) else {
            problems.push(ConfigProblem::new(
                format!("{}.regex_priority", route.source_path),
                "out of range",
            ));
            continue;
        };
        specs.push(RouteSpec {
            id: index as u32,
            name: route.source_path.clone(),
            hosts: route.hosts.clone(),
            methods: route
                .methods
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
            paths: route.paths.clone(),
            headers: route
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            regex_priority,
            strip_path: route.strip_path,
            created_order: index as u32,
        });
    }
    let router = match Router::compile(specs) {
        Ok(router) => Some(router),
        Err(errors) => {
            problems.extend(
                errors
                    .into_iter()
                    .map(|e| ConfigProblem::new(format!("{}.{}", e.route, e.field), e.reason)),
            );
            None
        }
    };

    match router {
        Some(router) if problems.is_empty() => Ok(Snapshot {
            generation: 0,
            router,
            routes,
            services,
            upstreams,
            plugins,
            source,
        }),
        _ => Err(problems),
    }
}

/// Plugin instances and consumers become the plugin runtime; scope indices are already resolved
/// by the loader. Consumers are identified by id (the loader/identity layer gives every entity
/// one), falling back to the username for configs compiled before ids are filled.
fn compile_plugins(
    source: &DeclarativeConfig,
    state: &Arc<PluginState>,
) -> Result<Plugins, Vec<sluice_plugins::PluginError>> {
    let specs: Vec<PluginSpec> = source
        .plugins
        .iter()
        .map(|p| PluginSpec {
            id: p.id.clone(),
            name: p.name.clone(),
            config: p.config.clone(),
            enabled: p.enabled,
            service: p.service,
            route: p.route,
            consumer: p.consumer,
            service_id: p
                .service
                .and_then(|i| source.services.get(i))
                .and_then(|s| s.id.clone().or_else(|| s.name.clone())),
            route_id: p
                .route
                .and_then(|i| source.routes.get(i))
                .and_then(|r| r.id.clone().or_else(|| r.name.clone())),
            source_path: p.source_path.clone(),
        })
        .collect();
    let consumers: Vec<ConsumerSpec> = source
        .consumers
        .iter()
        .map(|c| {
            let id =
                c.id.clone()
                    .or_else(|| c.username.clone())
                    .or_else(|| c.custom_id.clone())
                    .unwrap_or_else(|| c.source_path.clone());
            ConsumerSpec {
                id: id.clone(),
                username: c.username.clone(),
                custom_id: c.custom_id.clone(),
                keyauth: c
                    .keyauth_credentials
                    .iter()
                    .map(|k| KeyCredential {
                        id: k.id.clone().unwrap_or_else(|| k.source_path.clone()),
                        key: k.key.clone(),
                    })
                    .collect(),
                basicauth: c
                    .basicauth_credentials
                    .iter()
                    .map(|b| BasicCredential {
                        id: b.id.clone().unwrap_or_else(|| b.source_path.clone()),
                        username: b.username.clone(),
                        password: b.password.clone(),
                    })
                    .collect(),
                acl_groups: c.acls.iter().map(|a| a.group.clone()).collect(),
            }
        })
        .collect();
    let route_services: Vec<Option<usize>> = source.routes.iter().map(|r| r.service).collect();
    let mut plugins = Plugins::compile(&specs, &consumers, &route_services, Arc::clone(state))?;
    if !plugins.is_empty() {
        plugins.describe_entities(route_entities(source), service_entities(source));
    }
    Ok(plugins)
}

/// Whether log entries embed the route and service entities (only file-log and http-log
/// serialize them; exporting 10k routes on every reload is not free).
fn serializes_entities(source: &DeclarativeConfig) -> bool {
    source
        .plugins
        .iter()
        .any(|p| p.enabled && (p.name == "file-log" || p.name == "http-log"))
}

/// Routes as the log phase names them: Kong's prometheus labels a route by name, else id.
fn route_entities(source: &DeclarativeConfig) -> Vec<EntityInfo> {
    let with_json = serializes_entities(source);
    source
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| EntityInfo {
            id: r
                .id
                .clone()
                .or_else(|| r.name.clone())
                .unwrap_or_else(|| i.to_string()),
            label: r
                .name
                .clone()
                .or_else(|| r.id.clone())
                .unwrap_or_else(|| i.to_string()),
            json: if with_json {
                serde_json::Value::Object(super::export::route(r, source))
            } else {
                serde_json::Value::Null
            },
        })
        .collect()
}

/// Services as the log phase names them: by name, else host (Kong's prometheus).
fn service_entities(source: &DeclarativeConfig) -> Vec<EntityInfo> {
    let with_json = serializes_entities(source);
    source
        .services
        .iter()
        .map(|s| EntityInfo {
            id: s.id.clone().or_else(|| s.name.clone()).unwrap_or_default(),
            label: s.name.clone().unwrap_or_else(|| s.host.clone()),
            json: if with_json {
                serde_json::Value::Object(super::export::service(s))
            } else {
                serde_json::Value::Null
            },
        })
        .collect()
}

fn compile_service(
    service: &raw::Service,
    upstream: Option<usize>,
    upstreams: &[raw::Upstream],
    resolver: &mut Resolver,
) -> ServiceEntry {
    let default_port = match service.protocol {
        raw::Scheme::Https => 443,
        raw::Scheme::Http => 80,
    };
    let host_with_port = if service.port == default_port {
        service.host.clone()
    } else {
        format!("{}:{}", service.host, service.port)
    };
    let (backend, host_header) = match upstream.and_then(|i| upstreams.get(i).map(|u| (i, u))) {
        Some((index, upstream)) => {
            let host_header = upstream
                .host_header
                .clone()
                .unwrap_or_else(|| host_with_port.clone());
            (Backend::Upstream(index), host_header)
        }
        None => match resolver.resolve(&service.host, service.port) {
            Ok(addrs) => (Backend::Direct(addrs), host_with_port),
            Err(e) => {
                tracing::warn!(service = %service.source_path, host = %service.host, error = %e, "service host did not resolve");
                (Backend::Unresolved, host_with_port)
            }
        },
    };
    ServiceEntry {
        name: service
            .name
            .clone()
            .unwrap_or_else(|| service.source_path.clone()),
        path: service.path.clone(),
        backend,
        host_header,
        retries: u32::from(service.retries),
        connect_timeout: Duration::from_millis(u64::from(service.connect_timeout)),
        write_timeout: Duration::from_millis(u64::from(service.write_timeout)),
        read_timeout: Duration::from_millis(u64::from(service.read_timeout)),
    }
}

/// Host name resolution for one compile. An IP literal is its own address and never reaches the
/// resolver (std's `to_socket_addrs` parses literals first too; checked with strace: no
/// resolver traffic, ~30 ns each). A name used by several services or targets with the same port
/// is resolved once per compile: with many services on one host name, a change no longer waits
/// for one system-resolver lookup per service. Nothing is kept across compiles: a reload (or
/// admin change) is when names are resolved again (see ARCHITECTURE.md, "Config and reload").
#[derive(Default)]
struct Resolver {
    names: HashMap<(String, u16), Result<Vec<SocketAddr>, String>>,
}

impl Resolver {
    fn resolve(&mut self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        self.names
            .entry((host.to_owned(), port))
            .or_insert_with(|| lookup(host, port))
            .clone()
    }
}

fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    if addrs.is_empty() {
        return Err("no addresses".to_owned());
    }
    Ok(addrs)
}

fn hash_on(input: &HashInput) -> HashOn {
    match input {
        HashInput::None => HashOn::None,
        HashInput::Consumer => HashOn::Consumer,
        HashInput::Ip => HashOn::Ip,
        HashInput::Header(name) => HashOn::Header(name.clone()),
        HashInput::Cookie { name, .. } => HashOn::Cookie(name.clone()),
        HashInput::Path => HashOn::Path,
        HashInput::QueryArg(name) => HashOn::QueryArg(name.clone()),
        HashInput::UriCapture(name) => HashOn::UriCapture(name.clone()),
    }
}

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

fn compile_upstream(
    upstream: &raw::Upstream,
    health: &HealthRegistry,
    resolver: &mut Resolver,
) -> Result<BalancedUpstream, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let mut targets = Vec::with_capacity(upstream.targets.len());
    for target in &upstream.targets {
        match resolver.resolve(&target.host, target.port) {
            // A name with several addresses contributes each of them, with the target's weight.
            Ok(addrs) => targets.extend(addrs.into_iter().map(|addr| TargetSpec {
                addr,
                weight: target.weight,
            })),
            Err(e) => problems.push(ConfigProblem::new(
                format!("{}.target", target.source_path),
                format!("cannot resolve '{}': {e}", target.host),
            )),
        }
    }
    let checks = &upstream.healthchecks;
    let active = &checks.active;
    let passive = &checks.passive;
    let spec = UpstreamSpec {
        name: upstream.name.clone(),
        algorithm: match upstream.algorithm {
            raw::Algorithm::RoundRobin => sluice_balancer::Algorithm::RoundRobin,
            raw::Algorithm::ConsistentHashing => sluice_balancer::Algorithm::ConsistentHashing,
            raw::Algorithm::LeastConnections => sluice_balancer::Algorithm::LeastConnections,
        },
        hash_on: hash_on(&upstream.hash_on),
        hash_fallback: hash_on(&upstream.hash_fallback),
        slots: upstream.slots,
        targets,
        passive: PassiveHealth {
            healthy_http_statuses: passive.healthy.http_statuses.clone(),
            healthy_successes: passive.healthy.successes,
            unhealthy_http_statuses: passive.unhealthy.http_statuses.clone(),
            unhealthy_tcp_failures: passive.unhealthy.tcp_failures,
            unhealthy_timeouts: passive.unhealthy.timeouts,
            unhealthy_http_failures: passive.unhealthy.http_failures,
        },
        active: ActiveHealth {
            kind: match active.kind {
                HealthcheckType::Http => ProbeKind::Http,
                HealthcheckType::Https => ProbeKind::Https,
                HealthcheckType::Tcp => ProbeKind::Tcp,
            },
            http_path: active.http_path.clone(),
            timeout: seconds(active.timeout),
            concurrency: active.concurrency,
            https_verify_certificate: active.https_verify_certificate,
            https_sni: active.https_sni.clone(),
            headers: active
                .headers
                .iter()
                .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
                .collect(),
            healthy: ActiveHealthy {
                interval: seconds(active.healthy.interval),
                successes: active.healthy.successes,
                http_statuses: active.healthy.http_statuses.clone(),
            },
            unhealthy: ActiveUnhealthy {
                interval: seconds(active.unhealthy.interval),
                http_failures: active.unhealthy.http_failures,
                tcp_failures: active.unhealthy.tcp_failures,
                timeouts: active.unhealthy.timeouts,
                http_statuses: active.unhealthy.http_statuses.clone(),
            },
        },
    };
    if spec.active.enabled() && !matches!(spec.active.kind, ProbeKind::Http | ProbeKind::Tcp) {
        // Sluice has no TLS client yet: accepting an https probe would report every target as
        // failing (or, worse, as passing) for reasons unrelated to its health.
        problems.push(ConfigProblem::new(
            format!("{}.healthchecks.active.type", upstream.source_path),
            "only 'http' and 'tcp' active health checks are supported",
        ));
    }
    match BalancedUpstream::build(&spec, health) {
        Ok(built) if problems.is_empty() => Ok(built),
        Ok(_) => Err(problems),
        Err(errors) => {
            problems.extend(errors.into_iter().map(|e| {
                ConfigProblem::new(format!("{}.{}", upstream.source_path, e.field), e.reason)
            }));
            Err(problems)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::load::parse_config;

    fn compile_text(text: &str) -> Result<Snapshot, Vec<ConfigProblem>> {
        compile(parse_config(text).unwrap(), &HealthRegistry::new())
    }

    #[test]
    fn compiles_services_routes_and_upstreams() {
        let snapshot = compile_text(
            r#"
_format_version: "3.0"
upstreams:
  - name: backend.internal
    targets:
      - target: 127.0.0.1:9001
      - target: 127.0.0.1:9002
        weight: 50
services:
  - name: balanced
    host: backend.internal
    routes:
      - name: r1
        paths: ["/api"]
  - name: direct
    url: http://127.0.0.1:9003/base
    routes:
      - name: r2
        hosts: ["example.com"]
"#,
        )
        .unwrap();
        assert_eq!(snapshot.routes.len(), 2);
        assert!(matches!(snapshot.services[0].backend, Backend::Upstream(0)));
        assert_eq!(snapshot.services[0].host_header, "backend.internal");
        match &snapshot.services[1].backend {
            Backend::Direct(addrs) => assert_eq!(addrs[0], "127.0.0.1:9003".parse().unwrap()),
            other => panic!("{other:?}"),
        }
        assert_eq!(snapshot.services[1].host_header, "127.0.0.1:9003");
        assert_eq!(snapshot.services[1].path.as_deref(), Some("/base"));
        assert_eq!(snapshot.upstreams[0].targets().len(), 2);
    }

    #[test]
    fn every_compile_problem_is_reported_with_its_path() {
        let problems = compile_text(
            r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9000
    routes:
      - name: bad-regex
        paths: ["~/(unclosed"]
    plugins:
      - name: prometheus
        config:
          ai_metrics: true
upstreams:
  - name: u
    healthchecks:
      active:
        type: https
        healthy:
          interval: 5
"#,
        )
        .err()
        .unwrap();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("services[0].plugins[0]")),
            "{paths:?}"
        );
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("services[0].routes[0].paths")),
            "{paths:?}"
        );
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("upstreams[0].healthchecks.active")),
            "{paths:?}"
        );
    }

    #[test]
    fn ip_literals_skip_the_resolver_and_names_resolve_once_per_compile() {
        let mut resolver = Resolver::default();
        for (host, expected) in [
            ("10.1.2.3", "10.1.2.3:81"),
            ("::1", "[::1]:81"),
            ("[::1]", "[::1]:81"),
            ("fe80::1", "[fe80::1]:81"),
        ] {
            let std_answer: Vec<SocketAddr> = (host.trim_matches(['[', ']']), 81)
                .to_socket_addrs()
                .unwrap()
                .collect();
            let ours = resolver.resolve(host, 81).unwrap();
            assert_eq!(ours, std_answer, "{host}");
            assert_eq!(
                ours,
                vec![expected.parse::<SocketAddr>().unwrap()],
                "{host}"
            );
        }
        assert!(resolver.names.is_empty(), "literals are not looked up");
        let first = resolver.resolve("localhost", 81);
        assert_eq!(resolver.resolve("localhost", 81), first);
        assert!(resolver.resolve("does-not-exist.invalid", 81).is_err());
        assert_eq!(resolver.names.len(), 2);
    }

    #[test]
    fn services_find_their_upstream_case_insensitively_first_one_wins() {
        let snapshot = compile_text(
            "_format_version: '3.0'\nupstreams:\n  - name: Backend\n  - name: backend\n    host_header: second\nservices:\n  - {name: a, host: BACKEND}\n  - {name: b, host: backend}\n  - {name: c, host: 127.0.0.1}\n",
        )
        .unwrap();
        assert!(matches!(snapshot.services[0].backend, Backend::Upstream(0)));
        assert!(matches!(snapshot.services[1].backend, Backend::Upstream(0)));
        assert!(matches!(snapshot.services[2].backend, Backend::Direct(_)));
    }

    #[test]
    fn unresolvable_service_host_compiles_to_unresolved() {
        let snapshot = compile_text(
            "_format_version: \"3.0\"\nservices:\n  - name: s\n    host: does-not-exist.invalid\n    routes:\n      - paths: [\"/\"]\n",
        )
        .unwrap();
        assert!(matches!(snapshot.services[0].backend, Backend::Unresolved));
    }
}
