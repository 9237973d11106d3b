//! Services and routes: wire structs to [`raw::Service`] / [`raw::Route`] with Kong's defaults,
//! the service `url` shorthand expanded, routes nested under a service flattened (and their
//! plugins queued), a top-level route's `service` resolved.

use super::references::{resolve, Owner, Pending};
use super::validate::{
    check_prefix_path, check_route_host, check_route_path, migrate_legacy_path, normalize_host,
    parse_url, unsupported_protocol,
};
use super::walk::{field_path, is_empty, Section};
use super::Loader;
use crate::config::raw::{self, wire, FormatVersion, Scheme};

/// Nested lists taken out of a service and a route before they are read.
const SERVICE_NESTED: &[&str] = &["routes", "plugins"];
pub(super) const ROUTE_NESTED: &[&str] = &["plugins"];

impl<'a> Loader<'a> {
    pub(super) fn load_services(&mut self, section: Section<'a>) {
        for (path, mut item) in self.section_items(section, "services", SERVICE_NESTED) {
            let routes = self.take_items(&mut item, "routes", &path);
            let plugins = self.take_items(&mut item, "plugins", &path);
            let owner = match self.deser::<wire::Service>(&item, &path) {
                Some(w) => {
                    let service = self.service(w, &path);
                    let idx = self.cfg.services.len();
                    let (name, id) = (service.name.as_deref(), service.id.as_deref());
                    self.services.register(
                        "service",
                        "name",
                        name,
                        id,
                        idx,
                        &path,
                        &mut self.problems,
                    );
                    self.cfg.services.push(service);
                    Owner::Service(idx)
                }
                None => {
                    self.services.mark_broken(&item, "name");
                    Owner::Broken("service")
                }
            };
            for (path, value) in routes {
                self.routes_pending.push(Pending { path, value, owner });
            }
            for (path, value) in plugins {
                self.service_plugins.push(Pending { path, value, owner });
            }
        }
    }

    fn service(&mut self, w: wire::Service, path: &str) -> raw::Service {
        let mut protocol = Scheme::Http;
        let mut host = String::new();
        let mut port = 80;
        let mut service_path = None;
        if let Some(url) = &w.url {
            let set = [
                (w.protocol.is_some(), "protocol"),
                (w.host.is_some(), "host"),
                (w.port.is_some(), "port"),
                (w.path.is_some(), "path"),
            ];
            for (is_set, field) in set {
                if is_set {
                    self.problem(field_path(path, field), "cannot be set together with 'url'");
                }
            }
            match parse_url(url) {
                Ok(u) => (protocol, host, port, service_path) = (u.scheme, u.host, u.port, u.path),
                Err(msg) => self.problem(field_path(path, "url"), msg),
            }
        } else {
            if let Some(p) = w.protocol {
                match p.scheme() {
                    Some(s) => protocol = s,
                    None => self.problem(
                        field_path(path, "protocol"),
                        unsupported_protocol(p.as_str()),
                    ),
                }
            }
            match w.host {
                Some(h) => match normalize_host(&h) {
                    Ok(h) => host = h,
                    Err(msg) => self.problem(field_path(path, "host"), msg),
                },
                None => self.problem(field_path(path, "host"), "required field missing"),
            }
            port = self.int(path, "port", w.port, 80u16, 1, 65535);
            if let Some(p) = w.path {
                if let Err(msg) = check_prefix_path(&p) {
                    self.problem(field_path(path, "path"), msg);
                }
                service_path = Some(p);
            }
        }
        raw::Service {
            id: self.id(path, w.id),
            name: self.name(path, w.name),
            protocol,
            host,
            port,
            path: service_path,
            retries: self.int(path, "retries", w.retries, 5u16, 0, 32767),
            connect_timeout: self.int(
                path,
                "connect_timeout",
                w.connect_timeout,
                60000u32,
                1,
                2147483646,
            ),
            write_timeout: self.int(
                path,
                "write_timeout",
                w.write_timeout,
                60000u32,
                1,
                2147483646,
            ),
            read_timeout: self.int(
                path,
                "read_timeout",
                w.read_timeout,
                60000u32,
                1,
                2147483646,
            ),
            enabled: w.enabled.unwrap_or(true),
            tags: self.tags(path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.to_owned(),
        }
    }

    // ----- routes -----------------------------------------------------------------------------

    pub(super) fn load_route(&mut self, pending: Pending<'a>) {
        let Pending {
            path,
            mut value,
            owner,
        } = pending;
        let plugins = self.take_items(&mut value, "plugins", &path);
        let owner = match self.deser::<wire::Route>(&value, &path) {
            Some(w) => {
                let route = self.route(w, &path, owner);
                let idx = self.cfg.routes.len();
                let (name, id) = (route.name.as_deref(), route.id.as_deref());
                self.routes
                    .register("route", "name", name, id, idx, &path, &mut self.problems);
                self.cfg.routes.push(route);
                Owner::Route(idx)
            }
            None => {
                self.routes.mark_broken(&value, "name");
                Owner::Broken("route")
            }
        };
        for (path, value) in plugins {
            self.route_plugins.push(Pending { path, value, owner });
        }
    }

    fn route(&mut self, w: wire::Route, path: &str, owner: Owner) -> raw::Route {
        let service = match (owner, &w.service) {
            (Owner::TopLevel, Some(fk)) => resolve(
                &self.services,
                fk,
                "service",
                &field_path(path, "service"),
                &mut self.problems,
            )
            .ok(),
            (Owner::TopLevel, None) => None,
            (Owner::Service(idx), None) => Some(idx),
            (_, Some(_)) => {
                self.problem(
                    field_path(path, "service"),
                    "cannot be set on a route nested under a service",
                );
                None
            }
            (_, None) => None,
        };

        let mut protocols = Vec::new();
        match w.protocols {
            None => protocols = vec![Scheme::Http, Scheme::Https],
            Some(list) if list.is_empty() => {
                self.problem(field_path(path, "protocols"), "length must be at least 1")
            }
            Some(list) => {
                for (i, p) in list.into_iter().enumerate() {
                    match p.scheme() {
                        Some(s) if !protocols.contains(&s) => protocols.push(s),
                        Some(_) => {}
                        None => self.problem(
                            format!("{path}.protocols[{i}]"),
                            unsupported_protocol(p.as_str()),
                        ),
                    }
                }
            }
        }

        let methods = w.methods.unwrap_or_default();
        for (i, m) in methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                self.problem(
                    format!("{path}.methods[{i}]"),
                    format!("invalid method '{m}': must be uppercase letters only"),
                );
            }
        }
        let hosts = w.hosts.unwrap_or_default();
        for (i, h) in hosts.iter().enumerate() {
            if let Err(msg) = check_route_host(h) {
                self.problem(format!("{path}.hosts[{i}]"), msg);
            }
        }
        let mut paths = w.paths.unwrap_or_default();
        for (i, p) in paths.iter_mut().enumerate() {
            if self.cfg.format_version != FormatVersion::V3_0 {
                *p = migrate_legacy_path(p);
            }
            if let Err(msg) = check_route_path(p) {
                self.problem(format!("{path}.paths[{i}]"), msg);
            }
        }
        // Counted before validation so that a bad header does not also report "must set one of".
        let has_headers = w.headers.as_ref().is_some_and(|h| !h.is_empty());
        let headers = self.headers(path, w.headers, true);
        if methods.is_empty() && hosts.is_empty() && paths.is_empty() && !has_headers {
            self.problem(path, "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http' or 'https'");
        }
        for (field, v) in [
            ("snis", &w.snis),
            ("sources", &w.sources),
            ("destinations", &w.destinations),
        ] {
            if v.as_ref().is_some_and(|v| !is_empty(v)) {
                self.problem(field_path(path, field), "not supported by Sluice");
            }
        }
        if w.path_handling == Some(wire::PathHandling::V1) {
            self.problem(
                field_path(path, "path_handling"),
                "'v1' is not supported (only 'v0')",
            );
        }
        let redirect = w.https_redirect_status_code.unwrap_or(426);
        let https_redirect_status_code = match redirect {
            426 | 301 | 302 | 307 | 308 => redirect as u16,
            _ => {
                self.problem(
                    field_path(path, "https_redirect_status_code"),
                    "expected one of: 426, 301, 302, 307, 308",
                );
                426
            }
        };
        raw::Route {
            id: self.id(path, w.id),
            name: self.name(path, w.name),
            service,
            protocols,
            methods,
            hosts,
            paths,
            headers,
            strip_path: w.strip_path.unwrap_or(true),
            preserve_host: w.preserve_host.unwrap_or(false),
            regex_priority: w.regex_priority.unwrap_or(0),
            https_redirect_status_code,
            request_buffering: w.request_buffering.unwrap_or(true),
            response_buffering: w.response_buffering.unwrap_or(true),
            tags: self.tags(path, w.tags),
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.to_owned(),
        }
    }
}
