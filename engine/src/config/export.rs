//! Serialising a [`DeclarativeConfig`] back to Kong's formats.
//!
//! [`document`] gives every entity in Kong's Admin API shape (all fields, defaults explicit,
//! foreign keys as `{"id": ...}`); [`declarative`] lays a document out as a flat declarative 3.0
//! file (top-level `routes` with `service`, `targets` with `upstream`, credentials with
//! `consumer`), which `load::parse_document` reads back to the same config (`load::parse_entities`
//! reads a document that way without building the tree); [`to_text`] writes it as YAML (readable
//! key order, null fields left out) or JSON.
//!
//! Round trip: for a config `c` that was itself read from such a document,
//! `parse(to_text(document(c))) == c` (tested below and in the Admin API tests).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::document::{Document, Entity, Kind, KINDS};
use super::raw::{
    self, Algorithm, DeclarativeConfig, HashInput, HealthcheckType, Healthchecks, Scheme,
};
use super::yaml_emit;

/// The text formats a config file or `GET /config` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Yaml,
    Json,
}

/// An entity from its fields. The fields of an entity are built as values directly rather than
/// with `json!` (which serializes every value) and collected in one go rather than inserted one
/// by one (serde_json's map is a `BTreeMap`: a collect sorts once and builds the tree without a
/// search per field): together about half the cost of exporting an entity, which happens for
/// every entity on every change (10k routes: ~60 ms of a debug-build admin change).
fn entity<const N: usize>(fields: [(&str, Value); N]) -> Entity {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn one(key: &str, value: &str) -> Value {
    Value::Object(entity([(key, Value::from(value))]))
}

fn fk(id: Option<&Option<String>>, name: Option<&str>) -> Value {
    match (id.and_then(Option::as_ref), name) {
        (Some(id), _) => one("id", id),
        (None, Some(name)) => one("name", name),
        (None, None) => Value::Null,
    }
}

fn text(value: &Option<String>) -> Value {
    Value::from(value.clone())
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}

fn list_or_null(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        strings(items)
    }
}

fn header_map(headers: &BTreeMap<String, Vec<String>>) -> Value {
    if headers.is_empty() {
        Value::Null
    } else {
        Value::Object(
            headers
                .iter()
                .map(|(k, v)| (k.clone(), strings(v)))
                .collect(),
        )
    }
}

fn stamps(entity: &mut Entity, created: Option<u64>, updated: Option<u64>) {
    entity.insert("created_at".to_owned(), json!(created));
    entity.insert("updated_at".to_owned(), json!(updated));
}

fn obj(value: Value) -> Entity {
    match value {
        Value::Object(map) => map,
        _ => Entity::new(),
    }
}

fn scheme(s: Scheme) -> &'static str {
    s.as_str()
}

pub fn service(s: &raw::Service) -> Entity {
    entity([
        ("id", text(&s.id)),
        ("name", text(&s.name)),
        ("protocol", Value::from(scheme(s.protocol))),
        ("host", Value::from(s.host.as_str())),
        ("port", Value::from(s.port)),
        ("path", text(&s.path)),
        ("retries", Value::from(s.retries)),
        ("connect_timeout", Value::from(s.connect_timeout)),
        ("write_timeout", Value::from(s.write_timeout)),
        ("read_timeout", Value::from(s.read_timeout)),
        ("enabled", Value::from(s.enabled)),
        ("tags", list_or_null(&s.tags)),
        ("created_at", Value::from(s.created_at)),
        ("updated_at", Value::from(s.updated_at)),
    ])
}

pub fn route(r: &raw::Route, cfg: &DeclarativeConfig) -> Entity {
    let service = r.service.and_then(|i| cfg.services.get(i));
    let protocols = r.protocols.iter().map(|p| Value::from(scheme(*p)));
    entity([
        ("id", text(&r.id)),
        ("name", text(&r.name)),
        (
            "service",
            fk(
                service.map(|s| &s.id),
                service.and_then(|s| s.name.as_deref()),
            ),
        ),
        ("protocols", Value::Array(protocols.collect())),
        ("methods", list_or_null(&r.methods)),
        ("hosts", list_or_null(&r.hosts)),
        ("paths", list_or_null(&r.paths)),
        ("headers", header_map(&r.headers)),
        ("snis", Value::Null),
        ("sources", Value::Null),
        ("destinations", Value::Null),
        ("strip_path", Value::from(r.strip_path)),
        ("preserve_host", Value::from(r.preserve_host)),
        ("regex_priority", Value::from(r.regex_priority)),
        ("path_handling", Value::from("v0")),
        (
            "https_redirect_status_code",
            Value::from(r.https_redirect_status_code),
        ),
        ("request_buffering", Value::from(r.request_buffering)),
        ("response_buffering", Value::from(r.response_buffering)),
        ("tags", list_or_null(&r.tags)),
        ("created_at", Value::from(r.created_at)),
        ("updated_at", Value::from(r.updated_at)),
    ])
}

fn algorithm(a: Algorithm) -> &'static str {
    match a {
        Algorithm::RoundRobin => "round-robin",
        Algorithm::ConsistentHashing => "consistent-hashing",
        Algorithm::LeastConnections => "least-connections",
    }
}

fn check_type(t: HealthcheckType) -> &'static str {
    match t {
        HealthcheckType::Http => "http",
        HealthcheckType::Https => "https",
        HealthcheckType::Tcp => "tcp",
    }
}

fn healthchecks(h: &Healthchecks) -> Value {
    let a = &h.active;
    let p = &h.passive;
    json!({
        "active": {
            "type": check_type(a.kind),
            "timeout": a.timeout,
            "concurrency": a.concurrency,
            "http_path": a.http_path,
            "https_verify_certificate": a.https_verify_certificate,
            "https_sni": a.https_sni,
            "headers": if a.headers.is_empty() { Value::Null } else { json!(a.headers) },
            "healthy": {
                "interval": a.healthy.interval,
                "successes": a.healthy.successes,
                "http_statuses": a.healthy.http_statuses,
            },
            "unhealthy": {
                "interval": a.unhealthy.interval,
                "http_failures": a.unhealthy.http_failures,
                "tcp_failures": a.unhealthy.tcp_failures,
                "timeouts": a.unhealthy.timeouts,
                "http_statuses": a.unhealthy.http_statuses,
            },
        },
        "passive": {
            "type": check_type(p.kind),
            "healthy": {
                "successes": p.healthy.successes,
                "http_statuses": p.healthy.http_statuses,
            },
            "unhealthy": {
                "http_failures": p.unhealthy.http_failures,
                "tcp_failures": p.unhealthy.tcp_failures,
                "timeouts": p.unhealthy.timeouts,
                "http_statuses": p.unhealthy.http_statuses,
            },
        },
        "threshold": h.threshold,
    })
}

/// `hash_on` (or `hash_fallback`) and its companion field, written into `e`.
fn hash_input(e: &mut Entity, which: &str, input: &HashInput) {
    let kind = match input {
        HashInput::None => "none",
        HashInput::Consumer => "consumer",
        HashInput::Ip => "ip",
        HashInput::Header(name) => {
            e.insert(format!("{which}_header"), json!(name));
            "header"
        }
        HashInput::Cookie { name, path } => {
            e.insert("hash_on_cookie".to_owned(), json!(name));
            e.insert("hash_on_cookie_path".to_owned(), json!(path));
            "cookie"
        }
        HashInput::Path => "path",
        HashInput::QueryArg(name) => {
            e.insert(format!("{which}_query_arg"), json!(name));
            "query_arg"
        }
        HashInput::UriCapture(name) => {
            e.insert(format!("{which}_uri_capture"), json!(name));
            "uri_capture"
        }
    };
    e.insert(which.to_owned(), json!(kind));
}

pub fn upstream(u: &raw::Upstream) -> Entity {
    let mut e = obj(json!({
        "id": u.id,
        "name": u.name,
        "algorithm": algorithm(u.algorithm),
        "hash_on_header": null,
        "hash_fallback_header": null,
        "hash_on_cookie": null,
        "hash_on_cookie_path": "/",
        "hash_on_query_arg": null,
        "hash_fallback_query_arg": null,
        "hash_on_uri_capture": null,
        "hash_fallback_uri_capture": null,
        "slots": u.slots,
        "healthchecks": healthchecks(&u.healthchecks),
        "host_header": u.host_header,
        "use_srv_name": false,
        "tags": list_or_null(&u.tags),
    }));
    hash_input(&mut e, "hash_on", &u.hash_on);
    hash_input(&mut e, "hash_fallback", &u.hash_fallback);
    stamps(&mut e, u.created_at, u.updated_at);
    e
}

pub fn target(t: &raw::Target, u: &raw::Upstream) -> Entity {
    entity([
        ("id", text(&t.id)),
        ("target", Value::from(t.target.as_str())),
        ("weight", Value::from(t.weight)),
        ("upstream", fk(Some(&u.id), Some(&u.name))),
        ("tags", list_or_null(&t.tags)),
        ("created_at", Value::from(t.created_at)),
        ("updated_at", Value::from(t.updated_at)),
    ])
}

pub fn consumer(c: &raw::Consumer) -> Entity {
    entity([
        ("id", text(&c.id)),
        ("username", text(&c.username)),
        ("custom_id", text(&c.custom_id)),
        ("tags", list_or_null(&c.tags)),
        ("created_at", Value::from(c.created_at)),
        ("updated_at", Value::from(c.updated_at)),
    ])
}

fn consumer_fk(c: &raw::Consumer) -> Value {
    match (&c.id, &c.username) {
        (Some(id), _) => one("id", id),
        (None, Some(name)) => one("username", name),
        (None, None) => Value::Null,
    }
}

pub fn keyauth(k: &raw::KeyAuthCredential, c: &raw::Consumer) -> Entity {
    entity([
        ("id", text(&k.id)),
        ("key", Value::from(k.key.as_str())),
        ("consumer", consumer_fk(c)),
        ("tags", list_or_null(&k.tags)),
        ("created_at", Value::from(k.created_at)),
        ("updated_at", Value::from(k.updated_at)),
    ])
}

pub fn basicauth(b: &raw::BasicAuthCredential, c: &raw::Consumer) -> Entity {
    entity([
        ("id", text(&b.id)),
        ("username", Value::from(b.username.as_str())),
        ("password", Value::from(b.password.as_str())),
        ("consumer", consumer_fk(c)),
        ("tags", list_or_null(&b.tags)),
        ("created_at", Value::from(b.created_at)),
        ("updated_at", Value::from(b.updated_at)),
    ])
}

pub fn acl(a: &raw::Acl, c: &raw::Consumer) -> Entity {
    entity([
        ("id", text(&a.id)),
        ("group", Value::from(a.group.as_str())),
        ("consumer", consumer_fk(c)),
        ("tags", list_or_null(&a.tags)),
        ("created_at", Value::from(a.created_at)),
        ("updated_at", Value::from(a.updated_at)),
    ])
}

pub fn plugin(p: &raw::Plugin, cfg: &DeclarativeConfig) -> Entity {
    let service = p.service.and_then(|i| cfg.services.get(i));
    let route = p.route.and_then(|i| cfg.routes.get(i));
    let consumer = p.consumer.and_then(|i| cfg.consumers.get(i));
    let protocols = p.protocols.iter().map(|p| Value::from(p.as_str()));
    entity([
        ("id", text(&p.id)),
        ("name", Value::from(p.name.as_str())),
        ("config", p.config.clone()),
        ("enabled", Value::from(p.enabled)),
        ("protocols", Value::Array(protocols.collect())),
        (
            "service",
            fk(
                service.map(|s| &s.id),
                service.and_then(|s| s.name.as_deref()),
            ),
        ),
        (
            "route",
            fk(route.map(|r| &r.id), route.and_then(|r| r.name.as_deref())),
        ),
        ("consumer", consumer.map(consumer_fk).unwrap_or(Value::Null)),
        ("tags", list_or_null(&p.tags)),
        ("created_at", Value::from(p.created_at)),
        ("updated_at", Value::from(p.updated_at)),
    ])
}

/// Every entity of `cfg` in Kong's Admin API shape. References are `{"id": ...}` once
/// `identity::fill` has run (by name before, which `parse_document` also accepts).
pub fn document(cfg: &DeclarativeConfig) -> Document {
    let mut doc = Document::new(cfg.transform, cfg.comment.clone(), cfg.workspace.clone());
    doc.list_mut(Kind::Service)
        .extend(cfg.services.iter().map(service));
    doc.list_mut(Kind::Route)
        .extend(cfg.routes.iter().map(|r| route(r, cfg)));
    doc.list_mut(Kind::Upstream)
        .extend(cfg.upstreams.iter().map(upstream));
    for u in &cfg.upstreams {
        doc.list_mut(Kind::Target)
            .extend(u.targets.iter().map(|t| target(t, u)));
    }
    doc.list_mut(Kind::Consumer)
        .extend(cfg.consumers.iter().map(consumer));
    for c in &cfg.consumers {
        doc.list_mut(Kind::KeyAuth)
            .extend(c.keyauth_credentials.iter().map(|k| keyauth(k, c)));
        doc.list_mut(Kind::BasicAuth)
            .extend(c.basicauth_credentials.iter().map(|b| basicauth(b, c)));
        doc.list_mut(Kind::Acl)
            .extend(c.acls.iter().map(|a| acl(a, c)));
    }
    doc.list_mut(Kind::Plugin)
        .extend(cfg.plugins.iter().map(|p| plugin(p, cfg)));
    doc
}

/// The document as a flat declarative config, ready for `load::parse_document`. Entity `i` of
/// a kind sits at path `<collection>[i]`, so loader problems point straight at it.
pub fn declarative(doc: &Document) -> serde_yaml::Value {
    let mut top = serde_yaml::Mapping::new();
    let key = |k: &str| serde_yaml::Value::String(k.to_owned());
    top.insert(key("_format_version"), key("3.0"));
    if !doc.transform {
        top.insert(key("_transform"), serde_yaml::Value::Bool(false));
    }
    if let Some(comment) = &doc.comment {
        top.insert(key("_comment"), key(comment));
    }
    if let Some(workspace) = &doc.workspace {
        top.insert(key("_workspace"), key(workspace));
    }
    for kind in KINDS {
        let list = doc.list(kind);
        if list.is_empty() {
            continue;
        }
        let items = list.iter().map(entity_yaml).collect();
        top.insert(key(kind.collection()), serde_yaml::Value::Sequence(items));
    }
    serde_yaml::Value::Mapping(top)
}

/// One entity as [`declarative`] writes it.
pub fn entity_yaml(entity: &Entity) -> serde_yaml::Value {
    serde_yaml::Value::Mapping(
        entity
            .iter()
            .map(|(k, v)| (serde_yaml::Value::String(k.clone()), yaml(v)))
            .collect(),
    )
}

/// A JSON value as the YAML value [`declarative`] writes for it.
pub(crate) fn yaml(value: &Value) -> serde_yaml::Value {
    match value {
        Value::Null => serde_yaml::Value::Null,
        Value::Bool(b) => serde_yaml::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                serde_yaml::Value::Number(u.into())
            } else if let Some(i) = n.as_i64() {
                serde_yaml::Value::Number(i.into())
            } else {
                serde_yaml::Value::Number(n.as_f64().unwrap_or(0.0).into())
            }
        }
        Value::String(s) => serde_yaml::Value::String(s.clone()),
        Value::Array(items) => serde_yaml::Value::Sequence(items.iter().map(yaml).collect()),
        Value::Object(map) => serde_yaml::Value::Mapping(
            map.iter()
                .map(|(k, v)| (serde_yaml::Value::String(k.clone()), yaml(v)))
                .collect(),
        ),
    }
}

/// The same flat document for serde (JSON answers and JSON files), without copying it.
pub struct Flat<'a>(pub &'a Document);

impl serde::Serialize for Flat<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let doc = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("_format_version", "3.0")?;
        if !doc.transform {
            map.serialize_entry("_transform", &false)?;
        }
        if let Some(comment) = &doc.comment {
            map.serialize_entry("_comment", comment)?;
        }
        if let Some(workspace) = &doc.workspace {
            map.serialize_entry("_workspace", workspace)?;
        }
        for kind in KINDS {
            let list = doc.list(kind);
            if !list.is_empty() {
                map.serialize_entry(kind.collection(), list)?;
            }
        }
        map.end()
    }
}

/// Where a field is written: `First(i)` fields lead in the order of `i`, the rest follow
/// alphabetically (a JSON map iterates sorted), then `Last(i)`: tags and stamps.
#[derive(Clone, Copy)]
enum Place {
    First(usize),
    Rest,
    Last(usize),
}

const FIRST_COUNT: usize = 12;
const LAST_COUNT: usize = 3;

fn place(key: &str) -> Place {
    match key {
        "id" => Place::First(0),
        "name" => Place::First(1),
        "username" => Place::First(2),
        "custom_id" => Place::First(3),
        "key" => Place::First(4),
        "group" => Place::First(5),
        "target" => Place::First(6),
        "weight" => Place::First(7),
        "service" => Place::First(8),
        "route" => Place::First(9),
        "upstream" => Place::First(10),
        "consumer" => Place::First(11),
        "tags" => Place::Last(0),
        "created_at" => Place::Last(1),
        "updated_at" => Place::Last(2),
        _ => Place::Rest,
    }
}

/// The document as config file text. YAML: readable key order, null fields left out (the
/// loader reads null and absent alike; a plugin's `config` keeps its nulls).
pub fn to_text(doc: &Document, format: TextFormat) -> String {
    match format {
        TextFormat::Json => {
            let mut text = serde_json::to_string_pretty(&Flat(doc)).unwrap_or_default();
            text.push('\n');
            text
        }
        TextFormat::Yaml => {
            let mut out = String::with_capacity(64 + doc.len() * 512);
            out.push_str("# Kong declarative config (format 3.0), written by sluice.\n");
            out.push_str("_format_version: \"3.0\"\n");
            if !doc.transform {
                out.push_str("_transform: false\n");
            }
            for (key, value) in [("_comment", &doc.comment), ("_workspace", &doc.workspace)] {
                if let Some(value) = value {
                    out.push_str(key);
                    out.push_str(": ");
                    yaml_emit::string(&mut out, value);
                    out.push('\n');
                }
            }
            let mut fields = Vec::with_capacity(32);
            let mut rest = Vec::with_capacity(32);
            for kind in KINDS {
                let list = doc.list(kind);
                if list.is_empty() {
                    continue;
                }
                out.push_str(kind.collection());
                out.push_str(":\n");
                for entity in list {
                    // One pass over the fields puts each in its place: no sort, and no lookup
                    // per leading field (those were a third of writing a 10k-route file). Null
                    // fields are not written (`yaml_emit::item` skips them too).
                    let mut first = [None; FIRST_COUNT];
                    let mut last = [None; LAST_COUNT];
                    rest.clear();
                    for field in entity.iter().filter(|(_, v)| !v.is_null()) {
                        match place(field.0) {
                            Place::First(i) => first[i] = Some(field),
                            Place::Rest => rest.push(field),
                            Place::Last(i) => last[i] = Some(field),
                        }
                    }
                    fields.clear();
                    fields.extend(first.iter().flatten());
                    fields.append(&mut rest);
                    fields.extend(last.iter().flatten());
                    yaml_emit::item(&mut out, &fields, 4);
                }
            }
            out
        }
    }
}

/// The file format to write for a config file name: JSON for `*.json`, YAML otherwise.
pub fn format_for(path: &std::path::Path) -> TextFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => TextFormat::Json,
        _ => TextFormat::Yaml,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::identity;
    use crate::config::load::{parse_config, parse_document};

    const FULL: &str = r#"
_format_version: "3.0"
_comment: kept
services:
  - name: svc
    url: https://example.com:8443/base
    retries: 3
    tags: [a, b]
    routes:
      - name: r1
        paths: ["/a", "~/b/(?<x>\\d+)$"]
        methods: [GET, POST]
        hosts: ["*.example.com"]
        headers:
          X-Version: ["1", "~*^v2"]
        strip_path: false
        regex_priority: 4
        https_redirect_status_code: 308
    plugins:
      - name: rate-limiting
        enabled: false
        config: {minute: 5, policy: local, nested: {x: null}}
  - host: 10.0.0.1
    port: 81
    enabled: false
routes:
  - paths: ["/loose"]
    protocols: [https]
upstreams:
  - name: backend.internal
    algorithm: consistent-hashing
    hash_on: header
    hash_on_header: X-User
    hash_fallback: cookie
    hash_on_cookie: sid
    hash_on_cookie_path: /app
    slots: 100
    host_header: backend.example
    healthchecks:
      threshold: 25.5
      passive:
        unhealthy: {tcp_failures: 2, http_statuses: [500, 502]}
      active:
        headers: {x-probe: ["1"]}
        https_sni: probe.example
    targets:
      - target: 127.0.0.1:9001
        weight: 7
      - target: "[::1]"
  - name: plain
consumers:
  - username: alice
    custom_id: a-1
    keyauth_credentials: [{key: secret}]
    basicauth_credentials: [{username: alice, password: pw}]
    acls: [{group: admins}, {group: ops}]
  - custom_id: only-custom
plugins:
  - name: cors
    enabled: false
    route: r1
    consumer: alice
    protocols: [http]
"#;

    fn canonical(text: &str) -> DeclarativeConfig {
        let mut cfg = parse_config(text).unwrap();
        identity::fill(&mut cfg, None, 1_700_000_000);
        cfg
    }

    #[test]
    fn round_trip_through_yaml_and_json() {
        let first = canonical(FULL);
        let doc = document(&first);
        let yaml_text = to_text(&doc, TextFormat::Yaml);
        let c1 = parse_config(&yaml_text).unwrap_or_else(|p| panic!("{p:?}\n{yaml_text}"));
        // Reading the written file back and writing it again changes nothing.
        let c2 = parse_config(&to_text(&document(&c1), TextFormat::Yaml)).unwrap();
        assert_eq!(c1, c2);
        assert_eq!(to_text(&document(&c1), TextFormat::Yaml), yaml_text);
        // The same config as the original, apart from where each entity sat in the file.
        assert_eq!(document(&c1), doc);
        let json_text = to_text(&doc, TextFormat::Json);
        assert_eq!(parse_config(&json_text).unwrap(), c1);
        // And through the in-memory path the Admin API uses.
        assert_eq!(parse_document(declarative(&doc)).unwrap(), c1);
        // Plugin config nulls are kept, other nulls are left out.
        assert!(yaml_text.contains("x: null"), "{yaml_text}");
        assert!(!yaml_text.contains("snis"), "{yaml_text}");
    }

    #[test]
    fn entity_shapes_follow_kong() {
        let cfg = canonical(FULL);
        let doc = document(&cfg);
        let s = &doc.list(Kind::Service)[0];
        assert_eq!(s["protocol"], "https");
        assert_eq!(s["port"], 8443);
        assert_eq!(s["path"], "/base");
        assert_eq!(s["created_at"], 1_700_000_000u64);
        let r = &doc.list(Kind::Route)[0];
        assert_eq!(r["service"]["id"], s["id"]);
        assert_eq!(r["headers"]["x-version"], json!(["1", "~*^v2"]));
        let loose = &doc.list(Kind::Route)[1];
        assert_eq!(loose["service"], Value::Null);
        let t = &doc.list(Kind::Target)[1];
        assert_eq!(t["target"], "[::1]:8000");
        let u = &doc.list(Kind::Upstream)[0];
        assert_eq!(u["hash_fallback"], "cookie");
        assert_eq!(u["hash_on_cookie_path"], "/app");
        assert_eq!(doc.list(Kind::Acl).len(), 2);
        let p = &doc.list(Kind::Plugin)[1];
        assert_eq!(p["consumer"]["id"], doc.list(Kind::Consumer)[0]["id"]);
    }
}
