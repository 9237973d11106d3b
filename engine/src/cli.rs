//! Command line: `sluice start` runs the gateway, `sluice check` validates a config file.
//! Every option can also come from a `SLUICE_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sluice_balancer::HealthRegistry;

use crate::server::{self, format_problems, ServerOptions};
use crate::settings::{Cidr, ProxySettings};
use crate::worker::IoDriver;

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: a Kong-compatible API gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Start(StartArgs),
    /// Validate a declarative config file, list every problem, exit non-zero if any.
    Check {
        #[arg(long, short, env = "SLUICE_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct StartArgs {
    /// Declarative config (kong.yml, format 3.0, YAML or JSON). Without it an embedded
    /// default with no routes runs: every request gets 404.
    #[arg(long, short, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Proxy listener address.
    #[arg(long, env = "SLUICE_PROXY_LISTEN", default_value = "0.0.0.0:8000")]
    proxy_listen: SocketAddr,
    /// Admin API listener address (Kong's Admin API: entities, /config, /status).
    #[arg(long, env = "SLUICE_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    admin_listen: SocketAddr,
    /// Token every Admin API request must carry (`Kong-Admin-Token` or
    /// `Authorization: Bearer`). Prefer the environment variable: arguments are visible in ps.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Reload the --config file when it changes (polled every second), like a SIGHUP.
    #[arg(long, env = "SLUICE_WATCH")]
    watch: bool,
    /// Worker threads, one io runtime each (default: number of cores).
    #[arg(long, env = "SLUICE_WORKERS")]
    workers: Option<usize>,
    /// io driver: io_uring with epoll fallback (auto), or force one.
    #[arg(long, env = "SLUICE_IO_DRIVER", value_enum, default_value = "auto")]
    io_driver: IoDriver,
    /// Pin worker threads to CPU cores.
    #[arg(long, env = "SLUICE_PIN_CPUS")]
    pin_cpus: bool,
    /// Expect a PROXY protocol (v1 or v2) header on every proxy connection.
    #[arg(long, env = "SLUICE_PROXY_PROTOCOL")]
    proxy_protocol: bool,
    /// Peers whose X-Forwarded-* / X-Real-IP headers are trusted (comma-separated IPs/CIDRs).
    #[arg(long, env = "SLUICE_TRUSTED_IPS", value_delimiter = ',', value_parser = Cidr::parse)]
    trusted_ips: Vec<Cidr>,
    /// Largest request head in bytes.
    #[arg(long, env = "SLUICE_MAX_HEAD_SIZE", default_value_t = 32 * 1024)]
    max_head_size: usize,
    /// Most header fields in a request head.
    #[arg(long, env = "SLUICE_MAX_HEADERS", default_value_t = 100)]
    max_headers: usize,
    /// Longest request URI in bytes.
    #[arg(long, env = "SLUICE_MAX_URI_SIZE", default_value_t = 8 * 1024)]
    max_uri_size: usize,
    /// Seconds allowed to receive a request head.
    #[arg(long, env = "SLUICE_CLIENT_HEADER_TIMEOUT", default_value_t = 60.0)]
    client_header_timeout: f64,
    /// Seconds allowed between two reads of a request body.
    #[arg(long, env = "SLUICE_CLIENT_BODY_TIMEOUT", default_value_t = 60.0)]
    client_body_timeout: f64,
    /// Seconds allowed for each write to a client that stopped reading (nginx's send_timeout).
    #[arg(long, env = "SLUICE_CLIENT_SEND_TIMEOUT", default_value_t = 60.0)]
    client_send_timeout: f64,
    /// Seconds an idle keepalive client connection is kept.
    #[arg(long, env = "SLUICE_KEEPALIVE_TIMEOUT", default_value_t = 60.0)]
    keepalive_timeout: f64,
    /// Seconds allowed for in-flight requests to finish after SIGTERM.
    #[arg(long, env = "SLUICE_DRAIN_TIMEOUT", default_value_t = 10.0)]
    drain_timeout: f64,
    /// Client connections per worker; beyond it new connections get 503 and are closed.
    #[arg(
        long,
        env = "SLUICE_MAX_CONNECTIONS_PER_WORKER",
        default_value_t = 16_384
    )]
    max_connections_per_worker: usize,
    /// Largest request body in bytes (413 beyond); 0 means unlimited (Kong's default).
    #[arg(long, env = "SLUICE_MAX_BODY_SIZE", default_value_t = 0)]
    max_body_size: u64,
    /// Pipelining depth: the answer to a request that was queued behind this many unanswered
    /// ones closes the connection, and the client resends the rest (RFC 9112 9.3.2).
    #[arg(long, env = "SLUICE_MAX_PIPELINED_REQUESTS", default_value_t = 256)]
    max_pipelined_requests: usize,
    /// Idle upstream connections kept per target per worker.
    #[arg(
        long,
        env = "SLUICE_UPSTREAM_KEEPALIVE_POOL_SIZE",
        default_value_t = 512
    )]
    upstream_keepalive_pool_size: usize,
    /// Requests per upstream connection before it is closed.
    #[arg(
        long,
        env = "SLUICE_UPSTREAM_KEEPALIVE_MAX_REQUESTS",
        default_value_t = 10_000
    )]
    upstream_keepalive_max_requests: u32,
    /// Seconds an idle upstream connection is kept.
    #[arg(
        long,
        env = "SLUICE_UPSTREAM_KEEPALIVE_IDLE_TIMEOUT",
        default_value_t = 60.0
    )]
    upstream_keepalive_idle_timeout: f64,
}

fn seconds(value: f64, name: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--{name} must be a positive number of seconds"))
}

impl StartArgs {
    fn into_options(self) -> Result<(ServerOptions, SocketAddr), String> {
        let mut settings = ProxySettings::default();
        settings.limits.max_head = self.max_head_size.max(1024);
        settings.limits.max_headers = self.max_headers.clamp(1, crate::http::MAX_HEADERS_CAP);
        settings.limits.max_uri = self.max_uri_size.clamp(16, settings.limits.max_head);
        settings.client_header_timeout =
            seconds(self.client_header_timeout, "client-header-timeout")?;
        settings.client_body_timeout = seconds(self.client_body_timeout, "client-body-timeout")?;
        settings.client_send_timeout = seconds(self.client_send_timeout, "client-send-timeout")?;
        settings.keepalive_timeout = seconds(self.keepalive_timeout, "keepalive-timeout")?;
        settings.drain_timeout = seconds(self.drain_timeout, "drain-timeout")?;
        settings.max_connections_per_worker = self.max_connections_per_worker.max(1);
        settings.max_body_size = (self.max_body_size > 0).then_some(self.max_body_size);
        settings.max_pipelined_requests = self.max_pipelined_requests.max(1);
        settings.trusted_ips = self.trusted_ips;
        settings.proxy_protocol = self.proxy_protocol;
        settings.pool.max_idle_per_target = self.upstream_keepalive_pool_size;
        settings.pool.max_requests = self.upstream_keepalive_max_requests.max(1);
        settings.pool.idle_timeout = seconds(
            self.upstream_keepalive_idle_timeout,
            "upstream-keepalive-idle-timeout",
        )?;
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        if workers == 0 {
            return Err("--workers must be at least 1".to_owned());
        }
        let options = ServerOptions {
            config_path: self.config,
            proxy_listen: self.proxy_listen,
            workers,
            io_driver: self.io_driver,
            pin_cpus: self.pin_cpus,
            settings,
            admin_token: self.admin_token.filter(|t| !t.is_empty()),
            watch: self.watch,
        };
        Ok((options, self.admin_listen))
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Check { config } => {
            let health = HealthRegistry::new();
            match server::load_snapshot(Some(&config), &health) {
                Ok(snapshot) => {
                    println!(
                        "{}: OK ({} services, {} routes, {} upstreams)",
                        config.display(),
                        snapshot.services.len(),
                        snapshot.routes.len(),
                        snapshot.upstreams.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    eprintln!(
                        "{}: {} problem(s)\n{}",
                        config.display(),
                        problems.len(),
                        format_problems(&problems)
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Start(args) => {
            let (options, admin_listen) = match args.into_options() {
                Ok(parsed) => parsed,
                Err(message) => {
                    eprintln!("sluice: {message}");
                    return ExitCode::from(2);
                }
            };
            match server::run(options, admin_listen) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
