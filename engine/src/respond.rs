//! The one place that turns an engine failure into what the client receives.
//!
//! Kong-style JSON bodies (`{"message": "..."}`); every gateway-generated response carries
//! `Server` and a `Content-Length`, and says `Connection: close` when the connection ends.

use std::io::Write;

use crate::http::request::RequestError;

pub const SERVER: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));
pub const VIA: &str = concat!("1.1 sluice/", env!("CARGO_PKG_VERSION"));

/// Why the gateway answers a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    BadRequest(RequestError),
    InvalidPath,
    NoRoute,
    NoService,
    /// Connection refused or reset, or a malformed or ambiguous upstream response.
    BadGateway,
    /// No healthy target, or the service host could not be resolved.
    Unavailable,
    NameResolution,
    GatewayTimeout,
    /// The request body is larger than `--max-body-size`.
    BodyTooLarge,
}

impl Failure {
    /// Kong's response source: deliberate answers are `exit`, failed proxying is `error`.
    pub fn source(self) -> sluice_plugins::ResponseSource {
        match self {
            Failure::BadRequest(_)
            | Failure::InvalidPath
            | Failure::NoRoute
            | Failure::NoService
            | Failure::BodyTooLarge => sluice_plugins::ResponseSource::Exit,
            Failure::BadGateway
            | Failure::Unavailable
            | Failure::NameResolution
            | Failure::GatewayTimeout => sluice_plugins::ResponseSource::Error,
        }
    }

    pub fn status_and_message(self) -> (u16, &'static str) {
        match self {
            Failure::BadRequest(e) => {
                let status = e.status();
                (
                    status,
                    match status {
                        414 => "Request-URI Too Large",
                        431 => "Request Header Fields Too Large",
                        501 => "Not Implemented",
                        505 => "HTTP Version Not Supported",
                        _ => "Bad request",
                    },
                )
            }
            Failure::InvalidPath => (400, "Bad request"),
            Failure::NoRoute => (404, "no Route matched with those values"),
            Failure::NoService => (503, "no Service found with those values"),
            Failure::BadGateway => (
                502,
                "An invalid response was received from the upstream server",
            ),
            Failure::Unavailable => (503, "failure to get a peer from the ring-balancer"),
            Failure::NameResolution => (503, "name resolution failed"),
            Failure::GatewayTimeout => (504, "The upstream server is timing out"),
            Failure::BodyTooLarge => (413, "Request size limit exceeded"),
        }
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes a complete JSON response into `out` (replacing what it held). `head_only` omits the
/// body (HEAD requests).
pub fn write_json_response(
    out: &mut Vec<u8>,
    status: u16,
    message: &str,
    close: bool,
    head_only: bool,
) {
    let body = serde_json::json!({ "message": message }).to_string();
    write_response(
        out,
        status,
        "application/json; charset=utf-8",
        body.as_bytes(),
        close,
        head_only,
    );
}

pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
    head_only: bool,
) {
    // Output buffers are recycled between requests and connections: whatever a buffer held
    // belongs to someone else (fuzz: a refused head was answered after another client's
    // response head).
    out.clear();
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nServer: {SERVER}\r\n",
        reason_phrase(status),
        body.len()
    );
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Writes a plugin's local response into `out`, replacing what it held (status, its headers,
/// the plugins' response edits).
pub fn write_local_response(
    out: &mut Vec<u8>,
    local: &sluice_plugins::LocalResponse,
    edits: &sluice_plugins::HeaderEdits,
    close: bool,
    head_only: bool,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(local.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(local.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let removed = |name: &str| {
        edits.remove.iter().any(|n| n.eq_ignore_ascii_case(name))
            || edits.set.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let framing = |name: &str| {
        name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("connection")
    };
    if !local.content_type.is_empty() && !removed("content-type") {
        push(out, "Content-Type", &local.content_type);
    }
    for (name, value) in &local.headers {
        if !removed(name) && !framing(name) {
            push(out, name, value);
        }
    }
    for (name, value) in edits.set.iter().chain(&edits.append) {
        if !framing(name) {
            push(out, name, value);
        }
    }
    push(
        out,
        "Content-Length",
        itoa::Buffer::new().format(local.body.len()),
    );
    push(out, "Server", SERVER);
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(&local.body);
    }
}

fn push(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn failure_mapping_table() {
        let cases = [
            (
                Failure::BadRequest(RequestError::LengthAndChunked),
                400,
                "Bad request",
            ),
            (
                Failure::BadRequest(RequestError::UriTooLong),
                414,
                "Request-URI Too Large",
            ),
            (
                Failure::BadRequest(RequestError::HeadTooLarge),
                431,
                "Request Header Fields Too Large",
            ),
            (
                Failure::BadRequest(RequestError::UnsupportedTransferCoding),
                501,
                "Not Implemented",
            ),
            (Failure::NoRoute, 404, "no Route matched with those values"),
            (
                Failure::BadGateway,
                502,
                "An invalid response was received from the upstream server",
            ),
            (
                Failure::Unavailable,
                503,
                "failure to get a peer from the ring-balancer",
            ),
            (
                Failure::GatewayTimeout,
                504,
                "The upstream server is timing out",
            ),
        ];
        for (failure, status, message) in cases {
            assert_eq!(
                failure.status_and_message(),
                (status, message),
                "{failure:?}"
            );
        }
    }

    #[test]
    fn json_response_is_well_framed() {
        let mut out = Vec::new();
        write_json_response(
            &mut out,
            404,
            "no Route matched with those values",
            true,
            false,
        );
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(head.contains("Connection: close"));
        assert_eq!(body, r#"{"message":"no Route matched with those values"}"#);
    }
}
