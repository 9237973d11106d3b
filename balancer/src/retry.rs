//! The retry order: an allocation-free iterator over the targets to try for one request.

use std::sync::Arc;

use crate::leastconn::{LeastConn, Slot};
use crate::upstream::Target;
use crate::wrr::Walk;

/// Targets in the order to try them (first pick, then retries), each at most once, healthy and
/// enabled ones only. Health is read as the iterator advances, so a target that fails during
/// this request (and trips its breaker) is skipped by later steps. Borrowed from the
/// [`crate::Upstream`]; holds no heap data.
#[derive(Debug, Clone)]
pub struct RetryOrder<'a> {
    targets: &'a [Arc<Target>],
    kind: Kind<'a>,
}

#[derive(Debug, Clone)]
enum Kind<'a> {
    Empty,
    /// Round-robin wheel or hash ring; `pending` is a first pick computed eagerly.
    Walk {
        walk: Walk<'a>,
        pending: Option<usize>,
    },
    LeastConn(LeastConn, &'a [Slot]),
}

impl<'a> RetryOrder<'a> {
    pub(crate) fn empty(targets: &'a [Arc<Target>]) -> Self {
        RetryOrder {
            targets,
            kind: Kind::Empty,
        }
    }

    pub(crate) fn walk(targets: &'a [Arc<Target>], walk: Walk<'a>, pending: Option<usize>) -> Self {
        RetryOrder {
            targets,
            kind: Kind::Walk { walk, pending },
        }
    }

    pub(crate) fn least_conn(targets: &'a [Arc<Target>], slots: &'a [Slot], rot: usize) -> Self {
        RetryOrder {
            targets,
            kind: Kind::LeastConn(LeastConn::new(rot), slots),
        }
    }
}

/// Whether the target at `idx` may be yielded by a walk.
#[inline]
pub(crate) fn usable(targets: &[Arc<Target>], idx: u32) -> bool {
    targets.get(idx as usize).is_some_and(|t| t.is_healthy())
}

impl<'a> Iterator for RetryOrder<'a> {
    type Item = &'a Arc<Target>;

    #[inline]
    fn next(&mut self) -> Option<&'a Arc<Target>> {
        let targets = self.targets;
        let idx = match &mut self.kind {
            Kind::Empty => None,
            Kind::Walk { walk, pending } => {
                let pos = match pending.take() {
                    Some(p) => Some(p),
                    None => walk.next_pos(|t| usable(targets, t)),
                };
                pos.and_then(|p| walk.target_at(p)).map(|t| t as usize)
            }
            Kind::LeastConn(lc, slots) => lc.next(slots),
        };
        idx.and_then(|i| targets.get(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.kind {
            Kind::Empty => (0, Some(0)),
            _ => (0, Some(self.targets.len())),
        }
    }
}

impl std::iter::FusedIterator for RetryOrder<'_> {}
