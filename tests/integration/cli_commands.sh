#!/usr/bin/env bash
# Every casfs admin command against a real cluster (metad, 3 chunk servers,
# a FUSE mount), in table and --json form; the JSON is parsed and its values
# checked. Also: where the metad address comes from (--meta, $CASFS_META,
# config file, the mount of a path), and that errors are one clear line
# with a non-zero exit.
source "$(dirname "$0")/../lib/cluster.sh"
cluster_init

export HOME="$T/home"
mkdir -p "$HOME"
unset CASFS_META

jcheck() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$1" "$2" "${@:4}" || fail "$3 (json: $(head -c 800 "$1"))"
}
jget() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
# one_line_error FILE: exactly one line, starting "casfs: ".
one_line_error() {
	[ "$(wc -l <"$1")" -eq 1 ] && grep -q '^casfs: ' "$1" || fail "not one clear error line: $(cat "$1")"
}

CASFS="$CASFS_BIN/casfs"
cluster_start_metad
for i in 1 2 3; do cluster_start_chunkd $i; done
cluster_wait_chunkds 3
MNT="$T/mnt"
cluster_mount "$MNT"
C=("$CASFS" --meta "$META_ADDR")

# --- help and usage errors
"$CASFS" help >"$T/help" || fail "casfs help failed"
grep -q "chunkserver drain" "$T/help" || fail "help lacks commands"
"$CASFS" goal --help >"$T/help2" || fail "goal --help failed"
grep -q "goal set" "$T/help2" || fail "goal --help lacks usage"
"$CASFS" frobnicate 2>"$T/err" && fail "unknown command succeeded"
one_line_error "$T/err"
"$CASFS" status 2>"$T/err" && fail "status without a metad address succeeded"
one_line_error "$T/err"
"$CASFS" --meta 127.0.0.1:1 status 2>"$T/err" && fail "status against a closed port succeeded"
one_line_error "$T/err"
grep -q "refused" "$T/err" || fail "connection error not explained: $(cat "$T/err")"

# --- status: table, JSON, and every address source
"${C[@]}" status >"$T/status.txt" || fail "status failed"
grep -q "3 up, 0 down, 0 draining" "$T/status.txt" || fail "status table: $(cat "$T/status.txt")"
"${C[@]}" --json status >"$T/status.json" || fail "status --json failed"
jcheck "$T/status.json" 'd["servers"] == {"up": 3, "down": 0, "draining": 0}' "status servers"
jcheck "$T/status.json" 'd["capacity"]["total"] > 0 and d["capacity"]["free"] > 0' "status capacity"
jcheck "$T/status.json" 'd["sessions"] >= 1 and d["metad"]["address"] == sys.argv[3]' "status metad/sessions" "$META_ADDR"
jcheck "$T/status.json" 'len(d["cluster"]) == 36 and d["blocks"]["missing"] == 0' "status cluster/blocks"
CASFS_META=$META_ADDR "$CASFS" --json status >"$T/s2.json" || fail "status via CASFS_META failed"
jcheck "$T/s2.json" 'd["servers"]["up"] == 3' "status via CASFS_META"
mkdir -p "$HOME/.config/casfs"
printf 'meta = %s\n' "$META_ADDR" >"$HOME/.config/casfs/casfs.conf"
"$CASFS" status --json >"$T/s3.json" || fail "status via the config file failed"
jcheck "$T/s3.json" 'd["servers"]["up"] == 3' "status via config file"
rm "$HOME/.config/casfs/casfs.conf"

# --- chunkserver list/show
"${C[@]}" --json chunkserver list >"$T/list.json" || fail "chunkserver list --json failed"
jcheck "$T/list.json" 'len(d) == 3 and all(c["state"] == "up" for c in d)' "list: 3 up"
jcheck "$T/list.json" 'len(set(c["id"] for c in d)) == 3 and all(c["total"] > 0 for c in d)' "list: ids, capacity"
jcheck "$T/list.json" 'sorted(c["address"] for c in d) == sorted(open(sys.argv[3] + "/cs%d.addr" % i).read().strip() for i in (1, 2, 3))' \
	"list: addresses are the chunk servers'" "$T"
"${C[@]}" chunkserver list >"$T/list.txt" || fail "chunkserver list failed"
[ "$(grep -c ' up ' "$T/list.txt")" -eq 3 ] && head -1 "$T/list.txt" | grep -q ADDRESS ||
	fail "list table: $(cat "$T/list.txt")"
ID1=$(jget "$T/list.json" 'd[0]["id"]')
"${C[@]}" --json chunkserver show "$ID1" >"$T/show.json" || fail "chunkserver show failed"
jcheck "$T/show.json" 'd["id"] == int(sys.argv[3]) and d["state"] == "up"' "show: id" "$ID1"
"${C[@]}" chunkserver show "$ID1" | grep -q "^state *up" || fail "show table lacks state"
"${C[@]}" chunkserver show 4000 2>"$T/err" && fail "show of an unknown id succeeded"
one_line_error "$T/err"

# --- goal: through the mount (no --meta: found from /proc/mounts) and ino:N
mkdir "$MNT/d" || fail "mkdir on the mount failed"
echo one >"$MNT/d/a" && echo two >"$MNT/d/b" || fail "write on the mount failed"
"$CASFS" --json goal set 2 "$MNT/d" >"$T/gs.json" || fail "goal set via mount failed"
jcheck "$T/gs.json" 'd["goal"] == 2 and d["changed"] == 1 and not d["recursive"]' "goal set"
"$CASFS" goal set 2 "$MNT/d" | grep -q "goal 2 (1 inode changed)" || fail "goal set table"
"$CASFS" --json goal get "$MNT/d" >"$T/gg.json" || fail "goal get via mount failed"
jcheck "$T/gg.json" 'd["goal"] == 2' "goal get after set"
"$CASFS" goal get "$MNT/d" | grep -q "goal 2" || fail "goal get table"
echo three >"$MNT/d/c"
"$CASFS" --json goal get "$MNT/d/c" >"$T/gc.json"
jcheck "$T/gc.json" 'd["goal"] == 2' "new file does not inherit the directory goal"
"$CASFS" --json goal set -r 3 "$MNT/d" >"$T/gr.json" || fail "goal set -r failed"
jcheck "$T/gr.json" 'd["recursive"] and d["changed"] >= 4' "recursive goal set changed too few"
"$CASFS" --json goal get "$MNT/d/a" >"$T/ga.json"
jcheck "$T/ga.json" 'd["goal"] == 3' "recursive goal did not reach a file"
INO=$(stat -c %i "$MNT/d")
"${C[@]}" --json goal get "ino:$INO" >"$T/gi.json" || fail "goal get ino:N failed"
jcheck "$T/gi.json" 'd["goal"] == 3 and d["ino"] == int(sys.argv[3])' "goal get ino:N" "$INO"
"$CASFS" goal set 10 "$MNT/d" 2>"$T/err" && fail "goal 10 accepted"
one_line_error "$T/err"
"$CASFS" goal get /tmp 2>"$T/err" && fail "goal get outside casfs succeeded"
one_line_error "$T/err"

# --- blocksize: new files in the directory get it
"$CASFS" --json blocksize set "$MNT/d" 64K >"$T/bs.json" || fail "blocksize set failed"
jcheck "$T/bs.json" 'd["block_size"] == 65536' "blocksize set"
"$CASFS" blocksize set "$MNT/d" 64K | grep -q "64 KiB blocks" || fail "blocksize set table"
"$CASFS" blocksize set "$MNT/d/a" 64K 2>"$T/err" && fail "blocksize on a file succeeded"
one_line_error "$T/err"
"$CASFS" blocksize set "$MNT/d" 3K 2>"$T/err" && fail "blocksize 3K accepted"
one_line_error "$T/err"

# --- info: 300 KiB in 64 KiB blocks = 5 blocks, each on 3 servers
head -c 307200 /dev/urandom >"$T/big"
cp "$T/big" "$MNT/d/big" || fail "copy to the mount failed"
"$CASFS" --json info "$MNT/d/big" >"$T/info.json" || fail "info --json failed"
jcheck "$T/info.json" 'd["size"] == 307200 and d["block_size"] == 65536 and d["goal"] == 3 and d["type"] == "file"' "info attributes"
jcheck "$T/info.json" '[b["index"] for b in d["blocks"]] == [0, 1, 2, 3, 4] and sum(b["length"] for b in d["blocks"]) == 307200' "info block map"
jcheck "$T/info.json" 'all(len(b["id"]) == 34 and len(b["servers"]) == 3 and b["missing"] == 0 for b in d["blocks"])' "info replicas"
jcheck "$T/info.json" 'all(s["address"].startswith("127.0.0.1:") for b in d["blocks"] for s in b["servers"])' "info server addresses"
"$CASFS" info "$MNT/d/big" >"$T/info.txt" || fail "info failed"
grep -q "BLOCK-ID" "$T/info.txt" && grep -q "size *307200" "$T/info.txt" || fail "info table: $(cat "$T/info.txt")"

# --- df: a second copy of the same bytes is deduplicated
cp "$T/big" "$MNT/d/big2" || fail "second copy failed"
"${C[@]}" --json df >"$T/df.json" || fail "df --json failed"
jcheck "$T/df.json" 'd["logical_bytes"] >= 2 * 307200 and d["dedup_saved_bytes"] >= 307200' "df dedup saving"
jcheck "$T/df.json" 'd["total"] > 0 and d["used"] > 0 and d["unique_bytes"] < d["logical_bytes"]' "df capacity"
"${C[@]}" df | grep -q "dedup saves" || fail "df table"

# --- sessions: the mount is there
"${C[@]}" --json sessions >"$T/sess.json" || fail "sessions --json failed"
jcheck "$T/sess.json" 'any(s["role"] == "client" for s in d) and all(s["session"] > 0 for s in d)' "sessions lists the mount"
"${C[@]}" sessions | head -1 | grep -q SESSION || fail "sessions table"

# --- remove refuses while a server holds the only copy of a block
mkdir "$MNT/one" && "$CASFS" goal set 1 "$MNT/one" >/dev/null || fail "goal 1 dir"
head -c 100000 /dev/urandom >"$MNT/one/f" || fail "write goal-1 file"
"$CASFS" --json info "$MNT/one/f" >"$T/i1.json"
HOLDER=$(jget "$T/i1.json" 'd["blocks"][0]["servers"][0]["id"]')
"${C[@]}" chunkserver remove "$HOLDER" 2>"$T/err" && fail "remove of the only holder succeeded"
one_line_error "$T/err"
grep -q "only copy" "$T/err" || fail "remove refusal not explained: $(cat "$T/err")"

# --- drain --no-wait / undrain flips the state
"${C[@]}" --json chunkserver drain --no-wait "$ID1" >"$T/dr.json" || fail "drain --no-wait failed"
jcheck "$T/dr.json" 'd["draining"]' "drain --no-wait"
"${C[@]}" --json chunkserver show "$ID1" >"$T/sh2.json"
jcheck "$T/sh2.json" 'd["state"] == "draining"' "state is not draining"
"${C[@]}" chunkserver undrain "$ID1" | grep -q "no longer draining" || fail "undrain table"
"${C[@]}" chunkserver drain --no-wait "$ID1" | grep -q "is draining" || fail "drain table"
"${C[@]}" --json chunkserver undrain "$ID1" >/dev/null || fail "undrain failed"
"${C[@]}" --json chunkserver show "$ID1" >"$T/sh3.json"
jcheck "$T/sh3.json" 'd["state"] == "up"' "state after undrain"
echo "PASS cli_commands"
