//! The document walk: the top-level mapping and its sections, the elements of every list with
//! their paths (nested lists taken out of their parent first), and deserialising one entity into
//! its wire struct with the path of the field that failed. `Loader::load` fixes the order in
//! which entity kinds are loaded, so that everything a reference may name is known before it.
//!
//! Two documents are walked: a YAML tree (files, `parse_document`) and the Admin API's
//! [`Document`], whose entities are read in place as the YAML tree `export::declarative` would
//! make of them (`Loader::load_document`, [`Item::Json`]).

use super::json::Node;
use super::references::{Owner, Pending};
use super::services::ROUTE_NESTED;
use super::Loader;
use crate::config::document::{Document, Entity, Kind};
use crate::config::export;
use crate::config::raw::FormatVersion;
use serde::de::DeserializeOwned;
use serde::Deserializer;
use serde_path_to_error::Segment;
use serde_yaml::Value;
use std::collections::HashMap;

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

/// One element of a list: an entity, or what stands where one should be.
pub(super) enum Item<'a> {
    Yaml(Value),
    /// An entity of the Admin API's document, read in place. Never holds one of its kind's
    /// nested-list keys (see [`Item::entity`]), so taking nested lists out of it finds none.
    Json(&'a Entity),
}

impl<'a> Item<'a> {
    /// An Admin API entity. One that holds a nested list (a service body with `routes`, say) is
    /// converted to YAML as `export::declarative` would: taking the list out of a YAML mapping
    /// reorders its keys, which the in-place reader does not mimic. Rare (Kong's API has no
    /// nested bodies), so the conversion costs nothing in practice.
    fn entity(entity: &'a Entity, nested: &[&str]) -> Item<'a> {
        if nested.iter().any(|key| entity.contains_key(*key)) {
            Item::Yaml(export::entity_yaml(entity))
        } else {
            Item::Json(entity)
        }
    }

    /// A string field of a mapping.
    pub(super) fn str_field(&self, key: &str) -> Option<&str> {
        match self {
            Item::Yaml(value) => value.get(key).and_then(Value::as_str),
            Item::Json(entity) => entity.get(key).and_then(serde_json::Value::as_str),
        }
    }
}

/// A top-level list: a YAML node, or a kind's list of the Admin API's document.
pub(super) enum Section<'a> {
    Yaml(Value),
    Json(&'a [Entity]),
}

/// The top-level lists, in the order they are loaded.
struct Sections<'a> {
    services: Section<'a>,
    upstreams: Section<'a>,
    consumers: Section<'a>,
    targets: Section<'a>,
    keyauth: Section<'a>,
    basicauth: Section<'a>,
    acls: Section<'a>,
    routes: Section<'a>,
    plugins: Section<'a>,
}

impl<'a> Loader<'a> {
    pub(super) fn load(&mut self, doc: Value) {
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
        let mut take = |k: &str| Section::Yaml(sections.remove(k).unwrap_or(Value::Null));
        self.load_sections(Sections {
            services: take("services"),
            upstreams: take("upstreams"),
            consumers: take("consumers"),
            targets: take("targets"),
            keyauth: take("keyauth_credentials"),
            basicauth: take("basicauth_credentials"),
            acls: take("acls"),
            routes: take("routes"),
            plugins: take("plugins"),
        });
    }

    /// The Admin API's document, read as [`Loader::load`] reads `export::declarative(doc)`:
    /// that YAML tree has `_format_version: "3.0"`, `_transform: false` only when false,
    /// `_comment` and `_workspace` when set, and one list per non-empty kind.
    pub(super) fn load_document(&mut self, doc: &'a Document) {
        self.cfg.format_version = FormatVersion::V3_0;
        if !doc.transform {
            self.cfg.transform = false;
        }
        if let Some(comment) = &doc.comment {
            self.cfg.comment = Some(comment.clone());
        }
        if let Some(workspace) = &doc.workspace {
            self.cfg.workspace = Some(workspace.clone());
        }
        let list = |kind| Section::Json(doc.list(kind));
        self.load_sections(Sections {
            services: list(Kind::Service),
            upstreams: list(Kind::Upstream),
            consumers: list(Kind::Consumer),
            targets: list(Kind::Target),
            keyauth: list(Kind::KeyAuth),
            basicauth: list(Kind::BasicAuth),
            acls: list(Kind::Acl),
            routes: list(Kind::Route),
            plugins: list(Kind::Plugin),
        });
    }

    /// Loads the lists in dependency order: what a reference may name comes first.
    fn load_sections(&mut self, sections: Sections<'a>) {
        let Sections {
            services,
            upstreams,
            consumers,
            targets,
            keyauth,
            basicauth,
            acls,
            routes,
            plugins,
        } = sections;
        self.load_services(services);
        self.load_upstreams(upstreams);
        self.load_consumers(consumers);
        for (path, value) in self.section_items(targets, "targets", &[]) {
            self.load_target(path, value, Owner::TopLevel);
        }
        for (path, value) in self.section_items(keyauth, "keyauth_credentials", &[]) {
            self.load_keyauth(path, value, Owner::TopLevel);
        }
        for (path, value) in self.section_items(basicauth, "basicauth_credentials", &[]) {
            self.load_basicauth(path, value, Owner::TopLevel);
        }
        for (path, value) in self.section_items(acls, "acls", &[]) {
            self.load_acl(path, value, Owner::TopLevel);
        }
        for (path, value) in self.section_items(routes, "routes", ROUTE_NESTED) {
            self.routes_pending.push(Pending {
                path,
                value,
                owner: Owner::TopLevel,
            });
        }
        for pending in std::mem::take(&mut self.routes_pending) {
            self.load_route(pending);
        }
        let top_plugins = self.section_items(plugins, "plugins", &[]);
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
    pub(super) fn items(&mut self, value: Value, path: &str) -> Vec<(String, Value)> {
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

    /// The elements of a top-level list, each with its path. `nested`: the nested-list keys of
    /// the list's kind.
    pub(super) fn section_items(
        &mut self,
        section: Section<'a>,
        path: &str,
        nested: &[&str],
    ) -> Vec<(String, Item<'a>)> {
        match section {
            Section::Yaml(value) => self
                .items(value, path)
                .into_iter()
                .map(|(path, value)| (path, Item::Yaml(value)))
                .collect(),
            Section::Json(list) => list
                .iter()
                .enumerate()
                .map(|(i, entity)| (format!("{path}[{i}]"), Item::entity(entity, nested)))
                .collect(),
        }
    }

    /// Takes a nested list out of an entity's map and returns its elements with their paths.
    pub(super) fn take_items(
        &mut self,
        entity: &mut Item<'a>,
        key: &str,
        path: &str,
    ) -> Vec<(String, Item<'a>)> {
        let nested = match entity {
            Item::Yaml(Value::Mapping(map)) => map.remove(key).unwrap_or(Value::Null),
            // `Item::entity` left no nested lists in a JSON entity.
            Item::Yaml(_) | Item::Json(_) => Value::Null,
        };
        self.items(nested, &field_path(path, key))
            .into_iter()
            .map(|(path, value)| (path, Item::Yaml(value)))
            .collect()
    }

    /// Deserializes one entity, or records the problem with the path of the field that failed.
    ///
    /// Entities are read by reference (serde_yaml's `&Value` deserializer behaves as the owned
    /// one; it copies strings instead of moving them), so that a failed entity is still there to
    /// be marked broken and read again: without a deep copy of every entity. Most entities are
    /// valid, so the first read does not track the path; only a failed entity is read a second
    /// time with `serde_path_to_error` (the same input fails the same way) to find where.
    pub(super) fn deser<T: DeserializeOwned>(&mut self, item: &Item<'_>, path: &str) -> Option<T> {
        match item {
            Item::Yaml(value) => self.deser_from(value, path),
            Item::Json(entity) => self.deser_from(Node::Object(entity), path),
        }
    }

    fn deser_from<'de, T, D>(&mut self, value: D, path: &str) -> Option<T>
    where
        T: DeserializeOwned,
        D: Deserializer<'de, Error = serde_yaml::Error> + Copy,
    {
        if let Ok(t) = T::deserialize(value) {
            return Some(t);
        }
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
}

// ----- free helpers ---------------------------------------------------------------------------

pub(super) fn field_path(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else if field.is_empty() {
        path.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

pub(super) fn describe(v: &Value) -> &'static str {
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

pub(super) fn expected(what: &str, got: &Value) -> String {
    format!("invalid type: {}, expected {what}", describe(got))
}

pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// The field named by serde's "unknown field `x`, expected ..." message.
pub(super) fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}
