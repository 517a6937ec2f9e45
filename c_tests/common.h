/*
 * Shared helpers of the C tests of libtswal (run by tests/c_api.rs):
 *   - CHECK macros that stop the program with file:line, the expression, the status and
 *     its name, wal_status_str and wal_last_error();
 *   - small path, file, directory and buffer helpers, and snapshots of a directory tree
 *     (names, kinds and bytes) to check that a call changed nothing in it;
 *   - running this program again as a second process (waiting for it, or not);
 *   - an "entry log": owned copies of WAL entries, filled either from what a test logs
 *     (the expectation) or by collecting callbacks during wal_read (what came back), and
 *     compared entry by entry.
 *
 * Everything is `static inline` so each test program is one translation unit and
 * unused helpers cause no warnings. Include this header before any other: it sets the
 * feature macros for the POSIX functions the tests use.
 */
#ifndef TSWAL_C_TESTS_COMMON_H
#define TSWAL_C_TESTS_COMMON_H

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tswal.h"

extern char **environ;

#define TEST_PATH_MAX 4096

/* ---- failure reporting ------------------------------------------------------------ */

static inline const char *status_name(wal_status s)
{
    switch (s) {
    case WAL_OK: return "WAL_OK";
    case WAL_ERR_INVALID_ARGUMENT: return "WAL_ERR_INVALID_ARGUMENT";
    case WAL_ERR_IO: return "WAL_ERR_IO";
    case WAL_ERR_CORRUPTION: return "WAL_ERR_CORRUPTION";
    case WAL_ERR_STATE: return "WAL_ERR_STATE";
    case WAL_ERR_LOCKED: return "WAL_ERR_LOCKED";
    case WAL_ERR_ABORTED: return "WAL_ERR_ABORTED";
    case WAL_ERR_PANIC: return "WAL_ERR_PANIC";
    case WAL_ERR_FORMAT: return "WAL_ERR_FORMAT";
    default: return "(not a wal_status)";
    }
}

/* Prints "file:line: <message>" and the thread's last library error, then exits 1. */
__attribute__((format(printf, 3, 4))) static inline _Noreturn void
test_fail(const char *file, int line, const char *fmt, ...)
{
    /* Copy the message first: it is valid only until the next library call. */
    const char *last = wal_last_error();
    char *last_copy = strdup(last ? last : "(NULL)");
    fflush(stdout);
    fprintf(stderr, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  wal_last_error() on this thread: \"%s\"\n",
            last_copy ? last_copy : "(strdup failed)");
    free(last_copy);
    exit(1);
}

static inline _Noreturn void status_fail(const char *file, int line, const char *expr,
                                         wal_status got, wal_status want)
{
    const char *last = wal_last_error();
    char *last_copy = strdup(last ? last : "(NULL)");
    fflush(stdout);
    fprintf(stderr,
            "%s:%d: %s\n  returned %" PRIu32 " %s (\"%s\"), expected %" PRIu32 " %s\n"
            "  wal_last_error(): \"%s\"\n",
            file, line, expr, (uint32_t)got, status_name(got), wal_status_str(got),
            (uint32_t)want, status_name(want), last_copy ? last_copy : "(strdup failed)");
    free(last_copy);
    exit(1);
}

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);            \
    } while (0)

/* CHECK with an explanation: CHECKF(cond, "fmt", args...). */
#define CHECKF(cond, ...)                                                                 \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fflush(stdout);                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);      \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                   \
        }                                                                                 \
    } while (0)

static inline void check_status_at(const char *file, int line, const char *expr,
                                   wal_status got, wal_status want)
{
    if (got != want) status_fail(file, line, expr, got, want);
}

static inline void check_err_at(const char *file, int line, const char *expr, wal_status got,
                                wal_status want)
{
    check_status_at(file, line, expr, got, want);
    const char *msg = wal_last_error();
    if (msg == NULL || msg[0] == '\0')
        test_fail(file, line, "%s failed with %s but without a message", expr,
                  status_name(got));
}

/* The call must return exactly `want`. (Stringified here, before macro expansion.) */
#define CHECK_STATUS(call, want) check_status_at(__FILE__, __LINE__, #call, (call), (want))
#define CHECK_OK(call) check_status_at(__FILE__, __LINE__, #call, (call), WAL_OK)

/* The call must fail with `want` and leave a non-empty wal_last_error() message. */
#define CHECK_ERR(call, want) check_err_at(__FILE__, __LINE__, #call, (call), (want))

/* The current wal_last_error() message must contain `needle`. */
#define CHECK_LAST_ERROR_CONTAINS(needle)                                                 \
    do {                                                                                  \
        const char *msg_ = wal_last_error();                                              \
        CHECKF(msg_ != NULL && strstr(msg_, (needle)) != NULL,                            \
               "wal_last_error() should contain \"%s\"", (needle));                       \
    } while (0)

/* ---- memory ----------------------------------------------------------------------- */

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) test_fail(__FILE__, __LINE__, "out of memory (%zu bytes)", n);
    return p;
}

static inline void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) test_fail(__FILE__, __LINE__, "out of memory (%zu bytes)", n);
    return q;
}

static inline void *xmemdup(const void *src, size_t n)
{
    void *p = xmalloc(n);
    if (n) memcpy(p, src, n);
    return p;
}

/* Grows an array of `elem` bytes per element so that it holds at least `need` elements. */
static inline void *grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return arr;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    *cap = n;
    return xrealloc(arr, n * elem);
}

/* ---- a growing byte buffer -------------------------------------------------------- */

struct buf {
    char *data; /* always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
};

static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    b->data = grow(b->data, &b->cap, b->len + n + 1, 1);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void buf_puts(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static inline void buf_printf(struct buf *b,
                                                                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CHECK(n >= 0);
    b->data = grow(b->data, &b->cap, b->len + (size_t)n + 1, 1);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static inline void buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static inline void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- paths, files, directories ---------------------------------------------------- */

/* out = dir + "/" + name; `out` has room for TEST_PATH_MAX bytes. Returns out. */
static inline char *path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, TEST_PATH_MAX, "%s/%s", dir, name);
    CHECKF(n > 0 && n < TEST_PATH_MAX, "path too long: %s/%s", dir, name);
    return out;
}

static inline bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static inline bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline void make_dir(const char *path)
{
    CHECKF(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
}

/* Reads a whole file into a buffer (NUL-terminated). */
static inline void read_file(const char *path, struct buf *out)
{
    buf_clear(out);
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "open %s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(out, chunk, n);
    CHECKF(!ferror(f), "read %s", path);
    fclose(f);
    buf_append(out, "", 0); /* NUL-terminate even an empty file */
}

static inline void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "create %s: %s", path, strerror(errno));
    CHECKF(fwrite(data, 1, len, f) == len, "write %s", path);
    CHECKF(fclose(f) == 0, "close %s", path);
}

/* A name is a segment if it is made of decimal digits only (format.md). */
static inline bool is_segment_name(const char *name)
{
    if (!name[0]) return false;
    for (const char *p = name; *p; p++)
        if (*p < '0' || *p > '9') return false;
    return true;
}

static inline int compare_segment_names(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    /* Numeric order: shorter digit strings are smaller (names never have a sign). */
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x, y);
}

static inline int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in `dir` (without "." and ".."), sorted; free them with free_names. */
static inline char **list_dir(const char *dir, size_t *len)
{
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "opendir %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        names = grow(names, &cap, n + 1, sizeof *names);
        names[n++] = xmemdup(e->d_name, strlen(e->d_name) + 1);
    }
    closedir(d);
    if (n > 0) qsort(names, n, sizeof *names, compare_names); /* names may be NULL */
    *len = n;
    return names;
}

static inline void free_names(char **names, size_t len)
{
    for (size_t i = 0; i < len; i++) free(names[i]);
    free(names);
}

/* The segment files of `dir` in numeric order, one name per line (as expected.files). */
static inline void list_segments(const char *dir, struct buf *out)
{
    buf_clear(out);
    size_t n, kept = 0;
    char **names = list_dir(dir, &n);
    for (size_t i = 0; i < n; i++) {
        if (is_segment_name(names[i]))
            names[kept++] = names[i];
        else
            free(names[i]);
    }
    if (kept > 0) qsort(names, kept, sizeof *names, compare_segment_names);
    for (size_t i = 0; i < kept; i++) {
        buf_puts(out, names[i]);
        buf_puts(out, "\n");
    }
    free_names(names, kept);
    buf_append(out, "", 0);
}

/* ---- directory snapshots --------------------------------------------------------- */

/*
 * Everything under a directory, to see that a call changed nothing in it: `listing`
 * has one line per entry, depth first in name order, with its path relative to the
 * directory and its kind ("file <size>", "dir", "link -> <target>", "other"); `bytes`
 * holds the contents of the regular files, in listing order.
 */
struct dir_snapshot {
    struct buf listing;
    struct buf bytes;
};

static inline void snapshot_tree(const char *dir, const char *rel, struct dir_snapshot *out)
{
    size_t n;
    char **names = list_dir(dir, &n);
    struct buf content = {0};
    for (size_t i = 0; i < n; i++) {
        char path[TEST_PATH_MAX], sub[TEST_PATH_MAX];
        path_join(path, dir, names[i]);
        if (rel[0])
            path_join(sub, rel, names[i]);
        else
            snprintf(sub, sizeof sub, "%s", names[i]);
        struct stat st;
        CHECKF(lstat(path, &st) == 0, "lstat %s: %s", path, strerror(errno));
        if (S_ISREG(st.st_mode)) {
            read_file(path, &content);
            buf_printf(&out->listing, "%s file %zu\n", sub, content.len);
            buf_append(&out->bytes, content.data, content.len);
        } else if (S_ISDIR(st.st_mode)) {
            buf_printf(&out->listing, "%s/ dir\n", sub);
            snapshot_tree(path, sub, out);
        } else if (S_ISLNK(st.st_mode)) {
            char target[TEST_PATH_MAX];
            ssize_t len = readlink(path, target, sizeof target - 1);
            CHECKF(len >= 0, "readlink %s: %s", path, strerror(errno));
            target[len] = '\0';
            buf_printf(&out->listing, "%s link -> %s\n", sub, target);
        } else {
            buf_printf(&out->listing, "%s other\n", sub);
        }
    }
    free_names(names, n);
    buf_free(&content);
}

static inline void snapshot_dir(const char *dir, struct dir_snapshot *out)
{
    buf_clear(&out->listing);
    buf_clear(&out->bytes);
    buf_append(&out->listing, "", 0); /* NUL-terminated even when empty */
    snapshot_tree(dir, "", out);
}

static inline void dir_snapshot_free(struct dir_snapshot *s)
{
    buf_free(&s->listing);
    buf_free(&s->bytes);
}

static inline bool bufs_equal(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Fails unless the directory `dir` is now as `before` shows it: same names, same bytes. */
static inline void check_unchanged_at(const char *file, int line, const char *dir,
                                      const struct dir_snapshot *before)
{
    struct dir_snapshot now = {0};
    snapshot_dir(dir, &now);
    if (!bufs_equal(&before->listing, &now.listing))
        test_fail(file, line, "%s changed; before:\n%safter:\n%s", dir, before->listing.data,
                  now.listing.data);
    if (!bufs_equal(&before->bytes, &now.bytes))
        test_fail(file, line, "the contents of files in %s changed (same names and sizes):\n%s",
                  dir, now.listing.data);
    dir_snapshot_free(&now);
}

#define CHECK_UNCHANGED(dir, before) check_unchanged_at(__FILE__, __LINE__, (dir), (before))

static inline size_t count_segments(const char *dir)
{
    struct buf b = {0};
    list_segments(dir, &b);
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++) n += b.data[i] == '\n';
    buf_free(&b);
    return n;
}

/* Open file descriptors of this process (to catch descriptor leaks). */
static inline size_t count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the descriptor of the listing itself */
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/*
 * Starts this program again as a separate process with `args` (NULL-terminated, without
 * argv[0]) and returns its pid without waiting; wait_child collects it. Used where a
 * test needs a second process: a second lock holder, a writer that dies without closing
 * its handle, or one that writes while this process reads. argv0 is the path this
 * program was started with.
 */
static inline pid_t spawn_self(const char *argv0, const char *const *args)
{
    const char *argv[8] = {argv0};
    size_t n = 1;
    for (size_t i = 0; args[i] != NULL; i++) {
        CHECK(n < 7);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, argv0, NULL, NULL, (char *const *)argv, environ);
    CHECKF(rc == 0, "posix_spawn %s: %s", argv0, strerror(rc));
    return pid;
}

/* The exit status of a child that ended (-1 if it did not exit normally). */
static inline int child_exit_status(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : -1; }

/* Waits for child `pid` and returns its exit status (-1 if it did not exit normally). */
static inline int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) CHECKF(errno == EINTR, "waitpid: %s", strerror(errno));
    return child_exit_status(st);
}

/*
 * Whether child `pid` has ended, without waiting; if so, its exit status goes to
 * *status and the child is collected (do not wait for it again).
 */
static inline bool child_ended(pid_t pid, int *status)
{
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) < 0)
        CHECKF(errno == EINTR, "waitpid: %s", strerror(errno));
    if (r == 0) return false;
    *status = child_exit_status(st);
    return true;
}

/* Runs this program again with `args` (see spawn_self) and returns its exit status. */
static inline int run_self(const char *argv0, const char *const *args)
{
    return wait_child(spawn_self(argv0, args));
}

/* ---- building test data ----------------------------------------------------------- */

/* A label from two string literals; sizeof keeps embedded NUL bytes. */
#define LABEL(name, value) {(name), sizeof(name) - 1, (value), sizeof(value) - 1}

static inline double f64_from_bits(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static inline uint64_t f64_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

static inline wal_sample sample_bits(uint64_t ref, int64_t t, uint64_t bits)
{
    wal_sample s = {.ref = ref, .t = t};
    memcpy(&s.v, &bits, sizeof s.v); /* memcpy keeps NaN payloads exactly */
    return s;
}

/* ---- the entry log ---------------------------------------------------------------- */

enum entry_type { ENTRY_SERIES = 2, ENTRY_SAMPLES = 3, ENTRY_DELETES = 4 };

static inline const char *entry_type_name(int t)
{
    return t == ENTRY_SERIES ? "series" : t == ENTRY_SAMPLES ? "samples" : "deletes";
}

struct owned_label {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
};

struct owned_series {
    uint64_t ref;
    struct owned_label *labels;
    size_t labels_len;
};

/* One WAL entry; exactly one of the arrays is used, per `type`. */
struct entry {
    enum entry_type type;
    size_t len;
    struct owned_series *series;
    wal_sample *samples;
    wal_tombstone *tombstones;
};

struct entry_log {
    struct entry *entries;
    size_t len;
    size_t cap;
};

/* Byte-wise order of label names, as Go and Rust compare byte strings. */
static inline int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static inline struct entry *entry_log_push(struct entry_log *log, enum entry_type type,
                                           size_t len)
{
    log->entries = grow(log->entries, &log->cap, log->len + 1, sizeof *log->entries);
    struct entry *e = &log->entries[log->len++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->len = len;
    return e;
}

/*
 * Appends a copy of a series entry. With sort_labels the labels of each series are put
 * in name order (stable), as wal_read must deliver them; a collecting callback passes
 * false so that an unsorted delivery shows up as a difference.
 */
static inline void entry_log_add_series(struct entry_log *log, const wal_series *series,
                                        size_t len, bool sort_labels)
{
    struct entry *e = entry_log_push(log, ENTRY_SERIES, len);
    e->series = xmalloc(len * sizeof *e->series);
    for (size_t i = 0; i < len; i++) {
        struct owned_series *s = &e->series[i];
        s->ref = series[i].ref;
        s->labels_len = series[i].labels_len;
        s->labels = xmalloc(s->labels_len * sizeof *s->labels);
        for (size_t j = 0; j < s->labels_len; j++) {
            const wal_label *l = &series[i].labels[j];
            s->labels[j] = (struct owned_label){
                .name = xmemdup(l->name, l->name_len),
                .name_len = l->name_len,
                .value = xmemdup(l->value, l->value_len),
                .value_len = l->value_len,
            };
        }
        if (!sort_labels) continue;
        /* Insertion sort: stable, and label lists are short. */
        for (size_t j = 1; j < s->labels_len; j++) {
            struct owned_label cur = s->labels[j];
            size_t k = j;
            while (k > 0 && compare_bytes(s->labels[k - 1].name, s->labels[k - 1].name_len,
                                          cur.name, cur.name_len) > 0) {
                s->labels[k] = s->labels[k - 1];
                k--;
            }
            s->labels[k] = cur;
        }
    }
}

static inline void entry_log_add_samples(struct entry_log *log, const wal_sample *samples,
                                         size_t len)
{
    struct entry *e = entry_log_push(log, ENTRY_SAMPLES, len);
    e->samples = xmemdup(samples, len * sizeof *samples);
}

static inline void entry_log_add_deletes(struct entry_log *log,
                                         const wal_tombstone *tombstones, size_t len)
{
    struct entry *e = entry_log_push(log, ENTRY_DELETES, len);
    e->tombstones = xmemdup(tombstones, len * sizeof *tombstones);
}

static inline void entry_free(struct entry *e)
{
    if (e->series) {
        for (size_t i = 0; i < e->len; i++) {
            for (size_t j = 0; j < e->series[i].labels_len; j++) {
                free(e->series[i].labels[j].name);
                free(e->series[i].labels[j].value);
            }
            free(e->series[i].labels);
        }
    }
    free(e->series);
    free(e->samples);
    free(e->tombstones);
    memset(e, 0, sizeof *e);
}

static inline void entry_log_clear(struct entry_log *log)
{
    for (size_t i = 0; i < log->len; i++) entry_free(&log->entries[i]);
    log->len = 0;
}

static inline void entry_log_free(struct entry_log *log)
{
    entry_log_clear(log);
    free(log->entries);
    log->entries = NULL;
    log->cap = 0;
}

/* Appends a deep copy of entry `e` (whose labels are already in their final order). */
static inline void entry_log_add_entry(struct entry_log *log, const struct entry *e)
{
    switch (e->type) {
    case ENTRY_SAMPLES: entry_log_add_samples(log, e->samples, e->len); return;
    case ENTRY_DELETES: entry_log_add_deletes(log, e->tombstones, e->len); return;
    case ENTRY_SERIES: break;
    }
    struct entry *c = entry_log_push(log, ENTRY_SERIES, e->len);
    c->series = xmalloc(e->len * sizeof *c->series);
    for (size_t i = 0; i < e->len; i++) {
        const struct owned_series *s = &e->series[i];
        struct owned_series *d = &c->series[i];
        d->ref = s->ref;
        d->labels_len = s->labels_len;
        d->labels = xmalloc(s->labels_len * sizeof *d->labels);
        for (size_t j = 0; j < s->labels_len; j++) {
            d->labels[j] = (struct owned_label){
                .name = xmemdup(s->labels[j].name, s->labels[j].name_len),
                .name_len = s->labels[j].name_len,
                .value = xmemdup(s->labels[j].value, s->labels[j].value_len),
                .value_len = s->labels[j].value_len,
            };
        }
    }
}

/* Collecting callbacks: ctx is a struct entry_log *. */
static inline int collect_series(void *ctx, const wal_series *series, size_t len)
{
    entry_log_add_series(ctx, series, len, false);
    return 0;
}

static inline int collect_samples(void *ctx, const wal_sample *samples, size_t len)
{
    entry_log_add_samples(ctx, samples, len);
    return 0;
}

static inline int collect_deletes(void *ctx, const wal_tombstone *tombstones, size_t len)
{
    entry_log_add_deletes(ctx, tombstones, len);
    return 0;
}

/* Appends bytes quoted, with \xHH for anything but printable ASCII (diagnostics). */
static inline void buf_quote(struct buf *b, const char *p, size_t n)
{
    buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf_append(b, &p[i], 1);
        else
            buf_printf(b, "\\x%02x", c);
    }
    buf_puts(b, "\"");
}

static inline void buf_labels(struct buf *b, const struct owned_series *s)
{
    buf_printf(b, "{ref %" PRIu64 ":", s->ref);
    for (size_t j = 0; j < s->labels_len; j++) {
        buf_puts(b, " ");
        buf_quote(b, s->labels[j].name, s->labels[j].name_len);
        buf_puts(b, "=");
        buf_quote(b, s->labels[j].value, s->labels[j].value_len);
    }
    buf_puts(b, "}");
}

static inline bool labels_equal(const struct owned_label *a, const struct owned_label *b)
{
    return compare_bytes(a->name, a->name_len, b->name, b->name_len) == 0 &&
           compare_bytes(a->value, a->value_len, b->value, b->value_len) == 0;
}

/*
 * Compares entry a with entry b exactly (values by bit pattern). On a difference,
 * writes a description to `why` and returns false.
 */
static inline bool entry_equal(const struct entry *a, const struct entry *b, struct buf *why)
{
    if (a->type != b->type) {
        buf_printf(why, "type %s vs %s", entry_type_name(a->type), entry_type_name(b->type));
        return false;
    }
    if (a->len != b->len) {
        buf_printf(why, "%s entry of %zu vs %zu items", entry_type_name(a->type), a->len,
                   b->len);
        return false;
    }
    for (size_t i = 0; i < a->len; i++) {
        switch (a->type) {
        case ENTRY_SERIES: {
            const struct owned_series *x = &a->series[i], *y = &b->series[i];
            bool same = x->ref == y->ref && x->labels_len == y->labels_len;
            for (size_t j = 0; same && j < x->labels_len; j++)
                same = labels_equal(&x->labels[j], &y->labels[j]);
            if (!same) {
                buf_printf(why, "series[%zu]: ", i);
                buf_labels(why, x);
                buf_puts(why, " vs ");
                buf_labels(why, y);
                return false;
            }
            break;
        }
        case ENTRY_SAMPLES: {
            const wal_sample *x = &a->samples[i], *y = &b->samples[i];
            if (x->ref != y->ref || x->t != y->t || f64_bits(x->v) != f64_bits(y->v)) {
                buf_printf(why,
                           "samples[%zu]: {%" PRIu64 ", %" PRId64 ", %016" PRIx64
                           "} vs {%" PRIu64 ", %" PRId64 ", %016" PRIx64 "}",
                           i, x->ref, x->t, f64_bits(x->v), y->ref, y->t, f64_bits(y->v));
                return false;
            }
            break;
        }
        case ENTRY_DELETES: {
            const wal_tombstone *x = &a->tombstones[i], *y = &b->tombstones[i];
            if (x->ref != y->ref || x->mint != y->mint || x->maxt != y->maxt) {
                buf_printf(why,
                           "tombstones[%zu]: {%" PRIu64 ", %" PRId64 ", %" PRId64
                           "} vs {%" PRIu64 ", %" PRId64 ", %" PRId64 "}",
                           i, x->ref, x->mint, x->maxt, y->ref, y->mint, y->maxt);
                return false;
            }
            break;
        }
        }
    }
    return true;
}

/* Fails unless `got` holds exactly the entries of `want`, in the same order. */
static inline void check_logs_equal_at(const char *file, int line, const struct entry_log *want,
                                       const struct entry_log *got)
{
    struct buf why = {0};
    size_t n = want->len < got->len ? want->len : got->len;
    for (size_t i = 0; i < n; i++) {
        if (!entry_equal(&want->entries[i], &got->entries[i], &why)) {
            /* The buffer is leaked on purpose: the program exits now. */
            test_fail(file, line, "entry %zu of %zu differs (expected vs read): %s", i,
                      want->len, why.data);
        }
    }
    buf_free(&why);
    if (want->len != got->len)
        test_fail(file, line, "expected %zu entries, read %zu", want->len, got->len);
}

#define CHECK_LOGS_EQUAL(want, got) check_logs_equal_at(__FILE__, __LINE__, (want), (got))

/* The default options with 4096-byte segments, so that tests cut many segments. */
static inline wal_options small_segments(void)
{
    wal_options opts;
    wal_options_init(&opts);
    opts.segment_size = 4096;
    return opts;
}

/* A handle value that is not NULL, to see wal_open overwrite it with NULL on failure. */
static inline wal_t *not_null_handle(void)
{
    static int dummy;
    return (wal_t *)(void *)&dummy;
}

/* Reads the whole WAL into `got` (cleared first) with the collecting callbacks. */
static inline void read_all_at(const char *file, int line, wal_t *w, struct entry_log *got)
{
    entry_log_clear(got);
    wal_status st = wal_read(w, collect_series, collect_samples, collect_deletes, got);
    if (st != WAL_OK)
        status_fail(file, line, "wal_read(w, collect_series, collect_samples, "
                    "collect_deletes, got)", st, WAL_OK);
}

#define READ_ALL(w, got) read_all_at(__FILE__, __LINE__, (w), (got))

/* The handle's counters (every field overwritten: they start as all ones). */
static inline wal_stats_t stats_at(const char *file, int line, const wal_t *w)
{
    wal_stats_t st;
    memset(&st, 0xff, sizeof st);
    check_status_at(file, line, "wal_stats(w, &st)", wal_stats(w, &st), WAL_OK);
    return st;
}

#define STATS(w) stats_at(__FILE__, __LINE__, (w))

/* What a restart sees: closes `w`, reopens `dir` with `opts`, checks that a read delivers
 * `want` (into `got`) and closes again. */
static inline void check_reopens_to_at(const char *file, int line, wal_t *w, const char *dir,
                                       const wal_options *opts, const struct entry_log *want,
                                       struct entry_log *got)
{
    check_status_at(file, line, "wal_close(w)", wal_close(w), WAL_OK);
    check_status_at(file, line, "wal_open(dir, opts, &w)", wal_open(dir, opts, &w), WAL_OK);
    read_all_at(file, line, w, got);
    check_logs_equal_at(file, line, want, got);
    check_status_at(file, line, "wal_close(w)", wal_close(w), WAL_OK);
}

#define CHECK_REOPENS_TO(w, dir, opts, want, got)                                         \
    check_reopens_to_at(__FILE__, __LINE__, (w), (dir), (opts), (want), (got))

/* Log helpers that also record what was logged in `want` (empty batches write nothing). */
static inline void log_series_at(const char *file, int line, wal_t *w, struct entry_log *want,
                                 const wal_series *s, size_t n)
{
    wal_status st = wal_log_series(w, s, n);
    if (st != WAL_OK) status_fail(file, line, "wal_log_series(w, s, n)", st, WAL_OK);
    if (n > 0) entry_log_add_series(want, s, n, true);
}

static inline void log_samples_at(const char *file, int line, wal_t *w, struct entry_log *want,
                                  const wal_sample *s, size_t n)
{
    wal_status st = wal_log_samples(w, s, n);
    if (st != WAL_OK) status_fail(file, line, "wal_log_samples(w, s, n)", st, WAL_OK);
    if (n > 0) entry_log_add_samples(want, s, n);
}

static inline void log_deletes_at(const char *file, int line, wal_t *w, struct entry_log *want,
                                  const wal_tombstone *d, size_t n)
{
    wal_status st = wal_log_deletes(w, d, n);
    if (st != WAL_OK) status_fail(file, line, "wal_log_deletes(w, d, n)", st, WAL_OK);
    if (n > 0) entry_log_add_deletes(want, d, n);
}

#define LOG_SERIES(w, want, s, n) log_series_at(__FILE__, __LINE__, (w), (want), (s), (n))
#define LOG_SAMPLES(w, want, s, n) log_samples_at(__FILE__, __LINE__, (w), (want), (s), (n))
#define LOG_DELETES(w, want, d, n) log_deletes_at(__FILE__, __LINE__, (w), (want), (d), (n))

#endif /* TSWAL_C_TESTS_COMMON_H */
