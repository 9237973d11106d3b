//! `Router::lookup` must not allocate (after the regex engines' per-thread caches exist):
//! counted with a test-only global allocator.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A counting allocator is the only way to observe allocations; it just forwards to `System`.
#![allow(unsafe_code)]

use sluice_router::{normalize_path, RequestInfo, RouteSpec, Router};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn spec(
    id: u32,
    hosts: &[&str],
    methods: &[&str],
    paths: &[&str],
    headers: &[(&str, &[&str])],
) -> RouteSpec {
    RouteSpec {
        id,
        name: format!("r{id}"),
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
        methods: methods.iter().map(|s| s.to_string()).collect(),
        paths: paths.iter().map(|s| s.to_string()).collect(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        regex_priority: 0,
        strip_path: true,
        created_order: id,
    }
}

#[test]
fn lookup_does_not_allocate() {
    let router = Router::compile(vec![
        spec(1, &["example.com"], &["GET"], &["/api", "/users/{id}"], &[]),
        spec(2, &["*.example.com"], &[], &["~/v(?<n>\\d+)/"], &[]),
        spec(
            3,
            &["example.*:8080"],
            &["PURGE"],
            &["/static/{*rest}"],
            &[("x-a", &["1", "~*^b"])],
        ),
        spec(4, &[], &[], &["/"], &[("x-b", &["yes"])]),
        spec(5, &[], &["POST"], &[], &[]),
    ])
    .unwrap();
    let mut paths = Vec::new();
    for raw in [
        "/api/x",
        "/users/7",
        "/v2/x",
        "/static/a/b",
        "/",
        "/nothing",
    ] {
        let mut p = String::new();
        normalize_path(raw.as_bytes(), &mut p).unwrap();
        paths.push(p);
    }
    let hosts: [Option<&[u8]>; 5] = [
        Some(b"example.com"),
        Some(b"A.EXAMPLE.COM:443"),
        Some(b"example.org:8080"),
        Some(b"none.io"),
        None,
    ];
    let headers: &[(&str, &[u8])] = &[("x-a", b"Bee"), ("x-b", b"yes")];
    let run = || {
        let mut hits = 0;
        for method in [&b"GET"[..], b"POST", b"PURGE"] {
            for host in hosts {
                for p in &paths {
                    let req = RequestInfo {
                        host,
                        method,
                        path: p,
                    };
                    if let Some(m) = router.lookup(&req, headers) {
                        hits += 1 + m.strip_len();
                    }
                }
            }
        }
        hits
    };
    let warm = run(); // regex engines create their per-thread caches here
    let before = ALLOCS.with(Cell::get);
    let again = run();
    let after = ALLOCS.with(Cell::get);
    assert_eq!(warm, again);
    assert!(warm > 0);
    assert_eq!(
        after - before,
        0,
        "lookup allocated {} times",
        after - before
    );

    // template captures do not allocate either
    let req = RequestInfo {
        host: Some(b"example.com"),
        method: b"GET",
        path: "/users/7",
    };
    let before = ALLOCS.with(Cell::get);
    let m = router.lookup(&req, headers).unwrap();
    let caps: usize = m.captures().map(|(k, v)| k.len() + v.len()).sum();
    let after = ALLOCS.with(Cell::get);
    assert_eq!(caps, 3);
    assert_eq!(after - before, 0);
}
