//! Least-connections: pick the healthy, enabled target with the smallest
//! `(active + 1) / weight` (Kong's heap key), reading the cross-worker atomic counters.
//! Ties go to the first target in rotation order starting at the worker's cursor, so equal
//! targets are used in turn. O(n) per pick, no allocation.
//!
//! Retries: with up to [`EXACT_LIMIT`] targets each retry is again the least-loaded target not
//! tried yet (a 256-bit tried-set lives inline in the iterator). Larger upstreams retry by
//! rotation from the first pick, which needs no tried-set.

use std::sync::Arc;

use crate::health::SharedState;

/// Upstreams up to this many targets get an exact least-loaded retry order.
pub(crate) const EXACT_LIMIT: usize = 256;

/// Iteration state of a least-connections retry order.
#[derive(Debug, Clone)]
pub(crate) struct LeastConn {
    rot: usize,
    tried: [u64; EXACT_LIMIT / 64],
    first: Option<usize>,
    k: usize,
    done: bool,
}

/// True when `a` (connections, weight) is strictly less loaded than `b`:
/// `(a.0 + 1) / a.1 < (b.0 + 1) / b.1`, cross-multiplied (no floats). Saturating u64: exact
/// below 2^48 connections per target.
#[inline]
pub(crate) fn less_loaded(a: (usize, u32), b: (usize, u32)) -> bool {
    let lhs = (a.0 as u64)
        .saturating_add(1)
        .saturating_mul(u64::from(b.1));
    let rhs = (b.0 as u64)
        .saturating_add(1)
        .saturating_mul(u64::from(a.1));
    lhs < rhs
}

/// What the scan reads per target, stored densely in the upstream: one pointer chase per
/// target instead of two (`Arc<Target>` then its `Arc<SharedState>`).
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) state: Arc<SharedState>,
    pub(crate) weight: u32,
}

#[inline]
fn eligible(t: &Slot) -> bool {
    t.weight > 0 && t.state.is_healthy()
}

impl LeastConn {
    pub(crate) fn new(rot: usize) -> Self {
        LeastConn {
            rot,
            tried: [0; EXACT_LIMIT / 64],
            first: None,
            k: 0,
            done: false,
        }
    }

    fn is_tried(&self, i: usize) -> bool {
        self.tried
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn mark(&mut self, i: usize) {
        if let Some(w) = self.tried.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Index of the next target to try.
    pub(crate) fn next(&mut self, targets: &[Slot]) -> Option<usize> {
        let n = targets.len();
        if self.done || n == 0 {
            return None;
        }
        let found = match self.first {
            Some(first) if n > EXACT_LIMIT => self.next_rotation(targets, first),
            _ => self.scan(targets),
        };
        match found {
            Some(i) => {
                self.first.get_or_insert(i);
                self.mark(i);
            }
            None => self.done = true,
        }
        found
    }

    fn scan(&self, targets: &[Slot]) -> Option<usize> {
        let n = targets.len();
        let mut best: Option<(usize, (usize, u32))> = None;
        let mut i = self.rot % n.max(1);
        for _ in 0..n {
            if let Some(t) = targets.get(i) {
                if eligible(t) && !self.is_tried(i) {
                    let load = (t.state.active(), t.weight);
                    if best.is_none_or(|(_, b)| less_loaded(load, b)) {
                        best = Some((i, load));
                    }
                }
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
        best.map(|(i, _)| i)
    }

    fn next_rotation(&mut self, targets: &[Slot], first: usize) -> Option<usize> {
        let n = targets.len();
        while self.k + 1 < n {
            self.k += 1;
            let i = (first + self.k) % n;
            if targets.get(i).is_some_and(eligible) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_comparison() {
        assert!(less_loaded((0, 1), (1, 1)));
        assert!(!less_loaded((1, 1), (1, 1)));
        // 3 conns at weight 300 (4/300) beat 1 conn at weight 100 (2/100).
        assert!(less_loaded((3, 300), (1, 100)));
        assert!(!less_loaded((usize::MAX, 1), (usize::MAX, 1)));
        assert!(less_loaded((1 << 40, 65_535), (1 << 40, 1)));
    }
}
