//! Entries too large for the format (a body over the u32 length field) are refused
//! before they are encoded: no memory the size of the entry is touched, and the handle
//! takes the next entry as usual. (A 4 GiB label used to be copied into a 4 GiB buffer
//! first, kept until the next sync.) In a test binary of its own, so that the peak
//! memory it reads is its own.

use std::ops::ControlFlow;

use tswal::{Error, Label, Options, Sample, Series, Tombstone, Wal};

/// The process's peak resident memory (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in kB");
    kb * 1024
}

fn assert_too_large(result: tswal::Result<()>, what: &str) {
    match result {
        Err(Error::InvalidArgument(m)) => {
            assert!(m.contains("exceeds the format's limit"), "{what}: {m}")
        }
        other => panic!("{what}: expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn an_entry_too_large_for_the_format_is_refused_before_it_is_encoded() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    // Zeroed memory from the allocator is mapped lazily: untouched, it costs no RSS.
    let huge = vec![0u8; (4 << 30) + 1];
    let before = peak_rss();

    let labels = [Label::new("__name__", "big"), Label::new("v", &huge[..])];
    let series = [Series {
        series_ref: 1,
        labels: &labels,
    }];
    assert_too_large(wal.log_series(&series), "a 4 GiB label");
    // One byte over: a body of ref (8), label count (1), name length (5), the name,
    // value length (1) is 2^32 bytes.
    let labels = [Label::new(&huge[..(u32::MAX as usize) - 14], "")];
    let series = [Series {
        series_ref: 1,
        labels: &labels,
    }];
    assert_too_large(wal.log_series(&series), "a label one byte over");

    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 256 << 20,
        "refusing the entries raised the peak RSS by {grown} bytes"
    );

    // The handle goes on as usual.
    wal.log_samples(&[Sample {
        series_ref: 1,
        t: 1,
        v: 1.0,
    }])
    .unwrap();
    wal.log_deletes(&[Tombstone {
        series_ref: 1,
        mint: 0,
        maxt: 1,
    }])
    .unwrap();
    wal.sync().unwrap();
    let mut entries = 0;
    wal.read(|_| {
        entries += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(entries, 2);
    wal.close().unwrap();
}
