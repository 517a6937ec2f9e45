//! The output: the text table (stdout) and the JSON file, from the collected runs.

use std::fmt::Write as _;

use crate::report::{Json, Runs, Table, fixed, grouped, secs, si};
use crate::sys::Machine;
use crate::{Bench, Config, Durable, MIB, Main, Scale, workload};

fn mib(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{x:.1} MiB")
    }
}

pub fn text(
    bench: &Bench,
    machine: &Machine,
    m: &Main,
    scaling: &[Scale],
    revision: &str,
) -> String {
    let cfg = &bench.cfg;
    let mut out = String::new();
    let w = &mut out;
    let seg_mib = cfg.segment_size as f64 / MIB as f64;
    writeln!(w).unwrap();
    writeln!(
        w,
        "tswal {} ({revision}) — cargo bench{}",
        tswal::VERSION,
        if cfg.quick { " --quick" } else { "" }
    )
    .unwrap();
    writeln!(
        w,
        "machine: {} CPUs, {}, {} MiB RAM, {}; bench dir on {} ({} at {})",
        machine.cpus,
        machine.cpu_model,
        grouped(machine.mem_total_mib),
        machine.kernel,
        machine.fs_type,
        machine.fs_device,
        machine.fs_mount
    )
    .unwrap();
    writeln!(
        w,
        "workload: {} series (8-12 labels, {} per entry), then {} rounds of one sample per \
         series = {} samples in entries of {}; segment_size {} MiB; median of {} run(s)",
        grouped(cfg.series),
        workload::SERIES_PER_ENTRY,
        grouped(cfg.rounds),
        grouped(cfg.samples()),
        grouped(workload::BATCH as u64),
        fixed(seg_mib, if seg_mib < 1.0 { 3 } else { 0 }),
        cfg.runs
    )
    .unwrap();
    writeln!(
        w,
        "MB = 10^6 bytes of segment files (after close); RSS peak = VmHWM of the phase's \
         process, growth = over its VmRSS before the phase\n"
    )
    .unwrap();

    let range = |r: &Runs, k: &str| {
        let s = r.stats(k);
        format!("{} … {}", secs(s.min), secs(s.max))
    };
    let mut t = Table::new(&[
        "phase",
        "time",
        "min … max",
        "samples/s",
        "MB/s",
        "peak RSS",
        "RSS growth",
    ]);
    for (name, r) in [("Rust API", &m.write_rust), ("C ABI", &m.write_c)] {
        for (label, time, sfx) in [
            ("write", "write_s", ""),
            ("write+sync", "write_sync_s", "_sync"),
        ] {
            // One process measures both timings: its memory is shown once.
            let (peak, growth) = match sfx {
                "" => (r.median("rss_peak_mib"), r.median("rss_growth_mib")),
                _ => (f64::NAN, f64::NAN),
            };
            t.row(vec![
                format!("{label}, {name}"),
                secs(r.median(time)),
                range(r, time),
                si(r.median(&format!("samples_per_s{sfx}"))),
                fixed(r.median(&format!("mb_per_s{sfx}")), 1),
                mib(peak),
                mib(growth),
            ]);
        }
    }
    for (name, r) in [
        ("Rust API", &m.replay_rust),
        ("C ABI", &m.replay_c),
        ("Rust API, from disk*", &m.replay_cold),
    ] {
        t.row(vec![
            format!("replay, {name}"),
            secs(r.median("read_s")),
            range(r, "read_s"),
            si(r.median("samples_per_s")),
            fixed(r.median("mb_per_s"), 1),
            mib(r.median("rss_peak_mib")),
            mib(r.median("rss_growth_mib")),
        ]);
    }
    let tl = &m.tail_read;
    t.row(vec![
        "tail, Rust API (the whole WAL, from its start)".into(),
        secs(tl.median("read_s")),
        range(tl, "read_s"),
        si(tl.median("samples_per_s")),
        "-".into(),
        mib(tl.median("rss_peak_mib")),
        mib(tl.median("rss_growth_mib")),
    ]);
    let d = &m.dump;
    t.row(vec![
        "dump, tswal command (canonical, to a pipe)".into(),
        secs(d.median("time_s")),
        range(d, "time_s"),
        si(d.median("samples_per_s")),
        fixed(d.median("mb_per_s"), 1),
        mib(d.median("rss_peak_mib")),
        "-".into(),
    ]);
    for (name, g) in [("Rust", &m.generate_rust), ("C", &m.generate_c)] {
        t.row(vec![
            format!("workload generation alone, {name}"),
            secs(g.median("time_s")),
            range(g, "time_s"),
            si(g.median("samples_per_s")),
        ]);
    }
    out.push_str(&t.render());

    let tr = &m.truncate;
    let wr = &m.write_rust;
    writeln!(
        out,
        "\ntruncate at round {} (mint {}), keeping all series: {} (min {}, max {}); \
         segments {} -> {}, {} MB -> {} MB",
        cfg.truncate_round,
        workload::round_time(cfg.truncate_round),
        secs(tr.median("truncate_s")),
        secs(tr.stats("truncate_s").min),
        secs(tr.stats("truncate_s").max),
        tr.median("segments_before"),
        tr.median("segments_after"),
        fixed(tr.median("bytes_before") / 1e6, 1),
        fixed(tr.median("bytes_after") / 1e6, 1),
    )
    .unwrap();
    writeln!(
        out,
        "bytes on disk: {} bytes/sample ({} MB in {} segments, series included)\n",
        fixed(wr.median("bytes_per_sample"), 2),
        fixed(wr.median("bytes") / 1e6, 1),
        wr.median("segments"),
    )
    .unwrap();

    let (fl, sy, idle) = (&m.tail_flush, &m.tail_sync, &m.tail_idle);
    writeln!(
        out,
        "tail, write to delivery (a writer thread logs a batch of 1,000 samples every 2 ms, \
         a tail thread delivers it; {} batches): with a 10 ms background flush p50 {} ms, \
         p99 {} ms; with wal_sync after each batch p50 {} ms, p99 {} ms (max {} ms)",
        fl.median("batches"),
        fixed(fl.median("p50_ms"), 2),
        fixed(fl.median("p99_ms"), 2),
        fixed(sy.median("p50_ms"), 2),
        fixed(sy.median("p99_ms"), 2),
        fixed(sy.median("max_ms"), 2),
    )
    .unwrap();
    writeln!(
        out,
        "an idle tail waiting {} s: {} ms of CPU time ({})\n",
        fixed(idle.median("idle_s"), 0),
        fixed(idle.median("cpu_s") * 1e3, 2),
        if idle.median("pushed") == 1.0 {
            "woken by inotify"
        } else {
            "polling every 50 ms"
        }
    )
    .unwrap();

    durable_table(&mut out, cfg, &m.durable);

    let yes = |b: bool| {
        if b {
            "yes"
        } else {
            "NO (a bench bug: see the JSON)"
        }
    };
    writeln!(
        out,
        "\n* replay from disk: the segment files are dropped from the page cache first \
         (fdatasync, then POSIX_FADV_DONTNEED), as after a reboot; {:.1}% of their pages \
         were still cached (median). The other replays read the log from the page cache, \
         right after it was written.",
        m.replay_cold.median("cached_after_drop") * 100.0,
    )
    .unwrap();
    writeln!(
        out,
        "\nchecks: Rust and C writers produced identical segment files: {}; the replays \
         (Rust, C, Rust from disk) agree: {}, and delivered every series and sample: {} \
         (series {}, samples {}, value sum {}, max t {})",
        m.wal_identical.map_or("not compared", yes),
        yes(m.checksums_equal),
        yes(m.totals_complete),
        m.replay_rust.median("series"),
        m.replay_rust.median("samples"),
        m.replay_rust.median("value_sum"),
        m.replay_rust.median("max_t"),
    )
    .unwrap();

    if !scaling.is_empty() {
        scaling_table(&mut out, cfg, scaling);
    }
    for w in &bench.warnings {
        writeln!(out, "\nWARNING: {w}").unwrap();
    }
    out
}

fn durable_table(out: &mut String, cfg: &Config, durable: &[Durable]) {
    let n = cfg.durable_threads;
    writeln!(
        out,
        "durable writes, Rust API: {} samples ({} rounds) in entries of {}, each entry \
         durable before the thread logs its next; {n} threads log a quarter of the series \
         each; CPU = the process's CPU time (user + system) while timed; fsyncs = fsync + \
         fdatasync calls while timed (Wal::stats)",
        grouped(cfg.series * cfg.durable_rounds),
        grouped(cfg.durable_rounds),
        grouped(workload::BATCH as u64),
    )
    .unwrap();
    let mut t = Table::new(&[
        "durable",
        "time",
        "min … max",
        "CPU",
        "samples/s",
        "entries/s",
        "fsyncs",
        "entries/fsync",
        "fsync avg",
        "latency p50",
        "p99",
        "max",
    ]);
    let ms = |r: &Runs, k: &str| format!("{} ms", fixed(r.median(k), 2));
    for d in durable {
        for (threads, r) in [(1, &d.one), (n, &d.many)] {
            let s = r.stats("time_s");
            t.row(vec![
                format!(
                    "{}, {threads} thread{}",
                    d.mode.label(),
                    if threads == 1 { "" } else { "s" }
                ),
                secs(s.median),
                format!("{} … {}", secs(s.min), secs(s.max)),
                secs(r.median("cpu_s")),
                si(r.median("samples_per_s")),
                fixed(r.median("entries_per_s"), 0),
                fixed(r.median("fsyncs"), 0),
                fixed(r.median("entries_per_fsync"), 2),
                ms(r, "fsync_avg_ms"),
                ms(r, "latency_p50_ms"),
                ms(r, "latency_p99_ms"),
                ms(r, "latency_max_ms"),
            ]);
        }
    }
    out.push_str(&t.render());
    let speedups: Vec<String> = durable
        .iter()
        .map(|d| format!("{}x ({})", fixed(d.speedup(), 2), d.mode.arg()))
        .collect();
    writeln!(
        out,
        "{n} threads / 1 thread (ratio of the median times): {}",
        speedups.join(", ")
    )
    .unwrap();
    for d in durable {
        writeln!(out, "latency, {}: {}", d.mode.arg(), d.mode.timed_call()).unwrap();
    }
}

fn scaling_table(out: &mut String, cfg: &Config, scaling: &[Scale]) {
    writeln!(
        out,
        "\nscaling, Rust API ({} series, segment_size {} MiB, median of {} run(s); \
         time/sample relative to the smallest size):",
        grouped(cfg.scaling_series),
        cfg.scaling_segment_size / MIB,
        cfg.scaling_runs
    )
    .unwrap();
    let mut t = Table::new(&[
        "samples",
        "write",
        "samples/s",
        "t/sample",
        "peak RSS",
        "replay",
        "samples/s",
        "t/sample",
        "peak RSS",
        "on disk",
        "bytes/sample",
    ]);
    let per_sample = |s: &Scale, r: &Runs, k: &str| r.median(k) / s.samples as f64;
    let first = scaling.iter().find(|s| s.skipped.is_none());
    for s in scaling {
        if s.skipped.is_some() {
            t.row(vec![grouped(s.samples), "skipped".into()]);
            continue;
        }
        let ratio = |r: &Runs, k: &str, base: Option<&Runs>| {
            let b = first
                .zip(base)
                .map_or(f64::NAN, |(f, b)| per_sample(f, b, k));
            format!("{}x", fixed(per_sample(s, r, k) / b, 2))
        };
        let (wr, rp) = (&s.write, &s.replay);
        t.row(vec![
            grouped(s.samples),
            secs(wr.median("write_s")),
            si(wr.median("samples_per_s")),
            ratio(wr, "write_s", first.map(|f| &f.write)),
            mib(wr.median("rss_peak_mib")),
            secs(rp.median("read_s")),
            si(rp.median("samples_per_s")),
            ratio(rp, "read_s", first.map(|f| &f.replay)),
            mib(rp.median("rss_peak_mib")),
            format!("{} MB", fixed(wr.median("bytes") / 1e6, 1)),
            fixed(wr.median("bytes_per_sample"), 2),
        ]);
    }
    out.push_str(&t.render());
    for s in scaling {
        if let Some(why) = &s.skipped {
            writeln!(out, "{} samples skipped: {why}", grouped(s.samples)).unwrap();
        }
    }
}

pub fn json(
    bench: &Bench,
    machine: &Machine,
    m: &Main,
    scaling: &[Scale],
    revision: &str,
    c_command: &str,
) -> Json {
    let cfg = &bench.cfg;
    let n = |x: u64| Json::Num(x as f64);
    let scaling_json = scaling.iter().map(|s| {
        Json::obj([
            ("rounds", n(s.rounds)),
            ("samples", n(s.samples)),
            ("skipped", s.skipped.as_ref().map_or(Json::Null, Json::str)),
            ("write_rust", s.write.to_json()),
            ("replay_rust", s.replay.to_json()),
        ])
    });
    Json::obj([
        ("tswal_version", Json::str(tswal::VERSION)),
        ("engine_revision", Json::str(revision)),
        ("params", cfg.to_json()),
        (
            "warnings",
            Json::Arr(bench.warnings.iter().map(Json::str).collect()),
        ),
        (
            "machine",
            Json::obj([
                ("cpus", n(machine.cpus as u64)),
                ("cpu_model", Json::str(&machine.cpu_model)),
                ("mem_total_mib", n(machine.mem_total_mib)),
                ("kernel", Json::str(&machine.kernel)),
                ("bench_dir", Json::str(bench.work.to_string_lossy())),
                ("fs_type", Json::str(&machine.fs_type)),
                ("fs_device", Json::str(&machine.fs_device)),
                ("fs_mount", Json::str(&machine.fs_mount)),
                ("c_compile", Json::str(c_command)),
            ]),
        ),
        (
            "units",
            Json::str(
                "seconds (_s), milliseconds (_ms), bytes, KiB (_kib), MiB (_mib); \
                 mb_per_s = 10^6 bytes of segment files per second",
            ),
        ),
        (
            "phases",
            Json::obj([
                ("write_rust", m.write_rust.to_json()),
                ("write_c", m.write_c.to_json()),
                ("replay_rust", m.replay_rust.to_json()),
                ("replay_c", m.replay_c.to_json()),
                ("replay_rust_from_disk", m.replay_cold.to_json()),
                ("dump_cli", m.dump.to_json()),
                ("tail_read", m.tail_read.to_json()),
                ("tail_latency_flush_10ms", m.tail_flush.to_json()),
                ("tail_latency_sync_per_batch", m.tail_sync.to_json()),
                ("tail_idle", m.tail_idle.to_json()),
                ("truncate", m.truncate.to_json()),
                ("generate_only_rust", m.generate_rust.to_json()),
                ("generate_only_c", m.generate_c.to_json()),
            ]),
        ),
        ("durable", durable_json(cfg, &m.durable)),
        (
            "checks",
            Json::obj([
                (
                    "wal_identical_rust_c",
                    m.wal_identical.map_or(Json::Null, Json::Bool),
                ),
                ("replay_checksums_equal", Json::Bool(m.checksums_equal)),
                ("replay_totals_complete", Json::Bool(m.totals_complete)),
            ]),
        ),
        (
            "scaling",
            Json::obj([
                ("enabled", Json::Bool(cfg.scaling)),
                ("series", n(cfg.scaling_series)),
                ("segment_size", n(cfg.scaling_segment_size)),
                ("runs", n(cfg.scaling_runs as u64)),
                ("sizes", Json::Arr(scaling_json.collect())),
            ]),
        ),
    ])
}

/// Per mode: what the latencies time, the runs with 1 and with `durable_threads` threads,
/// and the speed-up.
fn durable_json(cfg: &Config, durable: &[Durable]) -> Json {
    let n = cfg.durable_threads;
    Json::obj(durable.iter().map(|d| {
        let v = Json::obj([
            ("mode", Json::str(d.mode.label())),
            ("latency_times", Json::str(d.mode.timed_call())),
            ("1_thread", d.one.to_json()),
            (format!("{n}_threads").as_str(), d.many.to_json()),
            (
                format!("speedup_{n}_threads_over_1_ratio_of_medians").as_str(),
                Json::Num(d.speedup()),
            ),
        ]);
        (d.mode.arg(), v)
    }))
}
