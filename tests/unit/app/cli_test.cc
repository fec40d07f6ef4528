// The pktkernel binary's command line: parse() in-process, and the built binary run
// as a user would (its path comes in PK_BINARY).
#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>

#include "app/cli.hh"

using namespace pk::app;

namespace {
pk::result<options> parse_args(std::vector<std::string> args) {
    args.insert(args.begin(), "pktkernel");
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    return parse(static_cast<int>(argv.size()), argv.data());
}

struct run_result {
    int code;
    std::string out;
};

run_result run(const std::string& args) {
    const char* bin = std::getenv("PK_BINARY");
    std::string cmd = std::string(bin ? bin : "pktkernel") + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    while (auto n = fread(buf.data(), 1, buf.size(), p))
        out.append(buf.data(), n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}
} // namespace

TEST(cli, parses_every_option) {
    auto o = parse_args({"--config", "p.yaml", "-d", "2.5", "--stats-json=s.json", "--metrics",
                         "127.0.0.1:9100", "--log-level", "debug", "--", "--vdev=net_null9"});
    ASSERT_TRUE(o) << o.err().message;
    EXPECT_EQ(o->config, "p.yaml");
    EXPECT_DOUBLE_EQ(*o->duration_s, 2.5);
    EXPECT_EQ(o->stats_json, "s.json");
    EXPECT_EQ(o->metrics, "127.0.0.1:9100");
    EXPECT_EQ(*o->log_level, pk::log::level::debug);
    ASSERT_EQ(o->eal_args.size(), 1u);
    EXPECT_EQ(o->eal_args[0], "--vdev=net_null9");
}

TEST(cli, rejects_bad_input_with_advice) {
    for (auto args : std::vector<std::vector<std::string>>{{"--bogus"},
                                                           {"-x"},
                                                           {"--duration", "-1"},
                                                           {"--duration", "abc"},
                                                           {"--config"},
                                                           {"--log-level", "loud"},
                                                           {"--metrics", "9100"},
                                                           {"stray"},
                                                           {"--help=yes"}}) {
        auto o = parse_args(args);
        ASSERT_FALSE(o) << args[0];
        EXPECT_NE(o.err().message.find("pktkernel --help"), std::string::npos) << o.err().message;
    }
}

TEST(binary, help_and_version_exit_0) {
    auto h = run("--help");
    EXPECT_EQ(h.code, 0);
    EXPECT_NE(h.out.find("--config FILE"), std::string::npos);
    auto v = run("--version");
    EXPECT_EQ(v.code, 0);
    EXPECT_NE(v.out.find("DPDK 22.11"), std::string::npos) << v.out;
}

TEST(binary, bogus_option_exits_2_with_advice) {
    auto r = run("--bogus");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("unknown option '--bogus'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--help"), std::string::npos);
}

TEST(binary, missing_config_exits_2_with_advice) {
    auto r = run("--config /nonexistent.yaml");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("/nonexistent.yaml"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("No such file"), std::string::npos) << r.out;
}

TEST(binary, broken_yaml_exits_2_with_file_line_col) {
    std::string path = ::testing::TempDir() + "pk_broken.yaml";
    std::ofstream(path) << "eal:\n  lcores: [0, 1\n";
    auto r = run("--config " + path);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find(path + ":"), std::string::npos) << r.out;
}

TEST(binary, topology_prints_cores) {
    auto r = run("--topology");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("physical cores:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cpu  core"), std::string::npos);
}
