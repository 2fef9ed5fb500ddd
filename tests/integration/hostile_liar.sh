#!/usr/bin/env bash
# Invariant 6 (and 3), a lying chunk server: tests/tools/garbage fake-cs
# registers with a real metad as a chunk server, claims to hold every block
# of a file (and blocks that exist nowhere, with impossible lengths), says
# "stored" to every CS_REPLICATE and CS_DELETE, and serves random bytes for
# every BLK_GET. Meanwhile fresh mounts read the file again and again: no
# read ever returns other bytes than were written (invariant 3), and every
# read succeeds. Over goal, metad trims the liar's bare claims, never the
# copies the writer's PUT chain verified: once the liar is gone, the two real
# servers hold every block again (nothing acknowledged is lost), no daemon
# crashes or reports a sanitizer error, and each shuts down cleanly.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
G=$CASFS_BIN/garbage
TOOL=$CASFS_BIN/tests/chunktool
[ -x "$G" ] || fail "$G not built (make BUILD=... unit-tests)"
cluster_init

cluster_start_metad --default_goal 2 --cs_dead_timeout_ms 2000
cluster_start_chunkd 1
cluster_start_chunkd 2
cluster_wait_chunkds 2
M=$T/mnt
BS=1048576
head -c $((5 * BS + 777)) /dev/urandom >"$T/orig"
cluster_mount "$M"
cp "$T/orig" "$M/precious" || fail "write through the mount failed"
cluster_unmount "$M"
for f in $(find "$T/cs1/blocks" -type f); do
	echo "$(basename "$f") $(stat -c %s "$f")"
done >"$T/ids"
check "cs1 holds the 6 blocks" test "$(wc -l <"$T/ids")" = 6

"$G" --server "$META_ADDR" --seconds 20 meta fake-cs --ids "$T/ids" >"$T/liar.out" 2>&1 &
LIAR=$!
CLUSTER_PIDS[liar]=$LIAR	# stopped by the fixture if this test fails early
registered() { grep -q "registered as server" "$T/liar.out"; }
wait_for 10 registered || fail "the liar could not register: $(cat "$T/liar.out")"
LIAR_ID=$(sed -n 's/.*registered as server \([0-9]*\).*/\1/p' "$T/liar.out")
listed() { "$CASFS_BIN/casfs" --meta "$META_ADDR" --json chunkserver list | grep -q '"state": *"up"'; }
reads=0
end=$((SECONDS + 12))
failed_reads=0
while [ $SECONDS -lt $end ]; do
	cluster_mount "$M"
	# a read may never return other bytes, and must not fail either
	if cat "$M/precious" >"$T/read" 2>"$T/read.err"; then
		cmp -s "$T/orig" "$T/read" ||
			fail "a read returned wrong bytes while a lying chunk server was registered"
	else
		failed_reads=$((failed_reads + 1))
	fi
	cluster_unmount "$M"
	reads=$((reads + 1))
done
check "metad survived the liar" kill -0 "$(cluster_pid metad)"
wait $LIAR
rc=$?
unset "CLUSTER_PIDS[liar]"
grep -q "registered as server" "$T/liar.out" || fail "the liar did not run: $(tail -3 "$T/liar.out")"
check "the liar ran to its end (rc $rc): $(tail -3 "$T/liar.out")" test $rc = 0
echo "liar (server $LIAR_ID): $(grep 'served' "$T/liar.out"); $reads clean-cache reads, $failed_reads failed, none wrong"
check "every read succeeded while the liar was registered ($failed_reads of $reads failed)" \
	test "$failed_reads" = 0
if grep -q "served [1-9]" "$T/liar.out"; then
	grep -q "reported bad" "$T/metad.log" || fail "readers got bad bytes from the liar but metad heard nothing"
fi

# The liar is gone: both real servers end up with every block, verified.
all_real_copies() {
	local id len s
	while read -r id len; do
		for s in 1 2; do
			"$TOOL" --meta "$META_ADDR" have --server "$(cat "$T/cs$s.addr")" --id "$id" |
				grep -qx 1 || return 1
			"$TOOL" --meta "$META_ADDR" get --server "$(cat "$T/cs$s.addr")" --id "$id" \
				>"$T/copy" 2>/dev/null || return 1
			test "$(stat -c %s "$T/copy")" = "$len" || return 1
		done
	done <"$T/ids"
}
wait_for 60 all_real_copies || fail "after the liar left, the real servers do not both hold every block"
cluster_mount "$M"
cmp -s "$T/orig" "$M/precious" || fail "the file is wrong after the liar left"
cluster_unmount "$M"

for name in cs1 cs2 metad; do
	check "$name alive at the end" kill -0 "$(cluster_pid $name)"
	sanitizer_clean "$T/$name.log" || fail "sanitizer report in $name.log"
done
for name in cs1 cs2 metad; do stop_clean "$name"; done
echo "hostile_liar: ok"
