package tswal

// Where libtswal comes from (see the package documentation):
//   - no tag: the in-tree build, ../target/release/libtswal.so, found at run time
//     through an rpath;
//   - tswal_static: the in-tree ../target/release/libtswal.a, linked into the binary;
//   - tswal_pkgconfig: an installed library, through pkg-config (tswal.pc).

// #cgo !tswal_pkgconfig CFLAGS: -I${SRCDIR}/../include
// #cgo !tswal_pkgconfig,!tswal_static LDFLAGS: -L${SRCDIR}/../target/release -ltswal -Wl,-rpath,${SRCDIR}/../target/release
// #cgo !tswal_pkgconfig,tswal_static LDFLAGS: ${SRCDIR}/../target/release/libtswal.a -lpthread -ldl -lm
// #cgo tswal_pkgconfig pkg-config: tswal
import "C"
