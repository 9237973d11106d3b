//! request-termination (priority 2).

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, RequestView};
use crate::util::{is_safe_value, parse_query};

pub(crate) struct RequestTermination {
    response: LocalResponse,
    /// Header name (lowercase) or query parameter that must be present for the plugin to act.
    trigger: Option<String>,
}

/// The handler's `DEFAULT_RESPONSE` messages.
fn default_message(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "Unauthorized",
        404 => "Not found",
        405 => "Method not allowed",
        500 => "An unexpected error occurred",
        502 => "Bad Gateway",
        503 => "Service unavailable",
        _ => return None,
    })
}

impl RequestTermination {
    pub fn compile(c: &mut Conf<'_>) -> Option<RequestTermination> {
        let status = c.opt_int("status_code", 100, 599).unwrap_or(503) as u16;
        let message = c.opt_str("message");
        let body = c.opt_str("body");
        let content_type = c.opt_str("content_type");
        let trigger = c.opt_str("trigger");
        if c.bool_or("echo", false) {
            c.err("echo", "echo is not supported yet");
        }
        if message.is_some() && (body.is_some() || content_type.is_some()) {
            c.err(
                "message",
                "message cannot be used with content_type or body",
            );
        }
        if content_type.is_some() && body.is_none() {
            c.err("content_type", "content_type requires a body");
        }
        if let Some(ct) = &content_type {
            if !is_safe_value(ct) {
                c.err("content_type", "must not contain CR, LF or NUL");
            }
        }
        let response = match body {
            Some(b) => LocalResponse {
                status,
                headers: Vec::new(),
                body: b.into_bytes(),
                content_type: content_type
                    .unwrap_or_else(|| "application/json; charset=utf-8".into()),
            },
            None => match message.as_deref().or(default_message(status)) {
                Some(m) => LocalResponse::message(status, m),
                None => LocalResponse {
                    status,
                    headers: Vec::new(),
                    body: b"{}".to_vec(),
                    content_type: crate::JSON_CONTENT_TYPE.into(),
                },
            },
        };
        Some(RequestTermination { response, trigger })
    }

    pub fn access(&self, req: &dyn RequestView) -> Access {
        if let Some(t) = &self.trigger {
            let in_header = req.header(&t.to_ascii_lowercase()).is_some();
            let in_query = !in_header
                && req
                    .raw_query()
                    .is_some_and(|q| parse_query(q).iter().any(|p| p.name == *t));
            if !in_header && !in_query {
                return Access::Continue;
            }
        }
        Access::Respond(self.response.clone())
    }
}
