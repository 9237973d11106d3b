//! Configs that load: every field's default, the `url` shorthand, references by name and id,
//! JSON input, legacy formats, YAML anchors, reading a file.

use super::super::{load_config_file, parse_config_as, ConfigFormat, DEFAULT_CONFIG};
use super::{assert_problems, ok, problems, v3};
use crate::config::raw::{
    self, Algorithm, DeclarativeConfig, FormatVersion, HashInput, HealthcheckType, Protocol, Scheme,
};
use std::path::Path;

pub(super) const FULL: &str = r#"
_format_version: "3.0"
_transform: true
_comment: a realistic kong.yml
services:
- name: users
  id: 0a5b6a5e-7c8d-4f2a-9b1c-1d2e3f4a5b6c
  url: https://users.internal/api/v1
  tags: [team-a]
  routes:
  - name: users-route
    paths: [/users, "~/users/(?<id>\\d+)$"]
    methods: [GET, POST]
  - name: users-admin
    hosts: [admin.example.com, "*.example.org:8443"]
    headers:
      X-Version: ["2", "~*^v3"]
    protocols: [https]
    strip_path: false
    preserve_host: true
    regex_priority: 10
    https_redirect_status_code: 301
    plugins:
    - name: acl
      config: {allow: [admins]}
  plugins:
  - name: rate-limiting
    config: {minute: 100, policy: local}
- name: orders
  host: orders-upstream
  port: 8080
  path: /orders
  retries: 2
  connect_timeout: 1000
  enabled: false
upstreams:
- name: orders-upstream
  algorithm: consistent-hashing
  hash_on: header
  hash_on_header: X-User
  hash_fallback: ip
  healthchecks:
    active:
      http_path: /health
      healthy: {interval: 5, successes: 2}
    passive:
      unhealthy: {http_failures: 3}
    threshold: 25
  targets:
  - target: 10.0.0.1:9000
    weight: 50
  - target: orders-b.internal
  - target: "[::1]:9001"
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-secret
  basicauth_credentials:
  - username: alice
    password: wonderland
  acls:
  - group: admins
  plugins:
  - name: rate-limiting
    config: {minute: 5}
- custom_id: bob-42
routes:
- name: orders-route
  service: orders
  paths: [/orders]
- name: health
  paths: [/health]
plugins:
- name: correlation-id
- name: key-auth
  service: {name: users}
  enabled: false
  protocols: [http, https]
- name: key-auth
  route: orders-route
  config:
    key_names: [apikey, x-api-key]
"#;

#[test]
fn full_config_parses_with_defaults() {
    let cfg = ok(FULL);
    assert_eq!(cfg.format_version, FormatVersion::V3_0);
    assert!(cfg.transform);
    assert_eq!(cfg.comment.as_deref(), Some("a realistic kong.yml"));

    assert_eq!(cfg.services.len(), 2);
    let users = &cfg.services[0];
    assert_eq!(
        (users.protocol, users.host.as_str(), users.port),
        (Scheme::Https, "users.internal", 443)
    );
    assert_eq!(users.path.as_deref(), Some("/api/v1"));
    assert_eq!(
        (
            users.retries,
            users.connect_timeout,
            users.read_timeout,
            users.write_timeout
        ),
        (5, 60000, 60000, 60000)
    );
    assert!(users.enabled);
    assert_eq!(users.tags, vec!["team-a"]);
    assert_eq!(users.source_path, "services[0]");
    let orders = &cfg.services[1];
    assert_eq!(
        (orders.protocol, orders.host.as_str(), orders.port),
        (Scheme::Http, "orders-upstream", 8080)
    );
    assert_eq!(
        (
            orders.retries,
            orders.connect_timeout,
            orders.read_timeout,
            orders.enabled
        ),
        (2, 1000, 60000, false)
    );

    // Nested routes first (service order), then top-level routes.
    let names: Vec<_> = cfg
        .routes
        .iter()
        .map(|r| r.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        ["users-route", "users-admin", "orders-route", "health"]
    );
    let r0 = &cfg.routes[0];
    assert_eq!(r0.service, Some(0));
    assert_eq!(r0.source_path, "services[0].routes[0]");
    assert_eq!(r0.protocols, vec![Scheme::Http, Scheme::Https]);
    assert!(r0.strip_path && !r0.preserve_host && r0.request_buffering && r0.response_buffering);
    assert_eq!((r0.regex_priority, r0.https_redirect_status_code), (0, 426));
    assert_eq!(r0.paths[1], "~/users/(?<id>\\d+)$");
    let r1 = &cfg.routes[1];
    assert_eq!(r1.protocols, vec![Scheme::Https]);
    assert!(!r1.strip_path && r1.preserve_host);
    assert_eq!(
        (r1.regex_priority, r1.https_redirect_status_code),
        (10, 301)
    );
    assert_eq!(
        r1.headers.get("x-version"),
        Some(&vec!["2".to_owned(), "~*^v3".to_owned()])
    );
    assert_eq!(
        (cfg.routes[2].service, cfg.routes[3].service),
        (Some(1), None)
    );
    assert_eq!(cfg.routes[2].source_path, "routes[0]");

    let up = &cfg.upstreams[0];
    assert_eq!(up.algorithm, Algorithm::ConsistentHashing);
    assert_eq!(up.hash_on, HashInput::Header("X-User".into()));
    assert_eq!(up.hash_fallback, HashInput::Ip);
    assert_eq!(up.slots, 10000);
    let hc = &up.healthchecks;
    assert_eq!(hc.active.kind, HealthcheckType::Http);
    assert_eq!(
        (
            hc.active.timeout,
            hc.active.concurrency,
            hc.active.http_path.as_str()
        ),
        (1.0, 10, "/health")
    );
    assert_eq!(
        (hc.active.healthy.interval, hc.active.healthy.successes),
        (5.0, 2)
    );
    assert_eq!(hc.active.healthy.http_statuses, vec![200, 302]);
    assert_eq!(
        hc.active.unhealthy.http_statuses,
        vec![429, 404, 500, 501, 502, 503, 504, 505]
    );
    assert_eq!(hc.passive.unhealthy.http_failures, 3);
    assert_eq!(hc.passive.unhealthy.http_statuses, vec![429, 500, 503]);
    assert_eq!(hc.passive.healthy.http_statuses.len(), 19);
    assert_eq!(hc.threshold, 25.0);
    let targets: Vec<_> = up
        .targets
        .iter()
        .map(|t| (t.target.as_str(), t.host.as_str(), t.port, t.weight))
        .collect();
    assert_eq!(
        targets,
        [
            ("10.0.0.1:9000", "10.0.0.1", 9000, 50),
            ("orders-b.internal:8000", "orders-b.internal", 8000, 100),
            ("[::1]:9001", "::1", 9001, 100),
        ]
    );

    let alice = &cfg.consumers[0];
    assert_eq!(alice.username.as_deref(), Some("alice"));
    assert_eq!(alice.keyauth_credentials[0].key, "alice-secret");
    assert_eq!(alice.basicauth_credentials[0].password, "wonderland");
    assert_eq!(alice.acls[0].group, "admins");
    assert_eq!(cfg.consumers[1].custom_id.as_deref(), Some("bob-42"));

    // Plugins: service-nested, route-nested, consumer-nested, then top-level.
    let scopes: Vec<_> = cfg
        .plugins
        .iter()
        .map(|p| (p.name.as_str(), p.service, p.route, p.consumer))
        .collect();
    assert_eq!(
        scopes,
        [
            ("rate-limiting", Some(0), None, None),
            ("acl", None, Some(1), None),
            ("rate-limiting", None, None, Some(0)),
            ("correlation-id", None, None, None),
            ("key-auth", Some(0), None, None),
            ("key-auth", None, Some(2), None),
        ]
    );
    let global = &cfg.plugins[3];
    assert!(global.enabled);
    assert_eq!(global.config, serde_json::json!({}));
    assert_eq!(
        global.protocols,
        vec![
            Protocol::Grpc,
            Protocol::Grpcs,
            Protocol::Http,
            Protocol::Https
        ]
    );
    assert_eq!(global.source_path, "plugins[0]");
    assert!(!cfg.plugins[4].enabled);
    assert_eq!(
        cfg.plugins[5].config,
        serde_json::json!({"key_names": ["apikey", "x-api-key"]})
    );
    assert_eq!(
        cfg.plugins[1].source_path,
        "services[0].routes[1].plugins[0]"
    );
}

/// A `deck dump` / `kong config db_export` style file spells out every default.
pub(super) const DECK_DUMP: &str = r#"
_format_version: "3.0"
_transform: true
services:
- connect_timeout: 60000
  enabled: true
  host: httpbin.upstream
  name: httpbin
  port: 80
  protocol: http
  read_timeout: 60000
  retries: 5
  write_timeout: 60000
  routes:
  - https_redirect_status_code: 426
    name: httpbin-route
    path_handling: v0
    paths:
    - /anything
    preserve_host: false
    protocols:
    - http
    - https
    regex_priority: 0
    request_buffering: true
    response_buffering: true
    strip_path: true
  plugins:
  - name: rate-limiting
    enabled: true
    protocols: [grpc, grpcs, http, https]
    config:
      minute: 10
      policy: local
      fault_tolerant: true
      redis_host: null
upstreams:
- algorithm: round-robin
  hash_fallback: none
  hash_on: none
  hash_on_cookie_path: /
  healthchecks:
    active:
      concurrency: 10
      healthy:
        http_statuses: [200, 302]
        interval: 0
        successes: 0
      http_path: /
      https_verify_certificate: true
      timeout: 1
      type: http
      unhealthy:
        http_failures: 0
        http_statuses: [429, 404, 500, 501, 502, 503, 504, 505]
        interval: 0
        tcp_failures: 0
        timeouts: 0
    passive:
      healthy:
        http_statuses: [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]
        successes: 0
      type: http
      unhealthy:
        http_failures: 0
        http_statuses: [429, 500, 503]
        tcp_failures: 0
        timeouts: 0
    threshold: 0
  name: httpbin.upstream
  slots: 10000
  use_srv_name: false
  targets:
  - target: httpbin.org:80
    weight: 100
"#;

#[test]
fn exported_config_with_explicit_defaults_parses() {
    let cfg = ok(DECK_DUMP);
    let up = &cfg.upstreams[0];
    assert_eq!(up.healthchecks, raw::Healthchecks::default());
    assert_eq!(up.targets[0].target, "httpbin.org:80");
    assert_eq!(cfg.routes[0].service, Some(0));
    assert_eq!(cfg.plugins[0].config["redis_host"], serde_json::Value::Null);
}

#[test]
fn default_config_is_empty() {
    assert_eq!(ok(DEFAULT_CONFIG), DeclarativeConfig::default());
}

#[test]
fn url_shorthand() {
    let cases: &[(&str, Scheme, &str, u16, Option<&str>)] = &[
        ("http://example.com", Scheme::Http, "example.com", 80, None),
        (
            "https://example.com",
            Scheme::Https,
            "example.com",
            443,
            None,
        ),
        (
            "HTTP://example.com:8080/",
            Scheme::Http,
            "example.com",
            8080,
            Some("/"),
        ),
        (
            "https://10.1.2.3:8443/a/b",
            Scheme::Https,
            "10.1.2.3",
            8443,
            Some("/a/b"),
        ),
        ("http://[::1]:81/x", Scheme::Http, "::1", 81, Some("/x")),
        (
            "http://[2001:db8::1]",
            Scheme::Http,
            "2001:db8::1",
            80,
            None,
        ),
    ];
    for (url, scheme, host, port, path) in cases {
        let cfg = ok(&v3(&format!("services:\n- url: \"{url}\"\n")));
        let s = &cfg.services[0];
        assert_eq!(
            (s.protocol, s.host.as_str(), s.port, s.path.as_deref()),
            (*scheme, *host, *port, *path),
            "{url}"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("grpc://example.com", "unsupported protocol 'grpc'"),
        ("ftp://example.com", "unsupported protocol 'ftp'"),
        ("example.com", "expected http://"),
        ("http://", "missing host"),
        ("http://h:0", "invalid port '0'"),
        ("http://h:99999", "invalid port '99999'"),
        ("http://h:8x", "invalid port '8x'"),
        ("http://h/a?b=1", "query strings"),
        ("http://u:p@h", "credentials"),
        ("http://h/a//b", "non-normalized path"),
        ("http://bad host", "invalid hostname"),
    ];
    for (url, needle) in bad {
        assert_problems(
            &v3(&format!("services:\n- url: \"{url}\"\n")),
            &[("services[0].url", needle)],
        );
    }
    assert_problems(
        &v3("services:\n- url: http://a\n  host: b\n  port: 81\n  path: /p\n  protocol: https\n"),
        &[
            ("services[0].host", "together with 'url'"),
            ("services[0].port", "together with 'url'"),
            ("services[0].path", "together with 'url'"),
            ("services[0].protocol", "together with 'url'"),
        ],
    );
}

#[test]
fn top_level_routes_reference_services() {
    let cfg = ok(&v3(r#"
services:
- name: a
  host: a.internal
- name: b
  id: 9f0e8d7c-6b5a-4321-8fed-cba987654321
  host: b.internal
routes:
- {name: by-name, service: b, paths: [/1]}
- {name: by-id, service: 9f0e8d7c-6b5a-4321-8fed-cba987654321, paths: [/2]}
- {name: by-name-map, service: {name: a}, paths: [/3]}
- {name: by-id-map, service: {id: 9f0e8d7c-6b5a-4321-8fed-cba987654321}, paths: [/4]}
- {name: none, paths: [/5]}
"#));
    let services: Vec<_> = cfg.routes.iter().map(|r| r.service).collect();
    assert_eq!(services, [Some(1), Some(1), Some(0), Some(1), None]);
    assert_problems(
        &v3("services:\n- {name: a, host: a}\nroutes:\n- {service: b, paths: [/]}\n- {service: {id: a}, paths: [/]}\n- {service: {name: a, id: x}, paths: [/]}\n"),
        &[
            ("routes[0].service", "references unknown service 'b'"),
            ("routes[1].service", "references unknown service 'a'"),
            ("routes[2].service", "exactly one of"),
        ],
    );
}

#[test]
fn json_input() {
    let json = "{\n\t\"_format_version\": \"3.0\",\n\t\"services\": [{\"name\": \"s\", \"url\": \"http://s:81\",\n\t\t\"routes\": [{\"paths\": [\"/\"], \"strip_path\": false}]}],\n\t\"plugins\": [{\"name\": \"cors\", \"config\": {\"origins\": [\"*\"]}}]\n}";
    let cfg = ok(json);
    assert_eq!(cfg.services[0].port, 81);
    assert!(!cfg.routes[0].strip_path);
    assert_eq!(cfg.plugins[0].config, serde_json::json!({"origins": ["*"]}));
    // JSON goes through the YAML parser too when asked to.
    assert_eq!(
        parse_config_as(json, ConfigFormat::Yaml).map(|c| c.services.len()),
        Ok(1)
    );
    assert_problems(
        r#"{"_format_version": "3.0", "services": [{"host": "a", "prot": "http"}]}"#,
        &[("services[0].prot", "unknown field `prot`")],
    );
    let syntax = problems("{\"_format_version\": \"3.0\",}");
    assert_eq!(syntax.len(), 1);
    assert_eq!(syntax[0].path, "");
    assert!(
        syntax[0].message.starts_with("invalid JSON"),
        "{}",
        syntax[0]
    );
}

#[test]
fn legacy_format_migrates_regex_paths() {
    let text =
        "_format_version: \"2.1\"\nroutes:\n- paths: [/plain, /users/\\d+, '/a/./b', ~/already]\n";
    let cfg = ok(text);
    assert_eq!(cfg.format_version, FormatVersion::V2_1);
    assert_eq!(
        cfg.routes[0].paths,
        ["/plain", "~/users/\\d+", "/a/b", "~/already"]
    );
    // In 3.0 the same regex-looking path is a (valid) prefix, and `/./` is rejected.
    assert_problems(
        &v3("routes:\n- paths: ['/a/./b']\n"),
        &[("routes[0].paths[0]", "non-normalized")],
    );
}

#[test]
fn top_level_credentials_and_nested_plugin_scopes() {
    let cfg = ok(&v3(r#"
consumers:
- {username: alice, id: 6a0bd3c4-5a3e-4b8e-9c55-0f8b8e0d2b11}
keyauth_credentials:
- {consumer: alice, key: k1}
basicauth_credentials:
- {consumer: {id: 6a0bd3c4-5a3e-4b8e-9c55-0f8b8e0d2b11}, username: al, password: pw}
acls:
- {consumer: {username: alice}, group: g}
services:
- name: s
  host: s
  routes:
  - name: r
    paths: [/]
    plugins:
    - {name: rate-limiting, consumer: alice}
  plugins:
  - {name: rate-limiting, consumer: alice}
"#));
    let alice = &cfg.consumers[0];
    assert_eq!(
        (
            alice.keyauth_credentials.len(),
            alice.basicauth_credentials.len(),
            alice.acls.len()
        ),
        (1, 1, 1)
    );
    let scopes: Vec<_> = cfg
        .plugins
        .iter()
        .map(|p| (p.service, p.route, p.consumer))
        .collect();
    assert_eq!(scopes, [(Some(0), None, Some(0)), (None, Some(0), Some(0))]);
}

#[test]
fn yaml_anchors_and_merge_keys() {
    let cfg = ok(&v3(
        "services:\n- &base\n  name: a\n  host: a.internal\n  retries: 1\n- <<: *base\n  name: b\n",
    ));
    let b = &cfg.services[1];
    assert_eq!(
        (b.name.as_deref(), b.host.as_str(), b.retries),
        (Some("b"), "a.internal", 1)
    );
}

#[test]
fn load_config_file_reports_io_errors_with_file_name() {
    let missing = Path::new("/nonexistent/sluice/kong.yml");
    let problems = load_config_file(missing).expect_err("missing file");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "/nonexistent/sluice/kong.yml");
    assert!(problems[0].message.starts_with("cannot read config file"));

    let dir = std::env::temp_dir().join(format!("sluice-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yml = dir.join("kong.yml");
    std::fs::write(&yml, FULL).unwrap();
    assert_eq!(load_config_file(&yml).map(|c| c.routes.len()), Ok(4));
    let json = dir.join("kong.json");
    std::fs::write(&json, "{\"_format_version\": \"3.0\"}").unwrap();
    assert_eq!(load_config_file(&json), Ok(DeclarativeConfig::default()));
    std::fs::remove_dir_all(&dir).unwrap();
}
