# Shared integration-test fixture (bash). Source it, then:
#   cluster_init                  temp folder $T, teardown trap on EXIT
#   cluster_start_metad [args]    format + start metad; sets META_ADDR
#   cluster_start_chunkd N [args] start chunk server N (data in $T/cs$N)
#   cluster_wait_chunkds N        until metad lists N servers up (needs casfs)
#   cluster_mount MNT [opts]      mount the cluster at MNT (casfs-mount)
#   cluster_kill NAME [SIG]       signal a process started here (by pid)
#   fail MSG / check COND MSG     assertions
#   stop_clean NAME               SIGTERM a daemon: exit 0, no sanitizer report
# Daemons bind 127.0.0.1 port 0 and write the bound address to an
# --addr-file, so ports are chosen free at run time without races. Every
# process started here is recorded by pid and stopped on exit, pass or fail;
# every mount is unmounted.
set -u
CASFS_BIN=${CASFS_BIN:-build}
case "$CASFS_BIN" in /*) ;; *) CASFS_BIN=$(pwd)/$CASFS_BIN ;; esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

declare -A CLUSTER_PIDS=()
CLUSTER_MOUNTS=()
T=""

cluster_init() {
	T=$(mktemp -d /tmp/casfs-test.XXXXXX)
	trap cluster_teardown EXIT
	trap 'exit 130' INT TERM
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

check() {
	local msg=$1
	shift
	"$@" || fail "$msg"
}

# wait_for TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# start_daemon NAME CMD...: runs CMD in the background, logging to $T/NAME.log.
start_daemon() {
	local name=$1
	shift
	"$@" >>"$T/$name.log" 2>&1 &
	CLUSTER_PIDS[$name]=$!
}

cluster_pid() { echo "${CLUSTER_PIDS[$1]}"; }

# sanitizer_clean LOG: no ASan/LSan/UBSan report in a daemon's log.
sanitizer_clean() { ! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"; }

# stop_clean NAME: SIGTERM a daemon started here; it must exit 0 and leave no
# sanitizer report (a clean shutdown is part of invariant 6).
stop_clean() {
	local name=$1 pid rc
	pid=$(cluster_pid "$name")
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	unset "CLUSTER_PIDS[$name]"
	check "$name exits 0 on SIGTERM (rc $rc)" test "$rc" = 0
	sanitizer_clean "$T/$name.log" || fail "sanitizer report in $name.log at shutdown"
}

cluster_kill() {
	local name=$1 sig=${2:-TERM} pid=${CLUSTER_PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null
	if [ "$sig" = KILL ] || [ "$sig" = TERM ]; then
		wait "$pid" 2>/dev/null
		unset "CLUSTER_PIDS[$name]"
	fi
	return 0
}

# read_addr FILE: true once the daemon has bound and written its address.
read_addr() { [ -s "$1" ]; }

cluster_start_metad() {
	mkdir -p "$T/meta"
	if [ ! -e "$T/meta/.formatted" ]; then
		"$CASFS_BIN/casfs-metad" --format --data "$T/meta" >>"$T/metad.log" 2>&1 ||
			fail "metad --format failed: $(tail -3 "$T/metad.log")"
		touch "$T/meta/.formatted"
	fi
	rm -f "$T/metad.addr"
	start_daemon metad "$CASFS_BIN/casfs-metad" --data "$T/meta" \
		--listen 127.0.0.1:0 --addr-file "$T/metad.addr" "$@"
	wait_for 20 read_addr "$T/metad.addr" || fail "metad did not start: $(tail -5 "$T/metad.log")"
	META_ADDR=$(cat "$T/metad.addr")
	export META_ADDR
}

cluster_start_chunkd() {
	local n=$1
	shift
	mkdir -p "$T/cs$n"
	rm -f "$T/cs$n.addr"
	start_daemon "cs$n" "$CASFS_BIN/casfs-chunkd" --data "$T/cs$n" --meta "$META_ADDR" \
		--listen 127.0.0.1:0 --addr-file "$T/cs$n.addr" "$@"
	wait_for 20 read_addr "$T/cs$n.addr" || fail "chunkd $n did not start: $(tail -5 "$T/cs$n.log")"
}

cluster_servers_up() {
	local n
	n=$("$CASFS_BIN/casfs" --meta "$META_ADDR" --json chunkserver list 2>/dev/null |
		grep -o '"state": *"up"' | wc -l)
	[ "$n" -ge "$1" ]
}

cluster_wait_chunkds() {
	wait_for 30 cluster_servers_up "$1" || fail "only some chunk servers registered"
}

# is_mounted MNT: reads the mount table instead of stat()ing MNT, which would
# block forever on a FUSE mount whose daemon is dead or hung.
is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

cluster_mount() {
	local mnt=$1
	shift
	mkdir -p "$mnt"
	"$CASFS_BIN/casfs-mount" -f "$META_ADDR" "$mnt" "$@" >>"$T/mount-$(basename "$mnt").log" 2>&1 &
	CLUSTER_PIDS["mount:$mnt"]=$!
	CLUSTER_MOUNTS+=("$mnt")
	wait_for 20 is_mounted "$mnt" || fail "mount at $mnt did not come up: $(tail -5 "$T/mount-$(basename "$mnt").log")"
}

cluster_unmount() {
	local mnt=$1 pid=${CLUSTER_PIDS["mount:$1"]:-}
	if is_mounted "$mnt"; then
		if ! timeout 15 fusermount3 -u "$mnt" 2>/dev/null; then
			# A hung daemon: kill it so the kernel aborts the connection,
			# then detach the mount point.
			[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
			timeout 15 fusermount3 -uz "$mnt" 2>/dev/null
		fi
	fi
	if [ -n "$pid" ]; then
		wait_for 30 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		unset "CLUSTER_PIDS[mount:$mnt]"
	fi
}

cluster_teardown() {
	local rc=$? name pid
	for mnt in "${CLUSTER_MOUNTS[@]}"; do
		cluster_unmount "$mnt"
	done
	for name in "${!CLUSTER_PIDS[@]}"; do
		kill -TERM "${CLUSTER_PIDS[$name]}" 2>/dev/null
	done
	for name in "${!CLUSTER_PIDS[@]}"; do
		pid=${CLUSTER_PIDS[$name]}
		wait_for 10 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ -n "$T" ]; then
		echo "--- logs of the failed test ($T) ---" >&2
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f" >&2
			tail -20 "$f" >&2
		done
	fi
	if [ -n "$T" ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$T"
	fi
	exit $rc
}
