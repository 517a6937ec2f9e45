package tswal

// #include "binding.h"
import "C"

import (
	"context"
	"math"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Position is where an entry of the log starts: the sequence number of its segment (3
// for the file 000003) and its offset in that file. Tail.Position is the position just
// after the last entry a tail delivered, where it reads next; a tail opened there
// continues exactly, never repeating or skipping an entry.
type Position struct {
	Segment uint64
	Offset  uint64
}

// TailStats counts what a tail delivered since it was opened, and what it could not:
// segments that a truncation (or a repair) removed before the tail had read them. Such
// entries are skipped and counted here, never silently.
type TailStats struct {
	// Entries counts the entries delivered.
	Entries uint64
	// Gaps counts the times the tail found segments gone that it had not read to their
	// end: each is a gap in what it delivered.
	Gaps uint64
	// GapSegments counts the segments in those gaps.
	GapSegments uint64
	// GapBytes counts their bytes the tail had not read, as far as it knew their sizes.
	GapBytes uint64
}

// Tail follows a WAL directory as it is written, by a WAL in this process or in
// another: Next delivers the entries in log order, following segment cuts and writer
// restarts, and waits when there is nothing new, woken by the directory changing
// (inotify on Linux). A tail only reads: it never creates, locks or changes anything,
// works while a writer has the WAL open, and the writer never waits for it.
//
// An entry reaches a tail once the writer hands it to the file: at a full buffer
// (1 MiB), Sync, a background flush (Options.FlushInterval bounds the delay) or Close.
// That includes entries not yet synced, which a power loss can take back; a consumer
// that must pass on only durable data makes the writer sync (SyncAlways, or Sync before
// it counts a batch as written).
//
// The checkpoint of a consumer is Position after Next: process what Next delivered,
// then save Position; a tail opened there later (OpenTail) goes on with the next entry.
//
// A Tail serves one Next at a time. Position, Stats and Close may be called from any
// goroutine at any time. Close it when done: it holds an inotify descriptor and open
// segment files.
type Tail struct {
	mu sync.Mutex
	// idle is signalled when a Next ends, for a Close waiting for it.
	idle sync.Cond
	h    *C.wal_tail_t // nil once closed
	// closing is set by Close: a Next in progress ends, a new one is refused.
	closing bool
	// busy is set while a Next runs, on the OS thread thread (where its callbacks run
	// too: a Close on that thread comes from one of them).
	busy   bool
	thread C.uintptr_t
	// pos and stats are the library's, as of the last Next to return: read without
	// asking the library, which refuses calls while a Next waits.
	pos   Position
	stats TailStats
}

// errTailClosed is the error of a call on a closed tail; it matches ErrClosed.
var errTailClosed error = &Error{Status: StatusState, Message: "the tail is closed", closed: true}

// OpenTail opens a tail on the WAL in directory dir, which must exist, from the entry
// at from (a position that Position gave), or from the start of the log if from is nil.
// The directory may hold no segment yet: the tail then waits for the first.
//
// A directory that is not a SegmentWAL (a Prometheus 2.3+ WAL, say) gets ErrFormat. A
// position inside a segment header or beyond the newest segment gets
// ErrInvalidArgument here; one inside an entry gets it from the first Next, which is
// when the tail reads that segment.
func OpenTail(dir string, from *Position) (*Tail, error) {
	if strings.IndexByte(dir, 0) >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: "the directory name contains a NUL byte"}
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var cfrom *C.wal_position
	if from != nil {
		cfrom = &C.wal_position{segment: C.uint64_t(from.Segment), offset: C.uint64_t(from.Offset)}
	}
	var h *C.wal_tail_t
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := check(C.wal_tail_open(cdir, cfrom, &h)); err != nil {
		return nil, err
	}
	t := &Tail{h: h}
	t.idle.L = &t.mu
	t.refresh(h)
	return t, nil
}

// Next delivers the entries available now, in log order, one callback call per entry
// on the calling goroutine, and returns how many it delivered. If there are none, it
// waits until the writer hands the files more, or until ctx is done: it then returns 0
// and ctx.Err(). Entries that arrive as ctx is done are delivered and returned as
// usual, with a nil error; if ctx is done already when Next is called, it returns
// ctx.Err() at once and delivers nothing, so that a loop over Next ends when its
// context does, however busy the writer.
//
// Callbacks follow the rules of WAL.Read's (slices valid only during the call, labels
// sorted by name, one Stone per interval) and stop the delivery as those of WAL.Scan
// do: a callback returning an error makes Next return an *Error with StatusAborted
// (matching ErrAborted) that wraps it; the entry it stopped on is delivered again by
// the next Next. A nil callback skips that type. If a callback panics, Next panics with
// the same value once the library call has returned; that entry too is delivered again
// next time, and the tail stays usable. Callbacks must not call runtime.Goexit.
// Callbacks must not call Next or Close of the same tail (they get an ErrState error),
// nor wait for a goroutine that closes it (Close waits for Next to return); Position
// and Stats called from one give the values of the previous Next.
//
// With an error, Next returns how many entries it delivered before it, as io.Reader
// does; those are not delivered again (Position is past them). Damage below the
// newest segment stops the tail: Next delivers the entries before it, and the next
// Next returns ErrCorruption, naming the segment and offset, until the WAL is repaired
// (by a WAL opened read-write and read, say). Segments that a truncation removed
// before the tail read them are skipped and counted in Stats.
//
// A Next while another is in progress returns an ErrState error at once. Close ends a
// Next that waits: it returns ErrClosed (or the entries it had delivered). After Close,
// Next returns ErrClosed.
func (t *Tail) Next(ctx context.Context, seriesf func([]RefSeries) error, samplesf func([]RefSample) error, deletesf func([]Stone) error) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// The callbacks run on this thread: a Close on it comes from one of them. The
	// thread also keeps the library's message of a failure for check.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := t.begin()
	if err != nil {
		return 0, err
	}
	defer t.end()
	s := &session{series: seriesf, samples: samplesf, deletes: deletesf}
	n, err := t.next(ctx, h, s)
	if s.panicked {
		panic(s.panicValue)
	}
	if e, ok := err.(*Error); ok && s.err != nil {
		e.Err = s.err
	}
	return n, err
}

// begin registers the Next about to run on this (locked) thread and returns the
// handle, or the error that refuses the call.
func (t *Tail) begin() (*C.wal_tail_t, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.h == nil || t.closing {
		return nil, errTailClosed
	}
	if t.busy {
		return nil, &Error{Status: StatusState, Message: "Next called while another Next of the " +
			"same tail is in progress (on another goroutine, or this is one of its callbacks): " +
			"a tail serves one Next at a time"}
	}
	t.busy, t.thread = true, C.tswal_thread()
	return t.h, nil
}

// end ends the Next registered by begin.
func (t *Tail) end() {
	t.mu.Lock()
	t.busy, t.thread = false, 0
	t.idle.Broadcast()
	t.mu.Unlock()
}

// next calls the library until it delivers entries, fails, ctx is done or Close asks
// the Next to end. A goroutine turns ctx's end into a wake of the library's wait; it
// is gone when next returns, so that no wake can reach a tail that Close frees.
func (t *Tail) next(ctx context.Context, h *C.wal_tail_t, s *session) (int, error) {
	handle := cgo.NewHandle(s)
	defer handle.Delete()
	if done := ctx.Done(); done != nil {
		stop := make(chan struct{})
		var waker sync.WaitGroup
		waker.Add(1)
		go func() {
			defer waker.Done()
			select {
			case <-done:
				// A wake with no wait in progress ends the next one, at once: none is
				// lost between two library calls of the loop below.
				C.wal_tail_wake(h)
			case <-stop:
			}
		}()
		defer func() {
			close(stop)
			waker.Wait()
		}()
	}
	series, samples, deletes := cbool(s.series != nil), cbool(s.samples != nil), cbool(s.deletes != nil)
	before := t.Stats().Entries
	for {
		var n C.size_t
		err := check(C.tswal_tail_next(h, series, samples, deletes, C.uintptr_t(handle), waitFor(ctx), &n))
		t.refresh(h)
		switch {
		case err != nil:
			// The library counts what it delivered before the error.
			return int(t.Stats().Entries - before), err
		case n > 0:
			return int(n), nil
		case t.isClosing():
			return 0, errTailClosed
		case ctx.Err() != nil:
			return 0, ctx.Err()
		}
		// Nothing, yet neither ctx nor Close ended the wait: a wake left over from an
		// earlier Next (its ctx ended as it returned), or the deadline not reached on
		// ctx's clock. Wait again.
	}
}

// waitFor is how long, in milliseconds, the library may wait for entries: until ctx's
// deadline, rounded up so that the wait does not end before ctx does, or as long as it
// can (about 49 days) without a deadline. ctx's end wakes the wait anyway; the limit
// only serves a Context whose Done never closes.
func waitFor(ctx context.Context) C.uint32_t {
	deadline, ok := ctx.Deadline()
	if !ok {
		return math.MaxUint32
	}
	left := time.Until(deadline)
	if left <= 0 {
		// Passed on this clock but not yet on ctx's timer: wait a little, not spin.
		return 1
	}
	ms := (left + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		return math.MaxUint32
	}
	return C.uint32_t(ms)
}

// refresh reads the library's position and counters into t, for Position and Stats;
// the caller holds the handle alone (a Next in progress, or OpenTail).
func (t *Tail) refresh(h *C.wal_tail_t) {
	var p C.wal_position
	var s C.wal_tail_stats_t
	okPos := C.wal_tail_position(h, &p) == C.WAL_OK
	okStats := C.wal_tail_stats(h, &s) == C.WAL_OK
	t.mu.Lock()
	defer t.mu.Unlock()
	if okPos {
		t.pos = Position{Segment: uint64(p.segment), Offset: uint64(p.offset)}
	}
	if okStats {
		t.stats = TailStats{
			Entries:     uint64(s.entries),
			Gaps:        uint64(s.gaps),
			GapSegments: uint64(s.gap_segments),
			GapBytes:    uint64(s.gap_bytes),
		}
	}
}

func (t *Tail) isClosing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closing
}

// Position returns the position just after the last entry delivered, as of the last
// Next to return (not one in progress): the checkpoint to save once what Next
// delivered is processed. A tail opened there with OpenTail continues exactly. Before
// the first entry it is where the tail starts (from, or for the start of the log a
// position that OpenTail takes as the start again). It never waits for a Next in
// progress, and after Close it keeps returning the last position.
func (t *Tail) Position() Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pos
}

// Stats returns the counters of the tail since it was opened, as of the last Next to
// return. Like Position, it never waits for a Next in progress and keeps returning the
// last counters after Close.
func (t *Tail) Stats() TailStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// Close ends a Next in progress on another goroutine (which returns ErrClosed, or the
// entries it had delivered), waits for it to return, and frees the tail. Any Next after
// it returns ErrClosed, and so does a second Close. Called from inside a callback of t
// it returns an ErrState error at once and leaves t open.
func (t *Tail) Close() error {
	thread := C.tswal_thread()
	t.mu.Lock()
	if t.h == nil || t.closing {
		t.mu.Unlock()
		return errTailClosed
	}
	if t.busy && t.thread == thread {
		t.mu.Unlock()
		return &Error{Status: StatusState, Message: "Close called from inside a callback of the same tail"}
	}
	t.closing = true
	h := t.h
	if t.busy {
		C.wal_tail_wake(h)
	}
	for t.busy {
		t.idle.Wait()
	}
	t.h = nil
	t.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return check(C.wal_tail_close(h))
}
