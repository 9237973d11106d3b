//! The worker's Redis client (lifecycle step 5, for plugins that keep state in Redis, such as
//! rate-limiting's `redis` policy). Worker-local like the upstream pool: idle connections per
//! server, reused in LIFO order, one command in flight per connection, every step bounded by
//! the plugin's `redis.timeout`. A connection that fails in any way is dropped, never reused.

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use rustc_hash::FxHashMap;
use sluice_plugins::redis::{parse_reply, RedisTarget, RespValue};

use crate::conn::{write_owned, BufferedStream, IoFailure};

/// Idle connections kept per Redis server and worker.
const MAX_IDLE: usize = 64;
/// Reply bytes read at a time.
const READ: usize = 4096;

struct Server {
    /// Resolved once; re-resolved after a connection failure.
    addr: Option<SocketAddr>,
    idle: Vec<BufferedStream>,
}

#[derive(Default)]
pub struct RedisPool {
    servers: RefCell<FxHashMap<RedisTarget, Server>>,
}

impl RedisPool {
    /// Sends one command (RESP encoded) and returns the reply. Redis error replies are
    /// returned as `Ok(RespValue::Error)`; I/O failures, timeouts and protocol errors as `Err`.
    pub async fn call(&self, target: &RedisTarget, command: &[u8]) -> Result<RespValue, String> {
        let deadline = Instant::now() + target.timeout;
        let pooled = self
            .servers
            .borrow_mut()
            .get_mut(target)
            .and_then(|s| s.idle.pop());
        if let Some(mut conn) = pooled {
            match exchange(&mut conn, command.to_vec(), deadline).await {
                Ok(reply) => {
                    self.checkin(target, conn);
                    return Ok(reply);
                }
                // Redis closed the idle connection (restart, `timeout` setting): it never saw
                // the command, so it is sent once more on a fresh connection. The other idle
                // connections to this server are probably stale too.
                Err(Failure::Closed(_)) => self.forget(target),
                Err(e) => {
                    self.forget(target);
                    return Err(e.to_string());
                }
            }
        }
        let mut conn = self.connect(target, deadline).await?;
        match exchange(&mut conn, command.to_vec(), deadline).await {
            Ok(reply) => {
                self.checkin(target, conn);
                Ok(reply)
            }
            Err(e) => {
                self.forget(target);
                Err(e.to_string())
            }
        }
    }

    fn checkin(&self, target: &RedisTarget, conn: BufferedStream) {
        let mut servers = self.servers.borrow_mut();
        if let Some(server) = servers.get_mut(target) {
            if server.idle.len() < MAX_IDLE && conn.pending_len() == 0 {
                server.idle.push(conn);
            }
        }
    }

    /// Drops the idle connections and the resolved address of a server that failed.
    fn forget(&self, target: &RedisTarget) {
        if let Some(server) = self.servers.borrow_mut().get_mut(target) {
            server.addr = None;
            server.idle.clear();
        }
    }

    async fn connect(
        &self,
        target: &RedisTarget,
        deadline: Instant,
    ) -> Result<BufferedStream, String> {
        let known = self.servers.borrow().get(target).and_then(|s| s.addr);
        let addr = match known {
            Some(addr) => addr,
            None => {
                // Names are resolved on first use (an IP needs no lookup); a blocking lookup on
                // a worker is acceptable only because it happens once per server, not per
                // request.
                let resolved = (target.host.as_str(), target.port)
                    .to_socket_addrs()
                    .map_err(|e| format!("resolving {}: {e}", target.host))?
                    .next()
                    .ok_or_else(|| format!("{} has no address", target.host))?;
                self.servers
                    .borrow_mut()
                    .entry(target.clone())
                    .or_insert_with(|| Server {
                        addr: None,
                        idle: Vec::new(),
                    })
                    .addr = Some(resolved);
                resolved
            }
        };
        let left = remaining(deadline)?;
        let stream = match monoio::time::timeout(left, TcpStream::connect_addr(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("connect {addr}: {e}")),
            Err(_) => return Err(format!("connect {addr}: timed out")),
        };
        let _ = stream.set_nodelay(true);
        let mut conn = BufferedStream::new(stream, READ);
        for command in target.handshake() {
            match exchange(&mut conn, command, deadline).await {
                Ok(RespValue::Error(e)) => return Err(format!("redis refused the handshake: {e}")),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(conn)
    }
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "timed out".to_string())
}

/// Why an exchange failed.
#[derive(Debug)]
enum Failure {
    /// The connection was closed or reset before any reply byte: the command was not run.
    Closed(String),
    /// Timeout, or a failure after part of a reply: the command may have run.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Closed(e) | Failure::Other(e) => f.write_str(e),
        }
    }
}

/// Writes one command and reads exactly one reply.
async fn exchange(
    conn: &mut BufferedStream,
    command: Vec<u8>,
    deadline: Instant,
) -> Result<RespValue, Failure> {
    let left = remaining(deadline).map_err(Failure::Other)?;
    let (written, _) = write_owned(&mut conn.stream, command, left).await;
    match written {
        Ok(()) => {}
        Err(IoFailure::Timeout) => return Err(Failure::Other("write timed out".into())),
        Err(IoFailure::Io(e)) => return Err(Failure::Closed(format!("write: {e}"))),
    }
    let mut received = false;
    loop {
        if conn.pending_len() > 0 {
            received = true;
            match parse_reply(conn.pending()) {
                Ok(Some((value, used))) => {
                    conn.consume(used);
                    return Ok(value);
                }
                Ok(None) => {}
                Err(e) => return Err(Failure::Other(e.to_string())),
            }
        }
        conn.compact();
        let left = remaining(deadline).map_err(Failure::Other)?;
        let failure = match conn.fill(READ, left).await {
            Ok(0) => "redis closed the connection".to_string(),
            Ok(_) => continue,
            Err(IoFailure::Timeout) => return Err(Failure::Other("read timed out".into())),
            Err(IoFailure::Io(e)) => format!("read: {e}"),
        };
        return Err(if received {
            Failure::Other(failure)
        } else {
            Failure::Closed(failure)
        });
    }
}
