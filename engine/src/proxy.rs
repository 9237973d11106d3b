//! The proxy loop: one task per client connection, requests served in order (which is what
//! makes pipelining safe), each one routed, sent to an upstream target and streamed back.
//!
//! Phase chart for one request (see ARCHITECTURE.md): read head -> validate framing ->
//! normalise path + route -> pick target (retry order) -> write upstream head -> stream request
//! body -> read response head -> write client head -> stream response body -> pool or close.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use sluice_balancer::{Target, Upstream};
use sluice_plugins::{Access, LocalResponse, LogFacts, PluginCtx, Plugins, ResponseSource, Try};
use sluice_router::{HeaderSource, RequestInfo};

use crate::conn::{write_owned, BufferedStream, IoFailure};
use crate::forward::{
    write_client_head_edited, write_upstream_head_edited, ClientBody, ClientFacts, RequestEdits,
    UpstreamTarget,
};
use crate::http::chunked::ChunkedScanner;
use crate::http::request::{parse_request, Method, ParseStatus, RequestError, RequestHead};
use crate::http::response::{parse_response, ResponseHead, ResponseStatus};
use crate::http::BodyFraming;
use crate::pool::UpstreamConn;
use crate::relay::{relay_body, tunnel, RelayError, SourceError};
use crate::respond::{write_json_response, Failure};
use crate::snapshot::{Backend, ServiceEntry, Snapshot};
use crate::worker::WorkerCtx;

/// Read buffer of an idle client connection: most request heads fit (larger ones grow it).
/// 2 KiB instead of 4 KiB saved 20 MiB of RSS with 10k idle keepalive connections.
const CLIENT_BUFFER: usize = 2048;
const UPSTREAM_BUFFER: usize = 16 * 1024;
/// Request bodies up to this size that arrived with the head go out in the same write.
const COALESCE_BODY: usize = 16 * 1024;

/// Per-request scratch space, kept in a per-worker free list (`WorkerCtx::take_scratch`) so
/// that steady-state requests allocate nothing and idle connections hold none.
pub struct Scratch {
    head: RequestHead,
    response: ResponseHead,
    path: String,
    upstream_path: String,
    hash_key: Vec<u8>,
    out: Option<Vec<u8>>,
    /// Plugin state of the current request (consumer, header edits, limits).
    plugins: PluginCtx,
    /// What the log phase will report about the current request.
    log: RequestLog,
}

/// Facts about the request in flight for the log phase. Timestamps are taken only when a log
/// plugin is configured (`enabled`); status, source and sizes are plain stores.
#[derive(Default)]
struct RequestLog {
    enabled: bool,
    started: Option<Instant>,
    route: Option<usize>,
    service: Option<usize>,
    status: u16,
    source: ResponseSource,
    request_bytes: u64,
    response_bytes: u64,
    upstream_sent: Option<Instant>,
    upstream_head: Option<Instant>,
    upstream_status: Option<u16>,
    tries: Vec<Try>,
    /// Path and query sent upstream.
    upstream_uri: String,
}

impl RequestLog {
    fn reset(&mut self, enabled: bool, started: Instant, head_len: usize) {
        self.enabled = enabled;
        self.started = Some(started);
        self.route = None;
        self.service = None;
        self.status = 0;
        self.source = ResponseSource::Exit;
        self.request_bytes = head_len as u64;
        self.response_bytes = 0;
        self.upstream_sent = None;
        self.upstream_head = None;
        self.upstream_status = None;
        self.tries.clear();
        self.upstream_uri.clear();
    }

    fn answered(&mut self, status: u16, source: ResponseSource, bytes: usize) {
        self.status = status;
        self.source = source;
        self.response_bytes = bytes as u64;
    }

    fn now(&self) -> Option<Instant> {
        self.enabled.then(Instant::now)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            head: RequestHead::default(),
            response: ResponseHead::default(),
            path: String::with_capacity(128),
            upstream_path: String::with_capacity(128),
            hash_key: Vec::new(),
            out: Some(Vec::with_capacity(1024)),
            plugins: PluginCtx::new(),
            log: RequestLog::default(),
        }
    }

    fn out(&mut self) -> Vec<u8> {
        self.out.take().unwrap_or_else(|| Vec::with_capacity(1024))
    }
}

struct Client {
    io: BufferedStream,
    facts: ClientFacts,
    requests: u64,
    /// When the head being read must be complete: the header timeout counts from the accept
    /// for the first request, from its first byte for later ones, and never restarts on a read.
    head_deadline: Instant,
    /// Requests in a row whose complete head had arrived before the previous answer was done,
    /// i.e. that the client sent without waiting (pipelining). Back to 0 whenever a read finds
    /// the socket drained while a head is still incomplete: that client was waiting.
    pipelined: usize,
}

/// What happens to the client connection after a request.
enum After {
    KeepAlive,
    Close,
    /// The upstream switched protocols: both connections become a byte tunnel.
    Upgrade(UpstreamConn),
}

pub async fn serve_client(
    ctx: &Rc<WorkerCtx>,
    stream: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) {
    let _ = stream.set_nodelay(true);
    let settings = &ctx.shared.settings;
    let mut client = Client {
        io: BufferedStream::new(stream, CLIENT_BUFFER),
        facts: ClientFacts::new(
            peer.ip(),
            settings.is_trusted(peer.ip()),
            local.map(|a| a.port()).unwrap_or(0),
        ),
        requests: 0,
        head_deadline: Instant::now() + settings.client_header_timeout,
        pipelined: 0,
    };
    if settings.proxy_protocol {
        // Boxed like the request future: rare, large states stay out of the idle connection.
        let left = client
            .head_deadline
            .saturating_duration_since(Instant::now());
        match Box::pin(crate::proxy_protocol::read_header(&mut client.io, left)).await {
            Ok(Some(addresses)) => {
                client.facts = ClientFacts::new(
                    addresses.source.ip(),
                    client.facts.trusted,
                    addresses.destination.port(),
                );
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(%peer, error = %e, "bad PROXY protocol header");
                return;
            }
        }
    }
    loop {
        // A request counts as queued if its first bytes were already buffered, or if the read
        // that brought them filled the buffer (more were waiting in the socket); `read_head`
        // resets the count if the rest of the head then had to be waited for.
        client.io.skip_line_ends();
        let queued = client.io.pending_len() > 0 || {
            if !wait_for_request(ctx, &mut client).await {
                return;
            }
            client.io.is_full()
        };
        if !queued {
            client.pipelined = 0;
        } else if client.requests > 0 {
            client.pipelined += 1;
        }
        let mut scratch = ctx.take_scratch();
        // Boxed so that a request's future state (about 4 KiB) and scratch space exist only
        // while a request runs: an idle keepalive connection costs little more than its read
        // buffer (10k idle connections: 142 MiB RSS before this, see perf/RESULTS.md after).
        let outcome = Box::pin(serve_request(ctx, &mut client, &mut scratch)).await;
        ctx.return_scratch(scratch);
        match outcome {
            After::KeepAlive if !ctx.shutdown.is_fired() => {}
            After::Close if client.pipelined >= settings.max_pipelined_requests => {
                // The client still has requests on the way: closing with unread input would
                // reset the connection and could destroy the answers it has not read yet.
                client.io.lingering_close().await;
                return;
            }
            After::KeepAlive | After::Close => return,
            After::Upgrade(upstream) => {
                Box::pin(tunnel(client.io, upstream.io, settings.keepalive_timeout)).await;
                return;
            }
        }
        client.io.shrink_idle(CLIENT_BUFFER);
    }
}

/// Waits for the first bytes of the next request: the header timeout applies to a fresh
/// connection, the keepalive timeout between requests; shutdown ends the wait.
async fn wait_for_request(ctx: &WorkerCtx, client: &mut Client) -> bool {
    let settings = &ctx.shared.settings;
    if ctx.shutdown.is_fired() {
        return false;
    }
    let timeout = if client.requests == 0 {
        client
            .head_deadline
            .saturating_duration_since(Instant::now())
    } else {
        settings.keepalive_timeout
    };
    if timeout.is_zero() {
        return false;
    }
    client.io.compact();
    let read = monoio::select! {
        read = client.io.fill(CLIENT_BUFFER, timeout) => read,
        _ = ctx.shutdown.wait() => return false,
    };
    matches!(read, Ok(n) if n > 0)
}

/// One request, from its first buffered bytes to the end of its response.
async fn serve_request(ctx: &Rc<WorkerCtx>, client: &mut Client, scratch: &mut Scratch) -> After {
    let settings = &ctx.shared.settings;
    let started = Instant::now();
    if client.requests > 0 {
        client.head_deadline = started + settings.client_header_timeout;
    }
    match read_head(ctx, client, scratch).await {
        HeadRead::Ready if client.pipelined >= settings.max_pipelined_requests => {
            tracing::debug!(
                limit = settings.max_pipelined_requests,
                "pipelining depth reached; closing after this answer"
            );
            scratch.head.keep_alive = false;
        }
        HeadRead::Ready => {}
        HeadRead::Closed => return After::Close,
        HeadRead::Rejected(failure) => {
            let mut out = scratch.out();
            let (status, message) = failure.status_and_message();
            write_json_response(&mut out, status, message, true, false);
            let (written, out) =
                write_owned(&mut client.io.stream, out, settings.client_send_timeout).await;
            scratch.out = out;
            if written.is_ok() {
                client.io.lingering_close().await;
            }
            return After::Close;
        }
    }
    client.requests += 1;
    ctx.stats().requests.fetch_add(1, Ordering::Relaxed);
    let snapshot = ctx.snapshot();
    scratch.plugins.clear();
    scratch.log.reset(
        snapshot.plugins.has_log_plugins(),
        started,
        scratch.head.head_len,
    );
    let after = handle_request(ctx, client, scratch, &snapshot).await;
    if scratch.log.enabled {
        log_phase(ctx, client, scratch, &snapshot);
    }
    after
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Log phase: reports the finished request to the log plugins it selected.
fn log_phase(ctx: &WorkerCtx, client: &Client, scratch: &mut Scratch, snapshot: &Snapshot) {
    let end = Instant::now();
    let log = &scratch.log;
    let started = log.started.unwrap_or(end);
    let request_ms = millis(end.saturating_duration_since(started));
    let latencies = match (log.upstream_sent, log.upstream_head) {
        (Some(sent), Some(head)) => sluice_plugins::Latencies {
            kong_ms: millis(sent.saturating_duration_since(started))
                + millis(end.saturating_duration_since(head)),
            proxy_ms: Some(millis(head.saturating_duration_since(sent))),
            request_ms,
            receive_ms: millis(end.saturating_duration_since(head)),
        },
        _ => sluice_plugins::Latencies {
            kong_ms: request_ms,
            proxy_ms: None,
            request_ms,
            receive_ms: 0.0,
        },
    };
    let started_at_ms = ((unix_now() * 1000.0) as u64)
        .saturating_sub(end.saturating_duration_since(started).as_millis() as u64);
    let facts = LogFacts {
        worker: ctx.index,
        route: log.route,
        service: log.service,
        status: log.status,
        source: log.source,
        request_bytes: log.request_bytes,
        response_bytes: log.response_bytes,
        started_at_ms,
        latencies,
        upstream_uri: &log.upstream_uri,
        upstream_status: log.upstream_status,
        tries: &log.tries,
        client_ip: client.facts.client_ip,
        server_port: client.facts.server_port,
    };
    snapshot.plugins.log(&facts, &mut scratch.plugins);
}

enum HeadRead {
    Ready,
    Closed,
    Rejected(Failure),
}

/// Reads until a complete request head is buffered (parsed into `scratch.head`); the first
/// bytes are already there, and the whole head must arrive within the header timeout.
async fn read_head(ctx: &WorkerCtx, client: &mut Client, scratch: &mut Scratch) -> HeadRead {
    let settings = &ctx.shared.settings;
    client.io.compact();
    let deadline = client.head_deadline;
    loop {
        let head = std::mem::take(&mut scratch.head);
        match parse_request(client.io.pending(), &settings.limits, head) {
            Ok(ParseStatus::Complete(head)) => {
                scratch.head = head;
                return HeadRead::Ready;
            }
            Ok(ParseStatus::Partial) => {}
            Err(e) => return HeadRead::Rejected(Failure::BadRequest(e)),
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return HeadRead::Closed;
        };
        match client
            .io
            .fill(settings.limits.max_head.min(16 * 1024), left)
            .await
        {
            Ok(0) | Err(_) => return HeadRead::Closed,
            // The socket ran dry before the head was complete: this client is not ahead of
            // the answers, whatever was buffered before (a stray CRLF after a body, say).
            Ok(_) if !client.io.is_full() => client.pipelined = 0,
            Ok(_) => {}
        }
    }
}

/// Header access for route matching, over the parsed head and its buffer.
struct HeadHeaders<'a> {
    head: &'a RequestHead,
    buf: &'a [u8],
}

impl HeaderSource for HeadHeaders<'_> {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.head.header_values(self.buf, name).any(f)
    }
}

async fn handle_request(
    ctx: &Rc<WorkerCtx>,
    client: &mut Client,
    scratch: &mut Scratch,
    snapshot: &Snapshot,
) -> After {
    if let (BodyFraming::Length(n), Some(limit)) =
        (scratch.head.framing, ctx.shared.settings.max_body_size)
    {
        if n > limit {
            return reply_failure(ctx, client, scratch, Failure::BodyTooLarge).await;
        }
    }
    let routed = match route(snapshot, client, scratch) {
        Ok(routed) => routed,
        Err(failure) => {
            if scratch.log.enabled {
                let view = PluginRequest {
                    head: &scratch.head,
                    buf: client.io.pending(),
                    path: &scratch.path,
                    client_ip: client.facts.client_ip,
                    service: None,
                };
                snapshot.plugins.unrouted(&view, &mut scratch.plugins);
            }
            return reply_failure(ctx, client, scratch, failure).await;
        }
    };
    scratch.log.route = Some(routed.route);
    scratch.log.service = routed.service;
    if !snapshot.plugins.is_empty() {
        let view = PluginRequest {
            head: &scratch.head,
            buf: client.io.pending(),
            path: &scratch.path,
            client_ip: client.facts.client_ip,
            service: routed.service,
        };
        let now = unix_now();
        let mut answer = snapshot
            .plugins
            .access(routed.route, &view, &mut scratch.plugins, now);
        while let Access::Wait(query) = answer {
            // Boxed: the Redis exchange's state stays out of every request's future (futures
            // are moved by value; a larger one costs every request its memcpy).
            let reply = Box::pin(ctx.redis.call(&query.target, &query.command)).await;
            answer = snapshot.plugins.resume(
                routed.route,
                &view,
                &mut scratch.plugins,
                now,
                &query,
                reply,
            );
        }
        if let Access::Respond(local) = answer {
            return reply_local(ctx, client, scratch, snapshot, routed.route, local).await;
        }
    }
    let Some(service_index) = routed.service else {
        return reply_failure(ctx, client, scratch, Failure::NoService).await;
    };
    let (preserve_host, strip_len) = (routed.preserve_host, routed.strip_len);
    let service = &snapshot.services[service_index];
    if let (Backend::Upstream(index), Some(consumer)) = (&service.backend, scratch.plugins.consumer)
    {
        // hash_on: consumer can only be decided once an auth plugin has run.
        let hashes_consumer =
            snapshot.upstreams[*index].spec().hash_on == sluice_balancer::HashOn::Consumer;
        if let (true, Some(id)) = (
            hashes_consumer,
            snapshot
                .source
                .consumers
                .get(consumer)
                .and_then(|c| c.id.as_deref()),
        ) {
            scratch.hash_key.clear();
            scratch.hash_key.extend_from_slice(id.as_bytes());
        }
    }
    sluice_router::upstream_path(
        service.path.as_deref(),
        &scratch.path,
        strip_len,
        &mut scratch.upstream_path,
    );
    let upstream = match &service.backend {
        Backend::Upstream(index) => Some((*index, &snapshot.upstreams[*index])),
        _ => None,
    };
    let attempt = Attempt {
        service,
        route: routed.route,
        plugins: &snapshot.plugins,
        preserve_host,
        strip_len,
    };
    proxy_with_retries(ctx, client, scratch, snapshot, &attempt, upstream).await
}

/// The route a request matched, with what the later phases need from the match.
struct Routed {
    route: usize,
    service: Option<usize>,
    preserve_host: bool,
    strip_len: usize,
}

fn route(snapshot: &Snapshot, client: &Client, scratch: &mut Scratch) -> Result<Routed, Failure> {
    let buf = client.io.pending();
    let head = &scratch.head;
    sluice_router::normalize_path(head.raw_path(buf), &mut scratch.path)
        .map_err(|_| Failure::InvalidPath)?;
    let info = RequestInfo {
        host: head.host.clone().map(|range| &buf[range]),
        method: &buf[head.method.clone()],
        path: &scratch.path,
    };
    let headers = HeadHeaders { head, buf };
    let found = snapshot
        .router
        .lookup(&info, &headers)
        .ok_or(Failure::NoRoute)?;
    let route = snapshot
        .routes
        .get(found.route_id() as usize)
        .ok_or(Failure::NoRoute)?;
    // The hash key is taken here, while the match (and its uri captures) is still alive.
    scratch.hash_key.clear();
    let backend = route
        .service
        .and_then(|service| snapshot.services.get(service))
        .map(|s| &s.backend);
    if let Some(Backend::Upstream(index)) = backend {
        let upstream = &snapshot.upstreams[*index];
        if upstream.algorithm() == sluice_balancer::Algorithm::ConsistentHashing {
            let view = HashInputsView {
                client_ip: client.facts.client_ip_text(),
                head,
                buf,
                path: &scratch.path,
                captures: &found,
            };
            if let Some(key) = upstream.hash_key(&view) {
                scratch.hash_key.extend_from_slice(key);
            }
        }
    }
    Ok(Routed {
        route: found.route_id() as usize,
        service: route.service,
        preserve_host: route.preserve_host,
        strip_len: found.strip_len(),
    })
}

/// The request as plugins see it: the parsed head over the connection buffer.
struct PluginRequest<'a> {
    head: &'a RequestHead,
    buf: &'a [u8],
    path: &'a str,
    client_ip: std::net::IpAddr,
    service: Option<usize>,
}

impl sluice_plugins::RequestView for PluginRequest<'_> {
    fn method(&self) -> &[u8] {
        &self.buf[self.head.method.clone()]
    }
    fn path(&self) -> &str {
        self.path
    }
    fn raw_query(&self) -> Option<&[u8]> {
        self.head.query.clone().map(|q| &self.buf[q])
    }
    fn header(&self, lowercase_name: &str) -> Option<&[u8]> {
        self.head.header(self.buf, lowercase_name)
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for h in &self.head.headers {
            f(&self.buf[h.name.clone()], &self.buf[h.value.clone()]);
        }
    }
    fn client_ip(&self) -> std::net::IpAddr {
        self.client_ip
    }
    fn content_length(&self) -> Option<u64> {
        match self.head.framing {
            BodyFraming::Length(n) => Some(n),
            BodyFraming::None if self.head.explicit_zero_length => Some(0),
            _ => None,
        }
    }
    fn is_chunked(&self) -> bool {
        self.head.framing == BodyFraming::Chunked
    }
    fn service(&self) -> Option<usize> {
        self.service
    }
    fn raw_target(&self) -> &[u8] {
        if self.head.path.is_empty() {
            return b"/";
        }
        let end = self
            .head
            .query
            .as_ref()
            .map_or(self.head.path.end, |q| q.end);
        self.buf.get(self.head.path.start..end).unwrap_or(b"/")
    }
}

/// The upstream response head as plugins see it.
struct PluginResponse<'a> {
    head: &'a ResponseHead,
    buf: &'a [u8],
}

impl sluice_plugins::ResponseView for PluginResponse<'_> {
    fn status(&self) -> u16 {
        self.head.status
    }
    fn header(&self, lowercase_name: &str) -> Option<&[u8]> {
        let buf = self.buf;
        self.head
            .headers
            .iter()
            .find(|h| crate::http::header_eq(&buf[h.name.clone()], lowercase_name))
            .map(|h| &buf[h.value.clone()])
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for h in &self.head.headers {
            f(&self.buf[h.name.clone()], &self.buf[h.value.clone()]);
        }
    }
}

/// A gateway-made response (auth failure, rate limit, termination, CORS preflight) as seen by
/// header-filter plugins.
struct LocalView<'a>(&'a LocalResponse);

impl sluice_plugins::ResponseView for LocalView<'_> {
    fn status(&self) -> u16 {
        self.0.status
    }
    fn header(&self, lowercase_name: &str) -> Option<&[u8]> {
        self.0
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| v.as_bytes())
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.0.headers {
            f(n.as_bytes(), v.as_bytes());
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Answers with a plugin's own response (the request never goes upstream).
#[allow(clippy::too_many_arguments)]
async fn reply_local(
    ctx: &WorkerCtx,
    client: &mut Client,
    scratch: &mut Scratch,
    snapshot: &Snapshot,
    route: usize,
    local: LocalResponse,
) -> After {
    let head_only = scratch.head.method_kind() == Method::Head;
    snapshot
        .plugins
        .header_filter(route, &LocalView(&local), &mut scratch.plugins);
    let close = must_close_after_answer(ctx, scratch);
    let mut out = scratch.out();
    crate::respond::write_local_response(
        &mut out,
        &local,
        &scratch.plugins.response,
        close,
        head_only,
    );
    scratch
        .log
        .answered(local.status, ResponseSource::Exit, out.len());
    send_answer(ctx, client, scratch, out, close).await
}

/// Whether the connection ends after the gateway answers the request itself: an unread
/// request body would be taken for the next request, so it closes instead of draining.
fn must_close_after_answer(ctx: &WorkerCtx, scratch: &Scratch) -> bool {
    !scratch.head.keep_alive || scratch.head.framing != BodyFraming::None || ctx.shutdown.is_fired()
}

/// Sends a gateway-made answer (`out`) and ends the request: a lingering close when `close`,
/// otherwise the request head is consumed and the connection kept.
async fn send_answer(
    ctx: &WorkerCtx,
    client: &mut Client,
    scratch: &mut Scratch,
    out: Vec<u8>,
    close: bool,
) -> After {
    let (result, out) = write_owned(
        &mut client.io.stream,
        out,
        ctx.shared.settings.client_send_timeout,
    )
    .await;
    scratch.out = out;
    if result.is_err() {
        return After::Close;
    }
    if close {
        client.io.lingering_close().await;
        return After::Close;
    }
    client.io.consume(scratch.head.head_len);
    After::KeepAlive
}

struct HashInputsView<'a> {
    client_ip: &'a str,
    head: &'a RequestHead,
    buf: &'a [u8],
    path: &'a str,
    captures: &'a sluice_router::RouteMatch<'a, 'a>,
}

impl sluice_balancer::HashInputs for HashInputsView<'_> {
    fn client_ip(&self) -> Option<&[u8]> {
        Some(self.client_ip.as_bytes())
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.header(self.buf, name)
    }
    fn cookie(&self, name: &str) -> Option<&[u8]> {
        self.head
            .header_values(self.buf, "cookie")
            .find_map(|value| {
                value.split(|&b| b == b';').find_map(|pair| {
                    let pair = crate::http::trim_ows(pair);
                    let eq = pair.iter().position(|&b| b == b'=')?;
                    (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
                })
            })
    }
    fn path(&self) -> Option<&[u8]> {
        Some(self.path.as_bytes())
    }
    fn query_arg(&self, name: &str) -> Option<&[u8]> {
        let query = &self.buf[self.head.query.clone()?];
        query.split(|&b| b == b'&').find_map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            (key == name.as_bytes()).then_some(value)
        })
    }
    fn uri_capture(&self, name: &str) -> Option<&[u8]> {
        self.captures
            .captures()
            .find(|(capture, _)| *capture == name)
            .map(|(_, value)| value.as_bytes())
    }
    fn consumer(&self) -> Option<&[u8]> {
        // Routing happens before authentication; `handle_request` replaces the key with the
        // consumer id once an auth plugin has identified one.
        None
    }
}

struct Attempt<'a> {
    service: &'a ServiceEntry,
    route: usize,
    plugins: &'a Plugins,
    preserve_host: bool,
    strip_len: usize,
}

/// Candidates in the order to try them.
enum Order<'a> {
    Balanced(sluice_balancer::RetryOrder<'a>),
    Direct {
        addrs: &'a [SocketAddr],
        next: usize,
    },
}

impl<'a> Order<'a> {
    fn next(&mut self) -> Option<(SocketAddr, Option<&'a Target>)> {
        match self {
            Order::Balanced(order) => order.next().map(|target| (target.addr(), Some(&**target))),
            Order::Direct { addrs, next } => {
                if addrs.is_empty() {
                    return None;
                }
                let addr = addrs[*next % addrs.len()];
                *next += 1;
                Some((addr, None))
            }
        }
    }
}

/// How one attempt on one target ended, when it did not produce a response.
enum AttemptError {
    /// Nothing of the request body was consumed: another target may be tried.
    Retryable(Failure),
    /// The client has been answered or the connection is unusable.
    Done(After),
}

async fn proxy_with_retries(
    ctx: &Rc<WorkerCtx>,
    client: &mut Client,
    scratch: &mut Scratch,
    snapshot: &Snapshot,
    attempt: &Attempt<'_>,
    upstream: Option<(usize, &Arc<Upstream>)>,
) -> After {
    if scratch.head.framing == BodyFraming::Chunked {
        // The body streams, so a broken chunk arriving later can only cut the upstream request
        // short; the bytes already here are checked before an upstream sees anything.
        let buffered = client
            .io
            .pending()
            .get(scratch.head.head_len..)
            .unwrap_or_default();
        if ChunkedScanner::new(ctx.shared.settings.limits.max_head)
            .scan(buffered)
            .is_err()
        {
            let failure = Failure::BadRequest(RequestError::InvalidChunkedBody);
            return reply_failure(ctx, client, scratch, failure).await;
        }
    }
    let mut order = match (&attempt.service.backend, upstream) {
        (Backend::Upstream(_), Some((index, upstream))) => {
            let key = (!scratch.hash_key.is_empty()).then_some(scratch.hash_key.as_slice());
            Order::Balanced(
                ctx.with_cursor(snapshot, index, |cursor| upstream.retry_order(cursor, key)),
            )
        }
        (Backend::Direct(addrs), _) => {
            let start = ctx.direct_rotation.get();
            ctx.direct_rotation.set(start.wrapping_add(1));
            Order::Direct { addrs, next: start }
        }
        (Backend::Unresolved, _) | (Backend::Upstream(_), None) => {
            return reply_failure(ctx, client, scratch, Failure::NameResolution).await;
        }
    };
    let mut failure = Failure::Unavailable;
    let max_attempts = attempt.service.retries.saturating_add(1);
    for _ in 0..max_attempts {
        let Some((addr, target)) = order.next() else {
            break;
        };
        let _active = target.map(Target::begin);
        match try_target(ctx, client, scratch, attempt, addr, target).await {
            Ok(after) => return after,
            Err(AttemptError::Done(after)) => return after,
            Err(AttemptError::Retryable(f)) => failure = f,
        }
    }
    reply_failure(ctx, client, scratch, failure).await
}

/// Answers with the failure's status; the answer to a HEAD request has no body, whatever the
/// request carried.
async fn reply_failure(
    ctx: &WorkerCtx,
    client: &mut Client,
    scratch: &mut Scratch,
    failure: Failure,
) -> After {
    let head_only = scratch.head.method_kind() == Method::Head;
    let close = must_close_after_answer(ctx, scratch);
    let mut out = scratch.out();
    let (status, message) = failure.status_and_message();
    write_json_response(&mut out, status, message, close, head_only);
    scratch.log.answered(status, failure.source(), out.len());
    send_answer(ctx, client, scratch, out, close).await
}

fn report_connect_failure(target: Option<&Target>, error: &IoFailure) -> Failure {
    match error {
        IoFailure::Timeout => {
            if let Some(t) = target {
                t.report_timeout();
            }
            Failure::GatewayTimeout
        }
        IoFailure::Io(_) => {
            if let Some(t) = target {
                t.report_tcp_failure();
            }
            Failure::BadGateway
        }
    }
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<UpstreamConn, IoFailure> {
    let stream = match monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(IoFailure::Io(e)),
        Err(_) => return Err(IoFailure::Timeout),
    };
    let _ = stream.set_nodelay(true);
    Ok(UpstreamConn {
        io: BufferedStream::new(stream, UPSTREAM_BUFFER),
        addr,
        requests: 0,
    })
}

/// Notes a try for the log phase (and, on the first, the URI sent upstream).
fn record_try(scratch: &mut Scratch, buf: &[u8], addr: SocketAddr) {
    let log = &mut scratch.log;
    if log.tries.is_empty() {
        log.upstream_uri.push_str(&scratch.upstream_path);
        let query = match &scratch.plugins.new_query {
            Some(q) => Some(q.as_bytes()),
            None => scratch.head.query.clone().and_then(|q| buf.get(q)),
        };
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            log.upstream_uri.push('?');
            log.upstream_uri.push_str(&String::from_utf8_lossy(q));
        }
    }
    log.tries.push(Try {
        ip: addr.ip(),
        port: addr.port(),
        balancer_start_ms: (unix_now() * 1000.0) as u64,
        balancer_latency_ms: 0,
    });
}

/// One try against one target: connect (or reuse), send, receive, relay.
async fn try_target(
    ctx: &Rc<WorkerCtx>,
    client: &mut Client,
    scratch: &mut Scratch,
    attempt: &Attempt<'_>,
    addr: SocketAddr,
    target: Option<&Target>,
) -> Result<After, AttemptError> {
    let settings = &ctx.shared.settings;
    let service = attempt.service;
    let head_len = scratch.head.head_len;
    let framing = scratch.head.framing;
    let resendable = framing == BodyFraming::None && scratch.head.method_kind().is_idempotent();
    if scratch.log.enabled {
        record_try(scratch, client.io.pending(), addr);
    }

    // A pooled connection may have been closed by the upstream while idle; such a request is
    // sent once more on a fresh connection when it is safe to resend.
    let mut pooled = ctx.pool.checkout(addr);
    let upstream = loop {
        let reused = pooled.is_some();
        let mut upstream = match pooled.take() {
            Some(conn) => conn,
            None => connect(addr, service.connect_timeout)
                .await
                .map_err(|e| AttemptError::Retryable(report_connect_failure(target, &e)))?,
        };
        upstream.requests += 1;

        let mut out = scratch.out();
        {
            let buf = client.io.pending();
            let stripped = &scratch.path[..attempt.strip_len.min(scratch.path.len())];
            let upstream_target = UpstreamTarget {
                path: &scratch.upstream_path,
                host: &service.host_header,
                preserve_host: attempt.preserve_host,
                stripped_prefix: stripped,
            };
            let edits = RequestEdits {
                headers: (!scratch.plugins.request.is_empty()).then_some(&scratch.plugins.request),
                query: scratch.plugins.new_query.as_deref(),
            };
            write_upstream_head_edited(
                &mut out,
                buf,
                &scratch.head,
                &upstream_target,
                &client.facts,
                edits,
            );
        }
        // Small bodies that arrived with the head share its write.
        let mut body_sent = false;
        if let BodyFraming::Length(n) = framing {
            let available = client.io.pending_len() - head_len;
            if n <= COALESCE_BODY as u64 && available as u64 >= n && !scratch.head.expect_continue {
                let start = head_len;
                out.extend_from_slice(&client.io.pending()[start..start + n as usize]);
                body_sent = true;
            }
        }
        let (written, out) = write_owned(&mut upstream.io.stream, out, service.write_timeout).await;
        scratch.out = out;
        if let Err(e) = written {
            if reused && resendable {
                continue;
            }
            // Nothing of the body was consumed from the client yet: try the next target.
            return Err(AttemptError::Retryable(report_connect_failure(target, &e)));
        }
        // A bodyless request's head stays buffered until the response head arrives, so that a
        // stale pooled connection can be retried with the same bytes.
        if framing != BodyFraming::None {
            client.io.consume(head_len);
        }
        if body_sent {
            if let BodyFraming::Length(n) = framing {
                client.io.consume(n as usize);
                scratch.log.request_bytes = (head_len as u64).saturating_add(n);
            }
        } else if framing != BodyFraming::None {
            if scratch.head.expect_continue {
                let interim = &b"HTTP/1.1 100 Continue\r\n\r\n"[..];
                let (sent, _) =
                    write_owned(&mut client.io.stream, interim, settings.client_send_timeout).await;
                if sent.is_err() {
                    return Err(AttemptError::Done(After::Close));
                }
            }
            let relayed = relay_body(
                &mut client.io,
                &mut upstream.io.stream,
                framing,
                settings.client_body_timeout,
                service.write_timeout,
                settings.limits.max_head,
                // The tighter of the gateway limit and request-size-limiting's.
                match (settings.max_body_size, scratch.plugins.max_body) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
            )
            .await;
            match relayed {
                Ok(body_bytes) => {
                    scratch.log.request_bytes = (head_len as u64).saturating_add(body_bytes);
                }
                Err(RelayError::Source(SourceError::TooLarge)) => {
                    // The upstream got a partial request; that connection is dropped here.
                    let failure = Failure::BodyTooLarge;
                    return Err(AttemptError::Done(
                        reply_failure(ctx, client, scratch, failure).await,
                    ));
                }
                Err(RelayError::Source(SourceError::Framing(_))) => {
                    // The upstream got a request cut short; that connection is dropped here.
                    let failure = Failure::BadRequest(RequestError::InvalidChunkedBody);
                    return Err(AttemptError::Done(
                        reply_failure(ctx, client, scratch, failure).await,
                    ));
                }
                // The client went away or stalled: nobody to answer.
                Err(RelayError::Source(_)) => return Err(AttemptError::Done(After::Close)),
                Err(RelayError::Destination(e)) => {
                    let failure = report_connect_failure(target, &e);
                    return Err(AttemptError::Done(
                        reply_failure(ctx, client, scratch, failure).await,
                    ));
                }
            }
        }

        scratch.log.upstream_sent = scratch.log.now();
        match read_response_head(&mut upstream, scratch, service.read_timeout).await {
            Ok(()) => {
                if framing == BodyFraming::None {
                    client.io.consume(head_len);
                }
                scratch.log.upstream_head = scratch.log.now();
                break upstream;
            }
            Err(ReadHeadError::Closed | ReadHeadError::Io) if reused && resendable => continue,
            Err(e) => {
                let failure = match e {
                    ReadHeadError::Timeout => {
                        if let Some(t) = target {
                            t.report_timeout();
                        }
                        Failure::GatewayTimeout
                    }
                    ReadHeadError::Closed | ReadHeadError::Io => {
                        if let Some(t) = target {
                            t.report_tcp_failure();
                        }
                        Failure::BadGateway
                    }
                    ReadHeadError::Invalid => Failure::BadGateway,
                };
                return Err(AttemptError::Done(
                    reply_failure(ctx, client, scratch, failure).await,
                ));
            }
        }
    };
    if let Some(t) = target {
        t.report_http_status(scratch.response.status);
    }
    if !attempt.plugins.is_empty() {
        let view = PluginResponse {
            head: &scratch.response,
            buf: upstream.io.pending(),
        };
        attempt
            .plugins
            .header_filter(attempt.route, &view, &mut scratch.plugins);
    }
    if scratch.plugins.has_body_filter() && scratch.response.status != 101 {
        let fits = match scratch.response.framing {
            BodyFraming::None => false,
            BodyFraming::Length(n) => n <= BODY_FILTER_LIMIT as u64,
            BodyFraming::Chunked | BodyFraming::UntilClose => true,
        };
        if fits {
            // Boxed like the Redis call: only body-filtered responses pay for its state.
            return Ok(Box::pin(relay_filtered(
                ctx,
                client,
                scratch,
                upstream,
                service.read_timeout,
                attempt.plugins,
            ))
            .await);
        }
    }
    Ok(relay_response(ctx, client, scratch, upstream, service.read_timeout).await)
}

enum ReadHeadError {
    Timeout,
    /// The upstream closed before sending a complete head.
    Closed,
    Io,
    Invalid,
}

/// Reads the final response head (1xx interim responses other than 101 are skipped).
async fn read_response_head(
    upstream: &mut UpstreamConn,
    scratch: &mut Scratch,
    timeout: Duration,
) -> Result<(), ReadHeadError> {
    let limits = crate::http::HeadLimits::default();
    let head_request = scratch.head.method_kind() == Method::Head;
    loop {
        upstream.io.compact();
        if upstream.io.pending_len() > 0 {
            let head = std::mem::take(&mut scratch.response);
            match parse_response(upstream.io.pending(), &limits, head_request, head) {
                Ok(ResponseStatus::Complete(head)) => {
                    let interim = head.is_informational() && head.status != 101;
                    let head_len = head.head_len;
                    scratch.response = head;
                    if interim {
                        upstream.io.consume(head_len);
                        continue;
                    }
                    return Ok(());
                }
                Ok(ResponseStatus::Partial) => {}
                Err(_) => return Err(ReadHeadError::Invalid),
            }
        }
        match upstream.io.fill(UPSTREAM_BUFFER, timeout).await {
            Ok(0) => return Err(ReadHeadError::Closed),
            Ok(_) => {}
            Err(IoFailure::Timeout) => return Err(ReadHeadError::Timeout),
            Err(IoFailure::Io(_)) => return Err(ReadHeadError::Io),
        }
    }
}

/// Largest response body buffered for the body filter phase; a larger chunked or
/// close-delimited body is sent unfiltered (its first `BODY_FILTER_LIMIT` bytes included).
const BODY_FILTER_LIMIT: usize = 8 * 1024 * 1024;

/// Relays a response whose body a plugin transforms (body filter phase): the body is read
/// whole, filtered, and sent with its new Content-Length.
async fn relay_filtered(
    ctx: &Rc<WorkerCtx>,
    client: &mut Client,
    scratch: &mut Scratch,
    mut upstream: UpstreamConn,
    read_timeout: Duration,
    plugins: &Plugins,
) -> After {
    let settings = &ctx.shared.settings;
    let head_len = scratch.response.head_len;
    // The head's ranges index the upstream buffer, which reading the body reuses.
    let head_bytes = upstream.io.pending()[..head_len].to_vec();
    upstream.io.consume(head_len);
    let collected = crate::relay::collect_body(
        &mut upstream.io,
        scratch.response.framing,
        read_timeout,
        settings.limits.max_head,
        BODY_FILTER_LIMIT,
    )
    .await;
    let mut collected = match collected {
        Ok(c) => c,
        Err(_) => {
            // Nothing was sent to the client yet; its request head is already consumed.
            scratch.head.keep_alive = false;
            return reply_failure(ctx, client, scratch, Failure::BadGateway).await;
        }
    };
    let status = scratch.response.status;
    scratch.log.upstream_status = Some(status);
    let client_body = if collected.complete {
        plugins.body_filter(&mut collected.body, &scratch.plugins);
        ClientBody::Length(collected.body.len() as u64)
    } else if scratch.head.http10 {
        ClientBody::UntilClose
    } else {
        ClientBody::Chunked
    };
    let keep_alive =
        scratch.head.keep_alive && !client_body.ends_connection() && !ctx.shutdown.is_fired();
    let mut out = scratch.out();
    let edits = (!scratch.plugins.response.is_empty()).then_some(&scratch.plugins.response);
    write_client_head_edited(
        &mut out,
        &head_bytes,
        &scratch.response,
        client_body,
        keep_alive,
        scratch.head.http10,
        false,
        edits,
    );
    let head_bytes_out = out.len();
    let body_bytes = if collected.complete {
        out.extend_from_slice(&collected.body);
        collected.body.len() as u64
    } else {
        0
    };
    scratch
        .log
        .answered(status, ResponseSource::Service, head_bytes_out);
    let (written, out) =
        write_owned(&mut client.io.stream, out, settings.client_send_timeout).await;
    scratch.out = out;
    if written.is_err() {
        return After::Close;
    }
    scratch.log.response_bytes += body_bytes;
    if !collected.complete {
        let rest = crate::relay::relay_rest(
            &mut upstream.io,
            collected,
            &mut client.io.stream,
            client_body == ClientBody::Chunked,
            read_timeout,
            settings.client_send_timeout,
        )
        .await;
        match rest {
            Ok(n) => scratch.log.response_bytes += n,
            Err(_) => return After::Close,
        }
    }
    finish_exchange(ctx, scratch, upstream, keep_alive)
}

/// After a response was relayed whole: the upstream connection goes back to the pool when its
/// response allows it; the client connection stays open when `keep_alive`.
fn finish_exchange(
    ctx: &WorkerCtx,
    scratch: &Scratch,
    upstream: UpstreamConn,
    keep_alive: bool,
) -> After {
    if scratch.response.keep_alive && scratch.response.framing != BodyFraming::UntilClose {
        ctx.pool.checkin(upstream);
    }
    if keep_alive {
        After::KeepAlive
    } else {
        After::Close
    }
}

async fn relay_response(
    ctx: &Rc<WorkerCtx>,
    client: &mut Client,
    scratch: &mut Scratch,
    mut upstream: UpstreamConn,
    read_timeout: Duration,
) -> After {
    let settings = &ctx.shared.settings;
    let response_head_len = scratch.response.head_len;
    let upgrade = scratch.response.status == 101;
    if upgrade && !scratch.head.upgrade {
        // The head is already consumed: answer and close rather than consume it twice.
        scratch.head.keep_alive = false;
        return reply_failure(ctx, client, scratch, Failure::BadGateway).await;
    }
    let body = if upgrade {
        ClientBody::None
    } else {
        ClientBody::choose(scratch.response.framing, scratch.head.http10)
    };
    let keep_alive =
        !upgrade && scratch.head.keep_alive && !body.ends_connection() && !ctx.shutdown.is_fired();
    let mut out = scratch.out();
    let edits = (!scratch.plugins.response.is_empty()).then_some(&scratch.plugins.response);
    write_client_head_edited(
        &mut out,
        upstream.io.pending(),
        &scratch.response,
        body,
        keep_alive,
        scratch.head.http10,
        upgrade,
        edits,
    );
    upstream.io.consume(response_head_len);
    let status = scratch.response.status;
    scratch
        .log
        .answered(status, ResponseSource::Service, out.len());
    scratch.log.upstream_status = Some(status);
    let (written, out) =
        write_owned(&mut client.io.stream, out, settings.client_send_timeout).await;
    scratch.out = out;
    if written.is_err() {
        return After::Close;
    }
    if upgrade {
        return After::Upgrade(upstream);
    }
    let relayed = match body {
        ClientBody::None => Ok(0),
        ClientBody::Length(_) | ClientBody::Chunked | ClientBody::UntilClose => {
            relay_body(
                &mut upstream.io,
                &mut client.io.stream,
                scratch.response.framing,
                read_timeout,
                settings.client_send_timeout,
                settings.limits.max_head,
                None,
            )
            .await
        }
        ClientBody::Dechunk => {
            crate::relay::relay_dechunked(
                &mut upstream.io,
                &mut client.io.stream,
                read_timeout,
                settings.client_send_timeout,
                settings.limits.max_head,
            )
            .await
        }
    };
    match relayed {
        Ok(body_bytes) => scratch.log.response_bytes += body_bytes,
        // A truncated body must not look complete: closing is the only honest signal left.
        Err(_) => return After::Close,
    }
    finish_exchange(ctx, scratch, upstream, keep_alive)
}
