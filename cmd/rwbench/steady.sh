#!/bin/bash
# Usage: [START=15] [WINDOW=10] steady.sh OLD-BINARY NEW-BINARY
#
# Two hubs side by side (two builds of ringwatch), each with 2,000
# full hosts (loadgen --backfill) at 1 Hz; after START minutes, each hub's
# CPU per sample over WINDOW minutes, at full rings. Each host's whole file
# is written again about every 17 minutes (in one wave for hosts that
# started together, before the rewrites were spread on 2026-12-05), so a
# window should hold one such cycle, for every host's rewrite to count
# once in both builds: START=30 WINDOW=17. The collector's share comes
# from each hub's gctrace (GODEBUG=gctrace=1): the processor time of the
# cycles that ended in the window. Each hub's CPU is also printed minute by
# minute over the window, with its quietest, busiest and median minute.
set -u
START=${START:-15} WINDOW=${WINDOW:-10}
declare -A BIN=([old]=${1:?old binary} [new]=${2:?new binary})
rm -rf /tmp/steady-old /tmp/steady-new
declare -A NATS=([old]=127.0.0.1:14301 [new]=127.0.0.1:14302) HTTP=([old]=127.0.0.1:18301 [new]=127.0.0.1:18302)
declare -A PID LPID
for s in old new; do
  GODEBUG=gctrace=1 ${BIN[$s]} serve --data-dir /tmp/steady-$s --host hub-$s --nats-addr ${NATS[$s]} --nats-insecure --http-addr ${HTTP[$s]} --snapshot-interval 5m >/tmp/steady-$s.log 2>&1 &
  PID[$s]=$!
done
for s in old new; do
  until curl -sf http://${HTTP[$s]}/healthz >/dev/null; do sleep 0.5; done
done
for s in old new; do
  ${BIN[new]} loadgen --bus nats://${NATS[$s]} --hosts 2000 --shape 8,4,3,6 --duration $((START+WINDOW+2))m --churn 0 --backfill --conns 4 >/tmp/steady-lg-$s.log 2>&1 &
  LPID[$s]=$!
done
start=$(date +%s)
sleep $((START*60))
gcs() { grep -c '^gc ' /tmp/steady-$1.log; }
gccpu() { # side first-cycle -> ms of processor time of the cycles from there on
  grep '^gc ' /tmp/steady-$1.log | tail -n +$2 | sed 's/.*clock, //; s/ ms cpu.*//' | tr '+/' '  ' | awk '{for(i=1;i<=NF;i++) s+=$i} END {print s+0}'
}
snap() { # side -> "ticks received rss"
  local t=$(awk '{print $14+$15}' /proc/${PID[$1]}/stat)
  local r=$(curl -s http://${HTTP[$1]}/api/v1/stats | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["pipeline"]["received"], json.dumps(d.get("snapshots",{})))')
  local rss=$(awk '/VmRSS/{print $2}' /proc/${PID[$1]}/status)
  echo "$t $r RSS=$rss"
}
declare -A A B G
for s in old new; do A[$s]=$(snap $s); G[$s]=$(($(gcs $s)+1)); echo "$s at ${START}m: ${A[$s]}"; done
# Each hub's CPU minute by minute over the window: a wave of rewrites
# shows as its busiest minutes.
declare -A PREV MINUTES
for s in old new; do PREV[$s]=$(awk '{print $14+$15}' /proc/${PID[$s]}/stat); done
for ((m = 0; m < WINDOW; m++)); do
  sleep 60
  for s in old new; do
    t=$(awk '{print $14+$15}' /proc/${PID[$s]}/stat)
    MINUTES[$s]+="$(((t - PREV[$s]) / 60)) " # ticks of 10 ms over 60 s: percent of a core
    PREV[$s]=$t
  done
done
for s in old new; do
  echo "$s, percent of a core by minute: ${MINUTES[$s]}"
  echo ${MINUTES[$s]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {printf "'$s': quietest minute %d %%, busiest %d %%, median %d %%\n", a[1], a[NR], a[int((NR+1)/2)]}'
done
for s in old new; do B[$s]=$(snap $s); echo "$s at $((START+WINDOW))m: ${B[$s]}"; done
for s in old new; do
  read t0 r0 _ <<<"${A[$s]}"; read t1 r1 _ <<<"${B[$s]}"
  python3 -c "print('$s: %d samples, %.1f µs of CPU per sample, of which the collector %.1f (%d cycles)' % ($r1-$r0, ($t1-$t0)/100/($r1-$r0)*1e6, $(gccpu $s ${G[$s]})*1e3/($r1-$r0), $(gcs $s)-${G[$s]}+1))"
done
for s in old new; do kill ${LPID[$s]} 2>/dev/null; kill -TERM ${PID[$s]}; done
wait
for s in old new; do tail -3 /tmp/steady-lg-$s.log; grep -vc '^gc ' /tmp/steady-$s.log; done
echo finished
