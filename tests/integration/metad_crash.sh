#!/usr/bin/env bash
# metad crash test (invariant 1): several clients mutate concurrently (create
# t_K_n, rename it to f_K_n, log n once the rename is acknowledged); metad
# is killed with SIGKILL at a random moment, restarted, and every
# acknowledged rename must be there while no rename is half-applied. Several
# rounds, with a small checkpoint_changes so kills also land around
# checkpoints; every other round runs with sync = always (group commit) and
# without polling (poll_us = 0: the loop always sleeps in epoll_wait).
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
cluster_init

BENCH=$CASFS_BIN/metabench
[ -x "$BENCH" ] || fail "$BENCH not built (make BUILD=... unit-tests)"
WRITERS=8
ROUNDS=5
cluster_start_metad --checkpoint-changes 700

for round in $(seq 1 $ROUNDS); do
	for k in $(seq 1 $WRITERS); do
		start_daemon "w$k" "$BENCH" writer --meta "$META_ADDR" --id "$k" --log "$T/acked.$k"
	done
	# 0.3 .. 1.5 s of load before the kill.
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + (r % 120) / 100 }')"
	cluster_kill metad KILL
	for k in $(seq 1 $WRITERS); do
		pid=$(cluster_pid "w$k")
		wait_for 20 bash -c "! kill -0 $pid" || fail "writer $k did not notice metad died"
		wait "$pid" 2>/dev/null
		unset "CLUSTER_PIDS[w$k]"
	done
	if [ $((round % 2)) = 1 ]; then
		cluster_start_metad --checkpoint-changes 700 --sync always --poll-us 0
	else
		cluster_start_metad --checkpoint-changes 700
	fi
	for k in $(seq 1 $WRITERS); do
		"$BENCH" verify --meta "$META_ADDR" --id "$k" --log "$T/acked.$k" >>"$T/verify.log" 2>&1 ||
			fail "round $round: writer $k lost or half-applied mutations: $(tail -3 "$T/verify.log")"
	done
	echo "round $round: $(cat "$T"/acked.* | wc -l) acknowledged renames so far, all present"
done
total=$(cat "$T"/acked.* | wc -l)
check "too few mutations were acknowledged ($total)" [ "$total" -ge 200 ]
echo "PASS: $total acknowledged renames survived $ROUNDS SIGKILLs"
