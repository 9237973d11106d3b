//! The log phase (lifecycle step 10): what the engine reports about a finished request
//! ([`LogFacts`]), Kong's log serializer, and the two log plugins, file-log (priority 9) and
//! http-log (priority 12).
//!
//! Both plugins keep I/O off the request path: the worker serializes the entry (as Kong's
//! worker does) and hands the bytes to a background thread over a bounded channel; when the
//! channel is full the entry is dropped and counted rather than making a request wait.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::conf::Conf;
use crate::ctx::{PluginCtx, RequestView, ResponseView};
use crate::util::{is_safe_value, is_token, url_decode};

/// Who produced the response (Kong's `kong.response.get_source()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ResponseSource {
    /// The upstream service answered.
    #[default]
    Service,
    /// The gateway answered on purpose: a plugin (auth, rate limit, termination) or no route.
    Exit,
    /// The gateway answered because proxying failed (502, 503, 504).
    Error,
}

impl ResponseSource {
    /// The `source` label of `http_requests_total`.
    pub fn label(self) -> &'static str {
        match self {
            ResponseSource::Service => "service",
            ResponseSource::Exit => "exit",
            ResponseSource::Error => "error",
        }
    }

    /// The serializer's `source` field.
    fn serialized(self) -> &'static str {
        match self {
            ResponseSource::Service => "upstream",
            ResponseSource::Exit | ResponseSource::Error => "kong",
        }
    }
}

/// Kong's latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latencies {
    /// Time spent in the gateway: before the request went upstream plus streaming the response.
    pub kong_ms: f64,
    /// Waiting for the upstream's response head; None when no upstream answered.
    pub proxy_ms: Option<f64>,
    /// First byte of the request to the last byte of the response.
    pub request_ms: f64,
    /// Streaming the response body.
    pub receive_ms: f64,
}

/// One upstream try (Kong's `tries`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Try {
    pub ip: IpAddr,
    pub port: u16,
    /// Unix milliseconds.
    pub balancer_start_ms: u64,
    pub balancer_latency_ms: u64,
}

/// What the engine knows about a finished request.
#[derive(Debug, Clone)]
pub struct LogFacts<'a> {
    /// Worker index (selects the metrics shard).
    pub worker: usize,
    pub route: Option<usize>,
    pub service: Option<usize>,
    /// Status sent to the client; 0 when no response was sent.
    pub status: u16,
    pub source: ResponseSource,
    /// Bytes read from the client for this request (head and body).
    pub request_bytes: u64,
    /// Bytes written to the client for this response (head and body).
    pub response_bytes: u64,
    /// Unix milliseconds of the request's first byte.
    pub started_at_ms: u64,
    pub latencies: Latencies,
    pub upstream_uri: &'a str,
    pub upstream_status: Option<u16>,
    pub tries: &'a [Try],
    pub client_ip: IpAddr,
    /// The local port the request arrived on (for `request.url`).
    pub server_port: u16,
}

/// Request details captured while the request head is still buffered (log plugins only).
#[derive(Debug, Default, Clone)]
pub(crate) struct CapturedRequest {
    method: String,
    uri: String,
    host: String,
    querystring: Map<String, Value>,
    headers: Map<String, Value>,
}

/// Adds a value to a Kong-style table (headers, query): a repeated key becomes an array.
fn add_value(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            map.insert(key, value);
        }
    }
}

/// Adds one header to a Kong-style header table: lowercase names, repeated names as arrays.
fn add_header(map: &mut Map<String, Value>, name: &[u8], value: &[u8]) {
    add_value(
        map,
        String::from_utf8_lossy(name).to_ascii_lowercase(),
        Value::String(String::from_utf8_lossy(value).into_owned()),
    );
}

/// Captures the request part of the log entry (once per request).
pub(crate) fn capture_request(req: &dyn RequestView, ctx: &mut PluginCtx) {
    if ctx.log_request.is_some() {
        return;
    }
    let mut headers = Map::new();
    req.for_each_header(&mut |n, v| add_header(&mut headers, n, v));
    // Kong's serializer never writes credentials into logs.
    for secret in ["authorization", "proxy-authorization"] {
        if let Some(v) = headers.get_mut(secret) {
            *v = Value::String("REDACTED".into());
        }
    }
    let mut querystring = Map::new();
    if let Some(raw) = req.raw_query() {
        for pair in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    url_decode(&pair[..eq]),
                    Value::String(url_decode(&pair[eq + 1..])),
                ),
                None => (url_decode(pair), Value::Bool(true)),
            };
            add_value(&mut querystring, k, v);
        }
    }
    ctx.log_request = Some(Box::new(CapturedRequest {
        method: String::from_utf8_lossy(req.method()).into_owned(),
        uri: String::from_utf8_lossy(req.raw_target()).into_owned(),
        host: req
            .header("host")
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .unwrap_or_default(),
        querystring,
        headers,
    }));
}

/// Captures the response headers (once per request).
pub(crate) fn capture_response(resp: &dyn ResponseView, ctx: &mut PluginCtx) {
    if ctx.log_response_headers.is_some() {
        return;
    }
    let mut headers = Map::new();
    resp.for_each_header(&mut |n, v| add_header(&mut headers, n, v));
    // The gateway's own edits (rate-limit headers, CORS, correlation id) are part of what the
    // client got.
    for name in &ctx.response.remove {
        headers.remove(name.as_ref());
    }
    for (n, v) in &ctx.response.set {
        headers.remove(&n.to_ascii_lowercase());
        add_header(&mut headers, n.as_bytes(), v.as_bytes());
    }
    for (n, v) in &ctx.response.append {
        add_header(&mut headers, n.as_bytes(), v.as_bytes());
    }
    ctx.log_response_headers = Some(Box::new(headers));
}

/// The entity facts the serializer embeds (`route`, `service`, `consumer`).
pub(crate) struct EntityJson<'a> {
    pub route: Option<&'a Value>,
    pub service: Option<&'a Value>,
    pub consumer: Option<Value>,
}

/// Kong's basic log serializer (`kong.log.serialize()`), as one JSON object.
pub(crate) fn serialize(facts: &LogFacts<'_>, ctx: &PluginCtx, entities: EntityJson<'_>) -> Value {
    let captured = ctx.log_request.as_deref();
    let uri = captured.map_or("", |c| c.uri.as_str());
    let host = captured.map_or("", |c| c.host.as_str());
    let mut request = json!({
        "method": captured.map_or("", |c| c.method.as_str()),
        "uri": uri,
        "url": format!("http://{}{}", url_authority(host, facts.server_port), uri),
        "size": facts.request_bytes,
        "querystring": captured.map(|c| Value::Object(c.querystring.clone())).unwrap_or_else(|| json!({})),
        "headers": captured.map(|c| Value::Object(c.headers.clone())).unwrap_or_else(|| json!({})),
    });
    if let (Some(id), Value::Object(r)) = (&ctx.correlation_id, &mut request) {
        r.insert("id".into(), Value::String(id.clone()));
    }
    let tries: Vec<Value> = facts
        .tries
        .iter()
        .map(|t| {
            json!({
                "ip": t.ip.to_string(),
                "port": t.port,
                "balancer_start": t.balancer_start_ms,
                "balancer_latency": t.balancer_latency_ms,
            })
        })
        .collect();
    let mut entry = json!({
        "request": request,
        "upstream_uri": facts.upstream_uri,
        "response": {
            "status": facts.status,
            "size": facts.response_bytes,
            "headers": ctx.log_response_headers.as_deref().map(|h| Value::Object(h.clone())).unwrap_or_else(|| json!({})),
        },
        "latencies": {
            "kong": facts.latencies.kong_ms.round() as i64,
            "proxy": facts.latencies.proxy_ms.map_or(-1, |p| p.round() as i64),
            "request": facts.latencies.request_ms.round() as i64,
            "receive": facts.latencies.receive_ms.round() as i64,
        },
        "tries": tries,
        "client_ip": facts.client_ip.to_string(),
        "started_at": facts.started_at_ms,
        "source": facts.source.serialized(),
        "workspace_name": "default",
    });
    if let Value::Object(e) = &mut entry {
        if let Some(status) = facts.upstream_status {
            e.insert("upstream_status".into(), Value::String(status.to_string()));
        }
        if let Some(route) = entities.route {
            e.insert("route".into(), route.clone());
        }
        if let Some(service) = entities.service {
            e.insert("service".into(), service.clone());
        }
        if let Some(consumer) = entities.consumer {
            e.insert("consumer".into(), consumer);
        }
        if let Some(cred) = &ctx.credential_id {
            e.insert("authenticated_entity".into(), json!({ "id": cred }));
        }
    }
    entry
}

/// `host[:port]` as the client addressed it, with the listener port when the Host header had
/// none (Kong's `scheme://host:server_port`).
fn url_authority(host: &str, port: u16) -> String {
    let has_port = match host.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => host.contains(':'),
    };
    if host.is_empty() {
        format!("localhost:{port}")
    } else if has_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// Kong's `custom_fields_by_lua` needs Lua; an empty map is accepted.
fn refuse_lua_fields(c: &mut Conf<'_>) {
    match c.raw("custom_fields_by_lua") {
        None => {}
        Some(Value::Object(m)) if m.is_empty() => {}
        Some(_) => c.err(
            "custom_fields_by_lua",
            "custom_fields_by_lua is not supported (no Lua in this gateway)",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// file-log

/// One line for the file writer thread.
struct FileWrite {
    path: Arc<str>,
    reopen: bool,
    line: Vec<u8>,
}

/// Background writers shared by every compiled config (in [`crate::PluginState`]).
#[derive(Default)]
pub(crate) struct Sinks {
    file: OnceLock<SyncSender<FileWrite>>,
    http: Mutex<HashMap<String, Weak<HttpQueue>>>,
    /// Entries dropped because a queue was full, or a write or delivery failed for good.
    pub dropped: AtomicU64,
}

/// Bound of the file writer's queue: a stalled disk drops entries instead of stalling requests.
const FILE_QUEUE: usize = 65_536;

impl Sinks {
    fn file_sender(self: &Arc<Self>) -> Option<SyncSender<FileWrite>> {
        if let Some(s) = self.file.get() {
            return Some(s.clone());
        }
        let (tx, rx) = sync_channel::<FileWrite>(FILE_QUEUE);
        let sinks = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("sluice-file-log".into())
            .spawn(move || file_writer(rx, sinks));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "file-log: cannot start the writer thread");
            return None;
        }
        // Another compile may have won the race; its sender is the one kept.
        let _ = self.file.set(tx);
        self.file.get().cloned()
    }
}

fn open_log(path: &str) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
}

fn file_writer(rx: Receiver<FileWrite>, sinks: Weak<Sinks>) {
    let mut open: HashMap<Arc<str>, File> = HashMap::new();
    while let Ok(w) = rx.recv() {
        let result = if w.reopen {
            open.remove(&w.path);
            open_log(&w.path).and_then(|mut f| f.write_all(&w.line))
        } else {
            let file = match open.get_mut(&w.path) {
                Some(f) => Ok(f),
                None => open_log(&w.path).map(|f| open.entry(w.path.clone()).or_insert(f)),
            };
            file.and_then(|f| f.write_all(&w.line))
        };
        if let Err(e) = result {
            open.remove(&w.path);
            tracing::warn!(path = %w.path, error = %e, "file-log: cannot write");
            if let Some(s) = sinks.upgrade() {
                s.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

pub(crate) struct FileLog {
    path: Arc<str>,
    reopen: bool,
    sender: SyncSender<FileWrite>,
    sinks: Arc<Sinks>,
}

impl FileLog {
    pub fn compile(c: &mut Conf<'_>, sinks: &Arc<Sinks>) -> Option<FileLog> {
        let path = c.opt_str("path");
        let reopen = c.bool_or("reopen", false);
        refuse_lua_fields(c);
        let path = match path {
            None => {
                c.err("path", "required field missing");
                return None;
            }
            Some(p) if p.is_empty() || p.contains(['*', '&', '%', '`', '\0']) => {
                c.err("path", "not a valid filename");
                return None;
            }
            Some(p) => p,
        };
        let Some(sender) = sinks.file_sender() else {
            c.err("path", "cannot start the file writer thread");
            return None;
        };
        Some(FileLog {
            path: path.into(),
            reopen,
            sender,
            sinks: Arc::clone(sinks),
        })
    }

    pub fn log(&self, entry: &[u8]) {
        let mut line = Vec::with_capacity(entry.len() + 1);
        line.extend_from_slice(entry);
        line.push(b'\n');
        let write = FileWrite {
            path: Arc::clone(&self.path),
            reopen: self.reopen,
            line,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(write)
        {
            self.sinks.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// http-log

/// Where and how batches are sent.
#[derive(Debug, Clone, PartialEq)]
struct Endpoint {
    host: String,
    port: u16,
    /// Path and query, starting with '/'.
    target: String,
    method: String,
    content_type: String,
    /// Extra headers, including Authorization from the URL's userinfo.
    headers: Vec<(String, String)>,
    timeout: Duration,
    keepalive: Duration,
}

#[derive(Debug, Clone, PartialEq)]
struct QueueConf {
    max_batch_size: usize,
    max_coalescing_delay: Duration,
    max_entries: usize,
    max_bytes: Option<usize>,
    max_retry_time: Duration,
    initial_retry_delay: Duration,
    max_retry_delay: Duration,
}

/// One delivery queue and its thread. The thread ends (after sending what is queued) when the
/// last compiled config using the queue is dropped.
pub(crate) struct HttpQueue {
    sender: SyncSender<Vec<u8>>,
}

pub(crate) struct HttpLog {
    queue: Arc<HttpQueue>,
    sinks: Arc<Sinks>,
}

fn seconds(c: &mut Conf<'_>, field: &'static str, default: f64) -> Duration {
    match c.opt_num(field) {
        Some(v) if v.is_finite() && v >= 0.0 => Duration::from_secs_f64(v),
        Some(_) => {
            c.err(field, "value must be a non-negative number");
            Duration::from_secs_f64(default)
        }
        None => Duration::from_secs_f64(default),
    }
}

/// `http://[user[:password]@]host[:port][/path][?query]` -> (host, port, target, userinfo).
fn parse_endpoint(url: &str) -> Result<(String, u16, String, Option<String>), String> {
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if url.starts_with("https://") {
        return Err("https endpoints are not supported (no TLS client in this build)".into());
    } else {
        return Err("missing scheme: expected http://host[:port]/path".into());
    };
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(authority[..i].to_string()), &authority[i + 1..]),
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, "")) => (h.to_string(), 80),
            Some((h, p)) => match p.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
                Some(port) => (h.to_string(), port),
                None => return Err("invalid port".into()),
            },
            None => return Err("invalid IPv6 host".into()),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(port) => (h.to_string(), port),
                Err(_) => return Err("invalid port".into()),
            },
            None => (hostport.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the path must not contain spaces or control characters".into());
    }
    Ok((host, port, target, userinfo))
}

fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl HttpLog {
    pub fn compile(c: &mut Conf<'_>, identity: &str, sinks: &Arc<Sinks>) -> Option<HttpLog> {
        let url = c.opt_str("http_endpoint");
        let method = c.one_of("method", "POST", &["POST", "PUT", "PATCH"]);
        let content_type = c.one_of(
            "content_type",
            "application/json",
            &["application/json", "application/json; charset=utf-8"],
        );
        let timeout_ms = c.opt_num("timeout").unwrap_or(10_000.0);
        let keepalive_ms = c.opt_num("keepalive").unwrap_or(60_000.0);
        refuse_lua_fields(c);
        let mut headers = Vec::new();
        if let Some(v) = c.raw("headers") {
            match v {
                Value::Object(m) => {
                    for (name, value) in m {
                        let value = match value {
                            Value::String(s) => s.clone(),
                            // Kong 2.x allowed a list of values; the first is sent.
                            Value::Array(items) => match items.first() {
                                Some(Value::String(s)) => s.clone(),
                                _ => String::new(),
                            },
                            _ => String::new(),
                        };
                        let lower = name.to_ascii_lowercase();
                        if !is_token(name) || !is_safe_value(&value) {
                            c.err("headers", format!("invalid header '{name}'"));
                        } else if [
                            "host",
                            "content-length",
                            "content-type",
                            "transfer-encoding",
                            "connection",
                        ]
                        .contains(&lower.as_str())
                        {
                            c.err("headers", format!("cannot set header '{name}'"));
                        } else {
                            headers.push((name.clone(), value));
                        }
                    }
                }
                _ => c.err("headers", "expected a map of header names to values"),
            }
        }
        // Kong 3.x's queue record, with the deprecated 2.x fields mapped onto it.
        let legacy_batch = c.opt_int("queue_size", 1, 1_000_000);
        let legacy_delay = c.opt_num("flush_timeout");
        c.opt_int("retry_count", 0, 1_000_000);
        let mut q = c.record("queue");
        let max_batch_size = q
            .opt_int("max_batch_size", 1, 1_000_000)
            .or(legacy_batch)
            .unwrap_or(1) as usize;
        let max_coalescing_delay = match legacy_delay {
            Some(d) if !q.is_set("max_coalescing_delay") && d >= 0.0 && d.is_finite() => {
                Duration::from_secs_f64(d)
            }
            _ => seconds(&mut q, "max_coalescing_delay", 1.0),
        };
        let max_entries = q.opt_int("max_entries", 1, 1_000_000_000).unwrap_or(10_000) as usize;
        let max_bytes = q.opt_int("max_bytes", 1, i64::MAX).map(|b| b as usize);
        let max_retry_time = seconds(&mut q, "max_retry_time", 60.0);
        let initial_retry_delay = seconds(&mut q, "initial_retry_delay", 0.01);
        let max_retry_delay = seconds(&mut q, "max_retry_delay", 60.0);
        if let Some(limit) = q.opt_int("concurrency_limit", -1, 1) {
            if limit == -1 {
                q.err(
                    "concurrency_limit",
                    "concurrency_limit -1 (unordered parallel delivery) is not supported",
                );
            }
        }
        q.ignore(&["name"]);
        c.absorb(q);
        let Some(url) = url else {
            c.err("http_endpoint", "required field missing");
            return None;
        };
        let (host, port, target, userinfo) = match parse_endpoint(&url) {
            Ok(parts) => parts,
            Err(e) => {
                c.err("http_endpoint", e);
                return None;
            }
        };
        if let Some(userinfo) = userinfo {
            let decoded = url_decode(userinfo.as_bytes());
            headers.push((
                "Authorization".into(),
                format!("Basic {}", base64_encode(decoded.as_bytes())),
            ));
        }
        let endpoint = Endpoint {
            host,
            port,
            target,
            method,
            content_type,
            headers,
            timeout: Duration::from_secs_f64((timeout_ms.max(1.0)) / 1000.0),
            keepalive: Duration::from_secs_f64((keepalive_ms.max(0.0)) / 1000.0),
        };
        let queue_conf = QueueConf {
            max_batch_size,
            max_coalescing_delay,
            max_entries,
            max_bytes,
            max_retry_time,
            initial_retry_delay,
            max_retry_delay,
        };
        if !c.errors.is_empty() {
            return None;
        }
        // The same instance with the same config keeps its queue (and thread) across reloads.
        let key = format!("{identity}|{endpoint:?}|{queue_conf:?}");
        let mut queues = match sinks.http.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        queues.retain(|_, q| q.strong_count() > 0);
        if let Some(queue) = queues.get(&key).and_then(Weak::upgrade) {
            return Some(HttpLog {
                queue,
                sinks: Arc::clone(sinks),
            });
        }
        let (tx, rx) = sync_channel::<Vec<u8>>(max_entries);
        let weak_sinks = Arc::downgrade(sinks);
        let spawned = std::thread::Builder::new()
            .name("sluice-http-log".into())
            .spawn(move || deliver(rx, endpoint, queue_conf, weak_sinks));
        if let Err(e) = spawned {
            c.err(
                "http_endpoint",
                format!("cannot start the delivery thread: {e}"),
            );
            return None;
        }
        let queue = Arc::new(HttpQueue { sender: tx });
        queues.insert(key, Arc::downgrade(&queue));
        Some(HttpLog {
            queue,
            sinks: Arc::clone(sinks),
        })
    }

    pub fn log(&self, entry: &[u8]) {
        if self.queue.sender.try_send(entry.to_vec()).is_err() {
            self.sinks.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The delivery thread: batches entries (up to `max_batch_size`, or whatever arrived within
/// `max_coalescing_delay` of the first), sends each batch with retries and exponential
/// backoff until `max_retry_time`, then drops it.
fn deliver(rx: Receiver<Vec<u8>>, endpoint: Endpoint, conf: QueueConf, sinks: Weak<Sinks>) {
    let mut conn: Option<(TcpStream, Instant)> = None;
    let mut closed = false;
    while !closed {
        let first = match rx.recv() {
            Ok(e) => e,
            Err(_) => break,
        };
        let mut bytes = first.len();
        let mut batch = vec![first];
        let deadline = Instant::now() + conf.max_coalescing_delay;
        while batch.len() < conf.max_batch_size && conf.max_bytes.is_none_or(|m| bytes < m) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(e) => {
                    bytes += e.len();
                    batch.push(e);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let body = payload(&batch, conf.max_batch_size);
        let started = Instant::now();
        let mut delay = conf.initial_retry_delay;
        loop {
            match send_batch(&endpoint, &body, &mut conn) {
                Ok(()) => break,
                Err(e) => {
                    conn = None;
                    if started.elapsed() + delay > conf.max_retry_time {
                        tracing::error!(
                            endpoint = %format!("{}:{}{}", endpoint.host, endpoint.port, endpoint.target),
                            error = %e,
                            entries = batch.len(),
                            "http-log: giving up on a batch"
                        );
                        if let Some(s) = sinks.upgrade() {
                            s.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        }
                        break;
                    }
                    tracing::warn!(error = %e, "http-log: delivery failed, retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(conf.max_retry_delay);
                }
            }
        }
    }
}

/// One entry as a JSON object when batches hold one entry (Kong's `max_batch_size = 1`),
/// otherwise a JSON array of entries.
fn payload(batch: &[Vec<u8>], max_batch_size: usize) -> Vec<u8> {
    if max_batch_size == 1 && batch.len() == 1 {
        return batch[0].clone();
    }
    let mut body = Vec::with_capacity(batch.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, e) in batch.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.push(b']');
    body
}

fn send_batch(
    endpoint: &Endpoint,
    body: &[u8],
    conn: &mut Option<(TcpStream, Instant)>,
) -> Result<(), String> {
    if conn
        .as_ref()
        .is_some_and(|(_, last)| last.elapsed() >= endpoint.keepalive)
    {
        *conn = None;
    }
    let mut stream = match conn.take() {
        Some((s, _)) => s,
        None => {
            let addr = (endpoint.host.as_str(), endpoint.port)
                .to_socket_addrs()
                .map_err(|e| format!("resolving {}: {e}", endpoint.host))?
                .next()
                .ok_or_else(|| format!("{} has no address", endpoint.host))?;
            let s = TcpStream::connect_timeout(&addr, endpoint.timeout)
                .map_err(|e| format!("connect {addr}: {e}"))?;
            let _ = s.set_nodelay(true);
            s
        }
    };
    stream
        .set_read_timeout(Some(endpoint.timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(endpoint.timeout))
        .map_err(|e| e.to_string())?;
    let host = if endpoint.host.contains(':') {
        format!("[{}]", endpoint.host)
    } else {
        endpoint.host.clone()
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: sluice-http-log\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        endpoint.method,
        endpoint.target,
        host,
        endpoint.port,
        endpoint.content_type,
        body.len()
    );
    for (n, v) in &endpoint.headers {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .map_err(|e| format!("write: {e}"))?;
    let (status, reusable) = read_response(&mut stream)?;
    if reusable {
        *conn = Some((stream, Instant::now()));
    }
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("collector answered {status}"))
    }
}

/// Reads one response; returns its status and whether the connection can carry the next one
/// (a Content-Length body read in full and no `Connection: close`).
fn read_response(stream: &mut TcpStream) -> Result<(u16, bool), String> {
    const MAX_HEAD: usize = 64 * 1024;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("collector closed the connection before answering".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = resp.code.unwrap_or(0);
                let mut length: Option<usize> = None;
                let mut close = resp.version == Some(0);
                for h in resp.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse().ok());
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close |= h.value.eq_ignore_ascii_case(b"close");
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        close = true;
                    }
                }
                if (100..200).contains(&status) {
                    buf.drain(..head_len);
                    continue;
                }
                let bodyless = status == 204 || status == 304;
                let length = if bodyless { Some(0) } else { length };
                let Some(length) = length else {
                    return Ok((status, false));
                };
                let mut have = buf.len() - head_len;
                while have < length {
                    let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
                    if n == 0 {
                        return Ok((status, false));
                    }
                    have += n;
                }
                return Ok((status, !close && have == length));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("response head too large".into()),
            Err(e) => return Err(format!("invalid response: {e}")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_like_urls() {
        assert_eq!(
            parse_endpoint("http://collector:9000/logs?x=1").unwrap(),
            ("collector".into(), 9000, "/logs?x=1".into(), None)
        );
        assert_eq!(
            parse_endpoint("http://u:p%40ss@127.0.0.1").unwrap(),
            ("127.0.0.1".into(), 80, "/".into(), Some("u:p%40ss".into()))
        );
        assert_eq!(
            parse_endpoint("http://[::1]:8080/x").unwrap(),
            ("::1".into(), 8080, "/x".into(), None)
        );
        assert!(parse_endpoint("https://secure/x").is_err());
        assert!(parse_endpoint("collector/x").is_err());
        assert!(parse_endpoint("http://h:99999/").is_err());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), want);
        }
    }

    #[test]
    fn batches_are_an_object_or_an_array() {
        let one = vec![b"{\"a\":1}".to_vec()];
        assert_eq!(payload(&one, 1), b"{\"a\":1}");
        assert_eq!(payload(&one, 10), b"[{\"a\":1}]");
        let two = vec![b"{}".to_vec(), b"{}".to_vec()];
        assert_eq!(payload(&two, 10), b"[{},{}]");
    }

    #[test]
    fn url_authority_adds_the_listener_port() {
        assert_eq!(url_authority("example.com", 8000), "example.com:8000");
        assert_eq!(url_authority("example.com:81", 8000), "example.com:81");
        assert_eq!(url_authority("[::1]", 8000), "[::1]:8000");
        assert_eq!(url_authority("[::1]:9", 8000), "[::1]:9");
        assert_eq!(url_authority("", 8000), "localhost:8000");
    }
}
