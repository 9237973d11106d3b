//! Chunked bodies from arbitrary bytes, against `ChunkedScanner`:
//!
//! 1. Split independence: the body fed in up to eight pieces (split points from the input)
//!    gives the same consumed count, done flag, or error kind as the body fed at once, and
//!    `step()` yields the same payload either way.
//! 2. Against a slow reference decoder written here from the grammar, whole-buffer and
//!    recursive-descent instead of a byte state machine. In its `Sluice` mode it follows the
//!    documented dialect (RFC 9112 section 7.1 plus: up to 16 size digits, size line up to
//!    4096 bytes, extensions = any run of BWS / `;` / `=` / token / quoted-string, trailer
//!    lines = a token, `:`, then non-CTL bytes, section limited to
//!    `max_trailer`); scanner and reference must agree exactly on complete / incomplete /
//!    invalid, message length and payload.
//!    In its `Strict` mode it is the RFC 9112 grammar itself (`chunk-ext = *( BWS ";" BWS
//!    name [ BWS "=" BWS value ] )`, trailer `field-name ":" OWS field-value OWS`): every
//!    body valid under it must be accepted by the scanner with the same length and payload.
//!    The converse (scanner accepts, strict grammar refuses) is Sluice's documented leniency
//!    and is only asserted when `SLUICE_FUZZ_STRICT_CHUNKED=1` is set.
//!
//! Input layout: byte 0 = number of split points (low 3 bits) and trailer limit (bits 3-4:
//! 0, 8, 64, 1024 bytes), then 2 bytes (big-endian, modulo the body length + 1) per split
//! point, then the body.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run chunked_decode -- -max_total_time=120` (from fuzz/).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sluice_engine::http::chunked::{is_tchar, ChunkError, ChunkedScanner};

const MAX_SIZE_DIGITS: usize = 16;
const MAX_SIZE_LINE: usize = 4096;

/// What a whole run of the scanner says about a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scan {
    /// The message ends after this many bytes.
    Done {
        len: usize,
        payload: Vec<u8>,
    },
    /// Everything given is a valid beginning; more is needed.
    Incomplete {
        payload: Vec<u8>,
    },
    Invalid(ChunkError),
}

fn scanner_whole(input: &[u8], max_trailer: usize) -> Scan {
    scanner_split(input, &[], max_trailer)
}

/// Feeds `input` in pieces cut at `splits` (sorted), collecting payload with `step()`.
fn scanner_split(input: &[u8], splits: &[usize], max_trailer: usize) -> Scan {
    let mut scanner = ChunkedScanner::new(max_trailer);
    let mut payload = Vec::new();
    let mut bounds: Vec<usize> = splits.to_vec();
    bounds.push(input.len());
    let mut start = 0;
    let mut total = 0;
    for &end in &bounds {
        let piece = &input[start..end];
        start = end;
        let mut pos = 0;
        while pos < piece.len() && !scanner.is_done() {
            match scanner.step(&piece[pos..]) {
                Ok(step) => {
                    assert!(step.consumed > 0, "step consumed nothing while not done");
                    assert!(
                        step.consumed <= piece.len() - pos,
                        "step consumed past its input"
                    );
                    if let Some(range) = step.data {
                        assert!(range.end <= step.consumed && range.start <= range.end);
                        assert_eq!(range.end, step.consumed, "payload not at the end of a step");
                        payload.extend_from_slice(&piece[pos + range.start..pos + range.end]);
                    }
                    pos += step.consumed;
                }
                Err(e) => return Scan::Invalid(e),
            }
        }
        total += pos;
        if scanner.is_done() {
            return Scan::Done {
                len: total,
                payload,
            };
        }
    }
    Scan::Incomplete { payload }
}

/// `scan()` on the same pieces, which must agree with the `step()` loop.
fn scan_api(
    input: &[u8],
    splits: &[usize],
    max_trailer: usize,
) -> Result<(usize, bool), ChunkError> {
    let mut scanner = ChunkedScanner::new(max_trailer);
    let mut bounds: Vec<usize> = splits.to_vec();
    bounds.push(input.len());
    let mut start = 0;
    let mut total = 0;
    for &end in &bounds {
        total += scanner.scan(&input[start..end])?;
        start = end;
        if scanner.is_done() {
            break;
        }
    }
    // Once done, further input is left alone.
    if scanner.is_done() {
        assert_eq!(
            scanner.scan(b"0\r\n\r\n")?,
            0,
            "consumed input after the end"
        );
    }
    Ok((total, scanner.is_done()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sluice,
    Strict,
}

/// The reference decoder's answer (errors without a kind: the grammar does not rank them).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reference {
    Done { len: usize, payload: Vec<u8> },
    Incomplete { payload: Vec<u8> },
    Invalid,
}

/// Why parsing stopped early.
enum Stop {
    /// Ran out of input with everything so far valid.
    Eof,
    Invalid,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    mode: Mode,
    max_trailer: usize,
    payload: Vec<u8>,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

fn is_vchar_or_obs(b: u8) -> bool {
    matches!(b, 0x21..=0x7e | 0x80..=0xff)
}

impl Decoder<'_> {
    fn peek(&self) -> Result<u8, Stop> {
        self.input.get(self.pos).copied().ok_or(Stop::Eof)
    }

    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        if self.peek()? != byte {
            return Err(Stop::Invalid);
        }
        self.pos += 1;
        Ok(())
    }

    fn body(&mut self) -> Result<(), Stop> {
        loop {
            let line_start = self.pos;
            let size = self.chunk_size()?;
            self.chunk_ext(line_start)?;
            self.expect(b'\r')?;
            self.expect(b'\n')?;
            if size == 0 {
                break;
            }
            // chunk-data: `size` octets, compared without ever allocating `size` bytes.
            let available = (self.input.len() - self.pos) as u64;
            if available < size {
                self.payload.extend_from_slice(&self.input[self.pos..]);
                self.pos = self.input.len();
                return Err(Stop::Eof);
            }
            let end = self.pos + size as usize;
            self.payload.extend_from_slice(&self.input[self.pos..end]);
            self.pos = end;
            self.expect(b'\r')?;
            self.expect(b'\n')?;
        }
        self.trailer_section()?;
        self.expect(b'\r')?;
        self.expect(b'\n')
    }

    /// `1*HEXDIG`, at most 16 digits (leading zeros count).
    fn chunk_size(&mut self) -> Result<u64, Stop> {
        let start = self.pos;
        let mut size = 0u64;
        loop {
            let b = self.peek()?;
            if !is_hex(b) {
                break;
            }
            if self.pos - start == MAX_SIZE_DIGITS {
                return Err(Stop::Invalid);
            }
            size = (size << 4) | u64::from((b as char).to_digit(16).unwrap_or(0));
            self.pos += 1;
        }
        if self.pos == start {
            return Err(Stop::Invalid);
        }
        Ok(size)
    }

    /// Everything between the size and the CR.
    fn chunk_ext(&mut self, line_start: usize) -> Result<(), Stop> {
        let digits_end = self.pos;
        let result = match self.mode {
            Mode::Sluice => self.ext_sluice(),
            Mode::Strict => self.ext_strict(),
        };
        // The size line limit: the line through its CR, when it has anything after the size.
        let limit_end = match result {
            Ok(()) => self.pos + 1,
            Err(_) => self.pos,
        };
        if self.pos > digits_end && limit_end - line_start > MAX_SIZE_LINE {
            return Err(Stop::Invalid);
        }
        result
    }

    fn ext_sluice(&mut self) -> Result<(), Stop> {
        let first = self.peek()?;
        if first == b'\r' {
            return Ok(());
        }
        if !matches!(first, b';' | b' ' | b'\t') {
            return Err(Stop::Invalid);
        }
        loop {
            let b = self.peek()?;
            match b {
                b'\r' => return Ok(()),
                b'"' => self.quoted_string()?,
                b';' | b'=' | b' ' | b'\t' => self.pos += 1,
                b if is_tchar(b) => self.pos += 1,
                _ => return Err(Stop::Invalid),
            }
        }
    }

    fn bws(&mut self) -> Result<(), Stop> {
        while matches!(self.peek()?, b' ' | b'\t') {
            self.pos += 1;
        }
        Ok(())
    }

    fn token(&mut self) -> Result<(), Stop> {
        let start = self.pos;
        while is_tchar(self.peek()?) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(Stop::Invalid);
        }
        Ok(())
    }

    /// `*( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`
    fn ext_strict(&mut self) -> Result<(), Stop> {
        loop {
            self.bws()?;
            match self.peek()? {
                b'\r' => {
                    // BWS only ever precedes `;` or `=`: trailing whitespace is not allowed.
                    let b = self.input[self.pos - 1];
                    return if matches!(b, b' ' | b'\t') {
                        Err(Stop::Invalid)
                    } else {
                        Ok(())
                    };
                }
                b';' => self.pos += 1,
                _ => return Err(Stop::Invalid),
            }
            self.bws()?;
            self.token()?;
            let save = self.pos;
            self.bws()?;
            if self.peek()? == b'=' {
                self.pos += 1;
                self.bws()?;
                if self.peek()? == b'"' {
                    self.quoted_string()?;
                } else {
                    self.token()?;
                }
            } else {
                self.pos = save;
            }
        }
    }

    fn quoted_string(&mut self) -> Result<(), Stop> {
        self.expect(b'"')?;
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'"' => return Ok(()),
                b'\\' => {
                    let escaped = self.peek()?;
                    if !matches!(escaped, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff) {
                        return Err(Stop::Invalid);
                    }
                    self.pos += 1;
                }
                b if is_qdtext(b) => {}
                _ => return Err(Stop::Invalid),
            }
        }
    }

    /// `*( field-line CRLF )`, up to (not including) the final CRLF; counted against
    /// `max_trailer` byte by byte, so an oversized section is refused as soon as it is.
    fn trailer_section(&mut self) -> Result<(), Stop> {
        let start = self.pos;
        loop {
            if self.peek()? == b'\r' {
                return Ok(());
            }
            let line_start = self.pos;
            let result = match self.mode {
                Mode::Sluice => self.field_line_sluice(),
                Mode::Strict => self.field_line_strict(),
            }
            .and_then(|()| {
                self.expect(b'\r')?;
                self.expect(b'\n')
            });
            // Bytes examined so far, including the one that failed; all count, and the limit
            // wins when it is crossed at or before the failing byte.
            let examined = match &result {
                Err(Stop::Invalid) => self.pos + 1,
                _ => self.pos,
            };
            if examined - start > self.max_trailer {
                return Err(Stop::Invalid);
            }
            result?;
            debug_assert!(self.pos > line_start);
        }
    }

    fn field_line_sluice(&mut self) -> Result<(), Stop> {
        if !is_tchar(self.peek()?) {
            return Err(Stop::Invalid);
        }
        self.pos += 1;
        let mut colon = false;
        loop {
            match self.peek()? {
                b'\r' => return if colon { Ok(()) } else { Err(Stop::Invalid) },
                b':' => colon = true,
                b if !colon && !is_tchar(b) => return Err(Stop::Invalid),
                b'\t' => {}
                b if b < 0x20 || b == 0x7f => return Err(Stop::Invalid),
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// `field-name ":" OWS field-value OWS`
    fn field_line_strict(&mut self) -> Result<(), Stop> {
        self.token()?;
        self.expect(b':')?;
        loop {
            match self.peek()? {
                b'\r' => return Ok(()),
                b' ' | b'\t' => {}
                b if is_vchar_or_obs(b) => {}
                _ => return Err(Stop::Invalid),
            }
            self.pos += 1;
        }
    }
}

fn reference(input: &[u8], mode: Mode, max_trailer: usize) -> Reference {
    let mut decoder = Decoder {
        input,
        pos: 0,
        mode,
        max_trailer,
        payload: Vec::new(),
    };
    match decoder.body() {
        Ok(()) => Reference::Done {
            len: decoder.pos,
            payload: decoder.payload,
        },
        Err(Stop::Eof) => Reference::Incomplete {
            payload: decoder.payload,
        },
        Err(Stop::Invalid) => Reference::Invalid,
    }
}

fn as_reference(scan: &Scan) -> Reference {
    match scan {
        Scan::Done { len, payload } => Reference::Done {
            len: *len,
            payload: payload.clone(),
        },
        Scan::Incomplete { payload } => Reference::Incomplete {
            payload: payload.clone(),
        },
        Scan::Invalid(_) => Reference::Invalid,
    }
}

fn strict_both_ways() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("SLUICE_FUZZ_STRICT_CHUNKED").is_some_and(|v| v == "1"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(control & 7);
    let max_trailer = [0, 8, 64, 1024][usize::from((control >> 3) & 3)];
    let Some(body) = rest.get(2 * count..) else {
        return;
    };
    let mut splits: Vec<usize> = rest[..2 * count]
        .chunks(2)
        .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])) % (body.len() + 1))
        .collect();
    splits.sort_unstable();

    let whole = scanner_whole(body, max_trailer);
    let split = scanner_split(body, &splits, max_trailer);
    assert_eq!(split, whole, "split at {splits:?} differs from the whole");

    let expected = match &whole {
        Scan::Done { len, .. } => Ok((*len, true)),
        Scan::Incomplete { .. } => Ok((body.len(), false)),
        Scan::Invalid(e) => Err(*e),
    };
    assert_eq!(
        scan_api(body, &[], max_trailer),
        expected,
        "scan() differs from step()"
    );
    assert_eq!(
        scan_api(body, &splits, max_trailer),
        expected,
        "split scan() differs"
    );
    if let Scan::Done { len, .. } = &whole {
        // The message alone is the same message.
        assert_eq!(scanner_whole(&body[..*len], max_trailer), whole);
    }

    let sluice = reference(body, Mode::Sluice, max_trailer);
    assert_eq!(
        as_reference(&whole),
        sluice,
        "scanner and reference decoder disagree"
    );

    let strict = reference(body, Mode::Strict, max_trailer);
    match (&strict, &whole) {
        (Reference::Done { .. }, _) => {
            assert_eq!(
                as_reference(&whole),
                strict,
                "a strictly valid body is not accepted as such"
            )
        }
        (Reference::Invalid, Scan::Done { .. }) if strict_both_ways() => {
            panic!("accepted a body the RFC 9112 grammar refuses")
        }
        _ => {}
    }
});
