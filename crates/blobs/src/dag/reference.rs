//! A deliberately simple second builder, for tests only: a line-by-line port of boxo's
//! recursive `balanced.Layout` / `fillNodeRec` (pulling chunks with one chunk of
//! look-ahead, like `DagBuilderHelper.Done`), with its own naive protobuf writer. The
//! streaming builder must agree with it block for block.

use std::io::Read;

use crate::{cid_of_block, Cid};

use super::Layout;

/// Every block of the DAG (children before parents) and the root.
pub(crate) struct ReferenceDag {
    pub root: Cid,
    pub blocks: Vec<(Cid, Vec<u8>)>,
}

/// Builds the DAG of `reader`; keeps the blocks only if `keep_blocks` (large inputs).
pub(crate) fn reference_dag<'r>(
    reader: impl Read + 'r,
    layout: Layout,
    keep_blocks: bool,
) -> ReferenceDag {
    let mut db = Helper {
        reader: Box::new(reader),
        layout,
        next: None,
        blocks: Vec::new(),
        keep_blocks,
    };
    let root = db.layout_root();
    ReferenceDag {
        root,
        blocks: db.blocks,
    }
}

struct Node {
    cid: Cid,
    size: u64,
    filesize: u64,
}

struct Helper<'r> {
    reader: Box<dyn Read + 'r>,
    layout: Layout,
    next: Option<Vec<u8>>,
    blocks: Vec<(Cid, Vec<u8>)>,
    keep_blocks: bool,
}

impl Helper<'_> {
    fn done(&mut self) -> bool {
        if self.next.is_none() {
            let mut chunk = Vec::new();
            (&mut self.reader)
                .take(self.layout.chunk_bytes as u64)
                .read_to_end(&mut chunk)
                .unwrap();
            if !chunk.is_empty() {
                self.next = Some(chunk);
            }
        }
        self.next.is_none()
    }

    fn layout_root(&mut self) -> Cid {
        if self.done() {
            return self.leaf(Vec::new()).cid;
        }
        let first = self.next.take().unwrap();
        let mut root = self.leaf(first);
        let mut depth = 1;
        while !self.done() {
            let children = vec![root];
            root = self.fill_node_rec(children, depth);
            depth += 1;
        }
        root.cid
    }

    fn fill_node_rec(&mut self, mut children: Vec<Node>, depth: usize) -> Node {
        while children.len() < self.layout.max_links && !self.done() {
            let child = if depth == 1 {
                let data = self.next.take().unwrap();
                self.leaf(data)
            } else {
                self.fill_node_rec(Vec::new(), depth - 1)
            };
            children.push(child);
        }
        self.internal(&children)
    }

    fn leaf(&mut self, data: Vec<u8>) -> Node {
        let mut unixfs = Vec::new();
        field_varint(&mut unixfs, 1, 2);
        if !data.is_empty() {
            field_bytes(&mut unixfs, 2, &data);
        }
        field_varint(&mut unixfs, 3, data.len() as u64);
        let mut node = Vec::new();
        field_bytes(&mut node, 1, &unixfs);
        self.emit(node, data.len() as u64, 0)
    }

    fn internal(&mut self, children: &[Node]) -> Node {
        let filesize: u64 = children.iter().map(|c| c.filesize).sum();
        let mut unixfs = Vec::new();
        field_varint(&mut unixfs, 1, 2);
        field_varint(&mut unixfs, 3, filesize);
        for child in children {
            field_varint(&mut unixfs, 4, child.filesize);
        }
        let mut node = Vec::new();
        for child in children {
            let mut link = Vec::new();
            let mut mh = vec![0x12, 0x20];
            mh.extend_from_slice(child.cid.digest());
            field_bytes(&mut link, 1, &mh);
            field_bytes(&mut link, 2, b"");
            field_varint(&mut link, 3, child.size);
            field_bytes(&mut node, 2, &link);
        }
        field_bytes(&mut node, 1, &unixfs);
        let below: u64 = children.iter().map(|c| c.size).sum();
        self.emit(node, filesize, below)
    }

    fn emit(&mut self, block: Vec<u8>, filesize: u64, below: u64) -> Node {
        let cid = cid_of_block(&block);
        let size = block.len() as u64 + below;
        if self.keep_blocks {
            self.blocks.push((cid, block));
        }
        Node {
            cid,
            size,
            filesize,
        }
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn field_varint(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
