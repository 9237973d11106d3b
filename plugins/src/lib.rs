//! sluice-plugins: owns the Plugin framework, the per-request plugin context and the bundled
//! plugins; request lifecycle steps 5 (access), 9 (header filter) and 10 (log).
//!
//! The crate is synchronous: no runtime, no I/O. [`Plugins::compile`] validates every plugin
//! config (Kong's schema defaults applied, errors name the field) and resolves, per route, the
//! plugins that can apply, grouped by plugin name and ordered by Kong priority. At request time
//! [`Plugins::access`] picks, for every plugin name, the most specific instance given the
//! consumer known so far (Kong's `lookup_cfg` precedence), so consumer-scoped instances take over
//! once an auth plugin with a higher priority has identified the consumer.

mod acl;
mod auth;
mod conf;
mod correlation;
mod cors;
mod ctx;
mod ip_restriction;
mod rate_limiting;
mod size_limiting;
mod termination;
mod transformer;
pub mod util;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use ctx::{
    Access, HeaderEdits, LocalResponse, PluginCtx, RequestView, ResponseView, JSON_CONTENT_TYPE,
};
/// Start and end (unix seconds, UTC) of rate-limiting's fixed window for period index `p`
/// (0 second .. 5 year) containing `now`.
pub use rate_limiting::window as rate_limit_window;

/// A plugin instance as parsed from the declarative config (scope indices already resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub id: Option<String>,
    pub name: String,
    /// Always an object (`{}` when absent); `null` is accepted as `{}`.
    pub config: serde_json::Value,
    pub enabled: bool,
    pub service: Option<usize>,
    pub route: Option<usize>,
    pub consumer: Option<usize>,
    /// Path of the entity in the config, e.g. `plugins[3]`; errors append `.config.<field>`.
    pub source_path: String,
}

/// A consumer with the credentials the bundled auth plugins use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerSpec {
    pub id: String,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub keyauth: Vec<KeyCredential>,
    pub basicauth: Vec<BasicCredential>,
    pub acl_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCredential {
    pub id: String,
    pub key: String,
}

/// `password` is plain text, or Kong's stored digest: lowercase hex `sha1(password .. consumer_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredential {
    pub id: String,
    pub username: String,
    pub password: String,
}

/// A config problem; `path` like `plugins[3].config.minute`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PluginError {
    pub path: String,
    pub message: String,
}

/// State that outlives reloads (rate-limit counters, correlation-id generator). Create once per
/// process and pass the same `Arc` to every `compile`.
#[derive(Default)]
pub struct PluginState {
    pub(crate) counters: rate_limiting::Counters,
    pub(crate) ids: correlation::IdGen,
    /// Stable small numbers for plugin identities (plugin id, or scope + config when no id).
    identities: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginState").finish_non_exhaustive()
    }
}

impl PluginState {
    pub(crate) fn identity(&self, key: String) -> u64 {
        let mut map = match self.identities.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let next = map.len() as u64;
        *map.entry(key).or_insert(next)
    }
}

/// Kong priorities (higher runs first), from each plugin's `handler.lua`.
pub const PRIORITIES: &[(&str, u32)] = &[
    ("correlation-id", 100001),
    ("cors", 2000),
    ("key-auth", 1250),
    ("basic-auth", 1100),
    ("ip-restriction", 990),
    ("request-size-limiting", 951),
    ("acl", 950),
    ("rate-limiting", 910),
    ("request-transformer", 801),
    ("response-transformer", 800),
    ("request-termination", 2),
];

/// Priority of a bundled plugin, None if it is not available in this build.
pub fn priority(name: &str) -> Option<u32> {
    PRIORITIES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Kong's `lookup_cfg` precedence of a scope (higher wins):
/// route+service+consumer > route+consumer > service+consumer > route+service > consumer >
/// route > service > global.
pub fn scope_rank(route: bool, service: bool, consumer: bool) -> u8 {
    match (route, service, consumer) {
        (true, true, true) => 8,
        (true, false, true) => 7,
        (false, true, true) => 6,
        (true, true, false) => 5,
        (false, false, true) => 4,
        (true, false, false) => 3,
        (false, true, false) => 2,
        (false, false, false) => 1,
    }
}

pub(crate) enum Kind {
    CorrelationId(correlation::CorrelationId),
    Cors(cors::Cors),
    KeyAuth(auth::KeyAuth),
    BasicAuth(auth::BasicAuth),
    IpRestriction(ip_restriction::IpRestriction),
    SizeLimiting(size_limiting::SizeLimiting),
    Acl(acl::Acl),
    RateLimiting(rate_limiting::RateLimiting),
    RequestTransformer(transformer::RequestTransformer),
    ResponseTransformer(transformer::ResponseTransformer),
    RequestTermination(termination::RequestTermination),
}

pub(crate) struct Instance {
    pub name: &'static str,
    pub priority: u32,
    pub consumer: Option<usize>,
    pub kind: Kind,
}

/// All instances of one plugin name that can apply to a route, most specific first.
struct Group {
    candidates: Vec<(u8, Option<usize>, usize)>,
}

impl Group {
    fn resolve(&self, consumer: Option<usize>) -> Option<usize> {
        self.candidates
            .iter()
            .find(|(_, c, _)| c.is_none() || *c == consumer)
            .map(|(_, _, i)| *i)
    }
}

/// Consumers and credential indexes for the auth plugins.
pub(crate) struct Consumers {
    pub list: Vec<ConsumerSpec>,
    /// keyed hash of the key -> (consumer, credential). The map is keyed by a SipHash with
    /// per-process random keys, so lookup timing says nothing useful about the secret; the final
    /// comparison is constant-time ([`util::ct_eq`]).
    pub keys: HashMap<u64, Vec<(usize, usize)>>,
    pub basic: HashMap<u64, Vec<(usize, usize)>>,
    pub hasher: std::collections::hash_map::RandomState,
}

impl Consumers {
    fn build(list: &[ConsumerSpec]) -> Consumers {
        use std::hash::BuildHasher;
        let hasher = std::collections::hash_map::RandomState::new();
        let mut keys: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
        let mut basic: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
        for (ci, c) in list.iter().enumerate() {
            for (ki, k) in c.keyauth.iter().enumerate() {
                keys.entry(hasher.hash_one(k.key.as_bytes()))
                    .or_default()
                    .push((ci, ki));
            }
            for (bi, b) in c.basicauth.iter().enumerate() {
                basic
                    .entry(hasher.hash_one(b.username.as_bytes()))
                    .or_default()
                    .push((ci, bi));
            }
        }
        Consumers {
            list: list.to_vec(),
            keys,
            basic,
            hasher,
        }
    }

    /// Consumer index by id, else by username (Kong's `load_consumer(x, true)`).
    pub fn find(&self, id_or_name: &str) -> Option<usize> {
        self.list
            .iter()
            .position(|c| c.id == id_or_name)
            .or_else(|| {
                self.list
                    .iter()
                    .position(|c| c.username.as_deref() == Some(id_or_name))
            })
    }
}

/// The compiled plugin configuration: immutable, shared by all workers.
pub struct Plugins {
    instances: Vec<Instance>,
    /// Per route: groups in priority order.
    chains: Vec<Vec<Group>>,
    consumers: Consumers,
    state: Arc<PluginState>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field(
                "instances",
                &self.instances.iter().map(|i| i.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Plugins {
    pub fn empty() -> Plugins {
        Plugins {
            instances: Vec::new(),
            chains: Vec::new(),
            consumers: Consumers::build(&[]),
            state: Arc::new(PluginState::default()),
        }
    }

    /// Validates every plugin config and resolves, per route, the chain of plugins that can
    /// apply (global + service + route scoped, consumer-scoped variants kept for resolution after
    /// authentication), ordered by Kong priority. Disabled plugins are skipped (but still
    /// validated, like Kong).
    pub fn compile(
        plugins: &[PluginSpec],
        consumers: &[ConsumerSpec],
        route_services: &[Option<usize>],
        state: Arc<PluginState>,
    ) -> Result<Plugins, Vec<PluginError>> {
        let consumers = Consumers::build(consumers);
        let mut errors = Vec::new();
        let mut instances = Vec::new();
        // (instance index, service, route)
        let mut scopes = Vec::new();
        for spec in plugins {
            let Some(priority) = priority(&spec.name) else {
                errors.push(PluginError {
                    path: format!("{}.name", spec.source_path),
                    message: format!("plugin '{}' is not available in this build", spec.name),
                });
                continue;
            };
            let mut c = conf::Conf::new(&spec.config, format!("{}.config", spec.source_path));
            let kind = build_kind(&spec.name, &mut c, spec, &consumers, &state);
            let errs = c.finish();
            if !errs.is_empty() {
                errors.extend(errs);
                continue;
            }
            if let (Some(kind), true) = (kind, spec.enabled) {
                let name = PRIORITIES
                    .iter()
                    .find(|(n, _)| *n == spec.name)
                    .map(|(n, _)| *n);
                scopes.push((instances.len(), spec.service, spec.route));
                instances.push(Instance {
                    name: name.unwrap_or("unknown"),
                    priority,
                    consumer: spec.consumer,
                    kind,
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut chains = Vec::with_capacity(route_services.len());
        for (r, svc) in route_services.iter().enumerate() {
            let mut groups: Vec<(u32, &'static str, Group)> = Vec::new();
            for &(i, service, route) in &scopes {
                if route.is_some_and(|x| x != r) || service.is_some_and(|s| Some(s) != *svc) {
                    continue;
                }
                let inst = &instances[i];
                let rank = scope_rank(route.is_some(), service.is_some(), inst.consumer.is_some());
                match groups.iter_mut().find(|(_, n, _)| *n == inst.name) {
                    Some((_, _, g)) => g.candidates.push((rank, inst.consumer, i)),
                    None => groups.push((
                        inst.priority,
                        inst.name,
                        Group {
                            candidates: vec![(rank, inst.consumer, i)],
                        },
                    )),
                }
            }
            for (_, _, g) in &mut groups {
                g.candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
            }
            groups.sort_by_key(|g| std::cmp::Reverse(g.0));
            chains.push(groups.into_iter().map(|(_, _, g)| g).collect());
        }
        Ok(Plugins {
            instances,
            chains,
            consumers,
            state,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Names of the plugins that would run on `route` for `consumer`, in run order (for tests
    /// and the admin API).
    pub fn chain_names(&self, route: usize, consumer: Option<usize>) -> Vec<&'static str> {
        self.chains
            .get(route)
            .map(|c| {
                c.iter()
                    .filter_map(|g| g.resolve(consumer))
                    .map(|i| self.instances[i].name)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Access phase. Runs the route's chain in priority order; each plugin name resolves to
    /// its most specific instance given the consumer known at that point.
    pub fn access(
        &self,
        route: usize,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        now: f64,
    ) -> Access {
        ctx.access_ran = true;
        let Some(chain) = self.chains.get(route) else {
            return Access::Continue;
        };
        for g in chain {
            let Some(i) = g.resolve(ctx.consumer) else {
                continue;
            };
            ctx.selected.push(i);
            if let Access::Respond(r) = self.run_access(i, route, req, ctx, now) {
                return Access::Respond(r);
            }
        }
        Access::Continue
    }

    fn run_access(
        &self,
        i: usize,
        route: usize,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        now: f64,
    ) -> Access {
        let c = &self.consumers;
        match &self.instances[i].kind {
            Kind::CorrelationId(p) => p.access(req, ctx, &self.state.ids),
            Kind::Cors(p) => p.access(req, ctx),
            Kind::KeyAuth(p) => p.access(req, ctx, c),
            Kind::BasicAuth(p) => p.access(req, ctx, c),
            Kind::IpRestriction(p) => p.access(req),
            Kind::SizeLimiting(p) => p.access(req, ctx),
            Kind::Acl(p) => p.access(ctx, c),
            Kind::RateLimiting(p) => p.access(req, ctx, route, &self.state.counters, now, c),
            Kind::RequestTransformer(p) => p.access(req, ctx),
            Kind::ResponseTransformer(_) => Access::Continue,
            Kind::RequestTermination(p) => p.access(req),
        }
    }

    /// Header filter phase on the upstream (or gateway-generated) response head: fills
    /// `ctx.response` edits. Uses the instances the access phase resolved (so after a local
    /// answer only the plugins that ran before it take part, as in Kong).
    pub fn header_filter(&self, route: usize, resp: &dyn ResponseView, ctx: &mut PluginCtx) {
        let selected = std::mem::take(&mut ctx.selected);
        if ctx.access_ran {
            for &i in &selected {
                self.run_header_filter(i, resp, ctx);
            }
        } else if let Some(chain) = self.chains.get(route) {
            for g in chain {
                if let Some(i) = g.resolve(ctx.consumer) {
                    self.run_header_filter(i, resp, ctx);
                }
            }
        }
        ctx.selected = selected;
    }

    fn run_header_filter(&self, i: usize, resp: &dyn ResponseView, ctx: &mut PluginCtx) {
        match &self.instances[i].kind {
            Kind::CorrelationId(p) => p.header_filter(ctx),
            Kind::Cors(p) => p.header_filter(resp, ctx),
            Kind::ResponseTransformer(p) => p.header_filter(resp, ctx),
            _ => {}
        }
    }
}

fn build_kind(
    name: &str,
    c: &mut conf::Conf<'_>,
    spec: &PluginSpec,
    consumers: &Consumers,
    state: &PluginState,
) -> Option<Kind> {
    Some(match name {
        "correlation-id" => Kind::CorrelationId(correlation::CorrelationId::compile(c)?),
        "cors" => Kind::Cors(cors::Cors::compile(c)?),
        "key-auth" => Kind::KeyAuth(auth::KeyAuth::compile(c, consumers)?),
        "basic-auth" => Kind::BasicAuth(auth::BasicAuth::compile(c, consumers)?),
        "ip-restriction" => Kind::IpRestriction(ip_restriction::IpRestriction::compile(c)?),
        "request-size-limiting" => Kind::SizeLimiting(size_limiting::SizeLimiting::compile(c)?),
        "acl" => Kind::Acl(acl::Acl::compile(c)?),
        "rate-limiting" => {
            let identity = match &spec.id {
                Some(id) => format!("id:{id}"),
                None => format!(
                    "scope:{:?}:{:?}:{:?}:{}",
                    spec.service, spec.route, spec.consumer, spec.config
                ),
            };
            Kind::RateLimiting(rate_limiting::RateLimiting::compile(
                c,
                state.identity(identity),
                spec.service,
                spec.route,
            )?)
        }
        "request-transformer" => {
            Kind::RequestTransformer(transformer::RequestTransformer::compile(c)?)
        }
        "response-transformer" => {
            Kind::ResponseTransformer(transformer::ResponseTransformer::compile(c)?)
        }
        "request-termination" => {
            Kind::RequestTermination(termination::RequestTermination::compile(c)?)
        }
        _ => return None,
    })
}
