/*
 * Every status code of the C API, each with its message: bad arguments, I/O errors,
 * directories that are not a usable SegmentWAL, the directory lock, writes before the
 * first read, aborted reads, calls from inside callbacks, undecodable data, and the
 * per-thread error message.
 *
 * Usage: errors <empty temp dir>
 *        errors --probe-lock <dir>   (child: exits with the status of wal_open on <dir>)
 */
#include "common.h"

#include <ctype.h>

/* A small log with entries of every type: series, samples, deletes, samples. */
static void write_small_log(const char *dir)
{
    wal_options opts = small_segments();
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    wal_label l[] = {LABEL("__name__", "x")};
    wal_series s = {.ref = 1, .labels = l, .labels_len = 1};
    wal_sample smp[] = {{1, 10, 1.0}, {1, 20, 2.0}};
    wal_tombstone d = {1, 0, 5};
    CHECK_OK(wal_log_series(w, &s, 1));
    CHECK_OK(wal_log_samples(w, smp, 2));
    CHECK_OK(wal_log_deletes(w, &d, 1));
    CHECK_OK(wal_log_samples(w, smp, 1));
    CHECK_OK(wal_close(w));
}

/* ---- status names and messages -------------------------------------------------- */

static void test_status_strings(void)
{
    const char *names[9];
    for (uint32_t s = 0; s < 9; s++) {
        names[s] = wal_status_str(s);
        CHECKF(names[s] != NULL && names[s][0] != '\0', "wal_status_str(%" PRIu32 ")", s);
        CHECKF(strcmp(names[s], "unknown status") != 0, "wal_status_str(%" PRIu32 ")", s);
        for (uint32_t t = 0; t < s; t++)
            CHECKF(strcmp(names[s], names[t]) != 0, "statuses %" PRIu32 " and %" PRIu32
                   " are both \"%s\"", t, s, names[s]);
    }
    /* WAL_ERR_PANIC cannot be caused from C (Rust unit tests cover it); it has a name. */
    CHECK(wal_status_str(WAL_ERR_PANIC) == names[7]);
    CHECK(wal_status_str(WAL_ERR_FORMAT) == names[8]);
    CHECK(strcmp(wal_status_str(9), "unknown status") == 0);
    CHECK(strcmp(wal_status_str(1000), "unknown status") == 0);
    CHECK(strcmp(wal_status_str(UINT32_MAX), "unknown status") == 0);
}

/* ---- NULL handle ---------------------------------------------------------------- */

static int never_called(void *ctx, const wal_sample *s, size_t n)
{
    (void)ctx, (void)s, (void)n;
    test_fail(__FILE__, __LINE__, "a callback ran for a NULL handle");
}

static void test_null_handle(void)
{
    wal_sample smp = {1, 1, 1.0};
    wal_tombstone del = {1, 1, 2};
    wal_label l[] = {LABEL("a", "b")};
    wal_series s = {1, l, 1};
    CHECK_ERR(wal_read(NULL, NULL, never_called, NULL, NULL), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_series(NULL, &s, 1), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_samples(NULL, &smp, 1), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_deletes(NULL, &del, 1), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_samples(NULL, NULL, 0), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_truncate(NULL, 0, NULL, NULL), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_sync(NULL), WAL_ERR_INVALID_ARGUMENT);
    CHECK_OK(wal_close(NULL)); /* a no-op */
}

/* ---- wal_open arguments and I/O errors -------------------------------------------- */

/* wal_open with `opts` is refused as an invalid argument naming `field`. */
static void check_refused(const char *dir, const wal_options *opts, const char *field)
{
    wal_t *w = not_null_handle();
    CHECK_ERR(wal_open(dir, opts, &w), WAL_ERR_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS(field);
    CHECK(w == NULL);
}

static void test_open_arguments(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "open-args");
    wal_t *w = not_null_handle();
    CHECK_ERR(wal_open(NULL, NULL, &w), WAL_ERR_INVALID_ARGUMENT);
    CHECK(w == NULL);
    CHECK_ERR(wal_open(dir, NULL, NULL), WAL_ERR_INVALID_ARGUMENT);

    /* segment_size must lie in [4096, 2^40]. */
    const uint64_t bad_sizes[] = {0, 1, 4095, (UINT64_C(1) << 40) + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        wal_options opts;
        wal_options_init(&opts);
        opts.segment_size = bad_sizes[i];
        w = not_null_handle();
        CHECK_ERR(wal_open(dir, &opts, &w), WAL_ERR_INVALID_ARGUMENT);
        CHECK(w == NULL);
    }
    /* sync must be one of the wal_sync_mode values. */
    const uint32_t bad_modes[] = {2, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        wal_options opts;
        wal_options_init(&opts);
        opts.sync = bad_modes[i];
        check_refused(dir, &opts, "sync");
    }
    {
        wal_options opts;
        wal_options_init(&opts);
        CHECK(opts.sync == WAL_SYNC_NONE);
        opts.sync = WAL_SYNC_ALWAYS;
        CHECK_OK(wal_open(dir, &opts, &w));
        CHECK_OK(wal_close(w));
    }
    /* sync_spin_us: WAL_SYNC_SPIN_AUTO (the default), 0, or 1 to WAL_MAX_SYNC_SPIN_US. */
    const uint32_t bad_spins[] = {WAL_MAX_SYNC_SPIN_US + 1, UINT32_MAX - 1};
    for (size_t i = 0; i < sizeof bad_spins / sizeof bad_spins[0]; i++) {
        wal_options opts;
        wal_options_init(&opts);
        opts.sync_spin_us = bad_spins[i];
        check_refused(dir, &opts, "sync_spin_us");
    }
    {
        wal_options opts;
        wal_options_init(&opts);
        CHECK(opts.sync_spin_us == WAL_SYNC_SPIN_AUTO);
        const uint32_t good_spins[] = {WAL_SYNC_SPIN_AUTO, 0, 1, WAL_MAX_SYNC_SPIN_US};
        for (size_t i = 0; i < sizeof good_spins / sizeof good_spins[0]; i++) {
            opts.sync_spin_us = good_spins[i];
            CHECK_OK(wal_open(dir, &opts, &w));
            CHECK_OK(wal_close(w));
        }
    }
    /* read_only and quarantine are 0 or 1; the defaults are read-write, with quarantine. */
    {
        wal_options opts;
        memset(&opts, 0xff, sizeof opts);
        wal_options_init(&opts);
        CHECK(opts.read_only == 0 && opts.quarantine == 1);
        const uint32_t bad_flags[] = {2, 1000, UINT32_MAX};
        for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
            wal_options_init(&opts);
            opts.read_only = bad_flags[i];
            check_refused(dir, &opts, "read_only");
            wal_options_init(&opts);
            opts.quarantine = bad_flags[i];
            check_refused(dir, &opts, "quarantine");
        }
    }
    const uint64_t good_sizes[] = {4096, UINT64_C(1) << 40};
    for (size_t i = 0; i < 2; i++) {
        wal_options opts;
        wal_options_init(&opts);
        opts.segment_size = good_sizes[i];
        CHECK_OK(wal_open(dir, &opts, &w));
        CHECK(w != NULL);
        CHECK_OK(wal_close(w));
    }
}

/* wal_options carries its size, so that a library newer than the caller's header gives
 * the fields the caller lacks their defaults, and one older refuses a struct it does not
 * know; options not filled by wal_options_init are refused. */
static void test_options_size_and_version(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "options-size");
    wal_options opts;
    memset(&opts, 0xff, sizeof opts);
    wal_options_init(&opts);
    CHECK(opts.size == sizeof(wal_options));

    /* Not filled by wal_options_init: no size. */
    memset(&opts, 0, sizeof opts);
    opts.segment_size = 1 << 20;
    check_refused(dir, &opts, "wal_options_init");

    /* A struct from a newer header: larger, with fields this library does not know. */
    struct {
        wal_options known;
        uint64_t newer_fields[4];
    } newer;
    memset(&newer, 0, sizeof newer);
    wal_options_init_sized(&newer.known, sizeof newer);
    CHECK(newer.known.size == sizeof newer && newer.known.segment_size == 256u << 20);
    wal_t *w = not_null_handle();
    CHECK_ERR(wal_open(dir, &newer.known, &w), WAL_ERR_INVALID_ARGUMENT);
    CHECK(w == NULL);
    CHECK_LAST_ERROR_CONTAINS("newer tswal header");

    /* The version macros are the library's version. */
    char version[64];
    snprintf(version, sizeof version, "%d.%d.%d", TSWAL_VERSION_MAJOR, TSWAL_VERSION_MINOR,
             TSWAL_VERSION_PATCH);
    CHECK(strcmp(version, TSWAL_VERSION) == 0);
    CHECKF(strcmp(wal_version(), TSWAL_VERSION) == 0, "wal_version() %s, header %s",
           wal_version(), TSWAL_VERSION);
}

static void test_open_io_errors(const char *root)
{
    char file[TEST_PATH_MAX], under[TEST_PATH_MAX];
    path_join(file, root, "regular-file");
    write_file(file, "not a directory", 15);
    wal_t *w = not_null_handle();
    CHECK_ERR(wal_open(file, NULL, &w), WAL_ERR_IO);
    CHECK(w == NULL);
    CHECK_LAST_ERROR_CONTAINS(file);

    path_join(under, file, "wal");
    w = not_null_handle();
    CHECK_ERR(wal_open(under, NULL, &w), WAL_ERR_IO);
    CHECK(w == NULL);
    CHECK_LAST_ERROR_CONTAINS(under);
}

/* ---- directories that are not a usable SegmentWAL -------------------------------- */

/* Whether `haystack` contains `needle`, ignoring ASCII case. */
static bool contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

/* Numbered files holding text: segment names, but no SegmentWAL header anywhere. */
static void make_numbered_text_files(const char *dir)
{
    char path[TEST_PATH_MAX];
    make_dir(dir);
    const char *one = "first line of some notes\n", *two = "more notes\n";
    write_file(path_join(path, dir, "1"), one, strlen(one));
    write_file(path_join(path, dir, "2"), two, strlen(two));
}

/* A valid WAL, and a directory with a segment name after its segments. */
static void make_wal_with_segment_dir(const char *dir)
{
    char sub[TEST_PATH_MAX], path[TEST_PATH_MAX];
    write_small_log(dir);
    make_dir(path_join(sub, dir, "000009"));
    const char *text = "a file in the directory\n";
    write_file(path_join(path, sub, "inside"), text, strlen(text));
}

/* A valid WAL whose first segment has a second name: 000001 and 01. */
static void make_wal_with_two_names_for_one_segment(const char *dir)
{
    char first[TEST_PATH_MAX], other[TEST_PATH_MAX];
    write_small_log(dir);
    struct buf bytes = {0};
    read_file(path_join(first, dir, "000001"), &bytes);
    write_file(path_join(other, dir, "01"), bytes.data, bytes.len);
    buf_free(&bytes);
}

static const struct {
    const char *name;
    void (*make)(const char *dir);
    const char *culprit; /* what the message must name, besides the directory */
} format_cases[] = {
    {"numbered-text-files", make_numbered_text_files, "SegmentWAL"},
    {"segment-named-dir", make_wal_with_segment_dir, "segment-named-dir/000009"},
    {"two-names-for-one-segment", make_wal_with_two_names_for_one_segment, "000001"},
};

/*
 * Each case is refused with WAL_ERR_FORMAT in every recovery mode, read-write and
 * read-only, naming the path and saying that nothing was changed, and nothing is.
 */
static void test_not_a_segment_wal(const char *root)
{
    const uint32_t modes[] = {WAL_RECOVERY_TRUNCATE, WAL_RECOVERY_SALVAGE, WAL_RECOVERY_FAIL};
    for (size_t c = 0; c < sizeof format_cases / sizeof format_cases[0]; c++) {
        char dir[TEST_PATH_MAX];
        path_join(dir, root, format_cases[c].name);
        format_cases[c].make(dir);
        struct dir_snapshot before = {0};
        snapshot_dir(dir, &before);
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            for (uint32_t read_only = 0; read_only <= 1; read_only++) {
                wal_options opts;
                wal_options_init(&opts);
                opts.recovery = modes[m];
                opts.read_only = read_only;
                wal_t *w = not_null_handle();
                wal_status st = wal_open(dir, &opts, &w);
                const char *msg = wal_last_error();
                CHECKF(st == WAL_ERR_FORMAT && w == NULL,
                       "%s, recovery %" PRIu32 ", read_only %" PRIu32 ": %s (\"%s\"), handle %p",
                       format_cases[c].name, modes[m], read_only, status_name(st), msg,
                       (void *)w);
                CHECK_LAST_ERROR_CONTAINS(dir);
                CHECK_LAST_ERROR_CONTAINS(format_cases[c].culprit);
                CHECKF(contains_nocase(msg, "nothing was changed"),
                       "the message does not say that nothing was changed: \"%s\"", msg);
                CHECK_UNCHANGED(dir, &before);
            }
        }
        dir_snapshot_free(&before);
    }
}

/* ---- the directory lock ----------------------------------------------------------- */

/* Child process of test_lock: exits with the status wal_open gives. */
static int probe_lock(const char *dir)
{
    wal_t *w = NULL;
    wal_status st = wal_open(dir, NULL, &w);
    if (st == WAL_OK) CHECK_OK(wal_close(w));
    return (int)st;
}

static void test_lock(const char *root, const char *argv0)
{
    char dir[TEST_PATH_MAX], same_dir[TEST_PATH_MAX];
    path_join(dir, root, "locked");
    path_join(same_dir, dir, "."); /* another path to the same directory */
    const char *probe[] = {"--probe-lock", dir, NULL};

    wal_t *w = NULL, *w2 = not_null_handle();
    CHECK_OK(wal_open(dir, NULL, &w));
    CHECK_ERR(wal_open(dir, NULL, &w2), WAL_ERR_LOCKED);
    CHECK(w2 == NULL);
    w2 = not_null_handle();
    CHECK_ERR(wal_open(same_dir, NULL, &w2), WAL_ERR_LOCKED);
    CHECK(w2 == NULL);
    int rc = run_self(argv0, probe);
    CHECKF(rc == WAL_ERR_LOCKED, "wal_open in another process gave %d", rc);

    /* The first handle still works while others were refused. */
    wal_sample smp = {1, 1, 1.0};
    CHECK_OK(wal_log_samples(w, &smp, 1));
    CHECK_OK(wal_close(w));

    /* Closing releases the lock: for this process and for others. */
    CHECK_OK(wal_open(dir, NULL, &w2));
    CHECK(w2 != NULL);
    CHECK_OK(wal_close(w2));
    rc = run_self(argv0, probe);
    CHECKF(rc == WAL_OK, "wal_open in another process gave %d after close", rc);
}

/* ---- bad arrays ------------------------------------------------------------------- */

static void test_bad_arrays(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "bad-arrays");
    wal_options opts = small_segments();
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));

    CHECK_ERR(wal_log_series(w, NULL, 1), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_samples(w, NULL, 2), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_deletes(w, NULL, 3), WAL_ERR_INVALID_ARGUMENT);

    wal_label good[] = {LABEL("a", "b")};
    wal_label null_name[] = {{NULL, 3, "v", 1}};
    wal_label null_value[] = {{"n", 1, NULL, 1}};
    wal_series bad_labels = {.ref = 1, .labels = NULL, .labels_len = 2};
    wal_series bad_name = {.ref = 2, .labels = null_name, .labels_len = 1};
    wal_series bad_value = {.ref = 3, .labels = null_value, .labels_len = 1};
    CHECK_ERR(wal_log_series(w, &bad_labels, 1), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_series(w, &bad_name, 1), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_log_series(w, &bad_value, 1), WAL_ERR_INVALID_ARGUMENT);
    /* A bad series anywhere in the batch refuses the whole entry. */
    wal_series mixed[] = {{.ref = 4, .labels = good, .labels_len = 1}, bad_name};
    CHECK_ERR(wal_log_series(w, mixed, 2), WAL_ERR_INVALID_ARGUMENT);

    /* Length 0 with NULL is fine everywhere, and writes nothing. */
    CHECK_OK(wal_log_series(w, NULL, 0));
    CHECK_OK(wal_log_samples(w, NULL, 0));
    CHECK_OK(wal_log_deletes(w, NULL, 0));
    struct entry_log want = {0}, got = {0};
    wal_label empty[] = {{NULL, 0, NULL, 0}};
    wal_series ok[] = {
        {.ref = 5, .labels = NULL, .labels_len = 0},
        {.ref = 6, .labels = empty, .labels_len = 1},
    };
    LOG_SERIES(w, &want, ok, 2);

    /* Only the valid entry was logged. */
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_REOPENS_TO(w, dir, &opts, &want, &got);
    entry_log_free(&want);
    entry_log_free(&got);
}

/* ---- writes before the first read, aborted reads ---------------------------------- */

static void check_writes_refused(wal_t *w)
{
    wal_label l[] = {LABEL("a", "b")};
    wal_series s = {1, l, 1};
    wal_sample smp = {1, 100, 1.0};
    wal_tombstone d = {1, 0, 1};
    CHECK_ERR(wal_log_series(w, &s, 1), WAL_ERR_STATE);
    CHECK_ERR(wal_log_samples(w, &smp, 1), WAL_ERR_STATE);
    CHECK_ERR(wal_log_deletes(w, &d, 1), WAL_ERR_STATE);
    CHECK_ERR(wal_truncate(w, 1000, NULL, NULL), WAL_ERR_STATE);
}

static void check_writes_allowed(wal_t *w)
{
    wal_sample smp = {1, 100, 1.0};
    CHECK_OK(wal_log_samples(w, &smp, 1));
    CHECK_OK(wal_truncate(w, 0, NULL, NULL));
}

static void test_write_before_read(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "write-before-read");
    write_small_log(dir);
    wal_options opts = small_segments();
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    check_writes_refused(w);
    /* NULL callbacks skip delivery; the read still completes. */
    CHECK_OK(wal_read(w, NULL, NULL, NULL, NULL));
    check_writes_allowed(w);
    CHECK_OK(wal_close(w));
}

/* Stops the read at the `stop_at`-th call of the callback of type `stop_type`. */
struct abort_ctx {
    int stop_type;
    int stop_at;
    int calls[5];   /* by entry type */
    bool stopped;
    int after_stop; /* calls after the stop: must stay 0 */
};

static int abort_on(struct abort_ctx *a, int type)
{
    if (a->stopped) {
        a->after_stop++;
        return 1;
    }
    a->calls[type]++;
    if (type == a->stop_type && a->calls[type] == a->stop_at) {
        a->stopped = true;
        return 7; /* any non-zero value stops the read */
    }
    return 0;
}

static int abort_series(void *ctx, const wal_series *s, size_t n)
{
    (void)s, (void)n;
    return abort_on(ctx, ENTRY_SERIES);
}

static int abort_samples(void *ctx, const wal_sample *s, size_t n)
{
    (void)s, (void)n;
    return abort_on(ctx, ENTRY_SAMPLES);
}

static int abort_deletes(void *ctx, const wal_tombstone *t, size_t n)
{
    (void)t, (void)n;
    return abort_on(ctx, ENTRY_DELETES);
}

static void test_abort(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "abort");
    write_small_log(dir); /* series, samples, deletes, samples */
    wal_options opts = small_segments();
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));

    /* Stop at the first samples entry: the series entry came before, nothing after. */
    struct abort_ctx a = {.stop_type = ENTRY_SAMPLES, .stop_at = 1};
    CHECK_ERR(wal_read(w, abort_series, abort_samples, abort_deletes, &a), WAL_ERR_ABORTED);
    CHECK(a.calls[ENTRY_SERIES] == 1 && a.calls[ENTRY_SAMPLES] == 1);
    CHECK(a.calls[ENTRY_DELETES] == 0 && a.after_stop == 0);
    /* An aborted first read does not count: writes are still refused. */
    check_writes_refused(w);

    a = (struct abort_ctx){.stop_type = ENTRY_SERIES, .stop_at = 1};
    CHECK_ERR(wal_read(w, abort_series, abort_samples, abort_deletes, &a), WAL_ERR_ABORTED);
    CHECK(a.calls[ENTRY_SERIES] == 1 && a.calls[ENTRY_SAMPLES] == 0 && a.after_stop == 0);

    a = (struct abort_ctx){.stop_type = ENTRY_DELETES, .stop_at = 1};
    CHECK_ERR(wal_read(w, abort_series, abort_samples, abort_deletes, &a), WAL_ERR_ABORTED);
    CHECK(a.calls[ENTRY_SAMPLES] == 1 && a.calls[ENTRY_DELETES] == 1 && a.after_stop == 0);

    /* Stop at the last entry: everything was delivered, but the read still failed. */
    a = (struct abort_ctx){.stop_type = ENTRY_SAMPLES, .stop_at = 2};
    CHECK_ERR(wal_read(w, abort_series, abort_samples, abort_deletes, &a), WAL_ERR_ABORTED);
    check_writes_refused(w);

    /* A completed read makes the handle writable; it delivers everything again. */
    struct entry_log got = {0};
    READ_ALL(w, &got);
    CHECK(got.len == 4);
    check_writes_allowed(w);
    CHECK_OK(wal_close(w));
    entry_log_free(&got);
}

/* ---- calls from inside callbacks -------------------------------------------------- */

struct reentry_ctx {
    wal_t *w;     /* the handle being read or truncated */
    wal_t *other; /* an unrelated handle: calls into it are fine */
    int callbacks;
    int tried;
};

/* Every call into the same handle from one of its callbacks fails with WAL_ERR_STATE. */
static void call_into_same_handle(struct reentry_ctx *r)
{
    wal_label l[] = {LABEL("a", "b")};
    wal_series s = {99, l, 1};
    wal_sample smp = {99, 5, 5.0};
    wal_tombstone d = {99, 0, 1};
    struct entry_log ignored = {0};
    CHECK_ERR(wal_log_series(r->w, &s, 1), WAL_ERR_STATE);
    CHECK_ERR(wal_log_samples(r->w, &smp, 1), WAL_ERR_STATE);
    CHECK_ERR(wal_log_deletes(r->w, &d, 1), WAL_ERR_STATE);
    CHECK_ERR(wal_sync(r->w), WAL_ERR_STATE);
    CHECK_ERR(wal_truncate(r->w, INT64_MAX, NULL, NULL), WAL_ERR_STATE);
    CHECK_ERR(wal_read(r->w, collect_series, collect_samples, collect_deletes, &ignored),
              WAL_ERR_STATE);
    CHECK(ignored.len == 0);
    CHECK_ERR(wal_close(r->w), WAL_ERR_STATE); /* and the handle is not freed */
    /* Another handle may be used, e.g. to copy entries from one WAL into another. */
    CHECK_OK(wal_log_samples(r->other, &smp, 1));
    r->tried++;
}

static int reenter_on_samples(void *ctx, const wal_sample *s, size_t n)
{
    (void)s, (void)n;
    struct reentry_ctx *r = ctx;
    r->callbacks++;
    if (r->tried == 0) call_into_same_handle(r);
    return 0;
}

static int count_series(void *ctx, const wal_series *s, size_t n)
{
    (void)s, (void)n;
    ((struct reentry_ctx *)ctx)->callbacks++;
    return 0;
}

static bool reenter_on_keep(void *ctx, uint64_t ref)
{
    (void)ref;
    struct reentry_ctx *r = ctx;
    r->callbacks++;
    if (r->tried == 0) call_into_same_handle(r);
    return true;
}

static void test_calls_from_callbacks(const char *root)
{
    char dir[TEST_PATH_MAX], other_dir[TEST_PATH_MAX];
    path_join(dir, root, "reentry");
    path_join(other_dir, root, "reentry-other");
    wal_options opts = small_segments();
    struct entry_log want = {0}, got = {0};
    wal_t *w = NULL, *other = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    CHECK_OK(wal_open(other_dir, &opts, &other));

    /* Series and samples over several segments, timestamps growing. */
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        wal_label l[] = {{"__name__", 8, name, strlen(name)}, LABEL("job", "reentry")};
        wal_series s = {.ref = (uint64_t)i, .labels = l, .labels_len = 2};
        wal_sample smp[4];
        for (int k = 0; k < 4; k++) smp[k] = (wal_sample){(uint64_t)i, i * 10 + k, k};
        LOG_SERIES(w, &want, &s, 1);
        LOG_SAMPLES(w, &want, smp, 4);
    }
    CHECK(count_segments(dir) >= 3);

    /* From inside a read callback: refused, and the read goes on to the end. */
    struct reentry_ctx r = {.w = w, .other = other};
    CHECK_OK(wal_read(w, count_series, reenter_on_samples, NULL, &r));
    CHECK(r.tried == 1);
    CHECKF(r.callbacks == 200, "%d callbacks for 200 entries", r.callbacks);

    /* From inside the keep callback of a truncation: refused, and it completes. */
    r = (struct reentry_ctx){.w = w, .other = other};
    CHECK_OK(wal_truncate(w, 500, reenter_on_keep, &r));
    CHECK(r.tried == 1 && r.callbacks > 1);

    /* The handle is intact: it logs, reads and closes. */
    struct entry_log after = {0};
    READ_ALL(w, &after);
    wal_sample smp = {1000, 1000, 1.0};
    LOG_SAMPLES(w, &after, &smp, 1);
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&after, &got);
    CHECK_OK(wal_close(w));

    /* The other handle got the two samples logged from inside the callbacks. */
    READ_ALL(other, &got);
    CHECK(got.len == 2);
    CHECK_OK(wal_close(other));
    entry_log_free(&want);
    entry_log_free(&after);
    entry_log_free(&got);
}

/* ---- corrupt data the read does not repair ---------------------------------------- */

/* CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, as the format uses. */
static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static size_t put_be(unsigned char *out, uint64_t x, int bytes)
{
    for (int i = 0; i < bytes; i++) out[i] = (unsigned char)(x >> (8 * (bytes - 1 - i)));
    return (size_t)bytes;
}

/* Appends one entry: type, flag 1, big-endian length, body, big-endian CRC-32C. */
static size_t put_entry(unsigned char *out, int type, const unsigned char *body, size_t len)
{
    size_t n = 0;
    out[n++] = (unsigned char)type;
    out[n++] = 1;
    n += put_be(out + n, len, 4);
    memcpy(out + n, body, len);
    n += len;
    n += put_be(out + n, crc32c(out, n), 4);
    return n;
}

static void test_corruption(const char *root)
{
    CHECK(crc32c((const unsigned char *)"123456789", 9) == 0xE3069283u); /* check value */

    char dir[TEST_PATH_MAX], seg[TEST_PATH_MAX];
    path_join(dir, root, "corrupt");
    make_dir(dir);
    path_join(seg, dir, "000001");

    unsigned char file[256];
    size_t n = 0;
    const unsigned char header[8] = {0x43, 0xAF, 0x00, 0xEF, 0x01, 0, 0, 0};
    memcpy(file, header, 8);
    n += 8;
    /* A good samples entry: base ref 7, base t 100, one sample (deltas 0, 0) of 2.5. */
    unsigned char good[26];
    size_t g = 0;
    g += put_be(good + g, 7, 8);
    g += put_be(good + g, 100, 8);
    good[g++] = 0; /* dref varint */
    good[g++] = 0; /* dt varint */
    g += put_be(good + g, f64_bits(2.5), 8);
    CHECK(g == sizeof good);
    n += put_entry(file + n, ENTRY_SAMPLES, good, g);
    /* A samples entry whose checksum matches but whose 5-byte body has no base. */
    size_t bad_offset = n;
    const unsigned char bad[5] = {1, 2, 3, 4, 5};
    n += put_entry(file + n, ENTRY_SAMPLES, bad, sizeof bad);
    write_file(seg, file, n);

    wal_options opts = small_segments();
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    struct entry_log got = {0};
    CHECK_ERR(wal_read(w, collect_series, collect_samples, collect_deletes, &got),
              WAL_ERR_CORRUPTION);
    char offset[32];
    snprintf(offset, sizeof offset, "%zu", bad_offset);
    CHECK_LAST_ERROR_CONTAINS("000001");
    CHECK_LAST_ERROR_CONTAINS("offset");
    CHECK_LAST_ERROR_CONTAINS(offset);
    /* The good entry before it was delivered. */
    CHECK(got.len == 1 && got.entries[0].len == 1);
    CHECK(got.entries[0].samples[0].ref == 7 && got.entries[0].samples[0].t == 100);
    CHECK(got.entries[0].samples[0].v == 2.5);

    /* Not repaired: the file is as it was, and the read never completed. */
    struct buf now = {0};
    read_file(seg, &now);
    CHECK(now.len == n && memcmp(now.data, file, n) == 0);
    check_writes_refused(w);
    entry_log_clear(&got);
    CHECK_ERR(wal_read(w, collect_series, collect_samples, collect_deletes, &got),
              WAL_ERR_CORRUPTION);
    CHECK_OK(wal_close(w));
    buf_free(&now);
    entry_log_free(&got);
}

/* ---- the error message is per thread ----------------------------------------------- */

/* A new thread has no message; its failure does not change the main thread's. */
static void *other_thread(void *arg)
{
    const char *main_message = arg;
    const char *msg = wal_last_error();
    CHECKF(msg != NULL && msg[0] == '\0', "a new thread sees \"%s\"", msg ? msg : "(NULL)");
    CHECK_ERR(wal_log_samples(NULL, NULL, 0), WAL_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(wal_last_error(), main_message) != 0);
    return NULL;
}

static void test_thread_local_message(const char *root)
{
    char file[TEST_PATH_MAX];
    path_join(file, root, "regular-file");
    wal_t *w = NULL;
    CHECK_ERR(wal_open(file, NULL, &w), WAL_ERR_IO);
    char *mine = strdup(wal_last_error());
    CHECK(mine != NULL);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, other_thread, mine) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECKF(strcmp(wal_last_error(), mine) == 0, "another thread's failure changed \"%s\"",
           mine);
    free(mine);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--probe-lock") == 0) return probe_lock(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty temp dir>\n", argv[0]);
        return 2;
    }
    size_t fds = count_open_fds();
    /* Before any failure the message is empty, never NULL. */
    CHECK(wal_last_error() != NULL && wal_last_error()[0] == '\0');

    test_status_strings();
    test_null_handle();
    test_open_arguments(argv[1]);
    test_options_size_and_version(argv[1]);
    test_open_io_errors(argv[1]);
    test_not_a_segment_wal(argv[1]);
    test_lock(argv[1], argv[0]);
    test_bad_arrays(argv[1]);
    test_write_before_read(argv[1]);
    test_abort(argv[1]);
    test_calls_from_callbacks(argv[1]);
    test_corruption(argv[1]);
    test_thread_local_message(argv[1]);

    CHECK(wal_last_error() != NULL);
    /* Failed opens and closed handles leave no descriptor behind. */
    CHECKF(count_open_fds() == fds, "%zu descriptors open, %zu at start", count_open_fds(),
           fds);
    printf("errors: ok\n");
    return 0;
}
