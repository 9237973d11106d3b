//! What the loader reports and where: paths of field problems, independent problems all
//! reported, document-level problems, duplicates, `hash_on` rules, target addresses.

use super::super::ConfigProblem;
use super::{assert_problems, ok, v3};
use crate::config::raw::HashInput;

#[test]
fn errors_have_paths() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("services:\n- {host: a, stip_path: true}\n", &[("services[0].stip_path", "unknown field `stip_path`")]),
        ("services:\n- {host: a, routes: [{paths: [/], stip_path: true}]}\n", &[("services[0].routes[0].stip_path", "unknown field `stip_path`, expected one of")]),
        ("services:\n- {host: a, tls_verify: true}\n", &[("services[0].tls_verify", "unknown field")]),
        ("services:\n- {name: a}\n", &[("services[0].host", "required field missing")]),
        ("services:\n- {host: a, protocol: grpc}\n", &[("services[0].protocol", "unsupported protocol 'grpc'")]),
        ("services:\n- {host: a, protocol: gopher}\n", &[("services[0].protocol", "unknown variant `gopher`")]),
        ("services:\n- {host: a, port: 70000}\n", &[("services[0].port", "between 1 and 65535")]),
        ("services:\n- {host: a, port: '80'}\n", &[("services[0].port", "invalid type")]),
        ("services:\n- {host: a, path: foo}\n", &[("services[0].path", "should start with: /")]),
        ("services:\n- {host: a, retries: -1}\n", &[("services[0].retries", "between 0 and 32767")]),
        ("services:\n- {host: a, read_timeout: 0}\n", &[("services[0].read_timeout", "between 1 and 2147483646")]),
        ("services:\n- {host: a, connect_timeout: 2147483647}\n", &[("services[0].connect_timeout", "between 1 and 2147483646")]),
        ("services:\n- {host: 'a:80'}\n", &[("services[0].host", "must not contain a port")]),
        ("services:\n- {host: a, id: nope}\n", &[("services[0].id", "valid UUID")]),
        ("services:\n- {host: a, name: 'my service'}\n", &[("services[0].name", "alphanumerics")]),
        ("services:\n- {host: a, tags: ['a,b']}\n", &[("services[0].tags[0]", "invalid tag")]),
        ("services: {a: 1}\n", &[("services", "expected a sequence")]),
        ("services:\n- 42\n", &[("services[0]", "invalid type")]),
        ("routes:\n- {name: r}\n", &[("routes[0]", "must set one of 'methods', 'hosts', 'headers', 'paths'")]),
        ("routes:\n- {paths: [], hosts: []}\n", &[("routes[0]", "must set one of")]),
        ("routes:\n- {paths: [/a, foo]}\n", &[("routes[0].paths[1]", "should start with: / (fixed path) or ~/ (regex path)")]),
        ("routes:\n- {paths: [/a/../b]}\n", &[("routes[0].paths[0]", "consider using '/b'")]),
        ("routes:\n- {paths: ['/%7Efoo']}\n", &[("routes[0].paths[0]", "consider using '/~foo'")]),
        ("routes:\n- {paths: ['/a b']}\n", &[("routes[0].paths[0]", "RFC 3986")]),
        ("routes:\n- {paths: ['/users/\\d+']}\n", &[("routes[0].paths[0]", "regex paths must start with '~'")]),
        ("routes:\n- {paths: ['~']}\n", &[("routes[0].paths[0]", "empty regex")]),
        ("routes:\n- {headers: {Host: [a]}}\n", &[("routes[0].headers.Host", "cannot contain 'host' header")]),
        ("routes:\n- {headers: {x-a: []}}\n", &[("routes[0].headers.x-a", "length must be at least 1")]),
        ("routes:\n- {headers: {'x a': [b]}}\n", &[("routes[0].headers.x a", "invalid header name")]),
        ("routes:\n- {paths: [/], snis: [a.com]}\n", &[("routes[0].snis", "not supported")]),
        ("routes:\n- {paths: [/], sources: [{ip: 1.2.3.4}], destinations: [{port: 80}]}\n", &[("routes[0].sources", "not supported"), ("routes[0].destinations", "not supported")]),
        ("routes:\n- {paths: [/], snis: []}\n", &[]),
        ("routes:\n- {paths: [/], path_handling: v1}\n", &[("routes[0].path_handling", "'v1' is not supported")]),
        ("routes:\n- {paths: [/], protocols: [http, grpc]}\n", &[("routes[0].protocols[1]", "unsupported protocol 'grpc'")]),
        ("routes:\n- {paths: [/], protocols: []}\n", &[("routes[0].protocols", "length must be at least 1")]),
        ("routes:\n- {paths: [/], https_redirect_status_code: 303}\n", &[("routes[0].https_redirect_status_code", "expected one of")]),
        ("routes:\n- {methods: [get]}\n", &[("routes[0].methods[0]", "uppercase")]),
        ("routes:\n- {hosts: ['*.a.*']}\n", &[("routes[0].hosts[0]", "at most one wildcard")]),
        ("routes:\n- {hosts: ['a.*.com']}\n", &[("routes[0].hosts[0]", "leftmost or rightmost")]),
        ("routes:\n- {hosts: ['a.com:99999']}\n", &[("routes[0].hosts[0]", "invalid port")]),
        ("routes:\n- {paths: [/], service: nope}\n", &[("routes[0].service", "unknown service 'nope'")]),
        ("services:\n- {name: s, host: a, routes: [{paths: [/], service: s}]}\n", &[("services[0].routes[0].service", "nested under a service")]),
        ("upstreams:\n- {algorithm: latency}\n", &[("upstreams[0].name", "required field missing"), ("upstreams[0].algorithm", "'latency' is not supported")]),
        ("upstreams:\n- {name: 10.0.0.1}\n", &[("upstreams[0].name", "no ip addresses allowed")]),
        ("upstreams:\n- {name: 'up:80'}\n", &[("upstreams[0].name", "no port allowed")]),
        ("upstreams:\n- {name: u, slots: 5}\n", &[("upstreams[0].slots", "between 10 and 65536")]),
        ("upstreams:\n- {name: u, use_srv_name: true}\n", &[("upstreams[0].use_srv_name", "not supported")]),
        ("upstreams:\n- {name: u, healthchecks: {active: {type: grpc, timeout: -1}}}\n", &[("upstreams[0].healthchecks.active.type", "not supported"), ("upstreams[0].healthchecks.active.timeout", "between 0 and 65535")]),
        ("upstreams:\n- {name: u, healthchecks: {active: {healthy: {http_statuses: [200, 1000]}}}}\n", &[("upstreams[0].healthchecks.active.healthy.http_statuses[1]", "between 100 and 999")]),
        ("upstreams:\n- {name: u, healthchecks: {passive: {unhealthy: {timeouts: 256}}, threshold: 101}}\n", &[("upstreams[0].healthchecks.passive.unhealthy.timeouts", "between 0 and 255"), ("upstreams[0].healthchecks.threshold", "between 0 and 100")]),
        ("upstreams:\n- {name: u, healthchecks: {active: {healthy: {intervall: 5}}}}\n", &[("upstreams[0].healthchecks.active.healthy.intervall", "unknown field")]),
        ("upstreams:\n- {name: u, targets: [{target: a, weight: 65536}]}\n", &[("upstreams[0].targets[0].weight", "between 0 and 65535")]),
        ("upstreams:\n- {name: u, targets: [{weight: 5}]}\n", &[("upstreams[0].targets[0].target", "required field missing")]),
        ("consumers:\n- {tags: [a]}\n", &[("consumers[0]", "at least one of these fields must be non-empty")]),
        ("consumers:\n- {username: ''}\n", &[("consumers[0].username", "length must be at least 1")]),
        ("consumers:\n- {username: a, keyauth_credentials: [{}]}\n", &[("consumers[0].keyauth_credentials[0].key", "required field missing")]),
        ("consumers:\n- {username: a, basicauth_credentials: [{username: a}]}\n", &[("consumers[0].basicauth_credentials[0].password", "required field missing")]),
        ("consumers:\n- {username: a, acls: [{group: g, grp: h}]}\n", &[("consumers[0].acls[0].grp", "unknown field")]),
        ("consumers:\n- {username: a, jwt_secrets: [{key: k}]}\n", &[("consumers[0].jwt_secrets", "not supported")]),
        ("consumers:\n- {username: a, acls: [{group: g}, {group: g}]}\n", &[("consumers[0].acls[1].group", "duplicate acl group 'g'")]),
        ("keyauth_credentials:\n- {key: k}\n", &[("keyauth_credentials[0].consumer", "required field missing")]),
        ("keyauth_credentials:\n- {key: k, consumer: bob}\n", &[("keyauth_credentials[0].consumer", "unknown consumer 'bob'")]),
        ("targets:\n- {target: a, upstream: nope}\n", &[("targets[0].upstream", "unknown upstream 'nope'")]),
        ("plugins:\n- {config: {}}\n", &[("plugins[0].name", "required field missing")]),
        ("plugins:\n- {name: cors, config: [1]}\n", &[("plugins[0].config", "expected a mapping")]),
        ("plugins:\n- {name: cors, protocols: [http, ftp]}\n", &[("plugins[0].protocols[1]", "unknown variant `ftp`")]),
        ("plugins:\n- {name: cors, service: s, route: r, consumer: c}\n", &[("plugins[0].service", "unknown service 's'"), ("plugins[0].route", "unknown route 'r'"), ("plugins[0].consumer", "unknown consumer 'c'")]),
        ("services:\n- {name: s, host: a, plugins: [{name: cors, service: s}]}\n", &[("services[0].plugins[0].service", "nested under a service")]),
        ("certificates:\n- {cert: x, key: y}\n", &[("certificates", "not supported")]),
        ("certificates: []\n", &[]),
        ("_transform: yes\n", &[("_transform", "expected a boolean")]),
    ];
    for (body, expected) in cases {
        let text = v3(body);
        if expected.is_empty() {
            ok(&text);
        } else {
            assert_problems(&text, expected);
        }
    }
}

#[test]
fn every_independent_error_is_reported() {
    let text = v3(r#"
services:
- name: a
  host: a.internal
  stip_path: true
  routes:
  - paths: [no-slash]
- name: b
  host: b.internal
  routes:
  - {paths: [/ok], regex_priority: high}
routes:
- {paths: [/x], service: a}
plugins:
- {name: key-auth, service: a}
"#);
    // services[0] is broken (unknown field): its route is still checked, but references to
    // it (routes[0], plugins[0]) are not reported a second time.
    assert_problems(
        &text,
        &[
            ("services[0].stip_path", "unknown field"),
            ("services[0].routes[0].paths[0]", "should start with"),
            ("services[1].routes[0].regex_priority", "invalid type"),
        ],
    );
}

#[test]
fn document_level_problems() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "_format_version: \"3.0\"\nservice: []\n",
            &[("service", "unknown field `service`, expected one of")],
        ),
        (
            "_format_version: \"4.0\"\n",
            &[(
                "_format_version",
                "unsupported value '4.0', expected one of: 1.1, 2.1, 3.0",
            )],
        ),
        (
            "_format_version: \"3\"\n",
            &[("_format_version", "unsupported value '3'")],
        ),
        (
            "services: []\n",
            &[("_format_version", "required field missing")],
        ),
        ("", &[("", "empty document")]),
        ("- a\n", &[("", "expected a mapping at the top level")]),
        (
            "_format_version: \"3.0\"\nservices: [\n",
            &[("", "invalid YAML")],
        ),
        (
            "_format_version: \"3.0\"\n_format_version: \"3.0\"\n",
            &[("", "duplicate")],
        ),
    ];
    for (text, expected) in cases {
        assert_problems(text, expected);
    }
    for version in ["\"1.1\"", "\"2.1\"", "3.0", "'3.0'"] {
        ok(&format!(
            "_format_version: {version}\n_comment: hi\n_workspace: default\n"
        ));
    }
    let p = ConfigProblem::new("services[0].host", "required field missing");
    assert_eq!(p.to_string(), "services[0].host: required field missing");
    assert_eq!(
        ConfigProblem::new("", "invalid YAML").to_string(),
        "invalid YAML"
    );
}

#[test]
fn duplicates() {
    let id = "11111111-2222-3333-4444-555555555555";
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "services:\n- {name: a, host: x}\n- {name: a, host: y}\n".into(),
            vec![("services[1].name", "duplicate service name 'a' (already used by services[0])")],
        ),
        (
            format!("services:\n- {{id: {id}, host: x}}\n- {{id: {id}, host: y}}\n"),
            vec![("services[1].id", "duplicate service id")],
        ),
        (
            "services:\n- {host: x, routes: [{name: r, paths: [/]}]}\nroutes:\n- {name: r, paths: [/b]}\n".into(),
            vec![("routes[0].name", "duplicate route name 'r' (already used by services[0].routes[0])")],
        ),
        (
            "upstreams:\n- {name: u}\n- {name: u}\n".into(),
            vec![("upstreams[1].name", "duplicate upstream name")],
        ),
        (
            "consumers:\n- {username: a, custom_id: c}\n- {username: a, custom_id: c}\n".into(),
            vec![("consumers[1].username", "duplicate consumer username"), ("consumers[1].custom_id", "duplicate consumer custom_id")],
        ),
        (
            "consumers:\n- {username: a, keyauth_credentials: [{key: k}]}\n- {username: b, keyauth_credentials: [{key: k}]}\n".into(),
            vec![("consumers[1].keyauth_credentials[0].key", "duplicate key-auth key 'k'")],
        ),
        (
            "consumers:\n- {username: a, basicauth_credentials: [{username: u, password: p}]}\nbasicauth_credentials:\n- {consumer: a, username: u, password: q}\n".into(),
            vec![("basicauth_credentials[0].username", "duplicate basic-auth username 'u'")],
        ),
        (
            "upstreams:\n- {name: u, targets: [{target: 'a:8000'}, {target: a}]}\n".into(),
            vec![("upstreams[0].targets[1].target", "duplicate target 'a:8000'")],
        ),
        (
            "services:\n- {name: s, host: x, plugins: [{name: cors}]}\nplugins:\n- {name: cors, service: s}\n- {name: cors}\n- {name: cors}\n".into(),
            vec![
                ("plugins[0].name", "duplicate plugin 'cors' for the same service, route and consumer (already at services[0].plugins[0])"),
                ("plugins[2].name", "duplicate plugin 'cors'"),
            ],
        ),
    ];
    for (body, expected) in &cases {
        assert_problems(&v3(body), expected);
    }
    // Same plugin on different scopes is fine; same target on different upstreams too.
    ok(&v3("services:\n- {name: s, host: x}\nconsumers:\n- {username: c}\nplugins:\n- {name: cors}\n- {name: cors, service: s}\n- {name: cors, consumer: c}\n- {name: cors, service: s, consumer: c}\nupstreams:\n- {name: u1, targets: [{target: a}]}\n- {name: u2, targets: [{target: a}]}\n"));
}

#[test]
fn hash_on_rules() {
    type Expected = Result<(HashInput, HashInput), &'static [(&'static str, &'static str)]>;
    let cases: &[(&str, Expected)] = &[
        ("{}", Ok((HashInput::None, HashInput::None))),
        ("{hash_on: consumer, hash_fallback: ip}", Ok((HashInput::Consumer, HashInput::Ip))),
        ("{hash_on: ip, hash_fallback: consumer}", Ok((HashInput::Ip, HashInput::Consumer))),
        ("{hash_on: path, hash_fallback: query_arg, hash_fallback_query_arg: q}", Ok((HashInput::Path, HashInput::QueryArg("q".into())))),
        ("{hash_on: uri_capture, hash_on_uri_capture: id}", Ok((HashInput::UriCapture("id".into()), HashInput::None))),
        (
            "{hash_on: header, hash_on_header: X-A, hash_fallback: header, hash_fallback_header: X-B}",
            Ok((HashInput::Header("X-A".into()), HashInput::Header("X-B".into()))),
        ),
        (
            "{hash_on: cookie, hash_on_cookie: sid}",
            Ok((HashInput::Cookie { name: "sid".into(), path: "/".into() }, HashInput::None)),
        ),
        (
            "{hash_on: ip, hash_fallback: cookie, hash_on_cookie: sid, hash_on_cookie_path: /app}",
            Ok((HashInput::Ip, HashInput::Cookie { name: "sid".into(), path: "/app".into() })),
        ),
        ("{hash_on: header}", Err(&[("upstreams[0].hash_on_header", "required field missing")])),
        ("{hash_on: ip, hash_fallback: header}", Err(&[("upstreams[0].hash_fallback_header", "required field missing")])),
        ("{hash_on: cookie}", Err(&[("upstreams[0].hash_on_cookie", "required field missing")])),
        ("{hash_on: query_arg}", Err(&[("upstreams[0].hash_on_query_arg", "required field missing")])),
        ("{hash_on: ip, hash_fallback: uri_capture}", Err(&[("upstreams[0].hash_fallback_uri_capture", "required field missing")])),
        ("{hash_fallback: ip}", Err(&[("upstreams[0].hash_fallback", "must be 'none' when 'hash_on' is 'none'")])),
        ("{hash_on: cookie, hash_on_cookie: c, hash_fallback: ip}", Err(&[("upstreams[0].hash_fallback", "must be 'none' when 'hash_on' is 'cookie'")])),
        ("{hash_on: ip, hash_fallback: ip}", Err(&[("upstreams[0].hash_fallback", "must differ from 'hash_on'")])),
        ("{hash_on: consumer, hash_fallback: consumer}", Err(&[("upstreams[0].hash_fallback", "must differ")])),
        (
            "{hash_on: header, hash_on_header: x-a, hash_fallback: header, hash_fallback_header: X-A}",
            Err(&[("upstreams[0].hash_fallback_header", "must differ from 'hash_on_header'")]),
        ),
        (
            "{hash_on: query_arg, hash_on_query_arg: q, hash_fallback: query_arg, hash_fallback_query_arg: q}",
            Err(&[("upstreams[0].hash_fallback_query_arg", "must differ")]),
        ),
        ("{hash_on: header, hash_on_header: 'bad header'}", Err(&[("upstreams[0].hash_on_header", "invalid header name")])),
        ("{hash_on: cookie, hash_on_cookie: c, hash_on_cookie_path: nope}", Err(&[("upstreams[0].hash_on_cookie_path", "should start with")])),
        ("{hash_on: body}", Err(&[("upstreams[0].hash_on", "unknown variant `body`")])),
    ];
    for (fields, expected) in cases {
        let text = v3(&format!("upstreams:\n- {{name: u, {}\n", &fields[1..]));
        match expected {
            Ok((on, fallback)) => {
                let cfg = ok(&text);
                assert_eq!(
                    (&cfg.upstreams[0].hash_on, &cfg.upstreams[0].hash_fallback),
                    (on, fallback),
                    "{fields}"
                );
            }
            Err(problems) => assert_problems(&text, problems),
        }
    }
}

#[test]
fn target_addresses() {
    let good: &[(&str, &str, &str, u16)] = &[
        ("a.internal", "a.internal:8000", "a.internal", 8000),
        ("a.internal:1", "a.internal:1", "a.internal", 1),
        ("10.0.0.1:65535", "10.0.0.1:65535", "10.0.0.1", 65535),
        ("'[::1]'", "[::1]:8000", "::1", 8000),
        ("'::1'", "[::1]:8000", "::1", 8000),
        ("'[fe80::1]:81'", "[fe80::1]:81", "fe80::1", 81),
    ];
    for (target, normalised, host, port) in good {
        let cfg = ok(&v3(&format!(
            "upstreams:\n- {{name: u, targets: [{{target: {target}}}]}}\n"
        )));
        let t = &cfg.upstreams[0].targets[0];
        assert_eq!(
            (t.target.as_str(), t.host.as_str(), t.port),
            (*normalised, *host, *port),
            "{target}"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("'a:0'", "invalid port '0'"),
        ("'a:65536'", "invalid port '65536'"),
        ("'a:-1'", "invalid port '-1'"),
        ("'a:'", "invalid port ''"),
        ("'a:http'", "invalid port 'http'"),
        ("'[::1]:99999'", "invalid port '99999'"),
        ("'[::1'", "unterminated"),
        ("'[nope]:80'", "invalid IPv6"),
        ("'a b:80'", "invalid hostname"),
        ("''", "length must be at least 1"),
    ];
    for (target, needle) in bad {
        let text = v3(&format!(
            "upstreams:\n- {{name: u, targets: [{{target: {target}}}]}}\n"
        ));
        assert_problems(&text, &[("upstreams[0].targets[0].target", needle)]);
    }
    // Top-level targets attach to their upstream.
    let cfg = ok(&v3("upstreams:\n- {name: u}\ntargets:\n- {target: b, upstream: u}\n- {target: c, upstream: {name: u}}\n"));
    assert_eq!(cfg.upstreams[0].targets.len(), 2);
    assert_eq!(cfg.upstreams[0].targets[1].source_path, "targets[1]");
}
