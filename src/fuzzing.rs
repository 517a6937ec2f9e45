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

/// `data[0]` picks a body codec, the rest is the body. Decoding never panics, agrees
/// with a plain byte-by-byte decoder (the reference below) on what decodes and to what,
/// and what decodes re-encodes to bytes that decode to the same records.
pub fn decode_body(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            let (mut spans, mut labels) = (Vec::<SeriesSpan>::new(), Vec::<Label<'_>>::new());
            let decoded = codec::decode_series(body, &mut spans, &mut labels);
            let reference = reference::series(body);
            assert_eq!(decoded.is_ok(), reference.is_some(), "series: {decoded:?}");
            let Some(reference) = reference else {
                return;
            };
            assert_eq!(spans.len(), reference.len());
            for (span, (series_ref, want)) in spans.iter().zip(&reference) {
                assert_eq!(span.series_ref, *series_ref);
                assert_eq!(&labels[span.start..span.start + span.len], &want[..]);
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
            // Into a reused buffer, after a sample already there, as replays do.
            let keep = Sample {
                series_ref: 7,
                t: 7,
                v: 7.0,
            };
            let mut slots = vec![keep; 3];
            let decoded = codec::decode_samples_into(body, &mut slots, 1);
            let reference = reference::samples(body);
            assert_eq!(decoded.is_ok(), reference.is_some(), "samples: {decoded:?}");
            let (Ok((n, max_t)), Some((want, want_max_t))) = (decoded, reference) else {
                return;
            };
            assert_eq!(slots[0].t, keep.t, "the slot before `at` is left alone");
            let samples = &slots[1..1 + n];
            assert_eq!(n, want.len());
            assert_eq!(max_t, want_max_t);
            for (a, b) in samples.iter().zip(&want) {
                assert_eq!(
                    (a.series_ref, a.t, a.v.to_bits()),
                    (b.series_ref, b.t, b.v.to_bits())
                );
            }
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

fn open(dir: &Path, recovery: Recovery, read_only: bool) -> Result<Wal, Error> {
    Wal::open(
        dir,
        Options {
            segment_size: 4096,
            recovery,
            read_only,
            ..Options::default()
        },
    )
}

/// Every name in `dir` with the bytes of the files.
fn snapshot(dir: &Path) -> Vec<(std::ffi::OsString, Option<Vec<u8>>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("list the scratch directory")
        .map(|e| {
            let e = e.expect("list the scratch directory");
            (e.file_name(), std::fs::read(e.path()).ok())
        })
        .collect();
    out.sort();
    out
}

/// Opens and reads directory contents made from `data` in every recovery mode. Never
/// panics; an open or read either succeeds or reports corruption or a foreign directory
/// (no I/O errors on a healthy disk); a read-only open and read changes nothing and,
/// with `Recovery::Truncate`, delivers what the repairing read does; after a successful
/// read the log is repaired (a second read sees the same entries and nothing to repair),
/// takes a write, and reads the same after reopen.
pub fn open_read(data: &[u8]) {
    let files = files_from_input(data);
    for recovery in [Recovery::Truncate, Recovery::Salvage, Recovery::Fail] {
        let scratch = ScratchDir::new();
        for (i, f) in files.iter().enumerate() {
            std::fs::write(scratch.0.join(segment::segment_name(i as u64 + 1)), f)
                .expect("write a segment file");
        }
        let before = snapshot(&scratch.0);
        let viewed = open(&scratch.0, recovery, true).and_then(|wal| {
            let d = dump_all(&wal);
            wal.close().expect("close a read-only handle");
            d
        });
        assert!(
            snapshot(&scratch.0) == before,
            "{recovery:?}: a read-only open and read changed the directory"
        );
        let wal = match open(&scratch.0, recovery, false) {
            Ok(w) => w,
            Err(Error::Format { .. }) => {
                assert!(matches!(viewed, Err(Error::Format { .. })), "{viewed:?}");
                assert!(
                    snapshot(&scratch.0) == before,
                    "a refused open changed files"
                );
                continue;
            }
            Err(Error::Corruption { .. }) if recovery == Recovery::Fail => continue,
            Err(e) => panic!("open ({recovery:?}): {e}"),
        };
        let first = match dump_all(&wal) {
            Ok((d, _)) => d,
            Err(Error::Corruption { .. }) if recovery != Recovery::Salvage => continue,
            Err(e) => panic!("read ({recovery:?}): {e}"),
        };
        if recovery == Recovery::Truncate {
            let (viewed, _) = viewed.expect("a read-only read where a repairing one works");
            assert_eq!(viewed, first, "read-only and repairing reads differ");
        }
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
        let wal = open(&scratch.0, recovery, false).expect("reopen");
        assert_eq!(dump_all(&wal).expect("a read after reopen").0, want);
        wal.close().expect("close after reopen");
    }
}

/// Plain decoders of the format, one byte at a time, as the Go reference reads it: what
/// the optimised codecs must agree with.
mod reference {
    use crate::record::{Label, Sample};

    /// Go's `binary.Uvarint`: at most 10 bytes, the 10th at most 1.
    fn uvarint(buf: &[u8], pos: &mut usize) -> Option<u64> {
        let mut x = 0u64;
        for i in 0..10 {
            let b = *buf.get(*pos + i)?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return None;
                }
                *pos += i + 1;
                return Some(x | u64::from(b) << (7 * i));
            }
            x |= u64::from(b & 0x7f) << (7 * i);
        }
        None
    }

    fn varint(buf: &[u8], pos: &mut usize) -> Option<i64> {
        let u = uvarint(buf, pos)?;
        Some((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    fn be64(buf: &[u8], pos: &mut usize) -> Option<u64> {
        let bytes = buf.get(*pos..*pos + 8)?;
        *pos += 8;
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    fn bytes<'a>(buf: &'a [u8], pos: &mut usize, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let b = buf.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(b)
    }

    /// Series and their labels, sorted by name (stably).
    #[allow(clippy::type_complexity)]
    pub(super) fn series(body: &[u8]) -> Option<Vec<(u64, Vec<Label<'_>>)>> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < body.len() {
            let series_ref = be64(body, &mut pos)?;
            let n = uvarint(body, &mut pos)?;
            let mut labels = Vec::new();
            for _ in 0..n {
                let len = uvarint(body, &mut pos)?;
                let name = bytes(body, &mut pos, len)?;
                let len = uvarint(body, &mut pos)?;
                let value = bytes(body, &mut pos, len)?;
                labels.push(Label { name, value });
            }
            labels.sort_by(|a, b| a.name.cmp(b.name));
            out.push((series_ref, labels));
        }
        Some(out)
    }

    /// Samples and the highest timestamp (`i64::MIN` for an empty body).
    pub(super) fn samples(body: &[u8]) -> Option<(Vec<Sample>, i64)> {
        let mut out = Vec::new();
        let mut max_t = i64::MIN;
        if body.is_empty() {
            return Some((out, max_t));
        }
        let mut pos = 0;
        let base_ref = be64(body, &mut pos)? as i64;
        let base_t = be64(body, &mut pos)? as i64;
        while pos < body.len() {
            let dref = varint(body, &mut pos)?;
            let dt = varint(body, &mut pos)?;
            let v = be64(body, &mut pos)?;
            let t = base_t.wrapping_add(dt);
            max_t = max_t.max(t);
            out.push(Sample {
                series_ref: base_ref.wrapping_add(dref) as u64,
                t,
                v: f64::from_bits(v),
            });
        }
        Some((out, max_t))
    }
}
