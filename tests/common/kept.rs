//! What repairs keep: snapshots of a log's segments, and the check that every byte of
//! them is still in the log or in quarantine.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::segment_names;

/// Segment files by name, with their bytes (read through links).
pub type Segments = BTreeMap<String, Vec<u8>>;

pub fn snapshot(dir: &Path) -> Segments {
    segment_names(dir)
        .into_iter()
        .map(|n| {
            let bytes = fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

/// Names of the entries of `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn quarantine_root(dir: &Path) -> PathBuf {
    dir.join("quarantine")
}

/// The repairs' folders in `dir/quarantine`, sorted by name (none if there is no
/// quarantine).
pub fn quarantine_folders(dir: &Path) -> Vec<PathBuf> {
    let root = quarantine_root(dir);
    if !root.exists() {
        return Vec::new();
    }
    names_in(&root).into_iter().map(|n| root.join(n)).collect()
}

pub fn is_segment_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// `("000002", 1234)` for a cut-off tail `000002.from-1234`.
pub fn parse_tail(name: &str) -> Option<(&str, usize)> {
    let (seg, from) = name.split_once(".from-")?;
    Some((seg, from.parse().ok()?))
}

/// Where the bytes stop being trailing zeros.
pub fn data_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// The parts of `0..end` that no range of `covered` covers.
pub fn uncovered(mut covered: Vec<Range<usize>>, end: usize) -> Vec<Range<usize>> {
    covered.sort_by_key(|r| r.start);
    let mut missing = Vec::new();
    let mut at = 0;
    for r in covered {
        if r.start > at {
            missing.push(at..r.start.min(end));
        }
        at = at.max(r.end);
        if at >= end {
            break;
        }
    }
    if at < end {
        missing.push(at..end);
    }
    missing.retain(|r| !r.is_empty());
    missing
}

/// The ranges where `copy` holds the bytes of `orig` at the same offsets, shifted by
/// `base`.
fn matching_runs(orig: &[u8], copy: &[u8], base: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for i in 0..=orig.len().min(copy.len()) {
        let same = i < orig.len().min(copy.len()) && orig[i] == copy[i];
        match (same, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(base + s..base + i);
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// No byte of the segments `originals` (a snapshot of `dir`) is lost: each byte of each
/// segment, trailing zeros aside, is in the log or in one of the quarantine folders,
/// possibly in both or several times, at its place: in a file named as the segment (in
/// the log, or moved whole into quarantine), or in a cut-off tail
/// `<segment>.from-<offset>` that holds the original's bytes from that offset. (A cut
/// that a power loss half undid can leave a segment that holds the original's bytes
/// around a zeroed block: its bytes count where they match.)
pub fn assert_no_byte_lost(what: &str, dir: &Path, originals: &Segments) {
    let folders = quarantine_folders(dir);
    for (name, orig) in originals {
        let mut covered = Vec::new();
        let mut present = false;
        let copies = std::iter::once(dir.join(name)).chain(folders.iter().map(|f| f.join(name)));
        for path in copies {
            if let Ok(bytes) = fs::read(&path) {
                present = true;
                covered.extend(matching_runs(orig, &bytes, 0));
            }
        }
        for folder in &folders {
            for file in names_in(folder) {
                // A tail may have been cut from the segment as a later repair found
                // it (changed since the snapshot): only its matching bytes count.
                let Some((_, from)) = parse_tail(&file).filter(|t| t.0 == name) else {
                    continue;
                };
                let bytes = fs::read(folder.join(&file)).unwrap();
                if let Some(rest) = orig.get(from..) {
                    covered.extend(matching_runs(rest, &bytes, from));
                }
            }
        }
        assert!(
            present,
            "{what}: segment {name} ({} bytes) is neither in the log nor in quarantine \
             (folders {folders:?})",
            orig.len()
        );
        let missing = uncovered(covered, data_end(orig));
        assert!(
            missing.is_empty(),
            "{what}: bytes {missing:?} of segment {name} ({} bytes) are neither in the log \
             nor in quarantine (folders {folders:?}: {:?})",
            orig.len(),
            folders.iter().map(|f| names_in(f)).collect::<Vec<_>>()
        );
    }
}
