//! Active health checks (Kong's `healthchecks.active`): periodic probes of every target of
//! every upstream that enables them, on a dedicated thread so no probe ever runs on (or
//! delays) a proxy worker. Results feed the balancer's shared health state, which all workers
//! read lock-free.
//!
//! The probe plan is rebuilt whenever a new config snapshot is installed; probes of the old
//! plan stop at their next wake-up. Target health itself lives in the `HealthRegistry`, keyed
//! by upstream name and address, so it carries over.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use sluice_balancer::{ProbeKind, ProbeOutcome, ProbeTask};

use crate::worker::Shared;

/// How often the runner looks for a new snapshot or shutdown.
const PLAN_POLL: Duration = Duration::from_millis(200);
/// Largest probe response head read.
const PROBE_READ_LIMIT: usize = 16 * 1024;

/// Starts the probe thread. It idles cheaply when no upstream enables active checks.
pub fn start(shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sluice-health".to_owned())
        .spawn(move || {
            let runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build();
            match runtime {
                Ok(mut runtime) => runtime.block_on(run(shared)),
                Err(e) => tracing::error!(error = %e, "cannot start the health-check runtime"),
            }
        })
}

async fn run(shared: Arc<Shared>) {
    let current_plan = Rc::new(Cell::new(u64::MAX));
    while !shared.shutting_down.load(Ordering::Acquire) {
        let generation = shared.generation.load(Ordering::Acquire);
        if generation != current_plan.get() {
            current_plan.set(generation);
            let snapshot = shared.config.load_full();
            let tasks: Vec<ProbeTask> = snapshot
                .upstreams
                .iter()
                .flat_map(|u| u.active_probe_plan())
                .collect();
            if !tasks.is_empty() {
                tracing::info!(
                    generation,
                    probes = tasks.len(),
                    "active health checks scheduled"
                );
            }
            for task in tasks {
                monoio::spawn(probe_loop(
                    task,
                    generation,
                    Rc::clone(&current_plan),
                    Arc::clone(&shared),
                ));
            }
        }
        monoio::time::sleep(PLAN_POLL).await;
    }
}

async fn probe_loop(
    task: ProbeTask,
    generation: u64,
    current_plan: Rc<Cell<u64>>,
    shared: Arc<Shared>,
) {
    loop {
        // Healthy and unhealthy targets may be probed at different intervals (or not at all).
        let wait = task.next_interval().unwrap_or(PLAN_POLL);
        monoio::time::sleep(wait).await;
        if current_plan.get() != generation || shared.shutting_down.load(Ordering::Acquire) {
            return;
        }
        if task.next_interval().is_none() {
            continue;
        }
        let outcome = probe(&task).await;
        tracing::debug!(upstream = %task.upstream, target = %task.target.addr(), ?outcome, "probe");
        match outcome {
            ProbeOutcome::Success(status) | ProbeOutcome::HttpFailure(status)
                if task.config.kind == ProbeKind::Http =>
            {
                task.target.record_probe_status(status)
            }
            other => task.target.record_probe(other),
        }
    }
}

/// One probe: TCP connect, and for HTTP a `GET http_path` whose status is classified by the
/// balancer's status lists.
pub async fn probe(task: &ProbeTask) -> ProbeOutcome {
    let config = &task.config;
    let addr = task.target.addr();
    let attempt = async {
        let mut stream = match TcpStream::connect_addr(addr).await {
            Ok(stream) => stream,
            Err(_) => return ProbeOutcome::TcpFailure,
        };
        if config.kind == ProbeKind::Tcp {
            return ProbeOutcome::Success(0);
        }
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: sluice-healthcheck\r\nConnection: close\r\n",
            config.http_path
        );
        for (name, value) in &config.headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let (written, _) = stream.write_all(request.into_bytes()).await;
        if written.is_err() {
            return ProbeOutcome::TcpFailure;
        }
        let mut received: Vec<u8> = Vec::with_capacity(1024);
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&received) {
                Ok(httparse::Status::Complete(_)) => {
                    return match response.code {
                        Some(status) => ProbeOutcome::Success(status),
                        None => ProbeOutcome::TcpFailure,
                    };
                }
                Ok(httparse::Status::Partial) if received.len() < PROBE_READ_LIMIT => {}
                // A target that answers garbage is as unhealthy as one that does not answer.
                _ => return ProbeOutcome::TcpFailure,
            }
            let chunk = Vec::with_capacity(4096);
            let (read, chunk) = stream.read(chunk).await;
            match read {
                Ok(n) if n > 0 => received.extend_from_slice(&chunk[..n]),
                _ => return ProbeOutcome::TcpFailure,
            }
        }
    };
    match monoio::time::timeout(config.timeout, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => ProbeOutcome::Timeout,
    }
}
