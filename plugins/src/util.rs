//! Small helpers: constant-time comparison, base64, query strings, header validation, CIDRs.

use std::net::IpAddr;

/// Constant-time byte comparison for secrets (API keys, passwords).
///
/// The running time depends only on the lengths of the inputs, never on where they differ: every
/// byte pair is XORed and ORed into an accumulator, and the result is read once at the end
/// through `std::hint::black_box` so the optimiser cannot turn it into an early exit. A length
/// mismatch returns false after scanning `a` against itself, so the time still does not reveal
/// the position of the first differing byte (it does reveal the length, which is not secret here).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        // Same amount of work as a comparison of `a`, result discarded.
        std::hint::black_box(ct_eq_same_len(a, std::hint::black_box(a)));
        return false;
    }
    ct_eq_same_len(a, b)
}

fn ct_eq_same_len(a: &[u8], b: &[u8]) -> bool {
    let mut diff: u8 = 0;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Standard base64 (RFC 4648, `+/`, padding optional), as nginx's `decode_base64`.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }
    let mut end = input.len();
    while end > 0 && input[end - 1] == b'=' {
        end -= 1;
    }
    if input.len() - end > 2 {
        return None;
    }
    let data = &input[..end];
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        let mut acc: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i as u32);
        }
        out.push((acc >> 16) as u8);
        if chunk.len() > 2 {
            out.push((acc >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(acc as u8);
        }
    }
    Some(out)
}

/// Percent-decoding (and `+` as space, as in `application/x-www-form-urlencoded`).
pub fn url_decode(input: &[u8]) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encoding for query keys and values (unreserved characters kept).
pub fn url_encode(input: &str, out: &mut String) {
    for &b in input.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(
                char::from_digit((b >> 4) as u32, 16)
                    .unwrap_or('0')
                    .to_ascii_uppercase(),
            );
            out.push(
                char::from_digit((b & 15) as u32, 16)
                    .unwrap_or('0')
                    .to_ascii_uppercase(),
            );
        }
    }
}

/// One query parameter: decoded name, decoded value (None for `?flag`), and the raw pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam {
    pub name: String,
    pub value: Option<String>,
    pub raw: String,
}

pub fn parse_query(raw: &[u8]) -> Vec<QueryParam> {
    raw.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], Some(&p[i + 1..])),
                None => (p, None),
            };
            QueryParam {
                name: url_decode(n),
                value: v.map(url_decode),
                raw: String::from_utf8_lossy(p).into_owned(),
            }
        })
        .collect()
}

/// Joins parameters back, keeping the raw form of untouched ones.
pub fn join_query(params: &[QueryParam]) -> String {
    let mut out = String::new();
    for p in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&p.raw);
    }
    out
}

impl QueryParam {
    /// A new parameter, encoded.
    pub fn new(name: &str, value: &str) -> QueryParam {
        let mut raw = String::new();
        url_encode(name, &mut raw);
        raw.push('=');
        url_encode(value, &mut raw);
        QueryParam {
            name: name.to_string(),
            value: Some(value.to_string()),
            raw,
        }
    }
}

/// RFC 9110 token (header field names).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// A header value we may write: no CR, LF or NUL.
pub fn is_safe_value(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// An IP network (a single address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4(u32, u8),
    V6(u128, u8),
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        match addr.trim().parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => {
                let l = len.unwrap_or(32);
                (l <= 32).then(|| Cidr::V4(mask4(u32::from(a), l), l))
            }
            IpAddr::V6(a) => {
                let l = len.unwrap_or(128);
                (l <= 128).then(|| Cidr::V6(mask6(u128::from(a), l), l))
            }
        }
    }

    /// IPv4-mapped IPv6 clients (`::ffff:a.b.c.d`) match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        match (*self, ip) {
            (Cidr::V4(net, l), IpAddr::V4(a)) => mask4(u32::from(a), l) == net,
            (Cidr::V6(net, l), IpAddr::V6(a)) => mask6(u128::from(a), l) == net,
            _ => false,
        }
    }
}

fn mask4(a: u32, l: u8) -> u32 {
    if l == 0 {
        0
    } else {
        a & (u32::MAX << (32 - l as u32))
    }
}

fn mask6(a: u128, l: u8) -> u128 {
    if l == 0 {
        0
    } else {
        a & (u128::MAX << (128 - l as u32))
    }
}

/// SHA-1 (FIPS 180-4), only to verify Kong's stored basic-auth password digests
/// (`sha1(password .. consumer_id)` in hex); not used for anything that needs collision
/// resistance.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_table() {
        let cases: [(&str, Option<&[u8]>); 7] = [
            ("", Some(b"")),
            ("YQ==", Some(b"a")),
            ("YWI=", Some(b"ab")),
            ("YWJj", Some(b"abc")),
            ("YWJj", Some(b"abc")),
            ("YQ", Some(b"a")),
            ("Y", None),
        ];
        for (input, out) in cases {
            assert_eq!(base64_decode(input.as_bytes()).as_deref(), out, "{input}");
        }
        assert_eq!(base64_decode(b"YW!j"), None);
        assert_eq!(base64_decode(b"YQ==="), None);
    }

    #[test]
    fn sha1_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[test]
    fn cidr_table() {
        let cases = [
            ("10.0.0.0/8", "10.255.0.1", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("10.1.2.3/0", "200.0.0.1", true),
            ("10.1.2.3", "10.1.2.3", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "10.0.0.1", false),
            ("::/0", "::1", true),
            ("10.0.0.0/8", "::ffff:10.0.0.1", true),
        ];
        for (net, ip, inside) in cases {
            let n = Cidr::parse(net).unwrap();
            assert_eq!(n.contains(ip.parse().unwrap()), inside, "{net} {ip}");
        }
        for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/x", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn query_round_trip() {
        let q = parse_query(b"a=1&b=x+y&c&d=%41%zz");
        assert_eq!(q[1].value.as_deref(), Some("x y"));
        assert_eq!(q[2].value, None);
        assert_eq!(q[3].value.as_deref(), Some("A%zz"));
        assert_eq!(join_query(&q), "a=1&b=x+y&c&d=%41%zz");
        assert_eq!(QueryParam::new("k y", "v/é").raw, "k%20y=v%2F%C3%A9");
    }

    #[test]
    fn header_validation() {
        assert!(is_token("X-Foo_1"));
        assert!(!is_token("X Foo") && !is_token("") && !is_token("a:b"));
        assert!(is_safe_value("a b\tc") && !is_safe_value("a\r\nb") && !is_safe_value("a\0"));
    }
}
