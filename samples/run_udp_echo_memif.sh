#!/bin/sh
# Two processes over memif: pk-udp-echo as server, then as client; the client must get
# every reply. usage: run_udp_echo_memif.sh <pk-udp-echo>
set -u
bin=$1
sock=/tmp/pk-udp-echo-$$.sock
rm -f "$sock"
"$bin" --mode server --memif "$sock" --duration 40 > /tmp/pk-udp-echo-server-$$.log 2>&1 &
srv=$!
sleep 1
"$bin" --mode client --memif "$sock" --count 5000 --window 16
rc=$?
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
cat /tmp/pk-udp-echo-server-$$.log
rm -f "$sock" /tmp/pk-udp-echo-server-$$.log
exit $rc
