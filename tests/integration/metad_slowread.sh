#!/usr/bin/env bash
# metad's memory with slow readers: 48 connections pipeline GETATTRs as fast
# as metad takes them and never read a reply. metad stops reading a
# connection once 4 MiB of its replies wait (and any connection with more
# than 64 KiB waiting once 64 MiB wait in all), so its peak RSS grows by
# tens of MiB, not by 17 MiB per connection (812 MB before the cap), and a
# normal peer is still served. Memory is measured on the optimised build
# (build/, made here if stale): ASan's quarantine distorts RSS.
set -u
cd "$(dirname "$0")/../.." || exit 1
OPT=${CASFS_OPT_BIN:-build}
make -s BUILD="$OPT" "$OPT/casfs-metad" "$OPT/garbage" >/dev/null 2>&1 ||
	{ echo "FAIL: cannot build $OPT/casfs-metad and $OPT/garbage" >&2; exit 1; }
CASFS_BIN=$OPT
source tests/lib/cluster.sh
cluster_init
cluster_start_metad
MPID=$(cluster_pid metad)
vmhwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

hwm0=$(vmhwm_kb "$MPID")
timeout 100 "$CASFS_BIN/garbage" --server "$META_ADDR" --count 48 meta slowread >"$T/slow.out" 2>&1 ||
	fail "slowread: $(grep -v '^ok' "$T/slow.out" | head -5)"
grep -q "^ok slowread: a normal peer was served" "$T/slow.out" ||
	fail "a normal peer was not served beside slow readers: $(cat "$T/slow.out")"
hwm1=$(vmhwm_kb "$MPID")
grep "pushed" "$T/slow.out"
echo "metad peak RSS $((hwm0 / 1024)) -> $((hwm1 / 1024)) MiB with 48 slow readers"
check "metad's peak RSS grew by $(((hwm1 - hwm0) / 1024)) MiB for 48 slow readers (bound 160 MiB)" \
	test $((hwm1 - hwm0)) -lt $((160 * 1024))
check "metad survived the slow readers" kill -0 "$MPID"
"$CASFS_BIN/garbage" --server "$META_ADDR" meta health >/dev/null || fail "metad no longer answers"
cluster_kill metad TERM
echo "metad_slowread: ok"
