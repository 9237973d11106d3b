//! rate-limiting (priority 910), `local` policy: fixed windows, counters exact across all
//! workers (one sharded `Mutex<HashMap>` in [`crate::PluginState`]; the check and the increment
//! of every period happen under one shard lock, so concurrent requests never over-admit).

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, PluginCtx, RequestView};
use crate::redis::{encode_command, RedisTarget, RespValue, StoreQuery};
use crate::Consumers;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Kong's periods and their window lengths (`EXPIRATION` in Kong's `timestamp.lua`).
pub const PERIODS: [(&str, &str, u64); 6] = [
    ("second", "Second", 1),
    ("minute", "Minute", 60),
    ("hour", "Hour", 3600),
    ("day", "Day", 86400),
    ("month", "Month", 2_592_000),
    ("year", "Year", 31_536_000),
];

/// `X-RateLimit-Limit-<Period>` and `X-RateLimit-Remaining-<Period>`, per period index.
const LIMIT_HEADERS: [&str; 6] = [
    "X-RateLimit-Limit-Second",
    "X-RateLimit-Limit-Minute",
    "X-RateLimit-Limit-Hour",
    "X-RateLimit-Limit-Day",
    "X-RateLimit-Limit-Month",
    "X-RateLimit-Limit-Year",
];
const REMAINING_HEADERS: [&str; 6] = [
    "X-RateLimit-Remaining-Second",
    "X-RateLimit-Remaining-Minute",
    "X-RateLimit-Remaining-Hour",
    "X-RateLimit-Remaining-Day",
    "X-RateLimit-Remaining-Month",
    "X-RateLimit-Remaining-Year",
];

const SHARDS: usize = 32;

#[derive(Clone, Copy, Default)]
struct Window {
    start: i64,
    count: u64,
}

struct Entry {
    windows: [Window; 6],
    expires: i64,
}

struct Shard {
    map: HashMap<String, Entry>,
    sweep_at: usize,
}

/// Shared counters (all workers, survives reloads).
pub(crate) struct Counters {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        sweep_at: 1024,
                    })
                })
                .collect(),
            hasher: Default::default(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LimitBy {
    Consumer,
    Credential,
    Ip,
    Service,
    Header,
    Path,
}

/// Where counters live.
enum Policy {
    /// In this process, shared by all workers.
    Local,
    /// In Redis, shared by every gateway node that uses the same server; keys are Kong's
    /// `ratelimit:<route_id>:<service_id>:<identifier>:<period_start_ms>:<period>`.
    Redis {
        target: Arc<RedisTarget>,
        route_id: String,
        service_id: String,
    },
}

/// Checks every limited period and, only if none is exhausted, counts the request in all of
/// them: one atomic script, so concurrent requests from any number of nodes never over-admit.
/// KEYS: one per limited period; ARGV: the limits, then the TTLs. Returns the usage before
/// this request per key, then the (1-based) index of the exhausted period or 0.
const REDIS_SCRIPT: &str = "local n = #KEYS
local used = {}
local stop = 0
for i = 1, n do
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if stop == 0 and used[i] >= tonumber(ARGV[i]) then stop = i end
end
if stop == 0 then
  for i = 1, n do
    redis.call('INCR', KEYS[i])
    redis.call('EXPIRE', KEYS[i], ARGV[n + i])
  end
end
used[n + 1] = stop
return used";

/// Kong's all-zero UUID for a plugin not scoped to a route or service.
const EMPTY_UUID: &str = "00000000-0000-0000-0000-000000000000";

pub(crate) struct RateLimiting {
    identity: u64,
    policy: Policy,
    fault_tolerant: bool,
    /// Limit per period (index into [`PERIODS`]).
    limits: [Option<u64>; 6],
    limit_by: LimitBy,
    header_name: String,
    path: String,
    hide_client_headers: bool,
    error_code: u16,
    error_message: String,
}

/// Days since 1970-01-01 -> (year, month 1..=12), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// (year, month, day 1) -> days since 1970-01-01, `days_from_civil`.
fn days_from_civil(y: i64, m: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Start and end (unix seconds) of the fixed window of period `p` containing `now` (UTC).
pub fn window(p: usize, now: i64) -> (i64, i64) {
    match p {
        0..=3 => {
            let len = PERIODS[p].2 as i64;
            let start = now.div_euclid(len) * len;
            (start, start + len)
        }
        4 => {
            let (y, m) = civil_from_days(now.div_euclid(86_400));
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (
                days_from_civil(y, m) * 86_400,
                days_from_civil(ny, nm) * 86_400,
            )
        }
        _ => {
            let (y, _) = civil_from_days(now.div_euclid(86_400));
            (
                days_from_civil(y, 1) * 86_400,
                days_from_civil(y + 1, 1) * 86_400,
            )
        }
    }
}

impl RateLimiting {
    /// `route_id` / `service_id`: the ids of the plugin's own scope (Redis keys).
    pub fn compile(
        c: &mut Conf<'_>,
        identity: u64,
        service_id: Option<&str>,
        route_id: Option<&str>,
    ) -> Option<RateLimiting> {
        let mut limits = [None; 6];
        for (i, (name, _, _)) in PERIODS.iter().enumerate() {
            if let Some(v) = c.opt_num(name) {
                if v < 0.0 || !v.is_finite() {
                    c.err(name, "value must be a non-negative number");
                } else {
                    limits[i] = Some(v.floor() as u64);
                }
            }
        }
        if limits.iter().all(Option::is_none) && !PERIODS.iter().any(|(n, _, _)| c.is_set(n)) {
            c.err(
                "second",
                "at least one of these fields must be non-empty: 'config.second', 'config.minute', \
                 'config.hour', 'config.day', 'config.month', 'config.year'",
            );
        }
        // Kong: a longer period cannot have a lower limit than a shorter one.
        for i in 0..6 {
            for j in i + 1..6 {
                if let (Some(a), Some(b)) = (limits[i], limits[j]) {
                    if b < a {
                        c.err(
                            PERIODS[j].0,
                            format!(
                                "The limit for {}({b}.0) cannot be lower than the limit for {}({a}.0)",
                                PERIODS[j].0, PERIODS[i].0
                            ),
                        );
                    }
                }
            }
        }
        let limit_by = match c
            .one_of(
                "limit_by",
                "consumer",
                &["consumer", "credential", "ip", "service", "header", "path"],
            )
            .as_str()
        {
            "credential" => LimitBy::Credential,
            "ip" => LimitBy::Ip,
            "service" => LimitBy::Service,
            "header" => LimitBy::Header,
            "path" => LimitBy::Path,
            _ => LimitBy::Consumer,
        };
        let header_name = c
            .opt_str("header_name")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if limit_by == LimitBy::Header && header_name.is_empty() {
            c.err(
                "header_name",
                "required field missing (limit_by is 'header')",
            );
        }
        let path = c.opt_str("path").unwrap_or_default();
        if limit_by == LimitBy::Path && path.is_empty() {
            c.err("path", "required field missing (limit_by is 'path')");
        }
        let policy_name = c.one_of("policy", "local", &["local", "cluster", "redis"]);
        let fault_tolerant = c.bool_or("fault_tolerant", true);
        let hide_client_headers = c.bool_or("hide_client_headers", false);
        let error_code = c.opt_int("error_code", 100, 599).unwrap_or(429) as u16;
        let error_message = c.str_or("error_message", "API rate limit exceeded");
        c.opt_num("sync_rate");
        let target = redis_target(c);
        let policy = match policy_name.as_str() {
            "redis" => match target {
                Some(target) => Policy::Redis {
                    target: Arc::new(target),
                    route_id: route_id.unwrap_or(EMPTY_UUID).to_string(),
                    service_id: service_id.unwrap_or(EMPTY_UUID).to_string(),
                },
                None => {
                    if !c.errors.iter().any(|e| e.path.contains(".redis")) {
                        c.err("redis.host", "required field missing (policy is 'redis')");
                    }
                    Policy::Local
                }
            },
            "cluster" => {
                c.err(
                    "policy",
                    "the 'cluster' policy needs a database; use 'local' or 'redis'",
                );
                Policy::Local
            }
            _ => Policy::Local,
        };
        Some(RateLimiting {
            identity,
            policy,
            fault_tolerant,
            limits,
            limit_by,
            header_name,
            path,
            hide_client_headers,
            error_code,
            error_message,
        })
    }

    /// Access phase. The local policy decides here; the redis policy returns
    /// [`Access::Wait`] with its script call, and decides in [`RateLimiting::finish`].
    /// `service_ids`: the id of each service by index (Kong identifies a service by id).
    pub fn access(
        &self,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        counters: &Counters,
        now: f64,
        consumers: &Consumers,
        service_ids: &[String],
    ) -> Access {
        let mut key = std::mem::take(&mut ctx.scratch);
        key.clear();
        self.identifier(req, ctx, consumers, service_ids, &mut key);
        let now_s = now.floor() as i64;
        let mut starts = [0i64; 6];
        let mut expires = now_s;
        for (p, limit) in self.limits.iter().enumerate() {
            if limit.is_some() {
                let (s, e) = window(p, now_s);
                starts[p] = s;
                expires = expires.max(e);
            }
        }
        let (used, stop) = match &self.policy {
            Policy::Local => {
                let counted = self.count_locally(counters, &key, now_s, &starts, expires);
                ctx.scratch = key;
                counted
            }
            Policy::Redis {
                target,
                route_id,
                service_id,
            } => {
                let mut keys = Vec::new();
                let mut limits = Vec::new();
                let mut ttls = Vec::new();
                for (p, limit) in self.limits.iter().enumerate() {
                    let Some(limit) = limit else { continue };
                    keys.push(format!(
                        "ratelimit:{route_id}:{service_id}:{key}:{}:{}",
                        starts[p] * 1000,
                        PERIODS[p].0
                    ));
                    limits.push(limit.to_string());
                    // The window's remaining life (plus a second for clock skew between nodes).
                    let (_, end) = window(p, now_s);
                    ttls.push((end - now_s + 1).max(1).to_string());
                }
                ctx.scratch = key;
                let n = keys.len().to_string();
                let mut args: Vec<&[u8]> = vec![b"EVAL", REDIS_SCRIPT.as_bytes(), n.as_bytes()];
                args.extend(keys.iter().map(|k| k.as_bytes()));
                args.extend(limits.iter().map(|l| l.as_bytes()));
                args.extend(ttls.iter().map(|t| t.as_bytes()));
                return Access::Wait(StoreQuery {
                    target: Arc::clone(target),
                    command: encode_command(&args),
                    group: 0,
                    instance: 0,
                });
            }
        };
        self.decide(ctx, now_s, &starts, used, stop)
    }

    /// The redis policy's decision once the script answered (`reply`), or failed (`Err`).
    pub fn finish(
        &self,
        reply: Result<RespValue, String>,
        ctx: &mut PluginCtx,
        now: f64,
    ) -> Access {
        let now_s = now.floor() as i64;
        let mut starts = [0i64; 6];
        for (p, limit) in self.limits.iter().enumerate() {
            if limit.is_some() {
                starts[p] = window(p, now_s).0;
            }
        }
        let mut used = [0u64; 6];
        let mut stop = None;
        let parsed = match reply {
            Ok(RespValue::Array(Some(items))) => {
                let numbers: Option<Vec<i64>> = items
                    .iter()
                    .map(|v| match v {
                        RespValue::Integer(i) => Some(*i),
                        _ => None,
                    })
                    .collect();
                let limited: Vec<usize> = (0..6).filter(|&p| self.limits[p].is_some()).collect();
                match numbers {
                    Some(n) if n.len() == limited.len() + 1 => {
                        for (k, &p) in limited.iter().enumerate() {
                            used[p] = n[k].max(0) as u64;
                        }
                        let stop_index = n[limited.len()];
                        if stop_index > 0 {
                            stop = limited.get(stop_index as usize - 1).copied();
                        }
                        Ok(())
                    }
                    _ => Err("unexpected reply to the rate-limiting script".to_string()),
                }
            }
            Ok(RespValue::Error(e)) => Err(e),
            Ok(other) => Err(format!("unexpected reply {other:?}")),
            Err(e) => Err(e),
        };
        if let Err(e) = parsed {
            // Kong's fault_tolerant: proxy without limiting while the store is unreachable.
            tracing::warn!(error = %e, "rate-limiting: redis failed");
            if self.fault_tolerant {
                return Access::Continue;
            }
            return Access::Respond(LocalResponse::message(500, "An unexpected error occurred"));
        }
        self.decide(ctx, now_s, &starts, used, stop)
    }

    /// The identifier counters are kept for (Kong's `get_identifier`), into `key`.
    fn identifier(
        &self,
        req: &dyn RequestView,
        ctx: &PluginCtx,
        consumers: &Consumers,
        service_ids: &[String],
        key: &mut String,
    ) {
        if matches!(self.policy, Policy::Local) {
            let _ = write!(key, "{}:", self.identity);
        }
        let mut have = true;
        match self.limit_by {
            LimitBy::Consumer => match (ctx.consumer, &ctx.credential_id) {
                (Some(c), _) => key.push_str(&consumers.list[c].id),
                (None, Some(cred)) => key.push_str(cred),
                _ => have = false,
            },
            LimitBy::Credential => match &ctx.credential_id {
                Some(cred) => key.push_str(cred),
                None => have = false,
            },
            LimitBy::Ip => have = false,
            // By id (Kong's), so that nodes sharing Redis count a service together.
            LimitBy::Service => match req.service() {
                Some(s) => match service_ids.get(s).filter(|id| !id.is_empty()) {
                    Some(id) => key.push_str(id),
                    None => {
                        let _ = write!(key, "service#{s}");
                    }
                },
                None => have = false,
            },
            LimitBy::Header => match req.header(&self.header_name) {
                Some(v) => key.push_str(&String::from_utf8_lossy(v)),
                None => have = false,
            },
            LimitBy::Path => {
                if req.path() == self.path {
                    key.push_str(&self.path);
                } else {
                    have = false;
                }
            }
        }
        if !have {
            let _ = write!(key, "{}", req.client_ip());
        }
    }

    /// Local policy: usage before this request per period, and the first exhausted period.
    fn count_locally(
        &self,
        counters: &Counters,
        key: &str,
        now_s: i64,
        starts: &[i64; 6],
        expires: i64,
    ) -> ([u64; 6], Option<usize>) {
        let mut used = [0u64; 6];
        let mut stop: Option<usize> = None;
        let shard_no = counters.hasher.hash_one(key) as usize % counters.shards.len();
        let shard = &counters.shards[shard_no];
        let mut shard = match shard.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if shard.map.len() >= shard.sweep_at {
            shard.map.retain(|_, e| e.expires > now_s);
            shard.sweep_at = (shard.map.len() * 2).max(1024);
        }
        let entry = match shard.map.get_mut(key) {
            Some(e) => e,
            None => shard.map.entry(key.to_string()).or_insert(Entry {
                windows: [Window::default(); 6],
                expires,
            }),
        };
        entry.expires = entry.expires.max(expires);
        for (p, limit) in self.limits.iter().enumerate() {
            let Some(limit) = limit else { continue };
            let w = &mut entry.windows[p];
            if w.start != starts[p] {
                *w = Window {
                    start: starts[p],
                    count: 0,
                };
            }
            used[p] = w.count;
            if stop.is_none() && w.count >= *limit {
                stop = Some(p);
            }
        }
        if stop.is_none() {
            for (p, limit) in self.limits.iter().enumerate() {
                if limit.is_some() {
                    entry.windows[p].count += 1;
                }
            }
        }
        (used, stop)
    }

    /// Headers and the answer, as Kong: the most restrictive period feeds RateLimit-*.
    fn decide(
        &self,
        ctx: &mut PluginCtx,
        now_s: i64,
        starts: &[i64; 6],
        used: [u64; 6],
        stop: Option<usize>,
    ) -> Access {
        let mut best: Option<(u64, u64, usize)> = None; // (limit, remaining, period)
        let mut reset = 1i64;
        for (p, limit) in self.limits.iter().enumerate() {
            let Some(limit) = *limit else { continue };
            let mut remaining = limit as i64 - used[p] as i64;
            if stop.is_none() || stop == Some(p) {
                remaining -= 1;
            }
            let remaining = remaining.max(0) as u64;
            let better = match best {
                None => true,
                Some((_, r, bp)) => {
                    remaining < r || (remaining == r && PERIODS[p].2 > PERIODS[bp].2)
                }
            };
            if better {
                best = Some((limit, remaining, p));
                reset = (PERIODS[p].2 as i64 - (now_s - starts[p])).max(1);
            }
            if !self.hide_client_headers {
                ctx.response.set_header(LIMIT_HEADERS[p], limit.to_string());
                ctx.response
                    .set_header(REMAINING_HEADERS[p], remaining.to_string());
            }
        }
        if let (Some((limit, remaining, _)), false) = (best, self.hide_client_headers) {
            ctx.response
                .set_header("RateLimit-Limit", limit.to_string());
            ctx.response
                .set_header("RateLimit-Remaining", remaining.to_string());
            ctx.response
                .set_header("RateLimit-Reset", reset.to_string());
        }
        if stop.is_some() {
            return Access::Respond(
                LocalResponse::message(self.error_code, &self.error_message)
                    .with_header("Retry-After", reset.to_string()),
            );
        }
        Access::Continue
    }
}

/// Kong's Redis settings: the `redis` record (3.6+) or the older flat `redis_*` fields; the
/// record wins. None when no host is configured.
fn redis_target(c: &mut Conf<'_>) -> Option<RedisTarget> {
    let flat_host = c.opt_str("redis_host");
    let flat_port = c.opt_int("redis_port", 0, 65535);
    let flat_password = c.opt_str("redis_password");
    let flat_username = c.opt_str("redis_username");
    let flat_database = c.opt_int("redis_database", 0, i64::from(u32::MAX));
    let flat_timeout = c.opt_int("redis_timeout", 0, i64::from(i32::MAX));
    if c.bool_or("redis_ssl", false) {
        c.err(
            "redis_ssl",
            "TLS to Redis is not supported (no TLS client in this build)",
        );
    }
    c.bool_or("redis_ssl_verify", false);
    c.opt_str("redis_server_name");
    let mut r = c.record("redis");
    let host = r.opt_str("host").or(flat_host);
    let port = r.opt_int("port", 0, 65535).or(flat_port).unwrap_or(6379) as u16;
    let password = r
        .opt_str("password")
        .or(flat_password)
        .filter(|p| !p.is_empty());
    let username = r
        .opt_str("username")
        .or(flat_username)
        .filter(|u| !u.is_empty());
    let database = r
        .opt_int("database", 0, i64::from(u32::MAX))
        .or(flat_database)
        .unwrap_or(0) as u32;
    let timeout_ms = r
        .opt_int("timeout", 0, i64::from(i32::MAX))
        .or(flat_timeout)
        .unwrap_or(2000);
    if r.bool_or("ssl", false) {
        r.err(
            "ssl",
            "TLS to Redis is not supported (no TLS client in this build)",
        );
    }
    r.bool_or("ssl_verify", false);
    r.opt_str("server_name");
    for field in [
        "connect_timeout",
        "send_timeout",
        "read_timeout",
        "keepalive_pool_size",
        "keepalive_backlog",
        "cluster_max_redirections",
    ] {
        r.raw(field);
    }
    r.bool_or("connection_is_proxied", false);
    for field in [
        "sentinel_master",
        "sentinel_role",
        "sentinel_nodes",
        "sentinel_username",
        "sentinel_password",
        "cluster_nodes",
    ] {
        match r.raw(field) {
            None => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(_) => r.err(field, "Redis Sentinel and Cluster are not supported"),
        }
    }
    c.absorb(r);
    let host = host.filter(|h| !h.is_empty())?;
    Some(RedisTarget {
        host,
        port,
        username,
        password,
        database,
        timeout: Duration::from_millis(timeout_ms.max(1) as u64),
    })
}
