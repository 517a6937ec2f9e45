//! Quarantine: what a repair takes out of the log stays in `quarantine/<time>-<segment>/`,
//! byte for byte, with a note saying what and why; also when the repair is interrupted at
//! any step, and without ever writing through a segment that is a symbolic link.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs;
use std::os::unix::fs::{FileExt, symlink};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::kept::*;
use common::*;
use tswal::{FaultOp, Faults, Options, ReadSummary, Recovery, Sample, Wal};

const MODES: [Recovery; 2] = [Recovery::Truncate, Recovery::Salvage];
const NOTE: &str = "note.txt";
/// The first bytes of a valid segment header: magic and version.
const HEADER_START: [u8; 5] = [0x43, 0xAF, 0x00, 0xEF, 0x01];

fn opts(recovery: Recovery) -> Options {
    Options {
        recovery,
        ..Options::default()
    }
}

fn corrupt_cases() -> Vec<String> {
    let cases: Vec<String> = cases()
        .into_iter()
        .filter(|c| c.starts_with("corrupt-"))
        .collect();
    assert_ran(
        &cases,
        CORRUPT_CASES,
        "corrupt-* fixture cases (CORRUPT_CASES)",
    );
    cases
}

fn expected_dump(case: &str) -> String {
    fs::read_to_string(fixtures_dir().join(case).join("expected.dump")).unwrap()
}

fn expected_files(case: &str) -> Vec<String> {
    fs::read_to_string(fixtures_dir().join(case).join("expected.files"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs `check` on every item, catching its panics, then fails listing every item that
/// failed (at most the first 20 messages), so one failure does not hide the others.
fn check_each<T: Debug>(items: impl IntoIterator<Item = T>, check: impl Fn(&T)) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for item in items {
        ran += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&item))) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{item:?}: {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Opens `dir` without faults, reads it fully and closes it.
fn open_read_close(what: &str, dir: &Path, recovery: Recovery) -> (String, ReadSummary) {
    let wal = Wal::open(dir, opts(recovery)).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    let read = read_dump(&wal).unwrap_or_else(|e| panic!("{what}: read after reopen: {e}"));
    wal.close()
        .unwrap_or_else(|e| panic!("{what}: close after reopen: {e}"));
    read
}

/// What an uninterrupted repair of `case` leaves: the dump and the segment names
/// (the fixture's expectations for Truncate).
fn uninterrupted(case: &str, recovery: Recovery) -> (String, Vec<String>) {
    if recovery == Recovery::Truncate {
        return (expected_dump(case), expected_files(case));
    }
    let (_tmp, dir) = temp_copy_of_case(case);
    let (dump, _) = open_read_close(case, &dir, recovery);
    (dump, segment_names(&dir))
}

/// Every file of a folder (links as links) with its bytes (read through links).
fn folder_contents(folder: &Path) -> BTreeMap<String, (bool, Vec<u8>)> {
    names_in(folder)
        .into_iter()
        .map(|n| {
            let path = folder.join(&n);
            let link = fs::symlink_metadata(&path).unwrap().is_symlink();
            (n, (link, fs::read(&path).unwrap()))
        })
        .collect()
}

/// Segment files in a folder, and the bytes of everything but the note (a link counts
/// its own size), as `Stats` and `Repair` count them.
fn quarantined_in(folder: &Path) -> (u64, u64) {
    let mut segments = 0;
    let mut bytes = 0;
    for name in names_in(folder).into_iter().filter(|n| n != NOTE) {
        segments += u64::from(is_segment_name(&name));
        bytes += fs::symlink_metadata(folder.join(&name)).unwrap().len();
    }
    (segments, bytes)
}

/// Everything in a single repair's folder is a piece of the log before the repair: a
/// segment moved whole (or the original of one rewritten), byte-identical, or the
/// cut-off tail of one, without its trailing zeros.
fn assert_folder_holds_pieces_of(what: &str, folder: &Path, originals: &Segments) {
    for (name, (_, bytes)) in folder_contents(folder) {
        if name == NOTE {
            continue;
        }
        if let Some((seg, from)) = parse_tail(&name) {
            let orig = &originals[seg];
            let want = orig.get(from..data_end(orig));
            assert!(
                want == Some(&bytes[..]) && !bytes.is_empty(),
                "{what}: {} is not bytes {from}..{} of segment {seg} ({} bytes in it)",
                folder.join(&name).display(),
                data_end(orig),
                bytes.len()
            );
        } else {
            assert!(
                is_segment_name(&name),
                "{what}: unexpected file {name} in {}",
                folder.display()
            );
            assert!(
                originals.get(&name) == Some(&bytes),
                "{what}: {} is not the original segment {name}",
                folder.join(&name).display()
            );
        }
    }
}

/// What a repair's note must say.
struct NoteExpect<'a> {
    recovery: Recovery,
    /// The (first) damaged segment, which also names the folder.
    segment: String,
    /// Where the damage is, for repairs at read time.
    offset: Option<u64>,
    reason: &'a str,
    /// Segments the repair took out of the log whole.
    removed: Vec<String>,
}

/// The repair's folder is in `dir/quarantine`, named `<UTC time>-<segment>[.N]`, and its
/// note names the damage, the recovery mode, every file taken out, and is completed.
fn check_folder_and_note(what: &str, dir: &Path, folder: &Path, want: &NoteExpect<'_>) {
    assert_eq!(
        folder.parent(),
        Some(quarantine_root(dir).as_path()),
        "{what}: the repair's folder is not in the WAL's quarantine"
    );
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    let (stamp, rest) = name.split_once('-').unwrap_or_default();
    let suffix_ok = rest == want.segment
        || rest
            .strip_prefix(&format!("{}.", want.segment))
            .is_some_and(|n| n.parse::<u32>().is_ok());
    assert!(
        stamp.len() == 16 && &stamp[8..9] == "T" && stamp.ends_with('Z') && suffix_ok,
        "{what}: folder name {name} is not <UTC time>-{}[.N]",
        want.segment
    );

    let note = fs::read_to_string(folder.join(NOTE))
        .unwrap_or_else(|e| panic!("{what}: no note in {}: {e}", folder.display()));
    let mode = match want.recovery {
        Recovery::Truncate => "recovery: truncate",
        _ => "recovery: salvage",
    };
    let mut says = vec![
        "tswal repair, ".to_string(),
        mode.to_string(),
        format!("damage: segment {}", want.segment),
        want.reason.to_string(),
    ];
    if let Some(offset) = want.offset {
        says.push(format!(
            "damage: segment {} at offset {offset}",
            want.segment
        ));
    }
    for seg in &want.removed {
        says.push(format!("takes out: segment {seg}"));
    }
    for file in names_in(folder).into_iter().filter(|n| n != NOTE) {
        says.push(if is_segment_name(&file) {
            format!("takes out: segment {file}")
        } else {
            file
        });
    }
    for s in &says {
        assert!(
            note.contains(s.as_str()),
            "{what}: note lacks {s:?}:\n{note}"
        );
    }
    let last = note.lines().last().unwrap_or_default();
    assert!(
        note.ends_with('\n') && last.starts_with("completed "),
        "{what}: note does not end with a completed line:\n{note}"
    );
}

/// The first original segment whose header is invalid (repaired at open).
fn first_bad_header(originals: &Segments) -> Option<String> {
    originals
        .iter()
        .find(|(_, b)| !b.starts_with(&HEADER_START) || b.len() < 8)
        .map(|(n, _)| n.clone())
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every byte a repair of `case` takes out is kept, its folder and note say what it did,
/// and the counters agree with the folder.
fn repair_keeps_what_it_takes_out(case: &str, recovery: Recovery) {
    let what = format!("{case} ({recovery:?})");
    let (_tmp, dir) = temp_copy_of_case(case);
    let originals = snapshot(&dir);
    let wal = Wal::open(&dir, opts(recovery)).unwrap();
    let (got, summary) = read_dump(&wal).unwrap();
    let stats = wal.stats().unwrap();
    if recovery == Recovery::Truncate {
        assert!(got == expected_dump(case), "{what}: not the expected dump");
        assert_eq!(
            segment_names(&dir),
            expected_files(case),
            "{what}: segments"
        );
    }

    // One folder per repair: at open for an invalid header, at read time for damage.
    let header = first_bad_header(&originals);
    let read_folder = summary.repair.as_ref().map(|r| {
        r.quarantine
            .clone()
            .unwrap_or_else(|| panic!("{what}: the repair names no quarantine folder"))
    });
    let folders = quarantine_folders(&dir);
    let repairs = usize::from(header.is_some()) + usize::from(read_folder.is_some());
    assert_eq!(folders.len(), repairs, "{what}: folders {folders:?}");
    if repairs == 0 {
        assert!(
            !quarantine_root(&dir).exists(),
            "{what}: a quarantine without a repair"
        );
    }
    for folder in &folders {
        let want = match &summary.repair {
            Some(r) if Some(folder) == read_folder.as_ref() => NoteExpect {
                recovery,
                segment: file_name(&r.segment),
                offset: Some(r.offset),
                reason: &r.reason,
                removed: r.removed_segments.iter().map(|p| file_name(p)).collect(),
            },
            _ => NoteExpect {
                recovery,
                segment: header.clone().expect("a folder of a header repair"),
                offset: None,
                reason: "invalid segment header",
                removed: Vec::new(),
            },
        };
        check_folder_and_note(&what, &dir, folder, &want);
        assert_folder_holds_pieces_of(&what, folder, &originals);
    }
    assert_no_byte_lost(&what, &dir, &originals);

    let in_folders = folders
        .iter()
        .map(|f| quarantined_in(f))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!(
        (stats.quarantined_segments, stats.quarantined_bytes),
        in_folders,
        "{what}: stats against the folders' contents"
    );
    if let (Some(r), Some(folder)) = (&summary.repair, &read_folder) {
        assert_eq!(
            (r.quarantined_segments, r.quarantined_bytes),
            quarantined_in(folder),
            "{what}: the repair's counts against its folder"
        );
        for seg in &r.removed_segments {
            assert!(
                fs::symlink_metadata(folder.join(seg.file_name().unwrap())).is_ok(),
                "{what}: removed segment {} is not in {}",
                seg.display(),
                folder.display()
            );
        }
    }

    // Repaired once: neither a second read nor a reopen repairs again.
    let (again, second) = read_dump(&wal).unwrap();
    assert!(again == got, "{what}: the second read differs");
    assert_eq!(second.repair, None, "{what}: the second read repaired");
    wal.close().unwrap();
    let (again, reopened) = open_read_close(&what, &dir, recovery);
    assert!(again == got, "{what}: the read after reopen differs");
    assert_eq!(
        reopened.repair, None,
        "{what}: the read after reopen repaired"
    );
    assert_eq!(quarantine_folders(&dir), folders, "{what}: a new folder");
}

#[test]
fn every_repair_of_a_corrupt_case_keeps_every_byte_it_takes_out() {
    let runs = corrupt_cases()
        .into_iter()
        .flat_map(|c| MODES.map(|m| (c.clone(), m)));
    check_each(runs, |(case, recovery)| {
        repair_keeps_what_it_takes_out(case, *recovery)
    });
}

#[test]
fn only_damaged_cases_get_a_quarantine() {
    let mut clean = Vec::new();
    for case in corrupt_cases() {
        for recovery in MODES {
            let (_tmp, dir) = temp_copy_of_case(&case);
            open_read_close(&case, &dir, recovery);
            if !quarantine_root(&dir).exists() {
                clean.push(format!("{case} ({recovery:?})"));
            }
        }
    }
    assert_eq!(
        clean,
        [
            "corrupt-stray_files (Truncate)",
            "corrupt-stray_files (Salvage)"
        ]
    );
}

/// Damages a segment by flipping one byte.
fn flip_byte(path: &Path, offset: u64) {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[!b[0]], offset).unwrap();
}

#[test]
fn a_second_repair_gets_a_folder_of_its_own_and_overwrites_nothing() {
    for recovery in MODES {
        let what = format!("corrupt-flip_middle ({recovery:?})");
        let (_tmp, dir) = temp_copy_of_case("corrupt-flip_middle");
        open_read_close(&what, &dir, recovery);
        let first = quarantine_folders(&dir);
        assert_eq!(first.len(), 1, "{what}: {first:?}");
        let kept = folder_contents(&first[0]);

        // The same segment is damaged again (early on, in its first entry), so the
        // second folder would have the first one's name, were it not for the suffix.
        flip_byte(&dir.join("000002"), 100);
        let before = snapshot(&dir);
        let (_, summary) = open_read_close(&what, &dir, recovery);
        let r = summary
            .repair
            .unwrap_or_else(|| panic!("{what}: the second damage was not repaired"));
        let folders = quarantine_folders(&dir);
        assert_eq!(folders.len(), 2, "{what}: {folders:?}");
        assert!(folders.contains(&first[0]), "{what}: {folders:?}");
        let second = r.quarantine.clone().expect("a quarantine folder");
        assert!(
            folders.contains(&second) && second != first[0],
            "{what}: {second:?}"
        );
        assert_eq!(
            folder_contents(&first[0]),
            kept,
            "{what}: the first repair's folder changed"
        );
        let want = NoteExpect {
            recovery,
            segment: "000002".into(),
            offset: Some(r.offset),
            reason: &r.reason,
            removed: r.removed_segments.iter().map(|p| file_name(p)).collect(),
        };
        check_folder_and_note(&what, &dir, &second, &want);
        assert_folder_holds_pieces_of(&what, &second, &before);
        assert_no_byte_lost(&what, &dir, &before);
    }
}

#[test]
fn without_quarantine_repairs_delete_as_the_reference_does() {
    let runs = corrupt_cases()
        .into_iter()
        .flat_map(|c| MODES.map(|m| (c.clone(), m)));
    check_each(runs, |(case, recovery)| {
        let what = format!("{case} ({recovery:?}, quarantine off)");
        let (_tmp, dir) = temp_copy_of_case(case);
        let options = Options {
            quarantine: false,
            ..opts(*recovery)
        };
        let wal = Wal::open(&dir, options).unwrap();
        let (got, summary) = read_dump(&wal).unwrap();
        let stats = wal.stats().unwrap();
        wal.close().unwrap();
        let (want_dump, want_files) = uninterrupted(case, *recovery);
        assert!(got == want_dump, "{what}: not the dump the repair gives");
        assert_eq!(segment_names(&dir), want_files, "{what}: segments");
        if let Some(r) = &summary.repair {
            assert_eq!(
                (&r.quarantine, r.quarantined_segments, r.quarantined_bytes),
                (&None, 0, 0),
                "{what}: repair"
            );
        }
        assert_eq!(
            (stats.quarantined_segments, stats.quarantined_bytes),
            (0, 0),
            "{what}: stats"
        );
        let left: Vec<String> = names_in(&dir)
            .into_iter()
            .filter(|n| !is_segment_name(n))
            .collect();
        let stray: &[&str] = if case == "corrupt-stray_files" {
            &["compact.tmp", "notes.txt"]
        } else {
            &[]
        };
        assert_eq!(left, stray, "{what}: files beside the segments");
    });
}

/// One repair to interrupt at every step.
#[derive(Debug, Clone, Copy)]
struct Interrupted {
    case: &'static str,
    recovery: Recovery,
    /// A header repair, made by open (else a repair at read time).
    at_open: bool,
}

const OPS: [FaultOp; 5] = [
    FaultOp::Create,
    FaultOp::Write,
    FaultOp::Fsync,
    FaultOp::Rename,
    FaultOp::Remove,
];
/// More calls of each operation than any of the repairs below makes.
const SKIPS: u64 = 16;

/// Runs the repair with `op` failing after `skip` calls, then reopens without faults
/// (what a crash there amounts to) and checks that the log is the repaired one and no
/// byte was lost. Whether the repair failed.
fn interrupt(it: Interrupted, op: FaultOp, skip: u64, want: &(String, Vec<String>)) -> bool {
    let what = format!(
        "{} ({:?}) with {op:?} failing after {skip} calls",
        it.case, it.recovery
    );
    let (_tmp, dir) = temp_copy_of_case(it.case);
    let originals = snapshot(&dir);
    let faults = Arc::new(Faults::default());
    let options = Options {
        faults: Some(faults.clone()),
        ..opts(it.recovery)
    };
    if it.at_open {
        faults.fail_after(op, skip, libc::EIO);
    }
    let result = Wal::open(&dir, options).and_then(|wal| {
        if !it.at_open {
            faults.fail_after(op, skip, libc::EIO);
        }
        let read = read_dump(&wal).map(|_| ());
        drop(wal);
        read
    });
    faults.clear();

    let (got, _) = open_read_close(&what, &dir, it.recovery);
    let what = format!("{what} ({result:?})");
    assert!(got == want.0, "{what}: the log reads differently");
    assert_eq!(segment_names(&dir), want.1, "{what}: segments left");
    assert_no_byte_lost(&what, &dir, &originals);
    let leftovers: Vec<String> = names_in(&dir)
        .into_iter()
        .filter(|n| !is_segment_name(n) && n != "quarantine")
        .collect();
    assert!(
        leftovers.is_empty(),
        "{what}: left in the WAL directory: {leftovers:?}"
    );
    result.is_err()
}

/// Interrupts the repair at every step of every operation; the last skips let it finish.
fn interrupted_at_every_step(it: Interrupted) {
    let want = uninterrupted(it.case, it.recovery);
    let runs = OPS
        .into_iter()
        .flat_map(|op| (0..SKIPS).map(move |skip| (op, skip)));
    let outcomes = std::sync::Mutex::new(Vec::new());
    check_each(runs, |&(op, skip)| {
        let failed = interrupt(it, op, skip, &want);
        outcomes.lock().unwrap().push((op, skip, failed));
    });
    let outcomes = outcomes.into_inner().unwrap();
    let interrupted = outcomes.iter().filter(|o| o.2).count();
    assert!(
        interrupted > 0 && interrupted < outcomes.len(),
        "{it:?}: both outcomes occur ({interrupted} of {} interrupted)",
        outcomes.len()
    );
    for (op, skip, failed) in outcomes {
        assert!(
            !(failed && skip == SKIPS - 1),
            "{it:?}: still interrupted with {op:?} failing after {skip} calls; raise SKIPS"
        );
    }
}

#[test]
fn a_truncate_repair_interrupted_at_any_step_loses_nothing() {
    for case in ["corrupt-flip_middle", "corrupt-checksum"] {
        interrupted_at_every_step(Interrupted {
            case,
            recovery: Recovery::Truncate,
            at_open: false,
        });
    }
}

#[test]
fn a_header_repair_at_open_interrupted_at_any_step_loses_nothing() {
    for recovery in MODES {
        interrupted_at_every_step(Interrupted {
            case: "corrupt-bad_header",
            recovery,
            at_open: true,
        });
    }
}

#[test]
fn a_salvage_interrupted_at_any_step_loses_nothing() {
    interrupted_at_every_step(Interrupted {
        case: "corrupt-flip_middle",
        recovery: Recovery::Salvage,
        at_open: false,
    });
}

/// How a segment links to its file outside the WAL directory.
#[derive(Debug, Clone, Copy)]
enum LinkTo {
    /// `/tmp/.../elsewhere/000002`
    Absolute,
    /// `../elsewhere/000002`, from the WAL directory
    Relative,
}

/// A copy of `case` whose segment `seg` is a symbolic link to a copy of it outside the
/// WAL directory: the temporary directory, the WAL and the link's target.
fn with_linked_segment(
    case: &str,
    seg: &str,
    how: LinkTo,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, dir) = temp_copy_of_case(case);
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let target = elsewhere.join(seg);
    fs::rename(dir.join(seg), &target).unwrap();
    let link = match how {
        LinkTo::Absolute => target.clone(),
        LinkTo::Relative => Path::new("../elsewhere").join(seg),
    };
    symlink(link, dir.join(seg)).unwrap();
    (tmp, dir, target)
}

/// `path` is a symbolic link that leads to `target`.
fn is_link_to(path: &Path, target: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink())
        && fs::canonicalize(path).ok() == fs::canonicalize(target).ok()
}

/// What `path` is, for a message.
fn describe_link(path: &Path) -> String {
    match (fs::read_link(path), fs::canonicalize(path)) {
        (Err(_), _) if path.exists() => "not a link".into(),
        (Err(e), _) => format!("missing ({e})"),
        (Ok(to), Ok(resolved)) => format!("a link to {to:?}, resolving to {resolved:?}"),
        (Ok(to), Err(e)) => format!("a link to {to:?}, dangling ({e})"),
    }
}

/// Repairs corrupt-flip_middle (damage in 000002) whose segment `linked` is a link:
/// the target is left as it is, the log reads as without the link, and the link is in
/// quarantine still leading to its target (or, for a segment salvage keeps, in the log).
fn repair_with_linked_segment(linked: &str, recovery: Recovery, how: LinkTo) {
    let case = "corrupt-flip_middle";
    let what = format!("{case} with {linked} a link ({how:?}), {recovery:?}");
    let (_tmp, dir, target) = with_linked_segment(case, linked, how);
    let target_bytes = fs::read(&target).unwrap();
    let originals = snapshot(&dir);
    let (want_dump, want_files) = uninterrupted(case, recovery);

    let (got, summary) = open_read_close(&what, &dir, recovery);
    assert!(got == want_dump, "{what}: the log reads differently");
    assert_eq!(segment_names(&dir), want_files, "{what}: segments");
    assert!(
        fs::read(&target).unwrap() == target_bytes,
        "{what}: the link's target changed"
    );
    let folder = summary
        .repair
        .and_then(|r| r.quarantine)
        .unwrap_or_else(|| panic!("{what}: no repair with a quarantine"));
    // Salvage keeps the segments after the damaged one: that link stays in the log.
    let (kept_in, gone_from) = if linked == "000003" && recovery == Recovery::Salvage {
        (dir.clone(), folder)
    } else {
        (folder, dir.clone())
    };
    let link = kept_in.join(linked);
    assert!(
        is_link_to(&link, &target),
        "{what}: {} does not lead to {}: {}",
        link.display(),
        target.display(),
        describe_link(&link)
    );
    assert!(
        !fs::symlink_metadata(gone_from.join(linked)).is_ok_and(|m| m.is_symlink()),
        "{what}: the link is also in {}",
        gone_from.display()
    );
    assert_no_byte_lost(&what, &dir, &originals);

    let (again, reopened) = open_read_close(&what, &dir, recovery);
    assert!(
        again == want_dump && reopened.repair.is_none(),
        "{what}: reopen"
    );
    assert!(
        fs::read(&target).unwrap() == target_bytes,
        "{what}: the link's target changed after reopen"
    );
}

fn linked_segment_runs() -> impl Iterator<Item = (&'static str, Recovery)> {
    ["000002", "000003"]
        .into_iter()
        .flat_map(|seg| MODES.map(|m| (seg, m)))
}

#[test]
fn a_repair_never_changes_the_target_of_a_linked_segment() {
    check_each(linked_segment_runs(), |&(linked, recovery)| {
        repair_with_linked_segment(linked, recovery, LinkTo::Absolute)
    });
}

/// A relative link moved into `quarantine/<folder>/` must still lead to its target.
#[test]
fn a_quarantined_relative_link_still_leads_to_its_target() {
    check_each(linked_segment_runs(), |&(linked, recovery)| {
        repair_with_linked_segment(linked, recovery, LinkTo::Relative)
    });
}

/// The newest segment (with preallocated zeros at its end, which a reopen trims from a
/// regular file once a new segment follows) links to a file elsewhere: reading and
/// writing after it neither trims nor writes through the link.
fn write_after_linked_newest_segment(how: LinkTo) {
    let what = format!("multiseg with 000003 a link ({how:?})");
    let (_tmp, dir, target) = with_linked_segment("multiseg", "000003", how);
    let target_bytes = fs::read(&target).unwrap();
    assert!(
        target_bytes.ends_with(&[0; 1024]),
        "{what}: no zeros to trim"
    );
    let options = || Options {
        segment_size: 32768,
        ..Options::default()
    };
    let wal = Wal::open(&dir, options()).unwrap();
    let (got, summary) = read_dump(&wal).unwrap();
    assert!(got == expected_dump("multiseg"), "{what}: first read");
    assert_eq!(summary.repair, None, "{what}");
    let batches: Vec<Op> = (0..50)
        .map(|i| {
            Op::Samples(
                (0..40)
                    .map(|k| Sample {
                        series_ref: k,
                        t: 1_000_000 + i,
                        v: k as f64,
                    })
                    .collect(),
            )
        })
        .collect();
    for b in &batches {
        log_op(&wal, b).unwrap();
    }
    wal.close().unwrap();
    let unchanged = |when: &str| {
        assert!(
            fs::read(&target).unwrap() == target_bytes,
            "{what}: the link's target was written or trimmed {when}"
        );
        let link = dir.join("000003");
        assert!(
            is_link_to(&link, &target),
            "{what}: 000003 {when}: {}",
            describe_link(&link)
        );
    };
    unchanged("after writing");
    assert!(
        segment_names(&dir).len() > 3,
        "{what}: new entries go to new segments"
    );

    let wal = Wal::open(&dir, options()).unwrap();
    let (got, summary) = read_dump(&wal).unwrap();
    wal.close().unwrap();
    assert_eq!(summary.repair, None, "{what}: reopen");
    assert!(
        got == expected_dump("multiseg") + &dump_ops(&batches),
        "{what}: the log after reopen is not the old one and the new entries"
    );
    unchanged("after reopen");
    assert!(!quarantine_root(&dir).exists(), "{what}: a quarantine");
}

#[test]
fn writing_after_a_linked_newest_segment_leaves_its_target_alone() {
    check_each([LinkTo::Absolute, LinkTo::Relative], |&how| {
        write_after_linked_newest_segment(how)
    });
}
