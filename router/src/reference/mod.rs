//! A slow, obviously-correct reference matcher: a linear scan over the specs that implements
//! the documented rules directly (templates via a one-route `matchit` router each), used by the
//! unit tests and the `router_match` fuzz target to check [`crate::Router`]. Not for production.
//!
//! It assumes the specs were accepted by [`crate::Router::compile`]; [`RefRouter::new`] returns
//! `Err` if a pattern unexpectedly fails to build.

use crate::{HeaderSource, RequestInfo, RouteId, RouteSpec};

/// What the reference matcher found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMatch {
    /// The route's id.
    pub id: RouteId,
    /// As [`crate::RouteMatch::strip_len`].
    pub strip_len: usize,
    /// As [`crate::RouteMatch::captures`], collected.
    pub captures: Vec<(String, String)>,
}

enum RefHost {
    Exact(String, Option<u16>),
    Suffix(String, Option<u16>),
    Prefix(String, Option<u16>),
}

enum RefPath {
    Prefix(String),
    Regex(regex::Regex),
    Template(matchit::Router<()>, usize),
}

enum RefVal {
    Plain(String),
    Regex(regex::bytes::Regex),
}

struct RefRoute {
    spec: RouteSpec,
    hosts: Vec<RefHost>,
    paths: Vec<RefPath>,
    headers: Vec<(String, Vec<RefVal>)>,
}

/// The reference router: just the specs, matched one by one.
pub struct RefRouter {
    routes: Vec<RefRoute>,
}

impl std::fmt::Debug for RefRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RefRouter({} routes)", self.routes.len())
    }
}

fn ref_host(h: &str) -> RefHost {
    let lower = h.to_ascii_lowercase();
    let (name, port) = if lower.starts_with('[') {
        match lower.rsplit_once("]:") {
            Some((n, p)) => (format!("{n}]"), p.parse::<u16>().ok()),
            None => (lower, None),
        }
    } else {
        match lower.rsplit_once(':') {
            Some((n, p)) => (n.to_string(), p.parse::<u16>().ok()),
            None => (lower, None),
        }
    };
    if let Some(rest) = name.strip_prefix('*') {
        RefHost::Suffix(rest.to_string(), port)
    } else if let Some(rest) = name.strip_suffix('*') {
        RefHost::Prefix(rest.to_string(), port)
    } else {
        RefHost::Exact(name, port)
    }
}

/// Bytes of literal text before the first (unescaped) `{` of a template.
fn template_static_prefix(t: &str) -> usize {
    let b = t.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if (b[i] == b'{' || b[i] == b'}') && b.get(i + 1) == Some(&b[i]) {
            i += 2;
        } else if b[i] == b'{' {
            break;
        } else {
            i += 1;
        }
        n += 1;
    }
    n
}

impl RefRouter {
    /// Prepares the specs (which must have compiled with [`crate::Router::compile`]).
    pub fn new(specs: &[RouteSpec]) -> Result<RefRouter, String> {
        let mut routes = Vec::new();
        for spec in specs {
            let hosts = spec.hosts.iter().map(|h| ref_host(h)).collect();
            let mut paths = Vec::new();
            for p in &spec.paths {
                if let Some(re) = p.strip_prefix('~') {
                    let re = regex::Regex::new(&format!("^(?:{re})")).map_err(|e| e.to_string())?;
                    paths.push(RefPath::Regex(re));
                } else if p.contains('{') || p.contains('}') {
                    let mut m = matchit::Router::new();
                    m.insert(p.as_str(), ()).map_err(|e| e.to_string())?;
                    paths.push(RefPath::Template(m, template_static_prefix(p)));
                } else {
                    paths.push(RefPath::Prefix(p.clone()));
                }
            }
            let mut headers = Vec::new();
            for (name, values) in &spec.headers {
                let mut vals = Vec::new();
                for v in values {
                    if let Some(re) = v.strip_prefix("~*") {
                        let re = regex::bytes::RegexBuilder::new(re)
                            .case_insensitive(true)
                            .build()
                            .map_err(|e| e.to_string())?;
                        vals.push(RefVal::Regex(re));
                    } else {
                        vals.push(RefVal::Plain(v.to_ascii_lowercase()));
                    }
                }
                headers.push((name.to_ascii_lowercase().replace('_', "-"), vals));
            }
            routes.push(RefRoute {
                spec: spec.clone(),
                hosts,
                paths,
                headers,
            });
        }
        Ok(RefRouter { routes })
    }

    /// The best matching route, by scanning every route and path.
    pub fn lookup<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestInfo<'_>,
        headers: &H,
    ) -> Option<RefMatch> {
        type Key = (
            u8,
            bool,
            usize,
            bool,
            i64,
            usize,
            std::cmp::Reverse<(u32, u32, usize, usize)>,
        );
        let mut best: Option<(Key, RefMatch)> = None;
        let (req_host, req_port) = match req.host {
            Some(h) => {
                let (n, p) = crate::host::split_request_host(h);
                (Some(n.to_ascii_lowercase()), p)
            }
            None => (None, None),
        };
        for (si, r) in self.routes.iter().enumerate() {
            let s = &r.spec;
            let host_ok = r.hosts.is_empty()
                || r.hosts.iter().any(|h| {
                    let Some(name) = req_host.as_deref() else {
                        return false;
                    };
                    let (ok, port) = match h {
                        RefHost::Exact(n, p) => (name == n.as_bytes(), p),
                        RefHost::Suffix(n, p) => (name.ends_with(n.as_bytes()), p),
                        RefHost::Prefix(n, p) => (name.starts_with(n.as_bytes()), p),
                    };
                    ok && port.is_none_or(|p| Some(p) == req_port)
                });
            let method_ok =
                s.methods.is_empty() || s.methods.iter().any(|m| m.as_bytes() == req.method);
            let headers_ok = r.headers.iter().all(|(name, vals)| {
                headers.any_value(name, &mut |v: &[u8]| {
                    vals.iter().any(|x| match x {
                        RefVal::Plain(p) => p.as_bytes().eq_ignore_ascii_case(v),
                        RefVal::Regex(re) => re.is_match(v),
                    })
                })
            });
            if !(host_ok && method_ok && headers_ok) {
                continue;
            }
            let weight = u8::from(!s.methods.is_empty())
                + u8::from(!s.hosts.is_empty())
                + u8::from(!s.headers.is_empty())
                + u8::from(!s.paths.is_empty());
            let plain = !s.hosts.is_empty() && s.hosts.iter().all(|h| !h.contains('*'));
            let mut consider = |regex_like: bool, len: usize, pi: usize, m: RefMatch| {
                let rp = if regex_like {
                    i64::from(s.regex_priority)
                } else {
                    0
                };
                let key: Key = (
                    weight,
                    plain,
                    s.headers.len(),
                    regex_like,
                    rp,
                    len,
                    std::cmp::Reverse((s.created_order, s.id, si, pi)),
                );
                if best.as_ref().is_none_or(|(k, _)| key > *k) {
                    best = Some((key, m));
                }
            };
            let strip = |n: usize| if s.strip_path { n } else { 0 };
            if r.paths.is_empty() {
                consider(
                    false,
                    0,
                    0,
                    RefMatch {
                        id: s.id,
                        strip_len: 0,
                        captures: vec![],
                    },
                );
            }
            for (pi, p) in r.paths.iter().enumerate() {
                match p {
                    RefPath::Prefix(pre) => {
                        if req.path.starts_with(pre.as_str()) {
                            let m = RefMatch {
                                id: s.id,
                                strip_len: strip(pre.len()),
                                captures: vec![],
                            };
                            consider(false, pre.len(), pi, m);
                        }
                    }
                    RefPath::Regex(re) => {
                        if let Some(c) = re.captures(req.path) {
                            let whole = c.get(0).map_or(0, |m| m.end());
                            let captures = re
                                .capture_names()
                                .enumerate()
                                .filter_map(|(i, n)| {
                                    Some((n?.to_string(), c.get(i)?.as_str().to_string()))
                                })
                                .collect();
                            let m = RefMatch {
                                id: s.id,
                                strip_len: strip(whole),
                                captures,
                            };
                            consider(true, 0, pi, m);
                        }
                    }
                    RefPath::Template(mr, prefix) => {
                        if let Ok(found) = mr.at(req.path) {
                            let captures = found
                                .params
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect();
                            let len = s.paths[pi].len() - count_template_dynamic(&s.paths[pi]);
                            let m = RefMatch {
                                id: s.id,
                                strip_len: strip(*prefix),
                                captures,
                            };
                            consider(true, len, pi, m);
                        }
                    }
                }
            }
        }
        best.map(|(_, m)| m)
    }
}

/// Bytes of a template's source that are not static text once unescaped: a parameter counts
/// fully, an escape pair (`{{`) as one.
fn count_template_dynamic(t: &str) -> usize {
    let b = t.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if (b[i] == b'{' || b[i] == b'}') && b.get(i + 1) == Some(&b[i]) {
            n += 1;
            i += 2;
        } else if b[i] == b'{' {
            let close = t[i..].find('}').map_or(b.len(), |j| i + j);
            n += close + 1 - i;
            i = close + 1;
        } else {
            i += 1;
        }
    }
    n
}

mod scenario;
pub use scenario::{check, Scenario};
