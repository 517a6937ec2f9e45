/*
 * The writer of the crash test (tests/crash.rs): logs batches into a WAL until it is
 * killed, calling wal_sync now and then and reporting on stdout each completed sync.
 *
 * Usage: crash_writer <dir> <seed>
 *
 * Entry i of the log is a pure function of i (crash_entry below, mirrored in
 * tests/crash.rs), so the parent can tell what must be there and that nothing else is.
 * A writer that finds entries already in the log (from an earlier life) goes on after
 * them. After each wal_sync it prints "synced <n>": the first n entries are durable.
 */
#include "common.h"

/* Entry i: a deletes entry when i % 7 == 6, else a samples entry of 1 + i % 23 samples. */
static size_t crash_entry(uint64_t i, wal_sample *s, wal_tombstone *d, int *is_delete)
{
    if (i % 7 == 6) {
        *is_delete = 1;
        *d = (wal_tombstone){.ref = i, .mint = (int64_t)i, .maxt = (int64_t)i + 5};
        return 1;
    }
    *is_delete = 0;
    size_t n = 1 + i % 23;
    for (size_t k = 0; k < n; k++)
        s[k] = sample_bits(i * 100 + k, (int64_t)(i * 1000 + k), (i << 16) ^ k);
    return n;
}

static int count_entry(void *ctx, const void *items, size_t len)
{
    (void)items, (void)len;
    ++*(uint64_t *)ctx;
    return 0;
}
static int count_samples(void *ctx, const wal_sample *s, size_t len)
{
    return count_entry(ctx, s, len);
}
static int count_deletes(void *ctx, const wal_tombstone *d, size_t len)
{
    return count_entry(ctx, d, len);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <dir> <seed>\n", argv[0]);
        return 2;
    }
    uint64_t seed = strtoull(argv[2], NULL, 10) | 1;
    wal_options opts;
    wal_options_init(&opts);
    opts.segment_size = 64 * 1024; /* many segments, so kills land around cuts too */
    wal_t *w = NULL;
    CHECK_OK(wal_open(argv[1], &opts, &w));
    uint64_t next = 0;
    CHECK_OK(wal_read(w, NULL, count_samples, count_deletes, &next));
    printf("start %" PRIu64 "\n", next);
    fflush(stdout);
    for (;;) {
        wal_sample s[23];
        wal_tombstone d;
        int is_delete;
        size_t n = crash_entry(next, s, &d, &is_delete);
        if (is_delete)
            CHECK_OK(wal_log_deletes(w, &d, 1));
        else
            CHECK_OK(wal_log_samples(w, s, n));
        next++;
        /* xorshift: sync after a random number of entries */
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        if (seed % 16 == 0) {
            CHECK_OK(wal_sync(w));
            printf("synced %" PRIu64 "\n", next);
            fflush(stdout);
        }
    }
}
