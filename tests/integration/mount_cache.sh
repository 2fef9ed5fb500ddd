#!/bin/bash
# The block cache under a streaming writer: blocks this mount wrote hold at
# most an eighth of the cache until read, so a large write does not push out
# what readers fetched (before, a 160 MiB write through a 64 MiB cache
# evicted every block of a file read just before), while the last blocks
# written are still there to be read back.
#
# The proof does not time anything: after the write the only chunk server is
# SIGKILLed, so whatever still reads back came from the mount's cache.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 1
cluster_start_chunkd 1
cluster_wait_chunkds 1
M=$T/mnt
W=$T/writer
cluster_mount "$M" -o cache_size=64M
cluster_mount "$W"

# A is written by the other mount, so this one knows it only by fetching it.
head -c $((24 << 20)) /dev/urandom >"$T/a"
cp "$T/a" "$W/a" || fail "writing a through the second mount"
cmp "$T/a" "$M/a" || fail "a reads back through the first mount"

# B streams through the first mount: 160 MiB, two and a half caches.
head -c $((160 << 20)) /dev/urandom >"$T/b"
dd if="$T/b" of="$M/b" bs=1M conv=fsync status=none || fail "writing b"

cluster_kill cs1 KILL
check "a is still read from the cache with its only server dead" \
	timeout 60 cmp "$T/a" "$M/a"
check "b's last block is still read from the cache" \
	timeout 60 cmp <(tail -c $((1 << 20)) "$T/b") <(tail -c $((1 << 20)) "$M/b")
check "b's first block is not: the writer kept to its share" \
	bash -c "! timeout 60 head -c 4096 '$M/b' >/dev/null 2>&1"

cluster_start_chunkd 1
cluster_wait_chunkds 1
check "b reads back whole once its server is back" timeout 120 cmp "$T/b" "$M/b"
sanitizer_clean "$T/mount-mnt.log" || fail "sanitizer report in the mount's log"
echo "mount_cache: ok"
