//! A TCP stream with the owned read buffer that io_uring needs.
//!
//! io_uring reads complete after the submitting future may have been dropped, so the kernel
//! must own the buffer while a read is in flight: monoio takes buffers by value and hands them
//! back. `BufferedStream` keeps that dance in one place. Unconsumed bytes live in
//! `buf[start..]`; parsed heads index the buffer from `start`.

use std::io;
use std::time::Duration;

use monoio::buf::{IoBuf, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

/// Smallest free space offered to a read.
const MIN_READ: usize = 4096;
/// Read size used while streaming bodies.
pub const BODY_READ: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IoFailure {
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl IoFailure {
    pub fn is_timeout(&self) -> bool {
        matches!(self, IoFailure::Timeout)
    }
}

pub struct BufferedStream {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
    pub start: usize,
}

impl BufferedStream {
    pub fn new(stream: TcpStream, capacity: usize) -> Self {
        BufferedStream {
            stream,
            buf: Vec::with_capacity(capacity),
            start: 0,
        }
    }

    /// Bytes received but not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Drops empty lines before a request line (RFC 9112 section 2.2 lets a server ignore
    /// them; some clients send CRLF after a body): they do not start a request.
    pub fn skip_line_ends(&mut self) {
        let n = self
            .pending()
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        self.consume(n);
    }

    /// Whether the last read filled all the room there was: the socket may hold more.
    pub fn is_full(&self) -> bool {
        self.buf.len() == self.buf.capacity()
    }

    /// Moves unconsumed bytes to the front so that a head parse sees them at offset 0.
    pub fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.start = 0;
        }
    }

    /// Gives back memory after a burst (a large head or body) so idle connections stay small.
    pub fn shrink_idle(&mut self, keep: usize) {
        if self.pending_len() == 0 && self.buf.capacity() > keep {
            self.buf = Vec::with_capacity(keep);
            self.start = 0;
        }
    }

    /// Reads more bytes after the pending ones; Ok(0) is end of stream.
    pub async fn fill(&mut self, want: usize, timeout: Duration) -> Result<usize, IoFailure> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        let free = self.buf.capacity() - self.buf.len();
        if free < MIN_READ.min(want) || free == 0 {
            self.buf.reserve(want.max(MIN_READ));
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let cap = buf.capacity();
        let read = self.stream.read(SliceMut::new(buf, len, cap));
        match monoio::time::timeout(timeout, read).await {
            Ok((result, slice)) => {
                self.buf = slice.into_inner();
                Ok(result?)
            }
            // The buffer went down with the cancelled read; the caller closes this stream.
            Err(_) => Err(IoFailure::Timeout),
        }
    }

    /// Closes after an error answer without losing it: closing a socket with unread input
    /// makes the kernel send RST, which can destroy the answer before the client reads it.
    /// So the write side is shut first and input is drained, bounded in time and bytes
    /// (nginx's lingering close).
    pub async fn lingering_close(&mut self) {
        const LINGER_TIME: Duration = Duration::from_secs(2);
        const LINGER_BYTES: usize = 1024 * 1024;
        let _ = self.stream.shutdown().await;
        let deadline = std::time::Instant::now() + LINGER_TIME;
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                break;
            };
            self.buf.clear();
            self.start = 0;
            match self.fill(16 * 1024, left).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }

    /// Writes the first `len` pending bytes to `dst` (zero-copy) and consumes them.
    pub async fn forward_pending(
        &mut self,
        len: usize,
        dst: &mut TcpStream,
        timeout: Duration,
    ) -> Result<(), IoFailure> {
        let begin = self.start;
        let buf = std::mem::take(&mut self.buf);
        let slice = buf.slice(begin..begin + len);
        let (result, slice) = match monoio::time::timeout(timeout, dst.write_all(slice)).await {
            Ok(done) => done,
            Err(_) => return Err(IoFailure::Timeout),
        };
        self.buf = slice.into_inner();
        result?;
        self.consume(len);
        Ok(())
    }
}

/// Writes a whole owned buffer and returns it for reuse.
pub async fn write_owned<W: AsyncWriteRentExt, B: IoBuf + 'static>(
    dst: &mut W,
    buf: B,
    timeout: Duration,
) -> (Result<(), IoFailure>, Option<B>) {
    match monoio::time::timeout(timeout, dst.write_all(buf)).await {
        Ok((Ok(_), buf)) => (Ok(()), Some(buf)),
        Ok((Err(e), buf)) => (Err(IoFailure::Io(e)), Some(buf)),
        Err(_) => (Err(IoFailure::Timeout), None),
    }
}
