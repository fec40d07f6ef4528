#!/usr/bin/env python3
"""Slow clients cannot starve /metrics.

usage: metrics_slowloris.py METRICS_SERVE

Starts the exporter (metrics_serve) on a free loopback port, opens 50 connections that
send a request's headers one byte at a time and never finish them (slowloris), and
scrapes /metrics while they hang: every scrape must come back 200 with a complete body,
each within 2 s. Afterwards the exporter must have answered 400 and closed every slow
connection (its 3 s request timeout), and a last scrape must still work.
"""
import socket
import subprocess
import sys
import time
import urllib.request

SLOW = 50


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port):
    t0 = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body = r.read().decode()
        return r.status, body, time.monotonic() - t0


def main():
    port = free_port()
    srv = subprocess.Popen([sys.argv[1], f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT)
    slow = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                scrape(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "exporter never answered"
                time.sleep(0.1)
        head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n"
        for _ in range(SLOW):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.send(head[:1])
            slow.append(c)
        worst, i = 0.0, 1
        t_end = time.monotonic() + 2.5
        while time.monotonic() < t_end:  # keep the slow ones trickling while we scrape
            for c in slow:
                try:
                    c.send(head[i:i + 1] if i < len(head) else b"X")
                except OSError:
                    pass
            i += 1
            status, body, took = scrape(port)
            assert status == 200 and "# TYPE" in body and body.endswith("\n"), (status, body[-200:])
            assert took < 2.0, f"a scrape took {took:.2f} s with {SLOW} slow clients"
            worst = max(worst, took)
            time.sleep(0.2)
        # The slow ones never completed a request: the exporter answers them 400 and
        # closes them on its request timeout (3 s), so they cannot hold workers for ever.
        time.sleep(4)
        closed = 0
        for c in slow:
            try:
                c.settimeout(0.2)
                data = c.recv(256)
                if data == b"" or data.startswith(b"HTTP/1.") and b" 400 " in data[:16]:
                    closed += 1
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        assert closed == SLOW, f"only {closed} of {SLOW} slow connections were closed"
        status, _, took = scrape(port)
        assert status == 200, status
        print(f"{SLOW} slow clients: every scrape 200, worst {worst * 1000:.0f} ms; "
              f"all {closed} slow connections closed by the exporter")
    finally:
        for c in slow:
            c.close()
        srv.terminate()
        srv.wait(timeout=10)


if __name__ == "__main__":
    main()
