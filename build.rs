//! With the `capi` feature (the C library): generates the C header `include/tswal.h`
//! from `src/ffi.rs` with cbindgen, with the version macros of this package's version.
//!
//! The header is committed; a build rewrites it only when its content changes, so a stale
//! committed header shows up in `git status` (CI fails on that). Without the feature (a
//! Rust dependent) nothing is generated and nothing is written.

fn main() {
    #[cfg(feature = "capi")]
    header::generate();
}

#[cfg(feature = "capi")]
mod header {
    use std::path::PathBuf;

    pub fn generate() {
        // The C API spans several files (ffi.rs, ffi_tail.rs, the types they export).
        println!("cargo:rerun-if-changed=src");
        println!("cargo:rerun-if-changed=cbindgen.toml");
        let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("cargo sets {k}"));
        let crate_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
        let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
            .expect("cbindgen.toml is readable and valid");
        let (major, minor, patch) = (
            env("CARGO_PKG_VERSION_MAJOR"),
            env("CARGO_PKG_VERSION_MINOR"),
            env("CARGO_PKG_VERSION_PATCH"),
        );
        config.after_includes = Some(format!(
            "\n/* The version of this header; wal_version() gives the library's. */\n\
             #define TSWAL_VERSION_MAJOR {major}\n\
             #define TSWAL_VERSION_MINOR {minor}\n\
             #define TSWAL_VERSION_PATCH {patch}\n\
             #define TSWAL_VERSION \"{}\"\n",
            env("CARGO_PKG_VERSION")
        ));
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
}
