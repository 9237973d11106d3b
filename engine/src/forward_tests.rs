#![allow(clippy::unwrap_used)]

use super::*;
use crate::http::request::{parse_request, ParseStatus, RequestHead};
use crate::http::response::{parse_response, ResponseHead, ResponseStatus};
use crate::http::HeadLimits;

fn request(raw: &str) -> RequestHead {
    match parse_request(
        raw.as_bytes(),
        &HeadLimits::default(),
        RequestHead::default(),
    )
    .unwrap()
    {
        ParseStatus::Complete(head) => head,
        ParseStatus::Partial => panic!("partial"),
    }
}

fn upstream_head(raw: &str, trusted: bool, preserve_host: bool) -> String {
    let head = request(raw);
    let mut out = Vec::new();
    let target = UpstreamTarget {
        path: "/base/rest",
        host: "backend:8080",
        preserve_host,
        stripped_prefix: "/api",
    };
    let client = ClientFacts::new("10.0.0.9".parse().unwrap(), trusted, 8000);
    write_upstream_head(&mut out, raw.as_bytes(), &head, &target, &client);
    String::from_utf8(out).unwrap()
}

#[test]
fn upstream_head_rewrites_only_gateway_owned_headers() {
    let raw =
        "POST /api/rest?q=1 HTTP/1.1\r\nHost: public.example.com:8000\r\nX-Custom:  kept as is\r\n\
               Connection: keep-alive, X-Secret\r\nX-Secret: drop me\r\nKeep-Alive: timeout=5\r\n\
               Proxy-Connection: x\r\nTE: trailers, deflate\r\nX-Forwarded-For: 1.1.1.1\r\n\
               X-Real-IP: 2.2.2.2\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    let text = upstream_head(raw, false, false);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "POST /base/rest?q=1 HTTP/1.1");
    assert_eq!(lines[1], "Host: backend:8080");
    assert!(lines.contains(&"X-Custom:  kept as is"), "{text}");
    for gone in [
        "X-Secret",
        "Keep-Alive",
        "Proxy-Connection",
        "Connection",
        "Expect",
        "1.1.1.1",
        "2.2.2.2",
        "deflate",
    ] {
        assert!(!text.contains(gone), "{gone} leaked: {text}");
    }
    for present in [
        "TE: trailers",
        "Content-Length: 3",
        "X-Forwarded-For: 10.0.0.9",
        "X-Real-IP: 10.0.0.9",
        "X-Forwarded-Proto: http",
        "X-Forwarded-Host: public.example.com",
        "X-Forwarded-Port: 8000",
        "X-Forwarded-Path: /api/rest",
        "X-Forwarded-Prefix: /api",
    ] {
        assert!(lines.contains(&present), "missing {present}: {text}");
    }
    assert!(text.ends_with("\r\n\r\n"));
}

#[test]
fn trusted_peers_keep_their_forwarding_headers() {
    let raw =
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n\r\n";
    let text = upstream_head(raw, true, false);
    assert!(
        text.contains("X-Forwarded-For: 1.1.1.1, 10.0.0.9\r\n"),
        "{text}"
    );
    assert!(text.contains("X-Forwarded-Proto: https\r\n"), "{text}");
    assert!(!text.contains("X-Forwarded-Proto: http\r\n"), "{text}");
    let untrusted = upstream_head(raw, false, false);
    assert!(
        untrusted.contains("X-Forwarded-For: 10.0.0.9\r\n"),
        "{untrusted}"
    );
    assert!(
        untrusted.contains("X-Forwarded-Proto: http\r\n"),
        "{untrusted}"
    );
    assert!(!untrusted.contains("https"), "{untrusted}");
}

#[test]
fn preserve_host_forwards_the_client_host() {
    let text = upstream_head(
        "GET / HTTP/1.1\r\nHost: public.example.com\r\n\r\n",
        false,
        true,
    );
    assert!(text.contains("\r\nHost: public.example.com\r\n"), "{text}");
}

#[test]
fn upgrade_requests_keep_upgrade_headers() {
    let text = upstream_head(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        false,
        false,
    );
    assert!(text.contains("Upgrade: websocket\r\n"), "{text}");
    assert!(text.contains("Connection: upgrade\r\n"), "{text}");
}

fn client_head(raw: &str, body: ClientBody, keep_alive: bool, http10: bool) -> String {
    let response = match parse_response(
        raw.as_bytes(),
        &HeadLimits::default(),
        false,
        ResponseHead::default(),
    )
    .unwrap()
    {
        ResponseStatus::Complete(head) => head,
        ResponseStatus::Partial => panic!("partial"),
    };
    let mut out = Vec::new();
    write_client_head(
        &mut out,
        raw.as_bytes(),
        &response,
        body,
        keep_alive,
        http10,
        false,
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn client_head_drops_hop_by_hop_and_adds_via() {
    let raw = "HTTP/1.1 201 Made It\r\nX-A: 1\r\nConnection: X-Internal\r\nX-Internal: secret\r\n\
               Keep-Alive: timeout=4\r\nTransfer-Encoding: chunked\r\n\r\n";
    let text = client_head(raw, ClientBody::Chunked, true, false);
    assert!(text.starts_with("HTTP/1.1 201 Made It\r\n"), "{text}");
    assert!(text.contains("X-A: 1\r\n"));
    assert!(text.contains("Transfer-Encoding: chunked\r\n"));
    assert!(text.contains(&format!("Via: {VIA}\r\n")));
    assert!(text.contains(&format!("Server: {SERVER}\r\n")));
    for gone in ["X-Internal", "Keep-Alive", "Connection"] {
        assert!(!text.contains(gone), "{gone} leaked: {text}");
    }
}

#[test]
fn client_head_connection_management() {
    let raw = "HTTP/1.1 200 OK\r\nServer: upstream\r\nContent-Length: 2\r\n\r\n";
    let closing = client_head(raw, ClientBody::Length(2), false, false);
    assert!(closing.contains("Connection: close\r\n"));
    assert!(closing.contains("Content-Length: 2\r\n"));
    assert!(closing.contains("Server: upstream\r\n"));
    assert!(!closing.contains("Server: sluice"));
    let http10 = client_head(raw, ClientBody::Length(2), true, true);
    assert!(http10.contains("Connection: keep-alive\r\n"));
}

#[test]
fn strip_port_table() {
    assert_eq!(strip_port(b"example.com:80"), b"example.com");
    assert_eq!(strip_port(b"example.com"), b"example.com");
    assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
    assert_eq!(strip_port(b"[::1]"), b"[::1]");
}
