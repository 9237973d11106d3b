//! Building the heads Sluice sends: the upstream request and the client response.
//!
//! Unchanged header lines are copied byte for byte from the received head; only the headers
//! the gateway owns (Host, framing, hop-by-hop, X-Forwarded-*, Via) are written anew.

use std::net::IpAddr;

use crate::http::request::RequestHead;
use crate::http::response::ResponseHead;
use crate::http::{header_eq, is_hop_by_hop, named_by_connection, BodyFraming, HeaderPos};
use crate::respond::{SERVER, VIA};
use sluice_plugins::HeaderEdits;

/// Facts about the client connection that decide the X-Forwarded-* headers.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    /// The address the request came from (PROXY protocol source when enabled).
    pub client_ip: IpAddr,
    /// The connected peer is in `trusted_ips`: its X-Forwarded-* headers are kept.
    pub trusted: bool,
    /// Port the client connected to.
    pub server_port: u16,
    /// `client_ip` and `server_port` as text, formatted once per connection: formatting them
    /// per request cost about 12% of the proxy's instructions (callgrind, small GETs).
    client_ip_text: String,
    server_port_text: String,
}

impl ClientFacts {
    pub fn new(client_ip: IpAddr, trusted: bool, server_port: u16) -> Self {
        ClientFacts {
            client_ip,
            trusted,
            server_port,
            client_ip_text: client_ip.to_string(),
            server_port_text: server_port.to_string(),
        }
    }

    pub fn client_ip_text(&self) -> &str {
        &self.client_ip_text
    }
}

/// Appends a decimal number without going through `core::fmt`.
pub fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
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
        16 => {
            header_eq(name, "x-forwarded-host")
                || header_eq(name, "x-forwarded-port")
                || header_eq(name, "x-forwarded-path")
        }
        17 => header_eq(name, "x-forwarded-proto"),
        18 => header_eq(name, "x-forwarded-prefix"),
        _ => false,
    }
}

/// What plugins changed about the upstream request (request-transformer, auth headers, ...).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestEdits<'a> {
    pub headers: Option<&'a HeaderEdits>,
    /// Replaces the query string (without `?`; empty means none).
    pub query: Option<&'a str>,
}

/// Writes the upstream request head into `out` (cleared first).
pub fn write_upstream_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    target: &UpstreamTarget<'_>,
    client: &ClientFacts,
) {
    write_upstream_head_edited(out, buf, head, target, client, RequestEdits::default());
}

/// [`write_upstream_head`] with plugin edits applied. Edits never touch the framing or
/// connection headers the gateway owns (Content-Length, Transfer-Encoding, hop-by-hop).
pub fn write_upstream_head_edited(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    target: &UpstreamTarget<'_>,
    client: &ClientFacts,
    edits: RequestEdits<'_>,
) {
    out.clear();
    out.extend_from_slice(&buf[head.method.clone()]);
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    match edits.query {
        Some("") => {}
        Some(query) => {
            out.push(b'?');
            out.extend_from_slice(query.as_bytes());
        }
        None => {
            if let Some(query) = &head.query {
                out.push(b'?');
                out.extend_from_slice(&buf[query.clone()]);
            }
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");

    let edited_host = edits
        .headers
        .and_then(|e| {
            e.set
                .iter()
                .rev()
                .find(|(name, _)| name.eq_ignore_ascii_case("host"))
        })
        .map(|(_, value)| value.as_bytes());
    let host_value: &[u8] = match (edited_host, &head.host, target.preserve_host) {
        (Some(host), _, _) => host,
        (None, Some(host), true) => &buf[host.clone()],
        _ => target.host.as_bytes(),
    };
    push_header(out, b"Host", host_value);

    let connection_values = || head.header_values(buf, "connection");
    let mut wants_trailers = false;
    for header in &head.headers {
        let name = &buf[header.name.clone()];
        if is_hop_by_hop(name) {
            if header_eq(name, "te") {
                wants_trailers |=
                    crate::http::contains_token(&buf[header.value.clone()], "trailers");
            } else if head.upgrade && header_eq(name, "upgrade") {
                copy_line(out, buf, header);
            }
            continue;
        }
        if header_eq(name, "host") || header_eq(name, "content-length") || header_eq(name, "expect")
        {
            continue;
        }
        if is_forwarding_header(name) {
            if !client.trusted {
                continue;
            }
            if header_eq(name, "x-forwarded-for") || header_eq(name, "x-real-ip") {
                continue;
            }
        }
        if head.connection_names_headers && named_by_connection(name, connection_values()) {
            continue;
        }
        if edits.headers.is_some_and(|e| replaced_or_removed(e, name)) {
            continue;
        }
        copy_line(out, buf, header);
    }
    if let Some(headers) = edits.headers {
        write_edits(out, headers, &["host"]);
    }

    match head.framing {
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        // RFC 9110 section 8.6: an explicit zero length is kept (some servers want 411 otherwise).
        BodyFraming::None if head.explicit_zero_length => {
            out.extend_from_slice(b"Content-Length: 0\r\n")
        }
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
    if client.trusted {
        // Several X-Forwarded-For lines form one list (RFC 9110 section 5.3).
        for previous in head.header_values(buf, "x-forwarded-for") {
            out.extend_from_slice(previous);
            out.extend_from_slice(b", ");
        }
    }
    out.extend_from_slice(client.client_ip_text.as_bytes());
    out.extend_from_slice(b"\r\n");
    push_header(out, b"X-Real-IP", client.client_ip_text.as_bytes());
    if !client.trusted || head.header(buf, "x-forwarded-proto").is_none() {
        out.extend_from_slice(b"X-Forwarded-Proto: http\r\n");
    }
    if !client.trusted || head.header(buf, "x-forwarded-host").is_none() {
        if let Some(host) = &head.host {
            push_header(out, b"X-Forwarded-Host", strip_port(&buf[host.clone()]));
        }
    }
    if !client.trusted || head.header(buf, "x-forwarded-port").is_none() {
        push_header(out, b"X-Forwarded-Port", client.server_port_text.as_bytes());
    }
    if !client.trusted || head.header(buf, "x-forwarded-path").is_none() {
        push_header(out, b"X-Forwarded-Path", head.raw_path(buf));
    }
    if (!client.trusted || head.header(buf, "x-forwarded-prefix").is_none())
        && !target.stripped_prefix.is_empty()
    {
        push_header(
            out,
            b"X-Forwarded-Prefix",
            target.stripped_prefix.as_bytes(),
        );
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
    write_client_head_edited(
        out,
        buf,
        response,
        body,
        keep_alive,
        client_http10,
        upgrade,
        None,
    );
}

/// [`write_client_head`] with plugin edits (response-transformer, CORS, rate-limit headers).
#[allow(clippy::too_many_arguments)]
pub fn write_client_head_edited(
    out: &mut Vec<u8>,
    buf: &[u8],
    response: &ResponseHead,
    body: ClientBody,
    keep_alive: bool,
    client_http10: bool,
    upgrade: bool,
    edits: Option<&HeaderEdits>,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(response.status));
    out.push(b' ');
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
        if header_eq(name, "content-length")
            || (response.connection_names_headers && named_by_connection(name, connection_values()))
        {
            continue;
        }
        if edits.is_some_and(|e| replaced_or_removed(e, name)) {
            continue;
        }
        has_server |= header_eq(name, "server");
        copy_line(out, buf, header);
    }
    if let Some(edits) = edits {
        has_server |= edits
            .set
            .iter()
            .chain(&edits.append)
            .any(|(n, _)| n.eq_ignore_ascii_case("server"));
        write_edits(out, edits, &[]);
    }
    match body {
        ClientBody::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
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
    push_header(out, b"Via", VIA.as_bytes());
    if !has_server {
        push_header(out, b"Server", SERVER.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a plugin removes or replaces header `name`.
fn replaced_or_removed(edits: &HeaderEdits, name: &[u8]) -> bool {
    edits
        .remove
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        || edits
            .set
            .iter()
            .any(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// Headers plugins may not write: the message framing and the connection belong to the gateway.
fn gateway_owned(name: &str) -> bool {
    let name = name.as_bytes();
    is_hop_by_hop(name) || header_eq(name, "content-length")
}

/// Writes the set and appended headers of `edits`, except gateway-owned ones and `skip`.
fn write_edits(out: &mut Vec<u8>, edits: &HeaderEdits, skip: &[&str]) {
    for (name, value) in edits.set.iter().chain(&edits.append) {
        if gateway_owned(name) || skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            continue;
        }
        push_header(out, name.as_bytes(), value.as_bytes());
    }
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
