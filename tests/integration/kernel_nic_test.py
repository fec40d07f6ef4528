#!/usr/bin/env python3
"""Kernel NICs without binding: pktkernel on one end of a veth pair, the kernel on the other.

usage: kernel_nic_test.py PKTKERNEL

How a user first tries pktkernel on an ordinary Linux box: a `net_af_packet` and a
`net_af_xdp` port on a veth whose peer sits in a network namespace this test creates.
For each driver, a udp_echo pipeline runs on the veth; from the namespace a kernel UDP
client (socat) must get every datagram echoed, and a pcap replayed into the veth with
tcpreplay must arrive, counted, on the `miss` branch. The --stats-json account must
close. Needs root (namespaces, veth); exit 77 (skipped) with the reason otherwise, and
for AF_XDP alone when the kernel refuses it.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77
REPLAYED = 50
ECHOES = 5

PIPELINE = """name: veth-echo
ports:
  - {{name: wire, device: "{device}"}}
stages:
  - {{name: rx, type: port_rx, params: {{port: wire}}}}
  - {{name: echo, type: udp_echo, params: {{port: 7}}}}
  - {{name: tx, type: port_tx, params: {{port: wire, drain_us: 10}}}}
  - {{name: other, type: count}}
  - {{name: sink, type: drop}}
edges:
  - {{from: rx, to: echo}}
  - {{from: echo, to: tx}}
  - {{from: echo.miss, to: other}}
  - {{from: other, to: sink}}
"""


def sh(*args, check=True, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(dmac, smac, src, dst, sport, dport, payload):
    ip_src, ip_dst = bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))
    udp_len = 8 + len(payload)
    pseudo = ip_src + ip_dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", csum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0, ip_src, ip_dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dmac + smac + b"\x08\x00" + ip + udp


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1, i, len(fr), len(fr)) + fr)


def mac_of(iface, ns=None):
    out = sh("cat", f"/sys/class/net/{iface}/address", ns=ns).stdout.strip()
    return bytes(int(x, 16) for x in out.split(":"))


class veth_pair:
    """pktkernel's end `a` in this namespace, the kernel's end `b` in a namespace of ours."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.ns, self.a, self.b = f"pkns{tag}", f"pka{tag}", f"pkb{tag}"
        self.net = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
        sh("ip", "netns", "add", self.ns)
        try:
            sh("ip", "link", "add", self.a, "type", "veth", "peer", "name", self.b)
            sh("ip", "link", "set", self.b, "netns", self.ns)
            # Quiet wires: no IPv6 chatter (router solicitations, MLD) on either end.
            for ns, ifc in ((None, self.a), (self.ns, self.b)):
                sh("sysctl", "-q", "-w", f"net.ipv6.conf.{ifc}.disable_ipv6=1", ns=ns,
                   check=False)
            sh("ip", "link", "set", self.a, "up")
            sh("ip", "addr", "add", f"{self.net}.2/24", "dev", self.b, ns=self.ns)
            sh("ip", "link", "set", self.b, "up", ns=self.ns)
            # The kernel would leave UDP checksums for the NIC to fill in (a veth never
            # does): an af_packet reader sees them unfilled, and so would the echo.
            sh("ethtool", "-K", self.b, "tx", "off", ns=self.ns)
            # pktkernel answers no ARP: the client knows pktkernel's MAC up front.
            sh("ip", "neigh", "replace", f"{self.net}.1", "lladdr",
               ":".join(f"{x:02x}" for x in mac_of(self.a)), "dev", self.b, "nud",
               "permanent", ns=self.ns)
        except Exception:
            self.close()
            raise

    def close(self):
        sh("ip", "link", "del", self.a, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


def run_driver(binary, v, driver, work):
    device = f"net_{driver}0,iface={v.a}"
    yml, js, log = (os.path.join(work, f"{driver}.{x}") for x in ("yaml", "json", "log"))
    open(yml, "w").write(PIPELINE.format(device=device))
    logf = open(log, "w")
    p = subprocess.Popen([binary, "--config", yml, "--duration", "30", "--stats-json", js],
                         stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while "running:" not in open(log).read():
            if p.poll() is not None:
                text = open(log).read()
                if driver == "af_xdp":
                    print(f"SKIP af_xdp: the kernel refused AF_XDP here:\n{text[-600:]}")
                    return False
                raise AssertionError(f"{driver}: pktkernel exited {p.returncode}:\n{text}")
            assert time.monotonic() < deadline, f"{driver}: never started:\n{open(log).read()}"
            time.sleep(0.1)
        # A kernel UDP client in the namespace: each datagram comes back as it went.
        for i in range(ECHOES):
            msg = f"{driver} echo {i}"
            got = ""
            for _ in range(10):  # the first may race the port's start; retry, bounded
                r = subprocess.run(["ip", "netns", "exec", v.ns, "socat", "-t", "1", "-",
                                    f"UDP4:{v.net}.1:7"], input=msg + "\n",
                                   capture_output=True, text=True, timeout=10)
                got = r.stdout.strip()
                if got:
                    break
            assert got == msg, (driver, msg, got, open(log).read()[-800:])
        # A capture replayed into the wire from the kernel side: UDP to a port nobody
        # echoes, so every one of them must reach `other`.
        pcap = os.path.join(work, "replay.pcap")
        frames = [udp_frame(mac_of(v.a), mac_of(v.b, v.ns), f"{v.net}.9", f"{v.net}.1",
                            5555, 9999, struct.pack("!I", i) + b"x" * 28)
                  for i in range(REPLAYED)]
        write_pcap(pcap, frames)
        sh("tcpreplay", "-q", "-i", v.b, "--pps", "2000", pcap, ns=v.ns)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0, (driver, open(log).read())
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        logf.close()
    st = json.load(open(js))
    t = st["totals"]
    assert t["balanced"] is True and t["queued"] == 0, (driver, t)
    assert t["in"] + t["fanout"] == (t["transmitted"] + t["consumed"] + t["dropped"] +
                                     t["released"] + t["queued"]), (driver, t)
    stages = st["stages"]
    echoed = stages["echo"]["out"]["out"]
    assert echoed >= ECHOES, (driver, stages["echo"])
    # Every replayed frame arrived; at most a few more (a retried echo's duplicate, any
    # chatter the kernel still sends) on the miss branch.
    other = stages["other"]["in"]
    assert REPLAYED <= other <= REPLAYED + 20, (driver, other, stages)
    assert stages["tx"]["transmitted"] == echoed, (driver, stages["tx"])
    print(f"{driver}: {echoed} echoed to the kernel client, {other} replayed frames counted, "
          f"account closed ({t['in']} in)")
    return True


def main():
    binary = sys.argv[1]
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces and veth pairs)")
        return SKIP
    for tool in ("ip", "socat", "tcpreplay", "ethtool"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed (make deps installs it)")
            return SKIP
    try:
        v = veth_pair()
    except subprocess.CalledProcessError as e:
        print(f"SKIP: cannot create a namespace and a veth pair here: {e.stderr.strip()}")
        return SKIP
    try:
        with tempfile.TemporaryDirectory() as work:
            ran = [run_driver(binary, v, d, work) for d in ("af_packet", "af_xdp")]
    finally:
        v.close()
    print("kernel NICs: af_packet ok" + (", af_xdp ok" if ran[1] else ", af_xdp skipped"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
