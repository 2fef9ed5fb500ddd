#!/bin/bash
# The block cache under streams: blocks this mount wrote whole hold at most
# an eighth of the cache until read, blocks read ahead for a sequential
# reader a quarter until read again, so neither a large write nor a large
# read pushes out a file that was read twice (before, a 160 MiB write
# through a 64 MiB cache evicted every block of a file read just before);
# the last blocks written are still there to be read back. A sequential
# reader has each block read ahead once.
#
# The proof does not time anything: at the end the only chunk server is
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

# A and C are written by the other mount, so this one knows them only by
# fetching them. A is read twice: the second read finds some blocks still
# read ahead and the others' ids remembered, and keeps them all.
head -c $((24 << 20)) /dev/urandom >"$T/a"
head -c $((160 << 20)) /dev/urandom >"$T/c"
cp "$T/a" "$W/a" || fail "writing a through the second mount"
cp "$T/c" "$W/c" || fail "writing c through the second mount"
cmp "$T/a" "$M/a" || fail "a reads back through the first mount"
cmp "$T/a" "$M/a" || fail "a reads back a second time"

# A sequential reader has each block queued for read-ahead once. A second
# job for a block already queued only waited for the first, holding a
# worker the blocks after it needed: 1 MiB reads through a fresh mount
# queued ~1.5 jobs a block before.
R=$T/reader
cluster_mount "$R" -o log_level=info
dd if="$R/c" bs=1M status=none | cmp - "$T/c" || fail "c read in 1 MiB pieces through a third mount"
cluster_unmount "$R"
line=$(grep -o "blocks fetched: .*" "$T/mount-reader.log" | tail -1)
queued=$(echo "$line" | sed -n 's/.* \([0-9]*\) read-ahead jobs queued$/\1/p')
check "c's 160 blocks were read ahead, none of them twice (got: $line)" \
	test -n "$queued" -a "${queued:-0}" -ge 80 -a "${queued:-0}" -le 160

# B streams into the first mount, C out of it: 160 MiB each, two and a
# half caches.
head -c $((160 << 20)) /dev/urandom >"$T/b"
dd if="$T/b" of="$M/b" bs=1M conv=fsync status=none || fail "writing b"
cmp "$T/c" "$M/c" || fail "c reads back through the first mount"

cluster_kill cs1 KILL
check "a is still read from the cache with its only server dead" \
	timeout 60 cmp "$T/a" "$M/a"
check "b's last block is still read from the cache" \
	timeout 60 cmp <(tail -c $((1 << 20)) "$T/b") <(tail -c $((1 << 20)) "$M/b")
check "b's first block is not: the writer kept to its share" \
	bash -c "! timeout 60 head -c 4096 '$M/b' >/dev/null 2>&1"
check "c's middle is not: the reader kept to its share" \
	bash -c "! timeout 60 dd if='$M/c' bs=4k skip=$((80 << 8)) count=1 of=/dev/null status=none"

cluster_start_chunkd 1
cluster_wait_chunkds 1
check "b reads back whole once its server is back" timeout 120 cmp "$T/b" "$M/b"
sanitizer_clean "$T/mount-mnt.log" || fail "sanitizer report in the mount's log"
echo "mount_cache: ok"
