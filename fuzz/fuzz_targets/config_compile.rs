//! Declarative configs from arbitrary bytes: `parse_config` (YAML or JSON) and `compile` must
//! never panic; a refused config always says why; a compiled snapshot matches its source
//! (one entry per route / service / upstream, backends pointing at real upstreams), and
//! compiling the same config twice gives the same answer.
//!
//! `compile` resolves host names with the system resolver. To stay fast and hermetic, a config
//! only goes through `compile` when every service host that does not name an upstream, and
//! every target host, is an IP literal or `localhost`.
//!
//! Input: the file contents (lossy UTF-8).
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run config_compile -- -max_total_time=120` (from fuzz/).
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use sluice_balancer::HealthRegistry;
use sluice_engine::config::raw::DeclarativeConfig;
use sluice_engine::config::{compile, parse_config, ConfigProblem};
use sluice_engine::snapshot::{Backend, Snapshot};

fn offline_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
}

fn hermetic(cfg: &DeclarativeConfig) -> bool {
    let services = cfg.services.iter().all(|s| {
        cfg.upstreams
            .iter()
            .any(|u| u.name.eq_ignore_ascii_case(&s.host))
            || offline_host(&s.host)
    });
    let targets = cfg
        .upstreams
        .iter()
        .flat_map(|u| &u.targets)
        .all(|t| offline_host(&t.host));
    services && targets
}

fn check_problems(problems: &[ConfigProblem], what: &str) {
    assert!(!problems.is_empty(), "{what} refused without a problem");
    for p in problems {
        assert!(
            !p.message.is_empty(),
            "{what} problem without a message at {:?}",
            p.path
        );
    }
}

fn check_snapshot(cfg: &DeclarativeConfig, snapshot: &Snapshot) {
    assert_eq!(snapshot.routes.len(), cfg.routes.len());
    assert_eq!(snapshot.services.len(), cfg.services.len());
    assert_eq!(snapshot.upstreams.len(), cfg.upstreams.len());
    for (service, entry) in cfg.services.iter().zip(&snapshot.services) {
        match &entry.backend {
            Backend::Upstream(i) => {
                assert!(*i < snapshot.upstreams.len());
                assert!(cfg.upstreams[*i].name.eq_ignore_ascii_case(&service.host));
            }
            Backend::Direct(addrs) => {
                assert!(!addrs.is_empty());
                assert!(
                    addrs.iter().all(|a| a.port() == service.port),
                    "{addrs:?} vs {}",
                    service.port
                );
            }
            Backend::Unresolved => {}
        }
    }
    for route in &snapshot.routes {
        if let Some(s) = route.service {
            assert!(s < snapshot.services.len(), "route points at service {s}");
        }
    }
    assert_eq!(&snapshot.source, cfg);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cfg = match parse_config(&text) {
        Ok(cfg) => cfg,
        Err(problems) => return check_problems(&problems, "parse"),
    };
    for route in &cfg.routes {
        if let Some(s) = route.service {
            assert!(
                s < cfg.services.len(),
                "{} points at service {s}",
                route.source_path
            );
        }
    }
    if !hermetic(&cfg) {
        return;
    }
    let health = HealthRegistry::new();
    let first = compile(cfg.clone(), &health);
    match &first {
        Ok(snapshot) => check_snapshot(&cfg, snapshot),
        Err(problems) => check_problems(problems, "compile"),
    }
    // Again, with the health state the first compile left behind (a reload of the same file).
    let second = compile(cfg.clone(), &health);
    match (&first, &second) {
        (Ok(_), Ok(snapshot)) => check_snapshot(&cfg, snapshot),
        (Err(a), Err(b)) => assert_eq!(
            a.iter().map(|p| (&p.path, &p.message)).collect::<Vec<_>>(),
            b.iter().map(|p| (&p.path, &p.message)).collect::<Vec<_>>()
        ),
        _ => panic!("compiling the same config twice: {first:?} then {second:?}"),
    }
});
