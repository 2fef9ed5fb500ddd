#!/usr/bin/env bash
# chunkd: the metad link and server-to-server work, driven by a stand-in
# metad (chunktool fakemeta) so every request is deterministic:
#  - registration, inventory, CS_ADDED for PUT blocks;
#  - CS_REPLICATE copies a block from another server (verified); from a
#    server that lacks it the request fails; to a server whose own copy
#    went bad it fetches a good one; CS_DELETE removes a copy;
#  - a flipped byte is refused on GET (-EIO), quarantined and reported
#    (CS_BAD); the scrubber finds another flipped byte by itself, and a
#    CS_REPLICATE from the good copy repairs it;
#  - restart: a torn temp file is removed, the server keeps its id and
#    reports its blocks again;
#  - metad restarting: reads keep being served, the server re-registers
#    with the same id and re-sends its inventory.
set -u
. "$(dirname "$0")/../lib/cluster.sh"
TOOL=$CASFS_BIN/tests/chunktool

cluster_init
mkfifo "$T/fm.in"
start_fakemeta() {
	rm -f "$T/fm.addr"
	# read-write: opening a FIFO that way never blocks, and keeps a writer
	exec 7<>"$T/fm.in"
	start_daemon fakemeta "$TOOL" fakemeta --addr-file "$T/fm.addr" --state "$T/fm.state" \
		--commands "$T/fm.in" "$@"
	wait_for 20 read_addr "$T/fm.addr" >/dev/null || fail "fakemeta did not start"
	META_ADDR=$(cat "$T/fm.addr")
}
start_fakemeta
LOG=$T/fakemeta.log
events() { grep -c -- "$1" "$LOG"; }
has_event() { grep -q -- "$1" "$LOG"; }
test_events() { [ "$(events "$1")" -ge "$2" ]; }
wait_event() { wait_for "${2:-20}" has_event "$1" || fail "no event '$1' from metad's side"; }

# cs1 scrubs rarely (its GET test must see the corruption first); cs2 scrubs
# every second at a high rate.
cluster_start_chunkd 1 --scrub-interval-s 3600
cluster_start_chunkd 2 --scrub-interval-s 1 --scrub-rate 512 --heartbeat-ms 200
wait_event "registered 2 "
wait_event "inventory 2 done"
A=$(cat "$T/cs1.addr") B=$(cat "$T/cs2.addr")
tool() { "$TOOL" --state "$T/fm.state" "$@"; }
blockfile() { echo "$T/cs$1/blocks/${2:2:2}/$2"; }

# --- PUT to cs1 only: reported as added
head -c 300000 /dev/urandom >"$T/x"
tool put --server "$A" "$T/x" >"$T/put.out" || fail "PUT failed"
X=$(sed -n 's/^id //p' "$T/put.out")
wait_event "added 1 $X 300000"

# --- CS_REPLICATE cs1 -> cs2
echo "replicate 2 $X 300000 1@$A" >&7
wait_event "reply 2 CS_REPLICATE 0"
tool get --server "$B" --id "$X" | cmp -s - "$T/x" || fail "replicated copy differs"
# from a source that does not hold the block: fails, nothing stored
Y=01$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "replicate 2 $Y 1000 1@$A" >&7
wait_event "reply 2 CS_REPLICATE -2"
check "nothing stored for a failed copy" test "$(tool have --server "$B" --id "$Y")" = 0

# --- CS_DELETE
echo "delete 1 $X" >&7
wait_event "reply 1 CS_DELETE 0"
check "deleted copy gone" test "$(tool have --server "$A" --id "$X")" = 0
check "deleted file gone" test ! -e "$(blockfile 1 "$X")"

# --- a flipped byte is never served: GET answers -EIO, reports CS_BAD
head -c 200000 /dev/urandom >"$T/z"
Z=$(tool put --server "$A" "$T/z" | sed -n 's/^id //p')
printf '\x55' | dd of="$(blockfile 1 "$Z")" bs=1 seek=777 conv=notrunc status=none
if tool get --server "$A" --id "$Z" >"$T/zgot" 2>/dev/null; then
	fail "a corrupt block was served"
fi
check "GET of a corrupt block answered -EIO" grep -q '^status -5$' "$T/zgot"
wait_event "bad 1 $Z"
check "corrupt copy quarantined" test "$(ls "$T/cs1/quarantine" | wc -l)" = 1
if tool get --server "$A" --id "$Z" >"$T/zgot" 2>/dev/null; then
	fail "a quarantined block was served"
fi
check "quarantined block is missing" grep -q '^status -2$' "$T/zgot"

# --- the scrubber finds a flipped byte on cs2; a copy from cs1 repairs it
tool put --server "$A" "$T/x" >/dev/null || fail "PUT again failed"
printf '\xaa' | dd of="$(blockfile 2 "$X")" bs=1 seek=1234 conv=notrunc status=none
wait_event "bad 2 $X" 30
check "scrubber quarantined the copy" test ! -e "$(blockfile 2 "$X")"
echo "replicate 2 $X 300000 1@$A" >&7
wait_for 20 test_events 'reply 2 CS_REPLICATE 0' 2 || fail "repair copy failed"
tool get --server "$B" --id "$X" | cmp -s - "$T/x" || fail "repaired copy differs"

# --- CS_REPLICATE to a server whose own copy went bad: it does not answer
# for the bad copy, it fetches a good one
head -c 100000 /dev/urandom >"$T/v"
V=$(tool put --server "$B" --chain "1@$A" "$T/v" | sed -n 's/^id //p')
printf '\x33' | dd of="$(blockfile 1 "$V")" bs=1 seek=50000 conv=notrunc status=none
echo "replicate 1 $V 100000 2@$B" >&7
wait_event "reply 1 CS_REPLICATE 0"
wait_event "bad 1 $V"
tool get --server "$A" --id "$V" | cmp -s - "$T/v" || fail "the bad copy was not replaced"

# --- heartbeats carry the block count
wait_event "heartbeat 2 blocks 2 "

# --- restart cs1 with a torn temp file: cleaned, same id, inventory again
cluster_kill cs1 KILL
head -c 5000 /dev/urandom >"$T/cs1/tmp/999.1.tmp"
cluster_start_chunkd 1
A=$(cat "$T/cs1.addr")
wait_for 20 test_events 'registered 1 ' 2 || fail "cs1 did not register again as 1"
wait_event "have 1 $X 300000"
check "torn temp file removed" test -z "$(ls "$T/cs1/tmp")"
grep -q "registered 3" "$LOG" && fail "cs1 got a new id after restart"

# --- metad goes away: reads go on; it comes back: same id, inventory again
PORT=${META_ADDR##*:}
cluster_kill fakemeta TERM
exec 7>&-
sleep 1.5
tool get --server "$A" --id "$X" >"$T/xgot" || fail "GET while metad is down: $(tail -2 "$T/xgot")"
cmp -s "$T/xgot" "$T/x" || fail "GET while metad is down returned other bytes"
head -c 4000 /dev/urandom >"$T/w"
tool put --server "$B" "$T/w" >/dev/null || fail "PUT while metad is down"
start_fakemeta --listen "127.0.0.1:$PORT"
check "metad came back on the same port" test "$META_ADDR" = "127.0.0.1:$PORT"
wait_for 30 test_events "registered 1 " 3 || fail "cs1 did not register again as 1"
wait_for 30 test_events "registered 2 " 2 || fail "cs2 did not register again as 2"
wait_for 20 test_events "have 1 $X 300000" 2 || fail "cs1 did not re-send its inventory"
grep -q "registered 3" "$LOG" && fail "a server got a new id"
tool get --server "$A" --id "$X" | cmp -s - "$T/x" || fail "GET after metad came back"
echo "chunkd_copy: ok"
