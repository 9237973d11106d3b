//! Hosts: parsing route hosts, splitting the request's Host header, and the host index that
//! maps a request host to the buckets of routes that accept it.
//!
//! * exact hosts live in a case-insensitive hash map (one probe);
//! * `*.example.com` is filed under `.example.com`, `example.*` under `example.`; a lookup probes
//!   the request host's suffixes starting at each `.` and prefixes ending at each `.`, so the cost
//!   grows with the number of labels in the request host, not with the number of routes;
//! * each key holds one bucket for "any port" and one per named port.

/// How a route host matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HostKind {
    /// `example.com`: equal, ignoring ASCII case.
    Exact,
    /// `*.example.com`: the request host ends with `.example.com` (the stored key).
    Suffix,
    /// `example.*`: the request host starts with `example.` (the stored key).
    Prefix,
}

/// A validated route host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct HostPattern {
    pub(crate) kind: HostKind,
    /// Lowercase; for wildcards, the part that must match (`.example.com`, `example.`).
    pub(crate) key: Box<str>,
    /// The port the Host header must carry, if the route host names one.
    pub(crate) port: Option<u16>,
}

fn parse_port(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(v).ok()
}

/// Splits a Host header value into (host, port). `[v6]:port` is understood; a `:` not followed
/// by a valid port (1-5 digits, at most 65535) leaves the whole value as the host.
pub(crate) fn split_request_host(h: &[u8]) -> (&[u8], Option<u16>) {
    if h.first() == Some(&b'[') {
        if let Some(close) = h.iter().position(|&b| b == b']') {
            let rest = &h[close + 1..];
            if rest.is_empty() {
                return (h, None);
            }
            if let Some(p) = rest.strip_prefix(b":").and_then(parse_port) {
                return (&h[..=close], Some(p));
            }
        }
        return (h, None);
    }
    if let Some(colon) = h.iter().rposition(|&b| b == b':') {
        if let Some(p) = parse_port(&h[colon + 1..]) {
            return (&h[..colon], Some(p));
        }
    }
    (h, None)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Validates and parses a route host (`example.com`, `Example.com:8080`, `*.example.com`,
/// `example.*`, `[::1]:8080`).
pub(crate) fn parse_route_host(raw: &str) -> Result<HostPattern, String> {
    if raw.is_empty() {
        return Err("host must not be empty".into());
    }
    let lower = raw.to_ascii_lowercase();
    let (name, port) = if lower.starts_with('[') {
        let Some(close) = lower.find(']') else {
            return Err("unclosed '[' in IPv6 host".into());
        };
        let inner = &lower[1..close];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("invalid IPv6 address".into());
        }
        let rest = &lower[close + 1..];
        let port = match rest {
            "" => None,
            _ => Some(
                rest.strip_prefix(':')
                    .and_then(|p| parse_port(p.as_bytes()))
                    .ok_or_else(|| format!("invalid port in '{raw}'"))?,
            ),
        };
        return Ok(HostPattern {
            kind: HostKind::Exact,
            key: lower[..=close].into(),
            port,
        });
    } else {
        match lower.rsplit_once(':') {
            Some((n, p)) => {
                let port = parse_port(p.as_bytes())
                    .ok_or_else(|| format!("invalid port '{p}' (must be 0-65535)"))?;
                (n.to_string(), Some(port))
            }
            None => (lower, None),
        }
    };
    let stars = name.matches('*').count();
    let (kind, key) = match stars {
        0 => {
            if !valid_name(&name) {
                return Err(format!("invalid hostname '{name}'"));
            }
            (HostKind::Exact, name)
        }
        1 => {
            if let Some(rest) = name.strip_prefix("*.") {
                if !valid_name(rest) {
                    return Err(format!("invalid wildcard host '{name}'"));
                }
                (HostKind::Suffix, format!(".{rest}"))
            } else if let Some(rest) = name.strip_suffix(".*") {
                if !valid_name(rest) {
                    return Err(format!("invalid wildcard host '{name}'"));
                }
                (HostKind::Prefix, format!("{rest}."))
            } else {
                return Err(format!(
                    "invalid wildcard host '{name}': the '*' must be the whole leftmost or \
                     rightmost label (*.example.com, example.*)"
                ));
            }
        }
        _ => {
            return Err(format!(
                "invalid host '{name}': only one wildcard '*' is allowed"
            ))
        }
    };
    Ok(HostPattern {
        kind,
        key: key.into_boxed_str(),
        port,
    })
}

/// One step of the host hash: rotate-xor (cheap and incremental, so the hashes of all suffixes
/// or all prefixes of a host come from one pass), finished by [`fin`]. `b | 0x20` folds ASCII
/// case in one instruction; it also merges a few non-letters (`@`/`` ` ``, `_`/DEL...), which
/// only costs a key comparison, never a wrong answer.
#[inline]
fn step(h: u64, b: u8) -> u64 {
    h.rotate_left(5) ^ u64::from(b | 0x20)
}

/// Final avalanche (murmur3 fmix64) so the low bits pick well-spread slots.
#[inline]
fn fin(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

const SEED: u64 = 0x243f_6a88_85a3_08d3;

fn fwd_hash(key: &[u8]) -> u64 {
    fin(key.iter().fold(SEED, |h, &b| step(h, b)))
}

fn bwd_hash(key: &[u8]) -> u64 {
    fin(key.iter().rev().fold(SEED, |h, &b| step(h, b)))
}

/// A small open-addressing map from ASCII case-insensitive byte strings to values, probed with
/// the request's bytes as they are (no lowercasing copy, no allocation) and a hash the caller
/// computes incrementally: forward (bytes first to last) or, for `backward` maps, last to first.
#[derive(Debug, Clone)]
pub(crate) struct CiMap<V> {
    backward: bool,
    slots: Box<[u32]>,
    entries: Vec<(u64, Box<[u8]>, V)>,
}

impl<V> CiMap<V> {
    fn new(backward: bool) -> Self {
        CiMap {
            backward,
            slots: Box::new([]),
            entries: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn slot_of(&self, h: u64, key: &[u8]) -> (usize, Option<usize>) {
        let mask = self.slots.len() - 1;
        // Truncation is intended: the low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let mut i = (h as usize) & mask;
        loop {
            match self.slots[i] {
                0 => return (i, None),
                s => {
                    let e = &self.entries[s as usize - 1];
                    if e.0 == h && e.1.eq_ignore_ascii_case(key) {
                        return (i, Some(s as usize - 1));
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Looks `key` up given its hash (as [`fwd_hash`] or [`bwd_hash`] would compute it).
    #[inline]
    pub(crate) fn get_hashed(&self, h: u64, key: &[u8]) -> Option<&V> {
        if self.entries.is_empty() {
            return None;
        }
        let (_, found) = self.slot_of(h, key);
        found.map(|i| &self.entries[i].2)
    }

    pub(crate) fn get_or_insert_with(&mut self, key: &[u8], f: impl FnOnce() -> V) -> &mut V {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let h = if self.backward {
            bwd_hash(key)
        } else {
            fwd_hash(key)
        };
        let (slot, found) = self.slot_of(h, key);
        let idx = match found {
            Some(i) => i,
            None => {
                self.entries.push((h, key.into(), f()));
                let n = self.entries.len();
                self.slots[slot] = u32::try_from(n).unwrap_or(u32::MAX);
                n - 1
            }
        };
        &mut self.entries[idx].2
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(8);
        self.slots = vec![0u32; cap].into_boxed_slice();
        let mask = cap - 1;
        for (n, e) in self.entries.iter().enumerate() {
            #[allow(clippy::cast_possible_truncation)]
            let mut i = (e.0 as usize) & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = u32::try_from(n + 1).unwrap_or(u32::MAX);
        }
    }
}

/// The buckets filed under one host key: one for routes that ignore the port, and one per
/// port named by routes.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostGroup {
    pub(crate) any_port: Option<u32>,
    pub(crate) ports: Vec<(u16, u32)>,
}

impl HostGroup {
    #[inline]
    fn each(&self, port: Option<u16>, f: &mut impl FnMut(u32)) {
        if let Some(b) = self.any_port {
            f(b);
        }
        if let Some(p) = port {
            for &(q, b) in &self.ports {
                if q == p {
                    f(b);
                }
            }
        }
    }
}

/// Request host -> bucket ids.
#[derive(Debug, Clone)]
pub(crate) struct HostIndex {
    exact: CiMap<HostGroup>,
    suffix: CiMap<HostGroup>,
    prefix: CiMap<HostGroup>,
}

impl Default for HostIndex {
    fn default() -> Self {
        HostIndex {
            exact: CiMap::new(true),
            suffix: CiMap::new(true),
            prefix: CiMap::new(false),
        }
    }
}

impl HostIndex {
    /// The bucket id for `pattern`, created by `new_bucket` on first use.
    pub(crate) fn bucket_for(
        &mut self,
        p: &HostPattern,
        new_bucket: &mut impl FnMut() -> u32,
    ) -> u32 {
        let map = match p.kind {
            HostKind::Exact => &mut self.exact,
            HostKind::Suffix => &mut self.suffix,
            HostKind::Prefix => &mut self.prefix,
        };
        let g = map.get_or_insert_with(p.key.as_bytes(), HostGroup::default);
        match p.port {
            None => *g.any_port.get_or_insert_with(&mut *new_bucket),
            Some(port) => {
                if let Some(&(_, b)) = g.ports.iter().find(|(q, _)| *q == port) {
                    b
                } else {
                    let b = new_bucket();
                    g.ports.push((port, b));
                    b
                }
            }
        }
    }

    /// Calls `f` with every bucket whose host pattern accepts `host` (a Host header value):
    /// exact first (most likely to hold the best entry, which prunes the rest), then suffix
    /// wildcards, then prefix wildcards. One backward hashing pass serves the exact map and
    /// every suffix probe; a forward pass runs only if there are prefix wildcards.
    #[inline]
    pub(crate) fn each_bucket(&self, host: &[u8], mut f: impl FnMut(u32)) {
        let (name, port) = split_request_host(host);
        // Suffix groups found during the pass, visited after the exact one.
        let mut found: [Option<&HostGroup>; 8] = [None; 8];
        let mut n_found = 0;
        let mut h = SEED;
        let probe_suffix = !self.suffix.is_empty();
        for i in (0..name.len()).rev() {
            let b = name[i];
            h = step(h, b);
            if probe_suffix && b == b'.' {
                if let Some(g) = self.suffix.get_hashed(fin(h), &name[i..]) {
                    if n_found < found.len() {
                        found[n_found] = Some(g);
                        n_found += 1;
                    } else {
                        g.each(port, &mut f);
                    }
                }
            }
        }
        if let Some(g) = self.exact.get_hashed(fin(h), name) {
            g.each(port, &mut f);
        }
        for g in found.iter().take(n_found).flatten() {
            g.each(port, &mut f);
        }
        if !self.prefix.is_empty() {
            let mut h = SEED;
            for (i, &b) in name.iter().enumerate() {
                h = step(h, b);
                if b == b'.' {
                    if let Some(g) = self.prefix.get_hashed(fin(h), &name[..=i]) {
                        g.each(port, &mut f);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_request_host_table() {
        let cases: &[(&str, &str, Option<u16>)] = &[
            ("example.com", "example.com", None),
            ("example.com:8080", "example.com", Some(8080)),
            ("example.com:0080", "example.com", Some(80)),
            ("example.com:", "example.com:", None),
            ("example.com:65536", "example.com:65536", None),
            ("example.com:123456", "example.com:123456", None),
            ("example.com:x1", "example.com:x1", None),
            ("[::1]", "[::1]", None),
            ("[::1]:443", "[::1]", Some(443)),
            ("[::1]:", "[::1]:", None),
            ("[::1", "[::1", None),
            ("a:b:80", "a:b", Some(80)),
            ("", "", None),
        ];
        for (h, name, port) in cases {
            let (n, p) = split_request_host(h.as_bytes());
            assert_eq!((n, p), (name.as_bytes(), *port), "{h}");
        }
    }

    #[test]
    fn parse_route_host_table() {
        let ok: &[(&str, HostKind, &str, Option<u16>)] = &[
            ("Example.COM", HostKind::Exact, "example.com", None),
            (
                "example.com:8080",
                HostKind::Exact,
                "example.com",
                Some(8080),
            ),
            ("*.example.com", HostKind::Suffix, ".example.com", None),
            (
                "*.Example.com:81",
                HostKind::Suffix,
                ".example.com",
                Some(81),
            ),
            ("example.*", HostKind::Prefix, "example.", None),
            ("example.*:9", HostKind::Prefix, "example.", Some(9)),
            ("[::1]", HostKind::Exact, "[::1]", None),
            (
                "[::FFFF:1.2.3.4]:80",
                HostKind::Exact,
                "[::ffff:1.2.3.4]",
                Some(80),
            ),
            ("1.2.3.4", HostKind::Exact, "1.2.3.4", None),
        ];
        for (raw, kind, key, port) in ok {
            let p = parse_route_host(raw).unwrap();
            assert_eq!((p.kind, &*p.key, p.port), (*kind, *key, *port), "{raw}");
        }
        for bad in [
            "", "*", "*.", ".*", "a.*.b", "*a.com", "a*.com", "*.*", "a..b", "[::1", "[]", "a:",
            "a:b",
        ] {
            assert!(parse_route_host(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn ci_map_grows_and_ignores_case() {
        let mut m: CiMap<usize> = CiMap::new(false);
        for i in 0..1000 {
            *m.get_or_insert_with(format!("Host{i}.Example").as_bytes(), || i) += 0;
        }
        for i in 0..1000 {
            let key = format!("hOST{i}.example");
            assert_eq!(
                m.get_hashed(fwd_hash(key.as_bytes()), key.as_bytes()),
                Some(&i)
            );
        }
        assert_eq!(
            m.get_hashed(fwd_hash(b"host1000.example"), b"host1000.example"),
            None
        );
    }
}
