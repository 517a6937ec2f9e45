/*
 * Round trip through the C API: what is logged is read back exactly, in order, after
 * closing and reopening, across many segments, with the default options and with
 * small segments. Usage: roundtrip <empty temp dir>
 *
 * Also linked against libtswal.so by tests/c_api.rs to prove the shared library works.
 */
#include "common.h"

/* Default options: 256 MiB segments, no background flush (tswal.h). */
#define DEFAULT_SEGMENT_SIZE (UINT64_C(256) << 20)

static void check_version_and_options(void)
{
    const char *v = wal_version();
    CHECK(v != NULL);
    CHECKF(v[0] >= '0' && v[0] <= '9' && strchr(v, '.') != NULL,
           "wal_version() = \"%s\" does not look like a version", v);

    wal_options opts;
    memset(&opts, 0xAB, sizeof opts); /* garbage that wal_options_init must overwrite */
    wal_options_init(&opts);
    CHECK(opts.segment_size == DEFAULT_SEGMENT_SIZE);
    CHECK(opts.flush_interval_ms == 0);
    wal_options_init(NULL); /* documented as a no-op */
}

/*
 * Logs one of each kind of entry with edge values: unsorted labels, empty names and
 * values (also with NULL pointers), arbitrary bytes, refs 0 and UINT64_MAX, extreme
 * timestamps, NaN payloads, -0.0 and infinities, entries larger than a segment.
 */
static void log_edge_values(wal_t *w, struct entry_log *want)
{
    /* Given unsorted: wal_read must deliver them sorted by name (byte order). */
    wal_label plain[] = {
        LABEL("job", "node"), LABEL("__name__", "up"), LABEL("instance", "host-1:9100")};
    /* An empty name, and an empty value given as NULL with length 0. */
    wal_label empty[] = {LABEL("", "empty-name"), {"a", 1, NULL, 0}};
    /* Embedded NUL bytes, bytes that are not UTF-8, and names that sort by bytes:
     * "a" < "a\0b" < "z" < "\xc3\xa9" (0xc3 > 'z'). */
    wal_label bytes[] = {
        LABEL("z", "last"),
        LABEL("\xc3\xa9", "\xff\xfe\x00\x01"),
        LABEL("a\0b", "nul inside"),
        LABEL("a", "x"),
        LABEL("\x7f", "\"quoted\\"),
    };
    /* A value longer than 127 bytes needs a two-byte length varint. */
    char long_value[300];
    for (size_t i = 0; i < sizeof long_value; i++) long_value[i] = (char)('a' + i % 26);
    wal_label long_label[] = {{"long", 4, long_value, sizeof long_value}};

    wal_series series[] = {
        {.ref = 1, .labels = plain, .labels_len = 3},
        {.ref = 0, .labels = NULL, .labels_len = 0},
        {.ref = UINT64_MAX, .labels = empty, .labels_len = 2},
        {.ref = UINT64_C(1) << 63, .labels = bytes, .labels_len = 5},
        {.ref = 42, .labels = long_label, .labels_len = 1},
    };
    LOG_SERIES(w, want, series, 5);

    /* Deltas between refs and timestamps wrap around in the encoding; values are
     * compared by bit pattern. */
    wal_sample samples[] = {
        sample_bits(0, INT64_MIN, 0x0000000000000000u),          /* +0.0 */
        sample_bits(UINT64_MAX, INT64_MAX, 0x8000000000000000u), /* -0.0 */
        sample_bits(UINT64_C(1) << 63, -1, 0x7ff8000000000001u), /* quiet NaN, payload 1 */
        sample_bits(5, 0, 0x7ff0000000000000u),                  /* +inf */
        sample_bits(3, 123, 0xfff0000000000000u),                /* -inf */
        sample_bits(UINT64_MAX - 1, INT64_MIN + 1, 0x1u),        /* smallest subnormal */
        sample_bits(7, 7, 0x7ff0000000000001u),                  /* signalling NaN */
        sample_bits(8, 8, 0xfff8000000000000u),                  /* negative NaN */
        sample_bits(9, 9, 0x7fefffffffffffffu),                  /* largest finite */
    };
    LOG_SAMPLES(w, want, samples, sizeof samples / sizeof samples[0]);

    wal_tombstone deletes[] = {
        {.ref = 0, .mint = INT64_MIN, .maxt = INT64_MAX},
        {.ref = UINT64_MAX, .mint = -1, .maxt = 1},
        {.ref = 7, .mint = 5, .maxt = 5},
    };
    LOG_DELETES(w, want, deletes, 3);

    /* Empty batches write nothing, and the pointer may be NULL. */
    LOG_SERIES(w, want, NULL, 0);
    LOG_SAMPLES(w, want, NULL, 0);
    LOG_DELETES(w, want, NULL, 0);

    wal_sample one = sample_bits(UINT64_MAX, INT64_MAX, f64_bits(1.5));
    LOG_SAMPLES(w, want, &one, 1);

    /* An entry larger than a whole 4096-byte segment (about 20 kB). */
    enum { BIG = 2000 };
    wal_sample *big = xmalloc(BIG * sizeof *big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = sample_bits(1000 + i, (int64_t)i * 15000, f64_bits((double)i / 7));
    LOG_SAMPLES(w, want, big, BIG);
    free(big);

    wal_label after_big[] = {LABEL("__name__", "after_big")};
    wal_series s = {.ref = 2, .labels = after_big, .labels_len = 1};
    LOG_SERIES(w, want, &s, 1);
}

/* Small segments: edge values, then close, reopen and read (twice), write more. */
static void test_edge_values(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "edges"); /* does not exist yet: wal_open creates it */
    wal_options opts = small_segments();

    struct entry_log want = {0}, got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    CHECK(w != NULL);
    CHECK(is_dir(dir));

    log_edge_values(w, &want);
    /* A WAL that was empty at open may be read at any time, buffered entries included. */
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_OK(wal_close(w));
    CHECK(count_segments(dir) >= 2);

    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);

    /* Write after the read; a second read delivers everything again, the new entries
     * included. */
    wal_label l[] = {LABEL("__name__", "second_session")};
    wal_series s = {.ref = 77, .labels = l, .labels_len = 1};
    LOG_SERIES(w, &want, &s, 1);
    wal_sample smp = sample_bits(77, 1, f64_bits(-2.25));
    LOG_SAMPLES(w, &want, &smp, 1);
    wal_tombstone del = {.ref = 77, .mint = 0, .maxt = 1};
    LOG_DELETES(w, &want, &del, 1);
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_REOPENS_TO(w, dir, &opts, &want, &got);

    entry_log_free(&want);
    entry_log_free(&got);
}

/* Logs `rounds` rounds of a series entry (2 series) and a samples entry (20 samples). */
static void log_rounds(wal_t *w, struct entry_log *want, int first, int rounds)
{
    for (int r = first; r < first + rounds; r++) {
        char name[32], job[32];
        snprintf(name, sizeof name, "metric_%d", r);
        snprintf(job, sizeof job, "job_%d", r % 7);
        wal_label l[] = {{"job", 3, job, strlen(job)}, {"__name__", 8, name, strlen(name)}};
        wal_series s[] = {
            {.ref = (uint64_t)r * 2, .labels = l, .labels_len = 2},
            {.ref = (uint64_t)r * 2 + 1, .labels = l, .labels_len = 1},
        };
        LOG_SERIES(w, want, s, 2);
        wal_sample samples[20];
        for (int i = 0; i < 20; i++)
            samples[i] = sample_bits((uint64_t)(r * 2 + i % 2), (int64_t)r * 1000 + i,
                                     f64_bits(r + i * 0.5));
        LOG_SAMPLES(w, want, samples, 20);
    }
}

/* The segment names must be 000001, 000002, ... without gaps in a fresh directory. */
static void check_contiguous_segments(const char *dir, size_t n)
{
    struct buf want = {0}, got = {0};
    for (size_t i = 1; i <= n; i++) buf_printf(&want, "%06zu\n", i);
    list_segments(dir, &got);
    CHECKF(strcmp(want.data, got.data) == 0, "segments of %s:\n%s", dir, got.data);
    buf_free(&want);
    buf_free(&got);
}

/* Many segments: enough data for 4096-byte segments to be cut many times. */
static void test_many_segments(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "many");
    wal_options opts = small_segments();

    struct entry_log want = {0}, got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    log_rounds(w, &want, 0, 300);
    CHECK_OK(wal_close(w));
    size_t segments = count_segments(dir);
    CHECKF(segments >= 20, "only %zu segments", segments);
    check_contiguous_segments(dir, segments);

    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    READ_ALL(w, &got); /* a second read of the same handle delivers everything again */
    CHECK_LOGS_EQUAL(&want, &got);

    log_rounds(w, &want, 300, 50);
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_OK(wal_close(w));
    /* Writing after a reopen starts a new segment after the existing ones. */
    CHECK(count_segments(dir) > segments);
    check_contiguous_segments(dir, count_segments(dir));

    CHECK_OK(wal_open(dir, &opts, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    CHECK_OK(wal_close(w));

    entry_log_free(&want);
    entry_log_free(&got);
}

/* The defaults (NULL options): one big segment holds everything. */
static void test_default_options(const char *root)
{
    char dir[TEST_PATH_MAX];
    path_join(dir, root, "defaults");
    struct entry_log want = {0}, got = {0};
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, NULL, &w));
    log_edge_values(w, &want);
    log_rounds(w, &want, 0, 20);
    CHECK_OK(wal_close(w));
    CHECK(count_segments(dir) == 1);

    CHECK_OK(wal_open(dir, NULL, &w));
    READ_ALL(w, &got);
    CHECK_LOGS_EQUAL(&want, &got);
    log_rounds(w, &want, 20, 5);
    CHECK_REOPENS_TO(w, dir, NULL, &want, &got);

    entry_log_free(&want);
    entry_log_free(&got);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty temp dir>\n", argv[0]);
        return 2;
    }
    size_t fds = count_open_fds();
    check_version_and_options();
    test_edge_values(argv[1]);
    test_many_segments(argv[1]);
    test_default_options(argv[1]);
    /* Every handle is closed: no descriptor may be left open by the library. */
    CHECKF(count_open_fds() == fds, "%zu descriptors open, %zu at start", count_open_fds(),
           fds);
    printf("roundtrip: ok (libtswal %s)\n", wal_version());
    return 0;
}
