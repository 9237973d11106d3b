//! The configuration as the Admin API sees it: one flat list of entities per kind, each entity a
//! JSON object in Kong's Admin API shape, foreign keys written `{"id": "..."}`.
//!
//! Entity changes (insert, upsert, patch, delete) are made here, on a copy of the running
//! config's document; the store then turns the document back into a declarative config (the
//! flat 3.0 format: top-level `routes` with `service`, top-level `targets` with `upstream`, ...),
//! validates it with the same loader as a file and compiles it. What this module checks itself
//! is what Kong's DAO checks before the schema: primary keys, unique keys (409), foreign keys,
//! and what a delete may cascade to or must refuse.

use serde_json::{Map, Value};

use super::identity::{is_uuid, random_uuid};

pub type Entity = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Service,
    Route,
    Upstream,
    Target,
    Consumer,
    KeyAuth,
    BasicAuth,
    Acl,
    Plugin,
}

/// Every kind, in the order the declarative document lists them (referenced kinds first).
pub const KINDS: [Kind; 9] = [
    Kind::Service,
    Kind::Route,
    Kind::Upstream,
    Kind::Target,
    Kind::Consumer,
    Kind::KeyAuth,
    Kind::BasicAuth,
    Kind::Acl,
    Kind::Plugin,
];

impl Kind {
    fn slot(self) -> usize {
        match self {
            Kind::Service => 0,
            Kind::Route => 1,
            Kind::Upstream => 2,
            Kind::Target => 3,
            Kind::Consumer => 4,
            Kind::KeyAuth => 5,
            Kind::BasicAuth => 6,
            Kind::Acl => 7,
            Kind::Plugin => 8,
        }
    }

    /// The top-level key of this kind in the declarative format.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::Route => "routes",
            Kind::Upstream => "upstreams",
            Kind::Target => "targets",
            Kind::Consumer => "consumers",
            Kind::KeyAuth => "keyauth_credentials",
            Kind::BasicAuth => "basicauth_credentials",
            Kind::Acl => "acls",
            Kind::Plugin => "plugins",
        }
    }

    /// Kong's table name, used in error messages.
    pub fn table(self) -> &'static str {
        match self {
            Kind::KeyAuth => "keyauth_credentials",
            Kind::BasicAuth => "basicauth_credentials",
            other => other.collection(),
        }
    }

    /// The field that names an entity in URLs besides its id (Kong's `endpoint_key`).
    pub fn endpoint_key(self) -> Option<&'static str> {
        match self {
            Kind::Service | Kind::Route | Kind::Upstream => Some("name"),
            Kind::Target => Some("target"),
            Kind::Consumer | Kind::BasicAuth => Some("username"),
            Kind::KeyAuth => Some("key"),
            Kind::Acl => Some("group"),
            Kind::Plugin => None,
        }
    }

    /// Sets of fields whose values must be unique among entities of this kind.
    fn unique(self) -> &'static [&'static [&'static str]] {
        match self {
            Kind::Service | Kind::Route | Kind::Upstream => &[&["name"]],
            Kind::Target => &[&["upstream", "target"]],
            Kind::Consumer => &[&["username"], &["custom_id"]],
            Kind::KeyAuth => &[&["key"]],
            Kind::BasicAuth => &[&["username"]],
            Kind::Acl => &[&["consumer", "group"]],
            Kind::Plugin => &[&["name", "service", "route", "consumer"]],
        }
    }

    /// Foreign key fields and the kind each one references.
    pub fn foreign_keys(self) -> &'static [(&'static str, Kind)] {
        match self {
            Kind::Route => &[("service", Kind::Service)],
            Kind::Target => &[("upstream", Kind::Upstream)],
            Kind::KeyAuth | Kind::BasicAuth | Kind::Acl => &[("consumer", Kind::Consumer)],
            Kind::Plugin => &[
                ("service", Kind::Service),
                ("route", Kind::Route),
                ("consumer", Kind::Consumer),
            ],
            _ => &[],
        }
    }

    /// Fields that hold records: a PATCH merges into them instead of replacing them.
    fn merged_records(self) -> &'static [&'static str] {
        match self {
            Kind::Plugin => &["config"],
            Kind::Upstream => &["healthchecks"],
            _ => &[],
        }
    }
}

/// Why an entity change was refused before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityError {
    /// 404.
    NotFound,
    /// 400 "primary key violation": the id is taken.
    PrimaryKey { kind: Kind, id: String },
    /// 409 "unique constraint violation".
    Unique { kind: Kind, fields: Entity },
    /// 400 "foreign key violation": a reference names nothing.
    ForeignKey {
        field: &'static str,
        kind: Kind,
        value: Value,
    },
    /// 400 "foreign key violation": a delete that other entities still reference.
    ReferencedBy { kind: Kind, by: Kind },
    /// 400 "schema violation" found before the loader runs (e.g. a body that is not an object).
    Schema { field: String, message: String },
}

/// The whole configuration as entity lists, plus the document-level settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub transform: bool,
    pub comment: Option<String>,
    pub workspace: Option<String>,
    lists: [Vec<Entity>; 9],
}

/// The id of an entity, when it has a string one.
pub fn entity_id(entity: &Entity) -> Option<&str> {
    entity.get("id").and_then(Value::as_str)
}

/// The id a foreign key field points at (`{"id": x}`), when it is in that form.
pub fn fk_id<'a>(entity: &'a Entity, field: &str) -> Option<&'a str> {
    entity.get(field)?.get("id")?.as_str()
}

/// A target written `host` (no port) means `host:8000`, as in the loader.
fn normalize_target(target: &str) -> String {
    let has_port = match target.strip_prefix('[') {
        Some(rest) => rest
            .split_once(']')
            .is_some_and(|(_, after)| after.starts_with(':')),
        None => target.contains(':'),
    };
    if has_port {
        target.to_owned()
    } else {
        format!("{target}:8000")
    }
}

fn key_matches(kind: Kind, entity: &Entity, field: &str, key: &str) -> bool {
    match entity.get(field).and_then(Value::as_str) {
        Some(value) if kind == Kind::Target => {
            value == key || normalize_target(value) == normalize_target(key)
        }
        Some(value) => value == key,
        None => false,
    }
}

impl Document {
    pub fn new(transform: bool, comment: Option<String>, workspace: Option<String>) -> Self {
        Document {
            transform,
            comment,
            workspace,
            lists: Default::default(),
        }
    }

    pub fn list(&self, kind: Kind) -> &[Entity] {
        &self.lists[kind.slot()]
    }

    pub fn list_mut(&mut self, kind: Kind) -> &mut Vec<Entity> {
        &mut self.lists[kind.slot()]
    }

    pub fn get(&self, kind: Kind, index: usize) -> Option<&Entity> {
        self.list(kind).get(index)
    }

    pub fn len(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finds an entity by id (when `key` is a UUID) or by its endpoint key.
    pub fn find(&self, kind: Kind, key: &str) -> Option<usize> {
        let list = self.list(kind);
        if is_uuid(key) {
            if let Some(i) = list.iter().position(|e| entity_id(e) == Some(key)) {
                return Some(i);
            }
        }
        let field = kind.endpoint_key()?;
        list.iter().position(|e| key_matches(kind, e, field, key))
    }

    /// Like [`Document::find`], restricted to entities whose `field` references `parent_id`.
    /// Endpoint keys that are only unique per parent (targets, acl groups) are looked up there.
    pub fn find_in(&self, kind: Kind, key: &str, field: &str, parent_id: &str) -> Option<usize> {
        let list = self.list(kind);
        let belongs = |e: &Entity| fk_id(e, field) == Some(parent_id);
        if is_uuid(key) {
            if let Some(i) = list
                .iter()
                .position(|e| entity_id(e) == Some(key) && belongs(e))
            {
                return Some(i);
            }
        }
        let key_field = kind.endpoint_key()?;
        list.iter()
            .position(|e| belongs(e) && key_matches(kind, e, key_field, key))
    }

    /// Indices of the entities of `kind`, optionally only those whose `field` references
    /// `parent_id`.
    pub fn indices(&self, kind: Kind, scope: Option<(&str, &str)>) -> Vec<usize> {
        self.list(kind)
            .iter()
            .enumerate()
            .filter(|(_, e)| scope.is_none_or(|(field, id)| fk_id(e, field) == Some(id)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Creates an entity (POST). Returns its index.
    pub fn insert(&mut self, kind: Kind, body: Value, now: u64) -> Result<usize, EntityError> {
        let mut entity = object(body)?;
        let id = match entity.get("id") {
            None | Some(Value::Null) => random_uuid(),
            Some(Value::String(id)) => id.clone(),
            // Not a string: the loader reports the type error on `id`.
            Some(other) => other.to_string(),
        };
        if self.list(kind).iter().any(|e| entity_id(e) == Some(&id)) {
            return Err(EntityError::PrimaryKey { kind, id });
        }
        entity.insert("id".to_owned(), Value::String(id));
        stamp(&mut entity, now, None);
        self.resolve_foreign_keys(kind, &mut entity)?;
        self.check_unique(kind, None, &entity)?;
        let list = self.list_mut(kind);
        list.push(entity);
        Ok(list.len() - 1)
    }

    /// PUT: replaces the entity `key` names, or creates it (with that id or endpoint key).
    /// Returns its index and whether it was created.
    pub fn upsert(
        &mut self,
        kind: Kind,
        existing: Option<usize>,
        key: &str,
        body: Value,
        now: u64,
    ) -> Result<(usize, bool), EntityError> {
        let mut entity = object(body)?;
        if is_uuid(key) && existing.is_none() {
            entity.insert("id".to_owned(), Value::String(key.to_owned()));
        } else if let Some(field) = kind.endpoint_key().filter(|_| !is_uuid(key)) {
            entity.insert(field.to_owned(), Value::String(key.to_owned()));
        }
        match existing {
            None => Ok((self.insert(kind, Value::Object(entity), now)?, true)),
            Some(index) => {
                let old = self.get(kind, index).ok_or(EntityError::NotFound)?;
                let created = old.get("created_at").cloned();
                if let Some(id) = old.get("id").cloned() {
                    entity.insert("id".to_owned(), id);
                }
                stamp(&mut entity, now, created);
                self.replace(kind, index, entity)?;
                Ok((index, false))
            }
        }
    }

    /// PATCH: merges `body` into the entity at `index`.
    pub fn patch(
        &mut self,
        kind: Kind,
        index: usize,
        body: Value,
        now: u64,
    ) -> Result<(), EntityError> {
        let changes = object(body)?;
        let mut entity = self.get(kind, index).ok_or(EntityError::NotFound)?.clone();
        if kind == Kind::Service && changes.get("url").is_some_and(|u| !u.is_null()) {
            // The url shorthand replaces the four fields it stands for.
            for field in ["protocol", "host", "port", "path"] {
                entity.remove(field);
            }
        }
        for (field, value) in changes {
            if field == "id" || field == "created_at" {
                continue;
            }
            match (entity.get_mut(&field), value) {
                (Some(Value::Object(old)), Value::Object(new))
                    if kind.merged_records().contains(&field.as_str()) =>
                {
                    merge(old, new)
                }
                (_, value) => {
                    entity.insert(field, value);
                }
            }
        }
        let created = entity.get("created_at").cloned();
        stamp(&mut entity, now, created);
        self.replace(kind, index, entity)
    }

    fn replace(&mut self, kind: Kind, index: usize, mut entity: Entity) -> Result<(), EntityError> {
        self.resolve_foreign_keys(kind, &mut entity)?;
        self.check_unique(kind, Some(index), &entity)?;
        let slot = self
            .list_mut(kind)
            .get_mut(index)
            .ok_or(EntityError::NotFound)?;
        *slot = entity;
        Ok(())
    }

    /// DELETE: removes the entity and what cascades from it (Kong's `on_delete`): an upstream's
    /// targets, a consumer's credentials and plugins, the plugins of a service or route. A
    /// service that routes still use is refused.
    pub fn delete(&mut self, kind: Kind, index: usize) -> Result<Entity, EntityError> {
        let id = self
            .get(kind, index)
            .and_then(entity_id)
            .ok_or(EntityError::NotFound)?
            .to_owned();
        if kind == Kind::Service
            && self
                .list(Kind::Route)
                .iter()
                .any(|r| fk_id(r, "service") == Some(&id))
        {
            return Err(EntityError::ReferencedBy {
                kind,
                by: Kind::Route,
            });
        }
        let removed = self.list_mut(kind).remove(index);
        for other in KINDS {
            for (field, target) in other.foreign_keys() {
                if *target == kind {
                    self.list_mut(other)
                        .retain(|e| fk_id(e, field) != Some(id.as_str()));
                }
            }
        }
        Ok(removed)
    }

    /// Rewrites every foreign key of `entity` to `{"id": ...}`; a reference that names nothing
    /// is a foreign key violation. Malformed references are left for the loader to report.
    fn resolve_foreign_keys(&self, kind: Kind, entity: &mut Entity) -> Result<(), EntityError> {
        for (field, target) in kind.foreign_keys() {
            let Some(value) = entity.get(*field) else {
                continue;
            };
            let found = match value {
                Value::Null => continue,
                Value::String(key) => self.find(*target, key),
                Value::Object(map) if map.len() == 1 => match map.iter().next() {
                    Some((k, Value::String(id))) if k == "id" => self
                        .list(*target)
                        .iter()
                        .position(|e| entity_id(e) == Some(id)),
                    Some((k, Value::String(name)))
                        if Some(k.as_str()) == target.endpoint_key() || k == "name" =>
                    {
                        target.endpoint_key().and_then(|key_field| {
                            self.list(*target)
                                .iter()
                                .position(|e| key_matches(*target, e, key_field, name))
                        })
                    }
                    _ => continue,
                },
                _ => continue,
            };
            let id = found
                .and_then(|i| self.get(*target, i))
                .and_then(entity_id)
                .map(str::to_owned);
            match id {
                Some(id) => {
                    entity.insert((*field).to_owned(), serde_json::json!({ "id": id }));
                }
                None => {
                    return Err(EntityError::ForeignKey {
                        field,
                        kind: *target,
                        value: value.clone(),
                    })
                }
            }
        }
        Ok(())
    }

    fn check_unique(
        &self,
        kind: Kind,
        own: Option<usize>,
        entity: &Entity,
    ) -> Result<(), EntityError> {
        let value_of = |e: &Entity, field: &str| -> Value {
            match e.get(field) {
                Some(Value::String(s)) if kind == Kind::Target && field == "target" => {
                    Value::String(normalize_target(s))
                }
                Some(v) => v.clone(),
                None => Value::Null,
            }
        };
        // `value_of(other, field) == *value`, without copying every other entity's fields.
        let same = |other: &Entity, field: &str, value: &Value| -> bool {
            match other.get(field) {
                Some(Value::String(s)) if kind == Kind::Target && field == "target" => {
                    matches!(value, Value::String(v) if *v == normalize_target(s))
                }
                Some(v) => v == value,
                None => value.is_null(),
            }
        };
        for fields in kind.unique() {
            let key: Vec<Value> = fields.iter().map(|f| value_of(entity, f)).collect();
            // A unique key whose own field (the first one) is unset constrains nothing.
            if key.first().is_none_or(Value::is_null) {
                continue;
            }
            let clash = self.list(kind).iter().enumerate().any(|(i, other)| {
                Some(i) != own && fields.iter().zip(&key).all(|(f, v)| same(other, f, v))
            });
            if clash {
                let fields = fields
                    .iter()
                    .zip(key)
                    .map(|(f, v)| ((*f).to_owned(), v))
                    .collect();
                return Err(EntityError::Unique { kind, fields });
            }
        }
        Ok(())
    }
}

fn object(body: Value) -> Result<Entity, EntityError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(EntityError::Schema {
            field: "@entity".to_owned(),
            message: "expected a JSON object".to_owned(),
        }),
    }
}

/// Sets `updated_at` to now and `created_at` to the kept value (or now).
fn stamp(entity: &mut Entity, now: u64, created: Option<Value>) {
    let created = created.filter(Value::is_u64).unwrap_or(Value::from(now));
    entity.insert("created_at".to_owned(), created);
    entity.insert("updated_at".to_owned(), Value::from(now));
}

/// Deep merge of JSON objects; `null` values are kept (they unset the field).
fn merge(into: &mut Entity, from: Entity) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc_with_service() -> (Document, String) {
        let mut doc = Document::new(true, None, None);
        let i = doc
            .insert(
                Kind::Service,
                json!({"name": "s", "url": "http://127.0.0.1:9"}),
                10,
            )
            .unwrap();
        let id = entity_id(&doc.list(Kind::Service)[i]).unwrap().to_owned();
        (doc, id)
    }

    #[test]
    fn insert_assigns_id_and_stamps() {
        let (doc, id) = doc_with_service();
        assert!(is_uuid(&id));
        let s = &doc.list(Kind::Service)[0];
        assert_eq!(s["created_at"], 10);
        assert_eq!(s["updated_at"], 10);
        assert_eq!(doc.find(Kind::Service, "s"), Some(0));
        assert_eq!(doc.find(Kind::Service, &id), Some(0));
        assert_eq!(doc.find(Kind::Service, "nope"), None);
    }

    #[test]
    fn unique_and_primary_keys() {
        let (mut doc, id) = doc_with_service();
        let err = doc
            .insert(Kind::Service, json!({"name": "s", "host": "x"}), 11)
            .unwrap_err();
        assert!(
            matches!(
                err,
                EntityError::Unique {
                    kind: Kind::Service,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = doc
            .insert(Kind::Service, json!({"id": id, "host": "x"}), 11)
            .unwrap_err();
        assert!(matches!(err, EntityError::PrimaryKey { .. }), "{err:?}");
        // Unnamed services do not clash with each other.
        doc.insert(Kind::Service, json!({"host": "a"}), 11).unwrap();
        doc.insert(Kind::Service, json!({"host": "b"}), 11).unwrap();
    }

    #[test]
    fn foreign_keys_resolve_to_ids() {
        let (mut doc, id) = doc_with_service();
        let r = doc
            .insert(Kind::Route, json!({"service": "s", "paths": ["/"]}), 12)
            .unwrap();
        assert_eq!(doc.list(Kind::Route)[r]["service"], json!({"id": id}));
        let r = doc
            .insert(
                Kind::Route,
                json!({"service": {"name": "s"}, "paths": ["/"]}),
                12,
            )
            .unwrap();
        assert_eq!(doc.list(Kind::Route)[r]["service"], json!({"id": id}));
        let err = doc
            .insert(Kind::Route, json!({"service": {"name": "zz"}}), 12)
            .unwrap_err();
        assert!(
            matches!(
                err,
                EntityError::ForeignKey {
                    field: "service",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn patch_merges_and_keeps_created_at() {
        let (mut doc, _) = doc_with_service();
        doc.patch(Kind::Service, 0, json!({"retries": 2, "created_at": 1}), 20)
            .unwrap();
        let s = &doc.list(Kind::Service)[0];
        assert_eq!(s["retries"], 2);
        assert_eq!(s["created_at"], 10);
        assert_eq!(s["updated_at"], 20);
        assert_eq!(s["url"], "http://127.0.0.1:9");

        let p = doc
            .insert(
                Kind::Plugin,
                json!({"name": "cors", "config": {"a": 1, "b": {"c": 2}}}),
                21,
            )
            .unwrap();
        doc.patch(Kind::Plugin, p, json!({"config": {"b": {"d": 3}}}), 22)
            .unwrap();
        assert_eq!(
            doc.list(Kind::Plugin)[p]["config"],
            json!({"a": 1, "b": {"c": 2, "d": 3}})
        );
    }

    #[test]
    fn delete_cascades_and_restricts() {
        let (mut doc, id) = doc_with_service();
        doc.insert(
            Kind::Route,
            json!({"service": {"id": id}, "paths": ["/"]}),
            1,
        )
        .unwrap();
        doc.insert(
            Kind::Plugin,
            json!({"name": "cors", "service": {"id": id}}),
            1,
        )
        .unwrap();
        let err = doc.delete(Kind::Service, 0).unwrap_err();
        assert_eq!(
            err,
            EntityError::ReferencedBy {
                kind: Kind::Service,
                by: Kind::Route
            }
        );
        doc.delete(Kind::Route, 0).unwrap();
        doc.delete(Kind::Service, 0).unwrap();
        assert!(doc.list(Kind::Plugin).is_empty());

        let u = doc.insert(Kind::Upstream, json!({"name": "u"}), 1).unwrap();
        let uid = entity_id(&doc.list(Kind::Upstream)[u]).unwrap().to_owned();
        doc.insert(
            Kind::Target,
            json!({"target": "10.0.0.1", "upstream": {"id": uid}}),
            1,
        )
        .unwrap();
        assert_eq!(
            doc.find_in(Kind::Target, "10.0.0.1:8000", "upstream", &uid),
            Some(0)
        );
        let err = doc
            .insert(
                Kind::Target,
                json!({"target": "10.0.0.1:8000", "upstream": "u"}),
                1,
            )
            .unwrap_err();
        assert!(matches!(err, EntityError::Unique { .. }), "{err:?}");
        doc.delete(Kind::Upstream, u).unwrap();
        assert!(doc.list(Kind::Target).is_empty());
    }

    #[test]
    fn upsert_by_name_and_by_id() {
        let (mut doc, id) = doc_with_service();
        let (i, created) = doc
            .upsert(Kind::Service, Some(0), "s", json!({"host": "h"}), 30)
            .unwrap();
        assert!(!created);
        let s = &doc.list(Kind::Service)[i];
        assert_eq!(s["name"], "s");
        assert_eq!(s["id"], id.as_str());
        assert!(s.get("url").is_none(), "PUT replaces the whole entity");
        let new_id = random_uuid();
        let (i, created) = doc
            .upsert(Kind::Service, None, &new_id, json!({"host": "h2"}), 31)
            .unwrap();
        assert!(created);
        assert_eq!(doc.list(Kind::Service)[i]["id"], new_id.as_str());
    }
}
