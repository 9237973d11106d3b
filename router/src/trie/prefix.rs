//! The prefix trie: a byte-wise radix trie over raw path prefixes.

use super::{idx, short_eq, EntryRef, Visitor};

#[derive(Debug, Clone)]
struct BNode {
    label: Box<[u8]>,
    entries: Vec<EntryRef>,
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

impl PrefixTrieBuilder {
    /// Files `entry` under `key`. Entries must be inserted in ascending order.
    pub(crate) fn insert(&mut self, key: &[u8], entry: EntryRef) {
        let mut n = 0usize;
        let mut k = key;
        loop {
            self.nodes[n].min = self.nodes[n].min.min(entry.id);
            let Some(&first) = k.first() else {
                self.nodes[n].entries.push(entry);
                return;
            };
            let pos = self.nodes[n].child_first.iter().position(|&c| c == first);
            let Some(pos) = pos else {
                let c = self.nodes.len();
                let mut node = BNode::new(k);
                node.entries.push(entry);
                node.min = entry.id;
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

    /// Freezes into cache-line nodes in breadth-first order (so a node's children are
    /// contiguous and found as `first_child + position of their first byte`).
    pub(crate) fn build(mut self) -> PrefixTrie {
        // Labels longer than a node can hold inline become chains of nodes.
        let mut n = 0;
        while n < self.nodes.len() {
            if self.nodes[n].label.len() > LABEL_CAP {
                let label = std::mem::take(&mut self.nodes[n].label);
                let tail = BNode {
                    label: label[LABEL_CAP..].into(),
                    entries: std::mem::take(&mut self.nodes[n].entries),
                    child_first: std::mem::take(&mut self.nodes[n].child_first),
                    child_idx: std::mem::take(&mut self.nodes[n].child_idx),
                    min: self.nodes[n].min,
                };
                let t = self.nodes.len();
                let first = tail.label[0];
                self.nodes.push(tail);
                let head = &mut self.nodes[n];
                head.label = label[..LABEL_CAP].into();
                head.child_first.push(first);
                head.child_idx.push(idx(t));
            }
            n += 1;
        }
        let mut order = Vec::with_capacity(self.nodes.len());
        order.push(0usize);
        let mut new_id = vec![0u32; self.nodes.len()];
        let mut i = 0;
        while i < order.len() {
            let b = &self.nodes[order[i]];
            for &c in &b.child_idx {
                new_id[c as usize] = idx(order.len());
                order.push(c as usize);
            }
            i += 1;
        }
        let mut t = PrefixTrie::default();
        for &o in &order {
            let b = &self.nodes[o];
            let mut node = PNode {
                min: b.min,
                first_child: b.child_idx.first().map_or(0, |&c| new_id[c as usize]),
                entries_off: idx(t.entries.len()),
                entries_len: idx(b.entries.len()),
                kids_overflow: 0,
                n_kids: u16::try_from(b.child_first.len()).unwrap_or(u16::MAX),
                label_len: u8::try_from(b.label.len()).unwrap_or(u8::MAX),
                label: [0; LABEL_CAP],
                kids: [0; KIDS_CAP],
            };
            node.label[..b.label.len()].copy_from_slice(&b.label);
            if b.child_first.len() <= KIDS_CAP {
                node.kids[..b.child_first.len()].copy_from_slice(&b.child_first);
            } else {
                node.kids_overflow = idx(t.kid_bytes.len());
                t.kid_bytes.extend_from_slice(&b.child_first);
            }
            t.entries.extend_from_slice(&b.entries);
            t.nodes.push(node);
        }
        t
    }
}

const LABEL_CAP: usize = 24;
const KIDS_CAP: usize = 16;

/// One node = one cache line: the label of the edge into it and its children's first bytes
/// are inline; its children are `nodes[first_child..first_child + n_kids]`.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct PNode {
    /// Best entry id in this subtree.
    min: u32,
    first_child: u32,
    entries_off: u32,
    entries_len: u32,
    /// Offset in `kid_bytes` when `n_kids > KIDS_CAP`.
    kids_overflow: u32,
    n_kids: u16,
    label_len: u8,
    label: [u8; LABEL_CAP],
    kids: [u8; KIDS_CAP],
}

/// Byte-wise radix trie over raw path prefixes, frozen.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixTrie {
    nodes: Vec<PNode>,
    entries: Vec<EntryRef>,
    kid_bytes: Vec<u8>,
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
            if n.entries_len != 0 {
                let off = n.entries_off as usize;
                v.visit(&self.entries[off..off + n.entries_len as usize]);
            }
            let Some(&b) = rest.first() else { return };
            let nk = usize::from(n.n_kids);
            let kids = if nk <= KIDS_CAP {
                &n.kids[..nk]
            } else {
                let off = n.kids_overflow as usize;
                &self.kid_bytes[off..off + nk]
            };
            let Some(pos) = kids.iter().position(|&c| c == b) else {
                return;
            };
            let c = &self.nodes[n.first_child as usize + pos];
            let len = usize::from(c.label_len);
            if rest.len() < len || !short_eq(&rest[..len], &c.label[..len]) {
                return;
            }
            rest = &rest[len..];
            n = c;
        }
    }

    /// Best entry id in the trie.
    pub(crate) fn min(&self) -> u32 {
        self.nodes.first().map_or(u32::MAX, |n| n.min)
    }
}
