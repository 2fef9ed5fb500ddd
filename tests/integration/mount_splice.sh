#!/bin/bash
# Writes that arrive spliced from the kernel (the mount's write_buf). libfuse
# splices a WRITE into a pipe only when it can size that pipe to max_write +
# 4 KiB, past the default fs.pipe-max-size (1 MiB) unless the mount has
# CAP_SYS_RESOURCE; this test raises the limit for its own duration (and
# puts it back, pass or fail) so the spliced path runs whatever the machine.
#  1. A mount started under the default limit says in its log which way
#     writes arrive (one line).
#  2. A mount started under the raised limit says they arrive spliced, and
#     files written through it, sequentially in whole blocks, in large
#     unaligned pieces across block boundaries, overwriting the middle of an
#     existing file and in small pieces, read back byte for byte through
#     the other mount and after a remount.
#  3. SIGKILL a chunk server during a spliced write at goal 2: the write
#     completes and the file matches.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

PIPE_MAX=/proc/sys/fs/pipe-max-size
old_max=$(cat $PIPE_MAX) || fail "cannot read $PIPE_MAX"
cluster_init
trap 'rc=$?; echo "$old_max" >$PIPE_MAX; (exit $rc); cluster_teardown' EXIT
cluster_start_metad --default_goal 2 --cs_dead_timeout_ms 3000
for i in 1 2 3; do cluster_start_chunkd $i; done
cluster_wait_chunkds 3

# 1. the default limit: one line, either way
A=$T/a
cluster_mount "$A" -o log_level=info
dd if=/dev/urandom of="$A/first" bs=1M count=4 2>/dev/null || fail "write through a"
n=$(grep -c "writes arrive" "$T/mount-a.log")
check "mount a says once how writes arrive ($n lines)" [ "$n" = 1 ]

# 2. a raised limit: spliced
echo $((2 << 20)) >$PIPE_MAX || fail "cannot raise $PIPE_MAX (needed to reach the spliced path)"
B=$T/b
cluster_mount "$B" -o log_level=info
head -c $((40 << 20)) /dev/urandom >"$T/seq"
dd if="$T/seq" of="$B/seq" bs=1M 2>/dev/null || fail "whole-block writes through b"
check "mount b says writes arrive spliced" grep -q "writes arrive spliced" "$T/mount-b.log"
check "b: no copied-writes line" bash -c "! grep -q 'writes arrive copied' '$T/mount-b.log'"
head -c $((9 << 20)) /dev/urandom >"$T/odd"
dd if="$T/odd" of="$B/odd" bs=300001 2>/dev/null || fail "unaligned writes through b"
# overwrite the middle of an existing file in pieces crossing blocks (the
# blocks around them are read and modified); the same on a local model
cp "$T/seq" "$T/model"
head -c $((3 * 777777)) /dev/urandom >"$T/patch"
dd if="$T/patch" of="$B/seq" bs=777777 seek=17 conv=notrunc 2>/dev/null ||
	fail "overwrite through b"
dd if="$T/patch" of="$T/model" bs=777777 seek=17 conv=notrunc 2>/dev/null
head -c 300000 /dev/urandom >"$T/small"
dd if="$T/small" of="$B/small" bs=100 2>/dev/null || fail "small writes through b"
check "seq (with the overwrite) through a" cmp "$T/model" "$A/seq"
check "odd through a" cmp "$T/odd" "$A/odd"
check "small through a" cmp "$T/small" "$A/small"
cluster_unmount "$B"
cluster_mount "$B" -o log_level=info
check "seq after a remount" cmp "$T/model" "$B/seq"
check "odd after a remount" cmp "$T/odd" "$B/odd"

# 3. a chunk server dies during a spliced write
head -c $((96 << 20)) /dev/urandom >"$T/big"
dd if="$T/big" of="$B/big" bs=1M conv=fsync 2>/dev/null &
wpid=$!
wait_for 30 test -s "$B/big" || true
cluster_kill cs3 KILL
wait $wpid || fail "the write failed after a chunk server died"
check "the kill hit the write" grep -qE "BLK_PUT failed|BLK_SYNC of" "$T/mount-b.log"
check "big after SIGKILL during the write (through a)" cmp "$T/big" "$A/big"

for m in a b; do
	sanitizer_clean "$T/mount-$m.log" || fail "sanitizer report in mount-$m.log"
done
echo "mount_splice: ok"
