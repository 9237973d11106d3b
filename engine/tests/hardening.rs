//! Hostile and broken peers through the real gateway: size and connection limits, slow
//! clients, abandoned and reset connections, upstreams that die mid-response. The gateway must
//! keep serving everyone else and must not leak descriptors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{ok, response, Action, Gateway, Upstream};

fn catch_all(url: &str) -> String {
    format!("_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {url}\n    routes:\n      - paths: [\"/\"]\n")
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn served(gateway: &Gateway) -> bool {
    gateway.get("/ping", "x").status == 200
}

#[test]
fn body_over_the_limit_is_413_and_never_reaches_the_upstream() {
    let upstream = Upstream::fixed("ok");
    let gateway = Gateway::start(&catch_all(&upstream.url()), &["--max-body-size", "1000"]);

    let mut client = gateway.client();
    let answer = client.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
    assert_eq!(answer.status, 413, "{}", answer.head);
    assert_eq!(answer.json()["message"], "Request size limit exceeded");
    assert_eq!(upstream.request_count(), 0);

    // A chunked body is counted as it streams.
    let mut client = gateway.client();
    let mut request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b'a'; 0x200]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = client.request(&request);
    assert_eq!(answer.status, 413, "{}", answer.head);

    // Under the limit still works.
    let mut client = gateway.client();
    let answer =
        client.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    assert_eq!(answer.status, 200);
}

#[test]
fn connections_over_the_worker_limit_are_refused_clearly() {
    let upstream = Upstream::fixed("pong");
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "1", "--max-connections-per-worker", "2"],
    );
    let first = TcpStream::connect(gateway.proxy_addr).unwrap();
    let second = TcpStream::connect(gateway.proxy_addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = gateway.client();
    third.set_read_timeout(Duration::from_secs(5));
    let answer = third.read_response();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["message"], "too many connections");
    drop((first, second));
    assert!(support::wait_until(Duration::from_secs(5), || served(
        &gateway
    )));
}

#[test]
fn slowloris_is_cut_off_by_the_header_timeout_while_others_are_served() {
    let upstream = Upstream::fixed("pong");
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "1", "--client-header-timeout", "0.5"],
    );
    let mut slow = TcpStream::connect(gateway.proxy_addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    // The one worker still serves other clients while the slow one dribbles.
    for _ in 0..5 {
        assert!(served(&gateway));
    }
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "slow client held for {waited:?}"
    );
    assert_eq!(upstream.request_count(), 5);
}

#[test]
fn idle_keepalive_connections_are_closed_after_the_timeout() {
    let upstream = Upstream::fixed("pong");
    let gateway = Gateway::start(&catch_all(&upstream.url()), &["--keepalive-timeout", "0.3"]);
    let mut client = gateway.client();
    assert_eq!(
        client.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    client.set_read_timeout(Duration::from_secs(5));
    let started = Instant::now();
    client.assert_closed();
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn a_client_that_never_reads_does_not_hold_the_worker() {
    let big = vec![b'z'; 32 * 1024 * 1024];
    let upstream = Upstream::start(move |req| {
        if req.path() == "/big" {
            Action::Respond(response(200, &[], &big))
        } else {
            ok("pong")
        }
    });
    let gateway = Gateway::start(&catch_all(&upstream.url()), &["--workers", "1"]);
    let mut stalled = TcpStream::connect(gateway.proxy_addr).unwrap();
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        assert!(served(&gateway), "a stalled reader blocked the worker");
    }
    drop(stalled);
}

#[test]
fn abandoned_and_reset_connections_leak_nothing() {
    let upstream = Upstream::start(|req| {
        if req.path() == "/reset-mid-body" {
            // Head and part of the body, then the upstream dies.
            Action::RespondThenLater(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial".to_vec(),
                Duration::from_millis(10),
                Vec::new(),
            )
        } else {
            ok("pong")
        }
    });
    let gateway = Gateway::start(
        &catch_all(&upstream.url()),
        &["--workers", "2", "--client-header-timeout", "1"],
    );
    assert!(served(&gateway));
    let pid = gateway.pid;
    let fds_before = open_fds(pid);
    let rss_before = rss_kib(pid);

    for round in 0..1000 {
        let mut stream = TcpStream::connect(gateway.proxy_addr).unwrap();
        match round % 4 {
            // Opened and abandoned.
            0 => {}
            // Half a head, then gone.
            1 => {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\nHo");
            }
            // Reset in the middle of a request body.
            2 => {
                let _ = stream
                    .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc");
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            }
            // Half-open: our write side closed, request never completed.
            _ => {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\n");
                let _ = stream.shutdown(std::net::Shutdown::Write);
            }
        }
    }
    // An upstream dying mid-response: the client sees the connection end, not a short body
    // passed off as complete.
    let mut client = gateway.client();
    client.send(b"GET /reset-mid-body HTTP/1.1\r\nHost: x\r\n\r\n");
    let received = client.read_to_close();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        received.len() < 100_000,
        "truncated body relayed as complete"
    );

    assert!(served(&gateway));
    // Every abandoned connection is eventually closed (header timeout 1 s).
    let settled = support::wait_until(Duration::from_secs(10), || open_fds(pid) <= fds_before + 2);
    assert!(settled, "fds before {fds_before}, after {}", open_fds(pid));
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert!(served(&gateway));
}
