package tswal

// #include "binding.h"
import "C"

// Status is the library's status code (wal_status): what kind of failure an Error is.
type Status uint32

// The statuses of the C API.
const (
	StatusOK              Status = C.WAL_OK
	StatusInvalidArgument Status = C.WAL_ERR_INVALID_ARGUMENT
	StatusIO              Status = C.WAL_ERR_IO
	StatusCorruption      Status = C.WAL_ERR_CORRUPTION
	StatusState           Status = C.WAL_ERR_STATE
	StatusLocked          Status = C.WAL_ERR_LOCKED
	StatusAborted         Status = C.WAL_ERR_ABORTED
	StatusPanic           Status = C.WAL_ERR_PANIC
	StatusFormat          Status = C.WAL_ERR_FORMAT
)

// String is the library's name of the status, e.g. "I/O error".
func (s Status) String() string {
	return C.GoString(C.wal_status_str(C.wal_status(s)))
}

// Error is every error of this package: the library's status and message. Match it
// with errors.Is against the sentinels below, or read its fields with errors.As.
type Error struct {
	// Status says what kind of failure this is.
	Status Status
	// Message is the library's description: paths, errno text, segment and offset.
	Message string
	// Err is the error a callback of Scan or Tail.Next returned to stop the delivery
	// (Status is then StatusAborted); Unwrap returns it.
	Err error

	closed bool // use after Close (ErrClosed)
}

// Sentinels for errors.Is. Every error of one status matches its sentinel:
// errors.Is(err, ErrLocked) is true for any Error with StatusLocked.
var (
	// ErrInvalidArgument: a bad option, or an entry too large for the format.
	ErrInvalidArgument error = &Error{Status: StatusInvalidArgument}
	// ErrIO: the operating system refused; the message names the path and the errno text.
	ErrIO error = &Error{Status: StatusIO}
	// ErrCorruption: damage reported instead of repaired (RecoveryFail, an entry whose
	// checksum matches but whose body does not decode, or damage that stops a Tail);
	// the message names the segment and offset.
	ErrCorruption error = &Error{Status: StatusCorruption}
	// ErrState: not allowed now: a write or truncation before the first complete read
	// of a WAL that held data, a write to a read-only WAL, a call from inside a
	// callback of the same WAL, a write after the WAL failed on an fsync error, a
	// second Next of a Tail while one is in progress, and a call after Close (which
	// also matches ErrClosed).
	ErrState error = &Error{Status: StatusState}
	// ErrLocked: the directory is open in another WAL, in this or another process.
	ErrLocked error = &Error{Status: StatusLocked}
	// ErrAborted: a callback of Scan or Tail.Next returned an error, which the Error
	// wraps.
	ErrAborted error = &Error{Status: StatusAborted}
	// ErrPanic: the library caught an internal bug; the WAL is unusable (close it).
	ErrPanic error = &Error{Status: StatusPanic}
	// ErrFormat: the directory is not a SegmentWAL (a Prometheus 2.3+ WAL, say) or
	// holds segment names it cannot use; nothing in it was changed.
	ErrFormat error = &Error{Status: StatusFormat}
	// ErrClosed is returned by every call on a WAL or Tail after Close (and by Close
	// itself then). It is a state error: errors.Is(ErrClosed, ErrState) holds, while other
	// state errors do not match ErrClosed.
	ErrClosed error = &Error{Status: StatusState, Message: "the WAL is closed", closed: true}
)

func (e *Error) Error() string {
	s := "tswal: " + e.Status.String()
	if e.Message != "" && e.Message != e.Status.String() {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether e has the status of target, an *Error such as a sentinel. Only
// the errors of a call after Close match ErrClosed.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && (!t.closed || e.closed)
}

// Unwrap returns the error with which a callback stopped the delivery, if any.
func (e *Error) Unwrap() error {
	return e.Err
}

// check turns the status of a library call into an error with the message the library
// left for this thread: the caller must have locked its goroutine to the thread the
// call ran on (runtime.LockOSThread) and made no other library call since.
func check(st C.wal_status) error {
	if st == C.WAL_OK {
		return nil
	}
	return &Error{Status: Status(st), Message: C.GoString(C.wal_last_error())}
}
