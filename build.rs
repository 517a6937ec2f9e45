//! Generates the C header `include/tswal.h` from `src/ffi.rs` with cbindgen.
//!
//! The header is committed; a build rewrites it only when its content changes, so a stale
//! committed header shows up in `git status` (CI fails on that).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can parse src/ffi.rs");
    let header = crate_dir.join("include").join("tswal.h");
    std::fs::create_dir_all(crate_dir.join("include")).expect("include/ can be created");
    // write_to_file only writes when the content differs.
    bindings.write_to_file(&header);
}
