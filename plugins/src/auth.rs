//! key-auth (priority 1250) and basic-auth (1100), plus Kong's `set_consumer` headers.

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, PluginCtx, RequestView};
use crate::util::{base64_decode, ct_eq, join_query, parse_query};
use crate::Consumers;
use std::hash::BuildHasher;

/// Kong's `set_consumer`: authenticate and tell the upstream who it is.
pub(crate) fn set_consumer(
    ctx: &mut PluginCtx,
    consumers: &Consumers,
    consumer: usize,
    credential: Option<&str>,
) {
    ctx.consumer = Some(consumer);
    ctx.credential_id = credential.map(str::to_string);
    ctx.has_credential = credential.is_some();
    let c = &consumers.list[consumer];
    let h = &mut ctx.request;
    h.set_header("X-Consumer-ID", c.id.clone());
    match &c.custom_id {
        Some(v) => h.set_header("X-Consumer-Custom-ID", v.clone()),
        None => h.clear_header("x-consumer-custom-id"),
    }
    match &c.username {
        Some(v) => h.set_header("X-Consumer-Username", v.clone()),
        None => h.clear_header("x-consumer-username"),
    }
    match credential {
        Some(id) => {
            h.set_header("X-Credential-Identifier", id.to_string());
            h.clear_header("x-anonymous-consumer");
        }
        None => {
            h.clear_header("x-credential-identifier");
            h.set_header("X-Anonymous-Consumer", "true");
        }
    }
}

/// Kong's flow shared by the auth plugins: with `anonymous` set, a request another auth plugin
/// already authenticated passes (logical OR between auth plugins), and a failed one proceeds
/// as the anonymous consumer; without it, the failure is the answer.
fn authenticate_or_anonymous(
    anonymous: Option<usize>,
    ctx: &mut PluginCtx,
    consumers: &Consumers,
    authenticate: impl FnOnce(&mut PluginCtx) -> Result<(), LocalResponse>,
) -> Access {
    if anonymous.is_some() && ctx.has_credential {
        return Access::Continue;
    }
    match (authenticate(ctx), anonymous) {
        (Ok(()), _) => Access::Continue,
        (Err(_), Some(a)) => {
            set_consumer(ctx, consumers, a, None);
            Access::Continue
        }
        (Err(resp), None) => Access::Respond(resp),
    }
}

fn compile_anonymous(c: &mut Conf<'_>, consumers: &Consumers) -> Option<Option<usize>> {
    match c.opt_str("anonymous") {
        None => Some(None),
        Some(a) if a.is_empty() => Some(None),
        Some(a) => match consumers.find(&a) {
            Some(i) => Some(Some(i)),
            None => {
                c.err(
                    "anonymous",
                    format!("no consumer with id or username '{a}'"),
                );
                None
            }
        },
    }
}

pub(crate) struct KeyAuth {
    key_names: Vec<String>,
    /// `key_names` lowercased once, for header lookups.
    key_names_lower: Vec<String>,
    key_in_header: bool,
    key_in_query: bool,
    hide_credentials: bool,
    anonymous: Option<usize>,
    run_on_preflight: bool,
    www_authenticate: String,
}

impl KeyAuth {
    pub fn compile(c: &mut Conf<'_>, consumers: &Consumers) -> Option<KeyAuth> {
        let key_names = c.str_list_or("key_names", &["apikey"]);
        if key_names.is_empty() {
            c.err("key_names", "length must be at least 1");
        }
        for n in &key_names {
            if !crate::util::is_token(n) {
                c.err("key_names", format!("'{n}' is not a valid header name"));
            }
        }
        let key_in_header = c.bool_or("key_in_header", true);
        let key_in_query = c.bool_or("key_in_query", true);
        if c.bool_or("key_in_body", false) {
            c.err(
                "key_in_body",
                "key_in_body is not supported yet (request bodies are streamed)",
            );
        }
        let hide_credentials = c.bool_or("hide_credentials", false);
        let run_on_preflight = c.bool_or("run_on_preflight", true);
        let realm = c.opt_str("realm");
        let anonymous = compile_anonymous(c, consumers)?;
        let www_authenticate = format!("Key realm=\"{}\"", realm.as_deref().unwrap_or("kong"));
        if !crate::util::is_safe_value(&www_authenticate) {
            c.err("realm", "must not contain CR, LF or NUL");
        }
        Some(KeyAuth {
            key_names_lower: key_names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            key_names,
            key_in_header,
            key_in_query,
            hide_credentials,
            anonymous,
            run_on_preflight,
            www_authenticate,
        })
    }

    pub fn access(
        &self,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        consumers: &Consumers,
    ) -> Access {
        if !self.run_on_preflight && req.method() == b"OPTIONS" {
            return Access::Continue;
        }
        authenticate_or_anonymous(self.anonymous, ctx, consumers, |ctx| {
            self.authenticate(req, ctx, consumers)
        })
    }

    fn authenticate(
        &self,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        consumers: &Consumers,
    ) -> Result<(), LocalResponse> {
        let query = if self.key_in_query {
            req.raw_query().map(parse_query)
        } else {
            None
        };
        let mut key: Option<String> = None;
        for (name, lower) in self.key_names.iter().zip(&self.key_names_lower) {
            if self.key_in_header {
                let mut count = 0;
                req.for_each_header(&mut |n, v| {
                    if n.eq_ignore_ascii_case(lower.as_bytes()) {
                        count += 1;
                        if count == 1 {
                            key = Some(String::from_utf8_lossy(v).into_owned());
                        }
                    }
                });
                if count > 1 {
                    return Err(self.unauthorized("Duplicate API key found"));
                }
            }
            if key.is_none() {
                if let Some(q) = &query {
                    let mut found = q.iter().filter(|p| p.name == *name);
                    if let Some(p) = found.next() {
                        if found.next().is_some() {
                            return Err(self.unauthorized("Duplicate API key found"));
                        }
                        key = Some(p.value.clone().unwrap_or_default());
                    }
                }
            }
            if key.is_some() {
                if self.hide_credentials {
                    ctx.request.clear_header(name.clone());
                    if let Some(q) = &query {
                        if q.iter().any(|p| p.name == *name) {
                            let base = match &ctx.new_query {
                                Some(nq) => parse_query(nq.as_bytes()),
                                None => q.clone(),
                            };
                            let kept: Vec<_> =
                                base.into_iter().filter(|p| p.name != *name).collect();
                            ctx.new_query = Some(join_query(&kept));
                        }
                    }
                }
                break;
            }
        }
        let key = match key {
            Some(k) if !k.is_empty() => k,
            _ => return Err(self.unauthorized("No API key found in request")),
        };
        let hash = consumers.hasher.hash_one(key.as_bytes());
        let mut found = None;
        if let Some(cands) = consumers.keys.get(&hash) {
            for &(ci, ki) in cands {
                if ct_eq(
                    consumers.list[ci].keyauth[ki].key.as_bytes(),
                    key.as_bytes(),
                ) {
                    found = Some((ci, ki));
                }
            }
        }
        match found {
            Some((ci, ki)) => {
                let id = consumers.list[ci].keyauth[ki].id.clone();
                set_consumer(ctx, consumers, ci, Some(&id));
                Ok(())
            }
            None => Err(self.unauthorized("Invalid authentication credentials")),
        }
    }

    fn unauthorized(&self, message: &str) -> LocalResponse {
        LocalResponse::message(401, message)
            .with_header("WWW-Authenticate", self.www_authenticate.clone())
    }
}

pub(crate) struct BasicAuth {
    hide_credentials: bool,
    anonymous: Option<usize>,
    www_authenticate: String,
}

impl BasicAuth {
    pub fn compile(c: &mut Conf<'_>, consumers: &Consumers) -> Option<BasicAuth> {
        let hide_credentials = c.bool_or("hide_credentials", false);
        let realm = c.str_or("realm", "service");
        if !crate::util::is_safe_value(&realm) || realm.contains('"') {
            c.err("realm", "must not contain quotes, CR, LF or NUL");
        }
        let anonymous = compile_anonymous(c, consumers)?;
        Some(BasicAuth {
            hide_credentials,
            anonymous,
            www_authenticate: format!("Basic realm=\"{realm}\""),
        })
    }

    pub fn access(
        &self,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        consumers: &Consumers,
    ) -> Access {
        authenticate_or_anonymous(self.anonymous, ctx, consumers, |ctx| {
            self.authenticate(req, ctx, consumers)
        })
    }

    fn authenticate(
        &self,
        req: &dyn RequestView,
        ctx: &mut PluginCtx,
        consumers: &Consumers,
    ) -> Result<(), LocalResponse> {
        let authz = req.header("authorization");
        let proxy = req.header("proxy-authorization");
        if authz.is_none() && proxy.is_none() {
            return Err(self.unauthorized("Unauthorized"));
        }
        let mut found = None;
        for (name, value) in [("proxy-authorization", proxy), ("authorization", authz)] {
            let Some(value) = value else { continue };
            let creds = parse_basic(value);
            if self.hide_credentials {
                ctx.request.clear_header(name);
            }
            if found.is_some() {
                continue;
            }
            if let Some((user, pass)) = creds {
                found = self.lookup(consumers, &user, &pass);
            }
        }
        match found {
            Some((ci, bi)) => {
                let id = consumers.list[ci].basicauth[bi].id.clone();
                set_consumer(ctx, consumers, ci, Some(&id));
                Ok(())
            }
            None => Err(self.unauthorized("Invalid authentication credentials")),
        }
    }

    fn lookup(&self, consumers: &Consumers, user: &[u8], pass: &[u8]) -> Option<(usize, usize)> {
        let cands = consumers.basic.get(&consumers.hasher.hash_one(user))?;
        let mut found = None;
        for &(ci, bi) in cands {
            let cred = &consumers.list[ci].basicauth[bi];
            let user_ok = ct_eq(cred.username.as_bytes(), user);
            let pass_ok = password_ok(&cred.password, &consumers.list[ci].id, pass);
            if user_ok & pass_ok {
                found = Some((ci, bi));
            }
        }
        found
    }

    fn unauthorized(&self, message: &str) -> LocalResponse {
        LocalResponse::message(401, message)
            .with_header("WWW-Authenticate", self.www_authenticate.clone())
    }
}

/// `\s*[Bb]asic\s*(.+)` then base64, then `([^:]+):(.*)`, as Kong's basic-auth.
fn parse_basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let v = value.trim_ascii();
    if v.len() < 5 || !v[..5].eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let encoded = v[5..].trim_ascii();
    let decoded = base64_decode(encoded)?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    if colon == 0 {
        return None;
    }
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// The stored password is either plain text (declarative config with `_transform: true`) or
/// Kong's digest `sha1(password .. consumer_id)` in lowercase hex. Both forms are checked, in
/// constant time; accepting the digest form for a plain password that happens to look like one
/// would need a SHA-1 preimage.
fn password_ok(stored: &str, consumer_id: &str, given: &[u8]) -> bool {
    let plain = ct_eq(stored.as_bytes(), given);
    let looks_hashed = stored.len() == 40
        && stored
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let mut salted = given.to_vec();
    salted.extend_from_slice(consumer_id.as_bytes());
    let digest = crate::util::hex(&crate::util::sha1(&salted));
    let hashed = looks_hashed & ct_eq(stored.as_bytes(), digest.as_bytes());
    plain | hashed
}
