package tswal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var sentinels = map[string]error{
	"ErrInvalidArgument": ErrInvalidArgument,
	"ErrIO":              ErrIO,
	"ErrCorruption":      ErrCorruption,
	"ErrState":           ErrState,
	"ErrLocked":          ErrLocked,
	"ErrAborted":         ErrAborted,
	"ErrPanic":           ErrPanic,
	"ErrFormat":          ErrFormat,
	"ErrClosed":          ErrClosed,
}

// checkError fails unless err matches the sentinels named by want and no other, and
// carries a message containing each of contains.
func checkError(t *testing.T, what string, err error, want []string, contains ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, want)
		return
	}
	for name, sentinel := range sentinels {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == name
		}
		if errors.Is(err, sentinel) != wanted {
			t.Errorf("%s: %v: errors.Is(err, %s) = %v", what, err, name, !wanted)
		}
	}
	var e *Error
	if !errors.As(err, &e) || e.Message == "" {
		t.Errorf("%s: %v: not an *Error with a message", what, err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("%s: %q does not contain %q", what, err, c)
		}
	}
}

// Every status the library reports, each matched by its sentinel only.
func TestErrorSentinels(t *testing.T) {
	root := t.TempDir()
	state := []string{"ErrState"}

	t.Run("invalid argument", func(t *testing.T) {
		dir := filepath.Join(root, "invalid")
		for name, opts := range map[string]*Options{
			"segment size":   {SegmentSize: 1},
			"negative size":  {SegmentSize: -1},
			"flush interval": {FlushInterval: -1},
			"sync mode":      {Sync: 7},
			"recovery mode":  {Recovery: 7},
		} {
			_, err := Open(dir, opts)
			checkError(t, name, err, []string{"ErrInvalidArgument"})
		}
		_, err := Open("wal\x00", nil)
		checkError(t, "NUL in the name", err, []string{"ErrInvalidArgument"})
	})

	t.Run("I/O", func(t *testing.T) {
		file := filepath.Join(root, "regular-file")
		must(t, os.WriteFile(file, []byte("not a directory"), 0o644))
		_, err := Open(filepath.Join(file, "wal"), nil)
		checkError(t, "a directory under a file", err, []string{"ErrIO"}, file)
	})

	t.Run("corruption", func(t *testing.T) {
		dir := copyDir(t, filepath.Join(fixtures, "corrupt-checksum", "wal"))
		w := open(t, dir, &Options{Recovery: RecoveryFail})
		checkError(t, "a bad checksum in RecoveryFail", w.Reader().Read(nil, nil, nil),
			[]string{"ErrCorruption"}, "000001", "checksum")
	})

	t.Run("state", func(t *testing.T) {
		dir := filepath.Join(root, "state")
		w := open(t, dir, nil)
		logSmall(t, w)
		must(t, w.Close())
		w = open(t, dir, nil)
		checkError(t, "a write before the first read", w.LogSamples(nil), state)
		checkError(t, "a truncation before the first read", w.Truncate(0, nil), state)
		must(t, w.Close())

		r := open(t, dir, &Options{ReadOnly: true})
		must(t, r.Reader().Read(nil, nil, nil))
		checkError(t, "a write to a read-only WAL", r.LogSamples([]RefSample{{1, 1, 1}}), state)
	})

	t.Run("locked", func(t *testing.T) {
		dir := filepath.Join(root, "locked")
		open(t, dir, nil)
		_, err := Open(dir, nil)
		checkError(t, "a second Open", err, []string{"ErrLocked"})
	})

	t.Run("aborted", func(t *testing.T) {
		dir := filepath.Join(root, "aborted")
		w := open(t, dir, nil)
		logSmall(t, w)
		stop := errors.New("enough")
		calls := 0
		err := w.Scan(func([]RefSeries) error {
			calls++
			return stop
		}, func([]RefSample) error {
			calls++
			return nil
		}, nil)
		checkError(t, "a Scan callback's error", err, []string{"ErrAborted"}, "enough")
		if !errors.Is(err, stop) {
			t.Errorf("%v does not wrap the callback's error", err)
		}
		if calls != 1 {
			t.Errorf("%d callback calls, want 1", calls)
		}
		must(t, w.Scan(nil, nil, nil))
	})

	t.Run("format", func(t *testing.T) {
		dir := filepath.Join(root, "format")
		must(t, os.Mkdir(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "000001"), []byte("first line of some notes\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "000002"), []byte("more notes\n"), 0o644))
		_, err := Open(dir, nil)
		checkError(t, "numbered text files", err, []string{"ErrFormat"})
	})

	t.Run("closed", func(t *testing.T) {
		w := open(t, filepath.Join(root, "closed"), nil)
		must(t, w.Close())
		checkError(t, "a call after Close", w.Sync(), []string{"ErrState", "ErrClosed"})
	})

	t.Run("panic", func(t *testing.T) {
		// The library reports an internal bug it caught as StatusPanic; nothing here
		// can cause one, so only the matching is checked.
		err := error(&Error{Status: StatusPanic, Message: "a bug"})
		checkError(t, "an internal error", err, []string{"ErrPanic"})
	})
}

func TestErrorText(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{ErrIO, "tswal: I/O error"},
		{&Error{Status: StatusLocked, Message: "/x is open"}, "tswal: directory locked by another handle: /x is open"},
		{&Error{Status: StatusAborted, Message: "stopped", Err: errors.New("why")},
			"tswal: read aborted by a callback: stopped: why"},
		// A message that only repeats the status is not repeated.
		{&Error{Status: StatusAborted, Message: "read aborted by a callback", Err: errors.New("why")},
			"tswal: read aborted by a callback: why"},
		{ErrClosed, "tswal: call not allowed in the current state: the WAL is closed"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
	if s := Status(99).String(); s != "unknown status" {
		t.Errorf("Status(99): %q", s)
	}
}
