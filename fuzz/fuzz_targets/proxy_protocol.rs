//! PROXY protocol headers (v1 text, v2 binary) from arbitrary bytes: `parse` never panics, a
//! complete header is no longer than the input and parses the same on its own, and the answer
//! does not depend on how the bytes arrived: no prefix of a complete header is Complete (at
//! any length), and once a prefix is refused every longer input is refused too, since
//! `read_header` gives up at the first refusal.
//!
//! Input: the bytes at the start of a connection, as-is.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run proxy_protocol -- -max_total_time=120` (from fuzz/).
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use sluice_engine::proxy_protocol::{parse, Parsed, ProxiedAddresses, ProxyHeaderError};

type Outcome = Result<Option<(usize, Option<ProxiedAddresses>)>, ProxyHeaderError>;

fn outcome(buf: &[u8]) -> Outcome {
    parse(buf).map(|parsed| match parsed {
        Parsed::Complete(len, addresses) => Some((len, addresses)),
        Parsed::Partial => None,
    })
}

fn same_family(a: SocketAddr, b: SocketAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Every prefix for short inputs (v1 headers are at most 107 bytes), a spread otherwise.
fn split_points(len: usize) -> Vec<usize> {
    if len <= 160 {
        return (0..len).collect();
    }
    let mut points: Vec<usize> = (0..160).collect();
    points.extend((0..32).map(|i| 160 + i * (len - 160) / 32));
    points.extend([len - 2, len - 1]);
    points.retain(|&p| p < len);
    points
}

fuzz_target!(|data: &[u8]| {
    let whole = outcome(data);
    if let Ok(Some((len, addresses))) = &whole {
        assert!(
            *len <= data.len(),
            "Complete({len}) longer than the input of {}",
            data.len()
        );
        assert!(*len >= 15, "Complete({len}) shorter than any valid header");
        if let Some(a) = addresses {
            assert!(same_family(a.source, a.destination), "{a:?}");
        }
        if data.starts_with(b"PROXY ") {
            assert!(*len <= 107, "v1 header of {len} bytes");
            assert!(data[..*len].ends_with(b"\r\n"));
        } else {
            assert_eq!(
                *len,
                16 + usize::from(u16::from_be_bytes([data[14], data[15]]))
            );
        }
        assert_eq!(
            outcome(&data[..*len]),
            whole,
            "the header alone parses differently"
        );
    }
    if let Ok(None) = &whole {
        // Waiting for more bytes is only possible while a header could still fit.
        if data.starts_with(b"PROXY ") {
            assert!(data.len() < 107, "v1 Partial at {} bytes", data.len());
        }
    }
    for split in split_points(data.len()) {
        let prefix = outcome(&data[..split]);
        match (&prefix, &whole) {
            (Ok(Some((n, _))), Ok(Some((m, _)))) => {
                assert!(
                    n == m && prefix == whole,
                    "prefix of {split}: {prefix:?}, whole: {whole:?}"
                )
            }
            (Ok(Some(_)), _) => panic!("prefix of {split} Complete ({prefix:?}), whole: {whole:?}"),
            (Ok(None), _) => {}
            (Err(e), _) => assert!(
                whole.is_err(),
                "prefix of {split} refused ({e:?}) but the whole is {whole:?}"
            ),
        }
    }
});
