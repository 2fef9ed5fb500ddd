#!/usr/bin/env bash
# casfs local up/status/down: a whole cluster from one command. Checks that
# up starts metad, N chunk servers and the mount (status in table and JSON),
# that a second up on a running cluster changes nothing, that down stops
# exactly the recorded processes and unmounts while keeping the data, and
# that up again (with relative paths, as `make run` calls it) brings the
# same cluster back with its files and settings; and that up after metad
# died brings it back on its address, the rest still running (and to a free
# port when its own is taken and nothing else runs).
source "$(dirname "$0")/../lib/cluster.sh"
cluster_init

CASFS="$CASFS_BIN/casfs"
RUN="$T/run"
MNT="$T/mnt"

local_cleanup() {
	local rc=$?
	"$CASFS" local down --dir "$RUN" >/dev/null 2>&1
	if [ $rc -ne 0 ]; then
		for f in "$RUN"/*.log; do
			[ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }
		done
	fi
	(exit $rc)
	cluster_teardown
}
trap local_cleanup EXIT

# jcheck FILE EXPR MSG: EXPR is Python over d, the parsed JSON in FILE.
jcheck() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$1" "$2" "${@:4}" || fail "$3 (json: $(head -c 600 "$1"))"
}
jget() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# --- up: metad + 2 chunk servers + mount, goal 2
"$CASFS" local up --dir "$RUN" --chunkservers 2 --goal 2 --mount "$MNT" >"$T/up.out" 2>"$T/up.err" ||
	fail "local up failed: $(cat "$T/up.err")"
grep -q "metad" "$T/up.out" || fail "up does not say where metad is: $(cat "$T/up.out")"
mountpoint -q "$MNT" || fail "not mounted after up"
"$CASFS" --json local status --dir "$RUN" >"$T/st.json" || fail "local status --json failed"
jcheck "$T/st.json" 'd["metad"]["running"] and d["metad"]["address"].startswith("127.0.0.1:")' \
	"metad not running"
jcheck "$T/st.json" 'len(d["chunkservers"]) == 2 and all(c["running"] for c in d["chunkservers"])' \
	"chunk servers not running"
jcheck "$T/st.json" 'd["servers_up"] == 2 and d["goal"] == 2' "metad does not list 2 servers up"
jcheck "$T/st.json" 'd["mount"]["mounted"] and d["mount"]["path"] == sys.argv[3]' "mount not reported" "$MNT"
META=$(jget "$T/st.json" 'd["metad"]["address"]')
PIDS=$(jget "$T/st.json" '" ".join(str(p) for p in [d["metad"]["pid"], d["mount"]["pid"]] + [c["pid"] for c in d["chunkservers"]])')
"$CASFS" local status --dir "$RUN" >"$T/st.txt" || fail "local status failed"
grep -q "cs2" "$T/st.txt" || fail "table status lacks cs2: $(cat "$T/st.txt")"

# The cluster works: write through the mount, the root goal is 2.
echo "hello casfs" >"$MNT/hello.txt" || fail "write through the mount failed"
mkdir "$MNT/dir" || fail "mkdir through the mount failed"
"$CASFS" --json goal get "$MNT/hello.txt" >"$T/g.json" || fail "goal get via the mount failed"
jcheck "$T/g.json" 'd["goal"] == 2' "root goal is not 2"
"$CASFS" --meta "$META" --json chunkserver list >"$T/l.json" || fail "chunkserver list failed"
jcheck "$T/l.json" 'len(d) == 2 and all(c["state"] == "up" for c in d)' "list does not show 2 up"

# --- up again while running: nothing restarts.
"$CASFS" local up --dir "$RUN" >/dev/null 2>"$T/up2.err" || fail "second up failed: $(cat "$T/up2.err")"
"$CASFS" --json local status --dir "$RUN" >"$T/st2.json"
PIDS2=$(jget "$T/st2.json" '" ".join(str(p) for p in [d["metad"]["pid"], d["mount"]["pid"]] + [c["pid"] for c in d["chunkservers"]])')
[ "$PIDS" = "$PIDS2" ] || fail "second up restarted processes ($PIDS -> $PIDS2)"

# --- down: unmount, stop exactly those pids, keep the data.
"$CASFS" local down --dir "$RUN" >"$T/down.out" 2>&1 || fail "local down failed: $(cat "$T/down.out")"
! mountpoint -q "$MNT" || fail "still mounted after down"
for p in $PIDS; do
	wait_for 5 bash -c "! kill -0 $p 2>/dev/null || grep -q '^State:.*Z' /proc/$p/status" ||
		fail "pid $p still running after down"
done
[ -d "$RUN/meta" ] && [ -d "$RUN/cs1" ] && [ -d "$RUN/cs2" ] || fail "down removed data folders"
"$CASFS" --json local status --dir "$RUN" >"$T/st3.json" || fail "status after down failed"
jcheck "$T/st3.json" 'not d["metad"]["running"] and not any(c["running"] for c in d["chunkservers"]) and not d["mount"]["mounted"]' \
	"status after down still shows something running"

# --- up again the way `make run` does it (relative paths from the parent):
# the same cluster with its files, its 2 servers and goal.
(cd "$T" && "$CASFS" local up --dir ./run --mount ./mnt --goal 2 >"$T/up3.out" 2>"$T/up3.err") ||
	fail "up after down failed: $(cat "$T/up3.err")"
mountpoint -q "$MNT" || fail "not mounted after the second up"
[ "$(cat "$MNT/hello.txt")" = "hello casfs" ] || fail "file lost across down/up"
[ -d "$MNT/dir" ] || fail "directory lost across down/up"
"$CASFS" --json local status --dir "$RUN" >"$T/st4.json"
jcheck "$T/st4.json" 'd["servers_up"] == 2 and len(d["chunkservers"]) == 2' "servers not back after up"

# --- metad SIGKILLed while the chunk servers and the mount run: up starts
# it again on its last address, where they look for it, so the mount
# carries on without a remount (before, metad came back on a new port and
# up waited in vain for the servers to register).
META4=$(jget "$T/st4.json" 'd["metad"]["address"]')
MOUNTPID4=$(jget "$T/st4.json" 'd["mount"]["pid"]')
# kill_gone PID: SIGKILL, then wait until the process is gone.
kill_gone() { kill -KILL "$1"; wait_for 10 bash -c "! kill -0 $1 2>/dev/null" || fail "pid $1 outlived SIGKILL"; }
kill_gone "$(jget "$T/st4.json" 'd["metad"]["pid"]')"
"$CASFS" local up --dir "$RUN" >"$T/up5.out" 2>"$T/up5.err" ||
	fail "up after metad died failed: $(cat "$T/up5.err")"
"$CASFS" --json local status --dir "$RUN" >"$T/st5.json"
jcheck "$T/st5.json" 'd["metad"]["address"] == sys.argv[3] and d["servers_up"] == 2' \
	"metad did not come back on its address with both servers" "$META4"
jcheck "$T/st5.json" 'd["mount"]["pid"] == int(sys.argv[3])' "the mount was restarted" "$MOUNTPID4"
echo "after metad's return" >"$MNT/after.txt" || fail "writing after metad's return"
[ "$(cat "$MNT/hello.txt")" = "hello casfs" ] || fail "hello.txt after metad's return"

# metad's address taken by another process while the rest still runs: up
# refuses in one line naming the address, and starts nothing in its place.
kill_gone "$(jget "$T/st5.json" 'd["metad"]["pid"]')"
PORT4=${META4##*:}
start_daemon portholder python3 -c "import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $PORT4)); s.listen(); time.sleep(120)"
wait_for 10 bash -c "ss -ltn | grep -q ':$PORT4 '" || fail "the port holder did not listen"
"$CASFS" local up --dir "$RUN" >"$T/up6.out" 2>"$T/up6.err" && fail "up succeeded with metad's port taken"
[ "$(wc -l <"$T/up6.err")" -eq 1 ] && grep -q "$META4 is taken" "$T/up6.err" ||
	fail "a taken port is not explained in one line: $(cat "$T/up6.err")"
"$CASFS" --json local status --dir "$RUN" >"$T/st6.json"
jcheck "$T/st6.json" 'not d["metad"]["running"]' "a metad was started on another port"
cluster_kill portholder
"$CASFS" local up --dir "$RUN" >/dev/null 2>"$T/up7.err" || fail "up once the port was free: $(cat "$T/up7.err")"
[ "$(cat "$MNT/after.txt")" = "after metad's return" ] || fail "after.txt once metad was back again"

# The whole cluster gone at once (as after a crash) and metad's port taken:
# with nothing left that expects metad there, up moves it to a free port,
# says so, and brings the cluster back with its files.
"$CASFS" --json local status --dir "$RUN" >"$T/st7.json"
for p in $(jget "$T/st7.json" '" ".join(str(p) for p in [d["metad"]["pid"], d["mount"]["pid"]] + [c["pid"] for c in d["chunkservers"]])'); do
	kill_gone "$p"
done
start_daemon portholder python3 -c "import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $PORT4)); s.listen(); time.sleep(120)"
wait_for 10 bash -c "ss -ltn | grep -q ':$PORT4 '" || fail "the port holder did not listen"
"$CASFS" local up --dir "$RUN" >"$T/up8.out" 2>"$T/up8.err" ||
	fail "up after a crash with metad's port taken failed: $(cat "$T/up8.err")"
grep -q "$META4 is taken; it moves to a free port" "$T/up8.err" ||
	fail "the move to a free port is not said: $(cat "$T/up8.err")"
"$CASFS" --json local status --dir "$RUN" >"$T/st8.json"
jcheck "$T/st8.json" 'd["metad"]["address"] != sys.argv[3] and d["servers_up"] == 2 and d["mount"]["mounted"]' \
	"the cluster did not come back with metad elsewhere" "$META4"
[ "$(cat "$MNT/after.txt")" = "after metad's return" ] || fail "after.txt after the crash"
cluster_kill portholder

# Bad usage: one clear line, non-zero.
"$CASFS" local up >"$T/bad.out" 2>&1 && fail "local up without --dir succeeded"
[ "$(wc -l <"$T/bad.out")" -eq 1 ] || fail "usage error is not one line: $(cat "$T/bad.out")"

"$CASFS" local down --dir "$RUN" >/dev/null || fail "final down failed"
! mountpoint -q "$MNT" || fail "still mounted after the final down"

# A stale pid file whose pid now belongs to some other process: down must
# leave that process alone.
start_daemon bystander sleep 60
echo "$(cluster_pid bystander)" >"$RUN/cs1.pid"
"$CASFS" local down --dir "$RUN" >/dev/null || fail "down with a stale pid file failed"
kill -0 "$(cluster_pid bystander)" 2>/dev/null || fail "down killed a process that was not its own"

# Without the daemons next to casfs or on PATH: one clear line.
mkdir -p "$T/lonely"
cp "$CASFS" "$T/lonely/casfs"
PATH=/usr/bin:/bin "$T/lonely/casfs" local up --dir "$T/run2" >"$T/lonely.out" 2>&1 &&
	fail "up without casfs-metad succeeded"
[ "$(wc -l <"$T/lonely.out")" -eq 1 ] && grep -q "cannot find casfs-metad" "$T/lonely.out" ||
	fail "missing binary not explained: $(cat "$T/lonely.out")"
echo "PASS local_cluster"
