//! Building the heads Sluice sends: the upstream request and the client response.
//!
//! Unchanged header lines are copied byte for byte from the received head; only the headers
//! the gateway owns (Host, framing, hop-by-hop, X-Forwarded-*, Via) are written anew.

use std::io::Write;
use std::net::IpAddr;

use crate::http::request::RequestHead;
use crate::http::response::ResponseHead;
use crate::http::{header_eq, is_hop_by_hop, named_by_connection, BodyFraming, HeaderPos};
use crate::respond::{SERVER, VIA};

/// Facts about the client connection that decide the X-Forwarded-* headers.
#[derive(Debug, Clone, Copy)]
pub struct ClientFacts {
    /// The address the request came from (PROXY protocol source when enabled).
    pub client_ip: IpAddr,
    /// The connected peer is in `trusted_ips`: its X-Forwarded-* headers are kept.
    pub trusted: bool,
    /// Port the client connected to.
    pub server_port: u16,
}

/// What the upstream request should look like beyond the client's own headers.
pub struct UpstreamTarget<'a> {
    pub path: &'a str,
    /// `Host` to send, unless `preserve_host`.
    pub host: &'a str,
    pub preserve_host: bool,
    /// Matched prefix removed by strip_path, for X-Forwarded-Prefix.
    pub stripped_prefix: &'a str,
}

fn is_forwarding_header(name: &[u8]) -> bool {
    match name.len() {
        9 => header_eq(name, "x-real-ip"),
        15 => header_eq(name, "x-forwarded-for"),
        16 => header_eq(name, "x-forwarded-host") || header_eq(name, "x-forwarded-port") || header_eq(name, "x-forwarded-path"),
        17 => header_eq(name, "x-forwarded-proto"),
        18 => header_eq(name, "x-forwarded-prefix"),
        _ => false,
    }
}

/// Writes the upstream request head into `out` (cleared first).
pub fn write_upstream_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    target: &UpstreamTarget<'_>,
    client: &ClientFacts,
) {
    out.clear();
    out.extend_from_slice(&buf[head.method.clone()]);
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    if let Some(query) = &head.query {
        out.push(b'?');
        out.extend_from_slice(&buf[query.clone()]);
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");

    let host_value: &[u8] = match (&head.host, target.preserve_host) {
        (Some(host), true) => &buf[host.clone()],
        _ => target.host.as_bytes(),
    };
    push_header(out, b"Host", host_value);

    let connection_values = || head.header_values(buf, "connection");
    let mut forwarded_for: Option<&[u8]> = None;
    let mut wants_trailers = false;
    for header in &head.headers {
        let name = &buf[header.name.clone()];
        if is_hop_by_hop(name) {
            if header_eq(name, "te") {
                wants_trailers |= crate::http::contains_token(&buf[header.value.clone()], "trailers");
            } else if head.upgrade && header_eq(name, "upgrade") {
                copy_line(out, buf, header);
            }
            continue;
        }
        if header_eq(name, "host") || header_eq(name, "content-length") || header_eq(name, "expect") {
            continue;
        }
        if is_forwarding_header(name) {
            if !client.trusted {
                continue;
            }
            if header_eq(name, "x-forwarded-for") {
                forwarded_for = Some(&buf[header.value.clone()]);
                continue;
            }
            if header_eq(name, "x-real-ip") {
                continue;
            }
        }
        if named_by_connection(name, connection_values()) {
            continue;
        }
        copy_line(out, buf, header);
    }

    match head.framing {
        BodyFraming::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyFraming::None | BodyFraming::UntilClose => {}
    }
    if head.upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    }
    if wants_trailers {
        out.extend_from_slice(b"TE: trailers\r\n");
    }

    // X-Forwarded-For: a trusted peer's list is extended, anyone else's is replaced.
    out.extend_from_slice(b"X-Forwarded-For: ");
    if let Some(previous) = forwarded_for {
        out.extend_from_slice(previous);
        out.extend_from_slice(b", ");
    }
    let _ = write!(out, "{}\r\n", client.client_ip);
    let _ = write!(out, "X-Real-IP: {}\r\n", client.client_ip);
    if !client.trusted || head.header(buf, "x-forwarded-proto").is_none() {
        out.extend_from_slice(b"X-Forwarded-Proto: http\r\n");
    }
    if !client.trusted || head.header(buf, "x-forwarded-host").is_none() {
        if let Some(host) = &head.host {
            push_header(out, b"X-Forwarded-Host", strip_port(&buf[host.clone()]));
        }
    }
    if !client.trusted || head.header(buf, "x-forwarded-port").is_none() {
        let _ = write!(out, "X-Forwarded-Port: {}\r\n", client.server_port);
    }
    if !client.trusted || head.header(buf, "x-forwarded-path").is_none() {
        push_header(out, b"X-Forwarded-Path", &buf[head.path.clone()]);
    }
    if (!client.trusted || head.header(buf, "x-forwarded-prefix").is_none()) && !target.stripped_prefix.is_empty() {
        push_header(out, b"X-Forwarded-Prefix", target.stripped_prefix.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// How the response body travels to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBody {
    None,
    Length(u64),
    /// Chunked bytes forwarded as received.
    Chunked,
    /// Chunked from upstream, de-chunked for an HTTP/1.0 client and ended by closing.
    Dechunk,
    /// Close-delimited: the connection ends with the body.
    UntilClose,
}

impl ClientBody {
    pub fn choose(upstream: BodyFraming, client_http10: bool) -> ClientBody {
        match upstream {
            BodyFraming::None => ClientBody::None,
            BodyFraming::Length(n) => ClientBody::Length(n),
            BodyFraming::Chunked if client_http10 => ClientBody::Dechunk,
            BodyFraming::Chunked => ClientBody::Chunked,
            BodyFraming::UntilClose => ClientBody::UntilClose,
        }
    }

    pub fn ends_connection(self) -> bool {
        matches!(self, ClientBody::Dechunk | ClientBody::UntilClose)
    }
}

/// Writes the client response head into `out` (cleared first).
pub fn write_client_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    response: &ResponseHead,
    body: ClientBody,
    keep_alive: bool,
    client_http10: bool,
    upgrade: bool,
) {
    out.clear();
    let _ = write!(out, "HTTP/1.1 {} ", response.status);
    out.extend_from_slice(&buf[response.reason.clone()]);
    out.extend_from_slice(b"\r\n");
    let connection_values = || response.header_values(buf, "connection");
    let mut has_server = false;
    for header in &response.headers {
        let name = &buf[header.name.clone()];
        if is_hop_by_hop(name) {
            if upgrade && header_eq(name, "upgrade") {
                copy_line(out, buf, header);
            }
            continue;
        }
        if header_eq(name, "content-length") || named_by_connection(name, connection_values()) {
            continue;
        }
        has_server |= header_eq(name, "server");
        copy_line(out, buf, header);
    }
    match body {
        ClientBody::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        ClientBody::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ClientBody::None => {
            // A bodyless response keeps the upstream's Content-Length (HEAD, 304) as metadata.
            if let Some(length) = response.header_values(buf, "content-length").next() {
                push_header(out, b"Content-Length", length);
            }
        }
        ClientBody::Dechunk | ClientBody::UntilClose => {}
    }
    if upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if client_http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    let _ = write!(out, "Via: {VIA}\r\n");
    if !has_server {
        let _ = write!(out, "Server: {SERVER}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn copy_line(out: &mut Vec<u8>, buf: &[u8], header: &HeaderPos) {
    out.extend_from_slice(&buf[header.line()]);
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `example.com:8080` -> `example.com`; IPv6 literals keep their brackets.
pub fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match host.iter().position(|&b| b == b']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(colon) => &host[..colon],
        None => host,
    }
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
