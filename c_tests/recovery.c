/*
 * Recovery modes and wal_stats through the C API, on copies of the reference's WAL with
 * one flipped byte in the middle (corrupt-flip_middle).
 *
 * Usage: recovery <copy for FAIL then TRUNCATE> <copy for SALVAGE> <entries of the full log>
 */
#include "common.h"

static wal_options with_recovery(uint32_t recovery)
{
    wal_options opts;
    wal_options_init(&opts);
    opts.recovery = recovery;
    return opts;
}

/* The segment files' contents, concatenated with their names, to see any change. */
static void snapshot(const char *dir, struct buf *out)
{
    struct buf names = {0}, content = {0};
    list_segments(dir, &names);
    buf_clear(out);
    for (char *name = names.data, *nl; name && (nl = strchr(name, '\n')); name = nl + 1) {
        *nl = '\0'; /* list_segments gives one name per line */
        char path[TEST_PATH_MAX];
        path_join(path, dir, name);
        read_file(path, &content);
        buf_puts(out, name);
        buf_append(out, content.data, content.len);
    }
    buf_free(&names);
    buf_free(&content);
}

static wal_stats_t stats_of(wal_t *w)
{
    wal_stats_t st;
    memset(&st, 0xff, sizeof st);
    CHECK_OK(wal_stats(w, &st));
    return st;
}

static int stats_in_callback(void *ctx, const wal_sample *s, size_t n)
{
    (void)s, (void)n;
    wal_stats_t st;
    CHECK_ERR(wal_stats((wal_t *)ctx, &st), WAL_ERR_STATE);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <copy> <copy> <entries>\n", argv[0]);
        return 2;
    }
    const char *fail_dir = argv[1], *salvage_dir = argv[2];
    size_t full = (size_t)strtoull(argv[3], NULL, 10);
    struct entry_log got = {0};
    struct buf before = {0}, after = {0};
    wal_t *w = NULL;

    /* An unknown mode is refused. */
    wal_options bad = with_recovery(3);
    CHECK_ERR(wal_open(fail_dir, &bad, &w), WAL_ERR_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("recovery");

    /* FAIL: the damage is reported with segment and offset, and nothing changes. */
    snapshot(fail_dir, &before);
    wal_options fail = with_recovery(WAL_RECOVERY_FAIL);
    CHECK_OK(wal_open(fail_dir, &fail, &w));
    entry_log_clear(&got);
    CHECK_ERR(wal_read(w, collect_series, collect_samples, collect_deletes, &got),
              WAL_ERR_CORRUPTION);
    CHECK_LAST_ERROR_CONTAINS("000002");
    CHECK_LAST_ERROR_CONTAINS("offset");
    CHECKF(got.len > 0 && got.len < full, "%zu entries before the damage", got.len);
    wal_sample s = sample_bits(1, 1, f64_bits(1.0));
    CHECK_ERR(wal_log_samples(w, &s, 1), WAL_ERR_STATE); /* the read did not complete */
    CHECK_OK(wal_close(w));
    snapshot(fail_dir, &after);
    CHECK(before.len == after.len && memcmp(before.data, after.data, before.len) == 0);

    /* TRUNCATE on the same copy: the reference's repair, with what it dropped counted. */
    wal_options truncate = with_recovery(WAL_RECOVERY_TRUNCATE);
    CHECK_OK(wal_open(fail_dir, &truncate, &w));
    READ_ALL(w, &got);
    wal_stats_t st = stats_of(w);
    CHECK(st.corruptions == 1);
    CHECKF(st.dropped_entries == full - got.len, "%" PRIu64 " dropped, %zu kept of %zu",
           st.dropped_entries, got.len, full);
    CHECK(st.segments == 2);
    CHECK_OK(wal_close(w));

    /* SALVAGE: only the flipped entry is lost; later segments stay. */
    wal_options salvage = with_recovery(WAL_RECOVERY_SALVAGE);
    CHECK_OK(wal_open(salvage_dir, &salvage, &w));
    READ_ALL(w, &got);
    CHECKF(got.len == full - 1, "%zu of %zu entries", got.len, full);
    st = stats_of(w);
    CHECK(st.corruptions == 1 && st.dropped_entries == 1 && st.dropped_bytes > 0);
    CHECK(st.segments == 3);
    CHECK(st.entries_written == 0 && st.samples_written == 0);
    READ_ALL(w, &got); /* the damaged segment was rewritten: nothing more to repair */
    CHECK(got.len == full - 1 && stats_of(w).corruptions == 1);
    CHECK_OK(wal_read(w, NULL, stats_in_callback, NULL, w));
    CHECK_OK(wal_log_samples(w, &s, 1));
    st = stats_of(w);
    CHECK(st.entries_written == 1 && st.samples_written == 1 && st.segments == 4);
    CHECK_OK(wal_sync(w));
    st = stats_of(w);
    CHECK(st.fsyncs >= 1);
    CHECK(st.write_backlog_peak > 0 && st.write_backlog_peak <= st.bytes_written);
    CHECK_OK(wal_close(w));
    CHECK_OK(wal_open(salvage_dir, &salvage, &w));
    READ_ALL(w, &got);
    CHECK(got.len == full);
    CHECK_OK(wal_close(w));

    /* wal_stats arguments. */
    wal_stats_t out;
    CHECK_ERR(wal_stats(NULL, &out), WAL_ERR_INVALID_ARGUMENT);
    CHECK_OK(wal_open(salvage_dir, &salvage, &w));
    CHECK_ERR(wal_stats(w, NULL), WAL_ERR_INVALID_ARGUMENT);
    CHECK_OK(wal_close(w));

    entry_log_free(&got);
    buf_free(&before);
    buf_free(&after);
    printf("recovery: ok\n");
    return 0;
}
