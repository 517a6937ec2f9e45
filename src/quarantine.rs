//! Quarantine: what a repair takes out of the log is kept in the WAL directory instead of
//! being deleted (etcd renames a broken WAL file aside; the reference deletes it).
//!
//! Each repair gets a folder of its own, `quarantine/<UTC time>-<segment>` (a suffix
//! `.N` if that exists), so nothing is ever overwritten. It holds the segments taken out
//! whole, under their own names (a symbolic link is moved as the link), the cut-off
//! tail of a segment as `<segment>.from-<offset>`, and `note.txt`: when, which segment
//! and offset, why, and what the repair takes out. The note is written and made durable
//! before anything moves, and ends with a `completed` line once everything has; a note
//! without it belongs to a repair that was interrupted, which the next open or read
//! repeats (in a new folder) on whatever is still in the log.
//!
//! Moves are renames made durable in both directories before the next step; a tail is
//! copied out and made durable before the segment is cut. So at every point each byte
//! is in the log, in quarantine, or both. Without quarantine, the same steps delete.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::Fs;
use crate::options::Recovery;

/// The quarantine folder in a WAL directory (not a segment name, so never read as one).
pub const DIR_NAME: &str = "quarantine";
/// The note in each repair's folder.
pub const NOTE_NAME: &str = "note.txt";

/// One repair's quarantine (or, without quarantine, its deletions).
pub(crate) struct Quarantine<'a> {
    fs: &'a Fs,
    /// The repair's folder; `None` when removed data is deleted.
    folder: Option<PathBuf>,
    /// Segment files moved into the folder (whole, or the original of one replaced),
    /// and the bytes moved or copied there.
    pub moved: u64,
    pub bytes: u64,
}

impl<'a> Quarantine<'a> {
    /// Starts a repair about `segment`: with `keep`, makes its folder and writes `note`
    /// (what the repair takes out, and why) durably before anything moves.
    pub(crate) fn begin(fs: &'a Fs, keep: bool, segment: &Path, note: &Note) -> Result<Self> {
        let mut q = Quarantine {
            fs,
            folder: None,
            moved: 0,
            bytes: 0,
        };
        if !keep {
            return Ok(q);
        }
        let root = fs.dir.join(DIR_NAME);
        fs.mkdir(&root)?;
        // Also when it existed: an interrupted repair may have made it without this.
        fs.sync_dir()?;
        let (stamp, pretty) = utc_now();
        let name = segment.file_name().unwrap_or_default().to_string_lossy();
        let mut folder = root.join(format!("{stamp}-{name}"));
        let mut n = 1;
        while !fs.mkdir(&folder)? {
            folder = root.join(format!("{stamp}-{name}.{n}"));
            n += 1;
        }
        let text = format!(
            "tswal repair, {pretty}\n{}\
             Everything above that is taken out of the log is in this folder; delete the \
             folder once it is not needed.\n",
            note.0
        );
        let note_path = folder.join(NOTE_NAME);
        let file = fs.create_new(&note_path, "create quarantine note")?;
        fs.write_at(
            &file,
            &note_path,
            text.as_bytes(),
            0,
            "write quarantine note",
        )?;
        fs.fsync(&file, &note_path, false)?;
        fs.sync_dir_at(&folder)?;
        fs.sync_dir_at(&root)?;
        q.folder = Some(folder);
        Ok(q)
    }

    /// Takes the segment (or link) at `path` out of the log: moves it into the folder,
    /// or deletes it. Durable when this returns.
    pub(crate) fn take_segment(&mut self, path: &Path) -> Result<()> {
        match &self.folder {
            Some(folder) => {
                let folder = folder.clone();
                self.move_in(&folder, path)?;
            }
            None => {
                self.fs.remove(path, "delete segment")?;
                self.fs.sync_dir()?;
            }
        }
        Ok(())
    }

    /// Moves the segment at `path` into `folder`, durably in both directories. A link
    /// with a relative target would lead nowhere from the folder: it is made again
    /// there with the target resolved from the WAL directory, then removed.
    fn move_in(&mut self, folder: &Path, path: &Path) -> Result<()> {
        let meta = std::fs::symlink_metadata(path).ctx("stat segment", path)?;
        let to = folder.join(path.file_name().unwrap_or_default());
        let relative_target = match meta.file_type().is_symlink() {
            true => {
                Some(std::fs::read_link(path).ctx("read link", path)?).filter(|t| t.is_relative())
            }
            false => None,
        };
        match relative_target {
            Some(target) => {
                let len = std::fs::metadata(path).map_or(0, |m| m.len());
                self.fs.symlink(&self.fs.dir.join(target), &to)?;
                self.fs.sync_dir_at(folder)?;
                self.fs.remove(path, "remove segment link")?;
                self.bytes += len;
            }
            None => {
                self.fs.rename(path, &to, "move segment into quarantine")?;
                self.fs.sync_dir_at(folder)?;
                self.bytes += if meta.file_type().is_symlink() {
                    std::fs::metadata(&to).map_or(0, |m| m.len())
                } else {
                    meta.len()
                };
            }
        }
        self.fs.sync_dir()?;
        self.moved += 1;
        Ok(())
    }

    /// Replaces the segment at `path` by the finished file `with` (in the WAL
    /// directory): the old segment goes into the folder first (or is simply replaced).
    pub(crate) fn replace_segment(&mut self, path: &Path, with: &Path) -> Result<()> {
        if let Some(folder) = &self.folder {
            // A crash between the move and the rename leaves `with` and no segment: the
            // next open finishes the job (see `truncate::recover`).
            let folder = folder.clone();
            self.move_in(&folder, path)?;
        }
        self.fs.rename(with, path, "replace repaired segment")?;
        self.fs.sync_dir()
    }

    /// Copies bytes `from..to` of the segment `file` (at `path`) into the folder, durably,
    /// before the caller cuts them off. Nothing to do without quarantine.
    pub(crate) fn copy_tail(&mut self, file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
        let Some(folder) = &self.folder else {
            return Ok(());
        };
        if to <= from {
            return Ok(());
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let out_path = folder.join(format!("{name}.from-{from}"));
        let out = self.fs.create_new(&out_path, "create quarantine file")?;
        let mut buf = vec![0u8; 1 << 20];
        let mut at = from;
        while at < to {
            let n = ((to - at) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..n], at)
                .ctx("read segment", path)?;
            self.fs.write_at(
                &out,
                &out_path,
                &buf[..n],
                at - from,
                "write quarantine file",
            )?;
            at += n as u64;
        }
        self.fs.fsync(&out, &out_path, false)?;
        self.fs.sync_dir_at(folder)?;
        self.bytes += to - from;
        Ok(())
    }

    /// Marks the note completed; returns the folder, if any.
    pub(crate) fn finish(self) -> Result<Option<PathBuf>> {
        let Some(folder) = self.folder else {
            return Ok(None);
        };
        let note_path = folder.join(NOTE_NAME);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&note_path)
            .ctx("open quarantine note", &note_path)?;
        let len = file.metadata().ctx("stat", &note_path)?.len();
        let line = format!("completed {}\n", utc_now().1);
        self.fs.write_at(
            &file,
            &note_path,
            line.as_bytes(),
            len,
            "write quarantine note",
        )?;
        self.fs.fsync(&file, &note_path, false)?;
        Ok(Some(folder))
    }
}

/// One repair's folder in a WAL directory's quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Folder {
    /// Its path.
    pub path: PathBuf,
    /// Its note (`None` if the repair was interrupted before it wrote one).
    pub note: Option<String>,
    /// Whether the note says the repair completed.
    pub completed: bool,
    /// What the repair set aside: file names, sizes, and whether each is a symbolic link
    /// (its size then is the target's, if it exists).
    pub files: Vec<(String, u64, bool)>,
}

impl Folder {
    /// Bytes of the files the repair set aside.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
}

/// The repairs' folders in the quarantine of the WAL directory `dir`, oldest first
/// (none if there is no quarantine). Reads only.
pub fn list(dir: &Path) -> Result<Vec<Folder>> {
    let root = dir.join(DIR_NAME);
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // No quarantine; but a missing WAL directory is an error.
            std::fs::metadata(dir).ctx("open WAL directory", dir)?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(Error::io("list quarantine", &root, e)),
    };
    let mut folders = Vec::new();
    for ent in entries {
        let ent = ent.ctx("list quarantine", &root)?;
        if !ent.file_type().ctx("stat", &ent.path())?.is_dir() {
            continue;
        }
        let path = ent.path();
        let mut files = Vec::new();
        let mut note = None;
        for f in std::fs::read_dir(&path).ctx("list quarantine folder", &path)? {
            let f = f.ctx("list quarantine folder", &path)?;
            let name = f.file_name().to_string_lossy().into_owned();
            if name == NOTE_NAME {
                note = Some(std::fs::read_to_string(f.path()).ctx("read note", &f.path())?);
                continue;
            }
            let link = f.file_type().ctx("stat", &f.path())?.is_symlink();
            let len = std::fs::metadata(f.path()).map_or(0, |m| m.len());
            files.push((name, len, link));
        }
        files.sort();
        let completed = note
            .as_deref()
            .is_some_and(|n| n.lines().any(|l| l.starts_with("completed ")));
        folders.push(Folder {
            path,
            note,
            completed,
            files,
        });
    }
    folders.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(folders)
}

/// Deletes the quarantine of the WAL directory `dir`, or only its folder named `folder`.
/// Takes the directory's lock, so it is refused ([`Error::Locked`]) while a handle, in
/// this or another process, has the WAL open for writing. Returns how many folders and
/// bytes it deleted. Links are deleted, never what they point to.
pub fn purge(dir: &Path, folder: Option<&str>) -> Result<(u64, u64)> {
    let dir_file = crate::fsutil::open_existing_dir(dir)?;
    crate::fsutil::lock_dir(&dir_file, dir)?;
    let all = list(dir)?;
    let chosen: Vec<&Folder> = match folder {
        None => all.iter().collect(),
        Some(name) => {
            let found: Vec<&Folder> = all
                .iter()
                .filter(|f| f.path.file_name().is_some_and(|n| n == name))
                .collect();
            if found.is_empty() {
                return Err(Error::invalid(format!(
                    "{} has no quarantine folder named {name:?}",
                    dir.display()
                )));
            }
            found
        }
    };
    let bytes = chosen.iter().map(|f| f.bytes()).sum();
    let root = dir.join(DIR_NAME);
    match folder {
        None if root.exists() => {
            std::fs::remove_dir_all(&root).ctx("delete quarantine", &root)?;
            dir_file.sync_all().ctx("fsync directory", dir)?;
        }
        None => {}
        Some(_) => {
            for f in &chosen {
                std::fs::remove_dir_all(&f.path).ctx("delete quarantine folder", &f.path)?;
            }
            crate::fsutil::open_dir(&root)?
                .sync_all()
                .ctx("fsync directory", &root)?;
        }
    }
    Ok((chosen.len() as u64, bytes))
}

/// Where the bytes of the file at `path` from `from` on stop being zeros (`from` if they
/// are all zeros): the end of what a tail copy keeps, preallocated space aside.
pub(crate) fn data_end(file: &File, path: &Path, from: u64, len: u64) -> Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 1 << 20];
    while end > from {
        let n = ((end - from) as usize).min(buf.len());
        let start = end - n as u64;
        file.read_exact_at(&mut buf[..n], start)
            .ctx("read segment", path)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(from)
}

/// What a repair's note says it does, line by line.
pub(crate) struct Note(String);

impl Note {
    pub(crate) fn new(recovery: Recovery) -> Note {
        let how = match recovery {
            Recovery::Salvage => "salvage (every entry whose checksum matches is kept)",
            _ => "truncate (the reference's repair)",
        };
        Note(format!("recovery: {how}\n"))
    }

    /// Damage at `offset` of `segment` (`None`: its header).
    pub(crate) fn damage(&mut self, segment: &Path, offset: Option<u64>, reason: &str) {
        let name = segment.file_name().unwrap_or_default().to_string_lossy();
        let _ = match offset {
            Some(at) => writeln!(self.0, "damage: segment {name} at offset {at}: {reason}"),
            None => writeln!(self.0, "damage: segment {name}: {reason}"),
        };
    }

    /// Something the repair takes out of the log.
    pub(crate) fn takes_out(&mut self, what: impl std::fmt::Display) {
        let _ = writeln!(self.0, "takes out: {what}");
    }
}

/// The current UTC time as `20261126T131716Z` (for names) and `2026-11-26T13:17:16Z`.
fn utc_now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z"),
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
    )
}

/// Year, month and day of a day count since 1970-01-01 (proleptic Gregorian calendar;
/// the algorithm of Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_722), (2023, 12, 31));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
