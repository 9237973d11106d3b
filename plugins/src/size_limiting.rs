//! request-size-limiting (priority 951).

use crate::conf::Conf;
use crate::ctx::{Access, LocalResponse, PluginCtx, RequestView};

pub(crate) struct SizeLimiting {
    allowed_bytes: u64,
    require_content_length: bool,
}

impl SizeLimiting {
    pub fn compile(c: &mut Conf<'_>) -> Option<SizeLimiting> {
        let size = c
            .opt_int("allowed_payload_size", 0, i64::MAX / 1024 / 1024)
            .unwrap_or(128) as u64;
        let unit = c.one_of(
            "size_unit",
            "megabytes",
            &["megabytes", "kilobytes", "bytes"],
        );
        let require_content_length = c.bool_or("require_content_length", false);
        let allowed_bytes = match unit.as_str() {
            "megabytes" => size * 1024 * 1024,
            "kilobytes" => size * 1024,
            _ => size,
        };
        Some(SizeLimiting {
            allowed_bytes,
            require_content_length,
        })
    }

    pub fn access(&self, req: &dyn RequestView, ctx: &mut PluginCtx) -> Access {
        match req.content_length() {
            Some(len) => {
                if len > self.allowed_bytes {
                    return Access::Respond(exceeded(req));
                }
            }
            None => {
                if self.require_content_length {
                    return Access::Respond(LocalResponse::message(
                        411,
                        "A valid Content-Length header is required",
                    ));
                }
                if req.is_chunked() {
                    ctx.max_body = Some(
                        ctx.max_body
                            .map_or(self.allowed_bytes, |m| m.min(self.allowed_bytes)),
                    );
                }
            }
        }
        Access::Continue
    }
}

/// 413, or 417 when the client waits for `100 Continue` (Kong's `check_size`).
fn exceeded(req: &dyn RequestView) -> LocalResponse {
    let expect = req
        .header("expect")
        .map(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
    let status = if expect == Some(true) { 417 } else { 413 };
    LocalResponse::message(status, "Request size limit exceeded")
}
