//! Which handler answers which admin path, and the admin token check in front of them all.

use super::entities::{self, Scope};
use super::http::{Reply, Request};
use super::{config_api, health, metrics, Ctx};
use crate::config::document::Kind;

/// Top-level collection names (Kong's `admin_api_name`).
fn top_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "services" => Kind::Service,
        "routes" => Kind::Route,
        "upstreams" => Kind::Upstream,
        "consumers" => Kind::Consumer,
        "plugins" => Kind::Plugin,
        "key-auths" => Kind::KeyAuth,
        "basic-auths" => Kind::BasicAuth,
        "acls" => Kind::Acl,
        _ => return None,
    })
}

/// Nested collections (Kong's `admin_api_nested_name`) and the field naming the parent.
fn nested_kind(parent: Kind, name: &str) -> Option<(Kind, &'static str)> {
    Some(match (parent, name) {
        (Kind::Service, "routes") => (Kind::Route, "service"),
        (Kind::Service, "plugins") => (Kind::Plugin, "service"),
        (Kind::Route, "plugins") => (Kind::Plugin, "route"),
        (Kind::Consumer, "plugins") => (Kind::Plugin, "consumer"),
        (Kind::Upstream, "targets") => (Kind::Target, "upstream"),
        (Kind::Consumer, "key-auth") => (Kind::KeyAuth, "consumer"),
        (Kind::Consumer, "basic-auth") => (Kind::BasicAuth, "consumer"),
        (Kind::Consumer, "acls") => (Kind::Acl, "consumer"),
        _ => return None,
    })
}

/// Constant-time equality: the time taken depends only on the expected token's length.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ e;
    }
    std::hint::black_box(diff) == 0
}

/// `Kong-Admin-Token: <token>` or `Authorization: Bearer <token>`.
pub fn authorized(token: Option<&str>, req: &Request) -> bool {
    let Some(expected) = token else {
        return true;
    };
    let bearer = req.header("authorization").and_then(|v| {
        let v = v.trim();
        v.get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .and_then(|_| v.get(7..))
            .map(str::trim)
    });
    [req.header("kong-admin-token"), bearer]
        .into_iter()
        .flatten()
        .any(|given| same_token(given.as_bytes(), expected.as_bytes()))
}

pub fn unauthorized() -> Reply {
    Reply::message(401, "Unauthorized: a valid admin token is required").with_header(
        "WWW-Authenticate",
        "Bearer realm=\"sluice-admin\"".to_owned(),
    )
}

pub fn handle(ctx: &Ctx, req: &Request) -> Reply {
    if !authorized(ctx.token.as_deref(), req) {
        return unauthorized();
    }
    let segments = req.segments();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let reply = match s.as_slice() {
        [] => Some(config_api::root(ctx, req)),
        ["status"] => Some(config_api::status(ctx, req)),
        ["metrics"] => Some(metrics::metrics(ctx, req)),
        ["config"] => Some(config_api::config(ctx, req)),
        ["upstreams", u, "health"] => Some(health::upstream_health(ctx, req, u)),
        ["upstreams", u, "targets", t, action @ ("healthy" | "unhealthy")] => {
            Some(health::set_health(ctx, req, u, t, *action == "healthy"))
        }
        [top] => top_kind(top).map(|kind| entities::collection(ctx, req, kind, None)),
        [top, key] => top_kind(top).map(|kind| entities::entity(ctx, req, kind, None, key)),
        [top, key, nested] => top_kind(top).and_then(|parent| match nested_kind(parent, nested) {
            Some((kind, field)) => {
                let scope = Scope {
                    parent,
                    key: (*key).to_owned(),
                    field,
                };
                Some(entities::collection(ctx, req, kind, Some(scope)))
            }
            None => entities::foreign(ctx, req, parent, key, nested),
        }),
        [top, key, nested, child] => top_kind(top).and_then(|parent| {
            let (kind, field) = nested_kind(parent, nested)?;
            let scope = Scope {
                parent,
                key: (*key).to_owned(),
                field,
            };
            Some(entities::entity(ctx, req, kind, Some(scope), child))
        }),
        _ => None,
    };
    reply.unwrap_or_else(Reply::not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            ..Request::default()
        }
    }

    #[test]
    fn token_check() {
        assert!(authorized(None, &request(&[])));
        assert!(!authorized(Some("s3cret"), &request(&[])));
        assert!(authorized(
            Some("s3cret"),
            &request(&[("kong-admin-token", "s3cret")])
        ));
        assert!(authorized(
            Some("s3cret"),
            &request(&[("authorization", "Bearer s3cret")])
        ));
        assert!(authorized(
            Some("s3cret"),
            &request(&[("authorization", "bearer  s3cret ")])
        ));
        for wrong in ["s3cre", "s3cret!", "S3cret", ""] {
            assert!(!authorized(
                Some("s3cret"),
                &request(&[("kong-admin-token", wrong)])
            ));
        }
        assert!(!authorized(
            Some("s3cret"),
            &request(&[("authorization", "Basic s3cret")])
        ));
    }
}
