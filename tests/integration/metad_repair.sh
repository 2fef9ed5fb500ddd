#!/usr/bin/env bash
# metad placement and self-healing with real chunk servers: replicas of a
# block on distinct servers; re-replication after a server dies; trimming
# when the goal drops and when a dead server comes back with stale copies;
# draining; garbage collection after the grace period, both of unlinked
# files and of blocks stored but never committed; removing a server.
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
cluster_init

MB=$CASFS_BIN/metabench
[ -x "$MB" ] || fail "$MB not built"
[ -x "$CASFS_BIN/casfs-chunkd" ] || fail "casfs-chunkd not built"

adm() { "$MB" adm --meta "$META_ADDR"; }
stat_of() { adm | sed -n "s/^$1=//p"; }
servers_up() { [ "$(stat_of up)" = "$1" ]; }
# holders NAME: every block's holders, one line per block.
holders() { "$MB" bmap --meta "$META_ADDR" --name "$1" | cut -d' ' -f2-; }
all_blocks_have() {	# all_blocks_have NAME N: each block on N distinct servers
	local line n
	n=$(holders "$1" | wc -l)
	[ "$n" -gt 0 ] || return 1
	while read -r line; do
		[ "$(echo "$line" | wc -w)" -eq "$2" ] || return 1
		[ "$(echo "$line" | tr ' ' '\n' | sort -u | wc -l)" -eq "$2" ] || return 1
	done < <(holders "$1")
}
healthy() { [ "$(stat_of under)" = 0 ] && [ "$(stat_of missing)" = 0 ] && [ "$(stat_of over)" = 0 ]; }
cs_blocks() { adm | awk -v id="$1" '$1 == "cs" && $2 == id { print $4 }'; }
some_blocks() { adm | awk '$1 == "cs" && $4 > 0 { found = 1 } END { exit !found }'; }
no_blocks_left() {
	local id
	for id in "$@"; do [ "$(cs_blocks "$id")" = 0 ] || return 1; done
}

cluster_start_metad --gc-grace-s 2 --cs-dead-timeout-ms 1500 --log-level debug
for i in 1 2 3 4; do cluster_start_chunkd $i; done
wait_for 30 servers_up 4 || fail "4 chunk servers did not register: $(adm)"

# --- placement: goal 2 on distinct servers
"$MB" put --meta "$META_ADDR" --name f1 --blocks 8 || fail "put f1"
all_blocks_have f1 2 || fail "blocks not on 2 distinct servers: $(holders f1)"
check "status not healthy after put: $(adm)" healthy

# --- a server dies: its blocks are copied elsewhere
victim=$(holders f1 | head -1 | cut -d' ' -f1)
cluster_kill "cs$victim" KILL
wait_for 15 servers_up 3 || fail "server $victim not declared dead: $(adm)"
wait_for 30 healthy || fail "not repaired after server $victim died: $(adm)"
all_blocks_have f1 2 || fail "blocks not back at goal 2: $(holders f1)"
holders f1 | grep -qw "$victim" && fail "dead server $victim still listed as a holder"
echo "repair after the death of server $victim: ok"

# --- goal drops: extra copies are trimmed
"$MB" goal --meta "$META_ADDR" --name f1 --goal 1 || fail "set goal"
wait_for 15 all_blocks_have f1 1 || fail "copies not trimmed to goal 1: $(holders f1)"
check "not healthy after trim: $(adm)" healthy

# --- the dead server returns with stale copies: trimmed again
cluster_start_chunkd "$victim"
wait_for 30 servers_up 4 || fail "server $victim did not come back: $(adm)"
wait_for 15 healthy || fail "stale copies not trimmed: $(adm)"
wait_for 15 all_blocks_have f1 1 || fail "f1 not at goal 1: $(holders f1)"
echo "trimming: ok"

# --- drain: a server holding copies is emptied
"$MB" put --meta "$META_ADDR" --name f2 --blocks 6 || fail "put f2"
all_blocks_have f2 2 || fail "f2 not on 2 distinct servers: $(holders f2)"
drained=$(holders f2 | head -1 | cut -d' ' -f1)
"$MB" drain --meta "$META_ADDR" --name "$drained" --on 1 || fail "drain"
wait_for 30 bash -c "! '$MB' bmap --meta '$META_ADDR' --name f2 | cut -d' ' -f2- | grep -qw '$drained'" ||
	fail "server $drained still holds f2 blocks: $(holders f2)"
wait_for 15 all_blocks_have f2 2 || fail "f2 not at goal 2 after drain: $(holders f2)"
adm | grep -q "^cs $drained draining" || fail "server $drained not listed as draining: $(adm)"
"$MB" drain --meta "$META_ADDR" --name "$drained" --on 0 || fail "undrain"
echo "drain of server $drained: ok"

# --- GC: unlinked files' blocks are deleted on every holder after the grace
check "no server reports blocks before GC: $(adm)" some_blocks
"$MB" unlink --meta "$META_ADDR" --name f1 || fail "unlink f1"
"$MB" unlink --meta "$META_ADDR" --name f2 || fail "unlink f2"
wait_for 20 no_blocks_left 1 2 3 4 || fail "blocks not collected: $(adm)"
[ "$(stat_of blocks)" = 0 ] || fail "metad still counts blocks: $(adm)"

# --- GC: blocks stored but never committed (a client that died)
"$MB" put --meta "$META_ADDR" --name orphan --blocks 3 --commit 0 || fail "put without commit"
wait_for 10 some_blocks || fail "uncommitted blocks were never stored: $(adm)"
wait_for 20 no_blocks_left 1 2 3 4 || fail "uncommitted blocks not collected: $(adm)"
echo "garbage collection: ok"

# --- remove: refused while a dead server holds the only copy, unless forced
"$MB" put --meta "$META_ADDR" --name f3 --blocks 2 || fail "put f3"
"$MB" goal --meta "$META_ADDR" --name f3 --goal 1 || fail "set goal"
wait_for 15 all_blocks_have f3 1 || fail "f3 not trimmed to 1 copy: $(holders f3)"
# A copy begun while the goal was 2 can still land after the trim (and is
# trimmed again): the kill below needs the copy that stays. Seen in about
# one run in five before this wait.
one_copy_held() {
	local before
	all_blocks_have f3 1 || return 1
	before=$(holders f3)
	sleep 1
	all_blocks_have f3 1 && [ "$(holders f3)" = "$before" ]
}
wait_for 20 one_copy_held || fail "f3 did not settle at 1 copy: $(holders f3)"
only=$(holders f3 | head -1)
cluster_kill "cs$only" KILL
wait_for 15 servers_up 3 || fail "server $only not declared dead: $(adm)"
"$MB" remove --meta "$META_ADDR" --name "$only" --on 0 2>"$T/remove.err" &&
	fail "removed server $only that holds the only copy"
grep -q "busy" "$T/remove.err" || fail "remove refused without EBUSY: $(cat "$T/remove.err")"
"$MB" remove --meta "$META_ADDR" --name "$only" --on 1 || fail "forced remove failed"
adm | grep -q "^cs $only " && fail "server $only still listed after remove"
[ "$(stat_of missing)" -ge 1 ] || fail "a block with no copy left is not reported missing: $(adm)"
echo "remove: ok"
echo PASS
