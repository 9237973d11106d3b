//! Raw layer of the declarative configuration (Kong declarative format 3.0).
//!
//! Two views of the same document live here:
//!
//! * [`wire`]: serde structs that mirror the file exactly, with Kong's field names. Every field is
//!   an `Option` so that "not set" can be told apart from "set to the default" (needed for the `url`
//!   shorthand conflicts) and so that an explicit `null` behaves like an absent field, as in Kong.
//!   Every struct denies unknown fields.
//! * the top-level types ([`DeclarativeConfig`], [`Service`], [`Route`], ...): the normalised form
//!   produced by `load::parse_config`, with Kong's defaults applied, the `url` shorthand expanded,
//!   nested entities flattened into one list per entity type and every reference resolved to an
//!   index. This is what the compile layer consumes. Each entity keeps a `source_path`
//!   (`services[0].routes[1]`) so that later errors can point back into the file.

use std::collections::BTreeMap;

use sluice_balancer::kong_defaults;

/// The declarative format versions Sluice accepts (`_format_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatVersion {
    /// "1.1": route paths without a `~` prefix that look like regexes are migrated to `~` paths.
    V1_1,
    /// "2.1": same path migration as 1.1.
    V2_1,
    /// "3.0".
    #[default]
    V3_0,
}

impl FormatVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            FormatVersion::V1_1 => "1.1",
            FormatVersion::V2_1 => "2.1",
            FormatVersion::V3_0 => "3.0",
        }
    }
}

/// Every protocol name Kong knows. Services and routes only accept `http` and `https` (see
/// [`Scheme`]); plugins keep the full list because Kong's default plugin protocols include grpc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Http,
    Https,
    Grpc,
    Grpcs,
    Tcp,
    Tls,
    TlsPassthrough,
    Udp,
    Ws,
    Wss,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Grpc => "grpc",
            Protocol::Grpcs => "grpcs",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::TlsPassthrough => "tls_passthrough",
            Protocol::Udp => "udp",
            Protocol::Ws => "ws",
            Protocol::Wss => "wss",
        }
    }

    /// The HTTP scheme, when this is one Sluice proxies.
    pub fn scheme(self) -> Option<Scheme> {
        match self {
            Protocol::Http => Some(Scheme::Http),
            Protocol::Https => Some(Scheme::Https),
            _ => None,
        }
    }
}

/// The protocols Sluice supports for services and routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// Port used by the `url` shorthand when the URL has none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// The whole configuration, normalised. `Default` is the empty 3.0 config (every request 404s).
#[derive(Debug, Clone, PartialEq)]
pub struct DeclarativeConfig {
    pub format_version: FormatVersion,
    /// `_transform` (default true): when false, basic-auth passwords are already hashed.
    pub transform: bool,
    pub comment: Option<String>,
    pub workspace: Option<String>,
    pub services: Vec<Service>,
    /// Routes nested under services (in service order) first, then top-level routes.
    pub routes: Vec<Route>,
    pub upstreams: Vec<Upstream>,
    pub consumers: Vec<Consumer>,
    /// Plugins nested under services, then routes, then consumers, then top-level plugins.
    pub plugins: Vec<Plugin>,
}

impl Default for DeclarativeConfig {
    fn default() -> Self {
        DeclarativeConfig {
            format_version: FormatVersion::V3_0,
            transform: true,
            comment: None,
            workspace: None,
            services: Vec::new(),
            routes: Vec::new(),
            upstreams: Vec::new(),
            consumers: Vec::new(),
            plugins: Vec::new(),
        }
    }
}

/// A service with the `url` shorthand already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: Option<String>,
    pub name: Option<String>,
    pub protocol: Scheme,
    /// Hostname, IPv4 address, or IPv6 address *without* brackets. May name an upstream.
    pub host: String,
    /// Default 80 (Kong's schema default, even for https); the `url` shorthand uses 443 for https.
    pub port: u16,
    /// Starts with `/` when set.
    pub path: Option<String>,
    /// Default 5 (0..=32767).
    pub retries: u16,
    /// Milliseconds, default 60000 (1..=2147483646).
    pub connect_timeout: u32,
    pub write_timeout: u32,
    pub read_timeout: u32,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

/// A route, whether it was nested under a service or declared at the top level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Index into [`DeclarativeConfig::services`]; `None` for a top-level route without service.
    pub service: Option<usize>,
    /// Default `[http, https]`, never empty, no duplicates.
    pub protocols: Vec<Scheme>,
    /// Uppercase method names.
    pub methods: Vec<String>,
    /// As written (wildcards and `:port` validated, not lowercased).
    pub hosts: Vec<String>,
    /// Prefix paths start with `/`; regex paths start with `~` (1.1/2.1 regex paths are migrated).
    pub paths: Vec<String>,
    /// Header name (lowercased) -> accepted values (`~*` prefix = regex). Never contains `host`.
    pub headers: BTreeMap<String, Vec<String>>,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub regex_priority: i64,
    /// One of 426 (default), 301, 302, 307, 308.
    pub https_redirect_status_code: u16,
    pub request_buffering: bool,
    pub response_buffering: bool,
    pub tags: Vec<String>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    #[default]
    RoundRobin,
    ConsistentHashing,
    LeastConnections,
}

/// What a consistent-hashing upstream hashes on (`hash_on` / `hash_fallback` with their
/// companion fields folded in).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HashInput {
    #[default]
    None,
    Consumer,
    Ip,
    Header(String),
    /// Cookie name and the path set on a generated cookie (`hash_on_cookie_path`, default "/").
    Cookie {
        name: String,
        path: String,
    },
    Path,
    QueryArg(String),
    UriCapture(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub id: Option<String>,
    /// A hostname (no ip, no port); services reach the upstream through `host: <name>`.
    pub name: String,
    pub algorithm: Algorithm,
    pub hash_on: HashInput,
    pub hash_fallback: HashInput,
    /// Default 10000 (10..=65536).
    pub slots: u32,
    pub host_header: Option<String>,
    pub healthchecks: Healthchecks,
    pub tags: Vec<String>,
    pub targets: Vec<Target>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: Option<String>,
    /// Normalised `host:port` (`[v6]:port` for IPv6), as Kong stores it.
    pub target: String,
    /// IPv6 addresses without brackets.
    pub host: String,
    /// Default 8000.
    pub port: u16,
    /// Default 100 (0..=65535); 0 means "never picked".
    pub weight: u32,
    pub tags: Vec<String>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthcheckType {
    #[default]
    Http,
    Https,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Healthchecks {
    pub active: ActiveHealthcheck,
    pub passive: PassiveHealthcheck,
    /// Percentage (0..=100) of healthy weight below which the whole upstream is unhealthy.
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActiveHealthcheck {
    pub kind: HealthcheckType,
    /// Seconds, default 1.
    pub timeout: f64,
    /// Default 10.
    pub concurrency: u32,
    /// Default "/".
    pub http_path: String,
    /// Default true.
    pub https_verify_certificate: bool,
    pub https_sni: Option<String>,
    /// Extra probe headers; names lowercased.
    pub headers: BTreeMap<String, Vec<String>>,
    pub healthy: ActiveHealthy,
    pub unhealthy: ActiveUnhealthy,
}

impl Default for ActiveHealthcheck {
    fn default() -> Self {
        ActiveHealthcheck {
            kind: HealthcheckType::Http,
            timeout: kong_defaults::ACTIVE_TIMEOUT_SECS,
            concurrency: kong_defaults::ACTIVE_CONCURRENCY,
            http_path: "/".to_owned(),
            https_verify_certificate: true,
            https_sni: None,
            headers: BTreeMap::new(),
            healthy: ActiveHealthy::default(),
            unhealthy: ActiveUnhealthy::default(),
        }
    }
}

/// All thresholds default to 0 = disabled; intervals are seconds, 0 = no probing.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveHealthy {
    pub interval: f64,
    pub successes: u32,
    /// Default [200, 302].
    pub http_statuses: Vec<u16>,
}

impl Default for ActiveHealthy {
    fn default() -> Self {
        ActiveHealthy {
            interval: 0.0,
            successes: 0,
            http_statuses: kong_defaults::ACTIVE_HEALTHY_STATUSES.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActiveUnhealthy {
    pub interval: f64,
    pub http_failures: u32,
    pub tcp_failures: u32,
    pub timeouts: u32,
    /// Default [429, 404, 500, 501, 502, 503, 504, 505].
    pub http_statuses: Vec<u16>,
}

impl Default for ActiveUnhealthy {
    fn default() -> Self {
        ActiveUnhealthy {
            interval: 0.0,
            http_failures: 0,
            tcp_failures: 0,
            timeouts: 0,
            http_statuses: kong_defaults::ACTIVE_UNHEALTHY_STATUSES.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassiveHealthcheck {
    pub kind: HealthcheckType,
    pub healthy: PassiveHealthy,
    pub unhealthy: PassiveUnhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveHealthy {
    pub successes: u32,
    /// Default 200..=208, 226, 300..=308.
    pub http_statuses: Vec<u16>,
}

impl Default for PassiveHealthy {
    fn default() -> Self {
        PassiveHealthy {
            successes: 0,
            http_statuses: kong_defaults::PASSIVE_HEALTHY_STATUSES.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveUnhealthy {
    pub http_failures: u32,
    pub tcp_failures: u32,
    pub timeouts: u32,
    /// Default [429, 500, 503].
    pub http_statuses: Vec<u16>,
}

impl Default for PassiveUnhealthy {
    fn default() -> Self {
        PassiveUnhealthy {
            http_failures: 0,
            tcp_failures: 0,
            timeouts: 0,
            http_statuses: kong_defaults::PASSIVE_UNHEALTHY_STATUSES.to_vec(),
        }
    }
}

/// A consumer with its credentials (nested or top-level ones attached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub id: Option<String>,
    /// At least one of `username` / `custom_id` is set.
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Vec<String>,
    pub keyauth_credentials: Vec<KeyAuthCredential>,
    pub basicauth_credentials: Vec<BasicAuthCredential>,
    pub acls: Vec<Acl>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAuthCredential {
    pub id: Option<String>,
    /// Unique across all consumers.
    pub key: String,
    pub tags: Vec<String>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuthCredential {
    pub id: Option<String>,
    /// Unique across all consumers.
    pub username: String,
    /// Plain text when [`DeclarativeConfig::transform`] is true, else already hashed.
    pub password: String,
    pub tags: Vec<String>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub id: Option<String>,
    /// Unique per consumer.
    pub group: String,
    pub tags: Vec<String>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

/// A plugin instance with its scope resolved. No scope at all = global plugin.
/// (name, service, route, consumer) is unique across the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    pub id: Option<String>,
    pub name: String,
    /// Free-form plugin configuration; always a JSON object (`{}` when absent).
    pub config: serde_json::Value,
    pub enabled: bool,
    /// Default [grpc, grpcs, http, https] (Kong's default).
    pub protocols: Vec<Protocol>,
    pub tags: Vec<String>,
    /// Index into [`DeclarativeConfig::services`].
    pub service: Option<usize>,
    /// Index into [`DeclarativeConfig::routes`].
    pub route: Option<usize>,
    /// Index into [`DeclarativeConfig::consumers`].
    pub consumer: Option<usize>,
    /// Unix seconds (Kong's `created_at` / `updated_at`); set by the Admin API, kept on reload.
    pub created_at: Option<u64>,
    pub updated_at: Option<u64>,
    pub source_path: String,
}

/// A `created_at` / `updated_at` from the file: whole unix seconds; negative or non-finite
/// values are dropped (the Admin API stamps the entity again on its next change).
pub fn timestamp(value: Option<f64>) -> Option<u64> {
    value
        .filter(|t| t.is_finite() && *t >= 0.0 && *t < 1e15)
        .map(|t| t as u64)
}

/// Serde structs mirroring the file. `load` deserializes each entity on its own (nested lists are
/// taken out of the parent's map first), so the nested `Vec` fields here are only there to mirror
/// the format and to appear in "unknown field, expected one of ..." messages.
pub mod wire {
    use super::Protocol;
    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserialize, Deserializer};
    use std::collections::BTreeMap;
    use std::fmt;

    /// A reference to another entity: `service: my-svc` (name or id), `service: {name: x}`,
    /// `service: {id: x}`. For consumers `{username: x}` is accepted as a name.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ForeignKey {
        /// A bare string: an id if one matches, otherwise a name.
        Ref(String),
        Id(String),
        Name(String),
    }

    impl ForeignKey {
        pub fn as_str(&self) -> &str {
            match self {
                ForeignKey::Ref(s) | ForeignKey::Id(s) | ForeignKey::Name(s) => s,
            }
        }
    }

    impl<'de> Deserialize<'de> for ForeignKey {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct FkVisitor;

            impl<'de> Visitor<'de> for FkVisitor {
                type Value = ForeignKey;

                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a name or id string, or a map with `id` or `name`")
                }

                fn visit_str<E: de::Error>(self, v: &str) -> Result<ForeignKey, E> {
                    Ok(ForeignKey::Ref(v.to_owned()))
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ForeignKey, A::Error> {
                    let mut found: Option<ForeignKey> = None;
                    while let Some(key) = map.next_key::<String>()? {
                        let value: String = map.next_value()?;
                        let fk = match key.as_str() {
                            "id" => ForeignKey::Id(value),
                            "name" | "username" => ForeignKey::Name(value),
                            other => {
                                return Err(de::Error::unknown_field(other, &["id", "name"]));
                            }
                        };
                        if found.is_some() {
                            return Err(de::Error::custom("expected exactly one of `id`, `name`"));
                        }
                        found = Some(fk);
                    }
                    found.ok_or_else(|| de::Error::custom("expected one of `id`, `name`"))
                }
            }

            deserializer.deserialize_any(FkVisitor)
        }
    }

    /// Header values: a list, or a single string for convenience.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    #[serde(untagged)]
    pub enum HeaderValues {
        One(String),
        Many(Vec<String>),
    }

    impl HeaderValues {
        pub fn into_vec(self) -> Vec<String> {
            match self {
                HeaderValues::One(s) => vec![s],
                HeaderValues::Many(v) => v,
            }
        }
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Service {
        pub id: Option<String>,
        pub name: Option<String>,
        pub url: Option<String>,
        pub protocol: Option<Protocol>,
        pub host: Option<String>,
        pub port: Option<i64>,
        pub path: Option<String>,
        pub retries: Option<i64>,
        pub connect_timeout: Option<i64>,
        pub write_timeout: Option<i64>,
        pub read_timeout: Option<i64>,
        pub enabled: Option<bool>,
        pub tags: Option<Vec<String>>,
        pub routes: Option<Vec<Route>>,
        pub plugins: Option<Vec<Plugin>>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    pub enum PathHandling {
        #[serde(rename = "v0")]
        V0,
        #[serde(rename = "v1")]
        V1,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Route {
        pub id: Option<String>,
        pub name: Option<String>,
        /// Only on top-level routes.
        pub service: Option<ForeignKey>,
        pub protocols: Option<Vec<Protocol>>,
        pub methods: Option<Vec<String>>,
        pub hosts: Option<Vec<String>>,
        pub paths: Option<Vec<String>>,
        pub headers: Option<BTreeMap<String, HeaderValues>>,
        /// Not supported: accepted only when null or empty.
        pub snis: Option<serde_yaml::Value>,
        pub sources: Option<serde_yaml::Value>,
        pub destinations: Option<serde_yaml::Value>,
        pub strip_path: Option<bool>,
        pub preserve_host: Option<bool>,
        pub regex_priority: Option<i64>,
        pub path_handling: Option<PathHandling>,
        pub https_redirect_status_code: Option<i64>,
        pub request_buffering: Option<bool>,
        pub response_buffering: Option<bool>,
        pub tags: Option<Vec<String>>,
        pub plugins: Option<Vec<Plugin>>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Algorithm {
        RoundRobin,
        ConsistentHashing,
        LeastConnections,
        Latency,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum HashOn {
        None,
        Consumer,
        Ip,
        Header,
        Cookie,
        Path,
        QueryArg,
        UriCapture,
    }

    impl HashOn {
        pub fn as_str(self) -> &'static str {
            match self {
                HashOn::None => "none",
                HashOn::Consumer => "consumer",
                HashOn::Ip => "ip",
                HashOn::Header => "header",
                HashOn::Cookie => "cookie",
                HashOn::Path => "path",
                HashOn::QueryArg => "query_arg",
                HashOn::UriCapture => "uri_capture",
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum HealthcheckType {
        Http,
        Https,
        Tcp,
        Grpc,
        Grpcs,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Upstream {
        pub id: Option<String>,
        pub name: Option<String>,
        pub algorithm: Option<Algorithm>,
        pub hash_on: Option<HashOn>,
        pub hash_fallback: Option<HashOn>,
        pub hash_on_header: Option<String>,
        pub hash_fallback_header: Option<String>,
        pub hash_on_cookie: Option<String>,
        pub hash_on_cookie_path: Option<String>,
        pub hash_on_query_arg: Option<String>,
        pub hash_fallback_query_arg: Option<String>,
        pub hash_on_uri_capture: Option<String>,
        pub hash_fallback_uri_capture: Option<String>,
        pub slots: Option<i64>,
        pub host_header: Option<String>,
        /// Accepted because Kong exports it; only `false` is supported.
        pub use_srv_name: Option<bool>,
        pub healthchecks: Option<Healthchecks>,
        pub tags: Option<Vec<String>>,
        pub targets: Option<Vec<Target>>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Healthchecks {
        pub active: Option<ActiveHealthcheck>,
        pub passive: Option<PassiveHealthcheck>,
        pub threshold: Option<f64>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ActiveHealthcheck {
        #[serde(rename = "type")]
        pub kind: Option<HealthcheckType>,
        pub timeout: Option<f64>,
        pub concurrency: Option<i64>,
        pub http_path: Option<String>,
        pub https_verify_certificate: Option<bool>,
        pub https_sni: Option<String>,
        pub headers: Option<BTreeMap<String, HeaderValues>>,
        pub healthy: Option<ActiveHealthy>,
        pub unhealthy: Option<ActiveUnhealthy>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ActiveHealthy {
        pub interval: Option<f64>,
        pub successes: Option<i64>,
        pub http_statuses: Option<Vec<i64>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ActiveUnhealthy {
        pub interval: Option<f64>,
        pub http_failures: Option<i64>,
        pub tcp_failures: Option<i64>,
        pub timeouts: Option<i64>,
        pub http_statuses: Option<Vec<i64>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PassiveHealthcheck {
        #[serde(rename = "type")]
        pub kind: Option<HealthcheckType>,
        pub healthy: Option<PassiveHealthy>,
        pub unhealthy: Option<PassiveUnhealthy>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PassiveHealthy {
        pub successes: Option<i64>,
        pub http_statuses: Option<Vec<i64>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PassiveUnhealthy {
        pub http_failures: Option<i64>,
        pub tcp_failures: Option<i64>,
        pub timeouts: Option<i64>,
        pub http_statuses: Option<Vec<i64>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Target {
        pub id: Option<String>,
        pub target: Option<String>,
        pub weight: Option<i64>,
        pub tags: Option<Vec<String>>,
        /// Only on top-level targets.
        pub upstream: Option<ForeignKey>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Consumer {
        pub id: Option<String>,
        pub username: Option<String>,
        pub custom_id: Option<String>,
        pub tags: Option<Vec<String>>,
        pub keyauth_credentials: Option<Vec<KeyAuthCredential>>,
        pub basicauth_credentials: Option<Vec<BasicAuthCredential>>,
        pub acls: Option<Vec<Acl>>,
        pub plugins: Option<Vec<Plugin>>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct KeyAuthCredential {
        pub id: Option<String>,
        pub key: Option<String>,
        pub tags: Option<Vec<String>>,
        /// Only on top-level credentials.
        pub consumer: Option<ForeignKey>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct BasicAuthCredential {
        pub id: Option<String>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub tags: Option<Vec<String>>,
        /// Only on top-level credentials.
        pub consumer: Option<ForeignKey>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Acl {
        pub id: Option<String>,
        pub group: Option<String>,
        pub tags: Option<Vec<String>>,
        /// Only on top-level credentials.
        pub consumer: Option<ForeignKey>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Plugin {
        pub id: Option<String>,
        pub name: Option<String>,
        pub config: Option<serde_json::Value>,
        pub enabled: Option<bool>,
        pub protocols: Option<Vec<Protocol>>,
        pub tags: Option<Vec<String>>,
        pub service: Option<ForeignKey>,
        pub route: Option<ForeignKey>,
        pub consumer: Option<ForeignKey>,
        /// Unix seconds; Kong exports them (targets with a fraction).
        pub created_at: Option<f64>,
        pub updated_at: Option<f64>,
    }
}
