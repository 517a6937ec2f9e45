//! Simulated power loss, after ALICE and CrashMonkey: a killed process leaves the page
//! cache intact, so only a model of what reached stable storage can show a missing
//! fsync.
//!
//! The recorder keeps two views of the WAL directory tree: the current one (what is on
//! disk now) and the durable one (what an fsync of each directory made durable), the
//! durable bytes of each file (as of its last fsync), and the directory changes not yet
//! made durable (a change is durable once every directory it touches was fsynced after
//! it). At the chosen change it writes, into another directory, one state a power loss
//! at that point could leave: the durable tree with each pending change applied or not
//! (at random, in order, where it still applies), and each file's unsynced bytes kept
//! or dropped per 4 KiB block (at random), its length the durable or the current one.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// A change of the tree, noted just before it is made.
#[derive(Debug, Clone)]
pub(crate) enum Event<'a> {
    /// A file was created.
    Create(&'a Path),
    /// A symbolic link to the given target was created.
    Symlink(&'a Path, &'a Path),
    /// A directory was created.
    Mkdir(&'a Path),
    /// A file's data (and length) was made durable.
    FileSync(&'a Path),
    /// A directory's entries were made durable.
    DirSync(&'a Path),
    /// A file or link was deleted.
    Remove(&'a Path),
    /// A file or link was renamed (replacing what the target name held).
    Rename(&'a Path, &'a Path),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir,
    Link(PathBuf),
}

#[derive(Debug, Clone)]
enum Change {
    Add(PathBuf, Node),
    Remove(PathBuf),
    Rename(PathBuf, PathBuf),
}

#[derive(Debug)]
struct Pending {
    change: Change,
    /// Directories it touches that have not been fsynced since.
    unsynced: Vec<PathBuf>,
}

/// The model of one directory tree, from the first change noted.
#[derive(Debug)]
pub(crate) struct Recorder {
    root: PathBuf,
    current: BTreeMap<PathBuf, Node>,
    durable: BTreeMap<PathBuf, Node>,
    /// Durable bytes of each file, by file id.
    synced: HashMap<u64, Vec<u8>>,
    /// Bytes of files that no name leads to any more (deleted or replaced), as they
    /// were then: a power loss may bring the name back.
    unlinked: HashMap<u64, Vec<u8>>,
    pending: Vec<Pending>,
    next_id: u64,
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Recorder {
    /// Takes the tree under `root` as durable, as it is now.
    pub(crate) fn new(root: &Path) -> Recorder {
        let mut r = Recorder {
            root: root.to_path_buf(),
            current: BTreeMap::new(),
            durable: BTreeMap::new(),
            synced: HashMap::new(),
            unlinked: HashMap::new(),
            pending: Vec::new(),
            next_id: 0,
        };
        let mut todo = vec![PathBuf::new()];
        while let Some(rel) = todo.pop() {
            let Ok(entries) = fs::read_dir(root.join(&rel)) else {
                continue;
            };
            for e in entries.flatten() {
                let rel = rel.join(e.file_name());
                let Ok(kind) = e.file_type() else { continue };
                let node = if kind.is_symlink() {
                    Node::Link(fs::read_link(e.path()).unwrap_or_default())
                } else if kind.is_dir() {
                    todo.push(rel.clone());
                    Node::Dir
                } else {
                    let id = r.new_id();
                    r.synced.insert(id, fs::read(e.path()).unwrap_or_default());
                    Node::File(id)
                };
                r.current.insert(rel, node);
            }
        }
        r.durable = r.current.clone();
        r
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn rel(&self, p: &Path) -> PathBuf {
        p.strip_prefix(&self.root).unwrap_or(p).to_path_buf()
    }

    fn note_change(&mut self, change: Change, dirs: Vec<PathBuf>) {
        let mut unsynced: Vec<PathBuf> = Vec::new();
        for d in dirs {
            if !unsynced.contains(&d) {
                unsynced.push(d);
            }
        }
        self.pending.push(Pending { change, unsynced });
    }

    /// Keeps the bytes of the file at `rel` if no name will lead to it any more.
    fn unlinking(&mut self, rel: &Path) {
        if let Some(Node::File(id)) = self.current.get(rel) {
            let bytes = fs::read(self.root.join(rel)).unwrap_or_default();
            self.unlinked.insert(*id, bytes);
        }
    }

    pub(crate) fn note(&mut self, event: &Event<'_>) {
        match *event {
            Event::Create(p) => {
                let rel = self.rel(p);
                let node = Node::File(self.new_id());
                self.current.insert(rel.clone(), node.clone());
                self.note_change(Change::Add(rel.clone(), node), vec![parent(&rel)]);
            }
            Event::Symlink(p, target) => {
                let rel = self.rel(p);
                let node = Node::Link(target.to_path_buf());
                self.current.insert(rel.clone(), node.clone());
                self.note_change(Change::Add(rel.clone(), node), vec![parent(&rel)]);
            }
            Event::Mkdir(p) => {
                let rel = self.rel(p);
                self.current.insert(rel.clone(), Node::Dir);
                self.note_change(Change::Add(rel.clone(), Node::Dir), vec![parent(&rel)]);
            }
            Event::FileSync(p) => {
                let rel = self.rel(p);
                if let Some(Node::File(id)) = self.current.get(&rel) {
                    let id = *id;
                    let bytes = fs::read(p).unwrap_or_default();
                    self.synced.insert(id, bytes);
                }
            }
            Event::DirSync(p) => {
                let rel = self.rel(p);
                for op in &mut self.pending {
                    op.unsynced.retain(|d| *d != rel);
                }
                // Changes whose every directory was synced are durable, in order.
                let mut durable = std::mem::take(&mut self.durable);
                self.pending.retain(|op| {
                    if op.unsynced.is_empty() {
                        apply(&mut durable, &op.change);
                        false
                    } else {
                        true
                    }
                });
                self.durable = durable;
            }
            Event::Remove(p) => {
                let rel = self.rel(p);
                self.unlinking(&rel);
                self.current.remove(&rel);
                self.note_change(Change::Remove(rel.clone()), vec![parent(&rel)]);
            }
            Event::Rename(from, to) => {
                let (from, to) = (self.rel(from), self.rel(to));
                self.unlinking(&to);
                if let Some(node) = self.current.remove(&from) {
                    self.current.insert(to.clone(), node);
                }
                let dirs = vec![parent(&from), parent(&to)];
                self.note_change(Change::Rename(from, to), dirs);
            }
        }
    }

    /// Writes into `into` (a new directory) one state a power loss now could leave.
    pub(crate) fn lose_power(&self, into: &Path, seed: u64) -> std::io::Result<()> {
        let mut rng = Random(seed);
        let mut tree = self.durable.clone();
        for op in &self.pending {
            if rng.bit() {
                apply(&mut tree, &op.change);
            }
        }
        fs::create_dir_all(into)?;
        for (rel, node) in &tree {
            let parent_exists = match rel.parent() {
                Some(p) if !p.as_os_str().is_empty() => tree.get(p) == Some(&Node::Dir),
                _ => true,
            };
            if !parent_exists {
                continue;
            }
            let path = into.join(rel);
            match node {
                Node::Dir => fs::create_dir(&path)?,
                Node::Link(target) => std::os::unix::fs::symlink(target, &path)?,
                Node::File(id) => fs::write(&path, self.torn(*id, &mut rng))?,
            }
        }
        Ok(())
    }

    /// The bytes of file `id` after a power loss: per 4 KiB block, the durable or the
    /// current ones; its length, the durable or the current one.
    fn torn(&self, id: u64, rng: &mut Random) -> Vec<u8> {
        const BLOCK: usize = 4096;
        let durable = self.synced.get(&id).cloned().unwrap_or_default();
        let now = self
            .current
            .iter()
            .find(|(_, n)| **n == Node::File(id))
            .map(|(rel, _)| fs::read(self.root.join(rel)).unwrap_or_default())
            .or_else(|| self.unlinked.get(&id).cloned())
            .unwrap_or_else(|| durable.clone());
        if now == durable {
            return now;
        }
        let len = if rng.bit() { durable.len() } else { now.len() };
        let mut out = vec![0u8; len];
        for start in (0..len).step_by(BLOCK) {
            let end = (start + BLOCK).min(len);
            let src = if rng.bit() { &now } else { &durable };
            if start < src.len() {
                let n = end.min(src.len()) - start;
                out[start..start + n].copy_from_slice(&src[start..start + n]);
            }
        }
        out
    }
}

/// Applies a change to a tree, if it still can be (a power loss may have undone what it
/// depended on).
fn apply(tree: &mut BTreeMap<PathBuf, Node>, change: &Change) {
    match change {
        Change::Add(rel, node) => {
            tree.entry(rel.clone()).or_insert_with(|| node.clone());
        }
        Change::Remove(rel) => {
            tree.remove(rel);
        }
        Change::Rename(from, to) => {
            if let Some(node) = tree.remove(from) {
                tree.insert(to.clone(), node);
            }
        }
    }
}

/// SplitMix64: well mixed from the first output even for seeds one apart.
struct Random(u64);

impl Random {
    fn bit(&mut self) -> bool {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) >> 63 == 1
    }
}
