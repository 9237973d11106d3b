//! Process lifecycle of the real binary: graceful SIGTERM, SIGHUP reloads (good and broken
//! files), `sluice check`, the embedded default config, the admin /status endpoint, start-up
//! failures, and a round trip on each io driver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{ok, sluice_check, sluice_command, temp_path, Action, Gateway, Reload, Upstream};

fn single_route(url: &str, path: &str) -> String {
    format!("_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {url}\n    routes:\n      - name: r\n        paths: [\"{path}\"]\n")
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let upstream = Upstream::start(|_| {
        Action::Delay(
            Duration::from_millis(500),
            Box::new(ok("finished despite SIGTERM")),
        )
    });
    let mut gw = Gateway::start(&single_route(&upstream.url(), "/"), &[]);
    let mut client = gw.client();
    client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    // The request is at the upstream (which now waits 500 ms) before the signal goes out.
    upstream.wait_requests(1);
    gw.signal("TERM");
    let r = client.read_response();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "finished despite SIGTERM"),
        "{}",
        r.head
    );
    // Whether or not the response announced it, the draining gateway closes the connection.
    client.assert_closed();
    let status = gw.wait_exit(Duration::from_secs(15));
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        gw.stderr_text()
    );
}

#[test]
fn sigterm_with_idle_keepalive_connection_exits_promptly() {
    let upstream = Upstream::fixed("ok");
    let mut gw = Gateway::start(&single_route(&upstream.url(), "/"), &["--workers", "2"]);
    let mut client = gw.client();
    let r = client.request(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    let started = Instant::now();
    let status = gw.terminate();
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        gw.stderr_text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an idle connection held shutdown for {:?} (drain timeout is 10 s)",
        started.elapsed()
    );
    client.assert_closed();
}

#[test]
fn sighup_reload_switches_routing() {
    let old = Upstream::fixed("old");
    let new = Upstream::fixed("new");
    let mut gw = Gateway::start(&single_route(&old.url(), "/old"), &["--workers", "2"]);
    let mut keepalive = gw.client();
    let r = keepalive.request(b"GET /old HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "old"), "{}", r.head);
    assert_eq!(gw.get("/new", "x").status, 404);
    assert_eq!(
        gw.admin_get("/status").json()["configuration_generation"],
        0
    );

    gw.write_config(&single_route(&new.url(), "/new"));
    assert_eq!(gw.reload(), Reload::Reloaded(1));
    // Fresh connections land on either worker; every worker follows the reload.
    for _ in 0..6 {
        let r = gw.get("/new", "x");
        assert_eq!((r.status, r.text().as_str()), (200, "new"), "{}", r.head);
        assert_eq!(gw.get("/old", "x").status, 404, "the old route is gone");
    }
    // A connection opened before the reload follows the new config on its next request.
    let r = keepalive.request(b"GET /new HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "new"), "{}", r.head);
    assert_eq!(
        gw.admin_get("/status").json()["configuration_generation"],
        1
    );
}

#[test]
fn broken_file_on_sighup_keeps_the_running_config() {
    let upstream = Upstream::fixed("still here");
    let mut gw = Gateway::start(&single_route(&upstream.url(), "/kept"), &[]);
    gw.write_config("_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n      - paths: [\"no-slash\"]\n        strip: yes\n");
    match gw.reload() {
        Reload::Rejected(problems) => assert!(problems >= 1, "{problems}"),
        other => panic!("a broken config was accepted: {other:?}"),
    }
    let r = gw.get("/kept", "x");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "still here"),
        "{}",
        r.head
    );
    assert_eq!(
        gw.admin_get("/status").json()["configuration_generation"],
        0
    );

    // Not YAML at all.
    gw.write_config("services: [ {{{ not yaml");
    assert!(matches!(gw.reload(), Reload::Rejected(_)));
    assert_eq!(gw.get("/kept", "x").status, 200);

    // Fixing the file and reloading again works, and the generation counts only installs.
    gw.write_config(&single_route(&upstream.url(), "/fixed"));
    assert_eq!(gw.reload(), Reload::Reloaded(1));
    assert_eq!(gw.get("/fixed", "x").status, 200);
    assert_eq!(gw.get("/kept", "x").status, 404);
}

#[test]
fn check_lists_every_problem_and_exits_nonzero() {
    let bad = r#"_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9
    colour: blue
    routes:
      - name: r
        paths: ["no-slash"]
upstreams:
  - name: u
    targets:
      - target: 127.0.0.1:9001
        weight: 70000
"#;
    let output = sluice_check(bad);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "check accepted a broken config: {stderr}"
    );
    for path in [
        "services[0].colour",
        "services[0].routes[0].paths[0]",
        "upstreams[0].targets[0].weight",
    ] {
        assert!(stderr.contains(path), "{path} missing from:\n{stderr}");
    }
    assert!(
        stderr.contains("3 problem"),
        "problem count missing:\n{stderr}"
    );

    // Compile-time problems are listed too (these need a config that parses).
    let compile_bad = r#"_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9
    routes:
      - name: bad-regex
        paths: ["~/(unclosed"]
    plugins:
      - name: jwt
"#;
    let output = sluice_check(compile_bad);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for path in ["services[0].plugins[0]", "services[0].routes[0].paths"] {
        assert!(stderr.contains(path), "{path} missing from:\n{stderr}");
    }

    let output = sluice_check(&single_route("http://127.0.0.1:9", "/good"));
    assert!(
        output.status.success(),
        "a good config was refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK"));
}

#[test]
fn start_with_a_broken_config_fails() {
    let path = temp_path("broken-start", "yml");
    std::fs::write(
        &path,
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: nope://x\n",
    )
    .unwrap();
    let mut child = sluice_command()
        .args([
            "start",
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--config",
        ])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sluice kept running with an invalid config");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = std::fs::remove_file(&path);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success());
    assert!(stderr.contains("services[0].url"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening"),
        "announced listeners anyway"
    );
}

#[test]
fn embedded_default_config_answers_404() {
    let mut gw = Gateway::start_default(&[]);
    let r = gw.get("/anything", "example.com");
    assert_eq!(r.status, 404, "{}", r.head);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{}",
        r.head
    );
    assert_eq!(
        r.text(),
        r#"{"message":"no Route matched with those values"}"#
    );
    // SIGHUP without --config is harmless.
    gw.signal("HUP");
    assert_eq!(gw.get("/", "x").status, 404);
    assert!(gw.terminate().success());
}

#[test]
fn admin_status_reports_workers_and_generation() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&single_route(&upstream.url(), "/"), &["--workers", "2"]);
    for _ in 0..3 {
        assert_eq!(gw.get("/x", "x").status, 200);
    }
    let r = gw.admin_get("/status");
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{}",
        r.head
    );
    let status = r.json();
    assert_eq!(status["workers"], 2, "{status}");
    assert_eq!(status["configuration_generation"], 0, "{status}");
    let server = &status["server"];
    assert_eq!(server["total_requests"], 3, "{status}");
    assert!(
        server["connections_accepted"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{status}"
    );
    assert!(server["connections_active"].is_u64(), "{status}");

    let r = gw.admin_get("/no-such-endpoint");
    assert_eq!(r.status, 404, "{}", r.head);
    let mut client = support::Client::connect(gw.admin_addr);
    let r = client.request(b"POST /status HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405, "{}", r.head);
}

fn driver_round_trip(driver: &str) {
    let upstream =
        Upstream::start(|req| ok(&format!("{} {} {}", req.method, req.path(), req.body.len())));
    let gw = Gateway::start(
        &single_route(&upstream.url(), "/"),
        &["--io-driver", driver, "--workers", "2"],
    );
    let mut client = gw.client();
    let r = client.request(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "GET /one 0"),
        "{driver}: {}",
        r.head
    );
    let r = client.request(b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "POST /two 5"),
        "{driver}: {}",
        r.head
    );
    client.send(b"POST /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /four HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.read_response().text(), "POST /three 3", "{driver}");
    assert_eq!(client.read_response().text(), "GET /four 0", "{driver}");
    assert_eq!(gw.get("/404-free", "x").status, 200, "{driver}");
    let log = gw.stderr_text();
    assert!(
        !log.contains("cannot build runtime") && !log.contains("unavailable"),
        "{driver}: {log}"
    );
}

#[test]
fn legacy_driver_round_trip() {
    driver_round_trip("legacy");
}

#[test]
fn io_uring_driver_round_trip() {
    driver_round_trip("io-uring");
}

/// CI runs the integration suite a second time with `SLUICE_IO_DRIVER=legacy` (`.ci/run`):
/// the variable must reach every gateway the tests start, or that run silently repeats the
/// default driver. (The support strips every other `SLUICE_*` variable.)
#[test]
fn the_io_driver_from_the_test_environment_reaches_the_gateway() {
    let upstream = Upstream::fixed("pong");
    let gw = Gateway::start(&single_route(&upstream.url(), "/"), &[]);
    let requested = std::env::var("SLUICE_IO_DRIVER").unwrap_or_default();
    let expected: &[&str] = match requested.as_str() {
        "legacy" => &["Legacy"],
        "io-uring" => &["IoUring"],
        // auto (the default) reports Legacy when the kernel has no io_uring.
        "" | "auto" => &["Auto", "Legacy"],
        other => panic!("SLUICE_IO_DRIVER={other:?} is not a driver"),
    };
    let driver = gw.started_driver();
    assert!(
        expected.contains(&driver.as_str()),
        "SLUICE_IO_DRIVER={requested:?} but the gateway runs the {driver} driver"
    );
    assert_eq!(gw.get("/", "x").status, 200);
}

#[test]
fn in_flight_request_finishes_on_the_old_config_across_a_reload() {
    let upstream = Upstream::start(|req| {
        if req.path() == "/slow" {
            Action::Delay(Duration::from_millis(500), Box::new(ok("old config")))
        } else {
            ok("fast")
        }
    });
    let mut gw = Gateway::start(&single_route(&upstream.url(), "/"), &[]);
    let mut client = gw.client();
    client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    upstream.wait_requests(1);
    gw.write_config("_format_version: \"3.0\"\n");
    assert_eq!(gw.reload(), Reload::Reloaded(1));
    let r = client.read_response();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "old config"),
        "{}",
        r.head
    );
    // The next request on the same connection sees the new (empty) config.
    let r = client.request(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404, "{}", r.head);
}

#[test]
fn drain_timeout_bounds_shutdown() {
    let upstream =
        Upstream::start(|_| Action::Delay(Duration::from_secs(8), Box::new(ok("too late"))));
    let mut gw = Gateway::start(
        &single_route(&upstream.url(), "/"),
        &["--drain-timeout", "0.5"],
    );
    let mut client = gw.client();
    client.send(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n");
    upstream.wait_requests(1);
    let started = Instant::now();
    let status = gw.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?} with --drain-timeout 0.5",
        started.elapsed()
    );
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        gw.stderr_text()
    );
    // The abandoned client connection is closed, not left hanging.
    match client.try_read_response(false) {
        Ok(None) => {}
        Ok(Some(r)) => assert!(r.status >= 500, "{}", r.head),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn new_connections_are_refused_after_shutdown_starts() {
    let upstream = Upstream::start(|_| Action::Delay(Duration::from_secs(2), Box::new(ok("done"))));
    let mut gw = Gateway::start(&single_route(&upstream.url(), "/"), &[]);
    let mut busy = gw.client();
    busy.send(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n");
    upstream.wait_requests(1);
    gw.signal("TERM");
    // The listener closes while the in-flight request (2 s at the upstream) drains.
    let proxy = gw.proxy_addr;
    assert!(
        support::wait_until(Duration::from_millis(1500), || {
            std::net::TcpStream::connect(proxy).is_err()
        }),
        "the proxy port still accepts connections while draining"
    );
    assert_eq!(busy.read_response().text(), "done");
    assert!(gw.wait_exit(Duration::from_secs(15)).success());
}

#[test]
fn invalid_command_line_values_are_refused() {
    let cases: [&[&str]; 4] = [
        &["--workers", "0"],
        &["--keepalive-timeout", "0"],
        &["--trusted-ips", "not-an-ip"],
        &["--io-driver", "fastest"],
    ];
    for args in cases {
        let child = sluice_command()
            .args([
                "start",
                "--proxy-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = support::wait_output(child, Duration::from_secs(10));
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(
            !output.stderr.is_empty(),
            "{args:?}: no explanation on stderr"
        );
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("listening"),
            "{args:?} started anyway"
        );
    }
}
