#include "app/commands.hh"

#include "net/port.hh"
#include "pipeline/report.hh"

namespace pk::app {

void add_commands(console& con, const pipeline::graph& g, sched::reactor_group& rg,
                  const pipeline::plan& p) {
    using namespace pipeline;
    con.add_without_args(
        "show ports", [] { return net::describe_ports(); },
        "ports: driver, queues, RSS, offloads, link");
    con.add_without_args(
        "show stages", [&g, &p] { return show_stages(g, p); },
        "every stage: packets in (or produced), out (or transmitted), dropped, held");
    con.add_without_args(
        "show reactors", [&rg, &p] { return show_reactors(rg, p); },
        "every reactor: lcore, CPU, rounds, busy ratio, live tasks");
    con.add_without_args(
        "show queues", [&g] { return show_queues(g); },
        "every edge: kind, size, direct call or queue; packets queued now");
    con.add_without_args(
        "show timers", [&rg, &p] { return show_timers(rg, p); },
        "timer wheel activity per reactor");
    con.add_without_args(
        "show flows", [&g] { return show_flows(g); },
        "flow balancers (buckets, workers, packets per worker) and flow tables (top flows)");
    con.add_stats("ports", [] { return net::ports_stats(); });
    con.add_stats("pipeline", [&g] { return stats_section(g); });
}

} // namespace pk::app
