package tswal

// #include "binding.h"
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// Label is a label pair. Names and values are byte strings: not necessarily UTF-8.
type Label struct{ Name, Value string }

// Labels is a label set. Series read back have their labels sorted by name.
type Labels []Label

// RefSeries is a series and the reference by which samples and tombstones name it.
type RefSeries struct {
	Ref    uint64
	Labels Labels
}

// RefSample is one sample of the series Ref. Its memory layout is the C API's
// wal_sample, so batches pass to and from the library without copying.
type RefSample struct {
	Ref uint64
	T   int64
	V   float64
}

// Interval is the time range [Mint, Maxt], both ends included.
type Interval struct{ Mint, Maxt int64 }

// Intervals is a list of time ranges.
type Intervals []Interval

// Stone is a tombstone: the deleted time ranges of the series Ref.
type Stone struct {
	Ref       uint64
	Intervals Intervals
}

// The library reads and writes []RefSample in place: its layout must be wal_sample's.
func init() {
	var s RefSample
	var c C.wal_sample
	if unsafe.Sizeof(s) != unsafe.Sizeof(c) ||
		unsafe.Offsetof(s.Ref) != unsafe.Offsetof(c.ref) ||
		unsafe.Offsetof(s.T) != unsafe.Offsetof(c.t) ||
		unsafe.Offsetof(s.V) != unsafe.Offsetof(c.v) {
		panic("tswal: RefSample does not have the layout of wal_sample")
	}
}

// SyncMode says when a Log call returns, relative to durability.
type SyncMode uint32

const (
	// SyncNone (the default): a Log call returns once its entry is in the log's
	// buffer; entries are durable after Sync, a background flush (FlushInterval) or
	// Close.
	SyncNone SyncMode = C.WAL_SYNC_NONE
	// SyncAlways: a Log call returns only after its entry is fdatasynced. Concurrent
	// callers share fdatasyncs (group commit).
	SyncAlways SyncMode = C.WAL_SYNC_ALWAYS
)

// Recovery says what reads (and Open, for invalid segment headers) do with damage.
type Recovery uint32

const (
	// RecoveryTruncate (the default) repairs as Prometheus tsdb does: it keeps every
	// entry before the first damaged one, cuts its segment there and takes every later
	// segment out of the log (into quarantine, unless NoQuarantine).
	RecoveryTruncate Recovery = C.WAL_RECOVERY_TRUNCATE
	// RecoverySalvage keeps every entry whose checksum verifies and drops only the
	// damaged bytes.
	RecoverySalvage Recovery = C.WAL_RECOVERY_SALVAGE
	// RecoveryFail reports the first damage as an ErrCorruption error, naming segment
	// and offset, and changes nothing.
	RecoveryFail Recovery = C.WAL_RECOVERY_FAIL
)

// Options of Open. The zero value (or a nil *Options) gives the defaults.
type Options struct {
	// SegmentSize is the size of a segment file in bytes, from 4 KiB to 1 TiB;
	// 0 = the default, 256 MiB.
	SegmentSize int64
	// FlushInterval is the period of a background flush and fdatasync; 0 = none.
	// It is rounded up to whole milliseconds.
	FlushInterval time.Duration
	// Sync says when a Log call returns: SyncNone (default) or SyncAlways.
	Sync SyncMode
	// Recovery says what reads do with damaged data: RecoveryTruncate (default),
	// RecoverySalvage or RecoveryFail.
	Recovery Recovery
	// ReadOnly opens the WAL for reading only: the directory is not created, not
	// locked (it works while a writer holds it) and not changed; reads deliver what the
	// recovery mode would keep and count the damage in Stats; Log, Truncate and Sync
	// return ErrState.
	ReadOnly bool
	// NoQuarantine deletes what a repair takes out of the log, as Prometheus does,
	// instead of moving it into the quarantine/ folder of the WAL directory.
	NoQuarantine bool
}

// fill sets the fields of the C options that o gives (o may be nil).
func (o *Options) fill(c *C.wal_options) error {
	C.wal_options_init(c)
	if o == nil {
		return nil
	}
	if o.SegmentSize != 0 {
		// A negative size becomes one over 2^40, which the library refuses.
		c.segment_size = C.uint64_t(o.SegmentSize)
	}
	if o.FlushInterval < 0 {
		return &Error{Status: StatusInvalidArgument,
			Message: fmt.Sprintf("FlushInterval %v is negative", o.FlushInterval)}
	}
	c.flush_interval_ms = C.uint64_t((o.FlushInterval + time.Millisecond - 1) / time.Millisecond)
	c.sync = C.wal_sync_mode(o.Sync)
	c.recovery = C.wal_recovery_mode(o.Recovery)
	c.read_only = C.uint32_t(cbool(o.ReadOnly))
	c.quarantine = C.uint32_t(cbool(!o.NoQuarantine))
	return nil
}

// cbool is 1 for true, 0 for false.
func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Stats are the counters of a WAL since it was opened.
type Stats struct {
	// Segments is the number of segment files in the log now.
	Segments uint64
	// BytesWritten counts the entry bytes logged (header, body and CRC).
	BytesWritten uint64
	// EntriesWritten counts the entries logged.
	EntriesWritten uint64
	// SamplesWritten counts the samples logged.
	SamplesWritten uint64
	// Fsyncs counts the fsync and fdatasync calls made since Open (not those of Open).
	Fsyncs uint64
	// FsyncTime is the time spent in them.
	FsyncTime time.Duration
	// Corruptions counts the damaged regions found by reads and at Open, whether
	// repaired, reported or read past.
	Corruptions uint64
	// DroppedEntries counts the entries repairs dropped.
	DroppedEntries uint64
	// DroppedBytes counts the bytes repairs removed from the log.
	DroppedBytes uint64
	// WriteBacklogPeak is the most bytes of logged entries that waited to be written
	// at once.
	WriteBacklogPeak uint64
	// QuarantinedSegments counts the segment files repairs moved into quarantine.
	QuarantinedSegments uint64
	// QuarantinedBytes counts the bytes repairs moved or copied into quarantine.
	QuarantinedBytes uint64
}

func statsFrom(c *C.wal_stats_t) Stats {
	return Stats{
		Segments:            uint64(c.segments),
		BytesWritten:        uint64(c.bytes_written),
		EntriesWritten:      uint64(c.entries_written),
		SamplesWritten:      uint64(c.samples_written),
		Fsyncs:              uint64(c.fsyncs),
		FsyncTime:           time.Duration(c.fsync_time_ns),
		Corruptions:         uint64(c.corruptions),
		DroppedEntries:      uint64(c.dropped_entries),
		DroppedBytes:        uint64(c.dropped_bytes),
		WriteBacklogPeak:    uint64(c.write_backlog_peak),
		QuarantinedSegments: uint64(c.quarantined_segments),
		QuarantinedBytes:    uint64(c.quarantined_bytes),
	}
}
