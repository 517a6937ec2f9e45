//! `cargo bench`: write, replay, truncation and durable-write throughput of tswal, and
//! its memory use, through the Rust API and through the C ABI.
//!
//! The driver (this process) builds `benches/c/bench.c` against the `libtswal.a` that
//! Cargo built next to this binary, then runs every measured phase in a child process:
//! this binary re-executed with `--child ...` for the Rust API, the C program for the C
//! ABI. A child reports `key value` lines on stdout, including its own peak RSS. The
//! driver repeats each phase `--runs` times, prints a table (stdout) and writes JSON.
//! If its self-checks fail (the Rust and C writers' segment files differ, the replays
//! disagree, or a replay loses series or samples), it then exits non-zero, saying which.
//!
//! Modules: `workload` (the generator, mirrored in `bench.c`), `child` (the phases through
//! the Rust API), `sys` (/proc, statvfs, segment files), `report` (median/min/max, JSON,
//! tables), `render` (the table and the JSON of this bench).
//!
//! ```text
//! cargo bench --bench throughput -- [--runs N] [--quick] [--skip-scaling]
//!                                   [--dir PATH] [--json PATH]
//! ```

mod child;
mod render;
mod report;
mod sys;
mod tail;
mod workload;

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use child::DurableMode;
use report::{Json, Run, Runs};
use sys::Machine;

const USAGE: &str = "\
usage: cargo bench --bench throughput -- [options]
  --runs N         runs per measurement, reported as the median (default 5)
  --quick          a tiny workload and 1 run: a smoke test for CI
  --skip-scaling   skip the 1 M / 10 M / 100 M samples scaling runs
  --dir PATH       WALs go to a fresh directory inside PATH, removed at the end
                   (default: inside target/bench/)
  --json PATH      where the results go (default: target/bench/results.json)";

const MIB: u64 = 1 << 20;

struct Args {
    runs: Option<usize>,
    quick: bool,
    skip_scaling: bool,
    dir: Option<PathBuf>,
    json: Option<PathBuf>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut a = Args {
            runs: None,
            quick: false,
            skip_scaling: false,
            dir: None,
            json: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
            match arg.as_str() {
                "--runs" => {
                    let v = value()?;
                    let n = v.parse().ok().filter(|&n: &usize| n > 0);
                    a.runs = Some(n.ok_or(format!("--runs {v}: not a positive number"))?);
                }
                "--quick" => a.quick = true,
                "--skip-scaling" => a.skip_scaling = true,
                "--dir" => a.dir = Some(value()?.into()),
                "--json" => a.json = Some(value()?.into()),
                // Cargo passes --bench to every benchmark binary.
                "--bench" => {}
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown option {other}\n{USAGE}")),
            }
        }
        Ok(a)
    }
}

/// What is measured, and how much of it.
struct Config {
    quick: bool,
    runs: usize,
    series: u64,
    rounds: u64,
    segment_size: u64,
    /// Rounds of the durable phases (a sync per batch is slow on real disks).
    durable_rounds: u64,
    durable_threads: u64,
    /// Truncation drops the segments whose samples all lie before this round.
    truncate_round: u64,
    scaling: bool,
    scaling_runs: usize,
    scaling_series: u64,
    scaling_rounds: [u64; 3],
    scaling_segment_size: u64,
}

impl Config {
    fn new(args: &Args) -> Config {
        let runs = args.runs.unwrap_or(if args.quick { 1 } else { 5 });
        let base = Config {
            quick: args.quick,
            runs,
            series: 10_000,
            rounds: 1_000,
            // Small enough that "half the segments" means something at 10 M samples
            // (about 115 MB); the default 256 MiB would give one segment.
            segment_size: 16 * MIB,
            durable_rounds: 100,
            durable_threads: 4,
            truncate_round: 500,
            scaling: !args.skip_scaling,
            scaling_runs: runs.min(3),
            scaling_series: 10_000,
            scaling_rounds: [100, 1_000, 10_000],
            scaling_segment_size: 16 * MIB,
        };
        if !args.quick {
            return base;
        }
        // About a second of work per phase at most; the segment size is cut down with
        // the workload so truncation still has segments to drop.
        Config {
            series: 1_000,
            rounds: 100,
            segment_size: 128 * 1024,
            durable_rounds: 10,
            truncate_round: 50,
            scaling_series: 1_000,
            scaling_rounds: [10, 100, 1_000],
            ..base
        }
    }

    fn samples(&self) -> u64 {
        self.series * self.rounds
    }

    fn to_json(&self) -> Json {
        let n = |x: u64| Json::Num(x as f64);
        Json::obj([
            ("quick", Json::Bool(self.quick)),
            ("runs", n(self.runs as u64)),
            ("series", n(self.series)),
            ("rounds", n(self.rounds)),
            ("samples", n(self.samples())),
            ("samples_per_batch", n(workload::BATCH as u64)),
            ("series_per_entry", n(workload::SERIES_PER_ENTRY)),
            ("segment_size", n(self.segment_size)),
            ("base_t_ms", Json::Num(workload::BASE_T as f64)),
            ("interval_ms", Json::Num(workload::INTERVAL_MS as f64)),
            ("durable_rounds", n(self.durable_rounds)),
            ("durable_samples", n(self.series * self.durable_rounds)),
            ("durable_threads", n(self.durable_threads)),
            ("truncate_round", n(self.truncate_round)),
            (
                "truncate_mint",
                Json::Num(workload::round_time(self.truncate_round) as f64),
            ),
        ])
    }
}

/// Where things are: Cargo runs this as `<target>/<profile>/deps/throughput-<hash>`;
/// the C library and the command are built into `<target>/release` (see `cargo_build`).
struct Paths {
    exe: PathBuf,
    deps: PathBuf,
    target: PathBuf,
    manifest: PathBuf,
}

impl Paths {
    fn find() -> Result<Paths, String> {
        let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
        let deps = exe.parent().ok_or("no deps dir")?.to_path_buf();
        let target = deps
            .parent()
            .and_then(Path::parent)
            .ok_or("the bench binary is not in <target>/<profile>/deps")?
            .to_path_buf();
        Ok(Paths {
            exe,
            deps,
            target,
            manifest: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        })
    }
}

/// Compiles the C program against `libtswal.a`, warning-free with -Wall -Wextra -Werror.
/// Returns the program and the command line.
fn compile_c(paths: &Paths, lib: &Path) -> Result<(PathBuf, String), String> {
    let out_dir = paths.deps.parent().unwrap_or(&paths.deps).join("bench-c");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let exe = out_dir.join("bench");
    // Cargo tells benches nothing about the target; this runs where it was built.
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let mut cmd = cc::Build::new()
        .target(&triple)
        .host(&triple)
        .opt_level(2)
        .debug(false)
        .cargo_metadata(false)
        .get_compiler()
        .to_command();
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .arg("-I")
        .arg(paths.manifest.join("include"))
        .arg(paths.manifest.join("benches/c/bench.c"))
        .arg("-o")
        .arg(&exe)
        .arg(lib)
        .args(["-lpthread", "-ldl", "-lm"]);
    let shown = describe(&cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run the C compiler ({shown}): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "compiling bench.c failed ({})\n{shown}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((exe, shown))
}

/// Runs Cargo with `args` (release profile, this bench's target directory) and returns
/// the file it must have made, `release/<made>` of the target directory. `cargo bench`
/// builds neither the C library (the `capi` feature as a staticlib) nor the `tswal`
/// command (another package of the workspace), so the bench builds them.
fn cargo_build(paths: &Paths, args: &[&str], made: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args)
        .args(["--release", "--quiet"])
        .current_dir(&paths.manifest)
        .env("CARGO_TARGET_DIR", &paths.target);
    let shown = describe(&cmd);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let file = paths.target.join("release").join(made);
    if !status.success() || !file.is_file() {
        return Err(format!(
            "{shown} failed ({status}) or made no {}",
            file.display()
        ));
    }
    Ok(file)
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a child phase and parses its `key value` lines. Its stderr goes to ours.
fn run_child(program: &Path, args: &[OsString]) -> Result<Run, String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stderr(Stdio::inherit());
    let shown = describe(&cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed ({})", out.status));
    }
    let mut run = Run::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let parsed = line
            .split_once(' ')
            .and_then(|(k, v)| Some((k.to_string(), v.trim().parse::<f64>().ok()?)));
        let (k, v) = parsed.ok_or(format!("{shown} printed an odd line: {line:?}"))?;
        run.insert(k, v);
    }
    Ok(run)
}

fn get(run: &Run, key: &str) -> f64 {
    run.get(key).copied().unwrap_or(f64::NAN)
}

/// Adds the peak RSS and its growth over the baseline in MiB.
fn add_rss(run: &mut Run) {
    let (base, peak) = (get(run, "rss_base_kib"), get(run, "rss_peak_kib"));
    run.insert("rss_peak_mib".into(), peak / 1024.0);
    run.insert("rss_growth_mib".into(), (peak - base) / 1024.0);
}

/// Adds the size of the WAL in `dir` and the rates of a write phase.
fn finish_write(run: &mut Run, dir: &Path) {
    let (segments, bytes) = sys::segment_files(dir);
    let (samples, bytes) = (get(run, "samples"), bytes as f64);
    run.insert("segments".into(), segments as f64);
    run.insert("bytes".into(), bytes);
    run.insert("bytes_per_sample".into(), bytes / samples);
    for (time, suffix) in [("write_s", ""), ("write_sync_s", "_sync")] {
        let t = get(run, time);
        run.insert(format!("samples_per_s{suffix}"), samples / t);
        run.insert(format!("mb_per_s{suffix}"), bytes / 1e6 / t);
    }
    add_rss(run);
}

/// Adds the rates of a replay of `bytes` of segments.
fn finish_replay(run: &mut Run, bytes: f64) {
    let t = get(run, "read_s");
    run.insert("bytes".into(), bytes);
    run.insert("samples_per_s".into(), get(run, "samples") / t);
    run.insert("mb_per_s".into(), bytes / 1e6 / t);
    add_rss(run);
}

/// Moves the truncation numbers out of a Rust replay run.
fn split_truncate(run: &mut Run) -> Run {
    let keys = [
        "truncate_s",
        "segments_before",
        "segments_after",
        "bytes_before",
        "bytes_after",
    ];
    keys.iter().filter_map(|k| run.remove_entry(*k)).collect()
}

/// Progress on stderr, with the time since the start.
struct Progress(Instant);

impl Progress {
    fn say(&self, msg: impl AsRef<str>) {
        eprintln!("[{:7.1}s] {}", self.0.elapsed().as_secs_f64(), msg.as_ref());
    }
}

/// The results of the main workload.
#[derive(Default)]
struct Main {
    write_rust: Runs,
    write_c: Runs,
    replay_rust: Runs,
    replay_c: Runs,
    /// Rust API, with the segment files dropped from the page cache first.
    replay_cold: Runs,
    /// `tswal dump --format canonical` into a pipe.
    dump: Runs,
    /// A tail reading the whole WAL.
    tail_read: Runs,
    /// Write-to-delivery latency with a 10 ms flush and with a sync per batch, and the
    /// CPU of an idle tail (once, not per run).
    tail_flush: Runs,
    tail_sync: Runs,
    tail_idle: Runs,
    truncate: Runs,
    /// One per `DurableMode::ALL`.
    durable: Vec<Durable>,
    generate_rust: Runs,
    generate_c: Runs,
    /// The Rust and the C writer produced the same bytes (first run).
    wal_identical: Option<bool>,
    /// Every run's replays (Rust, Rust from disk, C) computed the same checksum.
    checksums_equal: bool,
    /// Every replay delivered every series and every sample of the workload.
    totals_complete: bool,
    /// What made one of the three checks above fail, one line each: the bench exits
    /// non-zero after its report if there is any.
    failed_checks: Vec<String>,
}

/// The durable writes of one mode, with 1 and with `Config::durable_threads` threads.
struct Durable {
    mode: DurableMode,
    one: Runs,
    many: Runs,
}

impl Durable {
    /// Throughput with `durable_threads` threads over that with 1 (ratio of medians).
    fn speedup(&self) -> f64 {
        self.many.median("samples_per_s") / self.one.median("samples_per_s")
    }
}

/// One size of the scaling series.
struct Scale {
    rounds: u64,
    samples: u64,
    skipped: Option<String>,
    write: Runs,
    replay: Runs,
}

struct Bench {
    cfg: Config,
    /// Anything that makes the numbers less trustworthy, shown with them.
    warnings: Vec<String>,
    paths: Paths,
    c_exe: PathBuf,
    /// The `tswal` command.
    cli_exe: PathBuf,
    work: PathBuf,
    progress: Progress,
}

/// Which interface a phase goes through: this binary as a child, or the C program.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Rust,
    C,
}

type Arg<'a> = &'a dyn AsRef<std::ffi::OsStr>;

impl Bench {
    fn child(&self, api: Api, args: &[Arg<'_>]) -> Result<Run, String> {
        let args = args.iter().map(|a| a.as_ref().to_os_string());
        match api {
            Api::Rust => {
                let all: Vec<OsString> = std::iter::once("--child".into()).chain(args).collect();
                run_child(&self.paths.exe, &all)
            }
            Api::C => run_child(&self.c_exe, &args.collect::<Vec<_>>()),
        }
    }

    /// Writes the workload to `dir`.
    fn write(
        &self,
        api: Api,
        dir: &Path,
        series: u64,
        rounds: u64,
        seg: u64,
    ) -> Result<Run, String> {
        let (s, r, g) = (series.to_string(), rounds.to_string(), seg.to_string());
        let mut run = self.child(api, &[&"write", &dir, &s, &r, &g])?;
        finish_write(&mut run, dir);
        Ok(run)
    }

    /// Replays the WAL in `dir`; the Rust replay then truncates it at `mint`, if given.
    fn replay(&self, api: Api, dir: &Path, seg: u64, mint: Option<i64>) -> Result<Run, String> {
        let bytes = sys::segment_files(dir).1 as f64;
        let g = seg.to_string();
        let mint = mint.map(|m| m.to_string());
        let mut run = match (api, &mint) {
            (Api::Rust, Some(m)) => self.child(api, &[&"replay", &dir, &g, m])?,
            _ => self.child(api, &[&"replay", &dir, &g])?,
        };
        finish_replay(&mut run, bytes);
        Ok(run)
    }

    /// Replays the WAL in `dir` through the Rust API after dropping its files from the
    /// page cache, as a restart after a reboot would.
    fn replay_cold(&self, dir: &Path, seg: u64) -> Result<Run, String> {
        let bytes = sys::segment_files(dir).1 as f64;
        let g = seg.to_string();
        let mut run = self.child(Api::Rust, &[&"replay-cold", &dir, &g])?;
        finish_replay(&mut run, bytes);
        Ok(run)
    }

    /// `tswal dump --format canonical DIR`, its output read from a pipe and counted: the
    /// time, the bytes, and the command's peak RSS (its VmHWM, read every MiB of output:
    /// `wait4`'s `ru_maxrss` counts the image of this process it was forked from).
    fn dump(&self, dir: &Path) -> Result<Run, String> {
        use std::io::Read as _;
        let wal_bytes = sys::segment_files(dir).1 as f64;
        let mut cmd = Command::new(&self.cli_exe);
        cmd.args(["dump", "--format", "canonical"])
            .arg(dir)
            .stdout(Stdio::piped());
        let shown = describe(&cmd);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {shown}: {e}"))?;
        let (mut out_bytes, mut peak_kib) = (0u64, 0u64);
        if let Some(mut pipe) = child.stdout.take() {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if out_bytes >> 20 != (out_bytes + n as u64) >> 20 {
                            peak_kib = peak_kib.max(sys::peak_rss_kib_of(child.id()));
                        }
                        out_bytes += n as u64;
                    }
                    Err(e) => return Err(format!("reading from {shown}: {e}")),
                }
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("waiting for {shown}: {e}"))?;
        let time = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("{shown} failed ({status})"));
        }
        let mut run = Run::new();
        run.insert("time_s".into(), time);
        run.insert("output_bytes".into(), out_bytes as f64);
        run.insert("samples_per_s".into(), self.cfg.samples() as f64 / time);
        run.insert("mb_per_s".into(), wal_bytes / 1e6 / time);
        run.insert("rss_peak_mib".into(), peak_kib as f64 / 1024.0);
        Ok(run)
    }

    fn durable(&self, dir: &Path, threads: u64, mode: DurableMode) -> Result<Run, String> {
        let cfg = &self.cfg;
        let (s, r) = (cfg.series.to_string(), cfg.durable_rounds.to_string());
        let (g, t) = (cfg.segment_size.to_string(), threads.to_string());
        let args: [Arg<'_>; 7] = [&"durable", &dir, &s, &r, &g, &t, &mode.arg()];
        let mut run = self.child(Api::Rust, &args)?;
        // Wal::stats must count what the bench logged, or its fsyncs mean nothing.
        let (entries, samples) = (get(&run, "entries"), get(&run, "samples"));
        if entries != get(&run, "timed_calls") || samples != get(&run, "samples_logged") {
            return Err(format!(
                "durable write ({}, {threads} threads): Wal::stats counts {entries} entries \
                 and {samples} samples, the bench logged {} and {}",
                mode.arg(),
                get(&run, "timed_calls"),
                get(&run, "samples_logged"),
            ));
        }
        run.remove("samples_logged");
        let (time, fsyncs) = (get(&run, "time_s"), get(&run, "fsyncs"));
        run.insert("samples_per_s".into(), samples / time);
        run.insert("entries_per_s".into(), entries / time);
        run.insert("fsyncs_per_s".into(), fsyncs / time);
        run.insert("entries_per_fsync".into(), entries / fsyncs);
        run.insert("fsync_avg_ms".into(), get(&run, "fsync_s") / fsyncs * 1e3);
        Ok(run)
    }

    fn generate(&self, api: Api) -> Result<Run, String> {
        let (s, r) = (self.cfg.series.to_string(), self.cfg.rounds.to_string());
        let mut run = self.child(api, &[&"generate", &s, &r])?;
        let rate = get(&run, "samples") / get(&run, "time_s");
        run.insert("samples_per_s".into(), rate);
        Ok(run)
    }

    fn remove(&self, dir: &Path) -> Result<(), String> {
        fs::remove_dir_all(dir).map_err(|e| format!("remove {}: {e}", dir.display()))
    }

    /// Checks there is room for `bytes` more in the bench directory.
    fn room_for(&self, bytes: u64) -> Result<(), String> {
        match sys::free_bytes(&self.work) {
            Some(free) if free < bytes => Err(format!(
                "needs about {} MB free in {}, has {} MB",
                bytes / 1_000_000,
                self.work.display(),
                free / 1_000_000
            )),
            _ => Ok(()),
        }
    }

    fn main_workload(&self) -> Result<Main, String> {
        let cfg = &self.cfg;
        let (series, rounds, seg) = (cfg.series, cfg.rounds, cfg.segment_size);
        // Two WALs of ~12 bytes per sample exist at once, plus preallocated segments.
        self.room_for(2 * (cfg.samples() * 14 + 4 * seg) + 64 * MIB)?;
        let mint = workload::round_time(cfg.truncate_round);
        let mut m = Main {
            checksums_equal: true,
            totals_complete: true,
            durable: DurableMode::ALL
                .map(|mode| Durable {
                    mode,
                    one: Runs::default(),
                    many: Runs::default(),
                })
                .into(),
            ..Main::default()
        };
        for i in 1..=cfg.runs {
            let say = |what: &str| self.progress.say(format!("run {i}/{}: {what}", cfg.runs));
            let rust_dir = self.work.join(format!("run{i}-rust"));
            let c_dir = self.work.join(format!("run{i}-c"));

            say("write, Rust API");
            m.write_rust
                .push(self.write(Api::Rust, &rust_dir, series, rounds, seg)?);
            say("write, C ABI");
            m.write_c
                .push(self.write(Api::C, &c_dir, series, rounds, seg)?);
            if i == 1 {
                let same = sys::same_segments(&rust_dir, &c_dir)
                    .map_err(|e| format!("comparing the Rust and C WALs: {e}"))?;
                m.wal_identical = Some(same);
                if !same {
                    m.failed_checks.push(
                        "run 1: the Rust and C writers produced different segment files".into(),
                    );
                }
            }
            self.remove(&c_dir)?;

            // All replay the Rust writer's WAL: first from the disk (which leaves it in the
            // page cache again), then C, then Rust, which truncates it.
            say("replay from disk (page cache dropped first), Rust API");
            let cold_run = self.replay_cold(&rust_dir, seg)?;
            say("replay, C ABI");
            let c_run = self.replay(Api::C, &rust_dir, seg, None)?;
            say("dump, the tswal command");
            m.dump.push(self.dump(&rust_dir)?);
            say("a tail reads the WAL");
            let mut t = self.child(Api::Rust, &[&"tail-read", &rust_dir])?;
            let rate = get(&t, "samples") / get(&t, "read_s");
            t.insert("samples_per_s".into(), rate);
            add_rss(&mut t);
            m.tail_read.push(t);
            say("replay + truncate, Rust API");
            let mut rust_run = self.replay(Api::Rust, &rust_dir, seg, Some(mint))?;
            m.truncate.push(split_truncate(&mut rust_run));
            let keys = ["series", "label_bytes", "samples", "value_sum", "max_t"];
            for (name, other) in [("C", &c_run), ("Rust from disk", &cold_run)] {
                for k in keys
                    .into_iter()
                    .filter(|k| other.get(*k) != rust_run.get(*k))
                {
                    m.checksums_equal = false;
                    m.failed_checks.push(format!(
                        "run {i}: the replays disagree on {k}: {} ({name}) vs {} (Rust)",
                        get(other, k),
                        get(&rust_run, k),
                    ));
                }
            }
            let (want_series, want_samples) = (series as f64, (series * rounds) as f64);
            for (name, r) in [
                ("C", &c_run),
                ("Rust from disk", &cold_run),
                ("Rust", &rust_run),
            ] {
                let (got_series, got_samples) = (get(r, "series"), get(r, "samples"));
                if got_series != want_series || got_samples != want_samples {
                    m.totals_complete = false;
                    m.failed_checks.push(format!(
                        "run {i}: the {name} replay delivered {got_series} series and \
                         {got_samples} samples, the workload has {want_series} and \
                         {want_samples}"
                    ));
                }
            }
            m.replay_c.push(c_run);
            m.replay_cold.push(cold_run);
            m.replay_rust.push(rust_run);
            self.remove(&rust_dir)?;

            for (k, &mode) in DurableMode::ALL.iter().enumerate() {
                let d = &mut m.durable[k];
                for (threads, runs) in [(1, &mut d.one), (cfg.durable_threads, &mut d.many)] {
                    let label = mode.label();
                    say(&format!("durable write, {label}, {threads} thread(s)"));
                    let dir = self
                        .work
                        .join(format!("run{i}-durable-{}{threads}", mode.arg()));
                    runs.push(self.durable(&dir, threads, mode)?);
                    self.remove(&dir)?;
                }
            }

            if i == 1 {
                let (batches, idle) = if cfg.quick {
                    (200u64, 1u64)
                } else {
                    (2000, 10)
                };
                for (how, runs) in [("flush", &mut m.tail_flush), ("sync", &mut m.tail_sync)] {
                    say(&format!("tail latency, handover by {how}"));
                    let dir = self.work.join(format!("run{i}-tail-{how}"));
                    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    let b = batches.to_string();
                    runs.push(self.child(Api::Rust, &[&"tail-latency", &dir, &how, &b])?);
                    self.remove(&dir)?;
                }
                say(&format!("an idle tail for {idle} s"));
                let dir = self.work.join(format!("run{i}-tail-idle"));
                fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let s = idle.to_string();
                m.tail_idle
                    .push(self.child(Api::Rust, &[&"tail-idle", &dir, &s])?);
                self.remove(&dir)?;
            }

            say("workload generation alone, Rust and C");
            m.generate_rust.push(self.generate(Api::Rust)?);
            m.generate_c.push(self.generate(Api::C)?);
        }
        Ok(m)
    }

    fn scaling(&self, bytes_per_sample: f64) -> Result<Vec<Scale>, String> {
        let cfg = &self.cfg;
        let seg = cfg.scaling_segment_size;
        let mut out = Vec::new();
        for rounds in cfg.scaling_rounds {
            let samples = cfg.scaling_series * rounds;
            let mut scale = Scale {
                rounds,
                samples,
                skipped: None,
                write: Runs::default(),
                replay: Runs::default(),
            };
            let need = (samples as f64 * bytes_per_sample * 1.1) as u64 + 2 * seg + 64 * MIB;
            if let Err(e) = self.room_for(need) {
                self.progress
                    .say(format!("scaling: skipping {samples} samples: {e}"));
                scale.skipped = Some(e);
                out.push(scale);
                continue;
            }
            for i in 1..=cfg.scaling_runs {
                let n = cfg.scaling_runs;
                let dir = self.work.join(format!("scale{samples}-run{i}"));
                self.progress
                    .say(format!("scaling {samples} samples, run {i}/{n}: write"));
                let write = self.write(Api::Rust, &dir, cfg.scaling_series, rounds, seg)?;
                scale.write.push(write);
                self.progress
                    .say(format!("scaling {samples} samples, run {i}/{n}: replay"));
                scale.replay.push(self.replay(Api::Rust, &dir, seg, None)?);
                // 100 M samples take about 1.1 GB.
                self.remove(&dir)?;
            }
            out.push(scale);
        }
        Ok(out)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return match child::main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench child: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args = match Args::parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let progress = Progress(Instant::now());
    let cfg = Config::new(args);
    let paths = Paths::find()?;
    let bench_root = paths.target.join("bench");
    let json_path = args
        .json
        .clone()
        .unwrap_or_else(|| bench_root.join("results.json"));
    // A fresh directory inside --dir (never anything already there), removed at the end.
    let parent = args.dir.clone().unwrap_or(bench_root);
    fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix("wal-")
        .tempdir_in(&parent)
        .map_err(|e| format!("temp dir in {}: {e}", parent.display()))?;

    // Now, not at the end: the engine may be committed to while this runs.
    let revision = engine_revision(&paths.manifest);
    progress.say("building the C library and the tswal command");
    let capi = ["rustc", "-p", "tswal", "--lib", "--features", "capi"];
    let staticlib = [&capi[..], &["--crate-type", "staticlib"]].concat();
    let lib = cargo_build(&paths, &staticlib, "libtswal.a")?;
    let cli_exe = cargo_build(&paths, &["build", "-p", "tswal-cli"], "tswal")?;
    progress.say("compiling benches/c/bench.c against libtswal.a");
    let (c_exe, c_command) = compile_c(&paths, &lib)?;
    let machine = Machine::describe(work.path());
    let mut warnings = Vec::new();
    if modified(&lib) < modified(&paths.exe) {
        // The C library was just built from the same sources as this bench, unless a
        // concurrent build with other sources got in between.
        warnings.push(
            "libtswal.a is older than this bench binary (another build in between?): the C \
             ABI numbers may come from a different engine version"
                .to_string(),
        );
    }
    for w in &warnings {
        progress.say(format!("warning: {w}"));
    }
    let bench = Bench {
        cfg,
        warnings,
        paths,
        c_exe,
        cli_exe,
        work: work.path().to_path_buf(),
        progress,
    };
    let cfg = &bench.cfg;
    bench.progress.say(format!(
        "{} series x {} rounds = {} samples, {} run(s), WALs in {}",
        cfg.series,
        cfg.rounds,
        cfg.samples(),
        cfg.runs,
        bench.work.display()
    ));

    let main = bench.main_workload()?;
    let scaling = if cfg.scaling {
        bench.scaling(main.write_rust.median("bytes_per_sample"))?
    } else {
        Vec::new()
    };
    work.close()
        .map_err(|e| format!("removing the bench directory: {e}"))?;

    let text = render::text(&bench, &machine, &main, &scaling, &revision);
    let json = render::json(&bench, &machine, &main, &scaling, &revision, &c_command);
    if let Some(dir) = json_path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(&json_path, json.render())
        .map_err(|e| format!("write {}: {e}", json_path.display()))?;
    bench
        .progress
        .say(format!("done; JSON in {}", json_path.display()));
    print!("{text}");
    // The report is out (with the failed checks in it): now make CI notice them.
    if !main.failed_checks.is_empty() {
        std::io::stdout()
            .flush()
            .map_err(|e| format!("stdout: {e}"))?;
        return Err(format!(
            "{} self-check(s) failed (a bench bug; the numbers are in {}):\n  {}",
            main.failed_checks.len(),
            json_path.display(),
            main.failed_checks.join("\n  ")
        ));
    }
    Ok(())
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// `git describe` of the engine measured, if this is a git checkout.
fn engine_revision(manifest: &Path) -> String {
    Command::new("git")
        .arg("-C")
        .arg(manifest)
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
