//! Connection management through the real gateway: client keepalive and pipelining, the
//! upstream keepalive pool, upstream failures (502/503/504), retries across targets, stale
//! pooled connections, timeouts and protocol upgrades.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::{ok, pattern, response, Action, Gateway, Upstream};

fn catch_all(url: &str, extra: &str) -> String {
    format!("_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {url}\n{extra}    routes:\n      - paths: [\"/\"]\n")
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

fn echo_path() -> Upstream {
    Upstream::start(|req| {
        let mut body = req.path().to_owned();
        if !req.body.is_empty() {
            body.push(':');
            body.push_str(&String::from_utf8_lossy(
                &req.body[..req.body.len().min(32)],
            ));
            body.push_str(&format!(":{}", req.body.len()));
        }
        ok(&body)
    })
}

#[test]
fn keepalive_reuses_the_client_and_upstream_connections() {
    let upstream = echo_path();
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    for i in 0..5 {
        let r = client.request(format!("GET /k/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!((r.status, r.text()), (200, format!("/k/{i}")), "{}", r.head);
        assert!(!r.says_close(), "{}", r.head);
    }
    assert_eq!(
        upstream.accepted(),
        1,
        "sequential requests share one upstream connection"
    );
    let seqs: Vec<(usize, usize)> = upstream
        .requests()
        .iter()
        .map(|r| (r.conn, r.seq))
        .collect();
    assert_eq!(seqs, vec![(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]);

    // New client connections (same worker) pick the pooled upstream connection up as well.
    for i in 0..3 {
        let r = gw.get(&format!("/fresh/{i}"), "x");
        assert_eq!(r.status, 200, "{}", r.head);
    }
    assert_eq!(
        upstream.accepted(),
        1,
        "the upstream pool is shared by client connections"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let upstream = echo_path();
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    let big = pattern(100_000, 3);
    let mut batch = Vec::new();
    batch.extend_from_slice(b"GET /p/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    batch.extend_from_slice(b"POST /p/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo");
    batch.extend_from_slice(b"GET /p/3 HTTP/1.1\r\nHost: x\r\n\r\n");
    batch.extend_from_slice(
        format!(
            "PUT /p/4 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            big.len()
        )
        .as_bytes(),
    );
    batch.extend_from_slice(&big);
    batch.extend_from_slice(b"POST /p/5 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfive\r\n0\r\n\r\n");
    batch.extend_from_slice(b"GET /p/6 HTTP/1.1\r\nHost: x\r\n\r\n");
    client.send(&batch);
    let expected = [
        "/p/1".to_owned(),
        "/p/2:two:3".to_owned(),
        "/p/3".to_owned(),
        format!("/p/4:{}:{}", String::from_utf8_lossy(&big[..32]), big.len()),
        "/p/5:five:4".to_owned(),
        "/p/6".to_owned(),
    ];
    for want in &expected {
        let r = client.read_response();
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(&r.text(), want);
    }
    let seen = upstream.requests();
    assert_eq!(seen.len(), 6);
    assert!(seen[3].body == big, "pipelined 100 kB body arrived intact");
}

#[test]
fn refused_upstream_is_502() {
    let port = refused_port();
    let gw = Gateway::start(
        &catch_all(
            &format!("http://127.0.0.1:{port}"),
            "    connect_timeout: 2000\n",
        ),
        &[],
    );
    let mut client = gw.client();
    let r = client.request(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 502, "{}", r.head);
    assert_eq!(
        r.json()["message"],
        "An invalid response was received from the upstream server"
    );
    // A bodyless request's failure does not end the client connection.
    let r = client.request(b"GET /y HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 502, "{}", r.head);
    // With an unread body the gateway must close instead.
    let r = client.request(b"POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody");
    assert_eq!(r.status, 502, "{}", r.head);
    assert!(r.says_close(), "{}", r.head);
    client.assert_closed();
}

#[test]
fn reset_or_garbage_from_upstream_is_502() {
    let upstream = Upstream::start(|req| match req.path() {
        "/reset" => Action::Reset,
        "/close" => Action::Close,
        "/garbage" => Action::Garbage,
        _ => ok("fine"),
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    for path in ["/reset", "/close", "/garbage"] {
        let r = gw.get(path, "x");
        assert_eq!(r.status, 502, "{path}: {}", r.head);
        assert_eq!(
            r.json()["message"],
            "An invalid response was received from the upstream server",
            "{path}"
        );
    }
    // The request reached the upstream once each: a request that was sent is not retried on
    // another connection after the upstream failed it (it may have had an effect).
    let paths: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(paths, vec!["/reset", "/close", "/garbage"]);
    let r = gw.get("/ok", "x");
    assert_eq!((r.status, r.text().as_str()), (200, "fine"), "{}", r.head);
}

#[test]
fn slow_upstream_is_504_after_read_timeout() {
    let upstream = Upstream::start(|_| Action::Delay(Duration::from_secs(3), Box::new(ok("late"))));
    let gw = Gateway::start(&catch_all(&upstream.url(), "    read_timeout: 300\n"), &[]);
    let started = Instant::now();
    let r = gw.get("/slow", "x");
    let elapsed = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.head);
    assert_eq!(r.json()["message"], "The upstream server is timing out");
    assert!(
        elapsed < Duration::from_secs(3),
        "the 504 came after {elapsed:?}, not after read_timeout"
    );
    assert_eq!(
        upstream.request_count(),
        1,
        "a timed-out request is not sent again"
    );
}

#[test]
fn unusable_backends_are_503() {
    let upstream = Upstream::fixed("never");
    let yaml = format!(
        r#"_format_version: "3.0"
upstreams:
  - name: drained.internal
    targets:
      - target: {addr}
        weight: 0
services:
  - name: drained
    host: drained.internal
    routes:
      - paths: ["/drained"]
  - name: unresolvable
    host: does-not-exist.invalid
    routes:
      - paths: ["/unresolvable"]
"#,
        addr = upstream.addr()
    );
    let gw = Gateway::start(&yaml, &[]);
    let r = gw.get("/drained", "x");
    assert_eq!(r.status, 503, "{}", r.head);
    assert_eq!(
        r.json()["message"],
        "failure to get a peer from the ring-balancer"
    );
    let r = gw.get("/unresolvable", "x");
    assert_eq!(r.status, 503, "{}", r.head);
    assert_eq!(r.json()["message"], "name resolution failed");
    assert_eq!(
        upstream.accepted(),
        0,
        "a weight-0 target is never connected to"
    );
}

#[test]
fn retries_move_to_the_next_target() {
    let upstream = echo_path();
    let dead = refused_port();
    let yaml = format!(
        r#"_format_version: "3.0"
upstreams:
  - name: pair.internal
    targets:
      - target: 127.0.0.1:{dead}
      - target: {live}
services:
  - name: retrying
    host: pair.internal
    retries: 5
    routes:
      - paths: ["/retry"]
  - name: not-retrying
    host: pair.internal
    retries: 0
    routes:
      - paths: ["/once"]
"#,
        live = upstream.addr()
    );
    let gw = Gateway::start(&yaml, &[]);
    for i in 0..8 {
        let r = gw.get(&format!("/retry/{i}"), "x");
        assert_eq!(
            r.status, 200,
            "request {i} failed although one target is up: {}",
            r.head
        );
    }
    let mut client = gw.client();
    for i in 0..8 {
        let r = client.request(format!("GET /retry/k{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200, "keepalive request {i}: {}", r.head);
    }
    // Request bodies survive the move to the next target (nothing was sent to the dead one).
    let big = pattern(100_000, 9);
    for i in 0..4 {
        client.send(
            format!(
                "POST /retry/body{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                big.len()
            )
            .as_bytes(),
        );
        client.send(&big);
        let r = client.read_response();
        assert_eq!(r.status, 200, "POST {i}: {}", r.head);
        let r = client.request(
            format!("POST /retry/small{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nsmall")
                .as_bytes(),
        );
        assert_eq!(
            (r.status, r.text()),
            (200, format!("/small{i}:small:5")),
            "{}",
            r.head
        );
    }
    assert_eq!(upstream.request_count(), 24);
    assert!(upstream.requests()[16..]
        .iter()
        .step_by(2)
        .all(|r| r.body == big));
    // Without retries, round-robin sends some requests to the dead target.
    let statuses: Vec<u16> = (0..4)
        .map(|i| gw.get(&format!("/once/{i}"), "x").status)
        .collect();
    assert!(
        statuses.contains(&502) && statuses.contains(&200),
        "retries: 0 statuses {statuses:?}"
    );
}

#[test]
fn stale_pooled_connection_is_retried_for_a_get() {
    // Answers with a keepalive response, then closes the connection while the gateway pools it.
    let upstream = Upstream::start(|req| {
        let mut bytes = response(200, &[], req.path().as_bytes());
        if req.method == "HEAD" {
            bytes.truncate(bytes.len() - req.path().len());
        }
        Action::RespondClose(bytes)
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), "    retries: 0\n"), &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "/first"), "{}", r.head);
    upstream.wait_all_closed();
    let r = client.request(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "/second"),
        "stale pooled connection not retried: {}",
        r.head
    );
    upstream.wait_all_closed();
    client.send(b"HEAD /third HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = client.read_head_response();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-length"), Some("6"), "{}", r.head);
    assert_eq!(upstream.accepted(), 3);
    assert_eq!(
        upstream.request_count(),
        3,
        "each request reached the upstream exactly once"
    );
}

#[test]
fn upstream_connection_close_is_not_pooled() {
    let upstream = Upstream::start(|req| {
        Action::RespondClose(response(
            200,
            &[("Connection", "close")],
            req.path().as_bytes(),
        ))
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    for i in 0..3 {
        let r = client.request(format!("GET /c/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!((r.status, r.text()), (200, format!("/c/{i}")), "{}", r.head);
        assert!(
            !r.says_close(),
            "the upstream's Connection: close is hop-by-hop: {}",
            r.head
        );
    }
    assert_eq!(upstream.accepted(), 3);
}

#[test]
fn upstream_keepalive_max_requests_rotates_connections() {
    let upstream = echo_path();
    let gw = Gateway::start(
        &catch_all(&upstream.url(), ""),
        &["--upstream-keepalive-max-requests", "2"],
    );
    let mut client = gw.client();
    for i in 0..5 {
        let r = client.request(format!("GET /m/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200, "{}", r.head);
    }
    assert_eq!(
        upstream.accepted(),
        3,
        "2 + 2 + 1 requests per upstream connection"
    );
}

#[test]
fn truncated_upstream_body_is_not_presented_as_complete() {
    let upstream = Upstream::start(|_| {
        Action::RespondClose(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this".to_vec())
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    client.send(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n");
    match client.try_read_response(false) {
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Ok(Some(r)) => panic!(
            "a truncated body was presented as a complete response: {} {:?}",
            r.head,
            r.text()
        ),
        Ok(None) => {}
    }
}

#[test]
fn idle_client_connection_is_closed_after_keepalive_timeout() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(
        &catch_all(&upstream.url(), ""),
        &["--keepalive-timeout", "0.5"],
    );
    let mut client = gw.client();
    let r = client.request(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    let started = Instant::now();
    client.assert_closed();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        started.elapsed()
    );
}

#[test]
fn slow_request_head_is_cut_off_after_client_header_timeout() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(
        &catch_all(&upstream.url(), ""),
        &["--client-header-timeout", "0.5"],
    );
    let mut client = gw.client();
    client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n");
    let started = Instant::now();
    match client.try_read_response(false) {
        Ok(None) => {}
        Ok(Some(r)) => {
            assert!(r.status == 408 || r.status == 400, "unexpected {}", r.head);
            client.assert_closed();
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off only after {:?}",
        started.elapsed()
    );
    assert_eq!(upstream.accepted(), 0);
}

#[test]
fn client_abort_mid_body_does_not_complete_the_upstream_request() {
    let upstream = echo_path();
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    {
        let mut client = gw.client();
        client.send(
            b"POST /abort HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nonly a little",
        );
        // Dropping the client closes the connection mid-body.
    }
    upstream.wait_all_closed();
    assert_eq!(upstream.request_count(), 0, "{:?}", upstream.requests());
    let r = gw.get("/after", "x");
    assert_eq!((r.status, r.text().as_str()), (200, "/after"), "{}", r.head);
}

#[test]
fn upgrade_becomes_a_tunnel() {
    let upstream = Upstream::start(|req| {
        if req.header("upgrade") == Some("echo-protocol") {
            Action::RespondThenEcho(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo-protocol\r\nConnection: Upgrade\r\n\r\n".to_vec(),
            )
        } else {
            Action::Respond(response(400, &[], b"no upgrade"))
        }
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    client.send(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo-protocol\r\n\r\n",
    );
    client.set_read_timeout(Duration::from_secs(10));
    let r = client.read_head_response();
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("upgrade"), Some("echo-protocol"), "{}", r.head);
    let seen = &upstream.requests()[0];
    assert_eq!(
        seen.header("upgrade"),
        Some("echo-protocol"),
        "{:?}",
        seen.headers
    );
    assert!(
        seen.header("connection")
            .is_some_and(|c| c.to_ascii_lowercase().contains("upgrade")),
        "{:?}",
        seen.headers
    );

    client.send(b"ping-1 ");
    client.send(b"ping-2");
    let mut echoed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while echoed.len() < 13 && Instant::now() < deadline {
        echoed.extend_from_slice(&client.read_some());
    }
    assert_eq!(String::from_utf8_lossy(&echoed), "ping-1 ping-2");
}

#[test]
fn connection_close_from_the_client_is_honoured() {
    let upstream = echo_path();
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "/bye"), "{}", r.head);
    assert!(r.says_close(), "{}", r.head);
    client.assert_closed();
}

#[test]
fn interim_1xx_responses_from_upstream_are_skipped() {
    let upstream = Upstream::start(|_| {
        Action::Respond(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
                .to_vec(),
        )
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /hints HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "final"), "{}", r.head);
    let r = client.request(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "final"), "{}", r.head);
}

#[test]
fn many_pipelined_requests_in_one_write() {
    let upstream = echo_path();
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend_from_slice(
            format!(
                "GET /many/{i:03} HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
                "p".repeat(i)
            )
            .as_bytes(),
        );
    }
    client.send(&batch);
    for i in 0..200 {
        let r = client.read_response();
        assert_eq!(
            (r.status, r.text()),
            (200, format!("/many/{i:03}")),
            "{}",
            r.head
        );
    }
    assert_eq!(upstream.accepted(), 1);
}

#[test]
fn request_trickled_byte_by_byte() {
    let upstream = echo_path();
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    let raw = b"POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\npayload";
    for byte in raw.iter() {
        client.send(std::slice::from_ref(byte));
    }
    let r = client.read_response();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "/trickle:payload:7"),
        "{}",
        r.head
    );
}

#[test]
fn oversized_upstream_response_head_is_502() {
    let upstream = Upstream::start(|_| {
        let big = "v".repeat(40 * 1024);
        Action::Respond(response(200, &[("X-Huge", big.as_str())], b"body"))
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let r = gw.get("/huge", "x");
    assert_eq!(r.status, 502, "{}", r.head);
}

#[test]
fn pooled_connection_that_received_unsolicited_bytes_is_not_reused() {
    // Some servers send "408 Request Timeout" on an idle keepalive connection before closing
    // it. That response belongs to no request and must never reach a client.
    let upstream = Upstream::start(|req| {
        Action::RespondThenLater(
            response(200, &[], req.path().as_bytes()),
            Duration::from_millis(100),
            b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        )
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "/first"), "{}", r.head);
    upstream.wait_all_closed();
    let r = client.request(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "/second"),
        "the stale 408 of an idle pooled connection was relayed as the answer to a new request:\n{}",
        r.head
    );
    assert_eq!(upstream.request_count(), 2);
}

#[test]
fn upstream_response_longer_than_declared_is_cut_at_its_length_and_never_reused() {
    // The extra bytes arrive in the same write as the declared body: a second response the
    // upstream smuggled in, waiting to be read as the answer to the next request.
    let upstream = Upstream::start(|req| {
        if req.path() == "/first" {
            Action::Respond(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\
                  Content-Length: 8\r\n\r\nsmuggled"
                    .to_vec(),
            )
        } else {
            Action::Respond(response(200, &[], req.path().as_bytes()))
        }
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &["--workers", "1"]);
    let mut client = gw.client();
    let r = client.request(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"), "{}", r.head);
    let r = client.request(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "/second"),
        "bytes beyond the declared length were relayed as the next answer: {}",
        r.head
    );
    assert!(client.is_open_after(Duration::from_millis(100)));
    assert_eq!(
        upstream.accepted(),
        2,
        "the connection that sent extra bytes was reused"
    );
    let conns: Vec<usize> = upstream.requests().iter().map(|r| r.conn).collect();
    assert_eq!(conns, [0, 1]);
}

#[test]
fn post_after_upstream_closed_the_idle_pooled_connection_succeeds() {
    // Like an upstream whose keepalive timeout is shorter than the gateway's (Node.js: 5 s):
    // the connection is closed while idle in the pool, long before the next request.
    let upstream = Upstream::start(|req| {
        let mut body = req.path().as_bytes().to_vec();
        body.extend_from_slice(&req.body);
        Action::RespondClose(response(200, &[], &body))
    });
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    upstream.wait_all_closed();
    let r = client.request(b"POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "/secondbody"),
        "a POST was sent on a pooled connection the upstream had closed while idle: {}",
        r.head
    );
}

#[test]
fn nothing_is_served_after_a_connection_close_request() {
    let upstream = echo_path();
    let gw = Gateway::start(&catch_all(&upstream.url(), ""), &[]);
    let mut client = gw.client();
    client.send(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = client.read_response();
    assert_eq!((r.status, r.text().as_str()), (200, "/last"), "{}", r.head);
    assert!(r.says_close(), "{}", r.head);
    match client.try_read_response(false) {
        Ok(None) => {}
        Ok(Some(r)) => panic!("a request after Connection: close was served: {}", r.head),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let paths: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(paths, vec!["/last"]);
}
