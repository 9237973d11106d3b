//! The Admin API (default 127.0.0.1:8001, like Kong): Kong's entity endpoints, `/config`,
//! `/status`, upstream health. Runs on its own thread and runtime so that admin traffic never
//! competes with proxy workers for their event loops; config changes are compiled here too,
//! through the one serialised apply path in [`crate::config::store`].
//!
//! | module | role |
//! |---|---|
//! | `http` | owned requests, query strings, bodies (JSON, forms, multipart), reply writer |
//! | `router` | path -> handler, admin token check |
//! | `entities` | Kong's generated CRUD endpoints for every entity kind |
//! | `config_api` | `/config`, `/`, `/status` |
//! | `health` | `/upstreams/{u}/health`, manual target health |
//! | `errors` | Kong's error bodies |

mod config_api;
mod entities;
mod errors;
mod health;
pub mod http;
mod metrics;
mod router;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::TcpStream;

use crate::config::store::Store;
use crate::conn::{write_owned, BufferedStream};
use crate::http::chunked::ChunkedScanner;
use crate::http::request::{parse_request, ParseStatus, RequestHead};
use crate::http::{BodyFraming, HeadLimits};
use crate::worker::Shared;
use http::{Reply, Request};

pub use config_api::status_json;

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest admin request body (a whole declarative config for `POST /config`).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What every admin handler can see.
pub struct Ctx {
    pub store: Arc<Store>,
    /// `--admin-token`: required on every request when set.
    pub token: Option<String>,
    pub node_id: String,
    pub admin_addr: SocketAddr,
}

/// Binds the admin listener now (so a bad address fails start-up) and serves it on a
/// dedicated thread.
pub fn start(
    addr: SocketAddr,
    store: Arc<Store>,
    token: Option<String>,
) -> std::io::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() && token.is_none() {
        tracing::warn!(
            %bound,
            "the admin listener is reachable from other hosts and has no --admin-token: anyone who can connect can change the configuration"
        );
    }
    let shared = Arc::clone(store.shared());
    let ctx = Arc::new(Ctx {
        store,
        token,
        node_id: crate::config::identity::random_uuid(),
        admin_addr: bound,
    });
    let handle = std::thread::Builder::new()
        .name("sluice-admin".to_owned())
        .spawn(move || {
            let runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build();
            let mut runtime = match runtime {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the admin runtime");
                    return;
                }
            };
            runtime.block_on(accept_loop(listener, shared, ctx));
        })?;
    Ok((bound, handle))
}

async fn accept_loop(listener: std::net::TcpListener, shared: Arc<Shared>, ctx: Arc<Ctx>) {
    let listener = match monoio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "cannot register the admin listener");
            return;
        }
    };
    loop {
        if shared.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            _ = monoio::time::sleep(Duration::from_millis(100)) => continue,
        };
        if let Ok((stream, _)) = accepted {
            monoio::spawn(serve(Arc::clone(&ctx), stream));
        }
    }
}

/// Why reading a request ended without one.
enum ReadFailure {
    /// The peer went away or was too slow: close silently.
    Gone,
    /// Answer this, then close.
    Answer(Reply),
}

async fn serve(ctx: Arc<Ctx>, stream: TcpStream) {
    let mut io = BufferedStream::new(stream, 4096);
    loop {
        let (request, keep_alive) = match read_request(&mut io, ctx.token.as_deref()).await {
            Ok(read) => read,
            Err(ReadFailure::Gone) => return,
            Err(ReadFailure::Answer(reply)) => {
                let mut out = Vec::new();
                reply.write(&mut out, true, false);
                let _ = write_owned(&mut io.stream, out, ADMIN_TIMEOUT).await;
                // The body may still be arriving: drain it briefly so that closing does not
                // reset the connection before the client has read the answer.
                io.lingering_close().await;
                return;
            }
        };
        // Handlers are synchronous: a config change holds this thread while it compiles,
        // which also serialises admin requests on one connection after another.
        let reply = router::handle(&ctx, &request);
        let mut out = Vec::with_capacity(reply.body.len() + 256);
        reply.write(&mut out, !keep_alive, request.is_head());
        let (written, _) = write_owned(&mut io.stream, out, ADMIN_TIMEOUT).await;
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// Reads one request head and its body.
async fn read_request(
    io: &mut BufferedStream,
    token: Option<&str>,
) -> Result<(Request, bool), ReadFailure> {
    let limits = HeadLimits::default();
    let parsed = loop {
        io.compact();
        match parse_request(io.pending(), &limits, RequestHead::default()) {
            Ok(ParseStatus::Complete(parsed)) => break parsed,
            Ok(ParseStatus::Partial) => match io.fill(4096, ADMIN_TIMEOUT).await {
                Ok(n) if n > 0 => continue,
                _ => return Err(ReadFailure::Gone),
            },
            Err(e) => {
                return Err(ReadFailure::Answer(Reply::message(
                    e.status(),
                    "Bad request",
                )))
            }
        }
    };
    let buf = io.pending();
    let text = |range: std::ops::Range<usize>| String::from_utf8_lossy(&buf[range]).into_owned();
    let mut request = Request {
        method: text(parsed.method.clone()),
        path: text(parsed.path.clone()),
        query: parsed.query.clone().map(text).unwrap_or_default(),
        headers: parsed
            .headers
            .iter()
            .map(|h| {
                (
                    text(h.name.clone()).to_ascii_lowercase(),
                    text(h.value.clone()),
                )
            })
            .collect(),
        body: Vec::new(),
    };
    if request.path.is_empty() {
        request.path = "/".to_owned();
    }
    let keep_alive = parsed.keep_alive;
    io.consume(parsed.head_len);
    // Checked before the body is read: no one without the token gets us to buffer one.
    if !router::authorized(token, &request) {
        return Err(ReadFailure::Answer(router::unauthorized()));
    }
    let mut continued = !parsed.expect_continue;
    match parsed.framing {
        BodyFraming::None | BodyFraming::UntilClose => {}
        BodyFraming::Length(length) => {
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            if length > MAX_BODY {
                return Err(ReadFailure::Answer(too_large()));
            }
            while io.pending_len() < length {
                send_continue(io, &mut continued).await?;
                match io.fill(length - io.pending_len(), ADMIN_TIMEOUT).await {
                    Ok(n) if n > 0 => {}
                    _ => return Err(ReadFailure::Gone),
                }
            }
            request.body = io.pending()[..length].to_vec();
            io.consume(length);
        }
        BodyFraming::Chunked => {
            let mut scanner = ChunkedScanner::new(16 * 1024);
            while !scanner.is_done() {
                if io.pending_len() == 0 {
                    send_continue(io, &mut continued).await?;
                    match io.fill(64 * 1024, ADMIN_TIMEOUT).await {
                        Ok(n) if n > 0 => {}
                        _ => return Err(ReadFailure::Gone),
                    }
                }
                let step = scanner.step(io.pending()).map_err(|_| {
                    ReadFailure::Answer(Reply::message(400, "Bad request: invalid chunked body"))
                })?;
                if let Some(data) = step.data {
                    request.body.extend_from_slice(&io.pending()[data]);
                }
                io.consume(step.consumed);
                if request.body.len() > MAX_BODY {
                    return Err(ReadFailure::Answer(too_large()));
                }
            }
        }
    }
    Ok((request, keep_alive))
}

fn too_large() -> Reply {
    Reply::message(413, "Request body too large")
}

/// `100 Continue` before the first body read, when the client asked for it.
async fn send_continue(io: &mut BufferedStream, continued: &mut bool) -> Result<(), ReadFailure> {
    if *continued {
        return Ok(());
    }
    *continued = true;
    let (written, _) = write_owned(
        &mut io.stream,
        b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        ADMIN_TIMEOUT,
    )
    .await;
    written.map_err(|_| ReadFailure::Gone)
}
