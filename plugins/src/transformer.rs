//! request-transformer (priority 801) and response-transformer (800): headers and query string.
//! Kong's order and semantics: remove, rename, replace (only if present), add (only if absent),
//! append (always). Body / JSON transforms, `http_method`, `replace.uri` and `$(...)` templates
//! are refused at compile time.

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
        edits.clear_header(n);
    }
    for (old, new) in &ops.rename {
        let values = current(edits, old);
        if values.is_empty() || old.eq_ignore_ascii_case(new) {
            continue;
        }
        edits.clear_header(old);
        edits.clear_header(new);
        edits.set_header(new, values[0].clone());
        for v in &values[1..] {
            edits.append_header(new, v.clone());
        }
    }
    for (n, v) in &ops.replace {
        if !current(edits, n).is_empty() {
            edits.set_header(n, v.clone());
        }
    }
    for (n, v) in &ops.add {
        if current(edits, n).is_empty() {
            edits.set_header(n, v.clone());
        }
    }
    for (n, v) in &ops.append {
        edits.append_header(n, v.clone());
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

pub(crate) struct ResponseTransformer {
    headers: Ops,
}

impl ResponseTransformer {
    pub fn compile(c: &mut Conf<'_>) -> Option<ResponseTransformer> {
        let (headers, query) = read_ops(c, &["json"], &["json_types"]);
        if !query.is_empty() {
            c.err("add", "response-transformer has no querystring field");
        }
        Some(ResponseTransformer { headers })
    }

    pub fn header_filter(&self, resp: &dyn ResponseView, ctx: &mut PluginCtx) {
        apply_headers(&self.headers, &mut ctx.response, &response_current(resp));
    }
}
