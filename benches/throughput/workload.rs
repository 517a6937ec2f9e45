//! The benchmark workload, generated deterministically and on the fly.
//!
//! `benches/c/bench.c` implements exactly the same generator (same PRNG, tables and order
//! of draws), so the Rust and the C writer produce byte-identical WALs; the driver
//! compares them, which catches the two drifting apart.
//!
//! Series `1..=n` get Prometheus-like label sets (8–12 labels, sorted by name). Each
//! round gives every series one sample: a counter growing by a pseudo-random amount, at
//! `BASE_T + round * INTERVAL_MS` plus a fixed per-series jitter of 0–9 ms.

use std::fmt::Write as _;
use std::ops::Range;

use tswal::{Label, Sample, Series, Wal};

/// Timestamp of round 0 (ms).
pub const BASE_T: i64 = 1_700_000_000_000;
/// Scrape interval (ms).
pub const INTERVAL_MS: i64 = 15_000;
/// Samples per `log_samples` call.
pub const BATCH: usize = 1_000;
/// Series per `log_series` call.
pub const SERIES_PER_ENTRY: u64 = 100;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED_COUNTER: u64 = 0x636f_756e_7465_7221;
const SEED_JITTER: u64 = 0x6a69_7474_6572_2121;
const SEED_METRIC: u64 = 0x6d65_7472_6963_2121;
const SEED_RATE: u64 = 0x7261_7465_2121_2121;
const SEED_ROUND: u64 = 0x726f_756e_6421_2121;

/// The splitmix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash(x: u64) -> u64 {
    mix(x.wrapping_add(GOLDEN))
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, table: &[&'a str]) -> &'a str {
        table[self.below(table.len())]
    }
}

/// Timestamp of `round` before the per-series jitter.
pub fn round_time(round: u64) -> i64 {
    BASE_T + round as i64 * INTERVAL_MS
}

// ---- label sets -------------------------------------------------------------------

/// Label names, sorted (so label sets come out sorted, as Prometheus logs them).
const NAMES: [&str; 16] = [
    "__name__",
    "code",
    "container",
    "cpu",
    "device",
    "handler",
    "instance",
    "job",
    "le",
    "method",
    "mode",
    "namespace",
    "node",
    "pod",
    "region",
    "zone",
];
/// Indexes into `NAMES` every series has (8 labels).
const ALWAYS: [usize; 8] = [0, 2, 6, 7, 11, 12, 13, 14];
/// Indexes into `NAMES` a metric may add, 0–4 of them.
const OPTIONAL: [usize; 8] = [1, 3, 4, 5, 8, 9, 10, 15];

const METRICS: [&str; 100] = [
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_memory_Cached_bytes",
    "node_memory_Buffers_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files_free",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_io_time_seconds_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_context_switches_total",
    "node_intr_total",
    "node_forks_total",
    "node_procs_running",
    "node_procs_blocked",
    "node_boot_time_seconds",
    "node_time_seconds",
    "node_vmstat_pgfault",
    "node_vmstat_pgmajfault",
    "node_netstat_Tcp_CurrEstab",
    "node_sockstat_TCP_inuse",
    "node_filefd_allocated",
    "node_entropy_available_bits",
    "container_cpu_usage_seconds_total",
    "container_cpu_cfs_throttled_seconds_total",
    "container_cpu_cfs_periods_total",
    "container_memory_working_set_bytes",
    "container_memory_rss",
    "container_memory_cache",
    "container_memory_usage_bytes",
    "container_memory_failcnt",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_fs_reads_bytes_total",
    "container_fs_writes_bytes_total",
    "container_fs_usage_bytes",
    "container_last_seen",
    "container_spec_memory_limit_bytes",
    "container_spec_cpu_quota",
    "kube_pod_status_phase",
    "kube_pod_status_ready",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_running",
    "kube_pod_container_resource_requests",
    "kube_pod_container_resource_limits",
    "kube_pod_info",
    "kube_pod_owner",
    "kube_deployment_status_replicas",
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
    "kube_node_status_condition",
    "kube_node_status_allocatable",
    "kube_node_status_capacity",
    "kube_replicaset_status_ready_replicas",
    "kube_service_info",
    "kubelet_running_pods",
    "kubelet_volume_stats_used_bytes",
    "kubelet_volume_stats_capacity_bytes",
    "apiserver_request_total",
    "apiserver_request_duration_seconds_bucket",
    "etcd_request_duration_seconds_bucket",
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    "http_request_size_bytes_bucket",
    "http_response_size_bytes_bucket",
    "http_server_requests_seconds_count",
    "grpc_server_handled_total",
    "grpc_server_handling_seconds_bucket",
    "grpc_server_started_total",
    "nginx_ingress_controller_requests",
    "nginx_ingress_controller_request_duration_seconds_bucket",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
    "go_goroutines",
    "go_threads",
    "go_gc_duration_seconds",
    "go_memstats_alloc_bytes",
    "go_memstats_heap_inuse_bytes",
    "prometheus_tsdb_head_series",
    "prometheus_tsdb_head_samples_appended_total",
    "prometheus_http_requests_total",
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
];
const CODES: [&str; 14] = [
    "200", "201", "204", "301", "302", "304", "400", "401", "403", "404", "409", "429", "500",
    "503",
];
const CONTAINERS: [&str; 12] = [
    "api",
    "worker",
    "nginx",
    "envoy",
    "postgres",
    "redis",
    "kafka",
    "node-exporter",
    "kube-state-metrics",
    "prometheus",
    "grafana",
    "cert-manager",
];
const DEVICES: [&str; 10] = [
    "sda", "sdb", "nvme0n1", "nvme1n1", "vda", "dm-0", "eth0", "eth1", "ens5", "lo",
];
const HANDLERS: [&str; 10] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/metrics",
    "/healthz",
    "/readyz",
    "/api/v2/orders/{id}",
    "/api/v2/users/{id}/cart",
    "/static/*filepath",
];
const PORTS: [&str; 5] = ["9100", "8080", "9090", "10250", "443"];
const JOBS: [&str; 10] = [
    "node-exporter",
    "kubelet",
    "cadvisor",
    "apiserver",
    "kube-state-metrics",
    "prometheus",
    "api",
    "ingress-nginx",
    "postgres-exporter",
    "redis-exporter",
];
const LES: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];
const MODES: [&str; 8] = [
    "user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice",
];
const NAMESPACES: [&str; 10] = [
    "default",
    "kube-system",
    "monitoring",
    "payments",
    "checkout",
    "search",
    "ingress",
    "logging",
    "data",
    "auth",
];
const DEPLOYMENTS: [&str; 12] = [
    "api",
    "checkout",
    "payments",
    "search",
    "frontend",
    "cart",
    "auth",
    "inventory",
    "recommendation",
    "notification",
    "shipping",
    "gateway",
];
/// The alphabet of Kubernetes pod name suffixes.
const POD_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const REGIONS: [&str; 6] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
];
const ZONES: [&str; 9] = [
    "us-east-1a",
    "us-east-1b",
    "us-east-1c",
    "eu-west-1a",
    "eu-west-1b",
    "eu-west-1c",
    "ap-southeast-1a",
    "ap-southeast-1b",
    "ap-southeast-1c",
];

/// Bit set of the `NAMES` a series of `metric` carries: all series of a metric share
/// their label names, as in a real scrape.
fn label_mask(metric: usize) -> u32 {
    let mut rng = Rng(hash(metric as u64 ^ SEED_METRIC));
    let mut mask: u32 = ALWAYS.iter().map(|&i| 1 << i).sum();
    let extra = rng.below(5);
    while mask.count_ones() < (ALWAYS.len() + extra) as u32 {
        mask |= 1 << OPTIONAL[rng.below(OPTIONAL.len())];
    }
    mask
}

/// Appends the value of label `NAMES[name]` to `out`.
fn push_value(out: &mut String, name: usize, metric: usize, rng: &mut Rng) {
    match NAMES[name] {
        "__name__" => out.push_str(METRICS[metric]),
        "code" => out.push_str(rng.pick(&CODES)),
        "container" => out.push_str(rng.pick(&CONTAINERS)),
        "cpu" => write!(out, "{}", rng.below(64)).unwrap(),
        "device" => out.push_str(rng.pick(&DEVICES)),
        "handler" => out.push_str(rng.pick(&HANDLERS)),
        "instance" => {
            let (a, b, c) = (rng.below(256), rng.below(256), rng.below(256));
            write!(out, "10.{a}.{b}.{c}:{}", rng.pick(&PORTS)).unwrap();
        }
        "job" => out.push_str(rng.pick(&JOBS)),
        "le" => out.push_str(rng.pick(&LES)),
        "method" => out.push_str(rng.pick(&METHODS)),
        "mode" => out.push_str(rng.pick(&MODES)),
        "namespace" => out.push_str(rng.pick(&NAMESPACES)),
        "node" => {
            let (a, b, c) = (rng.below(256), rng.below(256), rng.below(256));
            write!(out, "ip-10-{a}-{b}-{c}.ec2.internal").unwrap();
        }
        "pod" => {
            // e.g. api-7d9f8b6c5-x2k4j: deployment, replica set hash, pod suffix.
            out.push_str(rng.pick(&DEPLOYMENTS));
            out.push('-');
            let hash_len = 9 + rng.below(2);
            for _ in 0..hash_len {
                out.push(POD_CHARS[rng.below(POD_CHARS.len())] as char);
            }
            out.push('-');
            for _ in 0..5 {
                out.push(POD_CHARS[rng.below(POD_CHARS.len())] as char);
            }
        }
        "region" => out.push_str(rng.pick(&REGIONS)),
        "zone" => out.push_str(rng.pick(&ZONES)),
        other => unreachable!("no generator for label {other}"),
    }
}

/// One `log_series` entry's worth of series, with their label text in one buffer.
#[derive(Default)]
pub struct SeriesBatch {
    text: String,
    /// (index into `NAMES`, value range in `text`)
    labels: Vec<(usize, Range<usize>)>,
    /// (series ref, range in `labels`)
    series: Vec<(u64, Range<usize>)>,
}

impl SeriesBatch {
    /// Generates the label sets of `refs`.
    pub fn fill(&mut self, refs: Range<u64>) {
        self.text.clear();
        self.labels.clear();
        self.series.clear();
        for series_ref in refs {
            let mut rng = Rng(hash(series_ref));
            let metric = rng.below(METRICS.len());
            let mask = label_mask(metric);
            let first = self.labels.len();
            for name in (0..NAMES.len()).filter(|i| mask & (1 << i) != 0) {
                let start = self.text.len();
                push_value(&mut self.text, name, metric, &mut rng);
                self.labels.push((name, start..self.text.len()));
            }
            self.series.push((series_ref, first..self.labels.len()));
        }
    }

    /// Logs the batch as one entry.
    pub fn log(&self, wal: &Wal) -> tswal::Result<()> {
        let labels: Vec<Label<'_>> = self
            .labels
            .iter()
            .map(|(n, v)| Label::new(NAMES[*n], &self.text[v.clone()]))
            .collect();
        let series: Vec<Series<'_>> = self
            .series
            .iter()
            .map(|(r, range)| Series {
                series_ref: *r,
                labels: &labels[range.clone()],
            })
            .collect();
        wal.log_series(&series)
    }
}

/// Logs the series `1..=n`, `SERIES_PER_ENTRY` per entry.
pub fn log_all_series(wal: &Wal, n: u64) -> tswal::Result<()> {
    let mut batch = SeriesBatch::default();
    let mut first = 1;
    while first <= n {
        let end = (first + SERIES_PER_ENTRY).min(n + 1);
        batch.fill(first..end);
        batch.log(wal)?;
        first = end;
    }
    Ok(())
}

// ---- samples ----------------------------------------------------------------------

/// The samples of series `refs` over `rounds` rounds, round by round, series by series
/// within a round, handed out in batches. Only the current value of each series is kept.
///
/// Each series is a counter with its own rate; in each round every counter grows by its
/// rate times a pseudo-random factor of that round (one multiply per sample, so the
/// generator stays a small share of the timed writes).
pub struct SampleStream {
    first_ref: u64,
    counters: Vec<f64>,
    rates: Vec<f64>,
    jitter: Vec<i64>,
    rounds: u64,
    round: u64,
    index: usize,
}

/// A pseudo-random float in [0, 1) from `h`.
fn unit(h: u64) -> f64 {
    // Below 2^53, so the signed conversion (one instruction) is exact.
    ((h >> 11) as i64) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

impl SampleStream {
    pub fn new(refs: Range<u64>, rounds: u64) -> Self {
        SampleStream {
            first_ref: refs.start,
            counters: refs
                .clone()
                .map(|r| (hash(r ^ SEED_COUNTER) % 1_000_000) as f64)
                .collect(),
            rates: refs
                .clone()
                .map(|r| unit(hash(r ^ SEED_RATE)) * 15.0)
                .collect(),
            jitter: refs
                .clone()
                .map(|r| (hash(r ^ SEED_JITTER) % 10) as i64)
                .collect(),
            rounds,
            round: 0,
            index: 0,
        }
    }

    /// Replaces `out` with the next (up to) `BATCH` samples; false when none are left.
    pub fn next_batch(&mut self, out: &mut Vec<Sample>) -> bool {
        out.clear();
        if self.counters.is_empty() {
            return false;
        }
        while out.len() < BATCH && self.round < self.rounds {
            // The rest of this round, as far as the batch has room.
            let take = (BATCH - out.len()).min(self.counters.len() - self.index);
            let range = self.index..self.index + take;
            let t = round_time(self.round);
            let factor = 0.5 + unit(hash(self.round ^ SEED_ROUND));
            let first_ref = self.first_ref + self.index as u64;
            let series = self.counters[range.clone()]
                .iter_mut()
                .zip(&self.rates[range.clone()])
                .zip(&self.jitter[range])
                .zip(first_ref..);
            out.extend(series.map(|(((counter, rate), jitter), series_ref)| {
                *counter += rate * factor;
                Sample {
                    series_ref,
                    t: t + jitter,
                    v: *counter,
                }
            }));
            self.index += take;
            if self.index == self.counters.len() {
                self.index = 0;
                self.round += 1;
            }
        }
        !out.is_empty()
    }
}
