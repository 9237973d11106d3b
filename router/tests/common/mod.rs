//! Shared helpers for the table tests: a terse route builder and a lookup that also checks the
//! fast router against the reference matcher on every call.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use sluice_router::reference::{RefMatch, RefRouter};
use sluice_router::{normalize_path, RequestInfo, RouteSpec, Router};

pub struct B(pub RouteSpec);

/// A route with id `id`, name `r<id>`, created in id order, strip_path on (Kong's default).
pub fn r(id: u32) -> B {
    B(RouteSpec {
        id,
        name: format!("r{id}"),
        strip_path: true,
        created_order: id,
        ..RouteSpec::default()
    })
}

impl B {
    pub fn hosts(mut self, h: &[&str]) -> Self {
        self.0.hosts = h.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn methods(mut self, m: &[&str]) -> Self {
        self.0.methods = m.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn paths(mut self, p: &[&str]) -> Self {
        self.0.paths = p.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn header(mut self, name: &str, vals: &[&str]) -> Self {
        self.0.headers.push((
            name.to_string(),
            vals.iter().map(|s| s.to_string()).collect(),
        ));
        self
    }
    pub fn prio(mut self, p: i32) -> Self {
        self.0.regex_priority = p;
        self
    }
    pub fn strip(mut self, s: bool) -> Self {
        self.0.strip_path = s;
        self
    }
    pub fn created(mut self, c: u32) -> Self {
        self.0.created_order = c;
        self
    }
    pub fn name(mut self, n: &str) -> Self {
        self.0.name = n.to_string();
        self
    }
}

pub struct Both {
    pub fast: Router,
    pub slow: RefRouter,
}

pub fn compile(routes: Vec<B>) -> Both {
    let specs: Vec<RouteSpec> = routes.into_iter().map(|b| b.0).collect();
    let slow = RefRouter::new(&specs).unwrap();
    let fast = Router::compile(specs).unwrap_or_else(|e| {
        panic!(
            "compile failed: {}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    Both { fast, slow }
}

/// (route id, strip_len, captures)
pub type Found = Option<(u32, usize, Vec<(String, String)>)>;

impl Both {
    /// Looks `path` up (normalising it first) with both matchers and asserts they agree.
    pub fn find(
        &self,
        host: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Found {
        let mut norm = String::new();
        normalize_path(path.as_bytes(), &mut norm).unwrap();
        let hs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        let req = RequestInfo {
            host: host.map(str::as_bytes),
            method: method.as_bytes(),
            path: &norm,
        };
        let fast = self.fast.lookup(&req, hs.as_slice()).map(|m| {
            (
                m.route_id(),
                m.strip_len(),
                m.captures()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            )
        });
        let slow = self.slow.lookup(&req, hs.as_slice()).map(
            |RefMatch {
                 id,
                 strip_len,
                 captures,
             }| (id, strip_len, captures),
        );
        assert_eq!(
            fast, slow,
            "fast vs reference for {method} {host:?} {path} {headers:?}"
        );
        fast
    }

    pub fn id(&self, host: Option<&str>, method: &str, path: &str) -> Option<u32> {
        self.find(host, method, path, &[]).map(|f| f.0)
    }
}
