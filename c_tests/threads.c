/*
 * Concurrent writers on one handle. Usage: threads <empty temp dir>
 *
 * Four threads log into one handle at once (each its own refs, series entries now and
 * then, samples batches with growing timestamps), one of them also calls wal_sync, and
 * a reader thread reads while they write. Segments are small, so segments are cut while
 * several threads write. Every entry carries its thread and its position in that
 * thread's sequence of calls, so a read can check that each entry arrives whole (no
 * interleaving inside an entry), exactly once, and in each thread's order.
 */
#include "common.h" /* first: it sets the feature macros */

#include <stdatomic.h>

enum {
    THREADS = 4,
    BATCHES = 2000,     /* samples entries per thread */
    BATCH = 50,         /* samples per entry */
    SERIES_EVERY = 100, /* a series entry before every 100th samples entry */
    SERIES_LEN = 3,     /* series per series entry */
    SYNC_EVERY = 250,   /* thread 0 calls wal_sync this often */
    READS = 5,          /* reads while the writers run */
};

/* Thread k owns refs (k + 1) * 1000 + 0 .. BATCH-1. */
static uint64_t ref_base(int k) { return (uint64_t)(k + 1) * 1000; }

struct writer {
    wal_t *w;
    int id;
};

static void *write_thread(void *arg)
{
    const struct writer *wr = arg;
    const uint64_t base = ref_base(wr->id);
    char thread_name[8];
    snprintf(thread_name, sizeof thread_name, "%d", wr->id);
    int seq = 0; /* position of each entry in this thread's sequence of calls */
    wal_sample samples[BATCH];
    for (int b = 0; b < BATCHES; b++) {
        if (b % SERIES_EVERY == 0) {
            char seq_value[16];
            snprintf(seq_value, sizeof seq_value, "%d", seq++);
            wal_label labels[] = {
                {"thread", 6, thread_name, strlen(thread_name)},
                {"seq", 3, seq_value, strlen(seq_value)},
            };
            wal_series series[SERIES_LEN];
            for (int j = 0; j < SERIES_LEN; j++)
                series[j] = (wal_series){.ref = base + j, .labels = labels, .labels_len = 2};
            CHECK_OK(wal_log_series(wr->w, series, SERIES_LEN));
        }
        /* t grows per ref; v tells which entry and position this sample is. */
        for (int i = 0; i < BATCH; i++)
            samples[i] = (wal_sample){.ref = base + i, .t = b, .v = seq * 100.0 + i};
        seq++;
        CHECK_OK(wal_log_samples(wr->w, samples, BATCH));
        if (wr->id == 0 && b % SYNC_EVERY == 0) CHECK_OK(wal_sync(wr->w));
    }
    return NULL;
}

/* ---- checking a read ---------------------------------------------------------------- */

struct verifier {
    int next_seq[THREADS];
    int batches[THREADS];
    int series_entries[THREADS];
    long entries;
    long thread_switches; /* how often consecutive entries came from different threads */
    int last_thread;
};

/* The thread that owns `ref`, checked to be a ref of that thread at `offset`. */
static int owner(uint64_t ref, uint64_t offset)
{
    CHECKF(ref >= ref_base(0) && ref < ref_base(THREADS), "unknown ref %" PRIu64, ref);
    int k = (int)(ref / 1000) - 1;
    CHECKF(ref == ref_base(k) + offset, "ref %" PRIu64 " at position %" PRIu64, ref, offset);
    return k;
}

static void saw_entry(struct verifier *v, int k)
{
    if (v->entries > 0 && k != v->last_thread) v->thread_switches++;
    v->last_thread = k;
    v->entries++;
}

static int verify_series(void *ctx, const wal_series *series, size_t len)
{
    struct verifier *v = ctx;
    CHECKF(len == SERIES_LEN, "series entry of %zu series", len);
    int k = owner(series[0].ref, 0);
    for (size_t j = 0; j < len; j++) {
        CHECK(owner(series[j].ref, j) == k);
        /* Labels arrive sorted: "seq" < "thread". */
        const wal_label *l = series[j].labels;
        CHECK(series[j].labels_len == 2);
        CHECK(l[0].name_len == 3 && memcmp(l[0].name, "seq", 3) == 0);
        CHECK(l[1].name_len == 6 && memcmp(l[1].name, "thread", 6) == 0);
        CHECK(l[1].value_len == 1 && l[1].value[0] == '0' + k);
        char seq[16];
        CHECK(l[0].value_len < sizeof seq);
        memcpy(seq, l[0].value, l[0].value_len);
        seq[l[0].value_len] = '\0';
        CHECKF(atoi(seq) == v->next_seq[k], "thread %d: series entry %s, expected entry %d", k,
               seq, v->next_seq[k]);
    }
    CHECKF(v->batches[k] == v->series_entries[k] * SERIES_EVERY,
           "thread %d: series entry %d after %d samples entries", k, v->series_entries[k],
           v->batches[k]);
    v->series_entries[k]++;
    v->next_seq[k]++;
    saw_entry(v, k);
    return 0;
}

static int verify_samples(void *ctx, const wal_sample *samples, size_t len)
{
    struct verifier *v = ctx;
    CHECKF(len == BATCH, "samples entry of %zu samples", len);
    int k = owner(samples[0].ref, 0);
    CHECKF(v->batches[k] < BATCHES, "thread %d: more than %d samples entries", k, BATCHES);
    for (size_t i = 0; i < len; i++) {
        CHECK(owner(samples[i].ref, i) == k);
        CHECKF(samples[i].t == v->batches[k] && samples[i].v == v->next_seq[k] * 100.0 + i,
               "thread %d: sample %zu is {t %" PRId64 ", v %.1f}, expected entry %d of batch %d",
               k, i, samples[i].t, samples[i].v, v->next_seq[k], v->batches[k]);
    }
    v->batches[k]++;
    v->next_seq[k]++;
    saw_entry(v, k);
    return 0;
}

static void read_and_verify(wal_t *w, struct verifier *v)
{
    memset(v, 0, sizeof *v);
    CHECK_OK(wal_read(w, verify_series, verify_samples, NULL, v));
}

static void check_complete(const struct verifier *v)
{
    for (int k = 0; k < THREADS; k++) {
        CHECKF(v->batches[k] == BATCHES, "thread %d: %d samples entries", k, v->batches[k]);
        CHECKF(v->series_entries[k] == BATCHES / SERIES_EVERY, "thread %d: %d series entries",
               k, v->series_entries[k]);
    }
    CHECK(v->entries == (long)THREADS * (BATCHES + BATCHES / SERIES_EVERY));
}

/* Reads while the writers run: each read sees a prefix of every thread's entries. */
struct reader {
    wal_t *w;
    atomic_int reads;
};

static void *read_thread(void *arg)
{
    struct reader *r = arg;
    struct verifier v;
    for (int i = 0; i < READS; i++) {
        read_and_verify(r->w, &v);
        atomic_fetch_add(&r->reads, 1);
        sleep_ms(2);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty temp dir>\n", argv[0]);
        return 2;
    }
    char dir[TEST_PATH_MAX];
    path_join(dir, argv[1], "wal");
    wal_options opts;
    wal_options_init(&opts);
    opts.segment_size = 32768; /* about 60 samples entries per segment */
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));

    pthread_t writers[THREADS], reader_thread;
    struct writer args[THREADS];
    struct reader reader = {.w = w};
    atomic_init(&reader.reads, 0);
    for (int k = 0; k < THREADS; k++) {
        args[k] = (struct writer){.w = w, .id = k};
        CHECK(pthread_create(&writers[k], NULL, write_thread, &args[k]) == 0);
    }
    CHECK(pthread_create(&reader_thread, NULL, read_thread, &reader) == 0);
    for (int k = 0; k < THREADS; k++) CHECK(pthread_join(writers[k], NULL) == 0);
    CHECK(pthread_join(reader_thread, NULL) == 0);
    CHECK(atomic_load(&reader.reads) == READS);
    CHECK_OK(wal_sync(w));

    struct verifier v;
    read_and_verify(w, &v);
    check_complete(&v);
    CHECK_OK(wal_close(w));
    size_t segments = count_segments(dir);
    CHECKF(segments > 20, "only %zu segments", segments);

    CHECK_OK(wal_open(dir, &opts, &w));
    read_and_verify(w, &v);
    check_complete(&v);
    CHECK_OK(wal_close(w));
    printf("threads: ok: %ld entries in %zu segments, %ld switches between threads\n",
           v.entries, segments, v.thread_switches);
    return 0;
}
