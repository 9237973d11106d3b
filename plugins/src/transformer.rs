//! request-transformer (priority 801) and response-transformer (800): headers, query string
//! and (response-transformer, body filter phase) top-level fields of JSON response bodies.
//! Kong's order and semantics: remove, rename, replace (only if present), add (only if absent),
//! append (always). Request body transforms, `http_method`, `replace.uri` and `$(...)`
//! templates are refused at compile time.

use crate::conf::Conf;
use crate::ctx::{Access, HeaderEdits, PluginCtx, RequestView, ResponseView};
use crate::util::{is_safe_value, is_token, join_query, parse_query, QueryParam};

#[derive(Default)]
struct Ops {
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    replace: Vec<(String, String)>,
    add: Vec<(String, String)>,
    append: Vec<(String, String)>,
}

impl Ops {
    fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.replace.is_empty()
            && self.add.is_empty()
            && self.append.is_empty()
    }
}

/// Reads `<op>.<field>` lists. `headers` = true validates names as header tokens.
fn read_pairs(
    c: &mut Conf<'_>,
    op: &'static str,
    field: &'static str,
    headers: bool,
    names_only: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let list = c.opt_str_list(field).unwrap_or_default();
    for (i, item) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let (name, value) = if names_only {
            (item.as_str(), "")
        } else {
            match item.split_once(':') {
                Some((n, v)) => (n, v),
                None => {
                    c.err(
                        &f,
                        format!("invalid value for {op}: '{item}' (expected 'name:value')"),
                    );
                    continue;
                }
            }
        };
        if headers && !is_token(name) {
            c.err(&f, format!("'{name}' is not a valid header name"));
            continue;
        }
        if name.is_empty() {
            c.err(&f, "empty name");
            continue;
        }
        if op == "rename" && headers && !is_token(value) {
            c.err(&f, format!("'{value}' is not a valid header name"));
            continue;
        }
        if !is_safe_value(value) || !is_safe_value(name) {
            c.err(&f, "must not contain CR, LF or NUL");
            continue;
        }
        if value.contains("$(") || name.contains("$(") {
            c.err(&f, "templates ($(...)) are not supported yet");
            continue;
        }
        out.push((name.to_string(), value.to_string()));
    }
    out
}

/// Reads the five operation records; `fields` are the list fields each record may contain
/// (`headers`, `querystring`); `refused` are fields that must stay empty (body / json).
fn read_ops(
    c: &mut Conf<'_>,
    refused: &[&'static str],
    extra_ignored: &[&'static str],
) -> (Ops, Ops) {
    let mut headers = Ops::default();
    let mut query = Ops::default();
    for op in ["remove", "rename", "replace", "add", "append"] {
        let mut r = c.record(op);
        let h = read_pairs(&mut r, op, "headers", true, op == "remove");
        let q = read_pairs(&mut r, op, "querystring", false, op == "remove");
        for f in refused {
            if let Some(list) = r.opt_str_list(f) {
                if !list.is_empty() {
                    r.err(f, format!("{f} transformations are not supported yet"));
                }
            }
        }
        if let Some(uri) = r.raw("uri") {
            if op != "replace" || !uri.is_null() {
                r.err("uri", "replace.uri is not supported yet");
            }
        }
        r.ignore(extra_ignored);
        c.absorb(r);
        let names = |v: Vec<(String, String)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        match op {
            "remove" => {
                headers.remove = names(h);
                query.remove = names(q);
            }
            "rename" => {
                headers.rename = h;
                query.rename = q;
            }
            "replace" => {
                headers.replace = h;
                query.replace = q;
            }
            "add" => {
                headers.add = h;
                query.add = q;
            }
            _ => {
                headers.append = h;
                query.append = q;
            }
        }
    }
    (headers, query)
}

/// Applies header ops to `edits`; `current` returns the current values of a header.
fn apply_headers(
    ops: &Ops,
    edits: &mut HeaderEdits,
    current: &dyn Fn(&HeaderEdits, &str) -> Vec<String>,
) {
    for n in &ops.remove {
        edits.clear_header(n.clone());
    }
    for (old, new) in &ops.rename {
        let values = current(edits, old);
        if values.is_empty() || old.eq_ignore_ascii_case(new) {
            continue;
        }
        edits.clear_header(old.clone());
        edits.clear_header(new.clone());
        edits.set_header(new.clone(), values[0].clone());
        for v in &values[1..] {
            edits.append_header(new.clone(), v.clone());
        }
    }
    for (n, v) in &ops.replace {
        if !current(edits, n).is_empty() {
            edits.set_header(n.clone(), v.clone());
        }
    }
    for (n, v) in &ops.add {
        if current(edits, n).is_empty() {
            edits.set_header(n.clone(), v.clone());
        }
    }
    for (n, v) in &ops.append {
        edits.append_header(n.clone(), v.clone());
    }
}

fn request_current(req: &dyn RequestView) -> impl Fn(&HeaderEdits, &str) -> Vec<String> + '_ {
    move |edits: &HeaderEdits, name: &str| {
        let lower = name.to_ascii_lowercase();
        let mut out = Vec::new();
        edits.effective_values(
            name,
            &|f: &mut dyn FnMut(&[u8])| {
                req.for_each_header(&mut |n, v| {
                    if n.eq_ignore_ascii_case(lower.as_bytes()) {
                        f(v)
                    }
                })
            },
            &mut out,
        );
        out
    }
}

fn response_current(resp: &dyn ResponseView) -> impl Fn(&HeaderEdits, &str) -> Vec<String> + '_ {
    move |edits: &HeaderEdits, name: &str| {
        let lower = name.to_ascii_lowercase();
        let mut out = Vec::new();
        edits.effective_values(
            name,
            &|f: &mut dyn FnMut(&[u8])| {
                resp.for_each_header(&mut |n, v| {
                    if n.eq_ignore_ascii_case(lower.as_bytes()) {
                        f(v)
                    }
                })
            },
            &mut out,
        );
        out
    }
}

fn apply_query(ops: &Ops, params: &mut Vec<QueryParam>) {
    for n in &ops.remove {
        params.retain(|p| p.name != *n);
    }
    for (old, new) in &ops.rename {
        if old == new {
            continue;
        }
        let mut renamed: Vec<QueryParam> = Vec::new();
        params.retain(|p| {
            if p.name == *old {
                renamed.push(p.clone());
                false
            } else {
                true
            }
        });
        if !renamed.is_empty() {
            params.retain(|p| p.name != *new);
            for p in renamed {
                params.push(QueryParam::new(new, p.value.as_deref().unwrap_or("")));
            }
        }
    }
    for (n, v) in &ops.replace {
        if params.iter().any(|p| p.name == *n) {
            params.retain(|p| p.name != *n);
            params.push(QueryParam::new(n, v));
        }
    }
    for (n, v) in &ops.add {
        if !params.iter().any(|p| p.name == *n) {
            params.push(QueryParam::new(n, v));
        }
    }
    for (n, v) in &ops.append {
        params.push(QueryParam::new(n, v));
    }
}

pub(crate) struct RequestTransformer {
    headers: Ops,
    query: Ops,
}

impl RequestTransformer {
    pub fn compile(c: &mut Conf<'_>) -> Option<RequestTransformer> {
        if c.opt_str("http_method").is_some() {
            c.err("http_method", "http_method is not supported yet");
        }
        let (headers, query) = read_ops(c, &["body"], &[]);
        Some(RequestTransformer { headers, query })
    }

    pub fn access(&self, req: &dyn RequestView, ctx: &mut PluginCtx) -> Access {
        if !self.headers.is_empty() {
            apply_headers(&self.headers, &mut ctx.request, &request_current(req));
        }
        if !self.query.is_empty() {
            let mut params = match &ctx.new_query {
                Some(q) => parse_query(q.as_bytes()),
                None => req.raw_query().map(parse_query).unwrap_or_default(),
            };
            apply_query(&self.query, &mut params);
            ctx.new_query = Some(join_query(&params));
        }
        Access::Continue
    }
}

/// How a JSON value given as text is typed (`json_types`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum JsonType {
    String,
    Number,
    Boolean,
}

/// JSON body operations on top-level fields; values already typed.
#[derive(Default)]
struct JsonOps {
    remove: Vec<String>,
    rename: Vec<(String, String)>,
    replace: Vec<(String, serde_json::Value)>,
    add: Vec<(String, serde_json::Value)>,
    append: Vec<(String, serde_json::Value)>,
}

impl JsonOps {
    fn is_empty(&self) -> bool {
        self.remove.is_empty()
            && self.rename.is_empty()
            && self.replace.is_empty()
            && self.add.is_empty()
            && self.append.is_empty()
    }
}

/// Kong's `cast_value`: `"true"` is the only true boolean; a number that does not parse stays
/// text.
fn typed(value: &str, kind: JsonType) -> serde_json::Value {
    match kind {
        JsonType::Boolean => serde_json::Value::Bool(value == "true"),
        JsonType::Number => value
            .parse::<i64>()
            .map(serde_json::Value::from)
            .or_else(|_| value.parse::<f64>().map(serde_json::Value::from))
            .unwrap_or_else(|_| serde_json::Value::from(value)),
        JsonType::String => serde_json::Value::from(value),
    }
}

fn read_json_ops(c: &mut Conf<'_>) -> JsonOps {
    let mut ops = JsonOps::default();
    for op in ["remove", "rename", "replace", "add", "append"] {
        let mut r = c.record(op);
        r.ignore(&["headers", "querystring", "uri"]);
        let pairs = read_pairs(&mut r, op, "json", false, op == "remove");
        let mut types = Vec::new();
        if let Some(list) = r.opt_str_list("json_types") {
            if op == "remove" || op == "rename" {
                r.err("json_types", format!("{op} has no json_types"));
            }
            for (i, t) in list.iter().enumerate() {
                types.push(match t.as_str() {
                    "string" => JsonType::String,
                    "number" => JsonType::Number,
                    "boolean" => JsonType::Boolean,
                    _ => {
                        r.err(
                            &format!("json_types[{i}]"),
                            "expected one of: boolean, number, string",
                        );
                        JsonType::String
                    }
                });
            }
        }
        c.absorb(r);
        let valued = |pairs: Vec<(String, String)>| -> Vec<(String, serde_json::Value)> {
            pairs
                .into_iter()
                .enumerate()
                .map(|(i, (n, v))| {
                    let kind = types.get(i).copied().unwrap_or(JsonType::String);
                    (n, typed(&v, kind))
                })
                .collect()
        };
        match op {
            "remove" => ops.remove = pairs.into_iter().map(|(n, _)| n).collect(),
            "rename" => ops.rename = pairs,
            "replace" => ops.replace = valued(pairs),
            "add" => ops.add = valued(pairs),
            _ => ops.append = valued(pairs),
        }
    }
    ops
}

/// Kong's `is_json_body`: the content type mentions `application/json`.
fn is_json(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|ct| {
        ct.windows(16)
            .any(|w| w.eq_ignore_ascii_case(b"application/json"))
    })
}

pub(crate) struct ResponseTransformer {
    headers: Ops,
    json: JsonOps,
}

impl ResponseTransformer {
    pub fn compile(c: &mut Conf<'_>) -> Option<ResponseTransformer> {
        let (headers, query) = read_ops(c, &[], &["json", "json_types"]);
        if !query.is_empty() {
            c.err("add", "response-transformer has no querystring field");
        }
        let json = read_json_ops(c);
        Some(ResponseTransformer { headers, json })
    }

    /// Whether this response's body goes through [`ResponseTransformer::body_filter`].
    pub fn filters_body(&self, resp: &dyn ResponseView) -> bool {
        !self.json.is_empty() && is_json(resp.header("content-type"))
    }

    pub fn header_filter(&self, resp: &dyn ResponseView, ctx: &mut PluginCtx) {
        apply_headers(&self.headers, &mut ctx.response, &response_current(resp));
    }

    /// Body filter on the whole (buffered) body: a JSON object's top-level fields are
    /// transformed; anything else (not JSON, not an object) passes unchanged, as in Kong.
    pub fn body_filter(&self, body: &mut Vec<u8>) {
        let Ok(serde_json::Value::Object(mut fields)) =
            serde_json::from_slice::<serde_json::Value>(body)
        else {
            return;
        };
        let ops = &self.json;
        for name in &ops.remove {
            fields.remove(name);
        }
        for (old, new) in &ops.rename {
            if let Some(v) = fields.remove(old) {
                fields.insert(new.clone(), v);
            }
        }
        for (name, value) in &ops.replace {
            if let Some(slot) = fields.get_mut(name) {
                *slot = value.clone();
            }
        }
        for (name, value) in &ops.add {
            if !fields.contains_key(name) {
                fields.insert(name.clone(), value.clone());
            }
        }
        for (name, value) in &ops.append {
            let merged = match fields.remove(name) {
                Some(serde_json::Value::Array(mut items)) => {
                    items.push(value.clone());
                    serde_json::Value::Array(items)
                }
                Some(serde_json::Value::String(s)) => {
                    serde_json::Value::Array(vec![serde_json::Value::String(s), value.clone()])
                }
                _ => serde_json::Value::Array(vec![value.clone()]),
            };
            fields.insert(name.clone(), merged);
        }
        if let Ok(out) = serde_json::to_vec(&serde_json::Value::Object(fields)) {
            *body = out;
        }
    }
}
