//! sluice-engine: the running gateway. Owns the worker threads (one monoio runtime each),
//! listeners, the HTTP/1.1 codec, the proxy loop, upstream connection pools, config
//! load/compile/reload and the CLI. In the request lifecycle it is everything around the
//! pure crates: it reads and validates the request (steps 1-3), asks `sluice-router` which
//! route (4), asks `sluice-balancer` which target (6), and moves the bytes (7-10).
//! See ARCHITECTURE.md for the phase chart.

pub mod admin;
pub mod cli;
pub mod config;
pub mod conn;
pub mod forward;
pub mod health_probe;
pub mod http;
pub mod pool;
pub mod proxy;
pub mod proxy_protocol;
pub mod redis_client;
pub mod relay;
pub mod respond;
pub mod server;
pub mod settings;
pub mod snapshot;
pub mod worker;
