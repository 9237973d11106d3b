//! Admin listener (default 127.0.0.1:8001, like Kong). Serves `GET /status`; the entity
//! endpoints arrive with the Admin API work. Runs on its own thread and runtime so that
//! admin traffic never competes with proxy workers for their event loops.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::TcpStream;

use crate::conn::{write_owned, BufferedStream};
use crate::http::request::{parse_request, ParseStatus, RequestHead};
use crate::http::HeadLimits;
use crate::respond::{write_json_response, write_response};
use crate::worker::Shared;

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds the admin listener now (so a bad address fails start-up) and serves it on a
/// dedicated thread.
pub fn start(
    addr: SocketAddr,
    shared: Arc<Shared>,
) -> std::io::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "the admin listener is reachable from other hosts");
    }
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
            runtime.block_on(async move {
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
                        monoio::spawn(serve(Arc::clone(&shared), stream));
                    }
                }
            });
        })?;
    Ok((bound, handle))
}

async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let limits = HeadLimits::default();
    let mut io = BufferedStream::new(stream, 4096);
    let mut head = RequestHead::default();
    loop {
        io.compact();
        let parsed = match parse_request(io.pending(), &limits, std::mem::take(&mut head)) {
            Ok(ParseStatus::Complete(parsed)) => parsed,
            Ok(ParseStatus::Partial) => match io.fill(4096, ADMIN_TIMEOUT).await {
                Ok(n) if n > 0 => continue,
                _ => return,
            },
            Err(e) => {
                let mut out = Vec::new();
                write_json_response(&mut out, e.status(), "Bad request", true, false);
                let _ = write_owned(&mut io.stream, out, ADMIN_TIMEOUT).await;
                return;
            }
        };
        let buf = io.pending();
        let method = &buf[parsed.method.clone()];
        let path = &buf[parsed.path.clone()];
        let mut out = Vec::with_capacity(512);
        let keep_alive = parsed.keep_alive && parsed.framing == crate::http::BodyFraming::None;
        match (method, path) {
            (b"GET" | b"HEAD", b"/status") => {
                let body = status_json(&shared).to_string();
                write_response(
                    &mut out,
                    200,
                    "application/json; charset=utf-8",
                    body.as_bytes(),
                    !keep_alive,
                    method == b"HEAD",
                );
            }
            (_, b"/status") => {
                write_json_response(&mut out, 405, "Method not allowed", !keep_alive, false)
            }
            _ => write_json_response(&mut out, 404, "Not found", !keep_alive, method == b"HEAD"),
        }
        io.consume(parsed.head_len);
        head = parsed;
        let (written, _) = write_owned(&mut io.stream, out, ADMIN_TIMEOUT).await;
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// Kong's `/status` server block, plus what Sluice adds: workers and config generation.
pub fn status_json(shared: &Shared) -> serde_json::Value {
    let sum = |f: fn(&crate::worker::WorkerStats) -> u64| shared.stats.iter().map(f).sum::<u64>();
    let accepted = sum(|s| s.connections_accepted.load(Ordering::Relaxed));
    let active = sum(|s| s.connections_active.load(Ordering::Relaxed));
    let requests = sum(|s| s.requests.load(Ordering::Relaxed));
    serde_json::json!({
        "server": {
            "connections_accepted": accepted,
            "connections_handled": accepted,
            "connections_active": active,
            "total_requests": requests,
        },
        "workers": shared.stats.len(),
        "configuration_generation": shared.generation.load(Ordering::Acquire),
    })
}
