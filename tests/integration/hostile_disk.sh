#!/usr/bin/env bash
# Invariant 6, corrupt files on disk:
#  - a byte flipped in one replica of every block of a file (alternating
#    between two chunk servers): a read through a fresh mount still returns
#    the right bytes, the bad copies are refused (-EIO) and quarantined,
#    and the cluster brings every block back to two good copies;
#  - metad's last changelog record cut in half (a torn write) after kill
#    -9: the restart drops only that record, says so, and keeps every file
#    written before it.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh
G=$CASFS_BIN/garbage
TOOL=$CASFS_BIN/tests/chunktool
cluster_init

cluster_start_metad --default_goal 2 --checkpoint_interval_s 3600 --checkpoint_changes 1000000
cluster_start_chunkd 1 --scrub_interval_s 86400
cluster_start_chunkd 2 --scrub_interval_s 86400
cluster_wait_chunkds 2
M=$T/mnt
cluster_mount "$M"

# --- a flipped byte in one replica of each block
BS=1048576
head -c $((4 * BS + 12345)) /dev/urandom >"$T/orig"
cp "$T/orig" "$M/victim" || fail "write through the mount failed"
cluster_unmount "$M"
for i in 0 1 2 3 4; do
	dd if="$T/orig" bs=$BS skip=$i count=1 status=none | md5sum | cut -d' ' -f1
done >"$T/slices"
# block i: its id is the file name of the copy whose bytes are slice i
declare -a IDS=()
for f in $(find "$T/cs1/blocks" -type f); do
	sum=$(md5sum <"$f" | cut -d' ' -f1)
	i=$(grep -n "^$sum$" "$T/slices" | cut -d: -f1)
	[ -n "$i" ] && IDS[$((i - 1))]=$(basename "$f")
done
check "cs1 holds all 5 blocks of the file" test "${#IDS[@]}" = 5
flip() {	# flip FILE OFFSET: inverts one byte in place
	python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1)
f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff])); f.close()' "$1" "$2"
}
path_of() { echo "$T/cs$1/blocks/${2:2:2}/$2"; }
for i in 0 1 2 3 4; do
	s=$((i % 2 + 1))
	p=$(path_of $s "${IDS[$i]}")
	check "block $i is on cs$s" test -f "$p"
	flip "$p" $((i * 777 + 5))
done
cluster_mount "$M"
cmp -s "$T/orig" "$M/victim" || fail "a read through the mount returned wrong bytes after corruption"
md5sum "$M/victim" >/dev/null
# Each bad copy, when read, is refused and quarantined: read them directly
# too, since the client only needs one good replica per block.
for i in 0 1 2 3 4; do
	s=$((i % 2 + 1))
	"$TOOL" --meta "$META_ADDR" get --server "$(cat "$T/cs$s.addr")" --id "${IDS[$i]}" \
		>"$T/bad.get" 2>&1 && ! cmp -s "$T/bad.get" <(dd if="$T/orig" bs=$BS skip=$i count=1 status=none) &&
		fail "cs$s served the corrupt copy of block $i"
done
for s in 1 2; do
	check "cs$s quarantined its bad copies" \
		test "$(find "$T/cs$s/quarantine" -type f | wc -l)" -ge 2
	grep -q "quarantined" "$T/cs$s.log" || fail "cs$s did not log the bad copy"
done
# metad hears of the bad copies and repairs: every block back to a good
# copy on both servers.
good_everywhere() {
	local i s
	for i in 0 1 2 3 4; do
		for s in 1 2; do
			"$TOOL" --meta "$META_ADDR" get --server "$(cat "$T/cs$s.addr")" --id "${IDS[$i]}" \
				>"$T/rep.get" 2>/dev/null || return 1
			dd if="$T/orig" bs=$BS skip=$i count=1 status=none | cmp -s - "$T/rep.get" || return 1
		done
	done
}
wait_for 60 good_everywhere || fail "the bad copies were not repaired to goal 2"
cmp -s "$T/orig" "$M/victim" || fail "the file is wrong after repair"

# --- a torn last changelog record
mkdir "$M/keep" || fail "mkdir"
for n in $(seq 1 20); do
	head -c $((n * 1000)) /dev/urandom >"$T/keep.$n"
	cp "$T/keep.$n" "$M/keep/f$n" || fail "write f$n"
done
cluster_unmount "$M"
cluster_kill metad KILL
seg=$(ls "$T"/meta/changelog.* | sort -t. -k2 -n | tail -1)
# walk the records (u32 body length, body, u64 checksum) to the last one
last=$(python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read(); off = 16; last = -1
while off + 4 <= len(d):
    (l,) = struct.unpack_from("<I", d, off)
    if off + 4 + l + 8 > len(d): break
    last = off; off += 4 + l + 8
print(last, off, len(d))' "$seg")
read -r lstart lend size <<<"$last"
check "the newest segment has a last record ($last)" test "$lstart" -ge 16 -a "$lend" = "$size"
truncate -s $((lstart + (lend - lstart) / 2)) "$seg"
# same port, so that the chunk servers find it again
cluster_start_metad --default_goal 2 --checkpoint_interval_s 3600 --listen "$META_ADDR"
grep -q "dropping torn record" "$T/metad.log" || fail "the torn record was not reported"
# replica locations are soft state: wait for the servers to report again
cluster_wait_chunkds 2
cluster_mount "$M"
for n in $(seq 1 20); do
	cmp -s "$T/keep.$n" "$M/keep/f$n" || fail "f$n was lost or changed by the torn-tail recovery"
done
cmp -s "$T/orig" "$M/victim" || fail "the victim file changed after the torn-tail recovery"
cluster_unmount "$M"
for name in cs1 cs2 metad; do
	check "$name alive at the end" kill -0 "$(cluster_pid $name)"
	sanitizer_clean "$T/$name.log" || fail "sanitizer report in $name.log"
done
for name in cs1 cs2 metad; do stop_clean "$name"; done
echo "hostile_disk: ok"
