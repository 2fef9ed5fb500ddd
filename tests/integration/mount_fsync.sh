#!/bin/bash
# fsync when chunk servers die between storing a file's blocks and syncing
# them (the blocks are committed by a flush of another handle first):
#  1. goal 2, one holder SIGKILLed: every block still has a copy that syncs,
#     so fsync succeeds (metad brings the blocks back to goal).
#  2. goal 1, the only holder of some blocks SIGKILLed: fsync fails with
#     EIO, and a second fsync with the server still dead fails too (the
#     first failure dropped nothing it still owes); once the server is back
#     on its port, fsync succeeds and the file reads back whole.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 2 --cs_dead_timeout_ms 3000
for i in 1 2 3; do cluster_start_chunkd $i; done
cluster_wait_chunkds 3
M=$T/mnt
cluster_mount "$M"
mkdir "$M/g1"
"$CASFS_BIN/casfs" --meta "$META_ADDR" goal set 1 "$M/g1" >/dev/null || fail "goal set 1"

# store_then_fsync FILE PIDS_TO_KILL...: writes 24 MiB (blocks on every
# server), commits it through a second handle, SIGKILLs the given pids,
# then fsyncs, printing "ok" or the errno; twice more, each after a line
# on stdin.
store_then_fsync() {
	python3 -c "$STORE_THEN_FSYNC" "$@"
}
# (a program argument, not a here-document: its stdin is the test's pipe)
read -r -d '' STORE_THEN_FSYNC <<'PY'
import os, signal, sys
path, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
data = os.urandom(24 << 20)
with open(path + ".want", "wb") as w:
    w.write(data)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
os.close(os.open(path, os.O_RDONLY))	# its flush stores and commits
for p in pids:
    os.kill(p, signal.SIGKILL)
def attempt():
    try:
        os.fsync(fd)
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
attempt()
for _ in range(2):
    sys.stdin.readline()
    attempt()
os.close(fd)
PY

# 1. goal 2: a dead holder does not fail the fsync
out=$(printf '\n\n' | store_then_fsync "$M/two" "$(cluster_pid cs1)" | tr '\n' ' ')
unset "CLUSTER_PIDS[cs1]"
check "goal 2, one holder dead: every fsync succeeds ($out)" [ "$out" = "ok ok ok " ]
check "the goal-2 file reads back" cmp "$M/two.want" "$M/two"
cluster_start_chunkd 1
cluster_wait_chunkds 3

# 2. goal 1: the only copy cannot be synced
cs2_addr=$(cat "$T/cs2.addr")
exec {to}> >(store_then_fsync "$M/g1/one" "$(cluster_pid cs2)" >"$T/fsync.out")
helper=$!
wait_for 60 test -s "$T/fsync.out" || fail "no first fsync result"
unset "CLUSTER_PIDS[cs2]"
check "goal 1, holder dead: fsync fails with EIO ($(cat "$T/fsync.out"))" \
	[ "$(head -1 "$T/fsync.out")" = 5 ]
echo >&$to
wait_for 60 bash -c "[ \$(wc -l <'$T/fsync.out') -ge 2 ]" || fail "no second fsync result"
check "holder still dead: the next fsync fails too ($(sed -n 2p "$T/fsync.out"))" \
	[ "$(sed -n 2p "$T/fsync.out")" = 5 ]
start_daemon cs2 "$CASFS_BIN/casfs-chunkd" --data "$T/cs2" --meta "$META_ADDR" \
	--listen "$cs2_addr" --addr-file "$T/cs2.addr"
cluster_wait_chunkds 3
echo >&$to
exec {to}>&-
wait_for 60 bash -c "[ \$(wc -l <'$T/fsync.out') -ge 3 ]" || fail "no third fsync result"
wait $helper 2>/dev/null
check "the server back: fsync succeeds ($(sed -n 3p "$T/fsync.out"))" \
	[ "$(sed -n 3p "$T/fsync.out")" = ok ]
check "the goal-1 file reads back" cmp "$M/g1/one.want" "$M/g1/one"
check "mount log names the unsyncable block" grep -q "no copy of block" "$T/mount-mnt.log"
sanitizer_clean "$T/mount-mnt.log" || fail "sanitizer report in the mount's log"
echo "mount_fsync: ok"
