//! Loader tests: `parse` for configs that load (shapes, defaults, formats), `problems` for
//! what is reported and where, `admin` for the Admin API's document read in place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod parse;
mod problems;

use super::{parse_config, ConfigProblem};
use crate::config::raw::DeclarativeConfig;

fn v3(body: &str) -> String {
    format!("_format_version: \"3.0\"\n{body}")
}

fn ok(text: &str) -> DeclarativeConfig {
    match parse_config(text) {
        Ok(cfg) => cfg,
        Err(problems) => panic!("unexpected problems: {problems:#?}\nin:\n{text}"),
    }
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    parse_config(text).expect_err("expected problems")
}

/// Asserts the exact set of problem paths, and that each message contains the given text.
fn assert_problems(text: &str, expected: &[(&str, &str)]) {
    let got = problems(text);
    let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "problems: {shown:#?}\nin:\n{text}"
    );
    for (path, needle) in expected {
        assert!(
            got.iter()
                .any(|p| p.path == *path && p.message.contains(needle)),
            "missing `{path}: ...{needle}...` in {shown:#?}\nin:\n{text}"
        );
    }
}
