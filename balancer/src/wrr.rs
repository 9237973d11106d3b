//! Smooth weighted round-robin (nginx's algorithm), precomputed into a wheel at build time,
//! plus the sequence walk shared with the consistent-hashing ring.
//!
//! nginx keeps `current_weight` per peer and, per pick, adds every peer's weight to its
//! current weight, picks the largest and subtracts the total from it. The resulting sequence is
//! periodic with period `sum(w / gcd)`, and spreads each peer evenly (5,1,1 gives
//! `a a b a c a a`, not `a a a a a b c`). We compute one period at build time, so a pick is an
//! index into a slice: no locks, no allocation, O(1). The period is capped at `slots` (Kong's
//! "maximum number of slots" for round-robin); beyond that, weights are scaled down
//! proportionally (every enabled target keeps at least one entry). Very large upstreams
//! (period × targets > 4M) get an earliest-deadline-first wheel instead, to bound build time.
//!
//! Walking a sequence from any start yields each target at most once without a visited set:
//! every entry stores the circular distance back to the previous entry of the same target, so
//! the entry at offset `d` from the start is that target's first appearance iff `prev > d`.

/// One position of a wheel or ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Index into the upstream's targets.
    pub(crate) target: u32,
    /// Circular distance back to the previous entry of the same target (the sequence length
    /// when the target appears once).
    pub(crate) prev: u32,
}

/// Attach `prev` distances to a sequence of target indices.
pub(crate) fn with_prev(seq: &[u32], ntargets: usize) -> Vec<Entry> {
    let len = seq.len();
    let mut last = vec![usize::MAX; ntargets];
    for (j, &t) in seq.iter().enumerate() {
        last[t as usize] = j;
    }
    let mut out = Vec::with_capacity(len);
    for (j, &t) in seq.iter().enumerate() {
        let p = last[t as usize];
        // `p < j`: previous occurrence in this pass; otherwise it is the last one, circularly.
        let dist = if p < j { j - p } else { j + len - p };
        out.push(Entry {
            target: t,
            prev: dist as u32,
        });
        last[t as usize] = j;
    }
    out
}

/// A walk over a wheel or ring from `start`, visiting each position once.
#[derive(Debug, Clone)]
pub(crate) struct Walk<'a> {
    entries: &'a [Entry],
    start: usize,
    d: usize,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(entries: &'a [Entry], start: usize) -> Self {
        Walk {
            entries,
            start,
            d: 0,
        }
    }

    /// Position of the next entry that is its target's first appearance in this walk and for
    /// which `ok(target)` holds.
    #[inline]
    pub(crate) fn next_pos(&mut self, mut ok: impl FnMut(u32) -> bool) -> Option<usize> {
        let len = self.entries.len();
        while self.d < len {
            let offset = self.d;
            self.d += 1;
            let mut j = self.start + offset;
            if j >= len {
                j -= len;
            }
            let e = self.entries.get(j)?;
            if e.prev as usize > offset && ok(e.target) {
                return Some(j);
            }
        }
        None
    }

    pub(crate) fn target_at(&self, pos: usize) -> Option<u32> {
        self.entries.get(pos).map(|e| e.target)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One period of the smooth-WRR sequence for `(target index, weight)` pairs with weight > 0,
/// reduced by the gcd and capped at `cap` entries (never fewer than one per target).
pub(crate) fn wheel(weighted: &[(u32, u32)], cap: usize) -> Vec<u32> {
    if weighted.is_empty() {
        return Vec::new();
    }
    let mut w: Vec<u64> = weighted.iter().map(|&(_, w)| u64::from(w)).collect();
    reduce(&mut w);
    let total: u64 = w.iter().sum();
    let cap = cap.max(w.len()) as u64;
    if total > cap {
        for x in w.iter_mut() {
            *x = (*x * cap / total).max(1);
        }
        reduce(&mut w);
    }
    let total: u64 = w.iter().sum();
    if total.saturating_mul(w.len() as u64) > NGINX_WORK_LIMIT {
        return edf(weighted, &w, total);
    }
    let mut current = vec![0i64; w.len()];
    let mut seq = Vec::with_capacity(total as usize);
    for _ in 0..total {
        // nginx: add every weight, pick the largest current weight (ties: lowest index),
        // subtract the total from the winner.
        let mut best = 0;
        let mut best_c = i64::MIN;
        for (i, (c, &wi)) in current.iter_mut().zip(&w).enumerate() {
            *c += wi as i64;
            if *c > best_c {
                best = i;
                best_c = *c;
            }
        }
        if let Some(c) = current.get_mut(best) {
            *c -= total as i64;
        }
        if let Some(&(t, _)) = weighted.get(best) {
            seq.push(t);
        }
    }
    seq
}

/// nginx's loop costs `period × targets`; above this (e.g. 10000 slots × 400 targets) the
/// wheel is built by [`edf`] instead, so a reload never spends more than a few ms per upstream.
const NGINX_WORK_LIMIT: u64 = 4_000_000;

/// Earliest-deadline-first (stride scheduling): the next entry is the target whose next
/// "virtual finish time" `(picks + 1) / weight` is smallest, ties to the lowest index. Same
/// period and per-target counts as nginx, comparably even interleaving (not the identical
/// sequence), in `O(period × log targets)`.
fn edf(weighted: &[(u32, u32)], w: &[u64], total: u64) -> Vec<u32> {
    use std::cmp::{Ordering, Reverse};
    use std::collections::BinaryHeap;

    #[derive(PartialEq, Eq)]
    struct Next {
        picks: u64,
        weight: u64,
        i: usize,
    }
    impl Ord for Next {
        fn cmp(&self, o: &Self) -> Ordering {
            // (picks + 1) / weight, cross-multiplied; u128 so it cannot overflow.
            let a = u128::from(self.picks + 1) * u128::from(o.weight);
            let b = u128::from(o.picks + 1) * u128::from(self.weight);
            a.cmp(&b).then(self.i.cmp(&o.i))
        }
    }
    impl PartialOrd for Next {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }

    let mut heap: BinaryHeap<Reverse<Next>> = w
        .iter()
        .enumerate()
        .map(|(i, &weight)| {
            Reverse(Next {
                picks: 0,
                weight,
                i,
            })
        })
        .collect();
    let mut seq = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let Some(mut top) = heap.peek_mut() else {
            break;
        };
        if let Some(&(t, _)) = weighted.get(top.0.i) {
            seq.push(t);
        }
        top.0.picks += 1;
    }
    seq
}

fn reduce(w: &mut [u64]) {
    let g = w.iter().fold(0, |g, &x| gcd(g, x));
    if g > 1 {
        for x in w.iter_mut() {
            *x /= g;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn nginx_sequence_5_1_1() {
        let seq = wheel(&[(0, 5), (1, 1), (2, 1)], 10_000);
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn reduced_by_gcd() {
        assert_eq!(wheel(&[(0, 100), (1, 100)], 10_000), vec![0, 1]);
        assert_eq!(wheel(&[(3, 300), (7, 100)], 10_000).len(), 4);
    }

    #[test]
    fn capped_and_proportional() {
        let seq = wheel(&[(0, 65_535), (1, 30_000), (2, 1)], 100);
        assert!(seq.len() <= 101, "len {}", seq.len());
        assert!(seq.contains(&2), "tiny weights keep one entry");
        let a = seq.iter().filter(|&&t| t == 0).count() as f64;
        let b = seq.iter().filter(|&&t| t == 1).count() as f64;
        assert!((a / b - 65_535.0 / 30_000.0).abs() < 0.1, "{a} {b}");
    }

    #[test]
    fn large_upstreams_use_edf_with_exact_counts() {
        let weighted: Vec<(u32, u32)> = (0..1000).map(|i| (i, 1 + i % 7)).collect();
        let seq = wheel(&weighted, 65_536);
        assert_eq!(
            seq.len(),
            weighted.iter().map(|&(_, w)| w as usize).sum::<usize>()
        );
        let mut counts = vec![0u32; 1000];
        for &t in &seq {
            counts[t as usize] += 1;
        }
        assert!(weighted.iter().all(|&(i, w)| counts[i as usize] == w));
        // Evenly spread: a weight-7 target appears in every seventh of the wheel.
        let pos: Vec<usize> = seq
            .iter()
            .enumerate()
            .filter(|(_, &t)| t == 6)
            .map(|(j, _)| j)
            .collect();
        let period = seq.len() / 7;
        for (k, p) in pos.iter().enumerate() {
            assert!(p / period <= k + 1 && k <= p / period + 1, "{pos:?}");
        }
    }

    #[test]
    fn prev_distances() {
        let e = with_prev(&[0, 0, 1, 0, 2, 0, 0], 3);
        let prev: Vec<u32> = e.iter().map(|e| e.prev).collect();
        assert_eq!(prev, vec![1, 1, 7, 2, 7, 2, 1]);
    }

    #[test]
    fn walk_yields_each_target_once_from_any_start() {
        let seq = wheel(&[(0, 5), (1, 1), (2, 3), (3, 2)], 10_000);
        let e = with_prev(&seq, 4);
        for (start, &expect_first) in seq.iter().enumerate() {
            let mut w = Walk::new(&e, start);
            let mut got = Vec::new();
            while let Some(p) = w.next_pos(|_| true) {
                got.push(w.target_at(p).unwrap());
            }
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2, 3], "start {start}: {got:?}");
            assert_eq!(got[0], expect_first);
        }
    }
}
