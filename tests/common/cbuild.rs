//! Building the C programs of `c_tests/` against the library, for the tests that run
//! them (`tests/c_api.rs`, `tests/crash.rs`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    Static,
    Shared,
}

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the C library is: `libtswal.a` and `libtswal.so`, built for the tests run.
///
/// The crate alone builds as a Rust library (a dependent builds nothing else), so the C
/// library (the `capi` feature, as a staticlib and a cdylib) is built here, once per test
/// binary, by Cargo (`cargo rustc`), in the profile these tests were built in:
/// `target/<profile>/libtswal.{a,so}`. This also regenerates `include/tswal.h`.
pub fn lib_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_c_library).clone()
}

fn build_c_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/<test>: the profile's directory is two up.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf();
    let target = profile_dir.parent().expect("target/<profile> has a parent");
    let release = profile_dir.ends_with("release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "rustc",
        "--quiet",
        "-p",
        "tswal",
        "--lib",
        "--features",
        "capi",
    ])
    .args(["--crate-type", "staticlib,cdylib"])
    .args(release.then_some("--release"))
    .arg("--target-dir")
    .arg(target)
    .current_dir(manifest_dir());
    let shown = describe(&cmd);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(status.success(), "{shown} failed ({status})");
    for lib in ["libtswal.a", "libtswal.so"] {
        assert!(
            profile_dir.join(lib).is_file(),
            "{shown} made no {lib} in {}",
            profile_dir.display()
        );
    }
    profile_dir
}

/// The tests run on the machine they were built for; Cargo does not tell tests the
/// target triple, so it is rebuilt from the architecture (Linux/glibc only).
pub fn target_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Compiles and links `c_tests/<program>.c` into `target/<profile>/c_tests/`.
pub fn compile(program: &str, link: Link) -> PathBuf {
    let lib = lib_dir();
    let out_dir = lib.join("c_tests");
    fs::create_dir_all(&out_dir).expect("create the output directory of the C tests");
    let suffix = match link {
        Link::Static => "static",
        Link::Shared => "shared",
    };
    let sanitized = std::env::var("TSWAL_C_TEST_SANITIZE").unwrap_or_default();
    let suffix = if sanitized.trim().is_empty() {
        suffix.to_string()
    } else {
        format!("{suffix}-{}", sanitized.trim().replace(',', "-"))
    };
    let exe = out_dir.join(format!("{program}-{suffix}"));
    let triple = target_triple();
    let mut cmd = cc::Build::new()
        .target(&triple)
        .host(&triple)
        .opt_level(0)
        .debug(true)
        .cargo_metadata(false)
        .warnings(true)
        .extra_warnings(true)
        .get_compiler()
        .to_command();
    // TSWAL_C_TEST_SANITIZE=address,undefined builds the programs with those sanitizers
    // (the library itself is Rust, checked by the compiler and by valgrind).
    if let Ok(sanitizers) = std::env::var("TSWAL_C_TEST_SANITIZE") {
        if !sanitizers.trim().is_empty() {
            cmd.arg(format!("-fsanitize={}", sanitizers.trim()))
                .args(["-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]);
        }
    }
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(manifest_dir().join("c_tests").join(format!("{program}.c")))
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Static => {
            cmd.arg(lib.join("libtswal.a"))
                .args(["-lpthread", "-ldl", "-lm"]);
        }
        Link::Shared => {
            cmd.arg(format!("-L{}", lib.display()))
                .arg("-ltswal")
                .arg(format!("-Wl,-rpath,{}", lib.display()));
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler ({}): {e}", describe(&cmd)));
    assert!(
        out.status.success(),
        "compiling {program}.c failed ({})\ncommand: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        describe(&cmd),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if link == Link::Shared {
        // -ltswal would silently pick libtswal.a if the .so were missing; make sure the
        // program really loads the shared library (its name is in DT_NEEDED).
        let bytes = fs::read(&exe).expect("read the linked program");
        assert!(
            bytes.windows(11).any(|w| w == b"libtswal.so"),
            "{} does not reference libtswal.so",
            exe.display()
        );
    }
    exe
}

/// A command as a shell would show it, without the environment.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command that runs `exe`, through `TSWAL_C_TEST_WRAPPER` if it is set.
pub fn command_for(exe: &Path) -> Command {
    let wrapper = std::env::var("TSWAL_C_TEST_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(first) => {
            let mut cmd = Command::new(first);
            cmd.args(words).arg(exe);
            cmd
        }
        None => Command::new(exe),
    }
}
