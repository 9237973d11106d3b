//! Persistence and zero-downtime reconfiguration through the real binary: changes saved to the
//! config file and surviving a restart, invalid input changing nothing (neither the running
//! config nor the file), `/config`, SIGHUP and `--watch` going through the same serialised
//! path, in-memory operation without a file, and 50 changes under sustained keepalive load that
//! must not fail a single request. `apply_time_with_10k_routes` (ignored) measures one change
//! with 10k routes configured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::type_complexity)]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use support::admin_api::{expect, generation, live, service_yaml};
use support::{temp_path, wait_until, Client, Gateway, Upstream};

#[test]
fn invalid_input_changes_nothing() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&service_yaml(&upstream, "svc", "/svc"), &[]);
    // One accepted change first, so that the file is in the written form.
    expect(
        &gw.admin("PATCH", "/services/svc", Some(json!({"retries": 3}))),
        200,
    );
    let config_before = gw.admin("GET", "/config", None).text();
    let file_before = std::fs::read(gw.config_path()).unwrap();
    let generation_before = generation(&gw);

    let bad_path = gw.admin(
        "POST",
        "/services/svc/routes",
        Some(json!({"paths": ["no-slash"], "methods": ["get"]})),
    );
    let bad_path = expect(&bad_path, 400);
    assert_eq!(bad_path["name"], "schema violation");
    assert_eq!(bad_path["code"], 2);
    assert!(bad_path["fields"]["paths"][0].is_string(), "{bad_path}");
    assert!(bad_path["fields"]["methods"][0].is_string(), "{bad_path}");
    assert!(
        bad_path["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("2 schema violations")),
        "{bad_path}"
    );

    let unknown = expect(
        &gw.admin(
            "POST",
            "/services",
            Some(json!({"host": "127.0.0.1", "colour": "red"})),
        ),
        400,
    );
    assert!(unknown["fields"]["colour"].is_string(), "{unknown}");
    let missing = expect(
        &gw.admin("POST", "/services", Some(json!({"name": "x"}))),
        400,
    );
    assert!(missing["fields"]["host"].is_string(), "{missing}");
    let no_match = expect(
        &gw.admin("POST", "/routes", Some(json!({"name": "empty"}))),
        400,
    );
    assert!(no_match["fields"]["@entity"][0].is_string(), "{no_match}");
    // Caught by the compile step (the router), still reported on the field.
    let regex = expect(
        &gw.admin("POST", "/routes", Some(json!({"paths": ["~/(unclosed"]}))),
        400,
    );
    assert!(regex["fields"]["paths"][0].is_string(), "{regex}");
    let fk = expect(
        &gw.admin(
            "POST",
            "/routes",
            Some(json!({"paths": ["/x"], "service": {"name": "ghost"}})),
        ),
        400,
    );
    assert_eq!(fk["name"], "foreign key violation");
    expect(
        &gw.admin(
            "POST",
            "/services",
            Some(json!({"name": "svc", "host": "h"})),
        ),
        409,
    );
    expect(
        &gw.admin("PATCH", "/services/svc", Some(json!({"port": 70000}))),
        400,
    );
    expect(
        &gw.admin("PUT", "/services/svc", Some(json!({"port": 80}))),
        400,
    );
    expect(
        &gw.admin("POST", "/plugins", Some(json!({"name": "jwt"}))),
        400,
    );
    expect(&gw.admin("POST", "/services", Some(json!([1, 2]))), 400);
    expect(&gw.admin("DELETE", "/services/svc", None), 400);
    let bad_config = gw.admin_raw(
        "POST",
        "/config",
        &[],
        Some((
            "application/yaml",
            b"_format_version: \"3.0\"\nservices:\n  - name: a\n    port: 99999\n    routes:\n      - paths: [nope]\n",
        )),
    );
    let bad_config = expect(&bad_config, 400);
    assert_eq!(bad_config["name"], "invalid declarative configuration");
    assert!(
        bad_config["fields"]["services"][0]["routes"][0]["paths"][0].is_string(),
        "{bad_config}"
    );
    assert!(
        bad_config["fields"]["services"][0]["host"].is_string(),
        "{bad_config}"
    );

    assert_eq!(gw.admin("GET", "/config", None).text(), config_before);
    assert_eq!(std::fs::read(gw.config_path()).unwrap(), file_before);
    assert_eq!(generation(&gw), generation_before);
    assert_eq!(gw.get("/svc", "x").status, 200);
}

#[test]
fn changes_are_saved_and_survive_a_restart() {
    let upstream = Upstream::fixed("persisted");
    let path = temp_path("persist", "yml");
    std::fs::write(&path, service_yaml(&upstream, "orig", "/orig")).unwrap();
    let mut gw = Gateway::start_on_file(&path, &[]);
    let service = expect(
        &gw.admin(
            "POST",
            "/services",
            Some(json!({"name": "added", "url": upstream.url()})),
        ),
        201,
    );
    let route = expect(
        &gw.admin(
            "POST",
            "/services/added/routes",
            Some(json!({"name": "added-route", "paths": ["/added"]})),
        ),
        201,
    );
    assert!(live(&gw, "/added", 200));
    let orig = expect(&gw.admin("GET", "/services/orig", None), 200);

    // The file is what GET /config says, and it passes `sluice check`.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(gw.admin("GET", "/config?format=yaml", None).text(), text);
    let check = support::sluice_check(&text);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(gw.terminate().success());
    drop(gw);

    let gw = Gateway::start_on_file(&path, &[]);
    assert_eq!(
        expect(&gw.admin("GET", "/services/added", None), 200),
        service
    );
    assert_eq!(
        expect(&gw.admin("GET", "/routes/added-route", None), 200),
        route
    );
    // Entities from the original file kept the ids they were shown with.
    assert_eq!(expect(&gw.admin("GET", "/services/orig", None), 200), orig);
    assert_eq!(gw.get("/added", "x").status, 200);
    assert_eq!(gw.get("/orig", "x").status, 200);
    assert_eq!(gw.admin("GET", "/config?format=yaml", None).text(), text);
    drop(gw);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn config_endpoint_reads_and_replaces_the_whole_config() {
    let upstream = Upstream::fixed("whole");
    let gw = Gateway::start(&service_yaml(&upstream, "one", "/one"), &[]);
    let yaml = gw.admin("GET", "/config", None);
    assert_eq!(yaml.status, 200);
    assert!(
        yaml.header("content-type").unwrap().contains("yaml"),
        "{}",
        yaml.head
    );
    assert!(yaml.text().contains("name: one"), "{}", yaml.text());
    let json_doc = expect(&gw.admin("GET", "/config?format=json", None), 200);
    assert_eq!(json_doc["_format_version"], "3.0");
    assert_eq!(json_doc["services"][0]["name"], "one");
    let by_accept = gw.admin_raw("GET", "/config", &[("Accept", "application/json")], None);
    assert_eq!(expect(&by_accept, 200), json_doc);

    // Replace it whole (YAML body): the old route goes, the new one serves.
    let replacement = service_yaml(&upstream, "two", "/two");
    let posted = gw.admin_raw(
        "POST",
        "/config",
        &[],
        Some(("text/yaml", replacement.as_bytes())),
    );
    let posted = expect(&posted, 201);
    assert_eq!(posted["services"][0]["name"], "two");
    assert!(live(&gw, "/two", 200));
    assert_eq!(gw.get("/one", "x").status, 404);
    let generation_after = generation(&gw);
    // The same config again with check_hash: 304, nothing installed.
    let same = gw.admin_raw(
        "POST",
        "/config?check_hash=1",
        &[],
        Some(("text/yaml", replacement.as_bytes())),
    );
    assert_eq!(same.status, 304, "{}", same.head);
    assert_eq!(generation(&gw), generation_after);
    // A JSON declarative document as the body.
    let as_json = json!({
        "_format_version": "3.0",
        "services": [{"name": "json", "url": upstream.url(), "routes": [{"paths": ["/json"]}]}],
    });
    expect(&gw.admin("POST", "/config", Some(as_json)), 201);
    assert!(live(&gw, "/json", 200));
    // Kong's JSON form {"config": "<yaml>"} and multipart form.
    let wrapped = json!({ "config": service_yaml(&upstream, "three", "/three") });
    expect(&gw.admin("POST", "/config", Some(wrapped)), 201);
    assert!(live(&gw, "/three", 200));
    let multipart = format!(
        "--b0undary\r\nContent-Disposition: form-data; name=\"config\"; filename=\"kong.yml\"\r\n\r\n{}\r\n--b0undary--\r\n",
        service_yaml(&upstream, "four", "/four")
    );
    let r = gw.admin_raw(
        "POST",
        "/config",
        &[],
        Some((
            "multipart/form-data; boundary=b0undary",
            multipart.as_bytes(),
        )),
    );
    expect(&r, 201);
    assert!(live(&gw, "/four", 200));
}

#[test]
fn watch_reloads_outside_edits_and_skips_our_own_writes() {
    let upstream = Upstream::fixed("watched");
    let path = temp_path("watch", "yml");
    std::fs::write(&path, service_yaml(&upstream, "first", "/first")).unwrap();
    let gw = Gateway::start_on_file(&path, &["--watch"]);
    assert_eq!(generation(&gw), 0);

    // Our own write bumps the generation once; the watcher must not reload it again.
    expect(
        &gw.admin(
            "POST",
            "/services/first/routes",
            Some(json!({"paths": ["/mine"]})),
        ),
        201,
    );
    assert_eq!(generation(&gw), 1);
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(generation(&gw), 1, "the watcher reloaded our own write");

    // An outside edit is picked up within a couple of polls.
    std::fs::write(&path, service_yaml(&upstream, "second", "/second")).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || gw.get("/second", "x").status
            == 200),
        "edit not picked up\n{}",
        gw.stderr_text()
    );
    assert_eq!(gw.get("/first", "x").status, 404);
    // A broken edit is refused and the running config stays.
    std::fs::write(&path, "_format_version: \"3.0\"\nservices: [{name: x}]\n").unwrap();
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(gw.get("/second", "x").status, 200);
    assert!(gw
        .stderr_text()
        .contains("keeping the running configuration"));
    drop(gw);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn sighup_reload_goes_through_the_same_path() {
    let upstream = Upstream::fixed("hup");
    let mut gw = Gateway::start(&service_yaml(&upstream, "svc", "/svc"), &[]);
    let before = expect(&gw.admin("GET", "/services/svc", None), 200);
    expect(
        &gw.admin(
            "POST",
            "/services/svc/routes",
            Some(json!({"name": "extra", "paths": ["/extra"]})),
        ),
        201,
    );
    // SIGHUP re-reads the file we wrote: same entities, same ids and timestamps.
    assert_eq!(gw.reload(), support::Reload::Reloaded(2));
    assert_eq!(expect(&gw.admin("GET", "/services/svc", None), 200), before);
    expect(&gw.admin("GET", "/routes/extra", None), 200);
    assert_eq!(gw.get("/extra", "x").status, 200);
}

/// Nearest-rank percentile.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[test]
fn fifty_changes_under_sustained_load_fail_no_request() {
    const CLIENTS: usize = 8;
    const CHANGES: usize = 50;
    let upstream = Upstream::fixed("stable");
    let gw = Gateway::start(
        &service_yaml(&upstream, "stable", "/stable"),
        &["--workers", "2"],
    );
    let proxy = gw.proxy_addr;
    // 0: baseline, 1: changes in progress, 2: done.
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let latencies = Arc::new(Mutex::new([Vec::new(), Vec::new(), Vec::new()]));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (phase, stop, failures, latencies) = (
                Arc::clone(&phase),
                Arc::clone(&stop),
                Arc::clone(&failures),
                Arc::clone(&latencies),
            );
            thread::spawn(move || {
                let mut local: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
                let mut client = Client::connect(proxy);
                let request = format!("GET /stable/{n} HTTP/1.1\r\nHost: load.test\r\n\r\n");
                while !stop.load(Ordering::Acquire) {
                    let at = phase.load(Ordering::Acquire);
                    let started = Instant::now();
                    let outcome = client
                        .try_send(request.as_bytes())
                        .and_then(|()| client.try_read_response(false));
                    let elapsed = started.elapsed();
                    match outcome {
                        Ok(Some(r)) if r.status == 200 && r.body == b"stable" => {
                            local[at].push(elapsed);
                            if r.says_close() {
                                client = Client::connect(proxy);
                            }
                        }
                        Ok(Some(r)) => {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{}: {}", r.status, r.text()));
                        }
                        Ok(None) => failures
                            .lock()
                            .unwrap()
                            .push("closed without a response".into()),
                        Err(e) => failures.lock().unwrap().push(format!("io: {e}")),
                    }
                }
                let mut all = latencies.lock().unwrap();
                for (i, l) in local.into_iter().enumerate() {
                    all[i].extend(l);
                }
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(1500));
    phase.store(1, Ordering::Release);
    let started = Instant::now();
    for i in 0..CHANGES {
        let r = match i % 5 {
            // Add a route, then remove it again; the route under load stays.
            0 | 2 => gw.admin(
                "POST",
                "/services/stable/routes",
                Some(json!({"name": format!("extra-{i}"), "paths": [format!("/extra-{i}")]})),
            ),
            1 | 3 => gw.admin("DELETE", &format!("/routes/extra-{}", i - 1), None),
            // Change the service the load goes to (its timeouts) and the route under load.
            _ if i % 10 == 4 => gw.admin(
                "PATCH",
                "/services/stable",
                Some(json!({"read_timeout": 30000 + i})),
            ),
            _ => gw.admin(
                "PATCH",
                "/routes/stable-route",
                Some(json!({"tags": [format!("v{i}")]})),
            ),
        };
        assert!(
            r.status == 200 || r.status == 201 || r.status == 204,
            "change {i}: {} {}",
            r.status,
            r.text()
        );
    }
    let change_time = started.elapsed();
    // Keep the load running a little past the last change.
    thread::sleep(Duration::from_millis(300));
    phase.store(2, Ordering::Release);
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Release);
    for w in workers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert_eq!(generation(&gw), CHANGES as u64);
    let mut latencies = latencies.lock().unwrap();
    for l in latencies.iter_mut() {
        l.sort();
    }
    let (base, during) = (&latencies[0], &latencies[1]);
    assert!(!base.is_empty() && !during.is_empty());
    println!(
        "reload under load: {CHANGES} admin changes in {:.0} ms ({:.1} ms each) with {CLIENTS} keepalive clients; \
         p50/p99 latency without changes {:?}/{:?} ({} requests), during changes {:?}/{:?} ({} requests), 0 failed",
        change_time.as_secs_f64() * 1000.0,
        change_time.as_secs_f64() * 1000.0 / CHANGES as f64,
        percentile(base, 50.0),
        percentile(base, 99.0),
        base.len(),
        percentile(during, 50.0),
        percentile(during, 99.0),
        during.len(),
    );
}

/// Time to apply one admin change with 10k routes configured. Debug builds are several times
/// slower than release; run with `cargo test -p sluice-engine --test admin -- --ignored
/// --nocapture apply_time`.
#[test]
#[ignore]
fn apply_time_with_10k_routes() {
    const ROUTES: usize = 10_000;
    let upstream = Upstream::fixed("big");
    let mut yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: big\n    url: {}\n    routes:\n",
        upstream.url()
    );
    for i in 0..ROUTES {
        yaml.push_str(&format!("      - name: r{i}\n        paths: [\"/r{i}\"]\n"));
    }
    let started = Instant::now();
    let gw = Gateway::start(&yaml, &[]);
    let startup = started.elapsed();
    assert_eq!(gw.get("/r9999", "x").status, 200);
    let mut times = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let r = gw.admin(
            "POST",
            "/services/big/routes",
            Some(json!({"name": format!("new-{i}"), "paths": [format!("/new-{i}")]})),
        );
        times.push(started.elapsed());
        expect(&r, 201);
        assert_eq!(gw.get(&format!("/new-{i}"), "x").status, 200);
    }
    for i in 0..5 {
        let started = Instant::now();
        let r = gw.admin("DELETE", &format!("/routes/new-{i}"), None);
        times.push(started.elapsed());
        expect(&r, 204);
    }
    times.sort();
    let started = Instant::now();
    let whole = gw.admin_raw("POST", "/config", &[], Some(("text/yaml", yaml.as_bytes())));
    let replace = started.elapsed();
    expect(&whole, 201);
    let file_len = std::fs::metadata(gw.config_path()).unwrap().len();
    // The gateway's own breakdown (run with TEST_SLUICE_LOG=info,sluice_engine::config=debug).
    for line in gw.stderr_text().lines() {
        if line.contains("configuration installed") || line.contains("changed through") {
            println!("  {line}");
        }
    }
    println!(
        "{ROUTES} routes: start-up {:.0} ms; one admin change (POST/DELETE a route, incl. saving a {} KiB file): \
         min {:.0} ms, median {:.0} ms, max {:.0} ms; POST /config of the whole config {:.0} ms",
        startup.as_secs_f64() * 1000.0,
        file_len / 1024,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        replace.as_secs_f64() * 1000.0,
    );
}

#[test]
fn without_a_config_file_changes_live_in_memory() {
    let upstream = Upstream::fixed("mem");
    let gw = Gateway::start_default(&[]);
    expect(
        &gw.admin(
            "POST",
            "/services",
            Some(json!({"name": "m", "url": upstream.url()})),
        ),
        201,
    );
    expect(
        &gw.admin(
            "POST",
            "/services/m/routes",
            Some(json!({"paths": ["/mem"]})),
        ),
        201,
    );
    assert!(live(&gw, "/mem", 200));
    assert!(gw.admin("GET", "/config", None).text().contains("name: m"));
    assert!(
        wait_until(Duration::from_secs(2), || gw
            .stderr_text()
            .contains("admin changes live in memory only")),
        "{}",
        gw.stderr_text()
    );
    // HEAD answers like GET without a body.
    let head = gw.admin("HEAD", "/services/m", None);
    assert_eq!(head.status, 200, "{}", head.head);
    assert!(head.body.is_empty());
}
