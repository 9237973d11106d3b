//! Strict, incremental validator for the chunked transfer coding (RFC 9112 section 7.1).
//!
//! Sluice forwards chunked bodies byte for byte, so the scanner's job is to find where the
//! message ends and to refuse anything a downstream parser could read differently.
//! `httparse::parse_chunk_size` is not used because it accepts any octet (bare LF included)
//! inside chunk extensions, which is exactly the kind of leniency request smuggling feeds on.

use std::ops::Range;

/// Longest chunk-size line (size + extensions) accepted, in bytes.
const MAX_SIZE_LINE: usize = 4096;
/// Chunk sizes are at most 16 hex digits (fits u64) — longer is refused rather than wrapped.
const MAX_SIZE_DIGITS: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size")]
    InvalidSize,
    #[error("chunk size line too long")]
    SizeLineTooLong,
    #[error("invalid chunk extension")]
    InvalidExtension,
    #[error("missing CRLF after chunk data")]
    MissingDataCrlf,
    #[error("invalid trailer section")]
    InvalidTrailer,
    #[error("trailer section too large")]
    TrailerTooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size (`digits` so far).
    Size {
        digits: u8,
    },
    /// After the size: optional whitespace then `;` extensions, until CR.
    Extension,
    /// Inside a quoted-string extension value.
    ExtensionQuoted {
        escaped: bool,
    },
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerLineStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// One step of scanning: how many input bytes were consumed, and which of them (if any) were
/// chunk payload — used when the body has to be de-chunked (HTTP/1.0 clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkStep {
    pub consumed: usize,
    pub data: Option<Range<usize>>,
}

#[derive(Debug, Clone)]
pub struct ChunkedScanner {
    state: State,
    chunk_size: u64,
    remaining: u64,
    line_len: usize,
    trailer_len: usize,
    max_trailer: usize,
    line_has_colon: bool,
}

impl ChunkedScanner {
    pub fn new(max_trailer: usize) -> Self {
        ChunkedScanner {
            state: State::Size { digits: 0 },
            chunk_size: 0,
            remaining: 0,
            line_len: 0,
            trailer_len: 0,
            max_trailer,
            line_has_colon: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Scans `input` until the end of the message, or until a run of chunk data ends.
    /// Returns after each data run so callers can see payload ranges; call again with the
    /// rest of the input. Consumes nothing once done.
    pub fn step(&mut self, input: &[u8]) -> Result<ChunkStep, ChunkError> {
        let mut pos = 0;
        while pos < input.len() {
            if self.state == State::Done {
                break;
            }
            if self.state == State::Data {
                let available = (input.len() - pos) as u64;
                let take = available.min(self.remaining) as usize;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                let range = pos..pos + take;
                return Ok(ChunkStep {
                    consumed: pos + take,
                    data: Some(range),
                });
            }
            let byte = input[pos];
            pos += 1;
            self.advance_byte(byte)?;
        }
        Ok(ChunkStep {
            consumed: pos,
            data: None,
        })
    }

    /// Scans as far as possible and returns the number of bytes that belong to the message.
    pub fn scan(&mut self, input: &[u8]) -> Result<usize, ChunkError> {
        let mut total = 0;
        while total < input.len() && !self.is_done() {
            let step = self.step(&input[total..])?;
            if step.consumed == 0 {
                break;
            }
            total += step.consumed;
        }
        Ok(total)
    }

    fn advance_byte(&mut self, byte: u8) -> Result<(), ChunkError> {
        match self.state {
            State::Size { digits } => {
                self.line_len += 1;
                if let Some(value) = hex_value(byte) {
                    if digits >= MAX_SIZE_DIGITS {
                        return Err(ChunkError::InvalidSize);
                    }
                    self.chunk_size = (self.chunk_size << 4) | u64::from(value);
                    self.state = State::Size { digits: digits + 1 };
                    return Ok(());
                }
                if digits == 0 {
                    return Err(ChunkError::InvalidSize);
                }
                match byte {
                    b'\r' => self.state = State::SizeLf,
                    b';' | b' ' | b'\t' => self.state = State::Extension,
                    _ => return Err(ChunkError::InvalidSize),
                }
            }
            State::Extension => {
                self.bump_line()?;
                match byte {
                    b'\r' => self.state = State::SizeLf,
                    b'"' => self.state = State::ExtensionQuoted { escaped: false },
                    b';' | b'=' | b' ' | b'\t' => {}
                    b if is_tchar(b) => {}
                    _ => return Err(ChunkError::InvalidExtension),
                }
            }
            State::ExtensionQuoted { escaped } => {
                self.bump_line()?;
                if escaped {
                    if !is_quoted_pair_char(byte) {
                        return Err(ChunkError::InvalidExtension);
                    }
                    self.state = State::ExtensionQuoted { escaped: false };
                } else {
                    match byte {
                        b'"' => self.state = State::Extension,
                        b'\\' => self.state = State::ExtensionQuoted { escaped: true },
                        b if is_qdtext(b) => {}
                        _ => return Err(ChunkError::InvalidExtension),
                    }
                }
            }
            State::SizeLf => {
                if byte != b'\n' {
                    return Err(ChunkError::InvalidSize);
                }
                self.line_len = 0;
                if self.chunk_size == 0 {
                    self.state = State::TrailerLineStart;
                } else {
                    self.remaining = self.chunk_size;
                    self.chunk_size = 0;
                    self.state = State::Data;
                }
            }
            State::DataCr => {
                if byte != b'\r' {
                    return Err(ChunkError::MissingDataCrlf);
                }
                self.state = State::DataLf;
            }
            State::DataLf => {
                if byte != b'\n' {
                    return Err(ChunkError::MissingDataCrlf);
                }
                self.state = State::Size { digits: 0 };
            }
            State::TrailerLineStart => match byte {
                b'\r' => self.state = State::FinalLf,
                b if is_tchar(b) => {
                    self.bump_trailer()?;
                    self.line_has_colon = false;
                    self.state = State::TrailerLine;
                }
                _ => return Err(ChunkError::InvalidTrailer),
            },
            State::TrailerLine => {
                self.bump_trailer()?;
                match byte {
                    b'\r' => {
                        if !self.line_has_colon {
                            return Err(ChunkError::InvalidTrailer);
                        }
                        self.state = State::TrailerLf;
                    }
                    b':' => self.line_has_colon = true,
                    // The field name is a token: `A b: c` is not a field line.
                    b if !self.line_has_colon && !is_tchar(b) => {
                        return Err(ChunkError::InvalidTrailer)
                    }
                    b'\t' => {}
                    b if b < 0x20 || b == 0x7f => return Err(ChunkError::InvalidTrailer),
                    _ => {}
                }
            }
            State::TrailerLf => {
                self.bump_trailer()?;
                if byte != b'\n' {
                    return Err(ChunkError::InvalidTrailer);
                }
                self.state = State::TrailerLineStart;
            }
            State::FinalLf => {
                if byte != b'\n' {
                    return Err(ChunkError::InvalidTrailer);
                }
                self.state = State::Done;
            }
            // `step` consumes data runs in bulk and stops at Done, so neither reaches here.
            State::Data | State::Done => {}
        }
        Ok(())
    }

    fn bump_line(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        if self.line_len > MAX_SIZE_LINE {
            return Err(ChunkError::SizeLineTooLong);
        }
        Ok(())
    }

    fn bump_trailer(&mut self) -> Result<(), ChunkError> {
        self.trailer_len += 1;
        if self.trailer_len > self.max_trailer {
            return Err(ChunkError::TrailerTooLarge);
        }
        Ok(())
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// RFC 9110 tchar.
pub fn is_tchar(byte: u8) -> bool {
    matches!(byte,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

fn is_qdtext(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

fn is_quoted_pair_char(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scan_all(input: &[u8]) -> Result<usize, ChunkError> {
        let mut scanner = ChunkedScanner::new(1024);
        let n = scanner.scan(input)?;
        assert!(scanner.is_done(), "not done after {n} bytes");
        Ok(n)
    }

    /// Feeds `input` split at every possible point; all splits must agree with the whole.
    fn scan_split(input: &[u8]) -> Result<usize, ChunkError> {
        let whole = {
            let mut scanner = ChunkedScanner::new(1024);
            scanner.scan(input).map(|n| (n, scanner.is_done()))
        };
        for split in 0..=input.len() {
            let mut scanner = ChunkedScanner::new(1024);
            let parts = [&input[..split], &input[split..]];
            let mut total = 0;
            let mut result = Ok(());
            for part in parts {
                match scanner.scan(part) {
                    Ok(n) => total += n,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
                if scanner.is_done() {
                    break;
                }
            }
            match (&whole, result) {
                (Ok((n, done)), Ok(())) => {
                    assert_eq!((total, scanner.is_done()), (*n, *done), "split at {split}")
                }
                (Err(a), Err(b)) => assert_eq!(*a, b, "split at {split}"),
                (w, r) => panic!("split at {split}: whole {w:?} vs split {r:?}"),
            }
        }
        whole.map(|(n, _)| n)
    }

    #[test]
    fn valid_bodies_end_where_expected() {
        let cases: &[&[u8]] = &[
            b"0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\r\n",
            b"5;ext=1\r\nhello\r\n0\r\n\r\n",
            b"5 ; name=\"quoted \\\" value\"\r\nhello\r\n0\r\n\r\n",
            b"A\r\n0123456789\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n",
            b"000005\r\nhello\r\n0000\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(
                scan_split(case).unwrap(),
                case.len(),
                "{}",
                String::from_utf8_lossy(case)
            );
            assert_eq!(scan_all(case).unwrap(), case.len());
        }
    }

    #[test]
    fn stops_at_message_end_leaving_pipelined_bytes() {
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let mut scanner = ChunkedScanner::new(1024);
        assert_eq!(scanner.scan(input).unwrap(), 13);
        assert!(scanner.is_done());
    }

    #[test]
    fn rejects_ambiguous_encodings() {
        let cases: &[(&[u8], ChunkError)] = &[
            (b"\r\n", ChunkError::InvalidSize),
            (b"g\r\n", ChunkError::InvalidSize),
            (b"-5\r\n", ChunkError::InvalidSize),
            (b"0x5\r\n", ChunkError::InvalidSize),
            (b"5\nhello\r\n", ChunkError::InvalidSize),
            (b"5;a\nb\r\n", ChunkError::InvalidExtension),
            (b"5;\x00\r\n", ChunkError::InvalidExtension),
            (b"5\r\nhelloX\r\n", ChunkError::MissingDataCrlf),
            (b"5\r\nhello\rX", ChunkError::MissingDataCrlf),
            (b"5\r\nhello\n", ChunkError::MissingDataCrlf),
            (b"11111111111111111\r\n", ChunkError::InvalidSize),
            (b"0\r\nbad trailer\r\n\r\n", ChunkError::InvalidTrailer),
            (b"0\r\n: x\r\n\r\n", ChunkError::InvalidTrailer),
            (b"0\r\nA b: c\r\n\r\n", ChunkError::InvalidTrailer),
            (b"0\r\nA\t: c\r\n\r\n", ChunkError::InvalidTrailer),
            (b"0\r\nA: b\nC: d\r\n\r\n", ChunkError::InvalidTrailer),
            (b"0\r\n\n", ChunkError::InvalidTrailer),
            (b"0\r\nA: \x01\r\n\r\n", ChunkError::InvalidTrailer),
        ];
        for (input, expected) in cases {
            assert_eq!(
                scan_split(input),
                Err(*expected),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn huge_chunk_size_is_accepted_but_needs_its_data() {
        let mut scanner = ChunkedScanner::new(1024);
        let input = b"FFFFFFFFFFFFFFFF\r\nabc";
        assert_eq!(scanner.scan(input).unwrap(), input.len());
        assert!(!scanner.is_done());
    }

    #[test]
    fn trailer_limit_is_enforced() {
        let mut scanner = ChunkedScanner::new(8);
        assert_eq!(
            scanner.scan(b"0\r\nX-Long: 123456\r\n\r\n"),
            Err(ChunkError::TrailerTooLarge)
        );
    }

    #[test]
    fn step_reports_payload_ranges() {
        let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let mut scanner = ChunkedScanner::new(64);
        let mut payload = Vec::new();
        let mut pos = 0;
        while !scanner.is_done() {
            let step = scanner.step(&input[pos..]).unwrap();
            if let Some(range) = step.data {
                payload.extend_from_slice(&input[pos + range.start..pos + range.end]);
            }
            pos += step.consumed;
        }
        assert_eq!(payload, b"abcde");
        assert_eq!(pos, input.len());
    }
}
