//! Segment files: names, the 8-byte header, listing, validation and creation.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, IoContext, Result};
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

/// The file name of `path`, for messages.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
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
    /// The read found only zeros from `log_end` to the end of the file (preallocated
    /// space), so trimming there gives back nothing but zeros.
    pub zeros_after_end: bool,
    /// The name is a symbolic link (to a regular file, possibly outside the
    /// directory): read through it, but never write, cut or trim through it.
    pub link: bool,
    /// The segment opened when the log was listed, for a read-only read: it reads the
    /// log as it was then, whatever a writer renames or deletes meanwhile.
    pub file: Option<Arc<File>>,
}

impl SegmentMeta {
    pub(crate) fn new(dir: &Path, seq: u64) -> Self {
        Self::at(dir.join(segment_name(seq)), seq, false)
    }

    /// The segment file's length now (0 if it cannot be read).
    pub(crate) fn file_len(&self) -> u64 {
        match &self.file {
            Some(f) => f.metadata().map_or(0, |m| m.len()),
            None => fs::metadata(&self.path).map_or(0, |m| m.len()),
        }
    }

    fn at(path: PathBuf, seq: u64, link: bool) -> Self {
        SegmentMeta {
            seq,
            path,
            max_time: i64::MIN,
            log_end: None,
            zeros_after_end: false,
            link,
            file: None,
        }
    }
}

/// Segment files of `dir`, by sequence number. Other names are ignored. A symbolic link
/// to a regular file is a segment (as in the reference); a segment name that is anything
/// else, and two names for one sequence number (`000001` and `01`), are
/// [`Error::Format`]: skipping them would leave a gap in the log, and writing would
/// later collide with them.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentMeta>> {
    let mut segs = Vec::new();
    for ent in fs::read_dir(dir).ctx("list directory", dir)? {
        let ent = ent.ctx("list directory", dir)?;
        let Some(seq) = parse_segment_name(&ent.file_name()) else {
            continue;
        };
        let path = ent.path();
        let kind = ent.file_type().ctx("stat", &path)?;
        let link = kind.is_symlink();
        if link {
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => {}
                Ok(m) => {
                    return Err(unusable(
                        &path,
                        &format!("a symbolic link to {}", kind_of(&m)),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(unusable(&path, "a symbolic link to nothing (dangling)"));
                }
                Err(e) => return Err(Error::io("stat segment", &path, e)),
            }
        } else if !kind.is_file() {
            let m = fs::symlink_metadata(&path).ctx("stat", &path)?;
            return Err(unusable(&path, &kind_of(&m)));
        }
        segs.push(SegmentMeta::at(path, seq, link));
    }
    segs.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.path.cmp(&b.path)));
    if let Some(w) = segs.windows(2).find(|w| w[0].seq == w[1].seq) {
        let name = |s: &SegmentMeta| file_name(&s.path);
        return Err(Error::format(
            dir,
            format!(
                "two files hold segment {}: {} and {}; the log cannot tell which one \
                 belongs to it. Move one of them out of the directory (nothing was changed)",
                w[0].seq,
                name(&w[0]),
                name(&w[1])
            ),
        ));
    }
    Ok(segs)
}

fn unusable(path: &Path, what: &str) -> Error {
    Error::format(
        path,
        format!(
            "a segment name, but {what}, not a regular file; move it out of the WAL \
             directory (nothing was changed)"
        ),
    )
}

fn kind_of(m: &fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    let kind = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    };
    kind.to_string()
}

/// `Ok(None)` if the segment header is valid, `Ok(Some(reason))` if it is not.
pub(crate) fn check_header(path: &Path) -> Result<Option<String>> {
    Ok(header_problem(&read_header(path)?))
}

/// The first 8 bytes of a segment, or fewer if it is shorter.
pub(crate) fn read_header(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).ctx("open segment", path)?;
    read_header_of(&f, path)
}

/// `read_header` of a segment opened before.
pub(crate) fn read_header_of(f: &File, path: &Path) -> Result<Vec<u8>> {
    let mut head = [0u8; HEADER_LEN as usize];
    let mut n = 0;
    while n < head.len() {
        match f
            .read_at(&mut head[n..], n as u64)
            .ctx("read segment header", path)?
        {
            0 => break,
            k => n += k,
        }
    }
    Ok(head[..n].to_vec())
}

/// Whether the first bytes of a segment (up to 8) are what a writer creating it leaves
/// before its header is whole: the start of the header, then zeros (the preallocated
/// space) or nothing, which a reader in another process may see for a moment.
pub(crate) fn header_in_progress(head: &[u8]) -> bool {
    let valid = header_bytes();
    let written = head.iter().zip(&valid).take_while(|(a, b)| a == b).count();
    head[written..].iter().all(|&b| b == 0)
}

/// What is wrong with the first bytes of a segment, if anything.
pub(crate) fn header_problem(head: &[u8]) -> Option<String> {
    let Some(head) = head.get(..HEADER_LEN as usize) else {
        return Some(format!("header cut short ({} of 8 bytes)", head.len()));
    };
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if magic != MAGIC {
        return Some(format!("bad magic {magic:#010x}"));
    }
    if head[4] != VERSION {
        return Some(format!("unknown format version {}", head[4]));
    }
    None
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
        fs.remove_quietly(&path);
        let _ = fs.sync_dir();
        return Err(e);
    }
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_being_written_is_its_start_then_zeros() {
        let valid = header_bytes();
        for k in 0..=8 {
            let mut head = valid[..k].to_vec();
            assert!(header_in_progress(&head), "{k} bytes");
            head.resize(8, 0);
            assert!(header_in_progress(&head), "{k} bytes and zeros");
        }
        assert!(!header_in_progress(b"stray\n"));
        assert!(!header_in_progress(&[0x43, 0xaf, 0x00, 0xee, 1, 0, 0, 0]));
        assert!(!header_in_progress(&[0, 0, 0, 0, 0, 0, 0, 1]));
    }
}
