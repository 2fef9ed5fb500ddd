#!/usr/bin/env bash
# The configs we ship in packaging/conf/ must be accepted by the daemons as
# they are, apart from the addresses and folders a test has to move: a
# shipped config the daemon refuses is a broken install.
set -u
cd "$(dirname "$0")/../.."
source tests/lib/cluster.sh
cluster_init

mkdir -p "$T/meta" "$T/cs1"
"$CASFS_BIN/casfs-metad" --format --data "$T/meta" >>"$T/metad.log" 2>&1 || fail "format"
sed 's#^listen = .*#listen = 127.0.0.1:0#' packaging/conf/metad.conf >"$T/metad.conf"
check "the shipped metad.conf keeps every other line" \
	test "$(grep -vc '^listen' "$T/metad.conf")" = "$(grep -vc '^listen' packaging/conf/metad.conf)"
start_daemon metad "$CASFS_BIN/casfs-metad" --data "$T/meta" --config "$T/metad.conf" \
	--addr-file "$T/metad.addr"
wait_for 20 read_addr "$T/metad.addr" || fail "metad refused the shipped config: $(tail -3 "$T/metad.log")"
META_ADDR=$(cat "$T/metad.addr")

sed -e "s#^data = .*#data = $T/cs1#" -e "s#^meta = .*#meta = $META_ADDR#" \
	-e 's#^listen = .*#listen = 127.0.0.1:0#' -e 's#^reserve_bytes = .*#reserve_bytes = 1M#' \
	packaging/conf/chunkd.conf >"$T/chunkd.conf"
start_daemon cs1 "$CASFS_BIN/casfs-chunkd" --config "$T/chunkd.conf" --addr-file "$T/cs1.addr"
wait_for 20 read_addr "$T/cs1.addr" || fail "chunkd refused the shipped config: $(tail -3 "$T/cs1.log")"
cluster_wait_chunkds 1

# A broken line in the same file is refused with its file and line.
cp "$T/metad.conf" "$T/bad.conf"
echo "no_such_setting = 1" >>"$T/bad.conf"
line=$(wc -l <"$T/bad.conf")
out=$("$CASFS_BIN/casfs-metad" --data "$T/meta" --config "$T/bad.conf" 2>&1) && fail "bad config accepted"
case "$out" in *"bad.conf:$line:"*) ;; *) fail "error does not name bad.conf:$line: $out" ;; esac
echo "packaging_conf: ok"
