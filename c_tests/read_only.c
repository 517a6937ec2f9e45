/*
 * Read-only handles (wal_options.read_only = 1) through the C API: they create, lock
 * and change nothing; they read beside a writer in this process and in another one
 * (seeing what it synced, without gaps or damage); on a damaged WAL they deliver what
 * the recovery mode would keep, and leave the directory as it was; everything that
 * would write is refused.
 *
 * Usage: read_only <empty temp dir> <copy of corrupt-flip_middle> <entries of the full log>
 *        read_only --writer <dir> <count file> <stop file>
 *            (child: logs numbered entries into <dir> until <stop file> exists, closes,
 *            and writes how many to <count file>)
 */
#include "common.h"

#include <signal.h>

static wal_options options(uint32_t recovery, uint32_t read_only)
{
    wal_options opts;
    wal_options_init(&opts);
    opts.recovery = recovery;
    opts.read_only = read_only;
    return opts;
}

/* The call is refused because the handle is read-only. */
#define CHECK_READ_ONLY(call)                                                             \
    do {                                                                                  \
        CHECK_ERR(call, WAL_ERR_STATE);                                                   \
        CHECK_LAST_ERROR_CONTAINS("read-only");                                           \
    } while (0)

/* Every call that would write is refused, and the directory stays as it is. */
static void check_writes_refused(wal_t *ro, const char *dir)
{
    struct dir_snapshot before = {0};
    snapshot_dir(dir, &before);
    wal_label l[] = {LABEL("__name__", "refused")};
    wal_series s = {.ref = 1, .labels = l, .labels_len = 1};
    wal_sample smp = {1, 100, 1.0};
    wal_tombstone d = {1, 0, 10};
    CHECK_READ_ONLY(wal_log_series(ro, &s, 1));
    CHECK_READ_ONLY(wal_log_samples(ro, &smp, 1));
    CHECK_READ_ONLY(wal_log_deletes(ro, &d, 1));
    /* Empty batches count as writes (they may start a segment): refused too. */
    CHECK_READ_ONLY(wal_log_series(ro, NULL, 0));
    CHECK_READ_ONLY(wal_log_samples(ro, NULL, 0));
    CHECK_READ_ONLY(wal_log_deletes(ro, NULL, 0));
    CHECK_READ_ONLY(wal_truncate(ro, INT64_MAX, NULL, NULL));
    CHECK_READ_ONLY(wal_sync(ro));
    CHECK_UNCHANGED(dir, &before);
    dir_snapshot_free(&before);
}

/* ---- (a) a missing directory ------------------------------------------------------ */

static void test_missing_dir(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "missing");
    const uint32_t modes[] = {WAL_RECOVERY_TRUNCATE, WAL_RECOVERY_SALVAGE, WAL_RECOVERY_FAIL};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        wal_options ro = options(modes[m], 1);
        wal_t *w = not_null_handle();
        CHECK_ERR(wal_open(dir, &ro, &w), WAL_ERR_IO);
        CHECK(w == NULL);
        CHECK_LAST_ERROR_CONTAINS(dir);
        CHECKF(!file_exists(dir), "a read-only open created %s", dir);
    }
}

/* ---- (b) beside a writer in this process ------------------------------------------ */

/* Entries of every type over several 4 KiB segments: series, samples, some deletes. */
static void log_mixed(wal_t *w, struct entry_log *want, int first, int rounds)
{
    for (int r = first; r < first + rounds; r++) {
        char name[32];
        snprintf(name, sizeof name, "metric_%d", r);
        wal_label l[] = {{"__name__", 8, name, strlen(name)}, LABEL("job", "read_only")};
        wal_series s = {.ref = (uint64_t)r, .labels = l, .labels_len = 2};
        LOG_SERIES(w, want, &s, 1);
        wal_sample samples[8];
        for (int i = 0; i < 8; i++)
            samples[i] = sample_bits((uint64_t)r, (int64_t)r * 100 + i, f64_bits(r + i * 0.5));
        LOG_SAMPLES(w, want, samples, 8);
        if (r % 5 == 4) {
            wal_tombstone d = {.ref = (uint64_t)r, .mint = r * 100, .maxt = r * 100 + 3};
            LOG_DELETES(w, want, &d, 1);
        }
    }
}

/* Counters of a read-only handle: it wrote, repaired and quarantined nothing. */
static void check_read_only_stats(wal_t *ro, const char *dir)
{
    wal_stats_t st = STATS(ro);
    CHECK(st.corruptions == 0 && st.dropped_entries == 0 && st.dropped_bytes == 0);
    CHECK(st.entries_written == 0 && st.samples_written == 0 && st.bytes_written == 0);
    CHECK(st.quarantined_segments == 0 && st.quarantined_bytes == 0);
    CHECKF(st.segments == count_segments(dir), "%" PRIu64 " segments, %zu in %s", st.segments,
           count_segments(dir), dir);
}

static void test_beside_writer_in_process(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "beside");
    wal_options rw = small_segments(), ro = small_segments();
    ro.read_only = 1;
    struct entry_log want = {0}, got = {0};
    wal_t *writer = NULL, *reader = NULL, *other = not_null_handle();
    CHECK_OK(wal_open(dir, &rw, &writer));

    /* The writer holds the lock against writers only. */
    CHECK_ERR(wal_open(dir, &rw, &other), WAL_ERR_LOCKED);
    CHECK(other == NULL);
    CHECK_OK(wal_open(dir, &ro, &reader));
    READ_ALL(reader, &got);
    CHECK(got.len == 0);

    /* A read delivers exactly what the writer synced, and again after more. */
    log_mixed(writer, &want, 0, 60);
    CHECK_OK(wal_sync(writer));
    CHECK(count_segments(dir) >= 3);
    READ_ALL(reader, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    check_read_only_stats(reader, dir);
    log_mixed(writer, &want, 60, 20);
    CHECK_OK(wal_sync(writer));
    READ_ALL(reader, &got);
    CHECK_LOGS_EQUAL(&want, &got);

    /* Several read-only handles at once. */
    CHECK_OK(wal_open(dir, &ro, &other));
    READ_ALL(other, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_OK(wal_close(other));

    /* The reader holds no lock: with the writer closed, a new writer opens beside it. */
    CHECK_OK(wal_close(writer));
    check_writes_refused(reader, dir);
    CHECK_OK(wal_open(dir, &rw, &writer));
    READ_ALL(writer, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    log_mixed(writer, &want, 80, 5);
    CHECK_OK(wal_close(writer));
    READ_ALL(reader, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    check_read_only_stats(reader, dir);
    CHECK_OK(wal_close(reader));
    entry_log_free(&want);
    entry_log_free(&got);
}

/* ---- (c) beside a writer in another process --------------------------------------- */

/* The child writes until the parent asks it to stop (a stop file: after WRITER_MS and at
 * least LIVE_READS reads that found entries while it wrote) or WRITER_LIMIT_MS passed,
 * syncing every WRITER_SYNC_EVERY entries and pausing 1 ms after each sync (so that the
 * log stays a few MB); 64 KiB segments make it cut often. Entry i holds WRITER_SAMPLES
 * samples of value i. */
enum { WRITER_MS = 1500, WRITER_SYNC_EVERY = 8, WRITER_SAMPLES = 8, LIVE_READS = 5 };
/* The writer's own limit, so that it ends even if the parent failed; the parent kills it
 * if it has not ended a little after that. */
enum { WRITER_LIMIT_MS = 60000, WRITER_GRACE_MS = 10000 };
#define WRITER_SEGMENT_SIZE (64 * 1024)

static void numbered_entry(uint64_t i, wal_sample *s)
{
    for (int k = 0; k < WRITER_SAMPLES; k++)
        s[k] = (wal_sample){.ref = (uint64_t)k + 1, .t = (int64_t)i, .v = (double)i};
}

static long long now_ms(void)
{
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Child: the writer. Its time is bounded, so it ends even if the parent failed. */
static int run_writer(const char *dir, const char *count_file, const char *stop_file)
{
    wal_options opts;
    wal_options_init(&opts);
    opts.segment_size = WRITER_SEGMENT_SIZE;
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    long long start = now_ms();
    uint64_t n = 0;
    while (!file_exists(stop_file) && now_ms() - start < WRITER_LIMIT_MS) {
        wal_sample s[WRITER_SAMPLES];
        numbered_entry(n, s);
        CHECK_OK(wal_log_samples(w, s, WRITER_SAMPLES));
        if (++n % WRITER_SYNC_EVERY == 0) {
            CHECK_OK(wal_sync(w));
            sleep_ms(1);
        }
    }
    CHECK_OK(wal_close(w));
    char text[32];
    int len = snprintf(text, sizeof text, "%" PRIu64, n);
    write_file(count_file, text, (size_t)len);
    return 0;
}

/* `got` holds entries 0, 1, 2, ... of the writer, none missing, none damaged. */
static void check_numbered(const struct entry_log *got)
{
    for (size_t i = 0; i < got->len; i++) {
        const struct entry *e = &got->entries[i];
        CHECKF(e->type == ENTRY_SAMPLES && e->len == WRITER_SAMPLES,
               "entry %zu: a %s entry of %zu items", i, entry_type_name(e->type), e->len);
        wal_sample want[WRITER_SAMPLES];
        numbered_entry(i, want);
        for (int k = 0; k < WRITER_SAMPLES; k++) {
            const wal_sample *s = &e->samples[k];
            CHECKF(s->ref == want[k].ref && s->t == want[k].t && s->v == want[k].v,
                   "entry %zu, sample %d: {%" PRIu64 ", %" PRId64 ", %g} where entry %zu was due",
                   i, k, s->ref, s->t, s->v, i);
        }
    }
}

static void test_beside_writer_process(const char *root, const char *argv0)
{
    char dir[TEST_PATH_MAX], count_file[TEST_PATH_MAX], stop_file[TEST_PATH_MAX];
    path_join(dir, root, "live");
    path_join(count_file, root, "live.count");
    path_join(stop_file, root, "live.stop");
    make_dir(dir); /* so that the reader can open it before the writer does */
    wal_options ro = options(WAL_RECOVERY_TRUNCATE, 1);
    wal_t *reader = NULL;
    CHECK_OK(wal_open(dir, &ro, &reader));

    const char *args[] = {"--writer", dir, count_file, stop_file, NULL};
    pid_t writer = spawn_self(argv0, args);
    struct entry_log got = {0};
    size_t reads = 0, live_reads = 0, previous = 0;
    int status = -1;
    bool ended = false;
    long long started = now_ms(), deadline = started + WRITER_LIMIT_MS + WRITER_GRACE_MS;
    while (!ended) {
        /* Asked before the read: the read after the end sees everything. */
        ended = child_ended(writer, &status);
        if (!ended && now_ms() > deadline) {
            kill(writer, SIGKILL);
            wait_child(writer);
            test_fail(__FILE__, __LINE__, "the writer process did not end within %d ms",
                      WRITER_LIMIT_MS + WRITER_GRACE_MS);
        }
        READ_ALL(reader, &got); /* every read returns WAL_OK */
        reads++;
        check_numbered(&got);
        CHECKF(got.len >= previous, "read %zu delivered %zu entries, the one before %zu", reads,
               got.len, previous);
        wal_stats_t st = STATS(reader);
        CHECKF(st.corruptions == 0, "read %zu (%zu entries) counted %" PRIu64 " corruptions",
               reads, got.len, st.corruptions);
        if (!ended && got.len > 0) live_reads++;
        previous = got.len;
        if (live_reads >= LIVE_READS && now_ms() - started >= WRITER_MS && !file_exists(stop_file))
            write_file(stop_file, "", 0);
    }
    CHECKF(status == 0, "the writer process failed (exit status %d)", status);

    /* The last read delivered all the writer logged, as a read-write open reads it. */
    struct buf count = {0};
    read_file(count_file, &count);
    size_t logged = (size_t)strtoull(count.data, NULL, 10);
    CHECKF(got.len == logged, "the last read delivered %zu entries, the writer logged %zu",
           got.len, logged);
    CHECKF(live_reads >= LIVE_READS, "only %zu of %zu reads ran while the writer was logging",
           live_reads, reads);
    printf("read_only: %zu reads beside a writer that logged %zu entries in %zu segments; "
           "%zu of them while it ran\n",
           reads, logged, count_segments(dir), live_reads);
    CHECK_OK(wal_close(reader));

    wal_options rw;
    wal_options_init(&rw);
    rw.segment_size = WRITER_SEGMENT_SIZE;
    wal_t *w = NULL;
    struct entry_log all = {0};
    CHECK_OK(wal_open(dir, &rw, &w));
    READ_ALL(w, &all);
    CHECK_LOGS_EQUAL(&all, &got);
    CHECK_OK(wal_close(w));
    buf_free(&count);
    entry_log_free(&got);
    entry_log_free(&all);
}

/* ---- (d) a damaged WAL ------------------------------------------------------------ */

/*
 * Opens `dir` read-only in `recovery` mode and reads it into `got`, which must return
 * `want` (a corruption named with segment 000002 and an offset); `*st` gets the counters
 * after the read. Writes on the handle are refused.
 */
static void read_only_read_at(const char *file, int line, const char *dir, uint32_t recovery,
                              wal_status want, struct entry_log *got, wal_stats_t *st)
{
    wal_options ro = options(recovery, 1);
    wal_t *w = NULL;
    check_status_at(file, line, "wal_open(dir, &ro, &w)", wal_open(dir, &ro, &w), WAL_OK);
    entry_log_clear(got);
    check_status_at(file, line, "wal_read on a read-only handle",
                    wal_read(w, collect_series, collect_samples, collect_deletes, got), want);
    if (want == WAL_ERR_CORRUPTION) {
        const char *msg = wal_last_error();
        if (!strstr(msg, "000002") || !strstr(msg, "offset"))
            test_fail(file, line, "the corruption is reported without segment 000002 and "
                      "an offset");
    }
    *st = stats_at(file, line, w);
    check_writes_refused(w, dir);
    check_status_at(file, line, "wal_close(w)", wal_close(w), WAL_OK);
}

#define READ_ONLY_READ(dir, recovery, want, got, st)                                      \
    read_only_read_at(__FILE__, __LINE__, (dir), (recovery), (want), (got), (st))

static void test_damaged(const char *dir, size_t full)
{
    struct dir_snapshot before = {0};
    snapshot_dir(dir, &before);
    struct entry_log truncated = {0}, got = {0};
    wal_stats_t st;

    /* TRUNCATE: the entries before the damage, the damage counted, nothing repaired. */
    READ_ONLY_READ(dir, WAL_RECOVERY_TRUNCATE, WAL_OK, &truncated, &st);
    CHECKF(truncated.len > 0 && truncated.len < full, "%zu of %zu entries", truncated.len,
           full);
    CHECKF(st.corruptions >= 1, "%" PRIu64 " corruptions", st.corruptions);
    CHECK(st.dropped_entries == 0 && st.quarantined_segments == 0);
    CHECK_UNCHANGED(dir, &before);

    /* SALVAGE: every entry but the damaged one. */
    READ_ONLY_READ(dir, WAL_RECOVERY_SALVAGE, WAL_OK, &got, &st);
    CHECKF(got.len == full - 1, "%zu of %zu entries", got.len, full);
    CHECKF(st.corruptions >= 1, "%" PRIu64 " corruptions", st.corruptions);
    CHECK_UNCHANGED(dir, &before);

    /* FAIL: the damage is reported with segment and offset, after the same entries. */
    READ_ONLY_READ(dir, WAL_RECOVERY_FAIL, WAL_ERR_CORRUPTION, &got, &st);
    CHECK_LOGS_EQUAL(&truncated, &got);
    CHECKF(st.corruptions >= 1, "%" PRIu64 " corruptions", st.corruptions);
    CHECK_UNCHANGED(dir, &before);

    /* What the read-only TRUNCATE read delivered is what the repair keeps. */
    wal_options rw = options(WAL_RECOVERY_TRUNCATE, 0);
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &rw, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&truncated, &got);
    CHECK_OK(wal_close(w));
    dir_snapshot_free(&before);
    entry_log_free(&truncated);
    entry_log_free(&got);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--writer") == 0)
        return run_writer(argv[2], argv[3], argv[4]);
    if (argc != 4) {
        fprintf(stderr, "usage: %s <empty temp dir> <damaged copy> <entries>\n", argv[0]);
        return 2;
    }
    size_t fds = count_open_fds();
    test_missing_dir(argv[1]);
    test_beside_writer_in_process(argv[1]);
    test_beside_writer_process(argv[1], argv[0]);
    test_damaged(argv[2], (size_t)strtoull(argv[3], NULL, 10));
    CHECKF(count_open_fds() == fds, "%zu descriptors open, %zu at start", count_open_fds(),
           fds);
    printf("read_only: ok\n");
    return 0;
}
