//! rate-limiting's `redis` policy against a real Redis server: limits shared by two gateway
//! processes (two "nodes"), Kong's key layout, AUTH and SELECT, and `fault_tolerant` when
//! Redis is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{redis_command, Gateway, RedisServer, Upstream};

fn request(gateway: &Gateway, path: &str) -> support::Response {
    let mut client = gateway.client();
    client.set_read_timeout(Duration::from_secs(5));
    client.request(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
}

fn config(upstream: &Upstream, redis_port: u16, plugin_extra: &str) -> String {
    format!(
        "_format_version: \"3.0\"
services:
  - name: svc
    id: 3f1c2e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b
    url: {url}
    routes:
      - name: limited
        paths: [\"/limited\"]
        plugins:
          - name: rate-limiting
            config:
              day: 3
              limit_by: ip
              policy: redis
              redis:
                host: 127.0.0.1
                port: {redis_port}
                timeout: 500
{plugin_extra}",
        url = upstream.url()
    )
}

#[test]
fn two_gateways_share_one_limit_through_redis() {
    let redis = RedisServer::start(&["--requirepass", "s3cret"]);
    let upstream = Upstream::fixed("ok");
    let yaml = config(
        &upstream,
        redis.port,
        "                password: s3cret\n                database: 2\n",
    );
    let node_a = Gateway::start(&yaml, &[]);
    let node_b = Gateway::start(&yaml, &[]);

    let first = request(&node_a, "/limited");
    assert_eq!(first.status, 200, "{}", first.head);
    assert_eq!(first.header("x-ratelimit-limit-day"), Some("3"));
    assert_eq!(first.header("x-ratelimit-remaining-day"), Some("2"));
    assert_eq!(first.header("ratelimit-limit"), Some("3"));
    assert_eq!(request(&node_b, "/limited").status, 200);
    let third = request(&node_a, "/limited");
    assert_eq!(third.status, 200);
    assert_eq!(third.header("x-ratelimit-remaining-day"), Some("0"));

    // The fourth request is over the limit on either node.
    for node in [&node_b, &node_a] {
        let limited = request(node, "/limited");
        assert_eq!(limited.status, 429, "{}", limited.head);
        assert_eq!(limited.json()["message"], "API rate limit exceeded");
        assert!(limited.header("retry-after").is_some());
        assert_eq!(limited.header("x-ratelimit-remaining-day"), Some("0"));
    }
    assert_eq!(
        upstream.request_count(),
        3,
        "rejected requests reached the upstream"
    );

    // Kong's key layout, in the configured database; rejected requests are not counted.
    let auth = redis_command(redis.port, &["AUTH", "s3cret"]);
    assert!(auth.starts_with("+OK"), "{auth}");
    let keys = {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
        use std::io::{Read, Write};
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"AUTH s3cret\r\nSELECT 2\r\nKEYS ratelimit:*\r\n")
            .unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while !text.contains(":day") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "redis closed: {text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    };
    let key = keys
        .lines()
        .find(|l| l.starts_with("ratelimit:"))
        .unwrap_or_else(|| panic!("no key in {keys}"))
        .to_string();
    // ratelimit:<route id>:<service id: none, the plugin is route-scoped>:<ip>:<start ms>:day
    assert!(
        key.contains(":00000000-0000-0000-0000-000000000000:127.0.0.1:"),
        "{key}"
    );
    assert!(key.ends_with(":day"), "{key}");
    let count = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(format!("AUTH s3cret\r\nSELECT 2\r\nGET {key}\r\nTTL {key}\r\n").as_bytes())
            .unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while text.matches("\r\n").count() < 5 {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "redis closed: {text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    };
    let lines: Vec<&str> = count.lines().collect();
    assert_eq!(lines[3], "3", "{count}");
    let ttl: i64 = lines[4].trim_start_matches(':').parse().unwrap();
    assert!(ttl > 0 && ttl <= 86_401, "{count}");
}

#[test]
fn fault_tolerant_proxies_without_limits_and_strict_answers_500_when_redis_is_down() {
    let mut redis = RedisServer::start(&[]);
    let upstream = Upstream::fixed("ok");
    let yaml = format!(
        "{}      - name: strict
        paths: [\"/strict\"]
        plugins:
          - name: rate-limiting
            config:
              day: 100
              policy: redis
              fault_tolerant: false
              redis_host: 127.0.0.1
              redis_port: {}
              redis_timeout: 300
",
        config(&upstream, redis.port, ""),
        redis.port
    );
    let gateway = Gateway::start(&yaml, &["--workers", "1"]);
    let up = request(&gateway, "/strict");
    assert_eq!(up.status, 200, "{}", up.head);
    assert_eq!(up.header("x-ratelimit-remaining-day"), Some("99"));
    assert_eq!(
        request(&gateway, "/strict").header("x-ratelimit-remaining-day"),
        Some("98")
    );

    // A restarted Redis closed the pooled connection: the command goes again on a fresh one
    // instead of failing the request (the new server starts empty).
    redis.restart();
    let after_restart = request(&gateway, "/strict");
    assert_eq!(after_restart.status, 200, "{}", after_restart.head);
    assert_eq!(
        after_restart.header("x-ratelimit-remaining-day"),
        Some("99")
    );

    redis.stop();
    let tolerant = request(&gateway, "/limited");
    assert_eq!(tolerant.status, 200, "{}", tolerant.head);
    assert_eq!(
        tolerant.header("x-ratelimit-limit-day"),
        None,
        "no limit headers without the store"
    );
    let strict = request(&gateway, "/strict");
    assert_eq!(strict.status, 500, "{}", strict.head);
    assert_eq!(strict.json()["message"], "An unexpected error occurred");
}

#[test]
fn redis_policy_config_is_validated() {
    let out = support::sluice_check(
        "_format_version: \"3.0\"
plugins:
  - name: rate-limiting
    config:
      minute: 5
      policy: redis
  - name: rate-limiting
    service: s
    config:
      minute: 5
      policy: redis
      redis:
        host: 127.0.0.1
        ssl: true
services:
  - name: s
    url: http://127.0.0.1:9
",
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("plugins[0].config.redis.host"), "{text}");
    assert!(text.contains("config.redis.ssl"), "{text}");
}
