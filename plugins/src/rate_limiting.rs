//! rate-limiting (priority 910), `local` policy: fixed windows, counters exact across all
//! workers (one sharded `Mutex<HashMap>` in [`crate::PluginState`]; the check and the increment
//! of every period happen under one shard lock, so concurrent requests never over-admit).

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, PluginCtx, RequestView};
use crate::Consumers;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Kong's periods and their window lengths (`EXPIRATION` in Kong's `timestamp.lua`).
pub const PERIODS: [(&str, &str, u64); 6] = [
    ("second", "Second", 1),
    ("minute", "Minute", 60),
    ("hour", "Hour", 3600),
    ("day", "Day", 86400),
    ("month", "Month", 2_592_000),
    ("year", "Year", 31_536_000),
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

pub(crate) struct RateLimiting {
    identity: u64,
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
    pub fn compile(
        c: &mut Conf<'_>,
        identity: u64,
        _service: Option<usize>,
        _route: Option<usize>,
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
        let policy = c.str_or("policy", "local");
        match policy.as_str() {
            "local" => {}
            "redis" | "cluster" => {
                c.err("policy", format!("policy '{policy}' is not supported yet"))
            }
            _ => c.err("policy", "expected one of: local, cluster, redis"),
        }
        c.bool_or("fault_tolerant", true);
        let hide_client_headers = c.bool_or("hide_client_headers", false);
        let error_code = c.opt_int("error_code", 100, 599).unwrap_or(429) as u16;
        let error_message = c.str_or("error_message", "API rate limit exceeded");
        c.opt_num("sync_rate");
        c.ignore(&[
            "redis",
            "redis_host",
            "redis_port",
            "redis_password",
            "redis_username",
            "redis_ssl",
            "redis_ssl_verify",
            "redis_server_name",
            "redis_timeout",
            "redis_database",
        ]);
        Some(RateLimiting {
            identity,
            limits,
            limit_by,
            header_name,
            path,
            hide_client_headers,
            error_code,
            error_message,
        })
    }

    pub fn access(
        &self,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        _route: usize,
        counters: &Counters,
        now: f64,
        consumers: &Consumers,
    ) -> Access {
        let mut key = std::mem::take(&mut ctx.scratch);
        key.clear();
        let _ = write!(key, "{}:", self.identity);
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
            LimitBy::Service => match req.service() {
                Some(s) => {
                    let _ = write!(key, "service#{s}");
                }
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
        // usage before this request, per period
        let mut used = [0u64; 6];
        let mut stop: Option<usize> = None;
        {
            let shard_no = counters.hasher.hash_one(key.as_str()) as usize % counters.shards.len();
            let shard = &counters.shards[shard_no];
            let mut shard = match shard.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if shard.map.len() >= shard.sweep_at {
                shard.map.retain(|_, e| e.expires > now_s);
                shard.sweep_at = (shard.map.len() * 2).max(1024);
            }
            let entry = match shard.map.get_mut(key.as_str()) {
                Some(e) => e,
                None => shard.map.entry(key.clone()).or_insert(Entry {
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
        }
        ctx.scratch = key;

        // Headers, as Kong: the most restrictive period feeds RateLimit-*.
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
                ctx.response.set_header(
                    &format!("X-RateLimit-Limit-{}", PERIODS[p].1),
                    limit.to_string(),
                );
                ctx.response.set_header(
                    &format!("X-RateLimit-Remaining-{}", PERIODS[p].1),
                    remaining.to_string(),
                );
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
