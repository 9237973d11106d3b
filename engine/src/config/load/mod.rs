//! Loading and validation of the declarative configuration.
//!
//! [`parse_config`] reads YAML or JSON into a `serde_yaml::Value`, deserializes every entity on
//! its own into the [`wire`](crate::config::raw::wire) structs (nested lists are taken out of the
//! parent first) so that one bad entity never hides another, then normalises them into
//! [`DeclarativeConfig`]: Kong's defaults applied, the `url` shorthand expanded, nested
//! entities flattened, references resolved to indices. Every problem found on the way is
//! collected with the path of the offending field.
//!
//! This file owns the public entry points, [`ConfigProblem`] and the `Loader` state. The work
//! is split by concept:
//!
//! - `walk`: the document walk (top-level keys, lists with their paths, deserialising one entity
//!   with the path of the field that failed) and the order entities are loaded in;
//! - `json`: reading an Admin API entity in place as the YAML it stands for ([`parse_entities`]);
//! - `validate`: field rules shared by every entity (ids, names, tags, ranges, headers) and the
//!   syntax of hosts, urls, targets and paths;
//! - `references`: cross-entity checks: name / id indexes, duplicates, foreign keys, parents of
//!   nested entities;
//! - `services`, `upstreams`, `consumers`, `plugins`: one entity family each, wire struct ->
//!   [`raw`](crate::config::raw) entity with Kong's defaults.

mod consumers;
mod json;
mod plugins;
mod references;
mod services;
mod upstreams;
mod validate;
mod walk;

#[cfg(test)]
mod tests;

use super::document::Document;
use super::raw::DeclarativeConfig;
use references::{Index, Pending};
use serde_yaml::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// The config used when none is given: no routes, so every request gets a 404.
pub const DEFAULT_CONFIG: &str = "_format_version: \"3.0\"\n";

/// One thing wrong with a config, e.g. `services[2].routes[0].paths[1]: should start with: /`.
/// Document-level problems (syntax errors) have an empty path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigProblem {}

/// Syntax of a config text. YAML is a superset of JSON, but JSON goes through serde_json for
/// exact JSON semantics and error positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

impl ConfigFormat {
    /// JSON when the first non-blank character is `{`, YAML otherwise.
    pub fn detect(text: &str) -> ConfigFormat {
        if text.trim_start().starts_with('{') {
            ConfigFormat::Json
        } else {
            ConfigFormat::Yaml
        }
    }
}

/// Parses and validates a declarative config (format detected with [`ConfigFormat::detect`]).
pub fn parse_config(text: &str) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    parse_config_as(text, ConfigFormat::detect(text))
}

/// Parses and validates a declarative config in the given syntax.
pub fn parse_config_as(
    text: &str,
    format: ConfigFormat,
) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    let doc = match format {
        ConfigFormat::Yaml => serde_yaml::from_str::<Value>(text)
            .and_then(|mut v| v.apply_merge().map(|()| v)) // `<<: *anchor` merge keys
            .map_err(|e| vec![ConfigProblem::new("", format!("invalid YAML: {e}"))])?,
        ConfigFormat::Json => serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("invalid JSON: {e}"))
            .and_then(|v| serde_yaml::to_value(v).map_err(|e| format!("invalid JSON: {e}")))
            .map_err(|m| vec![ConfigProblem::new("", m)])?,
    };
    let mut loader = Loader::default();
    loader.load(doc);
    loader.finish()
}

/// Validates an already-parsed document (a YAML tree).
pub fn parse_document(doc: Value) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    let mut loader = Loader::default();
    loader.load(doc);
    loader.finish()
}

/// Validates the Admin API's document: the same config and the same problems (paths, words and
/// order) as `parse_document(export::declarative(doc))`, without building that YAML tree: the
/// entities are read in place (`json`).
pub fn parse_entities(doc: &Document) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    let mut loader = Loader::default();
    loader.load_document(doc);
    loader.finish()
}

/// Reads and parses a config file. An I/O error is reported with the file name as its path.
pub fn load_config_file(path: &Path) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigProblem::new(
            path.display().to_string(),
            format!("cannot read config file: {e}"),
        )]
    })?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => ConfigFormat::Json,
        _ => ConfigFormat::detect(&text),
    };
    parse_config_as(&text, format)
}

/// The state of one load: the config built so far, every problem found, the indexes that
/// references and duplicates are checked against, and nested entities waiting for their turn.
#[derive(Default)]
struct Loader<'a> {
    problems: Vec<ConfigProblem>,
    cfg: DeclarativeConfig,
    services: Index,
    routes: Index,
    upstreams: Index,
    consumers: Index,
    custom_ids: HashMap<String, String>,
    keyauth_keys: HashMap<String, String>,
    basicauth_usernames: HashMap<String, String>,
    acl_groups: HashMap<(usize, String), String>,
    targets_seen: HashMap<(usize, String), String>,
    plugin_scopes: HashMap<PluginScope, String>,
    routes_pending: Vec<Pending<'a>>,
    service_plugins: Vec<Pending<'a>>,
    route_plugins: Vec<Pending<'a>>,
    consumer_plugins: Vec<Pending<'a>>,
}

type PluginScope = (String, Option<usize>, Option<usize>, Option<usize>);

impl<'a> Loader<'a> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(ConfigProblem::new(path, message));
    }

    fn finish(self) -> Result<DeclarativeConfig, Vec<ConfigProblem>> {
        if self.problems.is_empty() {
            Ok(self.cfg)
        } else {
            Err(self.problems)
        }
    }
}
