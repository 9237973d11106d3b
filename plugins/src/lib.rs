//! sluice-plugins
