//! The request head Sluice sends upstream, built from arbitrary client bytes: whenever
//! `parse_request` accepts the client head, the head `write_upstream_head` produces must parse
//! back (same parser) as exactly one complete request: no bytes after its end, exactly one
//! Host, the same method and the same body framing (Content-Length value, chunked, or an
//! explicit zero), and no hop-by-hop header of the client's (Connection and what it names,
//! Keep-Alive, Proxy-Connection, Transfer-Encoding, TE, Upgrade, Expect) except the ones the
//! gateway writes itself. Anything else would let a client smuggle a second request, or a
//! different body length, past the gateway.
//!
//! Input: the client's request bytes. Each accepted head is built four times: trusted peer or
//! not, `preserve_host` or not.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run upstream_head_build -- -max_total_time=120` (from fuzz/).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use sluice_engine::forward::{write_upstream_head, ClientFacts, UpstreamTarget};
use sluice_engine::http::request::{parse_request, ParseStatus, RequestHead};
use sluice_engine::http::{header_eq, trim_ows, BodyFraming, HeadLimits, MAX_HEADERS_CAP};

/// Headers the gateway writes itself; a client's Connection header naming one of them does not
/// remove the gateway's own line.
const GATEWAY_OWNED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "x-forwarded-for",
    "x-real-ip",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-path",
    "x-forwarded-prefix",
];

fn values<'b>(buf: &'b [u8], head: &RequestHead, name: &str) -> Vec<&'b [u8]> {
    head.headers
        .iter()
        .filter(|h| header_eq(&buf[h.name.clone()], name))
        .map(|h| &buf[h.value.clone()])
        .collect()
}

fn check(buf: &[u8], head: &RequestHead, trusted: bool, preserve_host: bool) {
    let target = UpstreamTarget {
        path: "/base/rest",
        host: "backend.internal:8080",
        preserve_host,
        stripped_prefix: if trusted { "/api" } else { "" },
    };
    let client = ClientFacts::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), trusted, 8000);
    let mut out = Vec::new();
    write_upstream_head(&mut out, buf, head, &target, &client);
    let text = String::from_utf8_lossy(&out);

    // The upstream parses what we send with the most generous limits it could have.
    let limits = HeadLimits {
        max_head: 1 << 40,
        max_headers: MAX_HEADERS_CAP,
        max_uri: 1 << 40,
    };
    let sent = match parse_request(&out, &limits, RequestHead::default()) {
        Ok(ParseStatus::Complete(sent)) => sent,
        Ok(ParseStatus::Partial) => panic!("upstream head is incomplete: {text:?}"),
        Err(e) => panic!("upstream head is refused ({e:?}): {text:?}"),
    };
    assert_eq!(
        sent.head_len,
        out.len(),
        "bytes after the upstream head's end: {text:?}"
    );
    assert_eq!(
        &out[sent.method.clone()],
        &buf[head.method.clone()],
        "method changed: {text:?}"
    );
    assert!(!sent.http10, "{text:?}");
    assert_eq!(
        values(&out, &sent, "host").len(),
        1,
        "not exactly one Host: {text:?}"
    );
    assert_eq!(sent.framing, head.framing, "framing changed: {text:?}");
    assert_eq!(
        sent.explicit_zero_length, head.explicit_zero_length,
        "{text:?}"
    );
    assert_eq!(sent.upgrade, head.upgrade, "upgrade changed: {text:?}");
    assert!(
        sent.keep_alive,
        "client's Connection: close leaked: {text:?}"
    );
    assert!(!sent.expect_continue, "Expect forwarded: {text:?}");
    let lengths = values(&out, &sent, "content-length");
    let codings = values(&out, &sent, "transfer-encoding");
    match head.framing {
        BodyFraming::Length(_) => assert!(lengths.len() == 1 && codings.is_empty(), "{text:?}"),
        BodyFraming::Chunked => {
            assert!(
                lengths.is_empty() && codings == [b"chunked".as_slice()],
                "{text:?}"
            )
        }
        _ => {
            assert!(codings.is_empty(), "{text:?}");
            assert_eq!(
                lengths.len(),
                usize::from(head.explicit_zero_length),
                "{text:?}"
            );
        }
    }

    // Names the client's Connection headers list: connection-specific, never forwarded.
    let named: Vec<&[u8]> = values(buf, head, "connection")
        .into_iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|t| !t.is_empty())
        .collect();
    for h in &sent.headers {
        let name = &out[h.name.clone()];
        let value = &out[h.value.clone()];
        let shown = String::from_utf8_lossy(name);
        match name.to_ascii_lowercase().as_slice() {
            b"keep-alive" | b"proxy-connection" | b"expect" => {
                panic!("hop-by-hop {shown:?} forwarded: {text:?}")
            }
            b"connection" => assert!(
                head.upgrade && value == b"upgrade",
                "Connection forwarded: {text:?}"
            ),
            b"upgrade" => assert!(
                head.upgrade,
                "Upgrade forwarded without an upgrade: {text:?}"
            ),
            b"te" => assert_eq!(value, b"trailers", "TE forwarded: {text:?}"),
            _ => {}
        }
        if GATEWAY_OWNED.iter().any(|g| header_eq(name, g)) {
            continue;
        }
        assert!(
            !named.iter().any(|t| t.eq_ignore_ascii_case(name)),
            "{shown:?} is named by the client's Connection header but forwarded: {text:?}"
        );
    }
    for single in ["connection", "te", "x-real-ip", "x-forwarded-for"] {
        assert!(
            values(&out, &sent, single).len() <= 1,
            "several {single}: {text:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let head = match parse_request(data, &HeadLimits::default(), RequestHead::default()) {
        Ok(ParseStatus::Complete(head)) => head,
        _ => return,
    };
    for trusted in [false, true] {
        for preserve_host in [false, true] {
            check(data, &head, trusted, preserve_host);
        }
    }
});
