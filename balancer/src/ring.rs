//! Consistent hashing: Kong's Ketama ring, built with the `hashring` crate and a stable hash.
//!
//! Points (Kong 3.x `consistent_hashing.lua`): every enabled target gets
//! `floor(weight / total_weight * n_targets * 160)` points (so 160 each when weights are
//! equal), at least one, keyed `"ip:port i"` for `i` in `1..=points` and hashed with xxhash32
//! (seed 0). Targets are sorted by address first so the ring does not depend on config order.
//! If the total would exceed `slots` (more than 62 equal targets at the default 10000), points
//! are scaled to `floor(slots * weight / total_weight)` so `slots` bounds the ring's memory.
//!
//! Keys are hashed with the same xxhash32 and map to the first point clockwise (`>=`).
//! Adding or removing one of `n` equal-weight targets adds or removes only its own points, so
//! only keys landing on those points move (about 1/n) and keys on surviving targets never do.
//! With unequal weights a change of the mean weight adds/removes a few tail points of the
//! survivors too (as in Kong).
//!
//! Why our own continuum on top of `hashring` (0.3): `HashRing::get` returns only the node,
//! never its position, so walking clockwise to the next *healthy* target (or to the next retry)
//! is only possible with `get_with_replicas`, which clones the whole ring on every call. Its
//! default hasher (SipHash through `Hash`) is also not something we want to pin traffic on:
//! `Hash for [u8]` feeds a native-endian, usize-wide length prefix. So we give `hashring` a
//! stable xxhash32 [`StableHashBuilder`], let it build and sort the ring (`batch_add`, stable
//! sort), and copy its sorted order into two dense vectors: `hashes: Vec<u32>` for the binary
//! search and `entries` for the walk. A test checks our lookup against `HashRing::get`.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;

use hashring::HashRing;
use xxhash_rust::xxh32::{xxh32, Xxh32};

use crate::wrr::{with_prev, Entry};

/// Points per target when all weights are equal (nginx and Kong).
pub(crate) const POINTS_PER_SHARE: u64 = 160;

/// The stable hash of a key: xxhash32 with seed 0, as Kong.
#[inline]
pub fn stable_hash(bytes: &[u8]) -> u32 {
    xxh32(bytes, 0)
}

/// A `std::hash::Hasher` computing xxhash32 (seed 0) of the bytes written, stable across
/// versions, platforms and processes. Integer writes are fed little-endian, fixed width.
#[derive(Clone)]
pub struct StableHasher(Xxh32);

impl std::fmt::Debug for StableHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StableHasher")
            .field(&self.0.digest())
            .finish()
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(Xxh32::new(0))
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn write_usize(&mut self, i: usize) {
        self.0.update(&(i as u64).to_le_bytes());
    }
    fn write_isize(&mut self, i: isize) {
        self.0.update(&(i as i64).to_le_bytes());
    }
    fn finish(&self) -> u64 {
        u64::from(self.0.digest())
    }
}

/// `BuildHasher` for [`StableHasher`], for `hashring::HashRing::with_hasher`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StableHashBuilder;

impl BuildHasher for StableHashBuilder {
    type Hasher = StableHasher;
    fn build_hasher(&self) -> StableHasher {
        StableHasher::default()
    }
}

/// Raw bytes hashed without a length prefix, so `hash_one(RawBytes(b)) == stable_hash(b)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawBytes<'a>(pub(crate) &'a [u8]);

impl Hash for RawBytes<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

/// A virtual node: point `i` of one target, labelled `"{prefix}{i}"` where the prefix is the
/// target's `"ip:port "`. Borrowed and `Copy`: building a ring formats each address once, not
/// once per point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VNode<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) i: u64,
    pub(crate) target: u32,
}

impl VNode<'_> {
    /// The point's hash: xxhash32 of the label, streamed (prefix, then decimal digits).
    pub(crate) fn point(&self) -> u32 {
        StableHashBuilder.hash_one(self) as u32
    }
}

impl Hash for VNode<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.prefix.as_bytes());
        let mut digits = [0u8; 20];
        let mut pos = digits.len();
        let mut i = self.i;
        loop {
            pos -= 1;
            if let Some(d) = digits.get_mut(pos) {
                *d = b'0' + (i % 10) as u8;
            }
            i /= 10;
            if i == 0 || pos == 0 {
                break;
            }
        }
        state.write(digits.get(pos..).unwrap_or_default());
    }
}

/// Points per target, Kong's formula with the `slots` cap (see module docs).
pub(crate) fn points(weights: &[u32], slots: u32) -> Vec<u64> {
    let n = weights.len() as u64;
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let mut pts: Vec<u64> = weights
        .iter()
        .map(|&w| (u64::from(w) * n * POINTS_PER_SHARE / total).max(1))
        .collect();
    if pts.iter().sum::<u64>() > u64::from(slots) {
        pts = weights
            .iter()
            .map(|&w| (u64::from(w) * u64::from(slots) / total).max(1))
            .collect();
    }
    pts
}

/// The `"ip:port "` label prefix of each `(target index, addr, weight)` triple, sorted by
/// address so the ring does not depend on configuration order.
pub(crate) fn prefixes(weighted: &[(u32, SocketAddr, u32)]) -> Vec<(u32, String, u32)> {
    let mut sorted: Vec<&(u32, SocketAddr, u32)> = weighted.iter().collect();
    sorted.sort_by_key(|t| t.1);
    sorted
        .into_iter()
        .map(|&(idx, addr, w)| (idx, format!("{addr} "), w))
        .collect()
}

/// The virtual nodes for the prefixed targets (see [`prefixes`]).
pub(crate) fn vnodes(prefixed: &[(u32, String, u32)], slots: u32) -> Vec<VNode<'_>> {
    let weights: Vec<u32> = prefixed.iter().map(|t| t.2).collect();
    let pts = points(&weights, slots);
    let mut out = Vec::with_capacity(pts.iter().sum::<u64>() as usize);
    for ((idx, prefix, _), &p) in prefixed.iter().zip(&pts) {
        out.extend((1..=p).map(|i| VNode {
            prefix,
            i,
            target: *idx,
        }));
    }
    out
}

/// The continuum: sorted point hashes and, in the same order, the entry for each point.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ring {
    hashes: Vec<u32>,
    pub(crate) entries: Vec<Entry>,
}

impl Ring {
    /// Build from `(target index, addr, weight)` of the enabled targets.
    pub(crate) fn build(weighted: &[(u32, SocketAddr, u32)], slots: u32, ntargets: usize) -> Ring {
        let prefixed = prefixes(weighted);
        let mut ring: HashRing<VNode<'_>, StableHashBuilder> =
            HashRing::with_hasher(StableHashBuilder);
        ring.batch_add(vnodes(&prefixed, slots));
        // hashring 0.3 only offers `IntoIterator` with its default hasher; with ours the one way
        // to read the sorted ring is `get_with_replicas(_, MAX)`: the whole ring, rotated to
        // the probe key's position. Build time only.
        let nodes = ring
            .get_with_replicas(&RawBytes(b""), usize::MAX)
            .unwrap_or_default();
        let mut hashes: Vec<u32> = nodes.iter().map(VNode::point).collect();
        let mut seq: Vec<u32> = nodes.iter().map(|v| v.target).collect();
        // Undo the rotation: the ring starts where the hashes wrap around.
        if let Some(k) = hashes.windows(2).position(|w| w[1] < w[0]) {
            hashes.rotate_left(k + 1);
            seq.rotate_left(k + 1);
        }
        Ring {
            hashes,
            entries: with_prev(&seq, ntargets),
        }
    }

    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Position of the first point clockwise from `hash` (`>=`, wrapping), as Ketama.
    #[inline]
    pub(crate) fn position(&self, hash: u32) -> usize {
        let p = self.hashes.partition_point(|&h| h < hash);
        if p == self.hashes.len() {
            0
        } else {
            p
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 8000))
    }

    #[test]
    fn stable_hasher_matches_xxh32() {
        // Published xxh32 test vectors (seed 0).
        assert_eq!(stable_hash(b""), 0x02cc_5d05);
        assert_eq!(stable_hash(b"a"), 0x550d_7456);
        assert_eq!(stable_hash(b"abc"), 0x32d1_53ff);
        assert_eq!(StableHashBuilder.hash_one(RawBytes(b"abc")), 0x32d1_53ff);
    }

    #[test]
    fn vnode_hash_is_the_label_hash() {
        for (i, label) in [
            (1, "10.0.0.1:80 1"),
            (160, "10.0.0.1:80 160"),
            (10, "10.0.0.1:80 10"),
        ] {
            let v = VNode {
                prefix: "10.0.0.1:80 ",
                i,
                target: 0,
            };
            assert_eq!(v.point(), stable_hash(label.as_bytes()), "{label}");
        }
        let v = VNode {
            prefix: "[::1]:80 ",
            i: u64::MAX,
            target: 0,
        };
        assert_eq!(
            v.point(),
            stable_hash(format!("[::1]:80 {}", u64::MAX).as_bytes())
        );
    }

    #[test]
    fn points_follow_kong_formula() {
        assert_eq!(points(&[100, 100, 100], 10_000), vec![160, 160, 160]);
        assert_eq!(points(&[300, 100], 10_000), vec![240, 80]);
        assert_eq!(points(&[1, 65_535], 10_000), vec![1, 319]);
        // Capped by slots.
        let p = points(&[100; 100], 10_000);
        assert_eq!(p, vec![100; 100]);
        assert_eq!(points(&[1, 1], 10), vec![5, 5]);
    }

    #[test]
    fn lookup_matches_hashring_get() {
        let weighted: Vec<(u32, SocketAddr, u32)> =
            (0..7).map(|i| (i, addr(i), 50 + 25 * i)).collect();
        let ours = Ring::build(&weighted, 10_000, 7);
        let prefixed = prefixes(&weighted);
        let mut theirs: HashRing<VNode<'_>, StableHashBuilder> =
            HashRing::with_hasher(StableHashBuilder);
        theirs.batch_add(vnodes(&prefixed, 10_000));
        assert_eq!(ours.len(), theirs.len());
        for k in 0..20_000u32 {
            let key = format!("key-{k}");
            let pos = ours.position(stable_hash(key.as_bytes()));
            let expect = theirs.get(&RawBytes(key.as_bytes())).unwrap().target;
            assert_eq!(ours.entries[pos].target, expect, "key {key}");
        }
    }

    #[test]
    fn sorted_and_deterministic_regardless_of_config_order() {
        let a: Vec<_> = (0..5).map(|i| (i, addr(i), 100)).collect();
        let mut b = a.clone();
        b.reverse();
        let ra = Ring::build(&a, 10_000, 5);
        let rb = Ring::build(&b, 10_000, 5);
        assert!(ra.hashes.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(ra.hashes, rb.hashes);
        assert_eq!(ra.entries, rb.entries);
    }
}
