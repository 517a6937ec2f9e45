// The C++ example of the README, built by CI against the installed library.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <vector>
#include <tswal.hpp>

int main() {
  try {
    tswal::Options opts;              // the defaults of wal_options_init
    opts.segment_size = 64 << 20;
    tswal::Wal wal = tswal::Wal::open("data/wal", opts);  // closed by the destructor

    int64_t newest = std::numeric_limits<int64_t>::min();  // replay: required before the first write
    wal.read(tswal::skip, [&](tswal::Span<const tswal::Sample> samples) {
      for (const tswal::Sample& s : samples)  // valid only during this call
        newest = std::max(newest, s.t);
    });  // an exception thrown in a callback stops the read and comes out of read()

    const tswal::Label labels[] = {{"__name__", "up"}, {"job", "node"}};
    wal.log_series({{1, labels}});
    std::vector<tswal::Sample> batch = {{1, 1700000000000, 1.0}};
    wal.log_samples(batch);  // any contiguous range, passed without copying
    wal.sync();              // durable once sync() returns
    wal.close();             // reports what the destructor would ignore
  } catch (const tswal::Error& e) {  // e.status(), e.what(): "I/O error: ..."
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
