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
struct BNode {
    label: Box<[u8]>,
    entries: Vec<u32>,
    child_first: Vec<u8>,
    child_idx: Vec<u32>,
    /// Best entry id in this subtree.
    min: u32,
}

impl BNode {
    fn new(label: &[u8]) -> Self {
        BNode {
            label: label.into(),
            entries: Vec::new(),
            child_first: Vec::new(),
            child_idx: Vec::new(),
            min: u32::MAX,
        }
    }
}

/// Builds a [`PrefixTrie`]: a byte-wise radix trie over raw path prefixes.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTrieBuilder {
    nodes: Vec<BNode>,
}

impl Default for PrefixTrieBuilder {
    fn default() -> Self {
        PrefixTrieBuilder {
            nodes: vec![BNode::new(b"")],
        }
    }
}

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn span(off: usize, len: usize) -> (u32, u32) {
    (idx(off), idx(len))
}

impl PrefixTrieBuilder {
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
                let mut node = BNode::new(k);
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
                let tail = BNode {
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

    /// Freezes into flat arrays (nodes in depth-first order, so a walk moves forward in memory).
    pub(crate) fn build(self) -> PrefixTrie {
        let mut t = PrefixTrie::default();
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            order.push(n);
            // Push in reverse so the first child is visited first.
            stack.extend(self.nodes[n].child_idx.iter().rev().map(|&c| c as usize));
        }
        let mut new_id = vec![0u32; self.nodes.len()];
        for (i, &n) in order.iter().enumerate() {
            new_id[n] = idx(i);
        }
        for &n in &order {
            let b = &self.nodes[n];
            let label = span(t.labels.len(), b.label.len());
            t.labels.extend_from_slice(&b.label);
            let entries = span(t.entries.len(), b.entries.len());
            t.entries.extend_from_slice(&b.entries);
            let kids = span(t.kid_bytes.len(), b.child_first.len());
            t.kid_bytes.extend_from_slice(&b.child_first);
            t.kid_idx
                .extend(b.child_idx.iter().map(|&c| new_id[c as usize]));
            t.nodes.push(PNode {
                label,
                entries,
                kids,
                min: b.min,
            });
        }
        t
    }
}

#[derive(Debug, Clone, Copy)]
struct PNode {
    label: (u32, u32),
    entries: (u32, u32),
    kids: (u32, u32),
    min: u32,
}

#[inline]
fn slice<T>(v: &[T], (off, len): (u32, u32)) -> &[T] {
    &v[off as usize..off as usize + len as usize]
}

/// Byte-wise radix trie over raw path prefixes, in flat arrays.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixTrie {
    nodes: Vec<PNode>,
    labels: Vec<u8>,
    entries: Vec<u32>,
    kid_bytes: Vec<u8>,
    kid_idx: Vec<u32>,
}

impl PrefixTrie {
    /// Offers the entries of every key that is a prefix of `path`, shortest first.
    #[inline]
    pub(crate) fn walk<V: Visitor>(&self, path: &[u8], v: &mut V) {
        let Some(mut n) = self.nodes.first() else {
            return;
        };
        let mut rest = path;
        loop {
            if n.min >= v.best() {
                return;
            }
            if n.entries.1 != 0 {
                v.visit(slice(&self.entries, n.entries));
            }
            let Some(&b) = rest.first() else { return };
            let kids = slice(&self.kid_bytes, n.kids);
            let Some(pos) = kids.iter().position(|&c| c == b) else {
                return;
            };
            let c = &self.nodes[self.kid_idx[n.kids.0 as usize + pos] as usize];
            let label = slice(&self.labels, c.label);
            if rest.len() < label.len() || !short_eq(&rest[..label.len()], label) {
                return;
            }
            rest = &rest[label.len()..];
            n = c;
        }
    }

    /// Best entry id in the trie.
    pub(crate) fn min(&self) -> u32 {
        self.nodes.first().map_or(u32::MAX, |n| n.min)
    }
}

use crate::path::Seg;

/// Hash of a path segment (rotate-xor, one cycle or two per byte); [`edge_hash`] mixes in the
/// parent node id and avalanches.
#[inline]
pub(crate) fn seg_hash(seg: &[u8]) -> u64 {
    seg.iter().fold(0x243f_6a88_85a3_08d3, |h: u64, &b| {
        h.rotate_left(5) ^ u64::from(b)
    })
}

#[inline]
fn edge_hash(parent: u32, seg_hash: u64) -> u64 {
    let mut x = seg_hash ^ u64::from(parent).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// `a == b` for the short slices of labels and segments: a plain loop beats a call to libc's
/// `memcmp`/`bcmp` at these lengths (it showed as 12% of a 10-route lookup profile).
#[inline]
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[derive(Debug, Clone, Default)]
struct TBNode {
    statics: Vec<(Box<str>, u32)>,
    param: Option<u32>,
    end: Vec<u32>,
    catch_all: Vec<u32>,
    min: u32,
}

/// Builds a [`TemplateTrie`].
#[derive(Debug, Clone)]
pub(crate) struct TemplateTrieBuilder {
    nodes: Vec<TBNode>,
}

impl Default for TemplateTrieBuilder {
    fn default() -> Self {
        TemplateTrieBuilder {
            nodes: vec![TBNode {
                min: u32::MAX,
                ..TBNode::default()
            }],
        }
    }
}

impl TemplateTrieBuilder {
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
                Seg::Static(t) => self.nodes[n]
                    .statics
                    .iter()
                    .find(|(k, _)| k == t)
                    .map(|(_, c)| *c),
            };
            let next = match next {
                Some(c) => c as usize,
                None => {
                    let c = self.nodes.len();
                    self.nodes.push(TBNode {
                        min: u32::MAX,
                        ..TBNode::default()
                    });
                    let node = &mut self.nodes[n];
                    match seg {
                        Seg::Param(_) => node.param = Some(idx(c)),
                        Seg::Static(t) => node.statics.push((t.clone(), idx(c))),
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

    /// Freezes into flat arrays plus one hash table of static edges.
    pub(crate) fn build(self) -> TemplateTrie {
        let mut t = TemplateTrie::default();
        let n_edges: usize = self.nodes.iter().map(|n| n.statics.len()).sum();
        let cap = (n_edges * 2).next_power_of_two().max(2);
        t.slots = vec![0u32; cap];
        for (id, b) in self.nodes.iter().enumerate() {
            let end = span(t.entries.len(), b.end.len());
            t.entries.extend_from_slice(&b.end);
            let catch_all = span(t.entries.len(), b.catch_all.len());
            t.entries.extend_from_slice(&b.catch_all);
            t.nodes.push(TNode {
                param: b.param.unwrap_or(u32::MAX),
                end,
                catch_all,
                min: b.min,
            });
            for (seg, child) in &b.statics {
                let h = edge_hash(idx(id), seg_hash(seg.as_bytes()));
                let text = span(t.arena.len(), seg.len());
                t.arena.extend_from_slice(seg.as_bytes());
                t.edges.push(Edge {
                    hash: h,
                    parent: idx(id),
                    child: *child,
                    text,
                });
                #[allow(clippy::cast_possible_truncation)]
                let mut i = (h as usize) & (cap - 1);
                while t.slots[i] != 0 {
                    i = (i + 1) & (cap - 1);
                }
                t.slots[i] = idx(t.edges.len());
            }
        }
        t
    }
}

#[derive(Debug, Clone, Copy)]
struct TNode {
    /// Child for a `{param}` segment; `u32::MAX` if none.
    param: u32,
    end: (u32, u32),
    catch_all: (u32, u32),
    min: u32,
}

#[derive(Debug, Clone, Copy)]
struct Edge {
    hash: u64,
    parent: u32,
    child: u32,
    text: (u32, u32),
}

/// Segment trie over templates: flat nodes, static edges in one open-addressing table keyed
/// by (parent node, segment text), so a node with thousands of static children costs one probe.
#[derive(Debug, Clone, Default)]
pub(crate) struct TemplateTrie {
    nodes: Vec<TNode>,
    entries: Vec<u32>,
    slots: Vec<u32>,
    edges: Vec<Edge>,
    arena: Vec<u8>,
}

impl TemplateTrie {
    pub(crate) fn min(&self) -> u32 {
        self.nodes.first().map_or(u32::MAX, |n| n.min)
    }

    #[inline]
    fn static_child(&self, parent: u32, seg: &[u8], sh: u64) -> Option<u32> {
        let h = edge_hash(parent, sh);
        let mask = self.slots.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut i = (h as usize) & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            let e = &self.edges[s as usize - 1];
            if e.hash == h && e.parent == parent && short_eq(slice(&self.arena, e.text), seg) {
                return Some(e.child);
            }
            i = (i + 1) & mask;
        }
    }

    /// Offers the entries of every template matching the whole `path` (which starts with '/').
    #[inline]
    pub(crate) fn search<V: Visitor>(&self, path: &str, v: &mut V) {
        if self.nodes.is_empty() {
            return;
        }
        if let Some(rest) = path.strip_prefix('/') {
            self.dfs(0, rest.as_bytes(), v);
        }
    }

    /// `rest` is what follows the '/' that ended the previous segment.
    fn dfs<V: Visitor>(&self, n: u32, rest: &[u8], v: &mut V) {
        let node = &self.nodes[n as usize];
        if node.min >= v.best() {
            return;
        }
        if node.catch_all.1 != 0 && !rest.is_empty() {
            v.visit(slice(&self.entries, node.catch_all));
        }
        let (seg, tail) = match rest.iter().position(|&b| b == b'/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if !self.edges.is_empty() {
            if let Some(c) = self.static_child(n, seg, seg_hash(seg)) {
                self.child(c, tail, v);
            }
        }
        if node.param != u32::MAX && !seg.is_empty() {
            self.child(node.param, tail, v);
        }
    }

    #[inline]
    fn child<V: Visitor>(&self, c: u32, tail: Option<&[u8]>, v: &mut V) {
        match tail {
            None => {
                let node = &self.nodes[c as usize];
                if node.end.1 != 0 && node.min < v.best() {
                    v.visit(slice(&self.entries, node.end));
                }
            }
            Some(t) => self.dfs(c, t, v),
        }
    }
}
