//! Wire limits a hostile client runs into through the real gateway: line endings other than
//! CRLF, pipelining depth, and clients that stop reading their responses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{ok, response, Action, Gateway, Upstream};

fn catch_all(url: &str) -> String {
    format!("_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {url}\n    routes:\n      - paths: [\"/\"]\n")
}

#[test]
fn bare_lf_line_endings_are_refused_and_never_forwarded() {
    let upstream = Upstream::fixed("ok");
    let gateway = Gateway::start(&catch_all(&upstream.url()), &[]);
    let requests: &[&[u8]] = &[
        b"GET / HTTP/1.1\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        // Read as one header by a proxy that only splits on CRLF, as two by one that takes LF.
        b"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for raw in requests {
        let mut client = gateway.client();
        client.send(raw);
        let answer = client.read_response();
        assert_eq!(
            answer.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(raw),
            answer.head
        );
        assert!(answer.says_close(), "{}", answer.head);
        client.assert_closed();
    }
    assert_eq!(
        upstream.request_count(),
        0,
        "a bare-LF request was forwarded"
    );

    // The same requests with CRLF are fine.
    let answer = gateway
        .client()
        .request(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(upstream.request_count(), 1);
}

fn pipelined_gets(count: usize) -> Vec<u8> {
    (1..=count)
        .flat_map(|i| format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes())
        .collect()
}

#[test]
fn pipelining_depth_is_bounded_and_the_rest_left_for_the_client_to_resend() {
    let upstream = Upstream::start(|req| ok(req.path()));
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "1", "--max-pipelined-requests", "3"],
    );

    // Six requests in one write: the first is answered, then three that were queued behind
    // it; the answer to the third queued one closes the connection, and the fifth and sixth
    // are never started (a pipelining client resends what was not answered).
    let mut client = gateway.client();
    client.send(&pipelined_gets(6));
    for i in 1..=4 {
        let answer = client.read_response();
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.text(), format!("/{i}"));
        assert_eq!(answer.says_close(), i == 4, "response {i}: {}", answer.head);
    }
    client.assert_closed();
    let paths: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(paths, ["/1", "/2", "/3", "/4"]);

    // Below the depth, pipelining keeps the connection.
    let mut client = gateway.client();
    client.send(&pipelined_gets(3));
    for i in 1..=3 {
        let answer = client.read_response();
        assert_eq!(answer.text(), format!("/{i}"));
        assert!(!answer.says_close(), "{}", answer.head);
    }
    assert!(client.is_open_after(Duration::from_millis(200)));
}

#[test]
fn pipelining_is_counted_across_reads_and_every_answer_survives_the_close() {
    let upstream = Upstream::start(|req| ok(req.path()));
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "1", "--max-pipelined-requests", "40"],
    );
    // 64-byte requests: each 2 KiB read ends exactly at a request boundary, so the buffer runs
    // empty every 32 requests although hundreds more wait in the socket.
    let request = |i: usize| {
        let head = format!("GET /{i:05} HTTP/1.1\r\nHost: x\r\nX-Pad: ");
        let mut raw = head.into_bytes();
        raw.resize(60, b'p');
        raw.extend_from_slice(b"\r\n\r\n");
        raw
    };
    assert_eq!(request(1).len(), 64);
    let all: Vec<u8> = (1..=400).flat_map(request).collect();
    let mut client = gateway.client();
    client.send(&all);
    // Read only once the gateway is done: a close with unread input would have reset the
    // connection by then.
    std::thread::sleep(Duration::from_millis(300));
    // The 41st is the last one answered; the gateway then closes without resetting, so all
    // 41 answers arrive although 359 requests were never read.
    for i in 1..=41 {
        let answer = client.read_response();
        assert_eq!(answer.text(), format!("/{i:05}"));
        assert_eq!(
            answer.says_close(),
            i == 41,
            "response {i}: {}",
            answer.head
        );
    }
    client.assert_closed();
    assert_eq!(upstream.request_count(), 41);
}

#[test]
fn a_stray_crlf_after_each_body_is_not_pipelining() {
    // Some old clients send CRLF after a POST body; it stays buffered until the next request,
    // which the client only sends after its answer.
    let upstream = Upstream::start(|req| ok(req.path()));
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "1", "--max-pipelined-requests", "2"],
    );
    let mut client = gateway.client();
    for i in 1..=10 {
        let answer = client.request(
            format!("POST /{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n").as_bytes(),
        );
        assert_eq!(answer.text(), format!("/{i}"));
        assert!(!answer.says_close(), "request {i}: {}", answer.head);
    }
}

#[test]
fn requests_sent_one_after_another_are_not_pipelining() {
    let upstream = Upstream::start(|req| ok(req.path()));
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "1", "--max-pipelined-requests", "1"],
    );
    let mut client = gateway.client();
    for i in 1..=20 {
        let answer = client.request(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(answer.text(), format!("/{i}"));
        assert!(!answer.says_close(), "request {i}: {}", answer.head);
    }
    // Two in one write: the second was queued behind the first, at the depth of 1.
    client.send(&pipelined_gets(2));
    assert!(!client.read_response().says_close());
    assert!(client.read_response().says_close());
    client.assert_closed();
}

#[test]
fn send_timeout_option_is_validated() {
    let output = support::sluice_command()
        .args(["start", "--client-send-timeout", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--client-send-timeout must be a positive number of seconds"),
        "{stderr}"
    );
}

/// Reads until the gateway ends the connection; returns the bytes read. Fails on a timeout,
/// i.e. when the gateway neither sends nor closes.
fn read_until_closed(stream: &mut TcpStream) -> usize {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("after {total} bytes the gateway neither sent nor closed: {e}"),
        }
    }
}

#[test]
fn a_client_that_stops_reading_is_disconnected_after_the_send_timeout() {
    const BIG: usize = 64 * 1024 * 1024;
    let big = vec![b'z'; BIG];
    let upstream = Upstream::start(move |req| {
        if req.path() == "/big" {
            Action::Respond(response(200, &[], &big))
        } else {
            ok("pong")
        }
    });
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "1", "--client-send-timeout", "1"],
    );

    let mut stalled = TcpStream::connect(gateway.proxy_addr).unwrap();
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The socket buffers fill within milliseconds; then each write waits for the client.
    std::thread::sleep(Duration::from_millis(300));
    let answer = gateway.get("/ping", "x");
    assert_eq!(answer.status, 200, "a stalled reader held the worker");
    std::thread::sleep(Duration::from_secs(2));

    let started = Instant::now();
    let received = read_until_closed(&mut stalled);
    assert!(
        received < BIG,
        "the whole {received}-byte response was delivered: the stalled client was not cut off"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the connection was not already closed: {:?}",
        started.elapsed()
    );

    // A client that reads, however large the response, gets all of it.
    let mut reader = TcpStream::connect(gateway.proxy_addr).unwrap();
    reader
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(read_until_closed(&mut reader) > BIG);
}
