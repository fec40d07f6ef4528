// Pipeline configuration: the typed model of a pipeline YAML file, its loader and its
// validator.
//
// Use load_file()/load_string() at start-up, before EAL, ports or threads exist. They
// parse the YAML, check every key, type and range, then check the whole config
// (references, duplicate names, RX queue claims, edge cycles, lcores) and return
// either the config or ALL the problems found, each a diagnostic that formats as one
// line `FILE:LINE:COL: what is wrong (and what is allowed)`. Nothing here touches DPDK.
//
// Every value remembers where it was written (`located<T>::at`, 1-based line/col, 0 when
// the value is a default), so later start-up steps can report `FILE:LINE:COL:` too, via
// config::error_at(). Stage params are kept as a generic YAML-like tree (`node`) and
// checked against a per-type schema supplied by the caller (stage registry), because
// users register their own stage types.
//
// Threading: plain values; load/validate are re-entrant and allocate. Not for the hot
// path.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hh"
#include "sched/policy.hh"

namespace pk::pipeline {

// ---------------------------------------------------------------------------------------
// Positions and diagnostics

/// A position in the config file, 1-based. line == 0: not from the file (a default).
struct mark {
    uint32_t line = 0;
    uint32_t col = 0;
    constexpr bool known() const noexcept { return line != 0; }
    friend constexpr bool operator==(mark, mark) noexcept = default;
};

/// One problem found in a config. `line`/`col` are 1-based; 0 when the problem is not
/// tied to a position (e.g. the file cannot be read).
struct diagnostic {
    std::string file;
    uint32_t line = 0;
    uint32_t col = 0;
    std::string message;
};

/// `FILE:LINE:COL: message` (or `FILE: message` when there is no position).
std::string format(const diagnostic& d);
/// The diagnostics formatted, one per line, each ending in '\n': the first 50, then
/// one line saying how many more there are.
std::string format(const std::vector<diagnostic>& ds);

/// A value plus where it was written. Converts to `const T&`, so most code reads it as T.
template <typename T>
struct located {
    T value{};
    mark at{};

    located() = default;
    explicit located(T v, mark m = {}) : value(std::move(v)), at(m) {}

    /// True when the value came from the file (false: the default is in effect).
    bool given() const noexcept { return at.known(); }
    const T& operator*() const noexcept { return value; }
    T& operator*() noexcept { return value; }
    const T* operator->() const noexcept { return &value; }
    operator const T&() const noexcept { return value; }
};

// ---------------------------------------------------------------------------------------
// Generic YAML tree (stage params)

struct node_entry;

/// A YAML node with positions, independent of yaml-cpp. Stage params are kept in this
/// form; the typed getters below read them (after validate() has checked them against
/// the stage's schema, the getters cannot fail for declared params).
struct node {
    enum class kind : uint8_t { null, scalar, sequence, map };

    kind type = kind::null;
    std::string text;                ///< scalar text
    bool quoted = false;             ///< scalar was quoted/tagged: a string, never a number
    mark at;                         ///< where the node starts
    std::vector<node> items;         ///< sequence items
    std::vector<node_entry> entries; ///< map entries, in file order

    bool is_null() const noexcept { return type == kind::null; }
    bool is_scalar() const noexcept { return type == kind::scalar; }
    bool is_sequence() const noexcept { return type == kind::sequence; }
    bool is_map() const noexcept { return type == kind::map; }

    /// Map lookup (first entry with that key); nullptr when absent or not a map.
    const node* find(std::string_view key) const noexcept;

    /// Typed map lookups with a default for absent or unconvertible values.
    int64_t integer_or(std::string_view key, int64_t dflt) const;
    double number_or(std::string_view key, double dflt) const;
    bool boolean_or(std::string_view key, bool dflt) const;
    std::string string_or(std::string_view key, std::string dflt) const;
    std::chrono::nanoseconds duration_or(std::string_view key, std::chrono::nanoseconds dflt) const;
};

struct node_entry {
    std::string key;
    mark key_at;
    node value;
};

/// Scalar conversions used by the loader and by stages reading their params. Each
/// returns nullopt when the node is not such a scalar (quoted scalars are strings).
std::optional<int64_t> to_integer(const node& n); ///< 42, -1, 0x10
std::optional<double> to_number(const node& n);   ///< 42, 1.5, 1e6
std::optional<bool> to_boolean(const node& n);    ///< true/false/on/off/yes/no
/// "10ms", "1s", "500us", "100ns", "1.5s", "2min"; a unit is required.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s);
std::optional<std::chrono::nanoseconds> to_duration(const node& n);

// ---------------------------------------------------------------------------------------
// The model

using sched::discipline_kind;
using sched::idle_policy;
enum class overflow_policy : uint8_t { drop, backpressure, drop_newest, evict };

/// The YAML spelling of each value ("weighted", "round_robin", "tree"; "busy", ...).
const char* yaml_name(discipline_kind d) noexcept;
const char* yaml_name(idle_policy p) noexcept;
const char* yaml_name(overflow_policy p) noexcept;

inline constexpr unsigned priority_buckets = 4;
using per_bucket = std::array<uint32_t, priority_buckets>;

struct eal_config {
    mark at;
    located<std::vector<unsigned>> lcores; ///< sorted, unique; empty: not given
    located<uint32_t> memory_mb{0};        ///< 0: DPDK's default
    located<bool> hugepages{false};        ///< off by default: runs on machines without hugepages
    located<std::string> file_prefix;
    located<uint32_t> control_cpu{0}; ///< the control thread's CPU; absent: one no reactor uses
    located<std::vector<std::string>> extra_args; ///< passed to EAL verbatim
};

struct rss_config {
    mark at;
    located<bool> enabled{false}; ///< default: on when rx_queues > 1
    located<std::vector<std::string>> types{{"ip", "tcp", "udp"}};
};

struct mempool_config {
    mark at;
    located<uint32_t> size{8191}; ///< default grows with queues × descriptors
    located<uint32_t> cache{256};
    located<uint32_t> data_room{2176}; ///< RTE_MBUF_DEFAULT_BUF_SIZE
};

struct port_config {
    mark at;
    located<std::string> name;
    located<std::string> device; ///< PCI address or vdev string ("net_ring0,...")
    located<uint32_t> rx_queues{1};
    located<uint32_t> tx_queues{1};
    located<uint32_t> rx_desc{1024};
    located<uint32_t> tx_desc{1024};
    located<uint32_t> mtu{1500};
    located<bool> promiscuous{true};
    rss_config rss;
    mempool_config mempool;

    /// The vdev driver name+id before the first ',' ("net_ring0"); the whole PCI address.
    std::string device_name() const;
};

struct reactor_config {
    mark at;
    located<std::string> name;  ///< default "r<id>"
    located<uint32_t> id{0};    ///< default: index in the list
    located<uint32_t> lcore{0}; ///< EAL lcore id; absent: the next free id
    located<uint32_t> cpu{0};   ///< the CPU it runs on; absent: the lcore's number, or planned
    located<discipline_kind> discipline{discipline_kind::weighted_priority};
    located<per_bucket> polls{{10, 6, 3, 1}};          ///< weighted: polls per task per round
    located<per_bucket> shares{{1000, 600, 300, 100}}; ///< tree: CPU shares per bucket
    located<idle_policy> idle{idle_policy::busy};
};

struct reactors_config {
    mark at;
    /// `reactors: auto`, `reactors: {count: N, ...}` or the key absent: the application
    /// plans reactors from the hwloc topology; planned reactors are named r0..r(N-1)
    /// and take their settings from `defaults`.
    bool automatic = true;
    located<uint32_t> count{0};       ///< auto: how many (0: one per usable core)
    reactor_config defaults;          ///< auto: discipline/polls/shares/idle for each
    std::vector<reactor_config> list; ///< explicit plan (automatic == false)
};

struct stage_config {
    mark at;
    located<std::string> name;
    located<std::string> type;
    node params;                   ///< a map (empty when absent)
    located<std::string> reactor;  ///< reactor name or id as written; empty: default
    located<uint32_t> priority{0}; ///< bucket 0 (most polls) .. 3
};

struct edge_config {
    mark at;
    located<std::string> from; ///< as written: "stage" or "stage.output"
    std::string from_stage;    ///< parsed from `from`
    std::string from_output{"out"};
    located<std::string> to;
    located<std::string> queue{"link"}; ///< an edge kind's name (validation_options)
    located<uint32_t> size{1024};
    located<overflow_policy> overflow{overflow_policy::backpressure};
    located<bool> allow_cycle{false};
};

struct timer_config {
    mark at;
    located<std::string> name;
    located<std::chrono::nanoseconds> interval{std::chrono::nanoseconds{0}};
    located<std::string> action;
    located<std::string> reactor; ///< empty: the first reactor
};

struct metrics_config {
    mark at;
    located<bool> enabled{false}; ///< default: on when the section is present
    located<std::string> listen{"127.0.0.1:9100"};
    std::string host{"127.0.0.1"}; ///< parsed from listen ("[::1]" → "::1")
    uint16_t port = 9100;
};

struct console_config {
    mark at;
    located<bool> use_stdin{true}; ///< key `stdin`
    located<std::string> socket;   ///< unix socket path; empty: none
};

struct config {
    std::string file; ///< the name used in diagnostics
    located<std::string> name;
    located<std::string> description;
    eal_config eal;
    std::vector<port_config> ports;
    reactors_config reactors;
    std::vector<stage_config> stages;
    std::vector<edge_config> edges;
    std::vector<timer_config> timers;
    metrics_config metrics;
    console_config console;

    const port_config* find_port(std::string_view name) const noexcept;
    const stage_config* find_stage(std::string_view name) const noexcept;
    /// Explicit reactors only: by name, or by id when `ref` is an integer.
    const reactor_config* find_reactor(std::string_view ref) const noexcept;

    /// A diagnostic at `at` in this config's file, for errors found after loading.
    diagnostic error_at(mark at, std::string message) const;
};

// ---------------------------------------------------------------------------------------
// Stage types and param schemas

enum class param_type : uint8_t {
    any,      ///< anything
    boolean,  ///< true/false/on/off/yes/no
    integer,  ///< range [min, max]
    number,   ///< integer or decimal, range [min, max]
    string,   ///< any scalar; restricted to `choices` when non-empty
    duration, ///< "10ms", "1s", ...
    list,     ///< a YAML sequence
    map,      ///< a YAML map
    port,     ///< the name of a port in `ports`
    stage,    ///< the name of a stage in `stages`
    rx_queue, ///< an RX queue index (or a list) of the stage's `port` param; claimed
              ///< exclusively. Absent: queue 0.
    tx_queue, ///< a TX queue index of the stage's `port` param (not exclusive)
};

const char* to_string(param_type t) noexcept;

struct param_spec {
    std::string name;
    param_type type = param_type::any;
    bool required = false;
    int64_t min = INT64_MIN; ///< integer/number range
    int64_t max = INT64_MAX;
    std::vector<std::string> choices; ///< string: the allowed values (empty: any)
};

/// What a stage type is to the runtime: properties of the type, declared in its schema
/// (the registry's), never found by comparing type names.
enum class role : uint8_t {
    rx_source,      ///< reads a device queue: polled as its reactor's NET source
    source,         ///< creates packets: polled as a task in its priority bucket
    tx_sink,        ///< hands packets to a device (counts them transmitted)
    sink,           ///< consumes packets by design: what it frees is consumed, not lost
    balancer,       ///< spreads flows over its outputs (`show flows`)
    writes_packets, ///< modifies packets in place: never downstream of a pub edge
    observer,       ///< disposes of every packet inside process() (passes it on or drops it,
                    ///< never keeps one): can run on packets still owned by a broadcast ring
};

/// A set of roles, e.g. `{role::source}`.
class role_set {
public:
    constexpr role_set() noexcept = default;
    constexpr role_set(std::initializer_list<role> rs) noexcept {
        for (role r : rs)
            _bits |= bit(r);
    }
    constexpr bool has(role r) const noexcept { return (_bits & bit(r)) != 0; }
    constexpr bool any(role_set o) const noexcept { return (_bits & o._bits) != 0; }

private:
    static constexpr uint32_t bit(role r) noexcept { return 1u << static_cast<unsigned>(r); }
    uint32_t _bits = 0;
};

/// Reports one problem with a stage's params: where, and what is wrong.
using param_error = std::function<void(mark at, std::string message)>;

struct stage_schema {
    std::vector<param_spec> params;
    bool open = false;                ///< true: params not listed are accepted unchecked
    bool accepts_input = true;        ///< false: a source; no edge may point to it
    bool has_outputs = true;          ///< false: a sink; no edge may leave it
    std::vector<std::string> outputs; ///< allowed output names; empty: any
    role_set roles;
    /// Roles that depend on the params (a filter with `class` writes the packet's class),
    /// in place of `roles`. Optional.
    std::function<role_set(const node& params)> roles_of;
    /// Checks beyond each param's type and range (a prefix's syntax, a power of two),
    /// run after those passed. Optional.
    std::function<void(const node& params, const param_error& error)> check;
    /// Packet buffers the stage reserves from the graph's pools (e.g. a generator),
    /// counted in the plan's mempool budget. Optional.
    std::function<uint64_t(const node& params)> pool_mbufs;
};

/// An edge kind as the validator sees it (the pipeline layer's edge table supplies them).
struct edge_kind_spec {
    std::string name;
    bool evict = false; ///< overflow 'evict' allowed (a lagging subscriber jumps ahead)
    uint32_t max_size = 0; ///< the largest `size` this kind takes (0: no limit)
};

struct validation_options {
    /// Known stage types; a stage whose type is not here is an error.
    std::set<std::string, std::less<>> stage_types;
    /// Param schema per type; nullopt (or an empty function): params not checked.
    std::function<std::optional<stage_schema>(std::string_view type)> schema;
    /// Known edge kinds (`queue:`); empty: any name is accepted.
    std::vector<edge_kind_spec> edge_kinds;
};

// ---------------------------------------------------------------------------------------
// Loading

/// Either a validated config or the diagnostics (never both). Shaped like pk::result.
class [[nodiscard]] config_result {
public:
    config_result(config c) : _cfg(std::move(c)) {}
    config_result(std::vector<diagnostic> d, errc code = errc::invalid_argument)
        : _diags(std::move(d)), _code(code) {}

    bool ok() const noexcept { return _cfg.has_value(); }
    explicit operator bool() const noexcept { return ok(); }

    config& value() & { return *_cfg; }
    const config& value() const& { return *_cfg; }
    config&& value() && { return std::move(*_cfg); }
    config& operator*() & { return *_cfg; }
    config* operator->() { return &*_cfg; }
    const config* operator->() const { return &*_cfg; }

    /// Sorted by position. Empty when ok().
    const std::vector<diagnostic>& diagnostics() const noexcept { return _diags; }
    /// invalid_argument (bad config) or not_found/io (file); message = format(diagnostics).
    pk::error err() const;
    /// As a pk::result<config> (diagnostics folded into the error message).
    result<config> to_result() &&;

private:
    std::optional<config> _cfg;
    std::vector<diagnostic> _diags;
    errc _code = errc::ok;
};

/// Reads and validates `path`. A missing/unreadable file gives one diagnostic
/// `PATH: cannot read config: <reason>` with errc::not_found / errc::io.
config_result load_file(const std::string& path, const validation_options& opts = {});

/// Parses and validates `text`; `file` is the name used in diagnostics.
config_result load_string(std::string_view text, std::string file = "<string>",
                          const validation_options& opts = {});

/// The cross-checks alone (names, references, RX claims, cycles, lcores, stage types and
/// params) on an already-built config, e.g. one assembled in code. Sorted by position.
std::vector<diagnostic> validate(const config& cfg, const validation_options& opts = {});

} // namespace pk::pipeline
