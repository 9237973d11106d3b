//! The Admin API's document read in place (`parse_entities`) against the same document written
//! out as YAML and read back (`parse_document(export::declarative(doc))`): the same config, or
//! the same problems in the same order, for valid entities and for every kind of broken one.

use super::super::json::Node;
use super::super::{parse_config, parse_document, parse_entities};
use super::parse::{DECK_DUMP, FULL};
use crate::config::document::{Document, Kind};
use crate::config::{export, identity};
use serde_json::{json, Value};

const SID: &str = "0a5b6a5e-7c8d-4f2a-9b1c-1d2e3f4a5b6c";
const CID: &str = "6a0bd3c4-5a3e-4b8e-9c55-0f8b8e0d2b11";

fn assert_same(doc: &Document) {
    let yaml = parse_document(export::declarative(doc));
    let json = parse_entities(doc);
    assert_eq!(json, yaml, "document: {doc:#?}");
}

/// A small valid document: service `s`, route `r`, upstream `u`, consumer `c`.
fn base() -> Document {
    let mut doc = Document::new(true, None, None);
    let mut add = |kind, entity: Value| {
        if let Value::Object(map) = entity {
            doc.list_mut(kind).push(map);
        }
    };
    add(
        Kind::Service,
        json!({"id": SID, "name": "s", "host": "127.0.0.1"}),
    );
    add(
        Kind::Route,
        json!({"name": "r", "paths": ["/"], "service": {"id": SID}}),
    );
    add(Kind::Upstream, json!({"name": "u"}));
    add(Kind::Consumer, json!({"id": CID, "username": "c"}));
    doc
}

fn with(mut doc: Document, kind: Kind, entity: Value) -> Document {
    match entity {
        Value::Object(map) => doc.list_mut(kind).push(map),
        other => panic!("not an object: {other}"),
    }
    doc
}

fn cases() -> Vec<(Kind, Value)> {
    let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    vec![
        // Services: every kind of wrong type, enums, nested lists, duplicates.
        (
            Kind::Service,
            json!({"name": "a1", "host": "a", "port": 8080}),
        ),
        (Kind::Service, json!({"host": "a", "port": "80"})),
        (Kind::Service, json!({"host": "a", "port": 80.0})),
        (Kind::Service, json!({"host": "a", "port": 80.5})),
        (Kind::Service, json!({"host": "a", "port": -1})),
        (Kind::Service, json!({"host": "a", "port": u64::MAX})),
        (Kind::Service, json!({"host": "a", "retries": 1e300})),
        (
            Kind::Service,
            parsed(r#"{"host": "a", "retries": -0, "created_at": -0}"#),
        ),
        (Kind::Service, json!({"host": 42})),
        (Kind::Service, json!({"host": ["a"]})),
        (Kind::Service, json!({"host": {"a": 1}})),
        (Kind::Service, json!({"host": null})),
        (Kind::Service, json!({"host": true})),
        (Kind::Service, json!({"host": "a", "protocol": "gopher"})),
        (Kind::Service, json!({"host": "a", "protocol": "grpc"})),
        (
            Kind::Service,
            json!({"host": "a", "protocol": {"http": null}}),
        ),
        (Kind::Service, json!({"host": "a", "protocol": ["http"]})),
        (Kind::Service, json!({"host": "a", "protocol": 1})),
        (Kind::Service, json!({"host": "a", "enabled": "yes"})),
        (Kind::Service, json!({"host": "a", "tags": "x"})),
        (Kind::Service, json!({"host": "a", "tags": [1, 2]})),
        (Kind::Service, json!({"host": "a", "tags": null})),
        (Kind::Service, json!({"host": "a", "tags": ["a,b", "ok"]})),
        (
            Kind::Service,
            json!({"host": "a", "colour": "red", "port": "x"}),
        ),
        (
            Kind::Service,
            json!({"url": "http://x", "host": "h", "path": "p"}),
        ),
        (Kind::Service, json!({"url": "ftp://x"})),
        (
            Kind::Service,
            json!({"host": "a", "created_at": 1.5e9, "updated_at": "now"}),
        ),
        (Kind::Service, json!({"host": "a", "id": 5})),
        (Kind::Service, json!({"host": "a", "id": "not-a-uuid"})),
        (Kind::Service, json!({"host": "a", "name": "s"})),
        (Kind::Service, json!({"host": "a", "id": SID})),
        (Kind::Service, json!({})),
        (
            Kind::Service,
            json!({"host": "a", "routes": [{"paths": ["/x"]}, 42]}),
        ),
        (
            Kind::Service,
            json!({"host": "a", "routes": "nope", "plugins": null}),
        ),
        (
            Kind::Service,
            json!({"host": "a", "plugins": [{"name": "cors"}], "port": "x", "zzz": 1}),
        ),
        (
            Kind::Service,
            json!({"name": "bad", "host": 1, "routes": [{"paths": ["/b"]}]}),
        ),
        // Routes: lists, headers, references, unsupported fields.
        (Kind::Route, json!({"paths": "/"})),
        (Kind::Route, json!({"paths": [1]})),
        (Kind::Route, json!({"paths": [], "hosts": []})),
        (
            Kind::Route,
            json!({"paths": ["/a//b", "~"], "methods": ["get", "POST"]}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/"], "headers": {"x-a": "b"}}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/"], "headers": {"x-a": ["b", 1]}}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/"], "headers": {"x-a": null}}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/"], "headers": {"Host": ["x"], "X-A": [], "bad name": ["v"]}}),
        ),
        (Kind::Route, json!({"paths": ["/"], "headers": ["x"]})),
        (Kind::Route, json!({"paths": ["/1"], "service": "s"})),
        (
            Kind::Route,
            json!({"paths": ["/2"], "service": {"name": "s"}}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/3"], "service": {"id": SID}}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/4"], "service": {"name": "s", "id": "x"}}),
        ),
        (Kind::Route, json!({"paths": ["/5"], "service": 42})),
        (
            Kind::Route,
            json!({"paths": ["/6"], "service": {"name": "missing"}}),
        ),
        (Kind::Route, json!({"paths": ["/7"], "service": null})),
        (Kind::Route, json!({"paths": ["/8"], "service": "bad"})),
        (
            Kind::Route,
            json!({"paths": ["/"], "snis": ["a"], "sources": {"a": 1}, "destinations": []}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/"], "protocols": ["http", {"https": null}]}),
        ),
        (Kind::Route, json!({"paths": ["/"], "protocols": []})),
        (
            Kind::Route,
            json!({"paths": ["/"], "protocols": ["grpc", "tcp"]}),
        ),
        (Kind::Route, json!({"paths": ["/"], "path_handling": "v1"})),
        (Kind::Route, json!({"paths": ["/"], "path_handling": "v9"})),
        (
            Kind::Route,
            json!({"paths": ["/"], "regex_priority": 1.0, "strip_path": null}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/"], "https_redirect_status_code": 303}),
        ),
        (
            Kind::Route,
            json!({"paths": ["/"], "plugins": [{"name": "x"}], "name": "r"}),
        ),
        (Kind::Route, json!({"name": "r"})),
        // Upstreams and targets.
        (Kind::Upstream, json!({"name": "u1", "healthchecks": []})),
        (
            Kind::Upstream,
            json!({"name": "u2", "healthchecks": [null, null, null]}),
        ),
        (Kind::Upstream, json!({"name": "u3", "healthchecks": null})),
        (
            Kind::Upstream,
            json!({"name": "u4", "healthchecks": {"active": {"healthy": {"http_statuses": [200, "x"]}}}}),
        ),
        (
            Kind::Upstream,
            json!({"name": "u5", "healthchecks": {"active": {"timeout": "1", "type": "grpc"}, "threshold": -1}}),
        ),
        (
            Kind::Upstream,
            json!({"name": "u6", "healthchecks": {"passive": {"unhealthy": {"http_statuses": [99]}}, "active": {"headers": {"x": "y"}}}}),
        ),
        (
            Kind::Upstream,
            json!({"name": "u7", "algorithm": "latency", "slots": 5}),
        ),
        (Kind::Upstream, json!({"name": "u8", "algorithm": 1})),
        (
            Kind::Upstream,
            json!({"name": "u9", "hash_on": "header", "hash_fallback": "cookie"}),
        ),
        (
            Kind::Upstream,
            json!({"name": "u10", "targets": [{"target": "a"}]}),
        ),
        (Kind::Upstream, json!({"name": "10.0.0.1"})),
        (Kind::Upstream, json!({"name": "u"})),
        (
            Kind::Target,
            json!({"target": "a:1", "upstream": {"name": "u"}}),
        ),
        (
            Kind::Target,
            json!({"target": "b", "upstream": "u", "weight": 0}),
        ),
        (Kind::Target, json!({"target": 5, "upstream": "u"})),
        (
            Kind::Target,
            json!({"target": "a", "upstream": {"name": "nope"}}),
        ),
        (
            Kind::Target,
            json!({"target": "a", "weight": "x", "upstream": "u"}),
        ),
        (Kind::Target, json!({"target": "[::1", "upstream": "u"})),
        (Kind::Target, json!({"target": "c"})),
        // Consumers and credentials.
        (
            Kind::Consumer,
            json!({"username": "c2", "keyauth_credentials": [{"key": "k"}]}),
        ),
        (
            Kind::Consumer,
            json!({"username": "c3", "jwt_secrets": [{}]}),
        ),
        (
            Kind::Consumer,
            json!({"username": "c4", "jwt_secrets": [], "acls": null}),
        ),
        (Kind::Consumer, json!({"username": 5})),
        (Kind::Consumer, json!({"custom_id": ""})),
        (Kind::Consumer, json!({})),
        (Kind::Consumer, json!({"username": "c"})),
        (Kind::KeyAuth, json!({"key": "k1", "consumer": {"id": CID}})),
        (Kind::KeyAuth, json!({"key": 5, "consumer": "c"})),
        (
            Kind::KeyAuth,
            json!({"key": "k2", "consumer": {"username": "nope"}}),
        ),
        (
            Kind::BasicAuth,
            json!({"username": "x", "password": "p", "consumer": {"username": "c"}}),
        ),
        (Kind::BasicAuth, json!({"username": "x", "consumer": "c"})),
        (Kind::Acl, json!({"group": "g", "consumer": "c"})),
        (Kind::Acl, json!({"group": ["g"], "consumer": "c"})),
        (Kind::Acl, json!({"group": "g"})),
        // Plugins.
        (
            Kind::Plugin,
            json!({"name": "cors", "config": {"a": [1, -2, 1.5, null, {"b": true}], "c": u64::MAX}}),
        ),
        (Kind::Plugin, json!({"name": "cors", "config": "x"})),
        (Kind::Plugin, json!({"name": "cors", "config": []})),
        (
            Kind::Plugin,
            json!({"name": "cors", "config": null, "enabled": false}),
        ),
        (
            Kind::Plugin,
            json!({"name": "cors", "service": "s", "route": "r", "consumer": "c"}),
        ),
        (
            Kind::Plugin,
            json!({"name": "cors", "service": "s", "route": "r", "consumer": "c"}),
        ),
        (Kind::Plugin, json!({"name": "cors", "protocols": []})),
        (
            Kind::Plugin,
            json!({"name": "cors", "protocols": ["http", "tcp"]}),
        ),
        (Kind::Plugin, json!({"name": "cors", "protocols": "http"})),
        (Kind::Plugin, json!({"name": "cors", "enabled": 1})),
        (Kind::Plugin, json!({"name": 1})),
        (
            Kind::Plugin,
            json!({"name": "x", "service": {"name": "nope"}, "route": "bad"}),
        ),
    ]
}

#[test]
fn each_entity_reads_the_same_in_place_and_as_yaml() {
    assert_same(&base());
    assert_same(&Document::default());
    for (kind, entity) in cases() {
        assert_same(&with(base(), kind, entity));
    }
}

#[test]
fn a_document_of_every_case_reads_the_same() {
    // Problems come in the same order across entities and kinds too.
    let mut doc = base();
    doc.transform = false;
    doc.comment = Some("c".to_owned());
    doc.workspace = Some("w".to_owned());
    for (kind, entity) in cases() {
        doc = with(doc, kind, entity);
    }
    assert!(parse_entities(&doc).is_err());
    assert_same(&doc);
}

#[test]
fn exported_configs_read_the_same() {
    for text in [FULL, DECK_DUMP] {
        let mut cfg = parse_config(text).unwrap();
        // References by name (before ids are filled), then by id.
        assert_same(&export::document(&cfg));
        identity::fill(&mut cfg, None, 1_700_000_000);
        let doc = export::document(&cfg);
        assert_same(&doc);
        assert_eq!(export::document(&parse_entities(&doc).unwrap()), doc);
    }
}

#[test]
fn json_nodes_deserialize_as_their_yaml() {
    // Scalars and containers straight through both deserializers, into a YAML value and into
    // types that refuse them.
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(1.5),
        json!("s"),
        json!([1, "a", null]),
        json!({"a": [1], "b": {"c": null}}),
        serde_json::from_str::<Value>("-0").unwrap(),
    ];
    fn both<T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(value: &Value) {
        let yaml = export::yaml(value);
        let via_yaml = T::deserialize(&yaml).map_err(|e| e.to_string());
        let in_place = T::deserialize(Node::Value(value)).map_err(|e| e.to_string());
        assert_eq!(in_place, via_yaml, "{value}");
    }
    for value in &values {
        both::<serde_yaml::Value>(value);
        both::<Value>(value);
        both::<Option<String>>(value);
        both::<Option<i64>>(value);
        both::<Option<u16>>(value);
        both::<Option<f64>>(value);
        both::<Option<bool>>(value);
        both::<Option<Vec<String>>>(value);
        both::<Option<std::collections::BTreeMap<String, Value>>>(value);
        both::<Option<char>>(value);
        both::<()>(value);
        both::<(i64, String)>(value);
    }
}
