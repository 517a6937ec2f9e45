// Declarations shared by the cgo preambles of this package and callbacks.c.
#ifndef TSWAL_GO_BINDING_H
#define TSWAL_GO_BINDING_H

#include <stdint.h>
#include <stdlib.h>
#include <tswal.h>

// wal_read and wal_truncate with the callbacks of callbacks.c: a non-zero flag passes
// the callback for that type, zero passes NULL; ctx is a runtime/cgo.Handle.
wal_status tswal_read(wal_t *w, int series, int samples, int deletes, uintptr_t ctx);
wal_status tswal_truncate(wal_t *w, int64_t mint, int keep, uintptr_t ctx);

// wal_tail_next with the callbacks of callbacks.c, flags and ctx as for tswal_read.
wal_status tswal_tail_next(wal_tail_t *t, int series, int samples, int deletes, uintptr_t ctx,
                           uint32_t timeout_ms, size_t *entries);

// An identifier of the calling OS thread.
uintptr_t tswal_thread(void);

#endif
