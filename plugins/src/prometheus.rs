//! prometheus (priority 13): Kong's traffic metrics, recorded in the log phase and rendered in
//! the Prometheus text format for the Admin API's `/metrics`.
//!
//! Recording must not become the contention point Kong's shared-dict counters were (Kong #8463):
//! every worker records into its own shard (a `Mutex` only the scrape ever contends for), keyed
//! by small interned label ids, so the log phase hashes a few integers and allocates nothing in
//! the steady state. A scrape merges the shards.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::conf::Conf;
use crate::logging::{LogFacts, ResponseSource};

/// Kong's latency buckets in milliseconds (`DEFAULT_BUCKETS` in its exporter).
pub const LATENCY_BUCKETS: [f64; 26] = [
    1.0, 2.0, 5.0, 7.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0,
    200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0,
];

/// Shards: worker index modulo this.
const SHARDS: usize = 64;

pub(crate) struct Prometheus {
    per_consumer: bool,
    status_code_metrics: bool,
    latency_metrics: bool,
    bandwidth_metrics: bool,
    pub upstream_health_metrics: bool,
}

impl Prometheus {
    pub fn compile(c: &mut Conf<'_>) -> Option<Prometheus> {
        let p = Prometheus {
            per_consumer: c.bool_or("per_consumer", false),
            status_code_metrics: c.bool_or("status_code_metrics", false),
            latency_metrics: c.bool_or("latency_metrics", false),
            bandwidth_metrics: c.bool_or("bandwidth_metrics", false),
            upstream_health_metrics: c.bool_or("upstream_health_metrics", false),
        };
        // AI and wasm metrics have nothing to count in this gateway; accepted as Kong exports them.
        if c.bool_or("ai_metrics", false) {
            c.err("ai_metrics", "ai_metrics is not supported");
        }
        c.bool_or("wasm_metrics", false);
        Some(p)
    }

    /// Log phase. `labels`: interned (service, route, consumer) label ids, 0 = empty.
    pub fn log(&self, facts: &LogFacts<'_>, labels: (u32, u32, u32), metrics: &Metrics) {
        if !(self.status_code_metrics || self.latency_metrics || self.bandwidth_metrics) {
            return;
        }
        let (service, route, consumer) = labels;
        let consumer = if self.per_consumer { consumer } else { 0 };
        let mut shard = metrics.shard(facts.worker);
        if self.status_code_metrics && facts.status != 0 {
            let key = StatusKey {
                service,
                route,
                code: facts.status,
                source: facts.source,
                consumer,
            };
            *shard.requests.entry(key).or_insert(0) += 1;
        }
        if self.latency_metrics {
            let series = shard.latencies.entry((service, route)).or_default();
            series.kong.observe(facts.latencies.kong_ms);
            if let Some(upstream) = facts.latencies.proxy_ms {
                series.upstream.observe(upstream);
            }
            series.request.observe(facts.latencies.request_ms);
        }
        if self.bandwidth_metrics {
            let bytes = shard
                .bandwidth
                .entry((service, route, consumer))
                .or_insert([0, 0]);
            bytes[0] += facts.request_bytes;
            bytes[1] += facts.response_bytes;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct StatusKey {
    service: u32,
    route: u32,
    code: u16,
    source: ResponseSource,
    consumer: u32,
}

#[derive(Clone, Copy)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; LATENCY_BUCKETS.len() + 1],
            sum: 0.0,
        }
    }
}

impl Histogram {
    fn observe(&mut self, value_ms: f64) {
        let slot = LATENCY_BUCKETS.partition_point(|&b| b < value_ms);
        self.counts[slot] += 1;
        self.sum += value_ms;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.sum += other.sum;
    }
}

/// Selects one of a series' three histograms.
type PickHistogram = fn(&LatencySeries) -> &Histogram;

#[derive(Default, Clone, Copy)]
struct LatencySeries {
    kong: Histogram,
    upstream: Histogram,
    request: Histogram,
}

#[derive(Default)]
struct Shard {
    requests: HashMap<StatusKey, u64>,
    latencies: HashMap<(u32, u32), LatencySeries>,
    bandwidth: HashMap<(u32, u32, u32), [u64; 2]>,
}

/// Label strings interned to small ids (0 is the empty label), stable for the process.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

/// The metric store: lives in [`crate::PluginState`], so counters survive reloads as Kong's do.
pub(crate) struct Metrics {
    shards: Vec<Mutex<Shard>>,
    labels: Mutex<Interner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            labels: Mutex::new(Interner {
                ids: HashMap::from([(String::new(), 0)]),
                names: vec![String::new()],
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Metrics {
    fn shard(&self, worker: usize) -> std::sync::MutexGuard<'_, Shard> {
        lock(&self.shards[worker % SHARDS])
    }

    /// The id of a label value (called when a config is compiled, not per request).
    pub fn intern(&self, label: &str) -> u32 {
        let mut interner = lock(&self.labels);
        if let Some(&id) = interner.ids.get(label) {
            return id;
        }
        let id = interner.names.len() as u32;
        interner.names.push(label.to_string());
        interner.ids.insert(label.to_string(), id);
        id
    }

    /// Appends the traffic metrics in the Prometheus text format (version 0.0.4).
    pub fn render(&self, out: &mut String) {
        let mut requests: BTreeMap<StatusKey, u64> = BTreeMap::new();
        let mut latencies: BTreeMap<(u32, u32), LatencySeries> = BTreeMap::new();
        let mut bandwidth: BTreeMap<(u32, u32, u32), [u64; 2]> = BTreeMap::new();
        for shard in &self.shards {
            let shard = lock(shard);
            for (k, v) in &shard.requests {
                *requests.entry(*k).or_insert(0) += v;
            }
            for (k, v) in &shard.latencies {
                let merged = latencies.entry(*k).or_default();
                merged.kong.merge(&v.kong);
                merged.upstream.merge(&v.upstream);
                merged.request.merge(&v.request);
            }
            for (k, v) in &shard.bandwidth {
                let merged = bandwidth.entry(*k).or_insert([0, 0]);
                merged[0] += v[0];
                merged[1] += v[1];
            }
        }
        let names = lock(&self.labels).names.clone();
        let name = |id: u32| -> String { escape_label(names.get(id as usize).map_or("", |s| s)) };

        if !bandwidth.is_empty() {
            header(
                out,
                "kong_bandwidth_bytes",
                "Total bandwidth (ingress/egress) throughput in bytes",
                "counter",
            );
            for (&(service, route, consumer), bytes) in &bandwidth {
                for (direction, value) in [("ingress", bytes[0]), ("egress", bytes[1])] {
                    let _ = writeln!(
                        out,
                        "kong_bandwidth_bytes{{service=\"{}\",route=\"{}\",direction=\"{direction}\",workspace=\"default\",consumer=\"{}\"}} {value}",
                        name(service),
                        name(route),
                        name(consumer)
                    );
                }
            }
        }
        if !requests.is_empty() {
            header(
                out,
                "kong_http_requests_total",
                "HTTP status codes per consumer/service/route in Kong",
                "counter",
            );
            for (k, value) in &requests {
                let _ = writeln!(
                    out,
                    "kong_http_requests_total{{service=\"{}\",route=\"{}\",code=\"{}\",source=\"{}\",workspace=\"default\",consumer=\"{}\"}} {value}",
                    name(k.service),
                    name(k.route),
                    k.code,
                    k.source.label(),
                    name(k.consumer)
                );
            }
        }
        if !latencies.is_empty() {
            let kinds: [(&str, &str, PickHistogram); 3] = [
                (
                    "kong_kong_latency_ms",
                    "Latency added by Kong and enabled plugins for each service/route in Kong",
                    |s| &s.kong,
                ),
                (
                    "kong_request_latency_ms",
                    "Total latency incurred during requests for each service/route in Kong",
                    |s| &s.request,
                ),
                (
                    "kong_upstream_latency_ms",
                    "Latency added by upstream response for each service/route in Kong",
                    |s| &s.upstream,
                ),
            ];
            for (metric, help, pick) in kinds {
                header(out, metric, help, "histogram");
                for (&(service, route), series) in &latencies {
                    let h = pick(series);
                    let total: u64 = h.counts.iter().sum();
                    if total == 0 {
                        continue;
                    }
                    let labels = format!(
                        "service=\"{}\",route=\"{}\",workspace=\"default\"",
                        name(service),
                        name(route)
                    );
                    let mut cumulative = 0;
                    for (i, bucket) in LATENCY_BUCKETS.iter().enumerate() {
                        cumulative += h.counts[i];
                        // Kong's client pads `le` so that buckets sort as text.
                        let _ = writeln!(
                            out,
                            "{metric}_bucket{{{labels},le=\"{bucket:07.1}\"}} {cumulative}"
                        );
                    }
                    let _ = writeln!(out, "{metric}_bucket{{{labels},le=\"+Inf\"}} {total}");
                    let _ = writeln!(out, "{metric}_count{{{labels}}} {total}");
                    let _ = writeln!(out, "{metric}_sum{{{labels}}} {}", h.sum);
                }
            }
        }
    }
}

/// `# HELP` and `# TYPE` lines of one metric family.
pub fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
pub fn escape_label(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        let mut h = Histogram::default();
        h.observe(1.0);
        h.observe(1.5);
        h.observe(60000.0);
        h.observe(90000.0);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[LATENCY_BUCKETS.len() - 1], 1);
        assert_eq!(h.counts[LATENCY_BUCKETS.len()], 1);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn bucket_labels_are_padded_like_kong() {
        assert_eq!(format!("{:07.1}", 5.0), "00005.0");
        assert_eq!(format!("{:07.1}", 60000.0), "60000.0");
    }
}
