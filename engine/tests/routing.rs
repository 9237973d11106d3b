//! Routing and request/response rewriting through the real gateway: route selection by path,
//! host and method, the 404 answer, Kong's path joining (strip_path), preserve_host, the
//! X-Forwarded-* family, hop-by-hop headers, Via/Server and trusted_ips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{ok, response, Action, Gateway, Upstream};

fn named(name: &'static str) -> Upstream {
    Upstream::start(move |_| ok(name))
}

#[test]
fn routes_by_path_prefix_host_and_method() {
    let alpha = named("alpha");
    let beta = named("beta");
    let post = named("post");
    let get = named("get");
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: alpha
    url: {alpha}
    routes:
      - name: alpha-path
        paths: ["/alpha"]
  - name: beta
    url: {beta}
    routes:
      - name: beta-host
        hosts: ["beta.example"]
  - name: post
    url: {post}
    routes:
      - name: method-post
        paths: ["/method"]
        methods: ["POST"]
  - name: get
    url: {get}
    routes:
      - name: method-get
        paths: ["/method"]
        methods: ["GET"]
"#,
        alpha = alpha.url(),
        beta = beta.url(),
        post = post.url(),
        get = get.url(),
    );
    let gw = Gateway::start(&yaml, &[]);

    let r = gw.get("/alpha/one", "anything.example");
    assert_eq!((r.status, r.text().as_str()), (200, "alpha"), "{}", r.head);
    assert_eq!(
        alpha.requests()[0].target,
        "/one",
        "strip_path defaults to true"
    );

    let r = gw.get("/alphabet", "anything.example");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "alpha"),
        "prefix match is by bytes, as in Kong: {}",
        r.head
    );

    let r = gw.get("/whatever/path", "beta.example");
    assert_eq!((r.status, r.text().as_str()), (200, "beta"), "{}", r.head);
    let r = gw.get("/whatever/path", "beta.example:8000");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "beta"),
        "a host without port matches any port: {}",
        r.head
    );
    let r = gw.get("/", "BETA.Example");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "beta"),
        "host matching ignores case: {}",
        r.head
    );

    let mut client = gw.client();
    let r = client.request(b"POST /method HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!((r.status, r.text().as_str()), (200, "post"), "{}", r.head);
    let r = client.request(b"GET /method/sub HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "get"), "{}", r.head);
    let r = client.request(b"DELETE /method HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404, "no route accepts DELETE: {}", r.head);

    assert_eq!(post.requests()[0].body, b"hi");
    assert_eq!(post.request_count(), 1);
    assert_eq!(get.request_count(), 1);
    assert_eq!(beta.request_count(), 3);
    assert_eq!(alpha.request_count(), 2);
}

#[test]
fn no_route_is_404_json() {
    let upstream = named("never");
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/only\"]\n",
        upstream.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404, "{}", r.head);
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type: {content_type:?}"
    );
    assert_eq!(
        r.text(),
        r#"{"message":"no Route matched with those values"}"#
    );
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    assert!(
        r.header("server").is_some_and(|s| s.starts_with("sluice")),
        "{}",
        r.head
    );
    // A 404 does not end a keepalive connection.
    let r = client.request(b"GET /only HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "never"), "{}", r.head);
    // HEAD gets the same status without a body.
    client.send(b"HEAD /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = client.read_head_response();
    assert_eq!(r.status, 404, "{}", r.head);
    let r = client.request(b"GET /only HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "HEAD 404 must not carry a body: {}", r.head);
    assert_eq!(upstream.request_count(), 2);
}

#[test]
fn strip_path_joins_with_service_path_and_keeps_query() {
    let upstream = Upstream::start(|req| ok(&req.target.clone()));
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: stripped
    url: {url}/base
    routes:
      - name: strip
        paths: ["/api"]
        strip_path: true
  - name: kept
    url: {url}/base
    routes:
      - name: nostrip
        hosts: ["nostrip.test"]
        paths: ["/api"]
        strip_path: false
"#,
        url = upstream.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let cases = [
        ("/api/x", "any.test", "/base/x"),
        ("/api/x", "nostrip.test", "/base/api/x"),
        (
            "/api/x?a=1&b=two%20words",
            "any.test",
            "/base/x?a=1&b=two%20words",
        ),
        (
            "/api/x?a=1&b=two%20words",
            "nostrip.test",
            "/base/api/x?a=1&b=two%20words",
        ),
        ("/api", "any.test", "/base"),
        ("/api/", "any.test", "/base/"),
        ("/api/deep/er/", "any.test", "/base/deep/er/"),
    ];
    let mut client = gw.client();
    for (path, host, expected) in cases {
        let r = client.request(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200, "{path} ({host}): {}", r.head);
        assert_eq!(
            r.text(),
            expected,
            "upstream target for {path} with Host {host}"
        );
    }
    let seen: Vec<String> = upstream.requests().into_iter().map(|r| r.target).collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.2).collect();
    assert_eq!(seen, expected);
}

#[test]
fn preserve_host_decides_the_upstream_host() {
    let upstream = Upstream::start(|req| ok(req.header("host").unwrap_or("<none>")));
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: s
    url: {url}
    routes:
      - name: keep
        paths: ["/keep"]
        preserve_host: true
      - name: replace
        paths: ["/replace"]
        preserve_host: false
"#,
        url = upstream.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let r = gw.get("/keep", "client.example:8080");
    assert_eq!(
        (r.status, r.text()),
        (200, "client.example:8080".to_owned()),
        "{}",
        r.head
    );
    let r = gw.get("/replace", "client.example:8080");
    assert_eq!(
        (r.status, r.text()),
        (200, upstream.addr().to_string()),
        "{}",
        r.head
    );
    for request in upstream.requests() {
        assert_eq!(
            request.header_all("host").len(),
            1,
            "exactly one Host upstream: {:?}",
            request.headers
        );
    }
}

#[test]
fn forwarding_headers_are_added_upstream() {
    let upstream = Upstream::fixed("ok");
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/fwd\"]\n",
        upstream.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let mut client = gw.client();
    let r = client.request(
        b"GET /fwd/x?q=1 HTTP/1.1\r\nHost: front.example:9999\r\nUser-Agent: test-agent\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = &upstream.requests()[0];
    let port = gw.proxy_addr.port().to_string();
    let expected = [
        ("x-forwarded-for", "127.0.0.1"),
        ("x-real-ip", "127.0.0.1"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "front.example"),
        ("x-forwarded-port", port.as_str()),
        ("x-forwarded-path", "/fwd/x"),
        ("x-forwarded-prefix", "/fwd"),
        ("user-agent", "test-agent"),
    ];
    for (name, value) in expected {
        assert_eq!(
            seen.header_all(name),
            vec![value],
            "{name} upstream; all headers: {:?}",
            seen.headers
        );
    }
    assert_eq!(seen.target, "/x?q=1");
    assert_eq!(seen.version, 1, "upstream requests are HTTP/1.1");
}

#[test]
fn hop_by_hop_headers_are_dropped_both_ways() {
    let upstream = Upstream::start(|_| {
        Action::Respond(response(
            200,
            &[
                ("Connection", "X-Up-Secret"),
                ("X-Up-Secret", "hidden"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"),
                ("X-Up-Normal", "visible"),
            ],
            b"body",
        ))
    });
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/\"]\n",
        upstream.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let mut client = gw.client();
    let r = client.request(
        b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Normal: n\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "body");

    let seen = &upstream.requests()[0];
    for name in ["x-secret", "keep-alive", "proxy-connection"] {
        assert!(
            seen.header(name).is_none(),
            "{name} must not reach the upstream: {:?}",
            seen.headers
        );
    }
    for value in seen.header_all("connection") {
        assert!(
            !value.to_ascii_lowercase().contains("x-secret"),
            "client Connection forwarded: {value}"
        );
    }
    assert_eq!(seen.header("x-normal"), Some("n"));

    for name in ["x-up-secret", "keep-alive", "proxy-connection"] {
        assert!(
            r.header(name).is_none(),
            "{name} must not reach the client:\n{}",
            r.head
        );
    }
    for value in r.header_all("connection") {
        assert!(
            !value.to_ascii_lowercase().contains("x-up-secret"),
            "upstream Connection forwarded:\n{}",
            r.head
        );
    }
    assert_eq!(r.header("x-up-normal"), Some("visible"));
}

#[test]
fn via_and_server_on_responses() {
    let upstream = Upstream::start(|req| {
        if req.path() == "/own-server" {
            Action::Respond(response(200, &[("Server", "upstream-server/1.0")], b"x"))
        } else {
            ok("x")
        }
    });
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/\"]\n",
        upstream.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let r = gw.get("/plain", "x");
    assert_eq!(r.status, 200, "{}", r.head);
    let via = r.header_all("via");
    assert_eq!(via.len(), 1, "{}", r.head);
    assert!(via[0].starts_with("1.1 sluice"), "Via: {:?}", via[0]);
    let server = r.header_all("server");
    assert!(
        server.len() == 1 && server[0].starts_with("sluice"),
        "{}",
        r.head
    );

    let r = gw.get("/own-server", "x");
    assert_eq!(
        r.header_all("server"),
        vec!["upstream-server/1.0"],
        "upstream Server is kept:\n{}",
        r.head
    );
    assert!(
        r.header("via").is_some_and(|v| v.contains("sluice")),
        "{}",
        r.head
    );
}

const FORWARDED_REQUEST: &[u8] = b"GET /t HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: original.example\r\nX-Forwarded-Port: 8443\r\nX-Real-IP: 10.0.0.1\r\n\r\n";

#[test]
fn trusted_peer_keeps_forwarded_chain() {
    let upstream = Upstream::fixed("ok");
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/\"]\n",
        upstream.url()
    );
    let gw = Gateway::start(&yaml, &["--trusted-ips", "127.0.0.0/8,::1"]);
    let r = gw.client().request(FORWARDED_REQUEST);
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = &upstream.requests()[0];
    assert_eq!(
        seen.header_all("x-forwarded-for"),
        vec!["10.0.0.1, 10.0.0.2, 127.0.0.1"],
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header_all("x-forwarded-proto"),
        vec!["https"],
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header_all("x-forwarded-host"),
        vec!["original.example"],
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header_all("x-forwarded-port"),
        vec!["8443"],
        "{:?}",
        seen.headers
    );
}

#[test]
fn untrusted_peer_gets_forwarded_headers_overwritten() {
    let upstream = Upstream::fixed("ok");
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/\"]\n",
        upstream.url()
    );
    // Trusting some other network does not trust 127.0.0.1.
    let gw = Gateway::start(&yaml, &["--trusted-ips", "10.0.0.0/8"]);
    let r = gw.client().request(FORWARDED_REQUEST);
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = &upstream.requests()[0];
    let port = gw.proxy_addr.port().to_string();
    assert_eq!(
        seen.header_all("x-forwarded-for"),
        vec!["127.0.0.1"],
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header_all("x-real-ip"),
        vec!["127.0.0.1"],
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header_all("x-forwarded-proto"),
        vec!["http"],
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header_all("x-forwarded-host"),
        vec!["x"],
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header_all("x-forwarded-port"),
        vec![port.as_str()],
        "{:?}",
        seen.headers
    );
}

fn catch_all(upstream: &Upstream) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/\"]\n",
        upstream.url()
    )
}

#[test]
fn absolute_form_target_routes_on_its_authority() {
    let beta = Upstream::start(|req| ok(&format!("beta {}", req.target)));
    let other = named("other");
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: beta
    url: {beta}
    routes:
      - hosts: ["beta.example"]
  - name: other
    url: {other}
    routes:
      - hosts: ["other.example"]
"#,
        beta = beta.url(),
        other = other.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let r = gw
        .client()
        .request(b"GET http://beta.example/x?y=1 HTTP/1.1\r\nHost: other.example\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "beta /x?y=1"),
        "{}",
        r.head
    );
    assert_eq!(other.request_count(), 0);
}

#[test]
fn request_path_is_normalised_before_routing_and_forwarding() {
    let upstream = Upstream::start(|req| ok(&req.target.clone()));
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}/base\n    routes:\n      - paths: [\"/api\"]\n",
        upstream.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let cases = [
        ("/api/%7Euser/./a/../b//c%2fd", "/base/~user/b/c%2Fd"),
        ("/api/x%20y", "/base/x%20y"),
        ("/%61pi/decoded-prefix", "/base/decoded-prefix"),
    ];
    for (path, expected) in cases {
        let r = gw.get(path, "x");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, expected),
            "{path}: {}",
            r.head
        );
    }
    // Dot-segments cannot be used to step outside a route's prefix.
    for path in ["/api/../secret", "/api/%2e%2e/secret"] {
        let r = gw.get(path, "x");
        assert_eq!(
            r.status, 404,
            "{path} must be normalised to /secret: {}",
            r.head
        );
    }
    for path in ["/api/bad%zz", "/api/bad%"] {
        let r = gw.get(path, "x");
        assert_eq!(r.status, 400, "{path}: {}", r.head);
    }
    assert_eq!(upstream.request_count(), cases.len());
}

#[test]
fn end_to_end_headers_are_forwarded_verbatim_and_in_order() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let cookie = "c".repeat(20_000);
    let raw = format!(
        "GET /h HTTP/1.1\r\nHost: x\r\nX-Dup: first\r\nx-mixed-CASE: Value With  Spaces\r\nX-Dup: second\r\nCookie: big={cookie}\r\nX-Empty:\r\n\r\n"
    );
    let r = gw.client().request(raw.as_bytes());
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = &upstream.requests()[0];
    assert_eq!(
        seen.header_all("x-dup"),
        vec!["first", "second"],
        "{:?}",
        seen.headers
    );
    assert!(
        seen.headers
            .iter()
            .any(|(n, v)| n == "x-mixed-CASE" && v == "Value With  Spaces"),
        "{:?}",
        seen.headers
    );
    assert_eq!(seen.header("cookie").map(str::len), Some(cookie.len() + 4));
    assert_eq!(seen.header("x-empty"), Some(""));
}

#[test]
fn zero_content_length_is_forwarded() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let mut client = gw.client();
    for method in ["POST", "PUT", "PATCH"] {
        let r = client.request(
            format!("{method} /empty HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200, "{method}: {}", r.head);
    }
    // RFC 9110 section 8.6: a POST normally carries Content-Length even when it is 0, and
    // servers may answer 411 Length Required without it. Kong (nginx) forwards the 0.
    let lengths: Vec<(String, Option<String>)> = upstream
        .requests()
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.header("content-length").map(str::to_owned),
            )
        })
        .collect();
    let expected: Vec<(String, Option<String>)> = ["POST", "PUT", "PATCH"]
        .iter()
        .map(|m| ((*m).to_owned(), Some("0".to_owned())))
        .collect();
    assert_eq!(
        lengths, expected,
        "Content-Length: 0 must reach the upstream"
    );
}

#[test]
fn proxy_protocol_v1_sets_the_client_address() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&catch_all(&upstream), &["--proxy-protocol"]);
    let mut client = gw.client();
    let r = client.request(
        b"PROXY TCP4 203.0.113.7 198.51.100.1 40000 8443\r\nGET /pp HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = &upstream.requests()[0];
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("203.0.113.7"),
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header("x-real-ip"),
        Some("203.0.113.7"),
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header("x-forwarded-port"),
        Some("8443"),
        "{:?}",
        seen.headers
    );
    // Without the PROXY header the connection is refused.
    let mut client = gw.client();
    client.send(b"GET /pp HTTP/1.1\r\nHost: x\r\n\r\n");
    match client.try_read_response(false) {
        Ok(None) => {}
        Ok(Some(r)) => assert!(r.status >= 400, "served without a PROXY header: {}", r.head),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert_eq!(upstream.request_count(), 1);
}

#[test]
fn ipv6_host_header_gives_bracketed_forwarded_host() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let r = gw.get("/v6", "[::1]:8080");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        upstream.requests()[0].header("x-forwarded-host"),
        Some("[::1]")
    );
}

#[test]
fn absolute_form_target_with_empty_path_means_root() {
    let upstream = Upstream::start(|req| ok(&req.target.clone()));
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    // RFC 9110 section 4.2.3: an empty path in an http URI is equivalent to "/".
    let r = gw
        .client()
        .request(b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "/"), "{}", r.head);
    let r = gw
        .client()
        .request(b"GET http://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "/?q=1"), "{}", r.head);
}

#[test]
fn header_and_regex_routes_and_host_port_path_services() {
    let v1 = named("v1");
    let v2 = Upstream::start(|req| ok(&format!("v2 {}", req.target)));
    let regex = named("regex");
    let top = named("top");
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: v1
    url: {v1}
    routes:
      - name: default
        paths: ["/svc"]
  - name: v2
    protocol: http
    host: 127.0.0.1
    port: {v2_port}
    path: /v2base
    routes:
      - name: by-header
        paths: ["/svc"]
        headers:
          x-version: ["2", "two"]
  - name: regex
    url: {regex}
    routes:
      - name: numbered
        paths: ["~/users/\\d+$"]
  - name: top
    url: {top}
routes:
  - name: top-level
    service: top
    paths: ["/top"]
"#,
        v1 = v1.url(),
        v2_port = v2.port(),
        regex = regex.url(),
        top = top.url()
    );
    let gw = Gateway::start(&yaml, &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /svc/a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "v1"), "{}", r.head);
    let r = client.request(b"GET /svc/a HTTP/1.1\r\nHost: x\r\nX-Version: two\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "v2 /v2base/a"),
        "{}",
        r.head
    );
    let r = client.request(b"GET /svc/a HTTP/1.1\r\nHost: x\r\nX-Version: 3\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "v1"), "{}", r.head);
    let r = client.request(b"GET /users/42 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "regex"), "{}", r.head);
    let r = client.request(b"GET /users/42/more HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404, "the regex is anchored: {}", r.head);
    let r = client.request(b"GET /top/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "top"), "{}", r.head);
    assert_eq!(
        v2.requests()[0].header("host"),
        Some(format!("127.0.0.1:{}", v2.port()).as_str())
    );
}

#[test]
fn trusted_peer_with_several_forwarded_for_lines_keeps_them_all() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&catch_all(&upstream), &["--trusted-ips", "127.0.0.1"]);
    let r = gw
        .client()
        .request(b"GET /t HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = &upstream.requests()[0];
    // Several header lines are one comma-separated list (RFC 9110 section 5.3).
    assert_eq!(
        seen.header_all("x-forwarded-for"),
        vec!["10.0.0.1, 10.0.0.2, 127.0.0.1"],
        "part of the forwarding chain was lost: {:?}",
        seen.headers
    );
}
