//! Process-wide proxy settings from the command line: limits, timeouts, trust.
//!
//! Immutable after start; shared by every worker through `Arc<Shared>`.

use std::net::IpAddr;
use std::time::Duration;

use crate::http::HeadLimits;
use crate::pool::PoolSettings;

/// A trusted network (Kong's `trusted_ips`): an address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .trim()
            .parse()
            .map_err(|_| format!("invalid IP address '{addr_text}'"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("invalid prefix length in '{text}'"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub limits: HeadLimits,
    /// Time allowed to receive a complete request head (slowloris guard).
    pub client_header_timeout: Duration,
    /// Time allowed between two reads of a request body.
    pub client_body_timeout: Duration,
    /// Time allowed for each write to a client.
    pub client_send_timeout: Duration,
    /// Idle time allowed between requests on a keepalive connection.
    pub keepalive_timeout: Duration,
    /// Bound on finishing in-flight requests after SIGTERM.
    pub drain_timeout: Duration,
    /// Client connections one worker serves at once; more are answered 503 and closed.
    pub max_connections_per_worker: usize,
    /// Largest request body accepted (413 beyond); `None` is unlimited, Kong's default.
    pub max_body_size: Option<u64>,
    /// Pipelining depth: the answer to a request that was queued behind this many unanswered
    /// ones closes the connection (the client resends what it queued beyond).
    pub max_pipelined_requests: usize,
    pub trusted_ips: Vec<Cidr>,
    pub proxy_protocol: bool,
    pub pool: PoolSettings,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            limits: HeadLimits::default(),
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            client_send_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
            max_connections_per_worker: 16_384,
            max_body_size: None,
            max_pipelined_requests: 256,
            trusted_ips: Vec::new(),
            proxy_protocol: false,
            pool: PoolSettings::default(),
        }
    }
}

impl ProxySettings {
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_ips.iter().any(|cidr| cidr.contains(ip))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cidr_table() {
        let cases = [
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.128/25", "192.168.1.200", true),
            ("192.168.1.128/25", "192.168.1.100", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "::ffff:127.0.0.1", true),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("::1", "::1", true),
            ("2001:db8::/32", "2001:db8:1::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "10.0.0.1", false),
        ];
        for (net, ip, expected) in cases {
            let cidr = Cidr::parse(net).unwrap();
            assert_eq!(
                cidr.contains(ip.parse().unwrap()),
                expected,
                "{net} contains {ip}"
            );
        }
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
    }
}
