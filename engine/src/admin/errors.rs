//! Kong's Admin API error bodies: `{"message", "name", "code", "fields"}` with Kong's codes
//! (`kong/db/errors.lua`) and HTTP statuses (`kong/api/endpoints.lua`).

use serde_json::{json, Map, Value};

use super::http::Reply;
use crate::config::document::EntityError;
use crate::config::store::ApplyError;
use crate::config::ConfigProblem;

pub const SCHEMA_VIOLATION: u16 = 2;
pub const PRIMARY_KEY_VIOLATION: u16 = 3;
pub const FOREIGN_KEY_VIOLATION: u16 = 4;
pub const UNIQUE_VIOLATION: u16 = 5;
pub const INVALID_OFFSET: u16 = 7;
pub const INVALID_SIZE: u16 = 9;
pub const DECLARATIVE_CONFIG: u16 = 14;

pub fn kong_error(status: u16, code: u16, name: &str, message: String, fields: Value) -> Reply {
    let mut body = json!({ "code": code, "name": name, "message": message });
    if !fields.is_null() {
        body["fields"] = fields;
    }
    Reply::json(status, &body)
}

/// Lua-table notation Kong uses in messages: `{name="x"}`.
fn lua_key(fields: &Map<String, Value>) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}=\"{s}\""),
            Value::Null => format!("{k}=null"),
            Value::Object(map) => format!("{k}={}", lua_key(map)),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

pub fn entity_error(error: &EntityError) -> Reply {
    match error {
        EntityError::NotFound => Reply::not_found(),
        EntityError::PrimaryKey { id, .. } => {
            let mut key = Map::new();
            key.insert("id".to_owned(), Value::String(id.clone()));
            kong_error(
                400,
                PRIMARY_KEY_VIOLATION,
                "primary key violation",
                format!("primary key violation on key '{}'", lua_key(&key)),
                Value::Object(key),
            )
        }
        EntityError::Unique { fields, .. } => kong_error(
            409,
            UNIQUE_VIOLATION,
            "unique constraint violation",
            format!("UNIQUE violation detected on '{}'", lua_key(fields)),
            Value::Object(fields.clone()),
        ),
        EntityError::ForeignKey { field, kind, value } => {
            let shown = match value {
                Value::Object(map) => lua_key(map),
                Value::String(s) => format!("{{name=\"{s}\"}}"),
                other => other.to_string(),
            };
            kong_error(
                400,
                FOREIGN_KEY_VIOLATION,
                "foreign key violation",
                format!(
                    "the foreign key '{shown}' does not reference an existing '{}' entity.",
                    kind.table()
                ),
                json!({ *field: value }),
            )
        }
        EntityError::ReferencedBy { kind, by } => kong_error(
            400,
            FOREIGN_KEY_VIOLATION,
            "foreign key violation",
            format!(
                "an existing '{}' entity references this '{}' entity",
                by.table(),
                kind.table()
            ),
            json!({ "@referenced_by": by.table() }),
        ),
        EntityError::Schema { field, message } => kong_error(
            400,
            SCHEMA_VIOLATION,
            "schema violation",
            format!("schema violation ({field}: {message})"),
            json!({ field.as_str(): message }),
        ),
    }
}

pub fn apply_error(error: &ApplyError) -> Reply {
    match error {
        ApplyError::Entity(e) => entity_error(e),
        ApplyError::Invalid { problems, focus } => {
            let prefix = focus.map(|(kind, index)| format!("{}[{index}]", kind.collection()));
            let (fields, summary) = fields_from_problems(problems, prefix.as_deref());
            let message = match summary.len() {
                1 => format!("schema violation ({})", summary.join("; ")),
                n => format!("{n} schema violations ({})", summary.join("; ")),
            };
            kong_error(400, SCHEMA_VIOLATION, "schema violation", message, fields)
        }
        ApplyError::Persist(detail) => {
            tracing::error!("admin change not applied: {detail}");
            Reply::message(
                500,
                &format!("An unexpected error occurred: {detail}; the change was not applied"),
            )
        }
    }
}

/// 400 for a whole declarative config (`POST /config`), every problem with its path.
pub fn declarative_error(problems: &[ConfigProblem]) -> Reply {
    let (fields, summary) = fields_from_problems(problems, None);
    kong_error(
        400,
        DECLARATIVE_CONFIG,
        "invalid declarative configuration",
        format!("declarative config is invalid: {}", summary.join("; ")),
        fields,
    )
}

/// Kong's `fields`, nested by path: `paths[1]` becomes `{"paths": [null, "msg"]}`; problems
/// about the entity itself go to `@entity`. Paths under `prefix` (the entity being changed) are
/// made relative to it. Also returns the one-line summaries for the message.
pub fn fields_from_problems(
    problems: &[ConfigProblem],
    prefix: Option<&str>,
) -> (Value, Vec<String>) {
    let mut root = Value::Object(Map::new());
    let mut summary = Vec::with_capacity(problems.len());
    for problem in problems {
        let relative = match prefix {
            Some(prefix) if problem.path == prefix => "",
            Some(prefix) => problem
                .path
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(&problem.path),
            None => problem.path.as_str(),
        };
        if relative.is_empty() {
            summary.push(problem.message.clone());
            push_entity(&mut root, &problem.message);
        } else {
            summary.push(format!("{relative}: {}", problem.message));
            if !insert_at(&mut root, &segments(relative), &problem.message) {
                push_entity(&mut root, &format!("{relative}: {}", problem.message));
            }
        }
    }
    (root, summary)
}

fn push_entity(root: &mut Value, message: &str) {
    if let Value::Object(map) = root {
        let entry = map
            .entry("@entity".to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            items.push(Value::String(message.to_owned()));
        }
    }
}

#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// `a.b[2].c` into keys and indices.
fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(open) => (&part[..open], &part[open..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name.to_owned()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                out.push(Segment::Key(rest.to_owned()));
                break;
            };
            match inner[..close].parse() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Key(inner[..close].to_owned())),
            }
            rest = &inner[close + 1..];
        }
    }
    out
}

/// Places `message` at `path` under `node`; false when something else is already there.
fn insert_at(node: &mut Value, path: &[Segment], message: &str) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return match node {
            Value::Null => {
                *node = Value::String(message.to_owned());
                true
            }
            Value::String(existing) => {
                existing.push_str("; ");
                existing.push_str(message);
                true
            }
            _ => false,
        };
    };
    let child = match first {
        Segment::Key(key) => {
            if node.is_null() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else {
                return false;
            };
            map.entry(key.clone()).or_insert(Value::Null)
        }
        Segment::Index(index) => {
            if node.is_null() {
                *node = Value::Array(Vec::new());
            }
            let Value::Array(items) = node else {
                return false;
            };
            if items.len() <= *index {
                items.resize(index + 1, Value::Null);
            }
            &mut items[*index]
        }
    };
    insert_at(child, rest, message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(path: &str, message: &str) -> ConfigProblem {
        ConfigProblem::new(path, message)
    }

    #[test]
    fn fields_nest_like_kong() {
        let problems = [
            p("routes[3].paths[1]", "should start with: /"),
            p(
                "routes[3]",
                "must set one of 'methods', 'hosts', 'headers', 'paths'",
            ),
            p("routes[3].headers.x-a[0]", "bad regex"),
            p("services[0].host", "cannot resolve"),
        ];
        let (fields, summary) = fields_from_problems(&problems, Some("routes[3]"));
        assert_eq!(
            fields,
            json!({
                "paths": [null, "should start with: /"],
                "@entity": ["must set one of 'methods', 'hosts', 'headers', 'paths'"],
                "headers": {"x-a": ["bad regex"]},
                "services": [{"host": "cannot resolve"}],
            })
        );
        assert_eq!(summary[0], "paths[1]: should start with: /");
        // `routes[30]` is not under `routes[3]`.
        let (fields, _) = fields_from_problems(&[p("routes[30].name", "x")], Some("routes[3]"));
        assert_eq!(fields["routes"][30]["name"], "x");
    }

    #[test]
    fn error_statuses() {
        let unique = EntityError::Unique {
            kind: crate::config::document::Kind::Service,
            fields: json!({"name": "s"}).as_object().unwrap().clone(),
        };
        let r = entity_error(&unique);
        assert_eq!(r.status, 409);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["name"], "unique constraint violation");
        assert_eq!(
            body["message"],
            "UNIQUE violation detected on '{name=\"s\"}'"
        );
        use crate::config::document::Kind;
        let r = entity_error(&EntityError::ReferencedBy {
            kind: Kind::Service,
            by: Kind::Route,
        });
        assert_eq!(r.status, 400);
        assert_eq!(entity_error(&EntityError::NotFound).status, 404);
    }
}
