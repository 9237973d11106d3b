//! Field rules shared by every entity: ids, names, required and non-empty strings, tags, numeric
//! ranges, status lists and header maps (each reports its problem and returns the value or its
//! default), and the syntax of hosts, service urls, targets and paths, including Kong's path
//! normalisation and the migration of pre-3.0 regex paths.

use super::walk::field_path;
use super::Loader;
use crate::config::raw::{wire, Scheme};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

impl<'a> Loader<'a> {
    pub(super) fn id(&mut self, path: &str, id: Option<String>) -> Option<String> {
        if let Some(id) = &id {
            if !is_uuid(id) {
                self.problem(
                    field_path(path, "id"),
                    format!("expected a valid UUID, got '{id}'"),
                );
            }
        }
        id
    }

    /// Service and route names (Kong's `utf8_name`).
    pub(super) fn name(&mut self, path: &str, name: Option<String>) -> Option<String> {
        if let Some(name) = &name {
            let bad = name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || ".-_~".contains(c)));
            if bad {
                self.problem(
                    field_path(path, "name"),
                    format!("invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"),
                );
            }
        }
        name
    }

    pub(super) fn required_string(
        &mut self,
        path: &str,
        field: &str,
        value: Option<String>,
    ) -> String {
        match value {
            Some(s) if !s.is_empty() => s,
            Some(_) => {
                self.problem(field_path(path, field), "length must be at least 1");
                String::new()
            }
            None => {
                self.problem(field_path(path, field), "required field missing");
                String::new()
            }
        }
    }

    pub(super) fn non_empty(
        &mut self,
        path: &str,
        field: &str,
        value: Option<String>,
    ) -> Option<String> {
        if value.as_deref() == Some("") {
            self.problem(field_path(path, field), "length must be at least 1");
        }
        value
    }

    pub(super) fn tags(&mut self, path: &str, tags: Option<Vec<String>>) -> Vec<String> {
        let tags = tags.unwrap_or_default();
        for (i, tag) in tags.iter().enumerate() {
            let bad = tag.is_empty()
                || tag.chars().any(|c| {
                    c.is_ascii() && (c.is_ascii_control() || c == ' ' || c == ',' || c == '/')
                });
            if bad {
                self.problem(
                    format!("{path}.tags[{i}]"),
                    format!("invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"),
                );
            }
        }
        tags
    }

    /// An integer field within `lo..=hi`; out of range or unset gives `default`.
    pub(super) fn int<T: TryFrom<i64> + Copy>(
        &mut self,
        path: &str,
        field: &str,
        v: Option<i64>,
        default: T,
        lo: i64,
        hi: i64,
    ) -> T {
        match v {
            None => default,
            Some(x) if (lo..=hi).contains(&x) => T::try_from(x).unwrap_or(default),
            Some(_) => {
                self.problem(
                    field_path(path, field),
                    format!("value should be between {lo} and {hi}"),
                );
                default
            }
        }
    }

    pub(super) fn float(
        &mut self,
        path: &str,
        field: &str,
        v: Option<f64>,
        default: f64,
        lo: f64,
        hi: f64,
    ) -> f64 {
        match v {
            None => default,
            Some(x) if x >= lo && x <= hi => x,
            Some(_) => {
                self.problem(
                    field_path(path, field),
                    format!("value should be between {lo} and {hi}"),
                );
                default
            }
        }
    }

    pub(super) fn statuses(
        &mut self,
        path: &str,
        v: Option<Vec<i64>>,
        default: Vec<u16>,
    ) -> Vec<u16> {
        let Some(list) = v else { return default };
        let mut out = Vec::with_capacity(list.len());
        for (i, status) in list.into_iter().enumerate() {
            out.push(self.int(
                &format!("{path}.http_statuses[{i}]"),
                "",
                Some(status),
                0u16,
                100,
                999,
            ));
        }
        out
    }

    pub(super) fn headers(
        &mut self,
        path: &str,
        headers: Option<BTreeMap<String, wire::HeaderValues>>,
        forbid_host: bool,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (name, values) in headers.unwrap_or_default() {
            let here = format!("{path}.headers.{name}");
            let lower = name.to_ascii_lowercase();
            let values = values.into_vec();
            if !is_token(&name) {
                self.problem(&here, format!("invalid header name '{name}'"));
            } else if forbid_host && lower == "host" {
                self.problem(&here, "cannot contain 'host' header, which must be specified in the 'hosts' attribute");
            } else if values.is_empty() {
                self.problem(&here, "length must be at least 1");
            } else if let Entry::Vacant(slot) = out.entry(lower.clone()) {
                slot.insert(values);
            } else {
                self.problem(
                    &here,
                    format!("duplicate header '{lower}' (header names are case-insensitive)"),
                );
            }
        }
        out
    }
}

pub(super) fn unsupported_protocol(p: &str) -> String {
    format!("unsupported protocol '{p}' (Sluice supports http and https)")
}

pub(super) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// RFC 7230 token (header names).
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(super) fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A service host or host header: hostname, IPv4 or IPv6 (brackets optional, removed), no port.
pub(super) fn normalize_host(h: &str) -> Result<String, String> {
    let inner = h
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(h);
    if inner.parse::<Ipv6Addr>().is_ok() {
        return Ok(inner.to_owned());
    }
    if h.contains(':') {
        return Err(format!("invalid host '{h}': must not contain a port"));
    }
    if is_hostname(h) {
        Ok(h.to_owned())
    } else {
        Err(format!(
            "invalid host '{h}': must be a valid hostname or ip address"
        ))
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address. IPv6 comes back unbracketed.
pub(super) fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("unterminated '['")?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address '{v6}'"))?;
        match after {
            "" => (v6, None),
            _ => (
                v6,
                Some(after.strip_prefix(':').ok_or("expected ':' after ']'")?),
            ),
        }
    } else if s.matches(':').count() > 1 {
        s.parse::<Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address '{s}'"))?;
        (s, None)
    } else if let Some((h, p)) = s.split_once(':') {
        (h, Some(p))
    } else {
        (s, None)
    };
    if !host.contains(':') && !is_hostname(host) {
        return Err(format!("invalid hostname '{host}'"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("invalid port '{p}': must be between 1 and 65535")),
        },
    };
    Ok((host.to_owned(), port))
}

pub(super) struct ParsedUrl {
    pub(super) scheme: Scheme,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) path: Option<String>,
}

/// The service `url` shorthand: `http(s)://host[:port][/path]`.
pub(super) fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("invalid url '{url}': expected http://host[:port][/path] or https://...")
    })?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(unsupported_protocol(other)),
    };
    if rest.contains(['?', '#']) {
        return Err(format!(
            "invalid url '{url}': query strings and fragments are not allowed"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    if authority.contains('@') {
        return Err(format!("invalid url '{url}': credentials are not allowed"));
    }
    if authority.is_empty() {
        return Err(format!("invalid url '{url}': missing host"));
    }
    let (host, port) =
        split_host_port(authority).map_err(|m| format!("invalid url '{url}': {m}"))?;
    if let Some(p) = path {
        check_prefix_path(p).map_err(|m| format!("invalid url '{url}': {m}"))?;
    }
    Ok(ParsedUrl {
        scheme,
        host,
        port: port.unwrap_or(scheme.default_port()),
        path: path.map(str::to_owned),
    })
}

pub(super) fn check_upstream_name(name: &str) -> Result<(), String> {
    let bare = name
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(name);
    if name.parse::<Ipv4Addr>().is_ok() || bare.parse::<Ipv6Addr>().is_ok() {
        return Err(format!("Invalid name ('{name}'); no ip addresses allowed"));
    }
    if name.contains(':') {
        return Err(format!("Invalid name ('{name}'); no port allowed"));
    }
    if !is_hostname(name) {
        return Err(format!("Invalid name ('{name}'); must be a valid hostname"));
    }
    Ok(())
}

/// Route hosts: optional single wildcard as leftmost or rightmost label, optional `:port`.
pub(super) fn check_route_host(h: &str) -> Result<(), String> {
    let host = match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
            if port.parse::<u16>().is_err() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("invalid port number in host '{h}'"));
            }
            host
        }
        _ => h,
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    let host = match host.matches('*').count() {
        0 => host.to_owned(),
        1 if host.starts_with("*.") || host.ends_with(".*") => host.replace('*', "x"),
        1 => {
            return Err(format!(
                "invalid wildcard '{h}': must be placed at leftmost or rightmost label"
            ))
        }
        _ => {
            return Err(format!(
                "invalid wildcard '{h}': must have at most one wildcard"
            ))
        }
    };
    if is_hostname(&host) {
        Ok(())
    } else {
        Err(format!("invalid host '{h}'"))
    }
}

pub(super) fn check_route_path(p: &str) -> Result<(), String> {
    if let Some(regex) = p.strip_prefix('~') {
        if regex.is_empty() {
            return Err("invalid regex path: empty regex after '~'".to_owned());
        }
        return Ok(());
    }
    if !p.starts_with('/') {
        return Err(format!(
            "invalid path '{p}': should start with: / (fixed path) or ~/ (regex path)"
        ));
    }
    check_prefix_path(p).map_err(|msg| {
        if msg.contains("RFC 3986") {
            format!("{msg} (regex paths must start with '~')")
        } else {
            msg
        }
    })
}

/// A plain path (route prefix, service path, health-check path): starts with `/`, RFC 3986
/// characters only, and already normalised.
pub(super) fn check_prefix_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("invalid path '{p}': should start with: /"));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if !p.bytes().all(allowed) {
        return Err(format!(
            "invalid path '{p}': characters outside of the reserved list of RFC 3986 found"
        ));
    }
    // Without escapes, empty segments or dot segments, `normalize_path` gives `p` back: skip
    // building the copy (most paths, and this runs for every path of every route on every
    // change).
    if !p.contains('%') && !p.contains("//") && !p.split('/').any(|s| s == "." || s == "..") {
        return Ok(());
    }
    let normalized =
        normalize_path(p).ok_or_else(|| format!("invalid path '{p}': invalid percent-encoding"))?;
    if normalized != p {
        return Err(format!(
            "non-normalized path '{p}', consider using '{normalized}' instead"
        ));
    }
    Ok(())
}

/// Kong's path normalisation: decode percent-encoded unreserved characters, upper-case the other
/// escapes, merge slashes, remove dot segments. `None` on a malformed escape.
pub(super) fn normalize_path(p: &str) -> Option<String> {
    let bytes = p.as_bytes();
    let mut decoded = String::with_capacity(p.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = p.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                decoded.push(char::from(value));
            } else {
                decoded.push('%');
                decoded.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            decoded.push(char::from(bytes[i]));
            i += 1;
        }
    }
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    let mut trailing = false;
    for segment in &segments {
        trailing = false;
        match *segment {
            "" | "." => trailing = true,
            ".." => {
                out.pop();
                trailing = true;
            }
            s => out.push(s),
        }
    }
    let mut result = format!("/{}", out.join("/"));
    if trailing && !out.is_empty() {
        result.push('/');
    }
    Some(result)
}

/// Format 1.1/2.1 paths had no `~` marker: Kong treats a path with any character outside
/// `[a-zA-Z0-9.-_~/%]` as a regex (`kong/db/declarative/migrations/route_path.lua`).
pub(super) fn migrate_legacy_path(p: &str) -> String {
    let plain = p
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-~/%".contains(&b));
    if !plain {
        format!("~{p}")
    } else if p.starts_with('/') {
        normalize_path(p).unwrap_or_else(|| p.to_owned())
    } else {
        p.to_owned()
    }
}
