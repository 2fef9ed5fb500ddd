#!/bin/bash
# fsx on a casfs mount: random reads, writes, mmap reads and writes,
# truncates, fallocate and punched holes, copy_file_range, fsync,
# SEEK_DATA/SEEK_HOLE and close + open on one file, every result checked
# against a model (tests/tools/fsx.c), and after each close + open the whole
# file read back through a second mount. Runs at goal 2 on three chunk
# servers:
# - the default mount (1 MiB blocks, files up to 4 MiB), one fixed seed
#   and one new each run;
# - a folder with 64 KiB blocks, the file spanning ~30 of them;
# - -o writeback (the kernel's writeback cache: SEEK_DATA/HOLE used to miss
#   data still in the kernel), -o direct (no mmap there: the kernel refuses
#   shared maps of direct-I/O files), cache_size=0 with a 2 MiB write cache;
# - a chunk server SIGKILLed halfway through a run, and metad SIGKILLed and
#   restarted on its address halfway through another: every check still
#   holds, with no error.
# A failure prints the seed and the last operations; rerun one with
# build/san/fsx -S SEED ... on a mount.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 2
for i in 1 2 3; do cluster_start_chunkd $i; done
cluster_wait_chunkds 3
FSX=$CASFS_BIN/fsx
[ -x "$FSX" ] || fail "no $FSX (make unit-tests builds it)"
M=$T/mnt
O=$T/other
cluster_mount "$M"
cluster_mount "$O"

# fsx_run NAME ARGS...: one fsx run on $M/NAME, read through $O/NAME too.
fsx_run() {
	local name=$1 log=$T/fsx-${1//\//-}.log
	shift
	"$FSX" -q -c "$O/$name" "$@" "$M/$name" >"$log" 2>&1 ||
		fail "fsx on $name ($*): $(head -40 "$log")"
}

seed=$(( (RANDOM << 15) | RANDOM ))
echo "mount_fsx: the new seed of this run is $seed"
fsx_run fixed -N 600 -S 1 -L 4M -O 2M
fsx_run new -N 600 -S "$seed" -L 4M -O 2M

mkdir "$M/small" || fail "mkdir small"
"$CASFS_BIN/casfs" --meta "$META_ADDR" blocksize set "$M/small" 64K >/dev/null ||
	fail "blocksize set 64K"
fsx_run small/f -N 600 -S 2 -b 64K -L 2M -O 512K

# remount_m OPTS: $M again, with OPTS.
remount_m() {
	cluster_unmount "$M"
	cluster_mount "$M" -o "$1"
}
remount_m writeback
fsx_run wb -N 400 -S 3 -L 4M -O 2M
remount_m direct
fsx_run direct -N 400 -S 4 -L 4M -O 2M -M
remount_m cache_size=0,write_cache=2M
fsx_run nocache -N 400 -S 5 -L 4M -O 2M
remount_m log_level=info

# A chunk server dies halfway: reads fail over, writes are placed again.
"$FSX" -q -c "$O/k" -N 800 -S 6 -L 4M -O 2M "$M/k" >"$T/fsx-k.log" 2>&1 &
fsx_pid=$!
sleep 3
kill -0 $fsx_pid 2>/dev/null || fail "fsx ended before cs1 was killed: $(head -20 "$T/fsx-k.log")"
cluster_kill cs1 KILL
wait $fsx_pid || fail "fsx with cs1 killed halfway: $(head -40 "$T/fsx-k.log")"
cluster_start_chunkd 1
cluster_wait_chunkds 3

# metad dies halfway and comes back on its address: the mount waits,
# reconnects and every operation still checks out.
"$FSX" -q -c "$O/r" -N 800 -S 7 -L 4M -O 2M "$M/r" >"$T/fsx-r.log" 2>&1 &
fsx_pid=$!
sleep 3
kill -0 $fsx_pid 2>/dev/null || fail "fsx ended before metad was killed: $(head -20 "$T/fsx-r.log")"
cluster_kill metad KILL
sleep 1
cluster_start_metad --default_goal 2 --listen "$META_ADDR"
wait $fsx_pid || fail "fsx across a metad restart: $(head -40 "$T/fsx-r.log")"
grep -q "reconnected" "$T/mount-mnt.log" || fail "the mount did not log a reconnect"

for f in "$T"/mount-*.log; do
	sanitizer_clean "$f" || fail "sanitizer report in $f"
done
echo "mount_fsx: ok (seeds 1-7 and $seed)"
