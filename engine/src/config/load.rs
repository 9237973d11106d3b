//! Loading and validation of the declarative configuration.
//!
//! [`parse_config`] reads YAML or JSON into a `serde_yaml::Value`, deserializes every entity on
//! its own into the [`wire`] structs (nested lists are taken out of the parent first) so that one
//! bad entity never hides another, then normalises them into [`raw::DeclarativeConfig`]: Kong's
//! defaults applied, the `url` shorthand expanded, nested entities flattened, references resolved
//! to indices. Every problem found on the way is collected with the path of the offending field.

use super::raw::{self, wire, DeclarativeConfig, FormatVersion, HashInput, Scheme};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use serde_yaml::Value;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The config used when none is given: no routes, so every request gets a 404.
pub const DEFAULT_CONFIG: &str = "_format_version: \"3.0\"\n";

/// One thing wrong with a config, e.g. `services[2].routes[0].paths[1]: should start with: /`.
/// Document-level problems (syntax errors) have an empty path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigProblem {}

/// Syntax of a config text. YAML is a superset of JSON, but JSON goes through serde_json for
/// exact JSON semantics and error positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

impl ConfigFormat {
    /// JSON when the first non-blank character is `{`, YAML otherwise.
    pub fn detect(text: &str) -> ConfigFormat {
        if text.trim_start().starts_with('{') {
            ConfigFormat::Json
        } else {
            ConfigFormat::Yaml
        }
    }
}

/// Parses and validates a declarative config (format detected with [`ConfigFormat::detect`]).
pub fn parse_config(text: &str) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    parse_config_as(text, ConfigFormat::detect(text))
}

/// Parses and validates a declarative config in the given syntax.
pub fn parse_config_as(
    text: &str,
    format: ConfigFormat,
) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    let doc = match format {
        ConfigFormat::Yaml => serde_yaml::from_str::<Value>(text)
            .and_then(|mut v| v.apply_merge().map(|()| v)) // `<<: *anchor` merge keys
            .map_err(|e| vec![ConfigProblem::new("", format!("invalid YAML: {e}"))])?,
        ConfigFormat::Json => serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("invalid JSON: {e}"))
            .and_then(|v| serde_yaml::to_value(v).map_err(|e| format!("invalid JSON: {e}")))
            .map_err(|m| vec![ConfigProblem::new("", m)])?,
    };
    let mut loader = Loader::default();
    loader.load(doc);
    if loader.problems.is_empty() {
        Ok(loader.cfg)
    } else {
        Err(loader.problems)
    }
}

/// Validates an already-parsed document (the Admin API builds one in memory).
pub fn parse_document(doc: Value) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    let mut loader = Loader::default();
    loader.load(doc);
    if loader.problems.is_empty() {
        Ok(loader.cfg)
    } else {
        Err(loader.problems)
    }
}

/// Reads and parses a config file. An I/O error is reported with the file name as its path.
pub fn load_config_file(path: &Path) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigProblem::new(
            path.display().to_string(),
            format!("cannot read config file: {e}"),
        )]
    })?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => ConfigFormat::Json,
        _ => ConfigFormat::detect(&text),
    };
    parse_config_as(&text, format)
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "_format_version",
    "_transform",
    "_comment",
    "_workspace",
    "services",
    "routes",
    "upstreams",
    "targets",
    "consumers",
    "keyauth_credentials",
    "basicauth_credentials",
    "acls",
    "plugins",
];

/// Kong entities Sluice does not implement: accepted only when null or empty.
const UNSUPPORTED_TOP_LEVEL: &[&str] = &[
    "certificates",
    "ca_certificates",
    "snis",
    "vaults",
    "keys",
    "key_sets",
    "consumer_groups",
    "jwt_secrets",
    "hmacauth_credentials",
    "oauth2_credentials",
    "mtls_auth_credentials",
    "filter_chains",
];

/// Credential kinds Kong nests under consumers that Sluice does not implement.
const UNSUPPORTED_CONSUMER_KEYS: &[&str] = &[
    "jwt_secrets",
    "hmacauth_credentials",
    "oauth2_credentials",
    "mtls_auth_credentials",
];

/// What a nested entity hangs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    TopLevel,
    Service(usize),
    Route(usize),
    Consumer(usize),
    Upstream(usize),
    /// The parent (of this kind) failed to deserialize: check the child, but do not resolve its
    /// parent.
    Broken(&'static str),
}

struct Pending {
    path: String,
    value: Value,
    owner: Owner,
}

enum Lookup {
    Found(usize),
    /// Names an entity that exists but failed to parse (already reported).
    Broken,
    Missing,
}

/// Name and id lookup for one entity type, with duplicate detection.
#[derive(Default)]
struct Index {
    names: HashMap<String, (usize, String)>,
    ids: HashMap<String, (usize, String)>,
    broken: HashSet<String>,
}

impl Index {
    #[allow(clippy::too_many_arguments)]
    fn register(
        &mut self,
        kind: &str,
        name_field: &str,
        name: Option<&str>,
        id: Option<&str>,
        idx: usize,
        path: &str,
        problems: &mut Vec<ConfigProblem>,
    ) {
        for (key, field, map) in [
            (name, name_field, &mut self.names),
            (id, "id", &mut self.ids),
        ] {
            let Some(key) = key else { continue };
            if let Some((_, other)) = map.get(key) {
                problems.push(ConfigProblem::new(
                    field_path(path, field),
                    format!("duplicate {kind} {field} '{key}' (already used by {other})"),
                ));
            } else {
                map.insert(key.to_owned(), (idx, path.to_owned()));
            }
        }
    }

    fn mark_broken(&mut self, value: &Value, name_field: &str) {
        for key in [name_field, "id"] {
            if let Some(s) = value.get(key).and_then(Value::as_str) {
                self.broken.insert(s.to_owned());
            }
        }
    }

    fn lookup(&self, fk: &wire::ForeignKey) -> Lookup {
        let key = fk.as_str();
        let hit = match fk {
            wire::ForeignKey::Id(_) => self.ids.get(key),
            wire::ForeignKey::Name(_) => self.names.get(key),
            wire::ForeignKey::Ref(_) => self.ids.get(key).or_else(|| self.names.get(key)),
        };
        match hit {
            Some((idx, _)) => Lookup::Found(*idx),
            None if self.broken.contains(key) => Lookup::Broken,
            None => Lookup::Missing,
        }
    }
}

/// Resolves a foreign key; `Err(())` when it names nothing (problem recorded) or a broken entity.
fn resolve(
    index: &Index,
    fk: &wire::ForeignKey,
    kind: &str,
    path: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Result<usize, ()> {
    match index.lookup(fk) {
        Lookup::Found(idx) => Ok(idx),
        Lookup::Broken => Err(()),
        Lookup::Missing => {
            problems.push(ConfigProblem::new(
                path,
                format!("references unknown {kind} '{}'", fk.as_str()),
            ));
            Err(())
        }
    }
}

#[derive(Default)]
struct Loader {
    problems: Vec<ConfigProblem>,
    cfg: DeclarativeConfig,
    services: Index,
    routes: Index,
    upstreams: Index,
    consumers: Index,
    custom_ids: HashMap<String, String>,
    keyauth_keys: HashMap<String, String>,
    basicauth_usernames: HashMap<String, String>,
    acl_groups: HashMap<(usize, String), String>,
    targets_seen: HashMap<(usize, String), String>,
    plugin_scopes: HashMap<PluginScope, String>,
    routes_pending: Vec<Pending>,
    service_plugins: Vec<Pending>,
    route_plugins: Vec<Pending>,
    consumer_plugins: Vec<Pending>,
}

type PluginScope = (String, Option<usize>, Option<usize>, Option<usize>);

impl Loader {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(ConfigProblem::new(path, message));
    }

    fn load(&mut self, doc: Value) {
        let map = match doc {
            Value::Mapping(map) => map,
            Value::Null => {
                return self.problem(
                    "",
                    "empty document: expected a mapping with `_format_version`",
                )
            }
            other => {
                return self.problem(
                    "",
                    format!(
                        "expected a mapping at the top level, found {}",
                        describe(&other)
                    ),
                )
            }
        };
        let mut sections: HashMap<&'static str, Value> = HashMap::new();
        let mut version_seen = false;
        for (key, value) in map {
            let Value::String(key) = key else {
                self.problem(
                    "",
                    format!("top-level keys must be strings, found {}", describe(&key)),
                );
                continue;
            };
            match key.as_str() {
                "_format_version" => {
                    version_seen = true;
                    self.format_version(value);
                }
                "_transform" => match value {
                    Value::Bool(b) => self.cfg.transform = b,
                    Value::Null => {}
                    other => self.problem(key, expected("a boolean", &other)),
                },
                "_comment" | "_workspace" => match value {
                    Value::String(s) if key == "_comment" => self.cfg.comment = Some(s),
                    Value::String(s) => self.cfg.workspace = Some(s),
                    Value::Null => {}
                    other => self.problem(key, expected("a string", &other)),
                },
                k => {
                    if let Some(known) = TOP_LEVEL_KEYS.iter().find(|known| **known == k) {
                        sections.insert(known, value);
                    } else if UNSUPPORTED_TOP_LEVEL.contains(&k) {
                        if !is_empty(&value) {
                            self.problem(key, "not supported by Sluice");
                        }
                    } else {
                        let list = TOP_LEVEL_KEYS
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>();
                        let msg =
                            format!("unknown field `{k}`, expected one of {}", list.join(", "));
                        self.problem(key, msg);
                    }
                }
            }
        }
        if !version_seen {
            self.problem("_format_version", "required field missing");
        }
        let mut take = |k: &str| sections.remove(k).unwrap_or(Value::Null);
        let (services, upstreams, consumers) =
            (take("services"), take("upstreams"), take("consumers"));
        let (targets, keyauth, basicauth) = (
            take("targets"),
            take("keyauth_credentials"),
            take("basicauth_credentials"),
        );
        let (acls, routes, plugins) = (take("acls"), take("routes"), take("plugins"));

        self.load_services(services);
        self.load_upstreams(upstreams);
        self.load_consumers(consumers);
        for (path, value) in self.items(targets, "targets") {
            self.load_target(path, value, Owner::TopLevel);
        }
        for (path, value) in self.items(keyauth, "keyauth_credentials") {
            self.load_keyauth(path, value, Owner::TopLevel);
        }
        for (path, value) in self.items(basicauth, "basicauth_credentials") {
            self.load_basicauth(path, value, Owner::TopLevel);
        }
        for (path, value) in self.items(acls, "acls") {
            self.load_acl(path, value, Owner::TopLevel);
        }
        for (path, value) in self.items(routes, "routes") {
            self.routes_pending.push(Pending {
                path,
                value,
                owner: Owner::TopLevel,
            });
        }
        for pending in std::mem::take(&mut self.routes_pending) {
            self.load_route(pending);
        }
        let top_plugins = self.items(plugins, "plugins");
        let nested = [
            std::mem::take(&mut self.service_plugins),
            std::mem::take(&mut self.route_plugins),
            std::mem::take(&mut self.consumer_plugins),
        ];
        for pending in nested.into_iter().flatten() {
            self.load_plugin(pending);
        }
        for (path, value) in top_plugins {
            self.load_plugin(Pending {
                path,
                value,
                owner: Owner::TopLevel,
            });
        }
    }

    fn format_version(&mut self, value: Value) {
        let version = match &value {
            Value::String(s) => match s.as_str() {
                "3.0" => Some(FormatVersion::V3_0),
                "2.1" => Some(FormatVersion::V2_1),
                "1.1" => Some(FormatVersion::V1_1),
                _ => None,
            },
            // An unquoted `3.0` in YAML is a float; accept it rather than nag.
            Value::Number(n) => match n.as_f64() {
                Some(3.0) => Some(FormatVersion::V3_0),
                Some(2.1) => Some(FormatVersion::V2_1),
                Some(1.1) => Some(FormatVersion::V1_1),
                _ => None,
            },
            _ => None,
        };
        match version {
            Some(v) => self.cfg.format_version = v,
            None => {
                let shown = match &value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => describe(other).to_owned(),
                };
                self.problem(
                    "_format_version",
                    format!("unsupported value '{shown}', expected one of: 1.1, 2.1, 3.0"),
                );
            }
        }
    }

    /// The elements of a list field, each with its path. `null` is an empty list.
    fn items(&mut self, value: Value, path: &str) -> Vec<(String, Value)> {
        match value {
            Value::Null => Vec::new(),
            Value::Sequence(seq) => seq
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("{path}[{i}]"), v))
                .collect(),
            other => {
                self.problem(path, expected("a sequence", &other));
                Vec::new()
            }
        }
    }

    /// Takes a nested list out of an entity's map and returns its elements with their paths.
    fn take_items(&mut self, entity: &mut Value, key: &str, path: &str) -> Vec<(String, Value)> {
        let nested = match entity {
            Value::Mapping(map) => map.remove(key).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        self.items(nested, &field_path(path, key))
    }

    fn deser<T: DeserializeOwned>(&mut self, value: Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(err) => {
                let mut full = path.to_owned();
                for segment in err.path() {
                    match segment {
                        Segment::Seq { index } => full.push_str(&format!("[{index}]")),
                        Segment::Map { key } | Segment::Enum { variant: key } => {
                            full.push('.');
                            full.push_str(key);
                        }
                        Segment::Unknown => {}
                    }
                }
                let message = err.into_inner().to_string();
                // Unknown fields are reported on the field itself.
                if let Some(field) = unknown_field_name(&message) {
                    if !full.ends_with(&format!(".{field}")) {
                        full = field_path(&full, field);
                    }
                }
                self.problem(full, message);
                None
            }
        }
    }

    // ----- shared field checks -------------------------------------------------------------

    fn id(&mut self, path: &str, id: Option<String>) -> Option<String> {
        if let Some(id) = &id {
            if !is_uuid(id) {
                self.problem(
                    field_path(path, "id"),
                    format!("expected a valid UUID, got '{id}'"),
                );
            }
        }
        id
    }

    /// Service and route names (Kong's `utf8_name`).
    fn name(&mut self, path: &str, name: Option<String>) -> Option<String> {
        if let Some(name) = &name {
            let bad = name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || ".-_~".contains(c)));
            if bad {
                self.problem(
                    field_path(path, "name"),
                    format!("invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"),
                );
            }
        }
        name
    }

    fn required_string(&mut self, path: &str, field: &str, value: Option<String>) -> String {
        match value {
            Some(s) if !s.is_empty() => s,
            Some(_) => {
                self.problem(field_path(path, field), "length must be at least 1");
                String::new()
            }
            None => {
                self.problem(field_path(path, field), "required field missing");
                String::new()
            }
        }
    }

    fn non_empty(&mut self, path: &str, field: &str, value: Option<String>) -> Option<String> {
        if value.as_deref() == Some("") {
            self.problem(field_path(path, field), "length must be at least 1");
        }
        value
    }

    fn tags(&mut self, path: &str, tags: Option<Vec<String>>) -> Vec<String> {
        let tags = tags.unwrap_or_default();
        for (i, tag) in tags.iter().enumerate() {
            let bad = tag.is_empty()
                || tag.chars().any(|c| {
                    c.is_ascii() && (c.is_ascii_control() || c == ' ' || c == ',' || c == '/')
                });
            if bad {
                self.problem(
                    format!("{path}.tags[{i}]"),
                    format!("invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"),
                );
            }
        }
        tags
    }

    /// An integer field within `lo..=hi`; out of range or unset gives `default`.
    fn int<T: TryFrom<i64> + Copy>(
        &mut self,
        path: &str,
        field: &str,
        v: Option<i64>,
        default: T,
        lo: i64,
        hi: i64,
    ) -> T {
        match v {
            None => default,
            Some(x) if (lo..=hi).contains(&x) => T::try_from(x).unwrap_or(default),
            Some(_) => {
                self.problem(
                    field_path(path, field),
                    format!("value should be between {lo} and {hi}"),
                );
                default
            }
        }
    }

    fn float(
        &mut self,
        path: &str,
        field: &str,
        v: Option<f64>,
        default: f64,
        lo: f64,
        hi: f64,
    ) -> f64 {
        match v {
            None => default,
            Some(x) if x >= lo && x <= hi => x,
            Some(_) => {
                self.problem(
                    field_path(path, field),
                    format!("value should be between {lo} and {hi}"),
                );
                default
            }
        }
    }

    fn statuses(&mut self, path: &str, v: Option<Vec<i64>>, default: Vec<u16>) -> Vec<u16> {
        let Some(list) = v else { return default };
        let mut out = Vec::with_capacity(list.len());
        for (i, status) in list.into_iter().enumerate() {
            out.push(self.int(
                &format!("{path}.http_statuses[{i}]"),
                "",
                Some(status),
                0u16,
                100,
                999,
            ));
        }
        out
    }

    fn headers(
        &mut self,
        path: &str,
        headers: Option<BTreeMap<String, wire::HeaderValues>>,
        forbid_host: bool,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (name, values) in headers.unwrap_or_default() {
            let here = format!("{path}.headers.{name}");
            let lower = name.to_ascii_lowercase();
            let values = values.into_vec();
            if !is_token(&name) {
                self.problem(&here, format!("invalid header name '{name}'"));
            } else if forbid_host && lower == "host" {
                self.problem(&here, "cannot contain 'host' header, which must be specified in the 'hosts' attribute");
            } else if values.is_empty() {
                self.problem(&here, "length must be at least 1");
            } else if let Entry::Vacant(slot) = out.entry(lower.clone()) {
                slot.insert(values);
            } else {
                self.problem(
                    &here,
                    format!("duplicate header '{lower}' (header names are case-insensitive)"),
                );
            }
        }
        out
    }

    // ----- services ---------------------------------------------------------------------------

    fn load_services(&mut self, value: Value) {
        for (path, mut item) in self.items(value, "services") {
            let routes = self.take_items(&mut item, "routes", &path);
            let plugins = self.take_items(&mut item, "plugins", &path);
            let owner = match self.deser::<wire::Service>(item.clone(), &path) {
                Some(w) => {
                    let service = self.service(w, &path);
                    let idx = self.cfg.services.len();
                    let (name, id) = (service.name.as_deref(), service.id.as_deref());
                    self.services.register(
                        "service",
                        "name",
                        name,
                        id,
                        idx,
                        &path,
                        &mut self.problems,
                    );
                    self.cfg.services.push(service);
                    Owner::Service(idx)
                }
                None => {
                    self.services.mark_broken(&item, "name");
                    Owner::Broken("service")
                }
            };
            for (path, value) in routes {
                self.routes_pending.push(Pending { path, value, owner });
            }
            for (path, value) in plugins {
                self.service_plugins.push(Pending { path, value, owner });
            }
        }
    }

    fn service(&mut self, w: wire::Service, path: &str) -> raw::Service {
        let mut protocol = Scheme::Http;
        let mut host = String::new();
        let mut port = 80;
        let mut service_path = None;
        if let Some(url) = &w.url {
            let set = [
                (w.protocol.is_some(), "protocol"),
                (w.host.is_some(), "host"),
                (w.port.is_some(), "port"),
                (w.path.is_some(), "path"),
            ];
            for (is_set, field) in set {
                if is_set {
                    self.problem(field_path(path, field), "cannot be set together with 'url'");
                }
            }
            match parse_url(url) {
                Ok(u) => (protocol, host, port, service_path) = (u.scheme, u.host, u.port, u.path),
                Err(msg) => self.problem(field_path(path, "url"), msg),
            }
        } else {
            if let Some(p) = w.protocol {
                match p.scheme() {
                    Some(s) => protocol = s,
                    None => self.problem(
                        field_path(path, "protocol"),
                        unsupported_protocol(p.as_str()),
                    ),
                }
            }
            match w.host {
                Some(h) => match normalize_host(&h) {
                    Ok(h) => host = h,
                    Err(msg) => self.problem(field_path(path, "host"), msg),
                },
                None => self.problem(field_path(path, "host"), "required field missing"),
            }
            port = self.int(path, "port", w.port, 80u16, 1, 65535);
            if let Some(p) = w.path {
                if let Err(msg) = check_prefix_path(&p) {
                    self.problem(field_path(path, "path"), msg);
                }
                service_path = Some(p);
            }
        }
        raw::Service {
            id: self.id(path, w.id),
            name: self.name(path, w.name),
            protocol,
            host,
            port,
            path: service_path,
            retries: self.int(path, "retries", w.retries, 5u16, 0, 32767),
            connect_timeout: self.int(
                path,
                "connect_timeout",
                w.connect_timeout,
                60000u32,
                1,
                2147483646,
            ),
            write_timeout: self.int(
                path,
                "write_timeout",
                w.write_timeout,
                60000u32,
                1,
                2147483646,
            ),
            read_timeout: self.int(
                path,
                "read_timeout",
                w.read_timeout,
                60000u32,
                1,
                2147483646,
            ),
            enabled: w.enabled.unwrap_or(true),
            tags: self.tags(path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.to_owned(),
        }
    }

    // ----- routes -----------------------------------------------------------------------------

    fn load_route(&mut self, pending: Pending) {
        let Pending {
            path,
            mut value,
            owner,
        } = pending;
        let plugins = self.take_items(&mut value, "plugins", &path);
        let owner = match self.deser::<wire::Route>(value.clone(), &path) {
            Some(w) => {
                let route = self.route(w, &path, owner);
                let idx = self.cfg.routes.len();
                let (name, id) = (route.name.as_deref(), route.id.as_deref());
                self.routes
                    .register("route", "name", name, id, idx, &path, &mut self.problems);
                self.cfg.routes.push(route);
                Owner::Route(idx)
            }
            None => {
                self.routes.mark_broken(&value, "name");
                Owner::Broken("route")
            }
        };
        for (path, value) in plugins {
            self.route_plugins.push(Pending { path, value, owner });
        }
    }

    fn route(&mut self, w: wire::Route, path: &str, owner: Owner) -> raw::Route {
        let service = match (owner, &w.service) {
            (Owner::TopLevel, Some(fk)) => resolve(
                &self.services,
                fk,
                "service",
                &field_path(path, "service"),
                &mut self.problems,
            )
            .ok(),
            (Owner::TopLevel, None) => None,
            (Owner::Service(idx), None) => Some(idx),
            (_, Some(_)) => {
                self.problem(
                    field_path(path, "service"),
                    "cannot be set on a route nested under a service",
                );
                None
            }
            (_, None) => None,
        };

        let mut protocols = Vec::new();
        match w.protocols {
            None => protocols = vec![Scheme::Http, Scheme::Https],
            Some(list) if list.is_empty() => {
                self.problem(field_path(path, "protocols"), "length must be at least 1")
            }
            Some(list) => {
                for (i, p) in list.into_iter().enumerate() {
                    match p.scheme() {
                        Some(s) if !protocols.contains(&s) => protocols.push(s),
                        Some(_) => {}
                        None => self.problem(
                            format!("{path}.protocols[{i}]"),
                            unsupported_protocol(p.as_str()),
                        ),
                    }
                }
            }
        }

        let methods = w.methods.unwrap_or_default();
        for (i, m) in methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                self.problem(
                    format!("{path}.methods[{i}]"),
                    format!("invalid method '{m}': must be uppercase letters only"),
                );
            }
        }
        let hosts = w.hosts.unwrap_or_default();
        for (i, h) in hosts.iter().enumerate() {
            if let Err(msg) = check_route_host(h) {
                self.problem(format!("{path}.hosts[{i}]"), msg);
            }
        }
        let mut paths = w.paths.unwrap_or_default();
        for (i, p) in paths.iter_mut().enumerate() {
            if self.cfg.format_version != FormatVersion::V3_0 {
                *p = migrate_legacy_path(p);
            }
            if let Err(msg) = check_route_path(p) {
                self.problem(format!("{path}.paths[{i}]"), msg);
            }
        }
        // Counted before validation so that a bad header does not also report "must set one of".
        let has_headers = w.headers.as_ref().is_some_and(|h| !h.is_empty());
        let headers = self.headers(path, w.headers, true);
        if methods.is_empty() && hosts.is_empty() && paths.is_empty() && !has_headers {
            self.problem(path, "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http' or 'https'");
        }
        for (field, v) in [
            ("snis", &w.snis),
            ("sources", &w.sources),
            ("destinations", &w.destinations),
        ] {
            if v.as_ref().is_some_and(|v| !is_empty(v)) {
                self.problem(field_path(path, field), "not supported by Sluice");
            }
        }
        if w.path_handling == Some(wire::PathHandling::V1) {
            self.problem(
                field_path(path, "path_handling"),
                "'v1' is not supported (only 'v0')",
            );
        }
        let redirect = w.https_redirect_status_code.unwrap_or(426);
        let https_redirect_status_code = match redirect {
            426 | 301 | 302 | 307 | 308 => redirect as u16,
            _ => {
                self.problem(
                    field_path(path, "https_redirect_status_code"),
                    "expected one of: 426, 301, 302, 307, 308",
                );
                426
            }
        };
        raw::Route {
            id: self.id(path, w.id),
            name: self.name(path, w.name),
            service,
            protocols,
            methods,
            hosts,
            paths,
            headers,
            strip_path: w.strip_path.unwrap_or(true),
            preserve_host: w.preserve_host.unwrap_or(false),
            regex_priority: w.regex_priority.unwrap_or(0),
            https_redirect_status_code,
            request_buffering: w.request_buffering.unwrap_or(true),
            response_buffering: w.response_buffering.unwrap_or(true),
            tags: self.tags(path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.to_owned(),
        }
    }

    // ----- upstreams and targets ----------------------------------------------------------

    fn load_upstreams(&mut self, value: Value) {
        for (path, mut item) in self.items(value, "upstreams") {
            let targets = self.take_items(&mut item, "targets", &path);
            let owner = match self.deser::<wire::Upstream>(item.clone(), &path) {
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

    fn load_target(&mut self, path: String, value: Value, owner: Owner) {
        let Some(w) = self.deser::<wire::Target>(value, &path) else {
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

    /// The parent index of a nested entity, or the resolved foreign key of a top-level one.
    fn parent(
        &mut self,
        path: &str,
        kind: &str,
        owner: Owner,
        fk: Option<&wire::ForeignKey>,
    ) -> Option<usize> {
        let fk_path = field_path(path, kind);
        match (owner, fk) {
            (Owner::TopLevel, Some(fk)) => {
                let index = if kind == "upstream" {
                    &self.upstreams
                } else {
                    &self.consumers
                };
                resolve(index, fk, kind, &fk_path, &mut self.problems).ok()
            }
            (Owner::TopLevel, None) => {
                self.problem(fk_path, "required field missing");
                None
            }
            (Owner::Upstream(idx) | Owner::Consumer(idx), None) => Some(idx),
            (_, Some(_)) => {
                self.problem(
                    fk_path,
                    format!("cannot be set on an entity nested under its {kind}"),
                );
                None
            }
            (_, None) => None,
        }
    }

    // ----- consumers and credentials ------------------------------------------------------

    fn load_consumers(&mut self, value: Value) {
        for (path, mut item) in self.items(value, "consumers") {
            let keyauth = self.take_items(&mut item, "keyauth_credentials", &path);
            let basicauth = self.take_items(&mut item, "basicauth_credentials", &path);
            let acls = self.take_items(&mut item, "acls", &path);
            let plugins = self.take_items(&mut item, "plugins", &path);
            for key in UNSUPPORTED_CONSUMER_KEYS {
                if let Value::Mapping(map) = &mut item {
                    if let Some(v) = map.remove(*key) {
                        if !is_empty(&v) {
                            self.problem(field_path(&path, key), "not supported by Sluice");
                        }
                    }
                }
            }
            let owner = match self.deser::<wire::Consumer>(item.clone(), &path) {
                Some(w) => self.consumer(w, &path),
                None => {
                    self.consumers.mark_broken(&item, "username");
                    Owner::Broken("consumer")
                }
            };
            for (path, value) in keyauth {
                self.load_keyauth(path, value, owner);
            }
            for (path, value) in basicauth {
                self.load_basicauth(path, value, owner);
            }
            for (path, value) in acls {
                self.load_acl(path, value, owner);
            }
            for (path, value) in plugins {
                self.consumer_plugins.push(Pending { path, value, owner });
            }
        }
    }

    fn consumer(&mut self, w: wire::Consumer, path: &str) -> Owner {
        let username = self.non_empty(path, "username", w.username);
        let custom_id = self.non_empty(path, "custom_id", w.custom_id);
        if username.is_none() && custom_id.is_none() {
            self.problem(
                path,
                "at least one of these fields must be non-empty: 'custom_id', 'username'",
            );
        }
        let consumer = raw::Consumer {
            id: self.id(path, w.id),
            username,
            custom_id,
            tags: self.tags(path, w.tags),
            keyauth_credentials: Vec::new(),
            basicauth_credentials: Vec::new(),
            acls: Vec::new(),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.to_owned(),
        };
        let idx = self.cfg.consumers.len();
        let (name, id) = (consumer.username.as_deref(), consumer.id.as_deref());
        self.consumers.register(
            "consumer",
            "username",
            name,
            id,
            idx,
            path,
            &mut self.problems,
        );
        if let Some(custom_id) = &consumer.custom_id {
            if let Some(other) = self.custom_ids.get(custom_id) {
                let msg =
                    format!("duplicate consumer custom_id '{custom_id}' (already used by {other})");
                self.problem(field_path(path, "custom_id"), msg);
            } else {
                self.custom_ids.insert(custom_id.clone(), path.to_owned());
            }
        }
        self.cfg.consumers.push(consumer);
        Owner::Consumer(idx)
    }

    /// Records `key` in a uniqueness map; false (and a problem) when it was already there.
    fn unique(
        &mut self,
        seen: fn(&mut Loader) -> &mut HashMap<String, String>,
        what: &str,
        key: &str,
        path: String,
    ) -> bool {
        if let Some(other) = seen(self).get(key) {
            let msg = format!("duplicate {what} '{key}' (already used by {other})");
            self.problem(path, msg);
            false
        } else {
            seen(self).insert(key.to_owned(), path);
            true
        }
    }

    fn load_keyauth(&mut self, path: String, value: Value, owner: Owner) {
        let Some(w) = self.deser::<wire::KeyAuthCredential>(value, &path) else {
            return;
        };
        let consumer = self.parent(&path, "consumer", owner, w.consumer.as_ref());
        let key = self.required_string(&path, "key", w.key);
        let credential = raw::KeyAuthCredential {
            id: self.id(&path, w.id),
            key,
            tags: self.tags(&path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        if !credential.key.is_empty()
            && !self.unique(
                |l| &mut l.keyauth_keys,
                "key-auth key",
                &credential.key,
                field_path(&path, "key"),
            )
        {
            return;
        }
        if let Some(c) = consumer.and_then(|idx| self.cfg.consumers.get_mut(idx)) {
            c.keyauth_credentials.push(credential);
        }
    }

    fn load_basicauth(&mut self, path: String, value: Value, owner: Owner) {
        let Some(w) = self.deser::<wire::BasicAuthCredential>(value, &path) else {
            return;
        };
        let consumer = self.parent(&path, "consumer", owner, w.consumer.as_ref());
        let username = self.required_string(&path, "username", w.username);
        let credential = raw::BasicAuthCredential {
            id: self.id(&path, w.id),
            username,
            password: self.required_string(&path, "password", w.password),
            tags: self.tags(&path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        if !credential.username.is_empty()
            && !self.unique(
                |l| &mut l.basicauth_usernames,
                "basic-auth username",
                &credential.username,
                field_path(&path, "username"),
            )
        {
            return;
        }
        if let Some(c) = consumer.and_then(|idx| self.cfg.consumers.get_mut(idx)) {
            c.basicauth_credentials.push(credential);
        }
    }

    fn load_acl(&mut self, path: String, value: Value, owner: Owner) {
        let Some(w) = self.deser::<wire::Acl>(value, &path) else {
            return;
        };
        let consumer = self.parent(&path, "consumer", owner, w.consumer.as_ref());
        let acl = raw::Acl {
            id: self.id(&path, w.id),
            group: self.required_string(&path, "group", w.group),
            tags: self.tags(&path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        let Some(idx) = consumer else { return };
        let key = (idx, acl.group.clone());
        if let Some(other) = self.acl_groups.get(&key) {
            let msg = format!(
                "duplicate acl group '{}' for the same consumer (already at {other})",
                acl.group
            );
            self.problem(field_path(&path, "group"), msg);
        } else if let Some(c) = self.cfg.consumers.get_mut(idx) {
            self.acl_groups.insert(key, path);
            c.acls.push(acl);
        }
    }

    // ----- plugins ----------------------------------------------------------------------------

    fn load_plugin(&mut self, pending: Pending) {
        let Pending { path, value, owner } = pending;
        let Some(w) = self.deser::<wire::Plugin>(value, &path) else {
            return;
        };
        let mut broken = matches!(owner, Owner::Broken(_));
        let mut scope = [None, None, None];
        let kinds = [
            ("service", &w.service),
            ("route", &w.route),
            ("consumer", &w.consumer),
        ];
        for (slot, (kind, fk)) in kinds.into_iter().enumerate() {
            let implied = match (owner, slot) {
                (Owner::Service(i), 0) | (Owner::Route(i), 1) | (Owner::Consumer(i), 2) => Some(i),
                _ => None,
            };
            let nested_here = implied.is_some() || owner == Owner::Broken(kind);
            let fk_path = field_path(&path, kind);
            match fk {
                Some(_) if nested_here => {
                    self.problem(
                        fk_path,
                        format!("cannot be set on a plugin nested under a {kind}"),
                    );
                    broken = true;
                }
                Some(fk) => {
                    let index = match slot {
                        0 => &self.services,
                        1 => &self.routes,
                        _ => &self.consumers,
                    };
                    match resolve(index, fk, kind, &fk_path, &mut self.problems) {
                        Ok(idx) => scope[slot] = Some(idx),
                        Err(()) => broken = true,
                    }
                }
                None => scope[slot] = implied,
            }
        }
        let name = self.required_string(&path, "name", w.name);
        let config = match w.config {
            None | Some(serde_json::Value::Null) => {
                serde_json::Value::Object(serde_json::Map::new())
            }
            Some(c @ serde_json::Value::Object(_)) => c,
            Some(_) => {
                self.problem(field_path(&path, "config"), "expected a mapping");
                serde_json::Value::Object(serde_json::Map::new())
            }
        };
        let protocols = match w.protocols {
            None => vec![
                raw::Protocol::Grpc,
                raw::Protocol::Grpcs,
                raw::Protocol::Http,
                raw::Protocol::Https,
            ],
            Some(list) if list.is_empty() => {
                self.problem(field_path(&path, "protocols"), "length must be at least 1");
                Vec::new()
            }
            Some(list) => list,
        };
        let [service, route, consumer] = scope;
        let plugin = raw::Plugin {
            id: self.id(&path, w.id),
            name,
            config,
            enabled: w.enabled.unwrap_or(true),
            protocols,
            tags: self.tags(&path, w.tags),
            service,
            route,
            consumer,
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        if !broken && !plugin.name.is_empty() {
            let key = (plugin.name.clone(), service, route, consumer);
            if let Some(other) = self.plugin_scopes.get(&key) {
                let msg = format!("duplicate plugin '{}' for the same service, route and consumer (already at {other})", plugin.name);
                self.problem(field_path(&path, "name"), msg);
                return;
            }
            self.plugin_scopes.insert(key, path);
        }
        self.cfg.plugins.push(plugin);
    }
}

// ----- free helpers ---------------------------------------------------------------------------

fn field_path(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else if field.is_empty() {
        path.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a sequence",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn expected(what: &str, got: &Value) -> String {
    format!("invalid type: {}, expected {what}", describe(got))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// The field named by serde's "unknown field `x`, expected ..." message.
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn unsupported_protocol(p: &str) -> String {
    format!("unsupported protocol '{p}' (Sluice supports http and https)")
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// RFC 7230 token (header names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A service host or host header: hostname, IPv4 or IPv6 (brackets optional, removed), no port.
fn normalize_host(h: &str) -> Result<String, String> {
    let inner = h
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(h);
    if inner.parse::<Ipv6Addr>().is_ok() {
        return Ok(inner.to_owned());
    }
    if h.contains(':') {
        return Err(format!("invalid host '{h}': must not contain a port"));
    }
    if is_hostname(h) {
        Ok(h.to_owned())
    } else {
        Err(format!(
            "invalid host '{h}': must be a valid hostname or ip address"
        ))
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address. IPv6 comes back unbracketed.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("unterminated '['")?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address '{v6}'"))?;
        match after {
            "" => (v6, None),
            _ => (
                v6,
                Some(after.strip_prefix(':').ok_or("expected ':' after ']'")?),
            ),
        }
    } else if s.matches(':').count() > 1 {
        s.parse::<Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address '{s}'"))?;
        (s, None)
    } else if let Some((h, p)) = s.split_once(':') {
        (h, Some(p))
    } else {
        (s, None)
    };
    if !host.contains(':') && !is_hostname(host) {
        return Err(format!("invalid hostname '{host}'"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("invalid port '{p}': must be between 1 and 65535")),
        },
    };
    Ok((host.to_owned(), port))
}

struct ParsedUrl {
    scheme: Scheme,
    host: String,
    port: u16,
    path: Option<String>,
}

/// The service `url` shorthand: `http(s)://host[:port][/path]`.
fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("invalid url '{url}': expected http://host[:port][/path] or https://...")
    })?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(unsupported_protocol(other)),
    };
    if rest.contains(['?', '#']) {
        return Err(format!(
            "invalid url '{url}': query strings and fragments are not allowed"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    if authority.contains('@') {
        return Err(format!("invalid url '{url}': credentials are not allowed"));
    }
    if authority.is_empty() {
        return Err(format!("invalid url '{url}': missing host"));
    }
    let (host, port) =
        split_host_port(authority).map_err(|m| format!("invalid url '{url}': {m}"))?;
    if let Some(p) = path {
        check_prefix_path(p).map_err(|m| format!("invalid url '{url}': {m}"))?;
    }
    Ok(ParsedUrl {
        scheme,
        host,
        port: port.unwrap_or(scheme.default_port()),
        path: path.map(str::to_owned),
    })
}

fn check_upstream_name(name: &str) -> Result<(), String> {
    let bare = name
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(name);
    if name.parse::<Ipv4Addr>().is_ok() || bare.parse::<Ipv6Addr>().is_ok() {
        return Err(format!("Invalid name ('{name}'); no ip addresses allowed"));
    }
    if name.contains(':') {
        return Err(format!("Invalid name ('{name}'); no port allowed"));
    }
    if !is_hostname(name) {
        return Err(format!("Invalid name ('{name}'); must be a valid hostname"));
    }
    Ok(())
}

/// Route hosts: optional single wildcard as leftmost or rightmost label, optional `:port`.
fn check_route_host(h: &str) -> Result<(), String> {
    let host = match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
            if port.parse::<u16>().is_err() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("invalid port number in host '{h}'"));
            }
            host
        }
        _ => h,
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    let host = match host.matches('*').count() {
        0 => host.to_owned(),
        1 if host.starts_with("*.") || host.ends_with(".*") => host.replace('*', "x"),
        1 => {
            return Err(format!(
                "invalid wildcard '{h}': must be placed at leftmost or rightmost label"
            ))
        }
        _ => {
            return Err(format!(
                "invalid wildcard '{h}': must have at most one wildcard"
            ))
        }
    };
    if is_hostname(&host) {
        Ok(())
    } else {
        Err(format!("invalid host '{h}'"))
    }
}

fn check_route_path(p: &str) -> Result<(), String> {
    if let Some(regex) = p.strip_prefix('~') {
        if regex.is_empty() {
            return Err("invalid regex path: empty regex after '~'".to_owned());
        }
        return Ok(());
    }
    if !p.starts_with('/') {
        return Err(format!(
            "invalid path '{p}': should start with: / (fixed path) or ~/ (regex path)"
        ));
    }
    check_prefix_path(p).map_err(|msg| {
        if msg.contains("RFC 3986") {
            format!("{msg} (regex paths must start with '~')")
        } else {
            msg
        }
    })
}

/// A plain path (route prefix, service path, health-check path): starts with `/`, RFC 3986
/// characters only, and already normalised.
fn check_prefix_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("invalid path '{p}': should start with: /"));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if !p.bytes().all(allowed) {
        return Err(format!(
            "invalid path '{p}': characters outside of the reserved list of RFC 3986 found"
        ));
    }
    let normalized =
        normalize_path(p).ok_or_else(|| format!("invalid path '{p}': invalid percent-encoding"))?;
    if normalized != p {
        return Err(format!(
            "non-normalized path '{p}', consider using '{normalized}' instead"
        ));
    }
    Ok(())
}

/// Kong's path normalisation: decode percent-encoded unreserved characters, upper-case the other
/// escapes, merge slashes, remove dot segments. `None` on a malformed escape.
fn normalize_path(p: &str) -> Option<String> {
    let bytes = p.as_bytes();
    let mut decoded = String::with_capacity(p.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = p.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                decoded.push(char::from(value));
            } else {
                decoded.push('%');
                decoded.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            decoded.push(char::from(bytes[i]));
            i += 1;
        }
    }
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    let mut trailing = false;
    for segment in &segments {
        trailing = false;
        match *segment {
            "" | "." => trailing = true,
            ".." => {
                out.pop();
                trailing = true;
            }
            s => out.push(s),
        }
    }
    let mut result = format!("/{}", out.join("/"));
    if trailing && !out.is_empty() {
        result.push('/');
    }
    Some(result)
}

/// Format 1.1/2.1 paths had no `~` marker: Kong treats a path with any character outside
/// `[a-zA-Z0-9.-_~/%]` as a regex (`kong/db/declarative/migrations/route_path.lua`).
fn migrate_legacy_path(p: &str) -> String {
    let plain = p
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-~/%".contains(&b));
    if !plain {
        format!("~{p}")
    } else if p.starts_with('/') {
        normalize_path(p).unwrap_or_else(|| p.to_owned())
    } else {
        p.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::raw::{Algorithm, HealthcheckType, Protocol};
    use super::*;

    fn v3(body: &str) -> String {
        format!("_format_version: \"3.0\"\n{body}")
    }

    fn ok(text: &str) -> DeclarativeConfig {
        match parse_config(text) {
            Ok(cfg) => cfg,
            Err(problems) => panic!("unexpected problems: {problems:#?}\nin:\n{text}"),
        }
    }

    fn problems(text: &str) -> Vec<ConfigProblem> {
        parse_config(text).expect_err("expected problems")
    }

    /// Asserts the exact set of problem paths, and that each message contains the given text.
    fn assert_problems(text: &str, expected: &[(&str, &str)]) {
        let got = problems(text);
        let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(
            got.len(),
            expected.len(),
            "problems: {shown:#?}\nin:\n{text}"
        );
        for (path, needle) in expected {
            assert!(
                got.iter()
                    .any(|p| p.path == *path && p.message.contains(needle)),
                "missing `{path}: ...{needle}...` in {shown:#?}\nin:\n{text}"
            );
        }
    }

    const FULL: &str = r#"
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
        assert!(
            r0.strip_path && !r0.preserve_host && r0.request_buffering && r0.response_buffering
        );
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
    const DECK_DUMP: &str = r#"
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
    fn errors_have_paths() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("services:\n- {host: a, stip_path: true}\n", &[("services[0].stip_path", "unknown field `stip_path`")]),
            ("services:\n- {host: a, routes: [{paths: [/], stip_path: true}]}\n", &[("services[0].routes[0].stip_path", "unknown field `stip_path`, expected one of")]),
            ("services:\n- {host: a, tls_verify: true}\n", &[("services[0].tls_verify", "unknown field")]),
            ("services:\n- {name: a}\n", &[("services[0].host", "required field missing")]),
            ("services:\n- {host: a, protocol: grpc}\n", &[("services[0].protocol", "unsupported protocol 'grpc'")]),
            ("services:\n- {host: a, protocol: gopher}\n", &[("services[0].protocol", "unknown variant `gopher`")]),
            ("services:\n- {host: a, port: 70000}\n", &[("services[0].port", "between 1 and 65535")]),
            ("services:\n- {host: a, port: '80'}\n", &[("services[0].port", "invalid type")]),
            ("services:\n- {host: a, path: foo}\n", &[("services[0].path", "should start with: /")]),
            ("services:\n- {host: a, retries: -1}\n", &[("services[0].retries", "between 0 and 32767")]),
            ("services:\n- {host: a, read_timeout: 0}\n", &[("services[0].read_timeout", "between 1 and 2147483646")]),
            ("services:\n- {host: a, connect_timeout: 2147483647}\n", &[("services[0].connect_timeout", "between 1 and 2147483646")]),
            ("services:\n- {host: 'a:80'}\n", &[("services[0].host", "must not contain a port")]),
            ("services:\n- {host: a, id: nope}\n", &[("services[0].id", "valid UUID")]),
            ("services:\n- {host: a, name: 'my service'}\n", &[("services[0].name", "alphanumerics")]),
            ("services:\n- {host: a, tags: ['a,b']}\n", &[("services[0].tags[0]", "invalid tag")]),
            ("services: {a: 1}\n", &[("services", "expected a sequence")]),
            ("services:\n- 42\n", &[("services[0]", "invalid type")]),
            ("routes:\n- {name: r}\n", &[("routes[0]", "must set one of 'methods', 'hosts', 'headers', 'paths'")]),
            ("routes:\n- {paths: [], hosts: []}\n", &[("routes[0]", "must set one of")]),
            ("routes:\n- {paths: [/a, foo]}\n", &[("routes[0].paths[1]", "should start with: / (fixed path) or ~/ (regex path)")]),
            ("routes:\n- {paths: [/a/../b]}\n", &[("routes[0].paths[0]", "consider using '/b'")]),
            ("routes:\n- {paths: ['/%7Efoo']}\n", &[("routes[0].paths[0]", "consider using '/~foo'")]),
            ("routes:\n- {paths: ['/a b']}\n", &[("routes[0].paths[0]", "RFC 3986")]),
            ("routes:\n- {paths: ['/users/\\d+']}\n", &[("routes[0].paths[0]", "regex paths must start with '~'")]),
            ("routes:\n- {paths: ['~']}\n", &[("routes[0].paths[0]", "empty regex")]),
            ("routes:\n- {headers: {Host: [a]}}\n", &[("routes[0].headers.Host", "cannot contain 'host' header")]),
            ("routes:\n- {headers: {x-a: []}}\n", &[("routes[0].headers.x-a", "length must be at least 1")]),
            ("routes:\n- {headers: {'x a': [b]}}\n", &[("routes[0].headers.x a", "invalid header name")]),
            ("routes:\n- {paths: [/], snis: [a.com]}\n", &[("routes[0].snis", "not supported")]),
            ("routes:\n- {paths: [/], sources: [{ip: 1.2.3.4}], destinations: [{port: 80}]}\n", &[("routes[0].sources", "not supported"), ("routes[0].destinations", "not supported")]),
            ("routes:\n- {paths: [/], snis: []}\n", &[]),
            ("routes:\n- {paths: [/], path_handling: v1}\n", &[("routes[0].path_handling", "'v1' is not supported")]),
            ("routes:\n- {paths: [/], protocols: [http, grpc]}\n", &[("routes[0].protocols[1]", "unsupported protocol 'grpc'")]),
            ("routes:\n- {paths: [/], protocols: []}\n", &[("routes[0].protocols", "length must be at least 1")]),
            ("routes:\n- {paths: [/], https_redirect_status_code: 303}\n", &[("routes[0].https_redirect_status_code", "expected one of")]),
            ("routes:\n- {methods: [get]}\n", &[("routes[0].methods[0]", "uppercase")]),
            ("routes:\n- {hosts: ['*.a.*']}\n", &[("routes[0].hosts[0]", "at most one wildcard")]),
            ("routes:\n- {hosts: ['a.*.com']}\n", &[("routes[0].hosts[0]", "leftmost or rightmost")]),
            ("routes:\n- {hosts: ['a.com:99999']}\n", &[("routes[0].hosts[0]", "invalid port")]),
            ("routes:\n- {paths: [/], service: nope}\n", &[("routes[0].service", "unknown service 'nope'")]),
            ("services:\n- {name: s, host: a, routes: [{paths: [/], service: s}]}\n", &[("services[0].routes[0].service", "nested under a service")]),
            ("upstreams:\n- {algorithm: latency}\n", &[("upstreams[0].name", "required field missing"), ("upstreams[0].algorithm", "'latency' is not supported")]),
            ("upstreams:\n- {name: 10.0.0.1}\n", &[("upstreams[0].name", "no ip addresses allowed")]),
            ("upstreams:\n- {name: 'up:80'}\n", &[("upstreams[0].name", "no port allowed")]),
            ("upstreams:\n- {name: u, slots: 5}\n", &[("upstreams[0].slots", "between 10 and 65536")]),
            ("upstreams:\n- {name: u, use_srv_name: true}\n", &[("upstreams[0].use_srv_name", "not supported")]),
            ("upstreams:\n- {name: u, healthchecks: {active: {type: grpc, timeout: -1}}}\n", &[("upstreams[0].healthchecks.active.type", "not supported"), ("upstreams[0].healthchecks.active.timeout", "between 0 and 65535")]),
            ("upstreams:\n- {name: u, healthchecks: {active: {healthy: {http_statuses: [200, 1000]}}}}\n", &[("upstreams[0].healthchecks.active.healthy.http_statuses[1]", "between 100 and 999")]),
            ("upstreams:\n- {name: u, healthchecks: {passive: {unhealthy: {timeouts: 256}}, threshold: 101}}\n", &[("upstreams[0].healthchecks.passive.unhealthy.timeouts", "between 0 and 255"), ("upstreams[0].healthchecks.threshold", "between 0 and 100")]),
            ("upstreams:\n- {name: u, healthchecks: {active: {healthy: {intervall: 5}}}}\n", &[("upstreams[0].healthchecks.active.healthy.intervall", "unknown field")]),
            ("upstreams:\n- {name: u, targets: [{target: a, weight: 65536}]}\n", &[("upstreams[0].targets[0].weight", "between 0 and 65535")]),
            ("upstreams:\n- {name: u, targets: [{weight: 5}]}\n", &[("upstreams[0].targets[0].target", "required field missing")]),
            ("consumers:\n- {tags: [a]}\n", &[("consumers[0]", "at least one of these fields must be non-empty")]),
            ("consumers:\n- {username: ''}\n", &[("consumers[0].username", "length must be at least 1")]),
            ("consumers:\n- {username: a, keyauth_credentials: [{}]}\n", &[("consumers[0].keyauth_credentials[0].key", "required field missing")]),
            ("consumers:\n- {username: a, basicauth_credentials: [{username: a}]}\n", &[("consumers[0].basicauth_credentials[0].password", "required field missing")]),
            ("consumers:\n- {username: a, acls: [{group: g, grp: h}]}\n", &[("consumers[0].acls[0].grp", "unknown field")]),
            ("consumers:\n- {username: a, jwt_secrets: [{key: k}]}\n", &[("consumers[0].jwt_secrets", "not supported")]),
            ("consumers:\n- {username: a, acls: [{group: g}, {group: g}]}\n", &[("consumers[0].acls[1].group", "duplicate acl group 'g'")]),
            ("keyauth_credentials:\n- {key: k}\n", &[("keyauth_credentials[0].consumer", "required field missing")]),
            ("keyauth_credentials:\n- {key: k, consumer: bob}\n", &[("keyauth_credentials[0].consumer", "unknown consumer 'bob'")]),
            ("targets:\n- {target: a, upstream: nope}\n", &[("targets[0].upstream", "unknown upstream 'nope'")]),
            ("plugins:\n- {config: {}}\n", &[("plugins[0].name", "required field missing")]),
            ("plugins:\n- {name: cors, config: [1]}\n", &[("plugins[0].config", "expected a mapping")]),
            ("plugins:\n- {name: cors, protocols: [http, ftp]}\n", &[("plugins[0].protocols[1]", "unknown variant `ftp`")]),
            ("plugins:\n- {name: cors, service: s, route: r, consumer: c}\n", &[("plugins[0].service", "unknown service 's'"), ("plugins[0].route", "unknown route 'r'"), ("plugins[0].consumer", "unknown consumer 'c'")]),
            ("services:\n- {name: s, host: a, plugins: [{name: cors, service: s}]}\n", &[("services[0].plugins[0].service", "nested under a service")]),
            ("certificates:\n- {cert: x, key: y}\n", &[("certificates", "not supported")]),
            ("certificates: []\n", &[]),
            ("_transform: yes\n", &[("_transform", "expected a boolean")]),
        ];
        for (body, expected) in cases {
            let text = v3(body);
            if expected.is_empty() {
                ok(&text);
            } else {
                assert_problems(&text, expected);
            }
        }
    }

    #[test]
    fn every_independent_error_is_reported() {
        let text = v3(r#"
services:
- name: a
  host: a.internal
  stip_path: true
  routes:
  - paths: [no-slash]
- name: b
  host: b.internal
  routes:
  - {paths: [/ok], regex_priority: high}
routes:
- {paths: [/x], service: a}
plugins:
- {name: key-auth, service: a}
"#);
        // services[0] is broken (unknown field): its route is still checked, but references to
        // it (routes[0], plugins[0]) are not reported a second time.
        assert_problems(
            &text,
            &[
                ("services[0].stip_path", "unknown field"),
                ("services[0].routes[0].paths[0]", "should start with"),
                ("services[1].routes[0].regex_priority", "invalid type"),
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
    fn document_level_problems() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "_format_version: \"3.0\"\nservice: []\n",
                &[("service", "unknown field `service`, expected one of")],
            ),
            (
                "_format_version: \"4.0\"\n",
                &[(
                    "_format_version",
                    "unsupported value '4.0', expected one of: 1.1, 2.1, 3.0",
                )],
            ),
            (
                "_format_version: \"3\"\n",
                &[("_format_version", "unsupported value '3'")],
            ),
            (
                "services: []\n",
                &[("_format_version", "required field missing")],
            ),
            ("", &[("", "empty document")]),
            ("- a\n", &[("", "expected a mapping at the top level")]),
            (
                "_format_version: \"3.0\"\nservices: [\n",
                &[("", "invalid YAML")],
            ),
            (
                "_format_version: \"3.0\"\n_format_version: \"3.0\"\n",
                &[("", "duplicate")],
            ),
        ];
        for (text, expected) in cases {
            assert_problems(text, expected);
        }
        for version in ["\"1.1\"", "\"2.1\"", "3.0", "'3.0'"] {
            ok(&format!(
                "_format_version: {version}\n_comment: hi\n_workspace: default\n"
            ));
        }
        let p = ConfigProblem::new("services[0].host", "required field missing");
        assert_eq!(p.to_string(), "services[0].host: required field missing");
        assert_eq!(
            ConfigProblem::new("", "invalid YAML").to_string(),
            "invalid YAML"
        );
    }

    #[test]
    fn duplicates() {
        let id = "11111111-2222-3333-4444-555555555555";
        let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                "services:\n- {name: a, host: x}\n- {name: a, host: y}\n".into(),
                vec![("services[1].name", "duplicate service name 'a' (already used by services[0])")],
            ),
            (
                format!("services:\n- {{id: {id}, host: x}}\n- {{id: {id}, host: y}}\n"),
                vec![("services[1].id", "duplicate service id")],
            ),
            (
                "services:\n- {host: x, routes: [{name: r, paths: [/]}]}\nroutes:\n- {name: r, paths: [/b]}\n".into(),
                vec![("routes[0].name", "duplicate route name 'r' (already used by services[0].routes[0])")],
            ),
            (
                "upstreams:\n- {name: u}\n- {name: u}\n".into(),
                vec![("upstreams[1].name", "duplicate upstream name")],
            ),
            (
                "consumers:\n- {username: a, custom_id: c}\n- {username: a, custom_id: c}\n".into(),
                vec![("consumers[1].username", "duplicate consumer username"), ("consumers[1].custom_id", "duplicate consumer custom_id")],
            ),
            (
                "consumers:\n- {username: a, keyauth_credentials: [{key: k}]}\n- {username: b, keyauth_credentials: [{key: k}]}\n".into(),
                vec![("consumers[1].keyauth_credentials[0].key", "duplicate key-auth key 'k'")],
            ),
            (
                "consumers:\n- {username: a, basicauth_credentials: [{username: u, password: p}]}\nbasicauth_credentials:\n- {consumer: a, username: u, password: q}\n".into(),
                vec![("basicauth_credentials[0].username", "duplicate basic-auth username 'u'")],
            ),
            (
                "upstreams:\n- {name: u, targets: [{target: 'a:8000'}, {target: a}]}\n".into(),
                vec![("upstreams[0].targets[1].target", "duplicate target 'a:8000'")],
            ),
            (
                "services:\n- {name: s, host: x, plugins: [{name: cors}]}\nplugins:\n- {name: cors, service: s}\n- {name: cors}\n- {name: cors}\n".into(),
                vec![
                    ("plugins[0].name", "duplicate plugin 'cors' for the same service, route and consumer (already at services[0].plugins[0])"),
                    ("plugins[2].name", "duplicate plugin 'cors'"),
                ],
            ),
        ];
        for (body, expected) in &cases {
            assert_problems(&v3(body), expected);
        }
        // Same plugin on different scopes is fine; same target on different upstreams too.
        ok(&v3("services:\n- {name: s, host: x}\nconsumers:\n- {username: c}\nplugins:\n- {name: cors}\n- {name: cors, service: s}\n- {name: cors, consumer: c}\n- {name: cors, service: s, consumer: c}\nupstreams:\n- {name: u1, targets: [{target: a}]}\n- {name: u2, targets: [{target: a}]}\n"));
    }

    #[test]
    fn hash_on_rules() {
        type Expected = Result<(HashInput, HashInput), &'static [(&'static str, &'static str)]>;
        let cases: &[(&str, Expected)] = &[
            ("{}", Ok((HashInput::None, HashInput::None))),
            ("{hash_on: consumer, hash_fallback: ip}", Ok((HashInput::Consumer, HashInput::Ip))),
            ("{hash_on: ip, hash_fallback: consumer}", Ok((HashInput::Ip, HashInput::Consumer))),
            ("{hash_on: path, hash_fallback: query_arg, hash_fallback_query_arg: q}", Ok((HashInput::Path, HashInput::QueryArg("q".into())))),
            ("{hash_on: uri_capture, hash_on_uri_capture: id}", Ok((HashInput::UriCapture("id".into()), HashInput::None))),
            (
                "{hash_on: header, hash_on_header: X-A, hash_fallback: header, hash_fallback_header: X-B}",
                Ok((HashInput::Header("X-A".into()), HashInput::Header("X-B".into()))),
            ),
            (
                "{hash_on: cookie, hash_on_cookie: sid}",
                Ok((HashInput::Cookie { name: "sid".into(), path: "/".into() }, HashInput::None)),
            ),
            (
                "{hash_on: ip, hash_fallback: cookie, hash_on_cookie: sid, hash_on_cookie_path: /app}",
                Ok((HashInput::Ip, HashInput::Cookie { name: "sid".into(), path: "/app".into() })),
            ),
            ("{hash_on: header}", Err(&[("upstreams[0].hash_on_header", "required field missing")])),
            ("{hash_on: ip, hash_fallback: header}", Err(&[("upstreams[0].hash_fallback_header", "required field missing")])),
            ("{hash_on: cookie}", Err(&[("upstreams[0].hash_on_cookie", "required field missing")])),
            ("{hash_on: query_arg}", Err(&[("upstreams[0].hash_on_query_arg", "required field missing")])),
            ("{hash_on: ip, hash_fallback: uri_capture}", Err(&[("upstreams[0].hash_fallback_uri_capture", "required field missing")])),
            ("{hash_fallback: ip}", Err(&[("upstreams[0].hash_fallback", "must be 'none' when 'hash_on' is 'none'")])),
            ("{hash_on: cookie, hash_on_cookie: c, hash_fallback: ip}", Err(&[("upstreams[0].hash_fallback", "must be 'none' when 'hash_on' is 'cookie'")])),
            ("{hash_on: ip, hash_fallback: ip}", Err(&[("upstreams[0].hash_fallback", "must differ from 'hash_on'")])),
            ("{hash_on: consumer, hash_fallback: consumer}", Err(&[("upstreams[0].hash_fallback", "must differ")])),
            (
                "{hash_on: header, hash_on_header: x-a, hash_fallback: header, hash_fallback_header: X-A}",
                Err(&[("upstreams[0].hash_fallback_header", "must differ from 'hash_on_header'")]),
            ),
            (
                "{hash_on: query_arg, hash_on_query_arg: q, hash_fallback: query_arg, hash_fallback_query_arg: q}",
                Err(&[("upstreams[0].hash_fallback_query_arg", "must differ")]),
            ),
            ("{hash_on: header, hash_on_header: 'bad header'}", Err(&[("upstreams[0].hash_on_header", "invalid header name")])),
            ("{hash_on: cookie, hash_on_cookie: c, hash_on_cookie_path: nope}", Err(&[("upstreams[0].hash_on_cookie_path", "should start with")])),
            ("{hash_on: body}", Err(&[("upstreams[0].hash_on", "unknown variant `body`")])),
        ];
        for (fields, expected) in cases {
            let text = v3(&format!("upstreams:\n- {{name: u, {}\n", &fields[1..]));
            match expected {
                Ok((on, fallback)) => {
                    let cfg = ok(&text);
                    assert_eq!(
                        (&cfg.upstreams[0].hash_on, &cfg.upstreams[0].hash_fallback),
                        (on, fallback),
                        "{fields}"
                    );
                }
                Err(problems) => assert_problems(&text, problems),
            }
        }
    }

    #[test]
    fn target_addresses() {
        let good: &[(&str, &str, &str, u16)] = &[
            ("a.internal", "a.internal:8000", "a.internal", 8000),
            ("a.internal:1", "a.internal:1", "a.internal", 1),
            ("10.0.0.1:65535", "10.0.0.1:65535", "10.0.0.1", 65535),
            ("'[::1]'", "[::1]:8000", "::1", 8000),
            ("'::1'", "[::1]:8000", "::1", 8000),
            ("'[fe80::1]:81'", "[fe80::1]:81", "fe80::1", 81),
        ];
        for (target, normalised, host, port) in good {
            let cfg = ok(&v3(&format!(
                "upstreams:\n- {{name: u, targets: [{{target: {target}}}]}}\n"
            )));
            let t = &cfg.upstreams[0].targets[0];
            assert_eq!(
                (t.target.as_str(), t.host.as_str(), t.port),
                (*normalised, *host, *port),
                "{target}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("'a:0'", "invalid port '0'"),
            ("'a:65536'", "invalid port '65536'"),
            ("'a:-1'", "invalid port '-1'"),
            ("'a:'", "invalid port ''"),
            ("'a:http'", "invalid port 'http'"),
            ("'[::1]:99999'", "invalid port '99999'"),
            ("'[::1'", "unterminated"),
            ("'[nope]:80'", "invalid IPv6"),
            ("'a b:80'", "invalid hostname"),
            ("''", "length must be at least 1"),
        ];
        for (target, needle) in bad {
            let text = v3(&format!(
                "upstreams:\n- {{name: u, targets: [{{target: {target}}}]}}\n"
            ));
            assert_problems(&text, &[("upstreams[0].targets[0].target", needle)]);
        }
        // Top-level targets attach to their upstream.
        let cfg = ok(&v3("upstreams:\n- {name: u}\ntargets:\n- {target: b, upstream: u}\n- {target: c, upstream: {name: u}}\n"));
        assert_eq!(cfg.upstreams[0].targets.len(), 2);
        assert_eq!(cfg.upstreams[0].targets[1].source_path, "targets[1]");
    }

    #[test]
    fn legacy_format_migrates_regex_paths() {
        let text = "_format_version: \"2.1\"\nroutes:\n- paths: [/plain, /users/\\d+, '/a/./b', ~/already]\n";
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
        let cfg = ok(&v3("services:\n- &base\n  name: a\n  host: a.internal\n  retries: 1\n- <<: *base\n  name: b\n"));
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
}
