#!/usr/bin/env bash
# chunkd: a chain of three real chunk servers under the real metad.
#  - a PUT down the chain stores three verified copies, readable (whole and
#    by range) from each server, and BLK_SYNC succeeds;
#  - a PUT whose chain fields pass the first KiB (so its block cannot land
#    aligned) is stored and forwarded all the same;
#  - a PUT whose id does not match its bytes is refused (-EBADMSG) and
#    nothing is stored; a forged PUT of a known id with other bytes is
#    refused, logged, and the stored copy is unchanged;
#  - SIGKILL of the middle server during a stream of PUTs: every PUT is
#    acknowledged by the head, the reply names the dead server with a
#    negative status, and the copies reported stored really are stored
#    (the head skips the dead server and forwards to the tail itself);
#  - the killed server restarts with its id, no temp file, and only
#    complete blocks.
set -u
. "$(dirname "$0")/../lib/cluster.sh"
TOOL=$CASFS_BIN/tests/chunktool

cluster_init
cluster_start_metad
for n in 1 2 3; do cluster_start_chunkd $n; done
cluster_wait_chunkds 3

server_id() {	# server_id N: the id chunk server N registered with
	sed -n 's/.*registered with metad .* as server \([0-9]*\).*/\1/p' "$T/cs$1.log" | tail -1
}
has_id() { [ -n "$(server_id "$1")" ]; }
wait_for 20 has_id 3 || fail "no server id in the logs"
A=$(cat "$T/cs1.addr") B=$(cat "$T/cs2.addr") C=$(cat "$T/cs3.addr")
IA=$(server_id 1) IB=$(server_id 2) IC=$(server_id 3)
tool() { "$TOOL" --meta "$META_ADDR" "$@"; }

# --- a chain of three
head -c 1048576 /dev/urandom >"$T/blk1"
tool put --server "$A" --chain "$IB@$B,$IC@$C" "$T/blk1" >"$T/put1.out" ||
	fail "PUT down the chain failed: $(cat "$T/put1.out")"
ID=$(sed -n 's/^id //p' "$T/put1.out")
check "three copies acknowledged" test "$(grep -c '^copy [0-9]* 0$' "$T/put1.out")" = 3
check "receiver listed first" test "$(sed -n 2p "$T/put1.out")" = "copy $IA 0"
for s in "$A" "$B" "$C"; do
	tool get --server "$s" --id "$ID" >"$T/got" || fail "GET from $s failed"
	cmp -s "$T/blk1" "$T/got" || fail "GET from $s returned other bytes"
	check "HAVE on $s" test "$(tool have --server "$s" --id "$ID")" = 1
done
tool get --server "$C" --id "$ID" --off 1000 --len 5000 >"$T/range"
tail -c +1001 "$T/blk1" | head -c 5000 | cmp -s - "$T/range" || fail "range GET is wrong"
tool sync --server "$B" --id "$ID" || fail "BLK_SYNC failed"
# the block files are where the design says, under blocks/<h0>/
for n in 1 2 3; do
	check "block file on cs$n" test -f "$T/cs$n/blocks/${ID:2:2}/$ID"
done

# an empty block (a file's last block can be any length, down to zero)
: >"$T/empty"
tool put --server "$A" --chain "$IB@$B" "$T/empty" >"$T/put0.out" || fail "empty PUT failed"
check "empty block stored twice" test "$(grep -c '^copy [0-9]* 0$' "$T/put0.out")" = 2
EID=$(sed -n 's/^id //p' "$T/put0.out")
tool get --server "$B" --id "$EID" >"$T/got0" || fail "empty GET failed"
check "empty block reads back empty" test ! -s "$T/got0"

# --- chain fields longer than the first KiB a server reads of a PUT: the
# block's place cannot be aligned in advance, so the store copies it to an
# aligned buffer; it is stored and forwarded all the same (the padded
# hops refuse connections at once and are skipped)
pad=$(printf '0%.0s' $(seq 240))
far=""
for k in 1 2 3 4 5; do far="$far,90$k@127.0.0.1:${pad}1"; done
head -c 1048576 /dev/urandom >"$T/blk5"
tool put --server "$A" --chain "$IB@$B$far" "$T/blk5" >"$T/put5.out" ||
	fail "PUT with a long chain failed: $(cat "$T/put5.out")"
check "long chain: two copies stored" test "$(grep -c '^copy [0-9]* 0$' "$T/put5.out")" = 2
check "long chain: padded hops reported unreachable" \
	test "$(grep -c '^copy 90[1-5] -' "$T/put5.out")" = 5
for s in "$A" "$B"; do
	tool get --server "$s" --id "$(sed -n 's/^id //p' "$T/put5.out")" >"$T/got5" ||
		fail "GET of the long-chain block from $s failed"
	cmp -s "$T/blk5" "$T/got5" || fail "long-chain block from $s differs"
done

# --- a PUT with a wrong id
head -c 70000 /dev/urandom >"$T/blk2"
WRONG=01$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
if tool put --server "$A" --chain "$IB@$B" --id "$WRONG" "$T/blk2" >"$T/put2.out"; then
	fail "a PUT with a wrong id was accepted"
fi
check "wrong id answered -EBADMSG" grep -q '^status -74$' "$T/put2.out"
for s in "$A" "$B"; do
	check "wrong id not stored on $s" test "$(tool have --server "$s" --id "$WRONG")" = 0
done

# --- a forged PUT of a known id with other bytes
head -c 1048576 /dev/urandom >"$T/forged"
if tool put --server "$B" --id "$ID" "$T/forged" >"$T/put3.out"; then
	fail "a forged PUT of a known id was accepted"
fi
check "forged PUT answered -EBADMSG" grep -q '^status -74$' "$T/put3.out"
check "forged PUT logged" grep -q "does not match id $ID" "$T/cs2.log"
tool get --server "$B" --id "$ID" >"$T/got" || fail "GET after the forged PUT failed"
cmp -s "$T/blk1" "$T/got" || fail "the forged PUT changed the stored block"

# --- SIGKILL the middle server during a stream of PUTs
"$TOOL" --meta "$META_ADDR" stream --server "$A" --chain "$IB@$B,$IC@$C" \
	--count 150 --size 65536 --delay-ms 20 >"$T/stream.out" 2>"$T/stream.err" &
SPID=$!
lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; }
wait_for 20 lines_at_least "$T/stream.out" 40 || fail "the stream did not start"
cluster_kill cs2 KILL
wait $SPID
STATUS=$?
check "every PUT acknowledged by the head (stream exit $STATUS)" test $STATUS = 0
check "150 blocks streamed" test "$(wc -l <"$T/stream.out")" = 150
check "early blocks have three copies" \
	grep -q "^block 0 [0-9a-f]* $IA:0 $IB:0 $IC:0$" "$T/stream.out"
check "the dead middle server is named with a negative status" \
	grep -q " $IB:-[0-9]* " "$T/stream.out"
check "the tail still got the blocks after the middle died" \
	grep -q "^block 149 [0-9a-f]* $IA:0 $IB:-[0-9]* $IC:0$" "$T/stream.out"
# every copy reported stored is there; none reported on the dead server
while read -r _ i id rest; do
	for pair in $rest; do
		sid=${pair%%:*} st=${pair#*:}
		[ "$st" = 0 ] || continue
		case $sid in
		"$IA") s=$A ;; "$IC") s=$C ;; "$IB") continue ;;
		esac
		test "$(tool have --server "$s" --id "$id")" = 1 ||
			fail "block $i reported stored on server $sid but it is not there"
	done
done < <(awk 'NR % 10 == 0 || / [0-9]+:-/ { print }' "$T/stream.out" | head -40)

# --- the killed server comes back: no temp file left, same id, and every
# block file it shows is complete (a GET verifies it)
cluster_start_chunkd 2
B=$(cat "$T/cs2.addr")
registrations() { [ "$(grep -c 'with metad .* as server' "$T/cs2.log")" -ge 2 ]; }
wait_for 20 registrations || fail "cs2 did not register again"
check "cs2 kept its id" test "$(server_id 2)" = "$IB"
check "no temp file after SIGKILL" test -z "$(ls "$T/cs2/tmp")"
n=0
for f in $(find "$T/cs2/blocks" -type f); do
	tool get --server "$B" --id "$(basename "$f")" >/dev/null ||
		fail "block $(basename "$f") on the restarted server does not verify"
	n=$((n + 1))
done
check "the restarted server still has its blocks ($n)" test $n -ge 40
echo "chunkd_chain: ok"
