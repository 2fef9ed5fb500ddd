#!/usr/bin/env bash
# Invariant 5 with the real client: metad is killed (-9) and restarted on
# the same address under a live mount. The mount resumes its session: files
# written before are there, an open-but-unlinked file is still readable
# through its open descriptor (its open was replayed from the changelog),
# and new writes work. Then the same across a clean restart after a
# checkpoint. Last, metad restarts while the chunk servers are frozen, so
# the mount is back before any server has registered again: a file written
# then waits for them instead of failing its close with ENOSPC.
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
cluster_init

for b in casfs-chunkd casfs-mount; do
	[ -x "$CASFS_BIN/$b" ] || fail "$b not built"
done
MB=$CASFS_BIN/metabench
cluster_start_metad --checkpoint-changes 5
cluster_start_chunkd 1
cluster_start_chunkd 2
wait_for 30 bash -c "'$MB' adm --meta '$META_ADDR' | grep -q '^up=2$'" || fail "chunk servers not up"
M=$T/mnt
cluster_mount "$M"

restart_metad() {	# restart_metad SIG: stop metad and start it on the same address
	cluster_kill metad "$1"
	# 7<&-: the new metad must not inherit the descriptor open on the
	# mount, or it would keep the mount busy.
	start_daemon metad "$CASFS_BIN/casfs-metad" --data "$T/meta" --listen "$META_ADDR" \
		--checkpoint-changes 5 7<&-
	wait_for 20 "$MB" adm --meta "$META_ADDR" >/dev/null || fail "metad did not come back"
}

head -c 3000000 /dev/urandom >"$T/data" || fail "make data"
cp "$T/data" "$M/big" || fail "write big"
echo "before" >"$M/small" || fail "write small"
echo "unlinked but open" >"$M/doomed" || fail "write doomed"
exec 7<"$M/doomed"
rm "$M/doomed" || fail "unlink doomed"

restart_metad KILL
t0=$SECONDS
wait_for 30 bash -c "echo after >'$M/after'" || fail "no writes through the mount after kill -9 of metad"
echo "mount writes again $((SECONDS - t0)) s after the kill"
cmp -s "$T/data" "$M/big" || fail "big differs after metad restart"
[ "$(cat "$M/small")" = before ] || fail "small differs after metad restart"
[ "$(cat <&7)" = "unlinked but open" ] || fail "open-unlinked file lost across kill -9"
[ ! -e "$M/doomed" ] || fail "unlinked file came back"

wait_for 10 grep -q "checkpoint .* written" "$T/metad.log" || fail "no checkpoint written"
restart_metad TERM
t0=$SECONDS
wait_for 30 bash -c "echo again >'$M/again'" || fail "no writes after a clean metad restart"
echo "mount writes again $((SECONDS - t0)) s after the clean restart"
cmp -s "$T/data" "$M/big" || fail "big differs after the second restart"
[ "$(cat "$M/after")" = after ] || fail "file written between restarts lost"

# The servers stay away (SIGSTOP) across the restart and come back 1.5 s
# later; cp checks close(), where the commit's outcome is reported.
kill -STOP "$(cluster_pid cs1)" "$(cluster_pid cs2)"
restart_metad KILL
cp "$T/data" "$M/while_away" 2>"$T/cp.err" &
cp_pid=$!
sleep 1.5
kill -CONT "$(cluster_pid cs1)" "$(cluster_pid cs2)"
wait "$cp_pid" || fail "write while the servers were re-registering failed: $(cat "$T/cp.err")"
cmp -s "$T/data" "$M/while_away" || fail "file written while the servers re-registered differs"
grep -q "No space left" "$T/mount-mnt.log" && fail "PLACE said ENOSPC while the servers re-registered"
exec 7<&-
kill -0 "$(cluster_pid "mount:$M")" || fail "the mount died"
echo PASS
