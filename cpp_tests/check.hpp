// Shared helpers of the C++ tests of tswal.hpp (built and run by tests/cpp_api.rs):
//   - CHECK macros that stop the program with file:line and what failed;
//   - CHECK_ERROR, which runs a statement and expects a tswal::Error with a given status;
//   - an entry log: WAL entries rendered as text (values by bit pattern, label bytes
//     escaped), filled from what a test logs or by the callbacks of a read, and compared;
//   - a main() that runs named test cases, each with its own directory under argv[1].
#ifndef TSWAL_CPP_TESTS_CHECK_HPP
#define TSWAL_CPP_TESTS_CHECK_HPP

#include "tswal.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace check {

[[noreturn]] inline void fail(const char* file, int line, const std::string& what) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s:%d: %s\n", file, line, what.c_str());
    std::exit(1);
}

template <class A, class B>
void equal_at(const char* file, int line, const char* exprs, const A& a, const B& b) {
    if (a == b) return;
    std::ostringstream why;
    why << "CHECK_EQ(" << exprs << ") failed: " << a << " != " << b;
    fail(file, line, why.str());
}

inline bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// Runs f and returns the tswal::Error it throws; fails unless it throws one with `want`.
template <class F>
tswal::Error error_at(const char* file, int line, const char* expr, wal_status want, F&& f) {
    try {
        f();
    } catch (const tswal::Error& e) {
        if (e.status() != want)
            fail(file, line,
                 std::string(expr) + " threw tswal::Error \"" + e.what() + "\", expected status " +
                     wal_status_str(want));
        return e;
    } catch (const std::exception& e) {
        fail(file, line,
             std::string(expr) + " threw \"" + e.what() + "\", expected a tswal::Error");
    }
    fail(file, line, std::string(expr) + " did not throw, expected status " + wal_status_str(want));
}

} // namespace check

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) check::fail(__FILE__, __LINE__, "CHECK(" #cond ") failed");                   \
    } while (0)

#define CHECK_EQ(a, b) check::equal_at(__FILE__, __LINE__, #a ", " #b, (a), (b))

// CHECK_ERROR(WAL_ERR_STATE, wal.sync()) evaluates to the tswal::Error thrown.
#define CHECK_ERROR(status, ...)                                                                   \
    check::error_at(__FILE__, __LINE__, #__VA_ARGS__, (status), [&] { (void)(__VA_ARGS__); })

namespace check {

// A byte string quoted, with \xHH for anything but printable ASCII.
inline std::string quote(std::string_view bytes) {
    std::string out = "\"";
    for (unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out + "\"";
}

inline std::uint64_t bits(double v) {
    std::uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return b;
}

inline double from_bits(std::uint64_t b) {
    double v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}

// Entries rendered one per string, in order, to compare a read with what was logged.
class EntryLog {
public:
    // What a test logged. Reads deliver labels sorted by name, so these are sorted too.
    void add_series(tswal::Span<const tswal::SeriesView> series) {
        if (!series.empty()) entries_.push_back(render(series, true));
    }
    void add_samples(tswal::Span<const tswal::Sample> samples) {
        if (!samples.empty()) entries_.push_back(render(samples));
    }
    void add_deletes(tswal::Span<const tswal::Tombstone> tombstones) {
        if (!tombstones.empty()) entries_.push_back(render(tombstones));
    }

    // Callbacks for Wal::read that append what they receive, as it comes.
    auto on_series() {
        return [this](tswal::Span<const tswal::SeriesView> s) {
            entries_.push_back(render(s, false));
        };
    }
    auto on_samples() {
        return [this](tswal::Span<const tswal::Sample> s) {
            entries_.push_back(render(s));
        };
    }
    auto on_deletes() {
        return [this](tswal::Span<const tswal::Tombstone> d) {
            entries_.push_back(render(d));
        };
    }

    const std::vector<std::string>& entries() const { return entries_; }

    // The entries whose text starts with `type` ("series", "samples", "deletes").
    EntryLog only(std::string_view type) const {
        EntryLog out;
        for (const std::string& e : entries_)
            if (e.compare(0, type.size(), type) == 0) out.entries_.push_back(e);
        return out;
    }

private:
    static std::string render(tswal::Span<const tswal::SeriesView> series, bool sort_labels) {
        std::string out = "series";
        for (const tswal::SeriesView& s : series) {
            std::vector<tswal::Label> labels(s.labels.begin(), s.labels.end());
            if (sort_labels)
                std::stable_sort(
                    labels.begin(), labels.end(),
                    [](const tswal::Label& a, const tswal::Label& b) { return a.name < b.name; });
            out += " {" + std::to_string(s.ref) + ":";
            for (const tswal::Label& l : labels)
                out += " " + quote(l.name) + "=" + quote(l.value);
            out += "}";
        }
        return out;
    }

    static std::string render(tswal::Span<const tswal::Sample> samples) {
        std::string out = "samples";
        for (const tswal::Sample& s : samples) {
            char item[96];
            std::snprintf(item, sizeof item, " {%" PRIu64 " %" PRId64 " %016" PRIx64 "}", s.ref,
                          s.t, bits(s.v));
            out += item;
        }
        return out;
    }

    static std::string render(tswal::Span<const tswal::Tombstone> tombstones) {
        std::string out = "deletes";
        for (const tswal::Tombstone& d : tombstones) {
            char item[96];
            std::snprintf(item, sizeof item, " {%" PRIu64 " %" PRId64 " %" PRId64 "}", d.ref,
                          d.mint, d.maxt);
            out += item;
        }
        return out;
    }

    std::vector<std::string> entries_;
};

inline void logs_equal_at(const char* file, int line, const EntryLog& want, const EntryLog& got) {
    const auto& w = want.entries();
    const auto& g = got.entries();
    for (std::size_t i = 0; i < w.size() && i < g.size(); i++)
        if (w[i] != g[i])
            fail(file, line,
                 "entry " + std::to_string(i) + " differs\n  expected: " + w[i] +
                     "\n  read:     " + g[i]);
    if (w.size() != g.size())
        fail(file, line,
             "expected " + std::to_string(w.size()) + " entries, read " + std::to_string(g.size()));
}

// Reads the whole WAL with collecting callbacks; the read must complete.
inline EntryLog read_all(tswal::Wal& wal) {
    EntryLog got;
    if (!wal.read(got.on_series(), got.on_samples(), got.on_deletes()))
        fail(__FILE__, __LINE__, "a read that no callback stops returned false");
    return got;
}

// Options with 4096-byte segments, so that tests cut many segments.
inline tswal::Options small_segments() {
    tswal::Options o;
    o.segment_size = 4096;
    return o;
}

struct Case {
    const char* name;
    void (*run)(const std::string& dir);
};

// Runs each case with the directory argv[1]/<name> (not created); an exception that
// escapes a case fails the program with the case's name.
inline int main(int argc, char** argv, std::initializer_list<Case> cases) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <empty temporary directory>\n", argv[0]);
        return 2;
    }
    for (const Case& c : cases) {
        std::printf("%s\n", c.name);
        std::fflush(stdout);
        try {
            c.run(std::string(argv[1]) + "/" + c.name);
        } catch (const std::exception& e) {
            fail(__FILE__, __LINE__, std::string(c.name) + ": uncaught exception: " + e.what());
        } catch (...) {
            fail(__FILE__, __LINE__,
                 std::string(c.name) + ": uncaught exception of an unknown type");
        }
    }
    return 0;
}

} // namespace check

#define CHECK_LOGS_EQUAL(want, got) check::logs_equal_at(__FILE__, __LINE__, (want), (got))

#endif // TSWAL_CPP_TESTS_CHECK_HPP
