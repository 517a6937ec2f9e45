//! Directories that are not a usable SegmentWAL are refused with `Error::Format`, in
//! every recovery mode and read-only, and left exactly as they were: a Prometheus 2.3+
//! WAL (whose segments the reference's repair would all delete), numbered files that are
//! not segments, segment names that are not regular files, two files with one sequence
//! number. Symbolic links to regular files are read as segments.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;
use tswal::{Error, Options, Recovery, Sample, Wal};

const MODES: [Recovery; 3] = [Recovery::Truncate, Recovery::Salvage, Recovery::Fail];

fn options(recovery: Recovery, read_only: bool) -> Options {
    Options {
        recovery,
        read_only,
        ..Options::default()
    }
}

/// Every name below `dir` with the bytes of each file (links as their target path).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            let kind = e.file_type().unwrap();
            let content = if kind.is_symlink() {
                fs::read_link(&path)
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else if kind.is_dir() {
                todo.push(path);
                b"<dir>".to_vec()
            } else if kind.is_file() {
                fs::read(&path).unwrap()
            } else {
                b"<other>".to_vec()
            };
            out.push((name, content));
        }
    }
    out.sort();
    out
}

/// Opens `dir` in every mode, read-write and read-only: each must fail with
/// `Error::Format` whose message contains every one of `says`, changing nothing.
fn refused_unchanged(dir: &Path, says: &[&str]) {
    let before = snapshot(dir);
    for recovery in MODES {
        for read_only in [false, true] {
            match Wal::open(dir, options(recovery, read_only)) {
                Err(e @ Error::Format { .. }) => {
                    let msg = e.to_string();
                    for s in says {
                        assert!(
                            msg.contains(s),
                            "{recovery:?}, read_only {read_only}: {msg}"
                        );
                    }
                    assert!(
                        msg.contains("nothing was changed") || msg.contains("Nothing was changed"),
                        "{msg}"
                    );
                }
                Err(e) => panic!("{recovery:?}, read_only {read_only}: {e:?}"),
                Ok(_) => panic!("{recovery:?}, read_only {read_only}: opened"),
            }
            assert!(
                snapshot(dir) == before,
                "{recovery:?}, read_only {read_only}: the directory changed"
            );
        }
    }
}

/// A Prometheus 2.3+ (`wlog`) record: type 1 (whole), u16 length, CRC-32C, data.
fn wlog_record(data: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn a_prometheus_2_3_wal_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (i, records) in [3, 5, 1].iter().enumerate() {
        let mut seg = Vec::new();
        for r in 0..*records {
            // A series record: type 1, then ref and labels (the content does not matter).
            seg.extend(wlog_record(
                format!("\x01series {i} {r} up job node").as_bytes(),
            ));
        }
        seg.resize(32 * 1024, 0); // the rest of the page
        fs::write(dir.join(format!("{i:08}")), &seg).unwrap();
    }
    fs::create_dir(dir.join("checkpoint.00000000")).unwrap();
    fs::write(
        dir.join("checkpoint.00000000/00000000"),
        wlog_record(b"\x01x"),
    )
    .unwrap();
    refused_unchanged(
        dir,
        &["looks like a Prometheus 2.3+ WAL (page format)", "00000000"],
    );
}

#[test]
fn numbered_files_that_are_not_segments_are_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("1"), "first line\n").unwrap();
    fs::write(tmp.path().join("2"), "second line\n").unwrap();
    refused_unchanged(
        tmp.path(),
        &["are not SegmentWAL segments", "not a SegmentWAL directory"],
    );
}

#[test]
fn files_of_zeros_are_what_a_crash_leaves_of_segments_not_a_foreign_format() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("000001"), [0u8; 8]).unwrap();
    fs::write(tmp.path().join("000002"), []).unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    assert_eq!(dump(&wal).unwrap(), "");
    let st = wal.stats().unwrap();
    assert_eq!(st.quarantined_segments, 2, "{st:?}");
    wal.close().unwrap();
    assert!(segment_names(tmp.path()).is_empty());
}

#[test]
fn a_segment_whose_header_alone_is_damaged_is_a_segmentwal_to_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let batch = [Sample {
        series_ref: 1,
        t: 2,
        v: 3.0,
    }];
    wal.log_samples(&batch).unwrap();
    wal.close().unwrap();
    let seg = tmp.path().join("000001");
    let mut bytes = fs::read(&seg).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    // Salvage reads it from its first entry on; Truncate takes it out (to quarantine).
    let wal = Wal::open(tmp.path(), options(Recovery::Salvage, false)).unwrap();
    assert_eq!(
        dump(&wal).unwrap(),
        dump_ops(&[Op::Samples(batch.to_vec())])
    );
    wal.close().unwrap();
}

#[test]
fn segment_names_that_are_not_regular_files_are_refused_naming_the_path() {
    // A directory.
    let tmp = tempfile::tempdir().unwrap();
    copy_case("multiseg", tmp.path());
    fs::create_dir(tmp.path().join("000009")).unwrap();
    refused_unchanged(tmp.path(), &["000009", "a directory"]);

    // A named pipe.
    let tmp = tempfile::tempdir().unwrap();
    copy_case("multiseg", tmp.path());
    let fifo = tmp.path().join("000004");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a mode; mkfifo touches no memory of ours.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    refused_unchanged(tmp.path(), &["000004", "a named pipe"]);

    // A link to nothing, and a link to a directory.
    let tmp = tempfile::tempdir().unwrap();
    copy_case("multiseg", tmp.path());
    symlink(tmp.path().join("nowhere"), tmp.path().join("000005")).unwrap();
    refused_unchanged(tmp.path(), &["000005", "dangling"]);
    fs::remove_file(tmp.path().join("000005")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    symlink(elsewhere.path(), tmp.path().join("000005")).unwrap();
    refused_unchanged(tmp.path(), &["000005", "a symbolic link to a directory"]);
}

/// `000001` and `01` both name segment 1: the read was right, but truncation rewrote
/// one and left the other, so dropped entries came back after a reopen.
#[test]
fn two_files_with_one_sequence_number_are_refused_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    copy_case("multiseg", tmp.path());
    fs::copy(tmp.path().join("000001"), tmp.path().join("01")).unwrap();
    refused_unchanged(tmp.path(), &["000001", "01", "two files hold segment 1"]);
}

#[test]
fn a_symlinked_segment_is_read_like_a_file() {
    let want = fs::read_to_string(fixtures_dir().join("multiseg/expected.dump")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    copy_case("multiseg", tmp.path());
    let target = elsewhere.path().join("segment-two");
    fs::rename(tmp.path().join("000002"), &target).unwrap();
    symlink(&target, tmp.path().join("000002")).unwrap();
    let target_bytes = fs::read(&target).unwrap();
    for read_only in [true, false] {
        let wal = Wal::open(tmp.path(), options(Recovery::Fail, read_only)).unwrap();
        assert_eq!(dump(&wal).unwrap(), want, "read_only {read_only}");
        let st = wal.stats().unwrap();
        assert_eq!((st.corruptions, st.segments), (0, 3), "{st:?}");
        wal.close().unwrap();
    }
    assert_eq!(fs::read(&target).unwrap(), target_bytes);
}

/// A stray 6-byte file named `0` is segment 0 with an invalid header. The reference's
/// repair deletes it and every later segment, the whole log; here they go to quarantine
/// byte for byte (Truncate, whose log is the reference's), or only it does (Salvage).
#[test]
fn a_stray_file_named_0_takes_nothing_away() {
    let want = fs::read_to_string(fixtures_dir().join("multiseg/expected.dump")).unwrap();
    for recovery in [Recovery::Truncate, Recovery::Salvage] {
        let tmp = tempfile::tempdir().unwrap();
        copy_case("multiseg", tmp.path());
        fs::write(tmp.path().join("0"), b"stray\n").unwrap();
        let before = snapshot(tmp.path());
        let wal = Wal::open(tmp.path(), options(recovery, false)).unwrap();
        let got = dump(&wal).unwrap();
        wal.close().unwrap();
        let folders: Vec<_> = fs::read_dir(tmp.path().join("quarantine"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(folders.len(), 1, "{recovery:?}");
        let moved = |name: &str| fs::read(folders[0].join(name)).ok();
        for (name, bytes) in &before {
            let kept = fs::read(tmp.path().join(name)).ok();
            assert!(
                kept.as_ref() == Some(bytes) || moved(name).as_ref() == Some(bytes),
                "{recovery:?}: {name} is neither in the log nor in quarantine"
            );
        }
        match recovery {
            Recovery::Truncate => {
                assert_eq!(got, "");
                assert!(segment_names(tmp.path()).is_empty());
            }
            _ => {
                assert_eq!(got, want);
                assert_eq!(segment_names(tmp.path()), ["000001", "000002", "000003"]);
            }
        }
    }
}
