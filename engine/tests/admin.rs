//! The Admin API through the real binary: CRUD on every entity kind over HTTP with Kong's
//! status codes and bodies (services, routes, upstreams and targets with their health,
//! consumers and credentials, plugins), pagination, form bodies and the admin token.
//! Persistence and reloads are in `admin_reload.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::type_complexity)]
mod support;

use serde_json::{json, Value};
use support::admin_api::{expect, is_uuid, live, service_yaml, EMPTY, LIVE};
use support::{Gateway, Upstream};

#[test]
fn services_and_routes_crud() {
    let upstream = Upstream::fixed("svc");
    let gw = Gateway::start(EMPTY, &[]);

    // Create: 201, id and timestamps generated, defaults filled in.
    let created = expect(
        &gw.admin(
            "POST",
            "/services",
            Some(json!({"name": "svc", "url": upstream.url()})),
        ),
        201,
    );
    assert!(is_uuid(&created["id"]), "{created}");
    assert!(created["created_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(created["updated_at"], created["created_at"]);
    assert_eq!(created["host"], "127.0.0.1");
    assert_eq!(created["port"], upstream.port());
    assert_eq!(created["retries"], 5);
    assert_eq!(created["connect_timeout"], 60000);
    let id = created["id"].as_str().unwrap().to_owned();

    // Read by name and by id.
    assert_eq!(
        expect(&gw.admin("GET", "/services/svc", None), 200),
        created
    );
    assert_eq!(
        expect(&gw.admin("GET", &format!("/services/{id}"), None), 200),
        created
    );
    expect(&gw.admin("GET", "/services/nope", None), 404);
    let missing = gw.admin("GET", "/services/nope", None).json();
    assert_eq!(missing, json!({"message": "Not found"}));

    // A nested route, live on the proxy at once.
    let route = expect(
        &gw.admin(
            "POST",
            "/services/svc/routes",
            Some(json!({"name": "r1", "paths": ["/a"]})),
        ),
        201,
    );
    assert_eq!(route["service"], json!({"id": id}));
    assert_eq!(route["strip_path"], true);
    assert_eq!(route["protocols"], json!(["http", "https"]));
    assert!(live(&gw, "/a/x", 200), "route not live within {LIVE:?}");
    assert_eq!(expect(&gw.admin("GET", "/routes/r1", None), 200), route);
    expect(&gw.admin("GET", "/services/svc/routes/r1", None), 200);
    let listed = expect(&gw.admin("GET", "/services/svc/routes", None), 200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["next"], Value::Null);
    assert_eq!(
        expect(&gw.admin("GET", "/routes/r1/service", None), 200)["id"],
        id.as_str()
    );

    // PATCH moves the route; the old path stops matching.
    let patched = expect(
        &gw.admin("PATCH", "/routes/r1", Some(json!({"paths": ["/b"]}))),
        200,
    );
    assert_eq!(patched["id"], route["id"]);
    assert_eq!(patched["created_at"], route["created_at"]);
    assert!(live(&gw, "/b", 200));
    assert_eq!(gw.get("/a", "x").status, 404);

    // PUT creates (201) then replaces (200); a top-level route without service.
    let put = expect(
        &gw.admin(
            "PUT",
            "/services/second",
            Some(json!({"host": "127.0.0.1"})),
        ),
        201,
    );
    assert_eq!(put["name"], "second");
    let put_again = expect(
        &gw.admin(
            "PUT",
            "/services/second",
            Some(json!({"host": "127.0.0.1", "port": 81})),
        ),
        200,
    );
    assert_eq!(put_again["id"], put["id"]);
    assert_eq!(put_again["port"], 81);
    let put_route = expect(
        &gw.admin(
            "PUT",
            "/routes/loose",
            Some(json!({"hosts": ["loose.test"]})),
        ),
        201,
    );
    assert_eq!(put_route["service"], Value::Null);

    // Name conflict: 409 with Kong's shape.
    let conflict = gw.admin(
        "POST",
        "/services",
        Some(json!({"name": "svc", "host": "127.0.0.1"})),
    );
    let conflict = expect(&conflict, 409);
    assert_eq!(conflict["name"], "unique constraint violation");
    assert_eq!(conflict["code"], 5);
    assert_eq!(conflict["fields"], json!({"name": "svc"}));

    // A service that routes still use cannot be deleted.
    let refused = expect(&gw.admin("DELETE", "/services/svc", None), 400);
    assert_eq!(refused["name"], "foreign key violation");
    assert_eq!(refused["fields"], json!({"@referenced_by": "routes"}));
    expect(&gw.admin("DELETE", "/services/svc/routes/r1", None), 204);
    expect(&gw.admin("DELETE", "/services/svc", None), 204);
    expect(&gw.admin("GET", "/services/svc", None), 404);
    assert!(live(&gw, "/b", 404));
    // Kong: deleting nothing at the top level is fine, under a parent it is 404.
    expect(&gw.admin("DELETE", "/services/svc", None), 204);
    expect(
        &gw.admin("DELETE", "/services/second/routes/nope", None),
        404,
    );
    expect(&gw.admin("PATCH", "/routes/nope", Some(json!({}))), 404);
    expect(
        &gw.admin(
            "POST",
            "/services/nope/routes",
            Some(json!({"paths": ["/"]})),
        ),
        404,
    );
    expect(&gw.admin("DELETE", "/services", None), 405);
    // The prometheus exposition is always there (node metrics even without the plugin).
    let metrics = gw.admin("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("kong_nginx_requests_total{"));
    expect(&gw.admin("POST", "/metrics", None), 405);
}

#[test]
fn pagination_and_tags() {
    let gw = Gateway::start(EMPTY, &[]);
    for i in 0..7 {
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!(["odd", "x"])
        };
        expect(
            &gw.admin(
                "POST",
                "/consumers",
                Some(json!({"username": format!("user-{i}"), "tags": tags})),
            ),
            201,
        );
    }
    let mut seen = Vec::new();
    let mut path = "/consumers?size=3".to_owned();
    loop {
        let page = expect(&gw.admin("GET", &path, None), 200);
        for c in page["data"].as_array().unwrap() {
            seen.push(c["username"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => {
                assert!(page["offset"].is_string(), "{page}");
                path = next.to_owned();
            }
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("user-{i}")).collect();
    assert_eq!(seen, expected);
    let all = expect(&gw.admin("GET", "/consumers", None), 200);
    assert_eq!(all["data"].as_array().unwrap().len(), 7);
    let even = expect(&gw.admin("GET", "/consumers?tags=even", None), 200);
    assert_eq!(even["data"].as_array().unwrap().len(), 4);
    let both = expect(&gw.admin("GET", "/consumers?tags=odd,x", None), 200);
    assert_eq!(both["data"].as_array().unwrap().len(), 3);
    let either = expect(&gw.admin("GET", "/consumers?tags=even/odd", None), 200);
    assert_eq!(either["data"].as_array().unwrap().len(), 7);
    for bad in [
        "/consumers?size=0",
        "/consumers?size=1001",
        "/consumers?size=x",
    ] {
        let r = expect(&gw.admin("GET", bad, None), 400);
        assert_eq!(r["name"], "invalid size", "{bad}");
    }
    assert_eq!(
        expect(&gw.admin("GET", "/consumers?offset=zz", None), 400)["name"],
        "invalid offset"
    );
}

#[test]
fn upstreams_targets_and_health() {
    let backend = Upstream::fixed("balanced");
    let gw = Gateway::start(EMPTY, &[]);
    let upstream = expect(
        &gw.admin(
            "POST",
            "/upstreams",
            Some(json!({"name": "backend.internal"})),
        ),
        201,
    );
    assert_eq!(upstream["algorithm"], "round-robin");
    assert_eq!(upstream["slots"], 10000);
    let target = expect(
        &gw.admin(
            "POST",
            "/upstreams/backend.internal/targets",
            Some(json!({"target": backend.addr().to_string()})),
        ),
        201,
    );
    assert_eq!(target["weight"], 100);
    assert_eq!(target["upstream"]["id"], upstream["id"]);
    expect(
        &gw.admin(
            "POST",
            "/services",
            Some(json!({"name": "b", "host": "backend.internal"})),
        ),
        201,
    );
    expect(
        &gw.admin(
            "POST",
            "/services/b/routes",
            Some(json!({"paths": ["/lb"]})),
        ),
        201,
    );
    assert!(live(&gw, "/lb", 200));

    // Health: checks are off by default.
    let health = expect(
        &gw.admin("GET", "/upstreams/backend.internal/health", None),
        200,
    );
    let entry = &health["data"][0];
    assert_eq!(entry["target"], backend.addr().to_string());
    assert_eq!(entry["health"], "HEALTHCHECKS_OFF");
    assert_eq!(entry["data"]["addresses"][0]["port"], backend.port());

    // Manual overrides, by target address and by id.
    let t = backend.addr().to_string();
    expect(
        &gw.admin(
            "POST",
            &format!("/upstreams/backend.internal/targets/{t}/unhealthy"),
            None,
        ),
        204,
    );
    let health = expect(
        &gw.admin("GET", "/upstreams/backend.internal/health", None),
        200,
    );
    assert_eq!(health["data"][0]["health"], "UNHEALTHY");
    assert_eq!(gw.get("/lb", "x").status, 503);
    let tid = target["id"].as_str().unwrap();
    expect(
        &gw.admin(
            "POST",
            &format!("/upstreams/backend.internal/targets/{tid}/healthy"),
            None,
        ),
        204,
    );
    assert_eq!(gw.get("/lb", "x").status, 200);
    expect(
        &gw.admin(
            "POST",
            "/upstreams/backend.internal/targets/10.9.9.9:1/healthy",
            None,
        ),
        404,
    );
    expect(&gw.admin("GET", "/upstreams/nope/health", None), 404);

    // Target CRUD under its upstream.
    let patched = expect(
        &gw.admin(
            "PATCH",
            &format!("/upstreams/backend.internal/targets/{t}"),
            Some(json!({"weight": 5})),
        ),
        200,
    );
    assert_eq!(patched["weight"], 5);
    let dup = gw.admin(
        "POST",
        "/upstreams/backend.internal/targets",
        Some(json!({"target": t})),
    );
    expect(&dup, 409);
    let listed = expect(
        &gw.admin("GET", "/upstreams/backend.internal/targets", None),
        200,
    );
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    // The health state survives the reloads caused by these changes: mark it unhealthy,
    // change something unrelated, it stays unhealthy.
    expect(
        &gw.admin(
            "POST",
            &format!("/upstreams/backend.internal/targets/{t}/unhealthy"),
            None,
        ),
        204,
    );
    expect(
        &gw.admin("PATCH", "/services/b", Some(json!({"retries": 1}))),
        200,
    );
    let health = expect(
        &gw.admin("GET", "/upstreams/backend.internal/health", None),
        200,
    );
    assert_eq!(health["data"][0]["health"], "UNHEALTHY");

    expect(
        &gw.admin(
            "DELETE",
            &format!("/upstreams/backend.internal/targets/{t}"),
            None,
        ),
        204,
    );
    expect(
        &gw.admin(
            "GET",
            &format!("/upstreams/backend.internal/targets/{t}"),
            None,
        ),
        404,
    );
    // Deleting an upstream takes its targets with it.
    expect(
        &gw.admin(
            "POST",
            "/upstreams/backend.internal/targets",
            Some(json!({"target": "127.0.0.1:1"})),
        ),
        201,
    );
    expect(
        &gw.admin("DELETE", "/upstreams/backend.internal", None),
        204,
    );
    expect(&gw.admin("GET", "/upstreams/backend.internal", None), 404);
    let config = gw.admin("GET", "/config", None).text();
    assert!(!config.contains("targets:"), "{config}");
}

#[test]
fn consumers_credentials_and_plugins() {
    let upstream = Upstream::fixed("ok");
    let gw = Gateway::start(&service_yaml(&upstream, "svc", "/svc"), &[]);
    let consumer = expect(
        &gw.admin("POST", "/consumers", Some(json!({"username": "alice"}))),
        201,
    );
    let cid = consumer["id"].as_str().unwrap().to_owned();
    let key = expect(
        &gw.admin(
            "POST",
            "/consumers/alice/key-auth",
            Some(json!({"key": "k-1"})),
        ),
        201,
    );
    assert_eq!(key["consumer"], json!({"id": cid}));
    expect(
        &gw.admin(
            "POST",
            "/consumers/alice/basic-auth",
            Some(json!({"username": "alice", "password": "pw"})),
        ),
        201,
    );
    expect(
        &gw.admin(
            "POST",
            "/consumers/alice/acls",
            Some(json!({"group": "admins"})),
        ),
        201,
    );
    expect(
        &gw.admin(
            "POST",
            "/consumers/alice/acls",
            Some(json!({"group": "admins"})),
        ),
        409,
    );
    expect(&gw.admin("GET", "/consumers/alice/acls/admins", None), 200);
    expect(&gw.admin("GET", "/consumers/alice/key-auth/k-1", None), 200);
    let keys = expect(&gw.admin("GET", "/key-auths", None), 200);
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
    let custom = expect(
        &gw.admin("POST", "/consumers", Some(json!({"custom_id": "ext-42"}))),
        201,
    );
    let found = expect(&gw.admin("GET", "/consumers?custom_id=ext-42", None), 200);
    assert_eq!(found["data"], json!([custom]));
    // Keys are unique across consumers.
    expect(
        &gw.admin("POST", "/consumers", Some(json!({"username": "bob"}))),
        201,
    );
    expect(
        &gw.admin(
            "POST",
            "/consumers/bob/key-auth",
            Some(json!({"key": "k-1"})),
        ),
        409,
    );
    // A credential under the wrong consumer is not found.
    expect(&gw.admin("GET", "/consumers/bob/key-auth/k-1", None), 404);

    // A plugin this build does not have is refused, with the reason on the field.
    let refused = expect(
        &gw.admin(
            "POST",
            "/services/svc/plugins",
            Some(json!({"name": "jwt"})),
        ),
        400,
    );
    assert_eq!(refused["name"], "schema violation");
    assert!(
        refused["fields"]["name"]
            .as_str()
            .is_some_and(|m| m.contains("not available")),
        "{refused}"
    );
    // Disabled ones can be stored, at every scope.
    let plugin = expect(
        &gw.admin(
            "POST",
            "/services/svc/plugins",
            Some(
                json!({"name": "key-auth", "enabled": false, "config": {"key_names": ["apikey"]}}),
            ),
        ),
        201,
    );
    let service_id = expect(&gw.admin("GET", "/services/svc", None), 200)["id"].clone();
    assert_eq!(plugin["service"]["id"], service_id);
    assert_eq!(
        plugin["protocols"],
        json!(["grpc", "grpcs", "http", "https"])
    );
    let pid = plugin["id"].as_str().unwrap().to_owned();
    expect(
        &gw.admin(
            "POST",
            "/routes/svc-route/plugins",
            Some(json!({"name": "cors", "enabled": false})),
        ),
        201,
    );
    expect(
        &gw.admin(
            "POST",
            "/consumers/alice/plugins",
            Some(json!({"name": "rate-limiting", "enabled": false, "config": {"minute": 5}})),
        ),
        201,
    );
    expect(
        &gw.admin(
            "POST",
            "/plugins",
            Some(json!({"name": "cors", "enabled": false})),
        ),
        201,
    );
    // Same name and scope twice: 409.
    expect(
        &gw.admin(
            "POST",
            "/plugins",
            Some(json!({"name": "cors", "enabled": false})),
        ),
        409,
    );
    let all = expect(&gw.admin("GET", "/plugins", None), 200);
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    let scoped = expect(&gw.admin("GET", "/services/svc/plugins", None), 200);
    assert_eq!(scoped["data"].as_array().unwrap().len(), 1);
    // PATCH merges into config.
    let patched = expect(
        &gw.admin(
            "PATCH",
            &format!("/plugins/{pid}"),
            Some(json!({"config": {"hide_credentials": true}})),
        ),
        200,
    );
    assert_eq!(
        patched["config"],
        json!({"key_names": ["apikey"], "hide_credentials": true})
    );
    // A bad config value is refused and leaves the plugin as it was.
    expect(
        &gw.admin(
            "PATCH",
            &format!("/plugins/{pid}"),
            Some(json!({"enabled": true, "config": {"key_names": "not-a-list"}})),
        ),
        400,
    );
    assert_eq!(
        expect(&gw.admin("GET", &format!("/plugins/{pid}"), None), 200)["enabled"],
        false
    );
    // Enabling it works now that the plugin runtime exists.
    let enabled = expect(
        &gw.admin(
            "PATCH",
            &format!("/plugins/{pid}"),
            Some(json!({"enabled": true})),
        ),
        200,
    );
    assert_eq!(enabled["enabled"], true);
    expect(&gw.admin("GET", "/plugins/not-a-uuid", None), 400);
    expect(
        &gw.admin("GET", &format!("/plugins/{pid}/service"), None),
        200,
    );

    // Deleting a consumer takes its credentials and plugins along.
    expect(&gw.admin("DELETE", "/consumers/alice", None), 204);
    let keys = expect(&gw.admin("GET", "/key-auths", None), 200);
    assert_eq!(keys["data"], json!([]));
    let all = expect(&gw.admin("GET", "/plugins", None), 200);
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    // The key-auth plugin enabled above now guards the service, and alice's key is gone.
    let guarded = gw.get("/svc", "x");
    assert_eq!(guarded.status, 401, "{}", guarded.head);
    assert_eq!(guarded.json()["message"], "No API key found in request");
}

#[test]
fn form_bodies_like_kong_tutorials() {
    let upstream = Upstream::fixed("form");
    let gw = Gateway::start(EMPTY, &[]);
    let url = upstream.url().replace(':', "%3A").replace('/', "%2F");
    let form = format!("name=example-service&url={url}&retries=2");
    let created = gw.admin_raw(
        "POST",
        "/services",
        &[],
        Some(("application/x-www-form-urlencoded", form.as_bytes())),
    );
    let created = expect(&created, 201);
    assert_eq!(created["retries"], 2);
    let route = gw.admin_raw(
        "POST",
        "/services/example-service/routes",
        &[],
        Some((
            "application/x-www-form-urlencoded",
            b"paths[]=/mock&strip_path=false",
        )),
    );
    let route = expect(&route, 201);
    assert_eq!(route["paths"], json!(["/mock"]));
    assert_eq!(route["strip_path"], false);
    assert!(live(&gw, "/mock", 200));
    let bad = gw.admin_raw(
        "POST",
        "/services",
        &[],
        Some(("application/json", b"{not json")),
    );
    assert_eq!(expect(&bad, 400)["message"], "Cannot parse JSON body");
}

#[test]
fn admin_token_is_required_when_set() {
    let gw = Gateway::start(EMPTY, &["--admin-token", "s3cret-t0ken"]);
    let denied = gw.admin("GET", "/status", None);
    assert_eq!(denied.status, 401, "{}", denied.head);
    assert!(denied.header("www-authenticate").is_some());
    for headers in [
        [("Kong-Admin-Token", "wrong")],
        [("Authorization", "Bearer s3cret-t0ke")],
    ] {
        assert_eq!(gw.admin_raw("GET", "/services", &headers, None).status, 401);
    }
    let denied_write = gw.admin_raw(
        "POST",
        "/services",
        &[],
        Some(("application/json", br#"{"host":"127.0.0.1"}"#)),
    );
    assert_eq!(denied_write.status, 401);
    // Refused before the body is read, and the answer still arrives whole.
    let big = vec![b' '; 512 * 1024];
    let denied_big = gw.admin_raw("POST", "/config", &[], Some(("text/yaml", &big)));
    assert_eq!(denied_big.status, 401, "{}", denied_big.head);
    for headers in [
        [("Kong-Admin-Token", "s3cret-t0ken")],
        [("Authorization", "Bearer s3cret-t0ken")],
    ] {
        assert_eq!(gw.admin_raw("GET", "/status", &headers, None).status, 200);
    }
    let created = gw.admin_raw(
        "POST",
        "/services",
        &[("Kong-Admin-Token", "s3cret-t0ken")],
        Some(("application/json", br#"{"host":"127.0.0.1"}"#)),
    );
    assert_eq!(created.status, 201, "{}", created.text());
}
