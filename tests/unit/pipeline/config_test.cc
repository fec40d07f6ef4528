// Pipeline config: the typed model from YAML, and validation diagnostics.
//
// The table test feeds broken configs through load_string() and checks that each yields
// exactly one diagnostic with the exact `t.yaml:LINE:COL: message` (one error kind per
// row). Other tests check that several errors in one file are all reported, that a
// complete config parses into the expected model, custom stage types and param schemas,
// and load_file() on a missing file.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/config.hh"
#include "pipeline/registry.hh"

using namespace pk::pipeline;
using namespace std::chrono_literals;

namespace {

/// What pktkernel validates with: every registered stage type and edge kind.
const validation_options& reg() {
    static const validation_options o = registry::global().validation();
    return o;
}

std::vector<std::string> lines_of(const config_result& r) {
    std::vector<std::string> out;
    for (const auto& d : r.diagnostics())
        out.push_back(format(d));
    return out;
}

std::string joined(const config_result& r) {
    return format(r.diagnostics());
}

struct broken {
    const char* what; ///< the error kind
    const char* yaml;
    const char* expected; ///< the one diagnostic, formatted
};

// A reusable valid prefix: two explicit reactors, two ports. Lines 1..8.
#define PRELUDE                                                                                    \
    "eal: {lcores: [0, 1, 2]}\n"                                                                   \
    "reactors:\n"                                                                                  \
    "  - {name: io, lcore: 1}\n"                                                                   \
    "  - {name: work, lcore: 2}\n"                                                                 \
    "ports:\n"                                                                                     \
    "  - {name: in, device: net_ring0, rx_queues: 2}\n"                                            \
    "  - {name: out, device: net_ring1}\n"                                                         \
    "stages:\n"

const broken cases[] = {
    // --- YAML itself
    {"yaml syntax: unclosed flow sequence", "ports: [a, b\nname: x\n",
     "t.yaml:2:5: YAML syntax error: end of sequence flow not found"},
    {"yaml syntax: bad indentation", "name: x\n  description: y\n",
     "t.yaml:2:14: YAML syntax error: illegal map value"},
    {"duplicate key", "name: a\ndescription: b\nname: c\n",
     "t.yaml:3:1: duplicate key 'name' (first given at 1:1)"},
    {"two documents", "name: a\n---\nname: b\n",
     "t.yaml:3:1: only one YAML document is allowed in a config (remove the '---')"},
    {"empty config", "",
     "t.yaml:1:1: the config is empty (expected a map with keys: name, description, eal, ports, "
     "reactors, stages, edges, timers, metrics, console)"},
    {"top level not a map", "- a\n- b\n",
     "t.yaml:1:1: the config must be a map with keys: name, description, eal, ports, reactors, "
     "stages, edges, timers, metrics, console; got a list"},

    // --- unknown keys
    {"unknown top-level key with suggestion", "name: x\nprots: []\n",
     "t.yaml:2:1: unknown key 'prots' at the top level (did you mean 'ports'?)"},
    {"unknown key without a close match", "eal:\n  colour: red\n",
     "t.yaml:2:3: unknown key 'colour' in eal (allowed: lcores, memory_mb, hugepages, "
     "file_prefix, extra_args, control_cpu)"},
    {"unknown port key", "ports:\n  - name: p\n    device: net_null0\n    rx_queue: 2\n",
     "t.yaml:4:5: unknown key 'rx_queue' in port (did you mean 'rx_queues'?)"},
    {"unknown edge key",
     PRELUDE "  - {name: a, type: count, reactor: io}\n"
             "  - {name: io_stage, type: count, reactor: io}\n"
             "edges:\n  - {from: a, to: io_stage, allow_cycles: true}\n",
     "t.yaml:12:29: unknown key 'allow_cycles' in edge (did you mean 'allow_cycle'?)"},

    // --- wrong types
    {"integer expected", "ports:\n  - {name: p, device: net_null0, rx_queues: four}\n",
     "t.yaml:2:45: 'rx_queues' must be an integer, got 'four'"},
    {"quoted number is a string", "ports:\n  - {name: p, device: net_null0, mtu: \"1500\"}\n",
     "t.yaml:2:39: 'mtu' must be an integer, got the quoted string \"1500\""},
    {"boolean expected", "eal:\n  hugepages: maybe\n",
     "t.yaml:2:14: 'hugepages' must be on or off (true/false, yes/no), got 'maybe'"},
    {"extra_args cannot load a shared object",
     "eal:\n  extra_args: [\"-l\", \"0\", \"-d\", x.so]\n",
     "t.yaml:2:27: 'extra_args' cannot load code: '-d' (EAL's -d loads a shared object; "
     "drivers come from DPDK's plugin directory, or give -d on the command line after --)"},
    {"extra_args cannot load code in a short-option cluster",
     "eal:\n  extra_args: [\"-vd/tmp/x.so\"]\n",
     "t.yaml:2:16: 'extra_args' cannot load code: '-vd/tmp/x.so' (EAL's -d loads a shared "
     "object; drivers come from DPDK's plugin directory, or give -d on the command line "
     "after --)"},
    {"list expected", "ports: {name: p}\n",
     "t.yaml:1:8: 'ports' must be a list of ports, got a map"},
    {"map expected for a list item", "stages:\n  - rx\n",
     "t.yaml:2:5: each stage must be a map (name: ..., type: ...), got 'rx'"},
    {"params must be a map", "stages:\n  - {name: c, type: count, params: [1, 2]}\n",
     "t.yaml:2:36: 'params' must be a map of stage parameters, got a list"},
    {"duration needs a unit", "timers:\n  - {name: t, interval: 10, action: stats}\n",
     "t.yaml:2:25: 'interval' must be a duration with a unit (ns, us, ms, s, min) like 10ms, 1s "
     "or 500us, got '10'"},
    {"reactors form", "reactors: many\n",
     "t.yaml:1:11: 'reactors' must be 'auto', a map (count, discipline, polls, shares, idle) or "
     "a list of reactors, got 'many'"},

    // --- out of range / format
    {"out of range", "ports:\n  - {name: p, device: net_null0, rx_queues: 5000}\n",
     "t.yaml:2:45: 'rx_queues' must be between 1 and 1024, got 5000"},
    {"priority bucket out of range", "stages:\n  - {name: c, type: count, priority: 4}\n",
     "t.yaml:2:38: 'priority' must be between 0 and 3, got 4"},
    {"descriptors not a power of two", "ports:\n  - {name: p, device: net_null0, rx_desc: 1000}\n",
     "t.yaml:2:43: 'rx_desc' must be a power of two, got 1000 (e.g. 512 or 1024)"},
    {"edge size not a power of two",
     "stages:\n  - {name: a, type: count}\n  - {name: b, type: count}\n"
     "edges:\n  - {from: a, to: b, size: 3000}\n",
     "t.yaml:5:28: 'size' must be a power of two, got 3000 (e.g. 2048 or 4096)"},
    {"invalid enum with suggestion", "reactors:\n  - {lcore: 1, discipline: wieghted}\n",
     "t.yaml:2:28: invalid discipline 'wieghted' (did you mean 'weighted'? allowed: weighted, "
     "round_robin, tree)"},
    {"invalid enum without suggestion", "reactors:\n  - {lcore: 1, idle: sleep-forever}\n",
     "t.yaml:2:22: invalid idle 'sleep-forever' (allowed: busy, pause, adaptive)"},
    {"invalid overflow policy",
     "stages:\n  - {name: a, type: count}\n  - {name: b, type: count}\n"
     "edges:\n  - {from: a, to: b, overflow: block}\n",
     "t.yaml:5:32: invalid overflow 'block' (allowed: drop, backpressure, drop_newest, evict)"},
    {"polls needs four values", "reactors:\n  - {lcore: 1, polls: [10, 6, 3]}\n",
     "t.yaml:2:23: 'polls' must list 4 integers, one per priority bucket 0..3 (like [10, 6, 3, "
     "1]), got 3 values"},
    {"polls only for weighted",
     "reactors:\n  - {lcore: 1, discipline: tree, polls: [1, 1, 1, 1]}\n",
     "t.yaml:2:41: 'polls' applies only to discipline 'weighted' (this reactor uses 'tree')"},
    {"invalid name", "ports:\n  - {name: my.port, device: net_null0}\n",
     "t.yaml:2:12: invalid name 'my.port' (use letters, digits, '_' and '-', starting with a "
     "letter or '_')"},
    {"invalid device", "ports:\n  - {name: p, device: eth0}\n",
     "t.yaml:2:23: invalid device 'eth0' (a PCI address like 0000:03:00.0 or "
     "pci:0000:03:00.0[,devargs], or a vdev like "
     "net_ring0, net_memif0,role=server,socket=/tmp/x or "
     "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap)"},
    {"unquoted vdev with commas in a flow map",
     "ports:\n  - {name: p, device: net_memif0,role=server}\n",
     "t.yaml:2:34: unknown key 'role=server' in port (a value containing ',' inside {...} must "
     "be quoted, e.g. device: \"net_memif0,role=server\")"},
    {"invalid edge from", "stages:\n  - {name: a, type: count}\nedges:\n  - {from: a.b.c, to: a}\n",
     "t.yaml:4:12: invalid 'from' 'a.b.c' (expected \"stage\" or \"stage.output\")"},
    {"metrics listen", "metrics: {listen: localhost}\n",
     "t.yaml:1:19: 'listen' must be ADDR:PORT with a port 1..65535, like 127.0.0.1:9100, "
     "0.0.0.0:9100 or [::1]:9100; got 'localhost'"},
    {"lcores string", "eal: {lcores: \"0-3,x\"}\n",
     "t.yaml:1:15: 'lcores' must be a list of lcore ids like [0, 1, 2] or a range string like "
     "\"0-3,6\", got the quoted string \"0-3,x\""},
    {"lcore listed twice", "eal: {lcores: [0, 1, 1]}\n",
     "t.yaml:1:22: lcore 1 is listed twice (first at 1:19)"},
    {"rss hash type", "ports:\n  - {name: p, device: net_null0, rss: {types: [ip, udpp]}}\n",
     "t.yaml:2:52: invalid RSS hash type 'udpp' (did you mean 'udp'? allowed: ip, ipv4, ipv6, "
     "tcp, udp, sctp, ipv4_tcp, ipv4_udp, ipv6_tcp, ipv6_udp, l2_payload)"},
    {"mempool cache too large",
     "ports:\n  - {name: p, device: net_null0, rx_desc: 64, tx_desc: 64, mempool: {size: 255, "
     "cache: 256}}\n",
     "t.yaml:2:88: mempool 'cache' 256 is too large for 'size' 255 (at most size / 1.5 = 170)"},
    {"mempool too small for the rings",
     "ports:\n  - {name: p, device: net_null0, rx_queues: 4, mempool: {size: 2047}}\n",
     "t.yaml:2:64: mempool 'size' 2047 cannot fill the descriptor rings (rx_queues × rx_desc + "
     "tx_queues × tx_desc = 5120; use at least 10240)"},
    {"socket path too long",
     "console: {socket: "
     "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock}\n",
     "t.yaml:1:19: 'socket' path is 135 bytes; a unix socket path must be shorter than 108"},

    // --- required keys
    {"missing required key", "ports:\n  - name: p\n    rx_queues: 2\n",
     "t.yaml:2:5: port is missing required key 'device'"},
    {"missing stage type", "stages:\n  - {name: c}\n",
     "t.yaml:2:5: stage is missing required key 'type'"},
    {"reactor cpu out of range", "reactors:\n  - {name: io, cpu: 5000}\n",
     "t.yaml:2:21: 'cpu' must be between 0 and 1023, got 5000"},

    // --- duplicates
    {"duplicate port name",
     "ports:\n  - {name: p, device: net_null0}\n  - {name: p, device: net_null1}\n",
     "t.yaml:3:12: duplicate port name 'p' (first defined at 2:12)"},
    {"duplicate device",
     "ports:\n  - {name: a, device: \"net_ring0\"}\n  - {name: b, device: \"net_ring0,x=1\"}\n",
     "t.yaml:3:23: device 'net_ring0' is already used by port 'a' at 2:23 (each port needs its "
     "own device)"},
    {"mtu larger than one mbuf", "ports:\n  - {name: j, device: net_null0, mtu: 9000}\n",
     "t.yaml:2:39: mtu 9000 needs frames of up to 9022 bytes, but an mbuf of mempool.data_room "
     "2176 holds 2048 after its 128-byte headroom; set mempool.data_room to at least 9150 "
     "(multi-segment packets are not supported) or lower the mtu"},
    {"duplicate stage name", "stages:\n  - {name: c, type: count}\n  - {name: c, type: drop}\n",
     "t.yaml:3:12: duplicate stage name 'c' (first defined at 2:12)"},
    {"two reactors on one lcore", "reactors:\n  - {name: a, lcore: 1}\n  - {name: b, lcore: 1}\n",
     "t.yaml:3:22: reactors 'a' and 'b' are both on lcore 1 (one reactor per lcore)"},
    {"duplicate edge",
     "stages:\n  - {name: a, type: count}\n  - {name: b, type: count}\n"
     "edges:\n  - {from: a, to: b}\n  - {from: a.out, to: b, size: 64}\n",
     "t.yaml:6:5: duplicate edge a.out -> b (first at 5:5)"},
    {"duplicate timer name",
     "timers:\n  - {name: t, interval: 1s, action: stats}\n  - {name: t, interval: 2s, action: "
     "flush}\n",
     "t.yaml:3:12: duplicate timer name 't' (first defined at 2:12)"},
    {"evict on a link edge",
     "stages:\n  - {name: a, type: count}\n  - {name: b, type: count}\n"
     "edges:\n  - {from: a, to: b, overflow: evict}\n",
     "t.yaml:5:32: overflow 'evict' applies to pub edges only (a lagging subscriber jumps "
     "ahead); a link edge takes drop or backpressure"},
    {"unknown timer action", "timers:\n  - {name: t, interval: 1s, action: explode}\n",
     "t.yaml:2:37: unknown timer action 'explode' (allowed: stats, flush, service)"},

    // --- dangling references
    {"edge to unknown stage (suggestion)",
     PRELUDE "  - {name: worker, type: count, reactor: work}\n"
             "edges:\n  - {from: worker, to: wroker}\n",
     "t.yaml:11:24: edge 'to' names unknown stage 'wroker' (did you mean 'worker'?)"},
    {"edge from unknown stage (list)",
     PRELUDE "  - {name: worker, type: count, reactor: work}\n"
             "edges:\n  - {from: nothing.out, to: worker}\n",
     "t.yaml:11:12: edge 'from' names unknown stage 'nothing' (defined: worker)"},
    {"stage on unknown reactor", PRELUDE "  - {name: c, type: count, reactor: wrk}\n",
     "t.yaml:9:37: stage 'c' names unknown reactor 'wrk' (did you mean 'work'?)"},
    {"stage on unknown reactor id", PRELUDE "  - {name: c, type: count, reactor: 9}\n",
     "t.yaml:9:37: stage 'c' names unknown reactor '9' (defined: io, work)"},
    {"planned reactor beyond count",
     "reactors: {count: 2}\nstages:\n  - {name: c, type: count, reactor: r2}\n",
     "t.yaml:3:37: stage 'c' names unknown reactor 'r2' (with planned reactors, use r0..r1 or "
     "0..1)"},
    {"stage needs a reactor when there are several", PRELUDE "  - {name: c, type: count}\n",
     "t.yaml:9:12: stage 'c' needs a 'reactor' (there are 2 reactors: io, work)"},
    {"port_rx on unknown port",
     PRELUDE "  - {name: rx, type: port_rx, params: {port: inn}, reactor: io}\n",
     "t.yaml:9:46: stage 'rx' param 'port' names unknown port 'inn' (did you mean 'in'?)"},
    {"timer on unknown reactor",
     PRELUDE "timers:\n  - {name: t, interval: 1s, action: stats, reactor: cpu}\n",
     "t.yaml:10:53: timer 't' names unknown reactor 'cpu' (defined: io, work)"},

    // --- graph
    {"cycle",
     "stages:\n  - {name: a, type: count}\n  - {name: b, type: count}\n  - {name: c, type: count}\n"
     "edges:\n  - {from: a, to: b}\n  - {from: b, to: c}\n  - {from: c, to: a}\n",
     "t.yaml:8:5: edges form a cycle: a -> b -> c -> a (a cycle is allowed only when one of its "
     "edges says 'allow_cycle: true')"},
    {"self loop", "stages:\n  - {name: a, type: filter}\nedges:\n  - {from: a.miss, to: a}\n",
     "t.yaml:4:5: edges form a cycle: a -> a (a cycle is allowed only when one of its edges says "
     "'allow_cycle: true')"},
    {"edge into a source",
     PRELUDE "  - {name: rx, type: port_rx, params: {port: in}, reactor: io}\n"
             "  - {name: c, type: count, reactor: io}\nedges:\n  - {from: c, to: rx}\n",
     "t.yaml:12:19: stage 'rx' (port_rx) takes no input; no edge can point to it"},
    {"edge out of a sink",
     PRELUDE "  - {name: tx, type: port_tx, params: {port: out}, reactor: io}\n"
             "  - {name: c, type: count, reactor: io}\nedges:\n  - {from: tx, to: c}\n",
     "t.yaml:12:12: stage 'tx' (port_tx) has no outputs; no edge can leave it"},

    // --- RX queues, lcores
    {"two stages claim one RX queue",
     PRELUDE "  - {name: rx0, type: port_rx, params: {port: in, queue: 1}, reactor: io}\n"
             "  - {name: rx1, type: port_rx, params: {port: in, queue: [0, 1]}, reactor: work}\n",
     "t.yaml:10:62: RX queue 1 of port 'in' is already claimed by stage 'rx0' at 9:58 (each RX "
     "queue is read by exactly one stage)"},
    {"default RX queue 0 claimed twice",
     PRELUDE "  - {name: rx0, type: port_rx, params: {port: out}, reactor: io}\n"
             "  - {name: rx1, type: port_rx, params: {port: out}, reactor: work}\n",
     "t.yaml:10:47: RX queue 0 of port 'out' is already claimed by stage 'rx0' at 9:47 (each RX "
     "queue is read by exactly one stage)"},
    {"RX queue beyond rx_queues",
     PRELUDE "  - {name: rx, type: port_rx, params: {port: in, queue: 2}, reactor: io}\n",
     "t.yaml:9:57: RX queue 2 is beyond port 'in', which has 2 rx_queues (allowed: 0..1)"},
    {"TX queue beyond tx_queues",
     PRELUDE "  - {name: tx, type: port_tx, params: {port: out, queue: 1}, reactor: io}\n",
     "t.yaml:9:58: TX queue 1 is beyond port 'out', which has 1 tx_queues (allowed: 0..0)"},
    {"reactor on an lcore EAL does not have",
     "eal: {lcores: \"0-1\"}\nreactors:\n  - {name: a, lcore: 1}\n  - {name: b, lcore: 4}\n",
     "t.yaml:4:22: reactor 'b' is on lcore 4, which eal.lcores does not have (eal.lcores: 0-1)"},
    {"more planned reactors than lcores", "eal: {lcores: [0, 1]}\nreactors: {count: 3}\n",
     "t.yaml:2:19: 'count' is 3 reactors but eal.lcores has only 2 lcores (0-1)"},

    // --- stage types and params
    {"unknown stage type (suggestion)", "stages:\n  - {name: s, type: macswp}\n",
     "t.yaml:2:21: unknown stage type 'macswp' (did you mean 'macswap'?)"},
    {"unknown stage type (list)", "stages:\n  - {name: s, type: teleport}\n",
     "t.yaml:2:21: unknown stage type 'teleport' (known types: capture, count, drop, filter, "
     "flow_balance, flow_table, generator, macswap, parse, port_rx, port_tx, publish, "
     "rate_limit, subscribe, udp_echo)"},
    {"unknown param",
     PRELUDE "  - {name: rx, type: port_rx, params: {port: in, qeue: 1}, reactor: io}\n",
     "t.yaml:9:50: unknown param 'qeue' for stage type 'port_rx' (did you mean 'queue'?)"},
    {"param for a type that takes none",
     PRELUDE "  - {name: d, type: count, params: {x: 1}, reactor: io}\n",
     "t.yaml:9:37: unknown param 'x' for stage type 'count' (count takes no params)"},
    {"param of the wrong type",
     PRELUDE "  - {name: rx, type: port_rx, params: {port: in, burst: lots}, reactor: io}\n",
     "t.yaml:9:57: param 'burst' must be an integer, got 'lots'"},
    {"param out of range",
     PRELUDE "  - {name: rx, type: port_rx, params: {port: in, burst: 4096}, reactor: io}\n",
     "t.yaml:9:57: param 'burst' must be between 1 and 64, got 4096"},
    {"missing required param",
     PRELUDE "  - {name: rx, type: port_rx, params: {burst: 32}, reactor: io}\n",
     "t.yaml:9:39: stage 'rx' (port_rx) is missing required param 'port'"},
    {"missing params entirely", PRELUDE "  - {name: tx, type: port_tx, reactor: io}\n",
     "t.yaml:9:12: stage 'tx' (port_tx) is missing required param 'port'"},
};

class broken_config : public ::testing::TestWithParam<broken> {};

/// Each diagnostic with its source line and a caret under the column, for failures.
std::string carets(std::string_view yaml, const config_result& r) {
    std::vector<std::string> src;
    size_t start = 0;
    while (start <= yaml.size()) {
        const size_t nl = yaml.find('\n', start);
        src.emplace_back(yaml.substr(start, nl == std::string_view::npos ? nl : nl - start));
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    std::string out;
    for (const auto& d : r.diagnostics()) {
        out += format(d) + "\n";
        if (d.line >= 1 && d.line <= src.size())
            out += "  | " + src[d.line - 1] + "\n  | " + std::string(d.col ? d.col - 1 : 0, ' ') +
                   "^\n";
    }
    return out;
}

TEST_P(broken_config, reports_exactly_one_error_at_the_right_place) {
    const broken& b = GetParam();
    auto r = load_string(b.yaml, "t.yaml", reg());
    ASSERT_FALSE(r.ok()) << b.what;
    EXPECT_EQ(lines_of(r), std::vector<std::string>{b.expected}) << b.what << "\n"
                                                                 << carets(b.yaml, r);
}

std::string case_name(const ::testing::TestParamInfo<broken>& info) {
    std::string s = std::to_string(info.index) + "_" + info.param.what;
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

/// Runs `pktkernel ARGS` in `dir` and returns (exit code, stderr).
std::pair<int, std::string> pktkernel(const std::string& dir, const std::string& args) {
    std::string cmd = "cd '" + dir + "' && '" + std::getenv("PK_BINARY") + "' " + args +
                      " 2>&1 >/dev/null </dev/null";
    std::string err;
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return {-1, "popen failed"};
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, f))
        err.append(buf, n);
    int st = pclose(f);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, err};
}

// The same table through the binary: `pktkernel --check t.yaml` and a normal run both
// exit 2 before anything starts, with the same FILE:LINE:COL line first.
TEST_P(broken_config, check_and_run_report_it_the_same) {
    if (!std::getenv("PK_BINARY")) GTEST_SKIP() << "PK_BINARY not set";
    const broken& b = GetParam();
    char tmpl[] = "/tmp/pk-check-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    std::ofstream(dir + "/t.yaml") << b.yaml;
    auto [check_rc, check_err] = pktkernel(dir, "--check t.yaml");
    auto [run_rc, run_err] = pktkernel(dir, "--config t.yaml --duration 1");
    std::filesystem::remove_all(dir);
    EXPECT_EQ(check_rc, 2) << check_err;
    EXPECT_EQ(run_rc, 2) << run_err;
    auto first = [](const std::string& s) { return s.substr(0, s.find('\n')); };
    EXPECT_EQ(first(check_err), b.expected) << b.what;
    EXPECT_EQ(first(run_err), b.expected) << b.what;
}

INSTANTIATE_TEST_SUITE_P(table, broken_config, ::testing::ValuesIn(cases), case_name);

TEST(broken_config, table_is_large_enough) {
    EXPECT_GE(std::size(cases), 30u);
}

// --------------------------------------------------------------------------------------
// Many errors in one file: all of them, sorted by position.

TEST(config_errors, all_errors_are_reported_in_file_order) {
    const char* yaml = R"(name: bad
eal:
  lcores: [0, 1]
prots: []
ports:
  - name: in
    device: net_ring0
    rx_queue: 2
    rx_desc: 1000
  - name: in
    device: eth0
reactors:
  - {name: io, lcore: 1, discipline: wieghted}
  - {name: w, lcore: 5, polls: [1, 2, 3]}
stages:
  - {name: rx0, type: port_rx, params: {port: in}, reactor: io}
  - {name: rx1, type: port_rx, params: {port: in, qeue: 1}, reactor: wx}
  - {name: swap, type: macswp, reactor: w}
  - {name: tx, type: port_tx, params: {port: ou}, reactor: w, priority: 4}
edges:
  - {from: rx0, to: swap, size: 1000}
  - {from: swap, to: tx}
  - {from: a, to: b, queue: ring}
timers:
  - {name: t, interval: 10, action: stats}
metrics: {listen: "localhost"}
)";
    auto r = load_string(yaml, "bad.yaml", reg());
    ASSERT_FALSE(r.ok());
    const std::vector<std::string> expected = {
        "bad.yaml:4:1: unknown key 'prots' at the top level (did you mean 'ports'?)",
        "bad.yaml:8:5: unknown key 'rx_queue' in port (did you mean 'rx_queues'?)",
        "bad.yaml:9:14: 'rx_desc' must be a power of two, got 1000 (e.g. 512 or 1024)",
        "bad.yaml:10:11: duplicate port name 'in' (first defined at 6:11)",
        "bad.yaml:11:13: invalid device 'eth0' (a PCI address like 0000:03:00.0 or "
        "pci:0000:03:00.0[,devargs], or a vdev like "
        "net_ring0, net_memif0,role=server,socket=/tmp/x or "
        "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap)",
        "bad.yaml:13:38: invalid discipline 'wieghted' (did you mean 'weighted'? allowed: "
        "weighted, round_robin, tree)",
        "bad.yaml:14:22: reactor 'w' is on lcore 5, which eal.lcores does not have (eal.lcores: "
        "0-1)",
        "bad.yaml:14:32: 'polls' must list 4 integers, one per priority bucket 0..3 (like [10, "
        "6, 3, 1]), got 3 values",
        "bad.yaml:17:51: unknown param 'qeue' for stage type 'port_rx' (did you mean 'queue'?)",
        "bad.yaml:17:70: stage 'rx1' names unknown reactor 'wx' (did you mean 'w'?)",
        "bad.yaml:18:24: unknown stage type 'macswp' (did you mean 'macswap'?)",
        "bad.yaml:19:46: stage 'tx' param 'port' names unknown port 'ou' (defined: in)",
        "bad.yaml:19:73: 'priority' must be between 0 and 3, got 4",
        "bad.yaml:21:33: 'size' must be a power of two, got 1000 (e.g. 512 or 1024)",
        "bad.yaml:23:12: edge 'from' names unknown stage 'a' (defined: rx0, rx1, swap, tx)",
        "bad.yaml:23:19: edge 'to' names unknown stage 'b' (defined: rx0, rx1, swap, tx)",
        "bad.yaml:23:29: invalid queue 'ring' (did you mean 'link'? allowed: link, sub, pub, "
        "channel, lanes)",
        "bad.yaml:25:25: 'interval' must be a duration with a unit (ns, us, ms, s, min) like "
        "10ms, 1s or 500us, got '10'",
        "bad.yaml:26:19: 'listen' must be ADDR:PORT with a port 1..65535, like 127.0.0.1:9100, "
        "0.0.0.0:9100 or [::1]:9100; got 'localhost'",
    };
    EXPECT_EQ(lines_of(r), expected);
    // The pk::error form carries every line and says it is a bad argument.
    EXPECT_EQ(r.err().code, pk::errc::invalid_argument);
    EXPECT_EQ(r.err().message, joined(r));
    auto as_result = std::move(r).to_result();
    ASSERT_FALSE(as_result.ok());
    EXPECT_NE(as_result.err().message.find("bad.yaml:26:19: 'listen'"), std::string::npos);
}

TEST(config_errors, every_broken_stage_in_a_list_is_reported) {
    auto r = load_string("stages:\n  - {name: a, type: nope}\n  - {name: b, type: nope}\n"
                         "  - {name: c, type: nope}\n",
                         "t.yaml", reg());
    ASSERT_EQ(r.diagnostics().size(), 3u);
    EXPECT_EQ(r.diagnostics()[0].line, 2u);
    EXPECT_EQ(r.diagnostics()[1].line, 3u);
    EXPECT_EQ(r.diagnostics()[2].line, 4u);
    for (const auto& d : r.diagnostics())
        EXPECT_EQ(d.col, 21u);
}

TEST(config_errors, allow_cycle_accepts_a_marked_cycle) {
    const char* yaml =
        "stages:\n  - {name: a, type: count}\n  - {name: b, type: filter}\n"
        "edges:\n  - {from: a, to: b}\n  - {from: b.miss, to: a, allow_cycle: true}\n";
    auto r = load_string(yaml, "t.yaml", reg());
    ASSERT_TRUE(r.ok()) << joined(r);
    EXPECT_TRUE(r->edges[1].allow_cycle.value);
    EXPECT_EQ(r->edges[1].from_output, "miss");
}

TEST(config_errors, one_report_per_cycle) {
    // Two independent cycles: a<->b and c<->d.
    const char* yaml = "stages:\n  - {name: a, type: count}\n  - {name: b, type: count}\n"
                       "  - {name: c, type: count}\n  - {name: d, type: count}\n"
                       "edges:\n  - {from: a, to: b}\n  - {from: b, to: a}\n"
                       "  - {from: c, to: d}\n  - {from: d, to: c}\n";
    auto r = load_string(yaml, "t.yaml", reg());
    ASSERT_EQ(r.diagnostics().size(), 2u) << joined(r);
    EXPECT_NE(r.diagnostics()[0].message.find("a -> b -> a"), std::string::npos);
    EXPECT_NE(r.diagnostics()[1].message.find("c -> d -> c"), std::string::npos);
}

// --------------------------------------------------------------------------------------
// Valid configs → model

const char* complete_yaml = R"(name: demo
description: every key in one file
eal:
  lcores: "0-2,5"
  memory_mb: 512
  hugepages: off
  file_prefix: pk-demo
  extra_args: ["--log-level=7", "--no-telemetry"]
ports:
  - name: in
    device: net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap
    rx_queues: 2
    tx_queues: 2
    rx_desc: 512
    tx_desc: 256
    mtu: 9000
    promiscuous: off
    rss: {enabled: on, types: [ipv4, udp]}
    mempool: {size: 16383, cache: 128, data_room: 9216}
  - name: out
    device: 0000:03:00.1
reactors:
  - {name: io, lcore: 1, discipline: weighted, polls: [8, 4, 2, 1], idle: pause}
  - {name: work, id: 7, lcore: 2, discipline: tree, shares: [100, 50, 20, 10], idle: adaptive}
  - {lcore: 5, discipline: round_robin}
stages:
  - {name: rx0, type: port_rx, params: {port: in, queue: 0}, reactor: io}
  - {name: rx1, type: port_rx, params: {port: in, queue: [1]}, reactor: 7, priority: 1}
  - name: swap
    type: macswap
    reactor: work
    priority: 2
    params:
      mode: both
      ratio: 0.5
      list: [1, "two"]
  - {name: tx, type: port_tx, params: {port: out, queue: 0, burst: 32}, reactor: r2, priority: 3}
edges:
  - {from: rx0, to: swap, queue: link, size: 1024, overflow: drop}
  - {from: rx1.out, to: swap, queue: channel, size: 2048, overflow: backpressure}
  - {from: swap, to: tx, queue: pub, size: 64, overflow: evict}
timers:
  - {name: stats, interval: 1s, action: stats, reactor: io}
  - {name: flush, interval: 500us, action: flush}
metrics: {enabled: on, listen: "[::1]:9200"}
console: {stdin: off, socket: /tmp/pk.sock}
)";

TEST(config_model, complete_example_parses_every_key) {
    // macswap's params are left unchecked here, so any YAML shape reaches the model.
    validation_options o = reg();
    o.schema = [base = o.schema](std::string_view t) -> std::optional<stage_schema> {
        if (t == "macswap") return std::nullopt;
        return base(t);
    };
    auto r = load_string(complete_yaml, "demo.yaml", o);
    ASSERT_TRUE(r.ok()) << joined(r);
    const config& c = *r;
    EXPECT_EQ(c.file, "demo.yaml");
    EXPECT_EQ(c.name.value, "demo");
    EXPECT_EQ(c.name.at, (mark{1, 7}));
    EXPECT_EQ(c.description.value, "every key in one file");

    EXPECT_EQ(c.eal.lcores.value, (std::vector<unsigned>{0, 1, 2, 5}));
    EXPECT_EQ(c.eal.lcores.at, (mark{4, 11}));
    EXPECT_EQ(c.eal.memory_mb.value, 512u);
    EXPECT_FALSE(c.eal.hugepages.value);
    EXPECT_TRUE(c.eal.hugepages.given());
    EXPECT_EQ(c.eal.file_prefix.value, "pk-demo");
    EXPECT_EQ(c.eal.extra_args.value,
              (std::vector<std::string>{"--log-level=7", "--no-telemetry"}));

    ASSERT_EQ(c.ports.size(), 2u);
    const port_config& in = c.ports[0];
    EXPECT_EQ(in.at, (mark{10, 5}));
    EXPECT_EQ(in.name.value, "in");
    EXPECT_EQ(in.device_name(), "net_pcap0");
    EXPECT_EQ(in.rx_queues.value, 2u);
    EXPECT_EQ(in.tx_queues.value, 2u);
    EXPECT_EQ(in.rx_desc.value, 512u);
    EXPECT_EQ(in.tx_desc.value, 256u);
    EXPECT_EQ(in.mtu.value, 9000u);
    EXPECT_EQ(in.mtu.at, (mark{16, 10}));
    EXPECT_FALSE(in.promiscuous.value);
    EXPECT_TRUE(in.rss.enabled.value);
    EXPECT_EQ(in.rss.types.value, (std::vector<std::string>{"ipv4", "udp"}));
    EXPECT_EQ(in.mempool.size.value, 16383u);
    EXPECT_EQ(in.mempool.cache.value, 128u);
    EXPECT_EQ(in.mempool.data_room.value, 9216u);
    const port_config& out = c.ports[1];
    EXPECT_EQ(out.device_name(), "0000:03:00.1");
    EXPECT_EQ(out.rx_queues.value, 1u);
    EXPECT_FALSE(out.rx_queues.given());
    EXPECT_FALSE(out.rss.enabled.value); // default: off with one RX queue
    EXPECT_EQ(out.mempool.size.value, 8191u);
    EXPECT_TRUE(out.promiscuous.value);
    EXPECT_EQ(out.mtu.value, 1500u);

    ASSERT_FALSE(c.reactors.automatic);
    ASSERT_EQ(c.reactors.list.size(), 3u);
    const auto& io = c.reactors.list[0];
    EXPECT_EQ(io.name.value, "io");
    EXPECT_EQ(io.id.value, 0u);
    EXPECT_EQ(io.lcore.value, 1u);
    EXPECT_EQ(io.discipline.value, discipline_kind::weighted_priority);
    EXPECT_EQ(io.polls.value, (per_bucket{8, 4, 2, 1}));
    EXPECT_EQ(io.idle.value, idle_policy::pause);
    const auto& work = c.reactors.list[1];
    EXPECT_EQ(work.id.value, 7u);
    EXPECT_EQ(work.discipline.value, discipline_kind::tree);
    EXPECT_EQ(work.shares.value, (per_bucket{100, 50, 20, 10}));
    EXPECT_EQ(work.idle.value, idle_policy::adaptive);
    const auto& third = c.reactors.list[2];
    EXPECT_EQ(third.name.value, "r2"); // default name from the index
    EXPECT_FALSE(third.name.given());
    EXPECT_EQ(third.lcore.value, 5u);
    EXPECT_EQ(third.discipline.value, discipline_kind::round_robin);
    EXPECT_EQ(third.idle.value, idle_policy::busy);
    EXPECT_EQ(c.find_reactor("7"), &work);
    EXPECT_EQ(c.find_reactor("r2"), &third);
    EXPECT_EQ(c.find_reactor("nope"), nullptr);

    ASSERT_EQ(c.stages.size(), 4u);
    EXPECT_EQ(c.stages[0].type.value, "port_rx");
    EXPECT_EQ(c.stages[0].reactor.value, "io");
    EXPECT_EQ(c.stages[0].priority.value, 0u);
    EXPECT_EQ(c.stages[0].params.integer_or("queue", -1), 0);
    EXPECT_EQ(c.stages[1].reactor.value, "7");
    EXPECT_EQ(c.stages[1].priority.value, 1u);
    const stage_config& swap = c.stages[2];
    EXPECT_EQ(swap.at, (mark{29, 5}));
    EXPECT_EQ(swap.params.string_or("mode", ""), "both");
    EXPECT_DOUBLE_EQ(swap.params.number_or("ratio", 0), 0.5);
    ASSERT_NE(swap.params.find("list"), nullptr);
    EXPECT_EQ(swap.params.find("list")->items.size(), 2u);
    EXPECT_TRUE(swap.params.find("list")->items[1].quoted);
    EXPECT_EQ(swap.params.find("mode")->at, (mark{34, 13}));
    EXPECT_EQ(c.stages[3].params.integer_or("burst", 0), 32);
    EXPECT_EQ(c.find_stage("tx"), &c.stages[3]);

    ASSERT_EQ(c.edges.size(), 3u);
    EXPECT_EQ(c.edges[0].from_stage, "rx0");
    EXPECT_EQ(c.edges[0].from_output, "out");
    EXPECT_EQ(c.edges[0].queue.value, "link");
    EXPECT_EQ(c.edges[0].overflow.value, overflow_policy::drop);
    EXPECT_EQ(c.edges[1].from_stage, "rx1");
    EXPECT_EQ(c.edges[1].queue.value, "channel");
    EXPECT_EQ(c.edges[1].size.value, 2048u);
    EXPECT_EQ(c.edges[2].queue.value, "pub");
    EXPECT_EQ(c.edges[2].overflow.value, overflow_policy::evict);
    EXPECT_FALSE(c.edges[2].allow_cycle.value);

    ASSERT_EQ(c.timers.size(), 2u);
    EXPECT_EQ(c.timers[0].interval.value, 1s);
    EXPECT_EQ(c.timers[0].reactor.value, "io");
    EXPECT_EQ(c.timers[1].interval.value, 500us);
    EXPECT_EQ(c.timers[1].action.value, "flush");

    EXPECT_TRUE(c.metrics.enabled.value);
    EXPECT_EQ(c.metrics.host, "::1");
    EXPECT_EQ(c.metrics.port, 9200);
    EXPECT_FALSE(c.console.use_stdin.value);
    EXPECT_EQ(c.console.socket.value, "/tmp/pk.sock");

    // Later start-up steps can point at the file too.
    EXPECT_EQ(format(c.error_at(in.mtu.at, "MTU 9000 not supported by net_pcap")),
              "demo.yaml:16:10: MTU 9000 not supported by net_pcap");
}

TEST(config_model, vdev_args_may_have_dashes) {
    // DPDK devargs such as memif's socket-abstract=no carry dashes in their keys.
    auto r = load_string("ports:\n  - {name: m, device: \"net_memif0,role=server,"
                         "socket=/tmp/m.sock,socket-abstract=no\"}\n",
                         "t.yaml", reg());
    ASSERT_TRUE(r.ok()) << joined(r);
    EXPECT_EQ(r->ports[0].device_name(), "net_memif0");
}

TEST(config_model, defaults_for_a_minimal_config) {
    auto r = load_string("name: tiny\n", "t.yaml", reg());
    ASSERT_TRUE(r.ok()) << joined(r);
    const config& c = *r;
    EXPECT_TRUE(c.reactors.automatic);
    EXPECT_EQ(c.reactors.count.value, 0u);
    EXPECT_TRUE(c.ports.empty());
    EXPECT_FALSE(c.eal.hugepages.value); // off by default: no hugepages needed
    EXPECT_TRUE(c.eal.lcores->empty());
    EXPECT_FALSE(c.metrics.enabled.value);
    EXPECT_EQ(c.metrics.listen.value, "127.0.0.1:9100");
    EXPECT_TRUE(c.console.use_stdin.value);
    EXPECT_FALSE(c.description.given());
}

TEST(config_model, planned_reactors_and_port_defaults) {
    const char* yaml =
        "reactors: {count: 3, discipline: tree, shares: [4, 3, 2, 1], idle: adaptive}\n"
        "metrics: {}\n"
        "ports:\n  - {name: p, device: \"net_memif0,role=server,socket=/tmp/x\", "
        "rx_queues: 8, rss: on}\n"
        "stages:\n  - {name: c, type: count, reactor: r2}\n  - {name: d, type: drop, reactor: 0}\n";
    auto r = load_string(yaml, "t.yaml", reg());
    ASSERT_TRUE(r.ok()) << joined(r);
    EXPECT_TRUE(r->reactors.automatic);
    EXPECT_EQ(r->reactors.count.value, 3u);
    EXPECT_EQ(r->reactors.defaults.discipline.value, discipline_kind::tree);
    EXPECT_EQ(r->reactors.defaults.shares.value, (per_bucket{4, 3, 2, 1}));
    EXPECT_EQ(r->reactors.defaults.idle.value, idle_policy::adaptive);
    EXPECT_TRUE(r->metrics.enabled.value); // present section → on
    const port_config& p = r->ports[0];
    EXPECT_TRUE(p.rss.enabled.value);
    EXPECT_EQ(p.rss.types.value, (std::vector<std::string>{"ip", "tcp", "udp"}));
    // 8 × 1024 RX + 1 × 1024 TX descriptors: the default pool grows to fit twice that.
    EXPECT_EQ(p.mempool.size.value, 32767u);
    EXPECT_EQ(p.device_name(), "net_memif0");

    auto a = load_string("reactors: auto\n", "t.yaml", reg());
    ASSERT_TRUE(a.ok()) << joined(a);
    EXPECT_TRUE(a->reactors.automatic);
}

TEST(config_model, rss_defaults_on_with_several_queues) {
    auto r = load_string("ports:\n  - {name: p, device: 03:00.0, rx_queues: 4}\n", "t.yaml", reg());
    ASSERT_TRUE(r.ok()) << joined(r);
    EXPECT_TRUE(r->ports[0].rss.enabled.value);
    EXPECT_FALSE(r->ports[0].rss.enabled.given());
}

// --------------------------------------------------------------------------------------
// User stage types and param schemas

TEST(config_registry, user_stage_types_and_param_schemas) {
    validation_options opts = reg();
    opts.stage_types.insert("dedup");
    opts.schema = [](std::string_view type) -> std::optional<stage_schema> {
        if (type == "dedup") {
            stage_schema s;
            s.params = {{"window", param_type::duration, true},
                        {"mode", param_type::string, false, 0, 0, {"exact", "fuzzy"}},
                        {"capacity", param_type::integer, false, 1, 1 << 20},
                        {"verbose", param_type::boolean},
                        {"next", param_type::stage}};
            s.outputs = {"out", "dup"};
            return s;
        }
        if (auto* t = registry::global().find(type)) return t->schema;
        return std::nullopt;
    };
    const char* good =
        "stages:\n"
        "  - {name: d, type: dedup, params: {window: 5ms, mode: exact, verbose: on, next: z}}\n"
        "  - {name: z, type: drop}\n"
        "edges:\n  - {from: d.dup, to: z}\n";
    auto ok = load_string(good, "t.yaml", opts);
    ASSERT_TRUE(ok.ok()) << joined(ok);
    EXPECT_EQ(ok->stages[0].params.duration_or("window", 0ns), 5ms);
    EXPECT_TRUE(ok->stages[0].params.boolean_or("verbose", false));

    // Without registering the type, the same file is rejected.
    auto unregistered = load_string(good, "t.yaml", reg());
    ASSERT_EQ(lines_of(unregistered),
              std::vector<std::string>{"t.yaml:2:21: unknown stage type 'dedup' (known types: "
                                       "capture, count, drop, filter, flow_balance, flow_table, generator, "
                                       "macswap, parse, port_rx, port_tx, publish, rate_limit, "
                                       "subscribe, udp_echo)"});

    const char* bad =
        "stages:\n"
        "  - {name: d, type: dedup, params: {window: soon, mode: fuzy, capacity: 0, next: zz}}\n"
        "  - {name: z, type: drop}\n"
        "edges:\n  - {from: d.dupes, to: z}\n";
    auto r = load_string(bad, "t.yaml", opts);
    const std::vector<std::string> expected = {
        "t.yaml:2:45: param 'window' must be a duration with a unit (ns, us, ms, s, min) like "
        "10ms, got 'soon'",
        "t.yaml:2:57: invalid value 'fuzy' for param 'mode' (did you mean 'fuzzy'? allowed: "
        "exact, fuzzy)",
        "t.yaml:2:73: param 'capacity' must be between 1 and 1048576, got 0",
        "t.yaml:2:82: stage 'd' param 'next' names unknown stage 'zz' (did you mean 'z'?)",
        "t.yaml:5:12: stage 'd' (dedup) has no output 'dupes' (did you mean 'dup'?)",
    };
    EXPECT_EQ(lines_of(r), expected);
}

TEST(config_registry, stage_types_without_a_schema_accept_any_params) {
    validation_options opts;
    opts.stage_types = {"anything"};
    opts.schema = nullptr;
    auto r = load_string("stages:\n  - {name: a, type: anything, params: {x: [1], y: {z: 2}}}\n",
                         "t.yaml", opts);
    ASSERT_TRUE(r.ok()) << joined(r);
    EXPECT_EQ(r->stages[0].params.find("y")->integer_or("z", 0), 2);
}

TEST(config_registry, open_schema_accepts_unlisted_params) {
    validation_options opts;
    opts.stage_types = {"generator"};
    opts.schema = [](std::string_view) -> std::optional<stage_schema> {
        stage_schema s;
        s.params = {{"rate", param_type::number, true, 0, 1000000}};
        s.open = true;
        return s;
    };
    auto r =
        load_string("stages:\n  - {name: g, type: generator, params: {rate: 1.5e3, extra: 1}}\n",
                    "t.yaml", opts);
    ASSERT_TRUE(r.ok()) << joined(r);
    EXPECT_DOUBLE_EQ(r->stages[0].params.number_or("rate", 0), 1500.0);
}

TEST(config_registry, validate_works_on_a_config_built_in_code) {
    config c;
    c.file = "<code>";
    stage_config s;
    s.name = located<std::string>("x", mark{3, 4});
    s.type = located<std::string>("nope", mark{3, 10});
    c.stages.push_back(s);
    auto ds = validate(c, reg());
    ASSERT_EQ(ds.size(), 1u);
    EXPECT_EQ(format(ds[0]), "<code>:3:10: unknown stage type 'nope' (known types: capture, count, "
                             "drop, filter, flow_balance, flow_table, generator, macswap, parse, port_rx, "
                             "port_tx, publish, rate_limit, subscribe, udp_echo)");
}

// --------------------------------------------------------------------------------------
// Files, formatting, scalars

TEST(config_file, missing_file_is_a_clear_error) {
    auto r = load_file("/nonexistent/dir/pipeline.yaml", reg());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(lines_of(r), std::vector<std::string>{"/nonexistent/dir/pipeline.yaml: cannot read "
                                                    "config: No such file or directory"});
    EXPECT_EQ(r.err().code, pk::errc::not_found);
}

TEST(config_file, directory_is_a_clear_error) {
    auto r = load_file("/tmp", reg());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(lines_of(r), std::vector<std::string>{"/tmp: cannot read config: it is a directory"});
}

TEST(config_file, reads_a_file_and_reports_its_path) {
    const std::string path = ::testing::TempDir() + "pk_config_test.yaml";
    {
        std::ofstream f(path);
        f << "name: from-file\nports:\n  - {name: p, device: net_null0, tx_queues: 0}\n";
    }
    auto r = load_file(path, reg());
    EXPECT_EQ(lines_of(r), std::vector<std::string>{
                               path + ":3:45: 'tx_queues' must be between 1 and 1024, got 0"});
    {
        std::ofstream f(path);
        f << "name: from-file\n";
    }
    auto ok = load_file(path, reg());
    ASSERT_TRUE(ok.ok()) << joined(ok);
    EXPECT_EQ(ok->name.value, "from-file");
    EXPECT_EQ(ok->file, path);
    std::remove(path.c_str());
}

TEST(config_format, diagnostic_forms) {
    EXPECT_EQ(format(diagnostic{"a.yaml", 3, 7, "bad"}), "a.yaml:3:7: bad");
    EXPECT_EQ(format(diagnostic{"a.yaml", 0, 0, "unreadable"}), "a.yaml: unreadable");
    EXPECT_EQ(format(std::vector<diagnostic>{{"f", 1, 2, "x"}, {"f", 3, 4, "y"}}),
              "f:1:2: x\nf:3:4: y\n");
}

TEST(config_scalars, durations) {
    EXPECT_EQ(parse_duration("10ms"), std::optional(std::chrono::nanoseconds(10ms)));
    EXPECT_EQ(parse_duration("1s"), std::optional(std::chrono::nanoseconds(1s)));
    EXPECT_EQ(parse_duration("500us"), std::optional(std::chrono::nanoseconds(500us)));
    EXPECT_EQ(parse_duration("100ns"), std::optional(100ns));
    EXPECT_EQ(parse_duration("1.5s"), std::optional(std::chrono::nanoseconds(1500ms)));
    EXPECT_EQ(parse_duration("2min"), std::optional(std::chrono::nanoseconds(120s)));
    EXPECT_FALSE(parse_duration("10"));
    EXPECT_FALSE(parse_duration("ms"));
    EXPECT_FALSE(parse_duration("10 ms"));
    EXPECT_FALSE(parse_duration("10h"));
    EXPECT_FALSE(parse_duration(""));
}

TEST(config_scalars, integers_booleans_numbers) {
    auto scalar = [](std::string t, bool quoted = false) {
        node n;
        n.type = node::kind::scalar;
        n.text = std::move(t);
        n.quoted = quoted;
        return n;
    };
    EXPECT_EQ(to_integer(scalar("42")), 42);
    EXPECT_EQ(to_integer(scalar("-3")), -3);
    EXPECT_EQ(to_integer(scalar("0x10")), 16);
    EXPECT_FALSE(to_integer(scalar("42", true)));
    EXPECT_FALSE(to_integer(scalar("4.2")));
    EXPECT_FALSE(to_integer(scalar("99999999999999999999")));
    EXPECT_EQ(to_boolean(scalar("On")), true);
    EXPECT_EQ(to_boolean(scalar("no")), false);
    EXPECT_FALSE(to_boolean(scalar("1")));
    EXPECT_FALSE(to_boolean(scalar("true", true)));
    EXPECT_EQ(to_number(scalar("2.5")), 2.5);
    EXPECT_FALSE(to_number(scalar("nan")));
}

} // namespace

// The annotated example in docs/CONFIG.md must stay valid and use every section.
TEST(config_docs, annotated_example_in_config_md_is_valid) {
    const char* path = std::getenv("PK_CONFIG_DOC");
    if (!path) GTEST_SKIP() << "PK_CONFIG_DOC not set (run through meson test)";
    std::ifstream f(path);
    ASSERT_TRUE(f) << path;
    std::string doc((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const size_t section = doc.find("## Complete annotated example");
    ASSERT_NE(section, std::string::npos);
    const size_t begin = doc.find("```yaml\n", section);
    ASSERT_NE(begin, std::string::npos);
    const size_t end = doc.find("```", begin + 8);
    ASSERT_NE(end, std::string::npos);
    const std::string yaml = doc.substr(begin + 8, end - begin - 8);
    auto r = load_string(yaml, "CONFIG.md example", reg());
    ASSERT_TRUE(r.ok()) << joined(r);
    EXPECT_TRUE(r->name.given());
    EXPECT_TRUE(r->description.given());
    EXPECT_TRUE(r->eal.lcores.given());
    EXPECT_EQ(r->ports.size(), 2u);
    EXPECT_FALSE(r->reactors.automatic);
    EXPECT_FALSE(r->stages.empty());
    EXPECT_FALSE(r->edges.empty());
    EXPECT_FALSE(r->timers.empty());
    EXPECT_TRUE(r->metrics.enabled.value);
    EXPECT_TRUE(r->console.socket.given());
}

// ---- bounded input --------------------------------------------------------------------

TEST(config_limits, alias_bomb_is_refused_quickly_with_one_error) {
    // "Billion laughs": nine levels of nine aliases each expand to 9^10 scalars.
    std::string y = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for (int i = 1; i < 10; ++i) {
        y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
        for (int k = 0; k < 9; ++k)
            y += (k ? ", *a" : "*a") + std::to_string(i - 1);
        y += "]\n";
    }
    y += "name: bomb\n";
    const auto t0 = std::chrono::steady_clock::now();
    auto r = load_string(y, "bomb.yaml", registry::global().validation());
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r);
    ASSERT_EQ(r.diagnostics().size(), 1u) << format(r.diagnostics());
    EXPECT_NE(r.diagnostics()[0].message.find("expands to more than 200000 YAML nodes"),
              std::string::npos);
    // A hang detector, not a timing: the expansion stops at the budget (~0.1 s here).
    EXPECT_LT(took, std::chrono::seconds(10));
}

TEST(config_limits, an_alias_inside_its_own_anchor_is_one_error_not_a_hang) {
    // `&b [*b, ...]`: yaml-cpp builds a node that contains itself. Each self-reference
    // used to be followed to the depth limit and reported once per path (7^64 of them
    // here: the fuzzer's input, corpus/config/timeout-self-referencing-alias).
    const char* y = "a: &a [x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "name: loop\n";
    const auto t0 = std::chrono::steady_clock::now();
    auto r = load_string(y, "loop.yaml", registry::global().validation());
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r);
    ASSERT_EQ(r.diagnostics().size(), 1u) << format(r.diagnostics());
    EXPECT_EQ(format(r.diagnostics()[0]),
              "loop.yaml:2:4: an alias refers to a node that contains it (a cycle)");
    EXPECT_LT(took, std::chrono::seconds(10)); // a hang detector, not a timing
    // Nesting beyond 64 levels is also one error, however many paths lead there.
    std::string deep(70, '[');
    deep += std::string(70, ']') + "\n";
    auto d = load_string(deep, "deep.yaml");
    ASSERT_FALSE(d);
    ASSERT_EQ(d.diagnostics().size(), 1u) << format(d.diagnostics());
    EXPECT_NE(d.diagnostics()[0].message.find("deeper than 64 levels"), std::string::npos);
}

TEST(config_limits, at_most_fifty_errors_are_printed_then_a_count) {
    std::string y = "name: many\nstages:\n";
    for (int i = 0; i < 300; ++i)
        y += "  - {name: s" + std::to_string(i) + ", type: nosuch}\n";
    auto r = load_string(y, "many.yaml", registry::global().validation());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.diagnostics().size(), 300u) << "every error is kept";
    const std::string text = format(r.diagnostics());
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 51);
    EXPECT_NE(text.find("many.yaml:3:"), std::string::npos) << "the first ones";
    EXPECT_NE(text.find("many.yaml: ... and 250 more errors"), std::string::npos) << text;
}

TEST(config_limits, a_file_above_4_mib_is_not_read) {
    const auto path =
        std::filesystem::temp_directory_path() / ("pk-big-" + std::to_string(::getpid()) + ".yaml");
    {
        std::ofstream f(path);
        f << "name: big\n" << std::string((4u << 20) + 1, '#') << "\n";
    }
    auto r = load_file(path.string(), registry::global().validation());
    std::filesystem::remove(path);
    ASSERT_FALSE(r);
    ASSERT_EQ(r.diagnostics().size(), 1u);
    EXPECT_NE(r.diagnostics()[0].message.find("a config may be at most 4 MiB"), std::string::npos)
        << r.diagnostics()[0].message;
}

// Found by the config fuzz target (corpus/config/crash-control-bytes-in-value): a value
// with control bytes, quoted back in a diagnostic, split it over two lines.
TEST(config_limits, control_bytes_quoted_in_a_diagnostic_stay_on_one_line) {
    const std::string y = "name: ctl\nstages:\n  - {name: \"a\\nb\\x01\", type: nosuch}\n";
    auto r = load_string(y, "ctl.yaml", registry::global().validation());
    ASSERT_FALSE(r);
    const std::string one = format(r.diagnostics()[0]);
    EXPECT_EQ(one.find('\n'), std::string::npos) << one;
    EXPECT_NE(one.find("a\\x0ab\\x01"), std::string::npos) << one;
    EXPECT_EQ(format(r.diagnostics()).back(), '\n');
}

// Found by the config fuzz target (corpus/config/timeout-stray-comma): yaml-cpp 0.7's
// LoadAll never returned (and grew without bound) on a file holding a stray ','.
TEST(config_limits, a_stray_flow_indicator_is_a_syntax_error_not_a_hang) {
    for (const char* y : {",", ", a\n", "name: x\n,\n"}) {
        auto r = load_string(y, "comma.yaml", registry::global().validation());
        ASSERT_FALSE(r) << y;
        EXPECT_NE(format(r.diagnostics()).find("comma.yaml:"), std::string::npos);
    }
    auto two = load_string("name: a\n---\nname: b\n", "two.yaml");
    ASSERT_FALSE(two);
    EXPECT_NE(two.diagnostics()[0].message.find("only one YAML document"), std::string::npos);
}
