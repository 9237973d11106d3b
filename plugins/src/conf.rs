//! Reading a plugin's `config` object with Kong's defaults, collecting errors that name the field
//! (`plugins[3].config.minute`). `null` counts as absent (Kong exports unset fields as null).

use crate::PluginError;
use serde_json::{Map, Value};

pub(crate) struct Conf<'a> {
    obj: Option<&'a Map<String, Value>>,
    base: String,
    known: Vec<&'static str>,
    pub errors: Vec<PluginError>,
}

impl<'a> Conf<'a> {
    /// `base` is the path of the config object, e.g. `plugins[3].config`.
    pub fn new(value: &'a Value, base: String) -> Conf<'a> {
        let mut c = Conf {
            obj: None,
            base,
            known: Vec::new(),
            errors: Vec::new(),
        };
        match value {
            Value::Object(m) => c.obj = Some(m),
            Value::Null => {}
            _ => {
                let b = c.base.clone();
                c.errors.push(PluginError {
                    path: b,
                    message: "expected an object".into(),
                });
            }
        }
        c
    }

    pub fn path(&self, field: &str) -> String {
        format!("{}.{}", self.base, field)
    }

    pub fn err(&mut self, field: &str, message: impl Into<String>) {
        let path = self.path(field);
        self.errors.push(PluginError {
            path,
            message: message.into(),
        });
    }

    /// Marks fields as known without reading them (accepted and ignored).
    pub fn ignore(&mut self, fields: &[&'static str]) {
        self.known.extend_from_slice(fields);
    }

    fn get(&mut self, field: &'static str) -> Option<&'a Value> {
        self.known.push(field);
        match self.obj.and_then(|m| m.get(field)) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn is_set(&self, field: &str) -> bool {
        matches!(self.obj.and_then(|m| m.get(field)), Some(v) if !v.is_null())
    }

    pub fn raw(&mut self, field: &'static str) -> Option<&'a Value> {
        self.get(field)
    }

    pub fn opt_str(&mut self, field: &'static str) -> Option<String> {
        match self.get(field) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.err(field, "expected a string");
                None
            }
        }
    }

    pub fn str_or(&mut self, field: &'static str, default: &str) -> String {
        self.opt_str(field).unwrap_or_else(|| default.to_string())
    }

    pub fn one_of(&mut self, field: &'static str, default: &str, allowed: &[&str]) -> String {
        let v = self.str_or(field, default);
        if !allowed.contains(&v.as_str()) {
            self.err(field, format!("expected one of: {}", allowed.join(", ")));
            return default.to_string();
        }
        v
    }

    pub fn bool_or(&mut self, field: &'static str, default: bool) -> bool {
        match self.get(field) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(field, "expected a boolean");
                default
            }
        }
    }

    pub fn opt_num(&mut self, field: &'static str) -> Option<f64> {
        match self.get(field) {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                self.err(field, "expected a number");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn opt_int(&mut self, field: &'static str, min: i64, max: i64) -> Option<i64> {
        match self.get(field) {
            None => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Some(i),
                Some(_) => {
                    self.err(field, format!("value should be between {min} and {max}"));
                    None
                }
                None => {
                    self.err(field, "expected an integer");
                    None
                }
            },
            Some(_) => {
                self.err(field, "expected an integer");
                None
            }
        }
    }

    pub fn opt_str_list(&mut self, field: &'static str) -> Option<Vec<String>> {
        match self.get(field) {
            None => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, it) in items.iter().enumerate() {
                    match it {
                        Value::String(s) => out.push(s.clone()),
                        _ => {
                            let path = format!("{}.{}[{}]", self.base, field, i);
                            self.errors.push(PluginError {
                                path,
                                message: "expected a string".into(),
                            });
                        }
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.err(field, "expected an array of strings");
                None
            }
        }
    }

    pub fn str_list_or(&mut self, field: &'static str, default: &[&str]) -> Vec<String> {
        self.opt_str_list(field)
            .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
    }

    /// A nested record (e.g. request-transformer's `add`); returns a reader for it.
    pub fn record(&mut self, field: &'static str) -> Conf<'a> {
        let base = self.path(field);
        match self.get(field) {
            None => Conf {
                obj: None,
                base,
                known: Vec::new(),
                errors: Vec::new(),
            },
            Some(v) => Conf::new(v, base),
        }
    }

    /// Merges a nested reader's errors (after its own `finish`).
    pub fn absorb(&mut self, mut other: Conf<'_>) {
        other.finish_unknown();
        for e in other.errors {
            // A record read in two passes reports its unknown fields once.
            if !self.errors.contains(&e) {
                self.errors.push(e);
            }
        }
    }

    fn finish_unknown(&mut self) {
        if let Some(m) = self.obj {
            let mut unknown: Vec<&String> = m
                .keys()
                .filter(|k| !self.known.contains(&k.as_str()))
                .collect();
            unknown.sort();
            for k in unknown {
                let path = format!("{}.{}", self.base, k);
                self.errors.push(PluginError {
                    path,
                    message: "unknown field".into(),
                });
            }
        }
    }

    /// Unknown fields are errors; returns every error collected.
    pub fn finish(mut self) -> Vec<PluginError> {
        self.finish_unknown();
        self.errors
    }
}
