package tswal

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"
)

var _ WALReader = (*WAL)(nil)

func TestVersion(t *testing.T) {
	if v := Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("Version() = %q", v)
	}
}

// open opens the WAL in dir, closed at the end of the test if it is still open.
func open(t *testing.T, dir string, opts *Options) *WAL {
	t.Helper()
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// entry is one entry read back, copied out of the callback.
type entry struct {
	Series  []RefSeries
	Samples []RefSample
	Stones  []Stone
}

// readAll reads w completely and returns its entries.
func readAll(t *testing.T, w *WAL) []entry {
	t.Helper()
	var entries []entry
	err := w.Reader().Read(
		func(s []RefSeries) { entries = append(entries, entry{Series: append([]RefSeries{}, s...)}) },
		func(s []RefSample) { entries = append(entries, entry{Samples: append([]RefSample{}, s...)}) },
		func(s []Stone) { entries = append(entries, entry{Stones: append([]Stone{}, s...)}) },
	)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return entries
}

// must fails the test if err is not nil.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameEntries compares entries by value, samples by the bits of their values (NaN).
func sameEntries(t *testing.T, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		samplesEqual := len(g.Samples) == len(w.Samples)
		for j := 0; samplesEqual && j < len(g.Samples); j++ {
			a, b := g.Samples[j], w.Samples[j]
			samplesEqual = a.Ref == b.Ref && a.T == b.T && math.Float64bits(a.V) == math.Float64bits(b.V)
		}
		g.Samples, w.Samples = nil, nil
		if !samplesEqual || !reflect.DeepEqual(g, w) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// Every type, logged and read back by the same WAL and after reopening it: labels
// sorted by name, byte strings kept as they are, a stone per interval.
func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	w := open(t, dir, nil)
	series := []RefSeries{
		{Ref: 1, Labels: Labels{{"job", "node"}, {"__name__", "up"}}},
		{Ref: 2, Labels: Labels{{"a", ""}, {"b", "caf\u00e9 \xff\x00 \"q\" \\"}}},
		{Ref: math.MaxUint64},
	}
	samples := []RefSample{
		{Ref: 1, T: 1_700_000_000_000, V: 1.5},
		{Ref: 2, T: -5, V: math.Inf(-1)},
		{Ref: math.MaxUint64, T: math.MaxInt64, V: math.NaN()},
		{Ref: 1, T: math.MinInt64, V: -0.0},
	}
	stones := []Stone{
		{Ref: 1, Intervals: Intervals{{0, 10}, {20, 30}}},
		{Ref: 2, Intervals: Intervals{{math.MinInt64, math.MaxInt64}}},
		{Ref: 3}, // no interval: nothing logged
	}
	must(t, w.LogSeries(series))
	must(t, w.LogSamples(samples))
	must(t, w.LogDeletes(stones))
	must(t, w.LogSamples(samples[:1]))

	want := []entry{
		{Series: []RefSeries{
			{Ref: 1, Labels: Labels{{"__name__", "up"}, {"job", "node"}}},
			series[1],
			{Ref: math.MaxUint64, Labels: Labels{}},
		}},
		{Samples: samples},
		{Stones: []Stone{
			{Ref: 1, Intervals: Intervals{{0, 10}}},
			{Ref: 1, Intervals: Intervals{{20, 30}}},
			{Ref: 2, Intervals: Intervals{{math.MinInt64, math.MaxInt64}}},
		}},
		{Samples: samples[:1]},
	}
	must(t, w.Sync())
	sameEntries(t, readAll(t, w), want)
	if st := w.Stats(); st.EntriesWritten != 4 || st.SamplesWritten != 5 || st.Segments != 1 {
		t.Errorf("Stats after the writes: %+v", st)
	}
	must(t, w.Close())

	w = open(t, dir, nil)
	sameEntries(t, readAll(t, w), want)
}

// A log over many segments, reopened: replayed in full, then written to again.
func TestReopenAndReplay(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 4096}
	var want []entry
	logBatches := func(w *WAL, first, n int) {
		for i := first; i < first+n; i++ {
			s := []RefSeries{{Ref: uint64(i), Labels: Labels{{"__name__", fmt.Sprintf("metric_%d", i)}}}}
			must(t, w.LogSeries(s))
			b := make([]RefSample, 50)
			for j := range b {
				b[j] = RefSample{Ref: uint64(i), T: int64(i*1000 + j), V: float64(j)}
			}
			must(t, w.LogSamples(b))
			want = append(want, entry{Series: s}, entry{Samples: b})
		}
	}
	w := open(t, dir, opts)
	logBatches(w, 0, 100)
	must(t, w.Close())

	w = open(t, dir, opts)
	if err := w.LogSamples(nil); !errors.Is(err, ErrState) {
		t.Errorf("a write before the first read: %v, want ErrState", err)
	}
	if n := w.Stats().Segments; n < 10 {
		t.Errorf("%d segments, want 10 or more", n)
	}
	sameEntries(t, readAll(t, w), want)
	logBatches(w, 100, 10)
	must(t, w.Close())

	w = open(t, dir, opts)
	sameEntries(t, readAll(t, w), want)
}

// fillForTruncation logs series 1..20 and 100 sample entries of all of them at
// t = 10*round, over small segments.
func fillForTruncation(t *testing.T, w *WAL) {
	series := make([]RefSeries, 20)
	for i := range series {
		series[i] = RefSeries{Ref: uint64(i + 1), Labels: Labels{{"__name__", fmt.Sprint("m", i+1)}}}
	}
	must(t, w.LogSeries(series))
	for round := 0; round < 100; round++ {
		b := make([]RefSample, 20)
		for i := range b {
			b[i] = RefSample{Ref: uint64(i + 1), T: int64(round * 10), V: float64(round)}
		}
		must(t, w.LogSamples(b))
	}
}

// Truncate drops the old segments and keeps the series keep asks for.
func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 4096}
	w := open(t, dir, opts)
	fillForTruncation(t, w)
	before := w.Stats().Segments
	asked := map[uint64]bool{}
	must(t, w.Truncate(500, func(ref uint64) bool {
		asked[ref] = true
		return ref%2 == 0
	}))
	if after := w.Stats().Segments; after >= before {
		t.Errorf("%d segments after the truncation, %d before", after, before)
	}
	if len(asked) != 20 {
		t.Errorf("keep was asked about %d series, want 20", len(asked))
	}
	must(t, w.Close())

	w = open(t, dir, opts)
	var refs []uint64
	minT, samples := int64(math.MaxInt64), 0
	must(t, w.Reader().Read(func(s []RefSeries) {
		for _, s := range s {
			refs = append(refs, s.Ref)
		}
	}, func(s []RefSample) {
		for _, s := range s {
			if s.T < minT {
				minT = s.T
			}
			if s.T >= 500 {
				samples++
			}
		}
	}, nil))
	if want := []uint64{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}; !reflect.DeepEqual(refs, want) {
		t.Errorf("series after the truncation: %v, want %v", refs, want)
	}
	if minT == 0 || minT >= 500 {
		t.Errorf("oldest sample after the truncation at %d, want in (0, 500)", minT)
	}
	if samples != 50*20 {
		t.Errorf("%d samples at or after 500, want 1000", samples)
	}
}

// Many goroutines log at once: every entry arrives whole, none is lost, and each
// goroutine's entries keep their order.
func TestConcurrentLogging(t *testing.T) {
	const goroutines, batches, size = 8, 200, 50
	dir := t.TempDir()
	w := open(t, dir, &Options{SegmentSize: 64 << 10})
	var wg sync.WaitGroup
	for g := 1; g <= goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ref := uint64(g)
			if err := w.LogSeries([]RefSeries{{Ref: ref, Labels: Labels{{"g", fmt.Sprint(g)}}}}); err != nil {
				t.Error(err)
				return
			}
			b := make([]RefSample, size)
			for i := 0; i < batches; i++ {
				for j := range b {
					b[j] = RefSample{Ref: ref, T: int64(i*size + j), V: float64(g)}
				}
				if err := w.LogSamples(b); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := w.LogDeletes([]Stone{{Ref: ref, Intervals: Intervals{{int64(i), int64(i)}}}}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	must(t, w.Close())

	w = open(t, dir, nil)
	next := map[uint64]int64{} // next timestamp per goroutine
	series, stones := 0, 0
	must(t, w.Reader().Read(func(s []RefSeries) {
		series += len(s)
	}, func(s []RefSample) {
		if len(s) != size {
			t.Fatalf("an entry of %d samples, want %d", len(s), size)
		}
		ref := s[0].Ref
		for j, x := range s {
			if x.Ref != ref || x.T != next[ref]+int64(j) || x.V != float64(ref) {
				t.Fatalf("entry of series %d at %d: sample %d is %+v", ref, next[ref], j, x)
			}
		}
		next[ref] += size
	}, func(s []Stone) {
		stones += len(s)
	}))
	for g := 1; g <= goroutines; g++ {
		if next[uint64(g)] != batches*size {
			t.Errorf("goroutine %d: %d samples read back, want %d", g, next[uint64(g)], batches*size)
		}
	}
	if series != goroutines || stones != goroutines*batches/50 {
		t.Errorf("%d series and %d stones, want %d and %d", series, stones, goroutines, goroutines*batches/50)
	}
}

// logSmall logs one series, one samples entry and one tombstone.
func logSmall(t *testing.T, w *WAL) {
	must(t, w.LogSeries([]RefSeries{{Ref: 1, Labels: Labels{{"__name__", "x"}}}}))
	must(t, w.LogSamples([]RefSample{{1, 10, 1}, {1, 20, 2}}))
	must(t, w.LogDeletes([]Stone{{Ref: 1, Intervals: Intervals{{0, 5}}}}))
}

// A panic in a read callback stops the read and comes out of Read with its value,
// after the library call returned; the WAL stays usable.
func TestCallbackPanic(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Close())
	w = open(t, dir, nil)

	value := &struct{ msg string }{"boom"}
	calls := 0
	got := catch(func() {
		_ = w.Reader().Read(func([]RefSeries) {
			calls++
			panic(value)
		}, func([]RefSample) { calls++ }, nil)
	})
	if got != value {
		t.Fatalf("Read panicked with %v, want %v", got, value)
	}
	if calls != 1 {
		t.Errorf("%d callback calls, want 1: the read goes on after a panic", calls)
	}
	if n := len(readAll(t, w)); n != 3 {
		t.Errorf("%d entries after the panic, want 3", n)
	}
	must(t, w.LogSamples([]RefSample{{1, 30, 3}}))
	must(t, w.Sync())
}

// A panic in Truncate's keep keeps the remaining series, lets the truncation finish,
// and comes out of Truncate with its value.
func TestKeepPanic(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 4096}
	w := open(t, dir, opts)
	fillForTruncation(t, w)
	before := w.Stats().Segments
	calls := 0
	got := catch(func() {
		_ = w.Truncate(500, func(ref uint64) bool {
			calls++
			if calls == 3 {
				panic("keep")
			}
			return false
		})
	})
	if got != "keep" {
		t.Fatalf("Truncate panicked with %v, want \"keep\"", got)
	}
	if calls != 3 {
		t.Errorf("keep was called %d times, want 3 (not after its panic)", calls)
	}
	if after := w.Stats().Segments; after >= before {
		t.Errorf("%d segments after the truncation, %d before", after, before)
	}
	must(t, w.LogSamples([]RefSample{{1, 2000, 3}}))
	must(t, w.Close())

	w = open(t, dir, opts)
	var refs []uint64
	must(t, w.Reader().Read(func(s []RefSeries) {
		for _, s := range s {
			refs = append(refs, s.Ref)
		}
	}, nil, nil))
	// Not kept: the first two asked about; kept: the 18 after them.
	if len(refs) != 18 {
		t.Errorf("series after the truncation: %v, want 18", refs)
	}
}

// catch runs f and returns the value it panicked with (nil if none).
func catch(f func()) (value any) {
	defer func() { value = recover() }()
	f()
	return nil
}

// Close twice, and every call after Close: ErrClosed, no crash.
func TestUseAfterClose(t *testing.T) {
	w := open(t, t.TempDir(), nil)
	logSmall(t, w)
	must(t, w.Close())
	calls := map[string]error{
		"Close":       w.Close(),
		"LogSeries":   w.LogSeries([]RefSeries{{Ref: 1}}),
		"LogSamples":  w.LogSamples([]RefSample{{1, 1, 1}}),
		"LogDeletes":  w.LogDeletes([]Stone{{Ref: 1, Intervals: Intervals{{1, 2}}}}),
		"Read":        w.Reader().Read(nil, nil, nil),
		"Scan":        w.Scan(nil, nil, nil),
		"Truncate":    w.Truncate(0, nil),
		"Sync":        w.Sync(),
		"Close again": w.Close(),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrState) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if st := w.Stats(); st != (Stats{}) {
		t.Errorf("Stats after Close: %+v, want zero", st)
	}
}

// Close (and any other call of the WAL) from inside one of its callbacks fails at once
// and leaves the WAL open.
func TestCloseInsideCallback(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, &Options{SegmentSize: 4096})
	fillForTruncation(t, w)
	var inside []error
	must(t, w.Reader().Read(nil, func([]RefSample) {
		if len(inside) == 0 {
			inside = append(inside, w.Close(), w.LogSamples([]RefSample{{1, 1, 1}}), w.Sync(),
				w.Reader().Read(nil, nil, nil))
			if st := w.Stats(); st != (Stats{}) {
				t.Errorf("Stats inside a callback: %+v, want zero", st)
			}
		}
	}, nil))
	must(t, w.Truncate(500, func(uint64) bool {
		if len(inside) == 4 {
			inside = append(inside, w.Close(), w.Truncate(0, nil))
		}
		return true
	}))
	if len(inside) != 6 {
		t.Fatalf("%d calls from inside callbacks, want 6", len(inside))
	}
	for i, err := range inside {
		if !errors.Is(err, ErrState) || errors.Is(err, ErrClosed) {
			t.Errorf("call %d from inside a callback: %v, want ErrState (not ErrClosed)", i, err)
		}
	}
	must(t, w.LogSamples([]RefSample{{1, 5000, 1}}))
	must(t, w.Close())
}

// Close waits for a read in progress on another goroutine.
func TestCloseWaitsForCalls(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	inCallback, release := make(chan struct{}), make(chan struct{})
	readDone := make(chan error)
	go func() {
		readDone <- w.Reader().Read(nil, func([]RefSample) {
			close(inCallback)
			<-release
		}, nil)
	}()
	<-inCallback
	closed := make(chan error)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned during a read: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := w.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync while Close waits: %v, want ErrClosed", err)
	}
	close(release)
	must(t, <-readDone)
	must(t, <-closed)
}

// Goroutines logging while another closes: each call succeeds or returns ErrClosed,
// and every entry logged before Close is read back after it.
func TestCloseWhileLogging(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	logged := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := w.LogSamples([]RefSample{{1, 1, 1}})
				if errors.Is(err, ErrClosed) {
					return
				} else if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				logged++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	must(t, w.Close())
	wg.Wait()

	w = open(t, dir, nil)
	entries := len(readAll(t, w))
	if entries != logged || logged == 0 {
		t.Errorf("%d entries read back, %d logged", entries, logged)
	}
}

// A read-only WAL reads a directory another WAL holds, and refuses writes.
func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Sync())
	r := open(t, dir, &Options{ReadOnly: true})
	if n := len(readAll(t, r)); n != 3 {
		t.Errorf("the read-only WAL read %d entries, want 3", n)
	}
	for name, err := range map[string]error{
		"LogSamples": r.LogSamples([]RefSample{{1, 30, 3}}),
		"Truncate":   r.Truncate(0, nil),
		"Sync":       r.Sync(),
	} {
		if !errors.Is(err, ErrState) {
			t.Errorf("%s on a read-only WAL: %v, want ErrState", name, err)
		}
	}
}
