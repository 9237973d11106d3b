//! Bundled plugins through the real gateway: each plugin's happy path, rejection path and the
//! headers it adds, with a real upstream that records what it was sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{Gateway, Upstream};

/// One service (`svc`, to `url`) with a catch-all route `r`, plus `extra` YAML appended at the
/// top level (plugins, consumers).
fn config(url: &str, extra: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: svc\n    url: {url}\n    routes:\n      - name: r\n        paths: [\"/\"]\n{extra}"
    )
}

fn request(gateway: &Gateway, raw: &str) -> support::Response {
    let mut client = gateway.client();
    client.set_read_timeout(Duration::from_secs(5));
    client.request(raw.as_bytes())
}

#[test]
fn key_auth_rejects_missing_and_wrong_keys_and_identifies_the_consumer() {
    let upstream = Upstream::fixed("secret");
    let extra = "consumers:\n  - username: alice\n    custom_id: a-1\n    keyauth_credentials:\n      - key: alice-key\n\
                 plugins:\n  - name: key-auth\n    config:\n      hide_credentials: true\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);

    let missing = request(&gateway, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["message"], "No API key found in request");
    let wrong = request(
        &gateway,
        "GET / HTTP/1.1\r\nHost: x\r\napikey: nope\r\n\r\n",
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json()["message"],
        "Invalid authentication credentials"
    );
    assert_eq!(
        upstream.request_count(),
        0,
        "rejected requests reached the upstream"
    );

    let ok = request(
        &gateway,
        "GET /?apikey=alice-key&x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(ok.status, 200, "{}", ok.head);
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.header("x-consumer-username"), Some("alice"));
    assert_eq!(seen.header("x-consumer-custom-id"), Some("a-1"));
    assert!(seen.header("x-consumer-id").is_some());
    assert!(seen.header("x-credential-identifier").is_some());
    // hide_credentials: the key never reaches the upstream.
    assert!(!seen.target.contains("apikey"), "{}", seen.target);
    assert!(seen.target.contains("x=1"), "{}", seen.target);

    let header_key = request(
        &gateway,
        "GET / HTTP/1.1\r\nHost: x\r\napikey: alice-key\r\n\r\n",
    );
    assert_eq!(header_key.status, 200);
    assert_eq!(upstream.requests().pop().unwrap().header("apikey"), None);
}

#[test]
fn basic_auth_and_acl() {
    let upstream = Upstream::fixed("ok");
    let extra = "consumers:\n  - username: bob\n    basicauth_credentials:\n      - username: bob\n        password: hunter2\n    acls:\n      - group: admins\n\
                 \x20 - username: eve\n    basicauth_credentials:\n      - username: eve\n        password: pw\n\
                 plugins:\n  - name: basic-auth\n  - name: acl\n    config:\n      allow: [admins]\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);

    let none = request(&gateway, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Basic realm=\"service\"")
    );
    // bob:hunter2
    let bob = request(
        &gateway,
        "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Ym9iOmh1bnRlcjI=\r\n\r\n",
    );
    assert_eq!(bob.status, 200, "{}", bob.head);
    assert_eq!(
        upstream
            .requests()
            .pop()
            .unwrap()
            .header("x-consumer-groups"),
        Some("admins")
    );
    // eve:pw authenticates but is not in the allowed group.
    let eve = request(
        &gateway,
        "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZXZlOnB3\r\n\r\n",
    );
    assert_eq!(eve.status, 403);
    assert_eq!(eve.json()["message"], "You cannot consume this service");
    // bob with a wrong password.
    let wrong = request(
        &gateway,
        "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Ym9iOndyb25n\r\n\r\n",
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(upstream.request_count(), 1);
}

#[test]
fn ip_restriction_uses_the_real_client_address() {
    let upstream = Upstream::fixed("ok");
    let deny = config(
        &upstream.url(),
        "plugins:\n  - name: ip-restriction\n    config:\n      deny: [\"127.0.0.0/8\"]\n",
    );
    let gateway = Gateway::start(&deny, &[]);
    let denied = request(&gateway, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["message"], "Your IP address is not allowed");
    drop(gateway);

    // Behind a trusted balancer, the PROXY protocol source is the client address.
    let allow = config(&upstream.url(), "plugins:\n  - name: ip-restriction\n    config:\n      allow: [\"203.0.113.0/24\", \"2001:db8::/32\"]\n");
    let gateway = Gateway::start(&allow, &["--proxy-protocol"]);
    let allowed = request(
        &gateway,
        "PROXY TCP4 203.0.113.7 127.0.0.1 5000 8000\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(allowed.status, 200, "{}", allowed.head);
    let v6 = request(
        &gateway,
        "PROXY TCP6 2001:db8::5 ::1 5000 8000\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(v6.status, 200, "{}", v6.head);
    let outside = request(
        &gateway,
        "PROXY TCP4 198.51.100.1 127.0.0.1 5000 8000\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(outside.status, 403);
}

#[test]
fn rate_limiting_is_exact_across_workers_and_sets_headers() {
    let upstream = Upstream::fixed("ok");
    let extra =
        "plugins:\n  - name: rate-limiting\n    config:\n      minute: 10\n      limit_by: ip\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &["--workers", "2"]);
    let mut statuses = Vec::new();
    let mut first = None;
    for _ in 0..15 {
        // A new connection each time, so both workers take part.
        let answer = request(&gateway, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        if first.is_none() {
            first = Some(answer.clone());
        }
        statuses.push(answer.status);
        if answer.status == 429 {
            assert_eq!(answer.json()["message"], "API rate limit exceeded");
            assert!(answer.header("retry-after").is_some(), "{}", answer.head);
            assert_eq!(answer.header("x-ratelimit-remaining-minute"), Some("0"));
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
    let first = first.unwrap();
    assert_eq!(
        first.header("x-ratelimit-limit-minute"),
        Some("10"),
        "{}",
        first.head
    );
    assert_eq!(first.header("x-ratelimit-remaining-minute"), Some("9"));
    assert_eq!(first.header("ratelimit-limit"), Some("10"));
    assert!(first.header("ratelimit-reset").is_some());
    assert_eq!(upstream.request_count(), 10);
}

#[test]
fn request_size_limiting_counts_declared_and_streamed_bodies() {
    let upstream = Upstream::fixed("ok");
    let extra = "plugins:\n  - name: request-size-limiting\n    config:\n      allowed_payload_size: 1\n      size_unit: kilobytes\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);
    let big = request(
        &gateway,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n",
    );
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["message"], "Request size limit exceeded");
    let small = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}",
        "a".repeat(10)
    );
    assert_eq!(request(&gateway, &small).status, 200);
    let mut chunked =
        String::from("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        chunked.push_str(&format!("200\r\n{}\r\n", "b".repeat(0x200)));
    }
    chunked.push_str("0\r\n\r\n");
    assert_eq!(request(&gateway, &chunked).status, 413);
}

#[test]
fn cors_preflight_and_simple_requests() {
    let upstream = Upstream::fixed("ok");
    let extra = "plugins:\n  - name: cors\n    config:\n      origins: [\"https://app.example\"]\n      methods: [GET, POST]\n      exposed_headers: [X-Trace]\n      credentials: true\n      max_age: 600\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);
    let preflight = request(
        &gateway,
        "OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    );
    assert_eq!(preflight.status, 200, "{}", preflight.head);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        upstream.request_count(),
        0,
        "preflight reached the upstream"
    );

    let simple = request(
        &gateway,
        "GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n",
    );
    assert_eq!(simple.status, 200);
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        simple.header("access-control-expose-headers"),
        Some("X-Trace")
    );
}

#[test]
fn transformers_edit_the_request_and_the_response() {
    let upstream = Upstream::start(|_| {
        support::Action::Respond(support::response(
            200,
            &[("X-Internal", "1"), ("X-Keep", "k")],
            b"body",
        ))
    });
    let extra = "plugins:\n  - name: request-transformer\n    config:\n      add:\n        headers: [\"X-Added:yes\"]\n        querystring: [\"via:sluice\"]\n      remove:\n        headers: [X-Drop]\n      rename:\n        headers: [\"X-Old:X-New\"]\n\
                 \x20 - name: response-transformer\n    config:\n      remove:\n        headers: [X-Internal]\n      add:\n        headers: [\"X-Served-By:sluice\"]\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);
    let answer = request(
        &gateway,
        "GET /p?q=1 HTTP/1.1\r\nHost: x\r\nX-Drop: d\r\nX-Old: o\r\n\r\n",
    );
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.header("x-internal"), None);
    assert_eq!(answer.header("x-keep"), Some("k"));
    assert_eq!(answer.header("x-served-by"), Some("sluice"));
    assert_eq!(answer.text(), "body");
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.header("x-added"), Some("yes"));
    assert_eq!(seen.header("x-drop"), None);
    assert_eq!(seen.header("x-old"), None);
    assert_eq!(seen.header("x-new"), Some("o"));
    assert!(
        seen.target.contains("q=1") && seen.target.contains("via=sluice"),
        "{}",
        seen.target
    );
}

#[test]
fn correlation_id_is_generated_forwarded_and_echoed() {
    let upstream = Upstream::fixed("ok");
    let extra = "plugins:\n  - name: correlation-id\n    config:\n      echo_downstream: true\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);
    let answer = request(&gateway, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let echoed = answer
        .header("kong-request-id")
        .expect("echoed id")
        .to_owned();
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.header("kong-request-id"), Some(echoed.as_str()));
    let again = request(&gateway, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_ne!(
        again.header("kong-request-id"),
        Some(echoed.as_str()),
        "ids must differ"
    );
    // A client's own id is kept.
    let own = request(
        &gateway,
        "GET / HTTP/1.1\r\nHost: x\r\nKong-Request-ID: mine\r\n\r\n",
    );
    assert_eq!(own.header("kong-request-id"), Some("mine"));
}

#[test]
fn request_termination_answers_for_a_route_without_a_service() {
    let yaml = "_format_version: \"3.0\"\nroutes:\n  - name: maintenance\n    paths: [\"/down\"]\n\
                plugins:\n  - name: request-termination\n    route: maintenance\n    config:\n      status_code: 503\n      message: back soon\n";
    let gateway = Gateway::start(yaml, &[]);
    let answer = request(&gateway, "GET /down HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["message"], "back soon");
    assert_eq!(
        request(&gateway, "GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );
}

#[test]
fn consumer_scoped_plugin_takes_precedence_after_authentication() {
    let upstream = Upstream::fixed("ok");
    let extra = "consumers:\n  - username: vip\n    keyauth_credentials:\n      - key: vip-key\n  - username: basic\n    keyauth_credentials:\n      - key: basic-key\n\
                 plugins:\n  - name: key-auth\n  - name: rate-limiting\n    config:\n      minute: 1\n\
                 \x20 - name: rate-limiting\n    consumer: vip\n    config:\n      minute: 100\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);
    let basic: Vec<u16> = (0..3)
        .map(|_| {
            request(
                &gateway,
                "GET / HTTP/1.1\r\nHost: x\r\napikey: basic-key\r\n\r\n",
            )
            .status
        })
        .collect();
    assert_eq!(basic, vec![200, 429, 429]);
    let vip: Vec<u16> = (0..3)
        .map(|_| {
            request(
                &gateway,
                "GET / HTTP/1.1\r\nHost: x\r\napikey: vip-key\r\n\r\n",
            )
            .status
        })
        .collect();
    assert_eq!(vip, vec![200, 200, 200]);
}

#[test]
fn unknown_plugins_and_bad_plugin_config_are_refused_with_paths() {
    let output = support::sluice_check(&config(
        "http://127.0.0.1:9",
        "plugins:\n  - name: jwt\n  - name: rate-limiting\n    config:\n      minute: -1\n",
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("plugins[0].name"), "{stderr}");
    assert!(stderr.contains("plugins[1].config.minute"), "{stderr}");
}

#[test]
fn consistent_hashing_on_the_authenticated_consumer() {
    let targets: Vec<Upstream> = ["A", "B", "C"]
        .iter()
        .map(|name| Upstream::fixed(name))
        .collect();
    let mut yaml = String::from(
        "_format_version: \"3.0\"\nupstreams:\n  - name: pool.internal\n    algorithm: consistent-hashing\n    hash_on: consumer\n    targets:\n",
    );
    for target in &targets {
        yaml.push_str(&format!("      - target: 127.0.0.1:{}\n", target.port()));
    }
    yaml.push_str(
        "services:\n  - name: svc\n    host: pool.internal\n    port: 80\n    routes:\n      - paths: [\"/\"]\n\
         consumers:\n  - username: alice\n    keyauth_credentials:\n      - key: ka\n  - username: bob\n    keyauth_credentials:\n      - key: kb\n\
         plugins:\n  - name: key-auth\n",
    );
    let gateway = Gateway::start(&yaml, &["--workers", "2"]);
    for key in ["ka", "kb"] {
        let mut seen: Vec<String> = (0..6)
            .map(|_| {
                request(
                    &gateway,
                    &format!("GET / HTTP/1.1\r\nHost: x\r\napikey: {key}\r\n\r\n"),
                )
                .text()
            })
            .collect();
        seen.dedup();
        assert_eq!(
            seen.len(),
            1,
            "consumer with key {key} moved between targets: {seen:?}"
        );
    }
}

#[test]
fn response_transformer_rewrites_json_bodies_in_the_body_filter_phase() {
    use support::{chunk_encode, response, Action};
    let json_body = br#"{"a":1,"secret":"x","old":2,"list":[1],"tag":"t"}"#;
    let upstream = Upstream::start(move |req| {
        match req.path() {
            // Chunked upstream body: the filter sees it whole.
            "/chunked" => {
                let mut out =
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        .to_vec();
                out.extend_from_slice(&chunk_encode(json_body, 7));
                Action::Respond(out)
            }
            "/text" => Action::Respond(response(200, &[("Content-Type", "text/plain")], json_body)),
            "/broken" => Action::Respond(response(
                200,
                &[("Content-Type", "application/json")],
                b"{not json",
            )),
            _ => Action::Respond(response(
                200,
                &[("Content-Type", "application/json; charset=utf-8")],
                json_body,
            )),
        }
    });
    let extra = "plugins:\n  - name: response-transformer\n    config:\n      remove:\n        json: [secret]\n      rename:\n        json: [\"old:new\"]\n      replace:\n        json: [\"a:5\"]\n        json_types: [number]\n      add:\n        json: [\"added:true\", \"a:9\"]\n        json_types: [boolean, number]\n      append:\n        json: [\"list:2\", \"tag:u\"]\n        json_types: [number]\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);
    let expected =
        serde_json::json!({"a": 5, "new": 2, "list": [1, 2], "added": true, "tag": ["t", "u"]});

    let mut client = gateway.client();
    client.set_read_timeout(Duration::from_secs(5));
    for path in ["/plain", "/chunked", "/plain"] {
        // One keepalive connection: the rewritten framing must leave it usable.
        let r = client.request(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.json(), expected, "{path}: {}", r.text());
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str()),
            "{}",
            r.head
        );
        assert_eq!(r.header("transfer-encoding"), None);
    }
    let text = request(&gateway, "GET /text HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(text.body, json_body, "non-JSON responses pass unchanged");
    let broken = request(&gateway, "GET /broken HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(broken.body, b"{not json", "invalid JSON passes unchanged");
    assert_eq!(broken.header("content-length"), Some("9"));
}

#[test]
fn a_body_too_large_to_filter_streams_through_unchanged() {
    use support::{chunk_encode, pattern, Action};
    // 9 MiB of payload: past the 8 MiB the body filter buffers.
    let payload = pattern(9 * 1024 * 1024, 7);
    let sent = payload.clone();
    let upstream = Upstream::start(move |_| {
        let mut out =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        out.extend_from_slice(&chunk_encode(&sent, 64 * 1024));
        Action::Respond(out)
    });
    let extra = "plugins:\n  - name: response-transformer\n    config:\n      remove:\n        json: [secret]\n";
    let gateway = Gateway::start(&config(&upstream.url(), extra), &[]);
    let mut client = gateway.client();
    client.set_read_timeout(Duration::from_secs(20));
    for _ in 0..2 {
        let r = client.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.body.len(), payload.len());
        assert!(r.body == payload, "the body changed");
    }
}
