// Tails through tswal.hpp: a Tail follows a writer across segment cuts; resumes exactly
// from a saved Position; a callback returning false stops next(), which returns what it
// delivered, and the entry is delivered again; an exception from a callback is rethrown
// with the tail unharmed; wake() from another thread ends a wait; calls from its own
// callbacks; a Tail destroyed inside one of its callbacks; move semantics; errors.
//
// Usage: tail <empty temp dir>
#include "check.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace {

using namespace std::chrono_literals;
using tswal::Sample;
using tswal::Span;

// A very long wait: only an entry or a wake ends it (else the test hangs and fails).
constexpr auto forever = std::chrono::hours(24);

// One samples entry per step: a sample of series 1 whose value is the step.
void log_steps(tswal::Wal& wal, int from, int to) {
    for (int i = from; i < to; i++) {
        const Sample s[] = {{1, i, static_cast<double>(i)}};
        wal.log_samples(s);
    }
    wal.sync();
}

// Collects the steps a tail delivers.
struct Steps {
    std::vector<int> got;
    auto on_samples() {
        return [this](Span<const Sample> s) { got.push_back(static_cast<int>(s[0].v)); };
    }
    bool consecutive_from(int first) const {
        for (std::size_t i = 0; i < got.size(); i++)
            if (got[i] != first + static_cast<int>(i)) return false;
        return true;
    }
};

// next() until `want` steps arrived (bounded, so a bug fails instead of hanging).
void take(tswal::Tail& tail, Steps& steps, std::size_t want) {
    for (int tries = 0; steps.got.size() < want && tries < 200; tries++)
        tail.next(20ms, tswal::skip, steps.on_samples());
    CHECK_EQ(steps.got.size(), want);
}

void test_follow_and_resume(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    tswal::Tail tail = tswal::Tail::open(dir);
    CHECK_EQ(tail.next(10ms), std::size_t{0}); // nothing yet: the timeout passes
    log_steps(wal, 0, 600);
    Steps all;
    take(tail, all, 600);
    CHECK(all.consecutive_from(0));
    CHECK_EQ(tail.stats().entries, std::uint64_t{600});
    CHECK_EQ(tail.stats().gaps, std::uint64_t{0});
    CHECK(tail.position().segment > 3); // many cuts followed

    // Stopped after 100 entries by a callback returning false, resumed from its position.
    tswal::Tail first = tswal::Tail::open(dir);
    Steps part;
    const std::size_t n = first.next(0ms, tswal::skip, [&](Span<const Sample> s) {
        if (part.got.size() == 100) return false;
        part.got.push_back(static_cast<int>(s[0].v));
        return true;
    });
    CHECK_EQ(n, std::size_t{100});
    const tswal::Position saved = first.position();
    first.close();
    CHECK(!first.is_open());
    first.close(); // a no-op
    tswal::Tail resumed = tswal::Tail::open(dir, saved);
    Steps rest;
    take(resumed, rest, 500);
    CHECK(rest.consecutive_from(100));
    CHECK_EQ(resumed.position().segment, tail.position().segment);
    CHECK_EQ(resumed.position().offset, tail.position().offset);
    wal.close();
}

void test_callback_exception(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    log_steps(wal, 0, 3);
    tswal::Tail tail = tswal::Tail::open(dir);
    int calls = 0;
    try {
        tail.next(0ms, tswal::skip, [&](Span<const Sample> s) {
            if (s[0].v == 1.0) throw std::runtime_error("stop at 1");
            calls++;
        });
        CHECK(false);
    } catch (const std::runtime_error& e) {
        CHECK_EQ(std::string(e.what()), std::string("stop at 1"));
    }
    CHECK_EQ(calls, 1);
    // Unharmed: step 1 comes again.
    Steps steps;
    take(tail, steps, 2);
    CHECK(steps.consecutive_from(1));
    wal.close();
}

void test_wake(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    tswal::Tail tail = tswal::Tail::open(dir);
    std::thread waker([&] {
        std::this_thread::sleep_for(50ms);
        tail.wake();
    });
    CHECK_EQ(tail.next(forever), std::size_t{0});
    waker.join();
    // A write ends a long wait too.
    std::thread writer([&] {
        std::this_thread::sleep_for(50ms);
        log_steps(wal, 0, 1);
    });
    Steps steps;
    CHECK_EQ(tail.next(forever, tswal::skip, steps.on_samples()), std::size_t{1});
    writer.join();
    CHECK(steps.consecutive_from(0));
    wal.close();
}

void test_calls_from_callbacks(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    log_steps(wal, 0, 3);
    {
        tswal::Tail tail = tswal::Tail::open(dir);
        tail.next(0ms, tswal::skip, [&](Span<const Sample>) {
            CHECK_ERROR(WAL_ERR_STATE, tail.position());
            CHECK_ERROR(WAL_ERR_STATE, tail.next(0ms));
            CHECK_ERROR(WAL_ERR_STATE, tail.close());
            CHECK(tail.is_open());
            tail.wake(); // allowed: it only ends a wait
        });
        CHECK_EQ(tail.stats().entries, std::uint64_t{3});
    }
    // Destroyed (replaced by an empty Tail) inside its own callback: the handle is closed
    // once the library returns, and next() returns normally (valgrind and ASan check it).
    tswal::Tail tail = tswal::Tail::open(dir);
    int calls = 0;
    const std::size_t n = tail.next(0ms, tswal::skip, [&](Span<const Sample>) {
        if (calls++ == 0) tail = tswal::Tail();
        return calls < 2;
    });
    CHECK(!tail.is_open());
    CHECK_EQ(n, std::size_t{1});
    wal.close();
}

void test_errors_and_moves(const std::string& dir) {
    tswal::Tail empty;
    CHECK(!empty);
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, empty.next(0ms));
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, empty.position());
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, empty.wake());
    empty.close();
    const tswal::Error missing = CHECK_ERROR(WAL_ERR_IO, tswal::Tail::open(dir + "/missing"));
    CHECK(check::contains(missing.what(), "missing"));
    CHECK(!std::filesystem::exists(dir + "/missing"));
    CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, tswal::Tail::open(std::string("a\0b", 3)));

    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    log_steps(wal, 0, 2);
    tswal::Tail tail = tswal::Tail::open(dir);
    // Stopped on the first entry: nothing delivered, and the position has not moved.
    CHECK_EQ(tail.next(0ms, tswal::skip, [](Span<const Sample>) { return false; }),
             std::size_t{0});
    CHECK_EQ(tail.stats().entries, std::uint64_t{0});
    // Step 0 delivered, stopped on step 1.
    CHECK_EQ(tail.next(0ms, tswal::skip, [](Span<const Sample> s) { return s[0].v == 0.0; }),
             std::size_t{1});
    tswal::Position inside = tail.position();
    inside.offset += 1;
    tswal::Tail bad = tswal::Tail::open(dir, inside);
    const tswal::Error e = CHECK_ERROR(WAL_ERR_INVALID_ARGUMENT, bad.next(0ms));
    CHECK(check::contains(e.what(), "does not start an entry"));

    tswal::Tail moved = std::move(tail);
    CHECK(!tail.is_open() && moved.is_open());
    Steps rest;
    take(moved, rest, 1);
    CHECK(rest.consecutive_from(1));
    moved = tswal::Tail::open(dir); // the old handle is closed
    Steps again;
    take(moved, again, 2);
    CHECK(again.consecutive_from(0));
    wal.close();
}

} // namespace

int main(int argc, char** argv) {
    return check::main(argc, argv,
                       {
                           {"follow_and_resume", test_follow_and_resume},
                           {"callback_exception", test_callback_exception},
                           {"wake", test_wake},
                           {"calls_from_callbacks", test_calls_from_callbacks},
                           {"errors_and_moves", test_errors_and_moves},
                       });
}
