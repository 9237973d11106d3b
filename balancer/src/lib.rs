//! sluice-balancer
