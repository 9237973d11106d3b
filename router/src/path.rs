//! Route path patterns: plain prefixes, `~regex` paths and `{param}` templates.
//!
//! Templates are a subset of matchit's syntax, chosen so every template has one obvious meaning
//! and several overlapping templates can all be searched (the router must find the
//! highest-priority *matching route*, not just the most specific template):
//! * a segment is static text, `{name}` (one whole segment, non-empty, no `/`) or, as the last
//!   segment only, `{*name}` (the non-empty rest of the path, `/` included);
//! * `{{` and `}}` are literal braces in static text;
//! * a parameter sharing a segment with static text (`/img{id}.png`) is rejected, as are
//!   duplicate parameter names.

use crate::normalize::is_normalized;
use std::fmt::Write as _;

/// Bound on template depth (the template trie search recurses once per segment).
pub(crate) const MAX_TEMPLATE_SEGMENTS: usize = 64;

/// One segment of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// Literal text (unescaped), compared byte for byte with one path segment.
    Static(Box<str>),
    /// `{name}`: any non-empty segment.
    Param(Box<str>),
    /// `{*name}`: the non-empty rest of the path.
    CatchAll(Box<str>),
}

/// A parsed template path such as `/users/{id}/posts/{*rest}`.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) segs: Box<[Seg]>,
    /// Bytes of (unescaped) static text before the first parameter, leading `/` included.
    pub(crate) static_prefix_len: usize,
    /// Static bytes overall (slashes included); the priority tie-break among templates.
    pub(crate) static_len: usize,
}

/// Parses a template (a path containing `{`); `Err` carries the reason.
pub(crate) fn parse_template(src: &str) -> Result<Template, String> {
    if !src.starts_with('/') {
        return Err("a template path must start with '/'".into());
    }
    if !is_normalized(src) {
        return Err(
            "path is not normalized (no '//', '.' or '..' segments, uppercase %XX, \
             unreserved characters not percent-encoded)"
                .into(),
        );
    }
    let mut segs = Vec::new();
    let mut names: Vec<Box<str>> = Vec::new();
    let raw_segs: Vec<&str> = src[1..].split('/').collect();
    let n = raw_segs.len();
    if n > MAX_TEMPLATE_SEGMENTS {
        // The template trie is searched recursively, one frame per segment.
        return Err(format!(
            "too many segments ({n}); a template may have at most {MAX_TEMPLATE_SEGMENTS}"
        ));
    }
    for (i, raw) in raw_segs.into_iter().enumerate() {
        let seg = parse_segment(raw)?;
        if let Seg::Param(name) | Seg::CatchAll(name) = &seg {
            if names.contains(name) {
                return Err(format!("duplicate parameter name '{name}'"));
            }
            names.push(name.clone());
        }
        if matches!(seg, Seg::CatchAll(_)) && i + 1 != n {
            return Err("a catch-all parameter {*name} must be the last segment".into());
        }
        segs.push(seg);
    }
    let mut static_prefix_len = 1;
    let mut seen_param = false;
    let mut static_len = 0;
    for (i, s) in segs.iter().enumerate() {
        let slash = usize::from(i > 0);
        match s {
            Seg::Static(t) => {
                static_len += t.len() + 1;
                if !seen_param {
                    static_prefix_len += t.len() + slash;
                }
            }
            Seg::Param(_) | Seg::CatchAll(_) => {
                static_len += 1;
                if !seen_param {
                    static_prefix_len += slash;
                    seen_param = true;
                }
            }
        }
    }
    Ok(Template {
        segs: segs.into_boxed_slice(),
        static_prefix_len,
        static_len,
    })
}

fn parse_segment(raw: &str) -> Result<Seg, String> {
    let b = raw.as_bytes();
    // A whole-segment parameter?
    if b.len() >= 2 && b[0] == b'{' && b[1] != b'{' {
        let Some(close) = raw.find('}') else {
            return Err(format!("unclosed '{{' in segment '{raw}'"));
        };
        if close != raw.len() - 1 {
            return Err(format!(
                "a parameter must fill a whole path segment (got '{raw}')"
            ));
        }
        let inner = &raw[1..close];
        let (catch_all, name) = match inner.strip_prefix('*') {
            Some(n) => (true, n),
            None => (false, inner),
        };
        if name.is_empty() {
            return Err(format!("empty parameter name in '{raw}'"));
        }
        if name.contains(['*', '{', '}']) {
            return Err(format!("invalid parameter name in '{raw}'"));
        }
        return Ok(if catch_all {
            Seg::CatchAll(name.into())
        } else {
            Seg::Param(name.into())
        });
    }
    // Static text with `{{` / `}}` escapes.
    let mut text = String::with_capacity(raw.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c @ (b'{' | b'}') => {
                if b.get(i + 1) == Some(&c) {
                    text.push(char::from(c));
                    i += 2;
                } else {
                    return Err(format!(
                        "a parameter must fill a whole path segment (got '{raw}'); \
                         write '{{{{' or '}}}}' for a literal brace"
                    ));
                }
            }
            c => {
                text.push(char::from(c));
                i += 1;
            }
        }
    }
    Ok(Seg::Static(text.into_boxed_str()))
}

impl Template {
    /// Whether the template matches the whole `path` (a slow path for tests; the router's
    /// template trie implements the same rules).
    #[cfg(test)]
    pub(crate) fn matches(&self, path: &str) -> bool {
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        for (i, seg) in self.segs.iter().enumerate() {
            if let Seg::CatchAll(_) = seg {
                return !rest.is_empty();
            }
            let (cur, next) = match rest.find('/') {
                Some(j) => (&rest[..j], Some(&rest[j + 1..])),
                None => (rest, None),
            };
            let ok = match seg {
                Seg::Static(t) => **t == *cur,
                _ => !cur.is_empty(),
            };
            if !ok {
                return false;
            }
            let last = i + 1 == self.segs.len();
            match (next, last) {
                (None, true) => return true,
                (Some(n), false) => rest = n,
                _ => return false,
            }
        }
        false
    }

    /// The template in its source form (for debugging and tests).
    #[allow(dead_code)]
    pub(crate) fn source(&self) -> String {
        let mut s = String::new();
        for seg in self.segs.iter() {
            s.push('/');
            let _ = match seg {
                Seg::Static(t) => write!(s, "{}", t.replace('{', "{{").replace('}', "}}")),
                Seg::Param(n) => write!(s, "{{{n}}}"),
                Seg::CatchAll(n) => write!(s, "{{*{n}}}"),
            };
        }
        s
    }
}

/// Iterates a template's parameters over a path it is known to match.
#[derive(Debug, Clone)]
pub(crate) struct TemplateCaptures<'a> {
    segs: std::slice::Iter<'a, Seg>,
    rest: &'a str,
}

impl<'a> TemplateCaptures<'a> {
    pub(crate) fn new(t: &'a Template, path: &'a str) -> Self {
        TemplateCaptures {
            segs: t.segs.iter(),
            rest: path.strip_prefix('/').unwrap_or(path),
        }
    }
}

impl<'a> Iterator for TemplateCaptures<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let seg = self.segs.next()?;
            if let Seg::CatchAll(name) = seg {
                let v = self.rest;
                self.rest = "";
                return Some((name, v));
            }
            let (cur, next) = match self.rest.find('/') {
                Some(j) => (&self.rest[..j], &self.rest[j + 1..]),
                None => (self.rest, ""),
            };
            self.rest = next;
            if let Seg::Param(name) = seg {
                return Some((name, cur));
            }
        }
    }
}

/// The literal text every match of the (start-anchored) regex `src` must begin with, found
/// conservatively: a leading run of plain characters, dropping the last one if a quantifier
/// follows, and nothing at all if the pattern has an alternation or starts with a group/flag.
/// Lets the router file regex paths under that prefix in its prefix trie.
pub(crate) fn regex_literal_prefix(src: &str) -> &str {
    if src.contains('|') {
        return "";
    }
    let b = src.as_bytes();
    let mut end = 0;
    while end < b.len() && (b[end].is_ascii_alphanumeric() || matches!(b[end], b'/' | b'-' | b'_'))
    {
        end += 1;
    }
    if end < b.len() && matches!(b[end], b'?' | b'*' | b'{' | b'+') && end > 0 {
        end -= 1;
    }
    &src[..end]
}

/// Wraps a Kong regex path (without its `~`) so it is anchored at the start only.
pub(crate) fn anchored_regex(src: &str) -> String {
    format!("^(?:{src})")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEMPLATES: &[&str] = &[
        "/users/{id}",
        "/users/{id}/posts/{post}",
        "/static/{*rest}",
        "/{a}/{b}",
        "/{*all}",
        "/lit/{{x}}/{y}",
        "/a/{x}/",
        "/{x}",
    ];
    const PATHS: &[&str] = &[
        "/",
        "/users",
        "/users/",
        "/users/1",
        "/users/1/",
        "/users/1/posts/2",
        "/static/",
        "/static/a",
        "/static/a/b/c",
        "/x/y",
        "/x/y/z",
        "/lit/{x}/7",
        "/lit/x/7",
        "/a/b/",
        "/a/b",
        "/x",
        "//",
    ];

    /// Our template semantics agree with matchit's for the syntax we accept.
    #[test]
    fn templates_agree_with_matchit() {
        for t in TEMPLATES {
            let parsed = parse_template(t).unwrap();
            let mut m = matchit::Router::new();
            m.insert(*t, ()).unwrap();
            for p in PATHS {
                let theirs = m.at(p).ok();
                assert_eq!(parsed.matches(p), theirs.is_some(), "{t} vs {p}");
                if let Some(found) = theirs {
                    let ours: Vec<_> = TemplateCaptures::new(&parsed, p).collect();
                    let theirs: Vec<_> = found.params.iter().collect();
                    assert_eq!(ours, theirs, "{t} vs {p}");
                }
            }
            assert_eq!(parsed.source(), *t);
        }
    }

    #[test]
    fn static_lengths() {
        let cases: &[(&str, usize, usize)] = &[
            ("/users/{id}", 7, 7),
            ("/{id}", 1, 1),
            ("/a/{x}/b/{y}", 3, 6),
            ("/lit/{{x}}/{y}", 9, 9),
            ("/static/{*rest}", 8, 8),
        ];
        for (t, prefix, total) in cases {
            let p = parse_template(t).unwrap();
            assert_eq!(
                (p.static_prefix_len, p.static_len),
                (*prefix, *total),
                "{t}"
            );
        }
    }

    /// Every match of the regex begins with the literal prefix we file it under.
    #[test]
    fn regex_literal_prefix_is_sound() {
        let cases: &[(&str, &str)] = &[
            (r"/users/\d+", "/users/"),
            (r"/users?", "/user"),
            (r"/ab*", "/a"),
            (r"/a{2}", "/"),
            (r"/a+", "/"),
            (r"/a|/b", ""),
            (r"(?i)/abc", ""),
            (r"/x.y", "/x"),
            (r"/a-b_c/(?<id>\d+)", "/a-b_c/"),
            ("", ""),
        ];
        for (re, want) in cases {
            assert_eq!(regex_literal_prefix(re), *want, "{re}");
            let compiled = regex::Regex::new(&anchored_regex(re)).unwrap();
            for p in [
                "/users/1", "/user", "/a", "/aa", "/b", "/ABC", "/x.y", "/a-b_c/9", "/",
            ] {
                if compiled.is_match(p) {
                    assert!(
                        p.starts_with(want),
                        "{re} matched {p} without prefix {want}"
                    );
                }
            }
        }
    }
}
