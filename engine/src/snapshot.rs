//! The compiled, immutable configuration every request is served from.
//!
//! One `Snapshot` holds the route table, services and upstreams. It is swapped in whole
//! (`ArcSwap`) on reload; a request keeps the snapshot it started with until it ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_balancer::Upstream;
use sluice_router::Router;

use crate::config::raw::DeclarativeConfig;

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub name: String,
    pub service: Option<usize>,
    pub preserve_host: bool,
}

#[derive(Debug, Clone)]
pub enum Backend {
    /// The service host names an upstream entity: its targets are balanced.
    Upstream(usize),
    /// The service host resolved (at compile time) to these addresses.
    Direct(Vec<SocketAddr>),
    /// The service host did not resolve; requests get 503 "name resolution failed".
    Unresolved,
}

#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub name: String,
    pub path: Option<String>,
    pub backend: Backend,
    /// `Host` sent upstream unless the route preserves the client's.
    pub host_header: String,
    pub retries: u32,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    pub read_timeout: Duration,
}

pub struct Snapshot {
    pub generation: u64,
    pub router: Router,
    pub routes: Vec<RouteEntry>,
    pub services: Vec<ServiceEntry>,
    pub upstreams: Vec<Arc<Upstream>>,
    /// Plugin chains per route, resolved at compile time.
    pub plugins: sluice_plugins::Plugins,
    /// The declarative config this snapshot was compiled from.
    pub source: DeclarativeConfig,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("generation", &self.generation)
            .field("routes", &self.routes.len())
            .field("services", &self.services.len())
            .field("upstreams", &self.upstreams.len())
            .finish()
    }
}
