//! The path sent upstream: Kong's `path_handling = v0` (`get_upstream_uri` in
//! `kong/router/utils.lua`, with `sanitize_uri_postfix`).

/// Joins the service path and the request path remainder after strip, as Kong's path_handling
/// v0 does, into `out` (cleared first).
///
/// * `service_path`: the service's `path`; `None` means `/`.
/// * `request_path`: the normalised request path (the one given to the router).
/// * `strip_len`: [`crate::RouteMatch::strip_len`]; `0` means the route does not strip (Kong's
///   `strip_path = false` branch).
///
/// With stripping, the rest of the path after the matched prefix (the "postfix") has a leading
/// `.`/`..`/`./`/`../` removed (Kong's `sanitize_uri_postfix`) and is joined to the service path
/// with exactly one `/` between them; a trailing `/` on the request is kept when the postfix is
/// empty. Without stripping, the service path is prefixed to the request path, with no double
/// slash. The table test `upstream_path_v0_table` lists every branch.
pub fn upstream_path(
    service_path: Option<&str>,
    request_path: &str,
    strip_len: usize,
    out: &mut String,
) {
    out.clear();
    let base = service_path.filter(|s| !s.is_empty()).unwrap_or("/");
    let strip = strip_len > 0;
    let postfix = if strip {
        sanitize_postfix(request_path.get(strip_len..).unwrap_or(""))
    } else {
        ""
    };
    let req_ends_with_slash = request_path.ends_with('/');
    if let Some(trimmed) = base.strip_suffix('/') {
        if strip {
            if postfix.is_empty() {
                if base == "/" {
                    out.push('/');
                } else if req_ends_with_slash {
                    out.push_str(base);
                } else {
                    out.push_str(trimmed);
                }
            } else if postfix.starts_with('/') {
                out.push_str(trimmed);
                out.push_str(postfix);
            } else {
                out.push_str(base);
                out.push_str(postfix);
            }
        } else {
            out.push_str(base);
            out.push_str(request_path.get(1..).unwrap_or(""));
        }
    } else if strip {
        out.push_str(base);
        if postfix.is_empty() {
            if request_path.len() > 1 && req_ends_with_slash {
                out.push('/');
            }
        } else {
            if !postfix.starts_with('/') {
                out.push('/');
            }
            out.push_str(postfix);
        }
    } else {
        out.push_str(base);
        if request_path != "/" {
            out.push_str(request_path);
        }
    }
}

/// Kong's `sanitize_uri_postfix`.
fn sanitize_postfix(p: &str) -> &str {
    if p == "." || p == ".." {
        ""
    } else if let Some(rest) = p.strip_prefix("./") {
        rest
    } else if let Some(rest) = p.strip_prefix("../") {
        rest
    } else {
        p
    }
}
