/*
 * The C side of `cargo bench` (benches/throughput): writes or replays the benchmark
 * workload through the C ABI of libtswal and prints what it measured as "key value"
 * lines on stdout, which the Rust driver reads.
 *
 *   bench write  DIR SERIES ROUNDS SEGMENT_SIZE
 *   bench replay DIR SEGMENT_SIZE
 *   bench generate SERIES ROUNDS
 *
 * The workload generator is a copy of benches/throughput/workload.rs (same PRNG, tables
 * and order of draws), so both languages write byte-identical WALs; the driver checks
 * that. Change one, change the other.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tswal.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

#define BASE_T 1700000000000LL
#define INTERVAL_MS 15000LL
#define BATCH 1000
#define SERIES_PER_ENTRY 100
#define MAX_LABELS 16
/* Label text of one series entry: 100 series of at most 12 labels of < 100 bytes. */
#define TEXT_CAP (128 * 1024)

static const uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL;
static const uint64_t SEED_COUNTER = 0x636f756e74657221ULL;
static const uint64_t SEED_JITTER = 0x6a69747465722121ULL;
static const uint64_t SEED_METRIC = 0x6d65747269632121ULL;
static const uint64_t SEED_RATE = 0x7261746521212121ULL;
static const uint64_t SEED_ROUND = 0x726f756e64212121ULL;

/* ---- failure and measurement helpers --------------------------------------------- */

#define CHECK(call)                                                                     \
    do {                                                                                \
        wal_status st_ = (call);                                                        \
        if (st_ != WAL_OK) {                                                            \
            fprintf(stderr, "bench.c:%d: %s: %s: %s\n", __LINE__, #call,                \
                    wal_status_str(st_), wal_last_error());                             \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

_Noreturn static void die(const char *what)
{
    fprintf(stderr, "bench.c: %s\n", what);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A field of /proc/self/status in KiB (VmRSS, VmHWM); 0 if unreadable. */
static unsigned long long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    size_t n = strlen(field);
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kib = strtoull(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0) and returns that RSS: the baseline. */
static unsigned long long rss_start(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    return status_kib("VmRSS");
}

/* ---- workload (mirrors benches/throughput/workload.rs) ---------------------------- */

/* The splitmix64 finalizer. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t hash(uint64_t x) { return mix(x + GOLDEN); }

typedef struct {
    uint64_t state;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    r->state += GOLDEN;
    return mix(r->state);
}

static size_t rng_below(rng_t *r, size_t n) { return (size_t)(rng_next(r) % n); }

#define PICK(rng, table) ((table)[rng_below((rng), LEN(table))])

enum {
    L_NAME, L_CODE, L_CONTAINER, L_CPU, L_DEVICE, L_HANDLER, L_INSTANCE, L_JOB, L_LE,
    L_METHOD, L_MODE, L_NAMESPACE, L_NODE, L_POD, L_REGION, L_ZONE, L_COUNT
};

/* Sorted, so label sets come out sorted. */
static const char *const NAMES[L_COUNT] = {
    "__name__", "code", "container", "cpu", "device", "handler", "instance", "job", "le",
    "method", "mode", "namespace", "node", "pod", "region", "zone",
};
static const int ALWAYS[] = {L_NAME, L_CONTAINER, L_INSTANCE, L_JOB,
                             L_NAMESPACE, L_NODE, L_POD, L_REGION};
static const int OPTIONAL[] = {L_CODE, L_CPU, L_DEVICE, L_HANDLER,
                               L_LE, L_METHOD, L_MODE, L_ZONE};

static const char *const METRICS[100] = {
    "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
    "node_memory_Cached_bytes", "node_memory_Buffers_bytes", "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes", "node_filesystem_files_free", "node_disk_read_bytes_total",
    "node_disk_written_bytes_total", "node_disk_io_time_seconds_total",
    "node_disk_reads_completed_total", "node_disk_writes_completed_total",
    "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
    "node_network_receive_packets_total", "node_network_transmit_packets_total",
    "node_network_receive_errs_total", "node_load1", "node_load5", "node_load15",
    "node_context_switches_total", "node_intr_total", "node_forks_total",
    "node_procs_running", "node_procs_blocked", "node_boot_time_seconds",
    "node_time_seconds", "node_vmstat_pgfault", "node_vmstat_pgmajfault",
    "node_netstat_Tcp_CurrEstab", "node_sockstat_TCP_inuse", "node_filefd_allocated",
    "node_entropy_available_bits", "container_cpu_usage_seconds_total",
    "container_cpu_cfs_throttled_seconds_total", "container_cpu_cfs_periods_total",
    "container_memory_working_set_bytes", "container_memory_rss", "container_memory_cache",
    "container_memory_usage_bytes", "container_memory_failcnt",
    "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
    "container_fs_reads_bytes_total", "container_fs_writes_bytes_total",
    "container_fs_usage_bytes", "container_last_seen", "container_spec_memory_limit_bytes",
    "container_spec_cpu_quota", "kube_pod_status_phase", "kube_pod_status_ready",
    "kube_pod_container_status_restarts_total", "kube_pod_container_status_running",
    "kube_pod_container_resource_requests", "kube_pod_container_resource_limits",
    "kube_pod_info", "kube_pod_owner", "kube_deployment_status_replicas",
    "kube_deployment_status_replicas_available", "kube_deployment_spec_replicas",
    "kube_node_status_condition", "kube_node_status_allocatable", "kube_node_status_capacity",
    "kube_replicaset_status_ready_replicas", "kube_service_info", "kubelet_running_pods",
    "kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes",
    "apiserver_request_total", "apiserver_request_duration_seconds_bucket",
    "etcd_request_duration_seconds_bucket", "http_requests_total",
    "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count", "http_request_size_bytes_bucket",
    "http_response_size_bytes_bucket", "http_server_requests_seconds_count",
    "grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
    "grpc_server_started_total", "nginx_ingress_controller_requests",
    "nginx_ingress_controller_request_duration_seconds_bucket", "process_cpu_seconds_total",
    "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
    "process_start_time_seconds", "go_goroutines", "go_threads", "go_gc_duration_seconds",
    "go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes", "prometheus_tsdb_head_series",
    "prometheus_tsdb_head_samples_appended_total", "prometheus_http_requests_total", "up",
    "scrape_duration_seconds", "scrape_samples_scraped",
};
static const char *const CODES[] = {"200", "201", "204", "301", "302", "304", "400",
                                    "401", "403", "404", "409", "429", "500", "503"};
static const char *const CONTAINERS[] = {
    "api", "worker", "nginx", "envoy", "postgres", "redis", "kafka", "node-exporter",
    "kube-state-metrics", "prometheus", "grafana", "cert-manager",
};
static const char *const DEVICES[] = {"sda",  "sdb",  "nvme0n1", "nvme1n1", "vda",
                                      "dm-0", "eth0", "eth1",    "ens5",    "lo"};
static const char *const HANDLERS[] = {
    "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/metrics",
    "/healthz", "/readyz", "/api/v2/orders/{id}", "/api/v2/users/{id}/cart",
    "/static/*filepath",
};
static const char *const PORTS[] = {"9100", "8080", "9090", "10250", "443"};
static const char *const JOBS[] = {
    "node-exporter", "kubelet", "cadvisor", "apiserver", "kube-state-metrics",
    "prometheus", "api", "ingress-nginx", "postgres-exporter", "redis-exporter",
};
static const char *const LES[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                  "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
static const char *const METHODS[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"};
static const char *const MODES[] = {"user", "system", "idle",  "iowait",
                                    "irq",  "softirq", "steal", "nice"};
static const char *const NAMESPACES[] = {
    "default", "kube-system", "monitoring", "payments", "checkout",
    "search", "ingress", "logging", "data", "auth",
};
static const char *const DEPLOYMENTS[] = {
    "api", "checkout", "payments", "search", "frontend", "cart", "auth", "inventory",
    "recommendation", "notification", "shipping", "gateway",
};
/* The alphabet of Kubernetes pod name suffixes. */
static const char POD_CHARS[] = "bcdfghjklmnpqrstvwxz2456789";
static const char *const REGIONS[] = {"us-east-1",    "us-west-2",      "eu-west-1",
                                      "eu-central-1", "ap-southeast-1", "ap-northeast-1"};
static const char *const ZONES[] = {
    "us-east-1a", "us-east-1b", "us-east-1c", "eu-west-1a", "eu-west-1b",
    "eu-west-1c", "ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c",
};

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static unsigned popcount(uint32_t x)
{
    unsigned n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

/* Bit set of the NAMES a series of `metric` carries (shared by all its series). */
static uint32_t label_mask(size_t metric)
{
    rng_t rng = {hash((uint64_t)metric ^ SEED_METRIC)};
    uint32_t mask = 0;
    for (size_t i = 0; i < LEN(ALWAYS); i++) mask |= 1u << ALWAYS[i];
    size_t extra = rng_below(&rng, 5);
    while (popcount(mask) < LEN(ALWAYS) + extra)
        mask |= 1u << OPTIONAL[rng_below(&rng, LEN(OPTIONAL))];
    return mask;
}

/* Appends `s` at out[n..]; returns the new length. The caller checked the room (every
 * value is far below the 256 bytes push_value makes sure of). snprintf was two thirds
 * of the workload generation's instructions. */
static int put_str(char *out, int n, const char *s)
{
    size_t len = strlen(s);
    memcpy(out + n, s, len);
    return n + (int)len;
}

/* Appends `v` in decimal at out[n..]; returns the new length. */
static int put_uint(char *out, int n, size_t v)
{
    char digits[20];
    int k = 0;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (k > 0) out[n++] = digits[--k];
    return n;
}

/* Appends "a<sep>b<sep>c" at out[n..]; returns the new length. */
static int put_octets(char *out, int n, char sep, size_t a, size_t b, size_t c)
{
    n = put_uint(out, n, a);
    out[n++] = sep;
    n = put_uint(out, n, b);
    out[n++] = sep;
    return put_uint(out, n, c);
}

/* Appends the value of label NAMES[name] to text[*len..]. Draws happen in statement
 * order (never two in one argument list, whose evaluation order C leaves open). */
static void push_value(char *text, size_t *len, int name, size_t metric, rng_t *rng)
{
    char *out = text + *len;
    size_t cap = TEXT_CAP - *len;
    int n = 0;
    if (cap < 256) die("label text buffer too small");
    switch (name) {
    case L_NAME: n = put_str(out, 0, METRICS[metric]); break;
    case L_CODE: n = put_str(out, 0, PICK(rng, CODES)); break;
    case L_CONTAINER: n = put_str(out, 0, PICK(rng, CONTAINERS)); break;
    case L_CPU: n = put_uint(out, 0, rng_below(rng, 64)); break;
    case L_DEVICE: n = put_str(out, 0, PICK(rng, DEVICES)); break;
    case L_HANDLER: n = put_str(out, 0, PICK(rng, HANDLERS)); break;
    case L_INSTANCE: {
        size_t a = rng_below(rng, 256);
        size_t b = rng_below(rng, 256);
        size_t c = rng_below(rng, 256);
        const char *port = PICK(rng, PORTS);
        n = put_str(out, 0, "10.");
        n = put_octets(out, n, '.', a, b, c);
        out[n++] = ':';
        n = put_str(out, n, port);
        break;
    }
    case L_JOB: n = put_str(out, 0, PICK(rng, JOBS)); break;
    case L_LE: n = put_str(out, 0, PICK(rng, LES)); break;
    case L_METHOD: n = put_str(out, 0, PICK(rng, METHODS)); break;
    case L_MODE: n = put_str(out, 0, PICK(rng, MODES)); break;
    case L_NAMESPACE: n = put_str(out, 0, PICK(rng, NAMESPACES)); break;
    case L_NODE: {
        size_t a = rng_below(rng, 256);
        size_t b = rng_below(rng, 256);
        size_t c = rng_below(rng, 256);
        n = put_str(out, 0, "ip-10-");
        n = put_octets(out, n, '-', a, b, c);
        n = put_str(out, n, ".ec2.internal");
        break;
    }
    case L_POD: {
        /* e.g. api-7d9f8b6c5-x2k4j: deployment, replica set hash, pod suffix. */
        const size_t chars = sizeof POD_CHARS - 1;
        n = put_str(out, 0, PICK(rng, DEPLOYMENTS));
        out[n++] = '-';
        size_t hash_len = 9 + rng_below(rng, 2);
        for (size_t i = 0; i < hash_len; i++) out[n++] = POD_CHARS[rng_below(rng, chars)];
        out[n++] = '-';
        for (size_t i = 0; i < 5; i++) out[n++] = POD_CHARS[rng_below(rng, chars)];
        break;
    }
    case L_REGION: n = put_str(out, 0, PICK(rng, REGIONS)); break;
    case L_ZONE: n = put_str(out, 0, PICK(rng, ZONES)); break;
    default: die("no generator for a label");
    }
    if (n < 0 || (size_t)n >= cap) die("label value does not fit");
    *len += (size_t)n;
}

/* One wal_log_series entry's worth of series; labels point into `text`. */
typedef struct {
    char text[TEXT_CAP];
    wal_label labels[SERIES_PER_ENTRY * MAX_LABELS];
    wal_series series[SERIES_PER_ENTRY];
    size_t len;
} series_batch;

/* Generates the label sets of refs [first, end). */
static void series_fill(series_batch *b, uint64_t first, uint64_t end)
{
    size_t text_len = 0, nlabels = 0;
    b->len = 0;
    for (uint64_t ref = first; ref < end; ref++) {
        rng_t rng = {hash(ref)};
        size_t metric = rng_below(&rng, LEN(METRICS));
        uint32_t mask = label_mask(metric);
        wal_series *s = &b->series[b->len++];
        s->ref = ref;
        s->labels = &b->labels[nlabels];
        s->labels_len = 0;
        for (int name = 0; name < L_COUNT; name++) {
            if (!(mask & (1u << name))) continue;
            size_t start = text_len;
            push_value(b->text, &text_len, name, metric, &rng);
            b->labels[nlabels++] = (wal_label){
                .name = NAMES[name],
                .name_len = strlen(NAMES[name]),
                .value = b->text + start,
                .value_len = text_len - start,
            };
            s->labels_len++;
        }
    }
}

/* Logs the series 1..=n, SERIES_PER_ENTRY per entry. */
static void log_all_series(wal_t *w, uint64_t n)
{
    static series_batch batch;
    for (uint64_t first = 1; first <= n; first += SERIES_PER_ENTRY) {
        series_fill(&batch, first, min_u64(first + SERIES_PER_ENTRY, n + 1));
        CHECK(wal_log_series(w, batch.series, batch.len));
    }
}

/* The samples of refs [first_ref, first_ref + n) over `rounds` rounds, round by round.
 * Each series is a counter with its own rate; in each round it grows by its rate times
 * a pseudo-random factor of the round. */
typedef struct {
    uint64_t first_ref;
    size_t n;
    double *counters, *rates;
    int64_t *jitter;
    uint64_t rounds, round;
    size_t index;
} sample_stream;

/* A pseudo-random double in [0, 1) from h. */
static double unit(uint64_t h)
{
    /* Below 2^53, so the signed conversion (one instruction) is exact. */
    return (double)(int64_t)(h >> 11) * (1.0 / 9007199254740992.0);
}

static void stream_init(sample_stream *s, uint64_t first, uint64_t end, uint64_t rounds)
{
    s->first_ref = first;
    s->n = (size_t)(end - first);
    s->counters = malloc(s->n * sizeof *s->counters);
    s->rates = malloc(s->n * sizeof *s->rates);
    s->jitter = malloc(s->n * sizeof *s->jitter);
    if (s->n && (!s->counters || !s->rates || !s->jitter)) die("out of memory");
    for (size_t i = 0; i < s->n; i++) {
        uint64_t ref = first + i;
        s->counters[i] = (double)(hash(ref ^ SEED_COUNTER) % 1000000);
        s->rates[i] = unit(hash(ref ^ SEED_RATE)) * 15.0;
        s->jitter[i] = (int64_t)(hash(ref ^ SEED_JITTER) % 10);
    }
    s->rounds = rounds;
    s->round = 0;
    s->index = 0;
}

static void stream_free(sample_stream *s)
{
    free(s->counters);
    free(s->rates);
    free(s->jitter);
}

/* Fills out[0..BATCH) with the next samples; returns how many (0 at the end). */
static size_t stream_next(sample_stream *s, wal_sample *restrict out)
{
    size_t len = 0;
    if (s->n == 0) return 0;
    while (len < BATCH && s->round < s->rounds) {
        /* The rest of this round, as far as the batch has room. */
        size_t take = BATCH - len < s->n - s->index ? BATCH - len : s->n - s->index;
        double *restrict counters = s->counters + s->index;
        const double *restrict rates = s->rates + s->index;
        const int64_t *restrict jitter = s->jitter + s->index;
        uint64_t first_ref = s->first_ref + s->index;
        int64_t t = BASE_T + (int64_t)s->round * INTERVAL_MS;
        double factor = 0.5 + unit(hash(s->round ^ SEED_ROUND));
        for (size_t i = 0; i < take; i++) {
            counters[i] += rates[i] * factor;
            out[len++] = (wal_sample){.ref = first_ref + i, .t = t + jitter[i], .v = counters[i]};
        }
        s->index += take;
        if (s->index == s->n) {
            s->index = 0;
            s->round++;
        }
    }
    return len;
}

/* ---- phases ----------------------------------------------------------------------- */

static wal_t *open_wal(const char *dir, uint64_t segment_size)
{
    wal_options opts;
    wal_options_init(&opts);
    opts.segment_size = segment_size;
    wal_t *w = NULL;
    CHECK(wal_open(dir, &opts, &w));
    return w;
}

static int write_phase(const char *dir, uint64_t series, uint64_t rounds, uint64_t seg)
{
    static wal_sample batch[BATCH];
    unsigned long long base = rss_start();
    wal_t *w = open_wal(dir, seg);
    sample_stream stream;
    stream_init(&stream, 1, series + 1, rounds);

    double start = now();
    log_all_series(w, series);
    size_t n;
    while ((n = stream_next(&stream, batch)) > 0) CHECK(wal_log_samples(w, batch, n));
    double write = now() - start;
    CHECK(wal_sync(w));
    double write_sync = now() - start;
    double closing = now();
    CHECK(wal_close(w));
    double close = now() - closing;
    stream_free(&stream);

    printf("write_s %.9f\nwrite_sync_s %.9f\nclose_s %.9f\n", write, write_sync, close);
    printf("samples %" PRIu64 "\n", series * rounds);
    printf("rss_base_kib %llu\nrss_peak_kib %llu\n", base, status_kib("VmHWM"));
    return 0;
}

/* What the replay callbacks compute from every entry, so no work can be skipped; the
 * driver compares it with the Rust replay's. */
typedef struct {
    uint64_t series, label_bytes, samples;
    double value_sum;
    int64_t max_t;
} checksum;

static int on_series(void *ctx, const wal_series *series, size_t len)
{
    checksum *sum = ctx;
    sum->series += len;
    for (size_t i = 0; i < len; i++)
        for (size_t j = 0; j < series[i].labels_len; j++)
            sum->label_bytes += series[i].labels[j].name_len + series[i].labels[j].value_len;
    return 0;
}

static int on_samples(void *ctx, const wal_sample *samples, size_t len)
{
    /* Locals, as in the Rust callback: the sums stay in registers. */
    checksum *sum = ctx;
    double value_sum = sum->value_sum;
    int64_t max_t = sum->max_t;
    for (size_t i = 0; i < len; i++) {
        value_sum += samples[i].v;
        if (samples[i].t > max_t) max_t = samples[i].t;
    }
    sum->samples += len;
    sum->value_sum = value_sum;
    sum->max_t = max_t;
    return 0;
}

static int replay_phase(const char *dir, uint64_t seg)
{
    unsigned long long base = rss_start();
    double opening = now();
    wal_t *w = open_wal(dir, seg);
    double open = now() - opening;

    checksum sum = {.max_t = INT64_MIN};
    double start = now();
    CHECK(wal_read(w, on_series, on_samples, NULL, &sum));
    double read = now() - start;
    unsigned long long peak = status_kib("VmHWM");
    CHECK(wal_close(w));

    printf("open_s %.9f\nread_s %.9f\n", open, read);
    printf("series %" PRIu64 "\nlabel_bytes %" PRIu64 "\nsamples %" PRIu64 "\n", sum.series,
           sum.label_bytes, sum.samples);
    printf("value_sum %.17g\nmax_t %" PRId64 "\n", sum.value_sum, sum.max_t);
    printf("rss_base_kib %llu\nrss_peak_kib %llu\n", base, peak);
    return 0;
}

/* Generates the workload without logging it: the generator's share of the writes. */
static int generate_phase(uint64_t series, uint64_t rounds)
{
    static wal_sample batch[BATCH];
    static series_batch labels;
    sample_stream stream;
    stream_init(&stream, 1, series + 1, rounds);
    double start = now();
    volatile double sink = 0; /* keeps the generated data observable */
    for (uint64_t first = 1; first <= series; first += SERIES_PER_ENTRY) {
        series_fill(&labels, first, min_u64(first + SERIES_PER_ENTRY, series + 1));
        sink = sink + (double)labels.series[labels.len - 1].labels_len;
    }
    size_t n;
    while ((n = stream_next(&stream, batch)) > 0) sink = sink + batch[n - 1].v;
    double time = now() - start;
    stream_free(&stream);
    printf("time_s %.9f\nsamples %" PRIu64 "\n", time, series * rounds);
    return 0;
}

static uint64_t number(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0') die("arguments must be numbers");
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    const char *usage = "usage: bench write DIR SERIES ROUNDS SEGMENT_SIZE | "
                        "bench replay DIR SEGMENT_SIZE | bench generate SERIES ROUNDS";
    if (argc == 6 && strcmp(argv[1], "write") == 0)
        return write_phase(argv[2], number(argv[3]), number(argv[4]), number(argv[5]));
    if (argc == 4 && strcmp(argv[1], "replay") == 0)
        return replay_phase(argv[2], number(argv[3]));
    if (argc == 4 && strcmp(argv[1], "generate") == 0)
        return generate_phase(number(argv[2]), number(argv[3]));
    die(usage);
}
