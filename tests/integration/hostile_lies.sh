#!/usr/bin/env bash
# Invariant 6, lying peers: well-formed requests that lie, sent by
# tests/tools/garbage to a real metad and three real chunk servers.
#  - chunkd: BLK_PUT whose data does not hash to its id (-EBADMSG, nothing
#    stored), a forged chain of servers that do not exist (the PUT answers,
#    a negative status per fake copy), a chain of 20 hops back to the
#    receiver, BLK_GET past the end and with offsets that overflow u32;
#  - metad (client role): "." and ".." as names, RENAME of the root, LINK
#    to a directory, sizes and COMMIT indices near 2^63/2^64, blocks over
#    8 MiB, COMMIT naming servers that do not exist (BMAP never lists
#    them), READDIR with max 2^32-1 (also over 20,000 entries of 255-byte
#    names), PLACE of 100,000 blocks in one frame, chunk-server and admin
#    requests from a client; (admin role) impossible goals, block sizes and
#    server ids; (chunk-server role) reports before registering, a taken
#    id, registering twice, ids metad never issued (refused; new ids stay
#    unique and non-zero), impossible inventories and capacities (ignored
#    or clamped, with a log line);
#  - both: thousands of well-formed requests of every type, from every
#    role, with values aimed at existing inodes, names and block ids and at
#    the extremes (each must be answered).
# Afterwards every daemon has the same pid and answers, and the namespace
# is the same after a clean restart of metad and after kill -9 + replay.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
G=$CASFS_BIN/garbage
[ -x "$G" ] || fail "$G not built (make BUILD=... unit-tests)"

cluster_init
cluster_start_metad
for n in 1 2 3; do cluster_start_chunkd $n; done
cluster_wait_chunkds 3
MPID=$(cluster_pid metad)
g() { "$G" --meta "$META_ADDR" "$@"; }

run() {	# run NAME garbage-args...: the attack must pass its own checks
	local name=$1
	shift
	timeout 80 "$G" --meta "$META_ADDR" "$@" >"$T/$name.out" 2>&1 ||
		fail "$name: $(grep -v '^ok' "$T/$name.out" | head -8)"
	grep '^note' "$T/$name.out"
	echo "$name: ok ($(grep -c '^ok' "$T/$name.out") checks)"
}

all_alive() {
	check "metad survived (pid $MPID)" kill -0 "$MPID"
	for n in 1 2 3; do
		check "cs$n survived" kill -0 "$(cluster_pid cs$n)"
		g --server "$(cat "$T/cs$n.addr")" chunk health >/dev/null || fail "cs$n no longer answers"
		sanitizer_clean "$T/cs$n.log" || fail "sanitizer report in cs$n.log"
	done
	g --server "$META_ADDR" meta health >/dev/null || fail "metad no longer answers"
	sanitizer_clean "$T/metad.log" || fail "sanitizer report in metad.log"
}

run chunk-lies --server "$(cat "$T/cs1.addr")" chunk lies
grep -q "does not match id" "$T/cs1.log" || fail "the PUT with a wrong hash was not logged"
all_alive
run meta-lies --server "$META_ADDR" meta lies
all_alive
run adm-lies --server "$META_ADDR" meta adm-lies
all_alive
run cs-lies --server "$META_ADDR" meta cs-lies
# impossible capacities are clamped (never shown as 16 EiB, free never above
# total) and logged, like impossible inventory lengths and forged ids
"$CASFS_BIN/casfs" --meta "$META_ADDR" --json chunkserver list >"$T/cslist.json" ||
	fail "chunkserver list failed"
check "no server listed with a total above 1 EiB: $(jq -c '[.[] | .total]' "$T/cslist.json")" \
	test "$(jq '[.[] | select(.total > 1152921504606846976)] | length' "$T/cslist.json")" = 0
check "no server listed with more free space than total" \
	test "$(jq '[.[] | select(.free > .total or .used > .total)] | length' "$T/cslist.json")" = 0
check "chunk-server ids are unique: $(jq -c '[.[] | .id]' "$T/cslist.json")" \
	test "$(jq '[.[] | .id] | (length == (unique | length)) and (all(. > 0))' "$T/cslist.json")" = true
for pat in "claims impossible space" "blocks longer than 8388608 bytes: ignored" \
	"which this metad never issued: refused"; do
	grep -q "$pat" "$T/metad.log" || fail "metad did not log '$pat'"
done
all_alive
run bigdir --server "$META_ADDR" --count 20000 meta bigdir
all_alive
# well-formed requests of every type with values aimed at what exists and
# at the extremes, from each role; they reach the handlers
for seed in 1 2 3; do
	run fuzz-client-$seed --server "$META_ADDR" --seed "$seed" --count 20000 meta fuzz
	run fuzz-admin-$seed --server "$META_ADDR" --role admin --seed "$seed" --count 3000 meta fuzz
	run fuzz-chunkd-$seed --server "$META_ADDR" --role chunkd --seed "$seed" --count 3000 meta fuzz
	run fuzz-cs-$seed --server "$(cat "$T/cs$seed.addr")" --seed "$seed" --count 3000 chunk fuzz
done
all_alive

# The namespace survives a clean restart and a kill -9 with replay, equal
# to what it was (entries, attributes, times, sizes).
dump() { g --server "$META_ADDR" meta dump >"$1" || fail "namespace walk failed: $(tail -3 "$1")"; }
dump "$T/ns.before"
check "the dump saw the bigdir entries" test "$(wc -l <"$T/ns.before")" -gt 20000
cluster_kill metad TERM
sanitizer_clean "$T/metad.log" || fail "sanitizer report in metad.log at shutdown"
cluster_start_metad
dump "$T/ns.clean"
cmp -s "$T/ns.before" "$T/ns.clean" ||
	fail "namespace differs after a clean restart: $(diff "$T/ns.before" "$T/ns.clean" | head -5)"
# more lies on the restarted metad, then kill -9: replay must rebuild it
run meta-lies2 --server "$META_ADDR" --seed 2 meta lies
dump "$T/ns.before2"
cluster_kill metad KILL
cluster_start_metad
grep -qE "corrupt|error" "$T/metad.log" && grep -E "corrupt|ERROR" "$T/metad.log" | tail -3
dump "$T/ns.replayed"
cmp -s "$T/ns.before2" "$T/ns.replayed" ||
	fail "namespace differs after kill -9 and replay: $(diff "$T/ns.before2" "$T/ns.replayed" | head -5)"
MPID=$(cluster_pid metad)
all_alive
for name in cs1 cs2 cs3 metad; do stop_clean "$name"; done
echo "hostile_lies: ok"
