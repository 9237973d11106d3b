//! ip-restriction, rate-limiting, request-size-limiting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;
use common::*;
use serde_json::json;
use sluice_plugins::*;
use std::sync::Arc;

#[test]
fn ip_restriction_table() {
    // (config, client ip, allowed)
    let cases = [
        (json!({"allow": ["10.0.0.0/8"]}), "10.1.2.3", true),
        (json!({"allow": ["10.0.0.0/8"]}), "11.1.2.3", false),
        (json!({"allow": ["10.0.0.1"]}), "10.0.0.1", true),
        (json!({"allow": ["10.0.0.1"]}), "10.0.0.2", false),
        (json!({"deny": ["192.168.0.0/16"]}), "192.168.5.5", false),
        (json!({"deny": ["192.168.0.0/16"]}), "192.169.5.5", true),
        (
            json!({"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}),
            "10.9.1.1",
            false,
        ),
        (
            json!({"allow": ["10.0.0.0/8"], "deny": ["10.9.0.0/16"]}),
            "10.8.1.1",
            true,
        ),
        (json!({"allow": ["2001:db8::/32"]}), "2001:db8::1", true),
        (json!({"allow": ["2001:db8::/32"]}), "2001:db9::1", false),
        (json!({"deny": ["::1"]}), "::1", false),
        (json!({"allow": ["10.0.0.0/8"]}), "::ffff:10.0.0.7", true),
        (json!({"allow": ["0.0.0.0/0"]}), "1.2.3.4", true),
        (json!({"allow": ["0.0.0.0/0"]}), "2001:db8::1", false),
        (json!({"allow": []}), "1.2.3.4", true),
    ];
    for (i, (cfg, ip, allowed)) in cases.into_iter().enumerate() {
        let p = compile(vec![plugin("ip-restriction", cfg)]);
        let (a, _) = run(&p, &Req::get("/").ip(ip));
        match a {
            Access::Wait(q) => panic!("unexpected store query {q:?}"),
            Access::Continue => assert!(allowed, "case {i}"),
            Access::Respond(r) => {
                assert!(!allowed, "case {i}");
                assert_eq!(
                    (r.status, message(&r).as_str()),
                    (403, "Your IP address is not allowed")
                );
            }
        }
    }
}

#[test]
fn ip_restriction_custom_status_and_message() {
    let p = compile(vec![plugin(
        "ip-restriction",
        json!({"deny": ["10.0.0.1"], "status": 401, "message": "go away"}),
    )]);
    let r = respond(run(&p, &Req::get("/")).0);
    assert_eq!((r.status, message(&r).as_str()), (401, "go away"));
}

fn rl(cfg: serde_json::Value) -> (Plugins, Arc<PluginState>) {
    let state = Arc::new(PluginState::default());
    let specs = [
        plugin("key-auth", json!({"anonymous": "c-anon"})),
        plugin("rate-limiting", cfg),
    ];
    (
        Plugins::compile(&specs, &consumers(), &[Some(0)], state.clone()).unwrap(),
        state,
    )
}

fn hit(p: &Plugins, req: &Req, now: f64) -> (Access, PluginCtx) {
    let mut ctx = PluginCtx::default();
    let a = p.access(0, req, &mut ctx, now);
    (a, ctx)
}

#[test]
fn rate_limiting_counts_and_headers() {
    let (p, _) = rl(json!({"minute": 3, "hour": 5}));
    let req = Req::get("/");
    let t = 120.0; // start of a minute
    for remaining in [2, 1, 0] {
        let (a, ctx) = hit(&p, &req, t + 1.0);
        assert_eq!(a, Access::Continue);
        let s = &ctx.response.set;
        assert_eq!(hdr(s, "X-RateLimit-Limit-Minute"), Some("3"));
        assert_eq!(
            hdr(s, "X-RateLimit-Remaining-Minute"),
            Some(remaining.to_string().as_str())
        );
        assert_eq!(hdr(s, "X-RateLimit-Limit-Hour"), Some("5"));
        assert_eq!(hdr(s, "RateLimit-Limit"), Some("3"));
        assert_eq!(
            hdr(s, "RateLimit-Remaining"),
            Some(remaining.to_string().as_str())
        );
        assert_eq!(hdr(s, "RateLimit-Reset"), Some("59"));
    }
    let (a, ctx) = hit(&p, &req, t + 10.0);
    let r = respond(a);
    assert_eq!(
        (r.status, message(&r).as_str()),
        (429, "API rate limit exceeded")
    );
    assert_eq!(hdr(&r.headers, "Retry-After"), Some("50"));
    assert_eq!(
        hdr(&ctx.response.set, "X-RateLimit-Remaining-Minute"),
        Some("0")
    );
    assert_eq!(
        hdr(&ctx.response.set, "X-RateLimit-Remaining-Hour"),
        Some("2")
    );
    // next minute: the minute window resets, the hour keeps counting (3 used)
    let (a, ctx) = hit(&p, &req, t + 60.0);
    assert_eq!(a, Access::Continue);
    assert_eq!(
        hdr(&ctx.response.set, "X-RateLimit-Remaining-Hour"),
        Some("1")
    );
    let (a, _) = hit(&p, &req, t + 61.0);
    assert_eq!(a, Access::Continue);
    let (a, ctx) = hit(&p, &req, t + 62.0);
    assert_eq!(respond(a).status, 429);
    // the hour is the exhausted period now
    assert_eq!(hdr(&ctx.response.set, "RateLimit-Limit"), Some("5"));
}

#[test]
fn rate_limiting_hide_client_headers_keeps_retry_after() {
    let (p, _) = rl(json!({"second": 1, "hide_client_headers": true}));
    let req = Req::get("/");
    let (a, ctx) = hit(&p, &req, 5.0);
    assert_eq!(a, Access::Continue);
    assert!(ctx.response.set.is_empty());
    let (a, ctx) = hit(&p, &req, 5.5);
    let r = respond(a);
    assert_eq!(hdr(&r.headers, "Retry-After"), Some("1"));
    assert!(ctx.response.set.is_empty());
}

#[test]
fn rate_limiting_limit_by_table() {
    // (config, request A, request B, share a counter?)
    let alice = || Req::get("/").header("apikey", "alice-key");
    let bob = || Req::get("/").header("apikey", "bob-key");
    let cases: Vec<(serde_json::Value, Req, Req, bool)> = vec![
        (json!({"minute": 1}), alice(), bob(), false),
        (json!({"minute": 1}), alice(), alice().ip("10.9.9.9"), true),
        (
            json!({"minute": 1}),
            Req::get("/"),
            Req::get("/").ip("10.9.9.9"),
            true,
        ), // anonymous consumer
        (json!({"minute": 1, "limit_by": "ip"}), alice(), bob(), true),
        (
            json!({"minute": 1, "limit_by": "ip"}),
            alice(),
            alice().ip("10.9.9.9"),
            false,
        ),
        (
            json!({"minute": 1, "limit_by": "credential"}),
            alice(),
            bob(),
            false,
        ),
        (
            json!({"minute": 1, "limit_by": "service"}),
            alice(),
            bob().ip("10.2.2.2"),
            true,
        ),
        (
            json!({"minute": 1, "limit_by": "header", "header_name": "X-Tenant"}),
            Req::get("/").header("x-tenant", "t1"),
            Req::get("/").header("x-tenant", "t1").ip("10.3.3.3"),
            true,
        ),
        (
            json!({"minute": 1, "limit_by": "header", "header_name": "X-Tenant"}),
            Req::get("/").header("x-tenant", "t1"),
            Req::get("/").header("x-tenant", "t2"),
            false,
        ),
        (
            json!({"minute": 1, "limit_by": "path", "path": "/a"}),
            Req::get("/a"),
            Req::get("/a").ip("10.4.4.4"),
            true,
        ),
        (
            json!({"minute": 1, "limit_by": "path", "path": "/a"}),
            Req::get("/b"),
            Req::get("/b").ip("10.4.4.4"),
            false,
        ),
    ];
    for (i, (cfg, a, b, shared)) in cases.into_iter().enumerate() {
        let (p, _) = rl(cfg);
        assert_eq!(hit(&p, &a, 1.0).0, Access::Continue, "case {i}");
        let second = hit(&p, &b, 1.0).0;
        assert_eq!(second != Access::Continue, shared, "case {i}");
    }
}

#[test]
fn rate_limiting_counters_survive_recompile() {
    let state = Arc::new(PluginState::default());
    let mut spec = plugin("rate-limiting", json!({"minute": 2}));
    spec.id = Some("rl-1".into());
    let p1 = Plugins::compile(&[spec.clone()], &[], &[Some(0)], state.clone()).unwrap();
    assert_eq!(hit(&p1, &Req::get("/"), 1.0).0, Access::Continue);
    spec.config = json!({"minute": 2, "hide_client_headers": true});
    let p2 = Plugins::compile(&[spec.clone()], &[], &[Some(0)], state.clone()).unwrap();
    assert_eq!(hit(&p2, &Req::get("/"), 2.0).0, Access::Continue);
    assert_ne!(hit(&p2, &Req::get("/"), 3.0).0, Access::Continue);
    // another state: fresh counters
    let p3 = Plugins::compile(&[spec], &[], &[Some(0)], Arc::default()).unwrap();
    assert_eq!(hit(&p3, &Req::get("/"), 3.0).0, Access::Continue);
}

#[test]
fn rate_limiting_exact_across_threads() {
    let (p, _) = rl(json!({"hour": 1000, "limit_by": "ip"}));
    let p = Arc::new(p);
    let admitted: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let p = p.clone();
                s.spawn(move || {
                    let req = Req::get("/");
                    let mut ctx = PluginCtx::default();
                    let mut ok = 0;
                    for _ in 0..1500 {
                        ctx.clear();
                        if p.access(0, &req, &mut ctx, 7200.5) == Access::Continue {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(admitted, 1000);
}

#[test]
fn rate_limiting_calendar_windows() {
    use sluice_plugins::rate_limit_window as window;
    // 2024-02-29T12:00:00Z = 1709208000
    let now = 1_709_208_000;
    assert_eq!(window(4, now), (1_706_745_600, 1_709_251_200)); // Feb 2024 .. Mar 2024
    assert_eq!(window(5, now), (1_704_067_200, 1_735_689_600)); // 2024 .. 2025
    assert_eq!(window(3, now), (1_709_164_800, 1_709_251_200));
    assert_eq!(window(1, 61), (60, 120));
    // December rolls over to January
    assert_eq!(window(4, 1_703_980_800).1, 1_704_067_200);
}

#[test]
fn size_limiting_table() {
    // (config, content-length, chunked, expect 100-continue, expected status / 0, max_body)
    let cases: Vec<(serde_json::Value, Option<u64>, bool, bool, u16, Option<u64>)> = vec![
        (json!({}), Some(128 * 1024 * 1024), false, false, 0, None),
        (
            json!({}),
            Some(128 * 1024 * 1024 + 1),
            false,
            false,
            413,
            None,
        ),
        (
            json!({"allowed_payload_size": 1, "size_unit": "kilobytes"}),
            Some(1025),
            false,
            false,
            413,
            None,
        ),
        (
            json!({"allowed_payload_size": 1, "size_unit": "kilobytes"}),
            Some(1024),
            false,
            false,
            0,
            None,
        ),
        (
            json!({"allowed_payload_size": 10, "size_unit": "bytes"}),
            Some(11),
            false,
            true,
            417,
            None,
        ),
        (
            json!({"allowed_payload_size": 10, "size_unit": "bytes"}),
            None,
            true,
            false,
            0,
            Some(10),
        ),
        (
            json!({"allowed_payload_size": 10, "size_unit": "bytes"}),
            None,
            false,
            false,
            0,
            None,
        ),
        (
            json!({"require_content_length": true}),
            None,
            false,
            false,
            411,
            None,
        ),
        (
            json!({"require_content_length": true}),
            None,
            true,
            false,
            411,
            None,
        ),
        (
            json!({"require_content_length": true}),
            Some(0),
            false,
            false,
            0,
            None,
        ),
    ];
    for (i, (cfg, cl, chunked, expect, status, max)) in cases.into_iter().enumerate() {
        let p = compile(vec![plugin("request-size-limiting", cfg)]);
        let mut req = Req::get("/").method("POST");
        req.content_length = cl;
        req.chunked = chunked;
        if expect {
            req = req.header("expect", "100-continue");
        }
        let (a, ctx) = run(&p, &req);
        match a {
            Access::Wait(q) => panic!("unexpected store query {q:?}"),
            Access::Continue => assert_eq!(status, 0, "case {i}"),
            Access::Respond(r) => {
                assert_eq!(r.status, status, "case {i}");
                let m = if status == 411 {
                    "A valid Content-Length header is required"
                } else {
                    "Request size limit exceeded"
                };
                assert_eq!(message(&r), m, "case {i}");
            }
        }
        assert_eq!(ctx.max_body, max, "case {i}");
    }
}
