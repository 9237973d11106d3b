//! Entity identity: ids (UUIDs) and `created_at` / `updated_at` stamps, as Kong keeps them.
//!
//! Entities created through the Admin API get a random (version 4) UUID. Entities loaded from a
//! file without an `id` get a *name-based* one derived from what identifies them in the file
//! (a service's name, a target's upstream and address, ...), so that restarting on the same
//! file, or a SIGHUP, gives every entity the same id again. Missing timestamps are taken from
//! the running config when an entity with the same id exists there, else they are "now".

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::raw::DeclarativeConfig;

/// Unix time in whole seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `xxxxxxxx-xxxx-Mxxx-Nxxx-xxxxxxxxxxxx`, 36 characters, hex digits and dashes.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// 128 random bits read once from the kernel; falls back to std's per-process random hasher
/// keys mixed with the time and pid where `/dev/urandom` is unavailable.
fn seed() -> (u64, u64) {
    static SEED: OnceLock<(u64, u64)> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut bytes = [0u8; 16];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        if read.is_ok() {
            let (a, b) = bytes.split_at(8);
            let word = |s: &[u8]| {
                s.iter()
                    .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte))
            };
            return (word(a), word(b));
        }
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        let a = h.finish();
        (a, splitmix64(a))
    })
}

fn format_uuid(hi: u64, lo: u64, version: u64) -> String {
    let hi = (hi & !0xf000) | (version << 12);
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// A random (version 4) UUID: a counter run through splitmix64 under a random seed. Unique
/// within the process by construction and unpredictable across processes.
pub fn random_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (s0, s1) = seed();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hi = splitmix64(s0 ^ splitmix64(n));
    let lo = splitmix64(s1 ^ hi ^ n.rotate_left(32));
    format_uuid(hi, lo, 4)
}

fn fnv1a(seed: u64, parts: &[&str]) -> u64 {
    let mut hash = seed;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    splitmix64(hash)
}

/// A name-based UUID (version 5 layout, FNV-based hash): the same parts give the same id in
/// every process and every release.
pub fn name_uuid(parts: &[&str]) -> String {
    let hi = fnv1a(0xcbf2_9ce4_8422_2325, parts);
    let lo = fnv1a(0x6c62_272e_07bb_0142, parts);
    format_uuid(hi, lo, 5)
}

/// Picks a name-based id for an entity of `kind`, unique among `taken`.
fn derive_id(taken: &mut HashSet<String>, kind: &str, key: &[&str]) -> String {
    let mut parts = vec![kind];
    parts.extend_from_slice(key);
    let mut id = name_uuid(&parts);
    let mut salt = 0u32;
    while taken.contains(&id) {
        salt += 1;
        let salt_text = salt.to_string();
        let mut salted = parts.clone();
        salted.push(&salt_text);
        id = name_uuid(&salted);
    }
    taken.insert(id.clone());
    id
}

/// Gives every entity of `cfg` an id and timestamps. Timestamps missing from `cfg` come from the
/// entity with the same id in `previous` (the running config), else from `now`.
pub fn fill(cfg: &mut DeclarativeConfig, previous: Option<&DeclarativeConfig>, now: u64) {
    fill_ids(cfg);
    if !missing_stamps(cfg) {
        // The common case for Admin API changes: every entity is stamped already.
        return;
    }
    let stamps = previous.map(stamps_by_id).unwrap_or_default();
    let stamp = |id: &Option<String>, created: &mut Option<u64>, updated: &mut Option<u64>| {
        let old = id.as_deref().and_then(|id| stamps.get(id));
        if created.is_none() {
            *created = Some(old.and_then(|s| s.0).unwrap_or(now));
        }
        if updated.is_none() {
            *updated = Some(old.and_then(|s| s.1).or(*created).unwrap_or(now));
        }
    };
    for s in &mut cfg.services {
        stamp(&s.id, &mut s.created_at, &mut s.updated_at);
    }
    for r in &mut cfg.routes {
        stamp(&r.id, &mut r.created_at, &mut r.updated_at);
    }
    for u in &mut cfg.upstreams {
        stamp(&u.id, &mut u.created_at, &mut u.updated_at);
        for t in &mut u.targets {
            stamp(&t.id, &mut t.created_at, &mut t.updated_at);
        }
    }
    for c in &mut cfg.consumers {
        stamp(&c.id, &mut c.created_at, &mut c.updated_at);
        for k in &mut c.keyauth_credentials {
            stamp(&k.id, &mut k.created_at, &mut k.updated_at);
        }
        for b in &mut c.basicauth_credentials {
            stamp(&b.id, &mut b.created_at, &mut b.updated_at);
        }
        for a in &mut c.acls {
            stamp(&a.id, &mut a.created_at, &mut a.updated_at);
        }
    }
    for p in &mut cfg.plugins {
        stamp(&p.id, &mut p.created_at, &mut p.updated_at);
    }
}

fn missing_stamps(cfg: &DeclarativeConfig) -> bool {
    let missing = |c: Option<u64>, u: Option<u64>| c.is_none() || u.is_none();
    cfg.services
        .iter()
        .any(|s| missing(s.created_at, s.updated_at))
        || cfg
            .routes
            .iter()
            .any(|r| missing(r.created_at, r.updated_at))
        || cfg.upstreams.iter().any(|u| {
            missing(u.created_at, u.updated_at)
                || u.targets
                    .iter()
                    .any(|t| missing(t.created_at, t.updated_at))
        })
        || cfg.consumers.iter().any(|c| {
            missing(c.created_at, c.updated_at)
                || c.keyauth_credentials
                    .iter()
                    .any(|k| missing(k.created_at, k.updated_at))
                || c.basicauth_credentials
                    .iter()
                    .any(|b| missing(b.created_at, b.updated_at))
                || c.acls.iter().any(|a| missing(a.created_at, a.updated_at))
        })
        || cfg
            .plugins
            .iter()
            .any(|p| missing(p.created_at, p.updated_at))
}

type Stamps = (Option<u64>, Option<u64>);

fn stamps_by_id(cfg: &DeclarativeConfig) -> HashMap<String, Stamps> {
    let mut out = HashMap::new();
    let mut put = |id: &Option<String>, c: Option<u64>, u: Option<u64>| {
        if let Some(id) = id {
            out.insert(id.clone(), (c, u));
        }
    };
    for s in &cfg.services {
        put(&s.id, s.created_at, s.updated_at);
    }
    for r in &cfg.routes {
        put(&r.id, r.created_at, r.updated_at);
    }
    for u in &cfg.upstreams {
        put(&u.id, u.created_at, u.updated_at);
        for t in &u.targets {
            put(&t.id, t.created_at, t.updated_at);
        }
    }
    for c in &cfg.consumers {
        put(&c.id, c.created_at, c.updated_at);
        for k in &c.keyauth_credentials {
            put(&k.id, k.created_at, k.updated_at);
        }
        for b in &c.basicauth_credentials {
            put(&b.id, b.created_at, b.updated_at);
        }
        for a in &c.acls {
            put(&a.id, a.created_at, a.updated_at);
        }
    }
    for p in &cfg.plugins {
        put(&p.id, p.created_at, p.updated_at);
    }
    out
}

/// Ids of one entity kind already in use.
fn taken<'a>(ids: impl Iterator<Item = &'a Option<String>>) -> HashSet<String> {
    ids.flatten().cloned().collect()
}

fn missing_ids(cfg: &DeclarativeConfig) -> bool {
    cfg.services.iter().any(|s| s.id.is_none())
        || cfg.routes.iter().any(|r| r.id.is_none())
        || cfg
            .upstreams
            .iter()
            .any(|u| u.id.is_none() || u.targets.iter().any(|t| t.id.is_none()))
        || cfg.consumers.iter().any(|c| {
            c.id.is_none()
                || c.keyauth_credentials.iter().any(|k| k.id.is_none())
                || c.basicauth_credentials.iter().any(|b| b.id.is_none())
                || c.acls.iter().any(|a| a.id.is_none())
        })
        || cfg.plugins.iter().any(|p| p.id.is_none())
}

fn fill_ids(cfg: &mut DeclarativeConfig) {
    if !missing_ids(cfg) {
        return;
    }
    let mut used = taken(cfg.services.iter().map(|s| &s.id));
    for s in &mut cfg.services {
        if s.id.is_none() {
            let key = s.name.clone().unwrap_or_else(|| s.source_path.clone());
            s.id = Some(derive_id(&mut used, "service", &[&key]));
        }
    }
    let mut used = taken(cfg.routes.iter().map(|r| &r.id));
    for r in &mut cfg.routes {
        if r.id.is_none() {
            let key = r.name.clone().unwrap_or_else(|| r.source_path.clone());
            r.id = Some(derive_id(&mut used, "route", &[&key]));
        }
    }
    let mut used = taken(cfg.upstreams.iter().map(|u| &u.id));
    let mut used_targets = taken(
        cfg.upstreams
            .iter()
            .flat_map(|u| u.targets.iter().map(|t| &t.id)),
    );
    for u in &mut cfg.upstreams {
        if u.id.is_none() {
            u.id = Some(derive_id(&mut used, "upstream", &[&u.name]));
        }
        for t in &mut u.targets {
            if t.id.is_none() {
                t.id = Some(derive_id(
                    &mut used_targets,
                    "target",
                    &[&u.name, &t.target],
                ));
            }
        }
    }
    let mut used = taken(cfg.consumers.iter().map(|c| &c.id));
    let all = |f: fn(&super::raw::Consumer) -> Vec<&Option<String>>, cfg: &DeclarativeConfig| {
        taken(cfg.consumers.iter().flat_map(f))
    };
    let mut used_keys = all(
        |c| c.keyauth_credentials.iter().map(|k| &k.id).collect(),
        cfg,
    );
    let mut used_basic = all(
        |c| c.basicauth_credentials.iter().map(|b| &b.id).collect(),
        cfg,
    );
    let mut used_acls = all(|c| c.acls.iter().map(|a| &a.id).collect(), cfg);
    for c in &mut cfg.consumers {
        let key = c
            .username
            .clone()
            .or_else(|| c.custom_id.as_ref().map(|id| format!("custom_id:{id}")))
            .unwrap_or_else(|| c.source_path.clone());
        if c.id.is_none() {
            c.id = Some(derive_id(&mut used, "consumer", &[&key]));
        }
        for k in &mut c.keyauth_credentials {
            if k.id.is_none() {
                k.id = Some(derive_id(&mut used_keys, "keyauth_credential", &[&k.key]));
            }
        }
        for b in &mut c.basicauth_credentials {
            if b.id.is_none() {
                b.id = Some(derive_id(
                    &mut used_basic,
                    "basicauth_credential",
                    &[&b.username],
                ));
            }
        }
        for a in &mut c.acls {
            if a.id.is_none() {
                a.id = Some(derive_id(&mut used_acls, "acl", &[&key, &a.group]));
            }
        }
    }
    let mut used = taken(cfg.plugins.iter().map(|p| &p.id));
    for i in 0..cfg.plugins.len() {
        if cfg.plugins[i].id.is_some() {
            continue;
        }
        let p = &cfg.plugins[i];
        let scope = |id: Option<&Option<String>>| id.and_then(|id| id.clone()).unwrap_or_default();
        let service = scope(p.service.and_then(|i| cfg.services.get(i)).map(|s| &s.id));
        let route = scope(p.route.and_then(|i| cfg.routes.get(i)).map(|r| &r.id));
        let consumer = scope(p.consumer.and_then(|i| cfg.consumers.get(i)).map(|c| &c.id));
        let id = derive_id(&mut used, "plugin", &[&p.name, &service, &route, &consumer]);
        cfg.plugins[i].id = Some(id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::parse_config;

    #[test]
    fn uuids_are_well_formed_and_distinct() {
        let a = random_uuid();
        let b = random_uuid();
        assert!(is_uuid(&a) && is_uuid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
        let n = name_uuid(&["service", "x"]);
        assert!(is_uuid(&n));
        assert_eq!(&n[14..15], "5");
        assert_eq!(n, name_uuid(&["service", "x"]));
        assert_ne!(n, name_uuid(&["service", "y"]));
        // Parts are delimited: ("ab", "c") is not ("a", "bc").
        assert_ne!(name_uuid(&["ab", "c"]), name_uuid(&["a", "bc"]));
    }

    const CONFIG: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9000
    routes:
      - paths: ["/a"]
      - name: named
        paths: ["/b"]
    plugins:
      - name: cors
        enabled: false
upstreams:
  - name: u
    targets:
      - target: 127.0.0.1:9001
consumers:
  - username: alice
    keyauth_credentials:
      - key: k1
    acls:
      - group: g
"#;

    #[test]
    fn fill_is_deterministic_and_keeps_given_ids() {
        let mut a = parse_config(CONFIG).unwrap();
        let mut b = parse_config(CONFIG).unwrap();
        fill(&mut a, None, 100);
        fill(&mut b, None, 200);
        assert_eq!(a.services[0].id, b.services[0].id);
        assert_eq!(a.routes[0].id, b.routes[0].id);
        assert_ne!(a.routes[0].id, a.routes[1].id);
        assert_eq!(a.plugins[0].id, b.plugins[0].id);
        assert_eq!(a.upstreams[0].targets[0].id, b.upstreams[0].targets[0].id);
        assert!(a.consumers[0].acls[0].id.as_deref().is_some_and(is_uuid));
        assert_eq!(a.services[0].created_at, Some(100));
        assert_eq!(a.services[0].updated_at, Some(100));

        // Timestamps of known ids survive a reload of the same file.
        let mut c = parse_config(CONFIG).unwrap();
        fill(&mut c, Some(&a), 300);
        assert_eq!(c.services[0].created_at, Some(100));
        assert_eq!(c, a);

        let given = CONFIG.replace(
            "  - name: s\n",
            "  - name: s\n    id: 0b4a2e67-5a3b-4f6c-9d2e-1a2b3c4d5e6f\n",
        );
        let mut d = parse_config(&given).unwrap();
        fill(&mut d, None, 1);
        assert_eq!(
            d.services[0].id.as_deref(),
            Some("0b4a2e67-5a3b-4f6c-9d2e-1a2b3c4d5e6f")
        );
    }
}
