//! Builds the C++ test programs in `cpp_tests/` against `include/tswal.hpp` and the
//! library, and runs them, one `#[test]` per program: as the C programs of
//! `tests/c_api.rs` (see there, and `common::cbuild`), with `-std=c++17 -Wall -Wextra
//! -Werror -pedantic`, honouring `TSWAL_C_TEST_SANITIZE`, `TSWAL_C_TEST_WRAPPER` and
//! `TSWAL_C_TEST_TIMEOUT`. `CXX` chooses the compiler (e.g. `CXX=clang++`).

mod common;
use common::cbuild::{Lang, Link, run_lang_in_temp_dir};

#[test]
fn roundtrip() {
    run_lang_in_temp_dir(Lang::Cpp, "roundtrip", Link::Static);
}

#[test]
fn roundtrip_shared_library() {
    run_lang_in_temp_dir(Lang::Cpp, "roundtrip", Link::Shared);
}

#[test]
fn errors() {
    run_lang_in_temp_dir(Lang::Cpp, "errors", Link::Static);
}

#[test]
fn tail() {
    run_lang_in_temp_dir(Lang::Cpp, "tail", Link::Static);
}
