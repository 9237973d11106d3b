#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
//! Test doubles for the engine side: a request and a response head, and helpers.

use serde_json::{json, Value};
use sluice_plugins::*;
use std::net::IpAddr;
use std::sync::Arc;

pub struct Req {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub ip: IpAddr,
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub service: Option<usize>,
}

impl Req {
    pub fn get(path_and_query: &str) -> Req {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };
        Req {
            method: "GET".into(),
            path,
            query,
            headers: Vec::new(),
            ip: "10.0.0.1".parse().unwrap(),
            content_length: None,
            chunked: false,
            service: Some(0),
        }
    }
    pub fn method(mut self, m: &str) -> Req {
        self.method = m.into();
        self
    }
    pub fn header(mut self, n: &str, v: &str) -> Req {
        self.headers.push((n.into(), v.into()));
        self
    }
    pub fn ip(mut self, ip: &str) -> Req {
        self.ip = ip.parse().unwrap();
        self
    }
    pub fn length(mut self, l: u64) -> Req {
        self.content_length = Some(l);
        self
    }
    pub fn chunked(mut self) -> Req {
        self.chunked = true;
        self
    }
}

impl RequestView for Req {
    fn method(&self) -> &[u8] {
        self.method.as_bytes()
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn raw_query(&self) -> Option<&[u8]> {
        self.query.as_deref().map(str::as_bytes)
    }
    fn header(&self, lowercase_name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| v.as_bytes())
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.headers {
            f(n.as_bytes(), v.as_bytes())
        }
    }
    fn client_ip(&self) -> IpAddr {
        self.ip
    }
    fn content_length(&self) -> Option<u64> {
        self.content_length
    }
    fn is_chunked(&self) -> bool {
        self.chunked
    }
    fn service(&self) -> Option<usize> {
        self.service
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn ok() -> Resp {
        Resp {
            status: 200,
            headers: Vec::new(),
        }
    }
    pub fn header(mut self, n: &str, v: &str) -> Resp {
        self.headers.push((n.into(), v.into()));
        self
    }
}

impl ResponseView for Resp {
    fn status(&self) -> u16 {
        self.status
    }
    fn header(&self, lowercase_name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| v.as_bytes())
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.headers {
            f(n.as_bytes(), v.as_bytes())
        }
    }
}

/// A global plugin spec.
pub fn plugin(name: &str, config: Value) -> PluginSpec {
    PluginSpec {
        id: None,
        name: name.into(),
        config,
        enabled: true,
        service: None,
        route: None,
        consumer: None,
        service_id: None,
        route_id: None,
        source_path: "plugins[0]".into(),
    }
}

pub fn scoped(
    name: &str,
    config: Value,
    service: Option<usize>,
    route: Option<usize>,
    consumer: Option<usize>,
) -> PluginSpec {
    PluginSpec {
        service,
        route,
        consumer,
        ..plugin(name, config)
    }
}

/// alice (key "alice-key", basic alice:secret, group "admins"), bob (key "bob-key", group
/// "users"), anon (no credentials).
pub fn consumers() -> Vec<ConsumerSpec> {
    vec![
        ConsumerSpec {
            id: "c-alice".into(),
            username: Some("alice".into()),
            custom_id: Some("A1".into()),
            keyauth: vec![KeyCredential {
                id: "k-alice".into(),
                key: "alice-key".into(),
            }],
            basicauth: vec![BasicCredential {
                id: "b-alice".into(),
                username: "alice".into(),
                password: "secret".into(),
            }],
            acl_groups: vec!["admins".into()],
        },
        ConsumerSpec {
            id: "c-bob".into(),
            username: Some("bob".into()),
            custom_id: None,
            keyauth: vec![KeyCredential {
                id: "k-bob".into(),
                key: "bob-key".into(),
            }],
            basicauth: vec![],
            acl_groups: vec!["users".into()],
        },
        ConsumerSpec {
            id: "c-anon".into(),
            username: Some("anonymous".into()),
            ..Default::default()
        },
    ]
}

/// Compiles plugins for one route (index 0) on service 0.
pub fn compile(specs: Vec<PluginSpec>) -> Plugins {
    Plugins::compile(
        &specs,
        &consumers(),
        &[Some(0)],
        Arc::new(PluginState::default()),
    )
    .unwrap_or_else(|e| panic!("compile failed: {e:?}"))
}

pub fn compile_err(specs: Vec<PluginSpec>) -> Vec<PluginError> {
    match Plugins::compile(
        &specs,
        &consumers(),
        &[Some(0)],
        Arc::new(PluginState::default()),
    ) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

pub fn run(p: &Plugins, req: &Req) -> (Access, PluginCtx) {
    let mut ctx = PluginCtx::default();
    let a = p.access(0, req, &mut ctx, 1_000_000.0);
    (a, ctx)
}

pub fn respond(a: Access) -> LocalResponse {
    match a {
        Access::Wait(q) => panic!("unexpected store query {q:?}"),
        Access::Respond(r) => r,
        Access::Continue => panic!("expected a local response"),
    }
}

pub fn message(r: &LocalResponse) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["message"].as_str().unwrap_or_default().to_string()
}

pub fn hdr<'a, N: AsRef<str>>(list: &'a [(N, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub fn empty() -> Value {
    json!({})
}
