//! sluice-plugins: owns the Plugin framework, the per-request plugin context and the bundled
//! plugins; request lifecycle steps 5 (access), 9 (header filter), 9b (body filter) and 10
//! (log).
//!
//! The crate does no I/O and has no runtime. [`Plugins::compile`] validates every plugin
//! config (Kong's schema defaults applied, errors name the field) and resolves, per route, the
//! plugins that can apply, grouped by plugin name and ordered by Kong priority. At request time
//! [`Plugins::access`] picks, for every plugin name, the most specific instance given the
//! consumer known so far (Kong's `lookup_cfg` precedence), so consumer-scoped instances take over
//! once an auth plugin with a higher priority has identified the consumer. A plugin that needs
//! Redis (rate-limiting's `redis` policy) returns [`Access::Wait`] with the command; the engine
//! runs it on its own connections and [`Plugins::resume`]s the chain. Log plugins hand their
//! entries to background threads (file-log, http-log) or per-worker metric shards (prometheus).
//!
//! There is no rewrite phase: none of the bundled plugins has rewrite-phase work in Kong.

mod acl;
mod auth;
mod conf;
mod correlation;
mod cors;
mod ctx;
mod ip_restriction;
mod logging;
mod prometheus;
mod rate_limiting;
pub mod redis;
mod size_limiting;
mod termination;
mod transformer;
pub mod util;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use ctx::{
    Access, HeaderEdits, LocalResponse, PluginCtx, RequestView, ResponseView, JSON_CONTENT_TYPE,
};
pub use logging::{Latencies, LogFacts, ResponseSource, Try};
pub use prometheus::{escape_label as prometheus_escape, header as prometheus_header};
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
    /// Ids of the scope's service and route (rate-limiting's Redis keys name them, so that
    /// every node with the same config shares counters).
    pub service_id: Option<String>,
    pub route_id: Option<String>,
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
    pub(crate) metrics: prometheus::Metrics,
    pub(crate) sinks: Arc<logging::Sinks>,
    /// Stable small numbers for plugin identities (plugin id, or scope + config when no id).
    identities: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginState").finish_non_exhaustive()
    }
}

impl PluginState {
    /// Kong's traffic metrics (prometheus plugin) in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out);
    }

    /// Log entries dropped so far (full queues, failed writes, undeliverable batches).
    pub fn dropped_log_entries(&self) -> u64 {
        self.sinks
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

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
    ("prometheus", 13),
    ("http-log", 12),
    ("file-log", 9),
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
    Prometheus(prometheus::Prometheus),
    FileLog(logging::FileLog),
    HttpLog(logging::HttpLog),
}

impl Kind {
    /// Plugins whose work is in the log phase: they take part even in requests an earlier
    /// plugin answered (Kong collects them for the log phase regardless).
    fn logs(&self) -> bool {
        matches!(
            self,
            Kind::Prometheus(_) | Kind::FileLog(_) | Kind::HttpLog(_)
        )
    }

    /// Log plugins that write Kong's serialized entry (and so capture request details).
    fn serializes(&self) -> bool {
        matches!(self, Kind::FileLog(_) | Kind::HttpLog(_))
    }
}

/// What the log phase reports about a route or service: its metric label (name, else id) and
/// the entity as the serializer embeds it.
#[derive(Debug, Clone, Default)]
pub struct EntityInfo {
    /// The entity's id (its name when the config gives no id).
    pub id: String,
    pub label: String,
    pub json: serde_json::Value,
}

#[derive(Default)]
struct EntityMeta {
    label: u32,
    json: serde_json::Value,
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
    /// Global (unscoped) plugins: the chain of requests that matched no route.
    global_chain: Vec<Group>,
    consumers: Consumers,
    /// Metric label id per consumer (username, else custom_id, else id).
    consumer_labels: Vec<u32>,
    routes: Vec<EntityMeta>,
    services: Vec<EntityMeta>,
    /// Service ids by index (rate-limiting by service).
    service_ids: Vec<String>,
    has_log_plugins: bool,
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
            global_chain: Vec::new(),
            consumers: Consumers::build(&[]),
            consumer_labels: Vec::new(),
            routes: Vec::new(),
            services: Vec::new(),
            service_ids: Vec::new(),
            has_log_plugins: false,
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
        let chains = route_services
            .iter()
            .enumerate()
            .map(|(r, svc)| build_chain(&instances, &scopes, Some((r, *svc))))
            .collect();
        let global_chain = build_chain(&instances, &scopes, None);
        let consumer_labels = consumers
            .list
            .iter()
            .map(|c| {
                let label = c
                    .username
                    .as_deref()
                    .or(c.custom_id.as_deref())
                    .unwrap_or(&c.id);
                state.metrics.intern(label)
            })
            .collect();
        let has_log_plugins = instances.iter().any(|i| i.kind.logs());
        let routes = (0..route_services.len())
            .map(|r| EntityMeta {
                label: state.metrics.intern(&r.to_string()),
                json: serde_json::Value::Null,
            })
            .collect();
        Ok(Plugins {
            instances,
            chains,
            global_chain,
            consumers,
            consumer_labels,
            routes,
            services: Vec::new(),
            service_ids: Vec::new(),
            has_log_plugins,
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
        self.run_chain(chain, 0, Access::Continue, req, ctx, now)
    }

    /// Runs `chain` from group `from`. Once `answer` is a local response, only the log plugins
    /// of the remaining groups are still selected (they log the answer).
    fn run_chain(
        &self,
        chain: &[Group],
        from: usize,
        mut answer: Access,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        now: f64,
    ) -> Access {
        for (g, group) in chain.iter().enumerate().skip(from) {
            let Some(i) = group.resolve(ctx.consumer) else {
                continue;
            };
            if let Access::Respond(_) = answer {
                if self.instances[i].kind.logs() {
                    ctx.selected.push(i);
                    self.capture_request(i, req, ctx);
                }
                continue;
            }
            ctx.selected.push(i);
            answer = self.run_access(i, req, ctx, now);
            if let Access::Wait(mut query) = answer {
                query.group = g;
                query.instance = i;
                return Access::Wait(query);
            }
        }
        answer
    }

    /// Continues the access phase after an [`Access::Wait`]: `reply` is Redis's answer to the
    /// query (or why there is none); `now` must be the value given to `access`.
    pub fn resume(
        &self,
        route: usize,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        now: f64,
        query: &redis::StoreQuery,
        reply: Result<redis::RespValue, String>,
    ) -> Access {
        let Some(chain) = self.chains.get(route) else {
            return Access::Continue;
        };
        let answer = match self.instances.get(query.instance).map(|i| &i.kind) {
            Some(Kind::RateLimiting(p)) => p.finish(reply, ctx, now),
            _ => Access::Continue,
        };
        if let Access::Wait(_) = answer {
            return Access::Continue;
        }
        self.run_chain(chain, query.group + 1, answer, req, ctx, now)
    }

    /// For a request that matched no route: selects the global log plugins so that the
    /// answer (404) is logged and counted, as Kong does.
    pub fn unrouted(&self, req: &dyn RequestView, ctx: &mut PluginCtx) {
        ctx.access_ran = true;
        for g in &self.global_chain {
            if let Some(i) = g.resolve(None) {
                if self.instances[i].kind.logs() {
                    ctx.selected.push(i);
                    self.capture_request(i, req, ctx);
                }
            }
        }
    }

    fn capture_request(&self, i: usize, req: &dyn RequestView, ctx: &mut PluginCtx) {
        if self.instances[i].kind.serializes() {
            logging::capture_request(req, ctx);
        }
    }

    /// Whether any log-phase plugin is configured (the engine then measures latencies).
    pub fn has_log_plugins(&self) -> bool {
        self.has_log_plugins
    }

    /// Whether an enabled prometheus instance asks for `upstream_target_health`.
    pub fn wants_upstream_health_metrics(&self) -> bool {
        self.instances
            .iter()
            .any(|i| matches!(&i.kind, Kind::Prometheus(p) if p.upstream_health_metrics))
    }

    /// Names the routes and services for metric labels, log entries and rate-limiting by
    /// service (call after `compile`; without it routes are labelled by index, entries carry no
    /// entity and services are told apart by index).
    pub fn describe_entities(&mut self, routes: Vec<EntityInfo>, services: Vec<EntityInfo>) {
        self.service_ids = services.iter().map(|s| s.id.clone()).collect();
        let metrics = &self.state.metrics;
        let meta = |e: EntityInfo| EntityMeta {
            label: metrics.intern(&e.label),
            json: e.json,
        };
        self.routes = routes.into_iter().map(meta).collect();
        self.services = services.into_iter().map(meta).collect();
    }

    /// Log phase, after the response was sent: runs the log plugins the request selected.
    pub fn log(&self, facts: &LogFacts<'_>, ctx: &mut PluginCtx) {
        let mut entry: Option<Vec<u8>> = None;
        for &i in &ctx.selected {
            match &self.instances[i].kind {
                Kind::Prometheus(p) => {
                    let labels = (
                        facts
                            .service
                            .and_then(|s| self.services.get(s))
                            .map_or(0, |m| m.label),
                        facts
                            .route
                            .and_then(|r| self.routes.get(r))
                            .map_or(0, |m| m.label),
                        ctx.consumer
                            .and_then(|c| self.consumer_labels.get(c))
                            .copied()
                            .unwrap_or(0),
                    );
                    p.log(facts, labels, &self.state.metrics);
                }
                Kind::FileLog(p) => p.log(entry.get_or_insert_with(|| self.entry(facts, ctx))),
                Kind::HttpLog(p) => p.log(entry.get_or_insert_with(|| self.entry(facts, ctx))),
                _ => {}
            }
        }
    }

    fn entry(&self, facts: &LogFacts<'_>, ctx: &PluginCtx) -> Vec<u8> {
        fn json_of(m: Option<&EntityMeta>) -> Option<&serde_json::Value> {
            m.map(|m| &m.json).filter(|j| !j.is_null())
        }
        let consumer = ctx
            .consumer
            .and_then(|c| self.consumers.list.get(c))
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "username": c.username,
                    "custom_id": c.custom_id,
                })
            });
        let entities = logging::EntityJson {
            route: json_of(facts.route.and_then(|r| self.routes.get(r))),
            service: json_of(facts.service.and_then(|s| self.services.get(s))),
            consumer,
        };
        serde_json::to_vec(&logging::serialize(facts, ctx, entities)).unwrap_or_default()
    }

    fn run_access(&self, i: usize, req: &dyn RequestView, ctx: &mut PluginCtx, now: f64) -> Access {
        let c = &self.consumers;
        match &self.instances[i].kind {
            Kind::CorrelationId(p) => p.access(req, ctx, &self.state.ids),
            Kind::Cors(p) => p.access(req, ctx),
            Kind::KeyAuth(p) => p.access(req, ctx, c),
            Kind::BasicAuth(p) => p.access(req, ctx, c),
            Kind::IpRestriction(p) => p.access(req),
            Kind::SizeLimiting(p) => p.access(req, ctx),
            Kind::Acl(p) => p.access(ctx, c),
            Kind::RateLimiting(p) => {
                p.access(req, ctx, &self.state.counters, now, c, &self.service_ids)
            }
            Kind::RequestTransformer(p) => p.access(req, ctx),
            Kind::ResponseTransformer(_) => Access::Continue,
            Kind::RequestTermination(p) => p.access(req),
            Kind::FileLog(_) | Kind::HttpLog(_) => {
                logging::capture_request(req, ctx);
                Access::Continue
            }
            Kind::Prometheus(_) => Access::Continue,
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

    /// Body filter phase on a whole response body, for the instances header filter chose.
    pub fn body_filter(&self, body: &mut Vec<u8>, ctx: &PluginCtx) {
        for &i in &ctx.body_filters {
            if let Kind::ResponseTransformer(p) = &self.instances[i].kind {
                p.body_filter(body);
            }
        }
    }

    fn run_header_filter(&self, i: usize, resp: &dyn ResponseView, ctx: &mut PluginCtx) {
        match &self.instances[i].kind {
            Kind::CorrelationId(p) => p.header_filter(ctx),
            Kind::Cors(p) => p.header_filter(resp, ctx),
            Kind::ResponseTransformer(p) => {
                p.header_filter(resp, ctx);
                if p.filters_body(resp) {
                    ctx.body_filters.push(i);
                }
            }
            Kind::FileLog(_) | Kind::HttpLog(_) => logging::capture_response(resp, ctx),
            _ => {}
        }
    }
}

/// The groups that can apply to one route (`Some((route, its service))`), or to requests that
/// matched no route (`None`: only global plugins), in priority order.
fn build_chain(
    instances: &[Instance],
    scopes: &[(usize, Option<usize>, Option<usize>)],
    route: Option<(usize, Option<usize>)>,
) -> Vec<Group> {
    let mut groups: Vec<(u32, &'static str, Group)> = Vec::new();
    for &(i, service, scope_route) in scopes {
        let applies = match route {
            Some((r, svc)) => {
                scope_route.is_none_or(|x| x == r) && service.is_none_or(|s| Some(s) == svc)
            }
            None => scope_route.is_none() && service.is_none(),
        };
        if !applies {
            continue;
        }
        let inst = &instances[i];
        let rank = scope_rank(
            scope_route.is_some(),
            service.is_some(),
            inst.consumer.is_some(),
        );
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
    groups.into_iter().map(|(_, _, g)| g).collect()
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
                spec.service_id.as_deref(),
                spec.route_id.as_deref(),
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
        "prometheus" => Kind::Prometheus(prometheus::Prometheus::compile(c)?),
        "file-log" => Kind::FileLog(logging::FileLog::compile(c, &state.sinks)?),
        "http-log" => {
            let identity = match &spec.id {
                Some(id) => format!("id:{id}"),
                None => format!(
                    "scope:{:?}:{:?}:{:?}",
                    spec.service, spec.route, spec.consumer
                ),
            };
            Kind::HttpLog(logging::HttpLog::compile(c, &identity, &state.sinks)?)
        }
        _ => return None,
    })
}
