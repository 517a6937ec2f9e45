//! Shared helpers of the integration tests: the fixtures' workload and dump formats.

#![allow(dead_code)]

pub mod cbuild;
pub mod kept;

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use tswal::{Entry, Label, Options, Sample, Series, Tombstone, Wal};

/// The reference fixtures, vendored from the Go implementation.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus-v1")
}

/// How many fixture cases there are: all of them, the damaged logs (`corrupt-*`), and
/// those with a `workload.ops`. The loops over them check they ran exactly this many, so a
/// lost fixture fails them instead of leaving them less to check.
pub const CASES: usize = 19;
pub const CORRUPT_CASES: usize = 11;
pub const WORKLOAD_CASES: usize = 8;

/// Panics unless a loop over fixture cases ran exactly `expected` of them; `what` names
/// the cases it was to run and their constant.
pub fn assert_ran(ran: &[String], expected: usize, what: &str) {
    assert_eq!(
        ran.len(),
        expected,
        "expected {expected} {what}, ran {}: {ran:?}",
        ran.len()
    );
}

/// Names of all fixture cases.
pub fn cases() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(fixtures_dir())
        .expect("fixtures are present")
        .map(|e| {
            e.expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// Copies a directory's regular files (writable) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy dir");
    for e in fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        fs::copy(e.path(), &dst).expect("copy fixture file");
        let mut perm = fs::metadata(&dst).expect("stat").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        fs::set_permissions(&dst, perm).expect("chmod");
    }
}

/// A writable copy of a fixture case's WAL, in `to`.
pub fn copy_case(case: &str, to: &Path) {
    copy_dir(&fixtures_dir().join(case).join("wal"), to);
}

/// A writable copy of a fixture case's WAL in a fresh temporary directory: the directory
/// (removed when dropped) and the WAL's path in it.
pub fn temp_copy_of_case(case: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("wal");
    copy_case(case, &dir);
    (tmp, dir)
}

/// Segment file names (all-digit names) in `dir`, sorted.
pub fn segment_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    v.sort();
    v
}

/// Reads the whole WAL into dump text.
pub fn dump(wal: &Wal) -> tswal::Result<String> {
    read_dump(wal).map(|(text, _)| text)
}

/// Reads the whole WAL into dump text, with the read's summary.
pub fn read_dump(wal: &Wal) -> tswal::Result<(String, tswal::ReadSummary)> {
    let mut out = String::new();
    let summary = wal.read(|e| {
        tswal::dump::write_entry(&mut out, e);
        ControlFlow::Continue(())
    })?;
    Ok((out, summary))
}

/// An owned label set: (name, value) byte strings in logged order.
pub type OwnedLabels = Vec<(Vec<u8>, Vec<u8>)>;

/// An owned entry of a workload.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Open(u64),
    Close,
    Truncate { mint: i64, keepmod: u64 },
    Series(Vec<(u64, OwnedLabels)>),
    Samples(Vec<Sample>),
    Deletes(Vec<Tombstone>),
}

fn parse_quoted(s: &[u8]) -> (Vec<u8>, &[u8]) {
    assert_eq!(s[0], b'"', "string starts with a quote");
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match s[i] {
            b'"' => return (out, &s[i + 1..]),
            b'\\' => match s[i + 1] {
                b'x' => {
                    let hex = std::str::from_utf8(&s[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex byte"));
                    i += 4;
                }
                c => {
                    out.push(c);
                    i += 2;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn parse_series_line(line: &[u8]) -> (u64, OwnedLabels) {
    let sp = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let r: u64 = std::str::from_utf8(&line[..sp]).unwrap().parse().unwrap();
    let mut rest = &line[sp..];
    let mut labels = Vec::new();
    while !rest.is_empty() {
        assert_eq!(rest[0], b' ');
        let (name, r1) = parse_quoted(&rest[1..]);
        assert_eq!(r1[0], b'=');
        let (value, r2) = parse_quoted(&r1[1..]);
        labels.push((name, value));
        rest = r2;
    }
    (r, labels)
}

/// Parses a workload (or, without control lines, a dump) file.
pub fn parse_ops(text: &[u8]) -> Vec<Op> {
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut ops = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let head = std::str::from_utf8(lines[i]).expect("control lines are text");
        let words: Vec<&str> = head.split(' ').collect();
        i += 1;
        let count = |w: &[&str]| w[1].parse::<usize>().unwrap();
        let items = |i: &mut usize, n: usize| -> Vec<&[u8]> {
            let v = lines[*i..*i + n].iter().map(|l| &l[2..]).collect();
            *i += n;
            v
        };
        let nums = |l: &[u8]| -> Vec<String> {
            std::str::from_utf8(l)
                .unwrap()
                .split(' ')
                .map(str::to_owned)
                .collect()
        };
        match words[0] {
            "open" => ops.push(Op::Open(words[1].parse().unwrap())),
            "close" => ops.push(Op::Close),
            "truncate" => ops.push(Op::Truncate {
                mint: words[1].parse().unwrap(),
                keepmod: words[2].parse().unwrap(),
            }),
            "series" => {
                let n = count(&words);
                ops.push(Op::Series(
                    items(&mut i, n)
                        .into_iter()
                        .map(parse_series_line)
                        .collect(),
                ));
            }
            "samples" => {
                let n = count(&words);
                ops.push(Op::Samples(
                    items(&mut i, n)
                        .into_iter()
                        .map(|l| {
                            let f = nums(l);
                            Sample {
                                series_ref: f[0].parse().unwrap(),
                                t: f[1].parse().unwrap(),
                                v: f64::from_bits(u64::from_str_radix(&f[2], 16).unwrap()),
                            }
                        })
                        .collect(),
                ));
            }
            "deletes" => {
                let n = count(&words);
                ops.push(Op::Deletes(
                    items(&mut i, n)
                        .into_iter()
                        .map(|l| {
                            let f = nums(l);
                            Tombstone {
                                series_ref: f[0].parse().unwrap(),
                                mint: f[1].parse().unwrap(),
                                maxt: f[2].parse().unwrap(),
                            }
                        })
                        .collect(),
                ));
            }
            other => panic!("unknown workload line {other:?}"),
        }
    }
    ops
}

/// Borrows owned series as API series (labels sorted by name if `sorted`) for `f`.
fn with_series<R>(
    series: &[(u64, OwnedLabels)],
    sorted: bool,
    f: impl FnOnce(&[Series<'_>]) -> R,
) -> R {
    let labels: Vec<Vec<Label<'_>>> = series
        .iter()
        .map(|(_, ls)| {
            let mut v: Vec<Label<'_>> = ls.iter().map(|(n, v)| Label::new(n, v)).collect();
            if sorted {
                v.sort_by(|a, b| a.name.cmp(b.name));
            }
            v
        })
        .collect();
    let s: Vec<Series<'_>> = series
        .iter()
        .zip(&labels)
        .map(|((r, _), ls)| Series {
            series_ref: *r,
            labels: ls,
        })
        .collect();
    f(&s)
}

/// Logs one data op.
pub fn log_op(wal: &Wal, op: &Op) -> tswal::Result<()> {
    match op {
        Op::Series(series) => with_series(series, false, |s| wal.log_series(s)),
        Op::Samples(s) => wal.log_samples(s),
        Op::Deletes(d) => wal.log_deletes(d),
        other => panic!("not a data op: {other:?}"),
    }
}

/// Runs a workload in `dir`.
pub fn run_workload(dir: &Path, ops: &[Op]) {
    let mut wal: Option<Wal> = None;
    for op in ops {
        match op {
            Op::Open(size) => {
                assert!(wal.is_none(), "open while open");
                let w = Wal::open(
                    dir,
                    Options {
                        segment_size: *size,
                        ..Options::default()
                    },
                )
                .expect("open");
                w.read(|_| ControlFlow::Continue(())).expect("initial read");
                wal = Some(w);
            }
            Op::Close => wal
                .take()
                .expect("close while closed")
                .close()
                .expect("close"),
            Op::Truncate { mint, keepmod } => wal
                .as_ref()
                .expect("truncate while closed")
                .truncate(*mint, |r| r % keepmod == 0)
                .expect("truncate"),
            data => log_op(wal.as_ref().expect("log while closed"), data).expect("log"),
        }
    }
    if let Some(w) = wal {
        w.close().expect("final close");
    }
}

/// Renders entries to dump text (for building expected output).
pub fn dump_ops(ops: &[Op]) -> String {
    let mut out = String::new();
    for op in ops {
        match op {
            Op::Series(series) => with_series(series, true, |s| {
                tswal::dump::write_entry(&mut out, Entry::Series(s))
            }),
            Op::Samples(s) => tswal::dump::write_entry(&mut out, Entry::Samples(s)),
            Op::Deletes(d) => tswal::dump::write_entry(&mut out, Entry::Deletes(d)),
            _ => {}
        }
    }
    out
}

/// File contents without trailing zero bytes (preallocated space).
pub fn without_zero_tail(mut b: Vec<u8>) -> Vec<u8> {
    while b.last() == Some(&0) {
        b.pop();
    }
    b
}
