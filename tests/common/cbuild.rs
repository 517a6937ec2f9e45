//! Building the C programs of `c_tests/` and the C++ programs of `cpp_tests/` against the
//! library, and running them, for the tests that do (`tests/c_api.rs`, `tests/crash.rs`,
//! `tests/cpp_api.rs`).

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    Static,
    Shared,
}

/// The language of a test program: C (`c_tests/<program>.c`, C11) or C++
/// (`cpp_tests/<program>.cpp`, C++17, against `include/tswal.hpp`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    C,
    Cpp,
}

impl Lang {
    /// The directory of the sources, and of the programs under `target/<profile>/`.
    fn dir(self) -> &'static str {
        match self {
            Lang::C => "c_tests",
            Lang::Cpp => "cpp_tests",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::Cpp => "cpp",
        }
    }

    /// The standard and the warnings, all of them errors.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Lang::C => &["-std=c11", "-Wall", "-Wextra", "-Werror"],
            Lang::Cpp => &["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"],
        }
    }
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
    compile_lang(Lang::C, program, link)
}

/// Compiles and links the program `program` of language `lang` (`c_tests/<program>.c` or
/// `cpp_tests/<program>.cpp`) into `target/<profile>/c_tests/` or `cpp_tests/`, with the
/// compiler the `cc` crate finds (`CC` or `CXX` choose another).
pub fn compile_lang(lang: Lang, program: &str, link: Link) -> PathBuf {
    let lib = lib_dir();
    let out_dir = lib.join(lang.dir());
    fs::create_dir_all(&out_dir).expect("create the output directory of the test programs");
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
        .cpp(lang == Lang::Cpp)
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
    let source = manifest_dir()
        .join(lang.dir())
        .join(format!("{program}.{}", lang.extension()));
    cmd.args(lang.flags())
        .arg("-pthread")
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(&source)
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
        .unwrap_or_else(|e| panic!("cannot run the compiler ({}): {e}", describe(&cmd)));
    assert!(
        out.status.success(),
        "compiling {} failed ({})\ncommand: {}\n--- stdout\n{}\n--- stderr\n{}",
        source.display(),
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

/// How long one run of a program may take: `TSWAL_C_TEST_TIMEOUT` seconds, by default
/// 300 (a run takes at most about 15 s under valgrind). A hang then fails the test
/// instead of blocking the suite.
fn timeout() -> Duration {
    let secs = std::env::var("TSWAL_C_TEST_TIMEOUT")
        .ok()
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .expect("TSWAL_C_TEST_TIMEOUT is a number of seconds")
        })
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Reads a child's pipe to the end on another thread (so a full pipe never blocks it).
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Runs `exe` with `args` (through `TSWAL_C_TEST_WRAPPER`, within the timeout); returns a
/// report of the failure, if any.
pub fn run(exe: &Path, args: &[OsString]) -> Result<(), String> {
    let mut cmd = command_for(exe);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let shown = describe(&cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let limit = timeout();
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < limit => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => return Err(format!("waiting for {shown}: {e}")),
        }
    };
    let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    // Captured by the test harness; shown with --nocapture or on failure.
    println!("$ {shown}\n{stdout}{stderr}");
    let outcome = match status {
        Some(status) if status.success() => return Ok(()),
        Some(status) => status.to_string(),
        None => format!("killed after {limit:?} without finishing (a hang?)"),
    };
    Err(format!(
        "{shown} failed: {outcome}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    ))
}

/// Compiles the C program `program` and runs it once with a fresh temporary directory as
/// argv[1].
pub fn run_in_temp_dir(program: &str, link: Link) {
    run_lang_in_temp_dir(Lang::C, program, link);
}

/// `run_in_temp_dir` for a program of language `lang`. The directory is kept if the
/// program fails, and its path is in the report.
pub fn run_lang_in_temp_dir(lang: Lang, program: &str, link: Link) {
    let exe = compile_lang(lang, program, link);
    let tmp = tempfile::Builder::new()
        .prefix(&format!("tswal-{}-{program}-", lang.extension()))
        .tempdir()
        .expect("create a temporary directory");
    if let Err(report) = run(&exe, &[tmp.path().into()]) {
        let kept = tmp.keep();
        panic!(
            "{report}\n(the program's directory is kept: {})",
            kept.display()
        );
    }
}
