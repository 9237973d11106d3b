//! Streaming message bodies between the two sides with backpressure: one buffer per side,
//! read then write, never more than one read ahead. Bodies are never held whole.

use std::time::Duration;

use monoio::io::{AsyncWriteRent, Splitable};
use monoio::net::TcpStream;

use crate::conn::{write_owned, BufferedStream, IoFailure, BODY_READ};
use crate::http::chunked::{ChunkError, ChunkedScanner};
use crate::http::BodyFraming;

#[derive(Debug)]
pub enum RelayError {
    /// Reading the body failed: I/O error, timeout, early end or bad chunked framing.
    Source(SourceError),
    Destination(IoFailure),
}

#[derive(Debug)]
pub enum SourceError {
    Io(IoFailure),
    /// The peer closed before the body was complete.
    Truncated,
    /// A chunked body grew past the configured limit.
    TooLarge,
    Framing(ChunkError),
}

/// Copies one body of `framing` from `src` (its buffered bytes first) to `dst`, leaving any
/// bytes after the body (a pipelined request) in `src`'s buffer. `max_chunked` bounds a
/// chunked body's size on the wire (a Content-Length is checked before relaying). Returns the
/// number of bytes relayed (as on the wire, chunk framing included).
pub async fn relay_body(
    src: &mut BufferedStream,
    dst: &mut TcpStream,
    framing: BodyFraming,
    read_timeout: Duration,
    write_timeout: Duration,
    max_trailer: usize,
    max_chunked: Option<u64>,
) -> Result<u64, RelayError> {
    match framing {
        BodyFraming::None => Ok(0),
        BodyFraming::Length(total) => {
            let mut remaining = total;
            while remaining > 0 {
                if src.pending_len() == 0 {
                    read_some(src, read_timeout).await?;
                }
                let take = (src.pending_len() as u64).min(remaining) as usize;
                forward(src, take, dst, write_timeout).await?;
                remaining -= take as u64;
            }
            Ok(total)
        }
        BodyFraming::Chunked => {
            let mut scanner = ChunkedScanner::new(max_trailer);
            let mut total: u64 = 0;
            loop {
                if src.pending_len() == 0 {
                    read_some(src, read_timeout).await?;
                }
                let take = scanner
                    .scan(src.pending())
                    .map_err(|e| RelayError::Source(SourceError::Framing(e)))?;
                total += take as u64;
                if max_chunked.is_some_and(|limit| total > limit) {
                    return Err(RelayError::Source(SourceError::TooLarge));
                }
                forward(src, take, dst, write_timeout).await?;
                if scanner.is_done() {
                    return Ok(total);
                }
            }
        }
        BodyFraming::UntilClose => {
            let mut total: u64 = 0;
            loop {
                if src.pending_len() == 0 {
                    match src.fill(BODY_READ, read_timeout).await {
                        Ok(0) => return Ok(total),
                        Ok(_) => {}
                        Err(e) => return Err(RelayError::Source(SourceError::Io(e))),
                    }
                }
                let take = src.pending_len();
                forward(src, take, dst, write_timeout).await?;
                total += take as u64;
            }
        }
    }
}

/// Copies a chunked body as plain bytes (for HTTP/1.0 clients, which cannot read chunked).
/// Returns the number of bytes written.
pub async fn relay_dechunked(
    src: &mut BufferedStream,
    dst: &mut TcpStream,
    read_timeout: Duration,
    write_timeout: Duration,
    max_trailer: usize,
) -> Result<u64, RelayError> {
    let mut scanner = ChunkedScanner::new(max_trailer);
    let mut total: u64 = 0;
    let mut out: Option<Vec<u8>> = Some(Vec::with_capacity(BODY_READ));
    loop {
        if src.pending_len() == 0 {
            read_some(src, read_timeout).await?;
        }
        let mut payload = out.take().unwrap_or_default();
        payload.clear();
        let mut consumed = 0;
        while consumed < src.pending_len() && !scanner.is_done() {
            let input = &src.pending()[consumed..];
            let step = scanner
                .step(input)
                .map_err(|e| RelayError::Source(SourceError::Framing(e)))?;
            if let Some(data) = step.data {
                payload.extend_from_slice(&input[data]);
            }
            if step.consumed == 0 {
                break;
            }
            consumed += step.consumed;
        }
        src.consume(consumed);
        if !payload.is_empty() {
            total += payload.len() as u64;
            let (written, buf) = write_owned(dst, payload, write_timeout).await;
            written.map_err(RelayError::Destination)?;
            out = buf;
        } else {
            out = Some(payload);
        }
        if scanner.is_done() {
            return Ok(total);
        }
    }
}

/// A response body read whole for the body filter phase (up to a limit).
pub struct Collected {
    /// The payload (de-chunked).
    pub body: Vec<u8>,
    /// False when the body grew past the limit: `body` is its beginning and the rest is still
    /// to be read (with `scanner`, for a chunked body).
    pub complete: bool,
    scanner: Option<ChunkedScanner>,
}

/// Reads a body of `framing` into memory, de-chunked, up to `limit` bytes of payload. A
/// Content-Length body must fit the limit (the caller checks before).
pub async fn collect_body(
    src: &mut BufferedStream,
    framing: BodyFraming,
    read_timeout: Duration,
    max_trailer: usize,
    limit: usize,
) -> Result<Collected, RelayError> {
    let mut body = Vec::new();
    match framing {
        BodyFraming::None => {}
        BodyFraming::Length(total) => {
            let total = total as usize;
            body.reserve(total.min(limit));
            while body.len() < total {
                if src.pending_len() == 0 {
                    read_some(src, read_timeout).await?;
                }
                let take = src.pending_len().min(total - body.len());
                body.extend_from_slice(&src.pending()[..take]);
                src.consume(take);
            }
        }
        BodyFraming::Chunked => {
            let mut scanner = ChunkedScanner::new(max_trailer);
            let mut starved = false;
            while !scanner.is_done() {
                if body.len() > limit {
                    return Ok(Collected {
                        body,
                        complete: false,
                        scanner: Some(scanner),
                    });
                }
                if src.pending_len() == 0 || starved {
                    read_some(src, read_timeout).await?;
                }
                let step = scanner
                    .step(src.pending())
                    .map_err(|e| RelayError::Source(SourceError::Framing(e)))?;
                if let Some(data) = step.data {
                    body.extend_from_slice(&src.pending()[data]);
                }
                starved = step.consumed == 0;
                src.consume(step.consumed);
            }
        }
        BodyFraming::UntilClose => loop {
            if body.len() > limit {
                return Ok(Collected {
                    body,
                    complete: false,
                    scanner: None,
                });
            }
            if src.pending_len() == 0 {
                match src.fill(BODY_READ, read_timeout).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(RelayError::Source(SourceError::Io(e))),
                }
            }
            body.extend_from_slice(src.pending());
            let n = src.pending_len();
            src.consume(n);
        },
    }
    Ok(Collected {
        body,
        complete: true,
        scanner: None,
    })
}

/// Sends the rest of a body that [`collect_body`] left incomplete, as chunks (`chunked`) or
/// as plain bytes, ending the chunked encoding. Returns the bytes written.
pub async fn relay_rest(
    src: &mut BufferedStream,
    collected: Collected,
    dst: &mut TcpStream,
    chunked: bool,
    read_timeout: Duration,
    write_timeout: Duration,
) -> Result<u64, RelayError> {
    let mut total = 0u64;
    let mut scanner = collected.scanner;
    let mut out = encode_piece(&collected.body, chunked);
    let mut starved = false;
    loop {
        if !out.is_empty() {
            total += out.len() as u64;
            let (written, _) = write_owned(dst, out, write_timeout).await;
            written.map_err(RelayError::Destination)?;
        }
        let done = scanner.as_ref().is_some_and(ChunkedScanner::is_done);
        if done {
            break;
        }
        if src.pending_len() == 0 || starved {
            match src.fill(BODY_READ, read_timeout).await {
                Ok(0) if scanner.is_none() => break,
                Ok(0) => return Err(RelayError::Source(SourceError::Truncated)),
                Ok(_) => {}
                Err(e) => return Err(RelayError::Source(SourceError::Io(e))),
            }
        }
        out = match &mut scanner {
            Some(scanner) => {
                let step = scanner
                    .step(src.pending())
                    .map_err(|e| RelayError::Source(SourceError::Framing(e)))?;
                let piece = step
                    .data
                    .map(|data| encode_piece(&src.pending()[data], chunked))
                    .unwrap_or_default();
                starved = step.consumed == 0;
                src.consume(step.consumed);
                piece
            }
            None => {
                let piece = encode_piece(src.pending(), chunked);
                let n = src.pending_len();
                src.consume(n);
                piece
            }
        };
    }
    if chunked {
        let (written, _) = write_owned(dst, &b"0\r\n\r\n"[..], write_timeout).await;
        written.map_err(RelayError::Destination)?;
        total += 5;
    }
    Ok(total)
}

fn encode_piece(data: &[u8], chunked: bool) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    if !chunked {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

async fn read_some(src: &mut BufferedStream, timeout: Duration) -> Result<(), RelayError> {
    match src.fill(BODY_READ, timeout).await {
        Ok(0) => Err(RelayError::Source(SourceError::Truncated)),
        Ok(_) => Ok(()),
        Err(e) => Err(RelayError::Source(SourceError::Io(e))),
    }
}

async fn forward(
    src: &mut BufferedStream,
    len: usize,
    dst: &mut TcpStream,
    timeout: Duration,
) -> Result<(), RelayError> {
    if len == 0 {
        return Ok(());
    }
    src.forward_pending(len, dst, timeout)
        .await
        .map_err(RelayError::Destination)
}

/// After a 101 response: bytes flow both ways until either side closes. Buffered bytes of
/// each side (sent early by the client, or after the 101 head by the upstream) go first.
pub async fn tunnel(mut client: BufferedStream, mut upstream: BufferedStream, idle: Duration) {
    let early_client = client.pending_len();
    if early_client > 0
        && client
            .forward_pending(early_client, &mut upstream.stream, idle)
            .await
            .is_err()
    {
        return;
    }
    let early_upstream = upstream.pending_len();
    if early_upstream > 0
        && upstream
            .forward_pending(early_upstream, &mut client.stream, idle)
            .await
            .is_err()
    {
        return;
    }
    let (mut client_read, mut client_write) = client.stream.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.stream.into_split();
    let upward = async {
        let _ = monoio::io::copy(&mut client_read, &mut upstream_write).await;
        let _ = upstream_write.shutdown().await;
    };
    let downward = async {
        let _ = monoio::io::copy(&mut upstream_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    monoio::join!(upward, downward);
}
