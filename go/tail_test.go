package tswal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A generous guard for waits that must end: never reached unless something hangs.
const tailGuard = 30 * time.Second

// openTail opens a tail, closed at the end of the test if it is still open.
func openTail(t *testing.T, dir string, from *Position) *Tail {
	t.Helper()
	tl, err := OpenTail(dir, from)
	if err != nil {
		t.Fatalf("OpenTail(%s, %v): %v", dir, from, err)
	}
	t.Cleanup(func() {
		if err := tl.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return tl
}

// collector gathers what a tail delivers as entries, copied out of the callbacks.
type collector struct {
	entries []entry
}

func (c *collector) series(s []RefSeries) error {
	c.entries = append(c.entries, entry{Series: append([]RefSeries{}, s...)})
	return nil
}

func (c *collector) samples(s []RefSample) error {
	c.entries = append(c.entries, entry{Samples: append([]RefSample{}, s...)})
	return nil
}

func (c *collector) deletes(s []Stone) error {
	c.entries = append(c.entries, entry{Stones: append([]Stone{}, s...)})
	return nil
}

// next runs one Next with a deadline of wait into c; it fails the test on an error
// other than the deadline, and on a Next that returns 0 entries without an error.
func (c *collector) next(t *testing.T, tl *Tail, wait time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	n, err := tl.Next(ctx, c.series, c.samples, c.deletes)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && n == 0:
	case err != nil:
		t.Fatalf("Next: %d, %v", n, err)
	case n == 0:
		t.Fatal("Next returned 0 entries and no error")
	}
	return n
}

// until runs Next into c until it holds at least n entries.
func (c *collector) until(t *testing.T, tl *Tail, n int) {
	t.Helper()
	limit := time.Now().Add(tailGuard)
	for len(c.entries) < n {
		if time.Now().After(limit) {
			t.Fatalf("%d entries after %v, want %d", len(c.entries), tailGuard, n)
		}
		c.next(t, tl, time.Second)
	}
}

// The entries the writer process logs: at step i a series, its samples, and at every
// 16th step a tombstone. Entries of 1 to 2 KB, so that 64 KiB segments are cut often.
func tailStep(i int) []entry {
	ref := uint64(i) + 1
	samples := make([]RefSample, 100+i%100)
	for k := range samples {
		samples[k] = RefSample{Ref: ref, T: int64(i)*1000 + int64(k), V: float64(i) + float64(k)/4}
	}
	e := []entry{
		{Series: []RefSeries{{Ref: ref, Labels: Labels{{"__name__", "tail_test"}, {"step", strconv.Itoa(i)}}}}},
		{Samples: samples},
	}
	if i%16 == 0 {
		e = append(e, entry{Stones: []Stone{{Ref: ref, Intervals: Intervals{{int64(i), int64(i) + 1}}}}})
	}
	return e
}

const (
	tailWriterEnv  = "TSWAL_TAIL_TEST_WRITER" // "dir:first:end" in the writer process
	tailRuns       = 4
	tailStepsInRun = 150
)

// The writer process of TestTailFollowsWriterProcess (skipped otherwise): opens the
// WAL, replays it (the steps before first must all be there), logs steps first..end-1
// with a Sync after each, and closes it.
func TestTailWriterProcess(t *testing.T) {
	arg := os.Getenv(tailWriterEnv)
	if arg == "" {
		t.Skip("the writer process of TestTailFollowsWriterProcess")
	}
	parts := strings.Split(arg, ":")
	first, _ := strconv.Atoi(parts[1])
	end, _ := strconv.Atoi(parts[2])
	w := open(t, parts[0], &Options{SegmentSize: 64 << 10})
	n := 0
	must(t, w.Reader().Read(func([]RefSeries) { n++ }, func([]RefSample) { n++ }, func([]Stone) { n++ }))
	want := 0
	for i := 0; i < first; i++ {
		want += len(tailStep(i))
	}
	if n != want {
		t.Fatalf("the replay delivered %d entries, want %d", n, want)
	}
	for i := first; i < end; i++ {
		for _, e := range tailStep(i) {
			switch {
			case e.Series != nil:
				must(t, w.LogSeries(e.Series))
			case e.Samples != nil:
				must(t, w.LogSamples(e.Samples))
			default:
				must(t, w.LogDeletes(e.Stones))
			}
		}
		must(t, w.Sync())
	}
	must(t, w.Close())
}

// A writer in another process, restarted between runs, logs across many segment cuts;
// the tail in this process is closed and reopened at its saved position every few
// entries. Everything arrives exactly once, in order, with no gap.
func TestTailFollowsWriterProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	must(t, os.Mkdir(dir, 0o755))
	var want []entry
	for i := 0; i < tailRuns*tailStepsInRun; i++ {
		want = append(want, tailStep(i)...)
	}

	writer := make(chan error, 1)
	go func() {
		for run := 0; run < tailRuns; run++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestTailWriterProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%d", tailWriterEnv, dir,
				run*tailStepsInRun, (run+1)*tailStepsInRun))
			if out, err := cmd.CombinedOutput(); err != nil {
				writer <- fmt.Errorf("writer run %d: %v\n%s", run, err, out)
				return
			}
		}
		writer <- nil
	}()

	// A tail from the start of a directory with no segment yet, stopped by its callback
	// after a few entries (that entry comes again from the next tail), then closed and
	// reopened where it was.
	errEnough := errors.New("enough for this tail")
	var got []entry
	var at *Position
	tails, limit := 0, time.Now().Add(2*tailGuard)
	writerDone := false
	for len(got) < len(want) && !t.Failed() {
		select {
		case err := <-writer:
			if err != nil {
				t.Fatal(err)
			}
			writerDone = true
		default:
		}
		if time.Now().After(limit) {
			t.Fatalf("%d entries of %d after %v, %d tails", len(got), len(want), 2*tailGuard, tails)
		}
		tl, err := OpenTail(dir, at)
		if err != nil {
			t.Fatalf("OpenTail(%v): %v", at, err)
		}
		tails++
		quota := 5 + tails%11
		take := func(e entry) error {
			if quota == 0 {
				return errEnough
			}
			if i := len(got); i >= len(want) || !reflect.DeepEqual(e, want[i]) {
				t.Errorf("entry %d: %+v, want the %d entries logged", i, e, len(want))
				return errEnough
			}
			got = append(got, e)
			quota--
			return nil
		}
		for quota > 0 && len(got) < len(want) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			n, err := tl.Next(ctx, func(s []RefSeries) error {
				return take(entry{Series: append([]RefSeries{}, s...)})
			}, func(s []RefSample) error {
				return take(entry{Samples: append([]RefSample{}, s...)})
			}, func(s []Stone) error {
				return take(entry{Stones: append([]Stone{}, s...)})
			})
			cancel()
			if errors.Is(err, ErrAborted) && errors.Is(err, errEnough) ||
				errors.Is(err, context.DeadlineExceeded) && n == 0 && !writerDone {
				break // to a new tail, after a look at the writer
			}
			if err != nil || n == 0 {
				t.Fatalf("tail %d: Next: %d, %v", tails, n, err)
			}
		}
		if st := tl.Stats(); st.Gaps != 0 || st.GapSegments != 0 || st.GapBytes != 0 {
			t.Errorf("tail %d: %+v: a gap where nothing was truncated", tails, st)
		}
		p := tl.Position()
		at = &p
		must(t, tl.Close())
	}
	if !writerDone {
		if err := <-writer; err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	if tails < 30 {
		t.Errorf("the tail was reopened %d times, want at least 30", tails)
	}
	if n := len(segmentNames(t, dir)); n < 10 {
		t.Errorf("%d segments: the writer cut too few", n)
	}
	// The last position resumes with nothing more: every entry was delivered once.
	tl := openTail(t, dir, at)
	var c collector
	if c.next(t, tl, 20*time.Millisecond); len(c.entries) != 0 {
		t.Errorf("%d entries after the last position", len(c.entries))
	}
}

// Next on an idle WAL ends with ctx: context.Canceled, context.DeadlineExceeded, and
// at once for a ctx done already, even with entries there.
func TestTailContext(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Sync())
	tl := openTail(t, dir, nil)

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := tl.Next(done, nil, nil, nil); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled ctx: %d, %v, want 0, context.Canceled", n, err)
	}
	var c collector
	c.until(t, tl, 3)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if n, err := tl.Next(ctx, c.series, c.samples, c.deletes); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Next cancelled while waiting: %d, %v, want 0, context.Canceled", n, err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if n, err := tl.Next(ctx, c.series, c.samples, c.deletes); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next past its deadline: %d, %v, want 0, context.DeadlineExceeded", n, err)
	}

	// The tail still follows the writer; a cancelled wait leaves nothing behind that
	// ends the next one early.
	must(t, w.LogSamples([]RefSample{{1, 30, 3}}))
	must(t, w.Sync())
	c.until(t, tl, 4)
	sameEntries(t, c.entries[3:], []entry{{Samples: []RefSample{{1, 30, 3}}}})
	if st := tl.Stats(); st.Entries != 4 {
		t.Errorf("%+v, want 4 entries", st)
	}
}

// Close ends a Next waiting on another goroutine, which returns ErrClosed; every call
// after Close returns ErrClosed, while Position and Stats keep their last values.
func TestTailCloseWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Sync())
	tl, err := OpenTail(dir, nil)
	must(t, err)
	var c collector
	c.until(t, tl, 3)
	pos, stats := tl.Position(), tl.Stats()

	type result struct {
		n   int
		err error
	}
	waiting := make(chan result, 1)
	go func() {
		n, err := tl.Next(context.Background(), nil, nil, nil)
		waiting <- result{n, err}
	}()
	time.Sleep(20 * time.Millisecond)
	must(t, tl.Close())
	select {
	case r := <-waiting:
		if r.n != 0 || !errors.Is(r.err, ErrClosed) {
			t.Errorf("the waiting Next: %d, %v, want 0, ErrClosed", r.n, r.err)
		}
	case <-time.After(tailGuard):
		t.Fatal("Close did not end the waiting Next")
	}
	_, err = tl.Next(context.Background(), nil, nil, nil)
	checkError(t, "Next after Close", err, []string{"ErrState", "ErrClosed"}, "tail")
	checkError(t, "Close again", tl.Close(), []string{"ErrState", "ErrClosed"})
	if p, st := tl.Position(), tl.Stats(); p != pos || st != stats || st.Entries != 3 {
		t.Errorf("after Close: %+v %+v, want %+v %+v", p, st, pos, stats)
	}
}

// From inside a callback, Close and Next of the same tail fail at once with ErrState
// (no deadlock), and Position gives the value of the previous Next.
func TestTailCallsInsideCallback(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Sync())
	tl := openTail(t, dir, nil)
	before := tl.Position()
	var inside []error
	n, err := tl.Next(context.Background(), func([]RefSeries) error {
		_, nerr := tl.Next(context.Background(), nil, nil, nil)
		inside = append(inside, tl.Close(), nerr)
		if p := tl.Position(); p != before {
			t.Errorf("Position inside a callback: %+v, want %+v", p, before)
		}
		return nil
	}, nil, nil)
	if n != 3 || err != nil {
		t.Fatalf("Next: %d, %v", n, err)
	}
	if len(inside) != 2 {
		t.Fatalf("%d calls from inside the callback, want 2", len(inside))
	}
	checkError(t, "Close inside a callback", inside[0], []string{"ErrState"}, "inside a callback")
	checkError(t, "Next inside a callback", inside[1], []string{"ErrState"}, "one Next at a time")
	if p := tl.Position(); p == before {
		t.Errorf("Position did not move: %+v", p)
	}
	must(t, tl.Close())
}

// A second Next while one is in progress (waiting, or in a callback) returns ErrState
// at once; the first goes on.
func TestTailConcurrentNext(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Sync())
	tl := openTail(t, dir, nil)

	inCallback, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := tl.Next(context.Background(), func([]RefSeries) error {
			close(inCallback)
			<-release
			return nil
		}, nil, nil)
		first <- err
	}()
	<-inCallback
	_, err := tl.Next(context.Background(), nil, nil, nil)
	checkError(t, "Next during a callback of another", err, []string{"ErrState"}, "one Next at a time")
	close(release)
	must(t, <-first)

	// Two Nexts that would both wait: one is refused, the other waits until cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := tl.Next(ctx, nil, nil, nil)
			results <- err
		}()
	}
	checkError(t, "the second of two waiting Nexts", <-results, []string{"ErrState"})
	cancel()
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Errorf("the waiting Next: %v, want context.Canceled", err)
	}
}

// A callback's error stops Next with ErrAborted wrapping it, and the next Next
// delivers that entry again; a callback's panic comes out of Next, and that entry too
// comes again.
func TestTailCallbackErrorAndPanic(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Sync())
	tl := openTail(t, dir, nil)

	var c collector
	stop := errors.New("not now")
	n, err := tl.Next(context.Background(), c.series, func([]RefSample) error { return stop }, c.deletes)
	checkError(t, "a callback's error", err, []string{"ErrAborted"}, "not now")
	// The series entry before the stopped one was delivered, and is counted once.
	if !errors.Is(err, stop) || n != 1 || tl.Stats().Entries != 1 {
		t.Errorf("Next: %d, %v (Stats().Entries %d), want 1 and an error wrapping the callback's",
			n, err, tl.Stats().Entries)
	}

	value := &struct{ msg string }{"boom"}
	got := catch(func() {
		_, _ = tl.Next(context.Background(), c.series, func([]RefSample) error { panic(value) }, c.deletes)
	})
	if got != value {
		t.Fatalf("Next panicked with %v, want %v", got, value)
	}

	c.until(t, tl, 3)
	sameEntries(t, c.entries, []entry{
		{Series: []RefSeries{{Ref: 1, Labels: Labels{{"__name__", "x"}}}}},
		{Samples: []RefSample{{1, 10, 1}, {1, 20, 2}}},
		{Stones: []Stone{{Ref: 1, Intervals: Intervals{{0, 5}}}}},
	})
}

// A position inside an entry is refused at the first Next, one inside a header or
// beyond the log at OpenTail; a directory that is not a SegmentWAL is ErrFormat.
func TestTailOpenErrors(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, nil)
	logSmall(t, w)
	must(t, w.Close())

	tl := openTail(t, dir, &Position{Segment: 1, Offset: 9})
	_, err := tl.Next(context.Background(), nil, nil, nil)
	checkError(t, "a position inside an entry", err, []string{"ErrInvalidArgument"}, "does not start an entry")
	for _, c := range []struct {
		at   Position
		says string
	}{
		{Position{1, 2}, "inside the segment header"},
		{Position{7, 8}, "beyond the log"},
	} {
		_, err := OpenTail(dir, &c.at)
		checkError(t, fmt.Sprintf("position %+v", c.at), err, []string{"ErrInvalidArgument"}, c.says)
	}

	// The position a tail reports before its first entry opens a tail at the start.
	start := openTail(t, dir, nil).Position()
	var c collector
	c.until(t, openTail(t, dir, &start), 3)

	_, err = OpenTail("wal\x00", nil)
	checkError(t, "NUL in the name", err, []string{"ErrInvalidArgument"})
	_, err = OpenTail(filepath.Join(dir, "missing"), nil)
	checkError(t, "a missing directory", err, []string{"ErrIO"}, "missing")

	notes := filepath.Join(t.TempDir(), "notes")
	must(t, os.Mkdir(notes, 0o755))
	must(t, os.WriteFile(filepath.Join(notes, "00000000"), []byte("first line of some notes\n"), 0o644))
	_, err = OpenTail(notes, nil)
	checkError(t, "a numbered text file", err, []string{"ErrFormat"})
}

// A truncation removes segments the tail listed but had not read: the tail delivers
// the rest of the segment it has open, then goes on at the oldest entry left, and
// counts the gap.
func TestTailTruncationGap(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, &Options{SegmentSize: 4096})
	logSteps := func(from, to int) {
		for i := from; i < to; i++ {
			samples := make([]RefSample, 10)
			for k := range samples {
				samples[k] = RefSample{Ref: uint64(k), T: int64(i), V: float64(k)}
			}
			must(t, w.LogSamples(samples))
		}
		must(t, w.Sync())
	}
	logSteps(0, 200)
	tl := openTail(t, dir, nil)
	var steps []int64
	take := func(s []RefSample) error {
		steps = append(steps, s[0].T)
		return nil
	}
	stop := errors.New("three are enough")
	_, err := tl.Next(context.Background(), nil, func(s []RefSample) error {
		if len(steps) == 3 {
			return stop
		}
		return take(s)
	}, nil)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Next: %v, want ErrAborted", err)
	}

	logSteps(200, 400)
	before := len(segmentNames(t, dir))
	must(t, w.Truncate(300, nil))
	if after := len(segmentNames(t, dir)); after >= before-2 {
		t.Fatalf("%d segments after the truncation, %d before", after, before)
	}
	// What is left of the log, as a read-only WAL reads it.
	r := open(t, dir, &Options{ReadOnly: true})
	var left []int64
	must(t, r.Reader().Read(nil, func(s []RefSample) { left = append(left, s[0].T) }, nil))

	limit := time.Now().Add(tailGuard)
	for len(steps) == 0 || steps[len(steps)-1] != 399 {
		if time.Now().After(limit) {
			t.Fatalf("steps %v after %v", steps, tailGuard)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := tl.Next(ctx, nil, take, nil); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		cancel()
	}
	// steps: 0, 1, 2, the rest of the first segment from 3 on, then exactly the log left.
	end := 0
	for end < len(steps) && steps[end] == int64(end) {
		end++
	}
	if end < 3 || len(left) == 0 || left[0] <= int64(end) || !reflect.DeepEqual(steps[end:], left) {
		t.Errorf("steps %v, want 0, 1, ... then the steps left: %v", steps, left)
	}
	st := tl.Stats()
	if st.Gaps < 1 || st.GapSegments == 0 || st.GapBytes == 0 {
		t.Errorf("%+v: the gap is not counted", st)
	}
}

// snapshot is the names and contents of everything under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	must(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			files[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(path)
		files[rel] = string(b)
		return err
	}))
	return files
}

// A tail of each reference WAL delivers exactly its expected.dump. Where the damage is
// below the newest segment, the tail then stops with ErrCorruption, naming the segment
// and offset where a read-only RecoveryFail read reports it; damage a reading WAL
// would repair but a tail need not stop at (stray non-segment files, an empty newest
// segment, which a tail takes for one being created) does not stop it. The tail
// changes no byte and no name.
func TestTailFixtures(t *testing.T) {
	damaged := map[string]bool{
		"corrupt-bad_header": true, "corrupt-bad_type": true, "corrupt-body_content": true,
		"corrupt-checksum": true, "corrupt-flip_middle": true, "corrupt-huge_length": true,
		"corrupt-symbols_type": true, "corrupt-truncate_body": true, "corrupt-truncate_checksum": true,
	}
	cases, err := os.ReadDir(fixtures)
	must(t, err)
	for _, c := range cases {
		c := c.Name()
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, filepath.Join(fixtures, c, "wal"))
			before := snapshot(t, dir)
			want, err := os.ReadFile(filepath.Join(fixtures, c, "expected.dump"))
			must(t, err)
			// Where a read of the copy that reports damage instead of repairing it says
			// the damage is (at Open for a bad header).
			var where string
			r, err := Open(dir, &Options{ReadOnly: true, Recovery: RecoveryFail})
			if err == nil {
				err = r.Reader().Read(nil, nil, nil)
				must(t, r.Close())
			}
			if err != nil {
				if !errors.Is(err, ErrCorruption) {
					t.Fatal(err)
				}
				msg := err.(*Error).Message
				where = msg[:strings.Index(msg, ": ")]
			}
			if (where != "") != damaged[c] {
				t.Fatalf("damage found: %q; want some: %v", where, damaged[c])
			}

			tl := openTail(t, dir, nil)
			var d dumper
			var stopped error
			for i := 0; i < 100 && stopped == nil; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				n, err := tl.Next(ctx, noError(d.series), noError(d.samples), noError(d.deletes))
				cancel()
				if err != nil {
					stopped = err
					if n != 0 {
						t.Errorf("Next returned %d entries with %v", n, err)
					}
				}
			}
			if diff := firstDifference(d.String(), string(want)); diff != "" {
				t.Errorf("the tail's dump differs from expected.dump: %s", diff)
			}
			if damaged[c] {
				// where is "segment <path> at offset <n>".
				checkError(t, "damage", stopped, []string{"ErrCorruption"}, where, "stops here")
				_, err := tl.Next(context.Background(), nil, nil, nil)
				checkError(t, "Next again", err, []string{"ErrCorruption"}, where)
			} else if !errors.Is(stopped, context.DeadlineExceeded) {
				t.Errorf("Next: %v, want context.DeadlineExceeded", stopped)
			}
			if st := tl.Stats(); st.Entries != uint64(strings.Count(string(want), "\n")-strings.Count(string(want), "\n  ")) {
				t.Errorf("%+v: not the entries of expected.dump", st)
			}
			must(t, tl.Close())
			if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("the tail changed the directory: %d names before, %d after", len(before), len(after))
			}
		})
	}
}
