//! Large bodies streamed through the real gateway in both directions, with Content-Length and
//! chunked framing, compared by checksum. 9 MiB is beyond every buffer in the proxy path, so a
//! body that is cut, duplicated or reordered anywhere shows up as a different checksum.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{checksum, chunk_encode, ok, pattern, response, Action, Framing, Gateway, Upstream};

const BIG: usize = 9 * 1024 * 1024 + 4321;

fn catch_all(upstream: &Upstream) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {}\n    routes:\n      - paths: [\"/\"]\n",
        upstream.url()
    )
}

/// Upstream answering with the length and checksum of the body it received.
fn digesting_upstream() -> Upstream {
    Upstream::start(|req| ok(&format!("{} {:016x}", req.body.len(), checksum(&req.body))))
}

#[test]
fn large_request_body_with_content_length() {
    let upstream = digesting_upstream();
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let body = pattern(BIG, 11);
    let mut client = gw.client();
    client.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body);
    let r = client.read_response();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), format!("{} {:016x}", body.len(), checksum(&body)));
    let seen = upstream.requests();
    assert_eq!(
        seen[0].header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(!seen[0].chunked);
    // The connection is in sync afterwards.
    let r = client.request(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.text()),
        (200, format!("0 {:016x}", checksum(b""))),
        "{}",
        r.head
    );
}

#[test]
fn large_chunked_request_body() {
    let upstream = digesting_upstream();
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let body = pattern(BIG, 12);
    // Odd chunk sizes so that chunk boundaries never line up with the proxy's buffers.
    let encoded = chunk_encode(&body, 100_003);
    let mut client = gw.client();
    client.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for piece in encoded.chunks(777_777) {
        client.send(piece);
    }
    let r = client.read_response();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), format!("{} {:016x}", body.len(), checksum(&body)));
    let seen = upstream.requests();
    assert!(seen[0].chunked, "chunked bodies are forwarded chunked");
    assert!(seen[0].header("content-length").is_none());
    let r = client.request(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
}

#[test]
fn large_response_body_with_content_length() {
    let body = pattern(BIG, 13);
    let expected = checksum(&body);
    let payload = response(200, &[("Content-Type", "application/octet-stream")], &body);
    let upstream = Upstream::start(move |req| {
        if req.path() == "/big" {
            Action::Respond(payload.clone())
        } else {
            ok("small")
        }
    });
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.framing, Framing::Length(BIG), "{}", r.head);
    assert_eq!(r.body.len(), BIG);
    assert_eq!(checksum(&r.body), expected);
    let r = client.request(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "small"), "{}", r.head);
    assert_eq!(
        upstream.accepted(),
        1,
        "the upstream connection is pooled after a large body"
    );
}

fn chunked_payload(body: &[u8]) -> Vec<u8> {
    let mut payload = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut encoded = chunk_encode(body, 65_537);
    // Replace the bare last-chunk with one carrying a trailer field.
    encoded.truncate(encoded.len() - b"0\r\n\r\n".len());
    encoded
        .extend_from_slice(format!("0\r\nX-Checksum: {:016x}\r\n\r\n", checksum(body)).as_bytes());
    payload.extend_from_slice(&encoded);
    payload
}

#[test]
fn large_chunked_response_body() {
    let body = pattern(BIG, 14);
    let expected = checksum(&body);
    let payload = chunked_payload(&body);
    let upstream = Upstream::start(move |req| {
        if req.path() == "/big" {
            Action::Respond(payload.clone())
        } else {
            ok("small")
        }
    });
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let mut client = gw.client();
    let r = client.request(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.framing, Framing::Chunked, "{}", r.head);
    assert_eq!(r.body.len(), BIG);
    assert_eq!(checksum(&r.body), expected);
    assert_eq!(
        r.trailers,
        vec![("X-Checksum".to_owned(), format!("{expected:016x}"))],
        "trailers are relayed"
    );
    let r = client.request(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "small"), "{}", r.head);

    // The same body de-chunked for an HTTP/1.0 client.
    let mut client = gw.client();
    client.send(b"GET /big HTTP/1.0\r\n\r\n");
    let r = client.read_response();
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.framing, Framing::UntilClose, "{}", r.head);
    assert_eq!(r.body.len(), BIG);
    assert_eq!(checksum(&r.body), expected);
}

#[test]
fn large_bodies_both_ways_on_one_connection() {
    let upstream = Upstream::start(|req| {
        // Echo the body back, reversed per 1 MiB block so the response is not the request.
        let mut out = Vec::with_capacity(req.body.len());
        for block in req.body.chunks(1 << 20).rev() {
            out.extend_from_slice(block);
        }
        Action::Respond(response(200, &[], &out))
    });
    let gw = Gateway::start(&catch_all(&upstream), &[]);
    let mut client = gw.client();
    for seed in [21, 22] {
        let body = pattern(BIG, seed);
        let mut expected = Vec::with_capacity(body.len());
        for block in body.chunks(1 << 20).rev() {
            expected.extend_from_slice(block);
        }
        client.send(
            format!(
                "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        client.send(&body);
        let r = client.read_response();
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.body.len(), expected.len());
        assert_eq!(checksum(&r.body), checksum(&expected));
    }
    assert_eq!(upstream.accepted(), 1);
}
