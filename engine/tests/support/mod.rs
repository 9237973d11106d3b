//! Shared helpers for the `sluice` integration tests:
//!
//! * [`Gateway`]: the real `sluice` binary started on port 0 with a temporary config file.
//! * [`Upstream`]: a blocking std::net upstream server whose behaviour each test scripts with a
//!   handler; it records every complete request it received and counts connections.
//! * [`RedisServer`]: a real `redis-server` on a free loopback port (installed with apt-get on
//!   first use when it is missing and the tests run as root, so `cargo test` sets up a fresh
//!   machine by itself).
//! * [`Client`]: a raw HTTP/1.1 client over one TCP connection (pipelining, keepalive, framing
//!   edge cases), reading responses with httparse.
//!
//! Every blocking operation has a timeout so that a hanging gateway fails a test instead of
//! blocking the suite forever.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Header or trailer fields as (name, value) pairs.
type Headers = Vec<(String, String)>;

/// Bound on any single socket read or write in the tests.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the gateway announcing its listeners, a reload, or an exit.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A unique path in the system temp directory.
pub fn temp_path(stem: &str, ext: &str) -> PathBuf {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "sluice-test-{}-{stem}-{n}.{ext}",
        std::process::id()
    ))
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// 64-bit FNV-1a over `bytes`: a cheap checksum for comparing large bodies.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `len` pseudo-random bytes (xorshift), different for each `seed`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Encodes `body` as a chunked message body with chunks of `chunk` bytes (and the last-chunk).
pub fn chunk_encode(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / chunk.max(1) * 12 + 16);
    for piece in body.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn header_lookup<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn header_lookup_all<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Gateway process
// ---------------------------------------------------------------------------------------------

/// What a SIGHUP led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// `sluice: configuration reloaded (generation N)`
    Reloaded(u64),
    /// `sluice: reload rejected (K problems)`
    Rejected(usize),
}

/// A running `sluice start` process. Dropping it kills the process.
pub struct Gateway {
    child: Child,
    pub pid: u32,
    pub proxy_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    config_path: Option<PathBuf>,
    lines: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
    exited: Option<ExitStatus>,
}

/// The path of the `sluice` binary under test.
pub fn sluice_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// `SLUICE_*` variables the tests pass through to the gateway: CI runs the whole suite once
/// more with `SLUICE_IO_DRIVER=legacy` (see `.ci/run`) to cover the epoll driver.
pub const PASSED_THROUGH_ENV: &[&str] = &["SLUICE_IO_DRIVER"];

/// A `sluice` command with no `SLUICE_*` variables inherited from the environment (a
/// developer's settings must not change what the tests see), except [`PASSED_THROUGH_ENV`].
pub fn sluice_command() -> Command {
    let mut cmd = Command::new(sluice_bin());
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("SLUICE_") && !PASSED_THROUGH_ENV.contains(&name.as_ref()) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// `text` without ANSI escape sequences (the gateway's log may be coloured).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC '[' parameters, ending with a byte in '@'..='~'.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Runs `sluice check --config <file with yaml>` and returns its output.
pub fn sluice_check(yaml: &str) -> Output {
    let path = temp_path("check", "yml");
    std::fs::write(&path, yaml).expect("write config");
    let mut cmd = sluice_command();
    cmd.arg("check")
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::null());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice check");
    let output = wait_output(child, PROCESS_TIMEOUT);
    let _ = std::fs::remove_file(&path);
    output
}

pub fn wait_output(mut child: Child, timeout: Duration) -> Output {
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sluice did not exit within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn has_flag(args: &[&str], flag: &str) -> bool {
    args.iter()
        .any(|a| *a == flag || a.starts_with(&format!("{flag}=")))
}

impl Gateway {
    /// Writes `yaml` to a temporary config file and starts `sluice start --config FILE` with
    /// `args`. Listeners default to `127.0.0.1:0` and workers to 1 unless `args` say otherwise.
    pub fn start(yaml: &str, args: &[&str]) -> Gateway {
        let path = temp_path("config", "yml");
        std::fs::write(&path, yaml).expect("write config");
        Gateway::spawn(Some(path), args)
    }

    /// Starts the gateway with its embedded default configuration (no `--config`).
    pub fn start_default(args: &[&str]) -> Gateway {
        Gateway::spawn(None, args)
    }

    fn spawn(config_path: Option<PathBuf>, args: &[&str]) -> Gateway {
        let mut cmd = sluice_command();
        cmd.arg("start");
        if let Some(path) = &config_path {
            cmd.arg("--config").arg(path);
        }
        if !has_flag(args, "--proxy-listen") {
            cmd.args(["--proxy-listen", "127.0.0.1:0"]);
        }
        if !has_flag(args, "--admin-listen") {
            cmd.args(["--admin-listen", "127.0.0.1:0"]);
        }
        if !has_flag(args, "--workers") {
            cmd.args(["--workers", "1"]);
        }
        cmd.args(args);
        cmd.env(
            "SLUICE_LOG",
            std::env::var("TEST_SLUICE_LOG").unwrap_or_else(|_| "info".to_owned()),
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sluice");
        let pid = child.id();

        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut stderr_pipe = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stderr_pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });

        let mut gateway = Gateway {
            child,
            pid,
            proxy_addr: "0.0.0.0:0".parse().unwrap(),
            admin_addr: "0.0.0.0:0".parse().unwrap(),
            config_path,
            lines,
            stdout_seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            exited: None,
        };
        let mut proxy = None;
        let mut admin = None;
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        while proxy.is_none() || admin.is_none() {
            let line = gateway.next_line(deadline, "its listening lines");
            if let Some(addr) = line.strip_prefix("sluice: proxy listening on ") {
                proxy = Some(addr.trim().parse().expect("proxy address"));
            } else if let Some(addr) = line.strip_prefix("sluice: admin listening on ") {
                admin = Some(addr.trim().parse().expect("admin address"));
            }
        }
        gateway.proxy_addr = proxy.unwrap();
        gateway.admin_addr = admin.unwrap();
        gateway
    }

    /// The next stdout line; panics (with stderr) if the process exits or the deadline passes.
    fn next_line(&mut self, deadline: Instant, waiting_for: &str) -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.stdout_seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "sluice (pid {}) did not print {waiting_for} in time\nstdout so far: {:?}\nstderr:\n{}",
                    self.pid,
                    self.stdout_seen,
                    self.stderr_text()
                );
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                self.exited = status;
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                panic!(
                    "sluice (pid {}) exited ({status:?}) before printing {waiting_for}\nstdout: {:?}\nstderr:\n{}",
                    self.pid,
                    self.stdout_seen,
                    self.stderr_text()
                );
            }
        }
    }

    /// Everything the process wrote to stderr so far (its log).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The io driver the gateway reports in its `sluice started` log line (`Auto`, `IoUring`
    /// or `Legacy`); panics if the line does not appear within `PROCESS_TIMEOUT`.
    pub fn started_driver(&self) -> String {
        let mut found = None;
        wait_until(PROCESS_TIMEOUT, || {
            let log = strip_ansi(&self.stderr_text());
            found = log
                .lines()
                .find(|l| l.contains("sluice started"))
                .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("driver=")))
                .map(str::to_owned);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no `sluice started ... driver=` line in the log:\n{}",
                self.stderr_text()
            )
        })
    }

    /// Lines the process printed on stdout so far.
    pub fn stdout_lines(&self) -> &[String] {
        &self.stdout_seen
    }

    pub fn config_path(&self) -> &PathBuf {
        self.config_path
            .as_ref()
            .expect("gateway started with --config")
    }

    /// Replaces the config file's contents (takes effect on the next [`Gateway::reload`]).
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(self.config_path(), yaml).expect("rewrite config");
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...) with the `kill` utility.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(
            status.success(),
            "kill -{name} {} failed: {status}",
            self.pid
        );
    }

    /// SIGHUP, then waits for the reloaded / rejected line.
    pub fn reload(&mut self) -> Reload {
        self.signal("HUP");
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        loop {
            let line = self.next_line(deadline, "a reload result");
            if let Some(rest) = line.strip_prefix("sluice: configuration reloaded (generation ") {
                let n = rest
                    .trim_end_matches(')')
                    .parse()
                    .expect("generation number");
                return Reload::Reloaded(n);
            }
            if let Some(rest) = line.strip_prefix("sluice: reload rejected (") {
                let n = rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("problem count");
                return Reload::Rejected(n);
            }
        }
    }

    /// SIGTERM, then waits for the process to exit and returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(20))
    }

    /// Waits for the process to exit (panics after `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = Some(status);
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "sluice (pid {}) did not exit within {timeout:?}\nstderr:\n{}",
                    self.pid,
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// A new raw client connection to the proxy listener.
    pub fn client(&self) -> Client {
        Client::connect(self.proxy_addr)
    }

    /// One request on a fresh connection: `GET path` with `Host: host`.
    pub fn get(&self, path: &str, host: &str) -> Response {
        let mut client = self.client();
        client.request(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
    }

    /// `GET path` on the admin listener.
    pub fn admin_get(&self, path: &str) -> Response {
        let mut client = Client::connect(self.admin_addr);
        client.request(
            format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(path) = &self.config_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Buffered socket shared by the client and the upstream
// ---------------------------------------------------------------------------------------------

/// A TCP stream with a read buffer and the HTTP/1 framing readers both sides need.
pub struct Wire {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl Wire {
    pub fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
        }
    }

    /// Bytes received and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads once more from the socket; `Ok(0)` is end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos >= 256 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn take_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.buffered().is_empty() && self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended after {} of {n} body bytes", out.len()),
                ));
            }
            let take = (n - out.len()).min(self.buffered().len());
            out.extend_from_slice(&self.buffered()[..take]);
            self.consume(take);
        }
        Ok(out)
    }

    /// One CRLF-terminated line, without the CRLF.
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                let line = self.buffered()[..i].to_vec();
                self.consume(i + 2);
                return Ok(line);
            }
            if self.buffered().len() > 64 * 1024 {
                return Err(invalid("line longer than 64 KiB"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended inside a line",
                ));
            }
        }
    }

    /// Decodes a chunked body: (payload, trailer fields).
    fn read_chunked(&mut self) -> io::Result<(Vec<u8>, Headers)> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let text = String::from_utf8_lossy(&line).into_owned();
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size line {text:?}")))?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&self.take_exact(size)?);
            if self.take_exact(2)? != b"\r\n" {
                return Err(invalid("missing CRLF after chunk data"));
            }
        }
        let mut trailers = Vec::new();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            let (name, value) = text
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad trailer line {text:?}")))?;
            trailers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Ok((body, trailers))
    }

    fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut out = self.buffered().to_vec();
        self.buf.clear();
        self.pos = 0;
        loop {
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{e} after {} bytes: {:?}", out.len(), lossy_prefix(&out)),
                    ))
                }
            }
        }
    }

    /// Reads a response head. `Ok(None)`: the stream ended before any byte.
    fn read_response_head(&mut self) -> io::Result<Option<Response>> {
        loop {
            if !self.buffered().is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; 256];
                let mut parsed = httparse::Response::new(&mut headers);
                match parsed.parse(self.buffered()) {
                    Ok(httparse::Status::Complete(n)) => {
                        let response = Response {
                            version: parsed.version.unwrap_or(1),
                            status: parsed.code.unwrap_or(0),
                            reason: parsed.reason.unwrap_or("").to_owned(),
                            headers: owned_headers(parsed.headers),
                            head: String::from_utf8_lossy(&self.buffered()[..n]).into_owned(),
                            body: Vec::new(),
                            trailers: Vec::new(),
                            framing: Framing::None,
                        };
                        self.consume(n);
                        return Ok(Some(response));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => {
                        return Err(invalid(format!(
                            "unparsable response head ({e}): {:?}",
                            lossy_prefix(self.buffered())
                        )))
                    }
                }
            }
            if self.fill()? == 0 {
                if self.buffered().is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "stream ended inside a response head: {:?}",
                        lossy_prefix(self.buffered())
                    ),
                ));
            }
        }
    }
}

fn lossy_prefix(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(600)]).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Raw client
// ---------------------------------------------------------------------------------------------

/// How a response body was delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub version: u8,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// The raw head as received (for diagnostics and exact checks).
    pub head: String,
    /// The body, de-chunked when it was chunked.
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub framing: Framing,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_lookup(&self.headers, name)
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        header_lookup_all(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}\n{}", self.text(), self.head))
    }

    /// `Connection: close` among the response's Connection tokens.
    pub fn says_close(&self) -> bool {
        self.header_all("connection")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// One client TCP connection to the gateway.
pub struct Client {
    wire: Wire,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let _ = stream.set_nodelay(true);
        Client {
            wire: Wire::new(stream),
        }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.wire.stream.set_read_timeout(Some(timeout)).unwrap();
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.wire.stream.local_addr().unwrap()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.wire
            .stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("client write failed: {e}"));
    }

    /// Like [`Client::send`] but returns the error (the gateway may close while we write).
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wire.stream.write_all(bytes)
    }

    /// Reads one response (to a non-HEAD request). `Ok(None)`: closed before any byte.
    pub fn try_read_response(&mut self, head_request: bool) -> io::Result<Option<Response>> {
        let Some(mut response) = self.wire.read_response_head()? else {
            return Ok(None);
        };
        let bodyless = head_request
            || (100..200).contains(&response.status)
            || response.status == 204
            || response.status == 304;
        let chunked = response.header("transfer-encoding").is_some_and(|v| {
            v.rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
        });
        if bodyless {
            response.framing = Framing::None;
        } else if chunked {
            let (body, trailers) = self.wire.read_chunked()?;
            response.body = body;
            response.trailers = trailers;
            response.framing = Framing::Chunked;
        } else if let Some(length) = response.header("content-length") {
            let n: usize = length
                .trim()
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
            response.body = self.wire.take_exact(n)?;
            response.framing = Framing::Length(n);
        } else {
            response.body = self.wire.read_to_end()?;
            response.framing = Framing::UntilClose;
        }
        Ok(Some(response))
    }

    /// Reads one response; panics if the connection ends first or times out.
    pub fn read_response(&mut self) -> Response {
        match self.try_read_response(false) {
            Ok(Some(response)) => response,
            Ok(None) => panic!("connection closed without a response"),
            Err(e) => panic!("reading a response failed: {e}"),
        }
    }

    /// Reads the response to a HEAD request (never a body).
    pub fn read_head_response(&mut self) -> Response {
        match self.try_read_response(true) {
            Ok(Some(response)) => response,
            Ok(None) => panic!("connection closed without a response"),
            Err(e) => panic!("reading a response failed: {e}"),
        }
    }

    /// Sends `raw` and reads one response.
    pub fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw);
        self.read_response()
    }

    /// The bytes available now: buffered ones, else one read (panics on EOF or timeout).
    pub fn read_some(&mut self) -> Vec<u8> {
        if self.wire.buffered().is_empty() {
            let n = self
                .wire
                .fill()
                .unwrap_or_else(|e| panic!("read failed: {e}"));
            assert!(n > 0, "connection closed");
        }
        let bytes = self.wire.buffered().to_vec();
        self.wire.consume(bytes.len());
        bytes
    }

    /// Reads everything until the peer closes (panics on timeout).
    pub fn read_to_close(&mut self) -> Vec<u8> {
        self.wire
            .read_to_end()
            .unwrap_or_else(|e| panic!("read_to_close: {e}"))
    }

    /// Asserts the gateway closes the connection next, without sending anything more.
    pub fn assert_closed(&mut self) {
        let leftover = self.wire.buffered().to_vec();
        assert!(
            leftover.is_empty(),
            "unexpected bytes before close: {:?}",
            lossy_prefix(&leftover)
        );
        let mut byte = [0u8; 1024];
        match self.wire.stream.read(&mut byte) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected the connection to be closed, got {n} more bytes: {:?}",
                lossy_prefix(&byte[..n])
            ),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "expected the connection to be closed, but it stayed open for {IO_TIMEOUT:?}"
                )
            }
            Err(e) => panic!("expected a clean close, got {e}"),
        }
    }

    /// Whether the connection is still open after `wait` (nothing arrives, no EOF).
    pub fn is_open_after(&mut self, wait: Duration) -> bool {
        self.wire.stream.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        let open = match self.wire.stream.peek(&mut byte) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(_) => false,
        };
        self.wire.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        open
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted upstream server
// ---------------------------------------------------------------------------------------------

/// A complete request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Index of the connection it arrived on (0 = first accepted).
    pub conn: usize,
    /// Index of the request on that connection.
    pub seq: usize,
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub version: u8,
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when it was chunked.
    pub body: Vec<u8>,
    pub chunked: bool,
    pub trailers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_lookup(&self.headers, name)
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        header_lookup_all(&self.headers, name)
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What the upstream does with a request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Writes these bytes and keeps the connection for the next request.
    Respond(Vec<u8>),
    /// Writes these bytes, then closes the connection.
    RespondClose(Vec<u8>),
    /// Closes without a response.
    Close,
    /// Resets the connection (RST) without a response.
    Reset,
    /// Waits, then does the inner action.
    Delay(Duration, Box<Action>),
    /// Writes bytes that are not HTTP, then closes.
    Garbage,
    /// Writes these bytes (e.g. a 101 head), then echoes every byte received until EOF.
    RespondThenEcho(Vec<u8>),
    /// Writes the first bytes, waits, writes the second (unsolicited) bytes, then closes.
    RespondThenLater(Vec<u8>, Duration, Vec<u8>),
    /// Writes these bytes (e.g. a head and part of its body), waits, then resets the
    /// connection (SO_LINGER 0 and close: a TCP RST, not a FIN).
    RespondThenReset(Vec<u8>, Duration),
}

/// A complete HTTP/1.1 response with `Content-Length` and the given extra headers.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A 200 with a text body.
pub fn ok(body: &str) -> Action {
    Action::Respond(response(
        200,
        &[("Content-Type", "text/plain")],
        body.as_bytes(),
    ))
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

type Handler = dyn Fn(&Request) -> Action + Send + Sync + 'static;

#[derive(Default)]
struct UpstreamState {
    requests: Mutex<Vec<Request>>,
    accepted: AtomicUsize,
    open: AtomicUsize,
    /// Connections that ended inside a request (head or body incomplete or malformed).
    incomplete: AtomicUsize,
    /// Indexes of the connections that have ended (closed by either side).
    closed: Mutex<Vec<usize>>,
}

/// A blocking upstream server on 127.0.0.1:0; one thread per connection.
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<UpstreamState>,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    pub fn start<F>(handler: F) -> Upstream
    where
        F: Fn(&Request) -> Action + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState::default());
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let conn = state.accepted.fetch_add(1, Ordering::AcqRel);
                    state.open.fetch_add(1, Ordering::AcqRel);
                    let state = Arc::clone(&state);
                    let handler = Arc::clone(&handler);
                    thread::spawn(move || {
                        serve_upstream_conn(stream, conn, &state, &*handler);
                        state.closed.lock().unwrap().push(conn);
                        state.open.fetch_sub(1, Ordering::AcqRel);
                    });
                }
            });
        }
        Upstream { addr, state, stop }
    }

    /// An upstream answering every request with 200 and `body`.
    pub fn fixed(body: &'static str) -> Upstream {
        Upstream::start(move |_| ok(body))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Complete requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::Acquire)
    }

    /// Connections currently open.
    pub fn open(&self) -> usize {
        self.state.open.load(Ordering::Acquire)
    }

    /// Connections that ended in the middle of a request.
    pub fn incomplete(&self) -> usize {
        self.state.incomplete.load(Ordering::Acquire)
    }

    /// Waits until at least `n` complete requests arrived (panics after `IO_TIMEOUT`).
    pub fn wait_requests(&self, n: usize) -> Vec<Request> {
        assert!(
            wait_until(IO_TIMEOUT, || self.request_count() >= n),
            "upstream received {} requests, expected {n}",
            self.request_count()
        );
        self.requests()
    }

    /// Whether connection `conn` (the index in [`Request::conn`]) has ended: the gateway
    /// closed or reset it, or the handler's action ended it.
    pub fn conn_closed(&self, conn: usize) -> bool {
        self.state.closed.lock().unwrap().contains(&conn)
    }

    /// Waits up to `timeout` for connection `conn` to end; returns whether it did.
    pub fn wait_conn_closed(&self, conn: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.conn_closed(conn))
    }

    /// Waits until every accepted connection has ended (panics after `IO_TIMEOUT`).
    pub fn wait_all_closed(&self) {
        assert!(
            wait_until(IO_TIMEOUT, || self.open() == 0),
            "{} upstream connections still open",
            self.open()
        );
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Reads a request. `Ok(None)`: the connection ended (or idled out) between requests.
fn read_request(wire: &mut Wire, conn: usize, seq: usize) -> io::Result<Option<Request>> {
    let (mut request, head_len) = loop {
        if !wire.buffered().is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 256];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(wire.buffered()) {
                Ok(httparse::Status::Complete(n)) => {
                    let request = Request {
                        conn,
                        seq,
                        method: parsed.method.unwrap_or("").to_owned(),
                        target: parsed.path.unwrap_or("").to_owned(),
                        version: parsed.version.unwrap_or(1),
                        headers: owned_headers(parsed.headers),
                        body: Vec::new(),
                        chunked: false,
                        trailers: Vec::new(),
                    };
                    break (request, n);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(invalid(format!("upstream got an unparsable head: {e}"))),
            }
        }
        match wire.fill() {
            Ok(0) if wire.buffered().is_empty() => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "ended inside a head",
                ))
            }
            Ok(_) => {}
            Err(_) if wire.buffered().is_empty() => return Ok(None),
            Err(e) => return Err(e),
        }
    };
    wire.consume(head_len);
    let chunked = request.header("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if chunked {
        let (body, trailers) = wire.read_chunked()?;
        request.body = body;
        request.trailers = trailers;
        request.chunked = true;
    } else if let Some(length) = request.header("content-length") {
        let n: usize = length
            .trim()
            .parse()
            .map_err(|_| invalid("bad Content-Length"))?;
        request.body = wire.take_exact(n)?;
    }
    Ok(Some(request))
}

fn serve_upstream_conn(stream: TcpStream, conn: usize, state: &UpstreamState, handler: &Handler) {
    // Pooled gateway connections idle here between requests; the gateway's own idle timeout
    // is longer than any test.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut wire = Wire::new(stream);
    let mut seq = 0;
    loop {
        let request = match read_request(&mut wire, conn, seq) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(_) => {
                state.incomplete.fetch_add(1, Ordering::AcqRel);
                return;
            }
        };
        seq += 1;
        state.requests.lock().unwrap().push(request.clone());
        if !perform(&mut wire.stream, handler(&request)) {
            return;
        }
    }
}

/// Carries out an action; `false` ends the connection.
fn perform(stream: &mut TcpStream, action: Action) -> bool {
    match action {
        Action::Respond(bytes) => stream
            .write_all(&bytes)
            .and_then(|()| stream.flush())
            .is_ok(),
        Action::RespondClose(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            false
        }
        Action::Close => false,
        Action::Reset => {
            let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
            false
        }
        Action::Delay(wait, inner) => {
            thread::sleep(wait);
            perform(stream, *inner)
        }
        Action::Garbage => {
            let _ = stream.write_all(b"this is not HTTP at all\r\n\r\n");
            false
        }
        Action::RespondThenReset(bytes, wait) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            thread::sleep(wait);
            let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
            false
        }
        Action::RespondThenLater(first, wait, later) => {
            let _ = stream.write_all(&first);
            thread::sleep(wait);
            let _ = stream.write_all(&later);
            false
        }
        Action::RespondThenEcho(bytes) => {
            if stream.write_all(&bytes).is_err() {
                return false;
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            return false;
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw upstream: records bytes, parses nothing
// ---------------------------------------------------------------------------------------------

/// A TCP server on 127.0.0.1:0 that never answers and records every byte it receives on any
/// connection. Unlike [`Upstream`], whose parser drops a malformed or partial request (so
/// `request_count() == 0` cannot tell "nothing forwarded" from "half a request forwarded"),
/// this proves that the gateway sent nothing at all.
pub struct RawUpstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl RawUpstream {
    pub fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw upstream");
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (accepted, received, stop) = (
                Arc::clone(&accepted),
                Arc::clone(&received),
                Arc::clone(&stop),
            );
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    accepted.fetch_add(1, Ordering::AcqRel);
                    let received = Arc::clone(&received);
                    thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => received.lock().unwrap().extend_from_slice(&buf[..n]),
                            }
                        }
                    });
                }
            });
        }
        RawUpstream {
            addr,
            accepted,
            received,
            stop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Acquire)
    }

    /// Every byte received so far, over all connections, in arrival order per read.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

// ---------------------------------------------------------------------------------------------
// Admin API helpers (engine/tests/admin.rs)
// ---------------------------------------------------------------------------------------------

impl Gateway {
    /// Starts `sluice start --config <link>` where `<link>` is a fresh symlink to `path`: the
    /// file itself outlives the gateway (dropping a gateway removes only the link), so a second
    /// gateway can be started on the same file.
    pub fn start_on_file(path: &std::path::Path, args: &[&str]) -> Gateway {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("yml")
            .to_owned();
        let link = temp_path("config-link", &ext);
        std::os::unix::fs::symlink(path, &link).expect("symlink config");
        Gateway::spawn(Some(link), args)
    }

    /// One request on a fresh admin connection; `body` is sent with `content_type`.
    pub fn admin_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Response {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut raw = head.into_bytes();
        if let Some((content_type, body)) = body {
            raw.extend_from_slice(
                format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            raw.extend_from_slice(body);
        } else {
            raw.extend_from_slice(b"\r\n");
        }
        let mut client = Client::connect(self.admin_addr);
        client.send(&raw);
        if method == "HEAD" {
            client.read_head_response()
        } else {
            client.read_response()
        }
    }

    /// An admin request with an optional JSON body.
    pub fn admin(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Response {
        let body = body.map(|b| b.to_string());
        self.admin_raw(
            method,
            path,
            &[],
            body.as_deref().map(|b| ("application/json", b.as_bytes())),
        )
    }
}

/// Helpers shared by the Admin API tests (`admin.rs`, `admin_reload.rs`).
pub mod admin_api {
    use super::{wait_until, Gateway, Response, Upstream};
    use serde_json::Value;
    use std::time::Duration;

    pub const EMPTY: &str = "_format_version: \"3.0\"\n";
    /// An accepted admin change must be serving within this long.
    pub const LIVE: Duration = Duration::from_secs(1);

    pub fn expect(r: &Response, status: u16) -> Value {
        assert_eq!(r.status, status, "{}\n{}", r.head, r.text());
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    pub fn is_uuid(v: &Value) -> bool {
        v.as_str().is_some_and(|s| {
            s.len() == 36
                && s.bytes().enumerate().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == b'-',
                    _ => c.is_ascii_hexdigit(),
                })
        })
    }

    pub fn generation(gw: &Gateway) -> u64 {
        gw.admin_get("/status").json()["configuration_generation"]
            .as_u64()
            .unwrap()
    }

    pub fn live(gw: &Gateway, path: &str, status: u16) -> bool {
        wait_until(LIVE, || gw.get(path, "example.test").status == status)
    }

    pub fn service_yaml(upstream: &Upstream, name: &str, path: &str) -> String {
        format!(
            "_format_version: \"3.0\"\nservices:\n  - name: {name}\n    url: {}\n    routes:\n      - name: {name}-route\n        paths: [\"{path}\"]\n",
            upstream.url()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([
            "/usr/bin".into(),
            "/usr/sbin".into(),
            "/usr/local/bin".into(),
        ])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The `redis-server` binary; installs Debian's package once if it is missing and this is a
/// root shell with apt-get (the state of a fresh CI machine). Concurrent test binaries
/// serialise on a lock directory.
fn redis_server_binary() -> PathBuf {
    if let Some(bin) = find_in_path("redis-server") {
        return bin;
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if is_root && find_in_path("apt-get").is_some() {
        let lock = std::env::temp_dir().join("sluice-redis-install.lock");
        let deadline = Instant::now() + Duration::from_secs(600);
        while std::fs::create_dir(&lock).is_err() {
            if find_in_path("redis-server").is_some() || Instant::now() > deadline {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
        if find_in_path("redis-server").is_none() {
            eprintln!("redis-server is missing: installing Debian's redis-server package");
            let install = || {
                Command::new("apt-get")
                    .args(["install", "-y", "-q", "redis-server"])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !install() {
                let _ = Command::new("apt-get")
                    .args(["update", "-q"])
                    .stdout(Stdio::null())
                    .status();
                install();
            }
        }
        let _ = std::fs::remove_dir(&lock);
    }
    find_in_path("redis-server").unwrap_or_else(|| {
        panic!("redis-server is not installed and could not be installed: apt-get install redis-server")
    })
}

/// Sends one command to a Redis server and returns the raw reply bytes (tests only).
pub fn redis_command(port: u16, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut command = format!("*{}\r\n", args.len());
    for a in args {
        command.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(command.as_bytes()).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn spawn_redis(bin: &PathBuf, port: u16, dir: &PathBuf, args: &[String]) -> Option<Child> {
    let mut child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let ready = wait_until(Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    if ready && child.try_wait().ok().flatten().is_none() {
        return Some(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A real Redis server on 127.0.0.1 (no persistence), killed when dropped.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    args: Vec<String>,
}

impl RedisServer {
    pub fn start(extra_args: &[&str]) -> RedisServer {
        let bin = redis_server_binary();
        let dir = temp_path("redis", "d");
        std::fs::create_dir_all(&dir).unwrap();
        let args: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap();
            if let Some(child) = spawn_redis(&bin, port, &dir, &args) {
                return RedisServer {
                    child,
                    port,
                    dir,
                    bin,
                    args,
                };
            }
        }
        panic!("redis-server did not start");
    }

    /// Stops the server and starts a fresh one (empty) on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(child) = spawn_redis(&self.bin, self.port, &self.dir, &self.args) {
                self.child = child;
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not restart");
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (the port then refuses connections).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
