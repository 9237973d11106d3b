//! The template trie: a segment trie with static, `{param}` and `{*catch_all}` edges.

use super::{idx, short_eq, EntryRef, Visitor};
use crate::path::Seg;

#[derive(Debug, Clone, Default)]
struct TBNode {
    statics: Vec<(Box<str>, u32)>,
    param: Option<u32>,
    end: Vec<EntryRef>,
    catch_all: Vec<EntryRef>,
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
    pub(crate) fn insert(&mut self, segs: &[Seg], entry: EntryRef) {
        let mut n = 0usize;
        for seg in segs {
            self.nodes[n].min = self.nodes[n].min.min(entry.id);
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
        self.nodes[n].min = self.nodes[n].min.min(entry.id);
        self.nodes[n].end.push(entry);
    }

    /// Freezes into flat nodes plus one open-addressing table of static edges.
    pub(crate) fn build(self) -> TemplateTrie {
        let mut t = TemplateTrie::default();
        let n_edges: usize = self.nodes.iter().map(|n| n.statics.len()).sum();
        let cap = (n_edges * 2).next_power_of_two().max(2);
        t.edges = vec![Edge::EMPTY; cap];
        for (id, b) in self.nodes.iter().enumerate() {
            let end = (idx(t.entries.len()), idx(b.end.len()));
            t.entries.extend_from_slice(&b.end);
            let catch_all = (idx(t.entries.len()), idx(b.catch_all.len()));
            t.entries.extend_from_slice(&b.catch_all);
            t.nodes.push(TNode {
                min: b.min,
                param: b.param.unwrap_or(u32::MAX),
                end,
                catch_all,
            });
            for (seg, child) in &b.statics {
                let seg = seg.as_bytes();
                let mut e = Edge {
                    parent: idx(id),
                    child: *child,
                    len: 0,
                    text: [0; TEXT_CAP],
                };
                if seg.len() < usize::from(LONG) && seg.len() <= TEXT_CAP {
                    e.len = u8::try_from(seg.len()).unwrap_or(LONG);
                    e.text[..seg.len()].copy_from_slice(seg);
                } else {
                    e.len = LONG;
                    e.text[..4].copy_from_slice(&idx(t.arena.len()).to_le_bytes());
                    e.text[4..8].copy_from_slice(&idx(seg.len()).to_le_bytes());
                    t.arena.extend_from_slice(seg);
                }
                #[allow(clippy::cast_possible_truncation)]
                let mut i = (edge_hash(idx(id), seg_hash(seg)) as usize) & (cap - 1);
                while t.edges[i].parent != u32::MAX {
                    i = (i + 1) & (cap - 1);
                }
                t.edges[i] = e;
            }
        }
        t
    }
}

const TEXT_CAP: usize = 23;
/// `Edge::len` of a segment too long to be inline: `text` holds its arena offset and length.
const LONG: u8 = u8::MAX;

/// A static edge, one 32-byte slot of the open-addressing table.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Edge {
    /// `u32::MAX` for an empty slot.
    parent: u32,
    child: u32,
    len: u8,
    text: [u8; TEXT_CAP],
}

impl Edge {
    const EMPTY: Edge = Edge {
        parent: u32::MAX,
        child: 0,
        len: 0,
        text: [0; TEXT_CAP],
    };

    #[inline]
    fn text<'a>(&'a self, arena: &'a [u8]) -> &'a [u8] {
        if self.len == LONG {
            let word = |i: usize| {
                let mut w = [0u8; 4];
                w.copy_from_slice(&self.text[i..i + 4]);
                u32::from_le_bytes(w) as usize
            };
            let (off, len) = (word(0), word(4));
            &arena[off..off + len]
        } else {
            &self.text[..usize::from(self.len)]
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct TNode {
    min: u32,
    /// Child for a `{param}` segment; `u32::MAX` if none.
    param: u32,
    end: (u32, u32),
    catch_all: (u32, u32),
}

/// Segment trie over templates, frozen: static edges live in one hash table keyed by (parent
/// node, segment text), so a node with thousands of static children costs one probe.
#[derive(Debug, Clone, Default)]
pub(crate) struct TemplateTrie {
    nodes: Vec<TNode>,
    entries: Vec<EntryRef>,
    edges: Vec<Edge>,
    arena: Vec<u8>,
}

/// Hash of a path segment (rotate-xor, one cycle or two per byte); [`edge_hash`] mixes in the
/// parent node id and avalanches.
#[inline]
fn seg_hash(seg: &[u8]) -> u64 {
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

#[inline]
fn span<T>(v: &[T], (off, len): (u32, u32)) -> &[T] {
    &v[off as usize..off as usize + len as usize]
}

impl TemplateTrie {
    pub(crate) fn min(&self) -> u32 {
        self.nodes.first().map_or(u32::MAX, |n| n.min)
    }

    #[inline]
    fn static_child(&self, parent: u32, seg: &[u8], sh: u64) -> Option<u32> {
        let mask = self.edges.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut i = (edge_hash(parent, sh) as usize) & mask;
        loop {
            let e = &self.edges[i];
            if e.parent == u32::MAX {
                return None;
            }
            if e.parent == parent && short_eq(e.text(&self.arena), seg) {
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
            v.visit(span(&self.entries, node.catch_all));
        }
        let (seg, tail) = match rest.iter().position(|&b| b == b'/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Some(c) = self.static_child(n, seg, seg_hash(seg)) {
            self.child(c, tail, v);
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
                    v.visit(span(&self.entries, node.end));
                }
            }
            Some(t) => self.dfs(c, t, v),
        }
    }
}
