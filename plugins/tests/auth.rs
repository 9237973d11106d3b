//! key-auth, basic-auth, acl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;
use common::*;
use serde_json::json;
use sluice_plugins::*;

fn b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn key_auth_table() {
    let p = compile(vec![plugin("key-auth", json!({}))]);
    // (request, expected status or 0 for continue, expected message)
    let cases: Vec<(Req, u16, &str)> = vec![
        (Req::get("/"), 401, "No API key found in request"),
        (
            Req::get("/").header("apikey", ""),
            401,
            "No API key found in request",
        ),
        (
            Req::get("/").header("apikey", "nope"),
            401,
            "Invalid authentication credentials",
        ),
        (Req::get("/").header("apikey", "alice-key"), 0, ""),
        (Req::get("/").header("APIKEY", "alice-key"), 0, ""),
        (Req::get("/?apikey=alice-key"), 0, ""),
        (Req::get("/?a=1&apikey=bob%2Dkey"), 0, ""),
        (
            Req::get("/?apikey=a&apikey=b"),
            401,
            "Duplicate API key found",
        ),
        (
            Req::get("/").header("apikey", "a").header("apikey", "b"),
            401,
            "Duplicate API key found",
        ),
        (
            Req::get("/").header("apikey", "alice-key-"),
            401,
            "Invalid authentication credentials",
        ),
    ];
    for (i, (req, status, msg)) in cases.into_iter().enumerate() {
        let (a, _) = run(&p, &req);
        match a {
            Access::Wait(q) => panic!("unexpected store query {q:?}"),
            Access::Continue => assert_eq!(status, 0, "case {i}"),
            Access::Respond(r) => {
                assert_eq!((r.status, message(&r).as_str()), (status, msg), "case {i}");
                assert_eq!(
                    hdr(&r.headers, "www-authenticate"),
                    Some("Key realm=\"kong\"")
                );
                assert_eq!(r.content_type, "application/json; charset=utf-8");
            }
        }
    }
}

#[test]
fn key_auth_sets_consumer_headers() {
    let p = compile(vec![plugin("key-auth", json!({}))]);
    let (a, ctx) = run(&p, &Req::get("/").header("apikey", "alice-key"));
    assert_eq!(a, Access::Continue);
    assert_eq!(ctx.consumer, Some(0));
    assert_eq!(ctx.credential_id.as_deref(), Some("k-alice"));
    let set = &ctx.request.set;
    assert_eq!(hdr(set, "x-consumer-id"), Some("c-alice"));
    assert_eq!(hdr(set, "x-consumer-username"), Some("alice"));
    assert_eq!(hdr(set, "x-consumer-custom-id"), Some("A1"));
    assert_eq!(hdr(set, "x-credential-identifier"), Some("k-alice"));
    assert!(ctx.request.remove.contains(&"x-anonymous-consumer".into()));
    // bob has no custom id: a spoofed one from the client must be removed
    let (_, ctx) = run(
        &p,
        &Req::get("/")
            .header("apikey", "bob-key")
            .header("x-consumer-custom-id", "spoof"),
    );
    assert!(ctx.request.remove.contains(&"x-consumer-custom-id".into()));
    assert_eq!(hdr(&ctx.request.set, "x-consumer-custom-id"), None);
    // the key header is forwarded unless hide_credentials
    assert!(!ctx.request.remove.contains(&"apikey".into()));
}

#[test]
fn key_auth_options() {
    let p = compile(vec![plugin(
        "key-auth",
        json!({"key_names": ["x-key", "k"], "key_in_query": false, "hide_credentials": true}),
    )]);
    let (a, _) = run(&p, &Req::get("/?k=alice-key"));
    assert_eq!(respond(a).status, 401);
    let (a, ctx) = run(&p, &Req::get("/").header("K", "alice-key"));
    assert_eq!(a, Access::Continue);
    assert!(ctx.request.remove.contains(&"k".into()));

    let p = compile(vec![plugin(
        "key-auth",
        json!({"key_in_header": false, "hide_credentials": true}),
    )]);
    let (a, _) = run(&p, &Req::get("/").header("apikey", "alice-key"));
    assert_eq!(respond(a).status, 401);
    let (a, ctx) = run(&p, &Req::get("/?a=1&apikey=alice-key&b=%20"));
    assert_eq!(a, Access::Continue);
    assert_eq!(ctx.new_query.as_deref(), Some("a=1&b=%20"));

    let p = compile(vec![plugin("key-auth", json!({"run_on_preflight": false}))]);
    let (a, ctx) = run(&p, &Req::get("/").method("OPTIONS"));
    assert_eq!(a, Access::Continue);
    assert_eq!(ctx.consumer, None);
}

#[test]
fn key_auth_anonymous() {
    for anon in ["c-anon", "anonymous"] {
        let p = compile(vec![plugin("key-auth", json!({"anonymous": anon}))]);
        let (a, ctx) = run(&p, &Req::get("/").header("apikey", "wrong"));
        assert_eq!(a, Access::Continue);
        assert_eq!(ctx.consumer, Some(2));
        assert_eq!(ctx.credential_id, None);
        assert_eq!(hdr(&ctx.request.set, "x-anonymous-consumer"), Some("true"));
        assert_eq!(hdr(&ctx.request.set, "x-consumer-id"), Some("c-anon"));
    }
}

#[test]
fn auth_plugins_or_with_anonymous() {
    // key-auth with anonymous, basic-auth with anonymous: either credential works.
    let p = compile(vec![
        plugin("key-auth", json!({"anonymous": "c-anon"})),
        plugin("basic-auth", json!({"anonymous": "c-anon"})),
    ]);
    let (_, ctx) = run(&p, &Req::get("/").header("apikey", "bob-key"));
    assert_eq!(ctx.consumer, Some(1));
    let auth = format!("Basic {}", b64("alice:secret"));
    let (_, ctx) = run(&p, &Req::get("/").header("authorization", &auth));
    assert_eq!(ctx.consumer, Some(0));
    assert_eq!(
        hdr(&ctx.request.set, "x-credential-identifier"),
        Some("b-alice")
    );
    let (_, ctx) = run(&p, &Req::get("/"));
    assert_eq!(ctx.consumer, Some(2));
}

#[test]
fn basic_auth_table() {
    let p = compile(vec![plugin("basic-auth", json!({}))]);
    let ok = format!("Basic {}", b64("alice:secret"));
    let cases: Vec<(Req, u16, &str)> = vec![
        (Req::get("/"), 401, "Unauthorized"),
        (
            Req::get("/").header("authorization", "Bearer x"),
            401,
            "Invalid authentication credentials",
        ),
        (
            Req::get("/").header("authorization", "Basic !!!"),
            401,
            "Invalid authentication credentials",
        ),
        (
            Req::get("/").header("authorization", &format!("Basic {}", b64("alice:wrong"))),
            401,
            "Invalid authentication credentials",
        ),
        (
            Req::get("/").header("authorization", &format!("Basic {}", b64("alice"))),
            401,
            "Invalid authentication credentials",
        ),
        (
            Req::get("/").header("authorization", &format!("Basic {}", b64("nobody:secret"))),
            401,
            "Invalid authentication credentials",
        ),
        (Req::get("/").header("authorization", &ok), 0, ""),
        (
            Req::get("/").header("authorization", &format!("basic   {}", b64("alice:secret"))),
            0,
            "",
        ),
        (Req::get("/").header("proxy-authorization", &ok), 0, ""),
        (
            Req::get("/")
                .header("proxy-authorization", "Basic xx")
                .header("authorization", &ok),
            0,
            "",
        ),
    ];
    for (i, (req, status, msg)) in cases.into_iter().enumerate() {
        let (a, ctx) = run(&p, &req);
        match a {
            Access::Wait(q) => panic!("unexpected store query {q:?}"),
            Access::Continue => {
                assert_eq!(status, 0, "case {i}");
                assert_eq!(ctx.consumer, Some(0));
                assert_eq!(hdr(&ctx.request.set, "x-consumer-username"), Some("alice"));
            }
            Access::Respond(r) => {
                assert_eq!((r.status, message(&r).as_str()), (status, msg), "case {i}");
                assert_eq!(
                    hdr(&r.headers, "www-authenticate"),
                    Some("Basic realm=\"service\"")
                );
            }
        }
    }
}

#[test]
fn basic_auth_realm_and_hide_credentials() {
    let p = compile(vec![plugin(
        "basic-auth",
        json!({"realm": "api", "hide_credentials": true}),
    )]);
    let (a, _) = run(&p, &Req::get("/"));
    assert_eq!(
        hdr(&respond(a).headers, "www-authenticate"),
        Some("Basic realm=\"api\"")
    );
    let (a, ctx) = run(
        &p,
        &Req::get("/").header("authorization", &format!("Basic {}", b64("alice:secret"))),
    );
    assert_eq!(a, Access::Continue);
    assert!(ctx.request.remove.contains(&"authorization".into()));
}

#[test]
fn password_with_colon() {
    let mut cons = consumers();
    cons[1].basicauth.push(BasicCredential {
        id: "b-bob".into(),
        username: "bob".into(),
        password: "a:b:c".into(),
    });
    let p = Plugins::compile(
        &[plugin("basic-auth", json!({}))],
        &cons,
        &[Some(0)],
        Default::default(),
    )
    .unwrap();
    let (a, ctx) = run(
        &p,
        &Req::get("/").header("authorization", &format!("Basic {}", b64("bob:a:b:c"))),
    );
    assert_eq!(a, Access::Continue);
    assert_eq!(ctx.consumer, Some(1));
}

#[test]
fn acl_table() {
    // (config, apikey, expected status / 0)
    let cases = [
        (json!({"allow": ["admins"]}), Some("alice-key"), 0),
        (json!({"allow": ["admins"]}), Some("bob-key"), 403),
        (json!({"deny": ["admins"]}), Some("alice-key"), 403),
        (json!({"deny": ["admins"]}), Some("bob-key"), 0),
        (json!({"allow": ["admins", "users"]}), Some("bob-key"), 0),
        (json!({"allow": ["admins"]}), None, 401),
    ];
    for (i, (cfg, key, status)) in cases.into_iter().enumerate() {
        let mut specs = vec![plugin("acl", cfg)];
        if key.is_some() {
            specs.push(plugin("key-auth", json!({})));
        }
        let p = compile(specs);
        let mut req = Req::get("/");
        if let Some(k) = key {
            req = req.header("apikey", k);
        }
        let (a, ctx) = run(&p, &req);
        match a {
            Access::Wait(q) => panic!("unexpected store query {q:?}"),
            Access::Continue => {
                assert_eq!(status, 0, "case {i}");
                assert!(hdr(&ctx.request.set, "x-consumer-groups").is_some());
            }
            Access::Respond(r) => {
                assert_eq!(r.status, status, "case {i}");
                let m = if status == 401 {
                    "Unauthorized"
                } else {
                    "You cannot consume this service"
                };
                assert_eq!(message(&r), m);
            }
        }
    }
}

#[test]
fn acl_groups_header() {
    let mut cons = consumers();
    cons[0].acl_groups.push("ops".into());
    let specs = [
        plugin("key-auth", json!({})),
        plugin("acl", json!({"allow": ["ops"]})),
    ];
    let p = Plugins::compile(&specs, &cons, &[Some(0)], Default::default()).unwrap();
    let (_, ctx) = run(&p, &Req::get("/").header("apikey", "alice-key"));
    assert_eq!(
        hdr(&ctx.request.set, "x-consumer-groups"),
        Some("admins, ops")
    );
    let specs = [
        plugin("key-auth", json!({})),
        plugin("acl", json!({"allow": ["ops"], "hide_groups_header": true})),
    ];
    let p = Plugins::compile(&specs, &cons, &[Some(0)], Default::default()).unwrap();
    let (_, ctx) = run(&p, &Req::get("/").header("apikey", "alice-key"));
    assert_eq!(hdr(&ctx.request.set, "x-consumer-groups"), None);
}

#[test]
fn constant_time_eq() {
    use sluice_plugins::util::ct_eq;
    assert!(ct_eq(b"", b""));
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    assert!(!ct_eq(b"", b"a"));
}

#[test]
fn basic_auth_kong_hashed_password() {
    // Kong stores sha1(password .. consumer_id): sha1("secretc-bob")
    let digest = {
        use sluice_plugins::util::{hex, sha1};
        hex(&sha1(b"secretc-bob"))
    };
    let mut cons = consumers();
    cons[1].basicauth.push(BasicCredential {
        id: "b-bob".into(),
        username: "bob".into(),
        password: digest.clone(),
    });
    let p = Plugins::compile(
        &[plugin("basic-auth", json!({}))],
        &cons,
        &[Some(0)],
        Default::default(),
    )
    .unwrap();
    let (a, ctx) = run(
        &p,
        &Req::get("/").header("authorization", &format!("Basic {}", b64("bob:secret"))),
    );
    assert_eq!(a, Access::Continue);
    assert_eq!(ctx.consumer, Some(1));
    let (a, _) = run(
        &p,
        &Req::get("/").header("authorization", &format!("Basic {}", b64("bob:wrong"))),
    );
    assert_eq!(respond(a).status, 401);
    // the digest itself is also accepted as a plain password (it is what is stored)
    let (a, _) = run(
        &p,
        &Req::get("/").header(
            "authorization",
            &format!("Basic {}", b64(&format!("bob:{digest}"))),
        ),
    );
    assert_eq!(a, Access::Continue);
}
