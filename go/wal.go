package tswal

// #include "binding.h"
import "C"

import (
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// WAL is an open write-ahead log. It is safe for concurrent use by many goroutines.
// Close it when done: it holds a lock on its directory.
type WAL struct {
	mu sync.Mutex
	// idle is signalled when the last call in progress ends while Close waits.
	idle sync.Cond
	h    *C.wal_t // nil once Close has started
	// calls counts the library calls in progress; Close waits until none is left.
	calls int
	// callbackThreads counts, per OS thread, the Read, Scan and Truncate calls running
	// on it: a Close on one of these threads comes from inside a callback.
	callbackThreads map[C.uintptr_t]int
}

// WALReader reads a WAL, as the reader of Prometheus tsdb's WAL interface.
type WALReader interface {
	// Read delivers every entry of the log in order: see WAL.Read.
	Read(seriesf func([]RefSeries), samplesf func([]RefSample), deletesf func([]Stone)) error
}

// Open opens the WAL in directory dir, creating the directory if it is missing (unless
// read-only). A nil opts gives the defaults. If the log holds entries, read it once
// completely (Read or Scan) before logging or truncating: until then those calls
// return ErrState. A second Open of the same directory, in this or another process,
// returns ErrLocked until the first WAL is closed.
func Open(dir string, opts *Options) (*WAL, error) {
	if strings.IndexByte(dir, 0) >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: "the directory name contains a NUL byte"}
	}
	var o C.wal_options
	if err := opts.fill(&o); err != nil {
		return nil, err
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var h *C.wal_t
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := check(C.wal_open(cdir, &o, &h)); err != nil {
		return nil, err
	}
	w := &WAL{h: h, callbackThreads: make(map[C.uintptr_t]int)}
	w.idle.L = &w.mu
	return w, nil
}

// Version returns the version of the C library in use, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.wal_version())
}

// enter registers a call in progress and returns the handle, or ErrClosed.
func (w *WAL) enter() (*C.wal_t, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		return nil, ErrClosed
	}
	w.calls++
	return w.h, nil
}

// leave ends a call registered by enter.
func (w *WAL) leave() {
	w.mu.Lock()
	w.calls--
	if w.calls == 0 {
		w.idle.Broadcast()
	}
	w.mu.Unlock()
}

// call runs the library call f on the handle, on one OS thread so that a failure's
// message is that of f.
func (w *WAL) call(f func(h *C.wal_t) C.wal_status) error {
	h, err := w.enter()
	if err != nil {
		return err
	}
	defer w.leave()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return check(f(h))
}

// Reader returns the WAL itself: its Read method.
func (w *WAL) Reader() WALReader {
	return w
}

// LogSeries logs series as one entry. It copies the label strings once, into memory
// of the C library; w keeps no reference to series.
func (w *WAL) LogSeries(series []RefSeries) error {
	a := newSeriesArena(series)
	defer a.free()
	return w.call(func(h *C.wal_t) C.wal_status {
		return C.wal_log_series(h, a.series, C.size_t(len(series)))
	})
}

// LogSamples logs samples as one entry. The library reads the slice in place,
// without copying it into another form; w keeps no reference to it.
func (w *WAL) LogSamples(samples []RefSample) error {
	return w.call(func(h *C.wal_t) C.wal_status {
		var p *C.wal_sample
		if len(samples) > 0 {
			p = (*C.wal_sample)(unsafe.Pointer(&samples[0]))
		}
		return C.wal_log_samples(h, p, C.size_t(len(samples)))
	})
}

// LogDeletes logs stones as one entry of tombstones, one per (Ref, interval), as the
// format stores them: a Stone with no intervals logs nothing.
func (w *WAL) LogDeletes(stones []Stone) error {
	n := 0
	for _, s := range stones {
		n += len(s.Intervals)
	}
	flat := make([]C.wal_tombstone, 0, n)
	for _, s := range stones {
		for _, iv := range s.Intervals {
			flat = append(flat, C.wal_tombstone{
				ref:  C.uint64_t(s.Ref),
				mint: C.int64_t(iv.Mint),
				maxt: C.int64_t(iv.Maxt),
			})
		}
	}
	return w.call(func(h *C.wal_t) C.wal_status {
		var p *C.wal_tombstone
		if n > 0 {
			p = &flat[0]
		}
		return C.wal_log_deletes(h, p, C.size_t(n))
	})
}

// Sync writes what was logged and fdatasyncs it: when it returns nil, every entry
// logged before the call is durable. It returns the first error not yet reported, also
// one met by the background writer or flush; after that, ErrState.
func (w *WAL) Sync() error {
	return w.call(func(h *C.wal_t) C.wal_status { return C.wal_sync(h) })
}

// Stats returns the counters of w since it was opened; the zero Stats after Close or
// from inside a callback of w (where the library refuses the call).
func (w *WAL) Stats() Stats {
	var s C.wal_stats_t
	if w.call(func(h *C.wal_t) C.wal_status { return C.wal_stats(h, &s) }) != nil {
		return Stats{}
	}
	return statsFrom(&s)
}

// Close waits for the calls in progress on other goroutines to return, writes and
// syncs what was logged, and releases the directory. Any call after it returns
// ErrClosed, a second Close too. Called from inside a callback of w it returns an
// ErrState error at once and leaves w open. The WAL is closed even when Close returns
// an error (the error of the final sync, say).
func (w *WAL) Close() error {
	thread := C.tswal_thread()
	w.mu.Lock()
	if w.h == nil {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.callbackThreads[thread] > 0 {
		w.mu.Unlock()
		return &Error{Status: StatusState, Message: "Close called from inside a callback of the same WAL"}
	}
	h := w.h
	w.h = nil // refuses new calls
	for w.calls > 0 {
		w.idle.Wait()
	}
	w.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return check(C.wal_close(h))
}

// seriesArena holds a LogSeries batch in C memory, as the C API takes it: the
// wal_series array, then the wal_label array, then the label bytes.
type seriesArena struct {
	mem    unsafe.Pointer
	series *C.wal_series
}

func newSeriesArena(series []RefSeries) seriesArena {
	nLabels, nBytes := 0, 0
	for _, s := range series {
		nLabels += len(s.Labels)
		for _, l := range s.Labels {
			nBytes += len(l.Name) + len(l.Value)
		}
	}
	seriesSize := uintptr(len(series)) * C.sizeof_wal_series
	labelsSize := uintptr(nLabels) * C.sizeof_wal_label
	mem := C.malloc(C.size_t(seriesSize + labelsSize + uintptr(nBytes) + 1))
	if mem == nil {
		panic("tswal: out of memory")
	}
	cseries := unsafe.Slice((*C.wal_series)(mem), len(series))
	clabels := unsafe.Slice((*C.wal_label)(unsafe.Add(mem, seriesSize)), nLabels)
	text := (*C.char)(unsafe.Add(mem, seriesSize+labelsSize))
	buf := unsafe.Slice((*byte)(unsafe.Pointer(text)), nBytes)
	put := func(s string) (*C.char, C.size_t) {
		p := (*C.char)(unsafe.Add(unsafe.Pointer(text), nBytes-len(buf)))
		buf = buf[copy(buf, s):]
		return p, C.size_t(len(s))
	}
	next := 0
	for i, s := range series {
		ls := clabels[next : next+len(s.Labels)]
		for j, l := range s.Labels {
			ls[j].name, ls[j].name_len = put(l.Name)
			ls[j].value, ls[j].value_len = put(l.Value)
		}
		cseries[i] = C.wal_series{ref: C.uint64_t(s.Ref), labels_len: C.size_t(len(ls))}
		if len(ls) > 0 {
			cseries[i].labels = &ls[0]
		}
		next += len(ls)
	}
	return seriesArena{mem: mem, series: (*C.wal_series)(mem)}
}

func (a seriesArena) free() {
	C.free(a.mem)
}
