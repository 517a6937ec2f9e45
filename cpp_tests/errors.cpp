// Errors and ownership through tswal.hpp: tswal::Error with the status and the library's
// message (a bad option, writes before the first full read, a read-only handle, a
// directory that is not a SegmentWAL, the directory lock); exceptions thrown by read and
// keep callbacks, rethrown after the call with the handle unharmed; calls into the handle
// from its callbacks; move semantics; close() twice; RAII; a Wal closed, destroyed, moved
// or replaced from inside one of its own callbacks.
//
// Usage: errors <empty temp dir>
#include "check.hpp"

#include <filesystem>
#include <fstream>
#include <optional>

namespace {

namespace fs = std::filesystem;
using tswal::Sample;
using tswal::SeriesView;
using tswal::Span;

const std::vector<Sample> one_sample = {{1, 100, 1.0}};

// A closed WAL of 4096-byte segments holding `samples` entries after two series.
check::EntryLog write_log(const std::string& dir, int samples = 3) {
    check::EntryLog want;
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    const tswal::Label name[] = {{"__name__", "x"}};
    const std::vector<SeriesView> series = {{1, name}, {2, name}};
    wal.log_series(series);
    want.add_series(series);
    const std::vector<tswal::Tombstone> deletes = {{1, 0, 5}};
    wal.log_deletes(deletes);
    want.add_deletes(deletes);
    for (int i = 0; i < samples; i++) {
        const std::vector<Sample> s = {{1, 10 * i, 1.0}, {2, 10 * i, 2.0}};
        wal.log_samples(s);
        want.add_samples(s);
    }
    wal.close();
    return want;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void test_error_message(const std::string& dir) {
    tswal::Options bad;
    bad.segment_size = 1;
    const tswal::Error e = CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, tswal::Wal::open(dir, bad));
    // "<status name>: <wal_last_error()>", taken at the failure.
    CHECK_EQ(std::string(e.what()),
             std::string(wal_status_str(WAL_ERR_INVALID_ARGUMENT)) + ": " + wal_last_error());
    CHECK(check::contains(e.what(), "segment_size 1 is outside"));
    // A std::runtime_error, which keeps its message after later failures.
    bad = tswal::Options();
    bad.sync_spin_us = WAL_MAX_SYNC_SPIN_US + 1;
    try {
        tswal::Wal::open(dir, bad);
        CHECK(false);
    } catch (const std::runtime_error& other) {
        CHECK(check::contains(other.what(), "sync_spin_us"));
    }
    CHECK(check::contains(e.what(), "segment_size 1 is outside"));
    CHECK_EQ(e.status(), WAL_ERR_INVALID_ARGUMENT);

    const tswal::Error nul =
        CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, tswal::Wal::open(std::string("a\0b", 3)));
    CHECK(check::contains(nul.what(), "NUL"));
    CHECK(!fs::exists(dir));
}

void test_write_before_first_read(const std::string& dir) {
    const check::EntryLog want = write_log(dir);
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    const tswal::Error e = CHECK_ERROR(WAL_ERR_STATE, wal.log_samples(one_sample));
    CHECK(check::contains(e.what(), "read it once to the end"));
    const tswal::Label name[] = {{"__name__", "y"}};
    CHECK_ERROR(WAL_ERR_STATE, wal.log_series({{3, name}}));
    CHECK_ERROR(WAL_ERR_STATE, wal.log_deletes({{1, 0, 1}}));
    CHECK_ERROR(WAL_ERR_STATE, wal.truncate(1000));
    CHECK_ERROR(WAL_ERR_STATE, wal.truncate(1000, [](std::uint64_t) -> bool {
        check::fail(__FILE__, __LINE__, "keep called by a refused truncation");
    }));
    CHECK_LOGS_EQUAL(want, check::read_all(wal));
    wal.log_samples(one_sample);
    wal.truncate(0);
    wal.sync();
}

void test_read_only(const std::string& dir) {
    const check::EntryLog want = write_log(dir);
    tswal::Wal writer = tswal::Wal::open(dir, check::small_segments());
    tswal::Options o;
    o.read_only = true;
    tswal::Wal reader = tswal::Wal::open(dir, o); // beside a writer: no lock
    CHECK_LOGS_EQUAL(want, check::read_all(reader));
    const tswal::Error e = CHECK_ERROR(WAL_ERR_STATE, reader.log_samples(one_sample));
    CHECK(check::contains(e.what(), "read-only"));
    CHECK_ERROR(WAL_ERR_STATE, reader.log_deletes({{1, 0, 1}}));
    CHECK_ERROR(WAL_ERR_STATE, reader.truncate(1000));
    CHECK_ERROR(WAL_ERR_STATE, reader.sync());
    CHECK_EQ(reader.stats().corruptions, 0u);
    reader.close();
}

void test_not_a_segment_wal(const std::string& dir) {
    fs::create_directories(dir);
    std::ofstream(dir + "/1") << "first line of some notes\n";
    std::ofstream(dir + "/2") << "more notes\n";
    for (bool read_only : {false, true}) {
        tswal::Options o;
        o.read_only = read_only;
        const tswal::Error e = CHECK_ERROR(WAL_ERR_FORMAT, tswal::Wal::open(dir, o));
        CHECK(check::contains(e.what(), dir));
        CHECK(check::contains(e.what(), "othing was changed")); // "Nothing" or "nothing"
    }
    CHECK_EQ(read_file(dir + "/1"), "first line of some notes\n");
    CHECK_EQ(read_file(dir + "/2"), "more notes\n");
}

void test_lock_and_raii(const std::string& dir) {
    {
        tswal::Wal wal = tswal::Wal::open(dir);
        wal.log_samples(one_sample);
        CHECK_ERROR(WAL_ERR_LOCKED, tswal::Wal::open(dir));
    } // the destructor closes: unlocks, and the entry is durable
    tswal::Wal again = tswal::Wal::open(dir);
    check::EntryLog want;
    want.add_samples(one_sample);
    CHECK_LOGS_EQUAL(want, check::read_all(again));
}

struct Boom {
    int at;
};

void test_exception_from_read_callback(const std::string& dir) {
    const check::EntryLog want = write_log(dir, 5);
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());

    // Not a std::exception: rethrown as it is, and no entry is delivered after it.
    int delivered = 0;
    try {
        wal.read(tswal::skip, [&](Span<const Sample>) {
            if (++delivered == 2) throw Boom{delivered};
        });
        CHECK(false);
    } catch (const Boom& b) {
        CHECK_EQ(b.at, 2);
    }
    CHECK_EQ(delivered, 2);
    // The read did not complete: writes still wait for one.
    CHECK_ERROR(WAL_ERR_STATE, wal.log_samples(one_sample));

    try {
        wal.read(
            [](Span<const SeriesView>) { throw std::runtime_error("from the series callback"); });
        CHECK(false);
    } catch (const tswal::Error& e) {
        check::fail(__FILE__, __LINE__,
                    std::string("a tswal::Error instead of the callback's: ") + e.what());
    } catch (const std::runtime_error& e) {
        CHECK_EQ(std::string(e.what()), "from the series callback");
    }

    // The handle is unharmed: a full read, then writes and a read again.
    CHECK_LOGS_EQUAL(want, check::read_all(wal));
    wal.log_samples(one_sample);
    wal.sync();

    // A call on the same handle from a callback is refused by the library; its Error
    // comes out of read() as it is.
    const tswal::Error e =
        CHECK_ERROR(WAL_ERR_STATE, wal.read(tswal::skip, [&](auto) { wal.stats(); }));
    CHECK(check::contains(e.what(), "callback"));
    CHECK_ERROR(WAL_ERR_STATE, wal.read([&](auto) { wal.log_samples(one_sample); }));
    CHECK_ERROR(WAL_ERR_STATE, wal.read(tswal::skip, tswal::skip, [&](auto) { wal.truncate(0); }));
    CHECK(wal.read());
    wal.close();
}

void test_exception_from_keep_callback(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    const tswal::Label name[] = {{"__name__", "x"}};
    wal.log_series({{1, name}, {2, name}, {3, name}, {4, name}, {5, name}, {6, name}});
    std::vector<Sample> batch(50);
    for (std::int64_t t = 0; t < 100; t++) {
        for (std::size_t k = 0; k < batch.size(); k++)
            batch[k] = Sample{k % 6 + 1, t, 1.0};
        wal.log_samples(batch);
    }
    const std::uint64_t segments = wal.stats().segments;

    std::vector<std::uint64_t> asked;
    try {
        wal.truncate(50, [&](std::uint64_t ref) {
            asked.push_back(ref);
            if (ref == 3) throw Boom{3};
            return ref % 2 == 0;
        });
        CHECK(false);
    } catch (const Boom& b) {
        CHECK_EQ(b.at, 3);
    }
    // Not called after it threw; the truncation went on, keeping every later series.
    CHECK((asked == std::vector<std::uint64_t>{1, 2, 3}));
    CHECK(wal.stats().segments < segments);
    std::vector<std::uint64_t> refs;
    CHECK(wal.read([&](Span<const SeriesView> s) {
        for (const SeriesView& x : s)
            refs.push_back(x.ref);
    }));
    CHECK((refs == std::vector<std::uint64_t>{2, 3, 4, 5, 6}));

    // The handle is unharmed.
    wal.log_samples(one_sample);
    wal.truncate(99, [](std::uint64_t ref) { return ref != 5; });
    refs.clear();
    CHECK(wal.read([&](Span<const SeriesView> s) {
        for (const SeriesView& x : s)
            refs.push_back(x.ref);
    }));
    CHECK((refs == std::vector<std::uint64_t>{2, 3, 4, 6}));
    wal.close();
}

// Every call but close() on an empty Wal throws Error(WAL_ERR_INVALID_ARGUMENT).
void check_empty(tswal::Wal& wal) {
    CHECK(!wal.is_open() && !wal && wal.native_handle() == nullptr);
    const tswal::Error e = CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.log_samples(one_sample));
    CHECK(check::contains(e.what(), "NULL"));
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.log_series({}));
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.log_deletes({}));
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.read());
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.truncate(0));
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.truncate(0, [](std::uint64_t) { return true; }));
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.sync());
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, wal.stats());
    wal.close(); // nothing to close
}

void test_move(const std::string& dir) {
    static_assert(!std::is_copy_constructible_v<tswal::Wal> &&
                  !std::is_copy_assignable_v<tswal::Wal>);
    static_assert(std::is_nothrow_move_constructible_v<tswal::Wal> &&
                  std::is_nothrow_move_assignable_v<tswal::Wal>);
    static_assert(std::is_nothrow_default_constructible_v<tswal::Wal> &&
                  std::is_nothrow_destructible_v<tswal::Wal>);

    tswal::Wal empty;
    check_empty(empty);

    tswal::Wal a = tswal::Wal::open(dir + "/a");
    wal_t* handle = a.native_handle();
    {
        tswal::Wal b = std::move(a);
        check_empty(a);
        CHECK(b.native_handle() == handle);
        b.log_samples(one_sample);
        tswal::Wal c;
        c = std::move(b);
        check_empty(b);
        c.log_samples(one_sample);
    } // c closes; b and a do nothing
    tswal::Wal reopened = tswal::Wal::open(dir + "/a");
    CHECK_EQ(check::read_all(reopened).entries().size(), 2u);

    // Assigning to an open Wal closes its handle.
    tswal::Wal x = tswal::Wal::open(dir + "/x");
    tswal::Wal y = tswal::Wal::open(dir + "/y");
    x = std::move(y);
    tswal::Wal x_again = tswal::Wal::open(dir + "/x");
    CHECK_ERROR(WAL_ERR_LOCKED, tswal::Wal::open(dir + "/y"));
    // Moving a Wal into itself changes nothing.
    tswal::Wal& alias = x;
    x = std::move(alias);
    CHECK(x.is_open());
    x.log_samples(one_sample);
    // A moved-from Wal takes a new one.
    a = tswal::Wal::open(dir + "/z");
    a.log_samples(one_sample);
}

void test_close_twice(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir);
    wal.log_samples(one_sample);
    wal.close();
    check_empty(wal); // closes again: nothing happens
    wal.close();
    wal = tswal::Wal::open(dir);
    CHECK_EQ(check::read_all(wal).entries().size(), 1u);
}

void test_close_inside_callback(const std::string& dir) {
    write_log(dir);
    tswal::Wal wal = tswal::Wal::open(dir);
    int entries = 0;
    CHECK(wal.read(tswal::skip, [&](auto) {
        ++entries;
        const tswal::Error e = CHECK_ERROR(WAL_ERR_STATE, wal.close());
        CHECK(check::contains(e.what(), "not closed"));
        CHECK(wal.is_open());
    }));
    CHECK_EQ(entries, 3);
    wal.log_samples(one_sample);
    wal.close();
    tswal::Wal again = tswal::Wal::open(dir);
}

// A Wal destroyed, replaced or moved away inside its own callbacks: the read goes on, and
// the handle is closed when the read returns unless a Wal owns it by then.
void test_wal_gone_inside_callback(const std::string& dir) {
    const check::EntryLog want = write_log(dir);
    std::optional<tswal::Wal> wal(tswal::Wal::open(dir));
    check::EntryLog got;
    auto on_samples = got.on_samples();
    CHECK(wal->read(
        got.on_series(),
        [&](Span<const Sample> s) {
            wal.reset();
            on_samples(s);
        },
        got.on_deletes()));
    CHECK(!wal.has_value());
    CHECK_LOGS_EQUAL(want, got);
    wal.emplace(tswal::Wal::open(dir)); // the destroyed Wal's handle was closed

    tswal::Wal other = tswal::Wal::open(dir + "-other");
    wal_t* other_handle = other.native_handle();
    CHECK(wal->read(tswal::skip, [&](auto) {
        if (other.is_open()) *wal = std::move(other);
    }));
    CHECK(wal->native_handle() == other_handle);
    tswal::Wal again = tswal::Wal::open(dir); // the replaced handle was closed
    again.close();

    std::optional<tswal::Wal> source(tswal::Wal::open(dir));
    tswal::Wal stolen;
    CHECK(source->read(tswal::skip, [&](auto) {
        if (!stolen) stolen = std::move(*source);
    }));
    source.reset();
    CHECK(stolen.is_open()); // the handle the read ran on, still open and working
    CHECK_ERROR(WAL_ERR_LOCKED, tswal::Wal::open(dir));
    stolen.log_samples(one_sample);
    stolen.sync();
}

} // namespace

int main(int argc, char** argv) {
    return check::main(argc, argv,
                       {
                           {"error_message", test_error_message},
                           {"write_before_first_read", test_write_before_first_read},
                           {"read_only", test_read_only},
                           {"not_a_segment_wal", test_not_a_segment_wal},
                           {"lock_and_raii", test_lock_and_raii},
                           {"exception_from_read_callback", test_exception_from_read_callback},
                           {"exception_from_keep_callback", test_exception_from_keep_callback},
                           {"move", test_move},
                           {"close_twice", test_close_twice},
                           {"close_inside_callback", test_close_inside_callback},
                           {"wal_gone_inside_callback", test_wal_gone_inside_callback},
                       });
}
