#!/usr/bin/env python3
"""Shipped pipelines, run as a user would: `pktkernel --config pipelines/X.yaml`.

usage: pipelines_test.py PKTKERNEL SOURCE_ROOT CASE
CASE is a shipped pipeline name (default, load-balance, priority, publish, subscribe: run for a
few seconds, then the --stats-json totals must balance: received + fanout =
transmitted + dropped + released + queued, with queued 0 after the graceful stop), or
`forward-pcap` (forward.yaml over net_pcap: the output capture must be the input with
MACs swapped, in order), `bad-config` (exit 2, FILE:LINE:COL, nothing started), `pci`
(a PCI port DPDK cannot drive is refused before EAL, exit 2), or `hugepages` (a run with
`eal: {hugepages: on}`; needs root to reserve and mount them, skipped otherwise), or
`telemetry` (/pktkernel/... commands through DPDK's telemetry socket and dpdk-telemetry.py),
or `health` (/healthz and /readyz).
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time


def run(binary, args, timeout=60):
    p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def check_accounting(stats, name):
    t = stats["totals"]
    assert t["in"] == t["generated"] + t["received"], t
    lhs = t["in"] + t["fanout"]
    rhs = t["transmitted"] + t["consumed"] + t["dropped"] + t["released"] + t["queued"]
    assert t["in"] > 0, f"{name}: nothing came in: {t}"
    assert lhs == rhs, f"{name}: accounting does not close: {t}"
    assert t["queued"] == 0, f"{name}: packets left queued after graceful stop: {t}"
    assert t["balanced"] is True, t
    # Every drop has a reason, and the per-stage drops add up to the total; what sink
    # stages free is consumed, not dropped.
    per_stage = sum(sum(s["dropped"].values()) for s in stats["stages"].values())
    assert per_stage == t["dropped"], (per_stage, t)
    assert sum(s["consumed"] for s in stats["stages"].values()) == t["consumed"], t
    assert sum(stats["drops_by_reason"].values()) == t["dropped"]


def shipped(binary, root, name):
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "stats.json")
        # A free port for /metrics: 9100 may be taken on the test machine (node_exporter).
        code, out, err = run(binary, ["--config", os.path.join(root, "pipelines", name + ".yaml"),
                                      "--duration", "2.5", "--stats-json", js,
                                      "--metrics", f"127.0.0.1:{free_port()}"])
        assert code == 0, f"exit {code}\n{out}\n{err}"
        lines = [l for l in out.splitlines() if "Mpps" in l]
        assert len(lines) >= 2, f"expected a status line a second:\n{out}"
        assert "every packet accounted for" in out, out
        stats = json.load(open(js))
        check_accounting(stats, name)
        # Every reactor ran.
        for r, v in stats["reactors"].items():
            assert v["rounds"] > 0, (r, v)
        # No RX ever went without an mbuf, and every port and pool says where it lives.
        for p, v in stats["ports"].items():
            assert v["rx_nombuf"] == 0, (name, p, v)
            assert isinstance(v["socket"], int) and v["socket"] >= -1, (p, v)
        assert stats["pools"], stats.keys()
        for pool in stats["pools"]:
            assert pool["size"] > 0 and 0 <= pool["in_use"] <= pool["size"], pool
        return stats


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, i, len(fr), len(fr)))
            f.write(fr)


def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    off, frames = 24, []
    while off < len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def make_frames(n):
    frames = []
    for i in range(n):
        dst = bytes([0x02, 0, 0, 0, 0x10, i & 0xFF])
        src = bytes([0x02, 0, 0, 0, 0x20, i & 0xFF])
        payload = struct.pack(">IQ", 7, i) + bytes((i + k) & 0xFF for k in range(20 + i % 50))
        udp = struct.pack(">HHHH", 1000 + i, 9, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
        frames.append(dst + src + b"\x08\x00" + ip)
    return frames


def forward_pcap(binary, root):
    src = open(os.path.join(root, "pipelines", "forward.yaml")).read()
    with tempfile.TemporaryDirectory() as d:
        inp, outp = os.path.join(d, "in.pcap"), os.path.join(d, "out.pcap")
        frames = make_frames(500)
        write_pcap(inp, frames)
        cfg = re.sub(r"device: net_memif0[^\n]*", f"device: net_pcap0,rx_pcap={inp},tx_pcap={outp}", src)
        cfg = re.sub(r"file_prefix: [^\s]+", f"file_prefix: pk-fwd-{os.getpid()}", cfg)
        yml = os.path.join(d, "forward-pcap.yaml")
        open(yml, "w").write(cfg)
        js = os.path.join(d, "stats.json")
        try:
            code, out, err = run(binary, ["--config", yml, "--duration", "2", "--stats-json", js])
        finally:  # EAL leaves its runtime directory behind for a named file prefix
            subprocess.run(["rm", "-rf", f"/var/run/dpdk/pk-fwd-{os.getpid()}"], check=False)
        assert code == 0, f"exit {code}\n{out}\n{err}"
        stats = json.load(open(js))
        check_accounting(stats, "forward-pcap")
        assert stats["totals"]["received"] == len(frames), stats["totals"]
        got = read_pcap(outp)
        assert len(got) == len(frames), (len(got), len(frames))
        for i, (a, b) in enumerate(zip(frames, got)):
            want = a[6:12] + a[0:6] + a[12:]
            assert b == want, f"packet {i} differs: {b[:16].hex()} vs {want[:16].hex()}"
        print(f"forward-pcap: {len(got)} packets, MACs swapped, in order")


def bad_config(binary, root):
    with tempfile.TemporaryDirectory() as d:
        yml = os.path.join(d, "bad.yaml")
        open(yml, "w").write("name: bad\nstages:\n  - {name: g, type: generatr}\n"
                             "  - {name: t, type: port_tx, params: {port: nowhere}}\n"
                             "edges:\n  - {from: g, to: missing}\n")
        code, out, err = run(binary, ["--config", yml, "--duration", "1"])
        assert code == 2, (code, out, err)
        lines = [l for l in err.splitlines() if l.startswith(yml + ":")]
        assert len(lines) >= 3, err  # every error, not just the first
        assert re.match(re.escape(yml) + r":3:\d+: .*generatr", lines[0]), lines
        assert "EAL" not in err and "Mpps" not in out, "something started"
        print("\n".join(lines))


def check(binary, root):
    """`pktkernel --check`: every shipped pipeline plans (exit 0, the plan printed, nothing
    started); each rule the graph relies on fails under --check with the same
    FILE:LINE:COL line as a normal run, before EAL."""
    for name in ["default", "forward", "load-balance", "priority", "publish", "subscribe"]:
        yml = os.path.join(root, "pipelines", name + ".yaml")
        code, out, err = run(binary, ["--check", yml])
        assert code == 0, (name, code, out, err)
        assert out.strip().endswith(yml + ": ok"), out
        for want in ("reactors (EAL --lcores", "lcore", "cpu", "edges", "packet pools"):
            assert want in out, (name, want, out)
        assert "EAL" not in err and "Mpps" not in out, (name, "something started", err)
        cfg = open(yml).read()
        for edge in re.findall(r"\{from: ([\w.]+), to: (\w+)", cfg):
            assert re.search(re.escape(edge[0] if "." in edge[0] else edge[0] + ".out") +
                             r"\s+-> " + edge[1] + r"\s", out), (name, edge, out)
    pre = "name: c\nreactors:\n  - {name: a}\n  - {name: b}\nstages:\n"
    bad = {
        # pub edges from one output share one ring
        "pub-settings": (pre + "  - {name: p, type: publish, reactor: a}\n"
                         "  - {name: s1, type: subscribe, reactor: b}\n"
                         "  - {name: s2, type: subscribe, reactor: b}\n"
                         "edges:\n  - {from: p, to: s1, queue: pub, size: 64}\n"
                         "  - {from: p, to: s2, queue: pub, size: 128}\n",
                         r":11:5: pub edges from 'p.out' share one broadcast ring"),
        # a writer downstream of a broadcast
        "writer-after-pub": (pre + "  - {name: p, type: publish, reactor: a}\n"
                             "  - {name: s1, type: subscribe, reactor: b}\n"
                             "  - {name: w, type: macswap, reactor: b}\n"
                             "edges:\n  - {from: p, to: s1, queue: pub}\n  - {from: s1, to: w}\n",
                             r":8:21: stage 'w' \(macswap\) writes into packets"),
        # one TX queue used from two reactors
        "tx-queue": ("name: c\nports:\n  - {name: o, device: net_null0}\n" +
                     pre.split("\n", 1)[1] +
                     "  - {name: t1, type: port_tx, reactor: a, params: {port: o}}\n"
                     "  - {name: t2, type: port_tx, reactor: b, params: {port: o, queue: 0}}\n",
                     # explicit queues are claimed first; t1 (no queue) is told who has it
                     r":8:5: TX queue 0 of port 'o' is already used by stage 't2'"),
        # a planned reactor the plan does not have
        "reactor": ("name: c\nreactors: auto\nstages:\n"
                    "  - {name: g, type: generator, reactor: r0}\n"
                    "  - {name: d, type: drop, reactor: r999}\nedges:\n  - {from: g, to: d}\n",
                    r":5:36: stage 'd' names reactor 'r999', which the plan does not have"),
        # packet pools larger than EAL memory
        "memory": ("name: c\nreactors: {count: 2}\nstages:\n"
                    "  - {name: g, type: generator, reactor: r1}\n"
                    "  - {name: d, type: drop, reactor: 1}\nedges:\n  - {from: g, to: d}\n"
                    "eal: {memory_mb: 16}\n",
                    r":8:18: the packet pools need \d+ MiB but EAL has 16 MiB"),
    }
    with tempfile.TemporaryDirectory() as d:
        for what, (text, want) in bad.items():
            yml = os.path.join(d, what + ".yaml")
            open(yml, "w").write(text)
            code, out, err = run(binary, ["--check", yml])
            code2, out2, err2 = run(binary, ["--config", yml, "--duration", "1"])
            assert code == 2 and code2 == 2, (what, code, code2, out, err, err2)
            first, first2 = err.splitlines()[0], err2.splitlines()[0]
            assert re.match(re.escape(yml) + want, first), (what, first)
            assert first == first2, (what, first, first2)
            assert "EAL:" not in err2 and "Mpps" not in out2, (what, "something started", err2)
            print(first)
    print("--check: shipped pipelines plan, graph rules fail before EAL")


def console(binary, root):
    """The control socket of a running pipeline: show/stats commands, errors, then quit."""
    src = open(os.path.join(root, "pipelines", "default.yaml")).read()
    with tempfile.TemporaryDirectory() as d:
        sock = os.path.join(d, "ctl.sock")
        yml = os.path.join(d, "default.yaml")
        open(yml, "w").write(re.sub(r"socket: [^\s]+", "socket: " + sock, src))
        p = subprocess.Popen([binary, "--config", yml, "--duration", "60",
                              "--metrics", f"127.0.0.1:{free_port()}"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            import time
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            time.sleep(0.3)
            ctl = lambda *a: run(binary, ["ctl", "--socket", sock] + list(a), timeout=10)
            code, out, _ = ctl("show", "stages")
            assert code == 0 and "flow_balance" in out and "publish" in out, out
            code, out, _ = ctl("show", "reactors")
            assert code == 0 and "w0" in out and "w1" in out, out
            code, out, _ = ctl("stats")
            assert code == 0 and "received" in out and "net_ring0" in out, out
            code, out, _ = ctl("show", "queues")
            assert code == 0 and "pub" in out and "sub" in out, out
            code, out, _ = ctl("no", "such", "command")
            assert code == 0 and out.startswith("error: unknown command"), out
            code, out, _ = ctl("quit")
            assert code == 0, out
            rc = p.wait(timeout=20)
            out = p.stdout.read()
            assert rc == 0, (rc, out, p.stderr.read())
            assert "every packet accounted for" in out, out
        finally:
            if p.poll() is None:
                p.kill()
    code, _, err = run(binary, ["ctl", "--socket", "/nonexistent/x.sock", "stats"])
    assert code == 1 and "cannot connect" in err, err
    print("console: show/stats/errors/quit over the control socket")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(binary, root):
    """--metrics: /metrics of a running pipeline is valid Prometheus text (promtool) and
    carries the stage, drop, reactor and port families with growing counters."""
    import time
    import urllib.request
    port = free_port()
    p = subprocess.Popen([binary, "--config", os.path.join(root, "pipelines", "default.yaml"),
                          "--duration", "30", "--metrics", f"127.0.0.1:{port}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def scrape():
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                        return r.read().decode()
                except OSError:
                    time.sleep(0.1)
            raise AssertionError("no /metrics")
        key = 'pktkernel_stage_packets_total{stage="gen",type="generator",reactor="io",direction="produced"}'
        first = scrape()  # the exporter starts before the reactors: wait for traffic
        for _ in range(50):
            if key + " 0" not in first:
                break
            time.sleep(0.1)
            first = scrape()
        time.sleep(1.2)
        text = scrape()
        for fam in ("pktkernel_stage_packets_total", "pktkernel_drops_total", "pktkernel_reactor_rounds_total",
                    "pktkernel_port_packets_total", "pktkernel_queued_packets"):
            assert f"# TYPE {fam} " in text, fam
        def value(t, needle):
            for line in t.splitlines():
                if line.startswith(needle):
                    return float(line.rsplit(" ", 1)[1])
            raise AssertionError(needle)
        assert value(text, key) > value(first, key) > 0, "generator counter does not grow"
        assert 'pktkernel_drops_total{stage="done",type="drop",reactor="w0",reason="counted"}' in text
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
        # A port that is taken is a clear start-up error (exit 2).
        code, out, err = run(binary, ["--config", os.path.join(root, "pipelines", "default.yaml"),
                                      "--duration", "1", "--metrics", f"127.0.0.1:{port}"])
        assert code == 2 and "in use" in err, (code, err)
    finally:
        p.terminate()
        rc = p.wait(timeout=20)
    assert rc == 0, (rc, p.stderr.read())
    print("metrics: promtool-clean, counters grow, SIGTERM exits 0")


def timer_placement(binary, root):
    """A timer's `reactor:` may name a reactor by id: it runs there (ids are not indexes)."""
    yml_text = """name: timers
reactors:
  - {name: a, id: 7, idle: adaptive}
  - {name: b, id: 3, idle: adaptive}
stages:
  - {name: gen, type: generator, reactor: b, params: {rate_pps: 10000}}
  - {name: sink, type: drop, reactor: b}
edges:
  - {from: gen, to: sink}
timers:
  - {name: by_id, interval: 20ms, action: stats, reactor: 3}
"""
    with tempfile.TemporaryDirectory() as d:
        yml, js = os.path.join(d, "t.yaml"), os.path.join(d, "stats.json")
        open(yml, "w").write(yml_text)
        code, out, err = run(binary, ["--config", yml, "--duration", "1", "--stats-json", js])
        assert code == 0, (code, out, err)
        r = json.load(open(js))["reactors"]
        assert r["b"]["timers_fired"] >= 10, r
        assert r["a"]["timers_fired"] == 0, r
        assert "by_id: in " in err, err
    print("timer placement by reactor id ok")


PCI_YAML = """name: pci
ports:
  - name: nic
    device: "{dev}"
stages:
  - {{name: rx, type: port_rx, params: {{port: nic}}}}
  - {{name: tx, type: port_tx, params: {{port: nic}}}}
edges:
  - {{from: rx, to: tx}}
"""


def kernel_bound_nic():
    """A network-class PCI function bound to a kernel driver on this machine, or None."""
    base = "/sys/bus/pci/devices"
    for addr in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        try:
            cls = open(os.path.join(base, addr, "class")).read().strip()
            drv = os.path.basename(os.readlink(os.path.join(base, addr, "driver")))
        except OSError:
            continue
        if cls.startswith("0x02") and drv not in ("vfio-pci", "uio_pci_generic", "igb_uio",
                                                   "mlx5_core", "mlx4_core"):
            return addr, drv
    return None


def pci(binary, root):
    """A PCI port that DPDK cannot drive is refused before EAL: exit 2, FILE:LINE:COL,
    the bind command; both in a run and under --check."""
    cases = [("0000:ff:1f.7", "no PCI device 0000:ff:1f.7")]
    nic = kernel_bound_nic()
    if nic:  # this machine's own NIC, bound to the kernel: never touched, only named
        cases.append((f"pci:{nic[0]},x=1", f"kernel driver '{nic[1]}'"))
    else:
        print("no kernel-bound network function here: only the missing-device case")
    with tempfile.TemporaryDirectory() as d:
        yml = os.path.join(d, "pci.yaml")
        for dev, want in cases:
            open(yml, "w").write(PCI_YAML.format(dev=dev))
            for args in (["--config", yml, "--duration", "1"], ["--check", yml]):
                code, out, err = run(binary, args)
                assert code == 2, (dev, args, code, out, err)
                line = err.strip().splitlines()[0]
                assert line.startswith(yml + ":4:13: port 'nic': "), err
                assert want in line, (want, line)
                assert "EAL" not in err and "Mpps" not in out, ("something started", err)
                print(line)
            if "kernel driver" in want:
                assert "dpdk-devbind.py --bind=vfio-pci " + nic[0] in err, err


HUGE_YAML = """name: huge
eal: {hugepages: on}
ports:
  - {name: loop, device: net_ring_thuge}
stages:
  - {name: gen, type: generator, params: {flows: 16, rate_pps: 200000}}
  - {name: tx, type: port_tx, params: {port: loop}}
  - {name: rx, type: port_rx, params: {port: loop}}
  - {name: sink, type: drop}
edges:
  - {from: gen, to: tx}
  - {from: rx, to: sink}
"""


def meminfo(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def hugepages(binary, root):
    """`eal: {hugepages: on}`: EAL takes its memory from 2 MiB hugepages (reserved and
    mounted here when the machine has none, and given back afterwards)."""
    if os.geteuid() != 0:
        print("SKIP: reserving hugepages and mounting hugetlbfs needs root")
        sys.exit(77)
    nr_path = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
    old_nr = int(open(nr_path).read())
    mounted = None
    try:
        if meminfo("HugePages_Free") < 128:
            try:
                open(nr_path, "w").write(str(old_nr + 256))
            except OSError as e:
                print(f"SKIP: cannot reserve 2 MiB hugepages here: {e}")
                sys.exit(77)
        if meminfo("HugePages_Free") < 128:
            print(f"SKIP: the kernel gave only {meminfo('HugePages_Free')} free hugepages")
            sys.exit(77)
        if not any(l.split()[2] == "hugetlbfs" for l in open("/proc/mounts")):
            mounted = tempfile.mkdtemp(prefix="pk-huge-")
            r = subprocess.run(["mount", "-t", "hugetlbfs", "nodev", mounted],
                               capture_output=True, text=True)
            if r.returncode != 0:
                os.rmdir(mounted)
                mounted = None
                print(f"SKIP: cannot mount hugetlbfs: {r.stderr.strip()}")
                sys.exit(77)
        free_before = meminfo("HugePages_Free")
        with tempfile.TemporaryDirectory() as d:
            yml, js = os.path.join(d, "huge.yaml"), os.path.join(d, "stats.json")
            open(yml, "w").write(HUGE_YAML)
            p = subprocess.Popen([binary, "--config", yml, "--duration", "3", "--stats-json", js],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(2)
            free_during = meminfo("HugePages_Free")
            out, _ = p.communicate(timeout=30)
            assert p.returncode == 0, (p.returncode, out)
            assert "--no-huge" not in out, out
            assert free_during < free_before, ("no hugepage taken", free_before, free_during)
            stats = json.load(open(js))
            check_accounting(stats, "huge")
            assert stats["stages"]["rx"]["produced"] > 0, stats["stages"]["rx"]
            print(f"hugepages: {free_before - free_during} x 2 MiB in use while running, "
                  f"{stats['totals']['in']} packets, account closed")
    finally:
        if mounted:
            subprocess.run(["umount", mounted])
            os.rmdir(mounted)
        try:
            open(nr_path, "w").write(str(old_nr))
        except OSError:
            pass


def telemetry_query(sock_path, cmd):
    """One command over DPDK's telemetry socket (SOCK_SEQPACKET, JSON replies)."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.settimeout(5)
        s.connect(sock_path)
        json.loads(s.recv(16384).decode())  # the greeting: version, pid, max_output_len
        s.send(cmd.encode())
        return json.loads(s.recv(65536).decode())[cmd.split(",")[0]]
    finally:
        s.close()


def telemetry(binary, root):
    """DPDK telemetry: /pktkernel/... answers next to DPDK's own commands, over the socket
    protocol and through dpdk-telemetry.py, while the default pipeline runs."""
    prefix = f"pktel-test-{os.getpid()}"
    cfg = open(os.path.join(root, "pipelines", "default.yaml")).read()
    cfg = re.sub(r"(?m)^eal:\n", f"eal:\n  file_prefix: {prefix}\n", cfg, count=1)
    assert prefix in cfg, "default.yaml has no eal: section to extend"
    sock = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
    with tempfile.TemporaryDirectory() as d:
        yml = os.path.join(d, "tel.yaml")
        open(yml, "w").write(cfg)
        p = subprocess.Popen([binary, "--config", yml, "--duration", "6",
                              "--metrics", f"127.0.0.1:{free_port()}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    first = telemetry_query(sock, "/pktkernel/totals")
                    if first and "error" not in first and first["in"] > 0:  # null: not yet registered
                        break
                except OSError:
                    pass
                assert p.poll() is None, p.communicate()[0]
                assert time.monotonic() < deadline, "telemetry never answered"
                time.sleep(0.2)
            time.sleep(0.5)
            later = telemetry_query(sock, "/pktkernel/totals")
            assert later["in"] > first["in"], (first, later)  # live counters, not a copy
            assert later["pipeline"] == "default", later
            stages = telemetry_query(sock, "/pktkernel/stages")
            names = re.findall(r"(?m)^  - \{name: ([a-z0-9_]+), type:", cfg)
            assert names and set(names) <= set(stages), (names, list(stages))
            one = telemetry_query(sock, "/pktkernel/stages," + names[0])
            assert list(one) == [names[0]] and "out" in one[names[0]], one
            reactors = telemetry_query(sock, "/pktkernel/reactors")
            assert reactors and all(r["rounds"] > 0 for r in reactors.values()), reactors
            edges = telemetry_query(sock, "/pktkernel/edges")
            assert len(edges) == cfg.split("edges:")[1].count("{from:"), edges
            flows = telemetry_query(sock, "/pktkernel/flows")
            assert all("packets_per_output" in f for f in flows.values()), flows
            # DPDK's own client, as an operator runs it.
            r = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="/pktkernel/totals\n",
                               capture_output=True, text=True, timeout=10)
            tool = json.loads(r.stdout.strip().splitlines()[-1])["/pktkernel/totals"]
            assert tool["in"] >= later["in"], (tool, later)
            out, _ = p.communicate(timeout=30)
            assert p.returncode == 0, out
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    print(f"telemetry: totals {later['in']} in, {len(stages)} stages, {len(reactors)} reactors, "
          f"{len(edges)} edges")


def http_get(url):
    """(status, body) of a GET, 4xx/5xx included."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def health(binary, root):
    """/healthz and /readyz: 200 while the default pipeline runs with every port up; for
    forward.yaml with no memif peer, ready but unhealthy with the port named."""
    def watch(yml, want_health, want_reason):
        port = free_port()
        p = subprocess.Popen([binary, "--config", yml, "--duration", "5",
                              "--metrics", f"127.0.0.1:{port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline, seen = time.monotonic() + 4, None
            while time.monotonic() < deadline:
                try:
                    seen = (http_get(f"http://127.0.0.1:{port}/healthz"),
                            http_get(f"http://127.0.0.1:{port}/readyz"))
                except OSError:
                    seen = None
                if seen and seen[0][0] == want_health and want_reason in seen[0][1] and \
                        seen[1][0] == 200:
                    break
                time.sleep(0.25)
            assert seen and seen[0][0] == want_health and seen[1] == (200, "ok\n"), (yml, seen)
            assert want_reason in seen[0][1], (yml, seen)
            code, body = http_get(f"http://127.0.0.1:{port}/metrics")
            assert code == 200 and re.search(
                r'(?m)^pktkernel_build_info\{version="[^"]+",dpdk="22\.11[^"]*",compiler="[^"]+"\} 1$',
                body), body[:300]
            out, _ = p.communicate(timeout=30)
            assert p.returncode == 0, out
            print(f"{os.path.basename(yml)}: /healthz {seen[0][0]} {seen[0][1].strip()!r}, "
                  f"/readyz {seen[1][0]}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    watch(os.path.join(root, "pipelines", "default.yaml"), 200, "ok")
    with tempfile.TemporaryDirectory() as d:
        yml = os.path.join(d, "fwd.yaml")
        sock = os.path.join(d, "nobody.sock")
        cfg = open(os.path.join(root, "pipelines", "forward.yaml")).read()
        cfg = cfg.replace("/tmp/pktkernel-forward.sock", sock)
        cfg = cfg.replace("file_prefix: pktkernel-forward", f"file_prefix: pkhealth{os.getpid()}")
        open(yml, "w").write(cfg)
        watch(yml, 503, "port 'wire': link down")


def read_pcapng(path):
    """The packets of a pcapng file (Enhanced Packet Blocks), in file order."""
    data, off, out = open(path, "rb").read(), 0, []
    while off + 12 <= len(data):
        btype, blen = struct.unpack("<II", data[off:off + 8])
        if btype == 6:
            caplen = struct.unpack("<I", data[off + 20:off + 24])[0]
            out.append(data[off + 28:off + 28 + caplen])
        off += blen
    return out


def rss(binary, root):
    """pipelines/rss.yaml (memif server, 2 queue pairs, a reactor per queue): testpmd
    flowgen on 2 queues reaches both reactors; then a pktkernel client with a sequenced
    generator per queue gets every flow back in order on the queue it used."""
    testpmd = shutil.which("dpdk-testpmd")
    if not testpmd:
        print("dpdk-testpmd not installed")
        sys.exit(77)
    src = open(os.path.join(root, "pipelines", "rss.yaml")).read()
    with tempfile.TemporaryDirectory() as d:
        sock = os.path.join(d, "rss.sock")
        tag = f"{os.getpid()}"
        prefixes = [f"pk-rss-{tag}", f"pk-rssgen-{tag}", f"pk-rsscl-{tag}"]
        cfg = re.sub(r"socket=[^\s]+", f"socket={sock}", src)
        cfg = re.sub(r"file_prefix: [^\s]+", f"file_prefix: {prefixes[0]}", cfg)
        yml = os.path.join(d, "rss.yaml")
        open(yml, "w").write(cfg)

        def dut(seconds, js):
            return subprocess.Popen([binary, "--config", yml, "--duration", str(seconds),
                                     "--stats-json", js], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)

        def finish(p, name):
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0, f"{name}: exit {p.returncode}\n{out[-4000:]}"
            return out

        try:
            # 1. testpmd flowgen, two queues: both reactors get traffic.
            js = os.path.join(d, "a.json")
            p = dut(6, js)
            time.sleep(1.5)
            gen = subprocess.run(
                ["taskset", "-c", "0", "timeout", "-s", "INT", "3", testpmd, "--lcores",
                 "0@0,1@0", "--no-huge", "-m", "512", "--no-pci", f"--file-prefix={prefixes[1]}",
                 f"--vdev=net_memif0,role=client,socket={sock}", "--", "--rxq=2", "--txq=2",
                 "--forward-mode=flowgen", "--auto-start", "--total-num-mbufs=8192",
                 "--stats-period", "1"], capture_output=True, text=True, timeout=60)
            finish(p, "rss (testpmd)")
            stats = json.load(open(js))
            check_accounting(stats, "rss")
            st = stats["stages"]
            for q in ("0", "1"):
                assert st["rx" + q]["produced"] > 0, (q, st["rx" + q], gen.stdout[-2000:])
                assert st["tx" + q]["transmitted"] > 0, (q, st["tx" + q])
            print(f"testpmd flowgen, 2 queues: rx0 {st['rx0']['produced']}, "
                  f"rx1 {st['rx1']['produced']} packets")

            # 2. Per-flow order: a client whose generators stamp (flow, sequence), one
            # per queue, captures what comes back on each queue.
            caps = [os.path.join(d, f"back{q}.pcapng") for q in (0, 1)]
            client = os.path.join(d, "client.yaml")
            stages, edges = [], []
            for q in (0, 1):
                stages += [
                    f"  - {{name: gen{q}, type: generator, reactor: c{q}, params: {{flows: 64, "
                    f"family: ipv4, proto: udp, size: 64, rate_pps: 50000, seed: {q + 1}}}}}",
                    f"  - {{name: out{q}, type: port_tx, reactor: c{q}, params: {{port: c}}}}",
                    f"  - {{name: back{q}, type: port_rx, reactor: c{q}, params: {{port: c, queue: {q}}}}}",
                    f"  - {{name: cap{q}, type: capture, reactor: c{q}, params: {{path: {caps[q]}}}}}",
                    f"  - {{name: done{q}, type: drop, reactor: c{q}}}"]
                edges += [f"  - {{from: gen{q}, to: out{q}}}", f"  - {{from: back{q}, to: cap{q}}}",
                          f"  - {{from: cap{q}, to: done{q}}}"]
            open(client, "w").write("\n".join([
                "name: rss-client", "eal: {hugepages: off, memory_mb: 512, file_prefix: " + prefixes[2] + "}",
                "ports:", f"  - {{name: c, device: 'net_memif0,role=client,socket={sock}', "
                "rx_queues: 2, tx_queues: 2}",
                "reactors:", "  - {name: c0, lcore: 1, cpu: 0}", "  - {name: c1, lcore: 2, cpu: 0}",
                "stages:"] + stages + ["edges:"] + edges) + "\n")
            js = os.path.join(d, "b.json")
            p = dut(6, js)
            time.sleep(1.5)
            code, out, err = run(binary, ["--config", client, "--duration", "3"], timeout=60)
            assert code == 0, f"client: exit {code}\n{out[-3000:]}\n{err[-2000:]}"
            finish(p, "rss (client)")
            check_accounting(json.load(open(js)), "rss")
            for q in (0, 1):
                frames = read_pcapng(caps[q])
                assert len(frames) > 1000, (q, len(frames))
                last = {}
                for f in frames:
                    fid, seq = struct.unpack(">IQ", f[42:54])
                    assert seq > last.get(fid, -1), f"queue {q}: flow {fid} went back: {seq} after {last[fid]}"
                    last[fid] = seq
                assert len(last) == 64, (q, len(last))
                print(f"queue {q}: {len(frames)} packets back, 64 flows, each in order")
        finally:
            for pfx in prefixes:
                subprocess.run(["rm", "-rf", f"/var/run/dpdk/{pfx}"], check=False)


NOBODY = 65534


def nonroot(binary, root):
    """The default pipeline on virtual devices runs as an unprivileged user: no root,
    no capabilities, no hugepages. As root the test drops to nobody (setpriv) with a copy
    of the binary and config in a directory nobody can read; as a normal user it runs
    as that user."""
    if os.geteuid() != 0:
        shipped(binary, root, "default")
        print("ran as uid", os.geteuid())
        return
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        exe = os.path.join(d, "pktkernel")
        yml = os.path.join(d, "default.yaml")
        shutil.copy(binary, exe)
        shutil.copy(os.path.join(root, "pipelines", "default.yaml"), yml)
        os.chmod(exe, 0o755)
        os.chmod(yml, 0o644)
        js = os.path.join(d, "stats.json")
        env = {"PATH": "/usr/bin:/bin", "HOME": d}
        p = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            "--inh-caps=-all", exe, "--config", yml, "--duration", "2",
                            "--stats-json", js, "--metrics", f"127.0.0.1:{free_port()}"],
                           capture_output=True, text=True, timeout=60, cwd=d, env=env)
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        assert "every packet accounted for" in p.stdout, p.stdout
        assert os.stat(js).st_uid == NOBODY, "the stats file was not written by nobody"
        stats = json.load(open(js))
        check_accounting(stats, "default as nobody")
        print("default as uid", NOBODY, json.dumps(stats["totals"]))


def secrets(binary, root):
    """Nothing a client sends reaches the log, even at --log-level trace: credentials in
    HTTP headers, query strings and paths of /metrics requests (well-formed, refused and
    malformed ones), and the arguments of console commands. Each request must still be
    answered (so the bytes did arrive), and the log must have trace lines (so it was on)."""
    import socket
    marker = "S3CRET-" + os.urandom(6).hex()
    m = marker.encode()
    src = open(os.path.join(root, "pipelines", "default.yaml")).read()
    with tempfile.TemporaryDirectory() as d:
        sock = os.path.join(d, "ctl.sock")
        yml = os.path.join(d, "default.yaml")
        open(yml, "w").write(re.sub(r"socket: [^\s]+", "socket: " + sock, src))
        port = free_port()
        p = subprocess.Popen([binary, "--config", yml, "--duration", "60", "--log-level", "trace",
                              "--metrics", f"127.0.0.1:{port}"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            time.sleep(0.3)
            requests = {
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + m +
                b"\r\nCookie: s=" + m + b"\r\n\r\n": b"200",
                b"GET /metrics?token=" + m + b" HTTP/1.1\r\nHost: x\r\n\r\n": b"200",
                b"GET /" + m + b" HTTP/1.1\r\nHost: x\r\n\r\n": b"404",
                b"POST /metrics HTTP/1.1\r\nContent-Length: " + str(len(m)).encode() +
                b"\r\nAuthorization: Basic " + m + b"\r\n\r\n" + m: b"405",
                b"GET /metrics HTTP/9.9\r\nX-Api-Key: " + m + b"\r\n\r\n": b"505",
                b"GARBAGE " + m + b"\r\n\r\n": b"400",
                b"GET /metrics HTTP/1.1\r\nX-Big: " + b"A" * 20000 + m + b"\r\n\r\n": b"400",
            }
            for req, want in requests.items():
                with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                    got = b""
                    try:  # the exporter may answer and close before it has read it all
                        c.sendall(req)
                        c.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    try:
                        while chunk := c.recv(65536):
                            got += chunk
                    except ConnectionResetError:
                        pass
                status = got.split(b"\r\n", 1)[0]
                assert status.startswith(b"HTTP/") and status.split(b" ")[1] == want, (req[:60], got[:200])
            for args in (["no-such-command", marker], ["show", marker], ["stats", marker]):
                code, out, _ = run(binary, ["ctl", "--socket", sock] + args, timeout=10)
                assert code == 0 and out.startswith("error:"), (args, out)
            code, out, _ = run(binary, ["ctl", "--socket", sock, "quit"], timeout=10)
            assert code == 0, out
            out, _ = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        log = out.decode(errors="replace")
        assert p.returncode == 0, log[-2000:]
        assert " TRACE " in log or " DEBUG " in log, "the log was not verbose:\n" + log[-2000:]
        leaked = [l for l in log.splitlines() if marker in l]
        assert not leaked, "client bytes in the log:\n" + "\n".join(leaked[:5])
    print(f"secrets: {len(requests)} HTTP requests and 3 console commands carrying a credential; "
          f"none of it in {len(log.splitlines())} log lines at trace level")


CASES = {
    "forward-pcap": forward_pcap,
    "bad-config": bad_config,
    "check": check,
    "console": console,
    "metrics": metrics,
    "timer-placement": timer_placement,
    "pci": pci,
    "hugepages": hugepages,
    "telemetry": telemetry,
    "health": health,
    "rss": rss,
    "nonroot": nonroot,
    "secrets": secrets,
}


def main():
    binary, root, case = sys.argv[1], sys.argv[2], sys.argv[3]
    if case in CASES:
        CASES[case](binary, root)
    else:
        s = shipped(binary, root, case)
        if case == "priority":
            # Both worker edges are lanes edges with four lanes each; what the lanes refused
            # is the balancer's queue_full drops (overflow: drop), nothing else.
            lanes = [e for e in s["edges"] if e["queue"] == "lanes"]
            assert len(lanes) == 2 and all(len(e["lanes"]) == 4 for e in lanes), s["edges"]
            refused = sum(l["refused"] for e in lanes for l in e["lanes"])
            full = s["stages"]["balance"]["dropped"].get("queue_full", 0)
            assert refused == full, (refused, full)
        if case == "load-balance":
            # Each worker's flow table holds the flows it was given: together every one
            # of the generator's 10,000 flows (a flow whose bucket moved is in two), none
            # refused for want of room.
            tables = [s["stages"][f"flows{w}"] for w in range(3)]
            assert all(t["flows_in_table"] > 0 and t["flows_refused_total"] == 0
                       for t in tables), tables
            assert sum(t["flows_created_total"] for t in tables) >= 10000, tables
        print(case, json.dumps(s["totals"]))


if __name__ == "__main__":
    main()
