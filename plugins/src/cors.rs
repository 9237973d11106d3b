//! cors (priority 2000): preflight answers in access, response headers in header filter.

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, PluginCtx, RequestView, ResponseView};
use crate::util::{is_safe_value, is_token};
use regex::Regex;

const DEFAULT_METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

enum Origin {
    /// Normalised `scheme://host[:port]`.
    Exact(String),
    Regex(Regex),
    /// A `*` among other origins.
    Any,
}

pub(crate) struct Cors {
    /// Empty = allow all (`*`).
    origins: Vec<Origin>,
    allow_all: bool,
    headers: Option<String>,
    exposed_headers: Option<String>,
    methods: String,
    max_age: Option<String>,
    credentials: bool,
    preflight_continue: bool,
    private_network: bool,
    allow_origin_absent: bool,
}

/// Lowercase, default ports dropped, trailing slash dropped (Kong's `normalize_origin`).
fn normalize_origin(o: &str) -> String {
    let mut s = o.trim().trim_end_matches('/').to_ascii_lowercase();
    if let Some(rest) = s.strip_prefix("http://") {
        if let Some(h) = rest.strip_suffix(":80") {
            s = format!("http://{h}");
        }
    } else if let Some(rest) = s.strip_prefix("https://") {
        if let Some(h) = rest.strip_suffix(":443") {
            s = format!("https://{h}");
        }
    }
    s
}

fn header_list(c: &mut Conf<'_>, field: &'static str) -> Option<String> {
    let list = c.opt_str_list(field)?;
    if list.is_empty() {
        return None;
    }
    if list.iter().any(|h| !is_safe_value(h)) {
        c.err(field, "values must not contain CR, LF or NUL");
    }
    Some(list.join(","))
}

impl Cors {
    pub fn compile(c: &mut Conf<'_>) -> Option<Cors> {
        let list = c.opt_str_list("origins").unwrap_or_default();
        let allow_all = list.is_empty() || (list.len() == 1 && list[0] == "*");
        let mut origins = Vec::new();
        if !allow_all {
            for (i, o) in list.iter().enumerate() {
                let is_regex = o.bytes().any(|b| {
                    !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'-'))
                });
                if o == "*" {
                    origins.push(Origin::Any);
                } else if is_regex {
                    match Regex::new(&format!("^(?:{o})$")) {
                        Ok(r) => origins.push(Origin::Regex(r)),
                        Err(e) => c.err(&format!("origins[{i}]"), format!("invalid regex: {e}")),
                    }
                } else {
                    origins.push(Origin::Exact(normalize_origin(o)));
                }
            }
        }
        let headers = header_list(c, "headers");
        let exposed_headers = header_list(c, "exposed_headers");
        let methods = c.str_list_or("methods", DEFAULT_METHODS);
        for (i, m) in methods.iter().enumerate() {
            if !is_token(m) {
                c.err(
                    &format!("methods[{i}]"),
                    format!("'{m}' is not a valid method"),
                );
            }
        }
        let max_age = c.opt_num("max_age").map(|n| format!("{}", n as i64));
        let credentials = c.bool_or("credentials", false);
        let preflight_continue = c.bool_or("preflight_continue", false);
        let private_network = c.bool_or("private_network", false);
        let allow_origin_absent = c.bool_or("allow_origin_absent", true);
        Some(Cors {
            origins,
            allow_all,
            headers,
            exposed_headers,
            methods: methods.join(","),
            max_age,
            credentials,
            preflight_continue,
            private_network,
            allow_origin_absent,
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let norm = normalize_origin(origin);
        self.origins.iter().any(|o| match o {
            Origin::Exact(e) => *e == norm,
            Origin::Regex(r) => r.is_match(&norm) || r.is_match(origin),
            Origin::Any => true,
        })
    }

    /// Kong's `configure_origin` + `configure_credentials`; pushes into `out`.
    fn origin_headers(
        &self,
        origin: Option<&str>,
        vary: &mut bool,
        out: &mut Vec<(&'static str, String)>,
    ) {
        if self.allow_all {
            match (self.credentials, origin) {
                (true, Some(o)) => {
                    *vary = true;
                    out.push(("Access-Control-Allow-Origin", o.to_string()));
                    out.push(("Access-Control-Allow-Credentials", "true".into()));
                }
                _ => out.push(("Access-Control-Allow-Origin", "*".into())),
            }
            return;
        }
        *vary = true;
        if let Some(o) = origin {
            if self.origin_allowed(o) {
                out.push(("Access-Control-Allow-Origin", o.to_string()));
            }
        }
        if self.credentials {
            out.push(("Access-Control-Allow-Credentials", "true".into()));
        }
    }

    pub fn access(&self, req: &dyn RequestView, ctx: &mut PluginCtx) -> Access {
        let origin = req
            .header("origin")
            .map(|o| String::from_utf8_lossy(o).into_owned());
        let preflight = req.method() == b"OPTIONS"
            && origin.is_some()
            && req.header("access-control-request-method").is_some();
        if !preflight {
            ctx.origin = origin;
            return Access::Continue;
        }
        ctx.cors_preflight = true;
        if self.preflight_continue {
            return Access::Continue;
        }
        let mut resp = LocalResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
            content_type: String::new(),
        };
        let mut vary = false;
        let mut out = Vec::new();
        self.origin_headers(origin.as_deref(), &mut vary, &mut out);
        match &self.headers {
            Some(h) => out.push(("Access-Control-Allow-Headers", h.clone())),
            None => {
                if let Some(h) = req.header("access-control-request-headers") {
                    let h = String::from_utf8_lossy(h).into_owned();
                    if is_safe_value(&h) {
                        out.push(("Access-Control-Allow-Headers", h));
                    }
                }
            }
        }
        out.push(("Access-Control-Allow-Methods", self.methods.clone()));
        if let Some(m) = &self.max_age {
            out.push(("Access-Control-Max-Age", m.clone()));
        }
        if self.private_network
            && req.header("access-control-request-private-network") == Some(b"true".as_slice())
        {
            out.push(("Access-Control-Allow-Private-Network", "true".into()));
        }
        if vary {
            resp.headers.push(("Vary".into(), "Origin".into()));
        }
        resp.headers
            .extend(out.into_iter().map(|(n, v)| (n.to_string(), v)));
        Access::Respond(resp)
    }

    pub fn header_filter(&self, resp: &dyn ResponseView, ctx: &mut PluginCtx) {
        if ctx.cors_preflight {
            return;
        }
        if !self.allow_origin_absent && ctx.origin.is_none() {
            return;
        }
        let mut vary = false;
        let mut out = Vec::new();
        let origin = ctx.origin.take();
        self.origin_headers(origin.as_deref(), &mut vary, &mut out);
        ctx.origin = origin;
        if let Some(e) = &self.exposed_headers {
            out.push(("Access-Control-Expose-Headers", e.clone()));
        }
        for (n, v) in out {
            ctx.response.set_header(n, v);
        }
        if vary {
            let has = resp.header("vary").is_some_and(|v| {
                v.split(|&b| b == b',')
                    .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"origin"))
            });
            if !has {
                ctx.response.append_header("Vary", "Origin");
            }
        }
    }
}
