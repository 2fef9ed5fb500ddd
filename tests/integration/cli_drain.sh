#!/usr/bin/env bash
# casfs chunkserver drain while files are being read: no read fails or
# returns wrong bytes, the drain command returns once the server is empty,
# and afterwards the server holds nothing and every block is at goal on the
# other servers.
source "$(dirname "$0")/../lib/cluster.sh"
cluster_init

jcheck() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$1" "$2" "${@:4}" || fail "$3 (json: $(head -c 800 "$1"))"
}
jget() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

CASFS="$CASFS_BIN/casfs"
cluster_start_metad
for i in 1 2 3 4; do cluster_start_chunkd $i; done
cluster_wait_chunkds 4
MNT="$T/mnt"
cluster_mount "$MNT"
C=("$CASFS" --meta "$META_ADDR")

# 16 files of 256 KiB in 64 KiB blocks at goal 2: 64 blocks, 128 copies.
"$CASFS" goal set 2 "$MNT" >/dev/null || fail "goal set failed"
"$CASFS" blocksize set "$MNT" 64K >/dev/null || fail "blocksize set failed"
mkdir -p "$T/src"
for i in $(seq 1 16); do
	head -c 262144 /dev/urandom >"$T/src/f$i"
	cp "$T/src/f$i" "$MNT/f$i" || fail "write f$i failed"
done

# The server holding the most blocks is the one to drain.
"${C[@]}" --json chunkserver list >"$T/l0.json"
VICTIM=$(jget "$T/l0.json" 'max(d, key=lambda c: c["blocks"])["id"]')
jcheck "$T/l0.json" 'max(c["blocks"] for c in d) > 0' "no server holds blocks before the drain"

# Readers: compare every file with its source, over and over, with the page
# cache dropped so reads really go to the chunk servers.
reader() {
	while [ ! -e "$T/stop" ]; do
		for i in $(seq 1 16); do
			if ! cmp -s "$T/src/f$i" "$MNT/f$i"; then
				echo "read of f$i failed or differed at $(date +%T.%N)" >>"$T/readfail"
			fi
		done
		echo 1 >/proc/sys/vm/drop_caches 2>/dev/null
		echo x >>"$T/rounds"
	done
}
reader &
READER=$!
CLUSTER_PIDS[reader]=$READER

"${C[@]}" --json chunkserver drain "$VICTIM" --timeout 90 >"$T/drain.json" 2>"$T/drain.err" ||
	fail "drain failed: $(cat "$T/drain.err")"
jcheck "$T/drain.json" 'd["drained"] and d["id"] == int(sys.argv[3])' "drain result" "$VICTIM"
# Let the readers run a little past the end of the drain too.
sleep 1
touch "$T/stop"
wait "$READER"
unset "CLUSTER_PIDS[reader]"
[ ! -e "$T/readfail" ] || fail "reads failed during the drain: $(head -5 "$T/readfail")"
[ "$(wc -l <"$T/rounds")" -ge 2 ] || fail "the readers did not run during the drain"

"${C[@]}" --json chunkserver show "$VICTIM" >"$T/v.json" || fail "show after drain failed"
jcheck "$T/v.json" 'd["blocks"] == 0 and d["to_move"] == 0 and d["state"] == "draining"' "drained server is not empty"
"${C[@]}" --json status >"$T/st.json"
jcheck "$T/st.json" 'd["blocks"]["under_goal"] == 0 and d["blocks"]["missing"] == 0' "blocks below goal after drain"
for i in $(seq 1 16); do
	"$CASFS" --json info "$MNT/f$i" >"$T/i.json" || fail "info f$i failed"
	jcheck "$T/i.json" 'all(len(b["servers"]) >= 2 and all(s["id"] != int(sys.argv[3]) for s in b["servers"]) for b in d["blocks"]) and len(d["blocks"]) == 4' \
		"f$i not at goal away from the drained server" "$VICTIM"
done

# Now the server holds nothing, so remove succeeds without --force.
"${C[@]}" chunkserver remove "$VICTIM" >/dev/null 2>"$T/rm.err" || fail "remove after drain failed: $(cat "$T/rm.err")"
echo "PASS cli_drain"
