//! The two per-bucket path indexes, searched for *every* matching entry that could beat the
//! best one found so far (entry ids are ranks: lower is better, so every list is sorted and
//! every subtree knows its best rank, which prunes the search).
//!
//! * [`PrefixTrie`]: a byte-wise radix trie of prefix paths. Walking the request path visits,
//!   in one pass, every node whose key is a prefix of it. It also holds entries that are not
//!   prefix paths but are filed under a literal prefix: routes without paths (under `""`) and
//!   regex paths (under the literal text every match must begin with).
//! * [`TemplateTrie`]: a segment trie of templates with static, `{param}` and `{*catch_all}`
//!   edges, searched depth-first so overlapping templates are all found.

/// Receives candidate entry lists from a trie search.
pub(crate) trait Visitor {
    /// The best (lowest) entry id found so far; `u32::MAX` if none.
    fn best(&self) -> u32;
    /// Offers entries (sorted ascending) that match the path as far as the trie can tell.
    fn visit(&mut self, entries: &[u32]);
}

#[derive(Debug, Clone)]
struct PNode {
    label: Box<[u8]>,
    entries: Vec<u32>,
    child_first: Vec<u8>,
    child_idx: Vec<u32>,
    /// Best entry id in this subtree.
    min: u32,
}

impl PNode {
    fn new(label: &[u8]) -> Self {
        PNode {
            label: label.into(),
            entries: Vec::new(),
            child_first: Vec::new(),
            child_idx: Vec::new(),
            min: u32::MAX,
        }
    }
}

/// Byte-wise radix trie over raw path prefixes.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTrie {
    nodes: Vec<PNode>,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        PrefixTrie {
            nodes: vec![PNode::new(b"")],
        }
    }
}

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl PrefixTrie {
    /// Files `entry` under `key`. Entries must be inserted in ascending order.
    pub(crate) fn insert(&mut self, key: &[u8], entry: u32) {
        let mut n = 0usize;
        let mut k = key;
        loop {
            self.nodes[n].min = self.nodes[n].min.min(entry);
            let Some(&first) = k.first() else {
                self.nodes[n].entries.push(entry);
                return;
            };
            let pos = self.nodes[n].child_first.iter().position(|&c| c == first);
            let Some(pos) = pos else {
                let c = self.nodes.len();
                let mut node = PNode::new(k);
                node.entries.push(entry);
                node.min = entry;
                self.nodes.push(node);
                self.nodes[n].child_first.push(first);
                self.nodes[n].child_idx.push(idx(c));
                return;
            };
            let c = self.nodes[n].child_idx[pos] as usize;
            let label = &self.nodes[c].label;
            let common = label.iter().zip(k).take_while(|(a, b)| a == b).count();
            if common < label.len() {
                // Split child `c` at `common`: `c` keeps the head, a new node gets the tail.
                let tail = PNode {
                    label: label[common..].into(),
                    entries: std::mem::take(&mut self.nodes[c].entries),
                    child_first: std::mem::take(&mut self.nodes[c].child_first),
                    child_idx: std::mem::take(&mut self.nodes[c].child_idx),
                    min: self.nodes[c].min,
                };
                let t = self.nodes.len();
                let tail_first = tail.label[0];
                self.nodes.push(tail);
                let head = &mut self.nodes[c];
                head.label = head.label[..common].into();
                head.child_first.push(tail_first);
                head.child_idx.push(idx(t));
            }
            n = c;
            k = &k[common..];
        }
    }

    /// Offers the entries of every key that is a prefix of `path`, longest last.
    #[inline]
    pub(crate) fn walk<V: Visitor>(&self, path: &[u8], v: &mut V) {
        let mut n = &self.nodes[0];
        let mut rest = path;
        loop {
            if n.min >= v.best() {
                return;
            }
            if !n.entries.is_empty() {
                v.visit(&n.entries);
            }
            let Some(&b) = rest.first() else { return };
            let Some(pos) = n.child_first.iter().position(|&c| c == b) else {
                return;
            };
            let c = &self.nodes[n.child_idx[pos] as usize];
            if !rest.starts_with(&c.label) {
                return;
            }
            rest = &rest[c.label.len()..];
            n = c;
        }
    }

    /// Best entry id in the trie.
    pub(crate) fn min(&self) -> u32 {
        self.nodes[0].min
    }

    pub(crate) fn shrink(&mut self) {
        self.nodes.shrink_to_fit();
        for n in &mut self.nodes {
            n.entries.shrink_to_fit();
            n.child_first.shrink_to_fit();
            n.child_idx.shrink_to_fit();
        }
    }
}

use crate::path::Seg;

#[derive(Debug, Clone, Default)]
struct TNode {
    /// Static children, sorted by segment text.
    statics: Vec<(Box<str>, u32)>,
    param: Option<u32>,
    /// Entries whose template ends at this node.
    end: Vec<u32>,
    /// Entries whose template has a catch-all here (matches a non-empty rest).
    catch_all: Vec<u32>,
    min: u32,
}

/// Segment trie over templates.
#[derive(Debug, Clone)]
pub(crate) struct TemplateTrie {
    nodes: Vec<TNode>,
}

impl Default for TemplateTrie {
    fn default() -> Self {
        TemplateTrie {
            nodes: vec![TNode {
                min: u32::MAX,
                ..TNode::default()
            }],
        }
    }
}

impl TemplateTrie {
    /// Files `entry` under template `segs`. Entries must be inserted in ascending order.
    pub(crate) fn insert(&mut self, segs: &[Seg], entry: u32) {
        let mut n = 0usize;
        for seg in segs {
            self.nodes[n].min = self.nodes[n].min.min(entry);
            let next = match seg {
                Seg::CatchAll(_) => {
                    self.nodes[n].catch_all.push(entry);
                    return;
                }
                Seg::Param(_) => self.nodes[n].param,
                Seg::Static(t) => {
                    let s = &self.nodes[n].statics;
                    s.binary_search_by(|(k, _)| (**k).cmp(t)).ok().map(|i| s[i].1)
                }
            };
            let next = match next {
                Some(c) => c as usize,
                None => {
                    let c = self.nodes.len();
                    self.nodes.push(TNode {
                        min: u32::MAX,
                        ..TNode::default()
                    });
                    let node = &mut self.nodes[n];
                    match seg {
                        Seg::Param(_) => node.param = Some(idx(c)),
                        Seg::Static(t) => {
                            let at = node
                                .statics
                                .binary_search_by(|(k, _)| (**k).cmp(t))
                                .unwrap_or_else(|e| e);
                            node.statics.insert(at, (t.clone(), idx(c)));
                        }
                        Seg::CatchAll(_) => {}
                    }
                    c
                }
            };
            n = next;
        }
        self.nodes[n].min = self.nodes[n].min.min(entry);
        self.nodes[n].end.push(entry);
    }

    pub(crate) fn min(&self) -> u32 {
        self.nodes[0].min
    }

    /// Offers the entries of every template matching the whole `path` (which starts with '/').
    #[inline]
    pub(crate) fn search<V: Visitor>(&self, path: &str, v: &mut V) {
        if let Some(rest) = path.strip_prefix('/') {
            self.dfs(0, rest, v);
        }
    }

    /// `rest` is what follows the '/' that ended the previous segment.
    fn dfs<V: Visitor>(&self, n: usize, rest: &str, v: &mut V) {
        let node = &self.nodes[n];
        if node.min >= v.best() {
            return;
        }
        if !node.catch_all.is_empty() && !rest.is_empty() {
            v.visit(&node.catch_all);
        }
        let (seg, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Ok(i) = node.statics.binary_search_by(|(k, _)| (**k).cmp(seg)) {
            self.child(node.statics[i].1 as usize, tail, v);
        }
        if let Some(p) = node.param {
            if !seg.is_empty() {
                self.child(p as usize, tail, v);
            }
        }
    }

    #[inline]
    fn child<V: Visitor>(&self, c: usize, tail: Option<&str>, v: &mut V) {
        match tail {
            None => {
                let node = &self.nodes[c];
                if !node.end.is_empty() && node.min < v.best() {
                    v.visit(&node.end);
                }
            }
            Some(t) => self.dfs(c, t, v),
        }
    }
}
