/*
 * Durability through the C API: wal_sync, a writer process that dies without closing its
 * handle after wal_sync, the background flush (flush_interval_ms > 0), and
 * WAL_SYNC_ALWAYS with four threads.
 *
 * Also: a read right after a segment cut while the background flush runs must return
 * (a watchdog turns a hang into a failure).
 *
 * Usage: durability <empty temp dir>
 * The program runs itself as the dying writer (a separate process, so its death cannot
 * take the test down and the kernel releases its directory lock):
 *        durability --crash-after-sync <dir>
 *        durability --crash-with-flush-interval <dir>
 *        durability --crash-sync-always <dir>
 */
#include "common.h" /* first: it sets the feature macros */

#include <stdatomic.h>

/* Enough entries of every type to fill many 4096-byte segments. */
static void log_workload(wal_t *w, struct entry_log *want, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        char name[32];
        snprintf(name, sizeof name, "metric_%d", r);
        wal_label l[] = {{"__name__", 8, name, strlen(name)}, LABEL("job", "durability")};
        wal_series s[] = {{.ref = (uint64_t)r, .labels = l, .labels_len = 2}};
        LOG_SERIES(w, want, s, 1);
        wal_sample samples[16];
        for (int i = 0; i < 16; i++)
            samples[i] = sample_bits((uint64_t)(r - i % 3), (int64_t)r * 100 + i,
                                     f64_bits(r * 0.25 + i));
        LOG_SAMPLES(w, want, samples, 16);
        if (r % 10 == 9) {
            wal_tombstone d = {.ref = (uint64_t)r, .mint = r * 100, .maxt = r * 100 + 50};
            LOG_DELETES(w, want, &d, 1);
        }
    }
}

enum { ROUNDS = 120 };

static wal_options small_segments_flushed(uint64_t flush_interval_ms)
{
    wal_options opts = small_segments();
    opts.flush_interval_ms = flush_interval_ms;
    return opts;
}

/* Child: log, sync, then die without wal_close (no flush or trim at close). */
static int crash_after_sync(const char *dir)
{
    wal_options opts = small_segments();
    struct entry_log want = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    log_workload(w, &want, ROUNDS);
    CHECK_OK(wal_sync(w));
    _exit(0);
}

/* Child: log with a 10 ms background flush, wait a little, die without closing. */
static int crash_with_flush_interval(const char *dir)
{
    wal_options opts = small_segments_flushed(10);
    struct entry_log want = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    log_workload(w, &want, ROUNDS);
    sleep_ms(100);
    _exit(0);
}

/* wal_sync returns OK with nothing logged, after logging, and twice in a row. */
static void test_sync(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "sync");
    wal_options opts = small_segments();
    struct entry_log want = {0}, got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    CHECK_OK(wal_sync(w)); /* no segment yet */
    log_workload(w, &want, ROUNDS);
    CHECK_OK(wal_sync(w));
    CHECK_OK(wal_sync(w)); /* nothing new */
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    log_workload(w, &want, 3);
    CHECK_OK(wal_sync(w));
    CHECK_OK(wal_close(w));

    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_OK(wal_sync(w)); /* after a read, before any write */
    CHECK_OK(wal_close(w));
    entry_log_free(&want);
    entry_log_free(&got);
}

/* What a writer logged and synced before dying is all there after a reopen. */
static void test_crash_after_sync(const char *root, const char *argv0)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "crash-sync");
    const char *args[] = {"--crash-after-sync", dir, NULL};
    CHECKF(run_self(argv0, args) == 0, "the writer process failed");

    /* The same workload, logged into a throwaway WAL, is what must be read back. */
    char scratch[TEST_PATH_MAX];
    path_join(scratch, root, "crash-sync-expected");
    wal_options opts = small_segments();
    struct entry_log want = {0}, got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(scratch, &opts, &w));
    log_workload(w, &want, ROUNDS);
    CHECK_OK(wal_close(w));

    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    /* The WAL left by the dead writer can be written and read on. */
    log_workload(w, &want, 5);
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_REOPENS_TO(w, dir, &opts, &want, &got);
    entry_log_free(&want);
    entry_log_free(&got);
}

/* Fails unless `got` is a prefix of `want` (whole entries only). */
static void check_prefix(const struct entry_log *want, const struct entry_log *got)
{
    CHECKF(got->len <= want->len, "read %zu entries, only %zu were logged", got->len,
           want->len);
    struct buf why = {0};
    for (size_t i = 0; i < got->len; i++)
        CHECKF(entry_equal(&want->entries[i], &got->entries[i], &why), "entry %zu: %s", i,
               why.data);
    buf_free(&why);
}

/*
 * flush_interval_ms > 0: the handle works as without it. Timing is not asserted: a
 * writer that dies leaves some prefix of its entries, and it must read back cleanly.
 */
static void test_flush_interval(const char *root, const char *argv0)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "flush-interval");
    wal_options opts = small_segments_flushed(10);
    struct entry_log want = {0}, got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    log_workload(w, &want, ROUNDS / 2);
    sleep_ms(50); /* let the background flush run a few times */
    log_workload(w, &want, ROUNDS / 2);
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    sleep_ms(30);
    CHECK_REOPENS_TO(w, dir, &opts, &want, &got);

    path_join(dir, root, "crash-flush-interval");
    const char *args[] = {"--crash-with-flush-interval", dir, NULL};
    CHECKF(run_self(argv0, args) == 0, "the writer process failed");
    entry_log_clear(&want);
    char scratch[TEST_PATH_MAX];
    path_join(scratch, root, "crash-flush-expected");
    CHECK_OK(wal_open(scratch, &opts, &w));
    log_workload(w, &want, ROUNDS);
    CHECK_OK(wal_close(w));

    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    check_prefix(&want, &got);
    printf("durability: the background flush kept %zu of %zu entries of the dead writer\n",
           got.len, want.len);
    CHECK_OK(wal_close(w));
    entry_log_free(&want);
    entry_log_free(&got);
}

/* ---- a read right after a cut, with the background flush ------------------------- */

/*
 * Fails the program if `progress` stops moving for WATCHDOG_SECONDS: a read that never
 * returns would otherwise hang the test until the runner's timeout.
 */
enum { WATCHDOG_SECONDS = 30 };
static atomic_long progress;
static atomic_bool watchdog_stop;

static void *watchdog(void *arg)
{
    const char *what = arg;
    long last = -1;
    int still = 0;
    while (!atomic_load(&watchdog_stop)) {
        sleep_ms(100);
        long now = atomic_load(&progress);
        still = now == last ? still + 1 : 0;
        last = now;
        if (still >= WATCHDOG_SECONDS * 10) {
            fprintf(stderr,
                    "%s:%d: no progress for %d s after %ld rounds: %s did not return "
                    "(deadlock?)\n",
                    __FILE__, __LINE__, WATCHDOG_SECONDS, now, what);
            _exit(3); /* other threads are stuck in the library: no exit handlers */
        }
    }
    return NULL;
}

/*
 * With flush_interval_ms = 1, log until a segment is cut, then read at once, many times.
 * The read comes while the cut segment is still being finished by the background
 * worker, which may at the same time be starting a flush tick.
 */
static void test_read_right_after_cut(const char *root)
{
    enum { BLOCKS = 6, ROUNDS = 30 };
    const char *what = "wal_read right after a segment cut, with flush_interval_ms = 1,";
    pthread_t dog;
    atomic_store(&watchdog_stop, false);
    CHECK(pthread_create(&dog, NULL, watchdog, (void *)what) == 0);
    wal_options opts = small_segments_flushed(1);
    for (int b = 0; b < BLOCKS; b++) {
        /* A fresh WAL now and then keeps the reads short. */
        char name[32], dir[TEST_PATH_MAX];
        snprintf(name, sizeof name, "read-after-cut-%d", b);
        path_join(dir, root, name);
        struct entry_log want = {0}, got = {0};
        wal_t *w = NULL;
        CHECK_OK(wal_open(dir, &opts, &w));
        for (int r = 0; r < ROUNDS; r++) {
            wal_sample s[20];
            for (int i = 0; i < 20; i++) s[i] = sample_bits((uint64_t)i, r, f64_bits(i));
            size_t segments = count_segments(dir);
            while (count_segments(dir) == segments) LOG_SAMPLES(w, &want, s, 20);
            READ_ALL(w, &got);
            CHECK_LOGS_EQUAL(&want, &got);
            atomic_fetch_add(&progress, 1);
        }
        CHECK_OK(wal_close(w));
        entry_log_free(&want);
        entry_log_free(&got);
    }
    atomic_store(&watchdog_stop, true);
    CHECK(pthread_join(dog, NULL) == 0);
}


/* ---- WAL_SYNC_ALWAYS -------------------------------------------------------------- */

enum { SA_THREADS = 4, SA_BATCHES = 60, SA_BATCH = 8 };

struct sa_writer {
    wal_t *w;
    int id;
};

/* Batch b of thread k: refs k * 1000 + i, timestamp b. */
static void *sa_log(void *arg)
{
    const struct sa_writer *me = arg;
    for (int b = 0; b < SA_BATCHES; b++) {
        wal_sample s[SA_BATCH];
        for (int i = 0; i < SA_BATCH; i++)
            s[i] = sample_bits((uint64_t)(me->id * 1000 + i), b, f64_bits(b + i));
        CHECK_OK(wal_log_samples(me->w, s, SA_BATCH));
    }
    return NULL;
}

/*
 * Child: four threads log with WAL_SYNC_ALWAYS (sharing fdatasyncs), then the process
 * dies without closing. Every call returned only once its entry was on disk, so the
 * parent must find every entry.
 */
static int crash_sync_always(const char *dir, uint32_t spin_us)
{
    wal_options opts = small_segments();
    opts.sync = WAL_SYNC_ALWAYS;
    opts.sync_spin_us = spin_us;
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    pthread_t threads[SA_THREADS];
    struct sa_writer writers[SA_THREADS];
    for (int k = 0; k < SA_THREADS; k++) {
        writers[k] = (struct sa_writer){w, k};
        CHECK(pthread_create(&threads[k], NULL, sa_log, &writers[k]) == 0);
    }
    for (int k = 0; k < SA_THREADS; k++) CHECK(pthread_join(threads[k], NULL) == 0);
    _exit(0);
}

/* How waiting threads wait (wal_options.sync_spin_us), by the name of the child's mode. */
static const struct {
    const char *name;
    uint32_t spin_us;
} spin_modes[] = {
    {"auto", WAL_SYNC_SPIN_AUTO}, /* the default */
    {"sleep", 0},
    {"spin-300us", 300},
};
#define SPIN_MODES (sizeof spin_modes / sizeof spin_modes[0])

static void test_sync_always(const char *root, const char *argv0, size_t mode)
{
    char dir[TEST_PATH_MAX], sub[64];
    snprintf(sub, sizeof sub, "sync-always-%s", spin_modes[mode].name);
    path_join(dir, root, sub);
    const char *args[] = {"--crash-sync-always", spin_modes[mode].name, dir, NULL};
    CHECKF(run_self(argv0, args) == 0, "the writer process failed");

    wal_options opts = small_segments();
    opts.sync = WAL_SYNC_ALWAYS;
    struct entry_log got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECKF(got.len == SA_THREADS * SA_BATCHES, "%zu entries", got.len);
    int next[SA_THREADS] = {0};
    for (size_t i = 0; i < got.len; i++) {
        const struct entry *e = &got.entries[i];
        CHECK(e->type == ENTRY_SAMPLES && e->len == SA_BATCH);
        int k = (int)(e->samples[0].ref / 1000);
        CHECK(k >= 0 && k < SA_THREADS);
        for (int j = 0; j < SA_BATCH; j++) {
            CHECK(e->samples[j].ref == (uint64_t)(k * 1000 + j));
            CHECKF(e->samples[j].t == next[k], "thread %d: batch %" PRId64 " where %d was due",
                   k, e->samples[j].t, next[k]);
        }
        next[k]++;
    }
    /* In this mode a log call on the reopened handle is durable when it returns too. */
    wal_sample s = sample_bits(4242, 1, f64_bits(1.0));
    CHECK_OK(wal_log_samples(w, &s, 1));
    CHECK_OK(wal_close(w));
    entry_log_free(&got);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--crash-after-sync") == 0)
        return crash_after_sync(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--crash-with-flush-interval") == 0)
        return crash_with_flush_interval(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--crash-sync-always") == 0) {
        for (size_t m = 0; m < SPIN_MODES; m++)
            if (strcmp(argv[2], spin_modes[m].name) == 0)
                return crash_sync_always(argv[3], spin_modes[m].spin_us);
        fprintf(stderr, "unknown spin mode %s\n", argv[2]);
        return 2;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty temp dir>\n", argv[0]);
        return 2;
    }
    size_t fds = count_open_fds();
    test_sync(argv[1]);
    test_crash_after_sync(argv[1], argv[0]);
    test_flush_interval(argv[1], argv[0]);
    test_read_right_after_cut(argv[1]);
    for (size_t m = 0; m < SPIN_MODES; m++) test_sync_always(argv[1], argv[0], m);
    CHECKF(count_open_fds() == fds, "%zu descriptors open, %zu at start", count_open_fds(),
           fds);
    printf("durability: ok\n");
    return 0;
}
