//! Compiling route specs into the immutable route table.
//!
//! Every (route, path) pair becomes an *entry*; entries are sorted by Kong's priority (see the
//! crate docs), so an entry's index is its rank and "best match" means "lowest matching index".
//! Each entry is then filed in the *bucket* of every host pattern of its route (or the any-host
//! bucket): a prefix trie (prefix paths; routes without paths under `""`; regex paths under
//! their literal prefix) and a template trie.

use crate::host::{parse_route_host, HostIndex, HostKind, HostPattern};
use crate::path::{anchored_regex, parse_template, regex_literal_prefix, Template};
use crate::trie::{EntryRef, PrefixTrie, PrefixTrieBuilder, TemplateTrie, TemplateTrieBuilder};
use crate::RouteSpec;
use std::cmp::Reverse;
use std::collections::HashMap;

/// A route spec that cannot be compiled: which route, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route '{route}': {field}: {reason}")]
pub struct RouteError {
    /// The route's name, or its id when it has no name.
    pub route: String,
    /// The offending field, e.g. `paths[1]`, `hosts[0]`, `headers.x-foo[2]`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Methods known to a bit each; others are compared as bytes.
const KNOWN_METHODS: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"CONNECT",
];

/// The bit of a request method not in [`KNOWN_METHODS`]: such methods are compared with the
/// route's list of other methods.
pub(crate) const OTHER_METHOD: u16 = 1 << 15;
/// A route without methods accepts every bit.
pub(crate) const ANY_METHOD: u16 = u16::MAX;

#[inline]
pub(crate) fn method_bit(m: &[u8]) -> u16 {
    KNOWN_METHODS
        .iter()
        .position(|k| *k == m)
        .map_or(OTHER_METHOD, |i| 1 << i)
}

#[derive(Debug, Clone)]
pub(crate) struct HeaderCond {
    /// Lowercase, `_` replaced by `-`.
    pub(crate) name: Box<str>,
    /// Lowercase plain values.
    pub(crate) plain: Box<[Box<[u8]>]>,
    /// Indexes into `Router::header_regexes`.
    pub(crate) regexes: Box<[u32]>,
}

#[derive(Debug, Clone)]
pub(crate) struct CRoute {
    pub(crate) id: crate::RouteId,
    /// Methods outside [`KNOWN_METHODS`].
    pub(crate) other_methods: Box<[Box<[u8]>]>,
    pub(crate) headers: Box<[HeaderCond]>,
    pub(crate) strip_path: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryPath {
    Any,
    Prefix(u32),
    Regex(u32),
    Template(u32),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) route: u32,
    pub(crate) path: EntryPath,
    /// The route's method bits (copied here so most rejections never touch the route).
    pub(crate) methods: u16,
    pub(crate) has_headers: bool,
}

#[derive(Debug)]
pub(crate) struct PathRegex {
    pub(crate) re: regex::Regex,
    pub(crate) has_names: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) min: u32,
    pub(crate) prefix: PrefixTrie,
    pub(crate) templates: Option<TemplateTrie>,
}

#[derive(Debug, Default)]
struct BucketBuilder {
    min: u32,
    prefix: PrefixTrieBuilder,
    templates: Option<TemplateTrieBuilder>,
}

/// The compiled, immutable route table. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Router {
    pub(crate) routes: Vec<CRoute>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) regexes: Vec<PathRegex>,
    pub(crate) templates: Vec<Template>,
    pub(crate) header_regexes: Vec<regex::bytes::Regex>,
    pub(crate) buckets: Vec<Bucket>,
    pub(crate) any_host: Option<u32>,
    pub(crate) hosts: HostIndex,
}

/// Kong's priority as a sortable key (ascending = better). See the crate docs.
type SortKey = (
    Reverse<u8>,    // number of fields set
    Reverse<bool>,  // plain hosts only
    Reverse<usize>, // number of headers
    Reverse<bool>,  // regex or template path
    Reverse<i32>,   // regex_priority (regex/template paths only)
    Reverse<usize>, // prefix length (template: static bytes)
    u32,            // created_order
    u32,            // id
    usize,          // position in the spec list
    usize,          // path index
);

enum PathPat {
    Any,
    Prefix(String),
    Regex(String, u32),
    Template(Template),
}

fn regex_reason(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    format!(
        "invalid regex: {}",
        last.trim().trim_start_matches("error: ")
    )
}

fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

struct Compiler {
    errors: Vec<crate::RouteError>,
    path_regex_ids: HashMap<String, u32>,
    regexes: Vec<PathRegex>,
    header_regex_ids: HashMap<String, u32>,
    header_regexes: Vec<regex::bytes::Regex>,
}

impl Compiler {
    fn path_regex(&mut self, src: &str) -> Result<u32, String> {
        if let Some(&i) = self.path_regex_ids.get(src) {
            return Ok(i);
        }
        let re = regex::Regex::new(&anchored_regex(src)).map_err(|e| regex_reason(&e))?;
        let has_names = re.capture_names().any(|n| n.is_some());
        let i = u32::try_from(self.regexes.len()).unwrap_or(u32::MAX);
        self.regexes.push(PathRegex { re, has_names });
        self.path_regex_ids.insert(src.to_string(), i);
        Ok(i)
    }

    fn header_regex(&mut self, src: &str) -> Result<u32, String> {
        if let Some(&i) = self.header_regex_ids.get(src) {
            return Ok(i);
        }
        let re = regex::bytes::RegexBuilder::new(src)
            .case_insensitive(true)
            .build()
            .map_err(|e| regex_reason(&e))?;
        let i = u32::try_from(self.header_regexes.len()).unwrap_or(u32::MAX);
        self.header_regexes.push(re);
        self.header_regex_ids.insert(src.to_string(), i);
        Ok(i)
    }
}

impl Router {
    /// Validates and compiles `specs`; returns every error found, not just the first.
    pub fn compile(specs: Vec<RouteSpec>) -> Result<Router, Vec<crate::RouteError>> {
        let mut c = Compiler {
            errors: Vec::new(),
            path_regex_ids: HashMap::new(),
            regexes: Vec::new(),
            header_regex_ids: HashMap::new(),
            header_regexes: Vec::new(),
        };
        let mut routes = Vec::with_capacity(specs.len());
        let mut route_hosts: Vec<Vec<HostPattern>> = Vec::with_capacity(specs.len());
        let mut templates = Vec::new();
        let mut keyed: Vec<(SortKey, Entry, Option<String>)> = Vec::with_capacity(specs.len());

        for (si, spec) in specs.iter().enumerate() {
            let before = c.errors.len();
            let rname = if spec.name.is_empty() {
                spec.id.to_string()
            } else {
                spec.name.clone()
            };
            let err = |errors: &mut Vec<crate::RouteError>, field: String, reason: String| {
                errors.push(crate::RouteError {
                    route: rname.clone(),
                    field,
                    reason,
                });
            };

            let mut hosts = Vec::with_capacity(spec.hosts.len());
            for (i, h) in spec.hosts.iter().enumerate() {
                match parse_route_host(h) {
                    Ok(p) => hosts.push(p),
                    Err(r) => err(&mut c.errors, format!("hosts[{i}]"), r),
                }
            }

            let mut bits = 0u16;
            let mut extra: Vec<Box<[u8]>> = Vec::new();
            for (i, m) in spec.methods.iter().enumerate() {
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                    err(
                        &mut c.errors,
                        format!("methods[{i}]"),
                        format!("invalid method '{m}': must be uppercase letters only"),
                    );
                    continue;
                }
                match method_bit(m.as_bytes()) {
                    OTHER_METHOD => {
                        extra.push(m.as_bytes().into());
                        bits |= OTHER_METHOD;
                    }
                    b => bits |= b,
                }
            }
            if spec.methods.is_empty() {
                bits = ANY_METHOD;
            }

            let mut headers: Vec<HeaderCond> = Vec::with_capacity(spec.headers.len());
            for (i, (name, values)) in spec.headers.iter().enumerate() {
                let canon = name.to_ascii_lowercase().replace('_', "-");
                let field = if valid_token(name) {
                    format!("headers.{name}")
                } else {
                    format!("headers[{i}]")
                };
                if !valid_token(name) {
                    err(
                        &mut c.errors,
                        field,
                        format!("invalid header name '{name}'"),
                    );
                    continue;
                }
                if canon == "host" {
                    err(
                        &mut c.errors,
                        field,
                        "cannot match on the Host header here; use 'hosts'".into(),
                    );
                    continue;
                }
                if headers.iter().any(|h| *h.name == *canon) {
                    err(&mut c.errors, field, "duplicate header name".into());
                    continue;
                }
                if values.is_empty() {
                    err(
                        &mut c.errors,
                        field,
                        "at least one value is required".into(),
                    );
                    continue;
                }
                let mut plain = Vec::new();
                let mut regexes = Vec::new();
                for (j, v) in values.iter().enumerate() {
                    if let Some(re) = v.strip_prefix("~*") {
                        match c.header_regex(re) {
                            Ok(k) => regexes.push(k),
                            Err(r) => err(&mut c.errors, format!("{field}[{j}]"), r),
                        }
                    } else {
                        plain.push(v.to_ascii_lowercase().into_bytes().into_boxed_slice());
                    }
                }
                headers.push(HeaderCond {
                    name: canon.into_boxed_str(),
                    plain: plain.into_boxed_slice(),
                    regexes: regexes.into_boxed_slice(),
                });
            }

            let mut paths = Vec::with_capacity(spec.paths.len().max(1));
            for (i, p) in spec.paths.iter().enumerate() {
                let field = format!("paths[{i}]");
                if let Some(src) = p.strip_prefix('~') {
                    match c.path_regex(src) {
                        Ok(k) => paths.push(PathPat::Regex(src.to_string(), k)),
                        Err(r) => err(&mut c.errors, field, r),
                    }
                } else if !p.starts_with('/') {
                    err(
                        &mut c.errors,
                        field,
                        "must start with '/' (prefix or template) or '~' (regex)".into(),
                    );
                } else if p.contains('{') || p.contains('}') {
                    match parse_template(p) {
                        Ok(t) => paths.push(PathPat::Template(t)),
                        Err(r) => err(&mut c.errors, field, r),
                    }
                } else if !crate::normalize::is_normalized(p) {
                    let mut n = String::new();
                    let hint = match crate::normalize_path(p.as_bytes(), &mut n) {
                        Ok(()) => format!("; use '{n}'"),
                        Err(e) => format!(": {e}"),
                    };
                    err(
                        &mut c.errors,
                        field,
                        format!("path is not normalized{hint}"),
                    );
                } else {
                    paths.push(PathPat::Prefix(p.clone()));
                }
            }
            if c.errors.len() > before {
                continue;
            }
            if paths.is_empty() {
                paths.push(PathPat::Any);
            }

            let route_idx = u32::try_from(routes.len()).unwrap_or(u32::MAX);
            let weight = u8::from(!spec.methods.is_empty())
                + u8::from(!hosts.is_empty())
                + u8::from(!headers.is_empty())
                + u8::from(!spec.paths.is_empty());
            let plain = !hosts.is_empty() && hosts.iter().all(|h| h.kind == HostKind::Exact);
            for (pi, p) in paths.into_iter().enumerate() {
                let (regex_like, len, path, literal) = match p {
                    PathPat::Any => (false, 0, EntryPath::Any, Some(String::new())),
                    PathPat::Prefix(s) => (
                        false,
                        s.len(),
                        EntryPath::Prefix(u32::try_from(s.len()).unwrap_or(u32::MAX)),
                        Some(s),
                    ),
                    PathPat::Regex(src, k) => (
                        true,
                        0,
                        EntryPath::Regex(k),
                        Some(regex_literal_prefix(&src).to_string()),
                    ),
                    PathPat::Template(t) => {
                        let len = t.static_len;
                        let k = u32::try_from(templates.len()).unwrap_or(u32::MAX);
                        templates.push(t);
                        (true, len, EntryPath::Template(k), None)
                    }
                };
                let key: SortKey = (
                    Reverse(weight),
                    Reverse(plain),
                    Reverse(headers.len()),
                    Reverse(regex_like),
                    Reverse(if regex_like { spec.regex_priority } else { 0 }),
                    Reverse(len),
                    spec.created_order,
                    spec.id,
                    si,
                    pi,
                );
                keyed.push((
                    key,
                    Entry {
                        route: route_idx,
                        path,
                        methods: bits,
                        has_headers: !headers.is_empty(),
                    },
                    literal,
                ));
            }
            routes.push(CRoute {
                id: spec.id,
                other_methods: extra.into_boxed_slice(),
                headers: headers.into_boxed_slice(),
                strip_path: spec.strip_path,
            });
            route_hosts.push(hosts);
        }
        if !c.errors.is_empty() {
            return Err(c.errors);
        }
        if u32::try_from(keyed.len()).is_err() {
            return Err(vec![crate::RouteError {
                route: "*".into(),
                field: "paths".into(),
                reason: "too many routes".into(),
            }]);
        }

        keyed.sort_unstable_by_key(|k| k.0);

        let mut hosts = HostIndex::default();
        let mut buckets: Vec<BucketBuilder> = Vec::new();
        let mut any_host: Option<u32> = None;
        let mut entries = Vec::with_capacity(keyed.len());
        for (eid, (_, entry, literal)) in keyed.into_iter().enumerate() {
            let eid = u32::try_from(eid).unwrap_or(u32::MAX);
            let mut new_bucket = || {
                buckets.push(BucketBuilder {
                    min: u32::MAX,
                    ..BucketBuilder::default()
                });
                u32::try_from(buckets.len() - 1).unwrap_or(u32::MAX)
            };
            let mut targets: Vec<u32> = Vec::new();
            let rh = &route_hosts[entry.route as usize];
            if rh.is_empty() {
                targets.push(*any_host.get_or_insert_with(&mut new_bucket));
            } else {
                for p in rh {
                    let b = hosts.bucket_for(p, &mut new_bucket);
                    if !targets.contains(&b) {
                        targets.push(b);
                    }
                }
            }
            let mut flags = 0;
            if matches!(entry.path, EntryPath::Regex(_)) {
                flags |= EntryRef::REGEX;
            }
            if entry.has_headers {
                flags |= EntryRef::HEADERS;
            }
            let eref = EntryRef {
                id: eid,
                methods: entry.methods,
                flags,
            };
            for b in targets {
                let bucket = &mut buckets[b as usize];
                bucket.min = bucket.min.min(eid);
                match (&entry.path, &literal) {
                    (EntryPath::Template(t), _) => bucket
                        .templates
                        .get_or_insert_with(TemplateTrieBuilder::default)
                        .insert(&templates[*t as usize].segs, eref),
                    (_, Some(lit)) => bucket.prefix.insert(lit.as_bytes(), eref),
                    (_, None) => {}
                }
            }
            entries.push(entry);
        }
        let buckets: Vec<Bucket> = buckets
            .into_iter()
            .map(|b| Bucket {
                min: b.min,
                prefix: b.prefix.build(),
                templates: b.templates.map(TemplateTrieBuilder::build),
            })
            .collect();
        Ok(Router {
            routes,
            entries,
            regexes: c.regexes,
            templates,
            header_regexes: c.header_regexes,
            buckets,
            any_host,
            hosts,
        })
    }

    /// A router with no routes: every lookup misses.
    pub fn empty() -> Router {
        Router::default()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
