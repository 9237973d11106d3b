#![allow(clippy::unwrap_used)]

use super::*;
use crate::http::{BodyFraming, HeadLimits};

fn parse(raw: &str) -> Result<RequestHead, RequestError> {
    parse_with(raw, &HeadLimits::default())
}

fn parse_with(raw: &str, limits: &HeadLimits) -> Result<RequestHead, RequestError> {
    match parse_request(raw.as_bytes(), limits, RequestHead::default())? {
        ParseStatus::Complete(head) => Ok(head),
        ParseStatus::Partial => panic!("partial: {raw:?}"),
    }
}

#[test]
fn framing_decisions() {
    let cases: &[(&str, Result<BodyFraming, RequestError>)] = &[
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(BodyFraming::None)),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", Ok(BodyFraming::Length(3))),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", Ok(BodyFraming::None)),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyFraming::Chunked)),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", Ok(BodyFraming::Length(3))),
        // Ambiguous framing: 400.
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Err(RequestError::LengthAndChunked)),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", Err(RequestError::InvalidContentLength)),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", Err(RequestError::InvalidContentLength)),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n", Err(RequestError::InvalidContentLength)),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3a\r\n\r\n", Err(RequestError::InvalidContentLength)),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Err(RequestError::InvalidTransferEncoding)),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Err(RequestError::InvalidTransferEncoding)),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Err(RequestError::InvalidTransferEncoding)),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", Err(RequestError::UnsupportedTransferCoding)),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(RequestError::UnsupportedTransferCoding)),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Err(RequestError::InvalidTransferEncoding)),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(RequestError::InvalidTransferEncoding)),
        // Header syntax: obs-fold, whitespace before colon, control characters.
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Err(RequestError::Malformed)),
        ("GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n", Err(RequestError::Malformed)),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", Err(RequestError::Malformed)),
        ("GET / HTTP/1.1\r\nHost: a\r\nX\x7f: a\r\n\r\n", Err(RequestError::Malformed)),
        ("GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", Err(RequestError::Malformed)),
        // Line endings: CRLF only, on every line (a bare LF can desync a proxy in front).
        ("GET / HTTP/1.1\nHost: a\r\n\r\n", Err(RequestError::BareLineFeed)),
        ("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", Err(RequestError::BareLineFeed)),
        ("GET / HTTP/1.1\r\nHost: a\n\r\n", Err(RequestError::BareLineFeed)),
        ("GET / HTTP/1.1\r\nHost: a\r\n\n", Err(RequestError::BareLineFeed)),
        ("GET / HTTP/1.1\nHost: a\n\n", Err(RequestError::BareLineFeed)),
        ("GET / HTTP/1.0\n\n", Err(RequestError::BareLineFeed)),
        ("GET / HTTP/1.0\n\r\n", Err(RequestError::BareLineFeed)),
        ("POST / HTTP/1.1\r\nHost: a\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n", Err(RequestError::BareLineFeed)),
        ("GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \r\n\r\n", Ok(BodyFraming::None)),
        // Host rules.
        ("GET / HTTP/1.1\r\n\r\n", Err(RequestError::MissingHost)),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Err(RequestError::MultipleHost)),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Err(RequestError::InvalidHost)),
        ("GET / HTTP/1.1\r\nHost: a:99999x\r\n\r\n", Err(RequestError::InvalidHost)),
        ("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", Ok(BodyFraming::None)),
        ("GET / HTTP/1.0\r\n\r\n", Ok(BodyFraming::None)),
        ("GET http://example.com/x HTTP/1.1\r\nHost: other\r\n\r\n", Ok(BodyFraming::None)),
        // Targets.
        ("GET example.com HTTP/1.1\r\nHost: a\r\n\r\n", Err(RequestError::InvalidTarget)),
        ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", Err(RequestError::InvalidTarget)),
        ("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", Err(RequestError::InvalidTarget)),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(RequestError::Version)),
    ];
    for (raw, expected) in cases {
        assert_eq!(parse(raw).map(|h| h.framing), *expected, "{raw:?}");
    }
}

#[test]
fn error_statuses() {
    assert_eq!(RequestError::LengthAndChunked.status(), 400);
    assert_eq!(RequestError::UnsupportedTransferCoding.status(), 501);
    assert_eq!(RequestError::UriTooLong.status(), 414);
    assert_eq!(RequestError::HeadTooLarge.status(), 431);
    assert_eq!(RequestError::TooManyHeaders.status(), 431);
}

#[test]
fn offsets_point_into_the_buffer() {
    let raw = "GET /p/q?x=1&y HTTP/1.1\r\nHost: Example.com:8080\r\nX-A:  v  \r\n\r\nNEXT";
    let head = parse(raw).unwrap();
    let buf = raw.as_bytes();
    assert_eq!(&buf[head.method.clone()], b"GET");
    assert_eq!(&buf[head.path.clone()], b"/p/q");
    assert_eq!(&buf[head.query.clone().unwrap()], b"x=1&y");
    assert_eq!(&buf[head.host.clone().unwrap()], b"Example.com:8080");
    assert_eq!(head.header(buf, "x-a"), Some(&b"v"[..]));
    assert_eq!(&buf[head.headers[1].line()], b"X-A:  v");
    assert_eq!(head.head_len, raw.len() - 4);
    assert!(head.keep_alive);
}

#[test]
fn absolute_form_authority_replaces_host() {
    let raw = "GET http://api.example.com:81/x?y HTTP/1.1\r\nHost: ignored\r\n\r\n";
    let head = parse(raw).unwrap();
    let buf = raw.as_bytes();
    assert_eq!(&buf[head.host.clone().unwrap()], b"api.example.com:81");
    assert_eq!(&buf[head.path.clone()], b"/x");
    assert_eq!(&buf[head.query.clone().unwrap()], b"y");
}

#[test]
fn connection_semantics() {
    assert!(
        !parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
    assert!(
        parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    let upgrade =
        parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
    assert!(upgrade.upgrade);
    assert!(
        parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .expect_continue
    );
}

#[test]
fn limits() {
    let limits = HeadLimits {
        max_head: 128,
        max_headers: 3,
        max_uri: 32,
    };
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(40));
    assert_eq!(
        parse_with(&long_uri, &limits).err(),
        Some(RequestError::UriTooLong)
    );
    let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        parse_with(many, &limits).err(),
        Some(RequestError::TooManyHeaders)
    );
    let big = format!("GET / HTTP/1.1\r\nHost: a\r\nA: {}\r\n", "x".repeat(200));
    assert_eq!(
        parse_request(big.as_bytes(), &limits, RequestHead::default()).err(),
        Some(RequestError::HeadTooLarge)
    );
    let partial_uri = format!("GET /{}", "a".repeat(200));
    assert_eq!(
        parse_request(partial_uri.as_bytes(), &limits, RequestHead::default()).err(),
        Some(RequestError::UriTooLong)
    );
    assert!(matches!(
        parse_request(b"GET / HTTP/1.1\r\nHost", &limits, RequestHead::default()),
        Ok(ParseStatus::Partial)
    ));
}
