package tswal

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The project's standard workload (see workload_test.go): 10,000 series, entries of
// 1,000 samples, 16 MiB segments, over TSWAL_BENCH_ROUNDS rounds of one sample per
// series. The default, 100 rounds (1 M samples), keeps go test -bench quick; the
// project's bench (cargo bench) runs 1,000 (10 M samples):
//
//	TSWAL_BENCH_ROUNDS=1000 go test -run '^$' -bench . -benchtime 5x
//
// TSWAL_BENCH_DIR sets where the WALs go (default: the test's temporary directory).
const (
	benchSeries      = 10_000
	benchSegmentSize = 16 << 20
)

func benchRounds(b *testing.B) int {
	s := os.Getenv("TSWAL_BENCH_ROUNDS")
	if s == "" {
		return 100
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("TSWAL_BENCH_ROUNDS=%q: not a positive number", s)
	}
	return n
}

func benchDir(b *testing.B) string {
	root := os.Getenv("TSWAL_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "tswal-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// samplesPerSecond reports the throughput of the timed phases.
func samplesPerSecond(b *testing.B, samples int, timed time.Duration) {
	b.ReportMetric(float64(samples)*float64(b.N)/timed.Seconds(), "samples/s")
}

// BenchmarkWrite logs the workload into a new WAL: the series, then the samples. As in
// the project's bench, the time counts the logging calls (and the workload generation
// between them), not Open, the final Sync or Close.
func BenchmarkWrite(b *testing.B) {
	rounds := benchRounds(b)
	root := benchDir(b)
	var timed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(root, strconv.Itoa(i))
		w, err := Open(dir, &Options{SegmentSize: benchSegmentSize})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := writeWorkload(w, benchSeries, rounds); err != nil {
			b.Fatal(err)
		}
		timed += time.Since(start)
		b.StopTimer()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	samplesPerSecond(b, benchSeries*rounds, timed)
}

// replaySums is what the replay callbacks compute from every entry, as the project's
// bench does, so that no work can be skipped.
type replaySums struct {
	series, labelBytes, samples int
	valueSum                    float64
	maxT                        int64
}

func (s *replaySums) onSeries(series []RefSeries) {
	s.series += len(series)
	for _, x := range series {
		for _, l := range x.Labels {
			s.labelBytes += len(l.Name) + len(l.Value)
		}
	}
}

func (s *replaySums) onSamples(samples []RefSample) {
	sum, maxT := s.valueSum, s.maxT
	for _, x := range samples {
		sum += x.V
		if x.T > maxT {
			maxT = x.T
		}
	}
	s.samples += len(samples)
	s.valueSum, s.maxT = sum, maxT
}

// BenchmarkReplay reads the workload's WAL (written once, before the timer starts):
// the time counts the read, not Open and Close.
func BenchmarkReplay(b *testing.B) {
	rounds := benchRounds(b)
	dir := benchDir(b)
	w, err := Open(dir, &Options{SegmentSize: benchSegmentSize})
	if err != nil {
		b.Fatal(err)
	}
	if err := writeWorkload(w, benchSeries, rounds); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	var timed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w, err := Open(dir, &Options{SegmentSize: benchSegmentSize})
		if err != nil {
			b.Fatal(err)
		}
		sums := replaySums{maxT: math.MinInt64}
		b.StartTimer()
		start := time.Now()
		if err := w.Reader().Read(sums.onSeries, sums.onSamples, nil); err != nil {
			b.Fatal(err)
		}
		timed += time.Since(start)
		b.StopTimer()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if sums.series != benchSeries || sums.samples != benchSeries*rounds {
			b.Fatalf("replayed %d series and %d samples, want %d and %d",
				sums.series, sums.samples, benchSeries, benchSeries*rounds)
		}
		b.StartTimer()
	}
	samplesPerSecond(b, benchSeries*rounds, timed)
}

// BenchmarkGenerate generates the workload without logging it: the generator's share
// of BenchmarkWrite.
func BenchmarkGenerate(b *testing.B) {
	rounds := benchRounds(b)
	batch := make([]RefSample, 0, batchSize)
	var sink float64
	var timed time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for first := uint64(1); first <= benchSeries; first += seriesPerEntry {
			s := seriesBatch(first, first+seriesPerEntry)
			sink += float64(len(s[len(s)-1].Labels))
		}
		stream := newSampleStream(1, benchSeries, rounds)
		for more := true; more; {
			if batch, more = stream.next(batch); more {
				sink += batch[len(batch)-1].V
			}
		}
		timed += time.Since(start)
	}
	if sink == 0 {
		b.Fatal("nothing generated")
	}
	samplesPerSecond(b, benchSeries*rounds, timed)
}
