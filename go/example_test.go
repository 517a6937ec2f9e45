package tswal_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"tswal"
)

// Open a WAL, replay it, log a series and its samples, and replay them after a restart.
func Example() {
	tmp, err := os.MkdirTemp("", "tswal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "wal")

	w, err := tswal.Open(dir, &tswal.Options{SegmentSize: 64 << 20})
	if err != nil {
		log.Fatal(err)
	}
	// Replay (required before the first write once the log holds entries).
	if err := w.Reader().Read(nil, nil, nil); err != nil {
		log.Fatal(err)
	}
	err = w.LogSeries([]tswal.RefSeries{
		{Ref: 1, Labels: tswal.Labels{{Name: "__name__", Value: "up"}, {Name: "job", Value: "node"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.LogSamples([]tswal.RefSample{{Ref: 1, T: 1700000000000, V: 1}}); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // syncs
		log.Fatal(err)
	}

	w, err = tswal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	err = w.Reader().Read(func(series []tswal.RefSeries) {
		for _, s := range series {
			fmt.Println("series", s.Ref, s.Labels)
		}
	}, func(samples []tswal.RefSample) {
		for _, s := range samples { // valid only during this call
			fmt.Println("sample", s.Ref, s.T, s.V)
		}
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// series 1 [{__name__ up} {job node}]
	// sample 1 1700000000000 1
}

// Follow a WAL as another goroutine (or process) writes it, save the tail's position,
// and resume there later with what was logged since.
func ExampleTail() {
	tmp, err := os.MkdirTemp("", "tswal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "wal")
	w, err := tswal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	tail, err := tswal.OpenTail(dir, nil) // nil: from the start of the log
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		err := w.LogSeries([]tswal.RefSeries{
			{Ref: 1, Labels: tswal.Labels{{Name: "__name__", Value: "up"}, {Name: "job", Value: "node"}}},
		})
		if err == nil {
			err = w.LogSamples([]tswal.RefSample{{Ref: 1, T: 1700000000000, V: 1}})
		}
		if err == nil {
			err = w.Sync() // hands the entries to the file, which wakes the tail
		}
		if err != nil {
			log.Fatal(err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	series := func(series []tswal.RefSeries) error {
		for _, s := range series {
			fmt.Println("series", s.Ref, s.Labels)
		}
		return nil
	}
	samples := func(samples []tswal.RefSample) error {
		for _, s := range samples { // valid only during this call
			fmt.Println("sample", s.Ref, s.T, s.V)
		}
		return nil // an error would stop Next; this entry would come again
	}
	for got := 0; got < 2; {
		n, err := tail.Next(ctx, series, samples, nil) // waits for the writer
		if err != nil {
			log.Fatal(err)
		}
		got += n
	}
	saved := tail.Position() // a consumer stores it once it has processed the entries
	if err := tail.Close(); err != nil {
		log.Fatal(err)
	}

	if err := w.LogSamples([]tswal.RefSample{{Ref: 1, T: 1700000015000, V: 0}}); err != nil {
		log.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		log.Fatal(err)
	}
	tail, err = tswal.OpenTail(dir, &saved) // continues exactly after the last entry
	if err != nil {
		log.Fatal(err)
	}
	defer tail.Close()
	if _, err := tail.Next(ctx, series, samples, nil); err != nil {
		log.Fatal(err)
	}
	// Output:
	// series 1 [{__name__ up} {job node}]
	// sample 1 1700000000000 1
	// sample 1 1700000015000 0
}
