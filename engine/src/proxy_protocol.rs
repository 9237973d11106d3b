//! PROXY protocol v1 (text) and v2 (binary) on the proxy listener, as sent by HAProxy, AWS
//! NLB and friends. When enabled, every connection must start with a header; the source
//! address it carries becomes the client address that routing, plugins and logs see.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::conn::BufferedStream;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 header, CRLF included (spec section 2.1).
const V1_MAX: usize = 107;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxiedAddresses {
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("connection closed before the PROXY header")]
    Closed,
    #[error("timed out waiting for the PROXY header")]
    Timeout,
    #[error("missing or malformed PROXY header")]
    Invalid,
}

pub enum Parsed {
    /// Header of this many bytes; addresses unless the sender said UNKNOWN/LOCAL.
    Complete(usize, Option<ProxiedAddresses>),
    Partial,
}

/// Parses a PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    if buf.len() < V2_SIGNATURE.len() {
        let could_be_v2 = V2_SIGNATURE.starts_with(buf);
        let could_be_v1 = b"PROXY ".starts_with(&buf[..buf.len().min(6)]);
        return if could_be_v1 || could_be_v2 {
            Ok(Parsed::Partial)
        } else {
            Err(ProxyHeaderError::Invalid)
        };
    }
    if buf.starts_with(V2_SIGNATURE) {
        parse_v2(buf)
    } else if buf.starts_with(b"PROXY ") {
        parse_v1(buf)
    } else {
        Err(ProxyHeaderError::Invalid)
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyHeaderError::Invalid)
        } else {
            Ok(Parsed::Partial)
        };
    };
    let line = std::str::from_utf8(&buf[6..end]).map_err(|_| ProxyHeaderError::Invalid)?;
    let mut parts = line.split(' ');
    let family = parts.next().ok_or(ProxyHeaderError::Invalid)?;
    if family == "UNKNOWN" {
        return Ok(Parsed::Complete(end + 2, None));
    }
    let fields: Vec<&str> = parts.collect();
    let [src, dst, sport, dport] = fields.as_slice() else {
        return Err(ProxyHeaderError::Invalid);
    };
    let parse_ip = |text: &str| -> Result<IpAddr, ProxyHeaderError> {
        let ip: IpAddr = text.parse().map_err(|_| ProxyHeaderError::Invalid)?;
        match (family, ip) {
            ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(ip),
            _ => Err(ProxyHeaderError::Invalid),
        }
    };
    let parse_port = |text: &str| -> Result<u16, ProxyHeaderError> {
        if text.is_empty()
            || text.len() > 5
            || !text.bytes().all(|b| b.is_ascii_digit())
            || (text.len() > 1 && text.starts_with('0'))
        {
            return Err(ProxyHeaderError::Invalid);
        }
        text.parse().map_err(|_| ProxyHeaderError::Invalid)
    };
    let source = SocketAddr::new(parse_ip(src)?, parse_port(sport)?);
    let destination = SocketAddr::new(parse_ip(dst)?, parse_port(dport)?);
    Ok(Parsed::Complete(
        end + 2,
        Some(ProxiedAddresses {
            source,
            destination,
        }),
    ))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    if buf.len() < 16 {
        return Ok(Parsed::Partial);
    }
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return Err(ProxyHeaderError::Invalid);
    }
    let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + length;
    if buf.len() < total {
        return Ok(Parsed::Partial);
    }
    let body = &buf[16..total];
    match version_command & 0x0f {
        0 => return Ok(Parsed::Complete(total, None)), // LOCAL: health check from the balancer
        1 => {}
        _ => return Err(ProxyHeaderError::Invalid),
    }
    let addresses = match buf[13] {
        // TCP over IPv4
        0x11 if body.len() >= 12 => {
            let src = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let dst = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            Some(ProxiedAddresses {
                source: SocketAddr::new(src.into(), u16::from_be_bytes([body[8], body[9]])),
                destination: SocketAddr::new(dst.into(), u16::from_be_bytes([body[10], body[11]])),
            })
        }
        // TCP over IPv6
        0x21 if body.len() >= 36 => {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&body[0..16]);
            dst.copy_from_slice(&body[16..32]);
            Some(ProxiedAddresses {
                source: SocketAddr::new(
                    Ipv6Addr::from(src).into(),
                    u16::from_be_bytes([body[32], body[33]]),
                ),
                destination: SocketAddr::new(
                    Ipv6Addr::from(dst).into(),
                    u16::from_be_bytes([body[34], body[35]]),
                ),
            })
        }
        0x11 | 0x21 => return Err(ProxyHeaderError::Invalid),
        // UNSPEC or a family we do not proxy: keep the connection's own addresses.
        _ => None,
    };
    Ok(Parsed::Complete(total, addresses))
}

/// Reads and consumes the PROXY header from a fresh connection.
pub async fn read_header(
    io: &mut BufferedStream,
    timeout: Duration,
) -> Result<Option<ProxiedAddresses>, ProxyHeaderError> {
    let deadline = Instant::now() + timeout;
    loop {
        if io.pending_len() > 0 {
            if let Parsed::Complete(len, addresses) = parse(io.pending())? {
                io.consume(len);
                return Ok(addresses);
            }
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or(ProxyHeaderError::Timeout)?;
        match io.fill(512, left).await {
            Ok(0) => return Err(ProxyHeaderError::Closed),
            Ok(_) => {}
            Err(e) if e.is_timeout() => return Err(ProxyHeaderError::Timeout),
            Err(_) => return Err(ProxyHeaderError::Closed),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (usize, Option<ProxiedAddresses>) {
        match parse(buf).unwrap() {
            Parsed::Complete(n, a) => (n, a),
            Parsed::Partial => panic!("partial"),
        }
    }

    #[test]
    fn v1_table() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
        let (len, addresses) = complete(line);
        assert_eq!(len, line.len() - 5);
        let addresses = addresses.unwrap();
        assert_eq!(addresses.source, "192.0.2.1:56324".parse().unwrap());
        assert_eq!(addresses.destination, "198.51.100.2:443".parse().unwrap());
        let (_, v6) = complete(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n");
        assert_eq!(v6.unwrap().source, "[2001:db8::1]:1".parse().unwrap());
        assert_eq!(complete(b"PROXY UNKNOWN\r\n"), (15, None));
        for bad in [
            &b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n"[..],
            b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 065536 2\r\n",
            b"PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(matches!(parse(b"PROXY TCP4 192.0"), Ok(Parsed::Partial)));
        assert!(matches!(parse(b"PRO"), Ok(Parsed::Partial)));
    }

    #[test]
    fn v2_table() {
        let mut header = V2_SIGNATURE.to_vec();
        header.extend_from_slice(&[
            0x21, 0x11, 0, 12, 10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x00, 0x50,
        ]);
        let (len, addresses) = complete(&header);
        assert_eq!(len, 28);
        let addresses = addresses.unwrap();
        assert_eq!(addresses.source, "10.0.0.1:8080".parse().unwrap());
        assert_eq!(addresses.destination, "10.0.0.2:80".parse().unwrap());
        assert!(matches!(parse(&header[..20]), Ok(Parsed::Partial)));

        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(complete(&local), (16, None));

        let mut bad_version = V2_SIGNATURE.to_vec();
        bad_version.extend_from_slice(&[0x11, 0x11, 0, 0]);
        assert!(parse(&bad_version).is_err());

        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert!(parse(&short).is_err());
    }
}
