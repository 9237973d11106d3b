//! Kong's generated entity endpoints (`kong/api/endpoints.lua`), for every kind at once:
//! collections (`GET` paginated list, `POST` create -> 201) and entities (`GET`, `PUT` upsert,
//! `PATCH`, `DELETE` -> 204), top-level (`/routes/{r}`) or nested under the entity they
//! reference (`/services/{s}/routes/{r}`, `/consumers/{c}/key-auth`, ...).
//!
//! Reads use the running config's document without taking the write lock; writes go through
//! `Store::modify`, which resolves the parent again under the lock.

use serde_json::{json, Value};

use super::errors::{apply_error, entity_error, kong_error, INVALID_OFFSET, INVALID_SIZE};
use super::http::{Reply, Request};
use super::Ctx;
use crate::config::document::{entity_id, fk_id, Document, EntityError, Kind};
use crate::config::identity::is_uuid;
use crate::config::store::{ApplyError, Focus};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The parent of a nested endpoint: `/services/{key}/routes` is `Scope { Service, key,
/// "service" }`.
#[derive(Debug, Clone)]
pub struct Scope {
    pub parent: Kind,
    pub key: String,
    /// The field of the child that references the parent.
    pub field: &'static str,
}

fn parent_id(doc: &Document, scope: &Scope) -> Result<String, EntityError> {
    doc.find(scope.parent, &scope.key)
        .and_then(|i| doc.get(scope.parent, i))
        .and_then(entity_id)
        .map(str::to_owned)
        .ok_or(EntityError::NotFound)
}

/// The entity `key` names, within the scope when there is one.
fn locate(
    doc: &Document,
    kind: Kind,
    scope: Option<&Scope>,
    key: &str,
) -> Result<Option<usize>, EntityError> {
    Ok(match scope {
        Some(scope) => {
            let parent = parent_id(doc, scope)?;
            doc.find_in(kind, key, scope.field, &parent)
        }
        None => doc.find(kind, key),
    })
}

/// Kong answers 400 "invalid primary key" for a non-UUID key of a kind without endpoint key.
fn invalid_key(kind: Kind, key: &str) -> Option<Reply> {
    if kind.endpoint_key().is_some() || is_uuid(key) {
        return None;
    }
    Some(kong_error(
        400,
        1,
        "invalid primary key",
        format!("invalid primary key: '{{id=\"{key}\"}}'"),
        json!({ "id": "expected a valid UUID" }),
    ))
}

fn entity_reply(status: u16, doc: &Document, kind: Kind, id: &str) -> Reply {
    match doc.find(kind, id).and_then(|i| doc.get(kind, i)) {
        Some(entity) => Reply::json(status, &Value::Object(entity.clone())),
        None => Reply::message(500, "An unexpected error occurred"),
    }
}

/// Forces the parent reference of a nested write into the body.
fn scoped_body(doc: &Document, scope: Option<&Scope>, body: Value) -> Result<Value, EntityError> {
    match (scope, body) {
        (Some(scope), Value::Object(mut map)) => {
            let parent = parent_id(doc, scope)?;
            map.insert(scope.field.to_owned(), json!({ "id": parent }));
            Ok(Value::Object(map))
        }
        // Not an object: the document layer reports it.
        (_, body) => Ok(body),
    }
}

/// `/services`, `/services/{s}/routes`, ...
pub fn collection(ctx: &Ctx, req: &Request, kind: Kind, scope: Option<Scope>) -> Reply {
    match req.method.as_str() {
        "GET" | "HEAD" => list(ctx, req, kind, scope.as_ref()),
        "POST" => create(ctx, req, kind, scope),
        _ => Reply::method_not_allowed(),
    }
}

/// `/services/{s}`, `/services/{s}/routes/{r}`, ...
pub fn entity(ctx: &Ctx, req: &Request, kind: Kind, scope: Option<Scope>, key: &str) -> Reply {
    if let Some(reply) = invalid_key(kind, key) {
        return reply;
    }
    match req.method.as_str() {
        "GET" | "HEAD" => get(ctx, kind, scope.as_ref(), key),
        "PUT" => upsert(ctx, req, kind, scope, key),
        "PATCH" => patch(ctx, req, kind, scope, key),
        "DELETE" => delete(ctx, kind, scope, key),
        _ => Reply::method_not_allowed(),
    }
}

/// `/routes/{r}/service`, `/plugins/{p}/consumer`, ...: the entity a foreign key points at.
pub fn foreign(ctx: &Ctx, req: &Request, kind: Kind, key: &str, field: &str) -> Option<Reply> {
    let (field, target) = kind
        .foreign_keys()
        .iter()
        .find(|(f, _)| *f == field)
        .copied()?;
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Some(Reply::method_not_allowed());
    }
    if let Some(reply) = invalid_key(kind, key) {
        return Some(reply);
    }
    let doc = ctx.store.document();
    let reply = doc
        .find(kind, key)
        .and_then(|i| doc.get(kind, i))
        .and_then(|e| fk_id(e, field))
        .map(|id| entity_reply(200, &doc, target, id))
        .unwrap_or_else(Reply::not_found);
    Some(reply)
}

fn query_number(req: &Request, name: &str) -> Result<Option<usize>, String> {
    match req.query(name) {
        None => Ok(None),
        Some(text) => text.trim().parse::<usize>().map(Some).map_err(|_| text),
    }
}

/// Kong's `?tags=a,b` (entities with every tag) or `?tags=a/b` (with any of them).
fn tag_filter(req: &Request) -> Option<(Vec<String>, bool)> {
    let tags = req.query("tags")?;
    let any = tags.contains('/');
    let list = tags
        .split([',', '/'])
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    Some((list, any))
}

fn has_tags(entity: &serde_json::Map<String, Value>, wanted: &[String], any: bool) -> bool {
    let tags: Vec<&str> = entity
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has = |t: &String| tags.contains(&t.as_str());
    if any {
        wanted.iter().any(has)
    } else {
        wanted.iter().all(has)
    }
}

fn list(ctx: &Ctx, req: &Request, kind: Kind, scope: Option<&Scope>) -> Reply {
    let size = match query_number(req, "size") {
        Ok(None) => DEFAULT_PAGE,
        Ok(Some(n)) if (1..=MAX_PAGE).contains(&n) => n,
        _ => {
            return kong_error(
                400,
                INVALID_SIZE,
                "invalid size",
                format!("size must be an integer between 1 and {MAX_PAGE}"),
                Value::Null,
            )
        }
    };
    let offset = match query_number(req, "offset") {
        Ok(n) => n.unwrap_or(0),
        Err(text) => {
            return kong_error(
                400,
                INVALID_OFFSET,
                "invalid offset",
                format!("'{text}' is not a valid offset"),
                Value::Null,
            )
        }
    };
    let doc = ctx.store.document();
    let parent = match scope.map(|s| parent_id(&doc, s)).transpose() {
        Ok(parent) => parent,
        Err(e) => return entity_error(&e),
    };
    let filter = parent
        .as_deref()
        .zip(scope)
        .map(|(id, scope)| (scope.field, id));
    let mut indices = doc.indices(kind, filter);
    if kind == Kind::Consumer {
        // Kong: `GET /consumers?custom_id=x`.
        if let Some(custom_id) = req.query("custom_id") {
            indices.retain(|i| {
                doc.get(kind, *i)
                    .and_then(|e| e.get("custom_id"))
                    .and_then(Value::as_str)
                    == Some(custom_id.as_str())
            });
        }
    }
    if let Some((wanted, any)) = tag_filter(req) {
        indices.retain(|i| doc.get(kind, *i).is_some_and(|e| has_tags(e, &wanted, any)));
    }
    let page: Vec<Value> = indices
        .iter()
        .skip(offset)
        .take(size)
        .filter_map(|i| doc.get(kind, *i))
        .map(|e| Value::Object(e.clone()))
        .collect();
    let mut body = json!({ "data": page, "next": null });
    let end = offset.saturating_add(size);
    if end < indices.len() {
        let mut next = format!("{}?offset={end}", req.path);
        if req.query("size").is_some() {
            next.push_str(&format!("&size={size}"));
        }
        if let Some(tags) = req.query("tags") {
            next.push_str(&format!("&tags={tags}"));
        }
        body["next"] = Value::String(next);
        body["offset"] = Value::String(end.to_string());
    }
    Reply::json(200, &body)
}

fn get(ctx: &Ctx, kind: Kind, scope: Option<&Scope>, key: &str) -> Reply {
    let doc = ctx.store.document();
    match locate(&doc, kind, scope, key) {
        Ok(Some(index)) => match doc.get(kind, index) {
            Some(entity) => Reply::json(200, &Value::Object(entity.clone())),
            None => Reply::not_found(),
        },
        Ok(None) => Reply::not_found(),
        Err(e) => entity_error(&e),
    }
}

fn focus(doc: &Document, kind: Kind, index: usize, created: bool) -> Option<Focus> {
    let id = doc.get(kind, index).and_then(entity_id)?.to_owned();
    Some(Focus {
        kind,
        index,
        id,
        created,
    })
}

fn written(result: Result<crate::config::store::Applied, ApplyError>, kind: Kind) -> Reply {
    match result {
        Ok(applied) => match applied.focus {
            Some(f) => entity_reply(if f.created { 201 } else { 200 }, &applied.doc, kind, &f.id),
            None => Reply::no_content(),
        },
        Err(e) => apply_error(&e),
    }
}

fn create(ctx: &Ctx, req: &Request, kind: Kind, scope: Option<Scope>) -> Reply {
    let body = match req.body_value() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let result = ctx.store.modify(|doc, now| {
        let body = scoped_body(doc, scope.as_ref(), body)?;
        let index = doc.insert(kind, body, now)?;
        Ok(focus(doc, kind, index, true))
    });
    written(result, kind)
}

fn upsert(ctx: &Ctx, req: &Request, kind: Kind, scope: Option<Scope>, key: &str) -> Reply {
    let body = match req.body_value() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let result = ctx.store.modify(|doc, now| {
        let existing = locate(doc, kind, scope.as_ref(), key)?;
        let body = scoped_body(doc, scope.as_ref(), body)?;
        let (index, created) = doc.upsert(kind, existing, key, body, now)?;
        Ok(focus(doc, kind, index, created))
    });
    written(result, kind)
}

fn patch(ctx: &Ctx, req: &Request, kind: Kind, scope: Option<Scope>, key: &str) -> Reply {
    let body = match req.body_value() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let result = ctx.store.modify(|doc, now| {
        let index = locate(doc, kind, scope.as_ref(), key)?.ok_or(EntityError::NotFound)?;
        doc.patch(kind, index, body, now)?;
        Ok(focus(doc, kind, index, false))
    });
    written(result, kind)
}

fn delete(ctx: &Ctx, kind: Kind, scope: Option<Scope>, key: &str) -> Reply {
    let result = ctx.store.modify(|doc, _| {
        let index = locate(doc, kind, scope.as_ref(), key)?.ok_or(EntityError::NotFound)?;
        doc.delete(kind, index)?;
        Ok(None)
    });
    match result {
        // Kong: deleting what does not exist is not an error at the top level.
        Err(ApplyError::Entity(EntityError::NotFound)) if scope.is_none() => Reply::no_content(),
        other => written(other, kind),
    }
}
