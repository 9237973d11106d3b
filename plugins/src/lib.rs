//! sluice-plugins: will own the Plugin trait, the per-request plugin context and the bundled
//! plugins (request lifecycle steps 5, 9 and 10: access, header/body filter, log).
//!
//! Nothing is implemented yet, and the engine refuses configs with enabled plugins rather
//! than silently skipping them (an auth plugin that does not run would open the API it
//! guards). The crate exists so that the workspace layout matches ARCHITECTURE.md.
