//! The `tswal` command, run as its own process on copies of the reference fixtures and on
//! logs written here with the library: exit codes and messages, what each command prints
//! (against the fixtures' `expected.dump` and the library's own read), that the read-only
//! commands change nothing (also beside a live writer), JSON output, a closed stdout,
//! repair and quarantine, and the demo.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use tswal::{Damaged, Entry, Label, Options, Recovery, Sample, Series, Tombstone, Wal};

// ---------------------------------------------------------------------------------------
// Running the command

/// What one run of `tswal` did.
struct Run {
    /// The command line, for messages.
    args: String,
    code: i32,
    out: String,
    err: String,
}

impl Run {
    /// Panics unless the run exited with `code`; returns the run.
    #[track_caller]
    fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "exit status of {}", self.brief());
        self
    }

    /// The command line, exit status, stderr and the start of stdout, for messages.
    fn brief(&self) -> String {
        let out: String = self.out.chars().take(2000).collect();
        format!(
            "`tswal {}`: exit {}\n--- stderr:\n{}--- stdout ({} bytes):\n{out}",
            self.args,
            self.code,
            self.err,
            self.out.len()
        )
    }
}

/// Runs `tswal` with `args` (anything that views as an `OsStr`: `&str`, paths).
macro_rules! tswal {
    ($($arg:expr),* $(,)?) => {
        run(&[$(AsRef::<OsStr>::as_ref(&$arg)),*])
    };
}

fn run(args: &[&OsStr]) -> Run {
    run_with(args, &[])
}

fn run_with(args: &[&OsStr], env: &[(&str, &Path)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tswal"));
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("run tswal");
    let run = Run {
        args: args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        code: output
            .status
            .code()
            .expect("tswal exited (not killed by a signal)"),
        out: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        err: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.err.contains("panicked"),
        "tswal panicked: {}",
        run.brief()
    );
    run
}

/// Runs `tswal` with `args` followed by `dir`.
fn run_on(args: &[&str], dir: &Path) -> Run {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(dir.as_os_str());
    run(&all)
}

/// Every command that only reads, as run on a directory (given last).
const READ_ONLY_COMMANDS: &[&[&str]] = &[
    &["dump"],
    &["dump", "--format", "json"],
    &["dump", "--format", "canonical"],
    &[
        "dump",
        "--format",
        "canonical",
        "--positions",
        "--recovery",
        "salvage",
    ],
    &[
        "dump",
        "--positions",
        "--time",
        "rfc3339",
        "--recovery",
        "salvage",
    ],
    &[
        "dump", "--type", "samples", "--ref", "1", "--format", "json",
    ],
    &["verify"],
    &["verify", "--json"],
    &["stat"],
    &["stat", "--json"],
    &["quarantine", "list"],
    &["repair", "--recovery", "truncate", "--dry-run"],
    &["repair", "--recovery", "salvage", "--dry-run"],
];

// ---------------------------------------------------------------------------------------
// Fixtures

/// How many fixture cases there are, and how many of them are damaged copies
/// (`corrupt-*`): a lost fixture fails the loops instead of leaving them less to check.
const CASES: usize = 19;
const CORRUPT_CASES: usize = 11;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/prometheus-v1")
}

/// Names of all fixture cases.
fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixtures())
        .expect("fixtures are present")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), CASES, "fixture cases: {names:?}");
    names
}

fn corrupt_cases() -> Vec<String> {
    let names: Vec<String> = cases()
        .into_iter()
        .filter(|c| c.starts_with("corrupt-"))
        .collect();
    assert_eq!(names.len(), CORRUPT_CASES, "corrupt cases: {names:?}");
    names
}

fn expected_dump(case: &str) -> String {
    fs::read_to_string(fixtures().join(case).join("expected.dump")).unwrap()
}

/// The segment files the reference's repairing read leaves of a corrupt case.
fn expected_files(case: &str) -> Vec<String> {
    let text = fs::read_to_string(fixtures().join(case).join("expected.files")).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// A copy of a fixture's WAL in a new temporary directory: the directory (removed when
/// dropped) and the copy, its `wal` folder.
fn copy_of(case: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new().unwrap();
    let wal = tmp.path().join("wal");
    fs::create_dir(&wal).unwrap();
    for e in fs::read_dir(fixtures().join(case).join("wal")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), wal.join(e.file_name())).unwrap();
    }
    (tmp, wal)
}

/// Names of the segment files (all digits) in `dir`, sorted.
fn segment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// Snapshots of a directory tree

#[derive(PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every name under a directory (relative to it) and what it is: the bytes of files,
/// the targets of links.
type Tree = BTreeMap<PathBuf, Node>;

fn tree(dir: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, into: &mut Tree) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.strip_prefix(root).unwrap().to_path_buf();
            let kind = fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_symlink() {
                into.insert(name, Node::Link(fs::read_link(&path).unwrap()));
            } else if kind.is_dir() {
                into.insert(name, Node::Dir);
                walk(root, &path, into);
            } else {
                into.insert(name, Node::File(fs::read(&path).unwrap()));
            }
        }
    }
    let mut t = Tree::new();
    walk(dir, dir, &mut t);
    t
}

/// Panics, naming what differs, unless `dir` holds exactly what `before` recorded.
#[track_caller]
fn assert_unchanged(before: &Tree, dir: &Path, after_what: &str) {
    let after = tree(dir);
    let mut changed: Vec<String> = before
        .iter()
        .filter(|(name, node)| after.get(*name) != Some(node))
        .map(|(name, _)| format!("changed or removed: {}", name.display()))
        .collect();
    changed.extend(
        after
            .keys()
            .filter(|name| !before.contains_key(*name))
            .map(|name| format!("added: {}", name.display())),
    );
    assert!(
        changed.is_empty(),
        "{after_what} changed {}:\n{}",
        dir.display(),
        changed.join("\n")
    );
}

/// The bytes of the file `name` in a snapshot.
fn file<'t>(t: &'t Tree, name: &str) -> &'t [u8] {
    match t.get(Path::new(name)) {
        Some(Node::File(bytes)) => bytes,
        _ => panic!("no file {name} in the snapshot"),
    }
}

// ---------------------------------------------------------------------------------------
// What the library reads, and the canonical dump format

/// The damage a read-only read in `recovery`'s mode reports.
fn damage(dir: &Path, recovery: Recovery) -> Vec<Damaged> {
    let options = Options {
        read_only: true,
        recovery,
        ..Options::default()
    };
    let wal = Wal::open(dir, options).unwrap();
    wal.read(|_| ControlFlow::Continue(())).unwrap().damage
}

fn segment_of(d: &Damaged) -> String {
    d.segment
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The line `dump` and `stat` write on stderr for a damaged region.
fn damage_line(d: &Damaged) -> String {
    format!(
        "damage: segment {} at offset {} ({} bytes{}): {}",
        segment_of(d),
        d.offset,
        d.len,
        if d.hole {
            ", read as the segment's end and left as it is"
        } else {
            ""
        },
        d.reason
    )
}

/// One entry in the canonical dump format.
#[derive(Debug, PartialEq, Eq)]
struct Block {
    /// `series`, `samples` or `deletes`.
    kind: String,
    /// Its item lines, without the indentation.
    items: Vec<String>,
}

/// The entries of a canonical dump (position comments, `# ...`, are skipped).
fn blocks(dump: &str) -> Vec<Block> {
    let mut v: Vec<Block> = Vec::new();
    for line in dump.lines().filter(|l| !l.starts_with('#')) {
        if let Some(item) = line.strip_prefix("  ") {
            v.last_mut()
                .expect("an item after a header")
                .items
                .push(item.into());
        } else {
            let (kind, n) = line.split_once(' ').expect("a header: `<kind> <n>`");
            assert!(["series", "samples", "deletes"].contains(&kind), "{line}");
            v.push(Block {
                kind: kind.into(),
                items: Vec::with_capacity(n.parse().unwrap()),
            });
        }
    }
    v
}

/// Items of entries of `kind`.
fn items(blocks: &[Block], kind: &str) -> u64 {
    let of_kind = blocks.iter().filter(|b| b.kind == kind);
    of_kind.map(|b| b.items.len() as u64).sum()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------------------------------
// 1. Commands and exit codes

#[test]
fn dump_verify_and_stat_exit_0_on_a_clean_wal_and_1_on_a_damaged_one() {
    let cases = [
        ("multiseg", false),
        ("corrupt-flip_middle", true),
        ("corrupt-bad_header", true),
        ("corrupt-stray_files", false),
    ];
    for (case, damaged) in cases {
        let (_tmp, wal) = copy_of(case);
        let found = damage(&wal, Recovery::Truncate);
        assert_eq!(
            !found.is_empty(),
            damaged,
            "{case}: the library reads {found:?}"
        );
        let code = i32::from(damaged);
        for command in ["dump", "stat"] {
            let r = run_on(&[command], &wal).expect(code);
            let want: Vec<String> = found.iter().map(damage_line).collect();
            let got: Vec<&str> = r.err.lines().collect();
            assert_eq!(got, want, "{case}: stderr of {}", r.brief());
            assert!(!r.out.is_empty(), "{}", r.brief());
        }
        // verify reads in salvage mode, and reports every damaged region in its report.
        let r = run_on(&["verify"], &wal).expect(code);
        assert!(r.err.is_empty(), "{}", r.brief());
        for d in damage(&wal, Recovery::Salvage) {
            let segment_line = r.out.lines().find(|l| l.starts_with(&segment_of(&d)));
            assert!(
                segment_line.is_some_and(|l| l.ends_with("DAMAGED")),
                "{case}: {}",
                r.brief()
            );
            let at = format!("offset {} ({} bytes): {}", d.offset, d.len, d.reason);
            assert!(r.out.contains(&at), "{case}: no `{at}` in {}", r.brief());
        }
        let summary = r.out.lines().last().unwrap_or_default();
        assert_eq!(summary.ends_with("no damage"), !damaged, "{}", r.brief());

        run_on(&["repair", "--recovery", "truncate", "--dry-run"], &wal).expect(code);
        run_on(&["quarantine", "list"], &wal).expect(0);
    }
}

// ---------------------------------------------------------------------------------------
// 2. The canonical dump of every fixture

#[test]
fn canonical_dump_of_every_fixture_is_its_expected_dump() {
    let mut wrong = Vec::new();
    let mut damaged = Vec::new();
    for case in cases() {
        let (_tmp, wal) = copy_of(&case);
        let found = damage(&wal, Recovery::Truncate);
        let r = run_on(&["dump", "--format", "canonical"], &wal);
        if r.out != expected_dump(&case) {
            wrong.push(format!("{case}: the dump differs from expected.dump"));
        }
        let code = i32::from(!found.is_empty());
        if r.code != code {
            wrong.push(format!("{case}: exit {}, not {code}: {}", r.code, r.err));
        }
        let want: Vec<String> = found.iter().map(damage_line).collect();
        if r.err.lines().collect::<Vec<_>>() != want {
            wrong.push(format!("{case}: stderr {:?}, not {want:?}", r.err));
        }
        if !found.is_empty() {
            damaged.push(case);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Damaged for a reader: every corrupt case but these two.
    let readable = ["corrupt-stray_files", "corrupt-empty_segment"];
    let mut want = corrupt_cases();
    want.retain(|c| !readable.contains(&c.as_str()));
    assert_eq!(damaged, want);
}

// ---------------------------------------------------------------------------------------
// 3. The read-only commands change nothing

#[test]
fn read_only_commands_change_nothing_in_the_corrupt_fixtures() {
    for case in corrupt_cases() {
        let (_tmp, wal) = copy_of(&case);
        let before = tree(&wal);
        for command in READ_ONLY_COMMANDS {
            let r = run_on(command, &wal);
            assert!(r.code == 0 || r.code == 1, "{case}: {}", r.brief());
            assert_unchanged(&before, &wal, &r.args);
        }
    }
}

/// What the writer beside the readers has logged so far.
#[derive(Default)]
struct Logged {
    /// The canonical block of every entry, in log order, added before it is logged.
    entries: Mutex<Vec<String>>,
    /// How many of them are synced.
    synced: AtomicUsize,
    stop: AtomicBool,
}

/// Logs series (ten new ones every 25 entries, up to 100), samples of every series and
/// tombstones into `dir`, syncing each entry, until stopped. Small segments make it cut
/// many of them while the commands read.
fn write_until_stopped(dir: &Path, logged: &Logged) -> tswal::Result<()> {
    let options = Options {
        segment_size: 8 << 10,
        ..Options::default()
    };
    let wal = Wal::open(dir, options)?;
    let mut series = 0;
    for i in 0usize.. {
        if logged.stop.load(Ordering::SeqCst) {
            break;
        }
        let instances: Vec<String> = (0..10).map(|n| format!("host-{}", series + n)).collect();
        let labels: Vec<[Label; 2]> = instances
            .iter()
            .map(|host| [Label::new("__name__", "up"), Label::new("instance", host)])
            .collect();
        let new_series: Vec<Series>;
        let samples: Vec<Sample>;
        let tombstones;
        let entry = match i % 25 {
            0 if series < 100 => {
                new_series = (series + 1..)
                    .zip(&labels)
                    .map(|(series_ref, labels)| Series { series_ref, labels })
                    .collect();
                series += 10;
                Entry::Series(&new_series)
            }
            12 => {
                tombstones = [Tombstone {
                    series_ref: series,
                    mint: 0,
                    maxt: i as i64,
                }];
                Entry::Deletes(&tombstones)
            }
            _ => {
                samples = (1..=series)
                    .map(|r| Sample {
                        series_ref: r,
                        t: 1_700_000_000_000 + i as i64 * 1000,
                        v: i as f64 / 4.0,
                    })
                    .collect();
                Entry::Samples(&samples)
            }
        };
        let mut block = String::new();
        tswal::dump::write_entry(&mut block, entry);
        logged.entries.lock().unwrap().push(block);
        match entry {
            Entry::Series(s) => wal.log_series(s)?,
            Entry::Samples(s) => wal.log_samples(s)?,
            Entry::Deletes(d) => wal.log_deletes(d)?,
        }
        wal.sync()?;
        logged.synced.store(i + 1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(1));
    }
    wal.close()
}

/// How many of `entries` `dump` is, if it is exactly the first ones in order.
fn prefix_of(dump: &str, entries: &[String]) -> Option<usize> {
    let mut rest = dump;
    let mut n = 0;
    while !rest.is_empty() {
        rest = rest.strip_prefix(entries.get(n)?.as_str())?;
        n += 1;
    }
    Some(n)
}

#[test]
fn read_only_commands_beside_a_live_writer() {
    // At least this many rounds, and until the writer has cut this many segments.
    const ROUNDS: usize = 40;
    const SEGMENTS: usize = 20;
    let started = Instant::now();
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("wal");
    let logged = Arc::new(Logged::default());
    let writer = {
        let (dir, logged) = (dir.clone(), logged.clone());
        thread::spawn(move || write_until_stopped(&dir, &logged))
    };
    while logged.synced.load(Ordering::SeqCst) == 0 && !writer.is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    let mut seen = Vec::new();
    for round in 0.. {
        if round >= ROUNDS && segment_names(&dir).len() >= SEGMENTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the writer cut only {:?} in two minutes",
            segment_names(&dir)
        );
        let synced = logged.synced.load(Ordering::SeqCst);
        let r = tswal!("dump", dir, "--format", "canonical");
        let written = logged.entries.lock().unwrap().len();
        let r = r.expect(0);
        assert!(r.err.is_empty(), "round {round}: {}", r.brief());
        let entries = logged.entries.lock().unwrap();
        let n = prefix_of(&r.out, &entries[..written]).unwrap_or_else(|| {
            panic!(
                "round {round}: the dump is not the first of the {written} entries written, \
                 in order: {}",
                r.brief()
            )
        });
        drop(entries);
        assert!(
            n >= synced,
            "round {round}: the dump has {n} entries, {synced} were synced before it began"
        );
        seen.push(n);
        for command in [&["verify"][..], &["stat"], &["dump", "--format", "json"]] {
            let r = run_on(command, &dir).expect(0);
            assert!(r.err.is_empty(), "round {round}: {}", r.brief());
        }
    }
    logged.stop.store(true, Ordering::SeqCst);
    writer.join().unwrap().unwrap();

    let all = logged.entries.lock().unwrap().concat();
    let r = tswal!("dump", dir, "--format", "canonical").expect(0);
    assert!(r.out == all, "the final dump is not every entry written");
    tswal!("verify", dir).expect(0);
    assert!(
        seen.last() > seen.first(),
        "the log grew while read: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. JSON output

#[test]
fn dump_json_is_one_valid_object_per_entry() {
    for case in cases() {
        let (_tmp, wal) = copy_of(&case);
        let code = i32::from(!damage(&wal, Recovery::Truncate).is_empty());
        let want = blocks(&expected_dump(&case));
        let dumped = run_on(&["dump", "--format", "json"], &wal).expect(code);
        let positioned = run_on(&["dump", "--format", "canonical", "--positions"], &wal);
        let positioned = positioned.expect(code);
        assert_eq!(blocks(&positioned.out), want, "{case}: with --positions");
        let positions: Vec<&str> = positioned
            .out
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .collect();
        let lines: Vec<&str> = dumped.out.lines().collect();
        assert_eq!(lines.len(), want.len(), "{case}: one line per entry");
        assert_eq!(
            positions.len(),
            want.len(),
            "{case}: one position per entry"
        );
        for ((line, block), position) in lines.iter().zip(&want).zip(&positions) {
            let v = json(line);
            let kind = v["type"].as_str().expect("type");
            let segment = v["segment"].as_str().expect("segment");
            let offset = v["offset"].as_u64().expect("offset");
            let items = v["items"].as_array().expect("items");
            assert_eq!(kind, block.kind, "{case}: {line}");
            assert_eq!(&format!("{segment}:{offset}"), position, "{case}: {line}");
            assert_eq!(items.len(), block.items.len(), "{case}: {line}");
            // The integers of each item, as the canonical dump has them.
            let fields: &[&str] = match kind {
                "series" => &["ref"],
                "samples" => &["ref", "t"],
                _ => &["ref", "mint", "maxt"],
            };
            for (item, canonical) in items.iter().zip(&block.items) {
                let mut words = canonical.split(' ');
                for field in fields {
                    let n = &item[*field];
                    assert_eq!(
                        n.to_string(),
                        words.next().unwrap(),
                        "{case}: {field} in {line}"
                    );
                }
                if kind == "series" {
                    assert!(item["labels"].is_object(), "{case}: {line}");
                } else if kind == "samples" {
                    assert!(item["v"].is_number() || item["v"].is_string(), "{line}");
                }
            }
        }
    }
}

#[test]
fn verify_json_agrees_with_its_text_and_the_library() {
    for case in cases() {
        let (_tmp, wal) = copy_of(&case);
        let text = run_on(&["verify"], &wal);
        let report = run_on(&["verify", "--json"], &wal).expect(text.code);
        let v = json(&report.out);
        let segments = v["segments"].as_array().unwrap();
        let entries = v["entries"].as_u64().unwrap();
        let regions = v["damaged_regions"].as_u64().unwrap();
        let bytes = v["damaged_bytes"].as_u64().unwrap();
        assert_eq!(v["ok"].as_bool(), Some(text.code == 0), "{case}");
        assert_eq!(v["dir"].as_str(), Some(&*wal.to_string_lossy()), "{case}");

        // What a salvaging read of the library finds.
        let salvage = damage(&wal, Recovery::Salvage);
        assert_eq!(regions, salvage.len() as u64, "{case}");
        assert_eq!(bytes, salvage.iter().map(|d| d.len).sum::<u64>(), "{case}");
        let names: Vec<&str> = segments
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, segment_names(&wal), "{case}");
        let per_segment: u64 = segments
            .iter()
            .map(|s| s["entries"].as_u64().unwrap())
            .sum();
        assert_eq!(per_segment, entries, "{case}");
        if text.code == 0 {
            assert_eq!(
                entries,
                blocks(&expected_dump(&case)).len() as u64,
                "{case}"
            );
        }

        // The text says the same.
        let summary = text.out.lines().last().unwrap();
        let start = format!("{} segment(s), {entries} valid entries; ", segments.len());
        assert!(summary.starts_with(&start), "{case}: {summary}");
        let end = match regions {
            0 => "no damage".to_owned(),
            _ => format!("{regions} damaged region(s), {bytes} bytes"),
        };
        assert!(summary.contains(&end), "{case}: {summary}");
        for s in segments {
            let name = s["name"].as_str().unwrap();
            let line = text.out.lines().find(|l| l.starts_with(name)).unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            let status = if s["damage"].as_array().unwrap().is_empty() {
                "ok"
            } else {
                "DAMAGED"
            };
            let (bytes, entries) = (s["bytes"].to_string(), s["entries"].to_string());
            assert_eq!(
                words,
                [name, &bytes, "bytes", &entries, "entries", status],
                "{case}"
            );
            for d in s["damage"].as_array().unwrap() {
                let at = format!("offset {} ({} bytes): ", d["offset"], d["bytes"]);
                let reason = d["reason"].as_str().unwrap();
                assert!(text.out.contains(&(at + reason)), "{case}: {d}");
            }
        }
    }
}

#[test]
fn stat_json_counts_what_the_fixture_holds() {
    for case in cases() {
        let (_tmp, wal) = copy_of(&case);
        let text = run_on(&["stat"], &wal);
        let report = run_on(&["stat", "--json"], &wal).expect(text.code);
        let v = json(&report.out);
        let total = &v["total"];
        let count = |field: &str| total[field].as_u64().unwrap();
        let want = blocks(&expected_dump(&case));
        let entries = |kind: &str| want.iter().filter(|b| b.kind == kind).count() as u64;
        for kind in ["series", "samples", "deletes"] {
            let field = format!("{kind}_entries");
            assert_eq!(count(&field), entries(kind), "{case}: {field}");
        }
        assert_eq!(count("series"), items(&want, "series"), "{case}");
        assert_eq!(count("samples"), items(&want, "samples"), "{case}");
        assert_eq!(count("tombstones"), items(&want, "deletes"), "{case}");
        let segments = v["segments"].as_array().unwrap();
        let on_disk: u64 = segment_names(&wal)
            .iter()
            .map(|n| fs::metadata(wal.join(n)).unwrap().len())
            .sum();
        assert_eq!(count("bytes"), on_disk, "{case}");
        assert_eq!(segments.len(), segment_names(&wal).len(), "{case}");
        assert_eq!(v["quarantine"], Value::Array(vec![]), "{case}");

        let line = format!(
            "{} segment(s), {} bytes; {} series ({} distinct refs), {} samples, {} tombstones",
            segments.len(),
            count("bytes"),
            count("series"),
            count("distinct_series"),
            count("samples"),
            count("tombstones")
        );
        assert!(
            text.out.contains(&line),
            "{case}: no `{line}` in {}",
            text.brief()
        );
    }
}

// ---------------------------------------------------------------------------------------
// 5. A closed stdout

/// Writes a log whose text dump is several MB.
fn write_large_wal(dir: &Path) {
    let wal = Wal::open(dir, Options::default()).unwrap();
    let names: Vec<String> = (0..1000).map(|i| format!("host-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let labels = [Label::new("__name__", "up"), Label::new("instance", name)];
        let series = [Series {
            series_ref: i as u64 + 1,
            labels: &labels,
        }];
        wal.log_series(&series).unwrap();
    }
    for round in 0..300 {
        let batch: Vec<Sample> = (1..=1000)
            .map(|r| Sample {
                series_ref: r,
                t: 1_700_000_000_000 + round * 15_000,
                v: r as f64 * 0.25 + round as f64,
            })
            .collect();
        wal.log_samples(&batch).unwrap();
    }
    wal.close().unwrap();
}

#[test]
fn dump_into_a_closed_pipe_ends_quietly() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("wal");
    write_large_wal(&dir);
    for format in ["text", "json", "canonical"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tswal"))
            .args(["dump", "--format", format])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "{format}: no output");
        drop(stdout);
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{format}: stderr: {err}");
        assert!(err.is_empty(), "{format}: stderr: {err}");
    }
    // The whole dump is several MB: far more than a pipe holds.
    let r = tswal!("dump", dir).expect(0);
    assert!(r.out.len() > 4 << 20, "the dump has {} bytes", r.out.len());
}

// ---------------------------------------------------------------------------------------
// 6. Missing paths, usage, help and version

#[test]
fn commands_on_a_missing_directory_exit_2_and_create_nothing() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("missing").join("wal");
    let commands: &[&[&str]] = &[
        &["dump"],
        &["dump", "--format", "canonical"],
        &["verify"],
        &["verify", "--json"],
        &["stat"],
        &["stat", "--json"],
        &["repair", "--recovery", "truncate", "--dry-run"],
        &["quarantine", "list"],
        &["quarantine", "purge"],
        &["quarantine", "purge", "--yes"],
    ];
    for command in commands {
        let r = run_on(command, &missing).expect(2);
        assert!(
            r.err.contains(&*missing.to_string_lossy()),
            "the message does not name the path: {}",
            r.brief()
        );
        assert!(
            !tmp.path().join("missing").exists(),
            "{} created it",
            r.args
        );
    }
}

#[test]
fn repair_of_a_missing_directory_exits_2_and_creates_nothing() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("missing").join("wal");
    for mode in ["truncate", "salvage"] {
        let r = run_on(&["repair", "--recovery", mode], &missing);
        assert!(
            !tmp.path().join("missing").exists(),
            "{} created the directory it was to repair: {}",
            r.args,
            r.brief()
        );
        let r = r.expect(2);
        assert!(r.err.contains(&*missing.to_string_lossy()), "{}", r.brief());
    }
}

#[test]
fn usage_errors_exit_2_and_change_nothing() {
    let (_tmp, wal) = copy_of("corrupt-flip_middle");
    let before = tree(&wal);
    // `DIR` stands for the WAL's path.
    let usage_errors: &[&[&str]] = &[
        &["dump"],
        &["bogus", "DIR"],
        &["dump", "DIR", "--format", "xml"],
        &["dump", "DIR", "--ref", "one"],
        &["dump", "DIR", "--type", "labels"],
        &["dump", "DIR", "--bogus"],
        &["dump", "DIR", "DIR"],
        &["verify"],
        &["stat", "DIR", "--format", "json"],
        &["repair", "DIR"],
        &["repair", "DIR", "--recovery", "fail"],
        &["quarantine", "DIR"],
        &["quarantine", "purge", "DIR", "one", "two"],
        &["demo", "DIR", "--bogus"],
    ];
    for args in usage_errors {
        let args: Vec<&OsStr> = args
            .iter()
            .map(|&a| match a {
                "DIR" => wal.as_os_str(),
                a => OsStr::new(a),
            })
            .collect();
        let r = run(&args).expect(2);
        assert!(r.err.starts_with("error: "), "{}", r.brief());
        assert!(r.err.contains("--help"), "{}", r.brief());
        assert_unchanged(&before, &wal, &r.args);
    }
}

#[test]
fn tswal_alone_prints_usage() {
    let r = tswal!().expect(2);
    assert!(r.err.contains("Usage: tswal <COMMAND>"), "{}", r.brief());
    for command in ["dump", "verify", "stat", "repair", "quarantine", "demo"] {
        assert!(r.err.contains(&format!("  {command} ")), "{}", r.brief());
    }
}

#[test]
fn version() {
    for flag in ["--version", "-V"] {
        let r = tswal!(flag).expect(0);
        assert_eq!(r.out, format!("tswal {}\n", tswal::VERSION));
    }
}

#[test]
fn help_on_every_command() {
    let commands: &[&[&str]] = &[
        &[],
        &["dump"],
        &["verify"],
        &["stat"],
        &["repair"],
        &["quarantine"],
        &["quarantine", "list"],
        &["quarantine", "purge"],
        &["demo"],
    ];
    for command in commands {
        let usage = format!(
            "Usage: {}",
            ["tswal"]
                .iter()
                .chain(*command)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        for flag in ["--help", "-h"] {
            let mut args: Vec<&OsStr> = command.iter().map(OsStr::new).collect();
            args.push(OsStr::new(flag));
            let r = run(&args).expect(0);
            assert!(r.out.contains(&usage), "{}", r.brief());
        }
        let mut args: Vec<&OsStr> = vec![OsStr::new("help")];
        args.extend(command.iter().map(OsStr::new));
        let r = run(&args).expect(0);
        assert!(r.out.contains(&usage), "{}", r.brief());
    }
}

// ---------------------------------------------------------------------------------------
// 7. Repair

#[test]
fn dry_run_changes_nothing_and_says_what_a_repair_would_do() {
    let mut ran = 0;
    for case in corrupt_cases()
        .iter()
        .map(String::as_str)
        .chain(["multiseg"])
    {
        let (_tmp, wal) = copy_of(case);
        let before = tree(&wal);
        for (mode, recovery) in [
            ("truncate", Recovery::Truncate),
            ("salvage", Recovery::Salvage),
        ] {
            let found = damage(&wal, recovery);
            let repairable: Vec<&Damaged> = found.iter().filter(|d| !d.hole).collect();
            let r = run_on(&["repair", "--recovery", mode, "--dry-run"], &wal);
            assert_unchanged(&before, &wal, &r.args);
            if repairable.is_empty() {
                let r = r.expect(0);
                assert!(r.out.contains("no damage to repair"), "{}", r.brief());
                continue;
            }
            ran += 1;
            let r = r.expect(1);
            assert!(r.out.contains("a repair would:"), "{}", r.brief());
            assert!(r.out.contains("nothing was changed"), "{}", r.brief());
            for d in &found {
                let at = format!("damage: segment {} at offset {}", segment_of(d), d.offset);
                assert!(r.out.contains(&at), "no `{at}` in {}", r.brief());
            }
            let first = repairable[0];
            let (segment, offset) = (segment_of(first), first.offset);
            let would = match (mode, offset) {
                ("salvage", _) => format!("rewrite segment {segment} without its damaged bytes"),
                (_, 0) => format!("take out segment {segment} (its header is damaged)"),
                _ => format!("cut segment {segment} at offset {offset}"),
            };
            assert!(
                r.out.contains(&would),
                "{case}: no `{would}` in {}",
                r.brief()
            );
            if mode == "truncate" {
                for later in segment_names(&wal).into_iter().filter(|n| *n > segment) {
                    let line = format!("take out segment {later}");
                    assert!(
                        r.out.contains(&line),
                        "{case}: no `{line}` in {}",
                        r.brief()
                    );
                }
            }
        }
    }
    assert!(
        ran >= 2 * (CORRUPT_CASES - 2),
        "dry runs that found damage: {ran}"
    );
}

/// The quarantine folder a repair's report names.
fn quarantine_folder(report: &str) -> PathBuf {
    let line = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("kept in quarantine: "))
        .unwrap_or_else(|| panic!("the repair names no quarantine folder: {report}"));
    PathBuf::from(line.rsplit_once(" (").unwrap().0)
}

/// Repairs a copy of `case` in `mode`: the copy, its snapshot before the repair, and
/// the quarantine folder the report names.
fn repaired(case: &str, mode: &str) -> (TempDir, PathBuf, Tree, PathBuf) {
    let (tmp, wal) = copy_of(case);
    let before = tree(&wal);
    let r = run_on(&["repair", "--recovery", mode], &wal).expect(0);
    assert!(r.out.contains("repaired: segment "), "{}", r.brief());
    let folder = quarantine_folder(&r.out);
    assert!(folder.is_dir(), "{}", r.brief());
    assert_eq!(folder.parent(), Some(&*wal.join("quarantine")));
    (tmp, wal, before, folder)
}

#[test]
fn truncate_repair_keeps_what_the_reference_keeps_and_quarantines_the_rest() {
    let case = "corrupt-flip_middle";
    let (_tmp, wal) = copy_of(case);
    let first = damage(&wal, Recovery::Truncate).remove(0);
    let (segment, offset) = (segment_of(&first), first.offset);
    let before = tree(&wal);

    let r = run_on(&["repair", "--recovery", "truncate"], &wal).expect(0);
    let line = format!(
        "repaired: segment {segment} at offset {offset}: {}",
        first.reason
    );
    assert!(r.out.contains(&line), "no `{line}` in {}", r.brief());
    let folder = quarantine_folder(&r.out);
    assert_eq!(folder.parent(), Some(&*wal.join("quarantine")));

    assert_eq!(segment_names(&wal), expected_files(case));
    let dumped = run_on(&["dump", "--format", "canonical"], &wal).expect(0);
    assert!(
        dumped.out == expected_dump(case),
        "the repaired log differs from expected.dump"
    );
    run_on(&["verify"], &wal).expect(0);

    // The cut segment keeps its start; its tail and every later segment are in
    // quarantine with their original bytes.
    let after = tree(&wal);
    let original = file(&before, &segment);
    let offset = offset as usize;
    assert_eq!(file(&after, &segment), &original[..offset]);
    let tail = fs::read(folder.join(format!("{segment}.from-{offset}"))).unwrap();
    assert!(tail == original[offset..], "the quarantined tail differs");
    let later: Vec<String> = before
        .keys()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| *n > segment)
        .collect();
    assert!(!later.is_empty());
    for name in later {
        assert!(!wal.join(&name).exists(), "{name} is still in the log");
        let kept = fs::read(folder.join(&name)).unwrap();
        assert!(kept == file(&before, &name), "{name} in quarantine differs");
        let line = format!("took out segment {name}");
        assert!(r.out.contains(&line), "no `{line}` in {}", r.brief());
    }
}

#[test]
fn salvage_repair_keeps_every_entry_but_the_damaged_one() {
    let (_tmp, wal, before, folder) = repaired("corrupt-flip_middle", "salvage");
    let dumped = run_on(&["dump", "--format", "canonical"], &wal).expect(0);
    run_on(&["verify"], &wal).expect(0);
    let kept = blocks(&dumped.out);
    let clean = blocks(&expected_dump("multiseg"));
    assert_eq!(kept.len(), clean.len() - 1);
    let missing = clean
        .iter()
        .zip(&kept)
        .position(|(a, b)| a != b)
        .unwrap_or(kept.len());
    assert!(
        kept[missing..] == clean[missing + 1..],
        "the salvaged log is not the clean one without entry {missing}"
    );
    // The original of the rewritten segment, and only it, is in quarantine.
    let set_aside: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "note.txt")
        .collect();
    assert_eq!(set_aside, ["000002"]);
    let original = fs::read(folder.join("000002")).unwrap();
    assert!(
        original == file(&before, "000002"),
        "the quarantined original differs"
    );
}

#[test]
fn repair_of_a_clean_wal_has_nothing_to_do() {
    for case in ["multiseg", "corrupt-stray_files"] {
        let (_tmp, wal) = copy_of(case);
        let before = tree(&wal);
        for mode in ["truncate", "salvage"] {
            let r = run_on(&["repair", "--recovery", mode], &wal).expect(0);
            assert!(r.out.contains("no damage to repair"), "{}", r.brief());
            assert_unchanged(&before, &wal, &r.args);
        }
    }
}

#[test]
fn repair_is_refused_while_a_writer_holds_the_wal() {
    let (_tmp, wal) = copy_of("corrupt-flip_middle");
    let writer = Wal::open(&wal, Options::default()).unwrap();
    let before = tree(&wal);
    for mode in ["truncate", "salvage"] {
        let r = run_on(&["repair", "--recovery", mode], &wal).expect(2);
        assert!(r.err.contains("a writer has it open"), "{}", r.brief());
        assert_unchanged(&before, &wal, &r.args);
    }
    // The read-only commands still read.
    run_on(&["dump"], &wal).expect(1);
    run_on(&["verify"], &wal).expect(1);
    writer.close().unwrap();
    run_on(&["repair", "--recovery", "truncate"], &wal).expect(0);
}

// ---------------------------------------------------------------------------------------
// 8. Quarantine

fn folder_name(folder: &Path) -> String {
    folder.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn quarantine_list_shows_what_a_repair_set_aside() {
    let (_tmp, wal, _, folder) = repaired("corrupt-flip_middle", "truncate");
    let r = run_on(&["quarantine", "list"], &wal).expect(0);
    let mut files: Vec<(String, u64)> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "note.txt")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        2,
        "the cut tail and the later segment: {files:?}"
    );
    let bytes: u64 = files.iter().map(|f| f.1).sum();
    let name = folder_name(&folder);
    let head = format!("{name}  completed, 2 file(s), {bytes} bytes");
    assert!(
        r.out.lines().any(|l| l == head),
        "no `{head}` in {}",
        r.brief()
    );
    for (file, len) in &files {
        let line = format!("    {file}  {len} bytes");
        assert!(
            r.out.lines().any(|l| l == line),
            "no `{line}` in {}",
            r.brief()
        );
    }
    assert!(
        r.out.contains("  damage: segment 000002 at offset"),
        "{}",
        r.brief()
    );
    let total = format!(
        "1 repair folder(s), {bytes} bytes, in {}",
        wal.join("quarantine").display()
    );
    assert!(r.out.contains(&total), "no `{total}` in {}", r.brief());

    // stat counts it too.
    let stat = json(&run_on(&["stat", "--json"], &wal).expect(0).out);
    let listed = &stat["quarantine"][0];
    assert_eq!(listed["folder"].as_str(), Some(&*name));
    assert_eq!(listed["completed"], Value::Bool(true));
    assert_eq!(listed["bytes"].as_u64(), Some(bytes));
}

#[test]
fn purge_deletes_only_with_yes() {
    let (_tmp, wal, _, folder) = repaired("corrupt-flip_middle", "truncate");
    let before = tree(&wal);
    let r = run_on(&["quarantine", "purge"], &wal).expect(2);
    assert!(
        r.err.contains("would delete 1 repair folder(s)"),
        "{}",
        r.brief()
    );
    assert!(r.err.contains("nothing was deleted"), "{}", r.brief());
    assert_unchanged(&before, &wal, &r.args);

    let r = run_on(&["quarantine", "purge", "--yes"], &wal).expect(0);
    assert!(
        r.out.contains("deleted 1 repair folder(s)"),
        "{}",
        r.brief()
    );
    assert!(!folder.exists());
    let mut log = before;
    log.retain(|name, _| !name.starts_with("quarantine"));
    let mut now = tree(&wal);
    now.retain(|name, _| !name.starts_with("quarantine"));
    assert!(now == log, "purge changed the log");
    let r = run_on(&["quarantine", "list"], &wal).expect(0);
    assert!(
        r.out.starts_with("0 repair folder(s), 0 bytes"),
        "{}",
        r.brief()
    );
}

#[test]
fn purge_of_one_folder_leaves_the_other() {
    let (_tmp, wal, _, first) = repaired("corrupt-flip_middle", "salvage");
    // Damage the first segment too, and repair again: a second folder.
    let segment = wal.join("000001");
    let mut bytes = fs::read(&segment).unwrap();
    bytes[20_000] ^= 0xff;
    fs::write(&segment, bytes).unwrap();
    let r = run_on(&["repair", "--recovery", "salvage"], &wal).expect(0);
    let second = quarantine_folder(&r.out);
    assert_ne!(first, second);
    let list = run_on(&["quarantine", "list"], &wal).expect(0);
    assert!(list.out.contains("2 repair folder(s)"), "{}", list.brief());

    let name = folder_name(&first);
    let before = tree(&wal);
    let r = tswal!("quarantine", "purge", wal, name).expect(2);
    assert!(
        r.err.contains("would delete 1 repair folder(s)"),
        "{}",
        r.brief()
    );
    assert_unchanged(&before, &wal, &r.args);

    tswal!("quarantine", "purge", wal, name, "--yes").expect(0);
    assert!(!first.exists() && second.is_dir());
    let list = run_on(&["quarantine", "list"], &wal).expect(0);
    assert!(list.out.contains("1 repair folder(s)"), "{}", list.brief());
    assert!(list.out.contains(&folder_name(&second)), "{}", list.brief());
}

#[test]
fn purge_is_refused_while_a_writer_holds_the_wal() {
    let (_tmp, wal, _, folder) = repaired("corrupt-flip_middle", "truncate");
    let writer = Wal::open(&wal, Options::default()).unwrap();
    let before = tree(&wal);
    let r = run_on(&["quarantine", "purge", "--yes"], &wal).expect(2);
    assert!(r.err.contains("a writer has it open"), "{}", r.brief());
    assert_unchanged(&before, &wal, &r.args);
    assert!(folder.is_dir());
    // Listing only reads.
    run_on(&["quarantine", "list"], &wal).expect(0);
    writer.close().unwrap();
}

// ---------------------------------------------------------------------------------------
// 9. Demo

/// The series and samples the demo's last replay delivered, from its report.
fn demo_replay(report: &str) -> (u64, u64) {
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("after truncation a replay delivers "))
        .unwrap_or_else(|| panic!("no replay in the demo's report: {report}"));
    let words: Vec<&str> = line.split(' ').collect();
    (words[0].parse().unwrap(), words[3].parse().unwrap())
}

/// The series and samples a WAL holds, as `stat --json` counts them.
fn stat_counts(dir: &Path) -> (u64, u64) {
    let v = json(&run_on(&["stat", "--json"], dir).expect(0).out);
    let total = &v["total"];
    (
        total["series"].as_u64().unwrap(),
        total["samples"].as_u64().unwrap(),
    )
}

#[test]
fn demo_without_a_directory_leaves_nothing_behind() {
    let tmp = TempDir::new().unwrap();
    let r = run_with(&[OsStr::new("demo")], &[("TMPDIR", tmp.path())]).expect(0);
    let first = r.out.lines().next().unwrap();
    let demo_dir = first.split_once(" demo in ").unwrap().1;
    assert!(Path::new(demo_dir).starts_with(tmp.path()), "{}", r.brief());
    let removed = r
        .out
        .lines()
        .last()
        .unwrap()
        .strip_prefix("removed ")
        .unwrap();
    assert!(Path::new(demo_dir).starts_with(removed), "{}", r.brief());
    assert!(!Path::new(removed).exists());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the demo left files"
    );
}

#[test]
fn demo_writes_a_new_directory_refuses_a_full_one_and_appends() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("new").join("wal");
    let r = tswal!("demo", dir).expect(0);
    assert!(!segment_names(&dir).is_empty());
    run_on(&["verify"], &dir).expect(0);
    let first = demo_replay(&r.out);
    assert_eq!(stat_counts(&dir), first);

    // Not into a directory that holds anything, a WAL or not, without --append.
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("keep.txt"), "mine").unwrap();
    for full in [&dir, &other] {
        let before = tree(full);
        let r = tswal!("demo", full).expect(2);
        assert!(r.err.contains("--append"), "{}", r.brief());
        assert!(r.err.contains(&*full.to_string_lossy()), "{}", r.brief());
        assert_unchanged(&before, full, &r.args);
    }

    let r = tswal!("demo", dir, "--append").expect(0);
    let after = demo_replay(&r.out);
    assert!(
        after.0 > first.0 && after.1 > first.1,
        "{first:?} then {after:?}"
    );
    assert_eq!(stat_counts(&dir), after);
    run_on(&["verify"], &dir).expect(0);
}
