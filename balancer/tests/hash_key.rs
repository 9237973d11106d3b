//! The hash-key helper: hash_on, then hash_fallback, then None.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sluice_balancer::{Algorithm, HashInputs, HashOn};

#[derive(Default)]
struct Req {
    ip: Option<&'static str>,
    header: Option<(&'static str, &'static str)>,
    cookie: Option<(&'static str, &'static str)>,
    path: Option<&'static str>,
    query: Option<(&'static str, &'static str)>,
    capture: Option<(&'static str, &'static str)>,
    consumer: Option<&'static str>,
}

fn named(kv: Option<(&'static str, &'static str)>, name: &str) -> Option<&'static [u8]> {
    kv.filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_bytes())
}

impl HashInputs for Req {
    fn client_ip(&self) -> Option<&[u8]> {
        self.ip.map(str::as_bytes)
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        named(self.header, name)
    }
    fn cookie(&self, name: &str) -> Option<&[u8]> {
        named(self.cookie, name)
    }
    fn path(&self) -> Option<&[u8]> {
        self.path.map(str::as_bytes)
    }
    fn query_arg(&self, name: &str) -> Option<&[u8]> {
        named(self.query, name)
    }
    fn uri_capture(&self, name: &str) -> Option<&[u8]> {
        named(self.capture, name)
    }
    fn consumer(&self) -> Option<&[u8]> {
        self.consumer.map(str::as_bytes)
    }
}

#[test]
fn each_input_selects_its_value() {
    let req = Req {
        ip: Some("203.0.113.9"),
        header: Some(("X-User", "u1")),
        cookie: Some(("sid", "c1")),
        path: Some("/p"),
        query: Some(("q", "v")),
        capture: Some(("id", "42")),
        consumer: Some("cons"),
    };
    let cases: [(HashOn, Option<&[u8]>); 9] = [
        (HashOn::None, None),
        (HashOn::Ip, Some(b"203.0.113.9")),
        (HashOn::Header("x-user".into()), Some(b"u1")),
        (HashOn::Header("x-other".into()), None),
        (HashOn::Cookie("sid".into()), Some(b"c1")),
        (HashOn::Path, Some(b"/p")),
        (HashOn::QueryArg("q".into()), Some(b"v")),
        (HashOn::UriCapture("id".into()), Some(b"42")),
        (HashOn::Consumer, Some(b"cons")),
    ];
    for (on, want) in cases {
        assert_eq!(on.key(&req), want, "{on:?}");
    }
}

#[test]
fn fallback_is_used_when_primary_is_missing() {
    let mut s = spec(Algorithm::ConsistentHashing, &[1]);
    s.hash_on = HashOn::Header("x-user".into());
    s.hash_fallback = HashOn::Ip;
    let up = build(&s);
    let with = Req {
        ip: Some("1.2.3.4"),
        header: Some(("x-user", "u")),
        ..Req::default()
    };
    let without = Req {
        ip: Some("1.2.3.4"),
        ..Req::default()
    };
    assert_eq!(up.hash_key(&with), Some(&b"u"[..]));
    assert_eq!(up.hash_key(&without), Some(&b"1.2.3.4"[..]));
    assert_eq!(up.hash_key(&Req::default()), None);
}

#[test]
fn other_algorithms_never_hash() {
    let mut s = spec(Algorithm::RoundRobin, &[1]);
    s.hash_on = HashOn::Ip;
    let req = Req {
        ip: Some("1.2.3.4"),
        ..Req::default()
    };
    assert_eq!(build(&s).hash_key(&req), None);
}
