//! What a plugin asks of Redis, and the RESP2 wire format for it. The plugins crate does no
//! I/O: a plugin that needs Redis returns [`crate::Access::Wait`] with a [`StoreQuery`]; the
//! engine sends `command` on one of its per-worker connections, reads one reply with
//! [`parse_reply`] and hands it back to [`crate::Plugins::resume`].
//!
//! Only the replies Sluice's own commands produce are understood (simple strings, errors,
//! integers, bulk strings, arrays of those); a hand-written reader of this subset is ~80 lines
//! where the `redis-protocol` crate would bring nom and cookie-factory along.

use std::time::Duration;

/// A Redis server as a plugin config names it (Kong's `config.redis.*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedisTarget {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub database: u32,
    pub timeout: Duration,
}

impl RedisTarget {
    /// Commands to send once on a new connection (AUTH, SELECT), RESP encoded.
    pub fn handshake(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(password) = &self.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &self.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            out.push(encode_command(&args));
        }
        if self.database != 0 {
            let db = self.database.to_string();
            out.push(encode_command(&[b"SELECT", db.as_bytes()]));
        }
        out
    }
}

/// A round trip a plugin needs before it can decide (see [`crate::Access::Wait`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreQuery {
    pub target: std::sync::Arc<RedisTarget>,
    /// One RESP-encoded command.
    pub command: Vec<u8>,
    /// Where the access phase resumes.
    pub(crate) group: usize,
    pub(crate) instance: usize,
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespValue {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<RespValue>>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RESP reply: {0}")]
pub struct RespError(pub &'static str);

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Nesting and size bounds: a reply to Sluice's commands is small and flat (the rate-limiting
/// script answers at most seven integers), so a misbehaving server can make a worker buffer
/// at most a few MiB before the reply is refused.
const MAX_DEPTH: usize = 4;
const MAX_ELEMENTS: i64 = 64;
const MAX_BULK: i64 = 64 * 1024;

/// Parses one reply from the start of `buf`: `Ok(None)` if more bytes are needed, otherwise
/// the reply and the number of bytes it took.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(RespValue, usize)>, RespError> {
    parse_at(buf, 0, 0)
}

fn line(buf: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rel = buf.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[start..start + rel], start + rel + 2))
}

fn integer(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(RespError("bad integer"))
}

fn parse_at(
    buf: &[u8],
    start: usize,
    depth: usize,
) -> Result<Option<(RespValue, usize)>, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError("nested too deep"));
    }
    let Some(&kind) = buf.get(start) else {
        return Ok(None);
    };
    let Some((text, next)) = line(buf, start + 1) else {
        return if buf.len() - start > 64 * 1024 {
            Err(RespError("line too long"))
        } else {
            Ok(None)
        };
    };
    let value = match kind {
        b'+' => RespValue::Simple(String::from_utf8_lossy(text).into_owned()),
        b'-' => RespValue::Error(String::from_utf8_lossy(text).into_owned()),
        b':' => RespValue::Integer(integer(text)?),
        b'$' => {
            let len = integer(text)?;
            if len == -1 {
                return Ok(Some((RespValue::Bulk(None), next)));
            }
            if !(0..=MAX_BULK).contains(&len) {
                return Err(RespError("bad bulk length"));
            }
            let end = next + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(RespError("bulk string not terminated"));
            }
            return Ok(Some((
                RespValue::Bulk(Some(buf[next..end].to_vec())),
                end + 2,
            )));
        }
        b'*' => {
            let n = integer(text)?;
            if n == -1 {
                return Ok(Some((RespValue::Array(None), next)));
            }
            if !(0..=MAX_ELEMENTS).contains(&n) {
                return Err(RespError("bad array length"));
            }
            let mut items = Vec::with_capacity(n as usize);
            let mut at = next;
            for _ in 0..n {
                match parse_at(buf, at, depth + 1)? {
                    Some((v, after)) => {
                        items.push(v);
                        at = after;
                    }
                    None => return Ok(None),
                }
            }
            return Ok(Some((RespValue::Array(Some(items)), at)));
        }
        _ => return Err(RespError("unknown type byte")),
    };
    Ok(Some((value, next)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode_command(&[b"GET", b"k y"]),
            b"*2\r\n$3\r\nGET\r\n$3\r\nk y\r\n"
        );
    }

    #[test]
    fn replies_parse_whole_or_ask_for_more() {
        let reply = b"*3\r\n:1\r\n$2\r\nab\r\n$-1\r\n+OK\r\n";
        let (value, used) = parse_reply(reply).unwrap().unwrap();
        assert_eq!(
            value,
            RespValue::Array(Some(vec![
                RespValue::Integer(1),
                RespValue::Bulk(Some(b"ab".to_vec())),
                RespValue::Bulk(None),
            ]))
        );
        assert_eq!(&reply[used..], b"+OK\r\n");
        for cut in 0..used {
            assert_eq!(parse_reply(&reply[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(
            parse_reply(b"-NOAUTH Authentication required.\r\n")
                .unwrap()
                .unwrap()
                .0,
            RespValue::Error("NOAUTH Authentication required.".into())
        );
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bad in [
            &b"?\r\n"[..],
            b":x\r\n",
            b"$5\r\nabcdefg",
            b"*99999999\r\n",
            b"$-7\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        ] {
            assert!(
                parse_reply(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
