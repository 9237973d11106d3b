//! Plugins: nested under a service, route or consumer or top-level with references; the scope
//! (service, route, consumer) resolved to indices, Kong's defaults for `config` and
//! `protocols`, and one plugin of a name per scope.

use super::references::{resolve, Owner, Pending};
use super::walk::field_path;
use super::Loader;
use crate::config::raw::{self, wire};

impl<'a> Loader<'a> {
    pub(super) fn load_plugin(&mut self, pending: Pending<'a>) {
        let Pending { path, value, owner } = pending;
        let Some(w) = self.deser::<wire::Plugin>(&value, &path) else {
            return;
        };
        let mut broken = matches!(owner, Owner::Broken(_));
        let mut scope = [None, None, None];
        let kinds = [
            ("service", &w.service),
            ("route", &w.route),
            ("consumer", &w.consumer),
        ];
        for (slot, (kind, fk)) in kinds.into_iter().enumerate() {
            let implied = match (owner, slot) {
                (Owner::Service(i), 0) | (Owner::Route(i), 1) | (Owner::Consumer(i), 2) => Some(i),
                _ => None,
            };
            let nested_here = implied.is_some() || owner == Owner::Broken(kind);
            let fk_path = field_path(&path, kind);
            match fk {
                Some(_) if nested_here => {
                    self.problem(
                        fk_path,
                        format!("cannot be set on a plugin nested under a {kind}"),
                    );
                    broken = true;
                }
                Some(fk) => {
                    let index = match slot {
                        0 => &self.services,
                        1 => &self.routes,
                        _ => &self.consumers,
                    };
                    match resolve(index, fk, kind, &fk_path, &mut self.problems) {
                        Ok(idx) => scope[slot] = Some(idx),
                        Err(()) => broken = true,
                    }
                }
                None => scope[slot] = implied,
            }
        }
        let name = self.required_string(&path, "name", w.name);
        let config = match w.config {
            None | Some(serde_json::Value::Null) => {
                serde_json::Value::Object(serde_json::Map::new())
            }
            Some(c @ serde_json::Value::Object(_)) => c,
            Some(_) => {
                self.problem(field_path(&path, "config"), "expected a mapping");
                serde_json::Value::Object(serde_json::Map::new())
            }
        };
        let protocols = match w.protocols {
            None => vec![
                raw::Protocol::Grpc,
                raw::Protocol::Grpcs,
                raw::Protocol::Http,
                raw::Protocol::Https,
            ],
            Some(list) if list.is_empty() => {
                self.problem(field_path(&path, "protocols"), "length must be at least 1");
                Vec::new()
            }
            Some(list) => list,
        };
        let [service, route, consumer] = scope;
        let plugin = raw::Plugin {
            id: self.id(&path, w.id),
            name,
            config,
            enabled: w.enabled.unwrap_or(true),
            protocols,
            tags: self.tags(&path, w.tags),
            service,
            route,
            consumer,
            created_at: raw::timestamp(w.created_at),
            updated_at: raw::timestamp(w.updated_at),
            source_path: path.clone(),
        };
        if !broken && !plugin.name.is_empty() {
            let key = (plugin.name.clone(), service, route, consumer);
            if let Some(other) = self.plugin_scopes.get(&key) {
                let msg = format!("duplicate plugin '{}' for the same service, route and consumer (already at {other})", plugin.name);
                self.problem(field_path(&path, "name"), msg);
                return;
            }
            self.plugin_scopes.insert(key, path);
        }
        self.cfg.plugins.push(plugin);
    }
}
