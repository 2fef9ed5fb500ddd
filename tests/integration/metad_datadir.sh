#!/usr/bin/env bash
# metad's data folder and command line: --format makes a cluster and refuses
# to overwrite one without --force; serving refuses a missing, unformatted,
# foreign or half-written folder and a corrupt changelog with one clear
# line, as does a folder another metad serves; bad arguments and config lines fail with a message naming them; a
# torn changelog tail is dropped and the rest kept.
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
cluster_init

METAD=$CASFS_BIN/casfs-metad
MB=$CASFS_BIN/metabench

# expect_fail PATTERN CMD...: CMD exits non-zero, quickly, saying PATTERN.
expect_fail() {
	local pat=$1 out rc
	shift
	out=$(timeout 20 "$@" 2>&1)
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "'$*' did not fail (rc $rc): $out"
	echo "$out" | grep -q -- "$pat" || fail "'$*' failed without saying '$pat': $out"
}

SERVE=("$METAD" --listen 127.0.0.1:0 --data)

"$METAD" --help | grep -q -- "--format" || fail "--help says nothing useful"
expect_fail "required" "$METAD"
expect_fail "unexpected argument" "$METAD" --data "$T/x" stray
expect_fail "unknown setting" "$METAD" --data "$T/x" --no-such-key 1
expect_fail "sync" "$METAD" --data "$T/x" --sync sometimes
expect_fail "default_block_size" "$METAD" --data "$T/x" --default-block-size 3000
expect_fail "poll_us" "$METAD" --data "$T/x" --poll-us 200000
printf 'listen = 127.0.0.1:0\nbogus line\n' >"$T/bad.conf"
expect_fail "bad.conf:2" "$METAD" --data "$T/x" --config "$T/bad.conf"

# Refusals when serving.
expect_fail "no such data folder" "${SERVE[@]}" "$T/missing"
mkdir "$T/empty"
expect_fail "not a formatted" "${SERVE[@]}" "$T/empty"
mkdir "$T/foreign"
echo "something else entirely" >"$T/foreign/cluster"
expect_fail "not a casfs-metad cluster file" "${SERVE[@]}" "$T/foreign"

# Format; refuse to format again; --force makes a new cluster.
"$METAD" --format --data "$T/d" >"$T/fmt1" || fail "format failed"
uuid1=$(grep -o 'cluster [0-9a-f]*' "$T/fmt1")
expect_fail "refusing to format" "$METAD" --format --data "$T/d"
grep -q "${uuid1#cluster }" "$T/d/cluster" || fail "the refused format changed the cluster"
"$METAD" --format --force --data "$T/d" >"$T/fmt2" || fail "format --force failed"
[ "$(grep -o 'cluster [0-9a-f]*' "$T/fmt2")" != "$uuid1" ] || fail "--force kept the old cluster id"

# Half-written: a cluster file but no checkpoint.
mkdir "$T/half"
cp "$T/d/cluster" "$T/half/cluster"
expect_fail "half-written" "${SERVE[@]}" "$T/half"

# Make some history, then damage the changelog.
mkdir -p "$T/meta"
"$METAD" --format --data "$T/meta" >/dev/null || fail "format"
touch "$T/meta/.formatted"
cluster_start_metad
"$MB" writer --meta "$META_ADDR" --id 1 --log "$T/acked" --count 50 || fail "writer"
# One daemon per folder.
expect_fail "in use by another" "${SERVE[@]}" "$T/meta"
expect_fail "in use by another" "$METAD" --format --force --data "$T/meta"
cluster_kill metad KILL
seg=$(ls "$T"/meta/changelog.* | sort -t. -k2 -n | tail -1)
# A torn tail (half a record) is dropped; everything acknowledged stays.
printf '\x80\x00\x00\x00\x01\x00\x0c' >>"$seg"
cluster_start_metad
"$MB" verify --meta "$META_ADDR" --id 1 --log "$T/acked" || fail "acknowledged changes lost after a torn tail"
grep -q "dropping torn record" "$T/metad.log" || fail "torn record not reported"
# KILL, not TERM: a clean stop would checkpoint and drop the old segments.
cluster_kill metad KILL
# A corrupt record in the middle is a hard error naming the offset.
seg=$(ls "$T"/meta/changelog.* | sort -t. -k2 -n | head -1)
size=$(stat -c %s "$seg")
[ "$size" -gt 1000 ] || fail "changelog segment unexpectedly small ($size)"
printf '\xff' | dd of="$seg" bs=1 seek=200 conv=notrunc status=none
expect_fail "corrupt record at offset" "${SERVE[@]}" "$T/meta"

# A clean stop leaves a checkpoint with everything: nothing to replay.
rm -rf "$T/meta2"
"$METAD" --format --data "$T/meta2" >/dev/null || fail "format"
start_daemon m2 "$METAD" --data "$T/meta2" --listen 127.0.0.1:0 --addr-file "$T/m2.addr"
wait_for 20 read_addr "$T/m2.addr" || fail "metad 2 did not start"
"$MB" writer --meta "$(cat "$T/m2.addr")" --id 2 --log "$T/acked2" --count 20 || fail "writer 2"
cluster_kill m2 TERM
grep -q "written at shutdown" "$T/m2.log" || fail "no checkpoint at shutdown: $(tail -3 "$T/m2.log")"
rm -f "$T/m2.addr"
start_daemon m2 "$METAD" --data "$T/meta2" --listen 127.0.0.1:0 --addr-file "$T/m2.addr"
wait_for 20 read_addr "$T/m2.addr" || fail "metad 2 did not restart"
grep -q "+ 0 changelog records" "$T/m2.log" || fail "records replayed after a clean stop: $(tail -3 "$T/m2.log")"
"$MB" verify --meta "$(cat "$T/m2.addr")" --id 2 --log "$T/acked2" || fail "changes lost across a clean stop"
echo PASS
