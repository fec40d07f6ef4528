#!/usr/bin/env python3
"""A memif peer that comes and goes must not take the pipeline down.

usage: peer_vanish_test.py PKTKERNEL SOURCE_ROOT [CYCLES]

pktkernel runs pipelines/forward.yaml (the memif server, reactor on CPU 1). A
dpdk-testpmd client (CPU 0) connects, sends flowgen traffic until pktkernel has
forwarded some of it and is then killed (kill -9) or stopped (SIGINT) mid-traffic,
or connects and exits at once (stdin at EOF), in turn. Killing the client unmaps the
shared regions while a burst may be copying into them: before the bursts were
guarded this crashed pktkernel within about ten cycles. After CYCLES (50) of that,
one more client must get its packets forwarded back and every link change must have
been counted; then SIGTERM while a client sends flat out must stop pktkernel with
exit 0, nothing left queued, every packet accounted for (a burst cut short by the
peer is counted as peer_gone / tx_peer_gone drops). Skipped (77) without
dpdk-testpmd.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelines_test import check_accounting, free_port  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
cycles = int(sys.argv[3]) if len(sys.argv) > 3 else 50
testpmd = shutil.which("dpdk-testpmd")
if not testpmd:
    print("dpdk-testpmd not installed")
    sys.exit(77)
if os.cpu_count() < 2:
    print("needs two CPUs: generator and DUT on one CPU starve each other")
    sys.exit(77)


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    def value(name, **labels):
        for line in text.splitlines():
            if not (line.startswith(name + "{") or line.startswith(name + " ")):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return None
    return value


def forwarded(port):
    v = scrape(port)("pktkernel_stage_packets_total", stage="tx", direction="transmitted")
    return int(v or 0)


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


with tempfile.TemporaryDirectory() as d:
    sock = os.path.join(d, "memif.sock")
    dut_prefix, gen_prefix = f"pk-vanish-{os.getpid()}", f"pk-vanish-gen-{os.getpid()}"
    cfg = open(os.path.join(root, "pipelines", "forward.yaml")).read()
    cfg = re.sub(r"socket=[^\s]+", f"socket={sock}", cfg)
    cfg = re.sub(r"file_prefix: [^\s]+", f"file_prefix: {dut_prefix}", cfg)
    yml, js = os.path.join(d, "forward.yaml"), os.path.join(d, "stats.json")
    open(yml, "w").write(cfg)
    mport = free_port()
    gen_log = os.path.join(d, "testpmd.log")
    dut_log = open(os.path.join(d, "dut.log"), "w+")
    dut = subprocess.Popen([binary, "--config", yml, "--stats-json", js,
                            "--metrics", f"127.0.0.1:{mport}"],
                           stdout=dut_log, stderr=subprocess.STDOUT)

    def client(mode="flowgen"):
        return subprocess.Popen(
            ["taskset", "-c", "0", testpmd, "--lcores", "0@0,1@0", "--no-huge", "-m", "256",
             "--no-pci", f"--file-prefix={gen_prefix}",
             f"--vdev=net_memif0,role=client,socket={sock}", "--",
             f"--forward-mode={mode}", "--auto-start", "--total-num-mbufs=8192"],
            stdin=subprocess.PIPE, stdout=open(gen_log, "w"), stderr=subprocess.STDOUT, text=True)

    def dut_alive():
        if dut.poll() is not None:
            dut_log.seek(0)
            raise AssertionError(f"pktkernel exited {dut.returncode}:\n{dut_log.read()[-4000:]}")
        return True

    hog = None
    try:
        def metrics_up():
            try:
                scrape(mport)
                return True
            except OSError:
                return dut_alive() and False
        wait_for(metrics_up, 30, "pktkernel's /metrics")
        endings = ["kill -9", "stdin EOF", "SIGINT"]
        # A busy process on the reactor's CPU: the scheduler then preempts the reactor
        # in the middle of bursts, which is when a vanishing peer's unmap hits them
        # (a reactor sharing its CPU is also how most deployments on few cores run).
        hog = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", "while True: pass"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        for i in range(cycles):
            how = endings[i % 3]
            before = forwarded(mport)
            c = client()
            if how == "stdin EOF":
                # Connects, starts sending and exits at once: the disconnect lands
                # while the reactor's first bursts run.
                c.stdin.close()
            else:
                # Ended while traffic flows: pktkernel must have forwarded some of it.
                wait_for(lambda: dut_alive() and forwarded(mport) > before, 20,
                         f"cycle {i}: traffic through pktkernel")
                if how == "kill -9":
                    c.kill()
                else:
                    c.send_signal(signal.SIGINT)
            try:
                c.wait(timeout=20)
            except subprocess.TimeoutExpired:
                c.kill()
                raise AssertionError(f"cycle {i}: testpmd did not end on {how}")
            dut_alive()
        hog.kill()
        hog.wait()
        print(f"{cycles} connect/vanish cycles in {time.monotonic() - t0:.1f} s")

        # The port still works: a new client's packets come back.
        before = forwarded(mport)
        c = client()
        wait_for(lambda: dut_alive() and forwarded(mport) > before + 100000, 30,
                 "traffic after the cycles")
        c.stdin.write("\n")
        c.stdin.close()
        c.wait(timeout=30)
        out = open(gen_log).read()
        rx = [int(x) for x in re.findall(r"RX-packets:\s+(\d+)", out)]
        assert rx and max(rx) > 0, f"the last client got nothing back:\n{out[-3000:]}"
        value = scrape(mport)
        changes = int(value("pktkernel_port_link_changes_total", port="wire"))
        cut = int(value("pktkernel_drops_total", stage="tx", reason="tx_peer_gone") or 0) + \
            int(value("pktkernel_drops_total", stage="rx", reason="peer_gone") or 0)
        faults = f"{int(value('pktkernel_peer_faults_total'))} bursts cut short, {cut} packets"
        # Up and down once per client; the control loop looks at every LSC event.
        assert changes == 2 * (cycles + 1), (changes, cycles)
        wait_for(lambda: scrape(mport)("pktkernel_port_link_up", port="wire") == 0, 10,
                 "link down after the last client")

        # SIGTERM under full load: one more client sending flat out while pktkernel stops;
        # the stop drains (nothing left queued), exits 0, and every packet is accounted.
        before = forwarded(mport)
        c = client()
        wait_for(lambda: dut_alive() and forwarded(mport) > before + 100000, 30,
                 "traffic before SIGTERM")
        dut.send_signal(signal.SIGTERM)
        rc = dut.wait(timeout=30)
        c.kill()
        c.wait()
        dut_log.seek(0)
        log = dut_log.read()
        assert rc == 0, f"pktkernel exit {rc}:\n{log[-4000:]}"
        stats = json.load(open(js))
        check_accounting(stats, "forward (peer vanishing, SIGTERM under load)")
        assert stats["totals"]["transmitted"] > before + 100000, stats["totals"]
        assert stats["ports"]["wire"]["link_changes"] == changes + 1, stats["ports"]["wire"]
        t = stats["totals"]
        print(f"pktkernel survived: {t['received']} received, {t['transmitted']} transmitted, "
              f"{t['dropped']} dropped {stats['drops_by_reason']}, {changes} link changes, "
              f"vanishing peer: {faults}")
    finally:
        if hog and hog.poll() is None:
            hog.kill()
            hog.wait()
        if dut.poll() is None:
            dut.kill()
            dut.wait()
        for p in (dut_prefix, gen_prefix):
            shutil.rmtree(f"/var/run/dpdk/{p}", ignore_errors=True)
