//! cors, request-transformer, response-transformer, correlation-id, request-termination.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;
use common::*;
use serde_json::json;
use sluice_plugins::*;

fn preflight(origin: &str) -> Req {
    Req::get("/")
        .method("OPTIONS")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
}

#[test]
fn cors_preflight_defaults() {
    let p = compile(vec![plugin("cors", json!({}))]);
    let r = respond(
        run(
            &p,
            &preflight("http://a.example").header("access-control-request-headers", "x-a,x-b"),
        )
        .0,
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(hdr(&r.headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        hdr(&r.headers, "access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT")
    );
    assert_eq!(
        hdr(&r.headers, "access-control-allow-headers"),
        Some("x-a,x-b")
    );
    assert_eq!(hdr(&r.headers, "access-control-max-age"), None);
    assert_eq!(hdr(&r.headers, "access-control-allow-credentials"), None);
}

#[test]
fn cors_origins_table() {
    let cfg = json!({"origins": ["http://a.example", "https://b.example:8443", "https?://.*\\.c\\.example"],
        "methods": ["GET", "POST"], "headers": ["x-h"], "credentials": true, "max_age": 600});
    let p = compile(vec![plugin("cors", cfg)]);
    let cases = [
        ("http://a.example", true),
        ("http://a.example:80", true),
        ("HTTP://A.EXAMPLE", true),
        ("https://a.example", false),
        ("https://b.example:8443", true),
        ("https://b.example", false),
        ("https://x.c.example", true),
        ("http://y.z.c.example", true),
        ("http://c.example.evil", false),
        ("null", false),
    ];
    for (origin, allowed) in cases {
        let r = respond(run(&p, &preflight(origin)).0);
        assert_eq!(
            hdr(&r.headers, "access-control-allow-origin"),
            allowed.then_some(origin),
            "{origin}"
        );
        assert_eq!(hdr(&r.headers, "vary"), Some("Origin"));
        assert_eq!(
            hdr(&r.headers, "access-control-allow-methods"),
            Some("GET,POST")
        );
        assert_eq!(hdr(&r.headers, "access-control-allow-headers"), Some("x-h"));
        assert_eq!(hdr(&r.headers, "access-control-max-age"), Some("600"));
        assert_eq!(
            hdr(&r.headers, "access-control-allow-credentials"),
            Some("true")
        );
    }
}

#[test]
fn cors_simple_request_headers() {
    let p = compile(vec![plugin(
        "cors",
        json!({"origins": ["http://a.example"], "exposed_headers": ["x-e1", "x-e2"]}),
    )]);
    let mut ctx = PluginCtx::default();
    assert_eq!(
        p.access(
            0,
            &Req::get("/").header("origin", "http://a.example"),
            &mut ctx,
            0.0
        ),
        Access::Continue
    );
    p.header_filter(0, &Resp::ok(), &mut ctx);
    assert_eq!(
        hdr(&ctx.response.set, "access-control-allow-origin"),
        Some("http://a.example")
    );
    assert_eq!(
        hdr(&ctx.response.set, "access-control-expose-headers"),
        Some("x-e1,x-e2")
    );
    assert_eq!(hdr(&ctx.response.append, "vary"), Some("Origin"));
    // upstream already varies on Origin: not added twice
    let mut ctx = PluginCtx::default();
    let _ = p.access(
        0,
        &Req::get("/").header("origin", "http://b.example"),
        &mut ctx,
        0.0,
    );
    p.header_filter(0, &Resp::ok().header("vary", "Accept, origin"), &mut ctx);
    assert_eq!(hdr(&ctx.response.set, "access-control-allow-origin"), None);
    assert_eq!(hdr(&ctx.response.append, "vary"), None);
}

#[test]
fn cors_wildcard_with_credentials_echoes_origin() {
    let p = compile(vec![plugin("cors", json!({"credentials": true}))]);
    let mut ctx = PluginCtx::default();
    let _ = p.access(
        0,
        &Req::get("/").header("origin", "http://z.example"),
        &mut ctx,
        0.0,
    );
    p.header_filter(0, &Resp::ok(), &mut ctx);
    assert_eq!(
        hdr(&ctx.response.set, "access-control-allow-origin"),
        Some("http://z.example")
    );
    assert_eq!(
        hdr(&ctx.response.set, "access-control-allow-credentials"),
        Some("true")
    );
}

#[test]
fn cors_preflight_continue_and_absent_origin() {
    let p = compile(vec![plugin("cors", json!({"preflight_continue": true}))]);
    let mut ctx = PluginCtx::default();
    assert_eq!(
        p.access(0, &preflight("http://a.example"), &mut ctx, 0.0),
        Access::Continue
    );
    p.header_filter(0, &Resp::ok(), &mut ctx);
    assert!(ctx.response.is_empty());
    let p = compile(vec![plugin("cors", json!({"allow_origin_absent": false}))]);
    let mut ctx = PluginCtx::default();
    let _ = p.access(0, &Req::get("/"), &mut ctx, 0.0);
    p.header_filter(0, &Resp::ok(), &mut ctx);
    assert!(ctx.response.is_empty());
    // OPTIONS without Access-Control-Request-Method is not a preflight
    let p = compile(vec![plugin("cors", json!({}))]);
    let (a, _) = run(
        &p,
        &Req::get("/").method("OPTIONS").header("origin", "http://a"),
    );
    assert_eq!(a, Access::Continue);
}

#[test]
fn request_transformer_headers() {
    let cfg = json!({
        "remove": {"headers": ["x-remove"]},
        "rename": {"headers": ["x-old:x-new", "x-absent:x-never"]},
        "replace": {"headers": ["x-rep:new", "x-rep-absent:nope"]},
        "add": {"headers": ["x-add:added", "x-present:ignored", "x-new:ignored"]},
        "append": {"headers": ["x-app:1", "x-app:2"]},
    });
    let p = compile(vec![plugin("request-transformer", cfg)]);
    let req = Req::get("/")
        .header("x-remove", "r")
        .header("x-old", "o1")
        .header("x-old", "o2")
        .header("x-rep", "old")
        .header("x-present", "p");
    let (a, ctx) = run(&p, &req);
    assert_eq!(a, Access::Continue);
    let e = &ctx.request;
    assert!(e.remove.contains(&"x-remove".into()));
    assert!(e.remove.contains(&"x-old".into()));
    assert_eq!(hdr(&e.set, "x-new"), Some("o1"));
    assert_eq!(hdr(&e.append, "x-new"), Some("o2"));
    assert_eq!(hdr(&e.set, "x-never"), None);
    assert_eq!(hdr(&e.set, "x-rep"), Some("new"));
    assert_eq!(hdr(&e.set, "x-rep-absent"), None);
    assert_eq!(hdr(&e.set, "x-add"), Some("added"));
    assert_eq!(hdr(&e.set, "x-present"), None);
    let app: Vec<_> = e
        .append
        .iter()
        .filter(|(n, _)| n == "x-app")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(app, ["1", "2"]);
}

#[test]
fn request_transformer_sees_earlier_plugin_edits() {
    // key-auth (1250) sets X-Consumer-ID; request-transformer (801) replaces it only if present.
    let p = compile(vec![
        plugin("key-auth", json!({"hide_credentials": true})),
        plugin(
            "request-transformer",
            json!({"replace": {"headers": ["x-consumer-id:changed"]}, "add": {"headers": ["apikey:re-added"]}}),
        ),
    ]);
    let (_, ctx) = run(&p, &Req::get("/").header("apikey", "alice-key"));
    assert_eq!(hdr(&ctx.request.set, "x-consumer-id"), Some("changed"));
    assert_eq!(hdr(&ctx.request.set, "apikey"), Some("re-added"));
}

#[test]
fn request_transformer_querystring_table() {
    let cases = [
        (
            json!({"remove": {"querystring": ["a"]}}),
            "a=1&b=2&a=3",
            "b=2",
        ),
        (
            json!({"rename": {"querystring": ["a:z"]}}),
            "a=1&b=2",
            "b=2&z=1",
        ),
        (
            json!({"replace": {"querystring": ["b:x y"]}}),
            "a=1&b=2",
            "a=1&b=x%20y",
        ),
        (json!({"replace": {"querystring": ["c:3"]}}), "a=1", "a=1"),
        (
            json!({"add": {"querystring": ["c:3", "a:9"]}}),
            "a=1",
            "a=1&c=3",
        ),
        (
            json!({"append": {"querystring": ["a:9"]}}),
            "a=1",
            "a=1&a=9",
        ),
        (json!({"add": {"querystring": ["c:3"]}}), "", "c=3"),
    ];
    for (cfg, q, expected) in cases {
        let p = compile(vec![plugin("request-transformer", cfg.clone())]);
        let (_, ctx) = run(&p, &Req::get(&format!("/?{q}")));
        assert_eq!(ctx.new_query.as_deref(), Some(expected), "{cfg}");
    }
    let p = compile(vec![plugin(
        "request-transformer",
        json!({"add": {"headers": ["x:1"]}}),
    )]);
    let (_, ctx) = run(&p, &Req::get("/?a=1"));
    assert_eq!(ctx.new_query, None);
}

#[test]
fn response_transformer_headers() {
    let cfg = json!({
        "remove": {"headers": ["server"]},
        "rename": {"headers": ["x-old:x-new"]},
        "replace": {"headers": ["x-rep:new", "x-none:no"]},
        "add": {"headers": ["x-add:1", "content-type:ignored"]},
        "append": {"headers": ["x-app:2"]},
    });
    let p = compile(vec![plugin("response-transformer", cfg)]);
    let mut ctx = PluginCtx::default();
    assert_eq!(p.access(0, &Req::get("/"), &mut ctx, 0.0), Access::Continue);
    let resp = Resp::ok()
        .header("Server", "up")
        .header("X-Old", "o")
        .header("X-Rep", "r")
        .header("Content-Type", "text/html");
    p.header_filter(0, &resp, &mut ctx);
    let e = &ctx.response;
    assert!(e.remove.contains(&"server".into()));
    assert!(e.remove.contains(&"x-old".into()));
    assert_eq!(hdr(&e.set, "x-new"), Some("o"));
    assert_eq!(hdr(&e.set, "x-rep"), Some("new"));
    assert_eq!(hdr(&e.set, "x-none"), None);
    assert_eq!(hdr(&e.set, "x-add"), Some("1"));
    assert_eq!(hdr(&e.set, "content-type"), None);
    assert_eq!(hdr(&e.append, "x-app"), Some("2"));
}

#[test]
fn response_transformer_sees_rate_limit_headers() {
    let p = compile(vec![
        plugin("rate-limiting", json!({"minute": 5, "limit_by": "ip"})),
        plugin(
            "response-transformer",
            json!({"remove": {"headers": ["ratelimit-reset"]}, "replace": {"headers": ["ratelimit-limit:hidden"]}}),
        ),
    ]);
    let mut ctx = PluginCtx::default();
    let _ = p.access(0, &Req::get("/"), &mut ctx, 0.0);
    p.header_filter(0, &Resp::ok(), &mut ctx);
    assert_eq!(hdr(&ctx.response.set, "ratelimit-reset"), None);
    assert!(ctx.response.remove.contains(&"ratelimit-reset".into()));
    assert_eq!(hdr(&ctx.response.set, "ratelimit-limit"), Some("hidden"));
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<_> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
        && parts[2].starts_with('4')
        && matches!(&parts[3][..1], "8" | "9" | "a" | "b")
}

#[test]
fn correlation_id_generators() {
    let p = compile(vec![plugin("correlation-id", json!({"generator": "uuid"}))]);
    let (_, a) = run(&p, &Req::get("/"));
    let (_, b) = run(&p, &Req::get("/"));
    let (a, b) = (
        hdr(&a.request.set, "Kong-Request-ID").unwrap(),
        hdr(&b.request.set, "Kong-Request-ID").unwrap(),
    );
    assert!(is_uuid(a) && is_uuid(b) && a != b, "{a} {b}");

    let p = compile(vec![plugin("correlation-id", json!({}))]);
    let (_, a) = run(&p, &Req::get("/"));
    let (_, b) = run(&p, &Req::get("/"));
    let a = hdr(&a.request.set, "kong-request-id").unwrap().to_string();
    let b = hdr(&b.request.set, "kong-request-id").unwrap().to_string();
    let (ua, na) = a.split_once('#').unwrap();
    let (ub, nb) = b.split_once('#').unwrap();
    assert!(is_uuid(ua));
    assert_eq!(ua, ub);
    assert_eq!(nb.parse::<u64>().unwrap(), na.parse::<u64>().unwrap() + 1);

    let p = compile(vec![plugin(
        "correlation-id",
        json!({"generator": "tracker", "header_name": "X-Trace"}),
    )]);
    let (_, c) = run(&p, &Req::get("/"));
    assert!(hdr(&c.request.set, "x-trace")
        .unwrap()
        .starts_with("10.0.0.1-"));
}

#[test]
fn correlation_id_keeps_client_value_and_echoes() {
    let p = compile(vec![plugin(
        "correlation-id",
        json!({"echo_downstream": true}),
    )]);
    let mut ctx = PluginCtx::default();
    let _ = p.access(
        0,
        &Req::get("/").header("kong-request-id", "abc"),
        &mut ctx,
        0.0,
    );
    assert!(ctx.request.set.is_empty());
    p.header_filter(0, &Resp::ok(), &mut ctx);
    assert_eq!(hdr(&ctx.response.set, "kong-request-id"), Some("abc"));
    let p = compile(vec![plugin("correlation-id", json!({}))]);
    let mut ctx = PluginCtx::default();
    let _ = p.access(0, &Req::get("/"), &mut ctx, 0.0);
    p.header_filter(0, &Resp::ok(), &mut ctx);
    assert!(ctx.response.is_empty());
}

#[test]
fn request_termination_table() {
    let cases = [
        (
            json!({}),
            503,
            "application/json; charset=utf-8",
            r#"{"message":"Service unavailable"}"#,
        ),
        (
            json!({"status_code": 404}),
            404,
            "application/json; charset=utf-8",
            r#"{"message":"Not found"}"#,
        ),
        (
            json!({"status_code": 403, "message": "Nope \"quoted\""}),
            403,
            "application/json; charset=utf-8",
            r#"{"message":"Nope \"quoted\""}"#,
        ),
        (
            json!({"status_code": 418}),
            418,
            "application/json; charset=utf-8",
            "{}",
        ),
        (
            json!({"status_code": 200, "body": "<h1>hi</h1>", "content_type": "text/html"}),
            200,
            "text/html",
            "<h1>hi</h1>",
        ),
    ];
    for (cfg, status, ct, body) in cases {
        let p = compile(vec![plugin("request-termination", cfg.clone())]);
        let r = respond(run(&p, &Req::get("/")).0);
        assert_eq!(
            (
                r.status,
                r.content_type.as_str(),
                String::from_utf8(r.body).unwrap().as_str()
            ),
            (status, ct, body),
            "{cfg}"
        );
    }
}

#[test]
fn request_termination_trigger() {
    let p = compile(vec![plugin(
        "request-termination",
        json!({"trigger": "X-Stop"}),
    )]);
    assert_eq!(run(&p, &Req::get("/")).0, Access::Continue);
    assert_eq!(
        respond(run(&p, &Req::get("/").header("x-stop", "1")).0).status,
        503
    );
    assert_eq!(respond(run(&p, &Req::get("/?X-Stop")).0).status, 503);
}
