// Round trips through tswal.hpp: series, samples and deletes logged from vectors,
// std::arrays, C arrays, initializer lists and spans (edge values, label bytes that are not
// text), read back with lambdas and compared, also after a reopen; skipped entry types; a
// read stopped by a callback; a WAL copied into another from inside the read callbacks;
// truncation with a keep lambda; stats; the options and their defaults; the version; four
// threads logging at once.
//
// Usage: roundtrip <empty temp dir>
#include "check.hpp"

#include <array>
#include <limits>
#include <map>
#include <thread>

namespace {

using tswal::Label;
using tswal::Sample;
using tswal::SeriesView;
using tswal::Span;
using tswal::Tombstone;

constexpr std::uint64_t max_ref = std::numeric_limits<std::uint64_t>::max();
constexpr std::int64_t min_time = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t max_time = std::numeric_limits<std::int64_t>::max();

// Logs entries of every type from every kind of range, and enough samples for several
// 4096-byte segments; returns what was logged.
check::EntryLog write_every_kind(tswal::Wal& wal) {
    check::EntryLog want;

    // Labels in a C array, a vector and a std::array, not sorted by name; bytes that are
    // not text (a NUL, 0xff); an empty value; a series without labels.
    const Label job[] = {{"job", "node"}, {"__name__", "up"}, {"instance", "localhost:9100"}};
    const std::vector<Label> odd = {{std::string_view("b\0y", 3), "\xff\xfe"}, {"a", ""}};
    const std::array<Label, 1> one = {{{"__name__", "requests_total"}}};
    const std::vector<SeriesView> series = {{1, job}, {2, odd}, {3, one}, {4, {}}};
    wal.log_series(series);
    want.add_series(series);
    const SeriesView series_c_array[] = {{max_ref, one}};
    wal.log_series(series_c_array);
    want.add_series(series_c_array);
    const std::initializer_list<SeriesView> series_list = {{5, job}, {6, odd}};
    wal.log_series(series_list);
    want.add_series(series_list);

    const double stale_nan = check::from_bits(0x7ff0000000000002); // Prometheus' stale marker
    const std::vector<Sample> samples = {{1, 1000, 1.0}, {2, 1000, -0.0}, {3, 1000, 1e308 * 10}};
    wal.log_samples(samples);
    want.add_samples(samples);
    const std::array<Sample, 2> samples_array = {
        {{1, min_time, stale_nan}, {4, max_time, -1e-308}}};
    wal.log_samples(samples_array);
    want.add_samples(samples_array);
    const Sample samples_c_array[] = {{max_ref, -1, 0.5}};
    wal.log_samples(samples_c_array);
    want.add_samples(samples_c_array);
    const std::initializer_list<Sample> samples_list = {{5, 2000, 2.5}, {6, 2000, 3.5}};
    wal.log_samples(samples_list);
    want.add_samples(samples_list);
    wal.log_samples({samples.data() + 1, 2}); // a pointer and a size: part of the vector
    want.add_samples({samples.data() + 1, 2});
    wal.log_samples(Span<const Sample>(samples_c_array));
    want.add_samples(Span<const Sample>(samples_c_array));
    wal.log_samples(std::vector<Sample>()); // empty: writes nothing
    wal.log_samples({});

    const std::vector<Tombstone> deletes = {{1, 0, 500}, {2, min_time, max_time}};
    wal.log_deletes(deletes);
    want.add_deletes(deletes);
    const Tombstone deletes_c_array[] = {{max_ref, -5, -1}};
    wal.log_deletes(deletes_c_array);
    want.add_deletes(deletes_c_array);
    wal.log_deletes({{3, 10, 20}});
    want.add_deletes(std::vector<Tombstone>{{3, 10, 20}});
    wal.log_deletes(std::array<Tombstone, 0>{});

    // Many entries: several segments.
    std::vector<Sample> batch(10);
    for (std::int64_t t = 0; t < 200; t++) {
        for (std::size_t k = 0; k < batch.size(); k++)
            batch[k] = Sample{k + 1, 10000 + t, static_cast<double>(t) / 7};
        wal.log_samples(batch);
        want.add_samples(batch);
    }
    return want;
}

std::uint64_t samples_in(const check::EntryLog& log) {
    const check::EntryLog samples = log.only("samples");
    std::uint64_t n = 0;
    for (const std::string& e : samples.entries())
        n += static_cast<std::uint64_t>(std::count(e.begin(), e.end(), '{'));
    return n;
}

void test_roundtrip(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    CHECK(wal.is_open() && wal && wal.native_handle() != nullptr);
    CHECK(wal.read()); // nothing to deliver
    const check::EntryLog want = write_every_kind(wal);
    CHECK_LOGS_EQUAL(want, check::read_all(wal));

    const tswal::Stats stats = wal.stats();
    CHECK_EQ(stats.entries_written, want.entries().size());
    CHECK_EQ(stats.samples_written, samples_in(want));
    CHECK(stats.segments > 3);
    wal.sync();
    wal.close();
    CHECK(!wal.is_open());

    wal = tswal::Wal::open(dir, check::small_segments());
    CHECK_LOGS_EQUAL(want, check::read_all(wal));

    // Skipped types: tswal::skip, nullptr, or callbacks left out.
    check::EntryLog samples_only, deletes_only, series_only;
    CHECK(wal.read(tswal::skip, samples_only.on_samples()));
    CHECK_LOGS_EQUAL(want.only("samples"), samples_only);
    CHECK(wal.read(nullptr, nullptr, deletes_only.on_deletes()));
    CHECK_LOGS_EQUAL(want.only("deletes"), deletes_only);
    CHECK(wal.read(series_only.on_series()));
    CHECK_LOGS_EQUAL(want.only("series"), series_only);

    // A generic lambda, a callback returning true, and a function object taken by
    // reference (its state is the caller's).
    std::size_t series = 0, tombstones = 0;
    CHECK(wal.read([&](auto s) { series += s.size(); }, tswal::skip,
                   [&](Span<const Tombstone> d) {
                       tombstones += d.size();
                       return true;
                   }));
    CHECK_EQ(series, 7u);
    CHECK_EQ(tombstones, 4u);
    struct CountSamples {
        std::uint64_t n = 0;
        void operator()(Span<const Sample> s) { n += s.size(); }
    } count;
    CHECK(wal.read(tswal::skip, count));
    CHECK_EQ(count.n, samples_in(want));
}

void test_stopped_read(const std::string& dir) {
    const std::vector<Sample> one = {{1, 1, 1.0}};
    tswal::Wal wal = tswal::Wal::open(dir);
    for (int i = 0; i < 10; i++)
        wal.log_samples(one);
    wal.close();

    wal = tswal::Wal::open(dir);
    int seen = 0;
    CHECK(!wal.read(tswal::skip, [&](Span<const Sample>) { return ++seen < 3; }));
    CHECK_EQ(seen, 3);
    // A stopped read is not the full read that writes wait for.
    CHECK_ERROR(WAL_ERR_STATE, wal.log_samples(one));
    CHECK(wal.read());
    wal.log_samples(one);
    seen = 0;
    CHECK(wal.read(tswal::skip, [&](Span<const Sample>) { ++seen; }));
    CHECK_EQ(seen, 11);
}

void test_copy_from_callbacks(const std::string& dir) {
    tswal::Wal from = tswal::Wal::open(dir + "/from", check::small_segments());
    const check::EntryLog want = write_every_kind(from);
    tswal::Wal to = tswal::Wal::open(dir + "/to", check::small_segments());
    // What a read delivers can be logged as it is, into another handle.
    CHECK(from.read([&](Span<const SeriesView> s) { to.log_series(s); },
                    [&](Span<const Sample> s) { to.log_samples(s); },
                    [&](Span<const Tombstone> d) { to.log_deletes(d); }));
    CHECK_LOGS_EQUAL(want, check::read_all(to));
}

void test_truncate(const std::string& dir) {
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    const Label name[] = {{"__name__", "x"}};
    wal.log_series({{1, name}, {2, name}, {3, name}, {4, name}});
    std::vector<Sample> batch(20);
    for (std::int64_t t = 0; t < 400; t++) {
        for (std::size_t k = 0; k < batch.size(); k++)
            batch[k] = Sample{k % 4 + 1, t, static_cast<double>(t)};
        wal.log_samples(batch);
    }
    const std::uint64_t segments = wal.stats().segments;
    CHECK(segments > 4);

    // What is left: the series refs, and the first time of the samples, which must all be
    // there from that time on.
    auto survivors = [&wal](std::vector<std::uint64_t>& refs) {
        refs.clear();
        std::map<std::int64_t, std::size_t> per_time;
        CHECK(wal.read(
            [&](Span<const SeriesView> s) {
                for (const SeriesView& x : s)
                    refs.push_back(x.ref);
            },
            [&](Span<const Sample> s) {
                for (const Sample& x : s)
                    per_time[x.t]++;
            }));
        CHECK(!per_time.empty());
        CHECK_EQ(per_time.rbegin()->first, 399);
        CHECK_EQ(per_time.size(), static_cast<std::size_t>(400 - per_time.begin()->first));
        for (const auto& [t, n] : per_time)
            CHECK_EQ(n, 20u);
        return per_time.begin()->first;
    };

    std::vector<std::uint64_t> asked, refs;
    wal.truncate(200, [&](std::uint64_t ref) {
        asked.push_back(ref);
        return ref % 2 == 0;
    });
    CHECK((asked == std::vector<std::uint64_t>{1, 2, 3, 4}));
    const std::uint64_t after_first = wal.stats().segments;
    CHECK(after_first < segments);
    const std::int64_t first = survivors(refs);
    CHECK(first > 0 && first <= 200);
    CHECK((refs == std::vector<std::uint64_t>{2, 4}));

    wal.truncate(300); // keeps every series
    CHECK(wal.stats().segments < after_first);
    const std::int64_t second = survivors(refs);
    CHECK(second > first && second <= 300);
    CHECK((refs == std::vector<std::uint64_t>{2, 4}));
}

void test_options(const std::string& dir) {
    wal_options c;
    wal_options_init(&c);
    const wal_options d = tswal::Options().to_c();
    CHECK_EQ(d.size, sizeof(wal_options));
    CHECK_EQ(d.segment_size, c.segment_size);
    CHECK_EQ(d.flush_interval_ms, c.flush_interval_ms);
    CHECK_EQ(d.sync, c.sync);
    CHECK_EQ(d.recovery, c.recovery);
    CHECK_EQ(d.sync_spin_us, c.sync_spin_us);
    CHECK_EQ(d.read_only, c.read_only);
    CHECK_EQ(d.quarantine, c.quarantine);

    tswal::Options o;
    o.segment_size = 1 << 20;
    o.flush_interval_ms = 50;
    o.sync = tswal::SyncMode::always;
    o.recovery = tswal::RecoveryMode::salvage;
    o.sync_spin_us = 0;
    o.quarantine = false;
    const wal_options e = o.to_c();
    CHECK_EQ(e.segment_size, 1u << 20);
    CHECK_EQ(e.flush_interval_ms, 50u);
    CHECK_EQ(e.sync, WAL_SYNC_ALWAYS);
    CHECK_EQ(e.recovery, WAL_RECOVERY_SALVAGE);
    CHECK_EQ(e.sync_spin_us, 0u);
    CHECK_EQ(e.read_only, 0u);
    CHECK_EQ(e.quarantine, 0u);
    o.read_only = true;
    o.recovery = tswal::RecoveryMode::fail;
    CHECK_EQ(o.to_c().read_only, 1u);
    CHECK_EQ(o.to_c().recovery, WAL_RECOVERY_FAIL);

    o.read_only = false;
    tswal::Wal wal = tswal::Wal::open(dir, o);
    wal.log_samples({{1, 1, 1.0}});
    wal.close();
}

void test_version(const std::string&) {
    CHECK_EQ(tswal::version(), std::string_view(TSWAL_VERSION));
}

// Four threads log series (labels from strings of their own) and samples on one Wal.
void test_threads(const std::string& dir) {
    constexpr std::uint64_t threads = 4, per_thread = 200;
    tswal::Wal wal = tswal::Wal::open(dir, check::small_segments());
    std::vector<std::thread> running;
    for (std::uint64_t n = 0; n < threads; n++)
        running.emplace_back([&wal, n] {
            const std::string thread = std::to_string(n);
            for (std::uint64_t i = 0; i < per_thread; i++) {
                const std::string index = std::to_string(i);
                const Label labels[] = {{"thread", thread}, {"i", index}};
                const std::uint64_t ref = n * 1000 + i;
                wal.log_series({{ref, labels}});
                wal.log_samples({{ref, static_cast<std::int64_t>(i), 1.0}});
            }
        });
    for (std::thread& t : running)
        t.join();

    std::map<std::uint64_t, std::string> series;
    std::uint64_t samples = 0;
    CHECK(wal.read(
        [&](Span<const SeriesView> s) {
            for (const SeriesView& x : s) {
                CHECK_EQ(x.labels.size(), 2u);
                series[x.ref] =
                    std::string(x.labels[0].name) + "=" + std::string(x.labels[0].value) + "," +
                    std::string(x.labels[1].name) + "=" + std::string(x.labels[1].value);
            }
        },
        [&](Span<const Sample> s) { samples += s.size(); }));
    CHECK_EQ(series.size(), threads * per_thread);
    CHECK_EQ(samples, threads * per_thread);
    for (std::uint64_t n = 0; n < threads; n++)
        for (std::uint64_t i = 0; i < per_thread; i++)
            CHECK_EQ(series[n * 1000 + i],
                     "i=" + std::to_string(i) + ",thread=" + std::to_string(n));
}

} // namespace

int main(int argc, char** argv) {
    return check::main(argc, argv,
                       {
                           {"roundtrip", test_roundtrip},
                           {"stopped_read", test_stopped_read},
                           {"copy_from_callbacks", test_copy_from_callbacks},
                           {"truncate", test_truncate},
                           {"options", test_options},
                           {"version", test_version},
                           {"threads", test_threads},
                       });
}
