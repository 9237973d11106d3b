//! Structured fuzz target for sluice-balancer: builds an upstream from the input (any spec,
//! valid or not, must not panic), flips target health, then checks the retry-order invariants
//! for every algorithm: each target at most once, only healthy enabled ones, all of them when
//! the walk is complete, same consistent-hashing answer across cursors, and the ring's first
//! pick for a key never moves when an unrelated target goes down.
//!
//! Input layout (bytes, read front to back, missing bytes read as 0):
//! `alg, slots_hi, slots_lo, n, n × (ip, port, weight_hi, weight_lo, bump, health), keys...`
//! (`bump == 0xff` adds 1 to the weight so 65536 is reachable; `health % 4 == 0` = down;
//! keys are the remaining bytes in chunks of 5).
#![no_main]

use std::collections::HashSet;
use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use sluice_balancer::{
    Algorithm, Cursor, HealthRegistry, PassiveHealth, TargetSpec, Upstream, UpstreamSpec,
};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
}

fn run(data: &[u8]) {
    let mut b = Bytes(data);
    let algorithm = match b.u8() % 3 {
        0 => Algorithm::RoundRobin,
        1 => Algorithm::ConsistentHashing,
        _ => Algorithm::LeastConnections,
    };
    let slots = u32::from(b.u16()) + 1;
    let n = usize::from(b.u8() % 40);
    let mut targets = Vec::with_capacity(n);
    let mut healthy = Vec::with_capacity(n);
    for _ in 0..n {
        let ip = b.u8();
        let port = 8000 + u16::from(b.u8() % 4);
        // Weights up to 65535 plus a few invalid ones above.
        let weight = u32::from(b.u16()) + u32::from(b.u8() == 0xff);
        targets.push(TargetSpec {
            addr: SocketAddr::from(([10, 0, 0, ip], port)),
            weight,
        });
        healthy.push(b.u8() % 4 != 0);
    }
    let spec = UpstreamSpec {
        name: "fuzz".into(),
        algorithm,
        slots,
        targets,
        passive: PassiveHealth {
            unhealthy_tcp_failures: 1,
            ..PassiveHealth::default()
        },
        ..UpstreamSpec::default()
    };
    let up = match Upstream::build(&spec, &HealthRegistry::new()) {
        Ok(up) => up,
        Err(errs) => {
            assert!(!errs.is_empty());
            return;
        }
    };
    for (t, &h) in up.targets().iter().zip(&healthy) {
        if !h {
            t.report_tcp_failure();
        }
    }
    let usable: HashSet<SocketAddr> = up
        .targets()
        .iter()
        .filter(|t| t.weight() > 0 && t.is_healthy())
        .map(|t| t.addr())
        .collect();

    let keys: Vec<&[u8]> = b.0.chunks(5).take(64).collect();
    let mut cursor = Cursor::with_seed(u64::from(data.len() as u32));
    for key in keys.iter().map(|k| Some(*k)).chain([None, None, None]) {
        let order: Vec<SocketAddr> = up.retry_order(&mut cursor, key).map(|t| t.addr()).collect();
        let distinct: HashSet<SocketAddr> = order.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            order.len(),
            "a target yielded twice: {order:?}"
        );
        assert_eq!(
            distinct, usable,
            "walk must cover exactly the usable targets"
        );
        if algorithm == Algorithm::ConsistentHashing {
            let again = up
                .pick(&mut Cursor::with_seed(12345), key)
                .map(|t| t.addr());
            if key.is_some() {
                assert_eq!(
                    again,
                    order.first().copied(),
                    "hash pick depends on the cursor"
                );
            }
        }
    }

    // Taking down a target that is not a key's first pick must not move that key.
    if algorithm == Algorithm::ConsistentHashing {
        let firsts: Vec<Option<SocketAddr>> = keys
            .iter()
            .map(|k| up.pick(&mut Cursor::default(), Some(k)).map(|t| t.addr()))
            .collect();
        if let Some(victim) = up
            .targets()
            .iter()
            .find(|t| t.is_healthy() && t.weight() > 0)
        {
            victim.set_healthy(false);
            for (k, before) in keys.iter().zip(&firsts) {
                let now = up.pick(&mut Cursor::default(), Some(k)).map(|t| t.addr());
                if *before != Some(victim.addr()) {
                    assert_eq!(now, *before, "key moved off a healthy target");
                } else {
                    assert_ne!(now, Some(victim.addr()));
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| run(data));
