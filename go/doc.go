// Package tswal is the Go binding of tswal, a write-ahead log for time-series
// databases that reads and writes the WAL of Prometheus tsdb (SegmentWAL, format
// version 1) byte for byte. Its API has the shape of tsdb's WAL interface —
// LogSeries, LogSamples, LogDeletes, Reader().Read, Truncate, Close — so that code
// written against SegmentWAL moves over by changing an import.
//
// The package calls the C library libtswal through cgo: one cgo call per batch, with
// samples passed to the library and delivered back without copying.
//
// # Linking
//
// Build tags choose where libtswal comes from:
//
//   - no tag (in-tree): the package is the go/ directory of the tswal repository and
//     uses the library built there, include/tswal.h and target/release/libtswal.so
//     (found at run time through an rpath).
//   - tswal_static: links the in-tree target/release/libtswal.a into the binary (with
//     -lpthread -ldl -lm), which then runs without libtswal.so.
//   - tswal_pkgconfig: an installed library, found with pkg-config tswal (installed by
//     cargo cinstall; set PKG_CONFIG_PATH for a prefix pkg-config does not search).
//     The binary loads libtswal.so from the library path (LD_LIBRARY_PATH, say, for a
//     prefix the dynamic linker does not search).
//
// In-tree, build the library first, at the root of the repository:
//
//	cargo rustc --release -p tswal --lib --features capi --crate-type cdylib,staticlib
//	cd go && go test ./...                  # or: go test -tags tswal_static ./...
//
// From another module, require the package by its module path, tswal, replaced by
// this directory:
//
//	go mod edit -require tswal@v0.0.0 -replace tswal=/path/to/tswal/go
//
// Against an installed library:
//
//	cargo cinstall --release --prefix /usr/local --libdir /usr/local/lib
//	go build -tags tswal_pkgconfig ./...
//
// # Using a WAL
//
// Open a WAL, replay it with Reader().Read (required before the first write when the
// log holds entries), then log batches: each LogSeries, LogSamples or LogDeletes call
// writes one entry. Entries are durable after Sync, a background flush
// (Options.FlushInterval) or Close, or when the Log call returns with SyncAlways.
// Truncate drops old segments, keeping the series its keep function asks for.
//
// A WAL is safe for concurrent use by many goroutines. Close waits for the calls in
// progress; every call after it returns ErrClosed. Read callbacks and Truncate's keep
// function run on the calling goroutine and must not use the same WAL (see Read).
//
// # Following a WAL as it is written
//
// A Tail delivers the entries of a WAL as a writer, in this process or another, logs
// them: in log order, following segment cuts and writer restarts. Its Next waits,
// woken by the directory changing, when there is nothing new, and returns when its
// context is done, so a consumer stops it by cancelling. Once the consumer has
// processed what Next delivered, it saves Position: a tail opened there later continues
// exactly, never repeating or skipping an entry. A tail only reads, and the writer
// never waits for it. Segments a truncation removed before the tail read them are
// skipped and counted (Stats); damage below the newest segment stops it with
// ErrCorruption until the WAL is repaired.
//
//	tail, err := tswal.OpenTail("data/wal", saved) // a saved *Position, or nil: the start
//	if err != nil {
//		return err
//	}
//	defer tail.Close()
//	for {
//		_, err := tail.Next(ctx, nil, func(samples []tswal.RefSample) error {
//			return ship(samples) // an error stops Next; this entry comes again next time
//		}, nil)
//		if err != nil {
//			return err // ctx.Err() once ctx is done; ErrCorruption; ...
//		}
//		save(tail.Position())
//	}
//
// # Errors
//
// Every error is an *Error carrying the library's status and message; errors.Is
// matches it against the sentinels ErrInvalidArgument, ErrIO, ErrCorruption,
// ErrState, ErrLocked, ErrAborted, ErrPanic, ErrFormat and ErrClosed.
package tswal
