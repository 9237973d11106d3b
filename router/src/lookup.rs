//! Answering "which route?": host index -> buckets -> tries -> method/header/regex checks.
//!
//! Nothing here allocates (regex engines reuse per-thread caches after their first use;
//! regex captures are computed lazily by [`RouteMatch::captures`], the only place that may
//! allocate, and only for regexes with named groups).

use crate::compile::{method_bit, Entry, EntryPath, Router, ANY_METHOD, OTHER_METHOD};
use crate::path::{Template, TemplateCaptures};
use crate::trie::{EntryRef, Visitor};
use crate::{HeaderSource, RequestInfo, RouteId};

struct Search<'a, H: ?Sized> {
    r: &'a Router,
    path: &'a str,
    method: &'a [u8],
    mbit: u16,
    headers: &'a H,
    best: u32,
}

impl<H: HeaderSource + ?Sized> Search<'_, H> {
    #[inline]
    fn entry_ok(&self, e: EntryRef) -> bool {
        if e.methods & self.mbit == 0 {
            return false;
        }
        if e.flags == 0 && (self.mbit != OTHER_METHOD || e.methods == ANY_METHOD) {
            return true;
        }
        self.slow_checks(e)
    }

    /// The checks that need the entry and its route: other methods, regex, headers.
    fn slow_checks(&self, e: EntryRef) -> bool {
        let entry: &Entry = &self.r.entries[e.id as usize];
        let route = &self.r.routes[entry.route as usize];
        if self.mbit == OTHER_METHOD
            && e.methods != ANY_METHOD
            && !route.other_methods.iter().any(|m| **m == *self.method)
        {
            return false;
        }
        if let EntryPath::Regex(i) = entry.path {
            if !self.r.regexes[i as usize].re.is_match(self.path) {
                return false;
            }
        }
        route.headers.iter().all(|h| {
            self.headers.any_value(&h.name, &mut |v: &[u8]| {
                h.plain.iter().any(|p| p.eq_ignore_ascii_case(v))
                    || h.regexes
                        .iter()
                        .any(|&k| self.r.header_regexes[k as usize].is_match(v))
            })
        })
    }

    #[inline]
    fn bucket(&mut self, b: u32) {
        let r = self.r;
        let bucket = &r.buckets[b as usize];
        if bucket.min >= self.best {
            return;
        }
        if let Some(t) = &bucket.templates {
            if t.min() < self.best {
                t.search(self.path, self);
            }
        }
        if bucket.prefix.min() < self.best {
            bucket.prefix.walk(self.path.as_bytes(), self);
        }
    }
}

impl<H: HeaderSource + ?Sized> Visitor for Search<'_, H> {
    #[inline]
    fn best(&self) -> u32 {
        self.best
    }

    #[inline]
    fn visit(&mut self, entries: &[EntryRef]) {
        for &e in entries {
            if e.id >= self.best {
                return;
            }
            if self.entry_ok(e) {
                self.best = e.id;
                return;
            }
        }
    }
}

impl Router {
    /// Finds the highest-priority route matching the request (see the crate docs for the
    /// rules and the order). `req.path` must come from [`crate::normalize_path`].
    pub fn lookup<'r, 'q, H: HeaderSource + ?Sized>(
        &'r self,
        req: &RequestInfo<'q>,
        headers: &H,
    ) -> Option<RouteMatch<'r, 'q>> {
        if self.entries.is_empty() {
            return None;
        }
        let mut s = Search {
            r: self,
            path: req.path,
            method: req.method,
            mbit: method_bit(req.method),
            headers,
            best: u32::MAX,
        };
        if let Some(h) = req.host {
            self.hosts.each_bucket(h, |b| s.bucket(b));
        }
        if let Some(b) = self.any_host {
            s.bucket(b);
        }
        let best = s.best;
        let entry = self.entries.get(best as usize)?;
        let route = &self.routes[entry.route as usize];
        let path = req.path;
        let (strip_len, caps) = match entry.path {
            EntryPath::Any => (0, CapSrc::None),
            EntryPath::Prefix(len) => (len as usize, CapSrc::None),
            EntryPath::Regex(i) => {
                let re = &self.regexes[i as usize];
                let strip = if route.strip_path {
                    re.re.find(path).map_or(0, |m| m.end())
                } else {
                    0
                };
                let caps = if re.has_names {
                    CapSrc::Regex(&re.re, path)
                } else {
                    CapSrc::None
                };
                (strip, caps)
            }
            EntryPath::Template(i) => {
                let t = &self.templates[i as usize];
                (t.static_prefix_len, CapSrc::Template(t, path))
            }
        };
        Some(RouteMatch {
            id: route.id,
            strip_len: if route.strip_path { strip_len } else { 0 },
            caps,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum CapSrc<'r, 'q> {
    None,
    Regex(&'r regex::Regex, &'q str),
    Template(&'r Template, &'q str),
}

/// A matched route: its id, how much of the path to strip, and its captures.
#[derive(Debug, Clone)]
pub struct RouteMatch<'r, 'q> {
    id: RouteId,
    strip_len: usize,
    caps: CapSrc<'r, 'q>,
}

impl RouteMatch<'_, '_> {
    /// The matched route's [`crate::RouteSpec::id`].
    pub fn route_id(&self) -> RouteId {
        self.id
    }

    /// Number of leading bytes of the normalised path that strip_path removes: the matched
    /// prefix for prefix paths, the whole regex match for regex paths (as Kong), the static
    /// prefix (up to and including the `/` before the first parameter) for templates; 0 when
    /// the route does not strip or has no paths. Pass it to [`crate::upstream_path`].
    pub fn strip_len(&self) -> usize {
        self.strip_len
    }

    /// Named captures as `(name, value)` pairs, in pattern order: regex named groups that
    /// took part in the match, and template parameters (a catch-all's value is the rest of the
    /// path, `/` included). Allocation-free except for regexes with named groups, which are
    /// re-run here to extract them.
    pub fn captures(&self) -> Captures<'_> {
        Captures {
            inner: match self.caps {
                CapSrc::None => CapIter::None,
                CapSrc::Template(t, p) => CapIter::Template(TemplateCaptures::new(t, p)),
                CapSrc::Regex(re, p) => CapIter::Regex {
                    caps: re.captures(p),
                    names: re.capture_names(),
                    i: 0,
                },
            },
        }
    }
}

/// Iterator over a match's named captures; see [`RouteMatch::captures`].
#[derive(Debug)]
pub struct Captures<'a> {
    inner: CapIter<'a>,
}

#[derive(Debug)]
enum CapIter<'a> {
    None,
    Template(TemplateCaptures<'a>),
    Regex {
        caps: Option<regex::Captures<'a>>,
        names: regex::CaptureNames<'a>,
        i: usize,
    },
}

impl<'a> Iterator for Captures<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            CapIter::None => None,
            CapIter::Template(t) => t.next(),
            CapIter::Regex { caps, names, i } => {
                let caps = caps.as_ref()?;
                loop {
                    let name = names.next()?;
                    let idx = *i;
                    *i += 1;
                    if let (Some(n), Some(m)) = (name, caps.get(idx)) {
                        return Some((n, m.as_str()));
                    }
                }
            }
        }
    }
}
