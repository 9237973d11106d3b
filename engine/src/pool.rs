//! Per-worker keepalive pool of upstream connections, keyed by target address.
//!
//! Worker-local (no locks): each worker reuses only the connections it opened. Keyed by
//! address rather than by config entity, so pools survive config reloads untouched.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::conn::BufferedStream;

#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Idle connections kept per target (Kong: upstream_keepalive_pool_size, 512).
    pub max_idle_per_target: usize,
    /// Kong: upstream_keepalive_idle_timeout, 60 s.
    pub idle_timeout: Duration,
    /// Kong: upstream_keepalive_max_requests, 10000.
    pub max_requests: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_idle_per_target: 512,
            idle_timeout: Duration::from_secs(60),
            max_requests: 10_000,
        }
    }
}

pub struct UpstreamConn {
    pub io: BufferedStream,
    pub addr: SocketAddr,
    /// Requests already sent on this connection.
    pub requests: u32,
}

struct IdleConn {
    conn: UpstreamConn,
    since: Instant,
}

pub struct Pool {
    settings: PoolSettings,
    idle: RefCell<FxHashMap<SocketAddr, VecDeque<IdleConn>>>,
}

impl Pool {
    pub fn new(settings: PoolSettings) -> Self {
        Pool {
            settings,
            idle: RefCell::new(FxHashMap::default()),
        }
    }

    /// The most recently used idle connection to `addr` that has not expired.
    pub fn checkout(&self, addr: SocketAddr) -> Option<UpstreamConn> {
        let mut idle = self.idle.borrow_mut();
        let queue = idle.get_mut(&addr)?;
        let now = Instant::now();
        while let Some(entry) = queue.pop_back() {
            if now.duration_since(entry.since) >= self.settings.idle_timeout {
                // Older entries sit further towards the front and have expired as well.
                queue.clear();
                break;
            }
            if is_quiet(&entry.conn.io.stream) {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Returns a connection whose last exchange completed cleanly.
    pub fn checkin(&self, mut conn: UpstreamConn) {
        if conn.requests >= self.settings.max_requests || conn.io.pending_len() != 0 {
            return;
        }
        let max_idle = self.settings.max_idle_per_target;
        if max_idle == 0 {
            // Kong: a pool size of 0 disables upstream keepalive.
            return;
        }
        conn.io.shrink_idle(16 * 1024);
        let now = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let queue = idle.entry(conn.addr).or_default();
        // Room for the one coming in.
        trim_idle(
            queue,
            |entry| entry.since,
            max_idle - 1,
            max_idle * SURGE_FACTOR - 1,
            now,
        );
        queue.push_back(IdleConn { conn, since: now });
    }

    /// Drops expired idle connections, and those over the idle limit that outlived a surge;
    /// called periodically by the worker.
    pub fn evict_expired(&self) {
        let now = Instant::now();
        let timeout = self.settings.idle_timeout;
        let max_idle = self.settings.max_idle_per_target;
        let mut idle = self.idle.borrow_mut();
        idle.retain(|_, queue| {
            queue.retain(|entry| now.duration_since(entry.since) < timeout);
            trim_idle(
                queue,
                |entry| entry.since,
                max_idle,
                max_idle.saturating_mul(SURGE_FACTOR),
                now,
            );
            !queue.is_empty()
        });
    }

    pub fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(VecDeque::len).sum()
    }

    pub fn max_requests(&self) -> u32 {
        self.settings.max_requests
    }
}

/// How long connections beyond the idle limit survive. A burst of completions (thousands of
/// requests in flight, answered in one ring batch) returns far more connections than the limit
/// at once, and the next burst needs them again: closing them made every request of the c10k
/// load test open a fresh upstream connection (13.9k req/s; 29.0k with the surge kept).
const SURGE_GRACE: Duration = Duration::from_secs(1);
/// Hard bound on idle connections per target, as a multiple of the configured limit.
const SURGE_FACTOR: usize = 32;

/// Trims an idle queue (oldest first) to `max_idle`, counting only connections idle for longer
/// than [`SURGE_GRACE`] against it; more than `hard_cap` are never kept. In the steady state
/// this is Kong's `upstream_keepalive_pool_size`.
fn trim_idle<T>(
    queue: &mut VecDeque<T>,
    since: impl Fn(&T) -> Instant,
    max_idle: usize,
    hard_cap: usize,
    now: Instant,
) {
    while queue.len() > max_idle {
        let Some(oldest) = queue.front() else { break };
        if queue.len() <= hard_cap && now.duration_since(since(oldest)) < SURGE_GRACE {
            break;
        }
        queue.pop_front();
    }
}

/// Whether an idle upstream connection is still open and has nothing to say. An upstream may
/// close an idle connection (Node's 5 s keepalive) or send an unsolicited answer before
/// closing (a 408); such a connection must not carry the next request, whose reply would be
/// lost or, worse, be the stale bytes. A non-blocking peek costs one syscall per reuse and
/// catches both (nginx gets the same from an idle read handler).
fn is_quiet(stream: &monoio::net::TcpStream) -> bool {
    use std::os::fd::{AsRawFd, BorrowedFd};
    let fd = stream.as_raw_fd();
    // SAFETY: `fd` belongs to `stream`, which stays borrowed (and therefore open) for the whole
    // lifetime of `borrowed`. Exercised by the pooled-connection tests in
    // engine/tests/connections.rs (unsolicited 408, closed while idle).
    #[allow(unsafe_code)]
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let socket = socket2::SockRef::from(&borrowed);
    let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match socket.recv_with_flags(&mut probe, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        // Ok(0) is end of stream; Ok(n) is data nobody asked for.
        Ok(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_limit_counts_only_connections_older_than_the_surge_grace() {
        let now = Instant::now();
        let old = now - Duration::from_secs(5);
        // 3 long-idle + 4 fresh, limit 2: the long-idle ones go (oldest first) until the
        // limit is met or only fresh ones are left.
        let mut queue: VecDeque<Instant> = [old, old, old, now, now, now, now].into();
        trim_idle(&mut queue, |t| *t, 2, 64, now);
        assert_eq!(queue.len(), 4, "fresh connections of a surge are kept");
        assert!(queue.iter().all(|t| *t == now));

        // Once the surge is over (everything older than the grace), the limit holds.
        let later = now + SURGE_GRACE + Duration::from_millis(1);
        trim_idle(&mut queue, |t| *t, 2, 64, later);
        assert_eq!(queue.len(), 2);

        // The hard cap holds even inside the grace.
        let mut queue: VecDeque<Instant> = std::iter::repeat_n(now, 100).collect();
        trim_idle(&mut queue, |t| *t, 2, 64, now);
        assert_eq!(queue.len(), 64);
    }
}
