// C side of the read, tail and truncate callbacks. A Go function exported to C cannot
// be declared with the const pointers of wal_series_cb and the other callback types, so
// these trampolines take the library's callbacks and hand them on to the exported Go
// functions of callbacks.go. ctx is a runtime/cgo.Handle, never a Go pointer.

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "_cgo_export.h"

static int on_series(void *ctx, const wal_series *series, size_t len)
{
    return tswalOnSeries((uintptr_t)ctx, (wal_series *)series, len);
}

static int on_samples(void *ctx, const wal_sample *samples, size_t len)
{
    return tswalOnSamples((uintptr_t)ctx, (wal_sample *)samples, len);
}

static int on_deletes(void *ctx, const wal_tombstone *tombstones, size_t len)
{
    return tswalOnDeletes((uintptr_t)ctx, (wal_tombstone *)tombstones, len);
}

static bool keep(void *ctx, uint64_t ref)
{
    return tswalKeep((uintptr_t)ctx, ref) != 0;
}

wal_status tswal_read(wal_t *w, int series, int samples, int deletes, uintptr_t ctx)
{
    return wal_read(w, series ? on_series : NULL, samples ? on_samples : NULL,
                    deletes ? on_deletes : NULL, (void *)ctx);
}

wal_status tswal_tail_next(wal_tail_t *t, int series, int samples, int deletes, uintptr_t ctx,
                           uint32_t timeout_ms, size_t *entries)
{
    return wal_tail_next(t, series ? on_series : NULL, samples ? on_samples : NULL,
                         deletes ? on_deletes : NULL, (void *)ctx, timeout_ms, entries);
}

wal_status tswal_truncate(wal_t *w, int64_t mint, int with_keep, uintptr_t ctx)
{
    return wal_truncate(w, mint, with_keep ? keep : NULL, (void *)ctx);
}

uintptr_t tswal_thread(void)
{
    return (uintptr_t)pthread_self();
}
