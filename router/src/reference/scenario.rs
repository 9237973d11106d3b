//! Structured scenarios for differential testing: arbitrary bytes -> a route list and a
//! request drawn from small vocabularies (so routes overlap and ties happen), then
//! [`check`] compares [`crate::Router`] with [`super::RefRouter`]. Used by the unit tests (with
//! pseudo-random bytes) and by the `router_match` fuzz target.

use super::RefRouter;
use crate::{normalize_path, upstream_path, HeaderSource, RequestInfo, RouteSpec, Router};

const HOSTS: &[&str] = &[
    "example.com",
    "*.example.com",
    "example.*",
    "api.example.com",
    "api.example.com:8080",
    "*.com",
    "a.b",
    "*.b",
    "a.*",
    "EXAMPLE.com",
    "[::1]:80",
    "x.y.z",
    "*.a.b:81",
    "a.b.*",
];
const BAD_HOSTS: &[&str] = &["bad..host", "a.*.b", "*", "", "x:99999"];
const REQ_HOSTS: &[&str] = &[
    "example.com",
    "api.example.com",
    "API.Example.Com:8080",
    "x.example.com:8080",
    "example.org",
    "a.b",
    "x.a.b:81",
    "a.b.c",
    "[::1]:80",
    "[::1]",
    "example.com:",
    "x.y.z:99",
    ".b",
    "",
    "a.b:81",
    "example.com.",
];
const SEGS: &[&str] = &[
    "a", "b", "users", "42", "1", "x.y", "static", "..", ".", "", "%61", "%2F",
];
const ROUTE_SEGS: &[&str] = &["a", "b", "users", "42", "1", "x.y", "static", "%2F", "ab"];
const REGEXES: &[&str] = &[
    r"~/users/(?<id>\d+)",
    r"~/a|/b",
    r"~/a/.*",
    "~",
    r"~/(?<x>[ab])/(?<y>\w*)$",
    r"~/users/\d+/?$",
    r"~/static/(?P<f>.+)\.css",
    r"~/a/b?",
    r"~/x\.y",
    r"~/(?<id>\d+)?",
];
const TEMPLATE_SEGS: &[&str] = &["{}", "{}", "a", "users", "{{lit}}", "42"];
const METHODS: &[&str] = &["GET", "POST", "PURGE"];
const HEADER_NAMES: &[&str] = &["x-a", "X_A", "x-b"];
const HEADER_VALUES: &[&str] = &["1", "V", "~*^v\\d", "two words", "~*a|b"];
/// Invalid fields, drawn rarely so most scenarios compile.
const BAD_PATHS: &[&str] = &[
    "~(", "/{bad", "/{}", "/a//b", "/./a", "x", "/{a}/{a}", "/{*r}/x",
];

/// A decoded scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// The routes.
    pub specs: Vec<RouteSpec>,
    /// The request's Host header.
    pub host: Option<String>,
    /// The request method.
    pub method: String,
    /// The raw request path (normalised by [`check`]).
    pub raw_path: Vec<u8>,
    /// Request headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }
    fn pick<'v>(&mut self, v: &[&'v str]) -> &'v str {
        v[self.below(v.len())]
    }
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
}

fn path_from(b: &mut Bytes<'_>, segs: &[&str], max: usize) -> String {
    let n = 1 + b.below(max);
    let mut p = String::new();
    for _ in 0..n {
        p.push('/');
        p.push_str(b.pick(segs));
    }
    p
}

/// A template: static segments and `{pN}` parameters, maybe ending with a catch-all.
fn template_from(b: &mut Bytes<'_>) -> String {
    let mut p = String::new();
    for i in 0..1 + b.below(3) {
        p.push('/');
        match b.pick(TEMPLATE_SEGS) {
            "{}" => p.push_str(&format!("{{p{i}}}")),
            s => p.push_str(s),
        }
    }
    if b.flag() {
        p.push_str("/{*rest}");
    }
    p
}

impl Scenario {
    /// Decodes a scenario from arbitrary bytes (never fails; missing bytes read as 0).
    pub fn from_bytes(data: &[u8]) -> Scenario {
        let mut b = Bytes(data);
        let n_routes = 1 + b.below(8);
        let mut specs = Vec::with_capacity(n_routes);
        for i in 0..n_routes {
            let mut s = RouteSpec {
                id: u32::from(b.byte() % 6),
                name: format!("r{i}"),
                regex_priority: i32::from(b.byte() % 5) - 2,
                strip_path: b.flag(),
                created_order: u32::from(b.byte() % 4),
                ..RouteSpec::default()
            };
            for _ in 0..b.below(3) {
                let h = if b.below(32) == 31 {
                    b.pick(BAD_HOSTS)
                } else {
                    b.pick(HOSTS)
                };
                s.hosts.push(h.to_string());
            }
            for _ in 0..b.below(3) {
                let m = if b.below(64) == 63 {
                    "get"
                } else {
                    b.pick(METHODS)
                };
                s.methods.push(m.to_string());
            }
            for _ in 0..b.below(3) {
                let p = match b.below(64) {
                    63 => b.pick(BAD_PATHS).to_string(),
                    0..=15 => b.pick(REGEXES).to_string(),
                    16..=31 => template_from(&mut b),
                    _ => {
                        let mut p = path_from(&mut b, ROUTE_SEGS, 3);
                        if b.below(4) == 0 {
                            p.truncate(1 + b.below(p.len()));
                        }
                        p
                    }
                };
                s.paths.push(p);
            }
            let first = b.below(HEADER_NAMES.len());
            for j in 0..b.below(3) {
                let name = if b.below(64) == 63 {
                    "Host"
                } else {
                    HEADER_NAMES[(first + j) % HEADER_NAMES.len()]
                };
                let name = name.to_string();
                let vals = (0..1 + b.below(2))
                    .map(|_| b.pick(HEADER_VALUES).to_string())
                    .collect();
                s.headers.push((name, vals));
            }
            specs.push(s);
        }
        let host = match b.below(5) {
            0 => None,
            _ => Some(b.pick(REQ_HOSTS).to_string()),
        };
        let method = b.pick(METHODS).to_string();
        let mut raw_path = path_from(&mut b, SEGS, 5).into_bytes();
        if b.below(8) == 0 {
            raw_path.push(b.byte());
        }
        let mut headers = Vec::new();
        for _ in 0..b.below(4) {
            let name = b.pick(HEADER_NAMES).to_string();
            let v = match b.below(3) {
                0 => vec![b.byte(), b.byte()],
                _ => b
                    .pick(&["1", "v", "V7", "a", "two words", "b"])
                    .as_bytes()
                    .to_vec(),
            };
            headers.push((name, v));
        }
        Scenario {
            specs,
            host,
            method,
            raw_path,
            headers,
        }
    }
}

struct Hs<'a>(&'a [(String, Vec<u8>)]);

impl HeaderSource for Hs<'_> {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.0
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && f(v))
    }
}

/// Compiles the scenario's routes and looks its request up with both matchers; `Err` describes
/// a disagreement (or a broken invariant). Invalid routes or paths are fine (they must just be
/// reported as errors, not panic).
pub fn check(s: &Scenario) -> Result<(), String> {
    let mut path = String::new();
    let normalized = normalize_path(&s.raw_path, &mut path).is_ok();
    if normalized {
        let mut again = String::new();
        if normalize_path(path.as_bytes(), &mut again).is_err() || again != path {
            return Err(format!("normalize not idempotent: {path:?} -> {again:?}"));
        }
    }
    let router = match Router::compile(s.specs.clone()) {
        Ok(r) => r,
        Err(es) => {
            if es.is_empty() || es.iter().any(|e| e.field.is_empty() || e.reason.is_empty()) {
                return Err(format!("bad error list: {es:?}"));
            }
            return Ok(());
        }
    };
    let reference = RefRouter::new(&s.specs).map_err(|e| format!("reference rejects: {e}"))?;
    if !normalized {
        return Ok(());
    }
    let req = RequestInfo {
        host: s.host.as_deref().map(str::as_bytes),
        method: s.method.as_bytes(),
        path: &path,
    };
    let hs = Hs(&s.headers);
    let fast = router.lookup(&req, &hs).map(|m| {
        let caps: Vec<(String, String)> = m
            .captures()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (m.route_id(), m.strip_len(), caps)
    });
    let slow = reference
        .lookup(&req, &hs)
        .map(|m| (m.id, m.strip_len, m.captures));
    if fast != slow {
        return Err(format!(
            "router {fast:?} != reference {slow:?}\nrequest {req:?} headers {:?}\nroutes {:#?}",
            s.headers, s.specs
        ));
    }
    if let Some((_, strip, _)) = fast {
        if strip > path.len() || !path.is_char_boundary(strip) {
            return Err(format!("strip_len {strip} out of {path:?}"));
        }
        let mut up = String::new();
        upstream_path(Some("/svc"), &path, strip, &mut up);
        upstream_path(None, &path, strip, &mut up);
        if !up.starts_with('/') {
            return Err(format!("upstream path {up:?} does not start with '/'"));
        }
    }
    Ok(())
}
