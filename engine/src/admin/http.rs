//! Admin requests and replies: owned request data (the admin path is not hot), query strings,
//! percent-decoding, request bodies (JSON, form-urlencoded, multipart) and the reply writer.

use std::io::Write;

use serde_json::{Map, Value};

use crate::respond::{reason_phrase, SERVER};

/// One admin request, copied out of the connection buffer.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path as received (still percent-encoded).
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded (the first one when repeated).
    pub fn query(&self, name: &str) -> Option<String> {
        form_pairs(self.query.as_bytes())
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Decoded path segments; empty segments (doubled or trailing slashes) are skipped.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s.as_bytes(), false))
            .collect()
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The body as a JSON value: JSON, `application/x-www-form-urlencoded` or
    /// `multipart/form-data` (Kong's three). An empty body is an empty object.
    pub fn body_value(&self) -> Result<Value, Reply> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Map::new()));
        }
        let kind = self.content_type();
        if kind == "application/x-www-form-urlencoded" {
            return Ok(form_to_json(form_pairs(&self.body)));
        }
        if kind == "multipart/form-data" {
            let boundary = self
                .header("content-type")
                .and_then(multipart_boundary)
                .ok_or_else(|| Reply::message(400, "missing multipart boundary"))?;
            let parts = multipart_parts(&self.body, &boundary)
                .ok_or_else(|| Reply::message(400, "Cannot parse multipart body"))?;
            return Ok(form_to_json(parts));
        }
        serde_json::from_slice(&self.body)
            .map_err(|_| Reply::message(400, "Cannot parse JSON body"))
    }

    /// The body as text for `POST /config`: a `config` field of a JSON, form or multipart body
    /// (Kong's forms), else the whole body (YAML or JSON declarative config).
    pub fn config_text(&self) -> Result<String, Reply> {
        let kind = self.content_type();
        let structured = kind == "application/x-www-form-urlencoded"
            || kind == "multipart/form-data"
            || kind == "application/json";
        if structured {
            if let Ok(Value::Object(map)) = self.body_value() {
                if let Some(Value::String(text)) = map.get("config") {
                    return Ok(text.clone());
                }
                if kind != "application/json" {
                    return Err(Reply::message(400, "expected a 'config' field"));
                }
            }
        }
        String::from_utf8(self.body.clone())
            .map_err(|_| Reply::message(400, "the config is not valid UTF-8"))
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes; `plus_is_space` for form values. Invalid escapes stay as they are.
pub fn percent_decode(input: &[u8], plus_is_space: bool) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=2` into decoded pairs.
pub fn form_pairs(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &[][..]),
            };
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Fields whose form values are always strings (the rest are read as numbers or booleans when
/// they look like one, since forms carry no types).
const STRING_FIELDS: &[&str] = &[
    "id",
    "name",
    "username",
    "custom_id",
    "key",
    "group",
    "password",
    "target",
    "host",
    "path",
    "url",
    "tags",
    "paths",
    "hosts",
    "methods",
    "protocols",
    "protocol",
    "config",
    "host_header",
    "hash_on_header",
    "hash_fallback_header",
    "hash_on_cookie",
    "hash_on_cookie_path",
    "hash_on_query_arg",
    "hash_fallback_query_arg",
    "hash_on_uri_capture",
    "hash_fallback_uri_capture",
];

fn infer(field: &str, value: String) -> Value {
    if STRING_FIELDS.contains(&field) {
        return Value::String(value);
    }
    match value.as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match value.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => match value.parse::<f64>() {
                Ok(f) if f.is_finite() && value.contains('.') => Value::from(f),
                _ => Value::String(value),
            },
        },
    }
}

/// Kong's form conventions: `service.id=x` nests, `paths[]=/a` (or `paths[1]=/a`, or a
/// repeated key) makes a list.
pub fn form_to_json(pairs: Vec<(String, String)>) -> Value {
    let mut root = Map::new();
    for (key, value) in pairs {
        let (key, is_list) = match key.find('[') {
            Some(open) if key.ends_with(']') => (key[..open].to_owned(), true),
            _ => (key, false),
        };
        let parts: Vec<&str> = key.split('.').filter(|p| !p.is_empty()).collect();
        // Inside a plugin's config every value is inferred.
        let field = match parts.as_slice() {
            [] => continue,
            ["config", ..] if parts.len() > 1 => "",
            [.., last] => last,
        };
        let value = infer(field, value);
        insert_form(&mut root, &parts, value, is_list);
    }
    Value::Object(root)
}

fn insert_form(node: &mut Map<String, Value>, path: &[&str], value: Value, is_list: bool) {
    match path {
        [] => {}
        [last] => match node.get_mut(*last) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None if is_list => {
                node.insert((*last).to_owned(), Value::Array(vec![value]));
            }
            None => {
                node.insert((*last).to_owned(), value);
            }
        },
        [parent, rest @ ..] => {
            let entry = node
                .entry((*parent).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(child) = entry {
                insert_form(child, rest, value, is_list);
            }
        }
    }
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The named parts of a multipart/form-data body, values as text.
fn multipart_parts(body: &[u8], boundary: &str) -> Option<Vec<(String, String)>> {
    let delimiter = format!("--{boundary}");
    let mut pos = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Some(parts);
        }
        let head_start = find(body, b"\r\n", pos)? + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), head_end)?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let name = head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            v.split(';').find_map(|param| {
                let (k, v) = param.split_once('=')?;
                (k.trim() == "name").then(|| v.trim().trim_matches('"').to_owned())
            })
        });
        if let Some(name) = name {
            let value = String::from_utf8_lossy(&body[head_end + 4..next]).into_owned();
            parts.push((name, value));
        }
        pos = next + 2 + delimiter.len();
    }
}

/// What the admin listener answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

pub const JSON: &str = "application/json; charset=utf-8";

impl Reply {
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            content_type: JSON,
            body: serde_json::to_vec(value).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    /// Kong's `{"message": "..."}`.
    pub fn message(status: u16, message: &str) -> Reply {
        Reply::json(status, &serde_json::json!({ "message": message }))
    }

    pub fn not_found() -> Reply {
        Reply::message(404, "Not found")
    }

    pub fn method_not_allowed() -> Reply {
        Reply::message(405, "Method not allowed")
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            content_type: JSON,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// Appends the response to `out`. 204 and 304 carry neither a body nor a length.
    pub fn write(&self, out: &mut Vec<u8>, close: bool, head_only: bool) {
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nServer: {SERVER}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        let bodyless = self.status == 204 || self.status == 304;
        if !bodyless {
            let _ = write!(
                out,
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                self.content_type,
                self.body.len()
            );
        }
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !bodyless && !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a%20b+c", false), "a b+c");
        assert_eq!(percent_decode(b"a%20b+c", true), "a b c");
        assert_eq!(percent_decode(b"%5B%3A%3A1%5D%3A80", false), "[::1]:80");
        assert_eq!(percent_decode(b"bad%zz%", false), "bad%zz%");
        assert_eq!(percent_decode(b"end%4", false), "end%4");
    }

    #[test]
    fn forms_follow_kong_conventions() {
        let pairs = form_pairs(b"name=svc&port=8080&url=http%3A%2F%2Fx&paths[]=/a&paths[]=/b&service.id=123&strip_path=false&config.minute=5&config.policy=local&tags=1");
        assert_eq!(
            form_to_json(pairs),
            json!({
                "name": "svc",
                "port": 8080,
                "url": "http://x",
                "paths": ["/a", "/b"],
                "service": {"id": "123"},
                "strip_path": false,
                "config": {"minute": 5, "policy": "local"},
                "tags": "1",
            })
        );
    }

    #[test]
    fn multipart_config_field() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"config\"; filename=\"kong.yml\"\r\nContent-Type: application/octet-stream\r\n\r\n_format_version: \"3.0\"\n\r\n--XyZ--\r\n";
        let request = Request {
            method: "POST".into(),
            path: "/config".into(),
            headers: vec![(
                "content-type".into(),
                "multipart/form-data; boundary=XyZ".into(),
            )],
            body: body.to_vec(),
            ..Request::default()
        };
        assert_eq!(request.config_text().unwrap(), "_format_version: \"3.0\"\n");
    }

    #[test]
    fn replies_are_framed() {
        let mut out = Vec::new();
        Reply::no_content().write(&mut out, false, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(!text.contains("Content-Length"), "{text}");
        let mut out = Vec::new();
        Reply::not_found().write(&mut out, true, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 23\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n{\"message\":\"Not found\"}"),
            "{text}"
        );
    }
}
