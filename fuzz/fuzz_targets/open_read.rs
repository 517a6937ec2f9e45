//! Open, read and repair over arbitrary segment files, in every recovery mode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tswal::fuzzing::open_read(data));
