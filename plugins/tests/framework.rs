//! Priorities, scope precedence, validation and phase plumbing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;
use common::*;
use serde_json::json;
use sluice_plugins::*;
use std::sync::Arc;

/// One valid config per bundled plugin.
fn sample(name: &str) -> serde_json::Value {
    match name {
        "ip-restriction" => json!({"allow": ["0.0.0.0/0", "::/0"]}),
        "acl" => json!({"allow": ["admins", "users", ""]}),
        "rate-limiting" => json!({"minute": 1000}),
        "request-termination" => json!({"trigger": "x-never"}),
        "file-log" => json!({"path": "/dev/null"}),
        "http-log" => json!({"http_endpoint": "http://127.0.0.1:9/logs"}),
        _ => json!({}),
    }
}

#[test]
fn priorities_match_kong() {
    let table = [
        ("correlation-id", 100001),
        ("cors", 2000),
        ("key-auth", 1250),
        ("basic-auth", 1100),
        ("ip-restriction", 990),
        ("request-size-limiting", 951),
        ("acl", 950),
        ("rate-limiting", 910),
        ("request-transformer", 801),
        ("response-transformer", 800),
        ("prometheus", 13),
        ("http-log", 12),
        ("file-log", 9),
        ("request-termination", 2),
    ];
    for (name, prio) in table {
        assert_eq!(priority(name), Some(prio), "{name}");
    }
    assert_eq!(priority("jwt"), None);
}

#[test]
fn chain_runs_in_priority_order_whatever_the_config_order() {
    let mut names: Vec<&str> = PRIORITIES.iter().map(|(n, _)| *n).collect();
    names.reverse();
    names.swap(0, 5);
    let specs = names.iter().map(|n| plugin(n, sample(n))).collect();
    let p = compile(specs);
    let expected: Vec<&str> = PRIORITIES.iter().map(|(n, _)| *n).collect();
    assert_eq!(p.chain_names(0, None), expected);
}

#[test]
fn scope_rank_table() {
    // (route, service, consumer) in Kong's precedence order, most specific first.
    let order = [
        (true, true, true),
        (true, false, true),
        (false, true, true),
        (true, true, false),
        (false, false, true),
        (true, false, false),
        (false, true, false),
        (false, false, false),
    ];
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert!(
            scope_rank(a.0, a.1, a.2) > scope_rank(b.0, b.1, b.2),
            "{a:?} > {b:?}"
        );
    }
}

#[test]
fn scope_precedence_resolution_table() {
    // Eight request-termination instances, one per scope, each answering a distinct status.
    // Removing the most specific one at a time, the next one in Kong's order must win.
    let scopes: [(Option<usize>, Option<usize>, Option<usize>, u16); 8] = [
        (Some(0), Some(0), Some(0), 408),
        (None, Some(0), Some(0), 407),
        (Some(0), None, Some(0), 406),
        (Some(0), Some(0), None, 405),
        (None, None, Some(0), 404),
        (None, Some(0), None, 403),
        (Some(0), None, None, 402),
        (None, None, None, 401),
    ];
    for skip in 0..scopes.len() {
        let mut specs = vec![plugin("key-auth", json!({}))];
        for (svc, route, cons, status) in &scopes[skip..] {
            specs.push(scoped(
                "request-termination",
                json!({"status_code": status}),
                *svc,
                *route,
                *cons,
            ));
        }
        let p = compile(specs);
        let req = Req::get("/").header("apikey", "alice-key");
        let (a, _) = run(&p, &req);
        assert_eq!(respond(a).status, scopes[skip].3, "skip {skip}");
    }
}

#[test]
fn consumer_scoped_instance_applies_only_to_that_consumer() {
    let specs = vec![
        plugin("key-auth", json!({})),
        plugin(
            "request-termination",
            json!({"status_code": 418, "trigger": "x-stop"}),
        ),
        scoped(
            "request-termination",
            json!({"status_code": 451}),
            None,
            None,
            Some(1),
        ),
    ];
    let p = compile(specs);
    let (a, _) = run(&p, &Req::get("/").header("apikey", "alice-key"));
    assert_eq!(a, Access::Continue);
    let (a, _) = run(&p, &Req::get("/").header("apikey", "bob-key"));
    assert_eq!(respond(a).status, 451);
}

#[test]
fn consumer_scoped_plugin_above_auth_priority_does_not_apply() {
    // cors runs before key-auth: the consumer is unknown then (Kong behaves the same).
    let specs = vec![
        plugin("key-auth", json!({})),
        scoped(
            "correlation-id",
            json!({"echo_downstream": true}),
            None,
            None,
            Some(0),
        ),
    ];
    let p = compile(specs);
    let (_, ctx) = run(&p, &Req::get("/").header("apikey", "alice-key"));
    assert!(hdr(&ctx.request.set, "kong-request-id").is_none());
}

#[test]
fn route_and_service_scopes_filter_routes() {
    let specs = vec![
        scoped(
            "request-termination",
            json!({"status_code": 410}),
            None,
            Some(1),
            None,
        ),
        scoped(
            "request-termination",
            json!({"status_code": 411}),
            Some(1),
            None,
            None,
        ),
    ];
    let p = Plugins::compile(
        &specs,
        &consumers(),
        &[Some(0), Some(0), Some(1), None],
        Arc::default(),
    )
    .unwrap();
    let mut ctx = PluginCtx::default();
    let req = Req::get("/");
    let status = |r: usize, ctx: &mut PluginCtx| {
        ctx.clear();
        match p.access(r, &req, ctx, 0.0) {
            Access::Respond(x) => Some(x.status),
            Access::Continue => None,
            Access::Wait(q) => panic!("unexpected store query {q:?}"),
        }
    };
    assert_eq!(status(0, &mut ctx), None);
    assert_eq!(status(1, &mut ctx), Some(410));
    assert_eq!(status(2, &mut ctx), Some(411));
    assert_eq!(status(3, &mut ctx), None);
    assert_eq!(status(99, &mut ctx), None);
}

#[test]
fn disabled_plugins_are_skipped_but_validated() {
    let mut s = plugin("request-termination", json!({}));
    s.enabled = false;
    let p = compile(vec![s]);
    assert!(p.is_empty());
    let mut s = plugin("request-termination", json!({"status_code": 42}));
    s.enabled = false;
    assert_eq!(
        compile_err(vec![s])[0].path,
        "plugins[0].config.status_code"
    );
}

#[test]
fn empty_plugins_continue() {
    let p = Plugins::empty();
    assert!(p.is_empty());
    let (a, ctx) = run(&p, &Req::get("/"));
    assert_eq!(a, Access::Continue);
    assert!(ctx.request.is_empty());
}

#[test]
fn config_validation_errors_name_the_field() {
    let cases: Vec<(&str, serde_json::Value, &str, &str)> = vec![
        (
            "jwt",
            json!({}),
            "plugins[0].name",
            "plugin 'jwt' is not available in this build",
        ),
        (
            "rate-limiting",
            json!({"minute": "ten"}),
            "plugins[0].config.minute",
            "expected a number",
        ),
        (
            "rate-limiting",
            json!({}),
            "plugins[0].config.second",
            "at least one of",
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "policy": "redis"}),
            "plugins[0].config.redis.host",
            "required field missing (policy is 'redis')",
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "policy": "cluster"}),
            "plugins[0].config.policy",
            "the 'cluster' policy needs a database; use 'local' or 'redis'",
        ),
        (
            "rate-limiting",
            json!({"minute": 10, "hour": 5}),
            "plugins[0].config.hour",
            "cannot be lower",
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "limit_by": "header"}),
            "plugins[0].config.header_name",
            "required",
        ),
        (
            "rate-limiting",
            json!({"minute": 5, "limit_by": "planet"}),
            "plugins[0].config.limit_by",
            "expected one of",
        ),
        (
            "key-auth",
            json!({"key_names": "apikey"}),
            "plugins[0].config.key_names",
            "expected an array",
        ),
        (
            "key-auth",
            json!({"anonymous": "nobody"}),
            "plugins[0].config.anonymous",
            "no consumer",
        ),
        (
            "key-auth",
            json!({"bogus": 1}),
            "plugins[0].config.bogus",
            "unknown field",
        ),
        (
            "key-auth",
            json!({"key_in_body": true}),
            "plugins[0].config.key_in_body",
            "not supported",
        ),
        ("acl", json!({}), "plugins[0].config.allow", "at least one"),
        (
            "acl",
            json!({"allow": ["a"], "deny": ["b"]}),
            "plugins[0].config.allow",
            "only one",
        ),
        (
            "ip-restriction",
            json!({"allow": ["10.0.0.300"]}),
            "plugins[0].config.allow[0]",
            "invalid ip",
        ),
        (
            "ip-restriction",
            json!({}),
            "plugins[0].config.allow",
            "at least one",
        ),
        (
            "request-size-limiting",
            json!({"size_unit": "gigabytes"}),
            "plugins[0].config.size_unit",
            "expected one of",
        ),
        (
            "cors",
            json!({"origins": ["(unclosed"]}),
            "plugins[0].config.origins[0]",
            "invalid regex",
        ),
        (
            "cors",
            json!({"max_age": "x"}),
            "plugins[0].config.max_age",
            "expected a number",
        ),
        (
            "request-transformer",
            json!({"add": {"body": ["a:b"]}}),
            "plugins[0].config.add.body",
            "not supported",
        ),
        (
            "request-transformer",
            json!({"add": {"headers": ["bad name:b"]}}),
            "plugins[0].config.add.headers[0]",
            "not a valid header name",
        ),
        (
            "request-transformer",
            json!({"add": {"headers": ["x-a:b\r\nx-evil: 1"]}}),
            "plugins[0].config.add.headers[0]",
            "CR, LF",
        ),
        (
            "request-transformer",
            json!({"add": {"headers": ["x-a"]}}),
            "plugins[0].config.add.headers[0]",
            "name:value",
        ),
        (
            "request-transformer",
            json!({"add": {"headers": ["x-a:$(headers.host)"]}}),
            "plugins[0].config.add.headers[0]",
            "templates",
        ),
        (
            "request-transformer",
            json!({"http_method": "POST"}),
            "plugins[0].config.http_method",
            "not supported",
        ),
        (
            "request-transformer",
            json!({"replace": {"uri": "/x"}}),
            "plugins[0].config.replace.uri",
            "not supported",
        ),
        (
            "response-transformer",
            json!({"add": {"json": ["a:b"], "json_types": ["date"]}}),
            "plugins[0].config.add.json_types[0]",
            "expected one of: boolean, number, string",
        ),
        (
            "correlation-id",
            json!({"generator": "random"}),
            "plugins[0].config.generator",
            "expected one of",
        ),
        (
            "correlation-id",
            json!({"header_name": "bad header"}),
            "plugins[0].config.header_name",
            "not a valid header name",
        ),
        (
            "request-termination",
            json!({"status_code": 700}),
            "plugins[0].config.status_code",
            "between",
        ),
        (
            "request-termination",
            json!({"message": "m", "body": "b"}),
            "plugins[0].config.message",
            "cannot be used",
        ),
        (
            "request-termination",
            json!({"content_type": "text/plain"}),
            "plugins[0].config.content_type",
            "requires a body",
        ),
        (
            "request-termination",
            json!({"echo": true}),
            "plugins[0].config.echo",
            "not supported",
        ),
        (
            "basic-auth",
            json!({"realm": "a\"b"}),
            "plugins[0].config.realm",
            "quotes",
        ),
    ];
    for (name, config, path, msg) in cases {
        let errs = compile_err(vec![plugin(name, config.clone())]);
        assert!(
            errs.iter()
                .any(|e| e.path == path && e.message.contains(msg)),
            "{name} {config}: expected {path}: {msg}, got {errs:?}"
        );
    }
}

#[test]
fn kong_exported_null_fields_are_accepted() {
    let p = compile(vec![
        plugin(
            "key-auth",
            json!({"key_names": ["apikey"], "anonymous": null, "hide_credentials": false,
            "key_in_header": true, "key_in_query": true, "key_in_body": false, "run_on_preflight": true, "realm": null}),
        ),
        plugin(
            "rate-limiting",
            json!({"second": null, "minute": 5, "hour": null, "day": null, "month": null, "year": null,
            "limit_by": "consumer", "policy": "local", "fault_tolerant": true, "hide_client_headers": false,
            "redis_host": null, "redis_port": 6379, "redis_password": null, "redis_timeout": 2000, "redis_database": 0,
            "header_name": null, "path": null, "sync_rate": -1, "error_code": 429, "error_message": "API rate limit exceeded"}),
        ),
        plugin(
            "request-transformer",
            json!({"http_method": null,
            "remove": {"headers": [], "querystring": [], "body": []},
            "rename": {"headers": [], "querystring": [], "body": []},
            "replace": {"headers": [], "querystring": [], "body": [], "uri": null},
            "add": {"headers": [], "querystring": [], "body": []},
            "append": {"headers": [], "querystring": [], "body": []}}),
        ),
    ]);
    assert_eq!(
        p.chain_names(0, None),
        vec!["key-auth", "rate-limiting", "request-transformer"]
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let mut a = plugin("jwt", json!({}));
    a.source_path = "plugins[0]".into();
    let mut b = plugin("rate-limiting", json!({"minute": "x"}));
    b.source_path = "services[1].plugins[2]".into();
    let errs = compile_err(vec![a, b]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[1].path, "services[1].plugins[2].config.minute");
    assert_eq!(
        errs[1].to_string(),
        "services[1].plugins[2].config.minute: expected a number"
    );
}

#[test]
fn header_filter_after_local_answer_runs_only_plugins_that_ran() {
    // cors (2000) ran before key-auth (1250) rejected: its headers go on the 401.
    // response-transformer (800) never ran: no header from it.
    let p = compile(vec![
        plugin("cors", json!({})),
        plugin("key-auth", json!({})),
        plugin(
            "response-transformer",
            json!({"add": {"headers": ["x-rt:1"]}}),
        ),
    ]);
    let mut ctx = PluginCtx::default();
    let a = p.access(
        0,
        &Req::get("/").header("origin", "http://a.example"),
        &mut ctx,
        0.0,
    );
    assert_eq!(respond(a).status, 401);
    p.header_filter(
        0,
        &Resp {
            status: 401,
            headers: vec![],
        },
        &mut ctx,
    );
    assert_eq!(
        hdr(&ctx.response.set, "access-control-allow-origin"),
        Some("*")
    );
    assert_eq!(hdr(&ctx.response.set, "x-rt"), None);
}

#[test]
fn ctx_clear_resets_everything() {
    let p = compile(vec![
        plugin("key-auth", json!({})),
        plugin("correlation-id", json!({"echo_downstream": true})),
    ]);
    let mut ctx = PluginCtx::default();
    let _ = p.access(
        0,
        &Req::get("/").header("apikey", "alice-key"),
        &mut ctx,
        0.0,
    );
    assert_eq!(ctx.consumer, Some(0));
    ctx.clear();
    assert_eq!(ctx.consumer, None);
    assert!(ctx.request.is_empty() && ctx.response.is_empty() && ctx.credential_id.is_none());
    p.header_filter(0, &Resp::ok(), &mut ctx);
    // header filter without access resolves the chain itself; no stale correlation id
    assert!(hdr(&ctx.response.set, "kong-request-id").is_none());
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Plugins>();
    check::<PluginState>();
    check::<PluginError>();
    fn send<T: Send>() {}
    send::<PluginCtx>();
}

#[test]
fn consumer_scoped_rate_limit_overrides_global_after_auth() {
    let specs = vec![
        plugin("key-auth", json!({})),
        plugin("rate-limiting", json!({"minute": 3})),
        scoped("rate-limiting", json!({"minute": 1}), None, None, Some(0)),
    ];
    let p = compile(specs);
    assert_eq!(p.chain_names(0, Some(0)), vec!["key-auth", "rate-limiting"]);
    let limit = |key: &str| {
        let mut ctx = PluginCtx::default();
        let _ = p.access(0, &Req::get("/").header("apikey", key), &mut ctx, 0.0);
        hdr(&ctx.response.set, "X-RateLimit-Limit-Minute").map(str::to_string)
    };
    assert_eq!(limit("alice-key").as_deref(), Some("1"));
    assert_eq!(limit("bob-key").as_deref(), Some("3"));
}

fn facts(status: u16, source: ResponseSource) -> LogFacts<'static> {
    LogFacts {
        worker: 0,
        route: Some(0),
        service: Some(0),
        status,
        source,
        request_bytes: 40,
        response_bytes: 100,
        started_at_ms: 1_000_000_000,
        latencies: Latencies {
            kong_ms: 1.0,
            proxy_ms: None,
            request_ms: 1.0,
            receive_ms: 0.0,
        },
        upstream_uri: "",
        upstream_status: None,
        tries: &[],
        client_ip: "10.0.0.1".parse().unwrap(),
        server_port: 8000,
    }
}

#[test]
fn log_plugins_still_log_a_request_an_earlier_plugin_answered() {
    let state = Arc::new(PluginState::default());
    let specs = vec![
        plugin("key-auth", json!({})),
        plugin("prometheus", json!({"status_code_metrics": true})),
        plugin("request-termination", json!({})),
    ];
    let p = Plugins::compile(&specs, &consumers(), &[Some(0)], Arc::clone(&state)).unwrap();
    assert!(p.has_log_plugins());
    // No key: key-auth answers 401; request-termination (priority 2) never runs, prometheus
    // (priority 13) is still selected for the log phase.
    let mut ctx = PluginCtx::default();
    let answer = p.access(0, &Req::get("/"), &mut ctx, 1_000_000.0);
    assert_eq!(respond(answer).status, 401);
    p.log(&facts(401, ResponseSource::Exit), &mut ctx);
    let mut text = String::new();
    state.render_metrics(&mut text);
    assert!(
        text.contains(
            "kong_http_requests_total{service=\"\",route=\"0\",code=\"401\",source=\"exit\",workspace=\"default\",consumer=\"\"} 1"
        ),
        "{text}"
    );
}

#[test]
fn unrouted_requests_select_only_global_log_plugins() {
    let state = Arc::new(PluginState::default());
    let specs = vec![
        plugin("prometheus", json!({"status_code_metrics": true})),
        plugin("key-auth", json!({})),
        scoped(
            "file-log",
            json!({"path": "/dev/null"}),
            Some(0),
            None,
            None,
        ),
    ];
    let p = Plugins::compile(&specs, &consumers(), &[Some(0)], Arc::clone(&state)).unwrap();
    let mut ctx = PluginCtx::default();
    p.unrouted(&Req::get("/nowhere"), &mut ctx);
    let mut f = facts(404, ResponseSource::Exit);
    f.route = None;
    f.service = None;
    p.log(&f, &mut ctx);
    let mut text = String::new();
    state.render_metrics(&mut text);
    assert!(text.contains("code=\"404\",source=\"exit\""), "{text}");
    assert_eq!(
        ctx.consumer, None,
        "key-auth must not run for unrouted requests"
    );
}
