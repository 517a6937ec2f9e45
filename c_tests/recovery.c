/*
 * Recovery modes, quarantine and wal_stats through the C API, on copies of the
 * reference's WAL with one flipped byte in the middle of segment 000002
 * (corrupt-flip_middle: segments 000001 to 000003).
 *
 * Usage: recovery <copy for FAIL then TRUNCATE> <copy for SALVAGE>
 *                 <copy for TRUNCATE without quarantine> <entries of the full log>
 */
#include "common.h"

static wal_options with_recovery(uint32_t recovery)
{
    wal_options opts;
    wal_options_init(&opts);
    opts.recovery = recovery;
    return opts;
}

/* The bytes of file `name` in `dir` (into `out`). */
static void read_in(const char *dir, const char *name, struct buf *out)
{
    char path[TEST_PATH_MAX];
    read_file(path_join(path, dir, name), out);
}

/*
 * The quarantine of `dir` after one repair: a single folder (its path goes to `folder`)
 * with a completed note.txt and segment `moved`, whose bytes are `original`.
 */
static void check_quarantined(const char *dir, const char *moved, const struct buf *original,
                              char *folder)
{
    char root[TEST_PATH_MAX];
    path_join(root, dir, "quarantine");
    CHECKF(is_dir(root), "%s is missing after a repair with quarantine", root);
    size_t n;
    char **folders = list_dir(root, &n);
    CHECKF(n == 1, "%zu entries in %s, expected the folder of one repair", n, root);
    path_join(folder, root, folders[0]);
    free_names(folders, n);
    CHECKF(is_dir(folder), "%s is not a folder", folder);

    struct buf bytes = {0};
    read_in(folder, "note.txt", &bytes);
    CHECKF(strstr(bytes.data, "\ncompleted ") != NULL, "the note in %s is not completed:\n%s",
           folder, bytes.data);
    read_in(folder, moved, &bytes);
    CHECKF(bufs_equal(&bytes, original), "%s/%s: %zu bytes, not the %zu of the segment taken out",
           folder, moved, bytes.len, original->len);
    buf_free(&bytes);
}

/*
 * Segment `name` of `dir` was cut at the damage: the part left in the log and the tail
 * `<name>.from-<offset>` in `folder` are together its `original` bytes (trailing zeros
 * aside, which the tail leaves out).
 */
static void check_cut(const char *dir, const char *folder, const char *name,
                      const struct buf *original)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.from-", name);
    size_t n, from = 0;
    char **names = list_dir(folder, &n);
    struct buf kept = {0}, tail = {0};
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        if (strncmp(names[i], prefix, strlen(prefix)) != 0) continue;
        found = true;
        from = (size_t)strtoull(names[i] + strlen(prefix), NULL, 10);
        read_in(folder, names[i], &tail);
    }
    free_names(names, n);
    CHECKF(found, "no %s<offset> in %s", prefix, folder);
    read_in(dir, name, &kept);
    CHECKF(kept.len == from, "%s keeps %zu bytes, its tail starts at %zu", name, kept.len, from);
    CHECKF(from + tail.len <= original->len, "%zu + %zu bytes of %zu", from, tail.len,
           original->len);
    CHECK(memcmp(kept.data, original->data, from) == 0);
    CHECK(memcmp(tail.data, original->data + from, tail.len) == 0);
    for (size_t i = from + tail.len; i < original->len; i++) CHECK(original->data[i] == 0);
    buf_free(&kept);
    buf_free(&tail);
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
    if (argc != 5) {
        fprintf(stderr, "usage: %s <copy> <copy> <copy> <entries>\n", argv[0]);
        return 2;
    }
    const char *fail_dir = argv[1], *salvage_dir = argv[2], *plain_dir = argv[3];
    size_t full = (size_t)strtoull(argv[4], NULL, 10);
    struct entry_log got = {0}, truncated = {0};
    struct dir_snapshot before = {0};
    struct buf seg2 = {0}, seg3 = {0}, cut_kept = {0}, cut_plain = {0};
    char folder[TEST_PATH_MAX], path[TEST_PATH_MAX];
    wal_t *w = NULL;
    read_in(fail_dir, "000002", &seg2);
    read_in(fail_dir, "000003", &seg3);

    /* An unknown mode is refused. */
    wal_options bad = with_recovery(3);
    CHECK_ERR(wal_open(fail_dir, &bad, &w), WAL_ERR_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("recovery");

    /* FAIL: the damage is reported with segment and offset, and nothing changes. */
    snapshot_dir(fail_dir, &before);
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
    CHECK_UNCHANGED(fail_dir, &before);

    /* TRUNCATE on the same copy: the reference's repair, with what it dropped counted,
     * and kept in quarantine: the segment after the damage, and the cut-off tail. */
    wal_options truncate = with_recovery(WAL_RECOVERY_TRUNCATE);
    CHECK_OK(wal_open(fail_dir, &truncate, &w));
    READ_ALL(w, &truncated);
    wal_stats_t st = STATS(w);
    CHECK(st.corruptions == 1);
    CHECKF(st.dropped_entries == full - truncated.len, "%" PRIu64 " dropped, %zu kept of %zu",
           st.dropped_entries, truncated.len, full);
    CHECK(st.segments == 2);
    CHECKF(st.quarantined_segments >= 1 && st.quarantined_bytes > 0,
           "quarantined %" PRIu64 " segments, %" PRIu64 " bytes", st.quarantined_segments,
           st.quarantined_bytes);
    CHECK_OK(wal_close(w));
    CHECK(count_segments(fail_dir) == 2);
    check_quarantined(fail_dir, "000003", &seg3, folder);
    check_cut(fail_dir, folder, "000002", &seg2);

    /* The same repair without quarantine: the same entries, and it deletes instead. */
    wal_options plain = with_recovery(WAL_RECOVERY_TRUNCATE);
    plain.quarantine = 0;
    CHECK_OK(wal_open(plain_dir, &plain, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&truncated, &got);
    st = STATS(w);
    CHECK(st.corruptions == 1 && st.dropped_entries == full - got.len && st.segments == 2);
    CHECKF(st.quarantined_segments == 0 && st.quarantined_bytes == 0,
           "quarantined %" PRIu64 " segments, %" PRIu64 " bytes without quarantine",
           st.quarantined_segments, st.quarantined_bytes);
    CHECK_OK(wal_close(w));
    CHECKF(!file_exists(path_join(path, plain_dir, "quarantine")), "%s exists", path);
    CHECK(count_segments(plain_dir) == 2);
    read_in(fail_dir, "000002", &cut_kept);
    read_in(plain_dir, "000002", &cut_plain);
    CHECK(bufs_equal(&cut_kept, &cut_plain)); /* cut at the same offset */

    /* SALVAGE: only the flipped entry is lost; later segments stay. The damaged
     * segment is rewritten and its original kept in quarantine. */
    wal_options salvage = with_recovery(WAL_RECOVERY_SALVAGE);
    CHECK_OK(wal_open(salvage_dir, &salvage, &w));
    READ_ALL(w, &got);
    CHECKF(got.len == full - 1, "%zu of %zu entries", got.len, full);
    st = STATS(w);
    CHECK(st.corruptions == 1 && st.dropped_entries == 1 && st.dropped_bytes > 0);
    CHECK(st.segments == 3);
    CHECK(st.entries_written == 0 && st.samples_written == 0);
    CHECK(st.quarantined_segments == 1 && st.quarantined_bytes >= seg2.len);
    check_quarantined(salvage_dir, "000002", &seg2, folder);
    READ_ALL(w, &got); /* the damaged segment was rewritten: nothing more to repair */
    CHECK(got.len == full - 1 && STATS(w).corruptions == 1);
    CHECK_OK(wal_read(w, NULL, stats_in_callback, NULL, w));
    CHECK_OK(wal_log_samples(w, &s, 1));
    st = STATS(w);
    CHECK(st.entries_written == 1 && st.samples_written == 1 && st.segments == 4);
    CHECK_OK(wal_sync(w));
    st = STATS(w);
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
    entry_log_free(&truncated);
    dir_snapshot_free(&before);
    buf_free(&seg2);
    buf_free(&seg3);
    buf_free(&cut_kept);
    buf_free(&cut_plain);
    printf("recovery: ok\n");
    return 0;
}
