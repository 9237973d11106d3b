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

use crate::conn::{write_owned, BufferedStream};

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
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect(target, deadline).await?,
        };
        match exchange(&mut conn, command.to_vec(), deadline).await {
            Ok(reply) => {
                let mut servers = self.servers.borrow_mut();
                if let Some(server) = servers.get_mut(target) {
                    if server.idle.len() < MAX_IDLE && conn.pending_len() == 0 {
                        server.idle.push(conn);
                    }
                }
                Ok(reply)
            }
            Err(e) => {
                if let Some(server) = self.servers.borrow_mut().get_mut(target) {
                    server.addr = None;
                }
                Err(e)
            }
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
            if let RespValue::Error(e) = exchange(&mut conn, command, deadline).await? {
                return Err(format!("redis refused the handshake: {e}"));
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

/// Writes one command and reads exactly one reply.
async fn exchange(
    conn: &mut BufferedStream,
    command: Vec<u8>,
    deadline: Instant,
) -> Result<RespValue, String> {
    let (written, _) = write_owned(&mut conn.stream, command, remaining(deadline)?).await;
    written.map_err(|e| format!("write: {e:?}"))?;
    loop {
        if conn.pending_len() > 0 {
            match parse_reply(conn.pending()) {
                Ok(Some((value, used))) => {
                    conn.consume(used);
                    return Ok(value);
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        conn.compact();
        match conn.fill(READ, remaining(deadline)?).await {
            Ok(0) => return Err("redis closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e:?}")),
        }
    }
}
