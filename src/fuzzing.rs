//! Entry points of the fuzz targets in `fuzz/`, also run over the committed corpus by
//! `tests/fuzz_corpus.rs` so that every past finding stays fixed. Not a stable API.
//!
//! Each checks properties and panics when one fails; the fuzzer reports the panic.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::{self, SeriesSpan};
use crate::dump;
use crate::error::Error;
use crate::options::{Options, Recovery};
use crate::read::Entry;
use crate::record::{Label, Sample, Series, Tombstone};
use crate::segment;
use crate::wal::Wal;

/// `data[0]` picks a body codec, the rest is the body. Decoding never panics, and what
/// decodes re-encodes to bytes that decode to the same records.
pub fn decode_body(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            let (mut spans, mut labels) = (Vec::<SeriesSpan>::new(), Vec::<Label<'_>>::new());
            if codec::decode_series(body, &mut spans, &mut labels).is_err() {
                return;
            }
            let series: Vec<Series<'_>> = spans
                .iter()
                .map(|s| Series {
                    series_ref: s.series_ref,
                    labels: &labels[s.start..s.start + s.len],
                })
                .collect();
            let mut again = Vec::new();
            codec::encode_series(&mut again, &series);
            let (mut spans2, mut labels2) = (Vec::new(), Vec::new());
            assert!(codec::decode_series(&again, &mut spans2, &mut labels2).is_ok());
            assert_eq!(labels, labels2);
            assert_eq!(spans.len(), spans2.len());
        }
        1 => {
            let mut slots = Vec::new();
            let Ok((n, max_t)) = codec::decode_samples_into(body, &mut slots, 0) else {
                return;
            };
            let samples = &slots[..n];
            assert_eq!(max_t, samples.iter().map(|s| s.t).max().unwrap_or(i64::MIN));
            let mut again = Vec::new();
            assert_eq!(codec::encode_samples(&mut again, samples), max_t);
            let mut slots2 = Vec::new();
            let Ok((n2, _)) = codec::decode_samples_into(&again, &mut slots2, 0) else {
                panic!("re-encoded samples do not decode");
            };
            assert_eq!(n, n2);
            for (a, b) in samples.iter().zip(&slots2) {
                assert_eq!(
                    (a.series_ref, a.t, a.v.to_bits()),
                    (b.series_ref, b.t, b.v.to_bits())
                );
            }
        }
        _ => {
            let mut out: Vec<Tombstone> = Vec::new();
            let Ok(max_t) = codec::decode_deletes(body, &mut out) else {
                return;
            };
            let mut again = Vec::new();
            assert_eq!(codec::encode_deletes(&mut again, &out), max_t);
            let mut out2 = Vec::new();
            assert!(codec::decode_deletes(&again, &mut out2).is_ok());
            assert_eq!(out, out2);
        }
    }
}

/// A directory removed when dropped (the library does not depend on `tempfile`).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tswal-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Splits fuzz input into segment files: `flags` byte, then up to four files, each a
/// big-endian u16 length and that many bytes (the last takes what is left). Flag bit i
/// set: file i gets a valid segment header in front of its bytes.
pub fn files_from_input(data: &[u8]) -> Vec<Vec<u8>> {
    let Some((&flags, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for i in 0..4 {
        if rest.is_empty() {
            break;
        }
        let take = if i < 3 && rest.len() >= 2 {
            let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            rest = &rest[2..];
            n.min(rest.len())
        } else {
            rest.len()
        };
        let mut file = Vec::new();
        if flags & (1 << i) != 0 {
            file.extend_from_slice(&segment::header_bytes());
        }
        file.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        files.push(file);
    }
    files
}

fn dump_all(wal: &Wal) -> Result<(String, bool), Error> {
    let mut out = String::new();
    let summary = wal.read(|e: Entry<'_>| {
        dump::write_entry(&mut out, e);
        ControlFlow::Continue(())
    })?;
    Ok((out, summary.repair.is_some()))
}

fn open(dir: &Path, recovery: Recovery) -> Result<Wal, Error> {
    Wal::open(
        dir,
        Options {
            segment_size: 4096,
            recovery,
            ..Options::default()
        },
    )
}

/// Opens and reads directory contents made from `data` in every recovery mode. Never
/// panics; an open or read either succeeds or reports corruption (no I/O errors on a
/// healthy disk); after a successful read the log is repaired (a second read sees the
/// same entries and nothing to repair), takes a write, and reads the same after reopen.
pub fn open_read(data: &[u8]) {
    let files = files_from_input(data);
    for recovery in [Recovery::Truncate, Recovery::Salvage, Recovery::Fail] {
        let scratch = ScratchDir::new();
        for (i, f) in files.iter().enumerate() {
            std::fs::write(scratch.0.join(segment::segment_name(i as u64 + 1)), f)
                .expect("write a segment file");
        }
        let wal = match open(&scratch.0, recovery) {
            Ok(w) => w,
            Err(Error::Corruption { .. }) if recovery == Recovery::Fail => continue,
            Err(e) => panic!("open ({recovery:?}): {e}"),
        };
        let first = match dump_all(&wal) {
            Ok((d, _)) => d,
            Err(Error::Corruption { .. }) if recovery != Recovery::Salvage => continue,
            Err(e) => panic!("read ({recovery:?}): {e}"),
        };
        let (second, repaired) = dump_all(&wal).expect("a second read");
        assert_eq!(first, second, "{recovery:?}: a second read differs");
        assert!(!repaired, "{recovery:?}: a second read repaired again");
        let batch = [Sample {
            series_ref: 1,
            t: 2,
            v: 3.0,
        }];
        wal.log_samples(&batch).expect("a write after the read");
        let mut want = first;
        dump::write_entry(&mut want, Entry::Samples(&batch));
        assert_eq!(dump_all(&wal).expect("a read after the write").0, want);
        wal.close().expect("close");
        let wal = open(&scratch.0, recovery).expect("reopen");
        assert_eq!(dump_all(&wal).expect("a read after reopen").0, want);
        wal.close().expect("close after reopen");
    }
}
