#!/bin/bash
# metad is SIGKILLed in the middle of a busy workload on a mount and
# restarted on the same address: the mount carries on without a remount
# (same process, same mount), the workload's calls complete without errors,
# and every file closed before the kill is intact. Then metad dies for good:
# SIGTERM still ends the mount, and waiting calls fail rather than hang.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 2
for i in 1 2 3; do cluster_start_chunkd $i; done
cluster_wait_chunkds 3
M=$T/mnt
cluster_mount "$M" -o log_level=info
mount_pid=$(cluster_pid "mount:$M")

# The workload: files written and closed one after another; each one's
# number is logged after its close returned.
cat >"$T/work.py" <<'PY'
import hashlib, os, sys, time
d, log, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(d, exist_ok=True)
errors = 0
with open(log, "w") as lf:
    for i in range(n):
        data = hashlib.sha256(str(i).encode()).digest() * (1000 + 37 * i)
        try:
            with open(f"{d}/f{i}", "wb") as f:
                f.write(data)
            os.rename(f"{d}/f{i}", f"{d}/g{i}")
            lf.write(f"{i}\n"); lf.flush()
        except OSError as e:
            errors += 1
            print(f"file {i}: {e}", file=sys.stderr)
        time.sleep(0.005)
sys.exit(1 if errors else 0)
PY
python3 "$T/work.py" "$M/w" "$T/done.log" 400 2>"$T/work.err" &
wpid=$!
wait_for 30 test -s "$T/done.log" || fail "workload did not start"
sleep 1
before=$(wc -l <"$T/done.log")
cluster_kill metad KILL
sleep 1
start_daemon metad "$CASFS_BIN/casfs-metad" --data "$T/meta" --listen "$META_ADDR" \
	--addr-file "$T/metad.addr2"
wait_for 20 read_addr "$T/metad.addr2" || fail "metad did not restart: $(tail -5 "$T/metad.log")"
wait $wpid || fail "workload saw errors across the metad restart: $(head -5 "$T/work.err")"
after=$(wc -l <"$T/done.log")
check "workload went on after the restart ($before before, $after in all)" [ "$after" = 400 ]
check "same mount process" kill -0 "$mount_pid"
mountpoint -q "$M" || fail "mount is gone"
python3 - "$M/w" 400 <<'PY' || fail "files differ after the metad restart"
import hashlib, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    want = hashlib.sha256(str(i).encode()).digest() * (1000 + 37 * i)
    with open(f"{d}/g{i}", "rb") as f:
        assert f.read() == want, i
PY
grep -q "reconnected" "$T/mount-mnt.log" || fail "the mount did not log a reconnect"

# metad gone for good: SIGTERM still ends the mount (after a grace time
# for flushing), and a call waiting on metad fails instead of hanging.
cluster_kill metad KILL
(echo late >"$M/late") 2>/dev/null &
writer=$!
sleep 1
kill -TERM "$mount_pid"
wait_for 60 bash -c "! kill -0 $mount_pid" || fail "mount did not exit with metad gone"
wait_for 10 bash -c "! kill -0 $writer" || fail "a call waiting on metad still hangs"
wait "$mount_pid" 2>/dev/null
unset "CLUSTER_PIDS[mount:$M]"
echo "mount_restart: ok (kill after $before files)"
