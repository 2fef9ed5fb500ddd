#!/usr/bin/env bash
# chunkd: full disks, on a 16 MiB tmpfs data folder (stand-in metad, so
# the heartbeat flags can be read from its event log):
#  - PUTs of 1 MiB blocks succeed until the folder nears its reserve, then
#    fail with -ENOSPC; no partial block or temp file is ever left, and the
#    blocks stored stay readable;
#  - the heartbeat says MSG_CS_FULL (flags 1) while full, and clears once
#    CS_DELETE freed space; PUTs then succeed again;
#  - with two folders a block goes to the one with the most free space.
set -u
. "$(dirname "$0")/../lib/cluster.sh"
TOOL=$CASFS_BIN/tests/chunktool

cluster_init
SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=16m tmpfs "$SMALL" || fail "cannot mount a tmpfs (needs root)"
# stop what uses the tmpfs, unmount it, then the usual teardown
trap 'rc=$?; cluster_kill cs1 TERM; cluster_kill cs2 TERM; umount "$SMALL" || umount -l "$SMALL"; (exit $rc); cluster_teardown' EXIT

mkfifo "$T/fm.in"
exec 7<>"$T/fm.in"
start_daemon fakemeta "$TOOL" fakemeta --addr-file "$T/fm.addr" --state "$T/fm.state" \
	--commands "$T/fm.in"
wait_for 20 read_addr "$T/fm.addr" >/dev/null || fail "fakemeta did not start"
META_ADDR=$(cat "$T/fm.addr")
LOG=$T/fakemeta.log
has_event() { grep -q -- "$1" "$LOG"; }
wait_event() { wait_for "${2:-20}" has_event "$1" || fail "no event '$1' from metad's side"; }
tool() { "$TOOL" --state "$T/fm.state" "$@"; }

mkdir -p "$SMALL/cs1"
start_daemon cs1 "$CASFS_BIN/casfs-chunkd" --data "$SMALL/cs1" --meta "$META_ADDR" \
	--listen 127.0.0.1:0 --addr-file "$T/cs1.addr" --heartbeat-ms 200
wait_for 20 read_addr "$T/cs1.addr" >/dev/null || fail "chunkd did not start"
wait_event "inventory 1 done"
A=$(cat "$T/cs1.addr")

# --- fill it
ids=()
full=0
for i in $(seq 1 40); do
	head -c 1048576 /dev/urandom >"$T/b"
	if tool put --server "$A" "$T/b" >"$T/put.out"; then
		ids+=("$(sed -n 's/^id //p' "$T/put.out")")
		cp "$T/b" "$T/b.${#ids[@]}"
	else
		check "a PUT on a full disk fails with -ENOSPC" grep -q '^status -28$' "$T/put.out"
		full=1
		break
	fi
done
check "the disk filled up" test $full = 1
check "most of the 16 MiB was used (${#ids[@]} blocks)" test ${#ids[@]} -ge 10
check "no temp file left" test -z "$(ls "$SMALL/cs1/tmp")"
bad=$(find "$SMALL/cs1/blocks" -type f ! -size 1048576c | wc -l)
check "no partial block left ($bad)" test "$bad" = 0
check "one file per stored block" \
	test "$(find "$SMALL/cs1/blocks" -type f | wc -l)" = ${#ids[@]}
for k in 1 ${#ids[@]}; do
	tool get --server "$A" --id "${ids[$((k - 1))]}" | cmp -s - "$T/b.$k" ||
		fail "block $k unreadable on the full disk"
done
wait_event "heartbeat 1 blocks ${#ids[@]} used $((${#ids[@]} * 1048576)) free [0-9]* flags 1"

# --- free space by CS_DELETE: not full any more, PUTs work again
for k in 0 1 2 3; do echo "delete 1 ${ids[$k]}" >&7; done
wait_event "heartbeat 1 blocks $((${#ids[@]} - 4)) used [0-9]* free [0-9]* flags 0"
head -c 1048576 /dev/urandom >"$T/b"
tool put --server "$A" "$T/b" >"$T/put.out" || fail "PUT after freeing space: $(cat "$T/put.out")"
cluster_kill cs1 TERM

# --- two folders: the one with more free space takes new blocks
mkdir -p "$SMALL/cs2" "$T/big"
start_daemon cs2 "$CASFS_BIN/casfs-chunkd" --data "$SMALL/cs2" --data "$T/big" \
	--meta "$META_ADDR" --listen 127.0.0.1:0 --addr-file "$T/cs2.addr"
wait_for 20 read_addr "$T/cs2.addr" >/dev/null || fail "chunkd 2 did not start"
wait_event "inventory 2 done"
B=$(cat "$T/cs2.addr")
for i in 1 2 3; do
	head -c 100000 /dev/urandom >"$T/c"
	tool put --server "$B" "$T/c" >/dev/null || fail "PUT to two folders failed"
done
check "blocks went to the roomier folder" test "$(find "$T/big/blocks" -type f | wc -l)" = 3
check "none to the small one" test "$(find "$SMALL/cs2/blocks" -type f | wc -l)" = 0
check "both folders carry the server id" test -s "$SMALL/cs2/chunkd.id" -a -s "$T/big/chunkd.id"
echo "chunkd_full: ok"
