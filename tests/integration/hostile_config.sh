#!/usr/bin/env bash
# Invariant 6, broken configuration: casfs-metad and casfs-chunkd given a
# config file with a bad line exit non-zero at once with one line naming
# FILE:LINE; a missing config file is one clear line too. metad refuses a
# missing or foreign data folder; chunkd a data folder whose parent is
# missing. A chunk server whose data folder belongs
# to another cluster refuses to serve it (exits non-zero, says so) and the
# other cluster never lists it; its blocks are untouched. A damaged
# chunkd.id is refused with one line.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
METAD=$CASFS_BIN/casfs-metad
CHUNKD=$CASFS_BIN/casfs-chunkd
G=$CASFS_BIN/garbage
cluster_init

# expect_refusal PATTERN CMD...: CMD exits non-zero within 20 s with one
# line on stderr/stdout (ignoring sanitizer noise) that matches PATTERN.
expect_refusal() {
	local pat=$1 rc lines
	shift
	timeout 20 "$@" >"$T/refusal.out" 2>&1
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "'$*' did not refuse (rc $rc): $(head -3 "$T/refusal.out")"
	grep -q -- "$pat" "$T/refusal.out" || fail "'$*' refused without saying '$pat': $(head -3 "$T/refusal.out")"
	lines=$(grep -vc '^$' "$T/refusal.out")
	[ "$lines" -eq 1 ] || fail "'$*' said $lines lines, not one: $(head -5 "$T/refusal.out")"
}

# --- bad config lines, for both daemons
printf 'listen = 127.0.0.1:0\n\n# fine so far\nthis line has no equals sign\n' >"$T/syntax.conf"
printf '[server]\nlog_level = loud\n' >"$T/section.conf"
printf 'log_level = info\ntimeout_ms = banana\n' >"$T/value.conf"
printf 'log_level = info\nno_such_key = 1\n' >"$T/unknown.conf"
printf 'log_level = info\n\001\002\003 = \377\n' >"$T/binary.conf"
mkdir -p "$T/m" "$T/c"
for f in syntax unknown binary; do
	expect_refusal "$f.conf:[0-9]" "$METAD" --data "$T/m" --config "$T/$f.conf"
	expect_refusal "$f.conf:[0-9]" "$CHUNKD" --data "$T/c" --meta 127.0.0.1:1 --config "$T/$f.conf"
done
expect_refusal "syntax.conf:4" "$METAD" --data "$T/m" --config "$T/syntax.conf"
expect_refusal "syntax.conf:4" "$CHUNKD" --data "$T/c" --meta 127.0.0.1:1 --config "$T/syntax.conf"
expect_refusal "value.conf:2" "$CHUNKD" --data "$T/c" --meta 127.0.0.1:1 --config "$T/value.conf"
expect_refusal "section.conf:2" "$METAD" --data "$T/m" --config "$T/section.conf"
expect_refusal "missing.conf" "$METAD" --data "$T/m" --config "$T/missing.conf"
expect_refusal "missing.conf" "$CHUNKD" --data "$T/c" --meta 127.0.0.1:1 --config "$T/missing.conf"
expect_refusal "log_level" "$METAD" --data "$T/m" --log-level shouting
expect_refusal "timeout_ms" "$CHUNKD" --data "$T/c" --meta 127.0.0.1:1 --timeout-ms -5

# --- metad: missing and foreign data folders
expect_refusal "no such data folder" "$METAD" --listen 127.0.0.1:0 --data "$T/nothing-here"
mkdir -p "$T/foreign"
printf 'format = 1\nuuid = not-a-uuid\nkey_seed = zz\n' >"$T/foreign/cluster"
expect_refusal "cluster" "$METAD" --listen 127.0.0.1:0 --data "$T/foreign"

# --- chunkd: a data folder under a missing parent
timeout 20 "$CHUNKD" --data "$T/no-such-disk/casfs" --meta 127.0.0.1:1 --listen 127.0.0.1:0 \
	>"$T/nodisk.out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "chunkd served a data folder under a missing parent (rc $rc)"
grep -q "no-such-disk/casfs" "$T/nodisk.out" || fail "chunkd's refusal does not name the folder: $(head -3 "$T/nodisk.out")"
check "nothing was created for the missing folder" test ! -e "$T/no-such-disk"
# --- chunkd: a missing data folder whose parent exists (an unmounted disk
# under /srv) is refused too, in one line, unless create_data = yes
mkdir -p "$T/srv"
timeout 20 "$CHUNKD" --data "$T/srv/disk1" --meta 127.0.0.1:1 --listen 127.0.0.1:0 \
	>"$T/unmounted.out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "chunkd served a missing data folder (rc $rc)"
check "nothing was created for the unmounted disk" test ! -e "$T/srv/disk1"
check "one line refuses the missing folder: $(cat "$T/unmounted.out")" \
	test "$(grep -c . "$T/unmounted.out")" = 1
grep -q "srv/disk1 does not exist" "$T/unmounted.out" ||
	fail "chunkd's refusal does not say the folder is missing: $(cat "$T/unmounted.out")"
timeout 5 "$CHUNKD" --data "$T/srv/disk1" --meta 127.0.0.1:1 --listen 127.0.0.1:0 \
	--create-data yes >"$T/create.out" 2>&1
check "create_data = yes creates the folder" test -d "$T/srv/disk1/blocks"

# --- chunkd: a data folder of another cluster
cluster_start_metad
cluster_start_chunkd 1
G1() { "$G" --meta "$META_ADDR" --server "$(cat "$T/cs1.addr")" chunk "$@"; }
wait_for 30 G1 health >/dev/null || fail "cs1 never became ready"
G1 lies >/dev/null 2>&1	# leaves a verified block in cs1's folder
nblocks=$(find "$T/cs1/blocks" -type f | wc -l)
check "cs1 stored a block" test "$nblocks" -ge 1
cluster_kill cs1 TERM
cluster_kill metad TERM
# a second, unrelated cluster
mv "$T/meta" "$T/meta-a"
mv "$T/metad.log" "$T/metad-a.log"
cluster_start_metad
pid_log=$T/cs1-foreign.out
timeout 30 "$CHUNKD" --data "$T/cs1" --meta "$META_ADDR" --listen 127.0.0.1:0 >"$pid_log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "chunkd served another cluster's folder (rc $rc): $(tail -3 "$pid_log")"
grep -q "another cluster" "$pid_log" || fail "chunkd's refusal does not say why: $(tail -3 "$pid_log")"
grep -q "retrying" "$pid_log" && fail "chunkd logged a retry after refusing the folder: $(tail -3 "$pid_log")"
check "the foreign folder's blocks are untouched" \
	test "$(find "$T/cs1/blocks" -type f | wc -l)" = "$nblocks"
check "the second cluster lists no chunk server" \
	test "$("$CASFS_BIN/casfs" --meta "$META_ADDR" --json chunkserver list | grep -c '"state"')" = 0
# a damaged identity file
cp -a "$T/cs1" "$T/cs9"
printf 'garbage\001\002\n' >"$T/cs9/chunkd.id"
timeout 30 "$CHUNKD" --data "$T/cs9" --meta "$META_ADDR" --listen 127.0.0.1:0 >"$T/cs9.out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "chunkd served a folder with a damaged chunkd.id (rc $rc)"
grep -q "chunkd.id\|cluster\|identity" "$T/cs9.out" || fail "damaged chunkd.id refused without a reason: $(tail -3 "$T/cs9.out")"
check "metad survived the refusals" kill -0 "$(cluster_pid metad)"
"$G" --server "$META_ADDR" meta health >/dev/null || fail "metad no longer answers"
echo "hostile_config: ok"
