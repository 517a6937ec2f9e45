/*
 * Tails through the C API: a tail follows a writer across segment cuts, resumes exactly
 * from a saved position, waits (and times out) when there is nothing new, refuses a
 * position inside an entry, is woken from another thread (wal_tail_wake), and reports
 * arguments, calls from its own callbacks and a stopping callback clearly.
 *
 * Usage: tail <empty temp dir>
 */
#include "common.h"

#include <pthread.h>
#include <time.h>

/* One samples entry per step: a sample of series 1 whose value is the step. */
static void log_step(wal_t *w, uint64_t i)
{
    wal_sample s = {.ref = 1, .t = (int64_t)i, .v = (double)i};
    CHECK_OK(wal_log_samples(w, &s, 1));
}

struct steps {
    uint64_t got[4096];
    size_t len;
    size_t stop_after; /* a callback returns non-zero after this many (0: never) */
};

static int on_samples(void *ctx, const wal_sample *s, size_t n)
{
    struct steps *st = ctx;
    CHECK(n == 1 && st->len < 4096);
    if (st->stop_after && st->len == st->stop_after) return 1;
    st->got[st->len++] = (uint64_t)s[0].v;
    return 0;
}

/* Calls wal_tail_next until `want` steps arrived (or a few seconds passed). */
static void take(wal_tail_t *t, struct steps *st, size_t want)
{
    for (int tries = 0; st->len < want && tries < 200; tries++) {
        size_t n = 0;
        CHECK_OK(wal_tail_next(t, NULL, on_samples, NULL, st, 20, &n));
    }
    CHECKF(st->len == want, "%zu steps, %zu wanted", st->len, want);
}

static void check_steps(const struct steps *st, uint64_t first)
{
    for (size_t i = 0; i < st->len; i++)
        CHECKF(st->got[i] == first + i, "step %zu is %" PRIu64, i, st->got[i]);
}

static int next_from_callback(void *ctx, const wal_sample *s, size_t n)
{
    (void)s, (void)n;
    wal_tail_t *t = ctx;
    size_t entries;
    CHECK_ERR(wal_tail_next(t, NULL, NULL, NULL, NULL, 0, &entries), WAL_ERR_STATE);
    CHECK_ERR(wal_tail_close(t), WAL_ERR_STATE);
    return 0;
}

/* Wakes the tail after a moment, while the main thread waits in wal_tail_next. */
static void *wake_later(void *arg)
{
    struct timespec pause = {.tv_nsec = 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_OK(wal_tail_wake(arg));
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty temp dir>\n", argv[0]);
        return 2;
    }
    size_t fds = count_open_fds();
    char dir[TEST_PATH_MAX], missing[TEST_PATH_MAX];
    path_join(dir, argv[1], "wal");
    path_join(missing, argv[1], "missing");
    make_dir(dir);

    /* Arguments. */
    wal_tail_t *t = (wal_tail_t *)&fds;
    CHECK_ERR(wal_tail_open(NULL, NULL, &t), WAL_ERR_INVALID_ARGUMENT);
    CHECK(t == NULL);
    CHECK_ERR(wal_tail_open(dir, NULL, NULL), WAL_ERR_INVALID_ARGUMENT);
    CHECK_ERR(wal_tail_open(missing, NULL, &t), WAL_ERR_IO);
    CHECK_LAST_ERROR_CONTAINS("missing");
    CHECK(!file_exists(missing));
    size_t n = 1;
    CHECK_ERR(wal_tail_next(NULL, NULL, NULL, NULL, NULL, 0, &n), WAL_ERR_INVALID_ARGUMENT);
    CHECK(n == 0);
    CHECK_OK(wal_tail_close(NULL));
    CHECK_ERR(wal_tail_wake(NULL), WAL_ERR_INVALID_ARGUMENT);

    /* A tail on an empty WAL times out with nothing. */
    CHECK_OK(wal_tail_open(dir, NULL, &t));
    CHECK_OK(wal_tail_next(t, NULL, on_samples, NULL, NULL, 10, &n));
    CHECK(n == 0);
    wal_position pos;
    CHECK_ERR(wal_tail_position(t, NULL), WAL_ERR_INVALID_ARGUMENT);

    /* A writer in this process logs across many segment cuts. */
    wal_options opts = small_segments();
    wal_t *w;
    CHECK_OK(wal_open(dir, &opts, &w));
    for (uint64_t i = 0; i < 600; i++) {
        log_step(w, i);
        if (i % 25 == 24) CHECK_OK(wal_sync(w));
    }
    CHECK(count_segments(dir) > 3);
    struct steps st = {0};
    take(t, &st, 600);
    check_steps(&st, 0);
    wal_tail_stats_t stats;
    CHECK_OK(wal_tail_stats(t, &stats));
    CHECK(stats.entries == 600 && stats.gaps == 0);

    /* Its position after a stop: a callback stopping at step 100 of a new tail. */
    CHECK_OK(wal_tail_close(t));
    CHECK_OK(wal_tail_open(dir, NULL, &t));
    struct steps part = {.stop_after = 100};
    CHECK_ERR(wal_tail_next(t, NULL, on_samples, NULL, &part, 0, &n), WAL_ERR_ABORTED);
    CHECK(part.len == 100);
    CHECK_OK(wal_tail_position(t, &pos));
    CHECK_OK(wal_tail_close(t));
    /* A tail opened there continues exactly with step 100. */
    CHECK_OK(wal_tail_open(dir, &pos, &t));
    struct steps rest = {0};
    take(t, &rest, 500);
    check_steps(&rest, 100);
    /* Calls from its own callback are refused, not deadlocked. */
    log_step(w, 600);
    CHECK_OK(wal_sync(w));
    for (int tries = 0; tries < 100; tries++) {
        CHECK_OK(wal_tail_next(t, NULL, next_from_callback, NULL, t, 20, &n));
        if (n > 0) break;
    }
    CHECK(n == 1);

    /* A wake ends a wait that would otherwise last the longest timeout there is (the
       test would hang): from another thread during the wait, and from before it. */
    pthread_t waker;
    CHECK(pthread_create(&waker, NULL, wake_later, t) == 0);
    CHECK_OK(wal_tail_next(t, NULL, on_samples, NULL, &rest, UINT32_MAX, &n));
    CHECK(n == 0);
    CHECK(pthread_join(waker, NULL) == 0);
    CHECK_OK(wal_tail_wake(t));
    CHECK_OK(wal_tail_next(t, NULL, on_samples, NULL, &rest, UINT32_MAX, &n));
    CHECK(n == 0);
    /* A wake does not hold back entries: they are delivered, the wake ends a later wait. */
    CHECK_OK(wal_tail_wake(t));
    log_step(w, 601);
    CHECK_OK(wal_sync(w));
    CHECK_OK(wal_tail_next(t, NULL, on_samples, NULL, &rest, UINT32_MAX, &n));
    CHECK(n == 1 && rest.got[rest.len - 1] == 601);
    CHECK_OK(wal_tail_next(t, NULL, on_samples, NULL, &rest, UINT32_MAX, &n));
    CHECK(n == 0);
    CHECK_OK(wal_tail_close(t));

    /* A position inside an entry is refused when the tail reads its segment. */
    pos.offset += 1;
    CHECK_OK(wal_tail_open(dir, &pos, &t));
    CHECK_ERR(wal_tail_next(t, NULL, on_samples, NULL, &rest, 0, &n), WAL_ERR_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("does not start an entry");
    CHECK_OK(wal_tail_close(t));

    CHECK_OK(wal_close(w));
    CHECKF(count_open_fds() == fds, "%zu descriptors open, %zu at start", count_open_fds(), fds);
    printf("tail: ok\n");
    return 0;
}
