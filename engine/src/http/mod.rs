//! HTTP/1.1 codec: head parsing and framing rules for both sides of the proxy.
//!
//! Everything here is synchronous and allocation-free per message once buffers are warm;
//! the proxy loop owns the I/O. Framing follows RFC 9112 section 6 strictly: whatever two
//! parsers could read differently is refused instead of being guessed at.

pub mod chunked;
pub mod request;
pub mod response;

use std::ops::Range;

/// Upper bound of the on-stack header array; `HeadLimits::max_headers` is clamped to it.
pub const MAX_HEADERS_CAP: usize = 512;

#[derive(Debug, Clone)]
pub struct HeadLimits {
    /// Largest request or response head, in bytes.
    pub max_head: usize,
    pub max_headers: usize,
    /// Longest request target, in bytes.
    pub max_uri: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_head: 32 * 1024,
            max_headers: 100,
            max_uri: 8 * 1024,
        }
    }
}

/// Byte ranges of one header line's name and value inside the head buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPos {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

impl HeaderPos {
    /// The whole `name: value` line without its CRLF. httparse hands out the value trimmed, so
    /// the line is rebuilt from the name start and value end: the original bytes in between.
    pub fn line(&self) -> Range<usize> {
        self.name.start..self.value.end.max(self.name.end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFraming {
    #[default]
    None,
    Length(u64),
    Chunked,
    /// Response only: the body runs until the upstream closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferCoding {
    Chunked,
}

impl TransferCoding {
    /// Parses a Transfer-Encoding value. Only a lone `chunked` is supported. `Err(true)` means
    /// well-formed but unsupported (501), `Err(false)` means malformed or ambiguous (400).
    pub fn parse(value: &[u8]) -> Result<TransferCoding, bool> {
        let mut codings = 0usize;
        let mut last_chunked = false;
        let mut saw_chunked = false;
        let mut unsupported = false;
        for raw in value.split(|&b| b == b',') {
            let coding = trim_ows(raw);
            // Parameters (`;q=...`) are not allowed on chunked and nothing else is supported.
            let name_end = coding
                .iter()
                .position(|&b| b == b';')
                .unwrap_or(coding.len());
            let name = trim_ows(&coding[..name_end]);
            if name.is_empty() || !name.iter().all(|&b| chunked::is_tchar(b)) {
                return Err(false);
            }
            codings += 1;
            last_chunked = name.eq_ignore_ascii_case(b"chunked");
            if last_chunked {
                if saw_chunked || name_end != coding.len() {
                    return Err(false);
                }
                saw_chunked = true;
            } else {
                unsupported = true;
            }
        }
        if codings == 0 {
            return Err(false);
        }
        if unsupported {
            // RFC 9112 section 6.3: chunked must be the final coding, else the length is
            // unknown (400); a well-formed list of codings we do not decode is 501.
            return Err(!saw_chunked || last_chunked);
        }
        Ok(TransferCoding::Chunked)
    }
}

/// What the framing headers of one message (request or response) say, collected during the
/// header walk both parsers share. Each side then applies its own rules (RFC 9112 section 6.3
/// for responses, 6.1-6.2 for requests) to the result.
#[derive(Debug, Default)]
pub struct FramingHeaders {
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub connection_close: bool,
    pub connection_keep_alive: bool,
    pub connection_upgrade: bool,
    /// A Connection header names other headers, which must then not be forwarded.
    pub connection_names_headers: bool,
}

/// A framing header no proxy can read unambiguously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingHeaderError {
    /// Not a number, or two Content-Length values that differ.
    ContentLength,
    /// Malformed or repeated Transfer-Encoding (`unsupported: false`), or a well-formed list
    /// of codings other than a lone `chunked` (`unsupported: true`).
    TransferEncoding { unsupported: bool },
}

impl FramingHeaders {
    /// Records one header line if it bears on framing; other headers are ignored.
    // Inlined into both header walks: one call per header line showed up as +10% head parse time.
    #[inline(always)]
    pub fn record(&mut self, name: &[u8], value: &[u8]) -> Result<(), FramingHeaderError> {
        match name.len() {
            10 if header_eq(name, "connection") => {
                self.connection_close |= contains_token(value, "close");
                self.connection_keep_alive |= contains_token(value, "keep-alive");
                self.connection_upgrade |= contains_token(value, "upgrade");
                self.connection_names_headers |= connection_names_headers(value);
            }
            14 if header_eq(name, "content-length") => {
                let length =
                    parse_content_length(value).ok_or(FramingHeaderError::ContentLength)?;
                if self
                    .content_length
                    .is_some_and(|previous| previous != length)
                {
                    return Err(FramingHeaderError::ContentLength);
                }
                self.content_length = Some(length);
            }
            17 if header_eq(name, "transfer-encoding") => {
                if self.chunked {
                    // Split Transfer-Encoding headers are legal but exist mostly to confuse
                    // parsers; one chunked header is all a well-behaved peer sends.
                    return Err(FramingHeaderError::TransferEncoding { unsupported: false });
                }
                TransferCoding::parse(value)
                    .map_err(|unsupported| FramingHeaderError::TransferEncoding { unsupported })?;
                self.chunked = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the peer lets the connection be reused after this message (RFC 9112 section
    /// 9.3): HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`.
    pub fn keep_alive(&self, http10: bool) -> bool {
        if http10 {
            self.connection_keep_alive && !self.connection_close
        } else {
            !self.connection_close
        }
    }
}

/// Parses a Content-Length value: digits only, or an identical comma-separated list.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut result: Option<u64> = None;
    for part in value.split(|&b| b == b',') {
        let digits = trim_ows(part);
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = digits
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        if result.is_some_and(|previous| previous != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

pub fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Case-insensitive header name comparison against a lowercase name.
#[inline]
pub fn header_eq(name: &[u8], lowercase: &str) -> bool {
    name.eq_ignore_ascii_case(lowercase.as_bytes())
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
pub fn contains_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether a Connection value names anything besides the framing options every message uses;
/// only then must other header names be checked against it (saves a scan per header).
pub fn connection_names_headers(value: &[u8]) -> bool {
    value.split(|&b| b == b',').map(trim_ows).any(|token| {
        !token.is_empty()
            && !token.eq_ignore_ascii_case(b"close")
            && !token.eq_ignore_ascii_case(b"keep-alive")
            && !token.eq_ignore_ascii_case(b"upgrade")
    })
}

/// Headers that describe one connection, never forwarded as they are (RFC 9110 section 7.6.1,
/// plus the non-standard Proxy-Connection Kong also drops). Transfer-Encoding is rewritten
/// from the framing decision; `Trailer` stays, since trailers are forwarded.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    match name.len() {
        2 => header_eq(name, "te"),
        7 => header_eq(name, "upgrade"),
        10 => header_eq(name, "connection") || header_eq(name, "keep-alive"),
        16 => header_eq(name, "proxy-connection"),
        17 => header_eq(name, "transfer-encoding"),
        _ => false,
    }
}

/// Whether `name` is listed in any of the message's Connection headers.
pub fn named_by_connection<'a>(
    name: &[u8],
    mut connection_values: impl Iterator<Item = &'a [u8]>,
) -> bool {
    connection_values.any(|value| {
        value
            .split(|&b| b == b',')
            .any(|t| trim_ows(t).eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transfer_coding_table() {
        let cases: &[(&str, Result<TransferCoding, bool>)] = &[
            ("chunked", Ok(TransferCoding::Chunked)),
            ("Chunked", Ok(TransferCoding::Chunked)),
            (" chunked ", Ok(TransferCoding::Chunked)),
            ("gzip, chunked", Err(true)),
            ("gzip", Err(true)),
            ("chunked, gzip", Err(false)),
            ("chunked, chunked", Err(false)),
            ("chunked;q=1", Err(false)),
            ("", Err(false)),
            (",", Err(false)),
            ("chun ked", Err(false)),
            ("chunked,", Err(false)),
            ("\"chunked\"", Err(false)),
        ];
        for (value, expected) in cases {
            assert_eq!(
                TransferCoding::parse(value.as_bytes()),
                *expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn content_length_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("42", Some(42)),
            ("42, 42", Some(42)),
            ("42,43", None),
            ("+42", None),
            ("-1", None),
            ("4 2", None),
            ("", None),
            ("0x10", None),
            ("99999999999999999999", None),
            ("1844674407370955161", Some(1_844_674_407_370_955_161)),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_content_length(value.as_bytes()),
                *expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn hop_by_hop_names() {
        for name in [
            "Connection",
            "keep-alive",
            "TE",
            "Transfer-Encoding",
            "Upgrade",
            "Proxy-Connection",
        ] {
            assert!(is_hop_by_hop(name.as_bytes()), "{name}");
        }
        for name in [
            "Host",
            "Content-Length",
            "X-Forwarded-For",
            "Tee",
            "Trailer",
        ] {
            assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
        }
        let connection: [&[u8]; 1] = [b"close, X-Secret"];
        assert!(named_by_connection(b"x-secret", connection.into_iter()));
        assert!(!named_by_connection(b"x-other", connection.into_iter()));
    }
}
