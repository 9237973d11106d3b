//! Upstream response heads: zero-copy parse and the framing decision (RFC 9112 section 6.3).
//!
//! An upstream whose framing is ambiguous is treated as broken (502 to the client, upstream
//! connection closed): relaying it would let the upstream desynchronise the client connection.

use std::mem::MaybeUninit;

use super::{
    header_eq, BodyFraming, FramingHeaderError, FramingHeaders, HeadLimits, HeaderPos,
    MAX_HEADERS_CAP,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("malformed response head")]
    Malformed,
    #[error("response head too large")]
    HeadTooLarge,
    #[error("invalid Content-Length in response")]
    InvalidContentLength,
    #[error("both Content-Length and Transfer-Encoding in response")]
    LengthAndChunked,
    #[error("invalid Transfer-Encoding in response")]
    InvalidTransferEncoding,
}

#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    pub head_len: usize,
    pub status: u16,
    /// The reason phrase, forwarded as received.
    pub reason: std::ops::Range<usize>,
    pub http10: bool,
    pub headers: Vec<HeaderPos>,
    pub framing: BodyFraming,
    /// The upstream lets the connection be reused afterwards.
    pub keep_alive: bool,
    /// A Connection header names other headers, which must then not be forwarded.
    pub connection_names_headers: bool,
}

impl ResponseHead {
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

    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// The reason phrase as it stands in the status line. Taken from the raw line rather than
/// from httparse, which hands out a constant empty string (not a slice of `buf`) when the
/// reason is missing or holds obs-text: an offset computed from that pointer is garbage
/// (found by the http_response_head fuzz target: `HTTP/1.1 200\r\n` crashed the gateway).
fn reason_range(buf: &[u8]) -> std::ops::Range<usize> {
    // httparse accepts empty lines before the status line.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line_end = buf[start..]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map_or(buf.len(), |e| start + e);
    // "HTTP/1.x NNN" is 12 bytes; a reason follows a single space.
    let reason_start = start + 13;
    if line_end > reason_start && buf.get(start + 12) == Some(&b' ') {
        reason_start..line_end
    } else {
        0..0
    }
}

pub enum ResponseStatus {
    Complete(ResponseHead),
    Partial,
}

/// Parses a response head. `request_was_head` and the status decide whether a body follows.
pub fn parse_response(
    buf: &[u8],
    limits: &HeadLimits,
    request_was_head: bool,
    mut head: ResponseHead,
) -> Result<ResponseStatus, ResponseError> {
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let mut response = httparse::Response::new(&mut []);
    let max_headers = limits.max_headers.clamp(100, MAX_HEADERS_CAP);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut storage[..max_headers],
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= limits.max_head {
                return Err(ResponseError::HeadTooLarge);
            }
            return Ok(ResponseStatus::Partial);
        }
        Err(_) => return Err(ResponseError::Malformed),
    };
    if head_len > limits.max_head {
        return Err(ResponseError::HeadTooLarge);
    }
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Err(ResponseError::Malformed);
    };
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    if !(100..=599).contains(&status) {
        // "HTTP/1.1 044" and "HTTP/1.1 600" parse, but RFC 9110 section 15 defines 100-599:
        // relaying either would give the client a status line it may not accept.
        return Err(ResponseError::Malformed);
    }
    head.head_len = head_len;
    head.status = status;
    head.reason = reason_range(buf);
    head.http10 = version == 0;
    head.headers.clear();

    let mut framing = FramingHeaders::default();
    for header in response.headers.iter() {
        let name = header.name.as_bytes();
        let value = header.value;
        head.headers.push(HeaderPos {
            name: offset(name),
            value: offset(value),
        });
        framing.record(name, value).map_err(|error| match error {
            FramingHeaderError::ContentLength => ResponseError::InvalidContentLength,
            FramingHeaderError::TransferEncoding { .. } => ResponseError::InvalidTransferEncoding,
        })?;
    }
    head.connection_names_headers = framing.connection_names_headers;

    let bodyless =
        request_was_head || (100..200).contains(&status) || status == 204 || status == 304;
    head.framing = if bodyless {
        // Framing headers on bodyless responses describe the representation, not this message,
        // but both together are still a sign of a confused upstream.
        if framing.chunked && framing.content_length.is_some() {
            return Err(ResponseError::LengthAndChunked);
        }
        BodyFraming::None
    } else {
        match (framing.content_length, framing.chunked) {
            (Some(_), true) => return Err(ResponseError::LengthAndChunked),
            (_, true) if head.http10 => return Err(ResponseError::InvalidTransferEncoding),
            (_, true) => BodyFraming::Chunked,
            (Some(0), false) => BodyFraming::None,
            (Some(n), false) => BodyFraming::Length(n),
            (None, false) => BodyFraming::UntilClose,
        }
    };
    head.keep_alive = head.framing != BodyFraming::UntilClose && framing.keep_alive(head.http10);
    Ok(ResponseStatus::Complete(head))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(raw: &str, head_request: bool) -> Result<ResponseHead, ResponseError> {
        match parse_response(
            raw.as_bytes(),
            &HeadLimits::default(),
            head_request,
            ResponseHead::default(),
        )? {
            ResponseStatus::Complete(head) => Ok(head),
            ResponseStatus::Partial => panic!("partial: {raw:?}"),
        }
    }

    #[test]
    fn framing_table() {
        let cases: &[(&str, bool, Result<BodyFraming, ResponseError>)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Ok(BodyFraming::Length(5)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                false,
                Ok(BodyFraming::None),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Ok(BodyFraming::Chunked),
            ),
            (
                "HTTP/1.1 200 OK\r\n\r\n",
                false,
                Ok(BodyFraming::UntilClose),
            ),
            (
                "HTTP/1.1 204 No Content\r\n\r\n",
                false,
                Ok(BodyFraming::None),
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                false,
                Ok(BodyFraming::None),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                true,
                Ok(BodyFraming::None),
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\n",
                false,
                Ok(BodyFraming::None),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Err(ResponseError::LengthAndChunked),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                false,
                Err(ResponseError::InvalidContentLength),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                false,
                Ok(BodyFraming::Length(5)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
                false,
                Err(ResponseError::InvalidContentLength),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                false,
                Err(ResponseError::InvalidTransferEncoding),
            ),
            (
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Err(ResponseError::InvalidTransferEncoding),
            ),
            (
                "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
                false,
                Err(ResponseError::Malformed),
            ),
            (
                "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
                false,
                Err(ResponseError::Malformed),
            ),
            (
                "HTTP/1.1 2000 OK\r\n\r\n",
                false,
                Err(ResponseError::Malformed),
            ),
        ];
        for (raw, head_request, expected) in cases {
            assert_eq!(
                parse(raw, *head_request).map(|h| h.framing),
                *expected,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn reason_phrase_edge_cases_found_by_fuzzing() {
        let missing = b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
        let head = parse(std::str::from_utf8(missing).unwrap(), false).unwrap();
        assert_eq!(head.reason, 0..0);
        let raw = b"HTTP/1.1 200 Gr\xfc\xdf\r\nContent-Length: 0\r\n\r\n";
        let head = match parse_response(raw, &HeadLimits::default(), false, ResponseHead::default())
            .unwrap()
        {
            ResponseStatus::Complete(head) => head,
            ResponseStatus::Partial => panic!("partial"),
        };
        assert_eq!(&raw[head.reason.clone()], b"Gr\xfc\xdf");
        let blank_lines = b"\r\nHTTP/1.1 101\n\n";
        assert!(parse_response(
            blank_lines,
            &HeadLimits::default(),
            true,
            ResponseHead::default()
        )
        .is_ok());
        for bad in [
            "HTTP/1.1 044 X\r\n\r\n",
            "HTTP/1.1 600 X\r\n\r\n",
            "HTTP/1.1 999\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad, false).err(),
                Some(ResponseError::Malformed),
                "{bad}"
            );
        }
        assert!(parse("HTTP/1.1 599 X\r\n\r\n", false).is_ok());
    }

    #[test]
    fn keep_alive_rules() {
        assert!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false)
                .unwrap()
                .keep_alive
        );
        assert!(
            !parse(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                false
            )
            .unwrap()
            .keep_alive
        );
        assert!(
            !parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false)
                .unwrap()
                .keep_alive
        );
        assert!(
            parse(
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                false
            )
            .unwrap()
            .keep_alive
        );
        assert!(!parse("HTTP/1.1 200 OK\r\n\r\n", false).unwrap().keep_alive);
    }
}
