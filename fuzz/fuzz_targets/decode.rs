//! Entry body decoding: never panics; what decodes re-encodes to the same records.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tswal::fuzzing::decode_body(data));
