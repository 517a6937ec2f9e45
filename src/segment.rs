//! Segment files: names, the 8-byte header, listing, validation and creation.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::fsutil::Fs;

/// First four bytes of every segment.
pub(crate) const MAGIC: u32 = 0x43AF_00EF;
/// Format version byte.
pub(crate) const VERSION: u8 = 1;
/// Magic, version and three bytes of padding.
pub(crate) const HEADER_LEN: u64 = 8;

pub(crate) fn header_bytes() -> [u8; HEADER_LEN as usize] {
    let m = MAGIC.to_be_bytes();
    [m[0], m[1], m[2], m[3], VERSION, 0, 0, 0]
}

/// `000042` for 42; wider numbers keep all their digits.
pub(crate) fn segment_name(seq: u64) -> String {
    format!("{seq:06}")
}

/// A file name is a segment if it is made of decimal digits that fit a u64.
pub(crate) fn parse_segment_name(name: &OsStr) -> Option<u64> {
    let s = name.to_str()?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// One segment the handle knows about.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub seq: u64,
    pub path: PathBuf,
    /// Highest sample or tombstone timestamp seen in this segment since open
    /// (`i64::MIN` if none); truncation compares it with `mint`.
    pub max_time: i64,
    /// Where the last entry ends, once a read reached the end of this segment.
    pub log_end: Option<u64>,
}

impl SegmentMeta {
    pub(crate) fn new(dir: &Path, seq: u64) -> Self {
        SegmentMeta {
            seq,
            path: dir.join(segment_name(seq)),
            max_time: i64::MIN,
            log_end: None,
        }
    }
}

/// Segment files of `dir`, by sequence number. Other entries are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentMeta>> {
    let mut segs = Vec::new();
    for ent in fs::read_dir(dir).ctx("list directory", dir)? {
        let ent = ent.ctx("list directory", dir)?;
        let Some(seq) = parse_segment_name(&ent.file_name()) else {
            continue;
        };
        if !ent.file_type().ctx("stat", &ent.path())?.is_file() {
            continue;
        }
        segs.push(SegmentMeta {
            seq,
            path: ent.path(),
            max_time: i64::MIN,
            log_end: None,
        });
    }
    segs.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.path.cmp(&b.path)));
    Ok(segs)
}

/// `Ok(None)` if the segment header is valid, `Ok(Some(reason))` if it is not.
pub(crate) fn check_header(path: &Path) -> Result<Option<String>> {
    let mut f = File::open(path).ctx("open segment", path)?;
    let mut head = [0u8; HEADER_LEN as usize];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).ctx("read segment header", path)? {
            0 => break,
            k => n += k,
        }
    }
    if n < head.len() {
        return Ok(Some(format!("header cut short ({n} of 8 bytes)")));
    }
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if magic != MAGIC {
        return Ok(Some(format!("bad magic {magic:#010x}")));
    }
    if head[4] != VERSION {
        return Ok(Some(format!("unknown format version {}", head[4])));
    }
    Ok(None)
}

/// Creates segment `seq` preallocated to `size` bytes with its header written, and makes
/// both durable, the header before the directory entry: a name that outlives a crash
/// without its header would make `Recovery::Fail` refuse to open. On failure nothing is
/// left behind.
pub(crate) fn create(fs: &Fs, seq: u64, size: u64) -> Result<(File, PathBuf)> {
    let path = fs.dir.join(segment_name(seq));
    let file = fs.create_new(&path, "create segment")?;
    let setup = || -> Result<()> {
        fs.preallocate(&file, size, &path)?;
        fs.write_at(&file, &path, &header_bytes(), 0, "write segment header")?;
        fs.fsync(&file, &path, true)?;
        fs.sync_dir()
    };
    if let Err(e) = setup() {
        // A headerless file would make every later segment look invalid at open.
        let _ = std::fs::remove_file(&path);
        let _ = fs.sync_dir();
        return Err(e);
    }
    Ok((file, path))
}
