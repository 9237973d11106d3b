//! sluice-router
