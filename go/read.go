package tswal

// #include "binding.h"
import "C"

import (
	"runtime"
	"runtime/cgo"
	"strings"
	"unsafe"
)

// Read delivers every entry of the log in order, one callback call per entry, on the
// calling goroutine. A nil callback skips that type (its entries are still checked).
//
// The slices a callback receives are valid only during the call: the []RefSample
// is the library's own buffer, and the []RefSeries and []Stone are reused for the
// next entry. Copy what you keep. The Labels of a series, their strings and the
// Intervals of a stone are the callback's to keep (the label strings of one entry
// share one allocation). Labels arrive sorted by name; a tombstone entry arrives as
// one Stone per (ref, interval), as the format stores it.
//
// Damage is handled by the recovery mode (see Options.Recovery). Callbacks must not
// call into w: such calls return ErrState, and Close returns one too. They must not
// wait for other goroutines that use w either: Close waits for the read to end, and
// the library makes writers wait for it too. If a callback panics, the read stops and
// Read panics with the same value after the library call has returned; w stays
// usable. Callbacks must not call runtime.Goexit (or t.FailNow in tests).
func (w *WAL) Read(seriesf func([]RefSeries), samplesf func([]RefSample), deletesf func([]Stone)) error {
	return w.Scan(noError(seriesf), noError(samplesf), noError(deletesf))
}

// noError turns a callback of Read into one of Scan that never stops the read.
func noError[T any](f func([]T)) func([]T) error {
	if f == nil {
		return nil
	}
	return func(x []T) error {
		f(x)
		return nil
	}
}

// Scan is Read with callbacks that can stop it: a callback returning an error stops
// the read, and Scan returns an *Error with StatusAborted (matching ErrAborted) that
// wraps it (errors.Is and errors.As find it). A nil callback skips that type.
func (w *WAL) Scan(seriesf func([]RefSeries) error, samplesf func([]RefSample) error, deletesf func([]Stone) error) error {
	s := &session{series: seriesf, samples: samplesf, deletes: deletesf}
	return w.withCallbacks(s, func(h *C.wal_t, ctx C.uintptr_t) C.wal_status {
		return C.tswal_read(h, cbool(seriesf != nil), cbool(samplesf != nil), cbool(deletesf != nil), ctx)
	})
}

// Truncate drops the oldest segments (never the newest) whose samples and tombstones
// all lie before mint; the series in them for which keep returns true are rewritten
// into one segment. A nil keep keeps every series. keep runs on the calling goroutine,
// under the rules of Read's callbacks; if it panics, the remaining series are kept,
// the truncation completes, and Truncate then panics with the same value.
func (w *WAL) Truncate(mint int64, keep func(ref uint64) bool) error {
	s := &session{keep: keep}
	return w.withCallbacks(s, func(h *C.wal_t, ctx C.uintptr_t) C.wal_status {
		return C.tswal_truncate(h, C.int64_t(mint), cbool(keep != nil), ctx)
	})
}

// withCallbacks runs f, a library call whose callbacks get the context ctx, with the
// callbacks of s; it re-panics with the value of a callback's panic once f returned.
func (w *WAL) withCallbacks(s *session, f func(h *C.wal_t, ctx C.uintptr_t) C.wal_status) error {
	err := w.callWithCallbacks(s, f)
	if s.panicked {
		panic(s.panicValue)
	}
	if e, ok := err.(*Error); ok && s.err != nil {
		e.Err = s.err
	}
	return err
}

func (w *WAL) callWithCallbacks(s *session, f func(h *C.wal_t, ctx C.uintptr_t) C.wal_status) error {
	h, err := w.enter()
	if err != nil {
		return err
	}
	defer w.leave()
	// The callbacks run on this thread: a Close on it comes from one of them.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	thread := C.tswal_thread()
	w.mu.Lock()
	w.callbackThreads[thread]++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.callbackThreads[thread]--; w.callbackThreads[thread] == 0 {
			delete(w.callbackThreads, thread)
		}
		w.mu.Unlock()
	}()
	ctx := cgo.NewHandle(s)
	defer ctx.Delete()
	return check(f(h, C.uintptr_t(ctx)))
}

// session is the state of one Read, Scan or Truncate, which its callbacks reach
// through a cgo.Handle.
type session struct {
	series  func([]RefSeries) error
	samples func([]RefSample) error
	deletes func([]Stone) error
	keep    func(uint64) bool

	err        error // the error that stopped the read
	panicked   bool
	panicValue any

	seriesBuf []RefSeries // reused from entry to entry
	stonesBuf []Stone
}

func sessionOf(ctx C.uintptr_t) *session {
	return cgo.Handle(ctx).Value().(*session)
}

// deliver runs a read callback; a non-zero result stops the read. A panic is
// recovered (it must not unwind through the library's frames) and kept for the caller.
func (s *session) deliver(f func() error) (stop C.int) {
	if s.panicked {
		return 1
	}
	done := false
	defer func() {
		if !done {
			s.panicked, s.panicValue, stop = true, recover(), 1
		}
	}()
	err := f()
	done = true
	if err != nil {
		s.err = err
		return 1
	}
	return 0
}

func (s *session) onSeries(series []C.wal_series) error {
	nLabels, nBytes := 0, 0
	for i := range series {
		nLabels += int(series[i].labels_len)
		for _, l := range labelsOf(&series[i]) {
			nBytes += int(l.name_len + l.value_len)
		}
	}
	// One copy of all label bytes, which every label string of this entry slices.
	var b strings.Builder
	b.Grow(nBytes)
	for i := range series {
		for _, l := range labelsOf(&series[i]) {
			b.Write(bytesOf(l.name, l.name_len))
			b.Write(bytesOf(l.value, l.value_len))
		}
	}
	text := b.String()
	labels := make([]Label, nLabels)
	out := s.seriesBuf[:0]
	at := 0
	for i := range series {
		ls := labels[:series[i].labels_len:series[i].labels_len]
		labels = labels[len(ls):]
		for j, l := range labelsOf(&series[i]) {
			ls[j].Name, at = text[at:at+int(l.name_len)], at+int(l.name_len)
			ls[j].Value, at = text[at:at+int(l.value_len)], at+int(l.value_len)
		}
		out = append(out, RefSeries{Ref: uint64(series[i].ref), Labels: ls})
	}
	s.seriesBuf = out
	return s.series(out)
}

func (s *session) onDeletes(tombstones []C.wal_tombstone) error {
	intervals := make([]Interval, len(tombstones))
	out := s.stonesBuf[:0]
	for i, t := range tombstones {
		intervals[i] = Interval{Mint: int64(t.mint), Maxt: int64(t.maxt)}
		out = append(out, Stone{Ref: uint64(t.ref), Intervals: intervals[i : i+1 : i+1]})
	}
	s.stonesBuf = out
	return s.deletes(out)
}

func labelsOf(s *C.wal_series) []C.wal_label {
	return unsafe.Slice(s.labels, s.labels_len)
}

func bytesOf(p *C.char, n C.size_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
}
