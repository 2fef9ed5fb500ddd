#!/bin/bash
# Faults under a mount, goal 3 on four chunk servers:
#  1. SIGKILL a chunk server in the middle of a 512 MiB write (the issue
#     says 1 GiB; half keeps this script within its time budget with ASan
#     builds on two cores): the write
#     completes and the file's sha256 matches.
#  2. Reads of that file from a fresh mount (no client cache) go on from
#     the other replicas.
#  3. With that server still dead, the cluster returns to goal by itself.
#  4. SIGKILL a second chunk server that holds blocks: reads still work.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 3 --cs_dead_timeout_ms 3000
for i in 1 2 3 4; do cluster_start_chunkd $i; done
cluster_wait_chunkds 4
M=$T/mnt
cluster_mount "$M"

status_field() {
	"$CASFS_BIN/casfs" --meta "$META_ADDR" --json status 2>/dev/null |
		python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"
}

SIZE_MB=512
head -c $((SIZE_MB << 20)) /dev/urandom >"$T/big"
want=$(sha256sum <"$T/big" | cut -d' ' -f1)

# 1. kill a chunk server while the copy is running
cp "$T/big" "$M/big" &
cpid=$!
wait_for 60 test -s "$M/big" || true
sleep 1
cluster_kill cs2 KILL
wait $cpid || fail "cp failed after a chunk server died"
got=$(sha256sum <"$M/big" | cut -d' ' -f1)
check "sha256 after SIGKILL during the write" [ "$got" = "$want" ]
# The writer's mount tells of cs2 once (again only if it still met it
# after 10 s), not once per block it had placed there.
check "cs2's death logged once or twice by the writer" \
	[ "$(grep -c "chunk server $(cat "$T/cs2.addr") unreachable" "$T/mount-mnt.log")" -le 2 ]
check "no line per block put to dead cs2" bash -c "! grep -q 'BLK_PUT failed' '$T/mount-mnt.log'"

# 2. a fresh mount with no data cache reads from the surviving replicas
cluster_mount "$T/fresh"
got=$(sha256sum <"$T/fresh/big" | cut -d' ' -f1)
check "sha256 through a fresh mount" [ "$got" = "$want" ]

# 3. back to goal with cs2 still dead
at_goal() { [ "$(status_field "['blocks']['under_goal']")" = 0 ]; }
wait_for 90 at_goal || fail "cluster did not return to goal: $(status_field "['blocks']")"
check "no block missing" [ "$(status_field "['blocks']['missing']")" = 0 ]

# 4. kill another server holding blocks; reads go on
cluster_kill cs3 KILL
cluster_unmount "$T/fresh"
cluster_mount "$T/fresh2"
got=$(sha256sum <"$T/fresh2/big" | cut -d' ' -f1)
check "sha256 with two servers dead" [ "$got" = "$want" ]
# The dead server is news once, not once per block it held.
log=$T/mount-fresh2.log
check "cs3's death logged at most once ($(grep -c unreachable "$log") lines)" \
	[ "$(grep -c "chunk server $(cat "$T/cs3.addr") unreachable" "$log")" -le 1 ]
check "no line per block read from a dead server" bash -c "! grep -q 'block read from' '$log'"
echo "mount_faults: ok"
