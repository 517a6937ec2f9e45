package tswal

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// dumper writes what a read delivers in the dump format of the fixtures
// (tests/fixtures/README.md): one block per entry, in log order.
type dumper struct {
	strings.Builder
}

// read reads w completely into the dump.
func (d *dumper) read(w *WAL) error {
	return w.Reader().Read(d.series, d.samples, d.deletes)
}

func (d *dumper) series(series []RefSeries) {
	fmt.Fprintf(d, "series %d\n", len(series))
	for _, s := range series {
		fmt.Fprintf(d, "  %d", s.Ref)
		for _, l := range s.Labels {
			d.WriteByte(' ')
			d.quote(l.Name)
			d.WriteByte('=')
			d.quote(l.Value)
		}
		d.WriteByte('\n')
	}
}

func (d *dumper) samples(samples []RefSample) {
	fmt.Fprintf(d, "samples %d\n", len(samples))
	for _, s := range samples {
		fmt.Fprintf(d, "  %d %d %016x\n", s.Ref, s.T, math.Float64bits(s.V))
	}
}

// deletes writes one item per stone and interval: a read delivers one interval per
// stone, as the format stores them.
func (d *dumper) deletes(stones []Stone) {
	n := 0
	for _, s := range stones {
		n += len(s.Intervals)
	}
	fmt.Fprintf(d, "deletes %d\n", n)
	for _, s := range stones {
		for _, iv := range s.Intervals {
			fmt.Fprintf(d, "  %d %d %d\n", s.Ref, iv.Mint, iv.Maxt)
		}
	}
}

// quote writes s double-quoted: '"' and '\' escaped with a backslash, bytes below
// 0x20, 0x7f and bytes that are not valid UTF-8 as \xHH.
func (d *dumper) quote(s string) {
	d.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(d, `\x%02x`, s[i])
		case r == '"' || r == '\\':
			d.WriteByte('\\')
			d.WriteByte(byte(r))
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(d, `\x%02x`, r)
		default:
			d.WriteString(s[i : i+size])
		}
		i += size
	}
	d.WriteByte('"')
}
