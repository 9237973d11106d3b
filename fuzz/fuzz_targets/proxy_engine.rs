//! The whole engine, in process: arbitrary client bytes go through a real Sluice worker (the
//! `run_worker` accept loop and `proxy::serve_client` on a monoio epoll runtime) to a fake
//! upstream that answers with arbitrary bytes. Checked for every input:
//!
//! 1. Nothing panics (libFuzzer's panic hook aborts on a panic in any thread, the worker's
//!    included), and the gateway neither hangs a connection nor keeps it open: the client sees
//!    end of stream and the worker has finished the connection within `STALL`.
//! 2. The upstream only receives what the client sent, one unambiguous message at a time: the
//!    bytes of every upstream connection parse with the engine's own `parse_request` plus body
//!    framing (Content-Length, strict chunked scanner) as complete requests, then at most one
//!    truncated request (a body the gateway gave up on); after an upgrade answered 101 the
//!    rest is tunnel bytes. The upstream's requests, in order, are a subsequence of the
//!    client's requests (same parser on the client bytes) with the same method, framing and
//!    body bytes (a truncated one: a prefix of the client's body), so in particular the
//!    upstream receives at most as many complete requests as the client sent.
//! 3. The client only receives well-framed responses: `parse_response` reads its bytes as a
//!    sequence of responses (HEAD answers bodyless, per the request they answer) with status
//!    100..=599, each framed by Content-Length, chunked (strict scanner) or, only as the last,
//!    by the close; a 101 only answers an upgrade request and ends the check (tunnel); at most
//!    one final response per request the client sent (plus one for a refused head) and none
//!    after the answer to a request that did not allow keep-alive. Only the last response may
//!    be cut short, in its body (the gateway's "close, never a silent truncation"), and only
//!    when the upstream's own reply for it was incomplete.
//!
//! Setup (once per process): a fake upstream on 127.0.0.1 (std threads: one accept loop, one
//! handler per connection) and one engine worker thread (`Shared` + `WorkerCtx` +
//! `run_worker`, legacy/epoll driver) whose config routes everything to that upstream: a plain
//! catch-all, a stripped prefix onto a service path with response-transformer, a
//! request-size-limiting route (16 bytes), a CORS route, a request-termination route and a
//! preserve_host route. Retries are off and all timeouts are tens of milliseconds, so a stalled
//! exchange ends fast. Per input the harness connects as a client, writes the client bytes,
//! reads until end of stream, waits until the worker has finished the connection, then fences
//! the upstream listener (a connection of its own, accepted after every connection the gateway
//! made) and stops the upstream handlers, so nothing of one input leaks into the next (pooled
//! upstream connections end with their handler and are found closed by the pool).
//!
//! The upstream handler answers each complete request it receives with the reply bytes (the
//! same bytes for every request). In close mode it answers the first request and closes; in
//! keep-alive mode it keeps answering on the connection, which exercises the worker's upstream
//! pool; after an upgrade answered 101 it only records (tunnel) and closes when idle.
//!
//! Input layout: byte 0 = flags (bits 0+1 both set: the client keeps its write side open
//! instead of shutting it after the request bytes, so the gateway's header / keep-alive
//! timeouts end the connection; bit 2: upstream keep-alive mode; bit 3: the client writes its
//! bytes in two pieces 1 ms apart), bytes 1-2 = client part length (big-endian, modulo the
//! remaining length + 1), then the client bytes, then the upstream reply bytes.
//!
//! Bugs it found (fixed; `regression-*` inputs): the answer to a refused request head went
//! out after whatever the recycled output buffer held (another client's response head, say);
//! upstream statuses 600..=999 were relayed.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run proxy_engine -- -max_total_time=120` (from fuzz/,
//! with a scratch directory before `corpus/proxy_engine` to keep new inputs out of the seeds).
//! Executions are slow by fuzzing standards (loopback TCP, a few threads per input): expect
//! hundreds per second, fewer for inputs that hit a timeout.
#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sluice_balancer::HealthRegistry;
use sluice_engine::config;
use sluice_engine::http::chunked::ChunkedScanner;
use sluice_engine::http::request::{parse_request, Method, ParseStatus, RequestError, RequestHead};
use sluice_engine::http::response::{parse_response, ResponseHead, ResponseStatus};
use sluice_engine::http::{BodyFraming, HeadLimits};
use sluice_engine::settings::ProxySettings;
use sluice_engine::worker::{run_worker, Shared, WorkerCtx};

/// Longer than every timeout of the gateway put together: a connection still open after this
/// is a hang, not a slow exchange.
const STALL: Duration = Duration::from_secs(10);
/// A tunnel's upstream side closes after this much quiet.
const TUNNEL_IDLE: Duration = Duration::from_millis(20);

fn config_yaml(upstream_port: u16) -> String {
    let timeouts = "retries: 0\n  connect_timeout: 500\n  write_timeout: 500\n  read_timeout: 50";
    format!(
        r#"_format_version: "3.0"
services:
- name: plain
  url: http://127.0.0.1:{upstream_port}
  {timeouts}
  routes:
  - name: everything
    paths: ["/"]
  - name: kept-host
    hosts: ["keep.example"]
    preserve_host: true
  - name: limited
    paths: ["/l"]
    plugins:
    - name: request-size-limiting
      config:
        allowed_payload_size: 16
        size_unit: bytes
  - name: cors
    paths: ["/c"]
    plugins:
    - name: cors
      config:
        origins: ["https://app.example"]
        methods: [GET, POST]
        exposed_headers: [X-Trace]
        max_age: 600
  - name: down
    paths: ["/t"]
    plugins:
    - name: request-termination
      config:
        status_code: 503
        message: back soon
- name: based
  url: http://127.0.0.1:{upstream_port}/base
  {timeouts}
  routes:
  - name: stripped
    paths: ["/s"]
    strip_path: true
    plugins:
    - name: response-transformer
      config:
        remove:
          headers: [X-Internal]
        add:
          headers: ["X-Served-By:sluice"]
"#
    )
}

fn settings() -> ProxySettings {
    ProxySettings {
        client_header_timeout: Duration::from_millis(50),
        client_body_timeout: Duration::from_millis(50),
        client_send_timeout: Duration::from_secs(1),
        keepalive_timeout: Duration::from_millis(20),
        drain_timeout: Duration::from_millis(100),
        ..ProxySettings::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Messages as the engine's own parser reads them from a byte stream.

/// One request or response found in a byte stream.
#[derive(Debug, Clone)]
struct Msg {
    method: Vec<u8>,
    framing: BodyFraming,
    head_request: bool,
    upgrade: bool,
    keep_alive: bool,
    /// The body as it travels (chunked framing included); when `complete` is false, all the
    /// bytes after the head.
    body: Vec<u8>,
    complete: bool,
}

enum Next {
    /// A whole message and its length in bytes.
    Complete(Msg, usize),
    /// A head whose body has not fully arrived.
    ShortBody(Msg),
    /// A head whose body breaks its framing (invalid chunked syntax).
    BadBody(Msg, String),
    /// Not even a whole head.
    ShortHead,
    /// The head parser refuses the bytes.
    Refused(RequestError),
}

enum BodyEnd {
    Complete(usize),
    Short,
    Invalid(String),
}

fn body_end(framing: BodyFraming, rest: &[u8]) -> BodyEnd {
    match framing {
        BodyFraming::None => BodyEnd::Complete(0),
        BodyFraming::Length(n) => match usize::try_from(n) {
            Ok(n) if n <= rest.len() => BodyEnd::Complete(n),
            _ => BodyEnd::Short,
        },
        BodyFraming::Chunked => {
            // The trailer limit the proxy passes to the relay.
            let mut scanner = ChunkedScanner::new(HeadLimits::default().max_head);
            match scanner.scan(rest) {
                Ok(n) if scanner.is_done() => BodyEnd::Complete(n),
                Ok(_) => BodyEnd::Short,
                Err(e) => BodyEnd::Invalid(e.to_string()),
            }
        }
        BodyFraming::UntilClose => BodyEnd::Complete(rest.len()),
    }
}

fn next_request(buf: &[u8]) -> Next {
    let head = match parse_request(buf, &HeadLimits::default(), RequestHead::default()) {
        Err(e) => return Next::Refused(e),
        Ok(ParseStatus::Partial) => return Next::ShortHead,
        Ok(ParseStatus::Complete(head)) => head,
    };
    let rest = &buf[head.head_len..];
    let msg = |body: &[u8], complete: bool| Msg {
        method: buf[head.method.clone()].to_vec(),
        framing: head.framing,
        head_request: head.method_kind() == Method::Head,
        upgrade: head.upgrade,
        keep_alive: head.keep_alive,
        body: body.to_vec(),
        complete,
    };
    match body_end(head.framing, rest) {
        BodyEnd::Complete(n) => Next::Complete(msg(&rest[..n], true), head.head_len + n),
        BodyEnd::Short => Next::ShortBody(msg(rest, false)),
        BodyEnd::Invalid(why) => Next::BadBody(msg(rest, false), why),
    }
}

fn response_head(buf: &[u8], head_request: bool) -> Result<Option<ResponseHead>, String> {
    match parse_response(
        buf,
        &HeadLimits::default(),
        head_request,
        ResponseHead::default(),
    ) {
        Ok(ResponseStatus::Complete(head)) => Ok(Some(head)),
        Ok(ResponseStatus::Partial) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// What the gateway reads from `reply` for one request: the interim 1xx heads it skips, then
/// the final head. `None` if the reply has no complete final head.
fn final_reply_head(reply: &[u8], head_request: bool) -> Option<(ResponseHead, usize)> {
    let mut pos = 0;
    loop {
        let head = response_head(&reply[pos..], head_request).ok()??;
        if head.is_informational() && head.status != 101 {
            pos += head.head_len;
            continue;
        }
        return Some((head, pos));
    }
}

/// Whether the gateway switches to a tunnel when an upgrade request gets `reply`.
fn reply_switches(reply: &[u8]) -> bool {
    final_reply_head(reply, false).is_some_and(|(head, _)| head.status == 101)
}

/// Whether `reply` holds a complete final response with a definite length for a request.
fn reply_complete(reply: &[u8], head_request: bool) -> bool {
    let Some((head, start)) = final_reply_head(reply, head_request) else {
        return false;
    };
    head.framing != BodyFraming::UntilClose
        && matches!(
            body_end(head.framing, &reply[start + head.head_len..]),
            BodyEnd::Complete(_)
        )
}

// ---------------------------------------------------------------------------------------------
// The fake upstream.

struct UpstreamConn {
    /// A clone of the handler's socket, to end a handler blocked in `read`.
    control: TcpStream,
    handler: JoinHandle<Vec<u8>>,
}

#[derive(Default)]
struct UpstreamState {
    reply: Arc<Vec<u8>>,
    keep_alive: bool,
    /// Local address of the harness's fence connection for the current input.
    fence: Option<SocketAddr>,
    fence_reached: bool,
    conns: Vec<UpstreamConn>,
}

struct Upstream {
    addr: SocketAddr,
    state: Mutex<UpstreamState>,
    fenced: Condvar,
}

impl Upstream {
    fn lock(&self) -> MutexGuard<'_, UpstreamState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn accept_loop(upstream: Arc<Upstream>, listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let peer = stream.peer_addr().ok();
        let mut state = upstream.lock();
        if peer.is_some() && peer == state.fence {
            state.fence_reached = true;
            upstream.fenced.notify_all();
            continue;
        }
        let control = stream.try_clone().expect("clone an upstream socket");
        let reply = Arc::clone(&state.reply);
        let keep_alive = state.keep_alive;
        let handler = std::thread::Builder::new()
            .name("fake-upstream".into())
            .spawn(move || serve_upstream(stream, &reply, keep_alive))
            .expect("spawn an upstream handler");
        state.conns.push(UpstreamConn { control, handler });
    }
}

/// Records everything the gateway sends on one connection and answers each complete request
/// with `reply`. Ends at end of stream (or when the harness shuts the read side).
fn serve_upstream(mut stream: TcpStream, reply: &[u8], keep_alive: bool) -> Vec<u8> {
    let _ = stream.set_read_timeout(Some(STALL));
    let mut record = Vec::new();
    let mut answered = 0;
    let mut tunnel = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => record.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        while !tunnel {
            let Next::Complete(request, len) = next_request(&record[answered..]) else {
                break;
            };
            answered += len;
            let _ = stream.write_all(reply);
            if !keep_alive {
                let _ = stream.shutdown(Shutdown::Both);
                return record;
            }
            if request.upgrade && reply_switches(reply) {
                tunnel = true;
                let _ = stream.set_read_timeout(Some(TUNNEL_IDLE));
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    record
}

// ---------------------------------------------------------------------------------------------
// The engine.

struct Harness {
    gateway: SocketAddr,
    shared: Arc<Shared>,
    upstream: Arc<Upstream>,
}

fn start() -> Harness {
    let upstream_listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake upstream");
    let upstream_addr = upstream_listener.local_addr().expect("upstream address");
    let upstream = Arc::new(Upstream {
        addr: upstream_addr,
        state: Mutex::new(UpstreamState::default()),
        fenced: Condvar::new(),
    });
    {
        let upstream = Arc::clone(&upstream);
        std::thread::Builder::new()
            .name("fake-upstream-accept".into())
            .spawn(move || accept_loop(upstream, upstream_listener))
            .expect("spawn the upstream accept loop");
    }

    let mut raw = config::parse_config(&config_yaml(upstream_addr.port()))
        .unwrap_or_else(|problems| panic!("harness config refused: {problems:?}"));
    config::identity::fill(&mut raw, None, config::identity::now());
    let health = Arc::new(HealthRegistry::new());
    let plugin_state = Arc::new(Default::default());
    let snapshot = config::compile::compile_with(raw, &health, &plugin_state)
        .unwrap_or_else(|problems| panic!("harness config does not compile: {problems:?}"));
    let shared = Arc::new(Shared::new(snapshot, settings(), health, plugin_state, 1));

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gateway");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let gateway = listener.local_addr().expect("gateway address");
    {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("sluice-worker-0".into())
            .spawn(move || {
                let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                    .enable_timer()
                    .build()
                    .expect("build the worker runtime");
                runtime.block_on(async move {
                    let listener = monoio::net::TcpListener::from_std(listener)
                        .expect("register the gateway listener");
                    run_worker(Rc::new(WorkerCtx::new(0, shared)), listener).await;
                });
            })
            .expect("spawn the worker");
    }
    Harness {
        gateway,
        shared,
        upstream,
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(start)
}

/// Waits until the worker has accepted `accepted` connections in total and has none open.
fn wait_worker_idle(shared: &Shared, accepted: u64) -> bool {
    let stats = &shared.stats[0];
    let deadline = Instant::now() + STALL;
    loop {
        // `serve` bumps `connections_accepted` before `connections_active` and drops the
        // latter last, so once the count is seen, an active count of 0 means finished.
        if stats.connections_accepted.load(Ordering::SeqCst) >= accepted
            && stats.connections_active.load(Ordering::SeqCst) == 0
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Ends the current input on the upstream side: once the fence connection is accepted, every
/// connection the gateway opened before it has its handler; those are stopped and joined.
/// Returns what each upstream connection received, in the order they were accepted.
/// A blocking connect that libFuzzer's periodic SIGALRM interrupts (EINTR) goes on in the
/// kernel; asking again reports it in progress (EALREADY) or done (EISCONN).
fn connect_through_signals(socket: &socket2::Socket, addr: SocketAddr) {
    const EISCONN: i32 = 106;
    const EALREADY: i32 = 114;
    const EINPROGRESS: i32 = 115;
    let deadline = Instant::now() + STALL;
    loop {
        match socket.connect(&addr.into()) {
            Ok(()) => return,
            Err(e) if e.raw_os_error() == Some(EISCONN) => return,
            Err(e)
                if e.kind() == ErrorKind::Interrupted
                    || matches!(e.raw_os_error(), Some(EALREADY | EINPROGRESS)) =>
            {
                assert!(
                    Instant::now() < deadline,
                    "harness: the fence never connected"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("connect the fence: {e}"),
        }
    }
}

fn finish_upstream(upstream: &Upstream) -> Vec<Vec<u8>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("fence socket");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    socket.bind(&any.into()).expect("bind the fence socket");
    let fence_addr = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("fence address");
    upstream.lock().fence = Some(fence_addr);
    connect_through_signals(&socket, upstream.addr);
    let conns = {
        let mut state = upstream.lock();
        let deadline = Instant::now() + STALL;
        while !state.fence_reached {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                panic!("harness: the upstream accept loop did not reach the fence");
            };
            state = upstream
                .fenced
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        state.fence = None;
        state.fence_reached = false;
        std::mem::take(&mut state.conns)
    };
    drop(socket);
    // Shutting the read side wakes a blocked handler; bytes already received are still read.
    for conn in &conns {
        let _ = conn.control.shutdown(Shutdown::Read);
    }
    conns
        .into_iter()
        .map(|conn| conn.handler.join().unwrap_or_default())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The invariants.

/// The client's requests as the gateway's parser reads them, in order.
struct ClientView {
    /// Every request whose head parsed; only the last may be incomplete.
    requests: Vec<Msg>,
    /// The bytes after the last request are refused by the head parser (the gateway answers
    /// them with an error).
    refused_tail: bool,
}

fn client_view(bytes: &[u8]) -> ClientView {
    let mut view = ClientView {
        requests: Vec::new(),
        refused_tail: false,
    };
    let mut pos = 0;
    while pos < bytes.len() {
        match next_request(&bytes[pos..]) {
            Next::Complete(msg, len) => {
                view.requests.push(msg);
                pos += len;
            }
            Next::ShortBody(msg) | Next::BadBody(msg, _) => {
                view.requests.push(msg);
                break;
            }
            Next::ShortHead => break,
            Next::Refused(_) => {
                view.refused_tail = true;
                break;
            }
        }
    }
    view
}

/// Invariant 2: what each upstream connection received, as requests.
fn upstream_requests(records: &[Vec<u8>], reply: &[u8]) -> Result<Vec<Msg>, String> {
    let switches = reply_switches(reply);
    let mut requests = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let mut pos = 0;
        while pos < record.len() {
            let at = format!("upstream connection {index}, byte {pos}");
            match next_request(&record[pos..]) {
                Next::Complete(msg, len) => {
                    pos += len;
                    let tunnel = msg.upgrade && switches;
                    requests.push(msg);
                    if tunnel {
                        break;
                    }
                }
                Next::ShortBody(msg) => {
                    requests.push(msg);
                    break;
                }
                Next::BadBody(_, why) => {
                    return Err(format!("{at}: request body breaks its framing ({why})"))
                }
                Next::ShortHead => return Err(format!("{at}: incomplete request head")),
                Next::Refused(e) => {
                    return Err(format!("{at}: bytes the request parser refuses ({e})"))
                }
            }
        }
    }
    Ok(requests)
}

fn same_request(upstream: &Msg, client: &Msg) -> bool {
    upstream.method == client.method
        && upstream.framing == client.framing
        && if upstream.complete {
            client.complete && upstream.body == client.body
        } else {
            client.body.starts_with(&upstream.body)
        }
}

fn check_upstream(view: &ClientView, upstream: &[Msg]) -> Result<(), String> {
    let sent = view.requests.iter().filter(|m| m.complete).count();
    let received = upstream.iter().filter(|m| m.complete).count();
    if received > sent {
        return Err(format!(
            "upstream received {received} complete requests, the client sent {sent}"
        ));
    }
    let mut next = 0;
    for (index, request) in upstream.iter().enumerate() {
        match view.requests[next..]
            .iter()
            .position(|c| same_request(request, c))
        {
            Some(found) => next += found + 1,
            None => {
                return Err(format!(
                    "upstream request {index} ({} {:?}, {} body bytes{}) matches no later \
                     client request",
                    String::from_utf8_lossy(&request.method),
                    request.framing,
                    request.body.len(),
                    if request.complete { "" } else { ", truncated" },
                ))
            }
        }
    }
    Ok(())
}

/// Invariant 3: the bytes the client received.
fn check_client(view: &ClientView, got: &[u8], reply: &[u8]) -> Result<(), String> {
    let mut pos = 0;
    let mut answered = 0;
    let allowed = view.requests.len() + usize::from(view.refused_tail);
    while pos < got.len() {
        let at = format!("response at client byte {pos}");
        let request = view.requests.get(answered);
        let head_request = request.is_some_and(|r| r.head_request);
        let head = match response_head(&got[pos..], head_request) {
            Ok(Some(head)) => head,
            Ok(None) => return Err(format!("{at}: incomplete response head")),
            Err(why) => return Err(format!("{at}: refused by the response parser ({why})")),
        };
        if !(100..=599).contains(&head.status) {
            return Err(format!("{at}: status {} outside 100..=599", head.status));
        }
        let interim = head.is_informational() && head.status != 101;
        if !interim && answered >= allowed {
            return Err(format!(
                "{at}: final response {} but the client sent {} requests{}",
                answered + 1,
                view.requests.len(),
                if view.refused_tail {
                    " and a refused head"
                } else {
                    ""
                }
            ));
        }
        let body_start = pos + head.head_len;
        match body_end(head.framing, &got[body_start..]) {
            BodyEnd::Complete(n) => pos = body_start + n,
            BodyEnd::Invalid(why) => {
                return Err(format!(
                    "{at}: {:?} body breaks its framing ({why})",
                    head.framing
                ));
            }
            // The last response, cut short: legitimate only if the upstream's was.
            BodyEnd::Short => {
                if reply_complete(reply, head_request) {
                    return Err(format!(
                        "{at}: {:?} body cut short although the upstream's reply was complete",
                        head.framing
                    ));
                }
                return Ok(());
            }
        }
        if head.status == 101 {
            if !request.is_some_and(|r| r.upgrade) {
                return Err(format!(
                    "{at}: 101 for a request that did not ask to upgrade"
                ));
            }
            return Ok(());
        }
        if interim {
            continue;
        }
        answered += 1;
        if request.is_some_and(|r| !r.keep_alive) && pos < got.len() {
            return Err(format!(
                "{at}: {} more bytes after the answer to a request without keep-alive",
                got.len() - pos
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn run(data: &[u8]) {
    let [flags, len_hi, len_lo, rest @ ..] = data else {
        return;
    };
    let client_len = usize::from(u16::from_be_bytes([*len_hi, *len_lo])) % (rest.len() + 1);
    let (client_bytes, reply) = rest.split_at(client_len);
    let keep_open = flags & 0x03 == 0x03;
    let upstream_keep_alive = flags & 0x04 != 0;
    let split = flags & 0x08 != 0;

    let h = harness();
    {
        let mut state = h.upstream.lock();
        state.reply = Arc::new(reply.to_vec());
        state.keep_alive = upstream_keep_alive;
    }
    let accepted = h.shared.stats[0]
        .connections_accepted
        .load(Ordering::SeqCst)
        + 1;

    let mut client = TcpStream::connect(h.gateway).expect("connect to the gateway");
    let _ = client.set_nodelay(true);
    let _ = client.set_read_timeout(Some(STALL));
    let _ = client.set_write_timeout(Some(STALL));
    // Write errors are fine: the gateway may close before reading everything.
    if split && client_bytes.len() > 1 {
        let (first, second) = client_bytes.split_at(client_bytes.len() / 2);
        if client.write_all(first).is_ok() {
            std::thread::sleep(Duration::from_millis(1));
            let _ = client.write_all(second);
        }
    } else {
        let _ = client.write_all(client_bytes);
    }
    if !keep_open {
        let _ = client.shutdown(Shutdown::Write);
    }
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "gateway hang: client connection still open after {STALL:?}\nclient: \
                     \"{}\"\nreply: \"{}\"",
                    client_bytes.escape_ascii(),
                    reply.escape_ascii()
                )
            }
            // A reset after the answer: the gateway closed with client bytes unread. Linux
            // still delivers the bytes that arrived before the reset.
            Err(_) => break,
        }
    }
    drop(client);
    if !wait_worker_idle(&h.shared, accepted) {
        panic!(
            "gateway hang: the worker still serves the connection {STALL:?} after the client \
             closed\nclient: \"{}\"\nreply: \"{}\"",
            client_bytes.escape_ascii(),
            reply.escape_ascii()
        );
    }
    let records = finish_upstream(&h.upstream);

    let view = client_view(client_bytes);
    let verdict = upstream_requests(&records, reply)
        .and_then(|upstream| check_upstream(&view, &upstream))
        .map_err(|e| format!("invariant 2 (upstream): {e}"))
        .and_then(|()| {
            check_client(&view, &got, reply).map_err(|e| format!("invariant 3 (client): {e}"))
        });
    if let Err(failure) = verdict {
        let records: Vec<String> = records
            .iter()
            .map(|r| format!("\"{}\"", r.escape_ascii()))
            .collect();
        panic!(
            "{failure}\nflags: {flags:#04x}\nclient sent: \"{}\"\nupstream replied: \"{}\"\n\
             upstream received: [{}]\nclient received: \"{}\"",
            client_bytes.escape_ascii(),
            reply.escape_ascii(),
            records.join(", "),
            got.escape_ascii()
        );
    }
}

fuzz_target!(|data: &[u8]| run(data));
