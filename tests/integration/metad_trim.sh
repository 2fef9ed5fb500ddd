#!/usr/bin/env bash
# Which copy metad trims over goal. A file is written with goal 2 to cs1 and
# cs2 (the PUT chain verified both copies). Then cs3 starts with block files
# of the same names and sizes but wrong bytes (a disk that went bad keeping
# names and sizes, or a liar) and lists them at start-up: every block is
# over goal. metad must delete cs3's copies (the newest bare claims) and
# never the verified copies on cs1 and cs2 — even though cs3 registered
# with the most free space.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
cluster_init

MB=$CASFS_BIN/metabench
[ -x "$MB" ] || fail "$MB not built"
adm() { "$MB" adm --meta "$META_ADDR"; }
stat_of() { adm | sed -n "s/^$1=//p"; }
servers_up() { [ "$(stat_of up)" = "$1" ]; }
holders() { "$MB" bmap --meta "$META_ADDR" --name "$1" | cut -d' ' -f2-; }
nfiles() { find "$T/cs$1/blocks" -type f | wc -l; }

cluster_start_metad --default_goal 2 --cs-dead-timeout-ms 1500 --log-level debug
cluster_start_chunkd 1
cluster_start_chunkd 2
wait_for 30 servers_up 2 || fail "2 chunk servers did not register: $(adm)"
"$MB" put --meta "$META_ADDR" --name f1 --blocks 8 || fail "put f1"
nb=$(holders f1 | wc -l)
check "f1 has 8 blocks ($nb)" test "$nb" = 8
check "cs1 holds every block ($(nfiles 1) files)" test "$(nfiles 1)" = 8
check "cs2 holds every block ($(nfiles 2) files)" test "$(nfiles 2)" = 8

# cs3: register once (it gets its id), stop, then give it bad copies of
# every block under the right names, and start it again
cluster_start_chunkd 3
wait_for 30 servers_up 3 || fail "cs3 did not register: $(adm)"
cluster_kill cs3 TERM
(cd "$T/cs1/blocks" && find . -type f) | while read -r f; do
	mkdir -p "$T/cs3/blocks/$(dirname "$f")"
	head -c "$(stat -c %s "$T/cs1/blocks/$f")" /dev/urandom >"$T/cs3/blocks/$f"
done
check "cs3 has 8 bad copies" test "$(nfiles 3)" = 8
cluster_start_chunkd 3
wait_for 30 servers_up 3 || fail "cs3 did not come back: $(adm)"

# every block was over goal: the claims on server 3 are what gets trimmed
trimmed() { [ "$(grep -c "trimming an unverified copy on server 3" "$T/metad.log")" -ge 8 ]; }
wait_for 30 trimmed || fail "cs3's copies were not trimmed: $(grep -c trimming "$T/metad.log") trims"
grep -q "trimming a verified copy\|trimming an unverified copy on server [12]" "$T/metad.log" &&
	fail "a copy on cs1 or cs2 was trimmed: $(grep trimming "$T/metad.log" | grep -v 'server 3' | head -3)"
wait_for 30 bash -c "[ \$(find '$T/cs3/blocks' -type f | wc -l) = 0 ]" ||
	fail "cs3 still has $(nfiles 3) block files"
check "cs1 still holds every block ($(nfiles 1) files)" test "$(nfiles 1)" = 8
check "cs2 still holds every block ($(nfiles 2) files)" test "$(nfiles 2)" = 8
while read -r line; do
	check "a block is not on servers 1 and 2: $line" test "$(echo "$line" | tr ' ' '\n' | sort | tr '\n' ' ')" = "1 2 "
done < <(holders f1)
check "metad alive" kill -0 "$(cluster_pid metad)"
echo "metad_trim: ok"
