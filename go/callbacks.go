package tswal

// The Go side of the callbacks: callbacks.c hands the library's callbacks on to these
// functions. (A file with //export functions must have only declarations in its
// preamble.)

// #include "binding.h"
import "C"

import "unsafe"

//export tswalOnSeries
func tswalOnSeries(ctx C.uintptr_t, p *C.wal_series, n C.size_t) C.int {
	s := sessionOf(ctx)
	return s.deliver(func() error { return s.onSeries(unsafe.Slice(p, n)) })
}

//export tswalOnSamples
func tswalOnSamples(ctx C.uintptr_t, p *C.wal_sample, n C.size_t) C.int {
	s := sessionOf(ctx)
	// The library's buffer, as []RefSample (same layout, checked at init): no copy.
	return s.deliver(func() error { return s.samples(unsafe.Slice((*RefSample)(unsafe.Pointer(p)), n)) })
}

//export tswalOnDeletes
func tswalOnDeletes(ctx C.uintptr_t, p *C.wal_tombstone, n C.size_t) C.int {
	s := sessionOf(ctx)
	return s.deliver(func() error { return s.onDeletes(unsafe.Slice(p, n)) })
}

//export tswalKeep
func tswalKeep(ctx C.uintptr_t, ref C.uint64_t) C.int {
	s := sessionOf(ctx)
	// After a panic, deliver returns 1 at once: the remaining series are kept.
	keep := true
	s.deliver(func() error {
		keep = s.keep(uint64(ref))
		return nil
	})
	return cbool(keep)
}
