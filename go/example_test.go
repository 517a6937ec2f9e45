package tswal_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

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
