/*
 * Reads a copy of a reference WAL written by the Go implementation and checks that the
 * read delivers exactly expected.dump (rendered in the dump format of
 * tests/fixtures/README.md), that the repairing read leaves exactly the segments of
 * expected.files, and that a batch logged afterwards reads back after the rest.
 *
 * Usage: fixtures <copy of the case's wal dir> <expected.dump> <expected.files | ->
 */
#include "common.h"

/* ---- the dump format ---------------------------------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at p[0..n), or 0 if there is none (Unicode
 * Table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
 */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c == 0xE0) {
        len = 3;
        lo = 0xA0; /* no overlong forms */
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        len = 3;
    } else if (c == 0xED) {
        len = 3;
        hi = 0x9F; /* no surrogates */
    } else if (c == 0xF0) {
        len = 4;
        lo = 0x90; /* no overlong forms */
    } else if (c >= 0xF1 && c <= 0xF3) {
        len = 4;
    } else if (c == 0xF4) {
        len = 4;
        hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}

/*
 * A quoted string: `"` and `\` escaped with a backslash; bytes below 0x20, 0x7f and
 * bytes that are not part of valid UTF-8 written \xHH; everything else as it is.
 */
static void dump_quote(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_puts(out, "\"");
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_sequence(p + i, n - i);
        if (len == 0 || p[i] < 0x20 || p[i] == 0x7f) {
            buf_printf(out, "\\x%02x", p[i]);
            i++;
        } else if (p[i] == '"' || p[i] == '\\') {
            buf_printf(out, "\\%c", p[i]);
            i++;
        } else {
            buf_append(out, p + i, len);
            i += len;
        }
    }
    buf_puts(out, "\"");
}

static int dump_series(void *ctx, const wal_series *series, size_t len)
{
    struct buf *out = ctx;
    buf_printf(out, "series %zu\n", len);
    for (size_t i = 0; i < len; i++) {
        buf_printf(out, "  %" PRIu64, series[i].ref);
        for (size_t j = 0; j < series[i].labels_len; j++) {
            const wal_label *l = &series[i].labels[j];
            buf_puts(out, " ");
            dump_quote(out, l->name, l->name_len);
            buf_puts(out, "=");
            dump_quote(out, l->value, l->value_len);
        }
        buf_puts(out, "\n");
    }
    return 0;
}

static int dump_samples(void *ctx, const wal_sample *samples, size_t len)
{
    struct buf *out = ctx;
    buf_printf(out, "samples %zu\n", len);
    for (size_t i = 0; i < len; i++)
        buf_printf(out, "  %" PRIu64 " %" PRId64 " %016" PRIx64 "\n", samples[i].ref,
                   samples[i].t, f64_bits(samples[i].v));
    return 0;
}

static int dump_deletes(void *ctx, const wal_tombstone *tombstones, size_t len)
{
    struct buf *out = ctx;
    buf_printf(out, "deletes %zu\n", len);
    for (size_t i = 0; i < len; i++)
        buf_printf(out, "  %" PRIu64 " %" PRId64 " %" PRId64 "\n", tombstones[i].ref,
                   tombstones[i].mint, tombstones[i].maxt);
    return 0;
}

/* ---- checks -------------------------------------------------------------------------- */

/* Fails with the first differing line if `got` is not byte for byte `want`. */
static void check_text_equal_at(const char *file, int line_no, const char *what,
                                const struct buf *want, const struct buf *got)
{
    if (want->len == got->len && memcmp(want->data, got->data, want->len) == 0) return;
    size_t line = 1, start = 0, i = 0;
    while (i < want->len && i < got->len && want->data[i] == got->data[i]) {
        if (want->data[i] == '\n') line++, start = i + 1;
        i++;
    }
    int wn = (int)strcspn(want->data + start, "\n"), gn = (int)strcspn(got->data + start, "\n");
    test_fail(file, line_no,
              "%s differs at line %zu (expected %zu bytes, got %zu)\n  expected: %.*s\n"
              "  got:      %.*s",
              what, line, want->len, got->len, wn, want->data + start, gn, got->data + start);
}

#define check_text_equal(what, want, got)                                                 \
    check_text_equal_at(__FILE__, __LINE__, (what), (want), (got))

static void read_dump(wal_t *w, struct buf *out)
{
    buf_clear(out);
    buf_append(out, "", 0);
    CHECK_OK(wal_read(w, dump_series, dump_samples, dump_deletes, out));
}

/* The name of the segment after the last one of `list` ("" if the list is empty). */
static void next_segment_name(const struct buf *list, char *out, size_t cap)
{
    uint64_t max = 0;
    for (const char *p = list->data; p && *p;) {
        uint64_t seq = strtoull(p, NULL, 10);
        if (seq > max) max = seq;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    snprintf(out, cap, "%06" PRIu64, max + 1);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <wal dir copy> <expected.dump> <expected.files | ->\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    struct buf want = {0}, got = {0}, files = {0}, want_files = {0};
    read_file(argv[2], &want);

    wal_options opts;
    wal_options_init(&opts);
    opts.segment_size = 32768;
    wal_t *w = NULL;
    CHECK_OK(wal_open(dir, &opts, &w));
    read_dump(w, &got);
    check_text_equal("the first read (vs expected.dump)", &want, &got);

    list_segments(dir, &files);
    if (strcmp(argv[3], "-") != 0) {
        read_file(argv[3], &want_files);
        check_text_equal("the segments after the read (vs expected.files)", &want_files,
                         &files);
    }

    /* One more batch goes after everything, in a new segment (format.md). */
    wal_sample batch[] = {
        sample_bits(1, 4102444800000, f64_bits(42.5)),
        sample_bits(UINT64_MAX, INT64_MAX, 0x7ff8000000000001u),
        sample_bits(0, -1, 0x8000000000000000u),
    };
    CHECK_OK(wal_log_samples(w, batch, 3));
    size_t base = want.len;
    dump_samples(&want, batch, 3);
    read_dump(w, &got);
    check_text_equal("the read after logging a batch", &want, &got);
    CHECK_OK(wal_close(w));

    char next[32];
    next_segment_name(&files, next, sizeof next);
    buf_printf(&files, "%s\n", next);
    list_segments(dir, &got);
    check_text_equal("the segments after logging a batch", &files, &got);

    /* The repair and the new batch are on disk. */
    CHECK_OK(wal_open(dir, &opts, &w));
    read_dump(w, &got);
    check_text_equal("the read after reopening", &want, &got);
    CHECK_OK(wal_close(w));

    printf("fixtures: ok: %s (%zu bytes of dump + %zu for the new batch)\n", dir, base,
           want.len - base);
    buf_free(&want);
    buf_free(&got);
    buf_free(&files);
    buf_free(&want_files);
    return 0;
}
