/*
 * wal_truncate through the C API. Usage: truncate <empty temp dir>
 *
 * Truncation drops the leading segments (never the newest) whose samples and
 * tombstones are all older than mint, and rewrites their series, as far as keep() wants
 * them, into one segment that takes the place of the first. As timestamps only grow in
 * this log, what a full read returns afterwards must be:
 *
 *     [the kept series of the dropped entries, one entry per non-empty series entry]
 *     ++ [an untouched suffix of the entries before]
 *
 * and every dropped sample or tombstone is older than mint. check_truncation() finds
 * that suffix and checks the rest against this rule.
 */
#include "common.h"

enum { SERIES_PER_ROUND = 6, T0 = 1000 };
enum keep_mode { KEEP_ALL, KEEP_EVEN, KEEP_NONE };

static bool keeps(enum keep_mode mode, uint64_t ref)
{
    return mode == KEEP_ALL || (mode == KEEP_EVEN && ref % 2 == 0);
}

/* ctx of the keep callback: counts the calls and checks that refs are plausible. */
struct keep_ctx {
    enum keep_mode mode;
    uint64_t max_ref;
    size_t calls;
    size_t bad_refs;
};

static bool keep_cb(void *ctx, uint64_t ref)
{
    struct keep_ctx *k = ctx;
    k->calls++;
    if (ref == 0 || ref > k->max_ref) k->bad_refs++;
    return keeps(k->mode, ref);
}

static int64_t round_time(int r) { return T0 + (int64_t)r * 10; }

/*
 * Round r: one series entry for refs r*6+1 .. r*6+6 (odd and even refs, so a rewritten
 * entry never equals an original one), then their samples at times >= round_time(r),
 * and now and then a tombstone. Timestamps grow through the whole log.
 */
static void log_rounds(wal_t *w, struct entry_log *want, int first, int count)
{
    for (int r = first; r < first + count; r++) {
        char names[SERIES_PER_ROUND][24], round[16];
        wal_label labels[SERIES_PER_ROUND][2];
        wal_series series[SERIES_PER_ROUND];
        wal_sample samples[SERIES_PER_ROUND];
        snprintf(round, sizeof round, "%d", r);
        for (int i = 0; i < SERIES_PER_ROUND; i++) {
            uint64_t ref = (uint64_t)r * SERIES_PER_ROUND + (uint64_t)i + 1;
            snprintf(names[i], sizeof names[i], "m%" PRIu64, ref);
            labels[i][0] = (wal_label){"__name__", 8, names[i], strlen(names[i])};
            labels[i][1] = (wal_label){"round", 5, round, strlen(round)};
            series[i] = (wal_series){.ref = ref, .labels = labels[i], .labels_len = 2};
            samples[i] = sample_bits(ref, round_time(r) + i, f64_bits((double)ref));
        }
        LOG_SERIES(w, want, series, SERIES_PER_ROUND);
        LOG_SAMPLES(w, want, samples, SERIES_PER_ROUND);
        if (r % 8 == 7) {
            wal_tombstone d = {.ref = series[0].ref, .mint = 0, .maxt = round_time(r)};
            LOG_DELETES(w, want, &d, 1);
        }
    }
}

/* Name and bytes of the newest segment (the head, which truncation never touches). */
static void newest_segment(const char *dir, char *name, struct buf *bytes)
{
    struct buf list = {0};
    list_segments(dir, &list);
    CHECK(list.len > 0);
    list.data[list.len - 1] = '\0'; /* drop the last newline */
    const char *last = strrchr(list.data, '\n');
    last = last ? last + 1 : list.data;
    CHECK(strlen(last) < 32);
    strcpy(name, last);
    char path[TEST_PATH_MAX];
    read_file(path_join(path, dir, name), bytes);
    buf_free(&list);
}

static void first_segment(const char *dir, char *name)
{
    struct buf list = {0};
    list_segments(dir, &list);
    size_t n = strcspn(list.data, "\n");
    CHECK(n > 0 && n < 32);
    memcpy(name, list.data, n);
    name[n] = '\0';
    buf_free(&list);
}

/* Appends the series entry `e` filtered by `mode` to `log`, if anything is left. */
static void add_kept_series(struct entry_log *log, const struct entry *e, enum keep_mode mode)
{
    wal_series *kept = xmalloc(e->len * sizeof *kept);
    size_t n = 0;
    for (size_t i = 0; i < e->len; i++) {
        const struct owned_series *s = &e->series[i];
        if (!keeps(mode, s->ref)) continue;
        wal_label *labels = xmalloc(s->labels_len * sizeof *labels);
        for (size_t j = 0; j < s->labels_len; j++)
            labels[j] = (wal_label){s->labels[j].name, s->labels[j].name_len,
                                    s->labels[j].value, s->labels[j].value_len};
        kept[n++] = (wal_series){.ref = s->ref, .labels = labels, .labels_len = s->labels_len};
    }
    if (n > 0) entry_log_add_series(log, kept, n, false);
    for (size_t i = 0; i < n; i++) free((void *)kept[i].labels);
    free(kept);
}

/*
 * Checks `after` against `before` as the header comment describes. keep_calls is the
 * number of keep() calls, or SIZE_MAX if keep was NULL. Returns how many entries of
 * `before` were dropped.
 */
static size_t check_truncation(const struct entry_log *before, const struct entry_log *after,
                               int64_t mint, enum keep_mode mode, size_t keep_calls)
{
    struct buf why = {0};
    /* The longest common suffix is the untouched part. */
    size_t kept = 0;
    while (kept < before->len && kept < after->len &&
           entry_equal(&before->entries[before->len - 1 - kept],
                       &after->entries[after->len - 1 - kept], &why))
        kept++;
    buf_clear(&why);
    CHECKF(kept > 0, "the newest entries changed");
    size_t dropped = before->len - kept;

    struct entry_log want_prefix = {0}, got_prefix = {0};
    size_t dropped_series = 0;
    for (size_t i = 0; i < dropped; i++) {
        const struct entry *e = &before->entries[i];
        if (e->type == ENTRY_SERIES) {
            dropped_series += e->len;
            add_kept_series(&want_prefix, e, mode);
        }
        /* Only segments whose samples and tombstones all lie before mint go. */
        for (size_t j = 0; e->type == ENTRY_SAMPLES && j < e->len; j++)
            CHECKF(e->samples[j].t < mint, "a sample at t=%" PRId64 " >= mint %" PRId64
                   " was dropped", e->samples[j].t, mint);
        for (size_t j = 0; e->type == ENTRY_DELETES && j < e->len; j++)
            CHECKF(e->tombstones[j].maxt < mint, "a tombstone up to %" PRId64
                   " >= mint %" PRId64 " was dropped", e->tombstones[j].maxt, mint);
    }
    for (size_t i = 0; i < after->len - kept; i++)
        entry_log_add_entry(&got_prefix, &after->entries[i]);
    CHECK_LOGS_EQUAL(&want_prefix, &got_prefix);
    if (keep_calls != SIZE_MAX)
        CHECKF(keep_calls == dropped_series, "keep() was called %zu times for %zu series",
               keep_calls, dropped_series);
    entry_log_free(&want_prefix);
    entry_log_free(&got_prefix);
    buf_free(&why);
    return dropped;
}

/*
 * Truncates at mint with the given keep mode (keep == NULL for KEEP_ALL when use_null)
 * and checks the result. Returns the number of dropped entries; `model` becomes the
 * log after truncation.
 */
static size_t truncate_and_check(wal_t *w, const char *dir, struct entry_log *model,
                                 int64_t mint, enum keep_mode mode, bool use_null)
{
    struct entry_log after = {0};
    struct buf head_before = {0}, head_after = {0}, segs_before = {0};
    char head_name[32], head_name_after[32], first_before[32], first_after[32];
    READ_ALL(w, &after);
    CHECK_LOGS_EQUAL(model, &after);
    newest_segment(dir, head_name, &head_before);
    first_segment(dir, first_before);
    list_segments(dir, &segs_before);
    size_t n_before = count_segments(dir);

    struct keep_ctx k = {.mode = mode, .max_ref = UINT64_MAX / 2};
    if (use_null) {
        CHECK(mode == KEEP_ALL);
        CHECK_OK(wal_truncate(w, mint, NULL, NULL));
    } else {
        CHECK_OK(wal_truncate(w, mint, keep_cb, &k));
        CHECKF(k.bad_refs == 0, "keep() was asked about %zu unknown refs", k.bad_refs);
    }

    READ_ALL(w, &after);
    size_t dropped =
        check_truncation(model, &after, mint, mode, use_null ? SIZE_MAX : k.calls);

    newest_segment(dir, head_name_after, &head_after);
    CHECKF(strcmp(head_name, head_name_after) == 0, "newest segment %s became %s", head_name,
           head_name_after);
    CHECKF(head_before.len == head_after.len &&
               memcmp(head_before.data, head_after.data, head_before.len) == 0,
           "the newest segment %s changed", head_name);
    first_segment(dir, first_after);
    CHECKF(strcmp(first_before, first_after) == 0, "first segment %s became %s", first_before,
           first_after);
    if (dropped == 0) {
        struct buf segs_after = {0};
        list_segments(dir, &segs_after);
        CHECKF(strcmp(segs_before.data, segs_after.data) == 0, "segments changed:\n%s",
               segs_after.data);
        buf_free(&segs_after);
        if (!use_null) CHECK(k.calls == 0);
    } else {
        CHECKF(count_segments(dir) < n_before, "%zu segments before, %zu after", n_before,
               count_segments(dir));
    }

    printf("truncate: mint %" PRId64 ", keep %s: dropped %zu of %zu entries, %zu -> %zu "
           "segments\n",
           mint, use_null ? "NULL" : mode == KEEP_EVEN ? "even" : mode == KEEP_ALL ? "all" : "none",
           dropped, model->len, n_before, count_segments(dir));
    entry_log_clear(model);
    for (size_t i = 0; i < after.len; i++) entry_log_add_entry(model, &after.entries[i]);
    entry_log_free(&after);
    buf_free(&head_before);
    buf_free(&head_after);
    buf_free(&segs_before);
    return dropped;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty temp dir>\n", argv[0]);
        return 2;
    }
    enum { ROUNDS = 160 };
    char dir[TEST_PATH_MAX];
    path_join(dir, argv[1], "wal");
    wal_options opts = small_segments();
    struct entry_log model = {0}, got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    log_rounds(w, &model, 0, ROUNDS);
    size_t segments = count_segments(dir);
    CHECKF(segments >= 8, "only %zu segments", segments);

    /* Nothing is older than INT64_MIN or than the first sample (every segment holds
     * samples): nothing changes and keep() is not asked. */
    CHECK(truncate_and_check(w, dir, &model, INT64_MIN, KEEP_EVEN, false) == 0);
    CHECK(truncate_and_check(w, dir, &model, T0, KEEP_EVEN, false) == 0);
    CHECK(truncate_and_check(w, dir, &model, T0, KEEP_ALL, true) == 0);

    /* mint in the middle, keep even refs; then further with keep == NULL (keep all). */
    CHECK(truncate_and_check(w, dir, &model, round_time(ROUNDS / 2), KEEP_EVEN, false) > 0);
    CHECK(truncate_and_check(w, dir, &model, round_time(ROUNDS * 3 / 4), KEEP_ALL, true) > 0);
    /* Truncation leaves the log writable; new entries go after the rest. */
    log_rounds(w, &model, ROUNDS, 10);

    /* Close, reopen: the same log. A reopened handle learns the segments' times by
     * reading, so it can truncate again. */
    CHECK_OK(wal_close(w));
    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&model, &got);
    log_rounds(w, &model, ROUNDS + 10, 60);
    CHECK(truncate_and_check(w, dir, &model, round_time(ROUNDS + 40), KEEP_EVEN, false) > 0);

    /* INT64_MAX: every segment but the newest goes; keep nothing. */
    CHECK(truncate_and_check(w, dir, &model, INT64_MAX, KEEP_NONE, false) > 0);
    CHECKF(count_segments(dir) == 2, "%zu segments: the rewritten one and the newest",
           count_segments(dir));
    CHECK_OK(wal_close(w));

    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&model, &got);
    log_rounds(w, &model, ROUNDS + 70, 3);
    CHECK_REOPENS_TO(w, dir, &opts, &model, &got);

    entry_log_free(&model);
    entry_log_free(&got);
    printf("truncate: ok\n");
    return 0;
}
