//! # sluice-router
//!
//! Owns the route table: route specs (hosts, methods, paths, headers, priorities) are compiled
//! once into an immutable [`Router`], which answers "which route?" for a request without
//! allocating and in time that does not grow linearly with the number of routes.
//!
//! Where it sits in the request lifecycle (see `design.md`): **step 4**, after the request head
//! was parsed and validated (steps 2-3) and before the plugins' access phase (step 5). The engine
//! calls, per request:
//!
//! 1. [`normalize_path`] on the raw request-target path (the bytes before `?`);
//! 2. [`Router::lookup`] with the Host header, the method and the normalised path;
//! 3. [`upstream_path`] with the service path, the normalised path and [`RouteMatch::strip_len`]
//!    to build the path sent upstream (the raw query string, if any, is appended by the engine).
//!
//! ## What is matched, and what is forwarded
//!
//! Matching happens on the **normalised** path, and the normalised path (not the raw bytes) is
//! what is forwarded upstream: percent-encoded unreserved characters (`ALPHA DIGIT - . _ ~`) are
//! decoded, every other `%XX` is kept encoded with uppercase hex (so `%2F` stays `%2F` and never
//! becomes a path separator), dot-segments are removed (RFC 3986 section 5.2.4) and runs of `/`
//! are merged into one, as Kong 3.x does (`kong.tools.uri.normalize(uri, true)`). Paths that do
//! not start with `/`, that contain invalid percent-encoding, or bytes that are controls, space,
//! `#` or non-ASCII are rejected (the engine answers 400). The query string is never normalised.
//! Prefix and template paths in route specs must already be in this normal form (as in Kong,
//! where non-normalised prefixes are rejected); regex paths are matched against the normal form.
//!
//! ## Matching rules (Kong `traditional_compatible` semantics)
//!
//! * **hosts**: exact (ASCII case-insensitive), `*.example.com` (suffix `.example.com`) and
//!   `example.*` (prefix `example.`). A port in the request's Host header is ignored unless the
//!   route's host names a port (`example.com:8080`), in which case the Host header must carry
//!   that same port.
//! * **methods**: a set of uppercase methods, compared byte for byte; empty = any.
//! * **headers**: name -> values; values of one header are ORed, headers are ANDed. Plain values
//!   compare ASCII case-insensitively with any value of the request header; `~*regex` values are
//!   unanchored, case-insensitive regexes (Kong lowercases both the value and the pattern, which
//!   turns `\S` into `\s`; we use the regex engine's case-insensitive mode instead). Names are
//!   case-insensitive, `_` is treated as `-` (Kong), and `Host` is forbidden (it belongs in
//!   `hosts`).
//! * **paths**: `/prefix` is a raw string prefix (`/foo` matches `/foobar`); `~regex` is a regex
//!   anchored at the start only, compiled as `^(?:regex)` (Kong prepends a bare `^`, which
//!   leaves later alternatives of `a|b` unanchored; we anchor them all), with named groups
//!   exposed as captures; a path containing `{` or `}` is a template (our extension, a subset
//!   of matchit's syntax): `/users/{id}` and `/static/{*rest}`, where a parameter fills a whole
//!   segment and a catch-all is the last segment; `{{`/`}}` are literal braces. Templates match
//!   the whole path, and overlapping templates are all considered (priority decides).
//!
//! A method or header mismatch on an otherwise matching route means that route does not match
//! (the engine answers 404, as Kong does).
//!
//! ## Priority (most significant first; see the `priority` table test)
//!
//! Each (route, path) pair is ranked on its own, as Kong 3.x splits routes by path:
//! 1. number of fields set (methods, hosts, headers, paths);
//! 2. plain hosts only (no wildcard host);
//! 3. number of headers;
//! 4. regex/template path before prefix path (and before a route without paths);
//! 5. `regex_priority` (higher first; only for regex and template paths);
//! 6. longest prefix first (for templates: most static bytes first; regexes count 0);
//! 7. `created_order` (lower first), then `id`, then position in the spec list, then path index.
//!
//! ## How lookup stays fast
//!
//! [`Router::compile`] turns every (route, path) pair into an entry and sorts the entries by the
//! order above, so an entry's index is its rank and "best match" means "lowest matching index".
//! Entries are filed per host pattern into buckets (exact hosts in a case-insensitive hash
//! map; `*.x` and `x.*` in maps probed once per `.` of the request host; host-less routes in
//! one more bucket). Within a bucket, prefix paths (plus routes without paths under `""`, and
//! regex paths under the literal text their matches must start with) live in a byte-wise radix
//! trie walked once along the request path, and templates in a segment trie searched
//! depth-first. Every list is sorted and every subtree knows its best rank, so the search
//! stops as soon as nothing left can beat the best match found. Method bits and "needs a
//! header/regex check" flags sit next to each entry id, so most rejections touch nothing else.
//! The cost grows with the request (host labels, path length, matching candidates), not with
//! the number of routes, and nothing is allocated (see `tests/no_alloc.rs`).
//! `reference::RefRouter` is a linear-scan matcher of the same rules, used by the tests and
//! the fuzz target to check this one.

#![forbid(unsafe_code)]

mod compile;
mod host;
mod lookup;
mod normalize;
mod path;
#[doc(hidden)]
pub mod reference;
mod trie;
mod upstream;

pub use compile::RouteError;
pub use lookup::{Captures, RouteMatch};
pub use normalize::{normalize_path, normalize_path_opts, PathError};
pub use upstream::upstream_path;

/// Index the caller assigns to a route (usually its position in the caller's route list);
/// returned by [`RouteMatch::route_id`].
pub type RouteId = u32;

/// One route as the caller describes it; [`Router::compile`] validates and compiles a list.
#[derive(Debug, Clone, Default)]
pub struct RouteSpec {
    /// Returned on match.
    pub id: RouteId,
    /// For error messages (`""` if unnamed; errors then show the id).
    pub name: String,
    /// `example.com`, `example.com:8080`, `*.example.com`, `example.*`; empty = any host.
    pub hosts: Vec<String>,
    /// Uppercase methods; empty = any method.
    pub methods: Vec<String>,
    /// `/prefix`, `~/regex/(?<id>\d+)$`, `/users/{id}` (template); empty = any path.
    pub paths: Vec<String>,
    /// Header name -> accepted values; a `~*` value prefix makes the value a regex.
    pub headers: Vec<(String, Vec<String>)>,
    /// Orders regex (and template) paths among routes of equal rank otherwise.
    pub regex_priority: i32,
    /// Whether the matched part of the path is removed before joining the service path.
    pub strip_path: bool,
    /// Final tie-break: lower first (creation order).
    pub created_order: u32,
}

/// The request facts the router matches on.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'q> {
    /// The Host header value exactly as received (may include `:port`); `None` if absent.
    pub host: Option<&'q [u8]>,
    /// The request method, e.g. `b"GET"`.
    pub method: &'q [u8],
    /// The path as produced by [`normalize_path`], without the query string.
    pub path: &'q str,
}

/// Access to the request headers for header-matching routes.
pub trait HeaderSource {
    /// Calls `f` with each value of header `name` (given lowercase ASCII) until `f` returns
    /// true; returns whether `f` returned true.
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

/// Convenience for tests and simple callers: header names compare ASCII case-insensitively.
impl HeaderSource for [(&str, &[u8])] {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && f(v))
    }
}

/// A request without headers (or a caller that knows no route matches on headers).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

impl HeaderSource for NoHeaders {
    fn any_value(&self, _name: &str, _f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
    }
}

impl<T: HeaderSource + ?Sized> HeaderSource for &T {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        (**self).any_value(name, f)
    }
}

pub use compile::Router;
