#!/usr/bin/env bash
# metad protocol and sessions: a garbage frame closes only that connection,
# and 20,000 random frames of every type leave metad serving;
# HELLO refuses bad versions, roles, other clusters and unknown sessions; a
# mutation re-sent after a reconnect is answered once, not applied twice;
# flock and POSIX locks conflict across sessions, blocking waits are granted
# on unlock or cancelled by UNLOCK; when a client's session expires its
# locks are released and its unlinked-but-open files die. Then metad
# restarts and the sessions it had survive (resume works).
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
cluster_init

MB=$CASFS_BIN/metabench
[ -x "$MB" ] || fail "$MB not built"
cluster_start_metad --session-timeout-ms 2000
"$MB" selftest --meta "$META_ADDR" --goal 2 || fail "selftest failed: $(tail -5 "$T/metad.log")"
kill -0 "$(cluster_pid metad)" || fail "metad died"
grep -q "bad frame header" "$T/metad.log" || fail "the garbage frame was not logged"
"$MB" garbage --meta "$META_ADDR" --count 20000 || fail "random frames broke metad: $(tail -5 "$T/metad.log")"
kill -0 "$(cluster_pid metad)" || fail "metad died of random frames"

# Sessions survive a metad restart, from the changelog and from a checkpoint.
s1=$("$MB" session --meta "$META_ADDR") || fail "new session"
cluster_kill metad KILL
cluster_start_metad --session-timeout-ms 2000 --checkpoint-changes 1
s2=$("$MB" session --meta "$META_ADDR") || fail "new session"
"$MB" resume --meta "$META_ADDR" --id "$s1" || fail "session $s1 lost across kill -9"
wait_for 10 grep -q "checkpoint .* written" "$T/metad.log" || fail "no checkpoint written"
cluster_kill metad TERM
cluster_start_metad --session-timeout-ms 2000
"$MB" resume --meta "$META_ADDR" --id "$s2" || fail "session $s2 lost across a checkpoint"
# ... and still expire: nothing resumes after the timeout.
sleep 3
"$MB" resume --meta "$META_ADDR" --id "$s2" 2>/dev/null && fail "session $s2 did not expire"

# Locks are state too: a held flock survives kill -9 and a checkpoint, and
# goes when its session expires.
cluster_kill metad TERM
cluster_start_metad --session-timeout-ms 4000
lockres() { "$MB" lock --meta "$META_ADDR" --name lk --goal "$1" >/dev/null; echo $?; }
[ "$(lockres 2)" = 0 ] || fail "first flock refused"
[ "$(lockres 1)" = 3 ] || fail "conflicting flock granted"
cluster_kill metad KILL
cluster_start_metad --session-timeout-ms 4000 --checkpoint-changes 1
[ "$(lockres 1)" = 3 ] || fail "flock lost across kill -9"
wait_for 10 grep -q "checkpoint .* written" "$T/metad.log" || fail "no checkpoint written"
cluster_kill metad TERM
cluster_start_metad --session-timeout-ms 2000
[ "$(lockres 2)" = 3 ] || fail "flock lost across a checkpoint"
sleep 3
wait_for 10 bash -c "[ \"\$('$MB' lock --meta '$META_ADDR' --name lk --goal 2 >/dev/null; echo \$?)\" = 0 ]" ||
	fail "flock of an expired session not released"
echo PASS
