//! Path normalisation, strip lengths and the upstream path (Kong path_handling v0), as tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{compile, r};
use sluice_router::{normalize_path, normalize_path_opts, upstream_path, PathError};

#[test]
fn normalize_table() {
    let ok: &[(&str, &str)] = &[
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        // unreserved characters are decoded, other %XX kept with uppercase hex
        ("/%41%7a%30%2d%2e%5f%7e", "/Az0-._~"),
        ("/a%2fb", "/a%2Fb"), // %2F stays encoded: never a separator
        ("/%c3%a9", "/%C3%A9"),
        ("/a%20b", "/a%20b"),
        ("/a%3Fb", "/a%3Fb"),
        // dot-segments, also when percent-encoded
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),
        ("/../../x", "/x"),
        ("/a/%2e%2E/b", "/b"),
        ("/a/.%2e", "/"),
        ("/a/.../b", "/a/.../b"),
        ("/a/..b/c", "/a/..b/c"),
        // duplicate slashes are merged (Kong 3.x)
        ("//", "/"),
        ("//a///b//", "/a/b/"),
        ("/a//../b", "/b"),
        // other visible ASCII passes through
        ("/a;b=c,d@e!$&'()*+:", "/a;b=c,d@e!$&'()*+:"),
        ("/{x}|^`\\", "/{x}|^`\\"),
    ];
    let mut out = String::from("garbage");
    for (raw, want) in ok {
        normalize_path(raw.as_bytes(), &mut out).unwrap();
        assert_eq!(out, *want, "{raw}");
        // idempotent
        let again = out.clone();
        normalize_path(again.as_bytes(), &mut out).unwrap();
        assert_eq!(out, again, "idempotent {raw}");
    }
    let mut out = String::new();
    normalize_path_opts(b"//a//../b", false, &mut out).unwrap();
    assert_eq!(out, "//a/b");

    let bad: &[(&[u8], PathError)] = &[
        (b"", PathError::NotAbsolute),
        (b"a/b", PathError::NotAbsolute),
        (b"*", PathError::NotAbsolute),
        (b"/a%", PathError::BadPercentEncoding { at: 2 }),
        (b"/a%4", PathError::BadPercentEncoding { at: 2 }),
        (b"/a%zz", PathError::BadPercentEncoding { at: 2 }),
        (b"/a b", PathError::BadByte { at: 2, byte: b' ' }),
        (b"/a\tb", PathError::BadByte { at: 2, byte: b'\t' }),
        (b"/a\x7f", PathError::BadByte { at: 2, byte: 0x7f }),
        (b"/\xc3\xa9", PathError::BadByte { at: 1, byte: 0xc3 }),
        (b"/a#frag", PathError::BadByte { at: 2, byte: b'#' }),
        (b"/\0", PathError::BadByte { at: 1, byte: 0 }),
    ];
    for (raw, want) in bad {
        assert_eq!(normalize_path(raw, &mut out), Err(want.clone()), "{raw:?}");
    }
}

/// Kong's `get_upstream_uri` (path_handling v0), branch by branch. `strip` is the matched
/// prefix length (0 = strip_path off).
#[test]
fn upstream_path_v0_table() {
    let cases: &[(Option<&str>, &str, usize, &str)] = &[
        // service path ends with '/', strip on
        (None, "/foo/bar", 4, "/bar"),
        (None, "/foo", 4, "/"),
        (Some("/"), "/foo/", 4, "/"),
        (Some("/api/"), "/foo", 4, "/api"), // empty rest, request without trailing '/'
        (Some("/api/"), "/foo/", 4, "/api/"), // ... with one: kept
        (Some("/api/"), "/foo/x", 4, "/api/x"), // no double slash
        (Some("/api/"), "/foox", 4, "/api/x"),
        // service path without trailing '/', strip on
        (Some("/api"), "/foo", 4, "/api"),
        (Some("/api"), "/foo/", 4, "/api/"),
        (Some("/api"), "/foo/x", 4, "/api/x"),
        (Some("/api"), "/foox", 4, "/api/x"), // a '/' is inserted
        // Kong's sanitize_uri_postfix: a rest of `.`/`..` becomes empty, a leading `./` or
        // `../` is dropped (only reachable when a prefix ends inside a segment)
        (Some("/api"), "/foo..", 4, "/api"),
        (Some("/api"), "/foo.", 4, "/api"),
        (Some("/api"), "/foo./x", 4, "/api/x"),
        (Some("/api"), "/foo../x", 4, "/api/x"),
        (Some("/api/"), "/foo../x", 4, "/api/x"),
        (Some("/api"), "/", 1, "/api"),
        // strip off: the whole request path is appended
        (None, "/foo/bar", 0, "/foo/bar"),
        (Some("/"), "/", 0, "/"),
        (Some("/api/"), "/foo", 0, "/api/foo"),
        (Some("/api/"), "/", 0, "/api/"),
        (Some("/api"), "/foo", 0, "/api/foo"),
        (Some("/api"), "/", 0, "/api"),
        (Some("/api"), "/foo/", 0, "/api/foo/"),
        // empty service path behaves as "/"
        (Some(""), "/x", 0, "/x"),
    ];
    let mut out = String::from("garbage");
    for (svc, req, strip, want) in cases {
        upstream_path(*svc, req, *strip, &mut out);
        assert_eq!(out, *want, "service {svc:?} request {req} strip {strip}");
    }
}

#[test]
fn strip_len_per_path_kind() {
    let t = compile(vec![
        r(1).paths(&["/pre"]),
        r(2).paths(&["/nostrip"]).strip(false),
        r(3).paths(&[r"~/re/\d+"]),
        r(4).paths(&["/t/{id}/x"]),
        r(5).hosts(&["nopath.io"]),
        r(6).paths(&[r"~/nore/\d+"]).strip(false),
    ]);
    let cases: &[(Option<&str>, &str, u32, usize, &str)] = &[
        (None, "/pre/x", 1, 4, "/svc/x"),
        (None, "/nostrip/x", 2, 0, "/svc/nostrip/x"),
        (None, "/re/123/tail", 3, 7, "/svc/tail"), // the whole regex match
        (None, "/t/9/x", 4, 3, "/svc/9/x"),        // the static prefix before the first param
        (Some("nopath.io"), "/a/b", 5, 0, "/svc/a/b"),
        (None, "/nore/1/z", 6, 0, "/svc/nore/1/z"),
    ];
    let mut out = String::new();
    for (host, path, id, strip, up) in cases {
        let f = t.find(*host, "GET", path, &[]).unwrap();
        assert_eq!((f.0, f.1), (*id, *strip), "{path}");
        upstream_path(Some("/svc"), path, f.1, &mut out);
        assert_eq!(out, *up, "{path}");
    }
}
