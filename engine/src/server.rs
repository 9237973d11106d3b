//! Process lifecycle: load and compile the config, bind the listeners, start one worker
//! thread per core, then turn signals into actions (SIGHUP reload, SIGTERM/SIGINT drain).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use sluice_balancer::HealthRegistry;

use crate::config::store::Store;
use crate::config::{self, ConfigProblem};
use crate::settings::ProxySettings;
use crate::snapshot::Snapshot;
use crate::worker::{run_worker, IoDriver, Shared, WorkerCtx};

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub config_path: Option<PathBuf>,
    pub proxy_listen: SocketAddr,
    pub workers: usize,
    pub io_driver: IoDriver,
    pub pin_cpus: bool,
    pub settings: ProxySettings,
    /// Required on every Admin API request when set (`--admin-token`).
    pub admin_token: Option<String>,
    /// Reload the config file when it changes (`--watch`).
    pub watch: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration:\n{}", format_problems(.0))]
    Config(Vec<ConfigProblem>),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start worker: {0}")]
    Worker(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

pub fn format_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads (or takes the embedded default) and compiles the declarative config.
pub fn load_snapshot(
    path: Option<&PathBuf>,
    health: &HealthRegistry,
) -> Result<Snapshot, Vec<ConfigProblem>> {
    load_snapshot_with(
        path,
        health,
        &Arc::new(sluice_plugins::PluginState::default()),
    )
}

/// [`load_snapshot`] with the process's plugin state, so counters survive reloads.
pub fn load_snapshot_with(
    path: Option<&PathBuf>,
    health: &HealthRegistry,
    plugin_state: &Arc<sluice_plugins::PluginState>,
) -> Result<Snapshot, Vec<ConfigProblem>> {
    let mut raw = match path {
        Some(path) => config::load_config_file(path)?,
        None => config::parse_config(config::load::DEFAULT_CONFIG)?,
    };
    // Every entity gets the id and timestamps the Admin API shows.
    config::identity::fill(&mut raw, None, config::identity::now());
    config::compile::compile_with(raw, health, plugin_state)
}

/// Binds one SO_REUSEPORT socket per worker on the same address. With port 0 the first
/// socket picks the port and the others join it.
fn bind_listeners(
    addr: SocketAddr,
    count: usize,
) -> Result<Vec<std::net::TcpListener>, StartError> {
    let mut listeners = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count {
        let listener = bind_reuseport(bound).map_err(|source| StartError::Bind {
            addr: bound,
            source,
        })?;
        if bound.port() == 0 {
            bound = listener
                .local_addr()
                .map_err(|source| StartError::Bind { addr, source })?;
        }
        listeners.push(listener);
    }
    Ok(listeners)
}

fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    // Kong's listeners use backlog=16384.
    socket.listen(16384)?;
    Ok(socket.into())
}

/// Starts the gateway and blocks until it has shut down.
pub fn run(options: ServerOptions, admin_listen: SocketAddr) -> Result<(), StartError> {
    let health = Arc::new(HealthRegistry::new());
    let plugin_state = Arc::new(sluice_plugins::PluginState::default());
    let snapshot = load_snapshot_with(options.config_path.as_ref(), &health, &plugin_state)
        .map_err(StartError::Config)?;
    let workers = options.workers.max(1);
    let listeners = bind_listeners(options.proxy_listen, workers)?;
    let proxy_addr = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .unwrap_or(options.proxy_listen);
    let shared = Arc::new(Shared::new(
        snapshot,
        options.settings.clone(),
        Arc::clone(&health),
        plugin_state,
        workers,
    ));

    // Signal handlers go in before anything is announced, so a signal never hits the default
    // disposition once a test (or an operator) can see the listener.
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(StartError::Signals)?;

    let driver = resolve_driver(options.io_driver);
    let cores = if options.pin_cpus {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(workers);
    for (index, listener) in listeners.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let handle = std::thread::Builder::new()
            .name(format!("sluice-worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                worker_thread(index, shared, listener, driver);
            })
            .map_err(StartError::Worker)?;
        handles.push(handle);
    }
    let probe_handle =
        crate::health_probe::start(Arc::clone(&shared)).map_err(StartError::Worker)?;
    let store = Arc::new(Store::new(Arc::clone(&shared), options.config_path.clone()));
    let (admin_addr, admin_handle) = crate::admin::start(
        admin_listen,
        Arc::clone(&store),
        options.admin_token.clone(),
    )
    .map_err(|source| StartError::Bind {
        addr: admin_listen,
        source,
    })?;
    if options.watch {
        store.spawn_watcher().map_err(StartError::Worker)?;
    }
    tracing::info!(%proxy_addr, %admin_addr, workers, ?driver, "sluice started");
    println!("sluice: admin listening on {admin_addr}");
    // Machine-readable line for scripts and tests that bind port 0.
    println!("sluice: proxy listening on {proxy_addr}");

    for signal in signals.forever() {
        match signal {
            SIGHUP => reload(&store),
            _ => {
                tracing::info!("shutting down: draining in-flight requests");
                shared.shutting_down.store(true, Ordering::Release);
                break;
            }
        }
    }
    for handle in handles {
        let _ = handle.join();
    }
    let _ = admin_handle.join();
    let _ = probe_handle.join();
    tracing::info!("sluice stopped");
    Ok(())
}

/// SIGHUP: re-reads the file through the store, serialised with Admin API changes.
fn reload(store: &Store) {
    let Some(path) = store.path() else {
        tracing::info!("SIGHUP: no --config file, nothing to reload");
        return;
    };
    match store.reload_file() {
        Ok(Some(generation)) => {
            tracing::info!(generation, path = %path.display(), "configuration reloaded");
            println!("sluice: configuration reloaded (generation {generation})");
        }
        Ok(None) => {}
        Err(problems) => {
            tracing::error!(path = %path.display(), "reload rejected, keeping the running configuration:\n{}", format_problems(&problems));
            println!("sluice: reload rejected ({} problems)", problems.len());
        }
    }
}

fn resolve_driver(requested: IoDriver) -> IoDriver {
    match requested {
        // Stays Auto so that the worker may still fall back if the ring cannot be built.
        IoDriver::Auto if monoio::utils::detect_uring() => IoDriver::Auto,
        IoDriver::Auto => IoDriver::Legacy,
        other => other,
    }
}

/// An io_uring runtime. With `cooperative`, the ring is set up so completions are delivered
/// when the worker next enters the kernel instead of by interrupting it (COOP_TASKRUN +
/// TASKRUN_FLAG, Linux 5.19+): the worker is the only submitter and enters the kernel every
/// loop anyway. Older kernels refuse the flags, and the caller retries without them.
fn build_uring_runtime(
    cooperative: bool,
) -> std::io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let mut ring = io_uring::IoUring::builder();
    if cooperative {
        ring.setup_coop_taskrun().setup_taskrun_flag();
    }
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .uring_builder(ring)
        .enable_timer()
        .build()
}

fn worker_thread(
    index: usize,
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    driver: IoDriver,
) {
    let work = move || async move {
        let listener = match monoio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(worker = index, error = %e, "cannot register listener");
                return;
            }
        };
        let ctx = std::rc::Rc::new(WorkerCtx::new(index, shared));
        run_worker(ctx, listener).await;
    };
    let built = match driver {
        IoDriver::IoUring | IoDriver::Auto => {
            match build_uring_runtime(true).or_else(|_| build_uring_runtime(false)) {
                Ok(mut runtime) => {
                    runtime.block_on(work());
                    Ok(())
                }
                // Auto-detection saw io_uring but the ring could not be set up (memlock
                // limits, seccomp): epoll still works.
                Err(e) if driver == IoDriver::Auto => {
                    tracing::warn!(worker = index, error = %e, "io_uring unavailable, using the legacy driver");
                    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                        .enable_timer()
                        .build()
                        .map(|mut runtime| runtime.block_on(work()))
                }
                Err(e) => Err(e),
            }
        }
        IoDriver::Legacy => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .map(|mut runtime| runtime.block_on(work())),
    };
    if let Err(e) = built {
        tracing::error!(worker = index, error = %e, "cannot build runtime");
    }
}
