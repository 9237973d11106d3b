//! The log phase through the real gateway: prometheus metrics on the Admin API's `/metrics`,
//! file-log entries in a real file and http-log batches POSTed to a real collector.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{response, temp_path, wait_until, Action, Gateway, Upstream};

fn request(gateway: &Gateway, raw: &str) -> support::Response {
    let mut client = gateway.client();
    client.set_read_timeout(Duration::from_secs(5));
    client.request(raw.as_bytes())
}

/// The value of the sample whose line starts with `series` (name and labels, exactly).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// Scrapes `/metrics` until `series` has `value` (the log phase runs after the response is
/// sent, so a scrape right after a response may precede its accounting), then returns the text.
fn scrape_when(gateway: &Gateway, series: &str, value: f64) -> String {
    let mut text = String::new();
    let seen = wait_until(Duration::from_secs(5), || {
        text = gateway.admin_get("/metrics").text();
        sample(&text, series) == Some(value)
    });
    assert!(seen, "{series} never reached {value}:\n{text}");
    text
}

#[test]
fn prometheus_counts_requests_latencies_bandwidth_and_target_health() {
    let upstream = Upstream::fixed("hello");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let yaml = format!(
        "_format_version: \"3.0\"
upstreams:
  - name: pool
    targets:
      - target: {up}
services:
  - name: svc
    host: pool
    routes:
      - name: r
        paths: [\"/api\"]
        plugins:
          - name: key-auth
  - name: broken
    url: http://127.0.0.1:{dead_port}
    routes:
      - name: down
        paths: [\"/down\"]
consumers:
  - username: alice
    keyauth_credentials:
      - key: k1
plugins:
  - name: prometheus
    config:
      per_consumer: true
      status_code_metrics: true
      latency_metrics: true
      bandwidth_metrics: true
      upstream_health_metrics: true
",
        up = upstream.addr()
    );
    let gateway = Gateway::start(&yaml, &[]);

    for _ in 0..2 {
        let ok = request(
            &gateway,
            "GET /api/x HTTP/1.1\r\nHost: x\r\napikey: k1\r\n\r\n",
        );
        assert_eq!(ok.status, 200, "{}", ok.head);
    }
    assert_eq!(
        request(&gateway, "GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n").status,
        401
    );
    assert_eq!(
        request(&gateway, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );
    assert_eq!(
        request(&gateway, "GET /down HTTP/1.1\r\nHost: x\r\n\r\n").status,
        502
    );

    scrape_when(
        &gateway,
        "kong_http_requests_total{service=\"broken\",route=\"down\",code=\"502\",source=\"error\",workspace=\"default\",consumer=\"\"}",
        1.0,
    );
    let scrape = gateway.admin_get("/metrics");
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        scrape.head
    );
    let m = scrape.text();
    let requests = |labels: &str| sample(&m, &format!("kong_http_requests_total{{{labels}}}"));
    assert_eq!(
        requests("service=\"svc\",route=\"r\",code=\"200\",source=\"service\",workspace=\"default\",consumer=\"alice\""),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        requests("service=\"svc\",route=\"r\",code=\"401\",source=\"exit\",workspace=\"default\",consumer=\"\""),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        requests("service=\"\",route=\"\",code=\"404\",source=\"exit\",workspace=\"default\",consumer=\"\""),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        requests("service=\"broken\",route=\"down\",code=\"502\",source=\"error\",workspace=\"default\",consumer=\"\""),
        Some(1.0),
        "{m}"
    );
    assert!(m.contains("# TYPE kong_http_requests_total counter"), "{m}");

    // Histograms: every request of the route observed once, cumulative buckets ending at +Inf.
    let labels = "service=\"svc\",route=\"r\",workspace=\"default\"";
    assert_eq!(
        sample(&m, &format!("kong_request_latency_ms_count{{{labels}}}")),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            &format!("kong_request_latency_ms_bucket{{{labels},le=\"+Inf\"}}")
        ),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            &format!("kong_request_latency_ms_bucket{{{labels},le=\"60000.0\"}}")
        ),
        Some(3.0),
        "{m}"
    );
    // Only the two proxied requests waited for the upstream.
    assert_eq!(
        sample(&m, &format!("kong_upstream_latency_ms_count{{{labels}}}")),
        Some(2.0),
        "{m}"
    );
    assert!(m.contains("# TYPE kong_kong_latency_ms histogram"), "{m}");

    let egress = sample(
        &m,
        "kong_bandwidth_bytes{service=\"svc\",route=\"r\",direction=\"egress\",workspace=\"default\",consumer=\"alice\"}",
    )
    .expect("egress bandwidth");
    let ingress = sample(
        &m,
        "kong_bandwidth_bytes{service=\"svc\",route=\"r\",direction=\"ingress\",workspace=\"default\",consumer=\"alice\"}",
    )
    .expect("ingress bandwidth");
    // Two requests of ~45 bytes in; two responses (head + "hello") out.
    assert!(
        (80.0..200.0).contains(&ingress),
        "ingress {ingress} bytes\n{m}"
    );
    assert!(egress > 2.0 * 5.0 + 60.0, "egress {egress} bytes\n{m}");

    let target = upstream.addr().to_string();
    assert_eq!(
        sample(
            &m,
            &format!("kong_upstream_target_health{{upstream=\"pool\",target=\"{target}\",address=\"{target}\",state=\"healthchecks_off\",subsystem=\"http\"}}")
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            &format!("kong_upstream_target_health{{upstream=\"pool\",target=\"{target}\",address=\"{target}\",state=\"unhealthy\",subsystem=\"http\"}}")
        ),
        Some(0.0),
        "{m}"
    );
    assert!(m.contains("kong_nginx_requests_total{"), "{m}");
    assert!(m.contains("kong_node_info{"), "{m}");
}

#[test]
fn prometheus_defaults_record_no_per_request_series_and_metrics_survive_reload() {
    let upstream = Upstream::fixed("ok");
    let yaml = |extra: &str| {
        format!(
            "_format_version: \"3.0\"\nservices:\n  - name: svc\n    url: {}\n    routes:\n      - name: r\n        paths: [\"/\"]\nplugins:\n  - name: prometheus\n{extra}",
            upstream.url()
        )
    };
    let mut gateway = Gateway::start(&yaml(""), &[]);
    assert_eq!(gateway.get("/", "x").status, 200);
    std::thread::sleep(Duration::from_millis(100));
    let m = gateway.admin_get("/metrics").text();
    // Kong 3.x: status, latency and bandwidth metrics are opt-in.
    assert!(!m.contains("kong_http_requests_total{"), "{m}");
    assert!(!m.contains("kong_request_latency_ms_bucket"), "{m}");
    assert!(m.contains("kong_nginx_requests_total{"), "{m}");

    gateway.write_config(&yaml("    config:\n      status_code_metrics: true\n"));
    assert!(matches!(gateway.reload(), support::Reload::Reloaded(_)));
    assert_eq!(gateway.get("/", "x").status, 200);
    gateway.write_config(&yaml(
        "    config:\n      status_code_metrics: true\n      per_consumer: false\n",
    ));
    assert!(matches!(gateway.reload(), support::Reload::Reloaded(_)));
    assert_eq!(gateway.get("/", "x").status, 200);
    // Counted once under the first prometheus config and once under the second.
    scrape_when(
        &gateway,
        "kong_http_requests_total{service=\"svc\",route=\"r\",code=\"200\",source=\"service\",workspace=\"default\",consumer=\"\"}",
        2.0,
    );
}

fn read_lines(path: &std::path::Path, want: usize) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    let complete = wait_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        lines = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
            .collect();
        lines.len() >= want && text.ends_with('\n')
    });
    assert!(complete, "only {} of {want} log lines", lines.len());
    lines
}

#[test]
fn file_log_writes_kong_entries_as_json_lines_for_proxied_and_rejected_requests() {
    let upstream = Upstream::fixed("hello");
    let log_path = temp_path("file-log", "jsonl");
    let yaml = format!(
        "_format_version: \"3.0\"
services:
  - name: svc
    url: {url}/base
    routes:
      - name: r
        paths: [\"/api\"]
        plugins:
          - name: key-auth
consumers:
  - username: alice
    keyauth_credentials:
      - id: 5d9ec6d4-2f1a-4c53-9a57-6f1d5b0f0c11
        key: k1
plugins:
  - name: file-log
    config:
      path: {path}
",
        url = upstream.url(),
        path = log_path.display()
    );
    let gateway = Gateway::start(&yaml, &[]);
    let ok = request(
        &gateway,
        "GET /api/x?a=1&b=two&a=3&flag HTTP/1.1\r\nHost: example.test\r\napikey: k1\r\nAuthorization: Bearer secret\r\nX-Twice: 1\r\nX-Twice: 2\r\n\r\n",
    );
    assert_eq!(ok.status, 200);
    let rejected = request(
        &gateway,
        "POST /api/y HTTP/1.1\r\nHost: example.test\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(rejected.status, 401);

    let entries = read_lines(&log_path, 2);
    let e = &entries[0];
    assert_eq!(e["request"]["method"], "GET");
    assert_eq!(e["request"]["uri"], "/api/x?a=1&b=two&a=3&flag");
    assert_eq!(
        e["request"]["url"],
        format!(
            "http://example.test:{}/api/x?a=1&b=two&a=3&flag",
            gateway.proxy_addr.port()
        )
    );
    assert_eq!(
        e["request"]["querystring"]["a"],
        serde_json::json!(["1", "3"])
    );
    assert_eq!(e["request"]["querystring"]["b"], "two");
    assert_eq!(e["request"]["querystring"]["flag"], true);
    assert_eq!(
        e["request"]["headers"]["x-twice"],
        serde_json::json!(["1", "2"])
    );
    assert_eq!(
        e["request"]["headers"]["authorization"], "REDACTED",
        "credentials must not reach the log"
    );
    assert!(e["request"]["size"].as_u64().unwrap() > 50);
    assert_eq!(e["response"]["status"], 200);
    assert_eq!(e["response"]["headers"]["content-type"], "text/plain");
    assert!(e["response"]["size"].as_u64().unwrap() >= 5);
    assert_eq!(e["upstream_uri"], "/base/x?a=1&b=two&a=3&flag");
    assert_eq!(e["upstream_status"], "200");
    assert_eq!(e["source"], "upstream");
    assert_eq!(e["route"]["name"], "r");
    assert_eq!(e["service"]["name"], "svc");
    assert_eq!(e["consumer"]["username"], "alice");
    assert_eq!(
        e["authenticated_entity"]["id"],
        "5d9ec6d4-2f1a-4c53-9a57-6f1d5b0f0c11"
    );
    assert_eq!(e["client_ip"], "127.0.0.1");
    assert_eq!(e["tries"][0]["port"], upstream.port());
    for field in ["kong", "proxy", "request", "receive"] {
        assert!(e["latencies"][field].is_i64(), "latencies.{field}: {e}");
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let started = e["started_at"].as_u64().unwrap();
    assert!(started <= now_ms && now_ms - started < 60_000, "{started}");

    let r = &entries[1];
    assert_eq!(r["request"]["method"], "POST");
    assert_eq!(r["response"]["status"], 401);
    assert_eq!(r["source"], "kong");
    assert_eq!(r["latencies"]["proxy"], -1);
    assert!(r.get("consumer").is_none(), "{r}");
    let _ = std::fs::remove_file(&log_path);
}

#[test]
fn http_log_posts_one_entry_per_request_and_batches_when_asked() {
    let collector = Upstream::start(|_| Action::Respond(response(200, &[], b"")));
    let upstream = Upstream::fixed("ok");
    let yaml = format!(
        "_format_version: \"3.0\"
services:
  - name: svc
    url: {url}
    routes:
      - name: single
        paths: [\"/single\"]
        plugins:
          - name: http-log
            config:
              http_endpoint: http://user:pa%20ss@{collector}/logs?src=sluice
              headers:
                X-Token: t0ken
      - name: batched
        paths: [\"/batched\"]
        plugins:
          - name: http-log
            config:
              http_endpoint: http://{collector}/batch
              method: PUT
              queue:
                max_batch_size: 3
                max_coalescing_delay: 0.5
",
        url = upstream.url(),
        collector = collector.addr()
    );
    let gateway = Gateway::start(&yaml, &[]);
    assert_eq!(gateway.get("/single/a", "x").status, 200);
    assert!(wait_until(Duration::from_secs(5), || collector
        .request_count()
        == 1));
    let post = collector.requests().remove(0);
    assert_eq!(post.method, "POST");
    assert_eq!(post.target, "/logs?src=sluice");
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header("x-token"), Some("t0ken"));
    assert_eq!(post.header("authorization"), Some("Basic dXNlcjpwYSBzcw=="));
    let entry: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert!(entry.is_object(), "max_batch_size 1 sends one object");
    assert_eq!(entry["request"]["uri"], "/single/a");
    assert_eq!(entry["route"]["name"], "single");

    for i in 0..3 {
        assert_eq!(gateway.get(&format!("/batched/{i}"), "x").status, 200);
    }
    assert!(wait_until(Duration::from_secs(5), || collector
        .request_count()
        == 2));
    let batch = collector.requests().remove(1);
    assert_eq!(batch.method, "PUT");
    assert_eq!(batch.target, "/batch");
    let entries: serde_json::Value = serde_json::from_slice(&batch.body).unwrap();
    let uris: Vec<&str> = entries
        .as_array()
        .expect("a batch is a JSON array")
        .iter()
        .map(|e| e["request"]["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, ["/batched/0", "/batched/1", "/batched/2"]);
}

#[test]
fn http_log_retries_a_failed_delivery() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&attempts);
    let collector = Upstream::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Action::Respond(response(503, &[], b"busy"))
        } else {
            Action::Respond(response(204, &[], b""))
        }
    });
    let upstream = Upstream::fixed("ok");
    let yaml = format!(
        "_format_version: \"3.0\"
services:
  - name: svc
    url: {url}
    routes:
      - name: r
        paths: [\"/\"]
plugins:
  - name: http-log
    config:
      http_endpoint: http://{collector}/logs
      queue:
        initial_retry_delay: 0.05
",
        url = upstream.url(),
        collector = collector.addr()
    );
    let gateway = Gateway::start(&yaml, &[]);
    let started = std::time::Instant::now();
    assert_eq!(gateway.get("/x", "x").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "delivery must not hold the request"
    );
    assert!(wait_until(Duration::from_secs(5), || collector
        .request_count()
        == 2));
    let requests = collector.requests();
    assert_eq!(
        requests[0].body, requests[1].body,
        "the same entry is resent"
    );
}

#[test]
fn log_plugin_configs_are_validated_with_paths() {
    let out = support::sluice_check(
        "_format_version: \"3.0\"
services:
  - name: s
    url: http://127.0.0.1:1
plugins:
  - name: file-log
  - name: http-log
    config:
      http_endpoint: https://collector.example/logs
  - name: http-log
    service: s
    config:
      http_endpoint: http://collector.example/logs
      method: GET
  - name: prometheus
    config:
      per_consumer: maybe
",
    );
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    for path in [
        "plugins[0].config.path",
        "plugins[1].config.http_endpoint",
        "plugins[2].config.method",
        "plugins[3].config.per_consumer",
    ] {
        assert!(text.contains(path), "missing {path} in:\n{text}");
    }
}

#[test]
fn undeliverable_log_entries_are_dropped_and_counted_without_holding_requests() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let upstream = Upstream::fixed("ok");
    let yaml = format!(
        "_format_version: \"3.0\"
services:
  - name: svc
    url: {url}
    routes:
      - name: r
        paths: [\"/\"]
plugins:
  - name: http-log
    config:
      http_endpoint: http://{dead_addr}/logs
      timeout: 200
      queue:
        max_retry_time: 0.3
        initial_retry_delay: 0.05
",
        url = upstream.url()
    );
    let gateway = Gateway::start(&yaml, &[]);
    for _ in 0..3 {
        assert_eq!(gateway.get("/x", "x").status, 200);
    }
    scrape_when(&gateway, "sluice_log_entries_dropped_total", 3.0);
}
