//! Client request heads: zero-copy parse with httparse and the RFC 9112 framing decisions.
//!
//! The head is parsed straight out of the connection's read buffer; what is kept are byte
//! ranges into that buffer, so unchanged header lines can be forwarded exactly as received.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::{
    header_eq, BodyFraming, FramingHeaderError, FramingHeaders, HeadLimits, HeaderPos,
    MAX_HEADERS_CAP,
};

/// Why a request head was refused; `status()` gives the response code (the connection is
/// always closed afterwards, since the framing can no longer be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request head")]
    Malformed,
    #[error("request head too large")]
    HeadTooLarge,
    #[error("too many headers")]
    TooManyHeaders,
    #[error("request URI too long")]
    UriTooLong,
    #[error("unsupported HTTP version")]
    Version,
    #[error("missing Host header")]
    MissingHost,
    #[error("multiple Host headers")]
    MultipleHost,
    #[error("invalid Host header")]
    InvalidHost,
    #[error("invalid Content-Length")]
    InvalidContentLength,
    #[error("both Content-Length and Transfer-Encoding present")]
    LengthAndChunked,
    #[error("invalid Transfer-Encoding")]
    InvalidTransferEncoding,
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    #[error("invalid request target")]
    InvalidTarget,
    #[error("line ending without CR in request head")]
    BareLineFeed,
    /// Found in the body, after the head was accepted.
    #[error("invalid chunked request body")]
    InvalidChunkedBody,
}

impl RequestError {
    pub fn status(self) -> u16 {
        match self {
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::UriTooLong => 414,
            RequestError::UnsupportedTransferCoding => 501,
            RequestError::Version => 505,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Trace,
    Connect,
    Other,
}

impl Method {
    fn parse(raw: &[u8]) -> Method {
        match raw {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }

    /// RFC 9110 section 9.2.2: a request that can be sent again without changing the outcome.
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get
                | Method::Head
                | Method::Put
                | Method::Delete
                | Method::Options
                | Method::Trace
        )
    }
}

/// A parsed and validated request head. All ranges index the buffer it was parsed from.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    /// Bytes of the head including the final CRLF CRLF.
    pub head_len: usize,
    pub method: Range<usize>,
    pub method_kind: Option<Method>,
    /// The path part of the request target (before `?`), raw as received.
    pub path: Range<usize>,
    /// The query string without the leading `?`, if present.
    pub query: Option<Range<usize>>,
    pub http10: bool,
    pub headers: Vec<HeaderPos>,
    /// Host authority: the absolute-form target's authority if given, else the Host header.
    pub host: Option<Range<usize>>,
    pub framing: BodyFraming,
    /// The client allows the connection to stay open after this exchange.
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// `Connection: upgrade` together with an `Upgrade` header.
    pub upgrade: bool,
    /// A Connection header names other headers, which must then not be forwarded.
    pub connection_names_headers: bool,
    /// `Content-Length: 0` was sent: no body, but the length is forwarded as given.
    pub explicit_zero_length: bool,
}

impl RequestHead {
    /// The request path as received; `/` for an absolute-form target without a path
    /// (RFC 9110 section 4.2.3).
    pub fn raw_path<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        if self.path.is_empty() {
            b"/"
        } else {
            &buf[self.path.clone()]
        }
    }

    pub fn method_kind(&self) -> Method {
        self.method_kind.unwrap_or(Method::Other)
    }

    /// All values of a header (name given in lowercase).
    pub fn header_values<'b>(
        &'b self,
        buf: &'b [u8],
        name: &'b str,
    ) -> impl Iterator<Item = &'b [u8]> + 'b {
        self.headers
            .iter()
            .filter(move |h| header_eq(&buf[h.name.clone()], name))
            .map(move |h| &buf[h.value.clone()])
    }

    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| header_eq(&buf[h.name.clone()], name))
            .map(|h| &buf[h.value.clone()])
    }
}

pub enum ParseStatus {
    Complete(RequestHead),
    /// Need more bytes.
    Partial,
}

/// Parses a request head from the start of `buf`, reusing `head` (its header vector keeps its
/// capacity between requests). `Partial` means more bytes are needed; the caller enforces
/// `limits.max_head` on the bytes it buffers via [`check_partial`].
pub fn parse_request(
    buf: &[u8],
    limits: &HeadLimits,
    mut head: RequestHead,
) -> Result<ParseStatus, RequestError> {
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let max_headers = limits.max_headers.min(MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(buf, &mut storage[..max_headers]);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits)?;
            return Ok(ParseStatus::Partial);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(RequestError::Version),
        Err(_) => return Err(RequestError::Malformed),
    };
    if head_len > limits.max_head {
        return Err(RequestError::HeadTooLarge);
    }
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };

    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(RequestError::Malformed);
    };
    if target.len() > limits.max_uri {
        return Err(RequestError::UriTooLong);
    }
    head.head_len = head_len;
    head.method = offset(method.as_bytes());
    head.method_kind = Some(Method::parse(method.as_bytes()));
    head.http10 = version == 0;
    head.headers.clear();
    head.host = None;
    head.query = None;
    head.expect_continue = false;
    head.upgrade = false;

    let target_range = offset(target.as_bytes());
    let (path, query, absolute_authority) = split_target(target.as_bytes(), target_range.start)?;
    head.path = path;
    head.query = query;

    let mut framing = FramingHeaders::default();
    let mut host_count = 0usize;
    let mut has_upgrade_header = false;

    // Every line of the head must end in CRLF. httparse also takes a bare LF (RFC 9112
    // section 2.2 allows either), but a proxy in front of Sluice that does not would read
    // `X: a\nTransfer-Encoding: chunked` as one header where Sluice reads two: a desync. Each
    // line ends right before the next one starts, so checking the byte two before every
    // header name and the head's last two line ends covers every line after the request line.
    let crlf_before = |end: usize| end.checked_sub(2).and_then(|i| buf.get(i)) == Some(&b'\r');
    if !crlf_before(head_len) || !crlf_before(head_len.saturating_sub(2)) {
        return Err(RequestError::BareLineFeed);
    }
    for header in req.headers.iter() {
        let name = header.name.as_bytes();
        let value = header.value;
        let name_range = offset(name);
        if !crlf_before(name_range.start) {
            return Err(RequestError::BareLineFeed);
        }
        head.headers.push(HeaderPos {
            name: name_range,
            value: offset(value),
        });
        match name.len() {
            4 if header_eq(name, "host") => {
                host_count += 1;
                head.host = Some(offset(value));
            }
            6 if header_eq(name, "expect") => {
                head.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
            }
            7 if header_eq(name, "upgrade") => has_upgrade_header = true,
            _ => framing.record(name, value).map_err(|error| match error {
                FramingHeaderError::ContentLength => RequestError::InvalidContentLength,
                FramingHeaderError::TransferEncoding { unsupported: true } => {
                    RequestError::UnsupportedTransferCoding
                }
                FramingHeaderError::TransferEncoding { unsupported: false } => {
                    RequestError::InvalidTransferEncoding
                }
            })?,
        }
    }

    let from_target = absolute_authority.is_some();
    if let Some(authority) = absolute_authority {
        // RFC 9112 section 3.2.2: the absolute-form authority replaces Host.
        head.host = Some(authority);
    } else {
        if host_count == 0 && !head.http10 {
            return Err(RequestError::MissingHost);
        }
    }
    if let Some(host) = &head.host {
        if !is_valid_authority(&buf[host.clone()], from_target) {
            return Err(RequestError::InvalidHost);
        }
    }
    if host_count > 1 {
        return Err(RequestError::MultipleHost);
    }

    head.explicit_zero_length = framing.content_length == Some(0);
    head.framing = match (framing.content_length, framing.chunked) {
        (Some(_), true) => return Err(RequestError::LengthAndChunked),
        (_, true) if head.http10 => {
            // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
            return Err(RequestError::InvalidTransferEncoding);
        }
        (_, true) => BodyFraming::Chunked,
        (Some(0), false) | (None, false) => BodyFraming::None,
        (Some(n), false) => BodyFraming::Length(n),
    };
    head.keep_alive = framing.keep_alive(head.http10);
    head.connection_names_headers = framing.connection_names_headers;
    head.upgrade = framing.connection_upgrade && has_upgrade_header && !head.http10;
    if head.method_kind() == Method::Connect {
        return Err(RequestError::InvalidTarget);
    }
    Ok(ParseStatus::Complete(head))
}

/// Decides, for an incomplete head, whether waiting for more bytes can still succeed.
fn check_partial(buf: &[u8], limits: &HeadLimits) -> Result<(), RequestError> {
    let request_line_done = memchr_newline(buf);
    // Only the target counts against the URI limit, so the verdict does not depend on how
    // the request line was split across reads (a long method is the head limit's business).
    let target_so_far = match buf.iter().position(|&b| b == b' ') {
        Some(first) => {
            let rest = &buf[first + 1..];
            rest.iter().position(|&b| b == b' ').unwrap_or(rest.len())
        }
        None => 0,
    };
    if !request_line_done && target_so_far > limits.max_uri {
        return Err(RequestError::UriTooLong);
    }
    if buf.len() >= limits.max_head {
        return Err(if request_line_done {
            RequestError::HeadTooLarge
        } else {
            RequestError::UriTooLong
        });
    }
    Ok(())
}

fn memchr_newline(buf: &[u8]) -> bool {
    buf.contains(&b'\n')
}

type SplitTarget = (Range<usize>, Option<Range<usize>>, Option<Range<usize>>);

/// Splits a request target into (path, query, absolute-form authority), as ranges offset by
/// `base`. Accepts origin-form (`/path?q`), absolute-form (`http://host/path`) and `*`.
fn split_target(target: &[u8], base: usize) -> Result<SplitTarget, RequestError> {
    let (authority, path_start) = if target.first() == Some(&b'/') || target == b"*" {
        (None, 0)
    } else {
        let scheme_len = if starts_with_ignore_case(target, b"http://") {
            7
        } else if starts_with_ignore_case(target, b"https://") {
            8
        } else {
            return Err(RequestError::InvalidTarget);
        };
        let rest = &target[scheme_len..];
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        if end == 0 || rest[..end].contains(&b'@') {
            return Err(RequestError::InvalidTarget);
        }
        (
            Some(base + scheme_len..base + scheme_len + end),
            scheme_len + end,
        )
    };
    let rest = &target[path_start..];
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => (
            base + path_start..base + path_start + q,
            Some(base + path_start + q + 1..base + target.len()),
        ),
        None => (base + path_start..base + target.len(), None),
    };
    if rest.contains(&b'#') {
        return Err(RequestError::InvalidTarget);
    }
    Ok((path, query, authority))
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// RFC 9110 Host: `uri-host [ ":" port ]`, where uri-host is a reg-name or IP literal.
/// An empty Host is allowed only for HTTP/1.1 requests whose target has no authority.
fn is_valid_authority(value: &[u8], from_target: bool) -> bool {
    if value.is_empty() {
        return !from_target;
    }
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..close];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return false;
        }
        match &value[close + 1..] {
            [] => (&value[..0], None),
            [b':', port @ ..] => (&value[..0], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
            None => (value, None),
        }
    };
    if let Some(port) = port {
        if port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    host.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
