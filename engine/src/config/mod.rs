//! Declarative configuration (Kong format 3.0): `raw` mirrors the file, `load` parses and
//! validates it with every problem's path, `compile` turns it into a [`crate::snapshot::Snapshot`].

pub mod compile;
pub mod document;
pub mod export;
pub mod identity;
pub mod load;
pub mod raw;
pub mod store;
pub mod yaml_emit;

pub use compile::compile;
pub use load::{load_config_file, parse_config, ConfigProblem};
