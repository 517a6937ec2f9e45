package tswal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The reference WALs written by Prometheus tsdb's SegmentWAL, shared with the Rust and
// C tests (tests/fixtures/README.md).
const fixtures = "../tests/fixtures/prometheus-v1"

// Reading each reference WAL (a copy: reading a damaged one repairs it) delivers its
// expected.dump and, for a damaged one, leaves the segments of expected.files.
func TestFixtures(t *testing.T) {
	cases, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 19 {
		t.Errorf("%d fixture cases, want 19", len(cases))
	}
	for _, c := range cases {
		c := c.Name()
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, filepath.Join(fixtures, c, "wal"))
			w, err := Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			var d dumper
			err = d.read(w)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(fixtures, c, "expected.dump"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := firstDifference(d.String(), string(want)); diff != "" {
				t.Errorf("the dump differs from expected.dump: %s", diff)
			}
			files, err := os.ReadFile(filepath.Join(fixtures, c, "expected.files"))
			if os.IsNotExist(err) {
				return
			} else if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(segmentNames(t, dir), "\n"), strings.TrimSpace(string(files)); got != want {
				t.Errorf("segments after the read: %q, want %q", got, want)
			}
		})
	}
}

// firstDifference describes the first line where got and want differ; "" if equal.
func firstDifference(got, want string) string {
	if got == want {
		return ""
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; ; i++ {
		switch {
		case i >= len(g) || i >= len(w):
			return fmt.Sprintf("%d lines, want %d", len(g), len(w))
		case g[i] != w[i]:
			return fmt.Sprintf("line %d: %q, want %q", i+1, g[i], w[i])
		}
	}
}

// segmentNames lists the files of dir whose names are all digits, sorted.
func segmentNames(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") == "" && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	dst := filepath.Join(t.TempDir(), "wal")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Fatalf("%s: not a regular file", filepath.Join(src, e.Name()))
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
