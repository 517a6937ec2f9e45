//! The fuzz targets' corpus (fuzz/corpus/, seeded from the fixtures, plus inputs the
//! fuzzers found interesting) run as ordinary tests, so every past finding stays fixed
//! without a fuzzer installed.

use std::fs;
use std::path::Path;

fn run_corpus(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in fs::read_dir(&dir).expect("the corpus is committed") {
        let path = entry.expect("list the corpus").path();
        let data = fs::read(&path).expect("read a corpus input");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        inputs += 1;
    }
    assert!(
        inputs >= 10,
        "{target}: only {inputs} inputs in {}",
        dir.display()
    );
}

#[test]
fn decode_corpus() {
    run_corpus("decode", tswal::fuzzing::decode_body);
}

#[test]
fn open_read_corpus() {
    run_corpus("open_read", tswal::fuzzing::open_read);
}
