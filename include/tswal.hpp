#ifndef TSWAL_HPP
#define TSWAL_HPP

/*
 * tswal.hpp: a header-only C++17 wrapper of the C API in tswal.h. Link as for C:
 * `c++ -std=c++17 app.cpp $(pkg-config --cflags --libs tswal)`.
 *
 *   tswal::Wal wal = tswal::Wal::open("data/wal");     // closed by the destructor
 *   wal.read(tswal::skip, [&](tswal::Span<const tswal::Sample> samples) { ... });
 *   const tswal::Label labels[] = {{"__name__", "up"}, {"job", "node"}};
 *   wal.log_series({{1, labels}});
 *   wal.log_samples({{1, 1700000000000, 1.0}});
 *   wal.sync();
 *
 * Every call that fails throws tswal::Error, which carries the wal_status and the message
 * of wal_last_error() taken at the failure. Callbacks receive views that are valid only
 * during the call. An exception thrown by a callback stops the call (the C library never
 * sees it) and is rethrown once the library has returned, with the handle unharmed.
 *
 * Threads: as in C, log_series, log_samples, log_deletes, sync, stats, read and truncate
 * may run on one Wal from several threads at once; close, moves and destruction must not
 * run concurrently with any other call on it. A Tail serves one call at a time, except
 * wake(). Needs exceptions (not -fno-exceptions).
 *
 *   tswal::Tail tail = tswal::Tail::open("data/wal");  // or open(dir, saved_position)
 *   tail.next(std::chrono::seconds(1), tswal::skip, [&](tswal::Span<const tswal::Sample> s) { ... });
 *   tswal::Position saved = tail.position();           // resume there later
 */

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "tswal.hpp needs C++17 or later; from C, include tswal.h"
#endif

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tswal.h"

namespace tswal {

/// One sample, as in C: `{ref, t, v}`.
using Sample = wal_sample;
/// A deleted interval `[mint, maxt]` of one series, as in C: `{ref, mint, maxt}`.
using Tombstone = wal_tombstone;
/// The counters of a handle (see `wal_stats_t` in tswal.h).
using Stats = wal_stats_t;
/// The status of a failed call; `wal_status_str` names it.
using Status = wal_status;

/// The failure of a call: its status and the library's message.
class Error : public std::runtime_error {
public:
    /// "<wal_status_str(status)>: <wal_last_error()>". Construct it right after the
    /// failing call: the library's message is that of the last failure on this thread.
    explicit Error(wal_status status) : Error(status, wal_last_error()) {}

    /// "<wal_status_str(status)>: <message>", for failures found before calling the library.
    Error(wal_status status, const std::string& message)
        : std::runtime_error(std::string(wal_status_str(status)) + ": " + message),
          status_(status) {}

    wal_status status() const noexcept { return status_; }

private:
    wal_status status_;
};

/// The library version, e.g. "0.1.0" (TSWAL_VERSION is that of the header).
inline std::string_view version() noexcept {
    return wal_version();
}

namespace detail {

template <class R>
using data_pointer_t = decltype(std::data(std::declval<R&>()));

// Whether a range R has std::data and std::size, with elements that a T* may point to
// (the same type, maybe adding const: never a base class of the elements).
template <class R, class T, class = void>
struct is_contiguous_of : std::false_type {};

template <class R, class T>
struct is_contiguous_of<R, T,
                        std::void_t<data_pointer_t<R>, decltype(std::size(std::declval<R&>()))>>
    : std::is_convertible<std::remove_pointer_t<data_pointer_t<R>> (*)[], T (*)[]> {};

} // namespace detail

/// A view of `size()` contiguous elements, like C++20's std::span: it never owns or copies
/// them. Made from a pointer and a size (`{ptr, len}`), and implicitly from a C array,
/// std::vector, std::array, std::initializer_list, std::span or any other range with
/// std::data and std::size. A view of a temporary container dangles once the full
/// expression that made it ends.
template <class T>
class Span {
public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using size_type = std::size_t;
    using pointer = T*;
    using reference = T&;
    using iterator = T*;

    constexpr Span() noexcept = default;
    constexpr Span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}

    /// From a contiguous range. Only views of const elements may be made from rvalues.
    template <class R, class = std::enable_if_t<
                           !std::is_same_v<std::remove_cv_t<std::remove_reference_t<R>>, Span> &&
                           detail::is_contiguous_of<std::remove_reference_t<R>, T>::value &&
                           (std::is_const_v<T> || std::is_lvalue_reference_v<R>)>>
    constexpr Span(R&& range) noexcept(noexcept(std::data(range)) && noexcept(std::size(range)))
        : data_(std::data(range)), size_(std::size(range)) {}

    /// A view of const elements from one of mutable ones.
    template <class U, class = std::enable_if_t<!std::is_same_v<U, T> &&
                                                std::is_convertible_v<U (*)[], T (*)[]>>>
    constexpr Span(const Span<U>& other) noexcept : data_(other.data()), size_(other.size()) {}

    constexpr T* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T* begin() const noexcept { return data_; }
    constexpr T* end() const noexcept { return data_ + size_; }
    /// Unchecked, as for std::span: `i < size()`.
    constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T& front() const noexcept { return data_[0]; }
    constexpr T& back() const noexcept { return data_[size_ - 1]; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

template <class T>
Span(T*, std::size_t) -> Span<T>;

/// A label: name and value are byte strings (any bytes, not NUL-terminated).
struct Label {
    std::string_view name;
    std::string_view value;
};

inline bool operator==(const Label& a, const Label& b) noexcept {
    return a.name == b.name && a.value == b.value;
}
inline bool operator!=(const Label& a, const Label& b) noexcept {
    return !(a == b);
}

/// A series: its reference and a view of its labels, which it does not own. For logging,
/// the labels must outlive the call (`{ref, labels}` with an array or vector of Label);
/// from a read, they are valid during the callback only (copy what you keep). A series
/// read from one WAL can be logged into another as it is.
struct SeriesView {
    std::uint64_t ref = 0;
    Span<const Label> labels;
};

/// Given in place of a read callback (as is nullptr): entries of that type are not
/// delivered (they are still checked).
struct Skip {};
inline constexpr Skip skip{};

/// When a log call returns (wal_sync_mode).
enum class SyncMode : std::uint32_t {
    none = WAL_SYNC_NONE,     ///< a log call returns once its entry is buffered
    always = WAL_SYNC_ALWAYS, ///< a log call returns once its entry is fdatasynced
};

/// What reads do with damaged data (wal_recovery_mode).
enum class RecoveryMode : std::uint32_t {
    truncate = WAL_RECOVERY_TRUNCATE, ///< keep what precedes the first damage
    salvage = WAL_RECOVERY_SALVAGE,   ///< keep every entry whose checksum verifies
    fail = WAL_RECOVERY_FAIL,         ///< report damage as WAL_ERR_CORRUPTION, change nothing
};

/// The options of Wal::open, with the defaults of wal_options_init (see wal_options in
/// tswal.h for each field). Set fields by name: `tswal::Options o; o.segment_size = ...;`.
struct Options {
    std::uint64_t segment_size = std::uint64_t{256} << 20; ///< 4096 to 2^40 bytes
    std::uint64_t flush_interval_ms = 0; ///< background fdatasync period; 0 = none
    SyncMode sync = SyncMode::none;
    RecoveryMode recovery = RecoveryMode::truncate;
    std::uint32_t sync_spin_us = WAL_SYNC_SPIN_AUTO; ///< or 0 to WAL_MAX_SYNC_SPIN_US
    bool read_only = false;                          ///< see wal_options.read_only
    bool quarantine = true;                          ///< keep what repairs take out

    /// The C struct: wal_options_init, then every field set from this one.
    wal_options to_c() const noexcept {
        wal_options o{};
        wal_options_init(&o);
        o.segment_size = segment_size;
        o.flush_interval_ms = flush_interval_ms;
        o.sync = static_cast<wal_sync_mode>(sync);
        o.recovery = static_cast<wal_recovery_mode>(recovery);
        o.sync_spin_us = sync_spin_us;
        o.read_only = read_only ? 1 : 0;
        o.quarantine = quarantine ? 1 : 0;
        return o;
    }
};

namespace detail {

inline void check(wal_status status) {
    if (status != WAL_OK) throw Error(status);
}

// The reads, truncations and tail deliveries running on this thread, innermost first,
// each with the handle it runs on: the library refuses to close a handle from inside one
// of its callbacks (and then frees nothing), so a Wal or Tail destroyed there leaves its
// handle for the outermost call on it to close when the library returns.
class CallbackScope {
public:
    using Close = void (*)(void* handle) noexcept;

    CallbackScope(void* handle, Close close) noexcept
        : handle_(handle), close_(close), outer_(innermost()) {
        innermost() = this;
    }
    ~CallbackScope() { leave(); }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;

    // The outermost call on `handle` running on this thread, or nullptr.
    static CallbackScope* find(const void* handle) noexcept {
        CallbackScope* found = nullptr;
        for (CallbackScope* s = innermost(); s != nullptr; s = s->outer_)
            if (s->handle_ == handle) found = s;
        return found;
    }

    void close_when_done() noexcept { close_when_done_ = true; }

    // After the library call returned: rethrows the callbacks' exception if there is one,
    // else throws Error(status) unless it is WAL_OK; closes a handle left to it (after
    // taking the message of the failure).
    void finish(wal_status status, const std::exception_ptr& exception) {
        if (exception) {
            leave();
            std::rethrow_exception(exception);
        }
        if (status != WAL_OK) {
            Error error(status);
            leave();
            throw error;
        }
        leave();
    }

private:
    static CallbackScope*& innermost() noexcept {
        static thread_local CallbackScope* scope = nullptr;
        return scope;
    }

    void leave() noexcept {
        if (left_) return;
        left_ = true;
        innermost() = outer_;
        if (close_when_done_) close_(handle_);
    }

    void* handle_;
    Close close_;
    CallbackScope* outer_;
    bool close_when_done_ = false;
    bool left_ = false;
};

// The directory argument of an open call, refused if C would see it cut short.
inline const char* dir_arg(const std::string& dir) {
    if (dir.find('\0') != std::string::npos)
        throw Error(WAL_ERR_INVALID_ARGUMENT, "the directory name contains a NUL byte");
    return dir.c_str();
}

// What Wal and Tail share: owning a library handle H that Close closes. Move-only; empty
// when default-constructed or moved from.
template <class H, wal_status (*Close)(H*)>
class Owner {
public:
    Owner(const Owner&) = delete;
    Owner& operator=(const Owner&) = delete;

    /// Closes and frees the handle (wal_close, wal_tail_close), which leaves this object
    /// empty also when it throws. A no-op when empty, so a second close() does nothing.
    /// Inside one of the handle's own callbacks it throws Error(WAL_ERR_STATE) and the
    /// handle stays open.
    void close() {
        H* handle = handle_;
        if (handle == nullptr) return;
        if (CallbackScope::find(handle) != nullptr) throw Error(Close(handle)); // refused
        handle_ = nullptr;
        check(Close(handle));
    }

    bool is_open() const noexcept { return handle_ != nullptr; }
    explicit operator bool() const noexcept { return is_open(); }
    /// The C handle, for calls of tswal.h; it stays owned by this object.
    H* native_handle() const noexcept { return handle_; }

protected:
    Owner() noexcept = default;
    explicit Owner(H* handle) noexcept : handle_(handle) {}
    Owner(Owner&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}

    // Closes this object's handle as the destructor does, then takes the other's.
    Owner& operator=(Owner&& other) noexcept {
        if (this != &other) dispose(std::exchange(handle_, std::exchange(other.handle_, nullptr)));
        return *this;
    }

    // Closes the handle, ignoring the status (close() tells it). Destroyed inside one of
    // the handle's own callbacks, the object leaves its handle to the call that runs
    // them, which closes it when the library returns.
    ~Owner() { dispose(handle_); }

    // For CallbackScope: closes a handle of this type.
    static void close_now(void* handle) noexcept { (void)Close(static_cast<H*>(handle)); }

    H* handle_ = nullptr;

private:
    static void dispose(H* handle) noexcept {
        if (handle == nullptr) return;
        if (CallbackScope* scope = CallbackScope::find(handle))
            scope->close_when_done();
        else
            (void)Close(handle);
    }
};

template <class F>
constexpr bool is_skip =
    std::is_same_v<std::decay_t<F>, Skip> || std::is_same_v<std::decay_t<F>, std::nullptr_t>;

// One read: the callbacks, the first exception one of them threw, whether one returned
// false, and the arrays that series entries are converted into (reused from entry to entry).
template <class OnSeries, class OnSamples, class OnDeletes>
class Reader {
    template <class F, class Arg>
    static constexpr bool callback_ok = is_skip<F> || std::is_invocable_v<F&, Arg>;

    static_assert(
        callback_ok<OnSeries, Span<const SeriesView>>,
        "the series callback must take tswal::Span<const tswal::SeriesView> (or be tswal::skip)");
    static_assert(
        callback_ok<OnSamples, Span<const Sample>>,
        "the samples callback must take tswal::Span<const tswal::Sample> (or be tswal::skip)");
    static_assert(
        callback_ok<OnDeletes, Span<const Tombstone>>,
        "the deletes callback must take tswal::Span<const tswal::Tombstone> (or be tswal::skip)");

public:
    Reader(OnSeries& on_series, OnSamples& on_samples, OnDeletes& on_deletes) noexcept
        : on_series_(on_series), on_samples_(on_samples), on_deletes_(on_deletes) {}

    wal_series_cb series_cb() const noexcept {
        if constexpr (is_skip<OnSeries>)
            return nullptr;
        else
            return &on_series_entry;
    }
    wal_samples_cb samples_cb() const noexcept {
        if constexpr (is_skip<OnSamples>)
            return nullptr;
        else
            return &on_samples_entry;
    }
    wal_deletes_cb deletes_cb() const noexcept {
        if constexpr (is_skip<OnDeletes>)
            return nullptr;
        else
            return &on_deletes_entry;
    }

    const std::exception_ptr& exception() const noexcept { return exception_; }
    bool stopped() const noexcept { return stopped_; }

private:
    // Calls f(make_view()); 0 goes on, 1 stops the read. Nothing escapes into C.
    template <class F, class MakeView>
    int deliver(F& f, MakeView make_view) noexcept {
        try {
            auto view = make_view();
            using Result = std::invoke_result_t<F&, decltype(view)>;
            static_assert(std::is_void_v<Result> || std::is_same_v<Result, bool>,
                          "a read callback returns void (go on) or bool (false stops the read)");
            if constexpr (std::is_void_v<Result>) {
                std::invoke(f, view);
                return 0;
            } else {
                if (std::invoke(f, view)) return 0;
                stopped_ = true;
                return 1;
            }
        } catch (...) {
            exception_ = std::current_exception();
            return 1;
        }
    }

    Span<const SeriesView> convert(const wal_series* series, std::size_t len) {
        labels_.clear();
        series_.clear();
        for (std::size_t i = 0; i < len; i++)
            for (std::size_t j = 0; j < series[i].labels_len; j++) {
                const wal_label& l = series[i].labels[j];
                labels_.push_back(Label{{l.name, l.name_len}, {l.value, l.value_len}});
            }
        const Label* next = labels_.data();
        for (std::size_t i = 0; i < len; i++) {
            series_.push_back(SeriesView{series[i].ref, {next, series[i].labels_len}});
            next += series[i].labels_len;
        }
        return {series_.data(), series_.size()};
    }

    static int on_series_entry(void* ctx, const wal_series* series, std::size_t len) noexcept {
        Reader& r = *static_cast<Reader*>(ctx);
        return r.deliver(r.on_series_, [&] { return r.convert(series, len); });
    }
    static int on_samples_entry(void* ctx, const wal_sample* samples, std::size_t len) noexcept {
        Reader& r = *static_cast<Reader*>(ctx);
        return r.deliver(r.on_samples_, [&] { return Span<const Sample>(samples, len); });
    }
    static int on_deletes_entry(void* ctx, const wal_tombstone* tombstones,
                                std::size_t len) noexcept {
        Reader& r = *static_cast<Reader*>(ctx);
        return r.deliver(r.on_deletes_, [&] { return Span<const Tombstone>(tombstones, len); });
    }

    OnSeries& on_series_;
    OnSamples& on_samples_;
    OnDeletes& on_deletes_;
    std::exception_ptr exception_{};
    bool stopped_ = false;
    std::vector<Label> labels_{};
    std::vector<SeriesView> series_{};
};

// One truncation's keep callback and the exception it threw. After an exception the
// callback is not called again and every further series is kept: wal_keep_cb cannot stop
// a truncation.
template <class Keep>
class Keeper {
public:
    explicit Keeper(Keep& keep) noexcept : keep_(keep) {}

    static bool call(void* ctx, std::uint64_t ref) noexcept {
        Keeper& k = *static_cast<Keeper*>(ctx);
        if (k.exception_) return true;
        try {
            return static_cast<bool>(std::invoke(k.keep_, ref));
        } catch (...) {
            k.exception_ = std::current_exception();
            return true;
        }
    }

    const std::exception_ptr& exception() const noexcept { return exception_; }

private:
    Keep& keep_;
    std::exception_ptr exception_{};
};

// The wal_series and wal_label arrays that log_series converts into, one pair per thread,
// reused from call to call (they keep the capacity of the largest call).
struct SeriesBuffers {
    std::vector<wal_label> labels{};
    std::vector<wal_series> series{};

    static SeriesBuffers& of_this_thread() {
        static thread_local SeriesBuffers buffers;
        return buffers;
    }
};

} // namespace detail

/// An open WAL (a wal_t), closed by the destructor, or by close(), which finishes
/// background work, syncs, unlocks and frees the handle (wal_close). Move-only; a
/// default-constructed or moved-from Wal is empty: its destructor and close() do
/// nothing, and any other call throws Error(WAL_ERR_INVALID_ARGUMENT). A Wal destroyed,
/// moved or replaced inside one of its own callbacks leaves its handle to the read or
/// truncate that runs them, which closes it when the library returns.
class Wal : public detail::Owner<wal_t, &wal_close> {
public:
    /// An empty Wal.
    Wal() noexcept = default;

    /// Opens (creating it if missing) and locks the WAL in `dir`; see wal_open. If the
    /// directory held data, read() must complete once before writes and truncation.
    static Wal open(const std::string& dir, const Options& options = {}) {
        const char* path = detail::dir_arg(dir);
        const wal_options opts = options.to_c();
        wal_t* handle = nullptr;
        detail::check(wal_open(path, &opts, &handle));
        return Wal(handle);
    }

    /// Delivers every entry in log order on this thread (wal_read): each series entry as a
    /// Span<const SeriesView>, samples as a Span<const Sample>, deletes as a
    /// Span<const Tombstone>, all valid only during the call. Pass tswal::skip (or leave
    /// out trailing callbacks) to skip a type. A callback returns void, or bool: false
    /// stops the read, which then returns false (and does not count as the first full
    /// read). An exception from a callback stops the read and is rethrown from read().
    /// Calls on this Wal from a callback throw Error(WAL_ERR_STATE) (destroying, moving or
    /// replacing it is allowed, see the class). Returns true when every entry was delivered.
    template <class OnSeries = Skip, class OnSamples = Skip, class OnDeletes = Skip>
    bool read(OnSeries&& on_series = Skip{}, OnSamples&& on_samples = Skip{},
              OnDeletes&& on_deletes = Skip{}) {
        using R =
            detail::Reader<std::remove_reference_t<OnSeries>, std::remove_reference_t<OnSamples>,
                           std::remove_reference_t<OnDeletes>>;
        R reader(on_series, on_samples, on_deletes);
        // After wal_read returns, only locals are used: a callback may have destroyed *this.
        detail::CallbackScope scope(handle_, &close_now);
        const wal_status status = wal_read(handle_, reader.series_cb(), reader.samples_cb(),
                                           reader.deletes_cb(), &reader);
        const bool stopped = reader.stopped() && status == WAL_ERR_ABORTED;
        scope.finish(stopped ? WAL_OK : status, reader.exception());
        return !stopped;
    }

    /// Logs the series as one entry (wal_log_series): any contiguous range of SeriesView,
    /// or `{{ref, labels}, ...}`. An empty range writes nothing.
    void log_series(Span<const SeriesView> series) {
        detail::SeriesBuffers& buf = detail::SeriesBuffers::of_this_thread();
        buf.labels.clear();
        buf.series.clear();
        for (const SeriesView& s : series)
            for (const Label& l : s.labels)
                buf.labels.push_back(
                    wal_label{l.name.data(), l.name.size(), l.value.data(), l.value.size()});
        const wal_label* next = buf.labels.data();
        for (const SeriesView& s : series) {
            buf.series.push_back(wal_series{s.ref, next, s.labels.size()});
            next += s.labels.size();
        }
        detail::check(wal_log_series(handle_, buf.series.data(), buf.series.size()));
    }
    void log_series(std::initializer_list<SeriesView> series) {
        log_series(Span<const SeriesView>(series));
    }

    /// Logs the samples as one entry (wal_log_samples), passing their memory as it is: any
    /// contiguous range of Sample (vector, array, C array, Span, `{ptr, len}`), or
    /// `{{ref, t, v}, ...}`. An empty range writes nothing.
    void log_samples(Span<const Sample> samples) {
        detail::check(wal_log_samples(handle_, samples.data(), samples.size()));
    }
    void log_samples(std::initializer_list<Sample> samples) {
        log_samples(Span<const Sample>(samples));
    }

    /// Logs the tombstones as one entry (wal_log_deletes), as log_samples does samples.
    void log_deletes(Span<const Tombstone> tombstones) {
        detail::check(wal_log_deletes(handle_, tombstones.data(), tombstones.size()));
    }
    void log_deletes(std::initializer_list<Tombstone> tombstones) {
        log_deletes(Span<const Tombstone>(tombstones));
    }

    /// Drops the oldest segments whose data all lies before `mint`, keeping every series
    /// of them (wal_truncate).
    void truncate(std::int64_t mint) {
        detail::check(wal_truncate(handle_, mint, nullptr, nullptr));
    }

    /// As truncate(mint), keeping the series for which `keep(ref)` returns true. If `keep`
    /// throws, it is not called again and the truncation goes on, keeping every further
    /// series (wal_keep_cb cannot stop it); once it has returned, the exception is
    /// rethrown (in place of the truncation's own Error, if it failed too).
    template <class Keep>
    void truncate(std::int64_t mint, Keep&& keep) {
        static_assert(
            std::is_invocable_r_v<bool, std::remove_reference_t<Keep>&, std::uint64_t>,
            "the keep callback must take a std::uint64_t series reference and return bool");
        detail::Keeper<std::remove_reference_t<Keep>> keeper(keep);
        detail::CallbackScope scope(handle_, &close_now);
        const wal_status status = wal_truncate(handle_, mint, &decltype(keeper)::call, &keeper);
        scope.finish(status, keeper.exception());
    }

    /// Makes everything logged so far durable (wal_sync).
    void sync() { detail::check(wal_sync(handle_)); }

    /// The handle's counters (wal_stats).
    Stats stats() const {
        Stats out{};
        detail::check(wal_stats(handle_, &out));
        return out;
    }

private:
    explicit Wal(wal_t* handle) noexcept : Owner(handle) {}
};

/// Where an entry starts (wal_position: segment and offset). Tail::position() gives the
/// one after the last entry delivered; a Tail opened there continues exactly.
using Position = wal_position;
/// What a Tail delivered and the gaps it found (see wal_tail_stats_t in tswal.h).
using TailStats = wal_tail_stats_t;

/// A live tail of a WAL directory (a wal_tail_t), closed by the destructor: it delivers
/// the entries a writer, in this process or another, hands to the files, in log order.
/// It only reads. Move-only; a default-constructed or moved-from Tail is empty: its
/// destructor and close() do nothing, and any other call throws
/// Error(WAL_ERR_INVALID_ARGUMENT).
///
/// One call at a time, except wake(), which may run on any thread while another is in
/// next(); close, moves and destruction must not run concurrently with any other call.
/// A Tail destroyed inside one of its own callbacks leaves its handle to the next()
/// that runs them, which closes it when the library returns.
class Tail : public detail::Owner<wal_tail_t, &wal_tail_close> {
public:
    /// An empty Tail.
    Tail() noexcept = default;

    /// A tail from the start of the log (wal_tail_open).
    static Tail open(const std::string& dir) { return open_at(dir, nullptr); }

    /// A tail from `from`, a position that position() gave: it continues exactly there.
    /// A position that does not start an entry is refused (Error(WAL_ERR_INVALID_ARGUMENT)
    /// from the first next() that reads its segment).
    static Tail open(const std::string& dir, const Position& from) { return open_at(dir, &from); }

    /// Delivers the entries available now, in log order, on this thread (wal_tail_next),
    /// through callbacks as those of Wal::read; when there are none, waits up to `timeout`
    /// for more (woken at once by a write, or by wake()). Returns how many entries it
    /// delivered: 0 after the timeout. A callback returning false stops the call, which
    /// returns the entries delivered before that one; the next call delivers that entry
    /// again. An exception from a callback is rethrown likewise. Damage below the newest
    /// segment throws Error(WAL_ERR_CORRUPTION) (segment and offset) once the entries
    /// before it were delivered.
    template <class OnSeries = Skip, class OnSamples = Skip, class OnDeletes = Skip>
    std::size_t next(std::chrono::milliseconds timeout, OnSeries&& on_series = Skip{},
                     OnSamples&& on_samples = Skip{}, OnDeletes&& on_deletes = Skip{}) {
        using R =
            detail::Reader<std::remove_reference_t<OnSeries>, std::remove_reference_t<OnSamples>,
                           std::remove_reference_t<OnDeletes>>;
        R reader(on_series, on_samples, on_deletes);
        const std::uint64_t before = stats().entries;
        const auto ms = std::clamp<std::chrono::milliseconds::rep>(
            timeout.count(), 0, std::numeric_limits<std::uint32_t>::max());
        wal_tail_t* const handle = handle_;
        detail::CallbackScope scope(handle, &close_now);
        std::size_t entries = 0;
        const wal_status status =
            wal_tail_next(handle, reader.series_cb(), reader.samples_cb(), reader.deletes_cb(),
                          &reader, static_cast<std::uint32_t>(ms), &entries);
        if (status == WAL_ERR_ABORTED && reader.stopped() && !reader.exception()) {
            // The library counts what it delivered; the handle stays open until finish()
            // even if a callback destroyed this Tail, so it can still be asked here.
            TailStats after{};
            if (wal_tail_stats(handle, &after) == WAL_OK)
                entries = static_cast<std::size_t>(after.entries - before);
            scope.finish(WAL_OK, nullptr);
            return entries;
        }
        scope.finish(status, reader.exception());
        return entries;
    }

    /// The position after the last entry delivered (wal_tail_position): save it, and a
    /// Tail opened there later continues exactly.
    Position position() const {
        Position out{};
        detail::check(wal_tail_position(handle_, &out));
        return out;
    }

    /// What the tail delivered, and the gaps truncation left it, since it was opened.
    TailStats stats() const {
        TailStats out{};
        detail::check(wal_tail_stats(handle_, &out));
        return out;
    }

    /// Ends the wait of a next() in progress on another thread (or the next wait, if none
    /// is in progress) at once, as after its timeout (wal_tail_wake).
    void wake() const { detail::check(wal_tail_wake(handle_)); }

private:
    explicit Tail(wal_tail_t* handle) noexcept : Owner(handle) {}

    static Tail open_at(const std::string& dir, const Position* from) {
        const char* path = detail::dir_arg(dir);
        wal_tail_t* handle = nullptr;
        detail::check(wal_tail_open(path, from, &handle));
        return Tail(handle);
    }
};

} // namespace tswal

#endif /* TSWAL_HPP */
