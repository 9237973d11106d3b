//! Cross-entity checks: the name and id index of each referenced kind (with duplicate
//! detection), foreign keys resolved to indices, the parent of a nested entity, and the
//! uniqueness maps of credentials. A reference to an entity that failed to load is not reported
//! again: that entity's own problem already was.

use super::walk::{field_path, Item};
use super::{ConfigProblem, Loader};
use crate::config::raw::wire;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;

/// What a nested entity hangs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    TopLevel,
    Service(usize),
    Route(usize),
    Consumer(usize),
    Upstream(usize),
    /// The parent (of this kind) failed to deserialize: check the child, but do not resolve its
    /// parent.
    Broken(&'static str),
}

pub(super) struct Pending<'a> {
    pub(super) path: String,
    pub(super) value: Item<'a>,
    pub(super) owner: Owner,
}

enum Lookup {
    Found(usize),
    /// Names an entity that exists but failed to parse (already reported).
    Broken,
    Missing,
}

/// Name and id lookup for one entity type, with duplicate detection. Fx-hashed: every entity is
/// registered and every reference looked up on every admin change (SipHash was most of it).
#[derive(Default)]
pub(super) struct Index {
    names: FxHashMap<String, (usize, String)>,
    ids: FxHashMap<String, (usize, String)>,
    broken: FxHashSet<String>,
}

impl Index {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn register(
        &mut self,
        kind: &str,
        name_field: &str,
        name: Option<&str>,
        id: Option<&str>,
        idx: usize,
        path: &str,
        problems: &mut Vec<ConfigProblem>,
    ) {
        for (key, field, map) in [
            (name, name_field, &mut self.names),
            (id, "id", &mut self.ids),
        ] {
            let Some(key) = key else { continue };
            if let Some((_, other)) = map.get(key) {
                problems.push(ConfigProblem::new(
                    field_path(path, field),
                    format!("duplicate {kind} {field} '{key}' (already used by {other})"),
                ));
            } else {
                map.insert(key.to_owned(), (idx, path.to_owned()));
            }
        }
    }

    pub(super) fn mark_broken(&mut self, item: &Item<'_>, name_field: &str) {
        for key in [name_field, "id"] {
            if let Some(s) = item.str_field(key) {
                self.broken.insert(s.to_owned());
            }
        }
    }

    fn lookup(&self, fk: &wire::ForeignKey) -> Lookup {
        let key = fk.as_str();
        let hit = match fk {
            wire::ForeignKey::Id(_) => self.ids.get(key),
            wire::ForeignKey::Name(_) => self.names.get(key),
            wire::ForeignKey::Ref(_) => self.ids.get(key).or_else(|| self.names.get(key)),
        };
        match hit {
            Some((idx, _)) => Lookup::Found(*idx),
            None if self.broken.contains(key) => Lookup::Broken,
            None => Lookup::Missing,
        }
    }
}

/// Resolves a foreign key; `Err(())` when it names nothing (problem recorded) or a broken entity.
pub(super) fn resolve(
    index: &Index,
    fk: &wire::ForeignKey,
    kind: &str,
    path: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Result<usize, ()> {
    match index.lookup(fk) {
        Lookup::Found(idx) => Ok(idx),
        Lookup::Broken => Err(()),
        Lookup::Missing => {
            problems.push(ConfigProblem::new(
                path,
                format!("references unknown {kind} '{}'", fk.as_str()),
            ));
            Err(())
        }
    }
}

impl<'a> Loader<'a> {
    /// The parent index of a nested entity, or the resolved foreign key of a top-level one.
    pub(super) fn parent(
        &mut self,
        path: &str,
        kind: &str,
        owner: Owner,
        fk: Option<&wire::ForeignKey>,
    ) -> Option<usize> {
        let fk_path = field_path(path, kind);
        match (owner, fk) {
            (Owner::TopLevel, Some(fk)) => {
                let index = if kind == "upstream" {
                    &self.upstreams
                } else {
                    &self.consumers
                };
                resolve(index, fk, kind, &fk_path, &mut self.problems).ok()
            }
            (Owner::TopLevel, None) => {
                self.problem(fk_path, "required field missing");
                None
            }
            (Owner::Upstream(idx) | Owner::Consumer(idx), None) => Some(idx),
            (_, Some(_)) => {
                self.problem(
                    fk_path,
                    format!("cannot be set on an entity nested under its {kind}"),
                );
                None
            }
            (_, None) => None,
        }
    }

    /// Records `key` in a uniqueness map; false (and a problem) when it was already there.
    pub(super) fn unique(
        &mut self,
        seen: for<'l> fn(&'l mut Loader<'a>) -> &'l mut HashMap<String, String>,
        what: &str,
        key: &str,
        path: String,
    ) -> bool {
        if let Some(other) = seen(self).get(key) {
            let msg = format!("duplicate {what} '{key}' (already used by {other})");
            self.problem(path, msg);
            false
        } else {
            seen(self).insert(key.to_owned(), path);
            true
        }
    }
}
